use std::time::Duration;

use crate::ProviderKind;

/// The one error type of this crate. Every variant is classified so the engine can decide between
/// "retry later", "fail the node" and "ask the user" without parsing messages.
///
/// Messages never contain API keys: provider text is scrubbed before it lands here
/// (see `secret::scrub`), and keys only ever travel in headers, never in URLs.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The request never got a response: connection refused, reset, DNS, TLS.
    #[error("{provider}: network error: {message}")]
    Transport {
        provider: ProviderKind,
        message: String,
    },

    /// A single HTTP exchange took longer than the client's request timeout.
    #[error("{provider}: request timed out after {after:?}")]
    Timeout {
        provider: ProviderKind,
        after: Duration,
    },

    /// The provider asked us to slow down.
    #[error("{provider}: rate limited (retry after {retry_after:?})")]
    RateLimited {
        provider: ProviderKind,
        retry_after: Option<Duration>,
    },

    /// The key is missing, wrong or lacks permission.
    #[error("{provider}: not authorised (HTTP {status}): {message}")]
    Auth {
        provider: ProviderKind,
        status: u16,
        message: String,
    },

    /// The provider answered with a 5xx.
    #[error("{provider}: server error (HTTP {status}): {message}")]
    Server {
        provider: ProviderKind,
        status: u16,
        message: String,
        retry_after: Option<Duration>,
    },

    /// The provider understood the request and refused it or reported a failure
    /// (validation error, job failed, error envelope inside HTTP 200, ...).
    #[error("{provider}: {message}")]
    Provider {
        provider: ProviderKind,
        status: Option<u16>,
        message: String,
    },

    /// A submit failed in a way that leaves open whether the provider received it (e.g. a 500
    /// or a dropped connection after the body was sent). It is not retried automatically,
    /// because a second submit could start (and bill) a second job.
    #[error("{provider}: submit outcome unknown, not resubmitted to avoid paying twice: {message}")]
    SubmitOutcomeUnknown {
        provider: ProviderKind,
        message: String,
    },

    /// The response could not be understood (malformed JSON, missing fields).
    #[error("{provider}: unexpected response: {message}")]
    Decode {
        provider: ProviderKind,
        message: String,
    },

    /// The job or its outputs no longer exist at the provider (e.g. Replicate deletes API outputs
    /// after an hour).
    #[error("{provider}: {message}")]
    Gone {
        provider: ProviderKind,
        message: String,
    },

    /// A downloaded output had a content type other than the one the node expects.
    #[error("{provider}: output has content type {got:?}, expected {expected}")]
    ContentType {
        provider: ProviderKind,
        expected: String,
        got: String,
    },

    /// A downloaded output (or an input to upload) exceeded the configured size limit.
    #[error("{provider}: {what} exceeds the limit of {limit} bytes")]
    TooLarge {
        provider: ProviderKind,
        what: &'static str,
        limit: u64,
    },

    /// The job ended in failure at the provider.
    #[error("{provider}: job failed: {reason}")]
    JobFailed {
        provider: ProviderKind,
        reason: String,
        retryable: bool,
    },

    /// The job was cancelled (by us or at the provider).
    #[error("{provider}: job was cancelled")]
    Cancelled { provider: ProviderKind },

    /// The job did not finish within the node kind's overall time budget.
    #[error("{provider}: job did not finish within {after:?}")]
    JobTimeout {
        provider: ProviderKind,
        after: Duration,
    },

    /// Local misconfiguration: missing key, unknown node kind, bad base URL, bad input mapping.
    #[error("configuration: {0}")]
    Config(String),

    /// A local input could not be put on the host the user chose for it (an S3-compatible
    /// bucket); the message names the host and says why, never its credentials.
    #[error("{message}")]
    Hosting { message: String },

    /// Writing a downloaded output into the caller's sink failed.
    #[error("writing output failed")]
    Sink(#[source] std::io::Error),
}

impl ProviderError {
    /// Whether doing the same thing again later may succeed. Submits are special: the retry loop
    /// only repeats them when the request provably did not reach the provider.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Transport { .. }
            | Self::Timeout { .. }
            | Self::RateLimited { .. }
            | Self::Server { .. }
            | Self::Hosting { .. } => true,
            Self::JobFailed { retryable, .. } => *retryable,
            Self::Auth { .. }
            | Self::Provider { .. }
            | Self::SubmitOutcomeUnknown { .. }
            | Self::Decode { .. }
            | Self::Gone { .. }
            | Self::ContentType { .. }
            | Self::TooLarge { .. }
            | Self::JobTimeout { .. }
            | Self::Cancelled { .. }
            | Self::Config(_)
            | Self::Sink(_) => false,
        }
    }

    /// The delay the provider asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after, .. } | Self::Server { retry_after, .. } => {
                *retry_after
            }
            _ => None,
        }
    }
}

pub type Result<T, E = ProviderError> = std::result::Result<T, E>;
