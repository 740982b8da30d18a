//! Every keyboard action the app and its canvas accept, in one table: the app's key handling
//! reads it, the menus show each action's shortcut from it, and a test checks that every
//! shortcut the canvas consumes is in it (so no shortcut exists that no menu shows).

use aktion_canvas::shortcuts as canvas;
use egui::{Key, KeyboardShortcut, Modifiers};

/// What a shortcut or a menu item does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    NewBoard,
    Open,
    Save,
    Settings,
    Undo,
    Redo,
    Copy,
    Cut,
    Paste,
    Duplicate,
    Delete,
    SelectAll,
    Mute,
    Bypass,
    FrameSelection,
    AddNode,
    FitAll,
    FitSelection,
    RunBoard,
}

/// Who reads the key: the canvas (while the pointer is over it) or the app (anywhere, except
/// for editing keys while a text field has focus).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handler {
    Canvas,
    App,
}

/// One row of the table.
#[derive(Clone, Copy, Debug)]
pub struct ActionInfo {
    pub action: Action,
    pub label: &'static str,
    pub shortcut: KeyboardShortcut,
    pub handler: Handler,
    /// Taken even while typing in a text field (Save, Run); undo and the like are the field's.
    pub while_typing: bool,
}

const fn row(
    action: Action,
    label: &'static str,
    shortcut: KeyboardShortcut,
    handler: Handler,
    while_typing: bool,
) -> ActionInfo {
    ActionInfo {
        action,
        label,
        shortcut,
        handler,
        while_typing,
    }
}

const CMD: Modifiers = Modifiers::COMMAND;

/// The table. Redo comes before Undo: Ctrl+Shift+Z must not be taken as Ctrl+Z.
pub const ACTIONS: &[ActionInfo] = &[
    row(
        Action::NewBoard,
        "New board",
        KeyboardShortcut::new(CMD, Key::N),
        Handler::App,
        true,
    ),
    row(
        Action::Open,
        "Open…",
        KeyboardShortcut::new(CMD, Key::O),
        Handler::App,
        true,
    ),
    row(
        Action::Save,
        "Save",
        KeyboardShortcut::new(CMD, Key::S),
        Handler::App,
        true,
    ),
    row(
        Action::Settings,
        "Settings…",
        KeyboardShortcut::new(CMD, Key::Comma),
        Handler::App,
        true,
    ),
    row(
        Action::Redo,
        "Redo",
        KeyboardShortcut::new(Modifiers::COMMAND.plus(Modifiers::SHIFT), Key::Z),
        Handler::App,
        false,
    ),
    row(
        Action::Undo,
        "Undo",
        KeyboardShortcut::new(CMD, Key::Z),
        Handler::App,
        false,
    ),
    row(Action::Copy, "Copy", canvas::COPY, Handler::Canvas, false),
    row(Action::Cut, "Cut", canvas::CUT, Handler::Canvas, false),
    row(
        Action::Paste,
        "Paste",
        canvas::PASTE,
        Handler::Canvas,
        false,
    ),
    row(
        Action::Duplicate,
        "Duplicate",
        canvas::DUPLICATE,
        Handler::Canvas,
        false,
    ),
    row(
        Action::Delete,
        "Delete",
        canvas::DELETE,
        Handler::Canvas,
        false,
    ),
    row(
        Action::SelectAll,
        "Select all",
        canvas::SELECT_ALL,
        Handler::Canvas,
        false,
    ),
    row(Action::Mute, "Mute", canvas::MUTE, Handler::Canvas, false),
    row(
        Action::Bypass,
        "Bypass",
        canvas::BYPASS,
        Handler::Canvas,
        false,
    ),
    row(
        Action::FrameSelection,
        "Frame selection",
        KeyboardShortcut::new(CMD, Key::G),
        Handler::App,
        true,
    ),
    row(
        Action::AddNode,
        "Add node…",
        canvas::PALETTE,
        Handler::Canvas,
        false,
    ),
    row(
        Action::FitAll,
        "Fit all",
        canvas::FIT_ALL,
        Handler::Canvas,
        false,
    ),
    row(
        Action::FitSelection,
        "Fit selection",
        canvas::FIT_SELECTION,
        Handler::Canvas,
        false,
    ),
    row(
        Action::RunBoard,
        "Run board",
        KeyboardShortcut::new(CMD, Key::Enter),
        Handler::App,
        true,
    ),
];

/// Shortcuts the canvas takes that are another key for a row above (Backspace deletes too).
pub const ALTERNATES: &[(KeyboardShortcut, Action)] = &[(canvas::DELETE_BACKSPACE, Action::Delete)];

/// The row of `action`.
pub fn info(action: Action) -> Option<&'static ActionInfo> {
    ACTIONS.iter().find(|a| a.action == action)
}

/// The shortcut of `action` as the platform writes it ("Ctrl+C", "⌘C").
pub fn shortcut_text(ctx: &egui::Context, action: Action) -> String {
    info(action).map_or_else(String::new, |a| ctx.format_shortcut(&a.shortcut))
}

/// A menu button for `action`, with its shortcut.
pub fn button(ctx: &egui::Context, action: Action) -> egui::Button<'static> {
    let label = info(action).map_or("", |a| a.label);
    egui::Button::new(label).shortcut_text(shortcut_text(ctx, action))
}

/// The app's own shortcuts pressed this frame (the canvas reads its own), in table order.
pub fn pressed(ctx: &egui::Context) -> Vec<Action> {
    let typing = ctx.text_edit_focused();
    ACTIONS
        .iter()
        .filter(|a| a.handler == Handler::App && (a.while_typing || !typing))
        .filter(|a| ctx.input_mut(|i| i.consume_shortcut(&a.shortcut)))
        .map(|a| a.action)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shortcut_the_canvas_takes_is_in_the_table() {
        let taken = [
            canvas::DELETE,
            canvas::DELETE_BACKSPACE,
            canvas::DUPLICATE,
            canvas::COPY,
            canvas::CUT,
            canvas::PASTE,
            canvas::SELECT_ALL,
            canvas::MUTE,
            canvas::BYPASS,
            canvas::FIT_ALL,
            canvas::FIT_SELECTION,
            canvas::PALETTE,
        ];
        for s in taken {
            let listed = ACTIONS
                .iter()
                .any(|a| a.handler == Handler::Canvas && a.shortcut == s)
                || ALTERNATES.iter().any(|(k, _)| *k == s);
            assert!(listed, "{s:?} is taken by the canvas but in no menu");
        }
    }

    #[test]
    fn no_two_actions_share_a_shortcut() {
        for (i, a) in ACTIONS.iter().enumerate() {
            for b in &ACTIONS[i + 1..] {
                assert_ne!(a.shortcut, b.shortcut, "{:?} and {:?}", a.action, b.action);
            }
        }
    }
}
