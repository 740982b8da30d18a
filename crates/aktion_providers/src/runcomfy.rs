//! RunComfy serverless deployments (PROVIDERS.md §2).

use serde::Deserialize;
use serde_json::{Value, json};

use crate::client::{Providers, content_type_for, seg};
use crate::config::{KindConfig, Target};
use crate::error::{ProviderError, Result};
use crate::http::{Repeat, json_message};
use crate::request::{InputFile, JobRequest, build_input};
use crate::{JobHandle, JobState, Output, ProviderKind};

const P: ProviderKind = ProviderKind::RunComfy;

/// Some RunComfy endpoints report errors with HTTP 200 and `{error_code, error_message}`; any
/// response carrying a non-null `error_code` is a failure whatever the status line said.
fn check_envelope(v: &Value) -> Result<()> {
    match v.get("error_code") {
        None | Some(Value::Null) => Ok(()),
        Some(code) => Err(ProviderError::Provider {
            provider: P,
            status: None,
            message: format!(
                "{} (error code {code})",
                v.get("error_message")
                    .and_then(Value::as_str)
                    .unwrap_or("request failed")
            ),
        }),
    }
}

/// The API-format workflow inside a deployment lookup (`GET /prod/v2/deployments/{id}
/// ?includes=payload`, PROVIDERS.md §2.2: the payload carries `workflow_api_json`): under
/// `payload` or at the top, as an object or as JSON text.
pub fn workflow_of(deployment: &Value) -> Option<Value> {
    let found = deployment
        .get("payload")
        .and_then(|p| p.get("workflow_api_json"))
        .or_else(|| deployment.get("workflow_api_json"))?;
    match found {
        Value::Object(_) => Some(found.clone()),
        Value::String(text) => serde_json::from_str::<Value>(text)
            .ok()
            .filter(Value::is_object),
        _ => None,
    }
}

/// What is wrong with a kind's override mapping for a deployment running `workflow`: each
/// mapping must name a node id of the workflow and an input that node has (RunComfy refuses
/// others). Empty when every mapping lands.
pub fn mapping_problems(workflow: &Value, kind: &KindConfig) -> Vec<String> {
    let mut problems = Vec::new();
    for map in &kind.inputs {
        let mut parts = map.to.splitn(3, '/');
        let (node, inputs, input) = (parts.next(), parts.next(), parts.next());
        let (Some(node), Some("inputs"), Some(input)) = (node, inputs, input) else {
            problems.push(format!(
                "{}: {:?} is not NODE_ID/inputs/INPUT_NAME",
                map.from, map.to
            ));
            continue;
        };
        match workflow.get(node) {
            None => problems.push(format!(
                "{}: node {node} is not in the deployment's workflow",
                map.from
            )),
            Some(n) if n.get("inputs").and_then(|i| i.get(input)).is_none() => {
                let class = n.get("class_type").and_then(Value::as_str).unwrap_or("?");
                problems.push(format!(
                    "{}: node {node} ({class}) has no input {input}",
                    map.from
                ));
            }
            Some(_) => {}
        }
    }
    problems
}

impl Providers {
    /// The workflow a RunComfy deployment runs, read through the management API; `Ok(None)`
    /// when the answer carries none (a key without management access: mappings are then taken
    /// as given).
    pub async fn deployment_workflow(&self, deployment_id: &str) -> Result<Option<Value>> {
        let url = format!(
            "{}/prod/v2/deployments/{}?includes=payload",
            self.endpoint(P).base_url,
            seg(deployment_id)
        );
        let v: Value = self
            .send_json(P, Repeat::Idempotent, |c| c.get(&url))
            .await?;
        check_envelope(&v)?;
        Ok(workflow_of(&v))
    }
}

pub(crate) async fn submit(
    p: &Providers,
    kind: &KindConfig,
    request: &JobRequest,
) -> Result<JobHandle> {
    let Target::RunComfy { deployment_id } = &kind.target else {
        return Err(ProviderError::Config(
            "kind is not a RunComfy target".into(),
        ));
    };
    if deployment_id.is_empty() {
        return Err(ProviderError::Config(format!(
            "no RunComfy deployment id for node kind {:?} (set WAN_FUN_INP_DEPLOYMENT_ID / CREATE_COHERENT_DEPLOYMENT_ID)",
            request.kind
        )));
    }
    let overrides = build_input(kind, json!({}), request, |f| {
        std::future::ready(inline(p, &f))
    })
    .await?;
    let dep = format!(
        "{}/prod/v1/deployments/{}",
        p.endpoint(P).base_url,
        seg(deployment_id)
    );
    let url = format!("{dep}/inference");
    let body = json!({ "overrides": overrides });
    let v: Value = p
        .send_json(
            P,
            Repeat::Submit {
                provider_dedupes: false,
            },
            |c| c.post(&url).json(&body),
        )
        .await?;
    check_envelope(&v)?;
    let Some(rid) = v.get("request_id").and_then(Value::as_str) else {
        return Err(ProviderError::Decode {
            provider: P,
            message: "submit response has no request_id".into(),
        });
    };
    let req = format!("{dep}/requests/{}", seg(rid));
    Ok(crate::client::new_handle(
        P,
        request,
        rid.to_owned(),
        format!("{req}/status"),
        Some(format!("{req}/result")),
        Some(format!("{req}/cancel")),
    ))
}

#[derive(Debug, Deserialize)]
struct Status {
    #[serde(default)]
    status: String,
    #[serde(default)]
    queue_position: Option<u32>,
}

pub(crate) async fn poll(p: &Providers, handle: &JobHandle) -> Result<JobState> {
    let v: Value = p
        .send_json(P, Repeat::Idempotent, |c| c.get(&handle.status_url))
        .await?;
    check_envelope(&v)?;
    let status: Status = decode(v)?;
    match status.status.as_str() {
        "in_queue" => Ok(JobState::Queued {
            position: status.queue_position,
        }),
        "cancelled" | "canceled" => Ok(JobState::Cancelled),
        // The verdict lives in /result only (the live-tested Go client sees just `completed`).
        "completed" | "succeeded" | "failed" => result(p, handle).await,
        _ => Ok(JobState::Running { fraction: None }),
    }
}

fn decode<T: serde::de::DeserializeOwned>(v: Value) -> Result<T> {
    serde_json::from_value(v).map_err(|e| ProviderError::Decode {
        provider: P,
        message: e.to_string(),
    })
}

async fn result(p: &Providers, handle: &JobHandle) -> Result<JobState> {
    let Some(url) = &handle.result_url else {
        return Err(ProviderError::Config(
            "RunComfy handle has no result URL".into(),
        ));
    };
    let v: Value = p.send_json(P, Repeat::Idempotent, |c| c.get(url)).await?;
    // An error envelope on /result is the job's failure, reported inside HTTP 200.
    if let Err(ProviderError::Provider { message, .. }) = check_envelope(&v) {
        return Ok(JobState::Failed {
            reason: message,
            retryable: false,
        });
    }
    let status = v.get("status").and_then(Value::as_str).unwrap_or_default();
    Ok(match status {
        "succeeded" | "completed" => {
            let outputs = outputs_of(&v);
            if outputs.is_empty() {
                JobState::Failed {
                    reason: "the workflow finished without any output file".into(),
                    retryable: false,
                }
            } else {
                JobState::Succeeded { outputs }
            }
        }
        "failed" => JobState::Failed {
            reason: failure_message(&v),
            retryable: false,
        },
        "cancelled" | "canceled" => JobState::Cancelled,
        "in_queue" => JobState::Queued { position: None },
        _ => JobState::Running { fraction: None },
    })
}

fn failure_message(v: &Value) -> String {
    // `error` is a list of {errorCode, error, debugInfo}; fall back to any message field.
    if let Some(Value::Array(items)) = v.get("error") {
        let parts: Vec<&str> = items
            .iter()
            .filter_map(|i| i.get("error").and_then(Value::as_str))
            .collect();
        if !parts.is_empty() {
            return parts.join("; ");
        }
    }
    json_message(v).unwrap_or_else(|| "the workflow failed".into())
}

/// Every channel item with a `url` under any output node (`images`, `gifs`, `videos`, ...). Core
/// `SaveVideo` puts videos under `images` with `animated: [true]`.
pub(crate) fn outputs_of(v: &Value) -> Vec<Output> {
    let mut outputs = Vec::new();
    let Some(Value::Object(nodes)) = v.get("outputs") else {
        return outputs;
    };
    for node in nodes.values() {
        let Value::Object(channels) = node else {
            continue;
        };
        let animated = channels
            .get("animated")
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|b| b.as_bool() == Some(true)));
        for items in channels.values().filter_map(Value::as_array) {
            for item in items {
                let Some(url) = item.get("url").and_then(Value::as_str) else {
                    continue;
                };
                let file_name = item
                    .get("filename")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                let content_type = file_name
                    .as_deref()
                    .and_then(content_type_for)
                    .or_else(|| animated.then(|| "video/mp4".to_owned()));
                outputs.push(Output {
                    provider: P,
                    url: url.to_owned(),
                    content_type,
                    file_name,
                });
            }
        }
    }
    outputs
}

pub(crate) async fn cancel(p: &Providers, handle: &JobHandle) -> Result<()> {
    let Some(url) = &handle.cancel_url else {
        return Ok(());
    };
    let v: Value = p.send_json(P, Repeat::Idempotent, |c| c.post(url)).await?;
    check_envelope(&v)?;
    // The Go client reads `status`, the official MCP reads `outcome`: accept both.
    let outcome = v
        .get("status")
        .or_else(|| v.get("outcome"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    if outcome == "not_cancellable" {
        return Err(ProviderError::Provider {
            provider: P,
            status: None,
            message: "the job can no longer be cancelled".into(),
        });
    }
    Ok(())
}

/// RunComfy has no file API; `LoadImage` inputs take a public URL or a data URI.
fn inline(p: &Providers, file: &InputFile) -> Result<String> {
    let max = p.config().uploads.runcomfy_inline_max;
    if file.bytes.len() > max {
        return Err(ProviderError::TooLarge {
            provider: P,
            what: "inline input (pass a public URL instead)",
            limit: max as u64,
        });
    }
    Ok(file.data_uri())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_inside_http_200_is_a_failure() {
        let v = json!({"error_code": 1003, "error_message": "deployment not found"});
        let err = check_envelope(&v).unwrap_err();
        assert!(err.to_string().contains("deployment not found"));
        assert!(check_envelope(&json!({"request_id": "r", "error_code": null})).is_ok());
    }

    #[test]
    fn video_under_images_with_animated() {
        let v = json!({"status": "succeeded", "outputs": {
            "58": {"images": [{"filename": "ComfyUI_00001_.mp4", "subfolder": "", "type": "output", "url": "https://s/v.mp4"}], "animated": [true]},
            "38:42": {"text": [["a caption"]]}
        }});
        let outs = outputs_of(&v);
        assert_eq!(outs.len(), 1);
        assert_eq!(outs[0].content_type.as_deref(), Some("video/mp4"));
        assert_eq!(
            failure_message(&json!({"error": [{"errorCode": 1, "error": "OOM", "debugInfo": ""}]})),
            "OOM"
        );
    }
}
