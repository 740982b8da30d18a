//! The widget: its state, the frame's order of work and the board cache. Input, drags,
//! painting, the minimap and the accessibility tree are in the submodules.

mod accessibility;
mod drag;
mod input;
mod minimap;
mod paint;

use std::collections::{BTreeSet, HashMap};

use egui::{Color32, Pos2, Rect, Role, Sense, Ui, Vec2, WidgetInfo};

use crate::geometry::{Lod, ViewTransform, pin_pos, wire_bounds};
use crate::index::SpatialIndex;
use crate::model::{Board, CanvasDelegate, CanvasEvent, NodeId, NodeView, PinId, PinSide};

use self::minimap::minimap_density;

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
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum HitIdx {
    Pin(PinId),
    Node(u32),
    Background,
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
