//! What a panel sees while it draws. Panels (the inspector, the jobs list, the Epic Scene
//! panel, the dialogs) are structs that keep only their own UI state; they read the app through
//! a [`PanelCtx`], ask the loaders for what they want shown, and push [`AppCommand`]s for
//! everything else. They never change the document, start work or touch files themselves
//! (rerun's `ViewerContext` is the model).

use aktion_cache::Cache;
use aktion_graph::{NodeId, Route};
use eframe::egui;

use super::command::AppCommand;
use super::media::Media;
use super::previews::Previews;
use super::runs::Runs;
use super::state::{AppState, Command};

pub struct PanelCtx<'a> {
    /// The document, its selection and undo history.
    pub state: &'a AppState,
    pub runs: &'a Runs,
    /// For paths and for loaders that read results on a worker thread; never read here.
    pub cache: &'a Cache,
    /// The toolbar's route (what a new run uses when nothing else is set).
    pub route: Route,
    /// Takes whose files are in neither the project nor the cache.
    pub missing_takes: &'a std::collections::BTreeSet<aktion_graph::TakeId>,
    pub previews: &'a mut Previews,
    pub media: &'a mut Media,
    /// Carried out by the next logic step.
    pub commands: &'a mut Vec<AppCommand>,
    /// Woken when a command is queued, so the logic step runs soon.
    pub egui: &'a egui::Context,
}

impl PanelCtx<'_> {
    pub fn send(&mut self, cmd: AppCommand) {
        if !matches!(cmd, AppCommand::Edit(Command::Seal)) {
            self.egui.request_repaint();
        }
        self.commands.push(cmd);
    }

    /// A document edit (undoable).
    pub fn edit(&mut self, cmd: Command) {
        self.send(AppCommand::Edit(cmd));
    }

    /// The selected node when exactly one is selected.
    pub fn single_selection(&self) -> Option<NodeId> {
        let mut it = self.state.selection.iter();
        match (it.next(), it.next()) {
            (Some(id), None) => Some(*id),
            _ => None,
        }
    }
}
