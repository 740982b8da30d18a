//! Painting: frames, wires, nodes at each level of detail, overlays and the wire being connected.

use egui::epaint::{CubicBezierShape, Mesh};
use egui::{
    Align2, Color32, CornerRadius, FontId, Id, Painter, Pos2, Rect, Role, Sense, Shape, Stroke,
    StrokeKind, Ui, UiBuilder, Vec2, WidgetInfo, pos2, vec2,
};

use crate::geometry::{
    HEADER_HEIGHT, Lod, PIN_RADIUS, PIN_ROW, Xform, pin_pos, wire_bounds, wire_control_points,
    zoom_bucket,
};
use crate::model::{Board, CanvasDelegate, NodeView, PinId, PinSide};

use super::drag::{frame_handle, frame_title};
use super::{
    ACCEPT, BACKGROUND, BYPASS_TINT, Canvas, Drag, FrameStats, GRID_COLOR, HitIdx, NODE_BODY,
    NODE_BORDER, REFUSE, SELECTED, TEXT, TEXT_DIM,
};

impl Canvas {
    /// Frames (backdrops) under the nodes: fill, title, resize grip; a frame being moved or
    /// resized is drawn where the drag has it.
    pub(super) fn paint_frames(
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

    pub(super) fn paint(
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

    pub(super) fn node_rect(&self, i: u32, node: &NodeView, delta: Vec2) -> Rect {
        if self.moving.get(i as usize).copied().unwrap_or(false) {
            node.rect.translate(delta)
        } else {
            node.rect
        }
    }

    /// Returns (wires drawn, wires flattened this frame).
    pub(super) fn paint_wires(
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
        if lod == Lod::Cards {
            // Reserved up front: growing a mesh of 20,000 quads by doubling cost more than
            // drawing it (copies and page faults; measured with `perf` on the canvas bench).
            // Pages never written are never touched.
            mesh.reserve_vertices(board.wires.len() * 4);
            mesh.reserve_triangles(board.wires.len() * 2);
        }
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

    pub(super) fn paint_cards(
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

    pub(super) fn paint_overlays(
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
    pub(super) fn paint_connect(
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
}

pub(super) fn pin_color(node: &NodeView, pin: PinId) -> Option<Color32> {
    let pins = match pin.side {
        PinSide::Input => &node.inputs,
        PinSide::Output => &node.outputs,
    };
    pins.get(pin.index as usize).map(|p| p.color)
}

pub(super) fn flatten(a: Pos2, b: Pos2, tolerance: f32) -> Vec<Pos2> {
    CubicBezierShape::from_points_stroke(
        wire_control_points(a, b),
        false,
        Color32::TRANSPARENT,
        Stroke::NONE,
    )
    .flatten(Some(tolerance))
}

/// Font size quantised to half points so zooming reuses laid-out text.
pub(super) fn font_px(base: f32, zoom: f32) -> f32 {
    ((base * zoom * 2.0).round() / 2.0).max(1.0)
}

pub(super) fn body_rect(node: &NodeView, screen: Rect, zoom: f32) -> Rect {
    let rows = node.inputs.len().max(node.outputs.len()) as f32;
    let top = screen.min.y + (HEADER_HEIGHT + PIN_ROW * rows + 8.0) * zoom;
    let lines = node.body.len() as f32 * 16.0 * zoom;
    Rect::from_min_max(
        pos2(screen.min.x + 6.0 * zoom, top + lines),
        pos2(screen.max.x - 6.0 * zoom, screen.max.y - 6.0 * zoom),
    )
}

pub(super) fn paint_node_full(
    painter: &Painter,
    x: Xform,
    node: &NodeView,
    board_rect: Rect,
    selected: bool,
) {
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

pub(super) fn paint_grid(painter: &Painter, x: Xform, rect: Rect, grid: f32) {
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

pub(super) fn add_line_quad(mesh: &mut Mesh, a: Pos2, b: Pos2, width: f32, color: Color32) {
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
