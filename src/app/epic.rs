//! The Epic Scene panel (PRODUCT.md §4.6, as in the seed): six drop slots, a BETA notice that
//! generation takes 10–15 minutes, the cost, a Generate button enabled only when all six slots
//! are filled, then live progress with elapsed time; the result is an Epic Scene node on the
//! board (its six images wired in), so it is cached, has takes and can be re-run like any node.
//!
//! A slot takes an image node of the board ("Fill from selection", in board order) or an image
//! file dropped on it from the file manager (imported off the UI thread like any drop).

use aktion_graph::{Catalog, NodeId, PortType};
use eframe::egui;

use super::panel::PanelCtx;
use super::state::SceneImage;
use super::view::RunStatus;
use super::{AppCommand, jobs};

use super::previews::Load as Loader;

/// How many images an Epic Scene takes.
pub const SLOTS: usize = 6;

/// State of the panel.
#[derive(Default)]
pub struct EpicPanel {
    pub open: bool,
    pub slots: [Option<SceneImage>; SLOTS],
    pub prompt: String,
    /// The scene node made by the last Generate (its progress is shown here).
    pub node: Option<NodeId>,
    /// Where each slot was drawn last frame (files dropped there fill it).
    pub slot_rects: Vec<egui::Rect>,
}

impl EpicPanel {
    pub fn filled(&self) -> usize {
        self.slots.iter().filter(|s| s.is_some()).count()
    }

    /// The slot under `pointer`, if the panel is open and one is there.
    pub fn slot_at(&self, pointer: egui::Pos2) -> Option<usize> {
        if !self.open {
            return None;
        }
        self.slot_rects.iter().position(|r| r.contains(pointer))
    }
}

impl EpicPanel {
    /// Fills the empty slots, in order, with the selected nodes that give an image, top to
    /// bottom and left to right as they sit on the board.
    fn fill_from_selection(&mut self, cx: &mut PanelCtx<'_>) {
        let catalog = Catalog::builtin();
        let mut picked: Vec<(f32, f32, NodeId)> = cx
            .state
            .selection
            .iter()
            .filter_map(|id| cx.state.doc.node(*id))
            .filter(|n| {
                catalog
                    .get(&n.kind)
                    .is_some_and(|k| k.output == PortType::Image)
            })
            .map(|n| (n.pos[1], n.pos[0], n.id))
            .collect();
        picked.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
        let mut picked = picked.into_iter().map(|(_, _, id)| id);
        for slot in &mut self.slots {
            if slot.is_none() {
                match picked.next() {
                    Some(id) => *slot = Some(SceneImage::Node(id)),
                    None => break,
                }
            }
        }
        if self.filled() < SLOTS {
            cx.send(AppCommand::Notify(format!(
                "{} of {SLOTS} images; select more image nodes or drop files on the empty slots",
                self.filled()
            )));
        }
    }

    /// The panel's window, when open.
    pub fn ui(&mut self, ctx: &egui::Context, cx: &mut PanelCtx<'_>) {
        if !self.open {
            self.slot_rects.clear();
            return;
        }
        let catalog = Catalog::builtin();
        let Some(kind) = catalog.get("coherent_scene").cloned() else {
            return;
        };
        let mut open = true;
        let mut fill = false;
        let mut generate = false;
        let mut clear: Option<usize> = None;
        let mut rects = Vec::with_capacity(SLOTS);
        egui::Window::new("Epic Scene")
            .collapsible(false)
            .default_width(480.0)
            .open(&mut open)
            .show(ctx, |ui| {
                ui.colored_label(
                    egui::Color32::from_rgb(240, 190, 90),
                    "BETA: generation takes 10–15 minutes.",
                );
                ui.label(
                    egui::RichText::new(
                        "Six images of the same scene: characters, location, props. Drop files \
                         on the slots, or select image nodes and fill from the selection.",
                    )
                    .weak(),
                );
                egui::Grid::new("scene-slots")
                    .num_columns(3)
                    .spacing([8.0, 8.0])
                    .show(ui, |ui| {
                        for i in 0..SLOTS {
                            let (rect, emptied) = self.slot_ui(ui, cx, i);
                            rects.push(rect);
                            if emptied {
                                clear = Some(i);
                            }
                            if i % 3 == 2 {
                                ui.end_row();
                            }
                        }
                    });
                ui.horizontal(|ui| {
                    fill = ui
                        .add_enabled(
                            !cx.state.selection.is_empty() && self.filled() < SLOTS,
                            egui::Button::new("Fill from selection"),
                        )
                        .clicked();
                    ui.label(format!("{} of {SLOTS}", self.filled()));
                });
                let l = ui.label("Prompt (optional)").id;
                ui.add(
                    egui::TextEdit::multiline(&mut self.prompt)
                        .desired_rows(2)
                        .desired_width(f32::INFINITY),
                )
                .labelled_by(l);
                ui.horizontal(|ui| {
                    let ready = self.filled() == SLOTS;
                    generate = ui
                        .add_enabled(
                            ready,
                            egui::Button::new(format!("Generate · {} credits", kind.credits)),
                        )
                        .on_disabled_hover_text("fill all six slots first")
                        .clicked();
                    ui.label(egui::RichText::new(format!("route: {}", cx.route.as_str())).weak());
                });
                if let Some(node) = self.node {
                    ui.separator();
                    progress_ui(ui, cx, node, kind.typical_seconds);
                }
            });
        self.open = open;
        self.slot_rects = rects;
        if let Some(i) = clear {
            self.slots[i] = None;
        }
        if fill {
            self.fill_from_selection(cx);
        }
        if generate {
            cx.send(AppCommand::GenerateEpicScene);
        }
    }

    /// One slot: what fills it (or "drop an image"); a click on a filled slot empties it.
    /// Returns where it is and whether it was clicked empty.
    fn slot_ui(&self, ui: &mut egui::Ui, cx: &mut PanelCtx<'_>, i: usize) -> (egui::Rect, bool) {
        let label = self.slots[i].as_ref().map(|s| image_label(cx, s));
        let thumbnail = self.slots[i]
            .as_ref()
            .and_then(|s| thumbnail(ui.ctx(), cx, s));
        let (rect, _) = ui.allocate_exact_size(egui::vec2(140.0, 64.0), egui::Sense::hover());
        let filled = label.is_some();
        ui.painter().rect_filled(
            rect,
            6.0,
            if filled {
                egui::Color32::from_rgb(38, 52, 70)
            } else {
                egui::Color32::from_gray(40)
            },
        );
        ui.painter().rect_stroke(
            rect,
            6.0,
            egui::Stroke::new(1.0, egui::Color32::from_gray(if filled { 110 } else { 75 })),
            egui::StrokeKind::Inside,
        );
        if let Some(tex) = &thumbnail {
            let _ = super::media::paint_fit(ui, tex, rect.shrink(3.0));
            // A dark band under the name, so it reads over any picture.
            let band = egui::Rect::from_min_max(
                egui::pos2(rect.min.x + 3.0, rect.max.y - 20.0),
                rect.max - egui::vec2(3.0, 3.0),
            );
            ui.painter()
                .rect_filled(band, 3.0, egui::Color32::from_black_alpha(170));
        }
        // The name, over the picture's lower edge when there is one.
        let (at, align) = if thumbnail.is_some() {
            (
                rect.center_bottom() - egui::vec2(0.0, 4.0),
                egui::Align2::CENTER_BOTTOM,
            )
        } else {
            (rect.center(), egui::Align2::CENTER_CENTER)
        };
        ui.painter().text(
            at,
            align,
            label.as_deref().unwrap_or("drop an image"),
            egui::FontId::proportional(12.0),
            if filled {
                egui::Color32::from_gray(230)
            } else {
                egui::Color32::GRAY
            },
        );
        let slot = ui.interact(
            rect,
            ui.scope_id().with(("scene-slot", i)),
            egui::Sense::click(),
        );
        slot.widget_info(|| {
            egui::WidgetInfo::labeled(
                egui::Role::Button,
                true,
                format!("Slot {}: {}", i + 1, label.as_deref().unwrap_or("empty")),
            )
        });
        let emptied = filled && slot.on_hover_text("Click to empty this slot").clicked();
        (rect, emptied)
    }
}

/// The slot's picture: the file, the image node's file, or the node's active take; loaded
/// off the UI thread the first time (`None` until it is there, or for a node with nothing
/// to show yet).
fn thumbnail(
    egui: &egui::Context,
    cx: &mut PanelCtx<'_>,
    image: &SceneImage,
) -> Option<egui::TextureHandle> {
    let (key, source): (String, Loader) = match image {
        SceneImage::File(file) => {
            let path = file.asset.path(&cx.state.root);
            (
                file.asset.hash.clone(),
                Box::new(move || std::fs::read(path).ok()),
            )
        }
        SceneImage::Node(id) => {
            let node = cx.state.doc.node(*id)?;
            if let Some((asset, PortType::Image)) = super::inspector::node_asset(node) {
                let path = asset.path(&cx.state.root);
                (asset.hash, Box::new(move || std::fs::read(path).ok()))
            } else {
                let out = node.active_take()?.outputs.first()?;
                if !out.mime.starts_with("image/") || out.mime == "image/gif" {
                    return None;
                }
                let (cache, root, hash) =
                    (cx.cache.clone(), cx.state.root.clone(), out.hash.clone());
                (
                    out.hash.clone(),
                    Box::new(move || aktion_engine::kept::read_take(&cache, &root, &hash)),
                )
            }
        }
    };
    if let Some(tex) = cx.previews.get(&key) {
        return Some(tex.clone());
    }
    if cx.previews.want(&key, source) {
        // The next logic step starts the decode.
        egui.request_repaint();
    }
    None
}

fn image_label(cx: &PanelCtx<'_>, image: &SceneImage) -> String {
    match image {
        SceneImage::Node(id) => cx.state.doc.node(*id).map_or_else(
            || "(removed)".to_owned(),
            |n| n.display_title(Catalog::builtin()).to_owned(),
        ),
        SceneImage::File(file) => file.name.clone(),
    }
}

/// The generated scene's status: progress with elapsed time while it runs, then done.
fn progress_ui(ui: &mut egui::Ui, cx: &mut PanelCtx<'_>, node: NodeId, typical_seconds: u32) {
    let elapsed = cx
        .runs
        .started
        .get(&node)
        .map_or(0.0, |t| t.elapsed().as_secs_f32());
    match cx.runs.status.get(&node) {
        Some(RunStatus::Running { fraction, message }) => {
            let text = jobs::eta_text(elapsed, *fraction, typical_seconds);
            ui.add(
                egui::ProgressBar::new(fraction.unwrap_or(0.0)).text(format!("{message} · {text}")),
            );
        }
        Some(RunStatus::Done { .. }) => {
            ui.label("Done: the scene is on the board as an Epic Scene node.");
        }
        Some(RunStatus::Failed(e)) => {
            ui.colored_label(egui::Color32::from_rgb(240, 150, 110), e);
        }
        Some(RunStatus::Queued) => {
            ui.label("queued");
        }
        Some(RunStatus::Blocked(why)) => {
            ui.colored_label(egui::Color32::from_rgb(240, 150, 110), why);
        }
        Some(RunStatus::Cancelled) => {
            ui.label("cancelled");
        }
        None => {
            ui.label(egui::RichText::new("waiting to start…").weak());
        }
    }
    if ui.button("Show on board").clicked() {
        cx.send(AppCommand::ShowOnBoard(node));
    }
}
