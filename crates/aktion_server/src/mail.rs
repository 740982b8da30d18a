//! Email (PRODUCT.md §5.7): a transactional outbox and the worker that delivers it over SMTP.
//!
//! A mail is rendered (plain text and HTML) and written to the `outbox` table in the same
//! transaction as what caused it, so a registration never commits without its verification
//! mail and a rolled-back change sends nothing. Every instance runs a worker when
//! `AKTION_SMTP_URL` is set; a worker claims due rows for a lease (`FOR UPDATE SKIP LOCKED` on
//! PostgreSQL, the single writer connection on SQLite), so one instance delivers each mail.
//! Failures are retried with growing, jittered waits; a permanent refusal (5xx) or too many
//! attempts ends the row as failed. A delivered row keeps its subject but loses its bodies (they
//! carry single-use links). Without `AKTION_SMTP_URL` mails wait in the outbox.

use std::time::Duration;

use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use sqlx::{Any, Transaction};

use crate::db::now_ms;
use crate::{ApiError, AppState, Db, DbKind};

/// Mail settings.
#[derive(Debug, Clone)]
pub struct MailConfig {
    /// `smtps://user:pass@host:465` (implicit TLS), `smtp://host:587` (STARTTLS required) or
    /// `smtp://127.0.0.1:2525` (plain, loopback only). `None`: mails stay in the outbox.
    pub smtp_url: Option<String>,
    /// `AKTION_MAIL_FROM`, e.g. `Aktion Studio <hello@aktion.studio>`.
    pub from: String,
    /// How often a worker looks for due mails.
    pub poll: Duration,
    /// How long a claimed mail belongs to the instance that claimed it.
    pub claim_lease: Duration,
    /// Attempts before a mail is given up.
    pub max_attempts: i64,
    /// Wait before the first retry; doubled per attempt up to an hour.
    pub retry_base: Duration,
}

impl Default for MailConfig {
    fn default() -> Self {
        Self {
            smtp_url: None,
            from: "Aktion Studio <noreply@localhost>".to_owned(),
            poll: Duration::from_secs(2),
            claim_lease: Duration::from_secs(300),
            max_attempts: 12,
            retry_base: Duration::from_secs(30),
        }
    }
}

/// The messages the studio sends.
#[derive(Debug, Clone)]
pub enum Mail {
    VerifyEmail {
        link: String,
    },
    Welcome {
        credits: i64,
    },
    PasswordReset {
        link: String,
    },
    /// Someone tried to register with an address that already has an account.
    RegistrationAttempt {
        reset_link: String,
    },
    BetaInvitation,
    GenerationFinished {
        kind: String,
        id: String,
        seconds: i64,
        succeeded: bool,
    },
    Receipt {
        what: String,
        amount: String,
        credits: i64,
    },
}

/// A rendered message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl Mail {
    /// Template name stored with the row (and shown on the dashboard).
    pub fn template(&self) -> &'static str {
        match self {
            Self::VerifyEmail { .. } => "verify-email",
            Self::Welcome { .. } => "welcome",
            Self::PasswordReset { .. } => "password-reset",
            Self::RegistrationAttempt { .. } => "registration-attempt",
            Self::BetaInvitation => "beta-invitation",
            Self::GenerationFinished { .. } => "generation-finished",
            Self::Receipt { .. } => "receipt",
        }
    }

    /// Optional mails honour the user's unsubscribe; the others are part of the account.
    pub fn optional(&self) -> bool {
        matches!(self, Self::GenerationFinished { .. })
    }

    /// Subject, plain text and HTML. `site` is the server's public base URL.
    pub fn render(&self, site: &str, unsubscribe: Option<&str>) -> Rendered {
        use std::fmt::Write as _;
        let (subject, paragraphs, action) = self.content(site);
        let mut text = String::new();
        for p in &paragraphs {
            text.push_str(p);
            text.push_str("\n\n");
        }
        if let Some((label, url)) = action {
            let _ = write!(text, "{label}: {url}\n\n");
        }
        text.push_str("— Aktion Studio\n");
        if let Some(url) = unsubscribe {
            let _ = write!(text, "\nStop mails like this one: {url}\n");
        }
        let mut html = String::from(
            "<!doctype html><html><body style=\"font-family:system-ui,sans-serif;\
             color:#1d1a22;max-width:36rem;margin:auto;padding:1.5rem\">",
        );
        let _ = write!(
            html,
            "<h1 style=\"font-size:1.3rem\">{}</h1>",
            esc(&subject)
        );
        for p in &paragraphs {
            let _ = write!(html, "<p>{}</p>", esc(p));
        }
        if let Some((label, url)) = action {
            let _ = write!(
                html,
                "<p><a href=\"{}\" style=\"display:inline-block;background:#f3b35c;\
                 color:#17130c;padding:.6rem 1.2rem;border-radius:4px;text-decoration:none;\
                 font-weight:700\">{}</a></p><p style=\"font-size:.85rem;color:#666\">{}</p>",
                esc(url),
                esc(label),
                esc(url)
            );
        }
        html.push_str("<p>— Aktion Studio</p>");
        if let Some(url) = unsubscribe {
            let _ = write!(
                html,
                "<p style=\"font-size:.8rem;color:#666\"><a href=\"{}\">Stop mails like \
                 this one</a></p>",
                esc(url)
            );
        }
        html.push_str("</body></html>");
        Rendered {
            subject,
            text,
            html,
        }
    }

    /// Subject, paragraphs and the one button (label, URL) of the message.
    #[expect(
        clippy::too_many_lines,
        reason = "the words of every message, in one place"
    )]
    fn content<'a>(&'a self, site: &'a str) -> (String, Vec<String>, Option<(&'a str, &'a str)>) {
        match self {
            Self::VerifyEmail { link } => (
                "Confirm your email for Aktion Studio".to_owned(),
                vec![
                    "Welcome to Aktion Studio. Confirm that this address is yours to finish \
                     setting up your account; your starter credits are added when you do."
                        .to_owned(),
                    "The link works once and expires in 48 hours. If you did not sign up, \
                     ignore this mail."
                        .to_owned(),
                ],
                Some(("Confirm my email", link.as_str())),
            ),
            Self::Welcome { credits } => (
                "Welcome to Aktion Studio".to_owned(),
                vec![
                    "Your email is confirmed and your account is ready.".to_owned(),
                    if *credits > 0 {
                        format!("{credits} starter credits are on your account.")
                    } else {
                        "Buy credits or a membership from Account in the app.".to_owned()
                    },
                    "Open the app, lay out your characters and shots, and run the board."
                        .to_owned(),
                ],
                None,
            ),
            Self::PasswordReset { link } => (
                "Reset your Aktion Studio password".to_owned(),
                vec![
                    "Someone asked to reset the password of your Aktion Studio account. \
                     If it was you, choose a new password; every signed-in device is signed \
                     out when you do."
                        .to_owned(),
                    "The link works once and expires in one hour. If it was not you, ignore \
                     this mail: your password stays as it is."
                        .to_owned(),
                ],
                Some(("Choose a new password", link.as_str())),
            ),
            Self::RegistrationAttempt { reset_link } => (
                "Someone tried to sign up with your email".to_owned(),
                vec![
                    "Someone tried to make a new Aktion Studio account with this address, \
                     which already has one. Nothing was changed."
                        .to_owned(),
                    "If it was you and you forgot your password, you can reset it.".to_owned(),
                ],
                Some(("Reset my password", reset_link.as_str())),
            ),
            Self::BetaInvitation => (
                "Your Aktion Studio beta invitation".to_owned(),
                vec![
                    "Your seat in the Aktion Studio beta is open. Download the app and make \
                     your account with this email address."
                        .to_owned(),
                ],
                Some(("Get Aktion Studio", site)),
            ),
            Self::GenerationFinished {
                kind,
                id,
                seconds,
                succeeded,
            } => (
                if *succeeded {
                    format!("Your {kind} is ready")
                } else {
                    format!("Your {kind} did not finish")
                },
                vec![if *succeeded {
                    format!(
                        "The {kind} you started ({id}) finished after {} and is waiting \
                             in the app.",
                        human_seconds(*seconds)
                    )
                } else {
                    format!(
                        "The {kind} you started ({id}) failed after {}; its credits were \
                             released. The app shows the provider's message.",
                        human_seconds(*seconds)
                    )
                }],
                None,
            ),
            Self::Receipt {
                what,
                amount,
                credits,
            } => (
                "Your Aktion Studio receipt".to_owned(),
                vec![
                    format!("Thank you. We received {amount} for {what}."),
                    if *credits > 0 {
                        format!("{credits} credits were added to your account.")
                    } else {
                        "Your membership is active.".to_owned()
                    },
                    "Invoices and cards are in Account → Billing in the app.".to_owned(),
                ],
                None,
            ),
        }
    }
}

fn human_seconds(seconds: i64) -> String {
    if seconds < 120 {
        format!("{seconds} s")
    } else {
        format!("{} min", seconds / 60)
    }
}

/// HTML-escapes text for element content and quoted attributes.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Where links in mails point and how unsubscribe links are signed.
#[derive(Debug, Clone)]
pub struct Links {
    pub site: String,
    key: [u8; 32],
}

impl Links {
    pub fn of(state: &AppState) -> Self {
        Self {
            site: state.config.site_url.trim_end_matches('/').to_owned(),
            key: *state.signing_key,
        }
    }

    /// A page of the server (`path` starts with `/`).
    pub fn page(&self, path: &str) -> String {
        format!("{}{path}", self.site)
    }

    fn unsubscribe_sig(&self, user_id: i64) -> String {
        blake3::keyed_hash(&self.key, format!("unsubscribe:{user_id}").as_bytes())
            .to_hex()
            .to_string()
    }

    /// The user's unsubscribe link (no expiry: it only ever turns mails off).
    pub fn unsubscribe(&self, user_id: i64) -> String {
        self.page(&format!(
            "/account/unsubscribe?u={user_id}&sig={}",
            self.unsubscribe_sig(user_id)
        ))
    }

    /// Whether `sig` is the unsubscribe signature of `user_id` (constant time).
    pub fn unsubscribe_ok(&self, user_id: i64, sig: &str) -> bool {
        let want = self.unsubscribe_sig(user_id);
        crate::auth::same_secret(want.as_bytes(), sig.as_bytes())
    }
}

/// Who a mail goes to.
#[derive(Debug, Clone, Copy)]
pub struct To<'a> {
    pub user_id: Option<i64>,
    pub email: &'a str,
}

/// Writes `mail` to the outbox inside `tx`. Optional mails to a user who unsubscribed are
/// skipped; a `dedupe` key already used writes nothing. Returns whether a row was written.
pub async fn enqueue(
    tx: &mut Transaction<'static, Any>,
    links: &Links,
    to: To<'_>,
    mail: &Mail,
    dedupe: Option<&str>,
) -> Result<bool, ApiError> {
    let mut unsubscribe = None;
    if mail.optional() {
        let Some(user_id) = to.user_id else {
            return Err(ApiError::Internal("an optional mail needs a user".into()));
        };
        let unsubscribed: Option<Option<i64>> =
            sqlx::query_scalar("SELECT mail_unsubscribed_at FROM users WHERE id = $1")
                .bind(user_id)
                .fetch_optional(&mut **tx)
                .await?;
        if !matches!(unsubscribed, Some(None)) {
            return Ok(false);
        }
        unsubscribe = Some(links.unsubscribe(user_id));
    }
    let rendered = mail.render(&links.site, unsubscribe.as_deref());
    let now = now_ms();
    let done = sqlx::query(
        "INSERT INTO outbox (user_id, recipient, template, subject, body_text, body_html, \
         unsubscribe_url, dedupe_key, created_at, next_attempt_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) ON CONFLICT (dedupe_key) DO NOTHING",
    )
    .bind(to.user_id)
    .bind(to.email)
    .bind(mail.template())
    .bind(&rendered.subject)
    .bind(&rendered.text)
    .bind(&rendered.html)
    .bind(unsubscribe)
    .bind(dedupe)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Counts of the outbox for the dashboard.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxCounts {
    pub waiting: i64,
    pub sent: i64,
    pub failed: i64,
}

pub async fn counts(db: &Db) -> Result<OutboxCounts, ApiError> {
    let (waiting, sent, failed): (i64, i64, i64) = sqlx::query_as(
        "SELECT \
           COALESCE(SUM(CASE WHEN sent_at IS NULL AND failed_at IS NULL THEN 1 ELSE 0 END), 0), \
           COALESCE(SUM(CASE WHEN sent_at IS NOT NULL THEN 1 ELSE 0 END), 0), \
           COALESCE(SUM(CASE WHEN failed_at IS NOT NULL THEN 1 ELSE 0 END), 0) FROM outbox",
    )
    .fetch_one(&db.pool)
    .await?;
    Ok(OutboxCounts {
        waiting,
        sent,
        failed,
    })
}

type Transport = AsyncSmtpTransport<Tokio1Executor>;

/// The SMTP transport of `AKTION_SMTP_URL`.
pub fn transport(url: &str, from: &Mailbox) -> Result<Transport, String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("AKTION_SMTP_URL: {e}"))?;
    let host = parsed
        .host_str()
        .ok_or("AKTION_SMTP_URL has no host")?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    let builder = match parsed.scheme() {
        "smtps" => Transport::relay(&host).map_err(|e| format!("AKTION_SMTP_URL: {e}"))?,
        "smtp" if loopback => Transport::builder_dangerous(&host),
        "smtp" => Transport::starttls_relay(&host).map_err(|e| format!("AKTION_SMTP_URL: {e}"))?,
        other => {
            return Err(format!(
                "AKTION_SMTP_URL: scheme {other:?}; use smtps:// (TLS) or smtp:// (STARTTLS; plain only to a loopback address)"
            ));
        }
    };
    let mut builder = builder.timeout(Some(Duration::from_secs(30)));
    if let Some(port) = parsed.port() {
        builder = builder.port(port);
    }
    if !parsed.username().is_empty() {
        let decode = |s: &str| {
            percent_decode(s).ok_or_else(|| "AKTION_SMTP_URL: bad percent-encoding".to_owned())
        };
        builder = builder.credentials(Credentials::new(
            decode(parsed.username())?,
            decode(parsed.password().unwrap_or(""))?,
        ));
    }
    let domain = from.email.domain().to_owned();
    Ok(builder.hello_name(ClientId::Domain(domain)).build())
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// id, recipient, subject, text, HTML, unsubscribe URL, attempts.
type ClaimedRow = (i64, String, String, String, String, Option<String>, i64);

/// A claimed outbox row.
#[derive(Debug)]
struct Claimed {
    id: i64,
    recipient: String,
    subject: String,
    body_text: String,
    body_html: String,
    unsubscribe_url: Option<String>,
    attempts: i64,
}

/// Starts this instance's mail worker when SMTP is configured (logs why not otherwise).
pub fn spawn_worker(state: &AppState) -> Result<(), String> {
    let config = state.config.mail.clone();
    let Some(url) = config.smtp_url.clone() else {
        tracing::warn!("AKTION_SMTP_URL is not set: mails wait in the outbox");
        return Ok(());
    };
    let from: Mailbox = config
        .from
        .parse()
        .map_err(|e| format!("AKTION_MAIL_FROM {:?}: {e}", config.from))?;
    let transport = transport(&url, &from)?;
    let db = state.db.clone();
    let shutdown = state.shutdown.clone();
    let me = format!("mailer-{}", uuid::Uuid::new_v4());
    tokio::spawn(async move {
        loop {
            match deliver_due(&db, &transport, &from, &config, &me).await {
                Ok(n) if n > 0 => continue,
                Ok(_) => {}
                Err(e) => tracing::warn!("mail worker: {e}"),
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(config.poll) => {}
            }
        }
    });
    Ok(())
}

/// Claims due mails and sends them; returns how many were claimed.
pub async fn deliver_due(
    db: &Db,
    transport: &Transport,
    from: &Mailbox,
    config: &MailConfig,
    me: &str,
) -> Result<usize, ApiError> {
    let now = now_ms();
    let lease = i64::try_from(config.claim_lease.as_millis()).unwrap_or(i64::MAX / 4);
    let lock = match db.kind {
        DbKind::Postgres => " FOR UPDATE SKIP LOCKED",
        DbKind::Sqlite => "",
    };
    let rows: Vec<ClaimedRow> = sqlx::query_as(&format!(
        "UPDATE outbox SET claimed_by = $1, claimed_until = $2, attempts = attempts + 1 \
         WHERE id IN (SELECT id FROM outbox WHERE sent_at IS NULL AND failed_at IS NULL \
           AND next_attempt_at <= $3 AND (claimed_until IS NULL OR claimed_until < $3) \
           ORDER BY id LIMIT 10{lock}) \
         RETURNING id, recipient, subject, body_text, body_html, unsubscribe_url, attempts"
    ))
    .bind(me)
    .bind(now + lease)
    .bind(now)
    .fetch_all(db.writer())
    .await?;
    let claimed: Vec<Claimed> = rows
        .into_iter()
        .map(
            |(id, recipient, subject, body_text, body_html, unsubscribe_url, attempts)| Claimed {
                id,
                recipient,
                subject,
                body_text,
                body_html,
                unsubscribe_url,
                attempts,
            },
        )
        .collect();
    let count = claimed.len();
    for mail in claimed {
        let result = match message(&mail, from) {
            Ok(message) => transport
                .send(message)
                .await
                .map(|_| ())
                .map_err(|e| (e.is_permanent(), e.to_string())),
            Err(e) => Err((true, e)),
        };
        match result {
            Ok(()) => {
                sqlx::query(
                    "UPDATE outbox SET sent_at = $1, body_text = '', body_html = '', \
                     claimed_until = NULL, last_error = NULL WHERE id = $2 AND claimed_by = $3",
                )
                .bind(now_ms())
                .bind(mail.id)
                .bind(me)
                .execute(db.writer())
                .await?;
            }
            Err((permanent, error)) => {
                let give_up = permanent || mail.attempts >= config.max_attempts;
                let wait = retry_wait(config.retry_base, mail.attempts);
                tracing::warn!(
                    "mail {} to the outbox's recipient: {error}{}",
                    mail.id,
                    if give_up { " (given up)" } else { "" }
                );
                sqlx::query(
                    "UPDATE outbox SET claimed_until = NULL, last_error = $1, \
                     next_attempt_at = $2, failed_at = $3 WHERE id = $4 AND claimed_by = $5",
                )
                .bind(error.chars().take(500).collect::<String>())
                .bind(now_ms().saturating_add(wait))
                .bind(give_up.then(now_ms))
                .bind(mail.id)
                .bind(me)
                .execute(db.writer())
                .await?;
            }
        }
    }
    Ok(count)
}

/// Milliseconds before attempt `attempts + 1`: `base` doubled per attempt, at most an hour,
/// plus up to a fifth more at random (so instances do not retry in step).
fn retry_wait(base: Duration, attempts: i64) -> i64 {
    let base = i64::try_from(base.as_millis()).unwrap_or(30_000);
    let shift = u32::try_from(attempts.clamp(1, 20) - 1).unwrap_or(0);
    let wait = base.saturating_mul(1i64 << shift).min(3_600_000);
    let mut random = [0u8; 2];
    let _ = getrandom::fill(&mut random);
    wait + wait * i64::from(u16::from_le_bytes(random)) / (5 * 65_536)
}

fn message(mail: &Claimed, from: &Mailbox) -> Result<Message, String> {
    let to: Mailbox = mail
        .recipient
        .parse()
        .map_err(|e| format!("recipient: {e}"))?;
    let mut builder = Message::builder()
        .from(from.clone())
        .to(to)
        .subject(mail.subject.clone())
        // The same id on a retry, so a receiver can tell a repeat from a new mail.
        .message_id(Some(format!(
            "<aktion-outbox-{}@{}>",
            mail.id,
            from.email.domain()
        )));
    if let Some(url) = &mail.unsubscribe_url {
        let name = |n: &str| HeaderName::new_from_ascii(n.to_owned()).map_err(|e| e.to_string());
        builder = builder
            .raw_header(HeaderValue::new(
                name("List-Unsubscribe")?,
                format!("<{url}>"),
            ))
            .raw_header(HeaderValue::new(
                name("List-Unsubscribe-Post")?,
                "List-Unsubscribe=One-Click".to_owned(),
            ));
    }
    builder
        .multipart(MultiPart::alternative_plain_html(
            mail.body_text.clone(),
            mail.body_html.clone(),
        ))
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_renders_text_and_escaped_html() {
        let mails = [
            Mail::VerifyEmail {
                link: "https://s/account/verify?token=a&b=<x>".into(),
            },
            Mail::Welcome { credits: 20 },
            Mail::PasswordReset {
                link: "https://s/r".into(),
            },
            Mail::RegistrationAttempt {
                reset_link: "https://s/r".into(),
            },
            Mail::BetaInvitation,
            Mail::GenerationFinished {
                kind: "<Sequence>".into(),
                id: "g1".into(),
                seconds: 185,
                succeeded: true,
            },
            Mail::Receipt {
                what: "500 credits".into(),
                amount: "€9.00".into(),
                credits: 500,
            },
        ];
        for mail in &mails {
            let r = mail.render("https://s", Some("https://s/u?x=1&y=2"));
            assert!(!r.subject.is_empty() && !r.text.is_empty(), "{mail:?}");
            assert!(!r.html.contains("<x>") && !r.html.contains("<Sequence>"));
            assert!(r.html.contains("&amp;y=2"), "unsubscribe link escaped");
        }
        let verify = mails[0].render("https://s", None);
        assert!(
            verify
                .text
                .contains("https://s/account/verify?token=a&b=<x>")
        );
        assert!(verify.html.contains("token=a&amp;b=&lt;x&gt;"));
        assert!(!verify.text.contains("Stop mails"));
    }

    #[test]
    fn smtp_urls_need_tls_except_to_loopback() {
        let from: Mailbox = "A <a@example.com>".parse().expect("mailbox");
        assert!(transport("smtps://u:p%40ss@mail.example.com", &from).is_ok());
        assert!(transport("smtp://mail.example.com:587", &from).is_ok());
        assert!(transport("smtp://127.0.0.1:2525", &from).is_ok());
        assert!(transport("http://mail.example.com", &from).is_err());
        assert!(transport("smtp://", &from).is_err());
        assert_eq!(percent_decode("p%40ss").as_deref(), Some("p@ss"));
        assert_eq!(percent_decode("bad%4"), None);
    }

    #[test]
    fn retries_wait_longer_each_time_up_to_an_hour() {
        let base = Duration::from_secs(30);
        let first = retry_wait(base, 1);
        assert!((30_000..=36_000).contains(&first), "{first}");
        let third = retry_wait(base, 3);
        assert!((120_000..=144_000).contains(&third), "{third}");
        assert!(retry_wait(base, 20) <= 3_600_000 * 6 / 5);
    }
}
