//! Configuration as data: where each provider lives, its key, and how each node kind maps onto a
//! provider model, deployment or workflow. Defaults follow PRODUCT.md §3; every value can be
//! overridden (environment, config file, Settings) without touching code.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::hosting::{
    A2E_PRESIGNED_UPLOAD_ENV, BucketConfig, INPUT_BUCKET_ENDPOINT_ENV, INPUT_BUCKET_ENV,
    InputHostConfig,
};
use crate::http::HttpSettings;
use crate::secret::ApiKey;
use crate::{MediaKind, ProviderKind};

/// One provider's address, key and polling cadence.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Without a trailing slash. Replicate's includes `/v1`.
    pub base_url: String,
    pub key: Option<ApiKey>,
    pub poll_interval: Duration,
}

impl Endpoint {
    fn new(base_url: &str, key: Option<ApiKey>, poll_interval: Duration) -> Self {
        Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            key,
            poll_interval,
        }
    }
}

/// How a provider accepts file inputs and where we draw the line for inline data URIs.
#[derive(Debug, Clone, Copy)]
pub struct UploadLimits {
    /// Replicate's OpenAPI text: data URLs for files up to 256 KB; larger go through its Files API.
    pub replicate_inline_max: usize,
    /// RunComfy takes data URIs (it has no file API); large ones slow requests down, so beyond
    /// this size the caller must pass a public URL instead.
    pub runcomfy_inline_max: usize,
    /// Refuse to upload anything bigger than this anywhere.
    pub upload_max: usize,
}

impl Default for UploadLimits {
    fn default() -> Self {
        Self {
            replicate_inline_max: 256 * 1024,
            runcomfy_inline_max: 20 * 1024 * 1024,
            upload_max: 100 * 1024 * 1024,
        }
    }
}

/// Where a node kind runs. The provider follows from the variant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "provider", rename_all = "snake_case")]
pub enum Target {
    /// `version` → `POST /predictions`; otherwise `model` (`owner/name`) →
    /// `POST /models/{owner}/{name}/predictions` (official models have no version).
    Replicate {
        version: Option<String>,
        model: Option<String>,
    },
    #[serde(rename = "runcomfy")]
    RunComfy { deployment_id: String },
    /// `feature` is the path segment of `/api/v1/<feature>/start`, e.g. `talkingPhoto`.
    A2e { feature: String },
    /// Full model id including any sub-path, e.g. `fal-ai/flux/dev`.
    Fal { model_id: String },
    /// An API-format workflow; the input mapping writes into it by node id.
    #[serde(rename = "comfyui")]
    ComfyUi { workflow: Value },
}

impl Target {
    pub fn provider(&self) -> ProviderKind {
        match self {
            Self::Replicate { .. } => ProviderKind::Replicate,
            Self::RunComfy { .. } => ProviderKind::RunComfy,
            Self::A2e { .. } => ProviderKind::A2e,
            Self::Fal { .. } => ProviderKind::Fal,
            Self::ComfyUi { .. } => ProviderKind::ComfyUi,
        }
    }
}

/// How a value is written into the provider's request. Besides plain JSON, a few transforms let
/// configuration (not code) bridge the catalog's parameters and a provider's inputs: an aspect
/// ratio to a workflow's width and height, seconds to frames, a style appended to the prompt.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Encode {
    #[default]
    Json,
    /// Numbers become strings: ControlNet Scribble's `num_samples` and `image_resolution` are
    /// string enums and reject integers with a 422.
    String,
    /// The value (a choice such as `"16:9"` or `"512"`) picks the written value from a table;
    /// a value missing from the table is a clear error, never a guess.
    Lookup(BTreeMap<String, Value>),
    /// A number `v` becomes `round(v × scale / step) × step + offset`, an integer (seconds to
    /// frames: Wan wants `4k + 1` frames, so `scale` = fps, `step` 4, `offset` 1).
    Linear {
        scale: f64,
        #[serde(default = "one")]
        step: f64,
        #[serde(default)]
        offset: f64,
    },
    /// Appended to the string already at the target (e.g. the prompt): `{}` in the pattern
    /// stands for the value, so `", {} style"` turns a style choice into a prompt suffix.
    Append(String),
}

fn one() -> f64 {
    1.0
}

/// Copies the node input `from` to the slash-separated path `to` inside the provider's input
/// object (Replicate `input`, RunComfy `overrides`, A2E/fal body, ComfyUI workflow).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldMap {
    pub from: String,
    pub to: String,
    #[serde(default)]
    pub encode: Encode,
    #[serde(default)]
    pub required: bool,
}

impl FieldMap {
    pub fn new(from: &str, to: &str) -> Self {
        Self {
            from: from.into(),
            to: to.into(),
            encode: Encode::Json,
            required: false,
        }
    }
    #[must_use]
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }
    #[must_use]
    pub fn string_enum(mut self) -> Self {
        self.encode = Encode::String;
        self
    }
    #[must_use]
    pub fn encoded(mut self, encode: Encode) -> Self {
        self.encode = encode;
        self
    }
}

/// Everything the clients need to run one node kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KindConfig {
    pub target: Target,
    pub inputs: Vec<FieldMap>,
    /// Constant fields merged into the provider's input object before the mapped inputs.
    #[serde(default)]
    pub fixed: Value,
    pub output: MediaKind,
    /// Overall budget from submit to outputs, across restarts.
    pub timeout_secs: u64,
}

impl KindConfig {
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs)
    }

    /// Of the catalog parameters `names`, those no mapping reads (under their own name or
    /// their provider alias, see `INPUT_ALIASES`): the model does not take them.
    pub fn unmapped<'a>(&self, names: impl IntoIterator<Item = &'a str>) -> Vec<String> {
        let read = |name: &str| self.inputs.iter().any(|m| m.from == name);
        names
            .into_iter()
            .filter(|name| {
                let alias = crate::request::INPUT_ALIASES
                    .iter()
                    .find(|(from, _)| from == name)
                    .map(|(_, to)| *to);
                !read(name) && !alias.is_some_and(read)
            })
            .map(str::to_owned)
            .collect()
    }

    /// Of the catalog inputs `(id, is_list)`, those no mapping reads: a list input also counts
    /// as read through its items (`image_1`, `image_2`, ..., see `JobRequest::insert_list`).
    pub fn unmapped_inputs<'a>(
        &self,
        inputs: impl IntoIterator<Item = (&'a str, bool)>,
    ) -> Vec<String> {
        let by_item = self.inputs.iter().any(|m| {
            m.from
                .strip_prefix("image_")
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        });
        inputs
            .into_iter()
            .filter(|(_, list)| !(*list && by_item))
            .flat_map(|(id, _)| self.unmapped([id]))
            .collect()
    }
}

/// The pinned ControlNet Scribble version used by nearly all public callers (PROVIDERS.md 1.14).
pub const SCRIBBLE_VERSION: &str =
    "435061a1b5a4c1e26740464bf786efdfa9cb3a3ac488595a2de23e143fdb0117";
/// The seed's `CREATE_COHERENT` deployment.
pub const COHERENT_DEPLOYMENT: &str = "437a16af-d5ad-4eff-a6d9-3e094c5c0e6c";
/// The six `LoadImage` node ids of the `CREATE_COHERENT` workflow (PRODUCT.md §3), in slot order.
pub const COHERENT_IMAGE_NODES: [&str; 6] = ["270", "276", "283", "290", "297", "304"];

/// The variable holding a provider's base URL.
pub fn base_url_var(provider: ProviderKind) -> &'static str {
    match provider {
        ProviderKind::Replicate => "AKTION_REPLICATE_BASE_URL",
        ProviderKind::RunComfy => "AKTION_RUNCOMFY_BASE_URL",
        ProviderKind::A2e => "AKTION_A2E_BASE_URL",
        ProviderKind::Fal => "AKTION_FAL_BASE_URL",
        ProviderKind::ComfyUi => "AKTION_COMFYUI_URL",
    }
}

/// The variables API keys are read from, per provider (the seed's names; fal also answers to
/// its usual `FAL_KEY`).
pub const KEY_VARIABLES: &[&str] = &[
    "REPLICATE_API_TOKEN",
    "RUNCOMFY_API_TOKEN",
    "A2E_API_KEY",
    "FAL_KEY",
    "FAL_API_KEY",
    // The input bucket's credentials (Settings → Providers → Input hosting).
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
];

/// The variable naming a provider configuration file (base URLs, poll intervals, per-kind
/// models, deployments and ComfyUI workflows; never keys).
pub const CONFIG_FILE_ENV: &str = "AKTION_PROVIDERS_CONFIG";

/// The provider part of the app's config file (Settings → Providers). Everything is optional;
/// a kind listed here replaces its default entirely (e.g. to change the RunComfy node ids of a
/// redeployed workflow). No keys: those live in the keychain or the environment.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConfigFile {
    pub base_urls: BTreeMap<ProviderKind, String>,
    pub fal_storage_url: Option<String>,
    pub poll_interval_secs: BTreeMap<ProviderKind, u64>,
    /// Model files of the default ComfyUI workflows renamed to the ones this server has, e.g.
    /// `{"sd_xl_base_1.0.safetensors": "juggernautXL_v9.safetensors"}`.
    pub comfyui_models: BTreeMap<String, String>,
    pub kinds: BTreeMap<String, KindConfig>,
    /// Where local inputs of URL-only providers (A2E) are put: `s3://bucket[/prefix]`.
    pub input_bucket: Option<String>,
    /// The bucket's endpoint for S3-compatible services; AWS when unset.
    pub input_bucket_endpoint: Option<String>,
    pub input_bucket_region: Option<String>,
    /// Use A2E's presigned upload, which PROVIDERS.md marks [C] (not in A2E's documentation).
    pub a2e_presigned_upload: bool,
}

/// Why the provider configuration file was refused; names the file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the provider configuration: {source} ({path})")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("the provider configuration is not valid: {source} ({path})")]
    Invalid {
        path: String,
        source: serde_json::Error,
    },
}

/// All provider configuration.
#[derive(Debug, Clone)]
pub struct ProvidersConfig {
    pub http: HttpSettings,
    pub replicate: Endpoint,
    pub runcomfy: Endpoint,
    /// `RUNCOMFY_USER_ID`: not needed by the serverless API itself, kept for the account server.
    pub runcomfy_user_id: Option<String>,
    pub a2e: Endpoint,
    pub fal: Endpoint,
    /// fal's storage REST API (`rest.fal.ai`), separate from the queue host.
    pub fal_storage_url: String,
    pub comfyui: Endpoint,
    pub uploads: UploadLimits,
    /// Where local inputs of URL-only providers go (see `hosting`).
    pub input_host: InputHostConfig,
    /// Node kind id → how to run it.
    pub kinds: BTreeMap<String, KindConfig>,
}

impl ProvidersConfig {
    /// Reads the process environment. See [`Self::from_lookup`].
    pub fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()))
    }

    /// Defaults, then the file named by [`CONFIG_FILE_ENV`] (if set), then the environment.
    /// The error names the file and what is wrong with it.
    pub fn from_env_and_file() -> std::result::Result<Self, ConfigError> {
        Self::from_file_and(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()))
    }

    /// Like [`Self::from_env_and_file`], with variables looked up by `var` (the app looks up
    /// keys in the keychain when the environment has none).
    pub fn from_file_and(
        var: impl Fn(&str) -> Option<String>,
    ) -> std::result::Result<Self, ConfigError> {
        let Some(path) = var(CONFIG_FILE_ENV) else {
            return Ok(Self::from_lookup(var));
        };
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(source) => return Err(ConfigError::Read { path, source }),
        };
        let file: ConfigFile = match serde_json::from_slice(&bytes) {
            Ok(file) => file,
            Err(source) => return Err(ConfigError::Invalid { path, source }),
        };
        Ok(Self::from_sources(&file, var))
    }

    /// Builds the configuration from variables looked up by `var`: base URLs from
    /// `AKTION_*_BASE_URL` / `AKTION_COMFYUI_URL`, keys and deployment ids under the seed's names.
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Self {
        let key = |names: &[&str]| names.iter().find_map(|n| var(n)).map(ApiKey::new);
        let url = |name: &str, default: &str| var(name).unwrap_or_else(|| default.to_owned());
        let fal_base = var(base_url_var(ProviderKind::Fal));
        // With a custom fal base (a fake or a proxy) and no explicit storage URL, uploads go to
        // the same host, so one variable is enough to point everything at a fake.
        let fal_storage_url = var("AKTION_FAL_STORAGE_URL")
            .or_else(|| fal_base.clone())
            .unwrap_or_else(|| "https://rest.fal.ai".to_owned())
            .trim_end_matches('/')
            .to_owned();
        let secs = Duration::from_secs;

        let mut config = Self {
            http: HttpSettings::default(),
            replicate: Endpoint::new(
                &url(
                    base_url_var(ProviderKind::Replicate),
                    "https://api.replicate.com/v1",
                ),
                key(&["REPLICATE_API_TOKEN"]),
                secs(1),
            ),
            runcomfy: Endpoint::new(
                &url(
                    base_url_var(ProviderKind::RunComfy),
                    "https://api.runcomfy.net",
                ),
                key(&["RUNCOMFY_API_TOKEN"]),
                secs(3),
            ),
            runcomfy_user_id: var("RUNCOMFY_USER_ID"),
            a2e: Endpoint::new(
                &var(base_url_var(ProviderKind::A2e))
                    .or_else(|| var("A2E_API_URL"))
                    .unwrap_or_else(|| "https://video.a2e.ai".to_owned()),
                key(&["A2E_API_KEY"]),
                secs(5),
            ),
            fal: Endpoint::new(
                &fal_base.unwrap_or_else(|| "https://queue.fal.run".to_owned()),
                key(&["FAL_KEY", "FAL_API_KEY"]),
                secs(1),
            ),
            fal_storage_url,
            comfyui: Endpoint::new(
                &url(base_url_var(ProviderKind::ComfyUi), "http://127.0.0.1:8188"),
                None,
                secs(1),
            ),
            uploads: UploadLimits::default(),
            input_host: input_host_from(&var, &ConfigFile::default()),
            kinds: default_kinds(),
        };
        config.apply_deployment_env(&var);
        config
    }

    /// A studio's own RunComfy deployment for `kind` (Settings → Providers): a non-empty id
    /// replaces the deployment, a non-empty mapping replaces where the kind's inputs go. Kinds
    /// that are not RunComfy deployments are left alone. Returns whether anything changed.
    pub fn map_deployment(&mut self, kind: &str, deployment_id: &str, inputs: &[FieldMap]) -> bool {
        let Some(cfg) = self.kinds.get_mut(kind) else {
            return false;
        };
        let Target::RunComfy { deployment_id: id } = &mut cfg.target else {
            return false;
        };
        let mut changed = false;
        if !deployment_id.trim().is_empty() {
            deployment_id.trim().clone_into(id);
            changed = true;
        }
        if !inputs.is_empty() {
            cfg.inputs = inputs.to_vec();
            changed = true;
        }
        changed
    }

    /// Deployment ids from the seed's variables replace the targets of the RunComfy kinds.
    pub fn apply_deployment_env(&mut self, var: &impl Fn(&str) -> Option<String>) {
        let coherent = var("CREATE_COHERENT_DEPLOYMENT_ID");
        let sequence = var("WAN_FUN_INP_DEPLOYMENT_ID").or_else(|| var("RUNCOMFY_DEPLOYMENT_ID"));
        for (kind, id) in [("coherent_scene", coherent), ("sequence", sequence)] {
            if let (Some(id), Some(cfg)) = (id, self.kinds.get_mut(kind)) {
                cfg.target = Target::RunComfy { deployment_id: id };
            }
        }
    }

    /// Defaults, then the config file, then the environment (which wins, so a shell can point
    /// the app at fakes without editing files). Keys never come from the file.
    pub fn from_sources(file: &ConfigFile, var: impl Fn(&str) -> Option<String>) -> Self {
        let mut config = Self::from_lookup(&var);
        for (provider, url) in &file.base_urls {
            let from_env = match provider {
                ProviderKind::A2e => var(base_url_var(*provider)).or_else(|| var("A2E_API_URL")),
                p => var(base_url_var(*p)),
            };
            if from_env.is_none() {
                url.trim_end_matches('/')
                    .clone_into(&mut config.endpoint_mut(*provider).base_url);
                if *provider == ProviderKind::Fal && var("AKTION_FAL_STORAGE_URL").is_none() {
                    url.trim_end_matches('/')
                        .clone_into(&mut config.fal_storage_url);
                }
            }
        }
        if let Some(url) = &file.fal_storage_url
            && var("AKTION_FAL_STORAGE_URL").is_none()
        {
            url.trim_end_matches('/')
                .clone_into(&mut config.fal_storage_url);
        }
        for (provider, secs) in &file.poll_interval_secs {
            config.endpoint_mut(*provider).poll_interval = Duration::from_secs(*secs);
        }
        config.input_host = input_host_from(&var, file);
        rename_models(&mut config.kinds, &file.comfyui_models);
        for (kind, cfg) in &file.kinds {
            config.kinds.insert(kind.clone(), cfg.clone());
        }
        config.apply_deployment_env(&var);
        config
    }

    pub fn endpoint(&self, provider: ProviderKind) -> &Endpoint {
        match provider {
            ProviderKind::Replicate => &self.replicate,
            ProviderKind::RunComfy => &self.runcomfy,
            ProviderKind::A2e => &self.a2e,
            ProviderKind::Fal => &self.fal,
            ProviderKind::ComfyUi => &self.comfyui,
        }
    }

    /// The hosts the user configured (every provider's API, fal's storage host): the only
    /// names the client lets resolve to a private or loopback address.
    pub fn trusted_hosts(&self) -> crate::TrustedHosts {
        crate::TrustedHosts::of(
            ProviderKind::ALL
                .iter()
                .map(|p| self.endpoint(*p).base_url.as_str())
                .chain(std::iter::once(self.fal_storage_url.as_str())),
        )
    }

    pub fn endpoint_mut(&mut self, provider: ProviderKind) -> &mut Endpoint {
        match provider {
            ProviderKind::Replicate => &mut self.replicate,
            ProviderKind::RunComfy => &mut self.runcomfy,
            ProviderKind::A2e => &mut self.a2e,
            ProviderKind::Fal => &mut self.fal,
            ProviderKind::ComfyUi => &mut self.comfyui,
        }
    }
}

/// Input hosting from the environment (which wins) and the file. A bucket needs its address;
/// its credentials are looked up under the usual AWS names (environment or secret store).
fn input_host_from(var: &impl Fn(&str) -> Option<String>, file: &ConfigFile) -> InputHostConfig {
    let on = |v: Option<String>| {
        v.is_some_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes"))
    };
    let url = var(INPUT_BUCKET_ENV).or_else(|| file.input_bucket.clone());
    let bucket = url.map(|url| BucketConfig {
        url,
        endpoint: var(INPUT_BUCKET_ENDPOINT_ENV)
            .or_else(|| file.input_bucket_endpoint.clone())
            .or_else(|| var("AWS_ENDPOINT")),
        region: var("AWS_REGION")
            .or_else(|| file.input_bucket_region.clone())
            .or_else(|| var("AWS_DEFAULT_REGION"))
            .unwrap_or_else(|| "us-east-1".to_owned()),
        access_key_id: var("AWS_ACCESS_KEY_ID"),
        secret_access_key: var("AWS_SECRET_ACCESS_KEY").map(ApiKey::new),
        url_ttl: Duration::from_secs(3600),
    });
    InputHostConfig {
        a2e_presigned_upload: on(var(A2E_PRESIGNED_UPLOAD_ENV)) || file.a2e_presigned_upload,
        bucket,
    }
}

/// The ComfyUI workflows shipped for the `comfyui` route, in API format, one per kind that stock
/// ComfyUI nodes can do (Talking Portrait, Lip Sync and Epic Scene need custom nodes or a
/// private workflow: they have none and say so). Each file is a [`KindConfig`]; the models they
/// load are listed in the README. The `sequence` workflow is also the one its RunComfy
/// deployment is expected to run, so the direct route's node ids match it.
const COMFYUI_WORKFLOWS: &[(&str, &str)] = &[
    ("t2i", include_str!("../workflows/t2i.json")),
    ("character", include_str!("../workflows/character.json")),
    (
        "sketch_to_image",
        include_str!("../workflows/sketch_to_image.json"),
    ),
    ("i2i", include_str!("../workflows/i2i.json")),
    ("action_pose", include_str!("../workflows/action_pose.json")),
    ("i2v", include_str!("../workflows/i2v.json")),
    ("sequence", include_str!("../workflows/sequence.json")),
];

/// The shipped ComfyUI workflows by kind id (see [`COMFYUI_WORKFLOWS`]).
pub fn default_comfyui_kinds() -> BTreeMap<String, KindConfig> {
    COMFYUI_WORKFLOWS
        .iter()
        .filter_map(|(kind, text)| match serde_json::from_str::<KindConfig>(text) {
            Ok(cfg) if cfg.target.provider() == ProviderKind::ComfyUi => {
                Some(((*kind).to_owned(), cfg))
            }
            Ok(_) => {
                tracing::error!(kind, "shipped ComfyUI workflow has another target; skipped");
                None
            }
            Err(e) => {
                tracing::error!(kind, error = %e, "shipped ComfyUI workflow does not parse; skipped");
                None
            }
        })
        .collect()
}

/// Renames model files in the shipped ComfyUI workflows (`comfyui:<kind>` entries): every
/// string input equal to a key of `models` becomes its value.
fn rename_models(kinds: &mut BTreeMap<String, KindConfig>, models: &BTreeMap<String, String>) {
    if models.is_empty() {
        return;
    }
    for (name, kind) in kinds.iter_mut() {
        if !name.starts_with("comfyui:") {
            continue;
        }
        let Target::ComfyUi { workflow } = &mut kind.target else {
            continue;
        };
        let Some(nodes) = workflow.as_object_mut() else {
            continue;
        };
        for node in nodes.values_mut() {
            let Some(inputs) = node.get_mut("inputs").and_then(Value::as_object_mut) else {
                continue;
            };
            for value in inputs.values_mut() {
                if let Some(new) = value.as_str().and_then(|v| models.get(v)) {
                    *value = Value::String(new.clone());
                }
            }
        }
    }
}

/// PRODUCT.md §3 defaults for the direct route, as data: `defaults/kinds.json`, one
/// [`KindConfig`] per node kind, in the format of a configuration file's `kinds` (so a studio
/// copies an entry into its own file to change it). Notes on the entries:
/// - `action_pose`: A2E's text to image, whose documented `input_images` (PROVIDERS.md §3.3,
///   current catalog [V]) take the character first and the pose second, so both reach the model;
///   the fixed prompt says what to do with them and the node's prompt is appended.
/// - `sketch_to_image` and `i2i`: ControlNet Scribble at [`SCRIBBLE_VERSION`].
/// - `sequence`: node ids are whatever the deployed API export has (PROVIDERS.md 2.9): the default
///   expects a deployment of the shipped `workflows/sequence.json`, so its mapping is that
///   workflow's (a test ties them). Another deployment sets its own under `kinds`.
/// - `coherent_scene`: the seed's `CREATE_COHERENT` deployment and its six `LoadImage` nodes
///   ([`COHERENT_DEPLOYMENT`], [`COHERENT_IMAGE_NODES`]).
const DEFAULT_KINDS: &str = include_str!("../defaults/kinds.json");

/// The direct route's defaults ([`DEFAULT_KINDS`]) and the shipped ComfyUI workflows under
/// `comfyui:<kind>`.
pub fn default_kinds() -> BTreeMap<String, KindConfig> {
    let mut kinds: BTreeMap<String, KindConfig> = match serde_json::from_str(DEFAULT_KINDS) {
        Ok(kinds) => kinds,
        Err(e) => {
            // A test parses the shipped file; this only guards a broken build.
            tracing::error!(error = %e, "the shipped default kinds do not parse");
            BTreeMap::new()
        }
    };
    for (kind, cfg) in default_comfyui_kinds() {
        kinds.insert(format!("comfyui:{kind}"), cfg);
    }
    kinds
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_configured_hosts_are_the_trusted_ones() {
        let vars: BTreeMap<&str, &str> = [
            ("AKTION_COMFYUI_URL", "http://Comfy-Box.lan:8188/"),
            ("AKTION_FAL_STORAGE_URL", "http://storage.studio.internal"),
        ]
        .into();
        let cfg = ProvidersConfig::from_lookup(|n| vars.get(n).map(|v| (*v).to_owned()));
        let trusted = cfg.trusted_hosts();
        for host in [
            "comfy-box.lan",
            "storage.studio.internal",
            "api.replicate.com",
            "queue.fal.run",
        ] {
            assert!(trusted.contains(host), "{host}");
        }
        // An output host a provider names is not trusted: it must resolve to a public address.
        assert!(!trusted.contains("replicate.delivery"));
        assert!(!trusted.contains("localhost"));
    }

    #[test]
    fn env_overrides_urls_keys_and_deployments() {
        let vars: BTreeMap<&str, &str> = [
            ("AKTION_FAL_BASE_URL", "http://127.0.0.1:9/"),
            ("FAL_API_KEY", "fal-secret"),
            ("CREATE_COHERENT_DEPLOYMENT_ID", "dep-7"),
            ("RUNCOMFY_DEPLOYMENT_ID", "dep-seq"),
        ]
        .into();
        let cfg = ProvidersConfig::from_lookup(|n| vars.get(n).map(|v| (*v).to_owned()));
        assert_eq!(cfg.fal.base_url, "http://127.0.0.1:9");
        assert_eq!(cfg.fal_storage_url, "http://127.0.0.1:9");
        assert!(cfg.fal.key.is_some());
        assert_eq!(cfg.replicate.base_url, "https://api.replicate.com/v1");
        assert_eq!(
            cfg.kinds["coherent_scene"].target,
            Target::RunComfy {
                deployment_id: "dep-7".into()
            }
        );
        assert_eq!(
            cfg.kinds["sequence"].target,
            Target::RunComfy {
                deployment_id: "dep-seq".into()
            }
        );
        assert_eq!(
            cfg.kinds["coherent_scene"].timeout(),
            Duration::from_secs(1800)
        );
        assert!(!format!("{cfg:?}").contains("fal-secret"));
    }

    #[test]
    fn file_overrides_defaults_and_env_overrides_the_file() {
        let file: ConfigFile = serde_json::from_value(json!({
            "base_urls": {"comfyui": "http://gpu-box:8188/", "fal": "http://proxy/fal", "replicate": "http://file/v1"},
            "kinds": {"coherent_scene": {
                "target": {"provider": "runcomfy", "deployment_id": "dep-file"},
                "inputs": [{"from": "image_1", "to": "11/inputs/image", "required": true}],
                "output": "image", "timeout_secs": 60
            }}
        }))
        .unwrap();
        let env: BTreeMap<&str, &str> = [("AKTION_REPLICATE_BASE_URL", "http://env/v1")].into();
        let cfg = ProvidersConfig::from_sources(&file, |n| env.get(n).map(|v| (*v).to_owned()));
        assert_eq!(cfg.comfyui.base_url, "http://gpu-box:8188");
        assert_eq!(cfg.fal_storage_url, "http://proxy/fal");
        assert_eq!(cfg.replicate.base_url, "http://env/v1");
        let coherent = &cfg.kinds["coherent_scene"];
        assert_eq!(
            coherent.target,
            Target::RunComfy {
                deployment_id: "dep-file".into()
            }
        );
        assert_eq!(coherent.inputs[0].to, "11/inputs/image");
        assert!(
            serde_json::from_value::<ConfigFile>(json!({"api_key": "x"})).is_err(),
            "keys do not belong in the file"
        );
    }

    #[test]
    fn coherent_scene_defaults_to_the_six_load_image_nodes() {
        let kinds = default_kinds();
        let targets: Vec<&str> = kinds["coherent_scene"]
            .inputs
            .iter()
            .map(|m| m.to.as_str())
            .collect();
        assert_eq!(
            targets,
            [
                "270/inputs/image",
                "276/inputs/image",
                "283/inputs/image",
                "290/inputs/image",
                "297/inputs/image",
                "304/inputs/image"
            ]
        );
    }

    #[test]
    fn shipped_comfyui_workflows_are_whole_and_their_mappings_land_on_real_inputs() {
        let kinds = default_comfyui_kinds();
        let names: Vec<&str> = kinds.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "action_pose",
                "character",
                "i2i",
                "i2v",
                "sequence",
                "sketch_to_image",
                "t2i"
            ]
        );
        for (kind, cfg) in &kinds {
            let Target::ComfyUi { workflow } = &cfg.target else {
                panic!("{kind}: not a ComfyUI target");
            };
            let nodes = workflow.as_object().expect("nodes by id");
            for (id, node) in nodes {
                assert!(node["class_type"].is_string(), "{kind}/{id}: class_type");
                for (name, value) in node["inputs"].as_object().expect("inputs") {
                    if let Some([from, Value::Number(_)]) = value.as_array().map(Vec::as_slice) {
                        let from = from.as_str().expect("link source id");
                        assert!(
                            nodes.contains_key(from),
                            "{kind}/{id}.{name}: link to {from}"
                        );
                    }
                }
            }
            // A mapping to a missing node or input would make ComfyUI reject the prompt (or
            // silently ignore the value): each one must land on an input the node has.
            for map in &cfg.inputs {
                let mut parts = map.to.split('/');
                let (node, inputs, input) = (parts.next(), parts.next(), parts.next());
                assert_eq!(inputs, Some("inputs"), "{kind}: {}", map.to);
                let node = &nodes[node.expect("node id")];
                assert!(
                    node["inputs"].get(input.expect("input")).is_some(),
                    "{kind}: {} is not an input of its node",
                    map.to
                );
            }
            let saves = nodes
                .values()
                .filter(|n| matches!(n["class_type"].as_str(), Some("SaveImage" | "SaveVideo")))
                .count();
            assert_eq!(saves, 1, "{kind}: one saved output");
        }
        // Every default kind's ComfyUI workflow is in the defaults under `comfyui:<kind>`.
        let all = default_kinds();
        for kind in kinds.keys() {
            assert!(all.contains_key(&format!("comfyui:{kind}")), "{kind}");
        }
        // The RunComfy deployment of Sequence is the shipped workflow: same node ids.
        assert_eq!(all["sequence"].inputs, kinds["sequence"].inputs);
    }

    #[test]
    fn model_files_of_the_shipped_workflows_can_be_renamed() {
        let file: ConfigFile = serde_json::from_value(json!({
            "comfyui_models": {"sd_xl_base_1.0.safetensors": "juggernautXL.safetensors"},
            "kinds": {"comfyui:i2i": {
                "target": {"provider": "comfyui", "workflow": {"1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd_xl_base_1.0.safetensors"}}}},
                "inputs": [], "output": "image", "timeout_secs": 60
            }}
        }))
        .unwrap();
        let cfg = ProvidersConfig::from_sources(&file, |_| None);
        let ckpt = |kind: &str| match &cfg.kinds[kind].target {
            Target::ComfyUi { workflow } => workflow["4"]["inputs"]["ckpt_name"].clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(ckpt("comfyui:t2i"), "juggernautXL.safetensors");
        assert_eq!(ckpt("comfyui:character"), "juggernautXL.safetensors");
        // SD 1.5 workflows keep theirs; a workflow from the file is the user's own, untouched.
        assert_eq!(
            ckpt("comfyui:sketch_to_image"),
            "v1-5-pruned-emaonly.safetensors"
        );
        let Target::ComfyUi { workflow } = &cfg.kinds["comfyui:i2i"].target else {
            panic!()
        };
        assert_eq!(
            workflow["1"]["inputs"]["ckpt_name"],
            "sd_xl_base_1.0.safetensors"
        );
    }

    #[test]
    fn parameters_a_model_does_not_take_are_named() {
        let kinds = default_kinds();
        let params = |kind: &str| -> Vec<&str> {
            match kind {
                "i2i" => vec!["prompt", "strength", "seed"],
                "sketch_to_image" => vec![
                    "prompt",
                    "creativity",
                    "resolution",
                    "negative_prompt",
                    "seed",
                ],
                "action_pose" => vec!["prompt", "pose_strength", "seed"],
                _ => vec!["prompt", "style", "aspect_ratio", "seed"],
            }
        };
        // ControlNet Scribble has no strength; the ComfyUI workflow does (its denoise).
        assert_eq!(kinds["i2i"].unmapped(params("i2i")), ["strength"]);
        assert!(kinds["comfyui:i2i"].unmapped(params("i2i")).is_empty());
        // `creativity` reaches Scribble as `guidance` (an alias), so it counts as taken.
        assert!(
            kinds["sketch_to_image"]
                .unmapped(params("sketch_to_image"))
                .is_empty()
        );
        // A2E's text to image takes neither a pose strength nor a seed.
        assert_eq!(
            kinds["action_pose"].unmapped(params("action_pose")),
            ["pose_strength", "seed"]
        );
        assert!(
            kinds["comfyui:action_pose"]
                .unmapped(params("action_pose"))
                .is_empty()
        );
        assert_eq!(kinds["character"].unmapped(params("character")), ["seed"]);
    }

    #[test]
    fn inputs_a_model_does_not_take_are_named_too() {
        let kinds = default_kinds();
        // Action Pose's character and pose both reach A2E (`input_images`).
        assert!(
            kinds["action_pose"]
                .unmapped_inputs([("character", false), ("pose", false)])
                .is_empty()
        );
        // A configuration that drops one is reported, by input id.
        let mut only_pose = kinds["action_pose"].clone();
        only_pose.inputs.retain(|m| m.from != "character");
        assert_eq!(
            only_pose.unmapped_inputs([("character", false), ("pose", false)]),
            ["character"]
        );
        // Epic Scene's six images go item by item; its optional prompt has no node in the
        // seed's deployment until the studio maps one (Settings → Providers).
        assert_eq!(
            kinds["coherent_scene"].unmapped_inputs([("images", true), ("prompt", false)]),
            ["prompt"]
        );
        assert!(
            kinds["i2v"].unmapped(["prompt", "duration"]).is_empty(),
            "Image to Video's duration is sent"
        );
    }

    #[test]
    fn kind_config_is_data() {
        let kinds = default_kinds();
        let json = serde_json::to_string(&kinds["sketch_to_image"]).unwrap();
        let back: KindConfig = serde_json::from_str(&json).unwrap();
        assert_eq!(back, kinds["sketch_to_image"]);
    }

    #[test]
    fn the_shipped_default_table_is_whole_and_tied_to_its_constants_and_workflows() {
        let table: BTreeMap<String, KindConfig> =
            serde_json::from_str(DEFAULT_KINDS).expect("defaults/kinds.json parses");
        let direct: Vec<&str> = table.keys().map(String::as_str).collect();
        assert_eq!(
            direct,
            [
                "action_pose",
                "character",
                "coherent_scene",
                "i2i",
                "i2v",
                "lip_sync",
                "sequence",
                "sketch_to_image",
                "t2i",
                "t2v"
            ]
        );
        let version = |kind: &str| match &table[kind].target {
            Target::Replicate { version, .. } => version.clone(),
            other => panic!("{kind}: {other:?}"),
        };
        assert_eq!(
            version("sketch_to_image").as_deref(),
            Some(SCRIBBLE_VERSION)
        );
        assert_eq!(version("i2i").as_deref(), Some(SCRIBBLE_VERSION));
        assert_eq!(
            table["action_pose"].target,
            Target::A2e {
                feature: "userText2Image".into()
            }
        );
        let Target::RunComfy { deployment_id } = &table["coherent_scene"].target else {
            panic!("coherent_scene is a RunComfy deployment");
        };
        assert_eq!(deployment_id, COHERENT_DEPLOYMENT);
        let nodes: Vec<String> = COHERENT_IMAGE_NODES
            .iter()
            .map(|n| format!("{n}/inputs/image"))
            .collect();
        let mapped: Vec<&String> = table["coherent_scene"]
            .inputs
            .iter()
            .map(|m| &m.to)
            .collect();
        assert_eq!(mapped, nodes.iter().collect::<Vec<_>>());
        // The direct route's Sequence expects a deployment of the shipped workflow.
        assert_eq!(
            table["sequence"].inputs,
            default_comfyui_kinds()["sequence"].inputs
        );
        assert_eq!(default_kinds().len(), table.len() + COMFYUI_WORKFLOWS.len());
    }
}
