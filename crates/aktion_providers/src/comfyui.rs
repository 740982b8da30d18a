//! A user's own ComfyUI server (PROVIDERS.md §5): `POST /prompt`, `GET /history/{id}`,
//! `GET /queue`, `/view`, `/upload/image`.

use std::time::Duration;

use futures_util::StreamExt as _;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::client::{Providers, Reporter, content_type_for, seg};
use crate::config::{KindConfig, Target};
use crate::error::{ProviderError, Result};
use crate::http::{Repeat, json_message};
use crate::request::{InputFile, JobRequest, build_input};
use crate::{JobHandle, JobState, Output, ProviderKind};

const P: ProviderKind = ProviderKind::ComfyUi;

/// A random v4 UUID in the canonical form ComfyUI requires for client-chosen prompt ids.
fn new_prompt_id() -> String {
    let hi = fastrand::u64(..);
    let lo = fastrand::u64(..);
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        hi >> 32,
        (hi >> 16) & 0xffff,
        hi & 0x0fff,
        ((lo >> 48) & 0x3fff) | 0x8000,
        lo & 0xffff_ffff_ffff
    )
}

pub(crate) async fn submit(
    p: &Providers,
    kind: &KindConfig,
    request: &JobRequest,
) -> Result<JobHandle> {
    let Target::ComfyUi { workflow } = &kind.target else {
        return Err(ProviderError::Config("kind is not a ComfyUI target".into()));
    };
    let base = p.endpoint(P).base_url.clone();
    let prompt = build_input(kind, workflow.clone(), request, |f| upload(p, f)).await?;
    // We choose the prompt id, so after an ambiguous failure we can ask the server whether the
    // prompt landed instead of guessing: that makes retrying the submit safe.
    let prompt_id = new_prompt_id();
    let body =
        json!({ "prompt": prompt, "prompt_id": prompt_id, "client_id": client_id(&prompt_id) });
    let url = format!("{base}/prompt");
    let mut tries = 0;
    loop {
        match p
            .send_json::<Value>(
                P,
                Repeat::Submit {
                    provider_dedupes: false,
                },
                |c| c.post(&url).json(&body),
            )
            .await
        {
            Ok(v) => {
                if let Some(errors) = v.get("node_errors").and_then(Value::as_object)
                    && !errors.is_empty()
                {
                    tracing::warn!(%prompt_id, dropped = errors.len(), "ComfyUI dropped some outputs with errors");
                }
                break;
            }
            Err(ProviderError::SubmitOutcomeUnknown { message, .. })
                if tries < p.config().http.retry.max_retries =>
            {
                tries += 1;
                if locate(p, &prompt_id).await?.is_some()
                    || history_entry(p, &prompt_id).await?.is_some()
                {
                    break;
                }
                tracing::debug!(%prompt_id, %message, "prompt did not land, submitting again");
                tokio::time::sleep(p.config().http.retry.delay(tries, None)).await;
            }
            Err(ProviderError::Provider {
                status, message, ..
            }) => {
                return Err(ProviderError::Provider {
                    provider: P,
                    status,
                    message: format!("workflow rejected: {message}"),
                });
            }
            Err(e) => return Err(e),
        }
    }
    Ok(crate::client::new_handle(
        P,
        request,
        prompt_id.clone(),
        format!("{base}/history/{}", seg(&prompt_id)),
        None,
        None,
    ))
}

/// What ComfyUI's validation refused, node by node (`node_errors` of a 400 to `POST /prompt`),
/// in words a filmmaker can act on: a missing model file is named with where to fix it.
pub(crate) fn node_errors_message(body: &Value) -> Option<String> {
    let nodes = body.get("node_errors")?.as_object()?;
    let mut parts = Vec::new();
    for (id, node) in nodes {
        let class = node
            .get("class_type")
            .and_then(Value::as_str)
            .unwrap_or("node");
        for e in node
            .get("errors")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let field = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or_default();
            let input = e
                .pointer("/extra_info/input_name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let received = e
                .pointer("/extra_info/received_value")
                .and_then(Value::as_str);
            parts.push(match (field("type"), received) {
                ("value_not_in_list", Some(file)) if input.ends_with("_name") => format!(
                    "ComfyUI does not have the model file \"{file}\" ({input} of node {id}, {class}): \
                     add it to ComfyUI's models folder, or name one it has under `comfyui_models` \
                     in the provider configuration"
                ),
                _ => format!(
                    "{}: {} (node {id}, {class})",
                    field("message"),
                    field("details")
                ),
            });
        }
    }
    if parts.is_empty() {
        return None;
    }
    let more = parts.len().saturating_sub(3);
    parts.truncate(3);
    let mut text = parts.join("; ");
    if more > 0 {
        use std::fmt::Write as _;
        let _ = write!(text, "; and {more} more");
    }
    Some(text)
}

/// ComfyUI sends a prompt's events only to the socket of its `client_id`. Deriving it from the
/// prompt id lets a resumed job reconnect to its events without journaling anything more.
fn client_id(prompt_id: &str) -> String {
    format!("aktion-{prompt_id}")
}

/// Even with the websocket up, poll `/history` this often: events sent while we were not
/// connected (before a restart, or during a reconnect) are never repeated.
const SAFETY_POLL: Duration = Duration::from_secs(15);

/// Follows the job over the websocket (`progress` for fractions, `executing` with `node: null`
/// for the end), confirming every verdict with `/history`. Falls back to HTTP polling when the
/// socket cannot be opened or drops.
pub(crate) async fn watch(
    p: &Providers,
    handle: &JobHandle,
    deadline: tokio::time::Instant,
    reporter: &mut Reporter<'_>,
) -> Result<Option<JobState>> {
    let base = &p.endpoint(P).base_url;
    let ws_base = if let Some(rest) = base.strip_prefix("https://") {
        format!("wss://{rest}")
    } else {
        format!("ws://{}", base.trim_start_matches("http://"))
    };
    let url = format!("{ws_base}/ws?clientId={}", client_id(&handle.job_id));
    let connected =
        tokio::time::timeout_at(deadline, tokio_tungstenite::connect_async(url.as_str())).await;
    let Ok(Ok((mut socket, _))) = connected else {
        tracing::debug!("ComfyUI websocket unavailable, polling /history instead");
        return p.poll_until(handle, deadline, reporter).await;
    };
    // Connected: anything that happened before is only visible over HTTP.
    let state = poll(p, handle).await?;
    reporter.report(&state);
    if state.is_terminal() {
        return Ok(Some(state));
    }
    let mut safety = tokio::time::Instant::now() + SAFETY_POLL;
    loop {
        tokio::select! {
            message = socket.next() => match message {
                Some(Ok(Message::Text(text))) => {
                    let Ok(event) = serde_json::from_str::<Value>(text.as_str()) else { continue };
                    match interpret(&event, &handle.job_id) {
                        Some(Event::Progress(state)) => reporter.report(&state),
                        Some(Event::Finished) => {
                            let state = poll(p, handle).await?;
                            reporter.report(&state);
                            if state.is_terminal() {
                                return Ok(Some(state));
                            }
                        }
                        None => {}
                    }
                }
                // Binary frames are previews; pings are answered by tungstenite.
                Some(Ok(_)) => {}
                Some(Err(_)) | None => {
                    tracing::debug!("ComfyUI websocket closed, polling /history instead");
                    return p.poll_until(handle, deadline, reporter).await;
                }
            },
            () = tokio::time::sleep_until(safety) => {
                safety = tokio::time::Instant::now() + SAFETY_POLL;
                match poll(p, handle).await {
                    Ok(state) => {
                        reporter.report(&state);
                        if state.is_terminal() {
                            return Ok(Some(state));
                        }
                    }
                    Err(e) if e.is_retryable() => tracing::warn!(error = %e, "ComfyUI poll failed"),
                    Err(e) => return Err(e),
                }
            }
            () = tokio::time::sleep_until(deadline) => return Ok(None),
        }
    }
}

enum Event {
    Progress(JobState),
    Finished,
}

/// What a websocket message means for our prompt. Messages of other prompts (other clients
/// share the broadcast ones) are ignored.
fn interpret(event: &Value, prompt_id: &str) -> Option<Event> {
    let data = event.get("data")?;
    let ours = data.get("prompt_id").and_then(Value::as_str) == Some(prompt_id);
    match event.get("type")?.as_str()? {
        "execution_start" | "execution_cached" if ours => {
            Some(Event::Progress(JobState::Running { fraction: None }))
        }
        "progress" if ours => {
            let value = data.get("value")?.as_f64()?;
            let max = data.get("max")?.as_f64()?;
            let fraction = (max > 0.0).then(|| (value / max).clamp(0.0, 1.0) as f32);
            Some(Event::Progress(JobState::Running { fraction }))
        }
        // `executing` with `node: null` is sent once the prompt is over, success or not.
        "executing" if ours && data.get("node").is_some_and(Value::is_null) => {
            Some(Event::Finished)
        }
        "execution_success" | "execution_error" | "execution_interrupted" if ours => {
            Some(Event::Finished)
        }
        _ => None,
    }
}

/// Where the prompt sits in `/queue`: `Some(None)` running, `Some(Some(n))` n-th pending.
async fn locate(p: &Providers, prompt_id: &str) -> Result<Option<Option<u32>>> {
    let url = format!("{}/queue", p.endpoint(P).base_url);
    let v: Value = p.send_json(P, Repeat::Idempotent, |c| c.get(&url)).await?;
    let id_of = |item: &Value| item.get(1).and_then(Value::as_str).map(str::to_owned);
    let running = v
        .get("queue_running")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if running
        .iter()
        .any(|i| id_of(i).as_deref() == Some(prompt_id))
    {
        return Ok(Some(None));
    }
    let mut pending = v
        .get("queue_pending")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    // Pending items are not sorted; their `number` (item[0]) is the execution order.
    pending.sort_by(|a, b| {
        let n = |x: &Value| x.get(0).and_then(Value::as_f64).unwrap_or(0.0);
        n(a).total_cmp(&n(b))
    });
    Ok(pending
        .iter()
        .position(|i| id_of(i).as_deref() == Some(prompt_id))
        .map(|pos| Some(pos as u32)))
}

async fn history_entry(p: &Providers, prompt_id: &str) -> Result<Option<Value>> {
    let url = format!("{}/history/{}", p.endpoint(P).base_url, seg(prompt_id));
    let v: Value = p.send_json(P, Repeat::Idempotent, |c| c.get(&url)).await?;
    Ok(v.get(prompt_id).cloned())
}

pub(crate) async fn poll(p: &Providers, handle: &JobHandle) -> Result<JobState> {
    // `/history/{id}` stays `{}` until the prompt finishes.
    if let Some(entry) = history_entry(p, &handle.job_id).await? {
        return Ok(state_of_history(&p.endpoint(P).base_url, &entry));
    }
    match locate(p, &handle.job_id).await? {
        Some(None) => Ok(JobState::Running { fraction: None }),
        Some(Some(position)) => Ok(JobState::Queued {
            position: Some(position),
        }),
        // It may have finished between the two calls.
        None => match history_entry(p, &handle.job_id).await? {
            Some(entry) => Ok(state_of_history(&p.endpoint(P).base_url, &entry)),
            None => Ok(JobState::Failed {
                reason: "ComfyUI no longer knows this prompt (was the server restarted?)".into(),
                retryable: true,
            }),
        },
    }
}

pub(crate) fn state_of_history(base: &str, entry: &Value) -> JobState {
    let status = entry.get("status").cloned().unwrap_or(Value::Null);
    let messages = status
        .get("messages")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let event = |name: &str| {
        messages
            .iter()
            .find(|m| m.get(0).and_then(Value::as_str) == Some(name))
            .and_then(|m| m.get(1).cloned())
    };
    if event("execution_interrupted").is_some() {
        return JobState::Cancelled;
    }
    if status.get("status_str").and_then(Value::as_str) == Some("error") {
        let reason = event("execution_error")
            .map(|d| {
                let node = d.get("node_type").and_then(Value::as_str).unwrap_or("node");
                let msg = d
                    .get("exception_message")
                    .and_then(Value::as_str)
                    .unwrap_or("failed");
                format!("{node}: {}", msg.trim())
            })
            .or_else(|| json_message(&status))
            .unwrap_or_else(|| "the workflow failed".into());
        return JobState::Failed {
            reason,
            retryable: false,
        };
    }
    let outputs = outputs_of(base, entry);
    if outputs.is_empty() {
        return JobState::Failed {
            reason: "the workflow produced no files".into(),
            retryable: false,
        };
    }
    JobState::Succeeded { outputs }
}

/// Files under every output node: `images` (core `SaveVideo` puts videos here, flagged with
/// `animated: [true]`), `gifs` (`VideoHelperSuite`), `videos`, `audio`. Temp previews are skipped
/// when saved outputs exist.
fn outputs_of(base: &str, entry: &Value) -> Vec<Output> {
    let mut saved = Vec::new();
    let mut temp = Vec::new();
    let Some(nodes) = entry.get("outputs").and_then(Value::as_object) else {
        return saved;
    };
    for node in nodes.values() {
        let animated = node
            .get("animated")
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|b| b.as_bool() == Some(true)));
        for channel in ["images", "gifs", "videos", "audio"] {
            for item in node
                .get(channel)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let Some(filename) = item.get("filename").and_then(Value::as_str) else {
                    continue;
                };
                let subfolder = item
                    .get("subfolder")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let kind = item.get("type").and_then(Value::as_str).unwrap_or("output");
                let Ok(mut url) = reqwest::Url::parse(&format!("{base}/view")) else {
                    continue;
                };
                url.query_pairs_mut()
                    .append_pair("filename", filename)
                    .append_pair("subfolder", subfolder)
                    .append_pair("type", kind);
                let content_type = content_type_for(filename)
                    .or_else(|| {
                        item.get("format")
                            .and_then(Value::as_str)
                            .map(str::to_owned)
                    })
                    .or_else(|| animated.then(|| "video/mp4".to_owned()));
                let output = Output {
                    provider: P,
                    url: url.into(),
                    content_type,
                    file_name: Some(filename.to_owned()),
                };
                if kind == "temp" {
                    temp.push(output);
                } else {
                    saved.push(output);
                }
            }
        }
    }
    if saved.is_empty() { temp } else { saved }
}

pub(crate) async fn cancel(p: &Providers, handle: &JobHandle) -> Result<()> {
    let base = &p.endpoint(P).base_url;
    match locate(p, &handle.job_id).await? {
        Some(Some(_)) => {
            let url = format!("{base}/queue");
            let body = json!({ "delete": [handle.job_id] });
            p.send(P, Repeat::Idempotent, |c| c.post(&url).json(&body))
                .await?;
        }
        Some(None) => {
            // Only interrupt when it is our prompt that runs: a bare /interrupt would stop
            // whatever else the user's server is doing.
            let url = format!("{base}/interrupt");
            let body = json!({ "prompt_id": handle.job_id });
            p.send(P, Repeat::Idempotent, |c| c.post(&url).json(&body))
                .await?;
        }
        None => {}
    }
    Ok(())
}

/// `POST /upload/image` (multipart); the workflow then names the file as `subfolder/name`.
async fn upload(p: &Providers, file: InputFile) -> Result<String> {
    let limits = p.config().uploads;
    if file.bytes.len() > limits.upload_max {
        return Err(ProviderError::TooLarge {
            provider: P,
            what: "input file",
            limit: limits.upload_max as u64,
        });
    }
    let url = format!("{}/upload/image", p.endpoint(P).base_url);
    let v: Value = p
        .send_json(P, Repeat::Idempotent, |c| {
            let part = Part::bytes(file.bytes.to_vec()).file_name(file.file_name.clone());
            let part = match part.mime_str(&file.content_type) {
                Ok(part) => part,
                Err(_) => Part::bytes(file.bytes.to_vec()).file_name(file.file_name.clone()),
            };
            c.post(&url).multipart(
                Form::new()
                    .part("image", part)
                    .text("type", "input")
                    .text("overwrite", "true"),
            )
        })
        .await?;
    let Some(name) = v.get("name").and_then(Value::as_str) else {
        return Err(ProviderError::Decode {
            provider: P,
            message: "upload response has no name".into(),
        });
    };
    Ok(match v.get("subfolder").and_then(Value::as_str) {
        Some(sub) if !sub.is_empty() => format!("{sub}/{name}"),
        _ => name.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn websocket_events_for_our_prompt_only() {
        let progress = json!({"type": "progress", "data": {"value": 5, "max": 20, "prompt_id": "a", "node": "3"}});
        assert!(
            matches!(interpret(&progress, "a"), Some(Event::Progress(JobState::Running { fraction: Some(f) })) if (f - 0.25).abs() < 1e-6)
        );
        assert!(interpret(&progress, "b").is_none());
        let done = json!({"type": "executing", "data": {"node": null, "prompt_id": "a"}});
        assert!(matches!(interpret(&done, "a"), Some(Event::Finished)));
        let node = json!({"type": "executing", "data": {"node": "3", "prompt_id": "a"}});
        assert!(interpret(&node, "a").is_none());
        assert!(interpret(&json!({"type": "status", "data": {"status": {}}}), "a").is_none());
    }

    #[test]
    fn validation_errors_name_the_node_and_a_missing_model_says_where_to_fix_it() {
        let body = json!({
            "error": {"type": "prompt_outputs_failed_validation", "message": "Prompt outputs failed validation", "details": "", "extra_info": {}},
            "node_errors": {
                "4": {"errors": [{"type": "value_not_in_list", "message": "Value not in list",
                    "details": "ckpt_name: 'sd_xl_base_1.0.safetensors' not in ['a.safetensors']",
                    "extra_info": {"input_name": "ckpt_name", "received_value": "sd_xl_base_1.0.safetensors"}}],
                    "dependent_outputs": ["9"], "class_type": "CheckpointLoaderSimple"},
                "3": {"errors": [{"type": "value_bigger_than_max", "message": "Value 200.0 bigger than max of 100.0",
                    "details": "cfg", "extra_info": {"input_name": "cfg", "received_value": 200.0}}],
                    "dependent_outputs": ["9"], "class_type": "KSampler"}
            }
        });
        let m = node_errors_message(&body).unwrap();
        assert!(
            m.contains("Value 200.0 bigger than max of 100.0: cfg (node 3, KSampler)"),
            "{m}"
        );
        assert!(
            m.contains(
                "does not have the model file \"sd_xl_base_1.0.safetensors\" (ckpt_name of node 4"
            ),
            "{m}"
        );
        assert!(m.contains("comfyui_models"), "{m}");
        // Bodies without node errors (other providers, ComfyUI's own top-level errors) pass.
        assert_eq!(node_errors_message(&json!({"node_errors": {}})), None);
        assert_eq!(node_errors_message(&json!({"node_errors": []})), None);
        assert_eq!(node_errors_message(&json!({"detail": "x"})), None);
        let many: serde_json::Map<String, Value> = (0..6)
            .map(|i| {
                (
                    i.to_string(),
                    json!({"errors": [{"type": "t", "message": "m", "details": "d"}]}),
                )
            })
            .collect();
        let m = node_errors_message(&json!({ "node_errors": many })).unwrap();
        assert!(m.ends_with("; and 3 more"), "{m}");
    }

    #[test]
    fn prompt_ids_are_canonical_uuids() {
        let id = new_prompt_id();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert!(
            id.chars()
                .all(|c| c == '-' || c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
    }

    #[test]
    fn history_success_with_video_under_images() {
        let entry = json!({
            "outputs": {"9": {"images": [{"filename": "ComfyUI_00001_.mp4", "subfolder": "video", "type": "output"}], "animated": [true]}},
            "status": {"status_str": "success", "completed": true, "messages": []}
        });
        let JobState::Succeeded { outputs } = state_of_history("http://h:8188", &entry) else {
            panic!()
        };
        assert_eq!(
            outputs[0].url,
            "http://h:8188/view?filename=ComfyUI_00001_.mp4&subfolder=video&type=output"
        );
        assert_eq!(outputs[0].content_type.as_deref(), Some("video/mp4"));
    }

    #[test]
    fn history_error_names_the_node() {
        let entry = json!({"outputs": {}, "status": {"status_str": "error", "completed": false, "messages": [
            ["execution_start", {"prompt_id": "p"}],
            ["execution_error", {"prompt_id": "p", "node_type": "KSampler", "exception_message": "CUDA out of memory\n"}]
        ]}});
        assert_eq!(
            state_of_history("http://h", &entry),
            JobState::Failed {
                reason: "KSampler: CUDA out of memory".into(),
                retryable: false
            }
        );
    }
}
