//! The desktop window: the canvas, an inspector, a jobs panel and menus. Widgets read
//! [`state::AppState`] and emit commands; runs go to the engine on a background tokio runtime
//! and report back through a channel plus `request_repaint`, so no frame ever waits.

pub mod account;
mod dialogs;
pub mod epic;
mod inspector;
mod jobs;
pub mod media;
pub mod recent;
pub mod settings;
pub mod sketch;
pub mod state;
#[cfg(test)]
mod tests;
pub mod view;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use aktion_canvas::{Board, Canvas, CanvasEvent};
use aktion_engine::{Engine, Event, RunHandle, RunRequest};
use aktion_graph::{Catalog, Document, NodeId, Route};
use eframe::egui;

use crate::cli::Failure;
use state::{AppState, Command};
use view::{IdMap, RunStatus};

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

/// How soon progress reports of running jobs are drawn (they coalesce into one frame).
const PROGRESS_REPAINT: std::time::Duration = std::time::Duration::from_secs(1);

pub fn run(project: Option<PathBuf>) -> Result<u8, Failure> {
    let launched = Instant::now();
    let data_dir = directories::ProjectDirs::from("studio", "Aktion", "Aktion Studio")
        .map(|d| d.data_dir().join("projects"));
    let path = project
        .unwrap_or_else(|| starting_project(recent::config_dir().as_deref(), data_dir.as_deref()));
    let cache =
        aktion_cache::Cache::open_default(aktion_cache::CacheOptions::default()).map_err(|e| {
            Failure {
                code: 1,
                message: format!("cannot open the cache: {e:#}"),
            }
        })?;
    let session = crate::cli::account_session();
    let engine = crate::cli::engine_with_session(cache, session.clone())?;
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
            let mut app = Studio::new(state, engine)
                .map_err(|e| e.message)?
                .with_account_session(session);
            app.message = message;
            app.launched = Some(launched);
            app.egui_ctx = Some(cc.egui_ctx.clone());
            // The balance in the toolbar, fetched in the background (offline: the board works).
            app.account.refresh(&app.runtime, &cc.egui_ctx);
            Ok(Box::new(app))
        }),
    )
    .map_err(|e| Failure {
        code: 1,
        message: format!("cannot open a window: {e}"),
    })?;
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
}

type ImportResult = (DropTarget, Result<Vec<state::PreparedFile>, String>);

/// A wire dropped on empty space or a right-click: the add-node palette.
struct Palette {
    at: [f32; 2],
    screen: egui::Pos2,
    query: String,
    from: Option<NodeId>,
}

/// The app.
pub struct Studio {
    pub state: AppState,
    canvas: Canvas,
    board: Board,
    ids: IdMap,
    board_key: Option<(u64, u64)>,
    engine: Arc<Engine>,
    runtime: tokio::runtime::Runtime,
    run: Option<RunHandle>,
    events: Option<std::sync::mpsc::Receiver<Event>>,
    status: BTreeMap<NodeId, RunStatus>,
    /// When each running job started (for elapsed time and the estimate of time left).
    started: BTreeMap<NodeId, Instant>,
    status_rev: u64,
    route: Route,
    palette: Option<Palette>,
    pub message: Option<String>,
    egui_ctx: Option<egui::Context>,
    previews: HashMap<String, egui::TextureHandle>,
    previews_pending: std::collections::HashSet<String>,
    preview_tx: std::sync::mpsc::Sender<(String, Option<egui::ColorImage>)>,
    preview_rx: std::sync::mpsc::Receiver<(String, Option<egui::ColorImage>)>,
    copy_tx: std::sync::mpsc::Sender<Option<egui::ColorImage>>,
    copy_rx: std::sync::mpsc::Receiver<Option<egui::ColorImage>>,
    /// The node the inspector showed last frame.
    inspected: Option<NodeId>,
    /// A take shown beside the active one: (node, take).
    compare: Option<(NodeId, aktion_graph::TakeId)>,
    /// Where the canvas was drawn last frame (for drops).
    canvas_rect: Option<egui::Rect>,
    save_as: Option<String>,
    /// The frame being renamed (its index) and the title typed so far.
    rename_frame: Option<(usize, String)>,
    sketch_pad: Option<sketch::SketchPad>,
    /// The export window: nodes, target folder, every take or only the active one.
    export: Option<(Vec<NodeId>, String, bool)>,
    open_dialog: Option<String>,
    /// Where the recent-projects list lives (tests point it at a temp folder).
    pub recent_dir: Option<PathBuf>,
    recent: Vec<PathBuf>,
    imports_tx: std::sync::mpsc::Sender<ImportResult>,
    imports_rx: std::sync::mpsc::Receiver<ImportResult>,
    /// Sign-in, balance and data sharing (the Account window).
    pub account: account::AccountUi,
    /// Clips and sounds in the inspector.
    pub media: media::Media,
    /// Providers (keys, ComfyUI, connection tests), routes per kind, the cache.
    pub settings: settings::SettingsUi,
    /// When `run` started; the first frame logs how long start-up took (`AKTION_LOG=info`).
    launched: Option<Instant>,
    /// The Epic Scene panel (Run → Epic Scene…).
    pub epic: epic::EpicPanel,
}

impl Studio {
    pub fn new(state: AppState, engine: Arc<Engine>) -> Result<Self, Failure> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| Failure {
                code: 1,
                message: format!("cannot start the runtime: {e}"),
            })?;
        let (imports_tx, imports_rx) = std::sync::mpsc::channel();
        let (preview_tx, preview_rx) = std::sync::mpsc::channel();
        let (copy_tx, copy_rx) = std::sync::mpsc::channel();
        let mut canvas = Canvas::new("board");
        // Open close enough to read the cards (fit-all on a big board would show bare cards).
        canvas.view = aktion_canvas::ViewTransform {
            pan: egui::vec2(30.0, 30.0),
            zoom: 0.6,
        };
        Ok(Self {
            state,
            canvas,
            board: Board::default(),
            ids: IdMap::default(),
            board_key: None,
            engine,
            runtime,
            run: None,
            events: None,
            status: BTreeMap::new(),
            started: BTreeMap::new(),
            status_rev: 0,
            route: Route::Draft,
            palette: None,
            message: None,
            egui_ctx: None,
            previews: HashMap::new(),
            previews_pending: std::collections::HashSet::new(),
            preview_tx,
            preview_rx,
            compare: None,
            inspected: None,
            copy_tx,
            copy_rx,
            canvas_rect: None,
            save_as: None,
            rename_frame: None,
            sketch_pad: None,
            export: None,
            open_dialog: None,
            recent: recent::config_dir()
                .map(|d| recent::load_in(&d))
                .unwrap_or_default(),
            recent_dir: recent::config_dir(),
            imports_tx,
            imports_rx,
            account: account::AccountUi::new(
                std::sync::Arc::new(std::sync::RwLock::new(None)),
                crate::cli::secrets(),
                crate::cli::account_url(),
            ),
            media: media::Media::default(),
            settings: settings::SettingsUi::new(crate::cli::secrets(), recent::config_dir()),
            launched: None,
            epic: epic::EpicPanel::default(),
        })
    }

    /// Signs in and out through `session`, the one the engine's account route uses.
    #[must_use]
    pub fn with_account_session(mut self, session: aktion_engine::AccountSession) -> Self {
        let server = session
            .read()
            .ok()
            .and_then(|c| c.as_ref().map(|c| c.base_url().to_owned()))
            .unwrap_or_else(crate::cli::account_url);
        self.account = account::AccountUi::new(session, crate::cli::secrets(), server);
        self
    }

    fn apply(&mut self, cmd: Command) {
        if let Err(e) = self.state.apply(cmd, Instant::now()) {
            self.message = Some(e);
        }
    }

    fn refresh_board(&mut self) {
        let key = (
            self.state.history.revision() ^ (self.state.doc.nodes.len() as u64) << 40,
            self.status_rev,
        );
        if self.board_key == Some(key) {
            return;
        }
        self.board_key = Some(key);
        let stale = self.stale_nodes();
        let (board, ids) = view::board(
            &self.state.doc,
            Catalog::builtin(),
            &self.status,
            &stale,
            key.0.wrapping_mul(31).wrapping_add(key.1),
        );
        self.board = board;
        self.ids = ids;
        self.canvas
            .set_selection(self.state.selection.iter().map(|id| view::canvas_id(*id)));
    }

    /// Nodes whose active take no longer matches their parameters or inputs.
    fn stale_nodes(&self) -> BTreeSet<NodeId> {
        let Ok(plan) = self.engine.plan(&self.request(Vec::new())) else {
            return BTreeSet::new();
        };
        self.state
            .doc
            .nodes
            .values()
            .filter(|n| {
                let sig = plan
                    .resolved
                    .nodes
                    .get(&n.id)
                    .and_then(|r| r.signature.as_ref().ok());
                n.active_take().is_some_and(|t| Some(&t.signature) != sig)
            })
            .map(|n| n.id)
            .collect()
    }

    fn request(&self, targets: Vec<NodeId>) -> RunRequest {
        let mut req = RunRequest::new(self.state.doc.clone(), self.state.root.clone());
        req.targets = targets;
        req.default_route = self.route;
        req
    }

    fn start_run(&mut self, targets: Vec<NodeId>) {
        if self.run.is_some() {
            self.message = Some("a run is already going; cancel it or wait".into());
            return;
        }
        let req = self.request(targets);
        let _guard = self.runtime.enter();
        let mut handle = match self.engine.start(req) {
            Ok(h) => h,
            Err(e) => {
                self.message = Some(e.to_string());
                return;
            }
        };
        let mut events =
            std::mem::replace(&mut handle.events, tokio::sync::mpsc::unbounded_channel().1);
        let (tx, rx) = std::sync::mpsc::channel();
        let ctx = self.egui_ctx.clone();
        self.runtime.spawn(async move {
            while let Some(e) = events.recv().await {
                // Progress of running jobs is shown with the once-a-second tick (one repaint
                // for all of them); a job starting, finishing or failing shows at once.
                let progress_only = matches!(e, Event::Progress { .. });
                if tx.send(e).is_err() {
                    break;
                }
                if let Some(ctx) = &ctx {
                    if progress_only {
                        ctx.request_repaint_after(PROGRESS_REPAINT);
                    } else {
                        ctx.request_repaint();
                    }
                }
            }
            // Closing the channel tells the UI the run has ended.
            drop(tx);
            if let Some(ctx) = &ctx {
                ctx.request_repaint();
            }
        });
        self.status.clear();
        self.started.clear();
        self.status_rev += 1;
        self.run = Some(handle);
        self.events = Some(rx);
    }

    /// Takes in the engine's events; records finished results as takes.
    fn poll_run(&mut self) {
        let Some(rx) = &self.events else { return };
        let mut finished = false;
        let mut got = Vec::new();
        loop {
            match rx.try_recv() {
                Ok(e) => got.push(e),
                Err(std::sync::mpsc::TryRecvError::Empty) => break,
                Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                    finished = true;
                    break;
                }
            }
        }
        for e in got {
            self.status_rev += 1;
            match e {
                Event::Planned { .. } => {}
                Event::Queued { node } => {
                    self.status.insert(node, RunStatus::Queued);
                }
                Event::Started { node } => {
                    self.started.insert(node, Instant::now());
                    self.status.insert(
                        node,
                        RunStatus::Running {
                            fraction: None,
                            message: String::new(),
                        },
                    );
                }
                Event::Progress {
                    node,
                    fraction,
                    message,
                } => {
                    self.status
                        .insert(node, RunStatus::Running { fraction, message });
                }
                Event::Done { node, cached, .. } => {
                    let ran = self.started.get(&node).map_or(0, |t| t.elapsed().as_secs());
                    let focused = self
                        .egui_ctx
                        .as_ref()
                        .is_none_or(|c| c.input(|i| i.viewport().focused.unwrap_or(true)));
                    if recent::should_notify(ran, cached, focused) {
                        let title = self
                            .state
                            .doc
                            .node(node)
                            .map(|n| n.display_title(Catalog::builtin()).to_owned())
                            .unwrap_or_default();
                        recent::notify("Aktion Studio", &format!("{title} is done"));
                    }
                    self.status.insert(node, RunStatus::Done { cached });
                    self.record_result(node);
                }
                Event::Failed { node, error } => {
                    self.status.insert(node, RunStatus::Failed(error));
                }
                Event::Blocked { node, reason } => {
                    self.status.insert(node, RunStatus::Blocked(reason));
                }
                Event::Cancelled { node } => {
                    self.status.insert(node, RunStatus::Cancelled);
                }
            }
        }
        if finished {
            self.events = None;
            self.run = None;
            if self.account.signed_in()
                && let Some(ctx) = self.egui_ctx.clone()
            {
                // Credits may have been spent.
                self.account.refresh(&self.runtime, &ctx);
            }
        }
    }

    fn record_result(&mut self, node: NodeId) {
        let Ok(plan) = self.engine.plan(&self.request(vec![node])) else {
            return;
        };
        let Some(sig) = plan
            .resolved
            .nodes
            .get(&node)
            .and_then(|r| r.signature.clone().ok())
        else {
            return;
        };
        if let Ok(Some(result)) = self.engine.cache().get(&sig) {
            self.state.record_result(node, &sig, &result);
        }
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
                    let ids = ids.into_iter().filter_map(|i| self.ids.node(i)).collect();
                    self.apply(Command::Select(ids));
                }
                CanvasEvent::NodesMoved { ids, delta } => {
                    let ids = ids.into_iter().filter_map(|i| self.ids.node(i)).collect();
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
                    let nodes = nodes.into_iter().filter_map(|i| self.ids.node(i)).collect();
                    if let Some(index) = self.frame_index(frame) {
                        self.apply(Command::MoveFrame {
                            index,
                            nodes,
                            delta: [delta.x, delta.y],
                        });
                    }
                }
                CanvasEvent::RenameFrame { frame, .. } => {
                    self.rename_frame = self
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
                    if let Some(w) = self.ids.wire(&self.state.doc, catalog, from, to) {
                        self.apply(Command::Disconnect(w));
                    }
                }
                CanvasEvent::Connect { from, to } => {
                    if let Some(w) = self.ids.wire(&self.state.doc, catalog, from, to) {
                        self.apply(Command::Connect(w));
                    }
                }
                CanvasEvent::WireDroppedOnEmpty {
                    from_pin,
                    at,
                    screen,
                } => {
                    self.palette = Some(Palette {
                        at: [at.x, at.y],
                        screen,
                        query: String::new(),
                        from: self.ids.node(from_pin.node),
                    });
                }
                CanvasEvent::OpenPalette { at, screen } => {
                    self.palette = Some(Palette {
                        at: [at.x, at.y],
                        screen,
                        query: String::new(),
                        from: None,
                    });
                }
                CanvasEvent::NodeContextMenu { node, .. } => {
                    if let Some(id) = self.ids.node(node) {
                        self.apply(Command::Select(vec![id]));
                    }
                }
                CanvasEvent::Delete(ids) => {
                    let ids = ids.into_iter().filter_map(|i| self.ids.node(i)).collect();
                    self.apply(Command::Delete(ids));
                }
                CanvasEvent::Duplicate(ids) => {
                    let ids = ids.into_iter().filter_map(|i| self.ids.node(i)).collect();
                    self.apply(Command::Duplicate(ids));
                }
                CanvasEvent::Copy(ids) | CanvasEvent::Cut(ids) => {
                    let nodes: Vec<NodeId> = ids.iter().filter_map(|i| self.ids.node(*i)).collect();
                    ui.ctx()
                        .copy_text(aktion_graph::clipboard::copy(&self.state.doc, &nodes));
                    if cut {
                        self.apply(Command::Delete(nodes));
                    }
                }
                CanvasEvent::Paste { at, text } => {
                    if let Some(text) = text {
                        self.apply(Command::Paste {
                            text,
                            at: [at.x, at.y],
                        });
                    }
                }
                CanvasEvent::ToggleMute(ids) => {
                    let ids: Vec<NodeId> =
                        ids.into_iter().filter_map(|i| self.ids.node(i)).collect();
                    let on = !ids
                        .iter()
                        .all(|i| self.state.doc.node(*i).is_some_and(|n| n.muted));
                    self.apply(Command::SetMuted { ids, on });
                }
                CanvasEvent::ToggleBypass(ids) => {
                    let ids: Vec<NodeId> =
                        ids.into_iter().filter_map(|i| self.ids.node(i)).collect();
                    let on = !ids
                        .iter()
                        .all(|i| self.state.doc.node(*i).is_some_and(|n| n.bypassed));
                    self.apply(Command::SetBypassed { ids, on });
                }
            }
        }
    }

    fn shortcuts(&mut self, ui: &egui::Ui) {
        use egui::{Key, KeyboardShortcut, Modifiers};
        let typing = ui.ctx().text_edit_focused();
        let undo = KeyboardShortcut::new(Modifiers::COMMAND, Key::Z);
        let redo = KeyboardShortcut::new(Modifiers::COMMAND | Modifiers::SHIFT, Key::Z);
        let save = KeyboardShortcut::new(Modifiers::COMMAND, Key::S);
        let run = KeyboardShortcut::new(Modifiers::COMMAND, Key::Enter);
        if ui.input_mut(|i| i.consume_shortcut(&KeyboardShortcut::new(Modifiers::COMMAND, Key::G)))
        {
            let title = format!("Shot {}", self.state.doc.frames.len() + 1);
            self.apply(Command::FrameNodes {
                ids: self.selected(),
                title,
            });
        }
        if ui.input_mut(|i| i.consume_shortcut(&save)) {
            self.save();
        }
        if ui.input_mut(|i| {
            i.consume_shortcut(&KeyboardShortcut::new(Modifiers::COMMAND, Key::Comma))
        }) {
            self.settings.open = true;
        }
        if ui.input_mut(|i| i.consume_shortcut(&KeyboardShortcut::new(Modifiers::COMMAND, Key::N)))
        {
            self.new_board();
        }
        if ui.input_mut(|i| i.consume_shortcut(&KeyboardShortcut::new(Modifiers::COMMAND, Key::O)))
        {
            self.open_native();
        }
        if ui.input_mut(|i| i.consume_shortcut(&run)) {
            self.start_run(Vec::new());
        }
        if typing {
            return;
        }
        if ui.input_mut(|i| i.consume_shortcut(&redo)) {
            self.apply(Command::Redo);
        } else if ui.input_mut(|i| i.consume_shortcut(&undo)) {
            self.apply(Command::Undo);
        }
    }

    fn save(&mut self) {
        self.message = match self.state.save() {
            Ok(()) => {
                self.remember_recent();
                Some(format!("saved {}", self.state.root.display()))
            }
            Err(e) => Some(e),
        };
    }

    fn remember_recent(&mut self) {
        let Some(dir) = &self.recent_dir else { return };
        if let Err(e) = recent::remember_in(dir, &self.state.root) {
            tracing::warn!("cannot update the recent projects list: {e}");
        }
        self.recent = recent::load_in(dir);
    }

    /// Switches to another board; the current one must be saved first (its autosave copy
    /// stays, so nothing is lost either way).
    fn replace_state(&mut self, state: AppState) {
        if let Some(r) = &self.run {
            r.cancel();
        }
        self.state = state;
        self.status.clear();
        self.started.clear();
        self.board_key = None;
        self.previews.clear();
        self.previews_pending.clear();
        self.compare = None;
        self.sketch_pad = None;
        self.palette = None;
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
        match AppState::open_with_recovery(path) {
            Ok((s, message)) => {
                self.message = Some(message);
                self.replace_state(s);
                self.remember_recent();
            }
            Err(e) => self.message = Some(format!("{e:#}")),
        }
    }

    #[expect(
        clippy::too_many_lines,
        reason = "the menus read top to bottom like the menu bar"
    )]
    fn menu_ui(&mut self, ui: &mut egui::Ui) {
        egui::MenuBar::new().ui(ui, |ui| {
            ui.menu_button("File", |ui| {
                if ui
                    .add(egui::Button::new("New board").shortcut_text("Ctrl+N"))
                    .clicked()
                {
                    self.new_board();
                }
                if ui
                    .add(egui::Button::new("Open…").shortcut_text("Ctrl+O"))
                    .clicked()
                {
                    ui.close();
                    self.open_native();
                }
                if ui.button("Open path…").clicked() {
                    self.open_dialog = Some(String::new());
                }
                ui.menu_button("Open recent", |ui| {
                    if self.recent.is_empty() {
                        ui.label("No recent projects");
                    }
                    for p in self.recent.clone() {
                        if ui.button(p.display().to_string()).clicked() {
                            self.open_project(&p);
                        }
                    }
                });
                ui.separator();
                if ui
                    .add(egui::Button::new("Save").shortcut_text("Ctrl+S"))
                    .clicked()
                {
                    self.save();
                }
                if ui.button("Save As…").clicked() {
                    ui.close();
                    self.save_as_native();
                }
                if ui.button("Save As path…").clicked() {
                    self.save_as = Some(self.state.root.display().to_string());
                }
                ui.separator();
                if ui
                    .add(egui::Button::new("Settings…").shortcut_text("Ctrl+,"))
                    .clicked()
                {
                    ui.close();
                    self.settings.open = true;
                }
            });
            ui.menu_button("Account", |ui| {
                if ui.button("Account…").clicked() {
                    ui.close();
                    self.account.open = true;
                }
            });
            ui.menu_button("Edit", |ui| {
                let undo = self.state.history.can_undo().map(|l| format!("Undo {l}"));
                if ui
                    .add_enabled(
                        undo.is_some(),
                        egui::Button::new(undo.unwrap_or_else(|| "Undo".into()))
                            .shortcut_text("Ctrl+Z"),
                    )
                    .clicked()
                {
                    self.apply(Command::Undo);
                }
                let redo = self.state.history.can_redo().map(|l| format!("Redo {l}"));
                if ui
                    .add_enabled(
                        redo.is_some(),
                        egui::Button::new(redo.unwrap_or_else(|| "Redo".into()))
                            .shortcut_text("Ctrl+Shift+Z"),
                    )
                    .clicked()
                {
                    self.apply(Command::Redo);
                }
                ui.separator();
                let sel = self.selected();
                if ui
                    .add_enabled(
                        !sel.is_empty(),
                        egui::Button::new("Duplicate").shortcut_text("Ctrl+D"),
                    )
                    .clicked()
                {
                    self.apply(Command::Duplicate(sel.clone()));
                }
                if ui
                    .add_enabled(
                        !sel.is_empty(),
                        egui::Button::new("Delete").shortcut_text("Del"),
                    )
                    .clicked()
                {
                    self.apply(Command::Delete(sel.clone()));
                }
                if ui
                    .add_enabled(
                        !sel.is_empty(),
                        egui::Button::new("Frame selection").shortcut_text("Ctrl+G"),
                    )
                    .clicked()
                {
                    let title = format!("Shot {}", self.state.doc.frames.len() + 1);
                    self.apply(Command::FrameNodes { ids: sel, title });
                }
                ui.menu_button("Rename frame", |ui| {
                    if self.state.doc.frames.is_empty() {
                        ui.label("No frames");
                    }
                    for (i, f) in self.state.doc.frames.clone().iter().enumerate() {
                        if ui.button(&f.title).clicked() {
                            ui.close();
                            self.rename_frame = Some((i, f.title.clone()));
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
            });
            ui.menu_button("View", |ui| {
                if ui
                    .add(egui::Button::new("Fit all").shortcut_text("Home"))
                    .clicked()
                {
                    self.canvas.fit_all();
                }
                if ui
                    .add(egui::Button::new("Fit selection").shortcut_text("F"))
                    .clicked()
                {
                    self.canvas.fit_selection();
                }
            });
            ui.menu_button("Run", |ui| {
                if ui
                    .add(egui::Button::new("Run board").shortcut_text("Ctrl+Enter"))
                    .clicked()
                {
                    self.start_run(Vec::new());
                }
                let sel = self.selected();
                if ui
                    .add_enabled(!sel.is_empty(), egui::Button::new("Run selection"))
                    .clicked()
                {
                    self.start_run(sel);
                }
                ui.separator();
                if ui.button("Epic Scene…").clicked() {
                    ui.close();
                    self.epic.open = true;
                }
            });
        });
    }

    fn toolbar_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            ui.heading("Aktion Studio");
            ui.label(egui::RichText::new(&self.state.doc.name).strong());
            if self.state.is_modified() {
                ui.label("•").on_hover_text("unsaved changes");
            }
            ui.separator();
            let running = self.run.is_some();
            if running {
                if ui.button("Cancel run").clicked()
                    && let Some(r) = &self.run
                {
                    r.cancel();
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
                    self.engine.set_paused(!paused);
                }
            } else {
                let cost = self
                    .engine
                    .plan(&self.request(Vec::new()))
                    .map_or(0, |p| p.cost.total);
                if ui
                    .button(format!("Run board · {cost} credits"))
                    .on_hover_text("Ctrl+Enter. Cached nodes cost nothing and do not run.")
                    .clicked()
                {
                    self.start_run(Vec::new());
                }
            }
            egui::ComboBox::from_label("route")
                .selected_text(self.route.as_str())
                .show_ui(ui, |ui| {
                    for r in Route::ALL {
                        ui.selectable_value(&mut self.route, r, r.as_str());
                    }
                });
            ui.separator();
            if ui
                .button("Settings")
                .on_hover_text("Provider keys, ComfyUI, routes per kind, the cache (Ctrl+,)")
                .clicked()
            {
                self.settings.open = true;
            }
            if ui
                .button(self.account.balance_label())
                .on_hover_text("Your Aktion account: sign in, credits, data sharing")
                .clicked()
            {
                self.account.open = true;
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
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.frame_ui(ui);
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
        take.or(asset)
            .is_some_and(|hash| self.previews.contains_key(&hash) || self.media.is_ready(&hash))
    }

    pub fn frame_ui(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        if self.egui_ctx.is_none() {
            self.egui_ctx = Some(ctx.clone());
        }
        if let Some(t) = self.launched.take() {
            tracing::info!(
                ms = t.elapsed().as_millis(),
                nodes = self.state.doc.nodes.len(),
                "first frame (from start, window and GPU set-up included)"
            );
        }
        self.poll_run();
        self.poll_imports();
        self.poll_previews(&ctx);
        self.media.poll(&ctx);
        self.drops(&ctx);
        self.shortcuts(ui);
        if let Err(e) = self.state.autosave_if_due(Instant::now()) {
            self.message = Some(e);
        }
        if self.run.is_some() {
            // Elapsed times tick once a second while jobs run; nothing repaints when idle.
            ctx.request_repaint_after(PROGRESS_REPAINT);
        }
        if self.state.autosave_pending() {
            // Wake once more so a pending autosave is written even if the user stops moving.
            ctx.request_repaint_after(state::AUTOSAVE_AFTER);
        }
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
                    .show(ui, |ui| self.inspector_ui(ui));
            });
        egui::Panel::bottom("jobs")
            .default_size(110.0)
            .resizable(true)
            .show(ui, |ui| self.jobs_ui(ui));
        self.refresh_board();
        egui::CentralPanel::default().show(ui, |ui| {
            let doc = &self.state.doc;
            let ids = &self.ids;
            let catalog = Catalog::builtin();
            let mut can_connect =
                |from: aktion_canvas::PinId, to: aktion_canvas::PinId| -> Result<(), String> {
                    let w = ids
                        .wire(doc, catalog, from, to)
                        .ok_or_else(|| "unknown pin".to_owned())?;
                    doc.check_connect(catalog, &w, true)
                        .map_err(|e| e.to_string())
                };
            self.canvas_rect = Some(ui.available_rect_before_wrap());
            let events = self.canvas.show(ui, &self.board, &mut can_connect);
            self.handle_canvas_events(ui, events);
        });
        self.palette_ui(&ctx);
        self.save_as_ui(&ctx);
        self.rename_frame_ui(&ctx);
        self.epic_ui(&ctx);
        self.sketch_pad_ui(&ctx);
        self.export_ui(&ctx);
        self.open_ui(&ctx);
        self.account.poll();
        self.account.ui(&ctx, &self.runtime);
        let running = self.run.is_some();
        for cmd in self
            .settings
            .ui(&ctx, &self.runtime, &self.engine, &self.state.doc, running)
        {
            self.apply(cmd);
        }
    }
}
