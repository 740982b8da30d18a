//! The Settings window (PRODUCT.md §4.4, §4.5): **Providers** (API keys for the direct route,
//! kept in the system keychain or an owner-only file and never in projects or logs; the ComfyUI
//! address; a connection test per provider), **Routes** (where each node kind of this board runs)
//! and **Cache** (where results are kept, how much, and clearing it).
//!
//! Keys and the address take effect at once: the engine's direct and comfyui executors are
//! rebuilt (a job already running finishes on the old ones). Slow work (connection tests, cache
//! scans) runs on the app's runtime and answers through a channel, so the window never waits.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

use aktion_account::secrets::SecretStore;
use aktion_cache::CacheStats;
use aktion_engine::Engine;
use aktion_graph::{Catalog, Document, Route};
use aktion_providers::{ConnectionCheck, ProviderKind, Providers, key_variable};

use super::state::Command;
use super::task::{Spawner, Task, drain_ready};

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
    Routes,
    Cache,
}

enum Reply {
    Checked(ProviderKind, ConnectionCheck),
    Stats(Result<CacheStats, String>),
    /// Whether the cache was cleared, and its size afterwards.
    Cleared(Result<(), String>, Result<CacheStats, String>),
}

/// State of the Settings window.
pub struct SettingsUi {
    pub open: bool,
    pub tab: Tab,
    /// Keys typed but not saved yet (cleared once saved).
    pub keys: BTreeMap<ProviderKind, String>,
    pub comfyui_url: String,
    /// Runs above this many credits ask first.
    pub confirm_above: u32,
    pub checks: BTreeMap<ProviderKind, ConnectionCheck>,
    checking: BTreeSet<ProviderKind>,
    /// Where each key comes from, read when the window opens and after a save or removal
    /// (a keychain lookup is I/O: never once per frame).
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
    /// Background work under way (connection tests, cache size, clearing).
    pending: Vec<Task<Reply>>,
    /// Bumped each time the cache is cleared (what the board's plan depends on).
    pub cache_cleared: u64,
    /// Bumped each time keys or addresses change (the app's routes per kind depend on them).
    pub providers_rev: u64,
}

impl SettingsUi {
    pub fn new(setup: crate::setup::Setup) -> Self {
        let (secrets, dir) = (setup.secrets.clone(), setup.config_dir.clone());
        let prefs = dir.as_deref().map(Prefs::load).unwrap_or_default();
        Self {
            open: false,
            tab: Tab::Providers,
            keys: BTreeMap::new(),
            comfyui_url: prefs.comfyui_url.unwrap_or_default(),
            confirm_above: prefs.confirm_above,
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
            pending: Vec::new(),
            cache_cleared: 0,
            providers_rev: 0,
        }
    }

    /// The surroundings with the storage this window uses now.
    fn current_setup(&self) -> crate::setup::Setup {
        self.setup
            .with_storage(self.secrets.clone(), self.dir.clone())
    }

    /// Keeps keys and settings elsewhere (tests use a temp folder).
    pub fn set_storage(&mut self, secrets: Option<SecretStore>, dir: Option<PathBuf>) {
        self.secrets = secrets;
        self.dir = dir;
    }

    /// Runs costing more than this ask for confirmation.
    pub fn confirm_above(&self) -> u32 {
        self.confirm_above
    }

    /// Keeps a new confirmation threshold (in the settings file).
    pub fn set_confirm_above(&mut self, credits: u32) {
        self.confirm_above = credits;
        let Some(dir) = &self.dir else { return };
        let mut prefs = Prefs::load(dir);
        prefs.confirm_above = credits;
        if let Err(e) = prefs.save(dir) {
            self.notice = Some(format!("cannot save the settings: {e}"));
        }
    }

    fn refresh_sources(&mut self) {
        self.sources = HOSTED.iter().map(|p| (*p, self.key_source(*p))).collect();
    }

    fn source(&self, provider: ProviderKind) -> KeySource {
        self.sources
            .get(&provider)
            .cloned()
            .unwrap_or(KeySource::None)
    }

    pub fn key_source(&self, provider: ProviderKind) -> KeySource {
        let Some(var) = key_variable(provider) else {
            return KeySource::None;
        };
        if self.setup.var(var).is_some() {
            return KeySource::Environment(var);
        }
        match &self.secrets {
            Some(store) if matches!(store.get(var), Ok(Some(_))) => {
                KeySource::Saved(store.kept().to_string())
            }
            _ => KeySource::None,
        }
    }

    /// Saves the typed key of `provider` (trimmed) and rebuilds the provider routes.
    pub fn save_key(&mut self, provider: ProviderKind, engine: &Engine) {
        let (Some(var), Some(store)) = (key_variable(provider), &self.secrets) else {
            self.notice = Some("there is nowhere to keep keys on this system".into());
            return;
        };
        let key = self.keys.remove(&provider).unwrap_or_default();
        let key = key.trim();
        if key.is_empty() {
            return;
        }
        self.notice = Some(match store.set(var, key) {
            Ok(kept) => format!(
                "{} key {}",
                provider,
                KeySource::Saved(kept.to_string()).describe()
            ),
            Err(e) => format!("the key was not saved: {e}"),
        });
        self.checks.remove(&provider);
        self.refresh_sources();
        self.reload(engine);
    }

    pub fn remove_key(&mut self, provider: ProviderKind, engine: &Engine) {
        let (Some(var), Some(store)) = (key_variable(provider), &self.secrets) else {
            return;
        };
        self.notice = Some(match store.delete(var) {
            Ok(()) => format!("{provider} key removed"),
            Err(e) => format!("the key was not removed: {e}"),
        });
        self.checks.remove(&provider);
        self.refresh_sources();
        self.reload(engine);
    }

    /// Saves the ComfyUI address (empty: the default) and rebuilds the provider routes.
    pub fn save_comfyui_url(&mut self, engine: &Engine) {
        let url = self.comfyui_url.trim().trim_end_matches('/').to_owned();
        let looks_like_address = (url.starts_with("http://") || url.starts_with("https://"))
            && url.len() > "https://".len()
            && !url.contains(char::is_whitespace);
        if !url.is_empty() && !looks_like_address {
            self.notice = Some(format!(
                "`{url}` is not an address (e.g. http://127.0.0.1:8188)"
            ));
            return;
        }
        let Some(dir) = &self.dir else {
            self.notice = Some("there is no settings folder on this system".into());
            return;
        };
        let mut prefs = Prefs::load(dir);
        prefs.comfyui_url = (!url.is_empty()).then_some(url);
        self.notice = Some(match prefs.save(dir) {
            Ok(()) => "ComfyUI address saved".to_owned(),
            Err(e) => format!("the address was not saved: {e}"),
        });
        self.checks.remove(&ProviderKind::ComfyUi);
        self.reload(engine);
    }

    fn reload(&mut self, engine: &Engine) {
        if let Err(e) = self.current_setup().set_provider_routes(engine) {
            self.notice = Some(e);
        }
        self.providers_rev += 1;
    }

    /// The surroundings as this window has them now, for work off the UI thread.
    pub fn worker_setup(&self) -> crate::setup::Setup {
        self.current_setup()
    }

    /// Starts a connection test with the settings in force now.
    pub fn check(
        &mut self,
        provider: ProviderKind,
        rt: &tokio::runtime::Runtime,
        ctx: &egui::Context,
    ) {
        let config = self.current_setup().providers_config();
        let providers = match config.map(|c| Providers::new(c.for_connection_test())) {
            Ok(Ok(p)) => p,
            Ok(Err(e)) => {
                self.notice = Some(e.to_string());
                return;
            }
            Err(e) => {
                self.notice = Some(e.message);
                return;
            }
        };
        self.checking.insert(provider);
        let spawner = Spawner::new(rt.handle().clone(), Some(ctx.clone()));
        self.pending.push(
            spawner.spawn(async move { Reply::Checked(provider, providers.check(provider).await) }),
        );
    }

    pub fn is_checking(&self, provider: ProviderKind) -> bool {
        self.checking.contains(&provider)
    }

    /// Reads the cache's size off the UI thread.
    pub fn refresh_stats(
        &mut self,
        engine: &Engine,
        rt: &tokio::runtime::Runtime,
        ctx: &egui::Context,
    ) {
        if self.busy_cache {
            return;
        }
        self.busy_cache = true;
        let cache = engine.cache().clone();
        let spawner = Spawner::new(rt.handle().clone(), Some(ctx.clone()));
        self.pending
            .push(spawner.blocking(move || Reply::Stats(cache.stats().map_err(|e| e.to_string()))));
    }

    /// Empties the cache off the UI thread (the caller makes sure no run is going).
    pub fn clear_cache(
        &mut self,
        engine: &Engine,
        rt: &tokio::runtime::Runtime,
        ctx: &egui::Context,
    ) {
        self.busy_cache = true;
        let cache = engine.cache().clone();
        let spawner = Spawner::new(rt.handle().clone(), Some(ctx.clone()));
        self.pending.push(spawner.blocking(move || {
            let cleared = cache.clear().map_err(|e| e.to_string());
            Reply::Cleared(cleared, cache.stats().map_err(|e| e.to_string()))
        }));
    }

    /// Applies answers that came back.
    pub fn poll(&mut self) {
        for reply in drain_ready(&mut self.pending) {
            match reply {
                Reply::Checked(p, check) => {
                    self.checking.remove(&p);
                    self.checks.insert(p, check);
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
            }
        }
    }

    /// The window. Returns the board edits it asks for (routes per kind), for the app to apply
    /// with undo.
    pub fn ui(
        &mut self,
        ctx: &egui::Context,
        rt: &tokio::runtime::Runtime,
        engine: &Arc<Engine>,
        doc: &Document,
        app_routes: &BTreeMap<String, Route>,
        running: bool,
    ) -> Vec<Command> {
        let mut commands = Vec::new();
        if !self.open {
            self.shown = false;
            return commands;
        }
        if !self.shown {
            self.shown = true;
            self.refresh_sources();
        }
        self.poll();
        let mut open = true;
        egui::Window::new("Settings")
            .collapsible(false)
            .default_width(560.0)
            .open(&mut open)
            .show(ctx, |ui| {
                ui.horizontal(|ui| {
                    for (tab, name) in [
                        (Tab::Providers, "Providers"),
                        (Tab::Routes, "Routes"),
                        (Tab::Cache, "Cache"),
                    ] {
                        if ui.selectable_label(self.tab == tab, name).clicked() {
                            self.tab = tab;
                            if tab == Tab::Cache {
                                self.refresh_stats(engine, rt, ctx);
                            }
                        }
                    }
                });
                ui.separator();
                match self.tab {
                    Tab::Providers => self.providers_ui(ui, ctx, rt, engine),
                    Tab::Routes => {
                        let mut above = self.confirm_above;
                        ui.horizontal(|ui| {
                            let l = ui.label("Ask before a run that costs more than").id;
                            ui.add(egui::DragValue::new(&mut above).range(0..=100_000))
                                .labelled_by(l);
                            ui.label("credits");
                        });
                        if above != self.confirm_above {
                            self.set_confirm_above(above);
                        }
                        ui.separator();
                        commands = routes_ui(ui, doc, app_routes);
                    }
                    Tab::Cache => self.cache_ui(ui, ctx, rt, engine, running),
                }
                if let Some(n) = &self.notice {
                    ui.separator();
                    ui.label(egui::RichText::new(n).weak());
                }
            });
        self.open = open;
        commands
    }

    fn providers_ui(
        &mut self,
        ui: &mut egui::Ui,
        ctx: &egui::Context,
        rt: &tokio::runtime::Runtime,
        engine: &Engine,
    ) {
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
                            self.save_key(provider, engine);
                        }
                        let saved = matches!(self.source(provider), KeySource::Saved(_));
                        if ui.add_enabled(saved, egui::Button::new("Remove")).clicked() {
                            self.remove_key(provider, engine);
                        }
                        self.check_button(ui, provider, ctx, rt);
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
                self.save_comfyui_url(engine);
            }
            self.check_button(ui, ProviderKind::ComfyUi, ctx, rt);
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
        &mut self,
        ui: &mut egui::Ui,
        provider: ProviderKind,
        ctx: &egui::Context,
        rt: &tokio::runtime::Runtime,
    ) {
        let busy = self.is_checking(provider);
        let label = if busy {
            "Testing…"
        } else {
            "Test connection"
        };
        if ui.add_enabled(!busy, egui::Button::new(label)).clicked() {
            self.check(provider, rt, ctx);
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
        &mut self,
        ui: &mut egui::Ui,
        ctx: &egui::Context,
        rt: &tokio::runtime::Runtime,
        engine: &Engine,
        running: bool,
    ) {
        ui.label(format!(
            "Results are kept in {}",
            engine.cache().root().display()
        ));
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
                self.refresh_stats(engine, rt, ctx);
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
                self.clear_cache(engine, rt, ctx);
            }
        });
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
