//! Blobs (inputs and outputs by content hash) and the generation proxy.

use std::convert::Infallible;
use std::time::Duration;

use aktion_api::{BlobInfo, ErrorBody, Generation, GenerationRequest, RatingRequest};
use axum::Json;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use serde::Deserialize;

use super::{ApiJson, ApiQuery, AuthUser, IdempotencyKey, declared_length};
use crate::generations::{self as gen_logic};
use crate::storage::{BlobHash, ReceiveError, Storage};
use crate::{ApiError, AppState, auth, idempotency, signing};

/// Content types a blob may have: the media a node takes or makes.
fn accepted_blob_type(content_type: &str) -> Option<String> {
    let essence = content_type.split(';').next()?.trim().to_ascii_lowercase();
    let (top, sub) = essence.split_once('/')?;
    let ok = matches!(top, "image" | "video" | "audio")
        && !sub.is_empty()
        && sub.len() <= 64
        && sub
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
    ok.then_some(essence)
}

/// Upload an input by its BLAKE3 hash (verified against the bytes; stored once per content).
#[utoipa::path(put, path = "/v1/blobs/{blake3}", tag = "blobs", security(("bearer" = [])),
    params(("blake3" = String, Path, description = "BLAKE3 of the body, 64 hex digits")),
    request_body(content = Vec<u8>, content_type = "image/*", description = "the bytes; image/*, video/* or audio/*"),
    responses((status = 201, body = BlobInfo), (status = 200, description = "already uploaded", body = BlobInfo),
        (status = 400, description = "bad hash, or an empty or interrupted body", body = ErrorBody),
        (status = 422, description = "the body's BLAKE3 hash is not the one in the path", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 413, description = "larger than a blob may be, or your storage quota is reached (quota_exceeded)", body = ErrorBody),
        (status = 415, body = ErrorBody),
        (status = 503, description = "too many uploads at once; see Retry-After", body = ErrorBody)))]
pub(super) async fn put_blob(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(hash): Path<String>,
    IdempotencyKey(key): IdempotencyKey,
    req: Request,
) -> Result<Response, ApiError> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let request = serde_json::json!({"op": "blob", "hash": &hash, "content_type": content_type});
    // Content-addressed: receiving the same bytes again stores nothing new.
    idempotency::run_for_user(
        &state.db,
        auth.user.id,
        key.as_deref(),
        &request,
        idempotency::Rerun::Safe,
        || async {
            let (status, Json(info)) = receive_blob(&state, &auth, &hash, req).await?;
            Ok((status, info))
        },
    )
    .await
}

async fn receive_blob(
    state: &AppState,
    auth: &AuthUser,
    hash: &str,
    req: Request,
) -> Result<(StatusCode, Json<BlobInfo>), ApiError> {
    let hash = BlobHash::parse(hash)?;
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(accepted_blob_type)
        .ok_or(ApiError::UnsupportedContentType(
            "a blob needs Content-Type image/*, video/* or audio/*",
        ))?;
    let max = u64::try_from(state.config.max_blob_bytes).unwrap_or(u64::MAX);
    let declared = declared_length(req.headers());
    if declared.is_some_and(|n| n > max) {
        return Err(ApiError::PayloadTooLarge);
    }
    let info = |size: i64, content_type: String| BlobInfo {
        hash: hash.to_string(),
        size,
        content_type,
    };
    // Already yours: nothing to receive (a retried upload costs nothing).
    if let Some((content_type, size)) = gen_logic::blob_of(&state.db, auth.user.id, &hash).await? {
        return Ok((StatusCode::OK, Json(info(size, content_type))));
    }
    let quota = state.config.limits.user_storage_bytes;
    let used = gen_logic::stored_bytes(&state.db, auth.user.id).await?;
    let left = quota.saturating_sub(used);
    let quota_error = || {
        ApiError::QuotaExceeded(format!(
            "storage quota reached: {} MiB of {} MiB used",
            used / (1024 * 1024),
            quota / (1024 * 1024)
        ))
    };
    if declared.unwrap_or(1) > left {
        return Err(quota_error());
    }
    // Bounded: a few uploads at once, each streamed to storage part by part (never held
    // whole in memory).
    let _slot = state.gates.uploads.enter().await?;
    let chunks = req.into_body().into_data_stream();
    let received = match state.storage.receive(chunks, max.min(left)).await {
        Ok(received) => received,
        Err(ReceiveError::TooLarge) if left < max => return Err(quota_error()),
        Err(ReceiveError::TooLarge) => return Err(ApiError::PayloadTooLarge),
        Err(ReceiveError::Empty) => {
            return Err(ApiError::bad_request("empty_body", "the body is empty"));
        }
        Err(ReceiveError::Body(e)) => {
            return Err(ApiError::bad_request(
                "body_interrupted",
                format!("the upload did not arrive whole: {e}"),
            ));
        }
        Err(ReceiveError::Storage(e)) => return Err(e),
    };
    if received.hash != hash {
        state.storage.delete(&received.key).await?;
        return Err(ApiError::Unverified {
            code: "hash_mismatch",
            message: "the body's BLAKE3 hash is not the one in the path".to_owned(),
        });
    }
    state.storage.commit(&received).await?;
    let size = i64::try_from(received.size).unwrap_or(i64::MAX);
    let added = gen_logic::record_blob(state, auth.user.id, &hash, &content_type, size).await?;
    let (content_type, size) = gen_logic::blob_of(&state.db, auth.user.id, &hash)
        .await?
        .unwrap_or((content_type, size));
    Ok((
        if added {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        Json(info(size, content_type)),
    ))
}

/// The bytes of blob `hash` with its content type and immutable-cache headers; 404 when the
/// store has lost them.
async fn blob_response(
    state: &AppState,
    hash: &BlobHash,
    content_type: &str,
) -> Result<Response, ApiError> {
    let bytes = state
        .storage
        .get(&Storage::blob_key(hash))
        .await?
        .ok_or(ApiError::NotFound("blob"))?;
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(content_type) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=31536000, immutable"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Never rendered as a page of this origin (an SVG or HTML-looking blob cannot run script
    // here): downloaded, and sandboxed should a browser show it anyway.
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox; default-src 'none'"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("\"{hash}\"")) {
        headers.insert(header::ETAG, v);
    }
    Ok(response)
}

/// Download one of your own blobs (an upload or a generation's output).
#[utoipa::path(get, path = "/v1/blobs/{blake3}", tag = "blobs", security(("bearer" = [])),
    params(("blake3" = String, Path, description = "BLAKE3 hash, 64 hex digits")),
    responses((status = 200, description = "the bytes", content_type = "application/octet-stream"),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn get_blob(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(hash): Path<String>,
) -> Result<Response, ApiError> {
    let hash = BlobHash::parse(&hash).map_err(|_| ApiError::NotFound("blob"))?;
    let (content_type, _) = gen_logic::blob_of(&state.db, auth.user.id, &hash)
        .await?
        .ok_or(ApiError::NotFound("blob"))?;
    blob_response(&state, &hash, &content_type).await
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct SignedQuery {
    /// Unix milliseconds after which the URL stops working.
    expires: i64,
    /// Keyed BLAKE3 signature.
    sig: String,
}

/// A blob by signed, expiring URL (how providers fetch inputs; no session needed).
#[utoipa::path(get, path = "/v1/signed/blobs/{blake3}", tag = "blobs",
    params(("blake3" = String, Path, description = "BLAKE3 hash"), SignedQuery),
    responses((status = 200, description = "the bytes", content_type = "application/octet-stream"),
        (status = 404, description = "unknown, wrongly signed or expired", body = ErrorBody)))]
pub(super) async fn signed_blob(
    State(state): State<AppState>,
    Path(hash): Path<String>,
    ApiQuery(query): ApiQuery<SignedQuery>,
) -> Result<Response, ApiError> {
    let hash = BlobHash::parse(&hash).map_err(|_| ApiError::NotFound("blob"))?;
    signing::verify(&state.signing_key, &hash, query.expires, &query.sig)?;
    let content_type: Option<String> =
        sqlx::query_scalar("SELECT content_type FROM blobs WHERE hash = $1 LIMIT 1")
            .bind(hash.as_str())
            .fetch_optional(&state.db.pool)
            .await?;
    let content_type = content_type.ok_or(ApiError::NotFound("blob"))?;
    blob_response(&state, &hash, &content_type).await
}

/// Run a node kind on the account route: reserves its price, then runs it server-side.
/// With `Idempotency-Key`, a retry answers with the first generation and reserves nothing more.
#[utoipa::path(post, path = "/v1/generations", tag = "generations", security(("bearer" = [])),
    request_body = GenerationRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "makes retries safe")),
    responses((status = 202, body = Generation), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 402, description = "not enough credits", body = ErrorBody),
        (status = 404, description = "an input names a blob you have not uploaded", body = ErrorBody),
        (status = 429, description = "too many cancelled generations in the last hour; see Retry-After", body = ErrorBody),
        (status = 422, description = "Idempotency-Key reused for another request", body = ErrorBody)))]
pub(super) async fn create(
    State(state): State<AppState>,
    auth: AuthUser,
    IdempotencyKey(key): IdempotencyKey,
    ApiJson(body): ApiJson<GenerationRequest>,
) -> Result<Response, ApiError> {
    // The reservation's operation key is the idempotency record here: the first answer is
    // rebuilt from the stored generation, so a retry costs no extra writes.
    if state.config.drive_generations && state.gates.drivers.available() == 0 {
        // Every driver slot taken: refuse before reserving anything.
        return Err(ApiError::Busy {
            what: "generations",
            retry_after_secs: 10,
        });
    }
    gen_logic::check_cancel_rate(&state, auth.user.id).await?;
    let (row, created) = gen_logic::create(&state, &auth.user, body, key.as_deref()).await?;
    if created && state.config.drive_generations {
        gen_logic::spawn(&state, &row.id);
    }
    let mut response = (StatusCode::ACCEPTED, Json(row.created_view())).into_response();
    if !created {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// Status, progress and outputs of one of your generations.
#[utoipa::path(get, path = "/v1/generations/{id}", tag = "generations", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = Generation), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub(super) async fn status(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<Generation>, ApiError> {
    Ok(Json(gen_logic::current(&state, auth.user.id, &id).await?))
}

/// Live progress as Server-Sent Events: a `status` event (the generation's JSON) now and at
/// every change; the stream ends after the final state.
#[utoipa::path(get, path = "/v1/generations/{id}/events", tag = "generations", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, description = "text/event-stream of `status` events", content_type = "text/event-stream"),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn events(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let user_id = auth.user.id;
    // 404 before the stream starts.
    gen_logic::current(&state, user_id, &id).await?;
    // Bounded per user and in all; the slot goes with the stream.
    let slot = state.streams.open(user_id, &state.config.limits)?;
    let token = auth.token;
    let rx = state.jobs.subscribe();
    let stream = futures_util::stream::unfold(
        Some((state, id, rx, None::<Generation>, slot)),
        move |step| {
            let token = token.clone();
            async move {
                let (state, id, mut rx, last, slot) = step?;
                loop {
                    // Ends with the server (a graceful stop is not held up) and with the
                    // session (signed out, expired).
                    if state.shutdown.is_cancelled()
                        || !matches!(auth::session_user(&state.db, &token).await, Ok(Some(_)))
                    {
                        return None;
                    }
                    let current = gen_logic::current(&state, user_id, &id).await.ok()?;
                    if last.as_ref() != Some(&current) {
                        let event = Event::default().event("status").json_data(&current).ok()?;
                        let next = (!current.state.is_terminal()).then_some((
                            state,
                            id,
                            rx,
                            Some(current),
                            slot,
                        ));
                        return Some((Ok(event), next));
                    }
                    // Changes on this instance wake us at once; another instance's within a
                    // second.
                    tokio::select! {
                        () = gen_logic::changed(&mut rx, &id) => {}
                        () = tokio::time::sleep(Duration::from_secs(1)) => {}
                        () = state.shutdown.cancelled() => return None,
                    }
                }
            }
        },
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// Cancel one of your generations; its credits are released. Cancelling a finished one
/// changes nothing.
#[utoipa::path(post, path = "/v1/generations/{id}/cancel", tag = "generations", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 202, body = Generation), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub(super) async fn cancel(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
    IdempotencyKey(key): IdempotencyKey,
) -> Result<Response, ApiError> {
    let request = serde_json::json!({"op": "cancel", "generation": &id});
    idempotency::run_for_user(
        &state.db,
        auth.user.id,
        key.as_deref(),
        &request,
        idempotency::Rerun::Safe,
        || async {
            let row = gen_logic::owned(&state.db, auth.user.id, &id).await?;
            let row = gen_logic::cancel(&state, &row).await?;
            Ok((StatusCode::ACCEPTED, row.view()))
        },
    )
    .await
}

/// Rate a succeeded generation 1–5 (also on its shared training record).
#[utoipa::path(post, path = "/v1/generations/{id}/rating", tag = "generations", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = RatingRequest,
    responses((status = 200, body = Generation), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "the generation has not succeeded", body = ErrorBody)))]
pub(super) async fn rate(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
    IdempotencyKey(key): IdempotencyKey,
    req: Request,
) -> Result<Response, ApiError> {
    let row = gen_logic::owned(&state.db, auth.user.id, &id).await?;
    let ApiJson(body) = ApiJson::<RatingRequest>::from_request(req, &state).await?;
    let request = serde_json::json!({"op": "rating", "generation": &id, "rating": body.rating});
    idempotency::run_for_user(
        &state.db,
        auth.user.id,
        key.as_deref(),
        &request,
        idempotency::Rerun::Safe,
        || async {
            let row = gen_logic::rate(&state, &row, body.rating).await?;
            Ok((StatusCode::OK, row.view()))
        },
    )
    .await
}
