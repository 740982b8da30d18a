//! The view model the app hands to the canvas, and the events it gets back.

use egui::{Color32, Pos2, Rect, Vec2};

/// The app's id for a node. The canvas only compares and orders them.
pub type NodeId = u64;

/// Which side of a node a pin is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PinSide {
    Input,
    Output,
}

/// One pin: the node it belongs to, its side and its index on that side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PinId {
    pub node: NodeId,
    pub side: PinSide,
    pub index: u32,
}

impl PinId {
    pub fn input(node: NodeId, index: u32) -> Self {
        Self {
            node,
            side: PinSide::Input,
            index,
        }
    }

    pub fn output(node: NodeId, index: u32) -> Self {
        Self {
            node,
            side: PinSide::Output,
            index,
        }
    }
}

/// How a pin is drawn: a coloured dot (colour by type) and a label.
#[derive(Clone, Debug, PartialEq)]
pub struct PinView {
    pub label: String,
    pub color: Color32,
}

impl PinView {
    pub fn new(label: impl Into<String>, color: Color32) -> Self {
        Self {
            label: label.into(),
            color,
        }
    }
}

/// How a node is drawn. `rect` is in board units (1 unit = 1 point at zoom 1).
#[derive(Clone, Debug, PartialEq)]
pub struct NodeView {
    pub id: NodeId,
    pub rect: Rect,
    pub title: String,
    pub header_color: Color32,
    /// Short text in the header's right corner (status, credit cost).
    pub badge: Option<String>,
    pub inputs: Vec<PinView>,
    pub outputs: Vec<PinView>,
    /// Simple body content: one line of text each, drawn below the pins.
    /// For richer bodies implement [`crate::CanvasDelegate::node_body_ui`].
    pub body: Vec<String>,
    pub muted: bool,
    pub bypassed: bool,
}

impl NodeView {
    pub fn new(id: NodeId, rect: Rect, title: impl Into<String>) -> Self {
        Self {
            id,
            rect,
            title: title.into(),
            header_color: Color32::from_rgb(70, 90, 130),
            badge: None,
            inputs: Vec::new(),
            outputs: Vec::new(),
            body: Vec::new(),
            muted: false,
            bypassed: false,
        }
    }
}

/// A wire from an output pin to an input pin.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WireView {
    pub from: PinId,
    pub to: PinId,
    pub color: Color32,
}

/// A backdrop drawn behind nodes to group them (a shot, a scene). Dragging its title strip
/// moves it with the nodes inside it.
#[derive(Clone, Debug, PartialEq)]
pub struct FrameView {
    pub id: u64,
    pub rect: Rect,
    pub title: String,
    pub color: Color32,
}

/// Everything the canvas draws. The canvas caches its spatial index and wire geometry per
/// `revision`: bump it (see [`Board::touch`]) whenever nodes, wires or frames change.
#[derive(Clone, Debug, Default)]
pub struct Board {
    pub nodes: Vec<NodeView>,
    pub wires: Vec<WireView>,
    pub frames: Vec<FrameView>,
    pub revision: u64,
}

impl Board {
    /// Marks the board as changed so the canvas rebuilds its caches on the next frame.
    pub fn touch(&mut self) {
        self.revision = self.revision.wrapping_add(1);
    }

    /// The union of all node and frame rects, in board units.
    pub fn bounds(&self) -> Option<Rect> {
        let rects = self
            .nodes
            .iter()
            .map(|n| n.rect)
            .chain(self.frames.iter().map(|f| f.rect));
        rects.reduce(Rect::union)
    }
}

/// What the user asked for. The app applies these as commands (with undo); the canvas never
/// edits the board itself.
#[derive(Clone, Debug, PartialEq)]
pub enum CanvasEvent {
    /// The user changed the selection (click, shift-click, box, select all, escape).
    SelectionChanged(Vec<NodeId>),
    /// A drag of the selection ended; `delta` is in board units (already snapped).
    NodesMoved {
        ids: Vec<NodeId>,
        delta: Vec2,
    },
    /// A frame was dragged by its title; `nodes` (those inside it) move with it.
    FrameMoved {
        frame: u64,
        nodes: Vec<NodeId>,
        delta: Vec2,
    },
    /// A frame was resized by its bottom-right corner; `rect` is its new rectangle (board
    /// units, snapped, never smaller than the minimum).
    FrameResized {
        frame: u64,
        rect: Rect,
    },
    /// A frame's title was double-clicked: ask for a new title.
    RenameFrame {
        frame: u64,
        screen: Pos2,
    },
    /// A wire was dropped on a compatible pin. `from` is always the output.
    Connect {
        from: PinId,
        to: PinId,
    },
    /// A wire was picked up from its input and dropped elsewhere: remove it. When it was
    /// dropped on another compatible input a `Connect` follows in the same frame (one undo step).
    Disconnect {
        from: PinId,
        to: PinId,
    },
    /// A wire was dropped on empty board: open the palette filtered to what fits `from_pin`.
    WireDroppedOnEmpty {
        from_pin: PinId,
        at: Pos2,
        screen: Pos2,
    },
    /// Right-click, Tab or a Space tap on the background: open the add-node palette.
    OpenPalette {
        at: Pos2,
        screen: Pos2,
    },
    /// Right-click on a node.
    NodeContextMenu {
        node: NodeId,
        screen: Pos2,
    },
    Delete(Vec<NodeId>),
    Duplicate(Vec<NodeId>),
    Copy(Vec<NodeId>),
    Cut(Vec<NodeId>),
    /// Paste at `at` (board units). `text` is the clipboard text when the platform delivered it
    /// with the key press; otherwise the app reads its clipboard itself.
    Paste {
        at: Pos2,
        text: Option<String>,
    },
    ToggleMute(Vec<NodeId>),
    ToggleBypass(Vec<NodeId>),
}

/// What the canvas asks the app while drawing.
pub trait CanvasDelegate {
    /// May a wire go from output `from` to input `to`? `Err` holds the reason shown to the user.
    fn can_connect(&mut self, from: PinId, to: PinId) -> Result<(), String>;

    /// Draws a node's body (parameters, previews) inside `ui`, whose max rect is the body area
    /// on screen. Only called for visible nodes at full detail.
    fn node_body_ui(&mut self, ui: &mut egui::Ui, node: NodeId, zoom: f32) {
        let _ = (ui, node, zoom);
    }
}

impl<F: FnMut(PinId, PinId) -> Result<(), String>> CanvasDelegate for F {
    fn can_connect(&mut self, from: PinId, to: PinId) -> Result<(), String> {
        self(from, to)
    }
}
