//! The inspector: the selected node's preview, parameters, takes and their metadata, and its
//! actions (export, reveal, copy, run, retry). A panel: it keeps which node it showed and which
//! take is compared; everything else is read from the [`PanelCtx`] and asked for by command.
//! Previews decode on worker threads.

use aktion_graph::{Catalog, NodeId, ParamKind, Route};
use eframe::egui;

use super::panel::PanelCtx;
use super::state::Command;
use super::view::RunStatus;
use super::{AppCommand, account};

/// The inspector's own state.
#[derive(Default)]
pub struct Inspector {
    /// The node shown last frame.
    inspected: Option<NodeId>,
    /// A take shown beside the active one: (node, take).
    compare: Option<(NodeId, aktion_graph::TakeId)>,
    /// The crop being dragged on an Image node's preview.
    crop_drag: Option<(NodeId, [f32; 4])>,
}

impl Inspector {
    /// The crop rectangle of the image node being dragged on its preview (applied on release, as
    /// one undo step).
    pub fn crop_drag(&self) -> Option<(NodeId, [f32; 4])> {
        self.crop_drag
    }

    /// The Image node's crop as a rectangle on its preview: drag inside to move it, its
    /// bottom-right corner to resize it; released, it is one edit.
    fn crop_ui(
        &mut self,
        ui: &mut egui::Ui,
        cx: &mut PanelCtx<'_>,
        node: &aktion_graph::Node,
        shown: egui::Rect,
    ) {
        let saved = crop_of(node);
        let crop = match self.crop_drag {
            Some((n, c)) if n == node.id => c,
            _ => saved.unwrap_or([0.0, 0.0, 1.0, 1.0]),
        };
        let to_screen = |c: Crop| {
            egui::Rect::from_min_size(
                shown.min + egui::vec2(c[0] * shown.width(), c[1] * shown.height()),
                egui::vec2(c[2] * shown.width(), c[3] * shown.height()),
            )
        };
        let rect = to_screen(crop);
        // Inside the crop's corner, so it stays clear of the panel's scroll bar at any crop.
        let handle = egui::Rect::from_min_max(rect.max - egui::vec2(14.0, 14.0), rect.max);
        let id = ui.scope_id().with(("crop", node.id));
        let body = ui.interact(rect, id.with("move"), egui::Sense::drag());
        body.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Button, true, "Crop area"));
        let corner = ui.interact(handle, id.with("resize"), egui::Sense::drag());
        corner.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Button, true, "Crop corner"));
        let scale = egui::vec2(1.0 / shown.width().max(1.0), 1.0 / shown.height().max(1.0));
        // From where the drag began, not frame by frame: a frame drawn twice cannot move it twice.
        let start = saved.unwrap_or([0.0, 0.0, 1.0, 1.0]);
        let origin = ui.input(|i| i.pointer.press_origin());
        for (response, resize) in [(&corner, true), (&body, false)] {
            if response.dragged()
                && let (Some(origin), Some(now)) = (origin, response.interact_pointer_pos())
            {
                let total = (now - origin) * scale;
                self.crop_drag = Some((node.id, dragged_crop(start, total, resize)));
                break;
            }
        }
        if (body.drag_stopped() || corner.drag_stopped())
            && let Some((n, [x, y, w, h])) = self.crop_drag.take()
            && n == node.id
        {
            cx.edit(Command::SetParam {
                node: node.id,
                key: "crop".into(),
                value: serde_json::json!({ "x": x, "y": y, "w": w, "h": h }),
            });
        }
        // Outside the crop is dimmed; the crop is outlined with its corner handle.
        let painter = ui.painter_at(shown);
        let dim = egui::Color32::from_black_alpha(150);
        let r = to_screen(self.crop_drag.map_or(crop, |(_, c)| c));
        for band in [
            egui::Rect::from_min_max(shown.min, egui::pos2(shown.max.x, r.min.y)),
            egui::Rect::from_min_max(egui::pos2(shown.min.x, r.max.y), shown.max),
            egui::Rect::from_min_max(
                egui::pos2(shown.min.x, r.min.y),
                egui::pos2(r.min.x, r.max.y),
            ),
            egui::Rect::from_min_max(
                egui::pos2(r.max.x, r.min.y),
                egui::pos2(shown.max.x, r.max.y),
            ),
        ] {
            painter.rect_filled(band, 0.0, dim);
        }
        painter.rect_stroke(
            r,
            0.0,
            egui::Stroke::new(1.5, egui::Color32::from_rgb(255, 170, 40)),
            egui::StrokeKind::Inside,
        );
        painter.rect_filled(
            egui::Rect::from_min_max(r.max - egui::vec2(10.0, 10.0), r.max),
            2.0,
            egui::Color32::from_rgb(255, 170, 40),
        );
        if saved.is_some() && ui.small_button("Reset crop").clicked() {
            cx.edit(Command::SetParam {
                node: node.id,
                key: "crop".into(),
                value: serde_json::Value::Null,
            });
        }
    }

    /// The take shown beside the active one, if any: (node, take).
    pub fn comparing(&self) -> Option<(NodeId, aktion_graph::TakeId)> {
        self.compare
    }

    /// Forgets what was shown (another project was opened).
    pub fn clear(&mut self) {
        *self = Self::default();
    }

    #[expect(
        clippy::too_many_lines,
        reason = "the inspector reads top to bottom like the panel"
    )]
    pub fn ui(&mut self, ui: &mut egui::Ui, cx: &mut PanelCtx<'_>) {
        let sel: Vec<NodeId> = cx.state.selection.iter().copied().collect();
        let shown = match sel.as_slice() {
            [id] => Some(*id),
            _ => None,
        };
        if shown != self.inspected {
            // Another node: its text boxes are other widgets. Drop the old keyboard focus so
            // it neither types into the new node nor scrolls the panel to an old cursor.
            self.inspected = shown;
            ui.memory_mut(egui::Memory::stop_text_input);
            cx.edit(Command::Seal);
        }
        let [id] = sel.as_slice() else {
            ui.label(if sel.is_empty() {
                "Select a node to see its parameters."
            } else {
                "Several nodes selected."
            });
            return;
        };
        let id = *id;
        let Some(node) = cx.state.doc.node(id).cloned() else {
            return;
        };
        let catalog = Catalog::builtin();
        let Some(kind) = catalog.get(&node.kind) else {
            return;
        };
        ui.heading(node.display_title(catalog));
        ui.label(
            egui::RichText::new(format!(
                "{} · {} credits · ~{} s",
                kind.title, kind.credits, kind.typical_seconds
            ))
            .weak(),
        );
        if kind.beta {
            ui.colored_label(
                egui::Color32::from_rgb(240, 190, 90),
                "BETA: takes 10–15 minutes",
            );
        }
        let asset = node_asset(&node);
        match asset.clone() {
            Some((asset, aktion_graph::PortType::Image)) => {
                if let Some(shown) = asset_preview_ui(ui, cx, &asset)
                    && kind.param("crop").is_some()
                {
                    self.crop_ui(ui, cx, &node, shown);
                }
            }
            Some((asset, _)) => {
                let path = asset.path(&cx.state.root);
                let width = ui.available_width().min(320.0);
                cx.media
                    .ui(ui, &asset.hash, width, move || std::fs::read(path).ok());
            }
            None => {}
        }
        // An input node's take is its file: shown once, above (unless two takes are compared).
        let same_as_file = asset.as_ref().is_some_and(|(asset, _)| {
            node.active_take()
                .and_then(|t| t.outputs.first())
                .is_some_and(|out| out.hash == asset.hash)
        });
        if !same_as_file || self.compare.is_some_and(|(n, _)| n == id) {
            self.preview_ui(ui, cx, &node);
        }
        if node.kind == "sketch" && ui.button("Open sketch pad").clicked() {
            cx.send(AppCommand::OpenSketchPad(id));
        }
        if matches!(node.kind.as_str(), "image" | "audio" | "video")
            && ui
                .button("Choose file…")
                .on_hover_text("or drop a file on the node")
                .clicked()
        {
            cx.send(AppCommand::PickFile(id));
        }
        let mut title = node.title.clone();
        if ui
            .add(egui::TextEdit::singleline(&mut title).hint_text(kind.title.as_str()))
            .changed()
        {
            cx.edit(Command::SetTitle { node: id, title });
        }
        ui.separator();
        for p in &kind.params {
            let value = node
                .params
                .get(&p.id)
                .cloned()
                .unwrap_or_else(|| p.default_value());
            if let Some(new) = param_editor_ui(ui, p, &value) {
                cx.edit(Command::SetParam {
                    node: id,
                    key: p.id.clone(),
                    value: new,
                });
            }
            if p.kind == ParamKind::Seed {
                let mut pinned = node.seed_pinned;
                if ui.checkbox(&mut pinned, "Pin seed").changed() {
                    cx.edit(Command::PinSeed { node: id, pinned });
                }
            }
        }
        // Typing merges into one undo step until the text box loses the keyboard, and a drag
        // (a slider, a trim in the strip) until the pointer is let go.
        if !ui.ctx().text_edit_focused() && !ui.input(|i| i.pointer.any_down()) {
            cx.edit(Command::Seal);
        }
        if kind.is_generating() {
            let mut route = node.route;
            egui::ComboBox::from_label("Route")
                .selected_text(route.map_or("board default", Route::as_str))
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut route, None, "board default");
                    for r in Route::ALL {
                        ui.selectable_value(&mut route, Some(r), r.as_str());
                    }
                });
            if route != node.route {
                cx.edit(Command::SetRoute { node: id, route });
            }
        }
        if !node.takes.is_empty() {
            ui.separator();
            ui.label(egui::RichText::new("Takes").strong());
            for (i, t) in node.takes.iter().enumerate() {
                // Wrapped, so a long row never widens the panel (which would move every
                // button under the pointer between two frames).
                ui.horizontal_wrapped(|ui| {
                    let active = node.active_take == Some(t.id);
                    let label = format!(
                        "#{} {} seed {}{}{}",
                        i + 1,
                        t.meta.provider,
                        t.meta
                            .params
                            .get("seed")
                            .and_then(serde_json::Value::as_u64)
                            .unwrap_or(0),
                        if t.meta.draft { " · draft" } else { "" },
                        if cx.missing_takes.contains(&t.id) {
                            " · missing — re-run"
                        } else {
                            ""
                        }
                    );
                    if ui.selectable_label(active, label).clicked() && !active {
                        cx.edit(Command::PickTake {
                            node: id,
                            take: t.id,
                        });
                    }
                    if !active
                        && ui
                            .small_button(format!("Compare #{}", i + 1))
                            .on_hover_text("Show beside the active take")
                            .clicked()
                    {
                        self.compare = Some((id, t.id));
                    }
                    if ui
                        .small_button("Delete")
                        .on_hover_text("Delete take")
                        .clicked()
                    {
                        cx.edit(Command::DeleteTake {
                            node: id,
                            take: t.id,
                        });
                    }
                });
            }
        }
        if let Some(take) = node.active_take() {
            take_details(ui, take, Catalog::builtin().get(&node.kind));
        }
        ui.separator();
        ui.horizontal_wrapped(|ui| {
            if ui
                .add_enabled(
                    node.active_take().is_some(),
                    egui::Button::new("Export take…"),
                )
                .clicked()
            {
                cx.send(AppCommand::ShowExport {
                    nodes: vec![id],
                    all: false,
                });
            }
            if ui
                .add_enabled(node.takes.len() > 1, egui::Button::new("Export all takes…"))
                .clicked()
            {
                cx.send(AppCommand::ShowExport {
                    nodes: vec![id],
                    all: true,
                });
            }
        });
        if let Some(take) = node.active_take().filter(|t| !t.meta.draft) {
            let current = take.meta.rating;
            ui.horizontal(|ui| {
                ui.label("Rate this take");
                for n in 1..=5u8 {
                    let stars = format!("{n}/5");
                    if ui
                        .selectable_label(current == Some(n), stars)
                        .on_hover_text(if take.meta.generation.is_some() {
                            "Kept in the project and sent to your account"
                        } else {
                            "Kept in the project"
                        })
                        .clicked()
                    {
                        cx.send(AppCommand::RateTake {
                            node: id,
                            take: take.id,
                            rating: n,
                        });
                    }
                }
            });
        }
        if let Some(out) = node.active_take().and_then(|t| t.outputs.first()).cloned() {
            ui.horizontal_wrapped(|ui| {
                if ui.button("Reveal in folder").clicked() {
                    cx.send(AppCommand::RevealTake(out.hash.clone()));
                }
                if ui
                    .add_enabled(
                        out.mime.starts_with("image/"),
                        egui::Button::new("Copy image"),
                    )
                    .clicked()
                {
                    cx.send(AppCommand::CopyImage(out.hash.clone()));
                }
            });
        }
        ui.horizontal_wrapped(|ui| {
            let failed = match cx.runs.status.get(&id) {
                Some(RunStatus::Failed(m)) => Some(m.clone()),
                _ => None,
            };
            // A failed node offers Retry (a fresh attempt: the account route never replays
            // the failed generation) next to its message.
            let label = if failed.is_some() {
                "Retry"
            } else {
                "Run node"
            };
            if ui.button(label).clicked() {
                cx.send(if failed.is_some() {
                    AppCommand::Retry(id)
                } else {
                    AppCommand::Run(vec![id])
                });
            }
            if let Some(m) = failed {
                if ui
                    .button("Report a problem…")
                    .on_hover_text("Shows exactly what would be sent before sending it")
                    .clicked()
                {
                    cx.send(AppCommand::ReportProblem(id));
                }
                ui.colored_label(egui::Color32::LIGHT_RED, m);
            }
        });
    }

    fn preview_ui(&mut self, ui: &mut egui::Ui, cx: &mut PanelCtx<'_>, node: &aktion_graph::Node) {
        let Some(take) = node.active_take() else {
            return;
        };
        let compared = self
            .compare
            .filter(|(n, t)| *n == node.id && *t != take.id)
            .and_then(|(_, t)| node.takes.iter().find(|x| x.id == t));
        match compared {
            None => {
                let w = ui.available_width().min(320.0);
                take_image_ui(ui, cx, take, w);
            }
            Some(other) => {
                let w = (ui.available_width() / 2.0 - 6.0).min(240.0);
                ui.horizontal(|ui| {
                    ui.vertical(|ui| {
                        ui.label(take_label(node, take));
                        take_image_ui(ui, cx, take, w);
                    });
                    ui.vertical(|ui| {
                        ui.label(take_label(node, other));
                        take_image_ui(ui, cx, other, w);
                    });
                });
                if ui.button("Stop comparing").clicked() {
                    self.compare = None;
                }
            }
        }
    }
}

/// A take's picture, decoded and scaled off the UI thread. It always takes the same box
/// (4:3 of `width`), loaded or not, so the panel never jumps when a preview arrives.
fn take_image_ui(ui: &mut egui::Ui, cx: &mut PanelCtx<'_>, take: &aktion_graph::Take, width: f32) {
    let Some(out) = take.outputs.first() else {
        return;
    };
    let (cache, root) = (cx.cache.clone(), cx.state.root.clone());
    if out.mime == "image/gif" || out.mime.starts_with("video/") || out.mime.starts_with("audio/") {
        // Clips play (GIF) or show their first frame (MP4, with ffmpeg); sounds show their
        // waveform.
        let hash = out.hash.clone();
        cx.media.ui(ui, &out.hash, width, move || {
            aktion_engine::kept::read_take(&cache, &root, &hash)
        });
        return;
    }
    if !out.mime.starts_with("image/") {
        ui.label(egui::RichText::new(format!("{} ({})", out.name, out.mime)).weak());
        return;
    }
    let hash = out.hash.clone();
    cx.previews.box_ui(
        ui,
        &out.hash,
        width,
        Box::new(move || aktion_engine::kept::read_take(&cache, &root, &hash)),
    );
}

/// The picture of an imported image (an image node's file), from the project's assets.
fn asset_preview_ui(
    ui: &mut egui::Ui,
    cx: &mut PanelCtx<'_>,
    asset: &aktion_graph::project::AssetRef,
) -> Option<egui::Rect> {
    let path = asset.path(&cx.state.root);
    // Clear of the panel's scroll bar, so the crop's corner can be grabbed at the right edge.
    let width = (ui.available_width() - 16.0).min(320.0);
    cx.previews.box_ui(
        ui,
        &asset.hash,
        width,
        Box::new(move || std::fs::read(path).ok()),
    )
}

/// A crop as fractions of the picture: x, y, width, height.
type Crop = [f32; 4];

/// The smallest crop side, as a fraction of the picture.
const CROP_MIN: f32 = 0.05;

fn crop_of(node: &aktion_graph::Node) -> Option<Crop> {
    let v = node.param("crop")?;
    let get = |k: &str| {
        v.get(k)
            .and_then(serde_json::Value::as_f64)
            .map(|f| f as f32)
    };
    Some([get("x")?, get("y")?, get("w")?, get("h")?])
}

/// `crop` moved by `delta` (fractions), or resized from its bottom-right corner, kept inside
/// the picture and no smaller than [`CROP_MIN`].
fn dragged_crop(crop: Crop, delta: egui::Vec2, resize: bool) -> Crop {
    let [x, y, w, h] = crop;
    if resize {
        [
            x,
            y,
            (w + delta.x).clamp(CROP_MIN, 1.0 - x),
            (h + delta.y).clamp(CROP_MIN, 1.0 - y),
        ]
    } else {
        [
            (x + delta.x).clamp(0.0, 1.0 - w),
            (y + delta.y).clamp(0.0, 1.0 - h),
            w,
            h,
        ]
    }
}

pub(super) fn take_label(node: &aktion_graph::Node, take: &aktion_graph::Take) -> String {
    let n = node
        .takes
        .iter()
        .position(|t| t.id == take.id)
        .map_or(0, |i| i + 1);
    let active = if node.active_take == Some(take.id) {
        " (active)"
    } else {
        ""
    };
    format!("Take #{n}{active}")
}

/// An editor generated from a parameter's schema. Returns the new value when it changed.
pub(super) fn param_editor_ui(
    ui: &mut egui::Ui,
    p: &aktion_graph::ParamSchema,
    value: &serde_json::Value,
) -> Option<serde_json::Value> {
    let label = ui.label(&p.label).id;
    param_value_ui(ui, p, value, label)
}

pub(super) fn param_value_ui(
    ui: &mut egui::Ui,
    p: &aktion_graph::ParamSchema,
    value: &serde_json::Value,
    label: egui::Id,
) -> Option<serde_json::Value> {
    use serde_json::Value;
    match &p.kind {
        ParamKind::Text { multiline, .. } => {
            let mut s = value.as_str().unwrap_or("").to_owned();
            let edit = if *multiline {
                egui::TextEdit::multiline(&mut s).desired_rows(3)
            } else {
                egui::TextEdit::singleline(&mut s)
            };
            ui.add(edit.desired_width(f32::INFINITY))
                .labelled_by(label)
                .changed()
                .then_some(Value::String(s))
        }
        ParamKind::Int { min, max, .. } => {
            let mut v = value.as_i64().unwrap_or(*min);
            ui.add(egui::DragValue::new(&mut v).range(*min..=*max))
                .labelled_by(label)
                .changed()
                .then(|| Value::from(v))
        }
        ParamKind::Float { min, max, .. } => {
            let mut v = value.as_f64().unwrap_or(*min);
            ui.add(egui::Slider::new(&mut v, *min..=*max))
                .labelled_by(label)
                .changed()
                .then(|| Value::from(v))
        }
        ParamKind::Choice { options, .. } => {
            let mut current = value.as_str().unwrap_or("").to_owned();
            let before = current.clone();
            egui::ComboBox::from_id_salt(&p.id)
                .selected_text(&current)
                .show_ui(ui, |ui| {
                    for o in options {
                        ui.selectable_value(&mut current, o.clone(), o);
                    }
                })
                .response
                .labelled_by(label);
            (current != before).then_some(Value::String(current))
        }
        ParamKind::Bool { .. } => {
            let mut b = value.as_bool().unwrap_or(false);
            ui.checkbox(&mut b, "")
                .labelled_by(label)
                .changed()
                .then_some(Value::Bool(b))
        }
        ParamKind::Seed => {
            let mut v = value.as_u64().unwrap_or(0);
            let mut out = None;
            ui.horizontal(|ui| {
                if ui
                    .add(egui::DragValue::new(&mut v))
                    .labelled_by(label)
                    .changed()
                {
                    out = Some(Value::from(v));
                }
                if ui
                    .button("New seed")
                    .on_hover_text("New random seed")
                    .clicked()
                {
                    out = Some(Value::from(aktion_graph::document::random_seed()));
                }
            });
            out
        }
        ParamKind::Asset { .. } => {
            let name = value
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("no file: drop one on the node");
            ui.label(egui::RichText::new(name).weak());
            None
        }
        ParamKind::Strokes => {
            let n = value.as_array().map_or(0, Vec::len);
            ui.label(egui::RichText::new(format!("{n} strokes")).weak());
            None
        }
        ParamKind::Crop => None,
    }
}

/// The imported file of a node (an image, video or audio node's `asset` parameter) and what
/// it holds, if it has one.
pub(super) fn node_asset(
    node: &aktion_graph::Node,
) -> Option<(aktion_graph::project::AssetRef, aktion_graph::PortType)> {
    let kind = Catalog::builtin().get(&node.kind)?;
    kind.params.iter().find_map(|p| match p.kind {
        ParamKind::Asset { accept } => node
            .params
            .get(&p.id)
            .and_then(aktion_graph::project::AssetRef::from_value)
            .map(|a| (a, accept)),
        _ => None,
    })
}

/// The active take's metadata (PRODUCT.md §4.2): provider, model, seed, route, how long it took,
/// the credits charged, when, and parameters the model did not take.
pub(super) fn take_details(
    ui: &mut egui::Ui,
    take: &aktion_graph::Take,
    kind: Option<&aktion_graph::KindSchema>,
) {
    let seed = take
        .meta
        .params
        .get("seed")
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0);
    let mut lines = vec![format!(
        "{}{} · {} route{}",
        if take.meta.provider.is_empty() {
            "local"
        } else {
            &take.meta.provider
        },
        if take.meta.model.is_empty() {
            String::new()
        } else if take.meta.model.len() > 24
            && take.meta.model.chars().all(|c| c.is_ascii_hexdigit())
        {
            // A pinned version hash: its start tells versions apart.
            format!(" · version {}…", &take.meta.model[..12])
        } else {
            format!(" · {}", take.meta.model)
        },
        take.meta.route.as_str(),
        if take.meta.draft {
            " · draft preview"
        } else {
            ""
        }
    )];
    let mut facts = vec![format!("seed {seed}")];
    if take.meta.duration_ms > 0 {
        facts.push(format!("{:.1} s", take.meta.duration_ms as f64 / 1000.0));
    }
    facts.push(format!("{} credits", take.meta.credits));
    if take.created > 0 {
        facts.push(account::date_time(
            i64::try_from(take.created).unwrap_or(i64::MAX),
        ));
    }
    lines.push(facts.join(" · "));
    for line in lines {
        ui.label(egui::RichText::new(line).weak().small());
    }
    if !take.meta.unused.is_empty() {
        let label = |id: &String| {
            kind.and_then(|k| {
                k.params
                    .iter()
                    .find(|p| &p.id == id)
                    .map(|p| p.label.clone())
                    .or_else(|| {
                        k.inputs
                            .iter()
                            .find(|i| &i.id == id)
                            .map(|i| i.label.clone())
                    })
            })
            .unwrap_or_else(|| id.clone())
        };
        let names: Vec<String> = take.meta.unused.iter().map(label).collect();
        ui.label(
            egui::RichText::new(format!("not used by this model: {}", names.join(", ")))
                .small()
                .color(egui::Color32::from_rgb(220, 180, 110)),
        )
        .on_hover_text(
            "These settings and inputs did not shape this take; another route's model may take them.",
        );
    }
}
