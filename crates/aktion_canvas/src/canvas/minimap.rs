//! The minimap: node density over the whole board and the view's outline; click or drag to move.

use egui::epaint::Mesh;
use egui::{
    Color32, Id, Painter, Pos2, Rect, Role, Sense, Shape, Stroke, StrokeKind, Ui, Vec2, WidgetInfo,
    vec2,
};

use crate::geometry::Xform;

use super::{Canvas, NODE_BORDER, SELECTED};

impl Canvas {
    pub(super) fn minimap_rect(&self, rect: Rect) -> Option<Rect> {
        let show = self.options.show_minimap
            && self.cache.bounds.is_some()
            && rect.width() > MINIMAP_SIZE.x * 2.0
            && rect.height() > MINIMAP_SIZE.y * 2.0;
        show.then(|| Rect::from_min_size(rect.max - MINIMAP_SIZE - Vec2::splat(10.0), MINIMAP_SIZE))
    }

    /// Maps board bounds into the minimap, keeping the aspect ratio.
    pub(super) fn minimap_xform(&self, minimap: Rect) -> Option<Xform> {
        let bounds = self.cache.bounds?;
        let inner = minimap.shrink(6.0);
        let size = bounds.size().max(Vec2::splat(1.0));
        let zoom = (inner.width() / size.x).min(inner.height() / size.y);
        let origin = inner.center() - bounds.center().to_vec2() * zoom;
        Some(Xform { origin, zoom })
    }

    pub(super) fn center_on_minimap(&mut self, rect: Rect, minimap: Rect, pointer: Pos2) {
        if let Some(m) = self.minimap_xform(minimap) {
            let target = m.to_board(pointer);
            self.view.pan = rect.size() * 0.5 - target.to_vec2() * self.view.zoom;
        }
    }

    pub(super) fn paint_minimap(
        &self,
        ui: &Ui,
        painter: &Painter,
        id: Id,
        mm: Rect,
        x: Xform,
        rect: Rect,
    ) {
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
}

pub(super) const MINIMAP_SIZE: Vec2 = vec2(200.0, 130.0);

pub(super) const MINIMAP_CELLS: (usize, usize) = (50, 32);

/// Node counts on a coarse grid over the board, drawn by the minimap.
pub(super) fn minimap_density(rects: &[Rect], bounds: Rect) -> Vec<u16> {
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
