//! "Test connection" (Settings → Providers): one cheap, read-only, authenticated request per
//! provider that tells a filmmaker whether the address answers and the key is accepted — and,
//! for ComfyUI, which shipped workflows the server has every model for. Nothing is submitted,
//! so a check never costs anything.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::ProviderKind;
use crate::client::{Providers, seg};
use crate::config::{KEY_VARIABLES, ProvidersConfig, Target};
use crate::error::ProviderError;
use crate::http::Repeat;

/// The outcome of a connection test, in words for the Settings window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionCheck {
    /// The address answered and the key (if the provider needs one) was accepted.
    pub ok: bool,
    /// One line: "connected: key accepted", "key refused", "cannot reach ...".
    pub summary: String,
    /// More lines: deployments found or not, ComfyUI models missing per kind.
    pub details: Vec<String>,
}

impl ConnectionCheck {
    fn ok(summary: impl Into<String>) -> Self {
        Self {
            ok: true,
            summary: summary.into(),
            details: Vec::new(),
        }
    }

    fn failed(summary: impl Into<String>) -> Self {
        Self {
            ok: false,
            summary: summary.into(),
            details: Vec::new(),
        }
    }

    fn from_error(e: &ProviderError) -> Self {
        Self::failed(match e {
            ProviderError::Auth { status, .. } => {
                format!("the key was refused ({status}): check it, or save a new one")
            }
            ProviderError::Transport { .. } | ProviderError::Timeout { .. } => {
                format!("cannot reach the service: {e}")
            }
            other => other.to_string(),
        })
    }
}

/// The variable (and secret store name) of a provider's key.
pub fn key_variable(provider: ProviderKind) -> Option<&'static str> {
    let name = match provider {
        ProviderKind::Replicate => "REPLICATE_API_TOKEN",
        ProviderKind::RunComfy => "RUNCOMFY_API_TOKEN",
        ProviderKind::A2e => "A2E_API_KEY",
        ProviderKind::Fal => "FAL_KEY",
        ProviderKind::ComfyUi => return None,
    };
    debug_assert!(KEY_VARIABLES.contains(&name));
    Some(name)
}

impl ProvidersConfig {
    /// The same configuration with a person waiting on the answer: one retry, short timeouts
    /// (a job's client retries for minutes; a connection test must answer in seconds).
    #[must_use]
    pub fn for_connection_test(mut self) -> Self {
        self.http.retry.max_retries = 1;
        self.http.retry.max_retry_after = std::time::Duration::from_secs(5);
        self.http.connect_timeout = std::time::Duration::from_secs(5);
        self.http.request_timeout = std::time::Duration::from_secs(15);
        self
    }
}

impl Providers {
    /// Tests the connection to `provider` with the configured address and key.
    pub async fn check(&self, provider: ProviderKind) -> ConnectionCheck {
        if provider != ProviderKind::ComfyUi && self.key(provider).is_none() {
            return ConnectionCheck::failed(format!(
                "no API key: save one here or set {}",
                key_variable(provider).unwrap_or("its variable")
            ));
        }
        match provider {
            ProviderKind::Replicate => self.check_replicate().await,
            ProviderKind::RunComfy => self.check_runcomfy().await,
            ProviderKind::A2e => self.check_a2e().await,
            ProviderKind::Fal => self.check_fal().await,
            ProviderKind::ComfyUi => self.check_comfyui().await,
        }
    }

    async fn get(&self, provider: ProviderKind, url: &str) -> Result<Value, ProviderError> {
        self.send_json::<Value>(provider, Repeat::Idempotent, |c| c.get(url))
            .await
    }

    /// `GET /predictions` lists the account's predictions: it needs a valid token.
    async fn check_replicate(&self) -> ConnectionCheck {
        let url = format!(
            "{}/predictions",
            self.endpoint(ProviderKind::Replicate).base_url
        );
        match self.get(ProviderKind::Replicate, &url).await {
            Ok(_) => ConnectionCheck::ok("connected: key accepted"),
            Err(e) => ConnectionCheck::from_error(&e),
        }
    }

    /// Each configured deployment is looked up (`GET /prod/v2/deployments/{id}`), so a wrong
    /// deployment id shows here rather than on a node.
    async fn check_runcomfy(&self) -> ConnectionCheck {
        let base = &self.endpoint(ProviderKind::RunComfy).base_url;
        let mut deployments: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (kind, cfg) in &self.config().kinds {
            if let Target::RunComfy { deployment_id } = &cfg.target {
                deployments
                    .entry(deployment_id.clone())
                    .or_default()
                    .push(kind.clone());
            }
        }
        let mut check = ConnectionCheck::ok("connected: key accepted");
        for (id, kinds) in deployments {
            let kinds = kinds.join(", ");
            if id.trim().is_empty() {
                check.details.push(format!(
                    "{kinds}: no deployment id (set WAN_FUN_INP_DEPLOYMENT_ID or RUNCOMFY_DEPLOYMENT_ID)"
                ));
                continue;
            }
            let url = format!("{base}/prod/v2/deployments/{}?includes=payload", seg(&id));
            match self.get(ProviderKind::RunComfy, &url).await {
                Ok(v) if v.get("error_code").is_some_and(|c| !c.is_null()) => {
                    check
                        .details
                        .push(format!("{kinds}: deployment {id} refused"));
                }
                Ok(v) => {
                    check
                        .details
                        .push(format!("{kinds}: deployment {id} found"));
                    // With the deployed workflow at hand, each kind's mapping is checked
                    // against it; without (no management access) it is taken as given.
                    let Some(workflow) = crate::runcomfy::workflow_of(&v) else {
                        continue;
                    };
                    for kind in kinds.split(", ") {
                        let Some(cfg) = self.config().kinds.get(kind) else {
                            continue;
                        };
                        let problems = crate::runcomfy::mapping_problems(&workflow, cfg);
                        if problems.is_empty() {
                            check.details.push(format!(
                                "{kind}: every input lands on the deployment's workflow"
                            ));
                        } else {
                            check.ok = false;
                            for p in problems {
                                check.details.push(format!("{kind}: {p}"));
                            }
                        }
                    }
                }
                Err(ProviderError::Gone { .. }) => {
                    check.ok = false;
                    check
                        .details
                        .push(format!("{kinds}: deployment {id} not found"));
                }
                Err(e) => return ConnectionCheck::from_error(&e),
            }
        }
        check
    }

    /// A read of the text-to-image task list; A2E answers errors inside HTTP 200.
    async fn check_a2e(&self) -> ConnectionCheck {
        let url = format!(
            "{}/api/v1/userText2Image/allRecords",
            self.endpoint(ProviderKind::A2e).base_url
        );
        match self.get(ProviderKind::A2e, &url).await {
            Ok(v) => match v.get("code").and_then(Value::as_i64) {
                Some(0) => ConnectionCheck::ok("connected: key accepted"),
                Some(code) => ConnectionCheck::failed(format!(
                    "the service refused: {} (code {code})",
                    crate::http::json_message(&v).unwrap_or_else(|| "no message".into())
                )),
                None => ConnectionCheck::failed("the answer is not A2E's (no `code` envelope)"),
            },
            Err(e) => ConnectionCheck::from_error(&e),
        }
    }

    /// fal has no account endpoint on its queue host: the status of a request that does not
    /// exist is asked for each configured app; 404 means the key was accepted, 401/403 not.
    async fn check_fal(&self) -> ConnectionCheck {
        let base = &self.endpoint(ProviderKind::Fal).base_url;
        let apps: BTreeSet<String> = self
            .config()
            .kinds
            .values()
            .filter_map(|k| match &k.target {
                Target::Fal { model_id } => crate::fal::app_of(model_id).ok(),
                _ => None,
            })
            .collect();
        let Some(app) = apps.first() else {
            return ConnectionCheck::ok("key saved; no node kind is configured to use fal");
        };
        let url = format!("{base}/{app}/requests/00000000-0000-4000-8000-000000000000/status");
        match self.get(ProviderKind::Fal, &url).await {
            Ok(_) | Err(ProviderError::Gone { .. } | ProviderError::Provider { .. }) => {
                ConnectionCheck::ok("connected: key accepted")
            }
            Err(e) => ConnectionCheck::from_error(&e),
        }
    }

    /// `GET /system_stats` for the version and device, then `/object_info/{class}` for every
    /// model loader of the configured workflows: which kinds are ready and which model files
    /// the server lacks.
    async fn check_comfyui(&self) -> ConnectionCheck {
        let base = &self.endpoint(ProviderKind::ComfyUi).base_url;
        let stats = match self
            .get(ProviderKind::ComfyUi, &format!("{base}/system_stats"))
            .await
        {
            Ok(v) => v,
            Err(e) => return ConnectionCheck::from_error(&e),
        };
        let version = stats
            .pointer("/system/comfyui_version")
            .and_then(Value::as_str)
            .unwrap_or("unknown version");
        let device = stats
            .pointer("/devices/0/name")
            .and_then(Value::as_str)
            .unwrap_or("no device reported");
        let mut check = ConnectionCheck::ok(format!("connected: ComfyUI {version} on {device}"));

        // (kind, class, input, file) for every model file the workflows load.
        let mut needs: Vec<(String, String, String, String)> = Vec::new();
        for (name, cfg) in &self.config().kinds {
            let Target::ComfyUi { workflow } = &cfg.target else {
                continue;
            };
            let kind = name.strip_prefix("comfyui:").unwrap_or(name).to_owned();
            for node in workflow.as_object().into_iter().flatten().map(|(_, n)| n) {
                let Some(class) = node.get("class_type").and_then(Value::as_str) else {
                    continue;
                };
                for (input, value) in node
                    .get("inputs")
                    .and_then(Value::as_object)
                    .into_iter()
                    .flatten()
                {
                    if let (true, Some(file)) = (input.ends_with("_name"), value.as_str()) {
                        needs.push((
                            kind.clone(),
                            class.to_owned(),
                            input.clone(),
                            file.to_owned(),
                        ));
                    }
                }
            }
        }
        let mut options: BTreeMap<(String, String), Option<BTreeSet<String>>> = BTreeMap::new();
        for (_, class, input, _) in &needs {
            if options.contains_key(&(class.clone(), input.clone())) {
                continue;
            }
            let url = format!("{base}/object_info/{}", seg(class));
            let listed = match self.get(ProviderKind::ComfyUi, &url).await {
                Ok(info) => combo_options(&info, class, input),
                Err(e) => return ConnectionCheck::from_error(&e),
            };
            options.insert((class.clone(), input.clone()), listed);
        }
        let mut missing: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut kinds = BTreeSet::new();
        for (kind, class, input, file) in needs {
            kinds.insert(kind.clone());
            match options.get(&(class.clone(), input)) {
                Some(Some(files)) if files.contains(&file) => {}
                Some(None) | None => {
                    missing
                        .entry(kind)
                        .or_default()
                        .insert(format!("{file} (no {class} node)"));
                }
                Some(Some(_)) => {
                    missing.entry(kind).or_default().insert(file);
                }
            }
        }
        let ready: Vec<&String> = kinds.iter().filter(|k| !missing.contains_key(*k)).collect();
        if !ready.is_empty() {
            check.details.push(format!(
                "ready: {}",
                ready
                    .iter()
                    .map(|k| k.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        for (kind, files) in missing {
            check.details.push(format!(
                "{kind} needs {}",
                files.into_iter().collect::<Vec<_>>().join(", ")
            ));
        }
        check
    }
}

/// The option list of `input` in `/object_info/{class}`: V1 nodes give `[[options...], {...}]`,
/// V3 nodes `["COMBO", {"options": [...]}]`. `None` when the server has no such node or input.
fn combo_options(info: &Value, class: &str, input: &str) -> Option<BTreeSet<String>> {
    let spec = ["required", "optional"]
        .iter()
        .find_map(|section| info.get(class)?.get("input")?.get(section)?.get(input))?;
    let list = match spec.get(0)? {
        Value::Array(list) => list,
        Value::String(s) if s == "COMBO" => spec.get(1)?.get("options")?.as_array()?,
        _ => return None,
    };
    Some(
        list.iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn combo_options_read_both_object_info_forms() {
        let v1 = json!({"CheckpointLoaderSimple": {"input": {"required": {"ckpt_name": [["a.safetensors", "b.safetensors"], {}]}}}});
        let v3 = json!({"UNETLoader": {"input": {"required": {"unet_name": ["COMBO", {"options": ["w.safetensors"]}]}}}});
        assert_eq!(
            combo_options(&v1, "CheckpointLoaderSimple", "ckpt_name"),
            Some(["a.safetensors".to_owned(), "b.safetensors".to_owned()].into())
        );
        assert_eq!(
            combo_options(&v3, "UNETLoader", "unet_name"),
            Some(["w.safetensors".to_owned()].into())
        );
        assert_eq!(combo_options(&json!({}), "UNETLoader", "unet_name"), None);
        assert_eq!(
            combo_options(
                &json!({"UNETLoader": {"input": {"required": {"unet_name": "x"}}}}),
                "UNETLoader",
                "unet_name"
            ),
            None
        );
        assert_eq!(
            combo_options(&json!([1, 2]), "UNETLoader", "unet_name"),
            None
        );
    }
}
