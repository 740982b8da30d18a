//! Fake fal queue: submit to the full model id, status/result/cancel under `owner/app` only,
//! 202 while queued or running, 200 when `COMPLETED` (failures included), plus storage uploads.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use crate::{FakeState, Route, Step, json, output_names};

pub(crate) fn route(method: &Method, path: &str) -> Route {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    if path.starts_with("/storage/") {
        return Route::Upload;
    }
    match (method.as_str(), parts.as_slice()) {
        ("GET", [_, _, "requests", _, "status"]) => Route::Status,
        ("GET", [_, _, "requests", _]) => Route::Result,
        ("PUT", [_, _, "requests", _, "cancel"]) => Route::Cancel,
        ("POST", _) => Route::Submit,
        _ => Route::Other,
    }
}

pub(crate) fn router() -> Router<Arc<FakeState>> {
    // Model ids have any number of segments, so one handler parses paths itself.
    Router::new().fallback(dispatch)
}

fn detail(status: StatusCode, msg: &str) -> Response {
    json(status, &json!({ "detail": msg }))
}

async fn dispatch(State(s): State<Arc<FakeState>>, request: Request) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let parts: Vec<String> = path
        .trim_matches('/')
        .split('/')
        .map(str::to_owned)
        .collect();
    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    let body = axum::body::to_bytes(request.into_body(), 64 * 1024 * 1024)
        .await
        .unwrap_or_default();
    match (method.as_str(), parts.as_slice()) {
        ("POST", ["storage", "upload", "initiate"]) => initiate(&s, &body),
        ("GET", [owner, app, "requests", rid, "status"]) => {
            status(&s, &format!("{owner}/{app}"), rid)
        }
        ("GET", [_, _, "requests", rid]) => result(&s, rid),
        ("PUT", [_, _, "requests", rid, "cancel"]) => cancel(&s, rid),
        // Anything else under `requests` (e.g. a status path with the model's sub-path) is
        // unknown to the real queue, which routes these by owner/app only.
        (_, parts) if parts.contains(&"requests") => detail(StatusCode::NOT_FOUND, "Not Found"),
        ("POST", [owner, app, ..]) => submit(&s, owner, app, &body),
        _ => detail(StatusCode::NOT_FOUND, "Not Found"),
    }
}

fn urls(s: &FakeState, app: &str, rid: &str) -> Value {
    let req = format!("{}/{app}/requests/{rid}", s.base_url);
    json!({ "request_id": rid, "response_url": req, "status_url": format!("{req}/status"), "cancel_url": format!("{req}/cancel") })
}

fn submit(s: &FakeState, owner: &str, app: &str, body: &[u8]) -> Response {
    let Ok(input) = serde_json::from_slice::<Value>(body) else {
        return json(
            StatusCode::UNPROCESSABLE_ENTITY,
            &json!({ "detail": [{ "loc": ["body"], "msg": "Input should be a valid JSON object", "type": "json_invalid" }] }),
        );
    };
    let rid = s.new_id("f");
    let app = format!("{owner}/{app}");
    s.create_job(&rid, input, &app);
    let mut body = urls(s, &app, &rid);
    body["status"] = json!("IN_QUEUE");
    body["queue_position"] = json!(0);
    json(StatusCode::OK, &body)
}

fn status(s: &FakeState, app: &str, rid: &str) -> Response {
    let Some((step, cancelled, _, tag)) = s.step(rid, true) else {
        return detail(StatusCode::NOT_FOUND, "Request not found");
    };
    if tag != app {
        return detail(StatusCode::NOT_FOUND, "Request not found");
    }
    let mut body = urls(s, app, rid);
    let (code, status) = match (&step, cancelled) {
        (_, true) => {
            body["error"] = json!("Request was cancelled");
            body["error_type"] = json!("request_cancelled");
            (StatusCode::OK, "COMPLETED")
        }
        (Step::Queued(pos), _) => {
            body["queue_position"] = json!(pos);
            (StatusCode::ACCEPTED, "IN_QUEUE")
        }
        (Step::Running(f), _) => {
            body["logs"] = json!([{ "message": format!("step {:.0}%", f * 100.0), "level": "INFO", "source": "USER", "timestamp": "2025-01-01T00:00:00Z" }]);
            (StatusCode::ACCEPTED, "IN_PROGRESS")
        }
        (Step::Fail(msg) | Step::ErrorEnvelope(msg), _) => {
            // Failures are reported inside COMPLETED.
            body["error"] = json!(msg);
            body["error_type"] = json!("runner_disconnected");
            (StatusCode::OK, "COMPLETED")
        }
        _ => {
            body["metrics"] = json!({ "inference_time": 1.5 });
            (StatusCode::OK, "COMPLETED")
        }
    };
    body["status"] = json!(status);
    json(code, &body)
}

fn result(s: &FakeState, rid: &str) -> Response {
    let Some((step, ..)) = s.step(rid, false) else {
        return detail(StatusCode::NOT_FOUND, "Request not found");
    };
    match step {
        Step::Queued(_) | Step::Running(_) => {
            detail(StatusCode::BAD_REQUEST, "Request is still in progress")
        }
        Step::Fail(msg) | Step::ErrorEnvelope(msg) => json(
            StatusCode::UNPROCESSABLE_ENTITY,
            &json!({ "detail": [{ "loc": ["body"], "msg": msg, "type": "value_error" }] }),
        ),
        _ => {
            let out = s.output();
            let name = output_names(s, rid, 1).remove(0);
            let file = json!({ "url": s.output_url(&name), "content_type": out.content_type, "file_name": name, "file_size": out.bytes.len() });
            if out.content_type.starts_with("video/") {
                json(StatusCode::OK, &json!({ "video": file, "seed": 42 }))
            } else {
                json(
                    StatusCode::OK,
                    &json!({ "images": [file], "seed": 42, "has_nsfw_concepts": [false] }),
                )
            }
        }
    }
}

fn cancel(s: &FakeState, rid: &str) -> Response {
    match s.cancel_job(rid) {
        None => detail(StatusCode::NOT_FOUND, "Request not found"),
        Some(step) if step.is_terminal() => {
            json(StatusCode::OK, &json!({ "status": "ALREADY_COMPLETED" }))
        }
        Some(_) => json(
            StatusCode::ACCEPTED,
            &json!({ "status": "CANCELLATION_REQUESTED" }),
        ),
    }
}

fn initiate(s: &FakeState, body: &[u8]) -> Response {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    // The documented body is `{content_type, file_name}` (fal-js `storage.ts`).
    if let Some(unknown) = v.as_object().and_then(|m| {
        m.keys()
            .find(|k| !matches!(k.as_str(), "content_type" | "file_name"))
    }) {
        return detail(
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!("unknown field {unknown}"),
        );
    }
    let Some(file_name) = v.get("file_name").and_then(Value::as_str) else {
        return detail(StatusCode::UNPROCESSABLE_ENTITY, "file_name is required");
    };
    let name = format!("{}_{}", s.new_id("u"), file_name.replace(['/', '-'], "_"));
    let origin = s.origin();
    json(
        StatusCode::OK,
        &json!({ "upload_url": format!("{origin}/upload/{name}"), "file_url": format!("{origin}/files/{name}") }),
    )
}
