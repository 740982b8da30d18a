//! Training-data sharing: the caller's records, sharing a result from another route, the
//! aggregated stats and the admin export.

use aktion_api::{
    ErrorBody, PageQuery, SharedDataDeleted, SharedDataPage, TrainingDataStored,
    TrainingDataSubmission, TrainingStats,
};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::{AdminUser, ApiJson, ApiQuery, AuthUser, IdempotencyKey, page_limit, to_value};
use crate::{ApiError, AppState, idempotency, training};

/// Your shared training-data records, newest first.
#[utoipa::path(get, path = "/v1/me/shared-data", tag = "training data", security(("bearer" = [])),
    params(PageQuery),
    responses((status = 200, body = SharedDataPage), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody)))]
pub(super) async fn shared_data(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<SharedDataPage>, ApiError> {
    let limit = page_limit(query.limit)?;
    Ok(Json(
        training::list(&state.db, auth.user.id, limit, query.before).await?,
    ))
}

/// Erase all your shared records and their files.
#[utoipa::path(delete, path = "/v1/me/shared-data", tag = "training data", security(("bearer" = [])),
    responses((status = 200, body = SharedDataDeleted), (status = 401, body = ErrorBody)))]
pub(super) async fn delete_shared_data(
    State(state): State<AppState>,
    auth: AuthUser,
    IdempotencyKey(key): IdempotencyKey,
) -> Result<Response, ApiError> {
    let request = serde_json::json!({"op": "delete-shared-data"});
    idempotency::run_for_user(
        &state.db,
        auth.user.id,
        key.as_deref(),
        &request,
        idempotency::Rerun::Safe,
        || async {
            let deleted = training::delete_all(&state, auth.user.id).await?;
            Ok((StatusCode::OK, SharedDataDeleted { deleted }))
        },
    )
    .await
}

/// Rate a result you shared from another route (by its output's hash); only your own records.
#[utoipa::path(post, path = "/v1/training-data/rating", tag = "training data", security(("bearer" = [])),
    request_body = aktion_api::SharedRating,
    responses((status = 200, body = aktion_api::SharedRated), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody)))]
pub(super) async fn rate_shared(
    State(state): State<AppState>,
    auth: AuthUser,
    super::IdempotencyKey(_key): super::IdempotencyKey,
    ApiJson(body): ApiJson<aktion_api::SharedRating>,
) -> Result<Json<aktion_api::SharedRated>, ApiError> {
    // Setting a rating twice is the same as once: no stored answer needed for a retry.
    if !(1..=5).contains(&body.rating) {
        return Err(ApiError::invalid_field("rating", "1 to 5"));
    }
    let hash = crate::storage::BlobHash::parse(&body.output_hash)?;
    let rated = sqlx::query(
        "UPDATE training_records SET rating = $1 WHERE user_id = $2 AND output_hash = $3",
    )
    .bind(i64::from(body.rating))
    .bind(auth.user.id)
    .bind(hash.as_str())
    .execute(state.db.writer())
    .await?
    .rows_affected();
    Ok(Json(aktion_api::SharedRated { rated }))
}

/// Share a result made on another route (upload its output first). Skipped silently, with
/// `stored: false`, when you are not opted in.
#[utoipa::path(post, path = "/v1/training-data", tag = "training data", security(("bearer" = [])),
    request_body = TrainingDataSubmission,
    responses((status = 200, body = TrainingDataStored), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, description = "the output was not uploaded by you", body = ErrorBody)))]
pub(super) async fn submit(
    State(state): State<AppState>,
    auth: AuthUser,
    IdempotencyKey(key): IdempotencyKey,
    ApiJson(body): ApiJson<TrainingDataSubmission>,
) -> Result<Response, ApiError> {
    let request = to_value(&serde_json::json!({"op": "training-data", "body": &body}))?;
    // A record is new each time: an interrupted first request is never run again.
    idempotency::run_for_user(
        &state.db,
        auth.user.id,
        key.as_deref(),
        &request,
        idempotency::Rerun::Never,
        || async {
            let stored = training::submit(&state, &auth.user, body.clone()).await?;
            Ok((StatusCode::OK, stored))
        },
    )
    .await
}

/// Counts, average generation time and average rating by node kind and output type: of the
/// caller's own records, or with `scope=all` of everyone's (admin only).
#[utoipa::path(get, path = "/v1/stats/training-data", tag = "training data", security(("bearer" = [])),
    params(aktion_api::StatsQuery),
    responses((status = 200, body = TrainingStats), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "scope=all needs the admin role", body = ErrorBody)))]
pub(super) async fn stats(
    State(state): State<AppState>,
    auth: AuthUser,
    super::ApiQuery(query): super::ApiQuery<aktion_api::StatsQuery>,
) -> Result<Json<TrainingStats>, ApiError> {
    match query.scope.unwrap_or_default() {
        aktion_api::StatsScope::Mine => {
            Ok(Json(training::stats_of(&state.db, auth.user.id).await?))
        }
        aktion_api::StatsScope::All if auth.user.is_admin => {
            Ok(Json(training::stats(&state.db).await?))
        }
        aktion_api::StatsScope::All => Err(ApiError::Forbidden),
    }
}

/// Every shared record as JSON Lines, with its owner and file reference (admin only).
#[utoipa::path(get, path = "/v1/admin/training-data/export", tag = "admin", security(("bearer" = [])),
    responses((status = 200, description = "one ExportRecord per line", content_type = "application/x-ndjson"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(super) async fn admin_export(
    State(state): State<AppState>,
    AdminUser(_admin): AdminUser,
) -> Result<Response, ApiError> {
    // Streamed a page of records at a time: the export never sits whole in memory.
    let db = state.db.clone();
    let pages = futures_util::stream::try_unfold(Some(0_i64), move |after| {
        let db = db.clone();
        async move {
            let Some(after) = after else {
                return Ok(None);
            };
            Ok::<_, ApiError>(
                training::export_page(&db, after)
                    .await?
                    .map(|(page, last, _)| (bytes::Bytes::from(page), Some(last))),
            )
        }
    });
    let mut response = axum::body::Body::from_stream(pages).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    Ok(response)
}
