//! What the app and the command line are built from: the environment, the config folder, the
//! secret store (keychain or private file), the account server and the engine with its routes.
//! Both `cli` and `app` take these from a [`Setup`]; tests give the app a hermetic one (their
//! own variables, config folder and secret file), so no test reads a developer's keychain,
//! config folder or provider keys.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use aktion_account::AccountClient;
use aktion_account::secrets::SecretStore;
use aktion_cache::Cache;
use aktion_engine::{AccountExecutor, Engine, ProviderExecutor};
use aktion_graph::{Catalog, Route};
use aktion_providers::ProvidersConfig;
use anyhow::Context as _;
use serde::{Deserialize, Serialize};

/// The account server's address (`AKTION_ACCOUNT_URL`).
pub const ACCOUNT_URL_ENV: &str = "AKTION_ACCOUNT_URL";
/// A session token for the account route without the app's sign-in (`AKTION_ACCOUNT_TOKEN`).
pub const ACCOUNT_TOKEN_ENV: &str = "AKTION_ACCOUNT_TOKEN";
/// Where the account server is when nothing else is said.
pub const DEFAULT_ACCOUNT_URL: &str = "https://api.aktion.studio";
/// The settings file in the config folder.
pub const PREFS_FILE: &str = "settings.json";
/// Runs above this many credits ask first, unless the user sets another figure.
pub const DEFAULT_CONFIRM_ABOVE: u32 = 20;

/// Settings the app keeps for the user (keys are not here: they live in the secret store).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Prefs {
    /// The ComfyUI server (`AKTION_COMFYUI_URL` wins when set).
    pub comfyui_url: Option<String>,
    /// A run costing more credits than this asks for confirmation first.
    pub confirm_above: u32,
    /// Where A2E's local inputs are hosted: `s3://bucket[/prefix]` (`AKTION_INPUT_BUCKET` wins);
    /// its credentials are keys (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`).
    pub input_bucket: Option<String>,
    pub input_bucket_endpoint: Option<String>,
    pub input_bucket_region: Option<String>,
    /// A2E's presigned upload, which PROVIDERS.md marks [C]: off unless the user turns it on.
    pub a2e_presigned_upload: bool,
    /// The studio's RunComfy deployments per node kind, as mapped in Settings → Providers.
    pub deployments: BTreeMap<String, DeploymentMapping>,
}

/// A kind's RunComfy deployment and where each of its inputs goes in the deployment's workflow
/// (`NODE_ID/inputs/INPUT_NAME`). An empty field keeps the shipped default.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeploymentMapping {
    pub deployment_id: String,
    pub inputs: Vec<aktion_providers::FieldMap>,
}

impl Default for Prefs {
    fn default() -> Self {
        Self {
            comfyui_url: None,
            confirm_above: DEFAULT_CONFIRM_ABOVE,
            input_bucket: None,
            input_bucket_endpoint: None,
            input_bucket_region: None,
            a2e_presigned_upload: false,
            deployments: BTreeMap::new(),
        }
    }
}

impl Prefs {
    /// The settings in `dir`; missing or unreadable ones are the defaults (a broken file is
    /// reported in the log and left for the user, never overwritten until they save).
    pub fn load(dir: &Path) -> Self {
        match std::fs::read(dir.join(PREFS_FILE)) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                tracing::warn!(error = %e, "the settings file is not valid; using defaults");
                Self::default()
            }),
            Err(_) => Self::default(),
        }
    }

    /// Writes atomically (temp file, then rename).
    pub fn save(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let tmp = dir.join(format!("{PREFS_FILE}.tmp"));
        let text = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, dir.join(PREFS_FILE))
    }
}

/// A failure with its exit code: 2 for unusable input ([`Failure::input`]), 1 for anything
/// else (any error converts, so `?` and anyhow's `.context()` build it). `main` prints it once,
/// with its chain of causes.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub error: anyhow::Error,
}

impl Failure {
    /// Unusable input (exit code 2): a bad project, route, node id or configuration.
    pub fn input(
        message: impl std::fmt::Display + std::fmt::Debug + Send + Sync + 'static,
    ) -> Self {
        Self {
            code: 2,
            error: anyhow::Error::msg(message),
        }
    }

    /// The whole message: each context, then its cause.
    pub fn message(&self) -> String {
        format!("{:#}", self.error)
    }
}

impl<E: Into<anyhow::Error>> From<E> for Failure {
    fn from(error: E) -> Self {
        Self {
            code: 1,
            error: error.into(),
        }
    }
}

type Lookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Where the program's surroundings come from.
#[derive(Clone)]
pub struct Setup {
    env: Lookup,
    /// Whether this is the process's own environment (a hermetic setup never reaches the
    /// machine's sound server).
    process: bool,
    /// Settings, recent projects and (without a keychain) secrets.
    pub config_dir: Option<PathBuf>,
    pub secrets: Option<SecretStore>,
}

impl std::fmt::Debug for Setup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Setup")
            .field("config_dir", &self.config_dir)
            .finish_non_exhaustive()
    }
}

impl Setup {
    /// The process's own: its environment, the platform config folder (`AKTION_CONFIG_DIR`
    /// overrides) and the system keychain (a private file where there is none, or with
    /// `AKTION_SECRETS=file`).
    pub fn from_process() -> Self {
        let env: Lookup = Arc::new(|name| std::env::var(name).ok());
        let config_dir = config_dir_from(&*env);
        let secrets = config_dir.as_deref().map(|dir| {
            if env("AKTION_SECRETS").is_some_and(|v| v == "file") {
                SecretStore::file_only(dir)
            } else {
                SecretStore::open(dir)
            }
        });
        Self {
            env,
            process: true,
            config_dir,
            secrets,
        }
    }

    /// Only what is given: `vars` for the environment, `config_dir` for settings and a
    /// private secret file in it (never the keychain).
    pub fn hermetic(config_dir: PathBuf, vars: BTreeMap<String, String>) -> Self {
        let secrets = Some(SecretStore::file_only(&config_dir));
        Self {
            env: Arc::new(move |name| vars.get(name).cloned()),
            process: false,
            config_dir: Some(config_dir),
            secrets,
        }
    }

    /// The same variables with another config folder and secret store (Settings keeps its
    /// own; tests point them at a temp folder).
    #[must_use]
    pub fn with_storage(&self, secrets: Option<SecretStore>, config_dir: Option<PathBuf>) -> Self {
        Self {
            env: Arc::clone(&self.env),
            process: self.process,
            config_dir,
            secrets,
        }
    }

    /// A variable, when set and not blank.
    pub fn var(&self, name: &str) -> Option<String> {
        (self.env)(name).filter(|v| !v.trim().is_empty())
    }

    /// Where sound plays: `AKTION_SOUND_SERVER` names a PulseAudio socket, `AKTION_SOUND=off`
    /// turns sound off, otherwise the default device (a hermetic setup has none).
    pub fn sound_out(&self) -> crate::app::sound::SoundOut {
        use crate::app::sound::SoundOut;
        if let Some(path) = self.var("AKTION_SOUND_SERVER") {
            return SoundOut::Server(PathBuf::from(path));
        }
        if self
            .var("AKTION_SOUND")
            .is_some_and(|v| v.eq_ignore_ascii_case("off"))
        {
            return SoundOut::Off("sound is turned off (AKTION_SOUND=off)".into());
        }
        if self.process {
            SoundOut::Device
        } else {
            SoundOut::Off("none in this test setup".into())
        }
    }

    /// The account server's address: `AKTION_ACCOUNT_URL`, or the default.
    pub fn account_url(&self) -> String {
        self.var(ACCOUNT_URL_ENV)
            .unwrap_or_else(|| DEFAULT_ACCOUNT_URL.to_owned())
    }

    /// The account session at start: the server of `AKTION_ACCOUNT_URL` (or the default) with
    /// the token of `AKTION_ACCOUNT_TOKEN` or, failing that, the one kept in the secret store;
    /// without one the account route's nodes fail with how to sign in.
    pub fn account_session(&self) -> aktion_engine::AccountSession {
        Arc::new(std::sync::RwLock::new(self.account_client()))
    }

    fn account_client(&self) -> Option<AccountClient> {
        let url = self.account_url();
        let token = self.var(ACCOUNT_TOKEN_ENV).or_else(|| {
            self.secrets
                .as_ref()
                .and_then(|s| s.get(aktion_account::secrets::ACCOUNT_TOKEN).ok())
                .flatten()
        });
        match AccountClient::new(&url, token) {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!("the account route is unavailable: {e}");
                None
            }
        }
    }

    /// Provider settings: defaults, then the file named by `AKTION_PROVIDERS_CONFIG`, then what
    /// the user set in Settings → Providers (keys in the secret store, the ComfyUI address),
    /// then the environment (base URLs `AKTION_*_BASE_URL`, `AKTION_COMFYUI_URL`, keys under
    /// the providers' usual variable names), which wins.
    pub fn providers_config(&self) -> Result<ProvidersConfig, Failure> {
        let prefs = self
            .config_dir
            .as_deref()
            .map(Prefs::load)
            .unwrap_or_default();
        let store = self.secrets.as_ref();
        let lookup = |name: &str| {
            self.var(name).or_else(|| {
                if name == aktion_providers::base_url_var(aktion_providers::ProviderKind::ComfyUi) {
                    return prefs.comfyui_url.clone();
                }
                match name {
                    aktion_providers::hosting::INPUT_BUCKET_ENV => {
                        return prefs.input_bucket.clone();
                    }
                    aktion_providers::hosting::INPUT_BUCKET_ENDPOINT_ENV => {
                        return prefs.input_bucket_endpoint.clone();
                    }
                    "AWS_REGION" if prefs.input_bucket_region.is_some() => {
                        return prefs.input_bucket_region.clone();
                    }
                    aktion_providers::hosting::A2E_PRESIGNED_UPLOAD_ENV
                        if prefs.a2e_presigned_upload =>
                    {
                        return Some("1".into());
                    }
                    _ => {}
                }
                // Keys the user saved in Settings → Providers; nothing else comes from there.
                if !aktion_providers::KEY_VARIABLES.contains(&name) {
                    return None;
                }
                store?.get(name).ok().flatten()
            })
        };
        let mut config = ProvidersConfig::from_file_and(lookup).map_err(Failure::input)?;
        // The studio's deployment mappings; deployment ids from the environment still win.
        for (kind, mapping) in &prefs.deployments {
            config.map_deployment(kind, &mapping.deployment_id, &mapping.inputs);
        }
        config.apply_deployment_env(&lookup);
        Ok(config)
    }

    /// The engine with every route this build can run: draft always; account following
    /// `session`; direct and comfyui when their clients can be built. A missing key is not an
    /// error here: it fails only the nodes that need that provider, with the variable to set.
    pub fn engine(
        &self,
        cache: Cache,
        session: aktion_engine::AccountSession,
    ) -> Result<Arc<Engine>, Failure> {
        let mut engine = Engine::new(Arc::new(Catalog::builtin().clone()), cache)
            .context("cannot open the job journal")?;
        engine = engine.with_route(
            Route::Account,
            Arc::new(AccountExecutor::with_session(session)),
        );
        set_routes_from(&engine, self.providers_config()?);
        Ok(Arc::new(engine))
    }

    /// The kinds whose provider (as configured now) has its key set: their app route is
    /// `direct` when not signed in. Reads the secret store: call off the UI thread.
    pub fn kinds_with_keys(&self) -> std::collections::BTreeSet<String> {
        let Ok(config) = self.providers_config() else {
            return std::collections::BTreeSet::new();
        };
        config
            .kinds
            .iter()
            .filter(|(_, k)| {
                let p = k.target.provider();
                p != aktion_providers::ProviderKind::ComfyUi && config.endpoint(p).key.is_some()
            })
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Rebuilds the direct and comfyui executors from the settings in force now (after
    /// Settings → Providers saved a key or an address). Jobs already running finish on the
    /// old ones.
    pub fn set_provider_routes(&self, engine: &Engine) -> Result<(), String> {
        let config = self.providers_config().map_err(|f| f.message())?;
        set_routes_from(engine, config);
        Ok(())
    }
}

fn set_routes_from(engine: &Engine, config: ProvidersConfig) {
    match ProviderExecutor::direct(config.clone()) {
        Ok(direct) => engine.set_route(Route::Direct, Arc::new(direct)),
        Err(e) => tracing::warn!("the direct route is unavailable: {e:#}"),
    }
    match ProviderExecutor::comfyui(config) {
        Ok(comfy) => engine.set_route(Route::Comfyui, Arc::new(comfy)),
        Err(e) => tracing::warn!("the comfyui route is unavailable: {e:#}"),
    }
}

/// `AKTION_CONFIG_DIR`, or the platform's config folder.
fn config_dir_from(env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    match env("AKTION_CONFIG_DIR") {
        Some(d) if !d.is_empty() => Some(PathBuf::from(d)),
        _ => directories::ProjectDirs::from("studio", "Aktion", "Aktion Studio")
            .map(|d| d.config_dir().to_path_buf()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hermetic_setup_sees_only_what_it_was_given() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut vars = BTreeMap::new();
        vars.insert("REPLICATE_API_TOKEN".to_owned(), "r8_given".to_owned());
        let setup = Setup::hermetic(dir.path().to_path_buf(), vars);
        assert_eq!(
            setup.var("REPLICATE_API_TOKEN").as_deref(),
            Some("r8_given")
        );
        assert_eq!(
            setup.var("PATH"),
            None,
            "the process environment is not read"
        );
        assert_eq!(setup.account_url(), DEFAULT_ACCOUNT_URL);
        let config = setup.providers_config().expect("config");
        assert!(
            config
                .endpoint(aktion_providers::ProviderKind::Replicate)
                .key
                .is_some()
        );
        assert!(
            config
                .endpoint(aktion_providers::ProviderKind::A2e)
                .key
                .is_none()
        );
    }

    #[test]
    fn prefs_round_trip_and_a_broken_file_is_the_default() {
        let dir = tempfile::tempdir().expect("tmp");
        assert_eq!(Prefs::load(dir.path()), Prefs::default());
        let mut prefs = Prefs {
            comfyui_url: Some("http://gpu-box:8188".into()),
            confirm_above: 35,
            ..Prefs::default()
        };
        prefs.deployments.insert(
            "sequence".into(),
            DeploymentMapping {
                deployment_id: "dep-9".into(),
                inputs: vec![aktion_providers::FieldMap::new("prompt", "16/inputs/text")],
            },
        );
        prefs.save(dir.path()).expect("save");
        assert_eq!(Prefs::load(dir.path()), prefs);
        std::fs::write(dir.path().join(PREFS_FILE), b"{broken").expect("write");
        assert_eq!(Prefs::load(dir.path()), Prefs::default());
    }
}
