//! E-mail: rendering from askama templates (HTML with a plain-text alternative) and delivery
//! over SMTP, or into `.eml` files when no SMTP server is configured (development).

use std::path::PathBuf;
use std::time::Duration;

use askama::Template as _;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{
    Address, AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
};
use tessera_app::config::{ConfigError, Env};

/// The sender when `SMTP_FROM` is unset.
pub const DEFAULT_FROM: &str = "Tessera <no-reply@tessera.local>";
/// Where `.eml` files go when `SMTP_HOST` is unset and `MAIL_DIR` too.
pub const DEFAULT_MAIL_DIR: &str = "var/mail";
/// The bound on each SMTP step (connect, each command) unless `SMTP_TIMEOUT` says otherwise.
/// No request waits for it (the dispatcher sends); the whole conversation is bounded by
/// `MAIL_SEND_TIMEOUT` on top.
pub const DEFAULT_SMTP_TIMEOUT: Duration = Duration::from_secs(10);
/// The subject of an e-mail that has neither a template nor a subject of its own.
const FALLBACK_SUBJECT: &str = "A notification from Tessera";

pub use crate::wire::{Template, TemplateData};

/// Everything an e-mail is rendered from.
#[derive(Debug, Clone, Copy)]
pub struct Content<'a> {
    /// The template, if any; without one the message is the body.
    pub template: Option<Template>,
    /// Its variables.
    pub data: &'a TemplateData,
    /// The notification's subject, if it has one.
    pub subject: Option<&'a str>,
    /// The notification's text.
    pub message: &'a str,
    /// The recipient's display name.
    pub name: Option<&'a str>,
    /// The web app's base URL, for links.
    pub app_url: &'a str,
}

/// A rendered e-mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The subject line.
    pub subject: String,
    /// The plain-text alternative.
    pub text: String,
    /// The HTML body.
    pub html: String,
}

/// What every template sees. Askama escapes it in `.html` templates and leaves it as it is in
/// `.txt` ones.
struct Ctx<'a> {
    subject: &'a str,
    name: Option<&'a str>,
    title: Option<&'a str>,
    message: &'a str,
    app_url: &'a str,
    task_url: &'a str,
    reset_url: &'a str,
    expires_in_minutes: Option<u64>,
}

macro_rules! templates {
    ($($name:ident => $path:literal,)*) => {$(
        #[derive(askama::Template)]
        #[template(path = $path)]
        struct $name<'a> {
            m: &'a Ctx<'a>,
        }
    )*};
}

templates! {
    TaskCreatedHtml => "task-created.html",
    TaskCreatedText => "task-created.txt",
    TaskCompletedHtml => "task-completed.html",
    TaskCompletedText => "task-completed.txt",
    PasswordResetHtml => "password-reset.html",
    PasswordResetText => "password-reset.txt",
    MessageHtml => "message.html",
    MessageText => "message.txt",
}

/// Renders an e-mail: the subject is the notification's, else the template's.
pub fn render(content: &Content<'_>) -> Result<Rendered, askama::Error> {
    let subject = content
        .subject
        .or(content.template.map(Template::subject))
        .unwrap_or(FALLBACK_SUBJECT);
    let app_url = content.app_url.trim_end_matches('/');
    let tasks = format!("{app_url}/tasks");
    let m = Ctx {
        subject,
        name: content.name,
        title: content.data.title.as_deref(),
        message: content.message,
        app_url,
        task_url: content.data.task_url.as_deref().unwrap_or(&tasks),
        reset_url: content.data.reset_url.as_deref().unwrap_or_default(),
        expires_in_minutes: content.data.expires_in_minutes,
    };
    let m = &m;
    let (html, text) = match content.template {
        Some(Template::TaskCreated) => (
            TaskCreatedHtml { m }.render()?,
            TaskCreatedText { m }.render()?,
        ),
        Some(Template::TaskCompleted) => (
            TaskCompletedHtml { m }.render()?,
            TaskCompletedText { m }.render()?,
        ),
        Some(Template::PasswordReset) => (
            PasswordResetHtml { m }.render()?,
            PasswordResetText { m }.render()?,
        ),
        None => (MessageHtml { m }.render()?, MessageText { m }.render()?),
    };
    Ok(Rendered {
        // Header folding is lettre's job, but a line break in a subject is never intended.
        subject: subject.replace(['\r', '\n'], " "),
        text,
        html,
    })
}

/// Why a message could not be delivered.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The mail server (or the mail folder) cannot take it now; a retry may succeed.
    #[error("the mail transport is unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// The mail server refused it for good (an SMTP 5xx reply), or the address is malformed:
    /// the same message will be refused again.
    #[error("the message was refused permanently: {reason}")]
    Rejected {
        /// The SMTP reply code or what is wrong, never the address itself.
        reason: String,
    },
}

#[derive(Clone)]
enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Files(AsyncFileTransport<Tokio1Executor>),
}

/// Sends e-mails from one sender over one transport. Cheap to clone (the SMTP connection pool
/// is shared).
#[derive(Clone)]
pub struct Mailer {
    transport: Transport,
    from: Mailbox,
    timeout: Duration,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.transport {
            Transport::Smtp(_) => "smtp",
            Transport::Files(_) => "files",
        };
        f.debug_struct("Mailer").field("transport", &kind).finish()
    }
}

fn invalid(name: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        name: name.to_owned(),
        reason: reason.into(),
    }
}

impl Mailer {
    /// A mailer from `SMTP_HOST`, `SMTP_PORT` (1025), `SMTP_TLS` (`none`, `starttls` or `tls`;
    /// default `none`, for the local catcher), `SMTP_USER`/`SMTP_PASS` (both or neither),
    /// `SMTP_TIMEOUT` (10 s per step) and `SMTP_FROM`. Without `SMTP_HOST`, messages are written as `.eml`
    /// files into `MAIL_DIR` (`var/mail`), which is created if needed.
    pub async fn from_env(env: &Env) -> anyhow::Result<Self> {
        let from: Mailbox = env
            .get("SMTP_FROM")
            .unwrap_or(DEFAULT_FROM)
            .parse()
            .map_err(|e| invalid("SMTP_FROM", format!("not a mailbox: {e}")))?;
        let timeout = env.duration_or("SMTP_TIMEOUT", DEFAULT_SMTP_TIMEOUT)?;
        if timeout.is_zero() {
            return Err(invalid("SMTP_TIMEOUT", "must be positive").into());
        }
        let Some(host) = env.get("SMTP_HOST").filter(|h| !h.trim().is_empty()) else {
            let dir = PathBuf::from(env.get("MAIL_DIR").unwrap_or(DEFAULT_MAIL_DIR));
            tokio::fs::create_dir_all(&dir).await.map_err(|e| {
                invalid("MAIL_DIR", format!("cannot create {}: {e}", dir.display()))
            })?;
            // Once, at start: where a developer finds the mails.
            tracing::info!(mail.dir = %dir.display(), "SMTP_HOST is unset: e-mails are written as .eml files");
            return Ok(Self {
                transport: Transport::Files(AsyncFileTransport::new(dir)),
                from,
                timeout,
            });
        };
        let host = host.trim();
        let port: u16 = env.parse_or("SMTP_PORT", 1025)?;
        let builder = match env.get("SMTP_TLS").unwrap_or("none") {
            "none" => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
            "starttls" => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host)
                .map_err(|e| invalid("SMTP_HOST", e.to_string()))?,
            "tls" => AsyncSmtpTransport::<Tokio1Executor>::relay(host)
                .map_err(|e| invalid("SMTP_HOST", e.to_string()))?,
            _ => return Err(invalid("SMTP_TLS", "must be none, starttls or tls").into()),
        };
        let mut builder = builder.port(port).timeout(Some(timeout));
        match (env.get("SMTP_USER"), env.get("SMTP_PASS")) {
            (Some(user), Some(pass)) => {
                builder = builder.credentials(Credentials::new(user.to_owned(), pass.to_owned()));
            }
            (None, None) => {}
            (Some(_), None) => {
                return Err(invalid("SMTP_PASS", "is required with SMTP_USER").into());
            }
            (None, Some(_)) => {
                return Err(invalid("SMTP_USER", "is required with SMTP_PASS").into());
            }
        }
        tracing::info!(
            smtp.host = host,
            smtp.port = port,
            "e-mails go out over SMTP"
        );
        Ok(Self {
            transport: Transport::Smtp(builder.build()),
            from,
            timeout,
        })
    }

    /// The bound on one SMTP step; the bound on a whole send must be at least this.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Sends `mail` to `address` (named `name`) as the e-mail of notification `id`.
    ///
    /// The `Message-ID` is derived from `id`, so every attempt at the same e-mail is the same
    /// message: when a sender dies after the server accepted the data but before the acceptance
    /// was recorded, the resend that follows carries the identity of the first, and mail
    /// systems that deduplicate by `Message-ID` show it once. (No SMTP client can rule that
    /// window out; this makes the duplicate recognisable.)
    pub async fn send(
        &self,
        id: uuid::Uuid,
        address: &str,
        name: Option<&str>,
        mail: Rendered,
    ) -> Result<(), MailError> {
        let address: Address = address.parse().map_err(|_| MailError::Rejected {
            reason: "the recipient address is malformed".to_owned(),
        })?;
        let message = Message::builder()
            .message_id(Some(message_id(id, &self.from)))
            .from(self.from.clone())
            .to(Mailbox::new(name.map(str::to_owned), address))
            .subject(mail.subject)
            .multipart(MultiPart::alternative_plain_html(mail.text, mail.html))
            .map_err(|e| MailError::Rejected {
                reason: format!("the message could not be built: {e}"),
            })?;
        match &self.transport {
            Transport::Smtp(smtp) => smtp.send(message).await.map(|_| ()).map_err(|e| {
                if e.is_permanent() {
                    MailError::Rejected {
                        reason: e
                            .status()
                            .map(|code| format!("SMTP {code}"))
                            .unwrap_or_else(|| "SMTP 5xx".to_owned()),
                    }
                } else {
                    MailError::Unavailable(e.into())
                }
            }),
            Transport::Files(files) => files
                .send(message)
                .await
                .map(|_| ())
                .map_err(|e| MailError::Unavailable(e.into())),
        }
    }
}

/// The `Message-ID` of notification `id`'s e-mail: `<id@sender's domain>`.
fn message_id(id: uuid::Uuid, from: &Mailbox) -> String {
    format!("<{id}@{}>", from.email.domain())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

    use serde_json::json;

    use super::*;

    fn content<'a>(template: Option<Template>, data: &'a TemplateData) -> Content<'a> {
        Content {
            template,
            data,
            subject: None,
            message: "Your task was created",
            name: Some("Ada <Lovelace>"),
            app_url: "https://tessera.test/",
        }
    }

    #[tokio::test]
    async fn every_attempt_at_an_email_carries_the_same_message_id() {
        let dir = std::env::temp_dir().join(format!("tessera-mail-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let env = Env::from_pairs([("MAIL_DIR", dir.to_string_lossy().into_owned())]);
        let mailer = Mailer::from_env(&env).await.unwrap();
        let id = uuid::Uuid::now_v7();
        let data = TemplateData::default();
        for _ in 0..2 {
            let mail = render(&content(None, &data)).unwrap();
            mailer
                .send(id, "ada@example.com", None, mail)
                .await
                .unwrap();
        }
        let ids: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|entry| {
                let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
                text.lines()
                    .find_map(|l| l.strip_prefix("Message-ID: "))
                    .expect("a Message-ID header")
                    .to_owned()
            })
            .collect();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(ids.len(), 2);
        assert!(
            ids.iter().all(|m| *m == format!("<{id}@tessera.local>")),
            "{ids:?}"
        );
    }

    #[test]
    fn templates_are_named_as_in_the_contract() {
        for name in tessera_contracts::notifications::templates::ALL {
            assert!(Template::parse(name).is_some(), "{name}");
        }
        assert_eq!(Template::parse("welcome"), None);
    }

    #[test]
    fn password_reset_needs_a_web_link() {
        let t = Template::PasswordReset;
        let err = TemplateData::parse(t, None).unwrap_err();
        assert_eq!(err.field, "data.resetUrl");
        let err =
            TemplateData::parse(t, Some(&json!({"resetUrl": "javascript:alert(1)"}))).unwrap_err();
        assert_eq!(err.field, "data.resetUrl");
        let err = TemplateData::parse(
            t,
            Some(&json!({"resetUrl": "https://x.test/r?token=a", "expiresInMinutes": -3})),
        )
        .unwrap_err();
        assert_eq!(err.field, "data.expiresInMinutes");
        let ok = TemplateData::parse(
            t,
            Some(&json!({"resetUrl": "https://x.test/r?token=a", "expiresInMinutes": 30})),
        )
        .unwrap();
        assert_eq!(ok.reset_url.as_deref(), Some("https://x.test/r?token=a"));
        assert_eq!(ok.expires_in_minutes, Some(30));
    }

    #[test]
    fn data_must_be_an_object_of_strings_where_text_is_expected() {
        let t = Template::TaskCreated;
        assert_eq!(
            TemplateData::parse(t, Some(&json!([1]))).unwrap_err().field,
            "data"
        );
        assert_eq!(
            TemplateData::parse(t, Some(&json!({"title": 5})))
                .unwrap_err()
                .field,
            "data.title"
        );
        let ok = TemplateData::parse(t, Some(&json!({"title": " Plan ", "other": 1}))).unwrap();
        assert_eq!(ok.title.as_deref(), Some("Plan"));
        assert_eq!(
            TemplateData::parse(t, Some(&json!({"taskUrl": "javascript:x"})))
                .unwrap_err()
                .field,
            "data.taskUrl"
        );
    }

    #[test]
    fn html_escapes_user_text_and_text_keeps_it() {
        let data = TemplateData {
            title: Some("<script>alert(1)</script>".to_owned()),
            ..TemplateData::default()
        };
        let mail = render(&content(Some(Template::TaskCompleted), &data)).unwrap();
        assert_eq!(mail.subject, Template::TaskCompleted.subject());
        assert!(!mail.html.contains("<script>"), "{}", mail.html);
        assert!(mail.html.contains("&#60;script&#62;"), "{}", mail.html);
        assert!(
            mail.html.contains("Ada &#60;Lovelace&#62;"),
            "{}",
            mail.html
        );
        assert!(
            mail.text.contains("<script>alert(1)</script>"),
            "{}",
            mail.text
        );
        assert!(mail.text.contains("Ada <Lovelace>"), "{}", mail.text);
    }

    #[test]
    fn the_reset_mail_carries_the_link_and_its_lifetime() {
        let data = TemplateData {
            reset_url: Some("https://tessera.test/reset-password?token=abc".to_owned()),
            expires_in_minutes: Some(30),
            ..TemplateData::default()
        };
        let mail = render(&content(Some(Template::PasswordReset), &data)).unwrap();
        assert!(
            mail.html
                .contains(r#"href="https://tessera.test/reset-password?token=abc""#),
            "{}",
            mail.html
        );
        assert!(mail.html.contains("30 minutes"), "{}", mail.html);
        assert!(
            mail.text
                .contains("https://tessera.test/reset-password?token=abc"),
            "{}",
            mail.text
        );
        assert!(mail.text.contains("30 minutes"), "{}", mail.text);
    }

    #[test]
    fn a_mail_without_a_template_is_its_message() {
        let data = TemplateData::default();
        let mut c = content(None, &data);
        c.subject = Some("Heads up\r\nBcc: x@example.com");
        let mail = render(&c).unwrap();
        assert_eq!(mail.subject, "Heads up  Bcc: x@example.com");
        assert!(mail.text.contains("Your task was created"), "{}", mail.text);
        assert!(mail.html.contains("Your task was created"), "{}", mail.html);
        c.subject = None;
        assert_eq!(render(&c).unwrap().subject, FALLBACK_SUBJECT);
    }
}
