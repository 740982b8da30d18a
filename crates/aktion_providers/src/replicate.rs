//! Replicate predictions (PROVIDERS.md §1).

use reqwest::multipart::{Form, Part};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::client::{Providers, seg};
use crate::config::{KindConfig, Target};
use crate::error::{ProviderError, Result};
use crate::http::Repeat;
use crate::request::{InputFile, JobRequest, build_input};
use crate::{JobHandle, JobState, Output, ProviderKind, job::tqdm_fraction};

const P: ProviderKind = ProviderKind::Replicate;

#[derive(Debug, Deserialize)]
struct Prediction {
    id: String,
    status: String,
    #[serde(default)]
    input: Value,
    #[serde(default)]
    output: Value,
    #[serde(default)]
    logs: Option<String>,
    #[serde(default)]
    error: Value,
    #[serde(default)]
    data_removed: bool,
}

pub(crate) async fn submit(
    p: &Providers,
    kind: &KindConfig,
    request: &JobRequest,
) -> Result<JobHandle> {
    let Target::Replicate { version, model } = &kind.target else {
        return Err(ProviderError::Config(
            "kind is not a Replicate target".into(),
        ));
    };
    let base = &p.endpoint(P).base_url;
    let input = build_input(kind, json!({}), request, |f| upload(p, f)).await?;
    let (url, body) = match (version, model) {
        (Some(v), _) => (
            format!("{base}/predictions"),
            json!({ "version": v, "input": input }),
        ),
        (None, Some(m)) => {
            let (owner, name) = m.split_once('/').ok_or_else(|| {
                ProviderError::Config(format!("Replicate model {m:?} is not owner/name"))
            })?;
            (
                format!("{base}/models/{}/{}/predictions", seg(owner), seg(name)),
                json!({ "input": input }),
            )
        }
        (None, None) => {
            return Err(ProviderError::Config(
                "Replicate target needs a version or a model".into(),
            ));
        }
    };
    // Replicate has no idempotency key: a create is repeated only on 429/503/refused connection.
    let pred: Prediction = p
        .send_json(
            P,
            Repeat::Submit {
                provider_dedupes: false,
            },
            |c| c.post(&url).json(&body),
        )
        .await?;
    let id = seg(&pred.id);
    Ok(crate::client::new_handle(
        P,
        request,
        pred.id,
        format!("{base}/predictions/{id}"),
        None,
        Some(format!("{base}/predictions/{id}/cancel")),
    ))
}

pub(crate) async fn poll(p: &Providers, handle: &JobHandle) -> Result<JobState> {
    let pred: Prediction = p
        .send_json(P, Repeat::Idempotent, |c| c.get(&handle.status_url))
        .await?;
    Ok(state_of(&pred))
}

fn state_of(pred: &Prediction) -> JobState {
    match pred.status.as_str() {
        // `starting` covers cold boots that can take minutes: the job waits for a worker.
        "starting" => JobState::Queued { position: None },
        "succeeded" => {
            let outputs = outputs_of(pred);
            if pred.data_removed || outputs.is_empty() {
                JobState::Failed {
                    reason: "the outputs were deleted by Replicate (API outputs are kept for one hour); run the node again".into(),
                    retryable: true,
                }
            } else {
                JobState::Succeeded { outputs }
            }
        }
        "failed" => JobState::Failed {
            reason: match &pred.error {
                Value::String(s) => s.clone(),
                Value::Null => "prediction failed".into(),
                other => other.to_string(),
            },
            retryable: false,
        },
        "canceled" => JobState::Cancelled,
        // Deadline passed before the prediction started; not billed, so running again is fine.
        "aborted" => JobState::Failed {
            reason: "aborted by Replicate before it started (deadline passed)".into(),
            retryable: true,
        },
        // `processing` and anything newer: still running. The overall timeout bounds unknowns.
        _ => JobState::Running {
            fraction: pred.logs.as_deref().and_then(tqdm_fraction),
        },
    }
}

/// File URLs in the model's output. For ControlNet models the output starts with the detected
/// map(s) followed by the samples, and public callers disagree on the index; the last
/// `num_samples` items (echoed back in `input`) are the generated images.
fn outputs_of(pred: &Prediction) -> Vec<Output> {
    let mut urls: Vec<String> = Vec::new();
    collect_urls(&pred.output, &mut urls);
    let samples = pred.input.get("num_samples").and_then(|n| match n {
        Value::String(s) => s.parse::<usize>().ok(),
        Value::Number(n) => n.as_u64().map(|n| n as usize),
        _ => None,
    });
    if let (Some(n), Value::Array(_)) = (samples, &pred.output)
        && n > 0
        && urls.len() > n
    {
        urls.drain(..urls.len() - n);
    }
    urls.into_iter()
        .map(|url| Output {
            provider: P,
            content_type: url
                .rsplit('/')
                .next()
                .and_then(crate::client::content_type_for),
            file_name: url.rsplit('/').next().map(str::to_owned),
            url,
        })
        .collect()
}

fn collect_urls(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) if s.starts_with("https:") || s.starts_with("http:") => {
            out.push(s.clone());
        }
        Value::Array(items) => items.iter().for_each(|i| collect_urls(i, out)),
        Value::Object(map) => map.values().for_each(|i| collect_urls(i, out)),
        _ => {}
    }
}

pub(crate) async fn cancel(p: &Providers, handle: &JobHandle) -> Result<()> {
    let Some(url) = &handle.cancel_url else {
        return Ok(());
    };
    p.send(P, Repeat::Idempotent, |c| c.post(url)).await?;
    Ok(())
}

#[derive(Deserialize)]
struct FileUrls {
    get: String,
}

/// The part of the Files API response we use.
#[derive(Deserialize)]
struct CreatedFile {
    urls: FileUrls,
}

/// Small files go inline as data URIs (not stored by Replicate); larger ones through the Files
/// API, whose `urls.get` is then used as the input value.
async fn upload(p: &Providers, file: InputFile) -> Result<String> {
    let limits = p.config().uploads;
    if file.bytes.len() <= limits.replicate_inline_max {
        return Ok(file.data_uri());
    }
    if file.bytes.len() > limits.upload_max {
        return Err(ProviderError::TooLarge {
            provider: P,
            what: "input file",
            limit: limits.upload_max as u64,
        });
    }
    let url = format!("{}/files", p.endpoint(P).base_url);
    let created: CreatedFile = p
        .send_json(P, Repeat::Idempotent, |c| {
            let part = Part::bytes(file.bytes.to_vec())
                .file_name(file.file_name.clone())
                .mime_str(&file.content_type)
                .unwrap_or_else(|_| {
                    Part::bytes(file.bytes.to_vec()).file_name(file.file_name.clone())
                });
            let form = Form::new()
                .part("content", part)
                .text("filename", file.file_name.clone())
                .text("type", file.content_type.clone());
            c.post(&url).multipart(form)
        })
        .await?;
    Ok(created.urls.get)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pred(status: &str, output: Value, input: Value) -> Prediction {
        Prediction {
            id: "x".into(),
            status: status.into(),
            input,
            output,
            logs: Some("  42%|████   | 42/100 [00:01<00:02]".into()),
            error: Value::Null,
            data_removed: false,
        }
    }

    #[test]
    fn scribble_output_keeps_the_last_num_samples() {
        let p = pred(
            "succeeded",
            json!(["https://d/map.png", "https://d/a.png", "https://d/b.png"]),
            json!({"num_samples": "2"}),
        );
        let JobState::Succeeded { outputs } = state_of(&p) else {
            panic!()
        };
        let urls: Vec<&str> = outputs.iter().map(|o| o.url.as_str()).collect();
        assert_eq!(urls, ["https://d/a.png", "https://d/b.png"]);
    }

    #[test]
    fn statuses_map_onto_the_job_model() {
        assert_eq!(
            state_of(&pred("starting", Value::Null, Value::Null)),
            JobState::Queued { position: None }
        );
        assert_eq!(
            state_of(&pred("processing", Value::Null, Value::Null)),
            JobState::Running {
                fraction: Some(0.42)
            }
        );
        assert_eq!(
            state_of(&pred("canceled", Value::Null, Value::Null)),
            JobState::Cancelled
        );
        assert!(matches!(
            state_of(&pred("aborted", Value::Null, Value::Null)),
            JobState::Failed {
                retryable: true,
                ..
            }
        ));
        let mut removed = pred("succeeded", Value::Null, Value::Null);
        removed.data_removed = true;
        assert!(
            matches!(state_of(&removed), JobState::Failed { retryable: true, ref reason } if reason.contains("one hour"))
        );
    }
}
