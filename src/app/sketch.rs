//! The sketch pad: draw a Sketch node's strokes with pen or eraser, sizes, black or white.
//! Strokes are vectors in sketch-canvas pixels; every finished stroke, undone stroke or clear
//! comes back as the node's new stroke list (one undo step each), so it is all offline and the
//! board's undo covers the sketch too.

use aktion_graph::sketch::{Stroke, StrokeTool};
use eframe::egui;

/// State of an open pad.
pub struct SketchPad {
    pub node: aktion_graph::NodeId,
    pub tool: StrokeTool,
    pub width: f32,
    pub color: [u8; 4],
    current: Vec<[f32; 3]>,
}

impl SketchPad {
    pub fn new(node: aktion_graph::NodeId) -> Self {
        Self {
            node,
            tool: StrokeTool::Pen,
            width: 6.0,
            color: [0, 0, 0, 255],
            current: Vec::new(),
        }
    }

    /// Draws the pad; returns the new stroke list when the user changed it.
    pub fn ui(
        &mut self,
        ui: &mut egui::Ui,
        strokes: &[Stroke],
        size: (u32, u32),
    ) -> Option<Vec<Stroke>> {
        let mut changed = None;
        ui.horizontal(|ui| {
            ui.selectable_value(&mut self.tool, StrokeTool::Pen, "Pen");
            ui.selectable_value(&mut self.tool, StrokeTool::Eraser, "Eraser");
            ui.separator();
            ui.selectable_value(&mut self.color, [0, 0, 0, 255], "Black");
            ui.selectable_value(&mut self.color, [255, 255, 255, 255], "White");
            ui.separator();
            let label = ui.label("Size").id;
            ui.add(egui::Slider::new(&mut self.width, 1.0..=64.0))
                .labelled_by(label);
            ui.separator();
            if ui
                .add_enabled(!strokes.is_empty(), egui::Button::new("Undo stroke"))
                .clicked()
            {
                changed = Some(strokes[..strokes.len() - 1].to_vec());
            }
            if ui
                .add_enabled(!strokes.is_empty(), egui::Button::new("Clear"))
                .clicked()
            {
                changed = Some(Vec::new());
            }
        });

        // Fit the sketch canvas into the space, keeping its aspect.
        let (w, h) = (size.0.max(1) as f32, size.1.max(1) as f32);
        let avail = ui
            .available_size()
            .min(egui::vec2(900.0, 640.0))
            .max(egui::vec2(160.0, 120.0));
        let scale = (avail.x / w).min(avail.y / h);
        let (rect, response) =
            ui.allocate_exact_size(egui::vec2(w * scale, h * scale), egui::Sense::drag());
        response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Canvas, true, "Sketch pad"));
        let to_canvas = |p: egui::Pos2| {
            let v = (p - rect.min) / scale;
            [v.x.clamp(0.0, w), v.y.clamp(0.0, h)]
        };
        let pressure = ui.input(|i| {
            i.events.iter().rev().find_map(|e| match e {
                egui::Event::Touch { force: Some(f), .. } => Some(f.clamp(0.05, 1.0)),
                _ => None,
            })
        });
        if response.dragged()
            && let Some(p) = response.interact_pointer_pos()
        {
            let [x, y] = to_canvas(p);
            let point = [x, y, pressure.unwrap_or(1.0)];
            if self.current.last() != Some(&point) {
                self.current.push(point);
            }
        }
        if response.drag_stopped() && !self.current.is_empty() {
            let mut next = strokes.to_vec();
            next.push(Stroke {
                tool: self.tool,
                color: self.color,
                width: self.width,
                points: std::mem::take(&mut self.current),
            });
            changed = Some(next);
        }

        let painter = ui.painter_at(rect);
        painter.rect_filled(rect, 2.0, egui::Color32::WHITE);
        let live = (!self.current.is_empty()).then(|| Stroke {
            tool: self.tool,
            color: self.color,
            width: self.width,
            points: self.current.clone(),
        });
        for s in strokes.iter().chain(live.as_ref()) {
            let color = match s.tool {
                StrokeTool::Eraser => egui::Color32::WHITE,
                StrokeTool::Pen => egui::Color32::from_rgba_unmultiplied(
                    s.color[0], s.color[1], s.color[2], s.color[3],
                ),
            };
            for seg in s.points.windows(2) {
                let a = rect.min + egui::vec2(seg[0][0], seg[0][1]) * scale;
                let b = rect.min + egui::vec2(seg[1][0], seg[1][1]) * scale;
                let width = (s.width * seg[1][2].clamp(0.1, 1.0) * scale).max(0.5);
                painter.line_segment([a, b], egui::Stroke::new(width, color));
            }
            if let [only] = s.points.as_slice() {
                let c = rect.min + egui::vec2(only[0], only[1]) * scale;
                painter.circle_filled(c, (s.width * scale / 2.0).max(0.5), color);
            }
        }
        changed
    }
}
