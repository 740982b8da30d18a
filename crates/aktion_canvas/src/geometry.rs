//! Board ↔ screen transform, level of detail, pin layout and wire curves.

use egui::{Pos2, Rect, Vec2, pos2, vec2};

use crate::model::{NodeView, PinId, PinSide};

/// Height of a node's header, in board units.
pub const HEADER_HEIGHT: f32 = 28.0;
/// Vertical distance between pins, in board units.
pub const PIN_ROW: f32 = 22.0;
/// Pin dot radius, in board units.
pub const PIN_RADIUS: f32 = 5.0;
/// Below this zoom nodes are drawn as plain cards: no text, no pins, straight wires.
pub const LOD_CARDS_BELOW: f32 = 0.4;
pub const MIN_ZOOM: f32 = 0.005;
pub const MAX_ZOOM: f32 = 4.0;

/// How much detail a frame draws.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lod {
    /// Header text, badge, pins with labels, body, bezier wires.
    Full,
    /// Coloured cards only; wires as straight lines, tiny ones skipped.
    Cards,
}

impl Lod {
    pub fn for_zoom(zoom: f32) -> Self {
        if zoom < LOD_CARDS_BELOW {
            Self::Cards
        } else {
            Self::Full
        }
    }
}

/// The view: `screen = canvas_min + pan + board * zoom`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ViewTransform {
    pub pan: Vec2,
    pub zoom: f32,
}

impl Default for ViewTransform {
    fn default() -> Self {
        Self {
            pan: Vec2::ZERO,
            zoom: 1.0,
        }
    }
}

impl ViewTransform {
    /// The transform that shows `board_rect` centred in `viewport` (screen), with a margin.
    pub fn fit(board_rect: Rect, viewport: Rect, max_zoom: f32) -> Self {
        let margin = 40.0_f32.min(viewport.width() * 0.1);
        let avail = (viewport.size() - Vec2::splat(margin * 2.0)).max(Vec2::splat(1.0));
        let size = board_rect.size().max(Vec2::splat(1.0));
        let zoom = (avail.x / size.x)
            .min(avail.y / size.y)
            .clamp(MIN_ZOOM, max_zoom);
        let pan = viewport.size() * 0.5 - board_rect.center().to_vec2() * zoom;
        Self { pan, zoom }
    }

    /// The per-frame transform for a canvas placed at `canvas_min`.
    pub fn at(self, canvas_min: Pos2) -> Xform {
        Xform {
            origin: canvas_min + self.pan,
            zoom: self.zoom,
        }
    }

    /// Zooms by `factor` keeping the board point under `anchor` (screen) still.
    pub fn zoom_around(&mut self, canvas_min: Pos2, anchor: Pos2, factor: f32) {
        let x = self.at(canvas_min);
        let board = x.to_board(anchor);
        self.zoom = (self.zoom * factor).clamp(MIN_ZOOM, MAX_ZOOM);
        self.pan = anchor - canvas_min - board.to_vec2() * self.zoom;
    }
}

/// A resolved transform for one frame.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Xform {
    pub origin: Pos2,
    pub zoom: f32,
}

impl Xform {
    #[inline]
    pub fn to_screen(self, p: Pos2) -> Pos2 {
        self.origin + p.to_vec2() * self.zoom
    }

    #[inline]
    pub fn to_board(self, p: Pos2) -> Pos2 {
        pos2(
            (p.x - self.origin.x) / self.zoom,
            (p.y - self.origin.y) / self.zoom,
        )
    }

    #[inline]
    pub fn rect_to_screen(self, r: Rect) -> Rect {
        Rect::from_min_max(self.to_screen(r.min), self.to_screen(r.max))
    }

    #[inline]
    pub fn rect_to_board(self, r: Rect) -> Rect {
        Rect::from_min_max(self.to_board(r.min), self.to_board(r.max))
    }
}

/// Where a pin sits, in board units, for a node at `rect`.
#[inline]
pub fn pin_pos(rect: Rect, side: PinSide, index: u32) -> Pos2 {
    let y = rect.min.y + HEADER_HEIGHT + PIN_ROW * (index as f32 + 0.5) + 4.0;
    match side {
        PinSide::Input => pos2(rect.min.x, y),
        PinSide::Output => pos2(rect.max.x, y),
    }
}

/// The nearest pin of `node` (at `rect`) within `radius` board units of `board_pos`.
pub fn pin_at(node: &NodeView, rect: Rect, board_pos: Pos2, radius: f32) -> Option<PinId> {
    let mut best: Option<(f32, PinId)> = None;
    let sides = [
        (PinSide::Input, node.inputs.len()),
        (PinSide::Output, node.outputs.len()),
    ];
    for (side, count) in sides {
        for index in 0..count as u32 {
            let d = pin_pos(rect, side, index).distance(board_pos);
            if d <= radius && best.is_none_or(|(bd, _)| d < bd) {
                best = Some((
                    d,
                    PinId {
                        node: node.id,
                        side,
                        index,
                    },
                ));
            }
        }
    }
    best.map(|(_, pin)| pin)
}

/// Bezier control points of a wire from an output at `a` to an input at `b`.
pub fn wire_control_points(a: Pos2, b: Pos2) -> [Pos2; 4] {
    let dx = ((b.x - a.x).abs() * 0.5).max(40.0);
    [a, a + vec2(dx, 0.0), b - vec2(dx, 0.0), b]
}

/// Board-space bounds of a wire (the convex hull of its control points contains the curve).
pub fn wire_bounds(a: Pos2, b: Pos2) -> Rect {
    let pts = wire_control_points(a, b);
    Rect::from_points(&pts)
}

/// Zoom quantised to half-octaves, so flattened wires are reused while zooming.
pub fn zoom_bucket(zoom: f32) -> i32 {
    (zoom.log2() * 2.0).round() as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lod_switches_below_the_threshold() {
        assert_eq!(Lod::for_zoom(1.0), Lod::Full);
        assert_eq!(Lod::for_zoom(0.4), Lod::Full);
        assert_eq!(Lod::for_zoom(0.39), Lod::Cards);
        assert_eq!(Lod::for_zoom(0.01), Lod::Cards);
    }

    #[test]
    fn transform_round_trips_and_zooms_around_the_anchor() {
        let mut t = ViewTransform {
            pan: vec2(30.0, -20.0),
            zoom: 0.75,
        };
        let min = pos2(10.0, 40.0);
        let p = pos2(123.0, 456.0);
        let x = t.at(min);
        assert!(x.to_board(x.to_screen(p)).distance(p) < 1e-3);

        let anchor = pos2(300.0, 200.0);
        let under = t.at(min).to_board(anchor);
        t.zoom_around(min, anchor, 2.0);
        assert!((t.zoom - 1.5).abs() < 1e-6);
        assert!(t.at(min).to_board(anchor).distance(under) < 1e-3);
    }

    #[test]
    fn fit_shows_the_whole_rect() {
        let board = Rect::from_min_size(pos2(-500.0, 100.0), vec2(30_000.0, 20_000.0));
        let viewport = Rect::from_min_size(pos2(0.0, 0.0), vec2(1280.0, 800.0));
        let t = ViewTransform::fit(board, viewport, 1.0);
        let shown = t.at(viewport.min).rect_to_screen(board);
        assert!(viewport.expand(0.5).contains_rect(shown), "{shown:?}");
        assert!(t.zoom < LOD_CARDS_BELOW);
    }

    #[test]
    fn pins_are_hit_within_their_radius_only() {
        let mut node = NodeView::new(7, Rect::from_min_size(Pos2::ZERO, vec2(200.0, 120.0)), "A");
        node.inputs
            .push(crate::PinView::new("in", egui::Color32::RED));
        node.outputs
            .push(crate::PinView::new("a", egui::Color32::RED));
        node.outputs
            .push(crate::PinView::new("b", egui::Color32::RED));
        let out1 = pin_pos(node.rect, PinSide::Output, 1);
        assert_eq!(
            pin_at(&node, node.rect, out1 + vec2(3.0, 2.0), 8.0),
            Some(PinId::output(7, 1))
        );
        let in0 = pin_pos(node.rect, PinSide::Input, 0);
        assert_eq!(pin_at(&node, node.rect, in0, 8.0), Some(PinId::input(7, 0)));
        assert_eq!(pin_at(&node, node.rect, pos2(100.0, 60.0), 8.0), None);
    }

    #[test]
    fn wire_bounds_contain_the_curve() {
        let (a, b) = (pos2(0.0, 0.0), pos2(-300.0, 200.0));
        let bounds = wire_bounds(a, b);
        let [p0, p1, p2, p3] = wire_control_points(a, b);
        for i in 0..=20 {
            let t = i as f32 / 20.0;
            let u = 1.0 - t;
            let p = p0.to_vec2() * u * u * u
                + p1.to_vec2() * 3.0 * u * u * t
                + p2.to_vec2() * 3.0 * u * t * t
                + p3.to_vec2() * t * t * t;
            assert!(bounds.expand(1e-3).contains(p.to_pos2()));
        }
        assert_eq!(zoom_bucket(1.0), 0);
        assert_eq!(zoom_bucket(0.5), -2);
    }
}
