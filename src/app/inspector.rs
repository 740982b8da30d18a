//! The inspector: the selected node's preview, parameters, takes and their metadata, and its
//! actions (export, reveal, copy, run, retry). Previews decode on worker threads.

use aktion_graph::{Catalog, ParamKind, Route};
use eframe::egui;

use super::state::Command;
use super::view::RunStatus;
use super::{Studio, account, media, recent, sketch};

impl Studio {
    #[expect(
        clippy::too_many_lines,
        reason = "the inspector reads top to bottom like the panel"
    )]
    pub(super) fn inspector_ui(&mut self, ui: &mut egui::Ui) {
        let sel = self.selected();
        let shown = match sel.as_slice() {
            [id] => Some(*id),
            _ => None,
        };
        if shown != self.inspected {
            // Another node: its text boxes are other widgets. Drop the old keyboard focus so
            // it neither types into the new node nor scrolls the panel to an old cursor.
            self.inspected = shown;
            ui.memory_mut(egui::Memory::stop_text_input);
            self.apply(Command::Seal);
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
        let Some(node) = self.state.doc.node(id).cloned() else {
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
        match node_asset(&node) {
            Some((asset, aktion_graph::PortType::Image)) => self.asset_preview_ui(ui, &asset),
            Some((asset, _)) => {
                let path = asset.path(&self.state.root);
                let width = ui.available_width().min(320.0);
                self.media
                    .ui(ui, &asset.hash, width, move || std::fs::read(path).ok());
            }
            None => {}
        }
        self.preview_ui(ui, &node);
        if node.kind == "sketch" && ui.button("Open sketch pad").clicked() {
            self.sketch_pad = Some(sketch::SketchPad::new(id));
        }
        let mut title = node.title.clone();
        if ui
            .add(egui::TextEdit::singleline(&mut title).hint_text(kind.title.as_str()))
            .changed()
        {
            self.apply(Command::SetTitle { node: id, title });
        }
        ui.separator();
        for p in &kind.params {
            let value = node
                .params
                .get(&p.id)
                .cloned()
                .unwrap_or_else(|| p.default_value());
            if let Some(new) = param_editor_ui(ui, p, &value) {
                self.apply(Command::SetParam {
                    node: id,
                    key: p.id.clone(),
                    value: new,
                });
            }
            if p.kind == ParamKind::Seed {
                let mut pinned = node.seed_pinned;
                if ui.checkbox(&mut pinned, "Pin seed").changed() {
                    self.apply(Command::PinSeed { node: id, pinned });
                }
            }
        }
        if !ui.ctx().text_edit_focused() {
            self.apply(Command::Seal);
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
                self.apply(Command::SetRoute { node: id, route });
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
                        "#{} {} seed {}{}",
                        i + 1,
                        t.provider,
                        t.params
                            .get("seed")
                            .and_then(serde_json::Value::as_u64)
                            .unwrap_or(0),
                        if t.draft { " · draft" } else { "" }
                    );
                    if ui.selectable_label(active, label).clicked() && !active {
                        self.apply(Command::PickTake {
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
                        self.apply(Command::DeleteTake {
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
                let dir = self.state.root.join("exports").display().to_string();
                self.export = Some((vec![id], dir, false));
            }
            if ui
                .add_enabled(node.takes.len() > 1, egui::Button::new("Export all takes…"))
                .clicked()
            {
                let dir = self.state.root.join("exports").display().to_string();
                self.export = Some((vec![id], dir, true));
            }
        });
        if let Some(out) = node.active_take().and_then(|t| t.outputs.first()).cloned() {
            ui.horizontal_wrapped(|ui| {
                let path = out
                    .hash
                    .parse::<aktion_cache::BlobHash>()
                    .ok()
                    .map(|h| self.engine.cache().blob_path(&h));
                if ui
                    .add_enabled(path.is_some(), egui::Button::new("Reveal in folder"))
                    .clicked()
                    && let Some(p) = &path
                {
                    recent::reveal(&self.spawner, p);
                }
                if ui
                    .add_enabled(
                        out.mime.starts_with("image/"),
                        egui::Button::new("Copy image"),
                    )
                    .clicked()
                {
                    self.send(super::AppCommand::CopyImage(out.hash.clone()));
                }
            });
        }
        ui.horizontal_wrapped(|ui| {
            let failed = match self.runs.status.get(&id) {
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
                self.send(if failed.is_some() {
                    super::AppCommand::Retry(id)
                } else {
                    super::AppCommand::Run(vec![id])
                });
            }
            if let Some(m) = failed {
                ui.colored_label(egui::Color32::LIGHT_RED, m);
            }
        });
    }

    pub(super) fn preview_ui(&mut self, ui: &mut egui::Ui, node: &aktion_graph::Node) {
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
                self.take_image_ui(ui, take, w);
            }
            Some(other) => {
                let w = (ui.available_width() / 2.0 - 6.0).min(240.0);
                ui.horizontal(|ui| {
                    ui.vertical(|ui| {
                        ui.label(take_label(node, take));
                        self.take_image_ui(ui, take, w);
                    });
                    ui.vertical(|ui| {
                        ui.label(take_label(node, other));
                        self.take_image_ui(ui, other, w);
                    });
                });
                if ui.button("Stop comparing").clicked() {
                    self.compare = None;
                }
            }
        }
    }

    /// A take's picture, decoded and scaled off the UI thread. It always takes the same box
    /// (4:3 of `width`), loaded or not, so the panel never jumps when a preview arrives.
    pub(super) fn take_image_ui(
        &mut self,
        ui: &mut egui::Ui,
        take: &aktion_graph::Take,
        width: f32,
    ) {
        let Some(out) = take.outputs.first() else {
            return;
        };
        let cache = self.engine.cache().clone();
        if out.mime == "image/gif"
            || out.mime.starts_with("video/")
            || out.mime.starts_with("audio/")
        {
            // Clips play (GIF) or show their first frame (MP4, with ffmpeg); sounds show their
            // waveform.
            let hash = out.hash.clone();
            self.media.ui(ui, &out.hash, width, move || {
                let h = hash.parse::<aktion_cache::BlobHash>().ok()?;
                cache.read_blob(&h).ok().flatten()
            });
            return;
        }
        if !out.mime.starts_with("image/") {
            ui.label(egui::RichText::new(format!("{} ({})", out.name, out.mime)).weak());
            return;
        }
        let hash = out.hash.clone();
        self.preview_box(ui, &out.hash, width, move || {
            let h = hash.parse::<aktion_cache::BlobHash>().ok()?;
            cache.read_blob(&h).ok().flatten()
        });
    }

    /// The picture of an imported image (an image node's file), from the project's assets.
    pub(super) fn asset_preview_ui(
        &mut self,
        ui: &mut egui::Ui,
        asset: &aktion_graph::project::AssetRef,
    ) {
        let path = asset.path(&self.state.root);
        let width = ui.available_width().min(320.0);
        self.preview_box(ui, &asset.hash, width, move || std::fs::read(path).ok());
    }

    /// A fixed 4:3 box with the picture `key` once decoded; until then "loading preview…",
    /// while `load` runs and the thumbnail (≤ 480 px, a texture no bigger than what is shown)
    /// is made on a worker thread: the UI thread never decodes.
    pub(super) fn preview_box(
        &mut self,
        ui: &mut egui::Ui,
        key: &str,
        width: f32,
        load: impl FnOnce() -> Option<Vec<u8>> + Send + 'static,
    ) {
        let (rect, _) =
            ui.allocate_exact_size(egui::vec2(width, width * 0.75), egui::Sense::hover());
        if let Some(tex) = self.previews.get(key) {
            ui.painter()
                .rect_filled(rect, 4.0, egui::Color32::from_gray(20));
            media::paint_fit(ui, tex, rect);
            return;
        }
        media::placeholder(ui, rect, "loading preview…");
        self.request_preview(key, load);
    }

    /// Decodes a preview texture for `key` on a worker thread (once; it lands in `previews`).
    pub(super) fn request_preview(
        &mut self,
        key: &str,
        load: impl FnOnce() -> Option<Vec<u8>> + Send + 'static,
    ) {
        if self.previews.contains_key(key) || self.previews_pending.contains_key(key) {
            return;
        }
        let task = self.spawner.blocking(move || {
            load()
                .and_then(|bytes| {
                    aktion_media::thumbnail_from_bytes(
                        &bytes,
                        480,
                        &aktion_media::DecodeLimits::default(),
                    )
                    .ok()
                })
                .map(|img| {
                    egui::ColorImage::from_rgba_unmultiplied(
                        [img.width() as usize, img.height() as usize],
                        img.as_raw(),
                    )
                })
        });
        self.previews_pending.insert(key.to_owned(), task);
    }

    /// Decodes a take's image at full size off the UI thread, then puts it on the clipboard.
    pub(super) fn copy_image(&mut self, hash_hex: &str) {
        let (cache, hash_hex) = (self.engine.cache().clone(), hash_hex.to_owned());
        self.copying = Some(self.spawner.blocking(move || {
            hash_hex
                .parse::<aktion_cache::BlobHash>()
                .ok()
                .and_then(|h| cache.read_blob(&h).ok().flatten())
                .and_then(|b| {
                    aktion_media::decode_image(&b, &aktion_media::DecodeLimits::default()).ok()
                })
                .map(|img| {
                    egui::ColorImage::from_rgba_unmultiplied(
                        [img.width() as usize, img.height() as usize],
                        img.as_raw(),
                    )
                })
        }));
    }

    pub(super) fn poll_previews(&mut self, ctx: &egui::Context) {
        if let Some(done) = super::task::take_ready(&mut self.copying) {
            match done {
                Ok(Some(image)) => {
                    ctx.copy_image(image);
                    self.message = Some("image copied".into());
                }
                Ok(None) | Err(_) => {
                    self.message = Some("cannot copy: the result is no longer in the cache".into());
                }
            }
        }
        let mut landed = Vec::new();
        for (key, task) in &mut self.previews_pending {
            if let super::task::Poll::Ready(Some(image)) = task.poll() {
                landed.push((key.clone(), image));
            }
            // A failed preview stays pending: the label says loading, and nothing retries in
            // a loop.
        }
        for (key, image) in landed {
            self.previews_pending.remove(&key);
            let tex = ctx.load_texture(key.clone(), image, egui::TextureOptions::LINEAR);
            self.previews.insert(key, tex);
        }
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
        .params
        .get("seed")
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0);
    let mut lines = vec![format!(
        "{}{} · {} route{}",
        if take.provider.is_empty() {
            "local"
        } else {
            &take.provider
        },
        if take.model.is_empty() {
            String::new()
        } else if take.model.len() > 24 && take.model.chars().all(|c| c.is_ascii_hexdigit()) {
            // A pinned version hash: its start tells versions apart.
            format!(" · version {}…", &take.model[..12])
        } else {
            format!(" · {}", take.model)
        },
        take.route.as_str(),
        if take.draft { " · draft preview" } else { "" }
    )];
    let mut facts = vec![format!("seed {seed}")];
    if take.duration_ms > 0 {
        facts.push(format!("{:.1} s", take.duration_ms as f64 / 1000.0));
    }
    facts.push(format!("{} credits", take.credits));
    if take.created > 0 {
        facts.push(account::date_time(
            i64::try_from(take.created).unwrap_or(i64::MAX),
        ));
    }
    lines.push(facts.join(" · "));
    for line in lines {
        ui.label(egui::RichText::new(line).weak().small());
    }
    if !take.unused.is_empty() {
        let label = |id: &String| {
            kind.and_then(|k| k.params.iter().find(|p| &p.id == id))
                .map_or_else(|| id.clone(), |p| p.label.clone())
        };
        let names: Vec<String> = take.unused.iter().map(label).collect();
        ui.label(
            egui::RichText::new(format!("not used by this model: {}", names.join(", ")))
                .small()
                .color(egui::Color32::from_rgb(220, 180, 110)),
        )
        .on_hover_text(
            "These settings did not shape this take; another route's model may take them.",
        );
    }
}
