//! Sketch strokes as they are stored in a project: vectors, never pixels.

use serde::{Deserialize, Serialize};

/// One pen or eraser stroke of a Sketch node.
///
/// Coordinates are in sketch-canvas pixels (the node's `width` × `height` parameters), so a
/// stroke rasterises the same on every machine.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Stroke {
    /// What the stroke does.
    #[serde(default)]
    pub tool: StrokeTool,
    /// RGBA colour; ignored by the eraser.
    #[serde(default = "default_color")]
    pub color: [u8; 4],
    /// Nominal width in canvas pixels at full pressure.
    pub width: f32,
    /// Points as `[x, y, pressure]`, pressure in `0.0..=1.0` (1.0 where the platform gives none).
    pub points: Vec<[f32; 3]>,
}

/// Pen or eraser.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StrokeTool {
    #[default]
    Pen,
    Eraser,
}

fn default_color() -> [u8; 4] {
    [0, 0, 0, 255]
}
