//! `aktion_canvas`: a generic node-graph canvas widget for egui, built for boards of thousands
//! of nodes.
//!
//! The app hands it a view model ([`Board`]: nodes, pins, wires, frames) and gets back
//! [`CanvasEvent`]s, which it applies as commands with undo; the canvas never edits the board.
//! It knows nothing of node kinds and must not depend on any other aktion crate (the layering
//! test in `tests/e2e` enforces it), nor on tokio.
//!
//! Scale: nodes live in a uniform-grid [`SpatialIndex`], so a frame lays out and paints only
//! what is in view; below [`geometry::LOD_CARDS_BELOW`] zoom nodes are plain coloured cards
//! with no text and wires are straight lines in one mesh; bezier wires are flattened once per
//! board revision and zoom bucket. The widget never asks for a repaint on its own.
//!
//! ```no_run
//! use aktion_canvas::{Board, Canvas, CanvasEvent, NodeView, PinId};
//!
//! struct BoardView {
//!     board: Board,   // rebuilt from the document when it changes, then `board.touch()`
//!     canvas: Canvas, // kept across frames: view, selection, caches
//! }
//!
//! impl BoardView {
//!     fn ui(&mut self, ui: &mut egui::Ui) {
//!         let mut can_connect = |from: PinId, to: PinId| -> Result<(), String> {
//!             // Ask the document's type rules; `Err` is shown next to the pointer.
//!             Ok(())
//!         };
//!         for event in self.canvas.show(ui, &self.board, &mut can_connect) {
//!             match event {
//!                 CanvasEvent::Connect { from, to } => { /* push a Connect command */ }
//!                 CanvasEvent::NodesMoved { ids, delta } => { /* one undo step */ }
//!                 CanvasEvent::WireDroppedOnEmpty { from_pin, at, .. } => { /* filtered palette */ }
//!                 _ => {}
//!             }
//!         }
//!     }
//! }
//! ```

mod canvas;
pub mod geometry;
mod index;
mod model;

pub use canvas::{Canvas, CanvasOptions, FrameStats, Hit, pin_label, shortcuts};
pub use geometry::{Lod, ViewTransform};
pub use index::SpatialIndex;
pub use model::{
    Board, CanvasDelegate, CanvasEvent, FrameView, NodeId, NodeView, PinId, PinSide, PinView,
    WireView,
};
