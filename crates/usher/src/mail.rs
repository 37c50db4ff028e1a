//! Where mail to people goes: the [`Outbox`] of a node, chosen by `smtp_url`.
//!
//! - With `smtp_url`: [`SmtpOutbox`] queues each mail in a bounded channel
//!   ([`QUEUE`] mails) and one thread of its own sends them with lettre (rustls; never
//!   its `boring-tls` backend, RUSTSEC-2026-0141), so a slow or unreachable mail server
//!   never holds up a request: when the queue is full the mail is dropped and logged.
//!   `smtp://` is plain SMTP (STARTTLS when `?tls=required`, or `?tls=opportunistic`),
//!   `smtps://` is TLS from the first byte; `USER:PASSWORD@` logs in.
//! - Without it: [`LogOutbox`] writes each mail to the log at `info`, its link replaced
//!   by `[link redacted]` (a link is a bearer credential), or, with `usher serve
//!   --dev-mail`, [`StderrOutbox`] prints it whole to standard error, for development.

use std::sync::Arc;
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::time::Duration;

use anyhow::Context as _;
use lettre::message::{Mailbox, MultiPart};
use lettre::{Message, SmtpTransport, Transport};
use usher_domain::{Issuer, Mail, MailError, Outbox};

use crate::config::MailSettings;

/// How many mails may wait for the mail server.
pub const QUEUE: usize = 256;
/// How long one SMTP conversation may take.
pub const SMTP_TIMEOUT: Duration = Duration::from_secs(15);

/// The outbox `settings` ask for.
pub fn outbox(
    settings: &MailSettings,
    issuer: &Issuer,
    dev_mail: bool,
) -> anyhow::Result<Arc<dyn Outbox>> {
    match smtp(settings, issuer)? {
        Some((transport, from)) => {
            if dev_mail {
                tracing::warn!("--dev-mail is ignored: smtp_url is set, mail goes there");
            }
            Ok(Arc::new(SmtpOutbox::start(transport, from)?))
        }
        _ if dev_mail => {
            tracing::warn!(
                "--dev-mail: mail is printed to standard error, links included; never in production"
            );
            Ok(Arc::new(StderrOutbox))
        }
        _ => Ok(Arc::new(LogOutbox)),
    }
}

/// The SMTP transport and sender `settings` name, if `smtp_url` is set.
fn smtp(
    settings: &MailSettings,
    issuer: &Issuer,
) -> anyhow::Result<Option<(SmtpTransport, Mailbox)>> {
    let (Some(url), Some(from)) = (&settings.smtp, &settings.from) else {
        return Ok(None);
    };
    let from: Mailbox = from
        .parse()
        .context("USHER_MAIL_FROM (mail_from): not an address")?;
    let transport = SmtpTransport::from_url(url.expose())
        .map_err(|_| anyhow::anyhow!("USHER_SMTP_URL (smtp_url): {url} is not usable"))?
        .timeout(Some(SMTP_TIMEOUT))
        .hello_name(lettre::transport::smtp::extension::ClientId::Domain(
            hello_name(issuer),
        ))
        .build();
    tracing::info!(smtp = %url, "mail goes to the SMTP server");
    Ok(Some((transport, from)))
}

/// For a command that ends right after it mails (`usher user invite`): an outbox that
/// hands each mail to the SMTP server before it returns, so the answer can say whether
/// the server took it. `None` without `smtp_url`.
pub fn direct_outbox(
    settings: &MailSettings,
    issuer: &Issuer,
) -> anyhow::Result<Option<Arc<dyn Outbox>>> {
    Ok(smtp(settings, issuer)?
        .map(|(transport, from)| Arc::new(DirectOutbox { transport, from }) as Arc<dyn Outbox>))
}

/// Sends at once, on the caller's thread.
struct DirectOutbox {
    transport: SmtpTransport,
    from: Mailbox,
}

impl Outbox for DirectOutbox {
    fn send(&self, mail: Mail) -> Result<(), MailError> {
        let message = message(&self.from, &mail).map_err(MailError::Compose)?;
        self.transport
            .send(&message)
            .map(|_| ())
            // lettre's errors name the server's reply, never the message.
            .map_err(|e| MailError::Delivery(e.to_string()))
    }
}

/// The name Usher gives itself in `EHLO`: the issuer's host.
fn hello_name(issuer: &Issuer) -> String {
    url::Url::parse(issuer.as_str())
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| "localhost".to_owned())
}

/// The lettre message of `mail`: text and HTML as alternatives.
pub fn message(from: &Mailbox, mail: &Mail) -> Result<Message, String> {
    // A bare address, never a mailbox with a display name: what is delivered to is
    // exactly the address Usher stored (Email refuses `<>` too).
    let address: lettre::Address = mail
        .to
        .as_str()
        .parse()
        .map_err(|e| format!("the recipient is not an address lettre accepts: {e}"))?;
    let to = Mailbox::new(None, address);
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(mail.subject.clone())
        .multipart(MultiPart::alternative_plain_html(
            mail.text.clone(),
            mail.html.clone(),
        ))
        .map_err(|e| format!("the message could not be built: {e}"))
}

/// Sends mail from a thread of its own, through a bounded queue.
pub struct SmtpOutbox {
    queue: SyncSender<Mail>,
}

impl SmtpOutbox {
    /// Starts the sending thread; it ends when the outbox is dropped.
    pub fn start(transport: SmtpTransport, from: Mailbox) -> anyhow::Result<SmtpOutbox> {
        let (queue, waiting) = mpsc::sync_channel::<Mail>(QUEUE);
        std::thread::Builder::new()
            .name("usher-mail".into())
            .spawn(move || {
                for mail in waiting {
                    let message = match message(&from, &mail) {
                        Ok(m) => m,
                        Err(cause) => {
                            tracing::warn!(event = "mail_failed", cause = %cause, "a mail could not be built");
                            continue;
                        }
                    };
                    match transport.send(&message) {
                        Ok(_) => tracing::info!(event = "mail_sent", subject = %mail.subject, "a mail was handed to the SMTP server"),
                        // lettre's errors name the server's reply, never the message.
                        Err(e) => tracing::warn!(event = "mail_failed", cause = %e, subject = %mail.subject, "the SMTP server did not take a mail"),
                    }
                }
            })
            .context("cannot start the mail thread")?;
        Ok(SmtpOutbox { queue })
    }
}

impl Outbox for SmtpOutbox {
    fn send(&self, mail: Mail) -> Result<(), MailError> {
        match self.queue.try_send(mail) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => Err(MailError::Full),
            Err(TrySendError::Disconnected(_)) => Err(MailError::Closed),
        }
    }
}

/// Writes mail to the log at `info`, links redacted.
pub struct LogOutbox;

impl Outbox for LogOutbox {
    fn send(&self, mail: Mail) -> Result<(), MailError> {
        tracing::info!(
            event = "mail_not_sent",
            to = %mail.to.as_str(),
            subject = %mail.subject,
            text = %mail.redacted_text(),
            "no smtp_url: this mail was not sent (its link is redacted; usher serve --dev-mail prints it)"
        );
        Ok(())
    }

    fn delivers(&self) -> bool {
        false
    }
}

/// Prints mail whole to standard error (`usher serve --dev-mail`).
pub struct StderrOutbox;

impl Outbox for StderrOutbox {
    fn send(&self, mail: Mail) -> Result<(), MailError> {
        eprintln!(
            "----- mail (--dev-mail) -----\nTo: {}\nSubject: {}\n\n{}\n-----------------------------",
            mail.to.as_str(),
            mail.subject,
            mail.text
        );
        Ok(())
    }
}
