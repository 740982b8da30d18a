//! Client of the Aktion account API served by `aktion-server` (PRODUCT.md §5.1a): sign-in,
//! credits, data sharing, blobs by content hash and generations on the account route.
//!
//! Errors say whether the server could be reached at all ([`AccountError::Offline`]: the app
//! keeps working and account-routed jobs wait) or answered with a refusal ([`AccountError::Api`]
//! with the server's stable `code`). The session token is never part of an error or of `Debug`
//! output. This crate must not depend on egui, sqlx or axum (it ships in the desktop app).

pub mod secrets;

use std::time::Duration;

use aktion_api::{
    AccountDeletion, BillingStatus, BlobInfo, CheckoutRequest, Credentials, DataSharingStatus,
    DataSharingUpdate, Done, EmailPreferences, EmailVerification, ErrorBody, Generation,
    GenerationRequest, HostedPage, LoggedOut, Me, PasswordChange, PasswordResetRequest, Pricing,
    RatingRequest, SessionResponse, SessionsEnded, SharedDataDeleted, TrainingDataStored,
    TrainingDataSubmission,
};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde::de::DeserializeOwned;

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountError {
    /// No answer (no network, server down, timeout) or a server error: try again later.
    #[error("the account server cannot be reached: {0}")]
    Offline(String),
    /// The server refused; `code` is its stable error code (`insufficient_credits`, ...).
    #[error("{message}")]
    Api {
        status: u16,
        code: String,
        message: String,
    },
    /// The server answered something this client does not understand.
    #[error("unexpected answer from the account server: {0}")]
    Decode(String),
    /// A local problem (bad base URL, TLS setup).
    #[error("{0}")]
    Config(String),
}

impl AccountError {
    /// True for a refusal with this code.
    pub fn is(&self, code: &str) -> bool {
        matches!(self, Self::Api { code: c, .. } if c == code)
    }

    pub fn is_offline(&self) -> bool {
        matches!(self, Self::Offline(_))
    }
}

pub type Result<T> = std::result::Result<T, AccountError>;

/// A client of one account server, with or without a session.
#[derive(Clone)]
pub struct AccountClient {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl std::fmt::Debug for AccountClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountClient")
            .field("base", &self.base)
            .field("signed_in", &self.token.is_some())
            .finish_non_exhaustive()
    }
}

/// `localhost` or a loopback address (`127.0.0.0/8`, `[::1]`).
fn is_loopback_host(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl AccountClient {
    /// A client of the server at `base_url`: `https://…`, or `http://…` for a server on this
    /// machine only (a session token never crosses a network in clear).
    pub fn new(base_url: &str, token: Option<String>) -> Result<Self> {
        let base = base_url.trim().trim_end_matches('/').to_owned();
        let parsed = reqwest::Url::parse(&base).map_err(|e| {
            AccountError::Config(format!(
                "the account server address {base:?} is not a URL: {e}"
            ))
        })?;
        match parsed.scheme() {
            "https" => {}
            "http" if is_loopback_host(parsed.host_str().unwrap_or_default()) => {}
            "http" => {
                return Err(AccountError::Config(format!(
                    "the account server address must use https:// (plain http:// only for a \
                     server on this machine; got {base:?})"
                )));
            }
            _ => {
                return Err(AccountError::Config(format!(
                    "the account server address must start with https:// (got {base:?})"
                )));
            }
        }
        // reqwest uses the process's rustls provider; installing fails harmlessly when another
        // part of the process did it first.
        let _already = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .user_agent(concat!("aktion-studio/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .build()
            .map_err(|e| AccountError::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            http,
            base,
            token: token.filter(|t| !t.is_empty()),
        })
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    pub fn is_signed_in(&self) -> bool {
        self.token.is_some()
    }

    /// The session token, to keep in the keychain (never log it).
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// The same server with another session (or none).
    #[must_use]
    pub fn with_token(mut self, token: Option<String>) -> Self {
        self.token = token.filter(|t| !t.is_empty());
        self
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let rb = self.http.request(method, format!("{}{path}", self.base));
        match &self.token {
            Some(t) => rb.bearer_auth(t),
            None => rb,
        }
    }

    async fn send(&self, rb: RequestBuilder) -> Result<reqwest::Response> {
        let resp = rb.send().await.map_err(|e| offline(&e))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let bytes = resp.bytes().await.map_err(|e| offline(&e))?;
        let body: Option<ErrorBody> = serde_json::from_slice(&bytes).ok();
        // A 503 `unavailable` is an answer (a part the server does not offer), not an outage.
        let answered = body.as_ref().is_some_and(|b| b.code == "unavailable");
        if (status.is_server_error() && !answered)
            || status == StatusCode::TOO_MANY_REQUESTS && body.is_none()
        {
            return Err(AccountError::Offline(format!(
                "the server answered {status}"
            )));
        }
        Err(match body {
            Some(b) => AccountError::Api {
                status: status.as_u16(),
                code: b.code,
                message: b.message,
            },
            None => AccountError::Api {
                status: status.as_u16(),
                code: "http".to_owned(),
                message: format!("the server answered {status}"),
            },
        })
    }

    async fn json<T: DeserializeOwned>(&self, rb: RequestBuilder) -> Result<T> {
        let resp = self.send(rb).await?;
        let bytes = resp.bytes().await.map_err(|e| offline(&e))?;
        serde_json::from_slice(&bytes).map_err(|e| AccountError::Decode(e.to_string()))
    }

    /// Creates an account and signs in with it.
    pub async fn register(&self, email: &str, password: &str) -> Result<SessionResponse> {
        let body = Credentials {
            email: email.trim().to_owned(),
            password: password.to_owned(),
        };
        self.json(self.request(Method::POST, "/v1/auth/register").json(&body))
            .await
    }

    pub async fn login(&self, email: &str, password: &str) -> Result<SessionResponse> {
        let body = Credentials {
            email: email.trim().to_owned(),
            password: password.to_owned(),
        };
        self.json(self.request(Method::POST, "/v1/auth/login").json(&body))
            .await
    }

    pub async fn logout(&self) -> Result<LoggedOut> {
        self.json(self.request(Method::POST, "/v1/auth/logout"))
            .await
    }

    /// Confirms the address with a mailed link's token (pays the starter grant).
    pub async fn verify_email(&self, token: &str) -> Result<Me> {
        let body = EmailVerification {
            token: token.trim().to_owned(),
        };
        self.json(
            self.request(Method::POST, "/v1/auth/verify-email")
                .json(&body),
        )
        .await
    }

    /// Mails a new verification link.
    pub async fn resend_verification(&self) -> Result<Done> {
        self.json(self.request(Method::POST, "/v1/me/verify-email"))
            .await
    }

    /// Asks for a password-reset link (the same answer whether or not the address is known).
    pub async fn request_password_reset(&self, email: &str) -> Result<Done> {
        let body = PasswordResetRequest {
            email: email.trim().to_owned(),
        };
        self.json(
            self.request(Method::POST, "/v1/auth/password-reset")
                .json(&body),
        )
        .await
    }

    /// Changes the password; the server ends every other session.
    pub async fn change_password(&self, current: &str, new: &str) -> Result<SessionsEnded> {
        let body = PasswordChange {
            current_password: current.to_owned(),
            new_password: new.to_owned(),
        };
        self.json(self.request(Method::POST, "/v1/me/password").json(&body))
            .await
    }

    /// Ends every session of the account, this one too.
    pub async fn logout_all(&self) -> Result<SessionsEnded> {
        self.json(self.request(Method::POST, "/v1/auth/logout-all"))
            .await
    }

    /// Deletes the account (the password confirms it).
    pub async fn delete_account(&self, password: &str) -> Result<Done> {
        let body = AccountDeletion {
            password: password.to_owned(),
        };
        self.json(self.request(Method::DELETE, "/v1/me").json(&body))
            .await
    }

    /// Asks for (or stops) a mail when a job of over a minute finishes.
    pub async fn set_generation_mails(&self, on: bool) -> Result<EmailPreferences> {
        let body = EmailPreferences {
            generation_finished: on,
        };
        self.json(
            self.request(Method::PUT, "/v1/me/email-preferences")
                .json(&body),
        )
        .await
    }

    /// Rates a result the user shared from another route, by its output's hash.
    pub async fn rate_shared(
        &self,
        output_hash: &str,
        rating: u8,
    ) -> Result<aktion_api::SharedRated> {
        let body = aktion_api::SharedRating {
            output_hash: output_hash.to_owned(),
            rating,
        };
        self.json(
            self.request(Method::POST, "/v1/training-data/rating")
                .json(&body),
        )
        .await
    }

    /// "Report a problem" (works signed in or not).
    pub async fn report_problem(
        &self,
        report: &aktion_api::ProblemReport,
    ) -> Result<aktion_api::ProblemReportStored> {
        self.json(
            self.request(Method::POST, "/v1/problem-reports")
                .json(report),
        )
        .await
    }

    /// Membership, packs on sale, discount, debt and purchases (503 `unavailable` when the
    /// server has no billing).
    pub async fn billing(&self) -> Result<BillingStatus> {
        self.json(self.request(Method::GET, "/v1/billing")).await
    }

    /// A Stripe Checkout page for `item` (`"membership"` or a pack's item) to open in the
    /// browser.
    pub async fn checkout(&self, item: &str) -> Result<HostedPage> {
        let body = CheckoutRequest {
            item: item.to_owned(),
        };
        self.json(
            self.request(Method::POST, "/v1/billing/checkout")
                .json(&body),
        )
        .await
    }

    /// A Stripe Customer Portal page (cards, invoices, cancelling).
    pub async fn billing_portal(&self) -> Result<HostedPage> {
        self.json(self.request(Method::POST, "/v1/billing/portal"))
            .await
    }

    pub async fn me(&self) -> Result<Me> {
        self.json(self.request(Method::GET, "/v1/me")).await
    }

    pub async fn pricing(&self) -> Result<Pricing> {
        self.json(self.request(Method::GET, "/v1/pricing")).await
    }

    pub async fn data_sharing(&self) -> Result<DataSharingStatus> {
        self.json(self.request(Method::GET, "/v1/me/data-sharing"))
            .await
    }

    pub async fn set_data_sharing(&self, opt_in: bool) -> Result<DataSharingStatus> {
        self.json(
            self.request(Method::PUT, "/v1/me/data-sharing")
                .json(&DataSharingUpdate { opt_in }),
        )
        .await
    }

    pub async fn delete_shared_data(&self) -> Result<SharedDataDeleted> {
        self.json(self.request(Method::DELETE, "/v1/me/shared-data"))
            .await
    }

    /// Uploads `bytes` under their BLAKE3 hash (stored once per content on the server).
    pub async fn put_blob(&self, bytes: Vec<u8>, content_type: &str) -> Result<BlobInfo> {
        let hash = blake3::hash(&bytes).to_hex();
        self.json(
            self.request(Method::PUT, &format!("/v1/blobs/{hash}"))
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(bytes),
        )
        .await
    }

    /// Downloads one of the caller's blobs, checked against its hash.
    pub async fn get_blob(&self, hash: &str) -> Result<Vec<u8>> {
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(AccountError::Decode(format!("not a blob hash: {hash:?}")));
        }
        let resp = self
            .send(self.request(Method::GET, &format!("/v1/blobs/{hash}")))
            .await?;
        let bytes = resp.bytes().await.map_err(|e| offline(&e))?.to_vec();
        if blake3::hash(&bytes).to_hex().as_str() != hash.to_ascii_lowercase() {
            return Err(AccountError::Decode(
                "a downloaded output does not match its hash".to_owned(),
            ));
        }
        Ok(bytes)
    }

    /// Starts a generation. `idempotency_key` makes a retry (after a lost answer) return the
    /// same generation instead of paying twice.
    pub async fn create_generation(
        &self,
        request: &GenerationRequest,
        idempotency_key: &str,
    ) -> Result<Generation> {
        self.json(
            self.request(Method::POST, "/v1/generations")
                .header(aktion_api::IDEMPOTENCY_KEY_HEADER, idempotency_key)
                .json(request),
        )
        .await
    }

    pub async fn generation(&self, id: &str) -> Result<Generation> {
        self.json(self.request(Method::GET, &format!("/v1/generations/{}", seg(id))))
            .await
    }

    pub async fn cancel_generation(&self, id: &str) -> Result<Generation> {
        self.json(self.request(Method::POST, &format!("/v1/generations/{}/cancel", seg(id))))
            .await
    }

    pub async fn rate_generation(&self, id: &str, rating: u8) -> Result<Generation> {
        self.json(
            self.request(Method::POST, &format!("/v1/generations/{}/rating", seg(id)))
                .json(&RatingRequest { rating }),
        )
        .await
    }

    /// Shares a result made on another route (skipped by the server when not opted in).
    pub async fn share_training_data(
        &self,
        submission: &TrainingDataSubmission,
    ) -> Result<TrainingDataStored> {
        self.json(
            self.request(Method::POST, "/v1/training-data")
                .json(submission),
        )
        .await
    }
}

/// A path segment with anything but `[A-Za-z0-9_-]` percent-encoded, so an id can never change
/// the path.
fn seg(id: &str) -> String {
    use std::fmt::Write as _;
    id.bytes().fold(String::new(), |mut s, b| {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
            s.push(char::from(b));
        } else {
            let _ = write!(s, "%{b:02X}");
        }
        s
    })
}

fn offline(e: &reqwest::Error) -> AccountError {
    // reqwest's messages name the URL but never headers, so the token cannot leak here.
    AccountError::Offline(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_cannot_escape_their_path_segment() {
        assert_eq!(seg("abc-1_2"), "abc-1_2");
        assert_eq!(seg("../x?y"), "%2E%2E%2Fx%3Fy");
    }

    #[test]
    fn debug_never_shows_the_token() {
        let c = AccountClient::new("http://127.0.0.1:1", Some("secret-token".into())).unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("secret-token") && shown.contains("signed_in: true"));
        assert!(AccountClient::new("ftp://x", None).is_err());
    }

    #[tokio::test]
    async fn unreachable_server_is_offline_and_refusals_keep_their_code() {
        // Nothing listens on port 1.
        for refused in [
            "http://api.aktion.example",
            "http://10.0.0.5:8787",
            "ftp://127.0.0.1",
            "localhost:8787",
        ] {
            assert!(
                matches!(
                    AccountClient::new(refused, None),
                    Err(AccountError::Config(_))
                ),
                "{refused}"
            );
        }
        for accepted in [
            "https://api.aktion.example/",
            "http://localhost:8787",
            "http://[::1]:8787",
            "http://127.0.0.2",
        ] {
            assert!(AccountClient::new(accepted, None).is_ok(), "{accepted}");
        }
        let c = AccountClient::new("http://127.0.0.1:1", None).unwrap();
        assert!(c.me().await.unwrap_err().is_offline());

        // A server that answers 402 with the API's error body, 503 without one, and garbage.
        let app = axum::Router::new()
            .route(
                "/v1/me",
                axum::routing::get(|| async {
                    (
                        axum::http::StatusCode::PAYMENT_REQUIRED,
                        axum::Json(serde_json::json!({"code": "insufficient_credits", "message": "not enough credits"})),
                    )
                }),
            )
            .route(
                "/v1/pricing",
                axum::routing::get(|| async { axum::http::StatusCode::SERVICE_UNAVAILABLE }),
            )
            .route(
                "/v1/me/data-sharing",
                axum::routing::get(|| async { "{not json" }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let c = AccountClient::new(&format!("http://{addr}/"), Some("t".into())).unwrap();
        let e = c.me().await.unwrap_err();
        assert!(e.is("insufficient_credits"), "{e:?}");
        assert_eq!(e.to_string(), "not enough credits");
        assert!(c.pricing().await.unwrap_err().is_offline());
        assert!(matches!(
            c.data_sharing().await,
            Err(AccountError::Decode(_))
        ));
        assert!(matches!(
            c.get_blob("../etc").await,
            Err(AccountError::Decode(_))
        ));
    }
}
