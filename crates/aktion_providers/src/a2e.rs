//! A2E tasks (PROVIDERS.md §3): `POST /api/v1/<feature>/start`, `GET /api/v1/<feature>/{_id}`.

use serde_json::{Value, json};

use crate::client::{Providers, content_type_for, seg};
use crate::config::{KindConfig, Target};
use crate::error::{ProviderError, Result};
use crate::http::{Repeat, json_message};
use crate::request::{InputFile, InputValue, JobRequest, build_input};
use crate::{JobHandle, JobState, Output, ProviderKind};

const P: ProviderKind = ProviderKind::A2e;

/// A2E wraps everything in `{code, data, trace_id}`; `code != 0` is an error even with HTTP 200.
fn unwrap_envelope(v: &Value) -> Result<Value> {
    match v.get("code").and_then(Value::as_i64) {
        Some(0) => Ok(v.get("data").cloned().unwrap_or(Value::Null)),
        Some(code) => Err(ProviderError::Provider {
            provider: P,
            status: None,
            message: format!(
                "{} (code {code})",
                json_message(v).unwrap_or_else(|| "request refused".into())
            ),
        }),
        None => Err(ProviderError::Decode {
            provider: P,
            message: "response has no `code` envelope".into(),
        }),
    }
}

pub(crate) async fn submit(
    p: &Providers,
    kind: &KindConfig,
    request: &JobRequest,
) -> Result<JobHandle> {
    let Target::A2e { feature } = &kind.target else {
        return Err(ProviderError::Config("kind is not an A2E target".into()));
    };
    // Every local input gets its URL first: with nowhere to host one, nothing is sent.
    let host = p.input_host(P)?;
    if host.is_none() && has_files(kind, request) {
        return Err(ProviderError::Config(crate::hosting::no_host_message(P)));
    }
    let body = build_input(kind, json!({}), request, |f| {
        let host = host.clone();
        async move {
            match host {
                Some(host) => p.host_input(&host, f).await,
                None => Err(ProviderError::Config(crate::hosting::no_host_message(P))),
            }
        }
    })
    .await?;
    let base = format!("{}/api/v1/{}", p.endpoint(P).base_url, seg(feature));
    let url = format!("{base}/start");
    let v: Value = p
        .send_json(
            P,
            Repeat::Submit {
                provider_dedupes: false,
            },
            |c| c.post(&url).json(&body),
        )
        .await?;
    let data = unwrap_envelope(&v)?;
    let Some(id) = data.get("_id").and_then(Value::as_str) else {
        return Err(ProviderError::Decode {
            provider: P,
            message: "start response has no data._id".into(),
        });
    };
    let task = format!("{base}/{}", seg(id));
    Ok(crate::client::new_handle(
        P,
        request,
        id.to_owned(),
        task.clone(),
        None,
        Some(task),
    ))
}

pub(crate) async fn poll(p: &Providers, handle: &JobHandle) -> Result<JobState> {
    let v: Value = p
        .send_json(P, Repeat::Idempotent, |c| c.get(&handle.status_url))
        .await?;
    let data = unwrap_envelope(&v)?;
    Ok(state_of(&data))
}

fn state_of(data: &Value) -> JobState {
    let s = |k: &str| data.get(k).and_then(Value::as_str).unwrap_or_default();
    match s("current_status") {
        "initialized" => JobState::Submitted,
        "sent" | "pending" => JobState::Queued { position: None },
        "completed" => {
            let mut urls: Vec<String> = Vec::new();
            if !s("result_url").is_empty() {
                urls.push(s("result_url").to_owned());
            }
            if let Some(list) = data.get("image_urls").and_then(Value::as_array) {
                urls.extend(list.iter().filter_map(Value::as_str).map(str::to_owned));
            }
            if urls.is_empty() {
                return JobState::Failed {
                    reason: "task completed without a result URL".into(),
                    retryable: true,
                };
            }
            JobState::Succeeded {
                outputs: urls
                    .into_iter()
                    .map(|url| {
                        let name = url
                            .split('?')
                            .next()
                            .and_then(|u| u.rsplit('/').next())
                            .map(str::to_owned);
                        Output {
                            provider: P,
                            content_type: name.as_deref().and_then(content_type_for),
                            file_name: name,
                            url,
                        }
                    })
                    .collect(),
            }
        }
        "failed" => JobState::Failed {
            reason: match s("failed_message") {
                "" => "task failed".into(),
                m => m.to_owned(),
            },
            retryable: false,
        },
        _ => JobState::Running { fraction: None },
    }
}

pub(crate) async fn cancel(p: &Providers, handle: &JobHandle) -> Result<()> {
    let Some(url) = &handle.cancel_url else {
        return Ok(());
    };
    // A2E has no cancel; deleting the task is the documented way to drop it.
    let v: Value = p
        .send_json(P, Repeat::Idempotent, |c| c.delete(url))
        .await?;
    unwrap_envelope(&v).map(|_| ())
}

/// Whether a mapped input of the request is a local file (lists included).
fn has_files(kind: &KindConfig, request: &JobRequest) -> bool {
    fn file(v: &InputValue) -> bool {
        match v {
            InputValue::File(_) => true,
            InputValue::List(items) => items.iter().any(file),
            InputValue::Json(_) | InputValue::Url(_) => false,
        }
    }
    kind.inputs
        .iter()
        .any(|m| request.inputs.get(&m.from).is_some_and(file))
}

/// The presigned-URL endpoint public clients use ([C] in PROVIDERS.md 3.1, not in A2E's
/// documentation): `POST /api/v1/r2/upload-presigned-url` then `PUT` the bytes. Only called
/// when the user turned it on (`InputHostConfig::a2e_presigned_upload`).
pub(crate) async fn presigned_upload(p: &Providers, file: InputFile) -> Result<String> {
    let url = format!("{}/api/v1/r2/upload-presigned-url", p.endpoint(P).base_url);
    let key = format!("aktion/{:016x}-{}", fastrand::u64(..), file.file_name);
    let body = json!({ "key": key, "fileType": file.content_type });
    let v: Value = p
        .send_json(P, Repeat::Idempotent, |c| c.post(&url).json(&body))
        .await?;
    let data = unwrap_envelope(&v)?;
    let (Some(put_url), Some(public)) = (
        data.get("uploadUrl").and_then(Value::as_str),
        data.get("publicUrl").and_then(Value::as_str),
    ) else {
        return Err(ProviderError::Decode {
            provider: P,
            message: "presigned upload response lacks uploadUrl/publicUrl".into(),
        });
    };
    p.http
        .put_presigned(P, &p.endpoint(P).base_url, put_url, &file)
        .await?;
    Ok(public.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonzero_code_is_an_error_even_with_http_200() {
        let err =
            unwrap_envelope(&json!({"code": 1001, "msg": "insufficient coins", "trace_id": "t"}))
                .unwrap_err();
        assert!(err.to_string().contains("insufficient coins"), "{err}");
        assert_eq!(
            unwrap_envelope(&json!({"code": 0, "data": {"_id": "a"}})).unwrap(),
            json!({"_id": "a"})
        );
    }

    #[test]
    fn statuses_map_onto_the_job_model() {
        assert_eq!(
            state_of(&json!({"current_status": "initialized"})),
            JobState::Submitted
        );
        assert_eq!(
            state_of(&json!({"current_status": "pending"})),
            JobState::Queued { position: None }
        );
        assert_eq!(
            state_of(&json!({"current_status": "processing"})),
            JobState::Running { fraction: None }
        );
        assert_eq!(
            state_of(&json!({"current_status": "failed", "failed_message": "no face found"})),
            JobState::Failed {
                reason: "no face found".into(),
                retryable: false
            }
        );
        let JobState::Succeeded { outputs } = state_of(
            &json!({"current_status": "completed", "result_url": "https://c/x.mp4?sig=1"}),
        ) else {
            panic!()
        };
        assert_eq!(outputs[0].content_type.as_deref(), Some("video/mp4"));
    }
}
