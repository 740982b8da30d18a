//! "Report a problem" from the app (PRODUCT.md §5.10): the node kind, route, provider, error and
//! take metadata the user saw before sending — never keys or files — stored for the dashboard.

use aktion_api::{ErrorBody, ProblemReport, ProblemReportStored};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::Value;

use super::{ApiJson, ClientIp, IdempotencyKey, MaybeUser};
use crate::auth::{self, TEXT_MAX};
use crate::db::now_ms;
use crate::{ApiError, AppState, idempotency, limits};

/// Routes a node runs on.
pub(crate) const ROUTES: [&str; 4] = ["draft", "account", "direct", "comfyui"];
/// Most metadata entries, and the longest key and text value.
pub(crate) const META_MAX_ENTRIES: usize = 32;
pub(crate) const META_KEY_MAX: usize = 64;
pub(crate) const META_TEXT_MAX: usize = 1000;
pub(crate) const PROVIDER_MAX: usize = 64;
/// Reports an hour per account, or per address when not signed in.
const REPORTS_PER_HOUR: u32 = 20;

fn check(report: &ProblemReport) -> Result<(), ApiError> {
    if aktion_graph::Catalog::builtin()
        .get(&report.node_kind)
        .is_none()
    {
        return Err(ApiError::invalid_field(
            "node_kind",
            "not a node kind of the catalog",
        ));
    }
    if !ROUTES.contains(&report.route.as_str()) {
        return Err(ApiError::invalid_field(
            "route",
            "draft, account, direct or comfyui",
        ));
    }
    if let Some(p) = &report.provider {
        auth::check_text("provider", p, PROVIDER_MAX)?;
    }
    auth::check_text("error", &report.error, TEXT_MAX)?;
    if report.metadata.len() > META_MAX_ENTRIES {
        return Err(ApiError::invalid_field("metadata", "at most 32 entries"));
    }
    for (key, value) in &report.metadata {
        auth::check_text("metadata", key, META_KEY_MAX)?;
        match value {
            Value::String(text) => auth::check_text("metadata", text, META_TEXT_MAX)?,
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
            Value::Array(_) | Value::Object(_) => {
                return Err(ApiError::invalid_field(
                    "metadata",
                    "values are text, numbers, true/false or null",
                ));
            }
        }
    }
    Ok(())
}

/// Report a problem with a node (signed in or not); the dashboard lists it.
#[utoipa::path(post, path = "/v1/problem-reports", tag = "feedback",
    request_body = ProblemReport,
    responses((status = 201, body = ProblemReportStored), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 429, description = "too many reports; see Retry-After", body = ErrorBody)))]
pub(super) async fn report(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    ClientIp(ip): ClientIp,
    IdempotencyKey(key): IdempotencyKey,
    ApiJson(body): ApiJson<ProblemReport>,
) -> Result<Response, ApiError> {
    check(&body)?;
    let who = match (&user, ip) {
        (Some(u), _) => format!("user:{}", u.id),
        (None, Some(ip)) => format!("address:{}", limits::address_key(ip)),
        (None, None) => "address:unknown".to_owned(),
    };
    let request =
        serde_json::to_value(&body).map_err(|e| ApiError::Internal(format!("report: {e}")))?;
    idempotency::run(
        &state.db,
        &format!("report:{who}"),
        key.as_deref(),
        &request,
        idempotency::Rerun::Safe,
        || async {
            let counter = auth::token_hash(&format!("problem-reports:{who}"));
            limits::hit_window(
                &state.db,
                &counter,
                REPORTS_PER_HOUR,
                std::time::Duration::from_secs(3600),
            )
            .await?;
            let metadata = serde_json::to_string(&body.metadata)
                .map_err(|e| ApiError::Internal(format!("report: {e}")))?;
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO problem_reports (user_id, node_kind, route, provider, error, metadata, \
                 created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
            )
            .bind(user.as_ref().map(|u| u.id))
            .bind(&body.node_kind)
            .bind(&body.route)
            .bind(&body.provider)
            .bind(&body.error)
            .bind(metadata)
            .bind(now_ms())
            .fetch_one(state.db.writer())
            .await?;
            let answer = serde_json::to_value(ProblemReportStored { id })
                .map_err(|e| ApiError::Internal(format!("report: {e}")))?;
            Ok((StatusCode::CREATED, answer))
        },
    )
    .await
}
