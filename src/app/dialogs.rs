//! The dialog windows: the node palette, the sketch pad, export, open and save as (typed
//! paths), rename frame. One panel struct keeps which are open and what was typed; everything
//! they do is a command.

use std::path::PathBuf;

use aktion_graph::{Catalog, NodeId};
use eframe::egui;

use super::panel::PanelCtx;
use super::sketch::SketchPad;
use super::state::Command;
use super::{AppCommand, state};

/// A wire dropped on empty space or a right-click: the add-node palette.
pub struct Palette {
    pub at: [f32; 2],
    pub screen: egui::Pos2,
    pub query: String,
    pub from: Option<NodeId>,
}

/// The export window: nodes, target folder, every take or only the active one.
pub type ExportDialog = (Vec<NodeId>, String, bool);

/// The dialogs open now and what was typed in them.
#[derive(Default)]
pub struct Dialogs {
    pub palette: Option<Palette>,
    pub sketch_pad: Option<SketchPad>,
    pub export: Option<ExportDialog>,
    pub open_dialog: Option<String>,
    pub save_as: Option<String>,
    /// The frame being renamed (its index) and the title typed so far.
    pub rename_frame: Option<(usize, String)>,
    /// File → Import shot list path…: the path typed so far.
    pub shot_list_path: Option<String>,
    /// File → Import shot list…: the list read, the template picked, the batch's cost.
    pub shot_list: Option<super::shotlist::ShotListDialog>,
}

impl Dialogs {
    /// Closes every dialog (another project was opened).
    pub fn close_all(&mut self) {
        *self = Self::default();
    }

    /// Every open dialog's window.
    pub fn ui(&mut self, ctx: &egui::Context, cx: &mut PanelCtx<'_>) {
        self.palette_ui(ctx, cx);
        self.save_as_ui(ctx, cx);
        self.rename_frame_ui(ctx, cx);
        self.sketch_pad_ui(ctx, cx);
        self.export_ui(ctx, cx);
        self.open_ui(ctx, cx);
        self.shot_list_path_ui(ctx, cx);
        if let Some(d) = &mut self.shot_list
            && !d.ui(ctx, cx)
        {
            self.shot_list = None;
        }
    }

    fn palette_ui(&mut self, ctx: &egui::Context, cx: &mut PanelCtx<'_>) {
        let Some(p) = &mut self.palette else { return };
        let mut chosen = None;
        let mut close = false;
        let from_type = p
            .from
            .and_then(|f| cx.state.doc.output_type(Catalog::builtin(), f));
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
                Some(from) => cx.edit(Command::AddNodeFrom {
                    kind,
                    pos: at,
                    from,
                }),
                None => cx.edit(Command::AddNode { kind, pos: at }),
            }
        } else if close {
            self.palette = None;
        }
    }

    fn sketch_pad_ui(&mut self, ctx: &egui::Context, cx: &mut PanelCtx<'_>) {
        let Some(pad) = &mut self.sketch_pad else {
            return;
        };
        let Some(node) = cx.state.doc.node(pad.node) else {
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
                Ok(value) => cx.edit(Command::SetParam {
                    node: node_id,
                    key: "strokes".into(),
                    value,
                }),
                Err(e) => cx.send(AppCommand::Notify(e.to_string())),
            }
        }
    }

    fn export_ui(&mut self, ctx: &egui::Context, cx: &mut PanelCtx<'_>) {
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
            cx.send(AppCommand::Export { nodes, dir, all });
        } else if close {
            self.export = None;
        }
    }

    fn open_ui(&mut self, ctx: &egui::Context, cx: &mut PanelCtx<'_>) {
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
            cx.send(AppCommand::Open(target));
        } else if close {
            self.open_dialog = None;
        }
    }

    /// A typed path for a shot list (where the platform has no file dialog).
    fn shot_list_path_ui(&mut self, ctx: &egui::Context, cx: &mut PanelCtx<'_>) {
        let Some(path) = &mut self.shot_list_path else {
            return;
        };
        let (mut go, mut close) = (false, false);
        egui::Window::new("Import shot list from a path")
            .collapsible(false)
            .show(ctx, |ui| {
                let label = ui.label("A .csv shot list or a .fountain screenplay").id;
                ui.add(egui::TextEdit::singleline(path).desired_width(420.0))
                    .labelled_by(label);
                ui.horizontal(|ui| {
                    go = ui.button("Read shot list").clicked();
                    close = ui.button("Cancel").clicked();
                });
            });
        if go {
            let target = PathBuf::from(path.trim());
            self.shot_list_path = None;
            cx.send(AppCommand::ReadShotList(target));
        } else if close {
            self.shot_list_path = None;
        }
    }

    fn save_as_ui(&mut self, ctx: &egui::Context, cx: &mut PanelCtx<'_>) {
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
            cx.send(AppCommand::SaveAs(target));
        } else if close {
            self.save_as = None;
        }
    }

    /// "Rename frame": a title for a frame (double-click its title, or Edit → Rename frame).
    fn rename_frame_ui(&mut self, ctx: &egui::Context, cx: &mut PanelCtx<'_>) {
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
            cx.edit(Command::RenameFrame { index, title });
        } else if close {
            self.rename_frame = None;
        }
    }
}
