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
