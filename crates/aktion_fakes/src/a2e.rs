//! Fake A2E (`/api/v1/<feature>/start`, `/api/v1/<feature>/{_id}`, presigned uploads).

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::{FakeState, Route, Step, json, output_names};

pub(crate) fn route(method: &Method, path: &str) -> Route {
    if path.contains("upload-presigned-url") {
        return Route::Upload;
    }
    match (method.as_str(), path.ends_with("/start")) {
        ("POST", true) => Route::Submit,
        ("GET", false) => Route::Status,
        ("DELETE", false) => Route::Cancel,
        _ => Route::Other,
    }
}

pub(crate) fn router() -> Router<Arc<FakeState>> {
    Router::new()
        .route("/api/v1/r2/upload-presigned-url", post(presign))
        .route("/api/v1/{feature}/start", post(start))
        .route("/api/v1/{feature}/allRecords", get(all_records))
        .route("/api/v1/{feature}/{id}", get(task).delete(delete))
}

/// `GET /api/v1/<feature>/allRecords`: the account's tasks of a feature.
async fn all_records(State(s): State<Arc<FakeState>>, Path(feature): Path<String>) -> Response {
    let count = s.lock().jobs.values().filter(|j| j.tag == feature).count();
    ok(&json!({ "list": [], "total": count }))
}

fn ok(data: &Value) -> Response {
    json(
        StatusCode::OK,
        &json!({ "code": 0, "data": data, "trace_id": "fake-trace" }),
    )
}

fn envelope_error(code: i64, msg: &str) -> Response {
    // A2E reports errors with HTTP 200 and a non-zero code.
    json(
        StatusCode::OK,
        &json!({ "code": code, "msg": msg, "trace_id": "fake-trace" }),
    )
}

fn record(s: &FakeState, id: &str, advance: bool) -> Option<Value> {
    let (step, cancelled, input, feature) = s.step(id, advance)?;
    let mut r = input.clone();
    r["_id"] = json!(id);
    r["coins"] = json!(13);
    r["createdAt"] = json!("2025-09-12T09:04:10.026Z");
    r["failed_message"] = json!("");
    r["failed_code"] = json!("");
    r["result_url"] = json!("");
    let status = if cancelled {
        "failed"
    } else {
        match step {
            Step::Queued(0) => "sent",
            Step::Queued(_) => "pending",
            Step::Running(_) => "processing",
            Step::Succeed | Step::Aborted | Step::DataRemoved => {
                let url = s.output_url(&output_names(s, id, 1).remove(0));
                if feature.eq_ignore_ascii_case("userText2Image") {
                    r["image_urls"] = json!([url]);
                } else {
                    r["result_url"] = json!(url);
                }
                "completed"
            }
            Step::Fail(msg) | Step::ErrorEnvelope(msg) => {
                r["failed_message"] = json!(msg);
                r["failed_code"] = json!("E500");
                "failed"
            }
        }
    };
    r["current_status"] = json!(status);
    Some(r)
}

async fn start(
    State(s): State<Arc<FakeState>>,
    Path(feature): Path<String>,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    // A2E takes URLs only.
    if let Some(Value::Object(map)) = Some(&body) {
        for (k, v) in map {
            if k.ends_with("_url") && !v.as_str().is_some_and(|u| u.starts_with("http")) {
                return envelope_error(1002, &format!("{k} must be a URL"));
            }
        }
    }
    let id = format!(
        "{:024x}",
        u128::from(fastrand::u64(..)) << 32 | u128::from(fastrand::u32(..))
    );
    s.create_job(&id, body, &feature);
    let mut r = record(&s, &id, false).unwrap_or(Value::Null);
    r["current_status"] = json!("initialized");
    ok(&r)
}

async fn task(
    State(s): State<Arc<FakeState>>,
    Path((_feature, id)): Path<(String, String)>,
) -> Response {
    // Scripted envelope errors surface on the status call, where a client is least prepared.
    match s.step(&id, false) {
        Some((Step::ErrorEnvelope(msg), ..)) => return envelope_error(1001, &msg),
        None => return envelope_error(404, "task not found"),
        Some(_) => {}
    }
    record(&s, &id, true).map_or_else(|| envelope_error(404, "task not found"), |r| ok(&r))
}

async fn delete(
    State(s): State<Arc<FakeState>>,
    Path((_feature, id)): Path<(String, String)>,
) -> Response {
    match s.cancel_job(&id) {
        Some(_) => ok(&json!({})),
        None => envelope_error(404, "task not found"),
    }
}

async fn presign(State(s): State<Arc<FakeState>>, axum::Json(body): axum::Json<Value>) -> Response {
    let Some(key) = body.get("key").and_then(Value::as_str) else {
        return envelope_error(400, "key is required");
    };
    let name: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let origin = s.origin();
    ok(
        &json!({ "uploadUrl": format!("{origin}/upload/{name}"), "publicUrl": format!("{origin}/files/{name}") }),
    )
}
