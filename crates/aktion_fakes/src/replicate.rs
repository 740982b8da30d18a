//! Fake Replicate (`/v1/predictions`, `/v1/models/{o}/{n}/predictions`, `/v1/files`).

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::{FakeState, Route, Step, json, output_names};

pub(crate) fn route(method: &Method, path: &str) -> Route {
    let path = path.trim_start_matches("/v1");
    if *method == Method::POST && path.ends_with("/cancel") {
        Route::Cancel
    } else if *method == Method::POST && path.ends_with("/predictions") {
        Route::Submit
    } else if *method == Method::POST && path == "/files" {
        Route::Upload
    } else if *method == Method::GET && path.starts_with("/predictions/") {
        Route::Status
    } else {
        Route::Other
    }
}

pub(crate) fn router() -> Router<Arc<FakeState>> {
    Router::new()
        .route("/v1/predictions", post(create).get(list))
        .route(
            "/v1/models/{owner}/{name}/predictions",
            post(create_official),
        )
        .route("/v1/predictions/{id}", get(get_prediction))
        .route("/v1/predictions/{id}/cancel", post(cancel))
        .route("/v1/files", post(upload))
}

/// `GET /predictions`: the account's predictions, newest first, one page.
async fn list(State(s): State<Arc<FakeState>>) -> Response {
    let ids: Vec<String> = s.lock().jobs.keys().rev().cloned().collect();
    let results: Vec<Value> = ids
        .iter()
        .map(|id| json!({ "id": id, "status": "starting" }))
        .collect();
    json(
        StatusCode::OK,
        &json!({ "next": null, "previous": null, "results": results }),
    )
}

fn problem(status: StatusCode, title: &str, detail: &str) -> Response {
    json(
        status,
        &json!({ "title": title, "detail": detail, "status": status.as_u16() }),
    )
}

async fn create(State(s): State<Arc<FakeState>>, axum::Json(body): axum::Json<Value>) -> Response {
    if body
        .get("version")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid version or not permitted",
            "The specified version does not exist (or perhaps you don't have permission to use it?)",
        );
    }
    create_with(&s, &body)
}

async fn create_official(
    State(s): State<Arc<FakeState>>,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    create_with(&s, &body)
}

fn create_with(s: &FakeState, body: &Value) -> Response {
    // The create body's documented fields (PROVIDERS.md §1.3); anything else is refused.
    const FIELDS: [&str; 6] = [
        "version",
        "input",
        "webhook",
        "webhook_events_filter",
        "stream",
        "webhook_completed",
    ];
    if let Some(unknown) = body
        .as_object()
        .and_then(|m| m.keys().find(|k| !FIELDS.contains(&k.as_str())))
    {
        return problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Input validation failed",
            &format!("- {unknown}: Additional property {unknown} is not allowed\n"),
        );
    }
    let Some(input) = body.get("input").filter(|i| i.is_object()) else {
        return problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Input validation failed",
            "- input: input is required\n",
        );
    };
    // ControlNet Scribble's enums are strings; integers fail validation like the real model.
    for field in ["num_samples", "image_resolution"] {
        if input.get(field).is_some_and(|v| !v.is_string()) {
            return problem(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Input validation failed",
                &format!("- input.{field}: Invalid type. Expected: string, given: integer\n"),
            );
        }
    }
    let id = s.new_id("p");
    s.create_job(&id, input.clone(), "");
    let mut pred = prediction(s, &id, false);
    pred["status"] = json!("starting");
    json(StatusCode::CREATED, &pred)
}

fn prediction(s: &FakeState, id: &str, advance: bool) -> Value {
    let base = &s.base_url;
    let Some((step, cancelled, input, _)) = s.step(id, advance) else {
        return Value::Null;
    };
    let mut p = json!({
        "id": id, "model": "jagilley/controlnet-scribble", "version": "v", "input": input,
        "logs": "", "output": null, "error": null, "status": "starting", "data_removed": false,
        "created_at": "2025-01-01T00:00:00Z", "started_at": null, "completed_at": null, "metrics": {},
        "urls": {"get": format!("{base}/predictions/{id}"), "cancel": format!("{base}/predictions/{id}/cancel"), "web": format!("https://replicate.com/p/{id}")}
    });
    if cancelled {
        p["status"] = json!("canceled");
        return p;
    }
    match step {
        Step::Queued(_) => {}
        Step::Running(f) => {
            let pct = (f * 100.0).round() as u32;
            p["status"] = json!("processing");
            p["logs"] = json!(format!(
                "Loading model\n{pct:3}%|#####     | {pct}/100 [00:10<00:10, 1.00it/s]\n"
            ));
        }
        Step::Succeed => {
            // ControlNet returns the detected map first, then `num_samples` generated images.
            let samples = input
                .get("num_samples")
                .and_then(Value::as_str)
                .and_then(|n| n.parse::<usize>().ok())
                .unwrap_or(1);
            let urls: Vec<String> = output_names(s, id, samples + 1)
                .iter()
                .map(|n| s.output_url(n))
                .collect();
            p["status"] = json!("succeeded");
            p["output"] = json!(urls);
        }
        Step::Fail(msg) | Step::ErrorEnvelope(msg) => {
            p["status"] = json!("failed");
            p["error"] = json!(msg);
        }
        Step::Aborted => p["status"] = json!("aborted"),
        Step::DataRemoved => {
            p["status"] = json!("succeeded");
            p["data_removed"] = json!(true);
        }
    }
    p
}

async fn get_prediction(State(s): State<Arc<FakeState>>, Path(id): Path<String>) -> Response {
    let p = prediction(&s, &id, true);
    if p.is_null() {
        return problem(
            StatusCode::NOT_FOUND,
            "Not found",
            "The requested resource could not be found.",
        );
    }
    json(StatusCode::OK, &p)
}

async fn cancel(State(s): State<Arc<FakeState>>, Path(id): Path<String>) -> Response {
    if s.cancel_job(&id).is_none() {
        return problem(
            StatusCode::NOT_FOUND,
            "Not found",
            "The requested resource could not be found.",
        );
    }
    json(StatusCode::OK, &prediction(&s, &id, false))
}

async fn upload(
    State(s): State<Arc<FakeState>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let multipart = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    if !multipart {
        return problem(
            StatusCode::BAD_REQUEST,
            "Bad request",
            "expected multipart/form-data",
        );
    }
    let name = s.new_id("upload");
    s.store_upload(&name, "application/octet-stream", body.to_vec());
    json(
        StatusCode::CREATED,
        &json!({
            "id": name, "content_type": "application/octet-stream", "size": body.len(),
            "checksums": {"sha256": ""}, "metadata": {}, "created_at": "2025-01-01T00:00:00Z",
            "urls": {"get": s.output_url(&name)}
        }),
    )
}
