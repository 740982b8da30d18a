//! `Idempotency-Key` for state-changing requests: the first answer is stored per scope (user)
//! and key, and a retry with the same key and the same request gets it again unchanged.

use std::future::Future;

use axum::Json;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::ApiError;
use crate::db::{Db, now_ms};

/// A pending claim older than this is taken over by a retry of a [`Rerun::Safe`] operation
/// (its server likely died).
const STALE_CLAIM_MS: i64 = 60_000;

/// Whether an operation may run again when the request that claimed its key died half-way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rerun {
    /// Running it twice has the effect of once (the ledger's own operation keys, setting a
    /// flag, content-addressed storage, cancelling): a stale claim is taken over.
    Safe,
    /// Running it twice would do it twice (a new record): a stale claim is never taken over;
    /// the retry is told the outcome is unknown.
    Never,
}

/// Forgets stored answers older than `ttl` (a retry after that runs as a new request; the
/// ledger's own operation keys still stop a second grant or reservation).
pub async fn purge(db: &Db, ttl: std::time::Duration) -> Result<u64, ApiError> {
    let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX / 2);
    let done = sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
        .bind(now_ms().saturating_sub(ttl_ms))
        .execute(db.writer())
        .await?;
    Ok(done.rows_affected())
}

/// The key of a request, if it sent one; 400 when it is malformed.
pub fn key_from(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get(aktion_api::IDEMPOTENCY_KEY_HEADER) else {
        return Ok(None);
    };
    let text = value
        .to_str()
        .ok()
        .filter(|t| !t.is_empty() && t.len() <= 255 && t.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| {
            ApiError::invalid_field("Idempotency-Key", "1-255 visible ASCII characters expected")
        })?;
    Ok(Some(text.to_owned()))
}

/// Runs `op` once per (scope, key): a retry with the same key replays the stored answer;
/// the same key with a different request is 422. Server errors are not stored.
pub async fn run<F, Fut>(
    db: &Db,
    scope: &str,
    key: Option<&str>,
    request: &Value,
    rerun: Rerun,
    op: F,
) -> Result<Response, ApiError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<(StatusCode, Value), ApiError>>,
{
    let Some(key) = key else {
        return Ok(answer(op().await));
    };
    let fingerprint = blake3::hash(request.to_string().as_bytes())
        .to_hex()
        .to_string();
    let now = now_ms();
    let claimed = sqlx::query(
        "INSERT INTO idempotency_keys (scope, key, fingerprint, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (scope, key) DO NOTHING",
    )
    .bind(scope)
    .bind(key)
    .bind(&fingerprint)
    .bind(now)
    .execute(db.writer())
    .await?
    .rows_affected()
        == 1;
    if !claimed {
        let row: Option<(String, Option<i64>, Option<String>, i64)> = sqlx::query_as(
            "SELECT fingerprint, status, body, created_at FROM idempotency_keys \
             WHERE scope = $1 AND key = $2",
        )
        .bind(scope)
        .bind(key)
        .fetch_optional(&db.pool)
        .await?;
        let Some((stored_fingerprint, status, body, created_at)) = row else {
            return Err(ApiError::IdempotencyInProgress);
        };
        if stored_fingerprint != fingerprint {
            return Err(ApiError::IdempotencyKeyReused);
        }
        if let (Some(status), Some(body)) = (status, body) {
            return Ok(replay(status, &body));
        }
        let stale = now - created_at > STALE_CLAIM_MS;
        if stale && rerun == Rerun::Never {
            return Err(ApiError::IdempotencyUnknown);
        }
        let took_over = stale
            && sqlx::query(
                "UPDATE idempotency_keys SET created_at = $1 \
                 WHERE scope = $2 AND key = $3 AND created_at = $4 AND status IS NULL",
            )
            .bind(now)
            .bind(scope)
            .bind(key)
            .bind(created_at)
            .execute(db.writer())
            .await?
            .rows_affected()
                == 1;
        if !took_over {
            return Err(ApiError::IdempotencyInProgress);
        }
    }
    let result = op().await;
    let stored = match &result {
        Ok((status, body)) => Some((*status, body.clone())),
        Err(e) if !e.status_and_code().0.is_server_error() => Some((
            e.status_and_code().0,
            serde_json::to_value(e.body()).unwrap_or(Value::Null),
        )),
        Err(_) => None,
    };
    match stored {
        Some((status, body)) => {
            sqlx::query(
                "UPDATE idempotency_keys SET status = $1, body = $2 WHERE scope = $3 AND key = $4",
            )
            .bind(i64::from(status.as_u16()))
            .bind(body.to_string())
            .bind(scope)
            .bind(key)
            .execute(db.writer())
            .await?;
        }
        None => {
            // Let a retry run it again: nothing was answered.
            sqlx::query("DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2")
                .bind(scope)
                .bind(key)
                .execute(db.writer())
                .await?;
        }
    }
    Ok(answer(result))
}

/// [`run`] for a signed-in user's request: scoped to the user, the answer any serialisable
/// value.
pub async fn run_for_user<F, Fut, T>(
    db: &Db,
    user_id: i64,
    key: Option<&str>,
    request: &Value,
    rerun: Rerun,
    op: F,
) -> Result<Response, ApiError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<(StatusCode, T), ApiError>>,
    T: serde::Serialize,
{
    let scope = format!("user:{user_id}");
    run(db, &scope, key, request, rerun, || async {
        let (status, answer) = op().await?;
        let value = serde_json::to_value(&answer)
            .map_err(|e| ApiError::Internal(format!("serialise answer: {e}")))?;
        Ok((status, value))
    })
    .await
}

fn answer(result: Result<(StatusCode, Value), ApiError>) -> Response {
    match result {
        Ok((status, body)) => (status, Json(body)).into_response(),
        Err(e) => e.into_response(),
    }
}

fn replay(status: i64, body: &str) -> Response {
    let status = u16::try_from(status)
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::OK);
    let body: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let mut response = (status, Json(body)).into_response();
    response
        .headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    response
}
