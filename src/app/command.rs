//! Everything a widget asks the app to do is an [`AppCommand`], queued while the frame is drawn
//! and carried out in one place, [`Studio::handle_commands`], called from `App::logic` together
//! with all polling, autosave and drops. Document edits go on to [`AppState::apply`], where undo
//! is recorded; runs, files, settings and sign-in are carried out here, and background work is
//! started here only.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use aktion_graph::{NodeId, Route};

use super::Studio;
use super::runs::RunId;
use super::state::Command;

/// A request from a widget.
#[derive(Debug)]
pub enum AppCommand {
    /// A document edit (undoable, applied by [`AppState::apply`]).
    Edit(Command),
    /// Runs these nodes and what they need upstream; empty means the whole board. Asks first
    /// when the run costs more than the confirmation threshold.
    Run(Vec<NodeId>),
    /// A run the user confirmed (no further question).
    RunConfirmed(Vec<NodeId>),
    /// A failed node's fresh attempt.
    Retry(NodeId),
    /// Show what "Report a problem" would send for a failed node.
    ReportProblem(NodeId),
    /// Rate a take 1–5: kept in the project, and sent for an account-route take.
    RateTake {
        node: NodeId,
        take: aktion_graph::TakeId,
        rating: u8,
    },
    CancelRun(RunId),
    CancelJob(NodeId),
    CancelAll,
    SetQueuePaused(bool),
    /// The route of nodes and kinds that set none on this board: one for all, or `None` for
    /// each kind's app route.
    SetDefaultRoute(Option<Route>),
    /// Puts a result whose node was deleted back on the board (index into the orphans).
    RestoreOrphan(usize),
    NewBoard,
    Open(PathBuf),
    OpenNative,
    Save,
    SaveAs(PathBuf),
    SaveAsNative,
    OpenSettings,
    OpenAccount,
    OpenEpicScene,
    /// The Epic Scene panel's Generate: the node goes on the board and runs.
    GenerateEpicScene,
    /// Writes takes of `nodes` (every take, or only the active one) into `dir`.
    Export {
        nodes: Vec<NodeId>,
        dir: PathBuf,
        all: bool,
    },
    /// A sign-in, sign-out, balance or data-sharing call.
    Account(super::account::AccountRequest),
    /// Copies a take's image (by hash) to the clipboard.
    CopyImage(String),
    /// A key, address, threshold, connection test or cache action from Settings.
    Settings(super::settings::SettingsRequest),
    /// Shows a file in the platform's file manager.
    Reveal(PathBuf),
    /// Shows a take's output file (by hash): the project's copy, else the cache's.
    RevealTake(String),
    OpenSketchPad(NodeId),
    /// The export window for these nodes' takes (every take, or only the active one).
    ShowExport {
        nodes: Vec<NodeId>,
        all: bool,
    },
    /// A line for the status bar.
    Notify(String),
    /// The platform's file picker for an Image, Audio or Video node's file.
    PickFile(NodeId),
    /// Imports this file as the node's file (what the picker does once a file is chosen).
    SetNodeFile {
        node: NodeId,
        path: PathBuf,
    },
    /// Pastes clipboard text with its top-left node at `at`; nodes from another project bring
    /// their asset and take files first (copied on a worker).
    Paste {
        text: String,
        at: [f32; 2],
    },
    /// Writes the whole project (document, assets, takes) as one `.zip` here.
    ExportBundle(PathBuf),
    /// Asks where (the platform's save dialog), then [`AppCommand::ExportBundle`].
    ExportBundleNative,
    /// Writes the sequence as `format` to `out` on a worker, with progress and Cancel.
    ExportSequence {
        format: aktion_export::Format,
        out: PathBuf,
    },
    /// Asks where (the platform's save dialog), then [`AppCommand::ExportSequence`].
    ExportSequenceNative(aktion_export::Format),
    /// Stops the sequence export under way (nothing is left half-written).
    CancelSequenceExport,
    /// The sequence follows an edit of one of its exports (`.otio` or FCP7 XML), read on a
    /// worker, applied as one undo step.
    Conform(PathBuf),
    /// Asks for the edit (the platform's open dialog), then [`AppCommand::Conform`].
    ConformNative,
    /// Plays the sequence full-window (put together on a worker first).
    PlayAnimatic,
    /// Reads a shot list (CSV or Fountain) on a worker, then opens the import window.
    ReadShotList(PathBuf),
    /// Asks for the shot list (the platform's open dialog), then [`AppCommand::ReadShotList`].
    ImportShotListNative,
    /// Shots an edit made longer than their takes: each node's duration is set to its shot's
    /// length and the nodes run again.
    RunLonger(Vec<aktion_graph::ShotId>),
    /// Selects the node and frames it on the canvas.
    ShowOnBoard(NodeId),
    /// Frames the selected nodes on the canvas (after an import added them out of view).
    FitSelection,
}

impl Studio {
    /// Queues a command for the next `logic` pass and wakes the UI for it (closing an undo
    /// group changes nothing on screen: it waits for the next frame, in order).
    pub fn send(&mut self, cmd: AppCommand) {
        let shows = !matches!(cmd, AppCommand::Edit(Command::Seal));
        self.commands.push(cmd);
        if shows && let Some(ctx) = &self.egui_ctx {
            ctx.request_repaint();
        }
    }

    /// Frames the selected nodes on the canvas.
    fn fit_selection(&mut self) {
        let ids: Vec<_> = self.state.selection.iter().copied().collect();
        self.board
            .canvas
            .set_selection(ids.into_iter().map(super::view::canvas_id));
        self.board.canvas.fit_selection();
    }

    /// Puts the sequence together for playing on a worker; the player opens over the window.
    fn play_animatic(&mut self) {
        if self.state.doc.sequence.shots.is_empty() {
            self.message = Some("the sequence has no shots: add shots from the board first".into());
        } else {
            self.panels.animatic = Some(super::animatic::Animatic::start(
                &self.spawner,
                self.state.doc.clone(),
                self.state.root.clone(),
            ));
        }
    }

    /// Reads a shot list on a worker; the import window opens when it lands.
    fn read_shot_list(&mut self, path: PathBuf) {
        self.message = Some(format!("reading {}…", path.display()));
        self.loaders.reading_shots = Some(self.spawner.blocking(move || {
            let list = aktion_graph::shotlist::read_path(&path)?;
            Ok((path, list))
        }));
    }

    /// The import window's pieces that need the app: the list read, and the batch's cost for
    /// the template picked (worked out on a worker, one at a time).
    pub(super) fn poll_shot_list(&mut self) {
        if let Some(done) = super::task::take_ready(&mut self.loaders.reading_shots) {
            match done {
                Ok(Ok((path, list))) => {
                    self.message = None;
                    let selection = self.state.selection.iter().copied().collect();
                    self.panels.dialogs.shot_list = Some(super::shotlist::ShotListDialog::new(
                        path,
                        list,
                        &self.state.doc,
                        selection,
                    ));
                }
                Ok(Err(e)) => self.message = Some(e),
                Err(lost) => self.message = Some(lost.to_string()),
            }
        }
        if let Some(result) = super::task::take_ready(&mut self.loaders.batch_cost) {
            let key = self.loaders.batch_cost_key.take();
            let cost = result.unwrap_or_else(|lost| Err(lost.to_string()));
            if let (Some(d), Some(key)) = (&mut self.panels.dialogs.shot_list, key) {
                d.cost = Some((key, cost));
            }
        }
        let revision = self.state.history.revision();
        let Some(dialog) = &self.panels.dialogs.shot_list else {
            return;
        };
        let Some(key) = dialog.wants_cost(revision) else {
            return;
        };
        if self.loaders.batch_cost.is_some() {
            return;
        }
        let template = key.0.nodes(&self.state.doc);
        let list = Arc::clone(&dialog.list);
        let mut req = self.request(Vec::new());
        let engine = Arc::clone(&self.engine);
        let task = self.spawner.blocking(move || {
            let catalog = aktion_graph::Catalog::builtin();
            let made = aktion_graph::batch::plan(&req.doc, catalog, &list, &template)
                .map_err(|e| e.to_string())?;
            aktion_graph::edit::apply_all(&mut req.doc, catalog, made.edits)
                .map_err(|e| e.to_string())?;
            req.targets = made.shot_nodes;
            let plan = engine.plan(&req).map_err(|e| e.to_string())?;
            let list = plan
                .cost
                .lines
                .iter()
                .filter(|l| l.runnable && !l.cached)
                .map(|l| l.list_price)
                .sum();
            Ok((plan.cost.total, plan.cost.to_run, list))
        });
        self.loaders.batch_cost = Some(task);
        self.loaders.batch_cost_key = Some(key);
    }

    /// Reads and matches the edit on a worker; the next logic step applies it.
    fn start_conform(&mut self, path: PathBuf) {
        let doc = self.state.doc.clone();
        let root = self.state.root.clone();
        self.message = Some(format!("reading the edit {}…", path.display()));
        self.loaders.conforming = Some(self.spawner.blocking(move || {
            use aktion_export::conform;
            let clips = conform::read_path(&path)?;
            let catalog = aktion_graph::Catalog::builtin();
            conform::conform(&doc, &clips, |shot| {
                aktion_export::timeline::clip_length_ms(&doc, catalog, &root, shot)
            })
            .map_err(|e| e.to_string())
        }));
    }

    /// Sets each flagged shot's node duration (seconds) to the shot's length and runs them.
    fn run_longer(&mut self, shots: &[aktion_graph::ShotId]) {
        let doc = &self.state.doc;
        let catalog = aktion_graph::Catalog::builtin();
        let mut edits = Vec::new();
        let mut nodes = Vec::new();
        let mut skipped = Vec::new();
        for id in shots {
            let Some(shot) = doc.sequence.shot(*id) else {
                continue;
            };
            let Some(hold) = shot.hold_ms else { continue };
            let takes_duration = doc
                .node(shot.node)
                .and_then(|n| catalog.get(&n.kind))
                .is_some_and(|k| k.param("duration").is_some());
            if !takes_duration {
                skipped.push(shot.title.clone());
                continue;
            }
            #[expect(clippy::cast_precision_loss, reason = "ms of a shot")]
            let seconds = ((hold as f64 / 100.0).ceil() / 10.0).max(1.0);
            edits.push(Command::SetParam {
                node: shot.node,
                key: "duration".into(),
                value: serde_json::json!(seconds),
            });
            nodes.push(shot.node);
        }
        let mut failed = None;
        for edit in edits {
            if let Err(e) = self.state.apply(edit, Instant::now()) {
                failed = Some(e);
            }
        }
        if let Some(e) = failed {
            self.message = Some(format!("could not set the new duration: {e}"));
            return;
        }
        if !skipped.is_empty() {
            self.message = Some(format!(
                "{} has no duration to set (set its length by hand): {}",
                if skipped.len() == 1 {
                    "this shot's node"
                } else {
                    "these shots' nodes"
                },
                skipped.join(", ")
            ));
        }
        if !nodes.is_empty() {
            self.send(AppCommand::Run(nodes));
        }
    }

    /// The sequence written as `format` to `out` on a worker; its progress and Cancel live in
    /// `loaders.sequence_export` (the strip shows them).
    fn start_sequence_export(&mut self, format: aktion_export::Format, out: PathBuf) {
        if self.loaders.sequence_export.is_some() {
            self.message = Some("an export is already under way".into());
            return;
        }
        let doc = self.state.doc.clone();
        let root = self.state.root.clone();
        let (size, panels) = (
            self.panels.strip.animatic_size,
            self.panels.strip.pdf_panels,
        );
        let progress = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let cancel = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (p, c) = (Arc::clone(&progress), Arc::clone(&cancel));
        let ctx = self.egui_ctx.clone();
        let label = format!("exporting {}", out.display());
        self.message = Some(format!("{label}…"));
        let task = self.spawner.blocking(move || {
            let mut report = |done: f32| {
                #[expect(
                    clippy::cast_possible_truncation,
                    clippy::cast_sign_loss,
                    reason = "0..=1000"
                )]
                p.store((done * 1000.0) as u32, std::sync::atomic::Ordering::Relaxed);
                if let Some(ctx) = &ctx {
                    ctx.request_repaint();
                }
                !c.load(std::sync::atomic::Ordering::Relaxed)
            };
            let mut options = aktion_export::Options {
                size,
                panels: Some(panels),
                progress: Some(&mut report),
            };
            aktion_export::export(
                &doc,
                aktion_graph::Catalog::builtin(),
                &root,
                format,
                &out,
                &mut options,
            )
            .map(|r| {
                format!(
                    "wrote {}: {} shots, {:.1} s",
                    r.path.display(),
                    r.shots,
                    r.frames as f64 / f64::from(r.fps.max(1))
                )
            })
            .map_err(|e| e.to_string())
        });
        self.loaders.sequence_export = Some(super::SequenceExport {
            task,
            progress,
            cancel,
            label,
        });
    }

    /// File → Export: takes to a folder, or the whole project as one file; written on a worker.
    fn handle_export(&mut self, cmd: AppCommand) {
        match cmd {
            AppCommand::Export { nodes, dir, all } => {
                let doc = self.state.doc.clone();
                let cache = self.engine.cache().clone();
                let root = self.state.root.clone();
                self.message = Some(format!("exporting to {}…", dir.display()));
                self.loaders.exporting = Some(self.spawner.blocking(move || {
                    super::state::export_takes(&doc, &cache, &root, &nodes, &dir, all).map(
                        |files| format!("exported {} file(s) to {}", files.len(), dir.display()),
                    )
                }));
            }
            AppCommand::ExportBundle(out) => {
                let (doc, cache) = (self.state.doc.clone(), self.engine.cache().clone());
                let root = self.state.root.clone();
                self.message = Some(format!("writing {}…", out.display()));
                self.loaders.exporting = Some(self.spawner.blocking(move || {
                    super::export::export_bundle(&doc, &cache, &root, &out).map(|b| {
                        let missing = if b.missing == 0 {
                            String::new()
                        } else {
                            format!("; {} take file(s) missing, left out", b.missing)
                        };
                        format!(
                            "wrote {} ({} asset(s), {} take file(s){missing})",
                            out.display(),
                            b.assets,
                            b.takes
                        )
                    })
                }));
            }
            AppCommand::ExportSequence { format, out } => self.start_sequence_export(format, out),
            AppCommand::ExportSequenceNative(format) => {
                let name = format!(
                    "{}.{}",
                    self.state.doc.name.trim().replace(['/', '\\'], "-"),
                    format.extension()
                );
                if let Some(out) = rfd::FileDialog::new()
                    .set_title("Export the sequence")
                    .set_file_name(name)
                    .add_filter(format.as_str(), &[format.extension()])
                    .save_file()
                {
                    self.handle_export(AppCommand::ExportSequence { format, out });
                }
            }
            AppCommand::CancelSequenceExport => {
                if let Some(export) = &self.loaders.sequence_export {
                    export
                        .cancel
                        .store(true, std::sync::atomic::Ordering::Relaxed);
                }
            }
            AppCommand::ExportBundleNative => {
                let name = format!(
                    "{}.zip",
                    self.state.doc.name.trim().replace(['/', '\\'], "-")
                );
                if let Some(out) = rfd::FileDialog::new()
                    .set_title("Export the project as one file")
                    .set_file_name(name)
                    .add_filter("Zip archive", &["zip"])
                    .save_file()
                {
                    self.handle_export(AppCommand::ExportBundle(out));
                }
            }
            _ => {}
        }
    }

    /// Carries out every queued command, in order.
    pub(super) fn handle_commands(&mut self) {
        for cmd in std::mem::take(&mut self.commands) {
            self.handle_command(cmd);
        }
    }

    fn handle_command(&mut self, cmd: AppCommand) {
        match cmd {
            AppCommand::Edit(cmd) => {
                self.apply_now(cmd);
            }
            AppCommand::Run(targets) => self.request_run(targets),
            AppCommand::RunConfirmed(targets) => self.start_run(targets),
            AppCommand::Retry(node) => self.start_run(vec![node]),
            AppCommand::ReportProblem(node) => self.report_problem(node),
            AppCommand::RateTake { node, take, rating } => self.rate_take(node, take, rating),
            AppCommand::CancelRun(id) => self.runs.cancel_run(id),
            AppCommand::CancelJob(node) => {
                self.runs.cancel_job(node);
            }
            AppCommand::CancelAll => self.runs.cancel_all(),
            AppCommand::SetQueuePaused(paused) => self.engine.set_paused(paused),
            AppCommand::SetDefaultRoute(Some(route)) => self.set_default_route(route),
            AppCommand::SetDefaultRoute(None) => self.routes.auto = true,
            AppCommand::RestoreOrphan(index) => self.restore_orphan(index),
            AppCommand::NewBoard => self.new_board(),
            AppCommand::Open(path) => self.open_project(&path),
            AppCommand::OpenNative => self.open_native(),
            AppCommand::Save => self.save(),
            AppCommand::SaveAs(path) => self.save_as_path(&path),
            AppCommand::SaveAsNative => self.save_as_native(),
            AppCommand::OpenSettings => self.panels.settings.open = true,
            AppCommand::OpenAccount => self.panels.account.open = true,
            AppCommand::OpenEpicScene => self.panels.epic.open = true,
            AppCommand::GenerateEpicScene => self.generate_scene(),
            AppCommand::CopyImage(hash) => {
                let (cache, root) = (self.engine.cache().clone(), self.state.root.clone());
                self.loaders.previews.copy(Box::new(move || {
                    aktion_engine::kept::read_take(&cache, &root, &hash)
                }));
            }
            AppCommand::Settings(request) => {
                let engine = Arc::clone(&self.engine);
                self.panels.settings.start(request, &engine);
            }
            AppCommand::Reveal(path) => super::recent::reveal(&self.spawner, &path),
            AppCommand::RevealTake(hash) => {
                let cache = self.engine.cache();
                if let Some(path) =
                    aktion_engine::kept::take_file_path(cache, &self.state.root, &hash)
                {
                    super::recent::reveal(&self.spawner, &path);
                }
            }
            AppCommand::OpenSketchPad(node) => {
                self.panels.dialogs.sketch_pad = Some(super::sketch::SketchPad::new(node));
            }
            AppCommand::ShowExport { nodes, all } => {
                let dir = self.state.root.join("exports").display().to_string();
                self.panels.dialogs.export = Some((nodes, dir, all));
            }
            AppCommand::Notify(message) => self.message = Some(message),
            AppCommand::PickFile(node) => self.pick_file(node),
            AppCommand::SetNodeFile { node, path } => {
                self.import_paths(super::DropTarget::Node(node), vec![path]);
            }
            AppCommand::Paste { text, at } => self.paste(text, at),
            AppCommand::FitSelection => self.fit_selection(),
            AppCommand::ShowOnBoard(node) => {
                self.apply_now(Command::Select(vec![node]));
                self.fit_selection();
            }
            AppCommand::Account(request) => {
                let spawner = self.spawner.clone();
                self.panels.account.start(request, &spawner);
            }
            cmd @ (AppCommand::Export { .. }
            | AppCommand::ExportBundle(_)
            | AppCommand::ExportBundleNative
            | AppCommand::ExportSequence { .. }
            | AppCommand::ExportSequenceNative(_)
            | AppCommand::CancelSequenceExport) => self.handle_export(cmd),
            AppCommand::Conform(path) => self.start_conform(path),
            AppCommand::ConformNative => {
                let edit = pick_file(
                    "Conform the sequence to an edit",
                    "OpenTimelineIO or FCP7 XML",
                    &["otio", "xml"],
                );
                if let Some(path) = edit {
                    self.start_conform(path);
                }
            }
            AppCommand::RunLonger(shots) => self.run_longer(&shots),
            AppCommand::ReadShotList(path) => self.read_shot_list(path),
            AppCommand::PlayAnimatic => self.play_animatic(),
            AppCommand::ImportShotListNative => {
                let list = pick_file(
                    "Import a shot list",
                    "Shot list or screenplay",
                    &["csv", "tsv", "fountain", "txt"],
                );
                if let Some(path) = list {
                    self.read_shot_list(path);
                }
            }
        }
    }

    /// Applies a document edit now (inside a command); false, with the reason shown, when
    /// it was refused.
    pub(super) fn apply_now(&mut self, cmd: Command) -> bool {
        match self.state.apply(cmd, Instant::now()) {
            Ok(()) => true,
            Err(e) => {
                self.message = Some(e);
                false
            }
        }
    }

    /// Saves into `path` (Save As), making it the project.
    fn save_as_path(&mut self, path: &std::path::Path) {
        match self.state.save_as(path) {
            Ok(()) => {
                self.remember_recent();
                self.message = Some(format!("saved {}", path.display()));
            }
            Err(e) => self.message = Some(e),
        }
    }

    /// Places a result whose node was deleted back on the board, as a node of its kind with
    /// the parameters that made it and the result as its take (one undoable step).
    fn restore_orphan(&mut self, index: usize) {
        if index >= self.runs.orphans.len() {
            return;
        }
        let orphan = self.runs.orphans.remove(index);
        let at = self.view_center();
        let cmd = Command::Restore {
            node: orphan.node,
            kind: orphan.kind.clone(),
            title: orphan.title.clone(),
            params: orphan.params.clone(),
            at,
        };
        match self.state.apply(cmd, Instant::now()) {
            Ok(()) => {
                self.state
                    .record_result(orphan.node, &orphan.signature, &orphan.result);
                self.message = Some(format!("restored {}", orphan.title));
            }
            Err(e) => {
                self.message = Some(e);
                self.runs.orphans.insert(index, orphan);
            }
        }
    }

    /// Generate: the node goes on the board right of everything, and runs.
    fn generate_scene(&mut self) {
        let Some(images) = self
            .panels
            .epic
            .slots
            .iter()
            .cloned()
            .collect::<Option<Vec<_>>>()
        else {
            return;
        };
        let right = self
            .state
            .doc
            .nodes
            .values()
            .map(|n| n.pos[0])
            .fold(0.0_f32, f32::max);
        let top = self
            .state
            .doc
            .nodes
            .values()
            .map(|n| n.pos[1])
            .fold(f32::INFINITY, f32::min);
        let at = [right + 400.0, if top.is_finite() { top } else { 0.0 }];
        let added = self.apply_now(Command::AddEpicScene {
            images,
            prompt: self.panels.epic.prompt.trim().to_owned(),
            at,
        });
        if !added {
            return; // refused; the message says why
        }
        let Some(node) = self.state.selection.iter().next().copied() else {
            return;
        };
        self.panels.epic.node = Some(node);
        self.panels.epic.slots = Default::default();
        self.start_run(vec![node]);
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

    /// Pastes clipboard text; nodes from another project bring their files first.
    fn paste(&mut self, text: String, at: [f32; 2]) {
        let files = aktion_graph::clipboard::files_of(&text);
        let needs = !files.assets.is_empty() || !files.takes.is_empty();
        match files.source.clone() {
            Some(from) if needs && from != self.state.root => {
                let (to, cache) = (self.state.root.clone(), self.engine.cache().clone());
                self.loaders.pasting.push(self.spawner.blocking(move || {
                    let brought = super::import::bring_files(&files, &from, &to, &cache)
                        .map_err(|e| e.to_string());
                    (text, at, brought)
                }));
            }
            _ => {
                self.apply_now(Command::Paste { text, at });
            }
        }
    }

    /// The platform's file picker for an Image, Audio or Video node's file.
    fn pick_file(&mut self, node: NodeId) {
        let kind = self.state.doc.node(node).map(|n| n.kind.clone());
        let (label, exts): (&str, &[&str]) = match kind.as_deref() {
            Some("image") => ("Images", &["png", "jpg", "jpeg", "webp", "gif"]),
            Some("audio") => ("Sounds", &["wav", "mp3", "m4a", "aac", "flac", "ogg"]),
            Some("video") => ("Clips", &["mp4", "mov", "m4v", "gif", "webm"]),
            _ => return,
        };
        if let Some(path) = rfd::FileDialog::new()
            .set_title("Choose a file")
            .add_filter(label, exts)
            .pick_file()
        {
            self.import_paths(super::DropTarget::Node(node), vec![path]);
        }
    }
}

/// The platform's open dialog for one file of `extensions`.
fn pick_file(title: &str, filter: &str, extensions: &[&str]) -> Option<PathBuf> {
    rfd::FileDialog::new()
        .set_title(title)
        .add_filter(filter, extensions)
        .pick_file()
}
