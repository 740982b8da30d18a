//! The one HTTP client of the crate, the retry loop and the classification of responses.

use std::time::{Duration, SystemTime};

use reqwest::{RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::ProviderKind;
use crate::error::{ProviderError, Result};
use crate::guard::TrustedHosts;
use crate::secret::{ApiKey, scrub};

/// Timeouts and identity of the shared HTTP client.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub user_agent: String,
    pub connect_timeout: Duration,
    /// Budget for one API exchange (not for output downloads, which can be large).
    pub request_timeout: Duration,
    /// Longest silence while reading any response, downloads included.
    pub read_timeout: Duration,
    pub retry: RetryPolicy,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            user_agent: concat!("aktion-studio/", env!("CARGO_PKG_VERSION")).to_owned(),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            read_timeout: Duration::from_secs(60),
            retry: RetryPolicy::default(),
        }
    }
}

/// Exponential backoff with jitter; a provider's `Retry-After` is a lower bound on every wait.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// A `Retry-After` longer than this is not waited for; the error is returned instead so the
    /// engine can show "rate limited" rather than hang silently.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 8,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(600),
        }
    }
}

impl RetryPolicy {
    /// Delay before retry number `attempt` (0-based): "equal jitter", so concurrent clients
    /// spread out but no wait collapses to zero.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(1u32.checked_shl(attempt.min(16)).unwrap_or(u32::MAX))
            .min(self.max_delay);
        let half = exp / 2;
        let jitter = half.mul_f64(fastrand::f64());
        (half + jitter).max(retry_after.unwrap_or_default())
    }
}

/// How a request may be repeated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Repeat {
    /// Reads, cancels and uploads: repeating them is harmless.
    Idempotent,
    /// A paid submit. Repeated only when the provider provably did not act on it
    /// (connection refused, 429, 503) unless the provider deduplicates submits.
    Submit { provider_dedupes: bool },
}

/// Builds the shared client: rustls with the `ring` provider (no OpenSSL, no aws-lc C build),
/// the user agent and the timeouts. `request_timeout` is applied per API call, not here, so
/// large downloads are bounded by `read_timeout` only. Names resolve to public addresses only,
/// except `trusted` (the configured endpoints); redirects stay in one origin or go to public
/// `https://` (see [`crate::guard`]).
pub fn build_client(settings: &HttpSettings, trusted: TrustedHosts) -> Result<reqwest::Client> {
    build_client_with(settings, trusted, crate::guard::system_lookup())
}

pub(crate) fn build_client_with(
    settings: &HttpSettings,
    trusted: TrustedHosts,
    lookup: crate::guard::Lookup,
) -> Result<reqwest::Client> {
    // reqwest is built with `rustls-no-provider`; it uses the process default provider. Installing
    // fails harmlessly when another part of the process already installed one.
    let _already_installed = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .user_agent(settings.user_agent.clone())
        .connect_timeout(settings.connect_timeout)
        .read_timeout(settings.read_timeout)
        .dns_resolver(crate::guard::PublicOnly { trusted, lookup })
        .redirect(crate::guard::redirect_policy())
        .build()
        .map_err(|e| ProviderError::Config(format!("cannot build HTTP client: {e}")))
}

#[derive(Debug, Clone)]
pub(crate) struct Http {
    pub(crate) client: reqwest::Client,
    pub(crate) settings: HttpSettings,
}

impl Http {
    pub(crate) fn new(settings: HttpSettings, trusted: TrustedHosts) -> Result<Self> {
        Ok(Self {
            client: build_client(&settings, trusted)?,
            settings,
        })
    }

    /// Sends the request built by `build` (called once per attempt), retrying per `repeat`.
    /// Returns the first 2xx response; everything else becomes a classified error. No overall
    /// timeout is set here: API calls add `request_timeout` (see `Providers::send`), while
    /// downloads and uploads of large files are bounded only by `read_timeout` (silence).
    /// PUTs a file to a presigned storage URL. The URL carries its own credentials, so no API
    /// key goes with it (our key must never reach a storage host).
    pub(crate) async fn put_presigned(
        &self,
        provider: ProviderKind,
        base_url: &str,
        url: &str,
        file: &crate::request::InputFile,
    ) -> Result<()> {
        // The URL comes from the provider's answer: the user's file goes only to the provider's
        // own origin or to public https storage.
        if let Err(why) = crate::client::output_url_allowed(base_url, url) {
            return Err(ProviderError::Decode {
                provider,
                message: format!("refused the upload URL it returned: {why}"),
            });
        }
        self.send(provider, None, Repeat::Idempotent, || {
            self.client
                .put(url)
                .header("Content-Type", file.content_type.clone())
                .body(file.bytes.to_vec())
        })
        .await
        .map(|_| ())
    }

    pub(crate) async fn send(
        &self,
        provider: ProviderKind,
        key: Option<&ApiKey>,
        repeat: Repeat,
        build: impl Fn() -> RequestBuilder,
    ) -> Result<Response> {
        let policy = self.settings.retry;
        let mut attempt = 0;
        loop {
            let outcome = build().send().await;
            let (err, not_received) = match outcome {
                Ok(resp) if resp.status().is_success() => return Ok(resp),
                Ok(resp) => {
                    let status = resp.status();
                    let err = error_from_response(provider, key, resp).await;
                    // 429 and 503 mean the request was turned away before any work was done.
                    let turned_away = matches!(
                        status,
                        StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
                    );
                    (err, turned_away)
                }
                Err(e) => {
                    let not_sent = e.is_connect();
                    (self.transport_error(provider, key, &e), not_sent)
                }
            };
            let may_repeat = err.is_retryable()
                && match repeat {
                    Repeat::Idempotent
                    | Repeat::Submit {
                        provider_dedupes: true,
                    } => true,
                    Repeat::Submit {
                        provider_dedupes: false,
                    } => not_received,
                };
            let wait = err.retry_after();
            if !may_repeat
                || attempt >= policy.max_retries
                || wait.is_some_and(|w| w > policy.max_retry_after)
            {
                if let Repeat::Submit {
                    provider_dedupes: false,
                } = repeat
                    && err.is_retryable()
                    && !not_received
                {
                    return Err(ProviderError::SubmitOutcomeUnknown {
                        provider,
                        message: err.to_string(),
                    });
                }
                return Err(err);
            }
            let delay = policy.delay(attempt, wait);
            tracing::debug!(%provider, attempt, ?delay, error = %err, "retrying");
            crate::retry::notify(&crate::retry::RetryNotice {
                provider,
                attempt: attempt + 1,
                delay,
                reason: err.to_string(),
            });
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    fn transport_error(
        &self,
        provider: ProviderKind,
        key: Option<&ApiKey>,
        e: &reqwest::Error,
    ) -> ProviderError {
        if e.is_timeout() {
            ProviderError::Timeout {
                provider,
                after: self.settings.request_timeout,
            }
        } else {
            // `{:#}`-style chain: reqwest's top-level text alone ("error sending request") says
            // too little. URLs in it carry no secrets: keys travel in headers only.
            let mut message = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                message.push_str(": ");
                message.push_str(&s.to_string());
                source = s.source();
            }
            ProviderError::Transport {
                provider,
                message: scrub(&message, key),
            }
        }
    }
}

/// Largest API (not output) response we read into memory.
const MAX_JSON_BYTES: usize = 8 * 1024 * 1024;

async fn read_body(provider: ProviderKind, mut resp: Response) -> Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_JSON_BYTES {
                    return Err(ProviderError::TooLarge {
                        provider,
                        what: "API response",
                        limit: MAX_JSON_BYTES as u64,
                    });
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(e) => return Err(body_error(provider, &e)),
        }
    }
}

/// A failure while reading a body that had started: the connection stalled or dropped. Both
/// are transport errors (retryable); the headers, and so the request, had already arrived.
pub(crate) fn body_error(provider: ProviderKind, e: &reqwest::Error) -> ProviderError {
    let message = if e.is_timeout() {
        "the response stalled (read timeout)".to_owned()
    } else {
        format!("the response broke off: {e}")
    };
    ProviderError::Transport { provider, message }
}

pub(crate) async fn read_json<T: DeserializeOwned>(
    provider: ProviderKind,
    resp: Response,
) -> Result<T> {
    let body = read_body(provider, resp).await?;
    serde_json::from_slice(&body).map_err(|e| ProviderError::Decode {
        provider,
        message: format!("malformed JSON: {e}"),
    })
}

/// Turns a non-2xx response into a classified error, with the provider's own message.
async fn error_from_response(
    provider: ProviderKind,
    key: Option<&ApiKey>,
    resp: Response,
) -> ProviderError {
    let status = resp.status();
    let retry_after = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, SystemTime::now()));
    let body = read_body(provider, resp).await.unwrap_or_default();
    let message = scrub(&message_from_body(&body, status), key);
    let code = status.as_u16();
    match status {
        StatusCode::TOO_MANY_REQUESTS => ProviderError::RateLimited {
            provider,
            retry_after,
        },
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => ProviderError::Auth {
            provider,
            status: code,
            message,
        },
        StatusCode::NOT_FOUND | StatusCode::GONE => ProviderError::Gone { provider, message },
        s if s.is_server_error() => ProviderError::Server {
            provider,
            status: code,
            message,
            retry_after,
        },
        _ => ProviderError::Provider {
            provider,
            status: Some(code),
            message,
        },
    }
}

/// Finds the human message in any of the providers' error bodies: RFC 7807 (`detail`, `title`),
/// `FastAPI` (`detail: [{msg}]`), RunComfy (`error_message`), A2E (`msg`/`message`),
/// ComfyUI (`error.message`).
pub(crate) fn message_from_body(body: &[u8], status: StatusCode) -> String {
    let fallback = || {
        let text = String::from_utf8_lossy(body);
        let text = text.trim();
        if text.is_empty() {
            status.to_string()
        } else {
            text.chars().take(300).collect()
        }
    };
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| crate::comfyui::node_errors_message(&v).or_else(|| json_message(&v)))
        .unwrap_or_else(fallback)
}

pub(crate) fn json_message(v: &Value) -> Option<String> {
    for key in [
        "detail",
        "error_message",
        "message",
        "msg",
        "error",
        "title",
    ] {
        match v.get(key) {
            Some(Value::String(s)) if !s.is_empty() => return Some(s.clone()),
            Some(Value::Array(items)) if !items.is_empty() => {
                let parts: Vec<String> = items
                    .iter()
                    .filter_map(|i| match i {
                        Value::String(s) => Some(s.clone()),
                        other => json_message(other).or_else(|| {
                            other.get("msg").and_then(Value::as_str).map(str::to_owned)
                        }),
                    })
                    .collect();
                if !parts.is_empty() {
                    return Some(parts.join("; "));
                }
            }
            Some(obj @ Value::Object(_)) => {
                if let Some(m) = json_message(obj) {
                    return Some(m);
                }
            }
            _ => {}
        }
    }
    None
}

/// `Retry-After` is either delta-seconds or an HTTP date (RFC 9110 §10.2.3).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        // A date in the past means "now", not an error.
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn backoff_grows_is_capped_and_honours_retry_after() {
        let p = RetryPolicy::default();
        for attempt in 0..20 {
            let d = p.delay(attempt, None);
            let exp = p
                .base_delay
                .saturating_mul(1 << attempt.min(16))
                .min(p.max_delay);
            assert!(d >= exp / 2 && d <= exp, "attempt {attempt}: {d:?}");
        }
        assert!(p.delay(0, Some(Duration::from_secs(7))) >= Duration::from_secs(7));
    }

    #[test]
    fn messages_from_each_providers_error_body() {
        let s = StatusCode::BAD_REQUEST;
        let m = |b: &str| message_from_body(b.as_bytes(), s);
        assert_eq!(
            m(r#"{"detail":"- input: prompt is required\n","status":422}"#),
            "- input: prompt is required\n"
        );
        assert_eq!(
            m(r#"{"detail":[{"loc":["body"],"msg":"field required","type":"x"}]}"#),
            "field required"
        );
        assert_eq!(
            m(r#"{"error_code":1,"error_message":"deployment busy"}"#),
            "deployment busy"
        );
        assert_eq!(m(r#"{"code":1001,"msg":"no coins"}"#), "no coins");
        assert_eq!(
            m(r#"{"error":{"type":"x","message":"Prompt has no outputs"}}"#),
            "Prompt has no outputs"
        );
        assert_eq!(m("<html>bad gateway</html>"), "<html>bad gateway</html>");
        assert_eq!(m(""), "400 Bad Request");
    }
}
