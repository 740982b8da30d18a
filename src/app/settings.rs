//! The Settings window (PRODUCT.md §4.4, §4.5): **Providers** (API keys for the direct route,
//! kept in the system keychain or an owner-only file and never in projects or logs; the ComfyUI
//! address; a connection test per provider), **Routes** (where each node kind of this board runs)
//! and **Cache** (where results are kept, how much, and clearing it).
//!
//! Keys and the address take effect at once: the engine's direct and comfyui executors are
//! rebuilt (a job already running finishes on the old ones). The window only draws and asks
//! ([`SettingsRequest`], through the app's command queue); keychain and settings-file writes,
//! provider rebuilds, cache scans and connection tests run on the app's runtime, so the window
//! never waits.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use aktion_account::secrets::SecretStore;
use aktion_cache::CacheStats;
use aktion_engine::Engine;
use aktion_graph::{Catalog, Document, Route};
use aktion_providers::{ConnectionCheck, ProviderKind, Providers, key_variable};

use super::AppCommand;
use super::state::Command;
use super::task::{Lane, Spawner, Task, drain_ready};

/// The app's own settings file in the config folder.
pub use crate::setup::{DEFAULT_CONFIRM_ABOVE, PREFS_FILE, Prefs};

/// The hosted providers whose keys the user can keep, in the order shown.
const HOSTED: [ProviderKind; 4] = [
    ProviderKind::A2e,
    ProviderKind::Replicate,
    ProviderKind::RunComfy,
    ProviderKind::Fal,
];

/// Where a provider's key comes from now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// The variable is set in the environment (it wins over a saved key).
    Environment(&'static str),
    /// Saved in the secret store (the text says where: keychain or file).
    Saved(String),
    None,
}

impl KeySource {
    /// One short line for the window; the full place is on hover.
    fn describe(&self) -> String {
        match self {
            Self::Environment(var) => format!("from {var} in the environment"),
            Self::Saved(kept) if kept.starts_with("the system keychain") => {
                "saved in the system keychain".to_owned()
            }
            Self::Saved(_) => "saved in a private file".to_owned(),
            Self::None => "no key".to_owned(),
        }
    }

    fn detail(&self) -> String {
        match self {
            Self::Saved(kept) => format!("saved in {kept}"),
            other => other.describe(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tab {
    Providers,
    /// Input hosting and RunComfy deployments (`deployments.rs`).
    Deployments,
    Routes,
    Cache,
}

/// What the Settings window asks for. The command handler hands it to [`SettingsUi::start`]:
/// keychain and settings-file writes, provider rebuilds, cache scans and connection tests run
/// off the UI thread (writes one after another, in the order asked).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SettingsRequest {
    /// Keeps the key typed for this provider (it stays in the window's state, never in the
    /// request) and rebuilds the provider routes.
    SaveKey(ProviderKind),
    RemoveKey(ProviderKind),
    /// Keeps the typed ComfyUI address (empty: the default) and rebuilds the routes.
    SaveComfyuiUrl,
    SetConfirmAbove(u32),
    Check(ProviderKind),
    RefreshStats,
    ClearCache,
    /// Reads again where each key comes from (the window opened).
    ReadSources,
    /// Keeps the input-hosting form (bucket address and keys, A2E's upload switch).
    SaveHosting,
    /// Keeps the deployment form of a RunComfy kind.
    SaveDeployment(String),
    /// Back to the shipped deployment mapping of a RunComfy kind.
    ResetDeployment(String),
    /// Checks a kind's mapping (as the form has it) against the deployed workflow.
    CheckDeployment(String),
}

enum Reply {
    Checked(ProviderKind, ConnectionCheck),
    /// A connection test that could not start (the configuration does not build).
    CheckFailed(ProviderKind, String),
    Stats(Result<CacheStats, String>),
    /// Whether the cache was cleared, and its size afterwards.
    Cleared(Result<(), String>, Result<CacheStats, String>),
    /// Keys or the address changed: what to tell the user and where keys come from now.
    Providers {
        notice: String,
        sources: BTreeMap<ProviderKind, KeySource>,
    },
    Sources(BTreeMap<ProviderKind, KeySource>),
    /// A settings-file write; `Some` when it failed.
    Saved(Option<String>),
    /// A deployment mapping checked: the kind, whether it lands, what was found.
    DeploymentChecked(String, bool, Vec<String>),
}

/// A write to the keychain or the settings folder, run on a worker thread in queue order.
type Write = super::task::Job<Reply>;

/// State of the Settings window.
pub struct SettingsUi {
    pub open: bool,
    pub tab: Tab,
    /// Keys typed but not saved yet (cleared once saved).
    pub keys: BTreeMap<ProviderKind, String>,
    pub comfyui_url: String,
    /// The settings file as this window last wrote it.
    prefs: Prefs,
    pub checks: BTreeMap<ProviderKind, ConnectionCheck>,
    checking: BTreeSet<ProviderKind>,
    /// Where each key comes from, read off the UI thread when the window opens and after a
    /// save or removal.
    sources: BTreeMap<ProviderKind, KeySource>,
    shown: bool,
    pub stats: Option<Result<CacheStats, String>>,
    busy_cache: bool,
    /// The last thing to tell the user.
    pub notice: Option<String>,
    secrets: Option<SecretStore>,
    dir: Option<PathBuf>,
    /// The environment keys and addresses are read from (with `secrets` and `dir`).
    setup: crate::setup::Setup,
    spawner: Spawner,
    /// Background reads under way (connection tests, cache size, clearing, key sources).
    pending: Vec<Task<Reply>>,
    /// Keychain and settings-file writes, one at a time in the order asked.
    writes: Lane<Reply>,
    /// Bumped each time the cache is cleared (what the board's plan depends on).
    pub cache_cleared: u64,
    /// Bumped each time keys or addresses change (the app's routes per kind depend on them).
    pub providers_rev: u64,
    /// The Inputs & deployments tab.
    pub deployments: super::deployments::DeploymentsUi,
}

impl SettingsUi {
    pub fn new(setup: crate::setup::Setup, spawner: Spawner) -> Self {
        let (secrets, dir) = (setup.secrets.clone(), setup.config_dir.clone());
        let prefs = dir.as_deref().map(Prefs::load).unwrap_or_default();
        Self {
            open: false,
            tab: Tab::Providers,
            keys: BTreeMap::new(),
            comfyui_url: prefs.comfyui_url.clone().unwrap_or_default(),
            prefs,
            checks: BTreeMap::new(),
            checking: BTreeSet::new(),
            sources: BTreeMap::new(),
            shown: false,
            stats: None,
            busy_cache: false,
            notice: None,
            secrets,
            dir,
            setup,
            writes: Lane::new(spawner.clone()),
            spawner,
            pending: Vec::new(),
            cache_cleared: 0,
            providers_rev: 0,
            deployments: super::deployments::DeploymentsUi::default(),
        }
    }

    /// The surroundings with the storage this window uses now.
    fn current_setup(&self) -> crate::setup::Setup {
        self.setup
            .with_storage(self.secrets.clone(), self.dir.clone())
    }

    /// Keeps keys and settings elsewhere (tests use a temp folder).
    pub fn set_storage(&mut self, secrets: Option<SecretStore>, dir: Option<PathBuf>) {
        self.prefs = dir.as_deref().map(Prefs::load).unwrap_or_default();
        self.secrets = secrets;
        self.dir = dir;
        self.deployments = super::deployments::DeploymentsUi::default();
    }

    /// Runs costing more than this ask for confirmation.
    pub fn confirm_above(&self) -> u32 {
        self.prefs.confirm_above
    }

    /// Where `provider`'s key comes from, as last read.
    pub fn source(&self, provider: ProviderKind) -> KeySource {
        self.sources
            .get(&provider)
            .cloned()
            .unwrap_or(KeySource::None)
    }

    /// Whether anything asked of the window is still being done.
    pub fn busy(&self) -> bool {
        !self.pending.is_empty() || self.writes.busy()
    }

    /// The surroundings as this window has them now, for work off the UI thread.
    pub fn worker_setup(&self) -> crate::setup::Setup {
        self.current_setup()
    }

    pub fn is_checking(&self, provider: ProviderKind) -> bool {
        self.checking.contains(&provider)
    }

    /// Carries out a request of the window (called by the command handler). Quick state
    /// changes happen here; everything that touches the keychain, the settings folder, the
    /// cache or the network is queued on a worker thread.
    pub fn start(&mut self, request: SettingsRequest, engine: &Arc<Engine>) {
        match request {
            SettingsRequest::ReadSources => {
                let setup = self.current_setup();
                self.pending.push(
                    self.spawner
                        .blocking(move || Reply::Sources(key_sources(&setup))),
                );
            }
            SettingsRequest::SaveKey(_)
            | SettingsRequest::RemoveKey(_)
            | SettingsRequest::SaveComfyuiUrl => self.change_providers(&request, engine),
            SettingsRequest::SaveHosting => self.save_hosting(engine),
            SettingsRequest::SaveDeployment(kind) => self.save_deployment(&kind, false, engine),
            SettingsRequest::ResetDeployment(kind) => self.save_deployment(&kind, true, engine),
            SettingsRequest::CheckDeployment(kind) => self.check_deployment(kind),
            SettingsRequest::SetConfirmAbove(credits) => {
                self.prefs.confirm_above = credits;
                let Some(dir) = self.dir.clone() else { return };
                let prefs = self.prefs.clone();
                self.queue_write(Box::new(move || {
                    Reply::Saved(
                        prefs
                            .save(&dir)
                            .err()
                            .map(|e| format!("cannot save the settings: {e}")),
                    )
                }));
            }
            SettingsRequest::Check(provider) => {
                self.checking.insert(provider);
                let setup = self.current_setup();
                self.pending.push(self.spawner.spawn(async move {
                    match providers_for_test(setup).await {
                        Ok(providers) => Reply::Checked(provider, providers.check(provider).await),
                        Err(e) => Reply::CheckFailed(provider, e),
                    }
                }));
            }
            SettingsRequest::RefreshStats => {
                if self.busy_cache {
                    return;
                }
                self.busy_cache = true;
                let cache = engine.cache().clone();
                self.pending.push(
                    self.spawner
                        .blocking(move || Reply::Stats(cache.stats().map_err(|e| e.to_string()))),
                );
            }
            SettingsRequest::ClearCache => {
                self.busy_cache = true;
                let cache = engine.cache().clone();
                self.pending.push(self.spawner.blocking(move || {
                    let cleared = cache.clear().map_err(|e| e.to_string());
                    Reply::Cleared(cleared, cache.stats().map_err(|e| e.to_string()))
                }));
            }
        }
    }

    /// A key saved or removed, or the ComfyUI address saved: written in queue order, then the
    /// provider routes rebuilt.
    fn change_providers(&mut self, request: &SettingsRequest, engine: &Arc<Engine>) {
        match *request {
            SettingsRequest::SaveKey(provider) => {
                let key = self.keys.remove(&provider).unwrap_or_default();
                let key = key.trim().to_owned();
                if key.is_empty() {
                    return;
                }
                let (Some(var), Some(store)) = (key_variable(provider), self.secrets.clone())
                else {
                    self.notice = Some("there is nowhere to keep keys on this system".into());
                    return;
                };
                self.checks.remove(&provider);
                let (setup, engine) = (self.current_setup(), Arc::clone(engine));
                self.queue_write(Box::new(move || {
                    let notice = match store.set(var, &key) {
                        Ok(kept) => format!(
                            "{} key {}",
                            provider,
                            KeySource::Saved(kept.to_string()).describe()
                        ),
                        Err(e) => format!("the key was not saved: {e}"),
                    };
                    providers_changed(&setup, &engine, notice)
                }));
            }
            SettingsRequest::RemoveKey(provider) => {
                let (Some(var), Some(store)) = (key_variable(provider), self.secrets.clone())
                else {
                    return;
                };
                self.checks.remove(&provider);
                let (setup, engine) = (self.current_setup(), Arc::clone(engine));
                self.queue_write(Box::new(move || {
                    let notice = match store.delete(var) {
                        Ok(()) => format!("{provider} key removed"),
                        Err(e) => format!("the key was not removed: {e}"),
                    };
                    providers_changed(&setup, &engine, notice)
                }));
            }
            SettingsRequest::SaveComfyuiUrl => {
                let url = self.comfyui_url.trim().trim_end_matches('/').to_owned();
                let looks_like_address = (url.starts_with("http://")
                    || url.starts_with("https://"))
                    && url.len() > "https://".len()
                    && !url.contains(char::is_whitespace);
                if !url.is_empty() && !looks_like_address {
                    self.notice = Some(format!(
                        "`{url}` is not an address (e.g. http://127.0.0.1:8188)"
                    ));
                    return;
                }
                let Some(dir) = self.dir.clone() else {
                    self.notice = Some("there is no settings folder on this system".into());
                    return;
                };
                self.prefs.comfyui_url = (!url.is_empty()).then_some(url);
                self.checks.remove(&ProviderKind::ComfyUi);
                let (prefs, setup, engine) =
                    (self.prefs.clone(), self.current_setup(), Arc::clone(engine));
                self.queue_write(Box::new(move || {
                    let notice = match prefs.save(&dir) {
                        Ok(()) => "ComfyUI address saved".to_owned(),
                        Err(e) => format!("the address was not saved: {e}"),
                    };
                    providers_changed(&setup, &engine, notice)
                }));
            }
            _ => {}
        }
    }

    /// Keeps the input-hosting form: the bucket's address in the settings file, its keys in
    /// the secret store; then the provider routes are rebuilt.
    fn save_hosting(&mut self, engine: &Arc<Engine>) {
        let mut prefs = self.prefs.clone();
        if let Err(e) = self.deployments.hosting.apply(&mut prefs) {
            self.notice = Some(e);
            return;
        }
        let Some(dir) = self.dir.clone() else {
            self.notice = Some("there is no settings folder on this system".into());
            return;
        };
        let hosting = &mut self.deployments.hosting;
        let keys: Vec<(&'static str, String)> = [
            (
                "AWS_ACCESS_KEY_ID",
                std::mem::take(&mut hosting.access_key_id),
            ),
            (
                "AWS_SECRET_ACCESS_KEY",
                std::mem::take(&mut hosting.secret_access_key),
            ),
        ]
        .into_iter()
        .map(|(var, v)| (var, v.trim().to_owned()))
        .filter(|(_, v)| !v.is_empty())
        .collect();
        if !keys.is_empty() && self.secrets.is_none() {
            self.notice = Some("there is nowhere to keep keys on this system".into());
            return;
        }
        self.prefs = prefs.clone();
        let (store, setup, engine) = (
            self.secrets.clone(),
            self.current_setup(),
            Arc::clone(engine),
        );
        self.queue_write(Box::new(move || {
            let mut notice = match prefs.save(&dir) {
                Ok(()) => "input hosting saved".to_owned(),
                Err(e) => format!("input hosting was not saved: {e}"),
            };
            if let Some(store) = store {
                for (var, value) in keys {
                    if let Err(e) = store.set(var, &value) {
                        notice = format!("{var} was not saved: {e}");
                    }
                }
            }
            providers_changed(&setup, &engine, notice)
        }));
    }

    /// Keeps (or, with `reset`, forgets) a kind's deployment mapping; then the provider routes
    /// are rebuilt.
    fn save_deployment(&mut self, kind: &str, reset: bool, engine: &Arc<Engine>) {
        let Some(shipped) = self.deployments.shipped.get(kind).cloned() else {
            return;
        };
        if reset {
            self.prefs.deployments.remove(kind);
            self.deployments.reset(kind);
        } else {
            let Some(form) = self.deployments.forms.get(kind) else {
                return;
            };
            match form.to_mapping(&shipped) {
                Ok(mapping) => {
                    self.prefs.deployments.insert(kind.to_owned(), mapping);
                }
                Err(e) => {
                    self.notice = Some(e);
                    return;
                }
            }
        }
        let Some(dir) = self.dir.clone() else {
            self.notice = Some("there is no settings folder on this system".into());
            return;
        };
        let (prefs, setup, engine) = (self.prefs.clone(), self.current_setup(), Arc::clone(engine));
        let title = Catalog::builtin()
            .get(kind)
            .map_or(kind, |k| k.title.as_str())
            .to_owned();
        self.queue_write(Box::new(move || {
            let notice = match prefs.save(&dir) {
                Ok(()) if reset => format!("{title} is back to the shipped deployment mapping"),
                Ok(()) => format!("{title}'s deployment mapping saved"),
                Err(e) => format!("the deployment mapping was not saved: {e}"),
            };
            providers_changed(&setup, &engine, notice)
        }));
    }

    /// Reads the deployed workflow (RunComfy's management API) and checks the form against it.
    fn check_deployment(&mut self, kind: String) {
        let (Some(shipped), Some(form)) = (
            self.deployments.shipped.get(&kind).cloned(),
            self.deployments.forms.get(&kind).cloned(),
        ) else {
            return;
        };
        self.deployments.checking.insert(kind.clone());
        let setup = self.current_setup();
        self.pending.push(self.spawner.spawn(async move {
            let (ok, lines) = match providers_for_test(setup).await {
                Ok(providers) => super::deployments::check(providers, shipped, form).await,
                Err(e) => (false, vec![e]),
            };
            Reply::DeploymentChecked(kind, ok, lines)
        }));
    }

    fn queue_write(&mut self, write: Write) {
        self.writes.push(write);
    }

    /// Applies answers that came back and starts the next write (called from the logic step).
    pub fn poll(&mut self) {
        let mut replies = drain_ready(&mut self.pending);
        for done in self.writes.poll() {
            match done {
                Ok(reply) => replies.push(reply),
                Err(lost) => self.notice = Some(lost.to_string()),
            }
        }
        for reply in replies {
            match reply {
                Reply::Checked(p, check) => {
                    self.checking.remove(&p);
                    self.checks.insert(p, check);
                }
                Reply::CheckFailed(p, e) => {
                    self.checking.remove(&p);
                    self.notice = Some(e);
                }
                Reply::Stats(stats) => {
                    self.busy_cache = false;
                    self.stats = Some(stats);
                }
                Reply::Cleared(result, stats) => {
                    self.busy_cache = false;
                    self.stats = Some(stats);
                    self.cache_cleared += 1;
                    self.notice = Some(match result {
                        Ok(()) => {
                            "the cache is empty; results will be made again when needed".into()
                        }
                        Err(e) => format!("the cache was not cleared: {e}"),
                    });
                }
                Reply::Providers { notice, sources } => {
                    self.notice = Some(notice);
                    self.sources = sources;
                    self.providers_rev += 1;
                }
                Reply::Sources(sources) => self.sources = sources,
                Reply::Saved(failed) => {
                    if failed.is_some() {
                        self.notice = failed;
                    }
                }
                Reply::DeploymentChecked(kind, ok, lines) => {
                    self.deployments.checking.remove(&kind);
                    self.deployments.checks.insert(kind, (ok, lines));
                }
            }
        }
    }

    /// The window. Returns the board edits it asks for (routes per kind), for the app to apply
    /// with undo.
    pub fn ui(
        &mut self,
        ctx: &egui::Context,
        cache_root: &Path,
        doc: &Document,
        app_routes: &BTreeMap<String, Route>,
        running: bool,
    ) -> Vec<AppCommand> {
        let mut commands = Vec::new();
        if !self.open {
            self.shown = false;
            return commands;
        }
        if !self.shown {
            self.shown = true;
            commands.push(AppCommand::Settings(SettingsRequest::ReadSources));
        }
        let mut open = true;
        egui::Window::new("Settings")
            .collapsible(false)
            .default_width(560.0)
            .open(&mut open)
            .show(ctx, |ui| {
                ui.horizontal(|ui| {
                    for (tab, name) in [
                        (Tab::Providers, "Providers"),
                        (Tab::Deployments, "Inputs & deployments"),
                        (Tab::Routes, "Routes"),
                        (Tab::Cache, "Cache"),
                    ] {
                        if ui.selectable_label(self.tab == tab, name).clicked() {
                            self.tab = tab;
                            if tab == Tab::Cache {
                                commands.push(AppCommand::Settings(SettingsRequest::RefreshStats));
                            }
                        }
                    }
                });
                ui.separator();
                match self.tab {
                    Tab::Providers => self.providers_ui(ui, &mut commands),
                    Tab::Deployments => {
                        self.deployments.load(&self.prefs);
                        let env_bucket = self
                            .setup
                            .var(aktion_providers::hosting::INPUT_BUCKET_ENV)
                            .is_some();
                        self.deployments.ui(ui, &mut commands, env_bucket);
                    }
                    Tab::Routes => {
                        let mut above = self.prefs.confirm_above;
                        ui.horizontal(|ui| {
                            let l = ui.label("Ask before a run that costs more than").id;
                            ui.add(egui::DragValue::new(&mut above).range(0..=100_000))
                                .labelled_by(l);
                            ui.label("credits");
                        });
                        if above != self.prefs.confirm_above {
                            commands.push(AppCommand::Settings(SettingsRequest::SetConfirmAbove(
                                above,
                            )));
                        }
                        ui.separator();
                        commands.extend(
                            routes_ui(ui, doc, app_routes)
                                .into_iter()
                                .map(AppCommand::Edit),
                        );
                    }
                    Tab::Cache => self.cache_ui(ui, cache_root, running, &mut commands),
                }
                if let Some(n) = &self.notice {
                    ui.separator();
                    ui.label(egui::RichText::new(n).weak());
                }
            });
        self.open = open;
        commands
    }

    fn providers_ui(&mut self, ui: &mut egui::Ui, commands: &mut Vec<AppCommand>) {
        ui.label(
            egui::RichText::new(
                "Keys for the direct route: your own accounts, no credits. They are kept in \
                 the system keychain (or a file only you can read), never in projects or logs.",
            )
            .weak(),
        );
        egui::Grid::new("provider-keys")
            .num_columns(2)
            .spacing([10.0, 6.0])
            .show(ui, |ui| {
                for provider in HOSTED {
                    ui.label(egui::RichText::new(provider.to_string()).strong());
                    let source = self.source(provider);
                    ui.label(egui::RichText::new(source.describe()).weak())
                        .on_hover_text(source.detail());
                    ui.end_row();
                    let l = ui.label(format!("{provider} key")).id;
                    ui.horizontal(|ui| {
                        let typed = self.keys.entry(provider).or_default();
                        let field = ui
                            .add(
                                egui::TextEdit::singleline(typed)
                                    .password(true)
                                    .hint_text("paste a key")
                                    .desired_width(220.0),
                            )
                            .labelled_by(l);
                        let entered =
                            field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
                        let has_text = !typed.trim().is_empty();
                        if ui
                            .add_enabled(has_text, egui::Button::new("Save"))
                            .clicked()
                            || (entered && has_text)
                        {
                            commands.push(AppCommand::Settings(SettingsRequest::SaveKey(provider)));
                        }
                        let saved = matches!(self.source(provider), KeySource::Saved(_));
                        if ui.add_enabled(saved, egui::Button::new("Remove")).clicked() {
                            commands
                                .push(AppCommand::Settings(SettingsRequest::RemoveKey(provider)));
                        }
                        self.check_button(ui, provider, commands);
                    });
                    ui.end_row();
                    if self.checks.contains_key(&provider) {
                        ui.label("");
                        ui.vertical(|ui| self.check_result(ui, provider));
                        ui.end_row();
                    }
                }
            });
        ui.add_space(6.0);
        ui.separator();
        ui.label(egui::RichText::new("ComfyUI").strong());
        ui.horizontal(|ui| {
            let l = ui.label("Address").id;
            ui.add(
                egui::TextEdit::singleline(&mut self.comfyui_url)
                    .hint_text("http://127.0.0.1:8188")
                    .desired_width(240.0),
            )
            .labelled_by(l);
            if ui.button("Save").clicked() {
                commands.push(AppCommand::Settings(SettingsRequest::SaveComfyuiUrl));
            }
            self.check_button(ui, ProviderKind::ComfyUi, commands);
        });
        if self.setup.var("AKTION_COMFYUI_URL").is_some() {
            ui.label(
                egui::RichText::new("AKTION_COMFYUI_URL is set in the environment and wins.")
                    .weak()
                    .small(),
            );
        }
        self.check_result(ui, ProviderKind::ComfyUi);
    }

    fn check_button(
        &self,
        ui: &mut egui::Ui,
        provider: ProviderKind,
        commands: &mut Vec<AppCommand>,
    ) {
        let busy = self.is_checking(provider);
        let label = if busy {
            "Testing…"
        } else {
            "Test connection"
        };
        if ui.add_enabled(!busy, egui::Button::new(label)).clicked() {
            commands.push(AppCommand::Settings(SettingsRequest::Check(provider)));
        }
    }

    fn check_result(&self, ui: &mut egui::Ui, provider: ProviderKind) {
        let Some(check) = self.checks.get(&provider) else {
            return;
        };
        let color = if check.ok {
            egui::Color32::from_rgb(120, 200, 140)
        } else {
            egui::Color32::from_rgb(240, 160, 110)
        };
        ui.label(egui::RichText::new(&check.summary).color(color));
        for d in &check.details {
            ui.label(egui::RichText::new(format!("  {d}")).weak());
        }
    }

    fn cache_ui(
        &self,
        ui: &mut egui::Ui,
        cache_root: &Path,
        running: bool,
        commands: &mut Vec<AppCommand>,
    ) {
        ui.label(format!("Results are kept in {}", cache_root.display()));
        match &self.stats {
            Some(Ok(s)) => {
                ui.label(format!(
                    "{} results, {} files, {} of {}",
                    s.entries,
                    s.blobs,
                    human_bytes(s.bytes),
                    human_bytes(s.max_bytes)
                ));
                ui.label(
                    egui::RichText::new(
                        "Past the limit, the results used least recently are removed first.",
                    )
                    .weak(),
                );
            }
            Some(Err(e)) => {
                ui.label(format!("cannot read the cache: {e}"));
            }
            None => {
                ui.label(egui::RichText::new("reading…").weak());
            }
        }
        ui.horizontal(|ui| {
            if ui
                .add_enabled(!self.busy_cache, egui::Button::new("Refresh"))
                .clicked()
            {
                commands.push(AppCommand::Settings(SettingsRequest::RefreshStats));
            }
            let clear = ui
                .add_enabled(
                    !self.busy_cache && !running,
                    egui::Button::new("Clear cache"),
                )
                .on_hover_text(
                    "Removes every cached result. Takes on the board keep their files only if \
                     they were exported; re-running a node pays again.",
                )
                .on_disabled_hover_text("wait for the run to finish");
            if clear.clicked() {
                commands.push(AppCommand::Settings(SettingsRequest::ClearCache));
            }
        });
    }
}

/// Where each hosted provider's key comes from: the environment wins, then the secret store.
/// Reads the keychain: call it off the UI thread.
pub fn key_sources(setup: &crate::setup::Setup) -> BTreeMap<ProviderKind, KeySource> {
    HOSTED
        .iter()
        .map(|p| {
            let source = match key_variable(*p) {
                None => KeySource::None,
                Some(var) if setup.var(var).is_some() => KeySource::Environment(var),
                Some(var) => match &setup.secrets {
                    Some(store) if matches!(store.get(var), Ok(Some(_))) => {
                        KeySource::Saved(store.kept().to_string())
                    }
                    _ => KeySource::None,
                },
            };
            (*p, source)
        })
        .collect()
}

/// After a key or the address changed: the engine's direct and comfyui routes are rebuilt
/// (jobs already running finish on the old ones) and the key sources read again.
/// The provider clients as the settings in force now make them, for a connection or mapping
/// check (short timeouts). The keychain is read on a blocking worker.
async fn providers_for_test(setup: crate::setup::Setup) -> Result<Providers, String> {
    tokio::task::spawn_blocking(move || {
        setup
            .providers_config()
            .map_err(|f| f.message())
            .and_then(|c| Providers::new(c.for_connection_test()).map_err(|e| e.to_string()))
    })
    .await
    .map_err(|e| e.to_string())?
}

fn providers_changed(setup: &crate::setup::Setup, engine: &Engine, notice: String) -> Reply {
    let notice = match setup.set_provider_routes(engine) {
        Ok(()) => notice,
        Err(e) => e,
    };
    Reply::Providers {
        notice,
        sources: key_sources(setup),
    }
}

/// Route per generating kind on this board; returns the changes asked for.
fn routes_ui(
    ui: &mut egui::Ui,
    doc: &Document,
    app_routes: &BTreeMap<String, Route>,
) -> Vec<Command> {
    let mut commands = Vec::new();
    ui.label(
        egui::RichText::new(
            "Where each kind of node on this board runs, unless a node sets its own. \
             The app's default is your account when signed in, the provider directly when \
             its key is set, and the free draft otherwise (the toolbar's route can set one \
             for all).",
        )
        .weak(),
    );
    egui::Grid::new("kind-routes")
        .num_columns(2)
        .striped(true)
        .show(ui, |ui| {
            for kind in Catalog::builtin().iter().filter(|k| k.is_generating()) {
                let l = ui.label(&kind.title).id;
                let current = doc.settings.routes.get(&kind.id).copied();
                let mut chosen = current;
                let app_default = app_routes.get(&kind.id).map_or_else(
                    || "app default".to_owned(),
                    |r| format!("app default ({r})"),
                );
                egui::ComboBox::from_id_salt(("kind-route", &kind.id))
                    .selected_text(chosen.map_or(app_default.clone(), |r| r.as_str().to_owned()))
                    .show_ui(ui, |ui| {
                        ui.selectable_value(&mut chosen, None, app_default);
                        for r in Route::ALL {
                            ui.selectable_value(&mut chosen, Some(r), r.as_str());
                        }
                    })
                    .response
                    .labelled_by(l);
                if chosen != current {
                    commands.push(Command::SetKindRoute {
                        kind: kind.id.clone(),
                        route: chosen,
                    });
                }
                ui.end_row();
            }
        });
    commands
}

fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_a_file_manager() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KB");
        assert_eq!(human_bytes(10 * 1024 * 1024 * 1024), "10.0 GB");
        assert!(human_bytes(u64::MAX).ends_with(" TB"), "the largest unit");
    }
}
