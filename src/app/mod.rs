//! The desktop window: the canvas, an inspector, a jobs panel and menus. Widgets read
//! [`state::AppState`] and emit commands; runs go to the engine on a background tokio runtime
//! and report back through a channel plus `request_repaint`, so no frame ever waits.

pub mod account;
pub mod actions;
pub mod animatic;
pub mod cards;
pub mod command;
mod deployments;
pub mod dialogs;
pub mod epic;
pub mod export;
pub mod import;
mod inspector;
mod jobs;
pub mod media;
pub mod panel;
pub mod planner;
pub mod player;
pub mod previews;
pub mod recent;
pub mod runs;
pub mod settings;
mod sharing;
pub mod shot_editor;
pub mod shotlist;
pub mod sketch;
pub mod sound;
pub mod state;
pub mod strip;
pub mod task;
#[cfg(test)]
mod tests;
pub mod view;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use aktion_canvas::{Board, Canvas, CanvasEvent};
use aktion_engine::{Engine, RunRequest};
use aktion_graph::{Catalog, Document, NodeId, Route};
use anyhow::Context as _;
use eframe::egui;

use crate::setup::{Failure, Setup};
pub use command::AppCommand;
use runs::{PROGRESS_REPAINT, Runs};
use state::{AppState, Command};
use task::{Spawner, Task, take_ready};
use view::IdMap;

/// The example opened when no project is given.
fn example_project() -> PathBuf {
    let beside_exe = std::env::current_exe().ok().and_then(|p| {
        p.parent()
            .map(|d| d.join("assets/examples/storyboard.aktion"))
    });
    beside_exe.filter(|p| p.is_dir()).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets/examples/storyboard.aktion")
    })
}

/// What the app opens without a project argument: the most recent project, or else a copy of
/// the example storyboard in the user's data folder (edits never touch the bundled example).
fn starting_project(
    recent_dir: Option<&std::path::Path>,
    data_dir: Option<&std::path::Path>,
) -> PathBuf {
    if let Some(last) = recent_dir
        .map(recent::load_in)
        .and_then(|r| r.into_iter().next())
    {
        return last;
    }
    let example = example_project();
    let Some(data) = data_dir else {
        return example;
    };
    let copy = data.join("Rooftop showdown.aktion");
    if copy.join("project.json").is_file() || copy_tree(&example, &copy).is_ok() {
        copy
    } else {
        example
    }
}

fn copy_tree(from: &std::path::Path, to: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

pub fn run(project: Option<PathBuf>) -> Result<u8, Failure> {
    let launched = Instant::now();
    let setup = Setup::from_process();
    let data_dir = directories::ProjectDirs::from("studio", "Aktion", "Aktion Studio")
        .map(|d| d.data_dir().join("projects"));
    let path = project
        .unwrap_or_else(|| starting_project(setup.config_dir.as_deref(), data_dir.as_deref()));
    let cache = aktion_cache::Cache::open_default(aktion_cache::CacheOptions::default())
        .context("cannot open the cache")?;
    let session = setup.account_session();
    let engine = setup.engine(cache, session.clone())?;
    let (state, message) = match AppState::open_with_recovery(&path) {
        Ok((s, m)) => (s, Some(m)),
        Err(e) => {
            let mut s = AppState::new(Document::default(), path.clone());
            s.read_only = Some(format!("{e:#}"));
            (s, Some(format!("{e:#}")))
        }
    };
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("Aktion Studio")
            .with_inner_size([1400.0, 860.0]),
        ..Default::default()
    };
    eframe::run_native(
        "Aktion Studio",
        options,
        Box::new(move |cc| {
            let mut app = Studio::new(state, engine, &setup)
                .map_err(|e| e.message())?
                .with_account_session(session);
            app.message = message;
            app.launched = Some(launched);
            app.egui_ctx = Some(cc.egui_ctx.clone());
            // The balance in the toolbar, fetched in the background (offline: the board works).
            app.send(AppCommand::Account(account::AccountRequest::Refresh));
            Ok(Box::new(app))
        }),
    )
    .map_err(|e| anyhow::anyhow!("cannot open a window: {e}"))?;
    Ok(0)
}

/// Where dropped files go.
enum DropTarget {
    Board([f32; 2]),
    /// A slot of the Epic Scene panel.
    SceneSlot(usize),
    Input {
        node: NodeId,
        input: String,
        slot: u32,
    },
    /// An Image, Audio or Video node's own file (chosen with its file picker).
    Node(NodeId),
}

type ImportResult = (DropTarget, Result<Vec<state::PreparedFile>, String>);

/// A [`panel::PanelCtx`] on the app's fields (a macro, so the panel's own field stays free to
/// borrow mutably beside it).
macro_rules! panel_ctx {
    ($app:ident, $egui:expr) => {
        panel::PanelCtx {
            state: &$app.state,
            runs: &$app.runs,
            cache: $app.engine.cache(),
            route: $app.routes.toolbar,
            missing_takes: &$app.loaders.missing_takes,
            previews: &mut $app.loaders.previews,
            media: &mut $app.loaders.media,
            commands: &mut $app.commands,
            egui: $egui,
        }
    };
}

/// File → Export sequence: each format with what it is for.
const SEQUENCE_EXPORTS: [(aktion_export::Format, &str); 8] = [
    (aktion_export::Format::Mp4, "Animatic (MP4)…"),
    (aktion_export::Format::Pdf, "Storyboard (PDF)…"),
    (aktion_export::Format::Otio, "OpenTimelineIO (.otio)…"),
    (
        aktion_export::Format::Otioz,
        "OpenTimelineIO bundle (.otioz)…",
    ),
    (
        aktion_export::Format::Fcp7Xml,
        "Premiere Pro / Resolve (FCP7 XML)…",
    ),
    (aktion_export::Format::Fcpxml, "Final Cut Pro (FCPXML)…"),
    (aktion_export::Format::Edl, "EDL (CMX3600)…"),
    (aktion_export::Format::Csv, "Shot list (CSV)…"),
];

/// A sequence export on a worker: its result, how far it is (per mille) and its Cancel.
pub struct SequenceExport {
    task: Task<Result<String, String>>,
    progress: Arc<std::sync::atomic::AtomicU32>,
    cancel: Arc<std::sync::atomic::AtomicBool>,
    label: String,
}

impl SequenceExport {
    /// What the strip shows: the label and the fraction done.
    pub fn status(&self) -> (&str, f32) {
        let done = self.progress.load(std::sync::atomic::Ordering::Relaxed);
        #[expect(clippy::cast_precision_loss, reason = "per mille")]
        (&self.label, done.min(1000) as f32 / 1000.0)
    }
}

/// The board as the canvas shows it: the widget, its view model and where it was drawn.
struct BoardView {
    canvas: Canvas,
    /// The canvas's view model, rebuilt when the document or its runs change.
    model: Board,
    ids: IdMap,
    /// What `model` was built from (document revision, run statuses).
    key: Option<(u64, u64)>,
    /// Where the canvas was drawn last frame (for drops).
    rect: Option<egui::Rect>,
}

/// Where runs go when neither node nor board says: the toolbar's route, or each kind's app
/// route (account when signed in, direct when its key is set, draft otherwise).
struct AppRoutes {
    toolbar: Route,
    /// The toolbar's route is "auto": each kind's app route.
    auto: bool,
    /// Generating kinds whose provider key is set (their app route is direct).
    direct_kinds: std::collections::BTreeSet<String>,
    /// Those being read again after Settings changed keys, and the change they are for.
    direct_kinds_task: Option<(u64, Task<std::collections::BTreeSet<String>>)>,
    direct_kinds_for: u64,
}

/// A take file younger than this is never removed as garbage (a result that has just arrived
/// may not be on the board yet).
const TAKE_GARBAGE_GRACE: std::time::Duration = std::time::Duration::from_secs(3600);

/// A project read from disk with the message about its autosave, or why it could not be.
type Opened = Result<(AppState, String), String>;
/// A paste whose files were brought over: its text, where, and how many files were missing.
type PendingPaste = (String, [f32; 2], Result<usize, String>);
/// Journaled jobs started again, and their journal entries.
type Resumed = (aktion_engine::RunHandle, Vec<aktion_engine::JournalEntry>);

/// Background work that feeds what is shown: previews, media, file imports and exports.
pub struct Loaders {
    /// Picture previews, decoded off the UI thread.
    pub previews: previews::Previews,
    /// Clips and sounds in the inspector.
    pub media: media::Media,
    /// Pictures on the board's cards.
    pub cards: cards::Cards,
    /// Dropped files being read and stored, in drop order.
    imports: Vec<Task<ImportResult>>,
    /// Takes being written to a folder (File → Export).
    exporting: Option<Task<Result<String, String>>>,
    /// The sequence being exported (File → Export sequence), with its progress and Cancel.
    pub sequence_export: Option<SequenceExport>,
    /// An edit being read and matched to the sequence (File → Conform to an edit).
    pub conforming: Option<Task<Result<aktion_export::conform::Conformed, String>>>,
    /// A shot list being read (File → Import shot list…).
    pub reading_shots: Option<Task<Result<(PathBuf, aktion_graph::shotlist::ShotList), String>>>,
    /// The cost of the shot-list batch being worked out, and the template pick and board
    /// revision it is for.
    pub batch_cost: Option<Task<shotlist::BatchCost>>,
    pub batch_cost_key: Option<(shotlist::TemplatePick, u64)>,
    /// A project being read (File → Open): where from, and the state or why not.
    opening: Option<Task<(PathBuf, Opened)>>,
    /// The opened project's journal being read for jobs to resume.
    resuming: Option<Task<Option<Resumed>>>,
    /// The recent-projects list being updated, one write at a time; each answers the new list.
    recent: task::Lane<Vec<PathBuf>>,
    /// The opened project's takes being brought into its folder (once per project).
    keeping: Option<Task<aktion_engine::kept::KeepReport>>,
    /// Pastes waiting for their files to come from another project: the text and where.
    pasting: Vec<Task<PendingPaste>>,
    /// Take files nothing refers to being removed after a save.
    tidying: Option<Task<()>>,
    /// Takes whose files are in neither the project nor the cache: shown "missing — re-run".
    pub missing_takes: std::collections::BTreeSet<aktion_graph::TakeId>,
}

/// The panels and windows: each keeps its own UI state and pushes commands.
pub struct Panels {
    /// The selected node's panel.
    pub inspector: inspector::Inspector,
    /// The palette, sketch pad, export, open, save as and rename windows.
    pub dialogs: dialogs::Dialogs,
    /// The Epic Scene panel (Run → Epic Scene…).
    pub epic: epic::EpicPanel,
    /// Providers (keys, ComfyUI, connection tests), routes per kind, the cache.
    pub settings: settings::SettingsUi,
    /// Sign-in, balance and data sharing (the Account window).
    pub account: account::AccountUi,
    /// A run above the confirmation threshold waiting for the user's yes: targets and cost.
    confirm_run: Option<(Vec<NodeId>, u32)>,
    /// The sequence strip under the canvas.
    pub strip: strip::Strip,
    /// The animatic playing full-window (Sequence → Play), or being put together.
    pub animatic: Option<animatic::Animatic>,
}

/// The app: the document with its undo history, the runs, the memoised plan, the board view,
/// loaders and panels, and the command queue that connects them.
pub struct Studio {
    pub state: AppState,
    board: BoardView,
    engine: Arc<Engine>,
    /// Owned here so it lives as long as the app; work reaches it through `spawner`.
    #[expect(
        dead_code,
        reason = "dropping the runtime would stop all background work"
    )]
    runtime: tokio::runtime::Runtime,
    /// Runs background work on `runtime` and wakes the UI when it lands.
    spawner: Spawner,
    /// Where settings, secrets and the account server come from.
    setup: Setup,
    /// Every run going on, with its jobs and their statuses.
    pub runs: Runs,
    /// The cost and stale nodes of the board, worked out off the UI thread.
    pub planner: planner::Planner,
    /// Bumped when the cache's contents change (a result stored, the cache cleared).
    cache_gen: u64,
    /// What widgets asked for this frame, carried out in `logic`.
    commands: Vec<AppCommand>,
    /// Whether the journal's jobs of this project were looked at (once per opened project).
    resumed: bool,
    routes: AppRoutes,
    pub loaders: Loaders,
    pub panels: Panels,
    pub message: Option<String>,
    egui_ctx: Option<egui::Context>,
    /// Where the recent-projects list lives (tests point it at a temp folder).
    pub recent_dir: Option<PathBuf>,
    recent: Vec<PathBuf>,
    /// When `run` started; the first frame logs how long start-up took (`AKTION_LOG=info`).
    launched: Option<Instant>,
}

impl Studio {
    /// The app on `state`, running on `engine`, with its settings, recent projects, secrets
    /// and account server from `setup` (tests give it a hermetic one).
    pub fn new(state: AppState, engine: Arc<Engine>, setup: &Setup) -> Result<Self, Failure> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .context("cannot start the runtime")?;
        let spawner = Spawner::new(runtime.handle().clone(), None);
        let mut canvas = Canvas::new("board");
        // Open close enough to read the cards (fit-all on a big board would show bare cards).
        canvas.view = aktion_canvas::ViewTransform {
            pan: egui::vec2(30.0, 30.0),
            zoom: 0.6,
        };
        Ok(Self {
            state,
            board: BoardView {
                canvas,
                model: Board::default(),
                ids: IdMap::default(),
                key: None,
                rect: None,
            },
            engine,
            runtime,
            spawner: spawner.clone(),
            runs: Runs::default(),
            planner: planner::Planner::default(),
            cache_gen: 0,
            commands: Vec::new(),
            resumed: false,
            routes: AppRoutes {
                toolbar: Route::Draft,
                auto: true,
                direct_kinds: std::collections::BTreeSet::new(),
                direct_kinds_task: None,
                direct_kinds_for: u64::MAX,
            },
            loaders: Loaders {
                previews: previews::Previews::new(spawner.clone()),
                media: media::Media::new(spawner.clone(), setup.sound_out()),
                cards: cards::Cards::new(spawner.clone()),
                imports: Vec::new(),
                exporting: None,
                sequence_export: None,
                conforming: None,
                reading_shots: None,
                batch_cost: None,
                batch_cost_key: None,
                opening: None,
                resuming: None,
                recent: task::Lane::new(spawner.clone()),
                keeping: None,
                pasting: Vec::new(),
                tidying: None,
                missing_takes: std::collections::BTreeSet::new(),
            },
            panels: Panels {
                inspector: inspector::Inspector::default(),
                dialogs: dialogs::Dialogs::default(),
                epic: epic::EpicPanel::default(),
                settings: settings::SettingsUi::new(setup.clone(), spawner.clone()),
                account: account::AccountUi::new(
                    std::sync::Arc::new(std::sync::RwLock::new(None)),
                    setup.secrets.clone(),
                    setup.account_url(),
                ),
                confirm_run: None,
                strip: strip::Strip::new(spawner.clone()),
                animatic: None,
            },
            message: None,
            egui_ctx: None,
            recent: setup
                .config_dir
                .as_deref()
                .map(recent::load_in)
                .unwrap_or_default(),
            recent_dir: setup.config_dir.clone(),
            setup: setup.clone(),
            launched: None,
        })
    }

    /// Signs in and out through `session`, the one the engine's account route uses.
    #[must_use]
    pub fn with_account_session(mut self, session: aktion_engine::AccountSession) -> Self {
        let server = session
            .read()
            .ok()
            .and_then(|c| c.as_ref().map(|c| c.base_url().to_owned()))
            .unwrap_or_else(|| self.setup.account_url());
        self.panels.account = account::AccountUi::new(session, self.setup.secrets.clone(), server);
        self
    }

    /// The route of nodes and kinds that set none, for every kind (the toolbar's choice).
    pub fn set_default_route(&mut self, route: Route) {
        self.routes.toolbar = route;
        self.routes.auto = false;
    }

    /// The app's route per generating kind: the account when signed in, direct where the
    /// kind's provider key is set, draft otherwise; none when the toolbar sets one for all.
    pub fn kind_routes(&self) -> std::collections::BTreeMap<String, Route> {
        if !self.routes.auto {
            return std::collections::BTreeMap::new();
        }
        let signed_in = self.panels.account.signed_in();
        Catalog::builtin()
            .iter()
            .filter(|k| k.is_generating())
            .map(|k| {
                let route = if signed_in {
                    Route::Account
                } else if self.routes.direct_kinds.contains(&k.id) {
                    Route::Direct
                } else {
                    Route::Draft
                };
                (k.id.clone(), route)
            })
            .collect()
    }

    /// Reads which kinds have their provider key set, off the UI thread, at start and after
    /// Settings changed keys.
    fn poll_direct_kinds(&mut self) {
        if let Some((rev, task)) = &mut self.routes.direct_kinds_task {
            let rev = *rev;
            match task.poll() {
                task::Poll::Pending => return,
                task::Poll::Ready(kinds) => {
                    self.routes.direct_kinds = kinds;
                    self.routes.direct_kinds_for = rev;
                }
                task::Poll::Lost => self.routes.direct_kinds_for = rev,
            }
            self.routes.direct_kinds_task = None;
        }
        let rev = self.panels.settings.providers_rev;
        if rev != self.routes.direct_kinds_for {
            let setup = self.panels.settings.worker_setup();
            let task = self.spawner.blocking(move || setup.kinds_with_keys());
            self.routes.direct_kinds_task = Some((rev, task));
        }
    }

    /// Queues a document edit.
    fn apply(&mut self, cmd: Command) {
        self.send(AppCommand::Edit(cmd));
    }

    /// What the memoised plan depends on now.
    fn plan_key(&self) -> planner::PlanKey {
        planner::PlanKey {
            revision: self.state.history.revision(),
            takes: self.state.takes_rev,
            route: {
                use std::hash::{Hash as _, Hasher as _};
                let mut h = std::collections::hash_map::DefaultHasher::new();
                (
                    self.routes.toolbar,
                    self.routes.auto,
                    self.panels.account.signed_in(),
                )
                    .hash(&mut h);
                self.routes.direct_kinds.hash(&mut h);
                h.finish()
            },
            prices: self.panels.account.prices_rev,
            cache: self.cache_gen + self.panels.settings.cache_cleared,
        }
    }

    fn refresh_board(&mut self) {
        let key = (
            self.state.history.revision()
                ^ (self.state.doc.nodes.len() as u64) << 40
                ^ self.state.takes_rev << 20,
            self.runs.rev ^ self.planner.rev << 32,
        );
        if self.board.key == Some(key) {
            return;
        }
        self.board.key = Some(key);
        let (board, ids) = view::board(
            &self.state.doc,
            Catalog::builtin(),
            &self.runs.status,
            &self.planner.view().stale,
            key.0.wrapping_mul(31).wrapping_add(key.1),
        );
        self.board.model = board;
        self.board.ids = ids;
        self.board
            .canvas
            .set_selection(self.state.selection.iter().map(|id| view::canvas_id(*id)));
    }

    fn request(&self, targets: Vec<NodeId>) -> RunRequest {
        let mut req = RunRequest::new(self.state.doc.clone(), self.state.root.clone());
        req.targets = targets;
        req.default_route = if self.routes.auto {
            Route::Draft
        } else {
            self.routes.toolbar
        };
        req.kind_routes = self.kind_routes();
        if self.panels.account.signed_in() {
            req.prices.clone_from(&self.panels.account.prices);
        }
        req
    }

    /// A run as asked for by a widget: above the confirmation threshold it asks first.
    fn request_run(&mut self, targets: Vec<NodeId>) {
        let cost = if targets.is_empty() {
            Some(self.planner.view().cost)
        } else {
            None
        };
        let threshold = self.panels.settings.confirm_above();
        match cost {
            Some(cost) if cost > threshold => {
                self.panels.confirm_run = Some((targets, cost));
            }
            _ => self.start_run(targets),
        }
    }

    /// "Report a problem" on a failed node: what would be sent, shown before anything is — the
    /// kind, route, provider, error and the take's metadata; never keys, files or prompts.
    fn report_problem(&mut self, id: NodeId) {
        let Some(node) = self.state.doc.node(id) else {
            return;
        };
        let Some(view::RunStatus::Failed(error)) = self.runs.status.get(&id) else {
            return;
        };
        let route = node
            .route
            .or_else(|| self.kind_routes().get(&node.kind).copied())
            .unwrap_or(self.routes.toolbar);
        let schema = Catalog::builtin().get(&node.kind);
        let provider = schema.and_then(|k| k.provider.as_ref());
        let mut metadata = std::collections::BTreeMap::new();
        metadata.insert("app_version".to_owned(), env!("CARGO_PKG_VERSION").into());
        if let Some(p) = provider {
            metadata.insert("model".to_owned(), p.model.clone().into());
        }
        // Parameters that are numbers, switches or choices (free text such as prompts stays
        // on this machine).
        for (key, value) in &node.params {
            let is_text = schema
                .and_then(|k| k.param(key))
                .is_some_and(|p| matches!(p.kind, aktion_graph::ParamKind::Text { .. }));
            let scalar = value.is_number() || value.is_boolean() || value.is_string();
            if scalar && !is_text && metadata.len() < 24 {
                let value = match value.as_str() {
                    Some(text) => text.chars().take(200).collect::<String>().into(),
                    None => value.clone(),
                };
                metadata.insert(format!("param.{key}"), value);
            }
        }
        metadata.insert("takes".to_owned(), node.takes.len().into());
        if let Some(take) = node.active_take() {
            metadata.insert(
                "last_take_route".to_owned(),
                route_name(take.meta.route).into(),
            );
            metadata.insert("last_take_ms".to_owned(), take.meta.duration_ms.into());
        }
        self.panels.account.report = Some(aktion_api::ProblemReport {
            node_kind: node.kind.clone(),
            route: route_name(route).to_owned(),
            provider: provider.map(|p| p.name.clone()),
            error: error.chars().take(5000).collect(),
            metadata,
        });
    }

    /// Shares a new direct or ComfyUI result while the user is opted in (silently nothing
    /// otherwise); the upload runs in the background.
    fn share_result(&mut self, f: &runs::Finished) {
        let opted_in = self.panels.account.signed_in()
            && self
                .panels
                .account
                .me
                .as_ref()
                .is_some_and(|m| m.data_sharing.opt_in);
        let Some(node) = self.state.doc.node(f.node) else {
            return;
        };
        if let Some((submission, output)) = sharing::submission(node, &f.result, f.cached, opted_in)
        {
            self.panels.account.start(
                account::AccountRequest::Share {
                    submission: Box::new(submission),
                    file: self.engine.cache().blob_path(&output.hash),
                    mime: output.mime,
                },
                &self.spawner,
            );
        }
    }

    /// Rates a take (one undo step in the project); an account-route take's rating also goes to
    /// the server (its generation, and its shared record when the user shares).
    fn rate_take(&mut self, node: NodeId, take: aktion_graph::TakeId, rating: u8) {
        if !self.apply_now(state::Command::RateTake { node, take, rating }) {
            return;
        }
        if !self.panels.account.signed_in() {
            return;
        }
        let Some(t) = self
            .state
            .doc
            .node(node)
            .and_then(|n| n.takes.iter().find(|t| t.id == take))
        else {
            return;
        };
        // An account-route take is rated on its generation; a take shared from another route
        // on its shared record (by its output).
        let request = match (&t.meta.generation, t.outputs.first()) {
            (Some(generation), _) => account::AccountRequest::Rate {
                generation: generation.clone(),
                rating,
            },
            (None, Some(out)) if matches!(t.meta.route, Route::Direct | Route::Comfyui) => {
                account::AccountRequest::RateShared {
                    output_hash: out.hash.clone(),
                    rating,
                }
            }
            _ => return,
        };
        self.panels.account.start(request, &self.spawner);
    }

    fn start_run(&mut self, targets: Vec<NodeId>) {
        let label = match targets.as_slice() {
            [] => "Run board".to_owned(),
            [one] => self.state.doc.node(*one).map_or_else(
                || "Run".to_owned(),
                |n| n.display_title(Catalog::builtin()).to_owned(),
            ),
            many => format!("Run {} nodes", many.len()),
        };
        let mut req = self.request(targets);
        req.wake = Runs::wake(self.egui_ctx.as_ref());
        self.runs.start(&self.engine, &self.spawner, req, label);
    }

    /// Once per opened project: reads the journal off the UI thread for provider jobs that were
    /// running when the app last closed; they resume by themselves ([`Self::poll_resumed`]).
    fn resume_journaled(&mut self) {
        if self.resumed {
            return;
        }
        self.resumed = true;
        // The takes of a project saved before they lived in it come into its folder from the
        // cache; those in neither are marked missing.
        let (cache, root, doc) = (
            self.engine.cache().clone(),
            self.state.root.clone(),
            self.state.doc.clone(),
        );
        self.loaders.keeping = Some(
            self.spawner
                .blocking(move || aktion_engine::kept::keep_all(&cache, &root, &doc)),
        );
        let wake = Runs::wake(self.egui_ctx.as_ref());
        let root = self.state.root.clone();
        let engine = Arc::clone(&self.engine);
        // A blocking worker of the runtime: the jobs it starts run on the runtime.
        self.loaders.resuming = Some(
            self.spawner
                .blocking(move || engine.resume_journaled(&root, wake)),
        );
    }

    /// Applies pastes whose files have come over from their project (in paste order).
    fn poll_pasting(&mut self) {
        while let Some(first) = self.loaders.pasting.first_mut() {
            let (text, at, brought) = match first.poll() {
                task::Poll::Pending => break,
                task::Poll::Lost => {
                    self.loaders.pasting.remove(0);
                    continue;
                }
                task::Poll::Ready(r) => {
                    self.loaders.pasting.remove(0);
                    r
                }
            };
            match brought {
                Ok(0) => {}
                Ok(n) => {
                    self.message = Some(format!(
                        "{n} file(s) of the pasted nodes were not found in their project"
                    ));
                }
                Err(e) => self.message = Some(format!("the pasted nodes' files: {e}")),
            }
            self.apply_now(Command::Paste { text, at });
        }
    }

    /// Takes in which takes of the opened project are missing.
    fn poll_kept(&mut self) {
        let Some(Ok(report)) = take_ready(&mut self.loaders.keeping) else {
            return;
        };
        self.loaders.missing_takes = report.missing.iter().map(|(_, t)| *t).collect();
        if !report.missing.is_empty() {
            self.message = Some(format!(
                "{} take(s) have no file in the project or the cache: they show \
                 \"missing — re-run\"",
                report.missing.len()
            ));
        }
    }

    /// Shows the resumed jobs in the jobs panel once the journal is read.
    fn poll_resumed(&mut self) {
        let Some(Ok(Some((handle, entries)))) = take_ready(&mut self.loaders.resuming) else {
            return;
        };
        for e in &entries {
            if let Some(job) = &e.job {
                self.runs.resumed.insert(e.node, job.clone());
            }
        }
        let nodes = entries.iter().map(|e| e.node).collect();
        self.runs
            .add(handle, "Resumed after restart".to_owned(), nodes);
        self.message = Some(format!(
            "resuming {} job(s) that were running when the app last closed",
            entries.len()
        ));
    }

    /// Takes in the runs' events; keeps finished results as takes.
    fn poll_runs(&mut self) {
        let (finished, ended) = self.runs.poll(&self.state.doc);
        if let Some(refused) = self.runs.refused.pop() {
            self.runs.refused.clear();
            self.message = Some(refused);
        }
        for f in finished {
            if !f.cached {
                self.cache_gen += 1;
            }
            let focused = self
                .egui_ctx
                .as_ref()
                .is_none_or(|c| c.input(|i| i.viewport().focused.unwrap_or(true)));
            if recent::should_notify(f.ran_secs, f.cached, focused) {
                let title = self
                    .state
                    .doc
                    .node(f.node)
                    .map(|n| n.display_title(Catalog::builtin()).to_owned())
                    .unwrap_or_default();
                recent::notify(&self.spawner, "Aktion Studio", &format!("{title} is done"));
            }
            self.state.record_result(f.node, &f.signature, &f.result);
            self.share_result(&f);
        }
        if ended && self.panels.account.signed_in() {
            // Credits may have been spent.
            self.send(AppCommand::Account(account::AccountRequest::Refresh));
        }
    }

    /// The board point at the middle of the canvas.
    fn view_center(&self) -> [f32; 2] {
        let rect = self.board.rect.unwrap_or_else(|| {
            egui::Rect::from_min_size(egui::Pos2::ZERO, egui::vec2(800.0, 600.0))
        });
        let v = self.board.canvas.view;
        let p = (rect.center() - rect.min - v.pan) / v.zoom;
        [p.x, p.y]
    }

    /// The board's index of the frame the canvas calls `frame`.
    fn frame_index(&self, frame: u64) -> Option<usize> {
        self.state
            .doc
            .frames
            .iter()
            .position(|f| view::frame_canvas_id(f) == frame)
    }

    fn selected(&self) -> Vec<NodeId> {
        self.state.selection.iter().copied().collect()
    }

    #[expect(clippy::too_many_lines, reason = "one short arm per canvas event")]
    fn handle_canvas_events(&mut self, ui: &egui::Ui, events: Vec<CanvasEvent>) {
        let catalog = Catalog::builtin();
        for e in events {
            let cut = matches!(e, CanvasEvent::Cut(_));
            match e {
                CanvasEvent::SelectionChanged(ids) => {
                    let ids = ids
                        .into_iter()
                        .filter_map(|i| self.board.ids.node(i))
                        .collect();
                    self.apply(Command::Select(ids));
                }
                CanvasEvent::NodesMoved { ids, delta } => {
                    let ids = ids
                        .into_iter()
                        .filter_map(|i| self.board.ids.node(i))
                        .collect();
                    self.apply(Command::Move {
                        ids,
                        delta: [delta.x, delta.y],
                    });
                }
                CanvasEvent::FrameMoved {
                    frame,
                    nodes,
                    delta,
                } => {
                    let nodes = nodes
                        .into_iter()
                        .filter_map(|i| self.board.ids.node(i))
                        .collect();
                    if let Some(index) = self.frame_index(frame) {
                        self.apply(Command::MoveFrame {
                            index,
                            nodes,
                            delta: [delta.x, delta.y],
                        });
                    }
                }
                CanvasEvent::RenameFrame { frame, .. } => {
                    self.panels.dialogs.rename_frame = self
                        .frame_index(frame)
                        .map(|i| (i, self.state.doc.frames[i].title.clone()));
                }
                CanvasEvent::FrameResized { frame, rect } => {
                    if let Some(index) = self.frame_index(frame) {
                        self.apply(Command::ResizeFrame {
                            index,
                            rect: [rect.min.x, rect.min.y, rect.width(), rect.height()],
                        });
                    }
                }
                CanvasEvent::Disconnect { from, to } => {
                    if let Some(w) = self.board.ids.wire(&self.state.doc, catalog, from, to) {
                        self.apply(Command::Disconnect(w));
                    }
                }
                CanvasEvent::Connect { from, to } => {
                    if let Some(w) = self.board.ids.wire(&self.state.doc, catalog, from, to) {
                        self.apply(Command::Connect(w));
                    }
                }
                CanvasEvent::WireDroppedOnEmpty {
                    from_pin,
                    at,
                    screen,
                } => {
                    self.panels.dialogs.palette = Some(dialogs::Palette {
                        at: [at.x, at.y],
                        screen,
                        query: String::new(),
                        from: self.board.ids.node(from_pin.node),
                    });
                }
                CanvasEvent::OpenPalette { at, screen } => {
                    self.panels.dialogs.palette = Some(dialogs::Palette {
                        at: [at.x, at.y],
                        screen,
                        query: String::new(),
                        from: None,
                    });
                }
                CanvasEvent::NodeContextMenu { node, .. } => {
                    if let Some(id) = self.board.ids.node(node) {
                        self.apply(Command::Select(vec![id]));
                    }
                }
                CanvasEvent::Delete(ids) => {
                    let ids = ids
                        .into_iter()
                        .filter_map(|i| self.board.ids.node(i))
                        .collect();
                    self.apply(Command::Delete(ids));
                }
                CanvasEvent::Duplicate(ids) => {
                    let ids = ids
                        .into_iter()
                        .filter_map(|i| self.board.ids.node(i))
                        .collect();
                    self.apply(Command::Duplicate(ids));
                }
                CanvasEvent::Copy(ids) | CanvasEvent::Cut(ids) => {
                    let nodes: Vec<NodeId> =
                        ids.iter().filter_map(|i| self.board.ids.node(*i)).collect();
                    ui.ctx().copy_text(aktion_graph::clipboard::copy(
                        &self.state.doc,
                        &nodes,
                        Some(&self.state.root),
                    ));
                    if cut {
                        self.apply(Command::Delete(nodes));
                    }
                }
                CanvasEvent::Paste { at, text } => {
                    if let Some(text) = text {
                        self.send(AppCommand::Paste {
                            text,
                            at: [at.x, at.y],
                        });
                    }
                }
                CanvasEvent::ToggleMute(ids) => {
                    let ids: Vec<NodeId> = ids
                        .into_iter()
                        .filter_map(|i| self.board.ids.node(i))
                        .collect();
                    let on = !ids
                        .iter()
                        .all(|i| self.state.doc.node(*i).is_some_and(|n| n.muted));
                    self.apply(Command::SetMuted { ids, on });
                }
                CanvasEvent::ToggleBypass(ids) => {
                    let ids: Vec<NodeId> = ids
                        .into_iter()
                        .filter_map(|i| self.board.ids.node(i))
                        .collect();
                    let on = !ids
                        .iter()
                        .all(|i| self.state.doc.node(*i).is_some_and(|n| n.bypassed));
                    self.apply(Command::SetBypassed { ids, on });
                }
            }
        }
    }

    /// The app's own shortcuts (the canvas reads its own), from the one table of actions.
    fn shortcuts(&mut self, ui: &egui::Ui) {
        for action in actions::pressed(ui.ctx()) {
            self.do_action(ui.ctx(), action);
        }
    }

    /// What an action does, from a shortcut or a menu.
    fn do_action(&mut self, ctx: &egui::Context, action: actions::Action) {
        use actions::Action;
        let sel = self.selected();
        match action {
            Action::NewBoard => self.send(AppCommand::NewBoard),
            Action::Open => self.send(AppCommand::OpenNative),
            Action::Save => self.send(AppCommand::Save),
            Action::Settings => self.send(AppCommand::OpenSettings),
            Action::Undo => self.apply(Command::Undo),
            Action::Redo => self.apply(Command::Redo),
            Action::Copy | Action::Cut => {
                ctx.copy_text(aktion_graph::clipboard::copy(
                    &self.state.doc,
                    &sel,
                    Some(&self.state.root),
                ));
                if action == Action::Cut {
                    self.apply(Command::Delete(sel));
                }
            }
            // The clipboard's text arrives as a paste event, which the canvas takes.
            Action::Paste => ctx.send_viewport_cmd(egui::ViewportCommand::RequestPaste),
            Action::Duplicate => self.apply(Command::Duplicate(sel)),
            Action::Delete => self.apply(Command::Delete(sel)),
            Action::SelectAll => {
                let all = self.state.doc.nodes.keys().copied().collect();
                self.apply(Command::Select(all));
            }
            Action::Mute => {
                let on = !sel
                    .iter()
                    .all(|i| self.state.doc.node(*i).is_some_and(|n| n.muted));
                self.apply(Command::SetMuted { ids: sel, on });
            }
            Action::Bypass => {
                let on = !sel
                    .iter()
                    .all(|i| self.state.doc.node(*i).is_some_and(|n| n.bypassed));
                self.apply(Command::SetBypassed { ids: sel, on });
            }
            Action::FrameSelection => {
                let title = format!("Shot {}", self.state.doc.frames.len() + 1);
                self.apply(Command::FrameNodes { ids: sel, title });
            }
            Action::AddNode => {
                let at = self.view_center();
                let screen = self
                    .board
                    .rect
                    .map_or(egui::Pos2::new(400.0, 300.0), |r| r.center());
                self.panels.dialogs.palette = Some(dialogs::Palette {
                    at,
                    screen,
                    query: String::new(),
                    from: None,
                });
            }
            Action::FitAll => self.board.canvas.fit_all(),
            Action::FitSelection => self.board.canvas.fit_selection(),
            Action::RunBoard => self.send(AppCommand::Run(Vec::new())),
        }
    }

    /// A menu item for `action` with its shortcut; enabled when `enabled`.
    fn menu_item(&mut self, ui: &mut egui::Ui, action: actions::Action, enabled: bool) {
        if ui
            .add_enabled(enabled, actions::button(ui.ctx(), action))
            .clicked()
        {
            ui.close();
            self.do_action(&ui.ctx().clone(), action);
        }
    }

    fn save(&mut self) {
        self.message = match self.state.save() {
            Ok(()) => {
                self.remember_recent();
                self.collect_take_garbage();
                Some(format!("saved {}", self.state.root.display()))
            }
            Err(e) => Some(e),
        };
    }

    /// After a save, removes (on a worker) the take files nothing refers to any more: not a
    /// take on the board, not one an undo or redo step could bring back, not a finished result
    /// waiting in the jobs panel, and not written in the last hour.
    fn collect_take_garbage(&mut self) {
        let mut keep = aktion_engine::kept::doc_hashes(&self.state.doc);
        keep.extend(self.state.history.take_hashes());
        for orphan in &self.runs.orphans {
            keep.extend(orphan.result.outputs.iter().map(|o| o.hash.to_hex()));
        }
        let root = self.state.root.clone();
        self.loaders.tidying = Some(self.spawner.blocking(move || {
            match aktion_engine::kept::collect_garbage(&root, &keep, TAKE_GARBAGE_GRACE) {
                Ok(0) => {}
                Ok(n) => tracing::info!("removed {n} take file(s) nothing refers to"),
                Err(e) => tracing::warn!("cannot tidy the project's takes: {e}"),
            }
        }));
    }

    /// Puts the current project first in the recent list (written off the UI thread).
    fn remember_recent(&mut self) {
        let Some(dir) = self.recent_dir.clone() else {
            return;
        };
        let root = self.state.root.clone();
        self.loaders.recent.push(Box::new(move || {
            if let Err(e) = recent::remember_in(&dir, &root) {
                tracing::warn!("cannot update the recent projects list: {e}");
            }
            recent::load_in(&dir)
        }));
    }

    /// Switches to another board; the current one must be saved first (its autosave copy
    /// stays, so nothing is lost either way).
    fn replace_state(&mut self, state: AppState) {
        self.runs.cancel_all();
        self.state = state;
        self.runs.clear_statuses();
        self.resumed = false;
        self.board.key = None;
        self.loaders.previews.clear();
        self.loaders.cards.clear();
        self.loaders.missing_takes.clear();
        self.panels.inspector.clear();
        self.panels.dialogs.sketch_pad = None;
        self.panels.dialogs.palette = None;
    }

    fn new_board(&mut self) {
        if self.state.is_modified() {
            self.message = Some("save this board first (Ctrl+S): it has unsaved changes".into());
            return;
        }
        let root = recent::new_project_dir();
        let doc = Document {
            name: root
                .file_stem()
                .map_or_else(|| "Untitled".into(), |n| n.to_string_lossy().into_owned()),
            ..Document::default()
        };
        self.replace_state(AppState::new(doc, root));
        self.save();
    }

    fn open_project(&mut self, path: &std::path::Path) {
        if self.state.is_modified() {
            self.message = Some("save this board first (Ctrl+S): it has unsaved changes".into());
            return;
        }
        // Read and checked off the UI thread; `poll_opening` switches to it.
        self.message = Some(format!("opening {}…", path.display()));
        let path = path.to_path_buf();
        self.loaders.opening = Some(self.spawner.blocking(move || {
            let opened = AppState::open_with_recovery(&path).map_err(|e| format!("{e:#}"));
            (path, opened)
        }));
    }

    /// Switches to the project that was read, unless the board was edited meanwhile (then the
    /// edits win and nothing is replaced).
    fn poll_opening(&mut self) {
        let Some(done) = take_ready(&mut self.loaders.opening) else {
            return;
        };
        match done {
            Ok((_, Ok((state, message)))) if !self.state.is_modified() => {
                self.message = Some(message);
                self.replace_state(state);
                self.remember_recent();
            }
            Ok((path, Ok(_))) => {
                self.message = Some(format!(
                    "{} was not opened: this board changed meanwhile; save it first (Ctrl+S)",
                    path.display()
                ));
            }
            Ok((_, Err(e))) => self.message = Some(e),
            Err(lost) => self.message = Some(lost.to_string()),
        }
    }

    /// File → Import shot list…, Export sequence ▸ one entry per format, and Conform to an
    /// edit (the last two off while the sequence is empty).
    fn export_sequence_menu(&mut self, ui: &mut egui::Ui) {
        let has_shots = !self.state.doc.sequence.shots.is_empty();
        if ui
            .button("Import shot list…")
            .on_hover_text(
                "A CSV shot list or a Fountain screenplay: each row becomes a copy of a \
                 template, in its own frame, and a shot",
            )
            .clicked()
        {
            ui.close();
            self.send(AppCommand::ImportShotListNative);
        }
        if ui.button("Import shot list path…").clicked() {
            self.panels.dialogs.shot_list_path = Some(String::new());
        }
        ui.add_enabled_ui(has_shots, |ui| {
            ui.menu_button("Export sequence", |ui| {
                for (format, label) in SEQUENCE_EXPORTS {
                    if ui.button(label).clicked() {
                        ui.close();
                        self.send(AppCommand::ExportSequenceNative(format));
                    }
                }
                ui.separator();
                let strip = &mut self.panels.strip;
                ui.menu_button("Animatic size", |ui| {
                    let sizes = [
                        (None, "the first clip's (at most 1920 wide)".to_owned()),
                        (Some((3840, 2160)), "3840×2160".to_owned()),
                        (Some((1920, 1080)), "1920×1080".to_owned()),
                        (Some((1280, 720)), "1280×720".to_owned()),
                        (Some((854, 480)), "854×480".to_owned()),
                        (Some((1080, 1920)), "1080×1920 (vertical)".to_owned()),
                    ];
                    for (size, label) in sizes {
                        ui.radio_value(&mut strip.animatic_size, size, label);
                    }
                    ui.weak("The frame rate is the sequence's (the strip's Frame rate).");
                });
                ui.menu_button("Storyboard panels", |ui| {
                    for n in [1u8, 3, 6] {
                        ui.radio_value(&mut strip.pdf_panels, n, format!("{n} a page"));
                    }
                });
            });
            if ui
                .button("Conform to an edit…")
                .on_hover_text("Make the sequence follow an edit of its .otio or FCP7 XML export")
                .clicked()
            {
                ui.close();
                self.send(AppCommand::ConformNative);
            }
        });
    }

    fn menu_ui(&mut self, ui: &mut egui::Ui) {
        use actions::Action;
        egui::MenuBar::new().ui(ui, |ui| {
            ui.menu_button("File", |ui| {
                self.menu_item(ui, Action::NewBoard, true);
                self.menu_item(ui, Action::Open, true);
                if ui.button("Open path…").clicked() {
                    self.panels.dialogs.open_dialog = Some(String::new());
                }
                ui.menu_button("Open recent", |ui| {
                    if self.recent.is_empty() {
                        ui.label("No recent projects");
                    }
                    for p in self.recent.clone() {
                        if ui.button(p.display().to_string()).clicked() {
                            self.send(AppCommand::Open(p));
                        }
                    }
                });
                ui.separator();
                self.menu_item(ui, Action::Save, true);
                if ui.button("Save As…").clicked() {
                    ui.close();
                    self.send(AppCommand::SaveAsNative);
                }
                if ui.button("Save As path…").clicked() {
                    self.panels.dialogs.save_as = Some(self.state.root.display().to_string());
                }
                ui.separator();
                let selected = self.selected();
                let has_takes = selected.iter().any(|id| {
                    self.state
                        .doc
                        .node(*id)
                        .is_some_and(|n| !n.takes.is_empty())
                });
                if ui
                    .add_enabled(has_takes, egui::Button::new("Export selected takes…"))
                    .on_disabled_hover_text("select nodes with takes")
                    .clicked()
                {
                    ui.close();
                    self.send(AppCommand::ShowExport {
                        nodes: selected,
                        all: false,
                    });
                }
                if ui.button("Export project bundle…").clicked() {
                    ui.close();
                    self.send(AppCommand::ExportBundleNative);
                }
                self.export_sequence_menu(ui);
                ui.separator();
                self.menu_item(ui, Action::Settings, true);
            });
            ui.menu_button("Account", |ui| {
                if ui.button("Account…").clicked() {
                    ui.close();
                    self.send(AppCommand::OpenAccount);
                }
            });
            ui.menu_button("Edit", |ui| self.edit_menu_ui(ui));
            ui.menu_button("View", |ui| {
                self.menu_item(ui, Action::AddNode, true);
                self.menu_item(ui, Action::FitAll, true);
                self.menu_item(ui, Action::FitSelection, true);
            });
            ui.menu_button("Run", |ui| {
                self.menu_item(ui, Action::RunBoard, true);
                let sel = self.selected();
                if ui
                    .add_enabled(!sel.is_empty(), egui::Button::new("Run selection"))
                    .clicked()
                {
                    self.send(AppCommand::Run(sel));
                }
                if ui
                    .add_enabled(
                        self.runs.any_running(),
                        egui::Button::new("Cancel all runs"),
                    )
                    .clicked()
                {
                    self.send(AppCommand::CancelAll);
                }
                ui.separator();
                if ui.button("Epic Scene…").clicked() {
                    ui.close();
                    self.send(AppCommand::OpenEpicScene);
                }
            });
        });
    }

    fn edit_menu_ui(&mut self, ui: &mut egui::Ui) {
        use actions::Action;
        let ctx = ui.ctx().clone();
        // Undo and Redo name the step they take back or do again.
        let steps = [
            (
                Action::Undo,
                self.state.history.can_undo().map(str::to_owned),
                Command::Undo,
            ),
            (
                Action::Redo,
                self.state.history.can_redo().map(str::to_owned),
                Command::Redo,
            ),
        ];
        for (action, step, cmd) in steps {
            let label = actions::info(action).map_or("", |a| a.label);
            let enabled = step.is_some();
            let text = step.map_or_else(|| label.to_owned(), |l| format!("{label} {l}"));
            if ui
                .add_enabled(
                    enabled,
                    egui::Button::new(text).shortcut_text(actions::shortcut_text(&ctx, action)),
                )
                .clicked()
            {
                self.apply(cmd);
            }
        }
        ui.separator();
        let some = !self.state.selection.is_empty();
        for action in [Action::Copy, Action::Cut] {
            self.menu_item(ui, action, some);
        }
        self.menu_item(ui, Action::Paste, true);
        for action in [Action::Duplicate, Action::Delete] {
            self.menu_item(ui, action, some);
        }
        self.menu_item(ui, Action::SelectAll, !self.state.doc.nodes.is_empty());
        ui.separator();
        for action in [Action::Mute, Action::Bypass, Action::FrameSelection] {
            self.menu_item(ui, action, some);
        }
        ui.menu_button("Rename frame", |ui| {
            if self.state.doc.frames.is_empty() {
                ui.label("No frames");
            }
            for (i, f) in self.state.doc.frames.clone().iter().enumerate() {
                if ui.button(&f.title).clicked() {
                    ui.close();
                    self.panels.dialogs.rename_frame = Some((i, f.title.clone()));
                }
            }
        });
        ui.menu_button("Delete frame", |ui| {
            if self.state.doc.frames.is_empty() {
                ui.label("No frames");
            }
            for (i, f) in self.state.doc.frames.clone().iter().enumerate() {
                if ui.button(&f.title).clicked() {
                    self.apply(Command::DeleteFrame(i));
                }
            }
        });
    }

    fn toolbar_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            ui.heading("Aktion Studio");
            ui.label(egui::RichText::new(&self.state.doc.name).strong());
            if let Some(why) = &self.state.read_only {
                ui.label(
                    egui::RichText::new("read-only").color(egui::Color32::from_rgb(240, 190, 90)),
                )
                .on_hover_text(why);
            }
            if self.state.is_modified() {
                ui.label("•").on_hover_text("unsaved changes");
            }
            ui.separator();
            let cost = self.planner.view().cost;
            if ui
                .button(format!("Run board · {cost} credits"))
                .on_hover_text("Ctrl+Enter. Cached nodes cost nothing and do not run.")
                .clicked()
            {
                self.send(AppCommand::Run(Vec::new()));
            }
            if self.runs.any_running() {
                if ui.button("Cancel all").clicked() {
                    self.send(AppCommand::CancelAll);
                }
                let paused = self.engine.is_paused();
                if ui
                    .button(if paused {
                        "Resume queue"
                    } else {
                        "Pause queue"
                    })
                    .clicked()
                {
                    self.send(AppCommand::SetQueuePaused(!paused));
                }
            }
            let current = (!self.routes.auto).then_some(self.routes.toolbar);
            let mut route = current;
            egui::ComboBox::from_label("route")
                .selected_text(route.map_or("auto", Route::as_str))
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut route, None, "auto").on_hover_text(
                        "account when signed in, direct where the key is set, draft otherwise",
                    );
                    for r in Route::ALL {
                        ui.selectable_value(&mut route, Some(r), r.as_str());
                    }
                });
            if route != current {
                self.send(AppCommand::SetDefaultRoute(route));
            }
            ui.separator();
            if ui
                .button("Settings")
                .on_hover_text("Provider keys, ComfyUI, routes per kind, the cache (Ctrl+,)")
                .clicked()
            {
                self.send(AppCommand::OpenSettings);
            }
            if ui
                .button(self.panels.account.balance_label())
                .on_hover_text("Your Aktion account: sign in, credits, data sharing")
                .clicked()
            {
                self.send(AppCommand::OpenAccount);
            }
            if let Some(m) = &self.message {
                ui.separator();
                // One line, truncated (the full text on hover): a wrapping message would change
                // the toolbar's height and move everything under the pointer.
                let line = m.lines().next().unwrap_or_default();
                ui.add(
                    egui::Label::new(
                        egui::RichText::new(line).color(egui::Color32::from_rgb(240, 200, 120)),
                    )
                    .truncate(),
                )
                .on_hover_text(m.as_str());
            }
        });
    }
}

impl eframe::App for Studio {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        self.logic_step(ctx);
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.draw_ui(ui);
    }
}

impl Studio {
    /// One frame of the whole window (separate from `eframe::App` so tests can drive it).
    /// Whether the picture the inspector shows for `node` (its imported image, or its active
    /// take) has its texture (benches and tests).
    pub fn preview_loaded(&self, node: NodeId) -> bool {
        let Some(node) = self.state.doc.node(node) else {
            return false;
        };
        let take = node
            .active_take()
            .and_then(|t| t.outputs.first())
            .map(|o| o.hash.clone());
        let asset = inspector::node_asset(node).map(|(a, _)| a.hash);
        take.or(asset).is_some_and(|hash| {
            self.loaders.previews.get(&hash).is_some() || self.loaders.media.is_ready(&hash)
        })
    }

    /// One frame of the whole window: `logic_step`, then `draw_ui` (tests and benches drive
    /// this; eframe calls the two halves itself).
    pub fn frame_ui(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        self.logic_step(&ctx);
        self.draw_ui(ui);
    }

    /// Everything but drawing: the commands widgets queued, background work that landed, runs'
    /// events, the memoised plan, drops, autosave.
    pub fn logic_step(&mut self, ctx: &egui::Context) {
        if self.egui_ctx.is_none() {
            self.egui_ctx = Some(ctx.clone());
            self.spawner.set_ctx(ctx);
        }
        self.resume_journaled();
        self.poll_resumed();
        self.poll_kept();
        let _ = take_ready(&mut self.loaders.tidying);
        self.poll_pasting();
        self.handle_commands();
        self.poll_opening();
        for list in self.loaders.recent.poll().into_iter().flatten() {
            self.recent = list;
        }
        self.poll_direct_kinds();
        self.poll_runs();
        if let Some(export) = &mut self.loaders.sequence_export
            && let Some(done) = match export.task.poll() {
                task::Poll::Pending => None,
                task::Poll::Ready(result) => Some(result.unwrap_or_else(|e| e)),
                task::Poll::Lost => Some("the export stopped unexpectedly".to_owned()),
            }
        {
            self.loaders.sequence_export = None;
            self.message = Some(done);
        }
        self.poll_shot_list();
        if let Some(animatic) = &mut self.panels.animatic {
            animatic.poll(self.loaders.media.sound_env());
        }
        if let Some(done) = take_ready(&mut self.loaders.conforming) {
            self.message = Some(match done {
                Ok(Ok(conformed)) => {
                    let summary = conformed.summary();
                    match self.state.apply(
                        state::Command::SetSequence {
                            sequence: Box::new(conformed.sequence),
                            label: "Conform to edit".into(),
                            merge: None,
                        },
                        Instant::now(),
                    ) {
                        Ok(()) => summary,
                        Err(e) => e,
                    }
                }
                Ok(Err(e)) => e,
                Err(lost) => lost.to_string(),
            });
        }
        if let Some(done) = take_ready(&mut self.loaders.exporting) {
            self.message = Some(match done {
                Ok(Ok(m) | Err(m)) => m,
                Err(lost) => lost.to_string(),
            });
        }
        self.poll_imports();
        if let Some(message) = self.loaders.previews.poll(ctx) {
            self.message = Some(message);
        }
        self.loaders.media.poll(ctx);
        self.loaders.cards.track_runs(&self.runs.status);
        self.loaders.cards.poll(ctx);
        self.panels.strip.poll();
        self.panels.account.poll();
        self.panels.settings.poll();
        self.drops(ctx);
        if let Err(e) = self.state.autosave_if_due(Instant::now()) {
            self.message = Some(e);
        }
        if self.runs.any_running() {
            // Elapsed times tick once a second while jobs run; nothing repaints when idle.
            ctx.request_repaint_after(PROGRESS_REPAINT);
        }
        if self.state.autosave_pending() {
            // Wake once more so a pending autosave is written even if the user stops moving.
            ctx.request_repaint_after(state::AUTOSAVE_AFTER);
        }
        let key = self.plan_key();
        if self.planner.update(key) {
            let req = self.request(Vec::new());
            self.planner.start(key, &self.spawner, &self.engine, req);
        }
        // What the polling above queued (imports landing as edits) is applied now too.
        self.handle_commands();
    }

    /// "This run costs N credits. Run it?" for a run above the threshold set in Settings.
    fn confirm_run_ui(&mut self, ctx: &egui::Context) {
        let Some((targets, cost)) = &self.panels.confirm_run else {
            return;
        };
        let (targets, cost) = (targets.clone(), *cost);
        let mut answer = None;
        egui::Window::new("Confirm run")
            .collapsible(false)
            .resizable(false)
            .show(ctx, |ui| {
                ui.label(format!(
                    "This run costs {cost} credits ({}). Run it?",
                    self.panels.account.balance_label()
                ));
                ui.label(
                    egui::RichText::new(format!(
                        "Runs above {} credits ask first (Settings, Routes tab).",
                        self.panels.settings.confirm_above()
                    ))
                    .weak(),
                );
                ui.horizontal(|ui| {
                    if ui.button(format!("Run · {cost} credits")).clicked() {
                        answer = Some(true);
                    }
                    if ui.button("Don't run").clicked() {
                        answer = Some(false);
                    }
                });
            });
        match answer {
            Some(true) => {
                self.panels.confirm_run = None;
                self.send(AppCommand::RunConfirmed(targets));
            }
            Some(false) => self.panels.confirm_run = None,
            None => {}
        }
    }

    /// Draws the window; what widgets ask for is queued as commands.
    pub fn draw_ui(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        if let Some(t) = self.launched.take() {
            tracing::info!(
                ms = t.elapsed().as_millis(),
                nodes = self.state.doc.nodes.len(),
                "first frame (from start, window and GPU set-up included)"
            );
        }
        // The animatic takes the whole window and its keys while it plays.
        if let Some(animatic) = &mut self.panels.animatic {
            if !animatic.ui(&ctx, self.loaders.media.sound_env()) {
                self.panels.animatic = None;
            }
            return;
        }
        self.shortcuts(ui);
        egui::Panel::top("menu").show(ui, |ui| {
            self.menu_ui(ui);
            self.toolbar_ui(ui);
        });
        egui::Panel::right("inspector")
            .default_size(340.0)
            .size_range(280.0..=560.0)
            .resizable(true)
            .show(ui, |ui| {
                // A scroll bar that comes and goes would narrow the panel and reflow every
                // button in it; keep it, so the inspector's layout only changes with its content.
                egui::ScrollArea::vertical()
                    .scroll_bar_visibility(egui::scroll_area::ScrollBarVisibility::AlwaysVisible)
                    // egui ignores clicks while a scroll animates; jumps keep buttons clickable.
                    .animated(false)
                    .show(ui, |ui| {
                        let mut cx = panel_ctx!(self, &ctx);
                        self.panels.inspector.ui(ui, &mut cx);
                    });
            });
        egui::Panel::bottom("jobs")
            .default_size(110.0)
            .resizable(true)
            .show(ui, |ui| jobs::jobs_ui(ui, &mut panel_ctx!(self, &ctx)));
        let exporting = self
            .loaders
            .sequence_export
            .as_ref()
            .map(|e| (e.status().0.to_owned(), e.status().1));
        self.panels.strip.panel(
            ui,
            &mut panel_ctx!(self, &ctx),
            &mut self.loaders.cards,
            exporting,
        );
        self.refresh_board();
        egui::CentralPanel::default().show(ui, |ui| {
            let mut delegate = cards::CardDelegate {
                doc: &self.state.doc,
                ids: &self.board.ids,
                catalog: Catalog::builtin(),
                cards: &mut self.loaders.cards,
                root: &self.state.root,
                cache: self.engine.cache(),
                status: &self.runs.status,
                missing: &self.loaders.missing_takes,
                commands: &mut self.commands,
            };
            self.board.rect = Some(ui.available_rect_before_wrap());
            let events = self.board.canvas.show(ui, &self.board.model, &mut delegate);
            self.handle_canvas_events(ui, events);
        });
        self.loaders.media.viewer_ui(&ctx);
        self.panels.dialogs.ui(&ctx, &mut panel_ctx!(self, &ctx));
        self.panels.epic.ui(&ctx, &mut panel_ctx!(self, &ctx));
        for request in self.panels.account.ui(&ctx) {
            self.send(AppCommand::Account(request));
        }
        self.confirm_run_ui(&ctx);
        let running = self.runs.any_running();
        let app_routes = self.kind_routes();
        for cmd in self.panels.settings.ui(
            &ctx,
            self.engine.cache().root(),
            &self.state.doc,
            &app_routes,
            running,
        ) {
            self.send(cmd);
        }
    }
}

/// The wire name of a route.
fn route_name(route: Route) -> &'static str {
    match route {
        Route::Draft => "draft",
        Route::Account => "account",
        Route::Direct => "direct",
        Route::Comfyui => "comfyui",
    }
}
