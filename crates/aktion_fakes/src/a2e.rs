//! Fake A2E (`/api/v1/<feature>/start`, `/api/v1/<feature>/{_id}`; the presigned upload, [C] in
//! PROVIDERS.md, only when guessed endpoints are allowed).
//!
//! Strict as documented (PROVIDERS.md §3.3): the features the docs list, with the body fields
//! their pages show (unknown fields refused, required ones checked), inputs as URLs only, and
//! every input URL fetched before the task is accepted.

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

/// The documented features: `(feature, body fields, required fields)` (PROVIDERS.md §3.3 [V];
/// `duration` is in the image-to-video task's documented input echo).
const FEATURES: &[(&str, &[&str], &[&str])] = &[
    (
        "userImage2Video",
        &["name", "image_url", "prompt", "negative_prompt", "duration"],
        &["image_url"],
    ),
    (
        "talkingPhoto",
        &[
            "name",
            "image_url",
            "audio_url",
            "duration",
            "prompt",
            "negative_prompt",
        ],
        &["image_url", "audio_url"],
    ),
    (
        "talkingVideo",
        &[
            "name",
            "video_url",
            "audio_url",
            "duration",
            "prompt",
            "negative_prompt",
        ],
        &["video_url", "audio_url"],
    ),
    (
        "userText2Image",
        &[
            "prompt",
            "name",
            "width",
            "height",
            "model_type",
            "input_images",
            "aspect_ratio",
            "max_images",
        ],
        &["prompt"],
    ),
    (
        "userText2image",
        &["name", "prompt", "req_key", "width", "height"],
        &["prompt"],
    ),
];

fn not_found() -> Response {
    json(
        StatusCode::NOT_FOUND,
        &json!({ "code": 404, "msg": "Not Found" }),
    )
}

/// Why a start is refused: an unknown feature (HTTP 404), or an envelope error code.
enum Refusal {
    NotFound,
    Envelope(i64, String),
}

impl Refusal {
    fn response(self) -> Response {
        match self {
            Self::NotFound => not_found(),
            Self::Envelope(code, msg) => envelope_error(code, &msg),
        }
    }
}

fn refuse(code: i64, msg: impl Into<String>) -> Refusal {
    Refusal::Envelope(code, msg.into())
}

/// Checks a start body against the feature's documented fields; the input URLs to fetch.
fn check_body(feature: &str, body: &Value) -> Result<Vec<(String, String)>, Refusal> {
    let Some((_, fields, required)) = FEATURES.iter().find(|(f, ..)| *f == feature) else {
        return Err(Refusal::NotFound);
    };
    let Some(map) = body.as_object() else {
        return Err(refuse(1002, "the body must be a JSON object"));
    };
    if let Some(unknown) = map.keys().find(|k| !fields.contains(&k.as_str())) {
        return Err(refuse(1002, format!("unknown field {unknown}")));
    }
    if let Some(missing) = required.iter().find(|r| !map.contains_key(**r)) {
        return Err(refuse(1002, format!("{missing} is required")));
    }
    let mut urls = Vec::new();
    for (k, v) in map {
        let items: Vec<&Value> = match (k.as_str(), v) {
            ("input_images", Value::Array(items)) => items.iter().collect(),
            ("input_images", _) => {
                return Err(refuse(1002, "input_images must be a list of URLs"));
            }
            (k, v) if k.ends_with("_url") => vec![v],
            _ => continue,
        };
        for item in items {
            // A2E takes URLs only (no base64, no local names).
            match item.as_str() {
                Some(u) if u.starts_with("https://") || u.starts_with("http://") => {
                    urls.push((k.clone(), u.to_owned()));
                }
                _ => return Err(refuse(1002, format!("{k} must be a URL"))),
            }
        }
    }
    Ok(urls)
}

/// Fetches each input as A2E does; a URL it cannot read fails the start.
async fn fetch_inputs(s: &FakeState, urls: Vec<(String, String)>) -> Result<(), Refusal> {
    for (field, url) in urls {
        let got = s.http.get(&url).send().await;
        match got {
            Ok(resp) if resp.status().is_success() => {
                if resp.bytes().await.is_err() {
                    return Err(refuse(1003, format!("cannot read {field}")));
                }
                s.lock().fetched.push(url);
            }
            Ok(resp) => {
                return Err(refuse(
                    1003,
                    format!("cannot fetch {field}: HTTP {}", resp.status().as_u16()),
                ));
            }
            Err(_) => return Err(refuse(1003, format!("cannot fetch {field}"))),
        }
    }
    Ok(())
}

async fn start(
    State(s): State<Arc<FakeState>>,
    Path(feature): Path<String>,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    let urls = match check_body(&feature, &body) {
        Ok(urls) => urls,
        Err(refused) => return refused.response(),
    };
    if let Err(refused) = fetch_inputs(&s, urls).await {
        return refused.response();
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
    if !s.lock().guessed {
        return not_found();
    }
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
