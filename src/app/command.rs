//! Everything a widget asks the app to do is an [`AppCommand`], queued while the frame is drawn
//! and carried out in one place, [`Studio::handle_commands`], called from `App::logic` together
//! with all polling, autosave and drops. Document edits go on to [`AppState::apply`], where undo
//! is recorded; runs, files, settings and sign-in are carried out here, and background work is
//! started here only.

use std::path::PathBuf;
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
            AppCommand::CancelRun(id) => self.runs.cancel_run(id),
            AppCommand::CancelJob(node) => {
                self.runs.cancel_job(node);
            }
            AppCommand::CancelAll => self.runs.cancel_all(),
            AppCommand::SetQueuePaused(paused) => self.engine.set_paused(paused),
            AppCommand::SetDefaultRoute(Some(route)) => self.set_default_route(route),
            AppCommand::SetDefaultRoute(None) => self.auto_route = true,
            AppCommand::RestoreOrphan(index) => self.restore_orphan(index),
            AppCommand::NewBoard => self.new_board(),
            AppCommand::Open(path) => self.open_project(&path),
            AppCommand::OpenNative => self.open_native(),
            AppCommand::Save => self.save(),
            AppCommand::SaveAs(path) => self.save_as_path(&path),
            AppCommand::SaveAsNative => self.save_as_native(),
            AppCommand::OpenSettings => self.settings.open = true,
            AppCommand::OpenAccount => self.account.open = true,
            AppCommand::OpenEpicScene => self.epic.open = true,
            AppCommand::GenerateEpicScene => self.generate_scene(),
            AppCommand::CopyImage(hash) => self.copy_image(&hash),
            AppCommand::Account(request) => {
                let spawner = self.spawner.clone();
                self.account.start(request, &spawner);
            }
            AppCommand::Export { nodes, dir, all } => {
                let doc = self.state.doc.clone();
                let cache = self.engine.cache().clone();
                self.message = Some(format!("exporting to {}…", dir.display()));
                self.exporting = Some(self.spawner.blocking(move || {
                    super::state::export_takes(&doc, &cache, &nodes, &dir, all).map(|files| {
                        format!("exported {} file(s) to {}", files.len(), dir.display())
                    })
                }));
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
}
