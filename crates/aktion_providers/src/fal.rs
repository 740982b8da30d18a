//! fal.ai queue (PROVIDERS.md §4).

use serde_json::{Value, json};

use crate::client::{Providers, content_type_for, seg};
use crate::config::{KindConfig, Target};
use crate::error::{ProviderError, Result};
use crate::http::{Repeat, json_message};
use crate::request::{InputFile, JobRequest, build_input};
use crate::{JobHandle, JobState, Output, ProviderKind};

const P: ProviderKind = ProviderKind::Fal;

/// Status, result and cancel live under `owner/app` only, even when the model id has a sub-path
/// (`fal-ai/flux/dev` is submitted to in full but polled under `fal-ai/flux`).
pub(crate) fn app_of(model_id: &str) -> Result<String> {
    let mut parts = model_id.trim_matches('/').split('/');
    match (parts.next(), parts.next()) {
        (Some(owner), Some(app)) if !owner.is_empty() && !app.is_empty() => {
            Ok(format!("{}/{}", seg(owner), seg(app)))
        }
        _ => Err(ProviderError::Config(format!(
            "fal model id {model_id:?} is not owner/app[/path]"
        ))),
    }
}

pub(crate) async fn submit(
    p: &Providers,
    kind: &KindConfig,
    request: &JobRequest,
) -> Result<JobHandle> {
    let Target::Fal { model_id } = &kind.target else {
        return Err(ProviderError::Config("kind is not a fal target".into()));
    };
    let base = &p.endpoint(P).base_url;
    let app = app_of(model_id)?;
    let body = build_input(kind, json!({}), request, |f| upload(p, f)).await?;
    let path: Vec<String> = model_id.trim_matches('/').split('/').map(seg).collect();
    let url = format!("{base}/{}", path.join("/"));
    let v: Value = p
        .send_json(
            P,
            Repeat::Submit {
                provider_dedupes: false,
            },
            |c| c.post(&url).json(&body),
        )
        .await?;
    let Some(rid) = v.get("request_id").and_then(Value::as_str) else {
        return Err(ProviderError::Decode {
            provider: P,
            message: "submit response has no request_id".into(),
        });
    };
    let req = format!("{base}/{app}/requests/{}", seg(rid));
    Ok(crate::client::new_handle(
        P,
        request,
        rid.to_owned(),
        format!("{req}/status?logs=1"),
        Some(req.clone()),
        Some(format!("{req}/cancel")),
    ))
}

/// 202 while queued or running, 200 once `COMPLETED`; both are plain successes here.
pub(crate) async fn poll(p: &Providers, handle: &JobHandle) -> Result<JobState> {
    let v: Value = p
        .send_json(P, Repeat::Idempotent, |c| c.get(&handle.status_url))
        .await?;
    match v.get("status").and_then(Value::as_str).unwrap_or_default() {
        "IN_QUEUE" => Ok(JobState::Queued {
            position: v
                .get("queue_position")
                .and_then(Value::as_u64)
                .map(|n| n as u32),
        }),
        // Failures are reported inside COMPLETED, with `error` / `error_type`.
        "COMPLETED" => match completed_error(&v) {
            Some(failed) => Ok(failed),
            None => result(p, handle).await,
        },
        // Not in the official types, but a third-party schema lists them: be lenient.
        "FAILED" | "ERROR" => Ok(completed_error(&v).unwrap_or(JobState::Failed {
            reason: "request failed".into(),
            retryable: false,
        })),
        "CANCELED" | "CANCELLED" => Ok(JobState::Cancelled),
        _ => Ok(JobState::Running { fraction: None }),
    }
}

fn completed_error(v: &Value) -> Option<JobState> {
    let error = v.get("error").filter(|e| !e.is_null())?;
    let error_type = v
        .get("error_type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let message = match error {
        Value::String(s) => s.clone(),
        other => json_message(other).unwrap_or_else(|| other.to_string()),
    };
    // Infrastructure failures (timeouts, scheduling) may well succeed on a second run; a
    // user-set request timeout or a model error will not.
    let retryable = matches!(
        error_type,
        "startup_timeout"
            | "runner_scheduling_failure"
            | "runner_connection_timeout"
            | "runner_disconnected"
            | "internal_error"
    );
    let reason = if error_type.is_empty() {
        message
    } else {
        format!("{message} ({error_type})")
    };
    Some(JobState::Failed { reason, retryable })
}

async fn result(p: &Providers, handle: &JobHandle) -> Result<JobState> {
    let Some(url) = &handle.result_url else {
        return Err(ProviderError::Config("fal handle has no result URL".into()));
    };
    match p
        .send_json::<Value>(P, Repeat::Idempotent, |c| c.get(url))
        .await
    {
        Ok(v) => {
            let mut outputs = Vec::new();
            collect_files(&v, &mut outputs);
            Ok(if outputs.is_empty() {
                JobState::Failed {
                    reason: "the model returned no files".into(),
                    retryable: false,
                }
            } else {
                JobState::Succeeded { outputs }
            })
        }
        // A model error (e.g. 422 validation) is delivered by the result endpoint.
        Err(ProviderError::Provider { message, .. }) => Ok(JobState::Failed {
            reason: message,
            retryable: false,
        }),
        Err(e) => Err(e),
    }
}

/// fal file objects look like `{url, content_type, file_name, ...}` anywhere in the output
/// (`images[]`, `video`, `audio_file`, ...).
fn collect_files(v: &Value, out: &mut Vec<Output>) {
    match v {
        Value::Object(map) => {
            if let Some(url) = map.get("url").and_then(Value::as_str) {
                let file_name = map
                    .get("file_name")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                let content_type = map
                    .get("content_type")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .or_else(|| file_name.as_deref().and_then(content_type_for));
                out.push(Output {
                    provider: P,
                    url: url.to_owned(),
                    content_type,
                    file_name,
                });
            } else {
                map.values().for_each(|v| collect_files(v, out));
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_files(v, out)),
        _ => {}
    }
}

pub(crate) async fn cancel(p: &Providers, handle: &JobHandle) -> Result<()> {
    let Some(url) = &handle.cancel_url else {
        return Ok(());
    };
    // OK, CANCELLATION_REQUESTED, ALREADY_COMPLETED and NOT_FOUND all leave nothing running.
    match p.send(P, Repeat::Idempotent, |c| c.put(url)).await {
        Ok(_) | Err(ProviderError::Gone { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

/// fal storage: `POST {storage}/storage/upload/initiate` → `{upload_url, file_url}`, then `PUT`.
pub(crate) async fn upload(p: &Providers, file: InputFile) -> Result<String> {
    let limits = p.config().uploads;
    if file.bytes.len() > limits.upload_max {
        return Err(ProviderError::TooLarge {
            provider: P,
            what: "input file",
            limit: limits.upload_max as u64,
        });
    }
    let url = format!(
        "{}/storage/upload/initiate?storage_type=fal-cdn-v3",
        p.config().fal_storage_url
    );
    let body = json!({ "content_type": file.content_type, "file_name": file.file_name });
    let v: Value = p
        .send_json(P, Repeat::Idempotent, |c| c.post(&url).json(&body))
        .await?;
    let (Some(put_url), Some(file_url)) = (
        v.get("upload_url").and_then(Value::as_str),
        v.get("file_url").and_then(Value::as_str),
    ) else {
        return Err(ProviderError::Decode {
            provider: P,
            message: "upload initiate response lacks upload_url/file_url".into(),
        });
    };
    p.http
        .put_presigned(P, &p.config().fal_storage_url, put_url, &file)
        .await?;
    Ok(file_url.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_paths_use_owner_and_app_only() {
        assert_eq!(app_of("fal-ai/flux/dev").unwrap(), "fal-ai/flux");
        assert_eq!(app_of("fal-ai/fast-sdxl").unwrap(), "fal-ai/fast-sdxl");
        assert!(app_of("flux").is_err());
    }

    #[test]
    fn failure_inside_completed() {
        let v = json!({"status": "COMPLETED", "error": "Out of memory", "error_type": "runner_disconnected"});
        assert_eq!(
            completed_error(&v),
            Some(JobState::Failed {
                reason: "Out of memory (runner_disconnected)".into(),
                retryable: true
            })
        );
        assert_eq!(
            completed_error(&json!({"status": "COMPLETED", "logs": []})),
            None
        );
    }
}
