//! The one error type of the server and its one mapping to HTTP status and JSON body.

use std::collections::BTreeMap;

use aktion_api::ErrorBody;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// Every failure the library and the handlers can report.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    BadRequest {
        code: &'static str,
        message: String,
        fields: Option<BTreeMap<String, String>>,
    },
    #[error("request body too large")]
    PayloadTooLarge,
    #[error("expected a JSON body (Content-Type: application/json)")]
    UnsupportedMediaType,
    #[error("{0}")]
    UnsupportedContentType(&'static str),
    #[error("missing or invalid session token")]
    Unauthorized,
    #[error("wrong email or password")]
    BadCredentials,
    #[error("admin role required")]
    Forbidden,
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("an account with this email already exists")]
    EmailTaken,
    #[error("not enough credits: {needed} needed, {available} available")]
    InsufficientCredits { needed: i64, available: i64 },
    #[error("reservation {0} is already settled")]
    AlreadySettled(i64),
    #[error("this Idempotency-Key was used for a different request")]
    IdempotencyKeyReused,
    #[error("a request with this Idempotency-Key is still in progress")]
    IdempotencyInProgress,
    #[error(
        "the first request with this Idempotency-Key was interrupted and its outcome is unknown; \
         check, then retry with a new key"
    )]
    IdempotencyUnknown,
    #[error("too many attempts; retry in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    #[error("the server is busy with other {what}; retry in {retry_after_secs} s")]
    Busy {
        what: &'static str,
        retry_after_secs: u64,
    },
    #[error("{0}")]
    QuotaExceeded(String),
    /// The request is valid but conflicts with the resource's state (409).
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// Well-formed, but its content fails verification (422): a body whose hash is not the
    /// one named.
    #[error("{message}")]
    Unverified { code: &'static str, message: String },
    /// A part of the server that is not configured here (billing without Stripe) (503).
    #[error("{0}")]
    Unavailable(String),
    /// Long enough, but one an attacker tries first (422, with the `password` field).
    #[error("invalid password: {0}")]
    WeakPassword(&'static str),
    #[error("this account is disabled; write to the studio if you think this is a mistake")]
    AccountDisabled,
    #[error(
        "registration is by invitation only: join the beta at the studio's page and wait for your invitation"
    )]
    InvitationRequired,
    #[error(
        "your account owes {debt} credits from a refunded or disputed payment; buy credits to settle it before starting new work"
    )]
    InDebt { debt: i64 },
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// A 400 for one invalid field.
    pub fn invalid_field(field: &str, message: &str) -> Self {
        let mut fields = BTreeMap::new();
        fields.insert(field.to_owned(), message.to_owned());
        Self::BadRequest {
            code: "invalid_field",
            message: format!("invalid {field}: {message}"),
            fields: Some(fields),
        }
    }

    /// A 400 with a code and message.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::BadRequest {
            code,
            message: message.into(),
            fields: None,
        }
    }

    /// Status code and stable `code` string of this error.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::BadRequest { code, .. } => (StatusCode::BAD_REQUEST, code),
            Self::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            Self::UnsupportedMediaType | Self::UnsupportedContentType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            Self::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Self::BadCredentials => (StatusCode::UNAUTHORIZED, "bad_credentials"),
            Self::Forbidden => (StatusCode::FORBIDDEN, "forbidden"),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Self::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            Self::EmailTaken => (StatusCode::CONFLICT, "email_taken"),
            Self::InsufficientCredits { .. } => {
                (StatusCode::PAYMENT_REQUIRED, "insufficient_credits")
            }
            Self::AlreadySettled(_) => (StatusCode::CONFLICT, "already_settled"),
            Self::IdempotencyKeyReused => {
                (StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused")
            }
            Self::IdempotencyInProgress => (StatusCode::CONFLICT, "request_in_progress"),
            Self::IdempotencyUnknown => (StatusCode::CONFLICT, "request_outcome_unknown"),
            Self::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            Self::Busy { .. } => (StatusCode::SERVICE_UNAVAILABLE, "busy"),
            Self::QuotaExceeded(_) => (StatusCode::PAYLOAD_TOO_LARGE, "quota_exceeded"),
            Self::Conflict { code, .. } => (StatusCode::CONFLICT, code),
            Self::Unverified { code, .. } => (StatusCode::UNPROCESSABLE_ENTITY, code),
            Self::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            Self::WeakPassword(_) => (StatusCode::UNPROCESSABLE_ENTITY, "weak_password"),
            Self::AccountDisabled => (StatusCode::FORBIDDEN, "account_disabled"),
            Self::InvitationRequired => (StatusCode::FORBIDDEN, "invitation_required"),
            Self::InDebt { .. } => (StatusCode::PAYMENT_REQUIRED, "debt"),
            Self::Database(_) | Self::Migrate(_) | Self::Internal(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "internal")
            }
        }
    }

    /// The JSON body; internal details are replaced by a generic message.
    pub fn body(&self) -> ErrorBody {
        let (status, code) = self.status_and_code();
        let (message, fields) = match self {
            Self::Busy { .. } | Self::Unavailable(_) => (self.to_string(), None),
            _ if status.is_server_error() => ("internal server error".to_owned(), None),
            Self::BadRequest { fields, .. } => (self.to_string(), fields.clone()),
            Self::WeakPassword(why) => (
                self.to_string(),
                Some(BTreeMap::from([("password".to_owned(), (*why).to_owned())])),
            ),
            _ => (self.to_string(), None),
        };
        ErrorBody {
            code: code.to_owned(),
            message,
            fields,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, _) = self.status_and_code();
        if status.is_server_error() && !matches!(self, Self::Busy { .. } | Self::Unavailable(_)) {
            // Logged here, once; the client only sees a generic message.
            tracing::error!("request failed: {self:#}");
        }
        let mut response = (status, Json(self.body())).into_response();
        if let Self::RateLimited { retry_after_secs }
        | Self::Busy {
            retry_after_secs, ..
        } = self
            && let Ok(value) = axum::http::HeaderValue::from_str(&retry_after_secs.to_string())
        {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, value);
        }
        response
    }
}

impl From<axum::extract::rejection::JsonRejection> for ApiError {
    fn from(rejection: axum::extract::rejection::JsonRejection) -> Self {
        use axum::extract::rejection::JsonRejection as R;
        match rejection {
            R::MissingJsonContentType(_) => Self::UnsupportedMediaType,
            R::JsonSyntaxError(e) => Self::bad_request("invalid_json", e.body_text()),
            R::JsonDataError(e) => Self::bad_request("invalid_request", e.body_text()),
            R::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Self::PayloadTooLarge
            }
            other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => Self::PayloadTooLarge,
            other => Self::bad_request("invalid_body", other.body_text()),
        }
    }
}

impl From<axum::extract::rejection::QueryRejection> for ApiError {
    fn from(rejection: axum::extract::rejection::QueryRejection) -> Self {
        Self::bad_request("invalid_query", rejection.body_text())
    }
}
