//! The words of Usher's mail: [`Templates`] renders a [`Letter`] with the askama
//! templates in `templates/mail/` (a `.txt` and an `.html` body each; the HTML ones are
//! autoescaped). The pages' templates live beside them, so mail and pages change
//! together. What to send and when is the core's (`usher_core::mail`).

use askama::Template;
use usher_domain::{Compose, Email, Letter, Mail, MailError, NewSignIn};

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

#[derive(Template)]
#[template(path = "mail/security_alert.txt")]
struct AlertText<'a> {
    username: &'a str,
    sentence: &'a str,
    account_page: &'a str,
    sign_in: Option<SignInLines>,
}

/// When and from where a sign-in the alert is about came.
struct SignInLines {
    at: String,
    address: String,
    browser: String,
}

impl SignInLines {
    fn of(s: &NewSignIn) -> SignInLines {
        SignInLines {
            at: crate::endpoints::account::when(s.at),
            address: s
                .address
                .map_or_else(|| "an unknown address".to_owned(), |a| a.to_string()),
            browser: s.user_agent.as_ref().map_or_else(
                || "an unknown browser".to_owned(),
                |u| format!("{} ({})", u.short(), u.as_str()),
            ),
        }
    }
}

#[derive(Template)]
#[template(path = "mail/security_alert.html")]
struct AlertHtml<'a> {
    username: &'a str,
    sentence: &'a str,
    account_page: &'a str,
    sign_in: Option<SignInLines>,
}

#[derive(Template)]
#[template(path = "mail/invitation.txt")]
struct InvitationText<'a> {
    name: Option<&'a str>,
    link: &'a str,
    days: i64,
}

#[derive(Template)]
#[template(path = "mail/invitation.html")]
struct InvitationHtml<'a> {
    name: Option<&'a str>,
    link: &'a str,
    days: i64,
}

#[derive(Template)]
#[template(path = "mail/signup_attempt.txt")]
struct SignupAttemptText<'a> {
    forgot_page: &'a str,
}

#[derive(Template)]
#[template(path = "mail/signup_attempt.html")]
struct SignupAttemptHtml<'a> {
    forgot_page: &'a str,
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
            Letter::Invitation { name, link, days } => {
                let (name, days) = (name.as_deref(), *days);
                (
                    "You are invited to create an account",
                    rendered(InvitationText { name, link, days }.render())?,
                    rendered(InvitationHtml { name, link, days }.render())?,
                )
            }
            Letter::SignupAttempt { forgot_page } => (
                "Someone tried to create an account with your address",
                rendered(SignupAttemptText { forgot_page }.render())?,
                rendered(SignupAttemptHtml { forgot_page }.render())?,
            ),
            Letter::SecurityAlert {
                username,
                alert,
                account_page,
                sign_in,
            } => {
                let sentence = alert.sentence();
                (
                    alert.subject(),
                    rendered(
                        AlertText {
                            username,
                            sentence,
                            account_page,
                            sign_in: sign_in.as_ref().map(SignInLines::of),
                        }
                        .render(),
                    )?,
                    rendered(
                        AlertHtml {
                            username,
                            sentence,
                            account_page,
                            sign_in: sign_in.as_ref().map(SignInLines::of),
                        }
                        .render(),
                    )?,
                )
            }
        };
        Ok(Mail {
            to: to.clone(),
            subject: subject.to_owned(),
            text,
            html,
            link: letter.link().map(str::to_owned),
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

    #[test]
    fn a_security_alert_names_what_happened_and_links_the_account_page() {
        let letter = Letter::SecurityAlert {
            username: "<b>alice</b>".into(),
            alert: usher_domain::SecurityAlert::FactorRemoved,
            account_page: "https://id.example/account".into(),
            sign_in: None,
        };
        let mail = Templates
            .compose(&Email::parse("a@example.org").unwrap(), &letter)
            .unwrap();
        assert_eq!(
            mail.subject,
            "A second factor was removed from your account"
        );
        assert_eq!(mail.link, None);
        for body in [&mail.text, &mail.html] {
            assert!(body.contains("just removed from your account"), "{body}");
            assert!(body.contains("https://id.example/account"), "{body}");
        }
        assert!(!mail.html.contains("<b>alice</b>"));
    }

    #[test]
    fn a_new_browser_alert_says_when_from_where_and_with_which_browser() {
        let letter = Letter::SecurityAlert {
            username: "alice".into(),
            alert: usher_domain::SecurityAlert::NewBrowser,
            account_page: "https://id.example/account".into(),
            sign_in: Some(NewSignIn {
                at: usher_domain::UnixTime(1_796_212_800),
                address: Some("203.0.113.9".parse().unwrap()),
                user_agent: usher_domain::UserAgent::parse(
                    "<img src=x> Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0",
                ),
            }),
        };
        let mail = Templates
            .compose(&Email::parse("a@example.org").unwrap(), &letter)
            .unwrap();
        assert_eq!(mail.subject, "A new sign-in to your account");
        assert_eq!(mail.link, None);
        for body in [&mail.text, &mail.html] {
            assert!(body.contains("2026-12-02 12:00 UTC"), "{body}");
            assert!(body.contains("203.0.113.9"), "{body}");
            assert!(body.contains("Firefox on Linux"), "{body}");
            assert!(body.contains("Sign out everywhere"), "{body}");
            assert!(body.contains("https://id.example/account"), "{body}");
        }
        assert!(!mail.html.contains("<img src=x>"), "{}", mail.html);
    }

    #[test]
    fn an_invitation_carries_its_link_and_a_sign_up_attempt_carries_none() {
        let letter = Letter::Invitation {
            name: Some("<i>Ann</i>".into()),
            link: "https://id.example/signup?invite=abc".into(),
            days: 7,
        };
        let mail = Templates
            .compose(&Email::parse("a@example.org").unwrap(), &letter)
            .unwrap();
        assert_eq!(mail.subject, "You are invited to create an account");
        assert!(mail.text.contains("https://id.example/signup?invite=abc"));
        assert!(mail.text.contains("within 7 days"));
        assert!(mail.html.contains("invite"));
        assert!(!mail.html.contains("<i>Ann</i>"));
        assert_eq!(mail.redacted_text().matches("[link redacted]").count(), 1);
        let attempt = Letter::SignupAttempt {
            forgot_page: "https://id.example/password/forgot".into(),
        };
        let mail = Templates
            .compose(&Email::parse("a@example.org").unwrap(), &attempt)
            .unwrap();
        assert_eq!(mail.link, None);
        for body in [&mail.text, &mail.html] {
            assert!(
                body.contains("https://id.example/password/forgot"),
                "{body}"
            );
        }
    }
}
