//! Fake RunComfy serverless (`/prod/v1/deployments/{id}/...`) and the deployment lookup of the
//! management API (`GET /prod/v2/deployments/{id}`, `includes=payload`).
//!
//! Strict as documented (PROVIDERS.md §2.3): a submit goes to a deployment the fake knows, its
//! body has only the documented fields, and every override names a node id of the deployment's
//! workflow and an input that node has ("Node ids and input names must exist").

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::{FakeState, Route, Step, json, output_names};

pub(crate) fn route(method: &Method, path: &str) -> Route {
    match (method.as_str(), path.rsplit('/').next().unwrap_or_default()) {
        ("POST", "inference") => Route::Submit,
        ("POST", "cancel") => Route::Cancel,
        ("GET", "status") => Route::Status,
        ("GET", "result") => Route::Result,
        _ => Route::Other,
    }
}

pub(crate) fn router() -> Router<Arc<FakeState>> {
    Router::new()
        .route("/prod/v1/deployments/{dep}/inference", post(submit))
        .route(
            "/prod/v1/deployments/{dep}/requests/{rid}/status",
            get(status),
        )
        .route(
            "/prod/v1/deployments/{dep}/requests/{rid}/result",
            get(result),
        )
        .route(
            "/prod/v1/deployments/{dep}/requests/{rid}/cancel",
            post(cancel),
        )
        .route("/prod/v2/deployments/{dep}", get(deployment))
}

/// The seed's `CREATE_COHERENT` deployment: six `LoadImage` nodes (PRODUCT.md §3) feeding a
/// workflow that saves one image. Its other nodes are not known, so only the images are
/// overridable.
pub(crate) fn default_deployments() -> std::collections::BTreeMap<String, Value> {
    let mut workflow = serde_json::Map::new();
    for id in ["270", "276", "283", "290", "297", "304"] {
        workflow.insert(
            id.to_owned(),
            json!({ "class_type": "LoadImage", "inputs": { "image": "example.png" } }),
        );
    }
    workflow.insert(
        "58".to_owned(),
        json!({ "class_type": "SaveImage", "inputs": { "filename_prefix": "ComfyUI", "images": ["57", 0] } }),
    );
    [(
        "437a16af-d5ad-4eff-a6d9-3e094c5c0e6c".to_owned(),
        Value::Object(workflow),
    )]
    .into()
}

fn deployment_not_found() -> Response {
    json(
        StatusCode::NOT_FOUND,
        &json!({ "error_code": 404, "error_message": "deployment not found" }),
    )
}

fn refused(message: &str) -> Response {
    json(
        StatusCode::BAD_REQUEST,
        &json!({ "error_code": 400, "error_message": message }),
    )
}

/// `GET /prod/v2/deployments/{id}` (management API); with `includes=payload`, the deployed
/// workflow (`workflow_api_json`) and its default overrides.
async fn deployment(
    State(s): State<Arc<FakeState>>,
    Path(dep): Path<String>,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> Response {
    let Some(workflow) = s.lock().deployments.get(&dep).cloned() else {
        return deployment_not_found();
    };
    let mut body = json!({ "id": dep, "name": "fake deployment", "is_enabled": true, "hardware": ["AMPERE_48"] });
    let payload = query
        .unwrap_or_default()
        .split('&')
        .any(|kv| kv == "includes=payload");
    if payload {
        body["payload"] =
            json!({ "workflow_api_json": workflow, "overrides": {}, "object_info_url": null });
    }
    json(StatusCode::OK, &body)
}

/// Checks a submit body against the deployment's workflow.
fn check_submit(workflow: &Value, body: &Value) -> Result<(), String> {
    const FIELDS: [&str; 5] = [
        "overrides",
        "workflow_api_json",
        "extra_data",
        "webhook",
        "webhook_intermediate_status",
    ];
    let Some(map) = body.as_object() else {
        return Err("the body must be a JSON object".into());
    };
    if let Some(unknown) = map.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(format!("unknown field {unknown}"));
    }
    let Some(overrides) = map.get("overrides").and_then(Value::as_object) else {
        return Err("overrides must be an object".into());
    };
    for (node, value) in overrides {
        let Some(known) = workflow.get(node) else {
            return Err(format!("node {node} is not in the deployment's workflow"));
        };
        let Some(inputs) = value.get("inputs").and_then(Value::as_object) else {
            return Err(format!("overrides.{node} must be {{\"inputs\": {{...}}}}"));
        };
        if let Some(other) = value
            .as_object()
            .and_then(|o| o.keys().find(|k| *k != "inputs"))
        {
            return Err(format!("overrides.{node}: unknown field {other}"));
        }
        for name in inputs.keys() {
            if known.get("inputs").and_then(|i| i.get(name)).is_none() {
                let class = known
                    .get("class_type")
                    .and_then(Value::as_str)
                    .unwrap_or("?");
                return Err(format!("node {node} ({class}) has no input {name}"));
            }
        }
    }
    Ok(())
}

fn urls(s: &FakeState, dep: &str, rid: &str) -> Value {
    let req = format!("{}/prod/v1/deployments/{dep}/requests/{rid}", s.base_url);
    json!({ "request_id": rid, "status_url": format!("{req}/status"), "result_url": format!("{req}/result"), "cancel_url": format!("{req}/cancel") })
}

fn not_found() -> Response {
    // RunComfy reports errors in its envelope; here with a 404 status line.
    json(
        StatusCode::NOT_FOUND,
        &json!({ "error_code": 404, "error_message": "request not found" }),
    )
}

async fn submit(
    State(s): State<Arc<FakeState>>,
    Path(dep): Path<String>,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    let Some(workflow) = s.lock().deployments.get(&dep).cloned() else {
        return deployment_not_found();
    };
    if let Err(why) = check_submit(&workflow, &body) {
        return refused(&why);
    }
    let Some(overrides) = body.get("overrides").filter(|o| o.is_object()) else {
        return refused("overrides must be an object");
    };
    let rid = s.new_id("r");
    s.create_job(&rid, overrides.clone(), &dep);
    json(StatusCode::OK, &urls(&s, &dep, &rid))
}

async fn status(
    State(s): State<Arc<FakeState>>,
    Path((dep, rid)): Path<(String, String)>,
) -> Response {
    let Some((step, cancelled, ..)) = s.step(&rid, true) else {
        return not_found();
    };
    let mut body = urls(&s, &dep, &rid);
    let status = if cancelled {
        s.lock().cancel_spelling
    } else {
        match step {
            Step::Queued(pos) => {
                body["queue_position"] = json!(pos);
                "in_queue"
            }
            Step::Running(_) => "in_progress",
            // The live API only says `completed`; the verdict is in /result.
            _ => "completed",
        }
    };
    body["status"] = json!(status);
    json(StatusCode::OK, &body)
}

async fn result(
    State(s): State<Arc<FakeState>>,
    Path((_dep, rid)): Path<(String, String)>,
) -> Response {
    let Some((step, cancelled, ..)) = s.step(&rid, false) else {
        return not_found();
    };
    let base = json!({ "request_id": rid, "created_at": "2025-01-01T00:00:00.000000+00:00", "finished_at": "2025-01-01T00:05:00.000000+00:00" });
    let mut body = base;
    if cancelled {
        body["status"] = json!(s.lock().cancel_spelling);
        return json(StatusCode::OK, &body);
    }
    match step {
        Step::Queued(_) => body["status"] = json!("in_queue"),
        Step::Running(_) => body["status"] = json!("in_progress"),
        Step::Succeed | Step::Aborted | Step::DataRemoved => {
            let out = s.output();
            let name = output_names(&s, &rid, 1).remove(0);
            let mut item = json!({ "filename": format!("ComfyUI_00001_.{}", out.extension), "subfolder": "", "type": "output", "url": s.output_url(&name) });
            let mut node = json!({ "images": [item.take()] });
            if out.content_type.starts_with("video/") {
                // Core SaveVideo: the video sits under `images`, flagged as animated.
                node["animated"] = json!([true]);
            }
            body["status"] = json!("succeeded");
            body["outputs"] = json!({ "58": node, "38:42": { "text": [["a caption"]] } });
        }
        Step::Fail(msg) => {
            body["status"] = json!("failed");
            body["error"] =
                json!([{ "errorCode": 500, "error": msg, "debugInfo": "Traceback ..." }]);
        }
        Step::ErrorEnvelope(msg) => {
            return json(
                StatusCode::OK,
                &json!({ "error_code": 500, "error_message": msg }),
            );
        }
    }
    json(StatusCode::OK, &body)
}

async fn cancel(
    State(s): State<Arc<FakeState>>,
    Path((_dep, rid)): Path<(String, String)>,
) -> Response {
    match s.cancel_job(&rid) {
        None => not_found(),
        Some(step) if step.is_terminal() => json(
            StatusCode::OK,
            &json!({ "request_id": rid, "status": "not_cancellable" }),
        ),
        Some(_) => json(
            StatusCode::OK,
            &json!({ "request_id": rid, "status": "cancellation_requested" }),
        ),
    }
}
