//! File → Import shot list…: a CSV shot list or a Fountain screenplay, read on a worker, then a
//! window to pick the template (the selected nodes, or a frame), see the rows, the fields the
//! template's prompts use and what the whole batch would cost, before anything is made. Import
//! is one undo step ([`aktion_graph::batch`] works out the edits).

use std::path::PathBuf;
use std::sync::Arc;

use aktion_graph::shotlist::ShotList;
use aktion_graph::{Catalog, Document, NodeId, batch};
use eframe::egui;

use super::panel::PanelCtx;
use super::state::Command;

/// What the batch is made from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TemplatePick {
    /// These nodes (the selection when the window opened).
    Nodes(Vec<NodeId>),
    /// The nodes inside this frame.
    Frame(aktion_graph::FrameId),
}

impl TemplatePick {
    /// The template's nodes on `doc` now.
    pub fn nodes(&self, doc: &Document) -> Vec<NodeId> {
        match self {
            TemplatePick::Nodes(ids) => ids
                .iter()
                .copied()
                .filter(|id| doc.node(*id).is_some())
                .collect(),
            TemplatePick::Frame(id) => doc
                .frames
                .iter()
                .find(|f| f.id == *id)
                .map(|f| batch::nodes_in(doc, f.rect))
                .unwrap_or_default(),
        }
    }
}

/// What the batch would cost now (credits, on the routes it would run on), the nodes it would
/// run, and its list price on the account route.
pub type BatchCost = Result<(u32, usize, u32), String>;

/// The import window's state.
pub struct ShotListDialog {
    pub path: PathBuf,
    pub list: Arc<ShotList>,
    pub pick: TemplatePick,
    /// The selection when the window opened (offered as a template).
    pub selection: Vec<NodeId>,
    /// The cost worked out for a pick and board revision.
    pub cost: Option<((TemplatePick, u64), BatchCost)>,
    /// What the batch would make, for a pick and board revision (planned once per change,
    /// not per frame).
    summary: Option<((TemplatePick, u64), Result<Summary, String>)>,
}

/// What the window says about a planned batch.
struct Summary {
    template: Vec<NodeId>,
    shot_title: String,
    uses: Vec<String>,
}

impl ShotListDialog {
    /// The window for a list just read: the selection is the template when there is one,
    /// otherwise the first frame.
    pub fn new(path: PathBuf, list: ShotList, doc: &Document, mut selection: Vec<NodeId>) -> Self {
        selection.retain(|id| doc.node(*id).is_some());
        let pick = if selection.is_empty() {
            doc.frames
                .first()
                .map_or(TemplatePick::Nodes(Vec::new()), |f| {
                    TemplatePick::Frame(f.id)
                })
        } else {
            TemplatePick::Nodes(selection.clone())
        };
        Self {
            path,
            list: Arc::new(list),
            pick,
            selection,
            cost: None,
            summary: None,
        }
    }

    /// The cost shown is for this pick and revision; `None` when it must be worked out.
    pub fn wants_cost(&self, revision: u64) -> Option<(TemplatePick, u64)> {
        let key = (self.pick.clone(), revision);
        match &self.cost {
            Some((k, _)) if *k == key => None,
            _ => Some(key),
        }
    }

    /// Draws the window; false when it was closed (imported or cancelled).
    #[expect(clippy::too_many_lines, reason = "one window, top to bottom")]
    pub fn ui(&mut self, ctx: &egui::Context, cx: &mut PanelCtx<'_>) -> bool {
        let doc = &cx.state.doc;
        let catalog = Catalog::builtin();
        let revision = cx.state.history.revision();
        let key = (self.pick.clone(), revision);
        if self.summary.as_ref().is_none_or(|(k, _)| *k != key) {
            let template = self.pick.nodes(doc);
            let planned = batch::plan(doc, catalog, &self.list, &template)
                .map(|b| Summary {
                    shot_title: batch::shot_node(doc, catalog, &template)
                        .and_then(|id| doc.node(id))
                        .map_or_else(String::new, |n| n.display_title(catalog).to_owned()),
                    uses: b.uses.into_iter().collect(),
                    template,
                })
                .map_err(|e| e.to_string());
            self.summary = Some((key, planned));
        }
        let Some((_, planned)) = &self.summary else {
            return true;
        };
        let mut open = true;
        let mut import = false;
        let name = self
            .path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        egui::Window::new("Import shot list")
            .collapsible(false)
            .resizable(true)
            .default_width(520.0)
            .anchor(egui::Align2::CENTER_CENTER, [0.0, 0.0])
            .show(ctx, |ui| {
                ui.label(format!(
                    "{name}: {} {} with the fields {}",
                    self.list.rows.len(),
                    if self.list.rows.len() == 1 { "row" } else { "rows" },
                    self.list
                        .fields
                        .iter()
                        .map(|f| format!("{{{f}}}"))
                        .collect::<Vec<_>>()
                        .join(" ")
                ));
                ui.add_space(6.0);
                ui.horizontal(|ui| {
                    let label = match &self.pick {
                        TemplatePick::Nodes(ids) => format!("The selected nodes ({})", ids.len()),
                        TemplatePick::Frame(id) => doc
                            .frames
                            .iter()
                            .find(|f| f.id == *id)
                            .map_or_else(|| "a frame".into(), |f| format!("Frame \"{}\"", f.title)),
                    };
                    egui::ComboBox::from_label("Template")
                        .selected_text(label)
                        .width(300.0)
                        .show_ui(ui, |ui| {
                            if !self.selection.is_empty() {
                                let pick = TemplatePick::Nodes(self.selection.clone());
                                let text = format!("The selected nodes ({})", self.selection.len());
                                ui.selectable_value(&mut self.pick, pick, text);
                            }
                            for f in &doc.frames {
                                ui.selectable_value(
                                    &mut self.pick,
                                    TemplatePick::Frame(f.id),
                                    format!("Frame \"{}\"", f.title),
                                );
                            }
                        });
                });
                ui.weak(
                    "Each row becomes a copy of the template in its own frame, with {field} in \
                     its prompts replaced by the row's text, and a shot at the end of the sequence.",
                );
                ui.add_space(6.0);
                match planned {
                    Ok(b) => {
                        ui.label(format!(
                            "{} node(s) per shot; the shot shows \"{}\".",
                            b.template.len(),
                            b.shot_title
                        ));
                        if b.uses.is_empty() {
                            ui.colored_label(
                                ui.visuals().warn_fg_color,
                                "The template's prompts name no {field}: every copy would ask \
                                 for the same picture. Write e.g. {description} into a prompt.",
                            );
                        } else {
                            ui.label(format!(
                                "Prompts use {}.",
                                b.uses
                                    .iter()
                                    .map(|f| format!("{{{f}}}"))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ));
                        }
                    }
                    Err(e) => {
                        ui.colored_label(ui.visuals().error_fg_color, e);
                    }
                }
                ui.add_space(6.0);
                egui::ScrollArea::vertical()
                    .max_height(180.0)
                    .show(ui, |ui| {
                        egui::Grid::new("shotlist-rows")
                            .striped(true)
                            .num_columns(3)
                            .show(ui, |ui| {
                                ui.strong("#");
                                ui.strong("Title");
                                ui.strong("Description");
                                ui.end_row();
                                for (i, row) in self.list.rows.iter().enumerate().take(200) {
                                    let number = row.get("number");
                                    ui.label(if number.is_empty() {
                                        (i + 1).to_string()
                                    } else {
                                        number.to_owned()
                                    });
                                    ui.label(super::view::ellipsize(row.get("title"), 32));
                                    ui.label(super::view::ellipsize(row.get("description"), 60));
                                    ui.end_row();
                                }
                            });
                    });
                ui.add_space(6.0);
                match &self.cost {
                    _ if planned.is_err() => {}
                    Some((key, cost)) if *key == (self.pick.clone(), revision) => match cost {
                        Ok((credits, to_run, list)) => {
                            ui.strong(format!(
                                "Running the batch would cost {credits} credit(s): {to_run} node(s) to run"
                            ));
                            if list != credits {
                                ui.label(format!("{list} credit(s) on the account route"));
                            }
                        }
                        Err(e) => {
                            ui.colored_label(ui.visuals().error_fg_color, e);
                        }
                    },
                    _ => {
                        ui.horizontal(|ui| {
                            ui.spinner();
                            ui.label("working out the batch's cost…");
                        });
                    }
                }
                ui.horizontal(|ui| {
                    if ui
                        .add_enabled(planned.is_ok(), egui::Button::new("Import"))
                        .clicked()
                    {
                        import = true;
                    }
                    if ui.button("Cancel").clicked() {
                        open = false;
                    }
                });
            });
        if import && let Some((_, Ok(b))) = &self.summary {
            cx.edit(Command::ImportShots {
                list: Arc::clone(&self.list),
                template: b.template.clone(),
            });
            cx.send(super::AppCommand::FitSelection);
            open = false;
        }
        open
    }
}
