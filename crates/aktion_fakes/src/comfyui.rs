//! Fake ComfyUI server: `/prompt`, `/history/{id}`, `/queue`, `/interrupt`, `/view`,
//! `/upload/image`, every route also under `/api`.

use std::sync::Arc;

use axum::Router;
use std::collections::BTreeSet;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{FakeState, Route, Step, file_response, json};

const OUTPUT_NODES: [&str; 5] = [
    "SaveImage",
    "SaveVideo",
    "PreviewImage",
    "VHS_VideoCombine",
    "SaveAnimatedWEBP",
];

pub(crate) fn route(method: &Method, path: &str) -> Route {
    let path = path.strip_prefix("/api").unwrap_or(path);
    match (method.as_str(), path) {
        ("POST", "/prompt") => Route::Submit,
        ("GET", p) if p.starts_with("/history/") => Route::Status,
        ("GET", "/queue") => Route::Result,
        ("POST", "/queue" | "/interrupt") => Route::Cancel,
        ("POST", "/upload/image") => Route::Upload,
        _ => Route::Other,
    }
}

pub(crate) fn router() -> Router<Arc<FakeState>> {
    let api = Router::new()
        .route("/prompt", post(prompt))
        .route("/history/{id}", get(history))
        .route("/queue", get(queue).post(delete_from_queue))
        .route("/interrupt", post(interrupt))
        .route("/view", get(view))
        .route("/upload/image", post(upload))
        .route("/ws", get(websocket))
        .route("/system_stats", get(system_stats))
        .route("/object_info/{class}", get(object_info));
    // ComfyUI registers every route bare and under /api.
    Router::new().merge(api.clone()).nest("/api", api)
}

async fn system_stats() -> Response {
    json(
        StatusCode::OK,
        &json!({
            "system": { "os": "posix", "comfyui_version": "0.3.66", "python_version": "3.12.3", "embedded_python": false },
            "devices": [{ "name": "cuda:0 NVIDIA GeForce RTX 4090 : cudaMallocAsync", "type": "cuda", "index": 0,
                          "vram_total": 25_757_220_864_u64, "vram_free": 24_000_000_000_u64 }]
        }),
    )
}

async fn object_info(State(s): State<Arc<FakeState>>, Path(class): Path<String>) -> Response {
    let inner = s.lock();
    let inputs: BTreeSet<String> = inner.uploads.keys().cloned().collect();
    let installed = crate::comfyui_validate::Installed {
        inputs: &inputs,
        missing_models: &inner.missing,
    };
    // ComfyUI answers an unknown class with `{}`.
    let info =
        crate::comfyui_validate::object_info(&class, &installed).unwrap_or_else(|| json!({}));
    json(StatusCode::OK, &info)
}

async fn prompt(State(s): State<Arc<FakeState>>, axum::Json(body): axum::Json<Value>) -> Response {
    let Some(prompt) = body.get("prompt").and_then(Value::as_object) else {
        return json(
            StatusCode::BAD_REQUEST,
            &json!({ "error": { "type": "no_prompt", "message": "No prompt provided", "details": "", "extra_info": {} }, "node_errors": {} }),
        );
    };
    let verdict = {
        let inner = s.lock();
        let inputs: BTreeSet<String> = inner.uploads.keys().cloned().collect();
        crate::comfyui_validate::validate(
            prompt,
            &crate::comfyui_validate::Installed {
                inputs: &inputs,
                missing_models: &inner.missing,
            },
        )
    };
    if let Err(body) = verdict {
        return json(StatusCode::BAD_REQUEST, &body);
    }
    let id = body
        .get("prompt_id")
        .and_then(Value::as_str)
        .map_or_else(|| s.new_id("c"), str::to_owned);
    let client_id = body
        .get("client_id")
        .and_then(Value::as_str)
        .unwrap_or_default();
    s.create_job(&id, Value::Object(prompt.clone()), client_id);
    let number = s.submission_count();
    json(
        StatusCode::OK,
        &json!({ "prompt_id": id, "number": number, "node_errors": {} }),
    )
}

impl FakeState {
    fn submission_count(&self) -> usize {
        self.lock().submissions
    }
}

fn entry(s: &FakeState, id: &str, step: &Step, cancelled: bool, input: &Value) -> Value {
    let start = json!(["execution_start", { "prompt_id": id, "timestamp": 1 }]);
    if cancelled {
        return json!({ "prompt": [], "outputs": {}, "status": { "status_str": "error", "completed": false, "messages": [start, ["execution_interrupted", { "prompt_id": id, "node_id": "3", "node_type": "KSampler", "executed": [], "timestamp": 2 }]] }, "meta": {} });
    }
    match step {
        Step::Fail(msg) | Step::ErrorEnvelope(msg) => json!({
            "prompt": [], "outputs": {},
            "status": { "status_str": "error", "completed": false, "messages": [start, ["execution_error", {
                "prompt_id": id, "node_id": "3", "node_type": "KSampler", "executed": [], "exception_message": msg,
                "exception_type": "RuntimeError", "traceback": [], "current_inputs": {}, "current_outputs": {}, "timestamp": 2 }]] },
            "meta": {}
        }),
        _ => {
            let out = s.output();
            let item = json!({ "filename": format!("{id}_00001_.{}", out.extension), "subfolder": "", "type": "output" });
            let preview = json!({ "filename": format!("{id}_temp_00001_.{}", out.extension), "subfolder": "", "type": "temp" });
            let node = if out.content_type.starts_with("video/") {
                // Core SaveVideo: the video is listed under `images`, flagged as animated.
                json!({ "images": [item], "animated": [true] })
            } else {
                json!({ "images": [item] })
            };
            // Outputs are listed under the id of the prompt's saving node.
            let save = input.as_object().and_then(|nodes| {
                nodes.iter().find_map(|(id, n)| {
                    let class = n.get("class_type").and_then(Value::as_str)?;
                    OUTPUT_NODES.contains(&class).then(|| id.clone())
                })
            });
            let save = save.unwrap_or_else(|| "9".to_owned());
            json!({
                "prompt": [], "outputs": { save: node, "preview": { "images": [preview] } },
                "status": { "status_str": "success", "completed": true, "messages": [start, ["execution_success", { "prompt_id": id, "timestamp": 3 }]] },
                "meta": {}
            })
        }
    }
}

async fn history(State(s): State<Arc<FakeState>>, Path(id): Path<String>) -> Response {
    // Jobs advance on `/queue` polls, which is where a ComfyUI client sees progress over HTTP.
    match s.step(&id, false) {
        Some((step, cancelled, input, _)) if step.is_terminal() || cancelled => json(
            StatusCode::OK,
            &json!({ id.clone(): entry(&s, &id, &step, cancelled, &input) }),
        ),
        // `{}` until the prompt finishes (and for unknown ids).
        _ => json(StatusCode::OK, &json!({})),
    }
}

async fn queue(State(s): State<Arc<FakeState>>) -> Response {
    let ids: Vec<String> = s.lock().jobs.keys().cloned().collect();
    let mut running = Vec::new();
    let mut pending = Vec::new();
    let mut ahead = 0;
    for (n, id) in ids.iter().enumerate() {
        match s.step(id, true) {
            Some((Step::Queued(pos), false, ..)) => {
                ahead = ahead.max(pos);
                pending.push(json!([1000 + n, id, {}, {}, []]));
            }
            Some((Step::Running(_), false, ..)) => running.push(json!([n, id, {}, {}, []])),
            _ => {}
        }
    }
    // Someone else's prompts ahead of ours, so scripted queue positions show up as positions.
    for i in 0..ahead {
        pending.push(json!([i, format!("other-{i}"), {}, {}, []]));
    }
    json(
        StatusCode::OK,
        &json!({ "queue_running": running, "queue_pending": pending }),
    )
}

async fn delete_from_queue(
    State(s): State<Arc<FakeState>>,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    for id in body
        .get("delete")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        s.lock().jobs.remove(id);
    }
    StatusCode::OK.into_response()
}

async fn interrupt(State(s): State<Arc<FakeState>>, body: Option<axum::Json<Value>>) -> Response {
    if let Some(id) = body
        .as_ref()
        .and_then(|b| b.get("prompt_id"))
        .and_then(Value::as_str)
    {
        s.cancel_job(id);
    }
    StatusCode::OK.into_response()
}

#[derive(Deserialize)]
struct ViewQuery {
    filename: String,
    #[serde(default)]
    subfolder: String,
    #[serde(default, rename = "type")]
    kind: String,
}

async fn view(State(s): State<Arc<FakeState>>, Query(q): Query<ViewQuery>) -> Response {
    if q.filename.starts_with('/') || q.filename.contains("..") || q.subfolder.contains("..") {
        return StatusCode::BAD_REQUEST.into_response();
    }
    if q.kind == "input"
        && let Some((ct, bytes)) = s.lock().uploads.get(&q.filename).cloned()
    {
        return file_response(&ct, bytes);
    }
    let id = q.filename.split('_').next().unwrap_or_default();
    match s.step(id, false) {
        Some((step, false, ..)) if step.is_terminal() => {
            let out = s.output();
            file_response(&out.content_type, out.bytes.to_vec())
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn upload(
    State(s): State<Arc<FakeState>>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let multipart = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    if !multipart {
        return StatusCode::BAD_REQUEST.into_response();
    }
    let name = format!("{}.png", s.new_id("upload"));
    s.store_upload(&name, "image/png", body.to_vec());
    json(
        StatusCode::OK,
        &json!({ "name": name, "subfolder": "", "type": "input" }),
    )
}

#[derive(Deserialize)]
struct WsQuery {
    #[serde(rename = "clientId", default)]
    client_id: String,
}

async fn websocket(
    State(s): State<Arc<FakeState>>,
    Query(q): Query<WsQuery>,
    upgrade: WebSocketUpgrade,
) -> Response {
    if !s.lock().websocket {
        return StatusCode::NOT_FOUND.into_response();
    }
    upgrade.on_upgrade(move |socket| events(s, q.client_id, socket))
}

fn text(v: &Value) -> Message {
    Message::Text(v.to_string().into())
}

/// Every second, advances this client's prompts by one step and sends what ComfyUI would:
/// `execution_start`, `executing`, `progress`, `executed`, then `executing` with `node: null`.
async fn events(s: Arc<FakeState>, client_id: String, mut socket: WebSocket) {
    let hello = json!({"type": "status", "data": {"status": {"exec_info": {"queue_remaining": 0}}, "sid": client_id}});
    if socket.send(text(&hello)).await.is_err() {
        return;
    }
    let mut started = BTreeSet::new();
    let mut finished = BTreeSet::new();
    loop {
        tokio::select! {
            incoming = socket.recv() => match incoming {
                Some(Ok(_)) => continue,
                _ => return,
            },
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
        let ids: Vec<String> = s
            .lock()
            .jobs
            .values()
            .filter(|j| j.tag == client_id && !finished.contains(&j.id))
            .map(|j| j.id.clone())
            .collect();
        for id in ids {
            let Some((step, cancelled, input, _)) = s.step(&id, true) else {
                continue;
            };
            let mut out = Vec::new();
            let done = json!({"type": "executing", "data": {"node": null, "display_node": null, "prompt_id": id}});
            if cancelled {
                out.push(json!({"type": "execution_interrupted", "data": {"prompt_id": id, "node_id": "3", "node_type": "KSampler", "executed": [], "timestamp": 2}}));
                out.push(done);
                finished.insert(id.clone());
            } else {
                match &step {
                    Step::Queued(n) => out.push(json!({"type": "status", "data": {"status": {"exec_info": {"queue_remaining": n + 1}}}})),
                    Step::Running(f) => {
                        if started.insert(id.clone()) {
                            out.push(json!({"type": "execution_start", "data": {"prompt_id": id, "timestamp": 1}}));
                            out.push(json!({"type": "executing", "data": {"node": "3", "display_node": "3", "prompt_id": id}}));
                        }
                        out.push(json!({"type": "progress", "data": {"value": (f * 20.0).round(), "max": 20, "prompt_id": id, "node": "3"}}));
                    }
                    Step::Fail(msg) | Step::ErrorEnvelope(msg) => {
                        out.push(json!({"type": "execution_error", "data": {"prompt_id": id, "node_id": "3", "node_type": "KSampler", "exception_message": msg, "exception_type": "RuntimeError", "executed": [], "traceback": [], "current_inputs": {}, "current_outputs": {}, "timestamp": 2}}));
                        out.push(done);
                        finished.insert(id.clone());
                    }
                    _ => {
                        let entry = entry(&s, &id, &step, false, &input);
                        for (node, output) in entry["outputs"].as_object().into_iter().flatten() {
                            out.push(json!({"type": "executed", "data": {"node": node, "display_node": node, "output": output, "prompt_id": id}}));
                        }
                        out.push(json!({"type": "execution_success", "data": {"prompt_id": id, "timestamp": 3}}));
                        out.push(done);
                        finished.insert(id.clone());
                    }
                }
            }
            for message in &out {
                if socket.send(text(message)).await.is_err() {
                    return;
                }
            }
        }
    }
}
