//! The desktop window. For now a read-only view of a board (the full canvas is issue #3): it
//! opens the example storyboard on first launch so nobody meets an empty grey screen.

use std::path::PathBuf;

use aktion_graph::{Catalog, Document, PortType};
use eframe::egui;

use crate::cli::Failure;

// The canvas of issue #3 will emit these commands; until it lands, tests drive them.
#[expect(
    dead_code,
    reason = "commands are emitted by the canvas widget of issue #3"
)]
pub mod state;

/// The example opened when no project is given.
fn example_project() -> PathBuf {
    let beside_exe = std::env::current_exe().ok().and_then(|p| {
        p.parent()
            .map(|d| d.join("assets/examples/storyboard.aktion"))
    });
    beside_exe.filter(|p| p.is_dir()).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets/examples/storyboard.aktion")
    })
}

pub fn run(project: Option<PathBuf>) -> Result<u8, Failure> {
    let path = project.unwrap_or_else(example_project);
    let (doc, message) = match aktion_graph::project::load(&path, Catalog::builtin()) {
        Ok((_, doc)) => (doc, None),
        Err(e) => (Document::default(), Some(format!("{e:#}"))),
    };
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("Aktion Studio")
            .with_inner_size([1280.0, 800.0]),
        ..Default::default()
    };
    eframe::run_native(
        "Aktion Studio",
        options,
        Box::new(move |_cc| {
            Ok(Box::new(BoardView {
                doc,
                message,
                pan: egui::Vec2::new(40.0, 60.0),
                zoom: 0.7,
            }))
        }),
    )
    .map_err(|e| Failure {
        code: 1,
        message: format!("cannot open a window: {e}"),
    })?;
    Ok(0)
}

struct BoardView {
    doc: Document,
    message: Option<String>,
    pan: egui::Vec2,
    zoom: f32,
}

const NODE_SIZE: egui::Vec2 = egui::Vec2::new(240.0, 150.0);

fn port_color(t: PortType) -> egui::Color32 {
    match t {
        PortType::Image | PortType::ImageList => egui::Color32::from_rgb(90, 170, 255),
        PortType::Video => egui::Color32::from_rgb(240, 120, 90),
        PortType::Audio => egui::Color32::from_rgb(120, 220, 140),
        PortType::Text => egui::Color32::from_rgb(230, 200, 90),
    }
}

impl eframe::App for BoardView {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        egui::Panel::top("top").show(ui, |ui| {
            ui.horizontal(|ui| {
                ui.heading("Aktion Studio");
                ui.label(&self.doc.name);
                if let Some(m) = &self.message {
                    ui.colored_label(egui::Color32::LIGHT_RED, m);
                }
            });
        });
        egui::CentralPanel::default().show(ui, |ui| self.board_ui(ui));
    }
}

impl BoardView {
    fn board_ui(&mut self, ui: &mut egui::Ui) {
        let (rect, response) = ui.allocate_exact_size(ui.available_size(), egui::Sense::drag());
        if response.dragged() {
            self.pan += response.drag_delta();
        }
        let scroll = ui.input(|i| i.smooth_scroll_delta.y);
        if response.hovered() && scroll != 0.0 {
            self.zoom = (self.zoom * (1.0 + scroll * 0.002)).clamp(0.1, 3.0);
        }
        let painter = ui.painter_at(rect);
        painter.rect_filled(rect, 0.0, egui::Color32::from_rgb(24, 26, 32));
        let catalog = Catalog::builtin();
        let to_screen = |p: [f32; 2]| rect.min + self.pan + egui::Vec2::new(p[0], p[1]) * self.zoom;
        for w in &self.doc.wires {
            let (Some(from), Some(to)) = (self.doc.node(w.from), self.doc.node(w.to)) else {
                continue;
            };
            let a = to_screen([from.pos[0] + NODE_SIZE.x, from.pos[1] + 40.0]);
            let b = to_screen([to.pos[0], to.pos[1] + 40.0]);
            let color = self
                .doc
                .output_type(catalog, w.from)
                .map_or(egui::Color32::GRAY, port_color);
            let d = egui::Vec2::new(((b.x - a.x).abs() * 0.5).max(30.0), 0.0);
            let curve = egui::epaint::CubicBezierShape::from_points_stroke(
                [a, a + d, b - d, b],
                false,
                egui::Color32::TRANSPARENT,
                egui::Stroke::new(2.0, color),
            );
            painter.add(curve);
        }
        for node in self.doc.nodes.values() {
            let r = egui::Rect::from_min_size(to_screen(node.pos), NODE_SIZE * self.zoom);
            painter.rect_filled(r, 6.0, egui::Color32::from_rgb(44, 48, 58));
            let header =
                egui::Rect::from_min_size(r.min, egui::Vec2::new(r.width(), 28.0 * self.zoom));
            painter.rect_filled(header, 6.0, egui::Color32::from_rgb(62, 70, 92));
            painter.text(
                header.left_center() + egui::Vec2::new(8.0, 0.0),
                egui::Align2::LEFT_CENTER,
                node.display_title(catalog),
                egui::FontId::proportional(14.0 * self.zoom),
                egui::Color32::WHITE,
            );
            if let Some(kind) = catalog.get(&node.kind) {
                painter.text(
                    r.left_bottom() + egui::Vec2::new(8.0, -8.0),
                    egui::Align2::LEFT_BOTTOM,
                    format!("{} · {} credits", kind.title, kind.credits),
                    egui::FontId::proportional(11.0 * self.zoom),
                    egui::Color32::from_gray(170),
                );
            }
        }
    }
}
