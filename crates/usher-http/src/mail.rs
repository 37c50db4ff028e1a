//! The words of Usher's mail: [`Templates`] renders a [`Letter`] with the askama
//! templates in `templates/mail/` (a `.txt` and an `.html` body each; the HTML ones are
//! autoescaped). The pages' templates live beside them, so mail and pages change
//! together. What to send and when is the core's (`usher_core::mail`).

use askama::Template;
use usher_domain::{Compose, Email, Letter, Mail, MailError};

#[derive(Template)]
#[template(path = "mail/password_reset.txt")]
struct ResetText<'a> {
    username: &'a str,
    link: &'a str,
}

#[derive(Template)]
#[template(path = "mail/password_reset.html")]
struct ResetHtml<'a> {
    username: &'a str,
    link: &'a str,
}

#[derive(Template)]
#[template(path = "mail/verify_email.txt")]
struct VerifyText<'a> {
    username: &'a str,
    link: &'a str,
}

#[derive(Template)]
#[template(path = "mail/verify_email.html")]
struct VerifyHtml<'a> {
    username: &'a str,
    link: &'a str,
}

/// Renders letters with the templates in `templates/mail/`.
pub struct Templates;

fn rendered(r: askama::Result<String>) -> Result<String, MailError> {
    r.map_err(|e| MailError::Compose(e.to_string()))
}

impl Compose for Templates {
    fn compose(&self, to: &Email, letter: &Letter) -> Result<Mail, MailError> {
        let (subject, text, html) = match letter {
            Letter::PasswordReset { username, link } => (
                "Reset your password",
                rendered(ResetText { username, link }.render())?,
                rendered(ResetHtml { username, link }.render())?,
            ),
            Letter::VerifyEmail { username, link } => (
                "Confirm your e-mail address",
                rendered(VerifyText { username, link }.render())?,
                rendered(VerifyHtml { username, link }.render())?,
            ),
        };
        Ok(Mail {
            to: to.clone(),
            subject: subject.to_owned(),
            text,
            html,
            link: Some(letter.link().to_owned()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_bodies_carry_the_link_and_the_html_one_escapes() {
        let letter = Letter::PasswordReset {
            username: "<b>alice</b>".into(),
            link: "https://id.example/password/reset?token=abc".into(),
        };
        let mail = Templates
            .compose(&Email::parse("a@example.org").unwrap(), &letter)
            .unwrap();
        assert!(
            mail.text
                .contains("https://id.example/password/reset?token=abc")
        );
        assert!(
            mail.html
                .contains("href=\"https://id.example/password/reset?token&#x3d;abc\"")
                || mail.html.contains("token=abc")
        );
        assert!(!mail.html.contains("<b>alice</b>"));
        assert!(mail.text.contains("<b>alice</b>"));
        assert_eq!(mail.redacted_text().matches("[link redacted]").count(), 1);
        let verify = Letter::VerifyEmail {
            username: "bob".into(),
            link: "https://id.example/account/verify-email?token=xyz".into(),
        };
        let mail = Templates
            .compose(&Email::parse("b@example.org").unwrap(), &verify)
            .unwrap();
        assert!(mail.text.contains("verify-email?token=xyz"));
        assert_eq!(mail.subject, "Confirm your e-mail address");
    }
}
