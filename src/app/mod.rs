//! The desktop window: the canvas, an inspector, a jobs panel and menus. Widgets read
//! [`state::AppState`] and emit commands; runs go to the engine on a background tokio runtime
//! and report back through a channel plus `request_repaint`, so no frame ever waits.

pub mod account;
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
use aktion_graph::{Catalog, Document, NodeId, ParamKind, Route};
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

pub fn run(project: Option<PathBuf>) -> Result<u8, Failure> {
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
                if tx.send(e).is_err() {
                    break;
                }
                if let Some(ctx) = &ctx {
                    ctx.request_repaint();
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
                    let index = self
                        .state
                        .doc
                        .frames
                        .iter()
                        .position(|f| view::frame_canvas_id(f) == frame);
                    if let Some(index) = index {
                        self.apply(Command::MoveFrame {
                            index,
                            nodes,
                            delta: [delta.x, delta.y],
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

    #[expect(
        clippy::too_many_lines,
        reason = "the inspector reads top to bottom like the panel"
    )]
    fn inspector_ui(&mut self, ui: &mut egui::Ui) {
        let sel = self.selected();
        let shown = match sel.as_slice() {
            [id] => Some(*id),
            _ => None,
        };
        if shown != self.inspected {
            // Another node: its text boxes are other widgets. Drop the old keyboard focus so
            // it neither types into the new node nor scrolls the panel to an old cursor.
            self.inspected = shown;
            ui.memory_mut(egui::Memory::stop_text_input);
            self.apply(Command::Seal);
        }
        let [id] = sel.as_slice() else {
            ui.label(if sel.is_empty() {
                "Select a node to see its parameters."
            } else {
                "Several nodes selected."
            });
            return;
        };
        let id = *id;
        let Some(node) = self.state.doc.node(id).cloned() else {
            return;
        };
        let catalog = Catalog::builtin();
        let Some(kind) = catalog.get(&node.kind) else {
            return;
        };
        ui.heading(node.display_title(catalog));
        ui.label(
            egui::RichText::new(format!(
                "{} · {} credits · ~{} s",
                kind.title, kind.credits, kind.typical_seconds
            ))
            .weak(),
        );
        if kind.beta {
            ui.colored_label(
                egui::Color32::from_rgb(240, 190, 90),
                "BETA: takes 10–15 minutes",
            );
        }
        match node_asset(&node) {
            Some((asset, aktion_graph::PortType::Image)) => self.asset_preview_ui(ui, &asset),
            Some((asset, _)) => {
                let path = asset.path(&self.state.root);
                let width = ui.available_width().min(320.0);
                self.media
                    .ui(ui, &asset.hash, width, move || std::fs::read(path).ok());
            }
            None => {}
        }
        self.preview_ui(ui, &node);
        if node.kind == "sketch" && ui.button("Open sketch pad").clicked() {
            self.sketch_pad = Some(sketch::SketchPad::new(id));
        }
        let mut title = node.title.clone();
        if ui
            .add(egui::TextEdit::singleline(&mut title).hint_text(kind.title.as_str()))
            .changed()
        {
            self.apply(Command::SetTitle { node: id, title });
        }
        ui.separator();
        for p in &kind.params {
            let value = node
                .params
                .get(&p.id)
                .cloned()
                .unwrap_or_else(|| p.default_value());
            if let Some(new) = param_editor_ui(ui, p, &value) {
                self.apply(Command::SetParam {
                    node: id,
                    key: p.id.clone(),
                    value: new,
                });
            }
            if p.kind == ParamKind::Seed {
                let mut pinned = node.seed_pinned;
                if ui.checkbox(&mut pinned, "Pin seed").changed() {
                    self.apply(Command::PinSeed { node: id, pinned });
                }
            }
        }
        if !ui.ctx().text_edit_focused() {
            self.apply(Command::Seal);
        }
        if kind.is_generating() {
            let mut route = node.route;
            egui::ComboBox::from_label("Route")
                .selected_text(route.map_or("board default", Route::as_str))
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut route, None, "board default");
                    for r in Route::ALL {
                        ui.selectable_value(&mut route, Some(r), r.as_str());
                    }
                });
            if route != node.route {
                self.apply(Command::SetRoute { node: id, route });
            }
        }
        if !node.takes.is_empty() {
            ui.separator();
            ui.label(egui::RichText::new("Takes").strong());
            for (i, t) in node.takes.iter().enumerate() {
                // Wrapped, so a long row never widens the panel (which would move every
                // button under the pointer between two frames).
                ui.horizontal_wrapped(|ui| {
                    let active = node.active_take == Some(t.id);
                    let label = format!(
                        "#{} {} seed {}{}",
                        i + 1,
                        t.provider,
                        t.params
                            .get("seed")
                            .and_then(serde_json::Value::as_u64)
                            .unwrap_or(0),
                        if t.draft { " · draft" } else { "" }
                    );
                    if ui.selectable_label(active, label).clicked() && !active {
                        self.apply(Command::PickTake {
                            node: id,
                            take: t.id,
                        });
                    }
                    if !active
                        && ui
                            .small_button(format!("Compare #{}", i + 1))
                            .on_hover_text("Show beside the active take")
                            .clicked()
                    {
                        self.compare = Some((id, t.id));
                    }
                    if ui
                        .small_button("Delete")
                        .on_hover_text("Delete take")
                        .clicked()
                    {
                        self.apply(Command::DeleteTake {
                            node: id,
                            take: t.id,
                        });
                    }
                });
            }
        }
        if let Some(take) = node.active_take() {
            take_details(ui, take, Catalog::builtin().get(&node.kind));
        }
        ui.separator();
        ui.horizontal_wrapped(|ui| {
            if ui
                .add_enabled(
                    node.active_take().is_some(),
                    egui::Button::new("Export take…"),
                )
                .clicked()
            {
                let dir = self.state.root.join("exports").display().to_string();
                self.export = Some((vec![id], dir, false));
            }
            if ui
                .add_enabled(node.takes.len() > 1, egui::Button::new("Export all takes…"))
                .clicked()
            {
                let dir = self.state.root.join("exports").display().to_string();
                self.export = Some((vec![id], dir, true));
            }
        });
        if let Some(out) = node.active_take().and_then(|t| t.outputs.first()).cloned() {
            ui.horizontal_wrapped(|ui| {
                let path = out
                    .hash
                    .parse::<aktion_cache::BlobHash>()
                    .ok()
                    .map(|h| self.engine.cache().blob_path(&h));
                if ui
                    .add_enabled(path.is_some(), egui::Button::new("Reveal in folder"))
                    .clicked()
                    && let Some(p) = &path
                {
                    recent::reveal(p);
                }
                if ui
                    .add_enabled(
                        out.mime.starts_with("image/"),
                        egui::Button::new("Copy image"),
                    )
                    .clicked()
                {
                    self.copy_image(&out.hash, ui.ctx());
                }
            });
        }
        ui.horizontal_wrapped(|ui| {
            let failed = match self.status.get(&id) {
                Some(RunStatus::Failed(m)) => Some(m.clone()),
                _ => None,
            };
            // A failed node offers Retry (a fresh attempt: the account route never replays
            // the failed generation) next to its message.
            let label = if failed.is_some() {
                "Retry"
            } else {
                "Run node"
            };
            if ui.button(label).clicked() {
                self.start_run(vec![id]);
            }
            if let Some(m) = failed {
                ui.colored_label(egui::Color32::LIGHT_RED, m);
            }
        });
    }

    fn preview_ui(&mut self, ui: &mut egui::Ui, node: &aktion_graph::Node) {
        let Some(take) = node.active_take() else {
            return;
        };
        let compared = self
            .compare
            .filter(|(n, t)| *n == node.id && *t != take.id)
            .and_then(|(_, t)| node.takes.iter().find(|x| x.id == t));
        match compared {
            None => {
                let w = ui.available_width().min(320.0);
                self.take_image_ui(ui, take, w);
            }
            Some(other) => {
                let w = (ui.available_width() / 2.0 - 6.0).min(240.0);
                ui.horizontal(|ui| {
                    ui.vertical(|ui| {
                        ui.label(take_label(node, take));
                        self.take_image_ui(ui, take, w);
                    });
                    ui.vertical(|ui| {
                        ui.label(take_label(node, other));
                        self.take_image_ui(ui, other, w);
                    });
                });
                if ui.button("Stop comparing").clicked() {
                    self.compare = None;
                }
            }
        }
    }

    /// A take's picture, decoded and scaled off the UI thread. It always takes the same box
    /// (4:3 of `width`), loaded or not, so the panel never jumps when a preview arrives.
    fn take_image_ui(&mut self, ui: &mut egui::Ui, take: &aktion_graph::Take, width: f32) {
        let Some(out) = take.outputs.first() else {
            return;
        };
        let cache = self.engine.cache().clone();
        if out.mime == "image/gif"
            || out.mime.starts_with("video/")
            || out.mime.starts_with("audio/")
        {
            // Clips play (GIF) or show their first frame (MP4, with ffmpeg); sounds show their
            // waveform.
            let hash = out.hash.clone();
            self.media.ui(ui, &out.hash, width, move || {
                let h = hash.parse::<aktion_cache::BlobHash>().ok()?;
                cache.read_blob(&h).ok().flatten()
            });
            return;
        }
        if !out.mime.starts_with("image/") {
            ui.label(egui::RichText::new(format!("{} ({})", out.name, out.mime)).weak());
            return;
        }
        let hash = out.hash.clone();
        self.preview_box(ui, &out.hash, width, move || {
            let h = hash.parse::<aktion_cache::BlobHash>().ok()?;
            cache.read_blob(&h).ok().flatten()
        });
    }

    /// The picture of an imported image (an image node's file), from the project's assets.
    fn asset_preview_ui(&mut self, ui: &mut egui::Ui, asset: &aktion_graph::project::AssetRef) {
        let path = asset.path(&self.state.root);
        let width = ui.available_width().min(320.0);
        self.preview_box(ui, &asset.hash, width, move || std::fs::read(path).ok());
    }

    /// A fixed 4:3 box with the picture `key` once decoded; until then "loading preview…",
    /// while `load` runs and the thumbnail (≤ 480 px, a texture no bigger than what is shown)
    /// is made on a worker thread: the UI thread never decodes.
    fn preview_box(
        &mut self,
        ui: &mut egui::Ui,
        key: &str,
        width: f32,
        load: impl FnOnce() -> Option<Vec<u8>> + Send + 'static,
    ) {
        let (rect, _) =
            ui.allocate_exact_size(egui::vec2(width, width * 0.75), egui::Sense::hover());
        ui.painter()
            .rect_filled(rect, 4.0, egui::Color32::from_gray(20));
        if let Some(tex) = self.previews.get(key) {
            media::paint_fit(ui, tex, rect);
            return;
        }
        ui.painter().text(
            rect.center(),
            egui::Align2::CENTER_CENTER,
            "loading preview…",
            egui::FontId::proportional(12.0),
            egui::Color32::GRAY,
        );
        if !self.previews_pending.insert(key.to_owned()) {
            return;
        }
        let (key, tx, ctx) = (key.to_owned(), self.preview_tx.clone(), ui.ctx().clone());
        std::thread::spawn(move || {
            let image = load()
                .and_then(|bytes| {
                    aktion_media::thumbnail_from_bytes(
                        &bytes,
                        480,
                        &aktion_media::DecodeLimits::default(),
                    )
                    .ok()
                })
                .map(|img| {
                    egui::ColorImage::from_rgba_unmultiplied(
                        [img.width() as usize, img.height() as usize],
                        img.as_raw(),
                    )
                });
            let _ = tx.send((key, image));
            ctx.request_repaint();
        });
    }

    /// Decodes a take's image at full size off the UI thread, then puts it on the clipboard.
    fn copy_image(&mut self, hash_hex: &str, ctx: &egui::Context) {
        let (cache, hash_hex, ctx) = (
            self.engine.cache().clone(),
            hash_hex.to_owned(),
            ctx.clone(),
        );
        let tx = self.copy_tx.clone();
        std::thread::spawn(move || {
            let image = hash_hex
                .parse::<aktion_cache::BlobHash>()
                .ok()
                .and_then(|h| cache.read_blob(&h).ok().flatten())
                .and_then(|b| {
                    aktion_media::decode_image(&b, &aktion_media::DecodeLimits::default()).ok()
                })
                .map(|img| {
                    egui::ColorImage::from_rgba_unmultiplied(
                        [img.width() as usize, img.height() as usize],
                        img.as_raw(),
                    )
                });
            let _ = tx.send(image);
            ctx.request_repaint();
        });
    }

    fn poll_previews(&mut self, ctx: &egui::Context) {
        while let Ok(image) = self.copy_rx.try_recv() {
            match image {
                Some(image) => {
                    ctx.copy_image(image);
                    self.message = Some("image copied".into());
                }
                None => {
                    self.message = Some("cannot copy: the result is no longer in the cache".into());
                }
            }
        }
        while let Ok((hash, image)) = self.preview_rx.try_recv() {
            if let Some(image) = image {
                let tex = ctx.load_texture(hash.clone(), image, egui::TextureOptions::LINEAR);
                self.previews.insert(hash, tex);
            }
            // A failed preview stays pending: the label says loading, and nothing retries in a loop.
        }
    }

    fn jobs_ui(&mut self, ui: &mut egui::Ui) {
        let active: Vec<(NodeId, RunStatus)> = self
            .status
            .iter()
            .filter(|(_, s)| matches!(s, RunStatus::Queued | RunStatus::Running { .. }))
            .map(|(k, v)| (*k, v.clone()))
            .collect();
        ui.horizontal(|ui| {
            ui.label(egui::RichText::new("Jobs").strong());
            let done = self
                .status
                .values()
                .filter(|s| matches!(s, RunStatus::Done { .. }))
                .count();
            let failed = self
                .status
                .values()
                .filter(|s| matches!(s, RunStatus::Failed(_)))
                .count();
            ui.label(format!(
                "{} active · {done} done · {failed} failed",
                active.len()
            ));
        });
        for (id, s) in active {
            ui.horizontal(|ui| {
                let title = self
                    .state
                    .doc
                    .node(id)
                    .map(|n| n.display_title(Catalog::builtin()).to_owned())
                    .unwrap_or_default();
                ui.label(title);
                match s {
                    RunStatus::Running { fraction, message } => {
                        let typical = self
                            .state
                            .doc
                            .node(id)
                            .and_then(|n| Catalog::builtin().get(&n.kind))
                            .map_or(30, |k| k.typical_seconds);
                        let elapsed = self
                            .started
                            .get(&id)
                            .map_or(0.0, |t| t.elapsed().as_secs_f32());
                        let text = format!("{message} · {}", eta_text(elapsed, fraction, typical));
                        ui.add(
                            egui::ProgressBar::new(fraction.unwrap_or(0.0))
                                .desired_width(260.0)
                                .text(text),
                        );
                    }
                    _ => {
                        ui.label("queued");
                    }
                }
                if ui.small_button("Cancel").clicked()
                    && let Some(r) = &self.run
                {
                    r.cancel_node(id);
                }
            });
        }
    }

    fn palette_ui(&mut self, ctx: &egui::Context) {
        let Some(p) = &mut self.palette else { return };
        let mut chosen = None;
        let mut close = false;
        let from_type = p
            .from
            .and_then(|f| self.state.doc.output_type(Catalog::builtin(), f));
        egui::Window::new("Add node")
            .fixed_pos(p.screen)
            .collapsible(false)
            .resizable(false)
            .show(ctx, |ui| {
                let r =
                    ui.add(egui::TextEdit::singleline(&mut p.query).hint_text("search node kinds"));
                r.request_focus();
                let q = p.query.to_lowercase();
                let kinds: Vec<&aktion_graph::KindSchema> = match from_type {
                    Some(t) => state::kinds_for_wire(t)
                        .into_iter()
                        .filter_map(|k| Catalog::builtin().get(k))
                        .collect(),
                    None => Catalog::builtin().iter().collect(),
                };
                for k in kinds.into_iter().filter(|k| {
                    q.is_empty() || k.title.to_lowercase().contains(&q) || k.id.contains(&q)
                }) {
                    if ui
                        .button(format!("{}  ·  {} cr", k.title, k.credits))
                        .on_hover_text(&k.description)
                        .clicked()
                    {
                        chosen = Some(k.id.clone());
                    }
                }
                if ui.input(|i| i.key_pressed(egui::Key::Escape)) {
                    close = true;
                }
            });
        if let Some(kind) = chosen {
            let (at, from) = (p.at, p.from);
            self.palette = None;
            match from {
                Some(from) => self.apply(Command::AddNodeFrom {
                    kind,
                    pos: at,
                    from,
                }),
                None => self.apply(Command::AddNode { kind, pos: at }),
            }
        } else if close {
            self.palette = None;
        }
    }

    fn sketch_pad_ui(&mut self, ctx: &egui::Context) {
        let Some(pad) = &mut self.sketch_pad else {
            return;
        };
        let Some(node) = self.state.doc.node(pad.node) else {
            self.sketch_pad = None;
            return;
        };
        let strokes: Vec<aktion_graph::sketch::Stroke> = node
            .params
            .get("strokes")
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default();
        let dim = |k: &str, d: i64| u32::try_from(node.param_i64(k).unwrap_or(d)).unwrap_or(512);
        let size = (dim("width", 768), dim("height", 512));
        let title = format!("Sketch: {}", node.display_title(Catalog::builtin()));
        let mut open = true;
        let mut changed = None;
        egui::Window::new(title)
            .open(&mut open)
            .default_size([820.0, 620.0])
            .show(ctx, |ui| changed = pad.ui(ui, &strokes, size));
        let node_id = pad.node;
        if !open {
            self.sketch_pad = None;
        }
        if let Some(strokes) = changed {
            match serde_json::to_value(strokes) {
                Ok(value) => self.apply(Command::SetParam {
                    node: node_id,
                    key: "strokes".into(),
                    value,
                }),
                Err(e) => self.message = Some(e.to_string()),
            }
        }
    }

    fn export_ui(&mut self, ctx: &egui::Context) {
        let Some((nodes, dir, all)) = &mut self.export else {
            return;
        };
        let mut go = false;
        let mut close = false;
        egui::Window::new("Export")
            .collapsible(false)
            .show(ctx, |ui| {
                let label = ui.label("Folder").id;
                ui.add(egui::TextEdit::singleline(dir).desired_width(420.0))
                    .labelled_by(label);
                ui.checkbox(all, "Every take (not only the active one)");
                ui.horizontal(|ui| {
                    go = ui.button("Export files").clicked();
                    close = ui.button("Cancel").clicked();
                });
            });
        if go {
            let (nodes, dir, all) = (nodes.clone(), PathBuf::from(dir.as_str()), *all);
            self.export = None;
            self.message = Some(
                match state::export_takes(&self.state.doc, self.engine.cache(), &nodes, &dir, all) {
                    Ok(files) => format!("exported {} file(s) to {}", files.len(), dir.display()),
                    Err(e) => e,
                },
            );
        } else if close {
            self.export = None;
        }
    }

    /// The platform's folder picker (a modal dialog, as native apps do); where none can be shown
    /// (no portal on a bare X server), "Open path…" types the path instead.
    fn open_native(&mut self) {
        if let Some(dir) = rfd::FileDialog::new()
            .set_title("Open an Aktion Studio project")
            .pick_folder()
        {
            self.open_project(&dir);
        }
    }

    fn save_as_native(&mut self) {
        let name = format!(
            "{}.aktion",
            self.state.doc.name.trim().replace(['/', '\\'], "-")
        );
        if let Some(dir) = rfd::FileDialog::new()
            .set_title("Save the project as")
            .set_file_name(name)
            .save_file()
        {
            self.message = Some(match self.state.save_as(&dir) {
                Ok(()) => {
                    self.remember_recent();
                    format!("saved {}", dir.display())
                }
                Err(e) => e,
            });
        }
    }

    fn open_ui(&mut self, ctx: &egui::Context) {
        let Some(path) = &mut self.open_dialog else {
            return;
        };
        let mut go = false;
        let mut close = false;
        egui::Window::new("Open project")
            .collapsible(false)
            .show(ctx, |ui| {
                let label = ui.label("Project folder or project.json").id;
                ui.add(egui::TextEdit::singleline(path).desired_width(420.0))
                    .labelled_by(label);
                ui.horizontal(|ui| {
                    go = ui.button("Open project").clicked();
                    close = ui.button("Cancel").clicked();
                });
            });
        if go {
            let target = PathBuf::from(path.trim());
            self.open_dialog = None;
            self.open_project(&target);
        } else if close {
            self.open_dialog = None;
        }
    }

    fn save_as_ui(&mut self, ctx: &egui::Context) {
        let Some(path) = &mut self.save_as else {
            return;
        };
        let mut go = false;
        let mut close = false;
        egui::Window::new("Save As")
            .collapsible(false)
            .show(ctx, |ui| {
                ui.label("Project folder");
                ui.add(egui::TextEdit::singleline(path).desired_width(420.0));
                ui.horizontal(|ui| {
                    go = ui.button("Save").clicked();
                    close = ui.button("Cancel").clicked();
                });
            });
        if go {
            let target = PathBuf::from(path.as_str());
            self.save_as = None;
            self.message = Some(match self.state.save_as(&target) {
                Ok(()) => format!("saved {}", target.display()),
                Err(e) => e,
            });
        } else if close {
            self.save_as = None;
        }
    }

    /// Files dropped from the file manager. Reading, checking (a 24-MP JPEG takes a decode) and
    /// copying into the assets happen on a worker thread, so the UI never waits; the result comes
    /// back as one command.
    fn drops(&mut self, ctx: &egui::Context) {
        let handles: Vec<egui::DroppedFileHandle> = ctx.input(|i| i.raw.dropped_files.clone());
        if handles.is_empty() {
            return;
        }
        let pointer = ctx.input(|i| i.pointer.hover_pos());
        let mut target = DropTarget::Board(match (pointer, self.canvas_rect) {
            (Some(p), Some(rect)) => {
                let b = self.canvas.view.at(rect.min).to_board(p);
                [b.x, b.y]
            }
            _ => [0.0, 0.0],
        });
        if let (Some(p), Some(rect), 1) = (pointer, self.canvas_rect, handles.len())
            && let aktion_canvas::Hit::Pin(pin) = self.canvas.hit_test(&self.board, rect, p)
            && pin.side == aktion_canvas::PinSide::Input
            && let Some(node) = self.ids.node(pin.node)
            && let Some(kind) = self
                .state
                .doc
                .node(node)
                .and_then(|n| Catalog::builtin().get(&n.kind))
            && let Some((input, slot, _, _)) =
                view::input_pins(kind).into_iter().nth(pin.index as usize)
        {
            target = DropTarget::Input { node, input, slot };
        }
        let root = self.state.root.clone();
        let tx = self.imports_tx.clone();
        let ctx = ctx.clone();
        self.message = Some(format!("importing {} file(s)…", handles.len()));
        std::thread::spawn(move || {
            let prepared = handles
                .iter()
                .map(|h| {
                    let name = h.path().file_name().map_or_else(
                        || "dropped file".to_owned(),
                        |n| n.to_string_lossy().into_owned(),
                    );
                    let bytes = h
                        .bytes()
                        .map_err(|e| format!("cannot read `{name}`: {e}"))?;
                    state::prepare_file(&root, &state::DroppedFile { name, bytes })
                })
                .collect::<Result<Vec<_>, String>>();
            let _ = tx.send((target, prepared));
            ctx.request_repaint();
        });
    }

    /// Applies imports the worker thread has finished.
    fn poll_imports(&mut self) {
        while let Ok((target, prepared)) = self.imports_rx.try_recv() {
            let files = match prepared {
                Ok(files) => files,
                Err(e) => {
                    self.message = Some(e);
                    continue;
                }
            };
            self.message = None;
            match target {
                DropTarget::Input { node, input, slot } => {
                    for file in files {
                        self.apply(Command::FillInputPrepared {
                            node,
                            input: input.clone(),
                            slot,
                            file,
                        });
                    }
                }
                DropTarget::Board(at) => self.apply(Command::AddPrepared { files, at }),
            }
        }
    }
}

fn take_label(node: &aktion_graph::Node, take: &aktion_graph::Take) -> String {
    let n = node
        .takes
        .iter()
        .position(|t| t.id == take.id)
        .map_or(0, |i| i + 1);
    let active = if node.active_take == Some(take.id) {
        " (active)"
    } else {
        ""
    };
    format!("Take #{n}{active}")
}

/// "12 s · ~40 s left": elapsed time and an estimate from progress (or the kind's typical
/// duration while a provider reports none).
fn eta_text(elapsed: f32, fraction: Option<f32>, typical_seconds: u32) -> String {
    let left = match fraction {
        Some(f) if f > 0.05 => elapsed * (1.0 - f) / f,
        _ => (typical_seconds as f32 - elapsed).max(0.0),
    };
    let fmt = |s: f32| {
        let s = s.round() as u64;
        if s >= 60 {
            format!("{} min {} s", s / 60, s % 60)
        } else {
            format!("{s} s")
        }
    };
    if left < 1.0 {
        format!("{} · finishing", fmt(elapsed))
    } else {
        format!("{} · ~{} left", fmt(elapsed), fmt(left))
    }
}

/// An editor generated from a parameter's schema. Returns the new value when it changed.
fn param_editor_ui(
    ui: &mut egui::Ui,
    p: &aktion_graph::ParamSchema,
    value: &serde_json::Value,
) -> Option<serde_json::Value> {
    let label = ui.label(&p.label).id;
    param_value_ui(ui, p, value, label)
}

fn param_value_ui(
    ui: &mut egui::Ui,
    p: &aktion_graph::ParamSchema,
    value: &serde_json::Value,
    label: egui::Id,
) -> Option<serde_json::Value> {
    use serde_json::Value;
    match &p.kind {
        ParamKind::Text { multiline, .. } => {
            let mut s = value.as_str().unwrap_or("").to_owned();
            let edit = if *multiline {
                egui::TextEdit::multiline(&mut s).desired_rows(3)
            } else {
                egui::TextEdit::singleline(&mut s)
            };
            ui.add(edit.desired_width(f32::INFINITY))
                .labelled_by(label)
                .changed()
                .then_some(Value::String(s))
        }
        ParamKind::Int { min, max, .. } => {
            let mut v = value.as_i64().unwrap_or(*min);
            ui.add(egui::DragValue::new(&mut v).range(*min..=*max))
                .labelled_by(label)
                .changed()
                .then(|| Value::from(v))
        }
        ParamKind::Float { min, max, .. } => {
            let mut v = value.as_f64().unwrap_or(*min);
            ui.add(egui::Slider::new(&mut v, *min..=*max))
                .labelled_by(label)
                .changed()
                .then(|| Value::from(v))
        }
        ParamKind::Choice { options, .. } => {
            let mut current = value.as_str().unwrap_or("").to_owned();
            let before = current.clone();
            egui::ComboBox::from_id_salt(&p.id)
                .selected_text(&current)
                .show_ui(ui, |ui| {
                    for o in options {
                        ui.selectable_value(&mut current, o.clone(), o);
                    }
                })
                .response
                .labelled_by(label);
            (current != before).then_some(Value::String(current))
        }
        ParamKind::Bool { .. } => {
            let mut b = value.as_bool().unwrap_or(false);
            ui.checkbox(&mut b, "")
                .labelled_by(label)
                .changed()
                .then_some(Value::Bool(b))
        }
        ParamKind::Seed => {
            let mut v = value.as_u64().unwrap_or(0);
            let mut out = None;
            ui.horizontal(|ui| {
                if ui
                    .add(egui::DragValue::new(&mut v))
                    .labelled_by(label)
                    .changed()
                {
                    out = Some(Value::from(v));
                }
                if ui
                    .button("New seed")
                    .on_hover_text("New random seed")
                    .clicked()
                {
                    out = Some(Value::from(aktion_graph::document::random_seed()));
                }
            });
            out
        }
        ParamKind::Asset { .. } => {
            let name = value
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("no file: drop one on the node");
            ui.label(egui::RichText::new(name).weak());
            None
        }
        ParamKind::Strokes => {
            let n = value.as_array().map_or(0, Vec::len);
            ui.label(egui::RichText::new(format!("{n} strokes")).weak());
            None
        }
        ParamKind::Crop => None,
    }
}

/// The imported file of a node (an image, video or audio node's `asset` parameter) and what
/// it holds, if it has one.
fn node_asset(
    node: &aktion_graph::Node,
) -> Option<(aktion_graph::project::AssetRef, aktion_graph::PortType)> {
    let kind = Catalog::builtin().get(&node.kind)?;
    kind.params.iter().find_map(|p| match p.kind {
        ParamKind::Asset { accept } => node
            .params
            .get(&p.id)
            .and_then(aktion_graph::project::AssetRef::from_value)
            .map(|a| (a, accept)),
        _ => None,
    })
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
        let asset = node_asset(node).map(|(a, _)| a.hash);
        take.or(asset)
            .is_some_and(|hash| self.previews.contains_key(&hash) || self.media.is_ready(&hash))
    }

    pub fn frame_ui(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        if self.egui_ctx.is_none() {
            self.egui_ctx = Some(ctx.clone());
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
            ctx.request_repaint_after(std::time::Duration::from_secs(1));
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

/// The active take's metadata (PRODUCT.md §4.2): provider, model, seed, route, how long it took,
/// the credits charged, when, and parameters the model did not take.
fn take_details(
    ui: &mut egui::Ui,
    take: &aktion_graph::Take,
    kind: Option<&aktion_graph::KindSchema>,
) {
    let seed = take
        .params
        .get("seed")
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0);
    let mut lines = vec![format!(
        "{}{} · {} route{}",
        if take.provider.is_empty() {
            "local"
        } else {
            &take.provider
        },
        if take.model.is_empty() {
            String::new()
        } else if take.model.len() > 24 && take.model.chars().all(|c| c.is_ascii_hexdigit()) {
            // A pinned version hash: its start tells versions apart.
            format!(" · version {}…", &take.model[..12])
        } else {
            format!(" · {}", take.model)
        },
        take.route.as_str(),
        if take.draft { " · draft preview" } else { "" }
    )];
    let mut facts = vec![format!("seed {seed}")];
    if take.duration_ms > 0 {
        facts.push(format!("{:.1} s", take.duration_ms as f64 / 1000.0));
    }
    facts.push(format!("{} credits", take.credits));
    if take.created > 0 {
        facts.push(account::date_time(
            i64::try_from(take.created).unwrap_or(i64::MAX),
        ));
    }
    lines.push(facts.join(" · "));
    for line in lines {
        ui.label(egui::RichText::new(line).weak().small());
    }
    if !take.unused.is_empty() {
        let label = |id: &String| {
            kind.and_then(|k| k.params.iter().find(|p| &p.id == id))
                .map_or_else(|| id.clone(), |p| p.label.clone())
        };
        let names: Vec<String> = take.unused.iter().map(label).collect();
        ui.label(
            egui::RichText::new(format!("not used by this model: {}", names.join(", ")))
                .small()
                .color(egui::Color32::from_rgb(220, 180, 110)),
        )
        .on_hover_text(
            "These settings did not shape this take; another route's model may take them.",
        );
    }
}
