//! Pointer, wheel and keyboard input: what the user pressed becomes a drag or an event.

use std::collections::BTreeSet;

use egui::{
    Event, EventFilter, Key, MouseWheelSource, MouseWheelUnit, PointerButton, Pos2, Rect, Response,
    Ui, Vec2,
};

use crate::geometry::{Lod, Xform, pin_at};
use crate::model::{Board, CanvasDelegate, CanvasEvent, NodeId, PinId};

use super::drag::frame_title;
use super::{Canvas, Drag, Fit, HitIdx, PIN_PICK, shortcuts};

impl Canvas {
    /// Wheel zooms around the pointer; pinch and ctrl-wheel arrive as egui's zoom delta.
    /// A mouse wheel zooms around the pointer; trackpad fingers pan; pinch and ctrl-wheel arrive
    /// as egui's zoom delta.
    pub(super) fn zoom_input(&mut self, ui: &Ui, response: &Response, rect: Rect) {
        if !response.contains_pointer() {
            return;
        }
        let (pinch, wheel, pan, pointer) = ui.input(|i| {
            let mut wheel = 0.0;
            let mut pan = Vec2::ZERO;
            for event in &i.events {
                if let Event::MouseWheel {
                    unit,
                    delta,
                    modifiers,
                    source,
                    ..
                } = event
                {
                    if modifiers.command || modifiers.ctrl {
                        continue; // already in zoom_delta()
                    }
                    let scale = match unit {
                        MouseWheelUnit::Point => 1.0,
                        MouseWheelUnit::Line => 40.0,
                        MouseWheelUnit::Page => 400.0,
                    };
                    match source {
                        MouseWheelSource::Trackpad | MouseWheelSource::Momentum => {
                            pan += *delta * scale;
                        }
                        MouseWheelSource::Wheel | MouseWheelSource::Unknown => {
                            wheel += delta.y * scale;
                        }
                    }
                }
            }
            (i.zoom_delta(), wheel, pan, i.pointer.hover_pos())
        });
        self.view.pan += pan;
        let factor = pinch * (wheel * 0.002).exp();
        if (factor - 1.0).abs() > 1e-4 {
            let anchor = pointer.unwrap_or(rect.center());
            self.view.zoom_around(rect.min, anchor, factor);
        }
    }

    pub(super) fn pointer_input(
        &mut self,
        ui: &Ui,
        response: &Response,
        rect: Rect,
        board: &Board,
        delegate: &mut dyn CanvasDelegate,
        events: &mut Vec<CanvasEvent>,
    ) {
        let (latest, press_origin, shift, alt, space) = ui.input(|i| {
            self.hover = i.pointer.hover_pos();
            (
                i.pointer.latest_pos(),
                i.pointer.press_origin(),
                i.modifiers.shift,
                i.modifiers.alt,
                i.key_down(Key::Space),
            )
        });
        if let Some(p) = latest {
            self.last_pointer = Some(p);
        }
        let pointer = self.last_pointer.unwrap_or(rect.center());
        let minimap = self.minimap_rect(rect);

        if response.drag_started_by(PointerButton::Middle)
            || (response.drag_started_by(PointerButton::Primary) && space)
        {
            self.space_panned |= space;
            self.drag = Drag::Pan;
            response.request_focus();
        } else if response.drag_started_by(PointerButton::Primary) {
            response.request_focus();
            let origin = press_origin.unwrap_or(pointer);
            self.start_drag(board, rect, origin, minimap, shift, events);
        }

        if response.dragged() {
            self.update_drag(response, rect, board, pointer, minimap, alt, delegate);
        }
        if response.drag_stopped() {
            self.finish_drag(board, rect, pointer, delegate, events);
        }

        if response.clicked_by(PointerButton::Primary) {
            response.request_focus();
            if let Some(mm) = minimap.filter(|m| m.contains(pointer)) {
                self.center_on_minimap(rect, mm, pointer);
            } else {
                let x = self.view.at(rect.min);
                let hit = match self.hit(board, x, pointer) {
                    HitIdx::Pin(p) => self.cache.by_id.get(&p.node).copied(),
                    HitIdx::Node(i) => Some(i),
                    HitIdx::Background => None,
                };
                let before = self.selection.clone();
                match hit.and_then(|i| board.nodes.get(i as usize)) {
                    Some(node) if shift && !self.selection.remove(&node.id) => {
                        self.selection.insert(node.id);
                    }
                    Some(_) if shift => {}
                    Some(node) => {
                        self.selection.clear();
                        self.selection.insert(node.id);
                    }
                    None if !shift => self.selection.clear(),
                    None => {}
                }
                if before != self.selection {
                    events.push(CanvasEvent::SelectionChanged(self.selected_vec()));
                }
            }
        }
        if response.double_clicked_by(PointerButton::Primary) {
            let x = self.view.at(rect.min);
            if matches!(self.hit(board, x, pointer), HitIdx::Background) {
                let b = x.to_board(pointer);
                if let Some(frame) = board
                    .frames
                    .iter()
                    .rev()
                    .find(|f| frame_title(f.rect).contains(b))
                {
                    events.push(CanvasEvent::RenameFrame {
                        frame: frame.id,
                        screen: pointer,
                    });
                }
            }
        }
        if response.secondary_clicked() {
            let x = self.view.at(rect.min);
            match self.hit(board, x, pointer) {
                HitIdx::Background => events.push(CanvasEvent::OpenPalette {
                    at: x.to_board(pointer),
                    screen: pointer,
                }),
                HitIdx::Node(i) => {
                    if let Some(node) = board.nodes.get(i as usize) {
                        events.push(CanvasEvent::NodeContextMenu {
                            node: node.id,
                            screen: pointer,
                        });
                    }
                }
                HitIdx::Pin(_) => {}
            }
        }
    }

    #[expect(
        clippy::too_many_lines,
        reason = "one flat list of shortcuts reads best"
    )]
    pub(super) fn key_input(
        &mut self,
        ui: &Ui,
        response: &Response,
        rect: Rect,
        board: &Board,
        events: &mut Vec<CanvasEvent>,
    ) {
        if response.has_focus() {
            ui.memory_mut(|m| {
                m.set_focus_lock_filter(
                    response.id,
                    EventFilter {
                        tab: true,
                        horizontal_arrows: true,
                        vertical_arrows: true,
                        escape: true,
                    },
                );
            });
        }
        let active = response.has_focus()
            || (response.contains_pointer() && ui.memory(|m| m.focused().is_none()));
        let pointer = self
            .last_pointer
            .filter(|p| rect.contains(*p))
            .unwrap_or(rect.center());
        let at = self.view.at(rect.min).to_board(pointer);
        let space_pressed = ui.input(|i| {
            i.events.iter().any(|e| {
                matches!(
                    e,
                    Event::Key {
                        key: Key::Space,
                        pressed: true,
                        repeat: false,
                        ..
                    }
                )
            })
        });
        if space_pressed {
            self.space_panned = false;
        }
        if !active {
            return;
        }
        let keys = ui.input_mut(|i| {
            let mut k = Keys {
                copy: i.events.iter().any(|e| matches!(e, Event::Copy)),
                cut: i.events.iter().any(|e| matches!(e, Event::Cut)),
                paste: i.events.iter().find_map(|e| match e {
                    Event::Paste(text) => Some(text.clone()),
                    _ => None,
                }),
                space_tap: i.events.iter().any(|e| {
                    matches!(
                        e,
                        Event::Key {
                            key: Key::Space,
                            pressed: false,
                            ..
                        }
                    )
                }),
                ..Keys::default()
            };
            k.delete = i.consume_shortcut(&shortcuts::DELETE)
                | i.consume_shortcut(&shortcuts::DELETE_BACKSPACE);
            k.duplicate = i.consume_shortcut(&shortcuts::DUPLICATE);
            k.copy |= i.consume_shortcut(&shortcuts::COPY);
            k.cut |= i.consume_shortcut(&shortcuts::CUT);
            k.paste_key = i.consume_shortcut(&shortcuts::PASTE);
            k.select_all = i.consume_shortcut(&shortcuts::SELECT_ALL);
            k.mute = i.consume_shortcut(&shortcuts::MUTE);
            k.bypass = i.consume_shortcut(&shortcuts::BYPASS);
            k.fit_all = i.consume_shortcut(&shortcuts::FIT_ALL);
            k.fit_selection = i.consume_shortcut(&shortcuts::FIT_SELECTION);
            k.palette = i.consume_shortcut(&shortcuts::PALETTE);
            k.escape = i.consume_key(egui::Modifiers::NONE, Key::Escape);
            k
        });
        let selected = self.selected_vec();
        let with_selection = |make: fn(Vec<NodeId>) -> CanvasEvent, events: &mut Vec<_>| {
            if !selected.is_empty() {
                events.push(make(selected.clone()));
            }
        };
        if keys.delete {
            with_selection(CanvasEvent::Delete, events);
        }
        if keys.duplicate {
            with_selection(CanvasEvent::Duplicate, events);
        }
        if keys.copy {
            with_selection(CanvasEvent::Copy, events);
        }
        if keys.cut {
            with_selection(CanvasEvent::Cut, events);
        }
        if keys.mute {
            with_selection(CanvasEvent::ToggleMute, events);
        }
        if keys.bypass {
            with_selection(CanvasEvent::ToggleBypass, events);
        }
        if let Some(text) = keys.paste {
            events.push(CanvasEvent::Paste {
                at,
                text: Some(text),
            });
        } else if keys.paste_key {
            events.push(CanvasEvent::Paste { at, text: None });
        }
        if keys.select_all {
            let all: BTreeSet<NodeId> = board.nodes.iter().map(|n| n.id).collect();
            if all != self.selection {
                self.selection = all;
                events.push(CanvasEvent::SelectionChanged(self.selected_vec()));
            }
        }
        if keys.fit_all {
            self.apply_fit(Fit::All, board, rect);
        }
        if keys.fit_selection {
            self.apply_fit(Fit::Selection, board, rect);
        }
        if keys.palette || (keys.space_tap && !self.space_panned && matches!(self.drag, Drag::None))
        {
            events.push(CanvasEvent::OpenPalette {
                at,
                screen: pointer,
            });
        }
        if keys.escape {
            if matches!(self.drag, Drag::None) {
                if !self.selection.is_empty() {
                    self.selection.clear();
                    events.push(CanvasEvent::SelectionChanged(Vec::new()));
                }
            } else {
                self.drag = Drag::None;
                self.feedback = None;
                self.moving.clear();
            }
        }
    }

    pub(super) fn selected_vec(&self) -> Vec<NodeId> {
        self.selection.iter().copied().collect()
    }

    pub(super) fn hit(&mut self, board: &Board, x: Xform, screen: Pos2) -> HitIdx {
        let b = x.to_board(screen);
        if Lod::for_zoom(x.zoom) == Lod::Full {
            let r = PIN_PICK / x.zoom;
            let mut near = std::mem::take(&mut self.visible);
            self.cache
                .index
                .query(Rect::from_center_size(b, Vec2::splat(2.0 * r)), &mut near);
            let pin = near.iter().rev().find_map(|&i| {
                let node = board.nodes.get(i as usize)?;
                pin_at(node, node.rect, b, r)
            });
            self.visible = near;
            if let Some(pin) = pin {
                return HitIdx::Pin(pin);
            }
        }
        self.cache
            .index
            .topmost_at(b)
            .map_or(HitIdx::Background, HitIdx::Node)
    }

    /// The nearest pin on the other side of `from`, on another node, near `screen`.
    pub(super) fn connect_target(
        &mut self,
        board: &Board,
        x: Xform,
        screen: Pos2,
        from: PinId,
    ) -> Option<PinId> {
        let b = x.to_board(screen);
        let r = PIN_PICK * 1.5 / x.zoom;
        let mut near = std::mem::take(&mut self.visible);
        self.cache
            .index
            .query(Rect::from_center_size(b, Vec2::splat(2.0 * r)), &mut near);
        let target = near.iter().rev().find_map(|&i| {
            let node = board.nodes.get(i as usize)?;
            if node.id == from.node {
                return None;
            }
            pin_at(node, node.rect, b, r).filter(|p| p.side != from.side)
        });
        self.visible = near;
        target
    }
}

#[derive(Default)]
#[expect(
    clippy::struct_excessive_bools,
    reason = "one flag per shortcut, read once"
)]
pub(super) struct Keys {
    delete: bool,
    duplicate: bool,
    copy: bool,
    cut: bool,
    paste: Option<String>,
    paste_key: bool,
    select_all: bool,
    mute: bool,
    bypass: bool,
    fit_all: bool,
    fit_selection: bool,
    palette: bool,
    space_tap: bool,
    escape: bool,
}
