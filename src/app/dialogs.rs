//! Windows and file handling: the node palette, the sketch pad, export, open / save as
//! (native and typed paths), and files dropped from the file manager.

use std::path::PathBuf;

use aktion_graph::Catalog;
use eframe::egui;

use super::state::Command;
use super::{AppCommand, DropTarget, Studio, state, view};

impl Studio {
    pub(super) fn palette_ui(&mut self, ctx: &egui::Context) {
        let Some(p) = &mut self.palette else { return };
        let mut chosen = None;
        let mut close = false;
        let from_type = p
            .from
            .and_then(|f| self.state.doc.output_type(Catalog::builtin(), f));
        egui::Window::new("Add node")
            .fixed_pos(p.screen)
            .collapsible(false)
            .resizable(false)
            .show(ctx, |ui| {
                let r =
                    ui.add(egui::TextEdit::singleline(&mut p.query).hint_text("search node kinds"));
                r.request_focus();
                let q = p.query.to_lowercase();
                let kinds: Vec<&aktion_graph::KindSchema> = match from_type {
                    Some(t) => state::kinds_for_wire(t)
                        .into_iter()
                        .filter_map(|k| Catalog::builtin().get(k))
                        .collect(),
                    None => Catalog::builtin().iter().collect(),
                };
                for k in kinds.into_iter().filter(|k| {
                    q.is_empty() || k.title.to_lowercase().contains(&q) || k.id.contains(&q)
                }) {
                    if ui
                        .button(format!("{}  ·  {} cr", k.title, k.credits))
                        .on_hover_text(&k.description)
                        .clicked()
                    {
                        chosen = Some(k.id.clone());
                    }
                }
                if ui.input(|i| i.key_pressed(egui::Key::Escape)) {
                    close = true;
                }
            });
        if let Some(kind) = chosen {
            let (at, from) = (p.at, p.from);
            self.palette = None;
            match from {
                Some(from) => self.apply(Command::AddNodeFrom {
                    kind,
                    pos: at,
                    from,
                }),
                None => self.apply(Command::AddNode { kind, pos: at }),
            }
        } else if close {
            self.palette = None;
        }
    }

    pub(super) fn sketch_pad_ui(&mut self, ctx: &egui::Context) {
        let Some(pad) = &mut self.sketch_pad else {
            return;
        };
        let Some(node) = self.state.doc.node(pad.node) else {
            self.sketch_pad = None;
            return;
        };
        let strokes: Vec<aktion_graph::sketch::Stroke> = node
            .params
            .get("strokes")
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default();
        let dim = |k: &str, d: i64| u32::try_from(node.param_i64(k).unwrap_or(d)).unwrap_or(512);
        let size = (dim("width", 768), dim("height", 512));
        let title = format!("Sketch: {}", node.display_title(Catalog::builtin()));
        let mut open = true;
        let mut changed = None;
        egui::Window::new(title)
            .open(&mut open)
            .default_size([820.0, 620.0])
            .show(ctx, |ui| changed = pad.ui(ui, &strokes, size));
        let node_id = pad.node;
        if !open {
            self.sketch_pad = None;
        }
        if let Some(strokes) = changed {
            match serde_json::to_value(strokes) {
                Ok(value) => self.apply(Command::SetParam {
                    node: node_id,
                    key: "strokes".into(),
                    value,
                }),
                Err(e) => self.message = Some(e.to_string()),
            }
        }
    }

    pub(super) fn export_ui(&mut self, ctx: &egui::Context) {
        let Some((nodes, dir, all)) = &mut self.export else {
            return;
        };
        let mut go = false;
        let mut close = false;
        egui::Window::new("Export")
            .collapsible(false)
            .show(ctx, |ui| {
                let label = ui.label("Folder").id;
                ui.add(egui::TextEdit::singleline(dir).desired_width(420.0))
                    .labelled_by(label);
                ui.checkbox(all, "Every take (not only the active one)");
                ui.horizontal(|ui| {
                    go = ui.button("Export files").clicked();
                    close = ui.button("Cancel").clicked();
                });
            });
        if go {
            let (nodes, dir, all) = (nodes.clone(), PathBuf::from(dir.as_str()), *all);
            self.export = None;
            self.send(AppCommand::Export { nodes, dir, all });
        } else if close {
            self.export = None;
        }
    }

    /// The platform's folder picker (a modal dialog, as native apps do); where none can be shown
    /// (no portal on a bare X server), "Open path…" types the path instead.
    pub(super) fn open_native(&mut self) {
        if let Some(dir) = rfd::FileDialog::new()
            .set_title("Open an Aktion Studio project")
            .pick_folder()
        {
            self.open_project(&dir);
        }
    }

    pub(super) fn save_as_native(&mut self) {
        let name = format!(
            "{}.aktion",
            self.state.doc.name.trim().replace(['/', '\\'], "-")
        );
        if let Some(dir) = rfd::FileDialog::new()
            .set_title("Save the project as")
            .set_file_name(name)
            .save_file()
        {
            self.message = Some(match self.state.save_as(&dir) {
                Ok(()) => {
                    self.remember_recent();
                    format!("saved {}", dir.display())
                }
                Err(e) => e,
            });
        }
    }

    pub(super) fn open_ui(&mut self, ctx: &egui::Context) {
        let Some(path) = &mut self.open_dialog else {
            return;
        };
        let mut go = false;
        let mut close = false;
        egui::Window::new("Open project")
            .collapsible(false)
            .show(ctx, |ui| {
                let label = ui.label("Project folder or project.json").id;
                ui.add(egui::TextEdit::singleline(path).desired_width(420.0))
                    .labelled_by(label);
                ui.horizontal(|ui| {
                    go = ui.button("Open project").clicked();
                    close = ui.button("Cancel").clicked();
                });
            });
        if go {
            let target = PathBuf::from(path.trim());
            self.open_dialog = None;
            self.send(AppCommand::Open(target));
        } else if close {
            self.open_dialog = None;
        }
    }

    pub(super) fn save_as_ui(&mut self, ctx: &egui::Context) {
        let Some(path) = &mut self.save_as else {
            return;
        };
        let mut go = false;
        let mut close = false;
        egui::Window::new("Save As")
            .collapsible(false)
            .show(ctx, |ui| {
                ui.label("Project folder");
                ui.add(egui::TextEdit::singleline(path).desired_width(420.0));
                ui.horizontal(|ui| {
                    go = ui.button("Save").clicked();
                    close = ui.button("Cancel").clicked();
                });
            });
        if go {
            let target = PathBuf::from(path.as_str());
            self.save_as = None;
            self.send(AppCommand::SaveAs(target));
        } else if close {
            self.save_as = None;
        }
    }

    /// Files dropped from the file manager. Reading, checking (a 24-MP JPEG takes a decode) and
    /// copying into the assets happen on a worker thread, so the UI never waits; the result comes
    /// back as one command.
    pub(super) fn drops(&mut self, ctx: &egui::Context) {
        let handles: Vec<egui::DroppedFileHandle> = ctx.input(|i| i.raw.dropped_files.clone());
        if handles.is_empty() {
            return;
        }
        let pointer = ctx.input(|i| i.pointer.hover_pos());
        let mut target = DropTarget::Board(match (pointer, self.canvas_rect) {
            (Some(p), Some(rect)) => {
                let b = self.canvas.view.at(rect.min).to_board(p);
                [b.x, b.y]
            }
            _ => [0.0, 0.0],
        });
        if let (Some(p), Some(rect), 1) = (pointer, self.canvas_rect, handles.len())
            && let aktion_canvas::Hit::Pin(pin) = self.canvas.hit_test(&self.board, rect, p)
            && pin.side == aktion_canvas::PinSide::Input
            && let Some(node) = self.ids.node(pin.node)
            && let Some(kind) = self
                .state
                .doc
                .node(node)
                .and_then(|n| Catalog::builtin().get(&n.kind))
            && let Some((input, slot, _, _)) =
                view::input_pins(kind).into_iter().nth(pin.index as usize)
        {
            target = DropTarget::Input { node, input, slot };
        }
        if let (Some(p), 1) = (pointer, handles.len())
            && let Some(slot) = self.epic.slot_at(p)
        {
            target = DropTarget::SceneSlot(slot);
        }
        let root = self.state.root.clone();
        self.message = Some(format!("importing {} file(s)…", handles.len()));
        let task = self.spawner.blocking(move || {
            let prepared = handles
                .iter()
                .map(|h| {
                    let name = h.path().file_name().map_or_else(
                        || "dropped file".to_owned(),
                        |n| n.to_string_lossy().into_owned(),
                    );
                    let bytes = h
                        .bytes()
                        .map_err(|e| format!("cannot read `{name}`: {e}"))?;
                    state::prepare_file(&root, &state::DroppedFile { name, bytes })
                })
                .collect::<Result<Vec<_>, String>>();
            (target, prepared)
        });
        self.imports.push(task);
    }

    /// Applies imports the worker thread has finished.
    pub(super) fn poll_imports(&mut self) {
        // In drop order: a later drop waits for an earlier one still being read.
        while let Some(first) = self.imports.first_mut() {
            let (target, prepared) = match first.poll() {
                super::task::Poll::Pending => break,
                super::task::Poll::Lost => {
                    self.imports.remove(0);
                    self.message = Some(super::task::Lost.to_string());
                    continue;
                }
                super::task::Poll::Ready(r) => {
                    self.imports.remove(0);
                    r
                }
            };
            let files = match prepared {
                Ok(files) => files,
                Err(e) => {
                    self.message = Some(e);
                    continue;
                }
            };
            self.message = None;
            match target {
                DropTarget::Input { node, input, slot } => {
                    for file in files {
                        self.apply(Command::FillInputPrepared {
                            node,
                            input: input.clone(),
                            slot,
                            file,
                        });
                    }
                }
                DropTarget::Board(at) => self.apply(Command::AddPrepared { files, at }),
                DropTarget::SceneSlot(slot) => {
                    for file in files {
                        if file.kind != "image" {
                            self.message = Some(format!(
                                "`{}` is not an image; a scene takes images",
                                file.name
                            ));
                        } else if let Some(s) = self.epic.slots.get_mut(slot) {
                            *s = Some(state::SceneImage::File(file));
                        }
                    }
                }
            }
        }
    }

    /// "Rename frame": a title for a frame (double-click its title, or Edit → Rename frame).
    pub(super) fn rename_frame_ui(&mut self, ctx: &egui::Context) {
        let Some((index, title)) = &mut self.rename_frame else {
            return;
        };
        let index = *index;
        let mut go = false;
        let mut close = false;
        egui::Window::new("Rename frame")
            .collapsible(false)
            .show(ctx, |ui| {
                let l = ui.label("Frame title").id;
                let field = ui
                    .add(egui::TextEdit::singleline(title).desired_width(280.0))
                    .labelled_by(l);
                if !field.has_focus() && !field.lost_focus() {
                    field.request_focus();
                }
                go = field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
                ui.horizontal(|ui| {
                    go |= ui.button("Rename").clicked();
                    close = ui.button("Cancel").clicked();
                });
            });
        if go {
            let title = title.clone();
            self.rename_frame = None;
            self.apply(Command::RenameFrame { index, title });
        } else if close {
            self.rename_frame = None;
        }
    }
}
