//! The widget: input handling, culling, level of detail and painting.

use std::collections::{BTreeSet, HashMap};

use egui::epaint::{CubicBezierShape, Mesh};
use egui::{
    Align2, Color32, CornerRadius, Event, EventFilter, FontId, Id, Key, MouseWheelSource,
    MouseWheelUnit, Painter, PointerButton, Pos2, Rect, Response, Role, Sense, Shape, Stroke,
    StrokeKind, Ui, UiBuilder, Vec2, WidgetInfo, pos2, vec2,
};

use crate::geometry::{
    HEADER_HEIGHT, Lod, PIN_RADIUS, PIN_ROW, ViewTransform, Xform, pin_at, pin_pos, wire_bounds,
    wire_control_points, zoom_bucket,
};
use crate::index::SpatialIndex;
use crate::model::{Board, CanvasDelegate, CanvasEvent, NodeId, NodeView, PinId, PinSide};

/// The canvas's keyboard shortcuts, for the app's menus (`ctx.format_shortcut(&…)`).
pub mod shortcuts {
    use egui::{Key, KeyboardShortcut, Modifiers};

    pub const DELETE: KeyboardShortcut = KeyboardShortcut::new(Modifiers::NONE, Key::Delete);
    pub const DELETE_BACKSPACE: KeyboardShortcut =
        KeyboardShortcut::new(Modifiers::NONE, Key::Backspace);
    pub const DUPLICATE: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::D);
    pub const COPY: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::C);
    pub const CUT: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::X);
    pub const PASTE: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::V);
    pub const SELECT_ALL: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::A);
    pub const MUTE: KeyboardShortcut = KeyboardShortcut::new(Modifiers::NONE, Key::M);
    pub const BYPASS: KeyboardShortcut = KeyboardShortcut::new(Modifiers::NONE, Key::B);
    pub const FIT_ALL: KeyboardShortcut = KeyboardShortcut::new(Modifiers::NONE, Key::Home);
    pub const FIT_SELECTION: KeyboardShortcut = KeyboardShortcut::new(Modifiers::NONE, Key::F);
    /// Space tapped (not held for panning) opens the palette too.
    pub const PALETTE: KeyboardShortcut = KeyboardShortcut::new(Modifiers::NONE, Key::Tab);
}

const BACKGROUND: Color32 = Color32::from_rgb(24, 25, 28);
const GRID_COLOR: Color32 = Color32::from_rgb(34, 36, 40);
const NODE_BODY: Color32 = Color32::from_rgb(40, 42, 48);
const NODE_BORDER: Color32 = Color32::from_rgb(70, 72, 80);
const SELECTED: Color32 = Color32::from_rgb(255, 170, 40);
const TEXT: Color32 = Color32::from_rgb(225, 227, 232);
const TEXT_DIM: Color32 = Color32::from_rgb(160, 163, 170);
const ACCEPT: Color32 = Color32::from_rgb(90, 210, 120);
const REFUSE: Color32 = Color32::from_rgb(235, 80, 70);
const BYPASS_TINT: Color32 = Color32::from_rgb(150, 90, 200);
const MINIMAP_SIZE: Vec2 = vec2(200.0, 130.0);
const MINIMAP_CELLS: (usize, usize) = (50, 32);
/// Screen-space pick radius for pins.
const PIN_PICK: f32 = 10.0;

/// Grid and overlay settings.
#[derive(Clone, Debug, PartialEq)]
pub struct CanvasOptions {
    /// Grid spacing in board units; moved nodes snap to it.
    pub grid: f32,
    pub snap: bool,
    pub show_grid: bool,
    pub show_minimap: bool,
}

impl Default for CanvasOptions {
    fn default() -> Self {
        Self {
            grid: 20.0,
            snap: true,
            show_grid: true,
            show_minimap: true,
        }
    }
}

/// What is under a point of the canvas.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hit {
    Pin(PinId),
    Node(NodeId),
    Background,
}

/// Counters of the last frame, for tests and the bench.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FrameStats {
    pub lod: Option<Lod>,
    pub visible_nodes: usize,
    pub visible_wires: usize,
    /// Wires flattened this frame (cache misses).
    pub wires_flattened: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fit {
    All,
    Selection,
}

#[derive(Clone, Debug, Default)]
enum Drag {
    #[default]
    None,
    Pan,
    Move {
        ids: Vec<NodeId>,
        origin: Pos2,
        anchor: Pos2,
        delta: Vec2,
        /// Set when a frame is dragged by its title (with the nodes inside it).
        frame: Option<u64>,
    },
    Box {
        start: Pos2,
        additive: bool,
    },
    /// A frame's bottom-right corner dragged: `size` is its size so far (board units).
    ResizeFrame {
        frame: u64,
        start: Rect,
        origin: Pos2,
        size: Vec2,
    },
    Connect {
        from: PinId,
        /// The input a wire was picked up from (dragging from a connected input).
        detached: Option<PinId>,
    },
    Minimap,
}

/// Live feedback while dragging a wire.
#[derive(Clone, Debug)]
struct ConnectFeedback {
    target: Option<PinId>,
    verdict: Option<Result<(), String>>,
}

struct WireGeom {
    /// Node indices; `u32::MAX` when an end names a missing node.
    from: u32,
    to: u32,
    a: Pos2,
    b: Pos2,
    bounds: Rect,
    bucket: i32,
    points: Vec<Pos2>,
}

#[derive(Default)]
struct Cache {
    key: Option<(u64, usize, usize, usize)>,
    index: SpatialIndex,
    by_id: HashMap<NodeId, u32>,
    wires: Vec<WireGeom>,
    bounds: Option<Rect>,
    minimap: Vec<u16>,
}

/// The node-graph canvas. Keep one per board view across frames; call [`Canvas::show`] each
/// frame with the board and handle the returned events.
pub struct Canvas {
    /// Pan and zoom; the app may read, save or set it.
    pub view: ViewTransform,
    pub options: CanvasOptions,
    id_salt: egui::IdSalt,
    selection: BTreeSet<NodeId>,
    cache: Cache,
    drag: Drag,
    /// Per node index: is it part of the drag being previewed?
    moving: Vec<bool>,
    feedback: Option<ConnectFeedback>,
    pending_fit: Option<Fit>,
    space_panned: bool,
    last_pointer: Option<Pos2>,
    /// Pointer position while it is over the window (for hover feedback).
    hover: Option<Pos2>,
    visible: Vec<u32>,
    stats: FrameStats,
}

impl Default for Canvas {
    fn default() -> Self {
        Self::new("aktion_canvas")
    }
}

impl Canvas {
    /// `id_salt` keeps several canvases in one window apart.
    pub fn new(id_salt: impl egui::AsIdSalt) -> Self {
        Self {
            view: ViewTransform::default(),
            options: CanvasOptions::default(),
            id_salt: egui::IdSalt::new(id_salt),
            selection: BTreeSet::new(),
            cache: Cache::default(),
            drag: Drag::None,
            moving: Vec::new(),
            feedback: None,
            pending_fit: None,
            space_panned: false,
            last_pointer: None,
            hover: None,
            visible: Vec::new(),
            stats: FrameStats::default(),
        }
    }

    pub fn selection(&self) -> &BTreeSet<NodeId> {
        &self.selection
    }

    /// Replaces the selection (no event is emitted for it).
    pub fn set_selection(&mut self, ids: impl IntoIterator<Item = NodeId>) {
        self.selection = ids.into_iter().collect();
    }

    /// Zooms to show every node on the next frame.
    pub fn fit_all(&mut self) {
        self.pending_fit = Some(Fit::All);
    }

    /// Zooms to show the selection (or everything if nothing is selected) on the next frame.
    pub fn fit_selection(&mut self) {
        self.pending_fit = Some(Fit::Selection);
    }

    pub fn stats(&self) -> FrameStats {
        self.stats
    }

    /// What lies under `screen_pos` for a canvas drawn at `canvas_rect`.
    pub fn hit_test(&mut self, board: &Board, canvas_rect: Rect, screen_pos: Pos2) -> Hit {
        self.refresh_cache(board);
        let x = self.view.at(canvas_rect.min);
        match self.hit(board, x, screen_pos) {
            HitIdx::Pin(p) => Hit::Pin(p),
            HitIdx::Node(i) => board
                .nodes
                .get(i as usize)
                .map_or(Hit::Background, |n| Hit::Node(n.id)),
            HitIdx::Background => Hit::Background,
        }
    }

    /// Draws the board in the remaining space of `ui` and handles input. Returns what the user
    /// asked for; the board itself is never edited here.
    pub fn show(
        &mut self,
        ui: &mut Ui,
        board: &Board,
        delegate: &mut dyn CanvasDelegate,
    ) -> Vec<CanvasEvent> {
        let rect = ui.available_rect_before_wrap();
        ui.advance_cursor_after_rect(rect);
        let id = ui.scope_id().with_salt(self.id_salt);
        let response = ui.interact(rect, id, Sense::click_and_drag());
        response.widget_info(|| WidgetInfo::labeled(Role::Canvas, true, "Node canvas"));

        self.refresh_cache(board);
        if let Some(fit) = self.pending_fit.take() {
            self.apply_fit(fit, board, rect);
        }
        let mut events = Vec::new();
        self.zoom_input(ui, &response, rect);
        self.pointer_input(ui, &response, rect, board, delegate, &mut events);
        self.key_input(ui, &response, rect, board, &mut events);
        self.paint(ui, id, rect, board, delegate);
        events
    }

    fn refresh_cache(&mut self, board: &Board) {
        let key = (
            board.revision,
            board.nodes.len(),
            board.wires.len(),
            board.frames.len(),
        );
        if self.cache.key == Some(key) {
            return;
        }
        let rects: Vec<Rect> = board.nodes.iter().map(|n| n.rect).collect();
        let index = SpatialIndex::build(&rects);
        let by_id: HashMap<NodeId, u32> = board
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.id, i as u32))
            .collect();
        let wires = board
            .wires
            .iter()
            .map(|w| {
                let from = by_id.get(&w.from.node).copied().unwrap_or(u32::MAX);
                let to = by_id.get(&w.to.node).copied().unwrap_or(u32::MAX);
                let (a, b) = if from == u32::MAX || to == u32::MAX {
                    (Pos2::ZERO, Pos2::ZERO)
                } else {
                    (
                        pin_pos(rects[from as usize], w.from.side, w.from.index),
                        pin_pos(rects[to as usize], w.to.side, w.to.index),
                    )
                };
                WireGeom {
                    from,
                    to,
                    a,
                    b,
                    bounds: wire_bounds(a, b),
                    bucket: i32::MIN,
                    points: Vec::new(),
                }
            })
            .collect();
        let bounds = board.bounds();
        let minimap = bounds
            .map(|b| minimap_density(&rects, b))
            .unwrap_or_default();
        self.selection.retain(|id| by_id.contains_key(id));
        self.cache = Cache {
            key: Some(key),
            index,
            by_id,
            wires,
            bounds,
            minimap,
        };
        self.rebuild_moving_mask();
    }

    fn rebuild_moving_mask(&mut self) {
        self.moving.clear();
        if let Drag::Move { ids, .. } = &self.drag {
            self.moving.resize(self.cache.index.len(), false);
            for id in ids {
                if let Some(&i) = self.cache.by_id.get(id) {
                    self.moving[i as usize] = true;
                }
            }
        }
    }

    fn apply_fit(&mut self, fit: Fit, board: &Board, rect: Rect) {
        let target = match fit {
            Fit::Selection if !self.selection.is_empty() => self
                .selection
                .iter()
                .filter_map(|id| self.cache.by_id.get(id))
                .filter_map(|&i| board.nodes.get(i as usize))
                .map(|n| n.rect)
                .reduce(Rect::union),
            _ => self.cache.bounds,
        };
        if let Some(target) = target {
            self.view = ViewTransform::fit(target, rect, 1.0);
        }
    }

    /// Wheel zooms around the pointer; pinch and ctrl-wheel arrive as egui's zoom delta.
    /// A mouse wheel zooms around the pointer; trackpad fingers pan; pinch and ctrl-wheel arrive
    /// as egui's zoom delta.
    fn zoom_input(&mut self, ui: &Ui, response: &Response, rect: Rect) {
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

    fn pointer_input(
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

    fn start_drag(
        &mut self,
        board: &Board,
        rect: Rect,
        origin: Pos2,
        minimap: Option<Rect>,
        shift: bool,
        events: &mut Vec<CanvasEvent>,
    ) {
        if minimap.is_some_and(|m| m.contains(origin)) {
            self.drag = Drag::Minimap;
            return;
        }
        let x = self.view.at(rect.min);
        self.drag = match self.hit(board, x, origin) {
            HitIdx::Pin(pin) => {
                self.feedback = Some(ConnectFeedback {
                    target: None,
                    verdict: None,
                });
                // Dragging from a connected input picks its wire up by the output end.
                let wire = (pin.side == PinSide::Input)
                    .then(|| board.wires.iter().rev().find(|w| w.to == pin))
                    .flatten();
                match wire {
                    Some(w) => Drag::Connect {
                        from: w.from,
                        detached: Some(pin),
                    },
                    None => Drag::Connect {
                        from: pin,
                        detached: None,
                    },
                }
            }
            HitIdx::Node(i) => {
                let Some(node) = board.nodes.get(i as usize) else {
                    return;
                };
                if !self.selection.contains(&node.id) {
                    if !shift {
                        self.selection.clear();
                    }
                    self.selection.insert(node.id);
                    events.push(CanvasEvent::SelectionChanged(self.selected_vec()));
                }
                Drag::Move {
                    ids: self.selected_vec(),
                    origin,
                    anchor: node.rect.min,
                    delta: Vec2::ZERO,
                    frame: None,
                }
            }
            HitIdx::Background => {
                let b = x.to_board(origin);
                let corner = board
                    .frames
                    .iter()
                    .rev()
                    .find(|f| frame_handle(f.rect, x.zoom).contains(b));
                let title = board
                    .frames
                    .iter()
                    .rev()
                    .find(|f| frame_title(f.rect).contains(b));
                if let Some(frame) = corner {
                    Drag::ResizeFrame {
                        frame: frame.id,
                        start: frame.rect,
                        origin,
                        size: frame.rect.size(),
                    }
                } else if let Some(frame) = title {
                    let mut inside = Vec::new();
                    self.cache.index.query(frame.rect, &mut inside);
                    let ids = inside
                        .iter()
                        .filter_map(|&i| board.nodes.get(i as usize))
                        .filter(|n| frame.rect.contains_rect(n.rect))
                        .map(|n| n.id)
                        .collect();
                    Drag::Move {
                        ids,
                        origin,
                        anchor: frame.rect.min,
                        delta: Vec2::ZERO,
                        frame: Some(frame.id),
                    }
                } else {
                    Drag::Box {
                        start: b,
                        additive: shift,
                    }
                }
            }
        };
        self.rebuild_moving_mask();
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "one call site; a struct would only rename them"
    )]
    fn update_drag(
        &mut self,
        response: &Response,
        rect: Rect,
        board: &Board,
        pointer: Pos2,
        minimap: Option<Rect>,
        alt: bool,
        delegate: &mut dyn CanvasDelegate,
    ) {
        let x = self.view.at(rect.min);
        let grid = self.options.grid;
        let snap = self.options.snap && !alt && grid > 0.0;
        match &mut self.drag {
            Drag::Pan => self.view.pan += response.drag_delta(),
            Drag::Move {
                origin,
                anchor,
                delta,
                ..
            } => {
                let raw = (pointer - *origin) / x.zoom;
                *delta = if snap {
                    let target = *anchor + raw;
                    let snapped = pos2(
                        (target.x / grid).round() * grid,
                        (target.y / grid).round() * grid,
                    );
                    snapped - *anchor
                } else {
                    raw
                };
            }
            Drag::ResizeFrame {
                start,
                origin,
                size,
                ..
            } => {
                let raw = (pointer - *origin) / x.zoom;
                let mut corner = start.max + raw;
                if snap {
                    corner = pos2(
                        (corner.x / grid).round() * grid,
                        (corner.y / grid).round() * grid,
                    );
                }
                *size = (corner - start.min).max(FRAME_MIN);
            }
            Drag::Minimap => {
                if let Some(mm) = minimap {
                    self.center_on_minimap(rect, mm, pointer);
                }
            }
            Drag::Connect { from, .. } => {
                let from = *from;
                let target = self.connect_target(board, x, pointer, from);
                let previous = self.feedback.take();
                let verdict = match (target, previous) {
                    (Some(t), Some(prev)) if prev.target == Some(t) => prev.verdict,
                    (Some(t), _) => {
                        let (out, inp) = ordered(from, t);
                        Some(delegate.can_connect(out, inp))
                    }
                    (None, _) => None,
                };
                self.feedback = Some(ConnectFeedback { target, verdict });
            }
            Drag::Box { .. } | Drag::None => {}
        }
    }

    fn finish_drag(
        &mut self,
        board: &Board,
        rect: Rect,
        pointer: Pos2,
        delegate: &mut dyn CanvasDelegate,
        events: &mut Vec<CanvasEvent>,
    ) {
        let x = self.view.at(rect.min);
        match std::mem::take(&mut self.drag) {
            Drag::Move {
                ids, delta, frame, ..
            } => {
                if delta != Vec2::ZERO {
                    events.push(match frame {
                        Some(frame) => CanvasEvent::FrameMoved {
                            frame,
                            nodes: ids,
                            delta,
                        },
                        None => CanvasEvent::NodesMoved { ids, delta },
                    });
                }
            }
            Drag::ResizeFrame {
                frame, start, size, ..
            } => {
                if size != start.size() {
                    events.push(CanvasEvent::FrameResized {
                        frame,
                        rect: Rect::from_min_size(start.min, size),
                    });
                }
            }
            Drag::Box { start, additive } => {
                let area = Rect::from_two_pos(start, x.to_board(pointer));
                let before = self.selection.clone();
                if !additive {
                    self.selection.clear();
                }
                let mut found = Vec::new();
                self.cache.index.query(area, &mut found);
                for i in found {
                    if let Some(node) = board.nodes.get(i as usize) {
                        self.selection.insert(node.id);
                    }
                }
                if before != self.selection {
                    events.push(CanvasEvent::SelectionChanged(self.selected_vec()));
                }
            }
            Drag::Connect { from, detached } => {
                let target = self.connect_target(board, x, pointer, from);
                if let Some(old) = detached {
                    // A picked-up wire: dropped back, moved to another input, or removed.
                    match target {
                        Some(to) if to == old => {}
                        Some(to) => {
                            let (out, inp) = ordered(from, to);
                            if delegate.can_connect(out, inp).is_ok() {
                                events.push(CanvasEvent::Disconnect { from, to: old });
                                events.push(CanvasEvent::Connect { from: out, to: inp });
                            }
                        }
                        None => events.push(CanvasEvent::Disconnect { from, to: old }),
                    }
                } else if let Some(to) = target {
                    let (out, inp) = ordered(from, to);
                    if delegate.can_connect(out, inp).is_ok() {
                        events.push(CanvasEvent::Connect { from: out, to: inp });
                    }
                } else {
                    let empty = matches!(self.hit(board, x, pointer), HitIdx::Background);
                    if empty && rect.contains(pointer) {
                        events.push(CanvasEvent::WireDroppedOnEmpty {
                            from_pin: from,
                            at: x.to_board(pointer),
                            screen: pointer,
                        });
                    }
                }
                self.feedback = None;
            }
            Drag::Pan | Drag::Minimap | Drag::None => {}
        }
        self.moving.clear();
    }

    #[expect(
        clippy::too_many_lines,
        reason = "one flat list of shortcuts reads best"
    )]
    fn key_input(
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

    fn selected_vec(&self) -> Vec<NodeId> {
        self.selection.iter().copied().collect()
    }

    fn hit(&mut self, board: &Board, x: Xform, screen: Pos2) -> HitIdx {
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
    fn connect_target(
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

    fn minimap_rect(&self, rect: Rect) -> Option<Rect> {
        let show = self.options.show_minimap
            && self.cache.bounds.is_some()
            && rect.width() > MINIMAP_SIZE.x * 2.0
            && rect.height() > MINIMAP_SIZE.y * 2.0;
        show.then(|| Rect::from_min_size(rect.max - MINIMAP_SIZE - Vec2::splat(10.0), MINIMAP_SIZE))
    }

    /// Maps board bounds into the minimap, keeping the aspect ratio.
    fn minimap_xform(&self, minimap: Rect) -> Option<Xform> {
        let bounds = self.cache.bounds?;
        let inner = minimap.shrink(6.0);
        let size = bounds.size().max(Vec2::splat(1.0));
        let zoom = (inner.width() / size.x).min(inner.height() / size.y);
        let origin = inner.center() - bounds.center().to_vec2() * zoom;
        Some(Xform { origin, zoom })
    }

    fn center_on_minimap(&mut self, rect: Rect, minimap: Rect, pointer: Pos2) {
        if let Some(m) = self.minimap_xform(minimap) {
            let target = m.to_board(pointer);
            self.view.pan = rect.size() * 0.5 - target.to_vec2() * self.view.zoom;
        }
    }

    // ---------------------------------------------------------------- painting

    /// Frames (backdrops) under the nodes: fill, title, resize grip; a frame being moved or
    /// resized is drawn where the drag has it.
    fn paint_frames(
        &self,
        ui: &mut Ui,
        painter: &egui::Painter,
        id: Id,
        x: Xform,
        rect: Rect,
        board: &Board,
    ) {
        let lod = Lod::for_zoom(x.zoom);
        let view = x.rect_to_board(rect);
        for frame in &board.frames {
            let frame_rect = match &self.drag {
                Drag::Move {
                    frame: Some(f),
                    delta,
                    ..
                } if *f == frame.id => frame.rect.translate(*delta),
                Drag::ResizeFrame { frame: f, size, .. } if *f == frame.id => {
                    Rect::from_min_size(frame.rect.min, *size)
                }
                _ => frame.rect,
            };
            if frame_rect.intersects(view) {
                let r = x.rect_to_screen(frame_rect);
                painter.rect_filled(r, 6.0 * x.zoom, frame.color.gamma_multiply(0.25));
                if lod == Lod::Full {
                    painter.text(
                        r.min + vec2(8.0, 6.0) * x.zoom,
                        Align2::LEFT_TOP,
                        &frame.title,
                        FontId::proportional(font_px(16.0, x.zoom)),
                        // Lifted towards white: a dark frame colour still gives a readable title.
                        frame.color.lerp_to_gamma(Color32::WHITE, 0.55),
                    );
                    let title = x.rect_to_screen(frame_title(frame_rect)).intersect(rect);
                    let resp = ui.interact(title, id.with(("frame", frame.id)), Sense::hover());
                    resp.widget_info(|| {
                        WidgetInfo::labeled(Role::Group, true, format!("Frame {}", frame.title))
                    });
                    // The resize grip: three short diagonals in the bottom-right corner.
                    let grip = x.rect_to_screen(frame_handle(frame_rect, x.zoom));
                    let stroke = Stroke::new(1.0, frame.color.gamma_multiply(0.8));
                    for k in 1..=3 {
                        let d = grip.width() * k as f32 / 4.0;
                        painter.line_segment(
                            [grip.max - vec2(d, 2.0), grip.max - vec2(2.0, d)],
                            stroke,
                        );
                    }
                    let handle = ui.interact(
                        grip.intersect(rect),
                        id.with(("frame-resize", frame.id)),
                        Sense::hover(),
                    );
                    handle.widget_info(|| {
                        WidgetInfo::labeled(
                            Role::Button,
                            true,
                            format!("Resize frame {}", frame.title),
                        )
                    });
                    if handle.hovered()
                        || matches!(&self.drag, Drag::ResizeFrame { frame: f, .. } if *f == frame.id)
                    {
                        ui.ctx().set_cursor_icon(egui::CursorIcon::ResizeNwSe);
                    }
                }
            }
        }
    }

    fn paint(
        &mut self,
        ui: &mut Ui,
        id: Id,
        rect: Rect,
        board: &Board,
        delegate: &mut dyn CanvasDelegate,
    ) {
        let painter = ui.painter_at(rect);
        let x = self.view.at(rect.min);
        let lod = Lod::for_zoom(x.zoom);
        let view = x.rect_to_board(rect);
        painter.rect_filled(rect, 0.0, BACKGROUND);
        if self.options.show_grid {
            paint_grid(&painter, x, rect, self.options.grid);
        }
        self.paint_frames(ui, &painter, id, x, rect, board);

        let delta = match &self.drag {
            Drag::Move { delta, .. } => *delta,
            _ => Vec2::ZERO,
        };
        let mut visible = std::mem::take(&mut self.visible);
        self.cache.index.query(view, &mut visible);
        if !self.moving.is_empty() && delta != Vec2::ZERO {
            // Dragged nodes may come into view from outside it.
            visible.retain(|&i| !self.moving[i as usize]);
            visible.extend(
                self.moving
                    .iter()
                    .enumerate()
                    .filter(|(_, m)| **m)
                    .map(|(i, _)| i as u32)
                    .filter(|&i| {
                        board.nodes[i as usize]
                            .rect
                            .translate(delta)
                            .intersects(view)
                    }),
            );
            visible.sort_unstable();
        }
        let (visible_wires, flattened) = self.paint_wires(&painter, x, view, board, delta, lod);

        match lod {
            Lod::Cards => self.paint_cards(&painter, x, board, &visible, delta),
            Lod::Full => {
                for &i in &visible {
                    let node = &board.nodes[i as usize];
                    let r = self.node_rect(i, node, delta);
                    let selected = self.selection.contains(&node.id);
                    paint_node_full(&painter, x, node, r, selected);
                    let body = body_rect(node, x.rect_to_screen(r), x.zoom);
                    if body.height() > 4.0 && body.intersects(rect) {
                        let mut child = ui.new_child(
                            UiBuilder::new()
                                .max_rect(body)
                                .id_salt(("aktion_canvas_body", node.id)),
                        );
                        child.set_clip_rect(body.intersect(rect));
                        delegate.node_body_ui(&mut child, node.id, x.zoom);
                    }
                }
                self.accessibility(ui, id, x, rect, board, &visible, delta);
            }
        }
        self.paint_overlays(ui, &painter, id, x, rect, board);
        self.stats = FrameStats {
            lod: Some(lod),
            visible_nodes: visible.len(),
            visible_wires,
            wires_flattened: flattened,
        };
        self.visible = visible;
    }

    fn node_rect(&self, i: u32, node: &NodeView, delta: Vec2) -> Rect {
        if self.moving.get(i as usize).copied().unwrap_or(false) {
            node.rect.translate(delta)
        } else {
            node.rect
        }
    }

    /// Returns (wires drawn, wires flattened this frame).
    fn paint_wires(
        &mut self,
        painter: &Painter,
        x: Xform,
        view: Rect,
        board: &Board,
        delta: Vec2,
        lod: Lod,
    ) -> (usize, usize) {
        let bucket = zoom_bucket(x.zoom);
        let tolerance = 0.3 / 2f32.powf(bucket as f32 / 2.0);
        let moving = &self.moving;
        let is_moving = |i: u32| moving.get(i as usize).copied().unwrap_or(false);
        let mut drawn = 0;
        let mut flattened = 0;
        let mut mesh = Mesh::default();
        let width = (2.5 * x.zoom).clamp(1.0, 4.0);
        let detached = match &self.drag {
            Drag::Connect {
                from,
                detached: Some(to),
            } => Some((*from, *to)),
            _ => None,
        };
        for (geom, wire) in self.cache.wires.iter_mut().zip(&board.wires) {
            if geom.from == u32::MAX
                || geom.to == u32::MAX
                || detached == Some((wire.from, wire.to))
            {
                continue;
            }
            let (mf, mt) = (is_moving(geom.from), is_moving(geom.to));
            let live = (mf || mt) && delta != Vec2::ZERO;
            let (a, b, bounds) = if live {
                let a = geom.a + if mf { delta } else { Vec2::ZERO };
                let b = geom.b + if mt { delta } else { Vec2::ZERO };
                (a, b, wire_bounds(a, b))
            } else {
                (geom.a, geom.b, geom.bounds)
            };
            if !bounds.intersects(view) {
                continue;
            }
            let (sa, sb) = (x.to_screen(a), x.to_screen(b));
            match lod {
                Lod::Cards => {
                    if (sb - sa).length_sq() < 4.0 {
                        continue;
                    }
                    add_line_quad(&mut mesh, sa, sb, 1.0, wire.color);
                }
                Lod::Full => {
                    let points: Vec<Pos2> = if live {
                        flatten(a, b, tolerance)
                    } else {
                        if geom.bucket != bucket {
                            geom.points = flatten(a, b, tolerance);
                            geom.bucket = bucket;
                            flattened += 1;
                        }
                        geom.points.clone()
                    };
                    let points = points.into_iter().map(|p| x.to_screen(p)).collect();
                    painter.add(Shape::line(points, Stroke::new(width, wire.color)));
                }
            }
            drawn += 1;
        }
        if !mesh.is_empty() {
            painter.add(Shape::mesh(mesh));
        }
        (drawn, flattened)
    }

    fn paint_cards(
        &self,
        painter: &Painter,
        x: Xform,
        board: &Board,
        visible: &[u32],
        delta: Vec2,
    ) {
        let mut mesh = Mesh::default();
        mesh.reserve_vertices(visible.len() * 4);
        mesh.reserve_triangles(visible.len() * 2);
        for &i in visible {
            let node = &board.nodes[i as usize];
            let r = x.rect_to_screen(self.node_rect(i, node, delta));
            let r = Rect::from_min_size(r.min, r.size().max(Vec2::splat(1.0)));
            if self.selection.contains(&node.id) {
                mesh.add_colored_rect(r.expand(1.5), SELECTED);
            }
            let mut color = node.header_color;
            if node.bypassed {
                color = BYPASS_TINT;
            }
            if node.muted {
                color = color.gamma_multiply(0.35);
            }
            mesh.add_colored_rect(r, color);
        }
        painter.add(Shape::mesh(mesh));
    }

    fn paint_overlays(
        &mut self,
        ui: &Ui,
        painter: &Painter,
        id: Id,
        x: Xform,
        rect: Rect,
        board: &Board,
    ) {
        let cursor = self.last_pointer.unwrap_or(rect.center());
        match &self.drag {
            Drag::Box { start, .. } => {
                let r = Rect::from_two_pos(x.to_screen(*start), cursor);
                painter.rect(
                    r,
                    0.0,
                    SELECTED.gamma_multiply(0.08),
                    Stroke::new(1.0, SELECTED),
                    StrokeKind::Inside,
                );
            }
            Drag::Connect { from, .. } => {
                self.paint_connect(ui, painter, id, x, board, *from, cursor);
            }
            Drag::None => {
                // Show which pin a press would grab.
                let hovered = self.hover.filter(|p| rect.contains(*p));
                if let Some(p) = hovered.filter(|_| Lod::for_zoom(x.zoom) == Lod::Full)
                    && let HitIdx::Pin(pin) = self.hit(board, x, p)
                    && let Some(node) = self
                        .cache
                        .by_id
                        .get(&pin.node)
                        .and_then(|&i| board.nodes.get(i as usize))
                {
                    let c = x.to_screen(pin_pos(node.rect, pin.side, pin.index));
                    painter.circle_stroke(c, PIN_RADIUS * x.zoom + 3.0, Stroke::new(1.5, TEXT));
                }
            }
            Drag::Pan | Drag::Move { .. } | Drag::Minimap | Drag::ResizeFrame { .. } => {}
        }
        if let Some(mm) = self.minimap_rect(rect) {
            self.paint_minimap(ui, painter, id, mm, x, rect);
        }
    }

    #[expect(clippy::too_many_arguments, reason = "painting context passed down")]
    fn paint_connect(
        &self,
        ui: &Ui,
        painter: &Painter,
        id: Id,
        x: Xform,
        board: &Board,
        from: PinId,
        cursor: Pos2,
    ) {
        let Some(node) = self
            .cache
            .by_id
            .get(&from.node)
            .and_then(|&i| board.nodes.get(i as usize))
        else {
            return;
        };
        let start = x.to_screen(pin_pos(node.rect, from.side, from.index));
        let feedback = self.feedback.as_ref();
        let end = feedback
            .and_then(|f| f.target)
            .and_then(|t| {
                let i = *self.cache.by_id.get(&t.node)?;
                let n = board.nodes.get(i as usize)?;
                Some(x.to_screen(pin_pos(n.rect, t.side, t.index)))
            })
            .unwrap_or(cursor);
        let color = match feedback.and_then(|f| f.verdict.as_ref()) {
            Some(Ok(())) => ACCEPT,
            Some(Err(_)) => REFUSE,
            None => pin_color(node, from).unwrap_or(TEXT),
        };
        let (a, b) = match from.side {
            PinSide::Output => (start, end),
            PinSide::Input => (end, start),
        };
        let dx = ((b.x - a.x).abs() * 0.5).max(40.0 * x.zoom);
        painter.add(CubicBezierShape::from_points_stroke(
            [a, a + vec2(dx, 0.0), b - vec2(dx, 0.0), b],
            false,
            Color32::TRANSPARENT,
            Stroke::new(2.5, color),
        ));
        if let Some(Some(Err(reason))) = feedback.map(|f| f.verdict.as_ref()) {
            let galley =
                painter.layout_no_wrap(reason.clone(), FontId::proportional(13.0), Color32::WHITE);
            let r = Rect::from_min_size(cursor + vec2(16.0, 16.0), galley.size()).expand(5.0);
            painter.rect_filled(r, 4.0, REFUSE.gamma_multiply(0.9));
            painter.galley(r.min + vec2(5.0, 5.0), galley, Color32::WHITE);
            let label = ui.interact(r, id.with("refusal"), Sense::hover());
            label.widget_info(|| WidgetInfo::labeled(Role::Label, true, reason));
        }
    }

    fn paint_minimap(&self, ui: &Ui, painter: &Painter, id: Id, mm: Rect, x: Xform, rect: Rect) {
        let Some(m) = self.minimap_xform(mm) else {
            return;
        };
        let Some(bounds) = self.cache.bounds else {
            return;
        };
        painter.rect(
            mm,
            4.0,
            Color32::from_black_alpha(200),
            Stroke::new(1.0, NODE_BORDER),
            StrokeKind::Inside,
        );
        let (cols, rows) = MINIMAP_CELLS;
        let cell = vec2(bounds.width() / cols as f32, bounds.height() / rows as f32);
        let mut mesh = Mesh::default();
        let max = self.cache.minimap.iter().copied().max().unwrap_or(1).max(1);
        for (k, &count) in self.cache.minimap.iter().enumerate() {
            if count == 0 {
                continue;
            }
            let (c, r) = ((k % cols) as f32, (k / cols) as f32);
            let min = bounds.min + vec2(c * cell.x, r * cell.y);
            let cell_rect = m.rect_to_screen(Rect::from_min_size(min, cell));
            let t = 0.35 + 0.65 * f32::from(count) / f32::from(max);
            mesh.add_colored_rect(
                cell_rect,
                Color32::from_rgb(120, 140, 180).gamma_multiply(t),
            );
        }
        painter.add(Shape::mesh(mesh));
        let seen = m.rect_to_screen(x.rect_to_board(rect)).intersect(mm);
        painter.rect_stroke(seen, 0.0, Stroke::new(1.5, SELECTED), StrokeKind::Inside);
        let response = ui.interact(mm, id.with("minimap"), Sense::hover());
        response.widget_info(|| WidgetInfo::labeled(Role::Image, true, "Minimap"));
    }

    /// One accessible widget per visible node, pin and wire, labelled for tests and screen
    /// readers. Only at full detail, where a view holds tens of nodes, not thousands.
    #[expect(clippy::too_many_arguments, reason = "painting context passed down")]
    fn accessibility(
        &self,
        ui: &Ui,
        id: Id,
        x: Xform,
        rect: Rect,
        board: &Board,
        visible: &[u32],
        delta: Vec2,
    ) {
        for &i in visible {
            let node = &board.nodes[i as usize];
            let r = self.node_rect(i, node, delta);
            let sr = x.rect_to_screen(r).intersect(rect);
            if sr.width() <= 0.0 || sr.height() <= 0.0 {
                continue;
            }
            let resp = ui.interact(sr, id.with(("node", node.id)), Sense::hover());
            let selected = self.selection.contains(&node.id);
            resp.widget_info(|| WidgetInfo::selected(Role::Group, true, selected, &node.title));
            let pins = node
                .inputs
                .iter()
                .enumerate()
                .map(|(k, p)| (PinSide::Input, k, p))
                .chain(
                    node.outputs
                        .iter()
                        .enumerate()
                        .map(|(k, p)| (PinSide::Output, k, p)),
                );
            for (side, k, pin) in pins {
                let c = x.to_screen(pin_pos(r, side, k as u32));
                if !rect.contains(c) {
                    continue;
                }
                let pr = Rect::from_center_size(c, Vec2::splat(12.0));
                let pid = id.with(("pin", node.id, side, k));
                let resp = ui.interact(pr, pid, Sense::hover());
                resp.widget_info(|| {
                    WidgetInfo::labeled(Role::Button, true, pin_label(node, side, pin))
                });
            }
        }
        for (geom, wire) in self.cache.wires.iter().zip(&board.wires) {
            if geom.points.len() < 2 || geom.from == u32::MAX || geom.to == u32::MAX {
                continue;
            }
            let mid = x.to_screen(geom.points[geom.points.len() / 2]);
            if !rect.contains(mid) || !geom.bounds.intersects(x.rect_to_board(rect)) {
                continue;
            }
            let (Some(a), Some(b)) = (
                board.nodes.get(geom.from as usize),
                board.nodes.get(geom.to as usize),
            ) else {
                continue;
            };
            let resp = ui.interact(
                Rect::from_center_size(mid, Vec2::splat(10.0)),
                id.with(("wire", wire.from, wire.to)),
                Sense::hover(),
            );
            resp.widget_info(|| {
                let from = pin_name(a, wire.from);
                let to = pin_name(b, wire.to);
                WidgetInfo::labeled(
                    Role::Button,
                    true,
                    format!("Wire {} {from} to {} {to}", a.title, b.title),
                )
            });
        }
    }
}

#[derive(Default)]
#[expect(
    clippy::struct_excessive_bools,
    reason = "one flag per shortcut, read once"
)]
struct Keys {
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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum HitIdx {
    Pin(PinId),
    Node(u32),
    Background,
}

/// The strip at the top of a frame that drags it, in board units.
/// The smallest a frame can be resized to (board units).
const FRAME_MIN: Vec2 = vec2(160.0, 80.0);

/// A frame's resize grip: a square in its bottom-right corner, 14 px on screen at any zoom
/// (never more than a third of the frame).
fn frame_handle(rect: Rect, zoom: f32) -> Rect {
    let side = (14.0 / zoom.max(0.05))
        .min(rect.width() / 3.0)
        .min(rect.height() / 3.0);
    Rect::from_min_max(rect.max - vec2(side, side), rect.max)
}

fn frame_title(rect: Rect) -> Rect {
    Rect::from_min_max(
        rect.min,
        pos2(rect.max.x, (rect.min.y + 32.0).min(rect.max.y)),
    )
}

/// Orders a pin pair as (output, input).
fn ordered(a: PinId, b: PinId) -> (PinId, PinId) {
    if a.side == PinSide::Output {
        (a, b)
    } else {
        (b, a)
    }
}

/// The accessible label of a pin: "`<node title>` in `<label>`" or "… out …".
pub fn pin_label(node: &NodeView, side: PinSide, pin: &crate::PinView) -> String {
    match side {
        PinSide::Input => format!("{} in {}", node.title, pin.label),
        PinSide::Output => format!("{} out {}", node.title, pin.label),
    }
}

fn pin_name(node: &NodeView, pin: PinId) -> &str {
    let pins = match pin.side {
        PinSide::Input => &node.inputs,
        PinSide::Output => &node.outputs,
    };
    pins.get(pin.index as usize)
        .map_or("?", |p| p.label.as_str())
}

fn pin_color(node: &NodeView, pin: PinId) -> Option<Color32> {
    let pins = match pin.side {
        PinSide::Input => &node.inputs,
        PinSide::Output => &node.outputs,
    };
    pins.get(pin.index as usize).map(|p| p.color)
}

fn flatten(a: Pos2, b: Pos2, tolerance: f32) -> Vec<Pos2> {
    CubicBezierShape::from_points_stroke(
        wire_control_points(a, b),
        false,
        Color32::TRANSPARENT,
        Stroke::NONE,
    )
    .flatten(Some(tolerance))
}

/// Font size quantised to half points so zooming reuses laid-out text.
fn font_px(base: f32, zoom: f32) -> f32 {
    ((base * zoom * 2.0).round() / 2.0).max(1.0)
}

fn body_rect(node: &NodeView, screen: Rect, zoom: f32) -> Rect {
    let rows = node.inputs.len().max(node.outputs.len()) as f32;
    let top = screen.min.y + (HEADER_HEIGHT + PIN_ROW * rows + 8.0) * zoom;
    let lines = node.body.len() as f32 * 16.0 * zoom;
    Rect::from_min_max(
        pos2(screen.min.x + 6.0 * zoom, top + lines),
        pos2(screen.max.x - 6.0 * zoom, screen.max.y - 6.0 * zoom),
    )
}

fn paint_node_full(painter: &Painter, x: Xform, node: &NodeView, board_rect: Rect, selected: bool) {
    let z = x.zoom;
    let r = x.rect_to_screen(board_rect);
    let fade = if node.muted { 0.4 } else { 1.0 };
    let round = (6.0 * z).clamp(0.0, 50.0) as u8;
    let border = if selected {
        Stroke::new(2.0, SELECTED)
    } else {
        Stroke::new(1.0, NODE_BORDER)
    };
    painter.rect(
        r,
        round,
        NODE_BODY.gamma_multiply(fade),
        border,
        StrokeKind::Outside,
    );
    let header = Rect::from_min_max(r.min, pos2(r.max.x, r.min.y + HEADER_HEIGHT * z));
    let header_color = if node.bypassed {
        BYPASS_TINT
    } else {
        node.header_color
    };
    painter.rect_filled(
        header,
        CornerRadius {
            nw: round,
            ne: round,
            sw: 0,
            se: 0,
        },
        header_color.gamma_multiply(fade),
    );
    let clip = painter.with_clip_rect(r);
    let title_font = FontId::proportional(font_px(13.0, z));
    let text = TEXT.gamma_multiply(fade);
    clip.text(
        header.left_center() + vec2(8.0 * z, 0.0),
        Align2::LEFT_CENTER,
        &node.title,
        title_font,
        text,
    );
    let mut badge_text = node.badge.as_deref().unwrap_or_default();
    if node.bypassed {
        badge_text = "bypassed";
    } else if node.muted {
        badge_text = "muted";
    }
    if !badge_text.is_empty() {
        clip.text(
            header.right_center() - vec2(8.0 * z, 0.0),
            Align2::RIGHT_CENTER,
            badge_text,
            FontId::proportional(font_px(11.0, z)),
            TEXT_DIM,
        );
    }
    let label_font = FontId::proportional(font_px(11.0, z));
    for (side, pins, align, offset) in [
        (PinSide::Input, &node.inputs, Align2::LEFT_CENTER, 9.0 * z),
        (
            PinSide::Output,
            &node.outputs,
            Align2::RIGHT_CENTER,
            -9.0 * z,
        ),
    ] {
        for (k, pin) in pins.iter().enumerate() {
            let c = x.to_screen(pin_pos(board_rect, side, k as u32));
            painter.circle(
                c,
                PIN_RADIUS * z,
                pin.color.gamma_multiply(fade),
                Stroke::new(1.0, BACKGROUND),
            );
            clip.text(
                c + vec2(offset, 0.0),
                align,
                &pin.label,
                label_font.clone(),
                TEXT_DIM,
            );
        }
    }
    let rows = node.inputs.len().max(node.outputs.len()) as f32;
    let mut y = r.min.y + (HEADER_HEIGHT + PIN_ROW * rows + 8.0) * z;
    let body_font = FontId::proportional(font_px(12.0, z));
    for line in &node.body {
        if y > r.max.y {
            break;
        }
        clip.text(
            pos2(r.min.x + 8.0 * z, y),
            Align2::LEFT_TOP,
            line,
            body_font.clone(),
            text,
        );
        y += 16.0 * z;
    }
}

fn paint_grid(painter: &Painter, x: Xform, rect: Rect, grid: f32) {
    if grid <= 0.0 {
        return;
    }
    let mut step = grid;
    while step * x.zoom < 12.0 {
        step *= 5.0;
    }
    let view = x.rect_to_board(rect);
    let mut mesh = Mesh::default();
    let mut gx = (view.min.x / step).floor() * step;
    while gx <= view.max.x {
        let sx = x.to_screen(pos2(gx, 0.0)).x;
        mesh.add_colored_rect(
            Rect::from_min_max(pos2(sx, rect.min.y), pos2(sx + 1.0, rect.max.y)),
            GRID_COLOR,
        );
        gx += step;
    }
    let mut gy = (view.min.y / step).floor() * step;
    while gy <= view.max.y {
        let sy = x.to_screen(pos2(0.0, gy)).y;
        mesh.add_colored_rect(
            Rect::from_min_max(pos2(rect.min.x, sy), pos2(rect.max.x, sy + 1.0)),
            GRID_COLOR,
        );
        gy += step;
    }
    painter.add(Shape::mesh(mesh));
}

fn add_line_quad(mesh: &mut Mesh, a: Pos2, b: Pos2, width: f32, color: Color32) {
    let dir = (b - a).normalized();
    let n = vec2(-dir.y, dir.x) * (width * 0.5);
    let base = mesh.vertices.len() as u32;
    mesh.colored_vertex(a + n, color);
    mesh.colored_vertex(a - n, color);
    mesh.colored_vertex(b + n, color);
    mesh.colored_vertex(b - n, color);
    mesh.add_triangle(base, base + 1, base + 2);
    mesh.add_triangle(base + 1, base + 3, base + 2);
}

/// Node counts on a coarse grid over the board, drawn by the minimap.
fn minimap_density(rects: &[Rect], bounds: Rect) -> Vec<u16> {
    let (cols, rows) = MINIMAP_CELLS;
    let mut cells = vec![0u16; cols * rows];
    let size = bounds.size().max(Vec2::splat(1.0));
    for r in rects {
        let c = r.center() - bounds.min;
        let col = ((c.x / size.x * cols as f32) as usize).min(cols - 1);
        let row = ((c.y / size.y * rows as f32) as usize).min(rows - 1);
        let cell = &mut cells[row * cols + col];
        *cell = cell.saturating_add(1);
    }
    cells
}
