//! The shot's details (Sequence strip → Shot details…): number, title, description, dialogue
//! (a line of text and/or a sound node of the board), camera fields with the usual values
//! offered, status, and which take it shows. Every change is a sequence edit; typing in one
//! field is one undo step.

use aktion_graph::sequence::{ANGLES, MOVEMENTS, SHOT_TYPES};
use aktion_graph::{Catalog, PortType, Sequence, ShotId, ShotStatus};
use eframe::egui;

use super::command::AppCommand;
use super::panel::PanelCtx;
use super::state::Command;

/// Draws the window for shot `id`; false when it was closed or the shot is gone.
#[expect(clippy::too_many_lines, reason = "one window, field by field")]
pub fn ui(ctx: &egui::Context, cx: &mut PanelCtx<'_>, id: ShotId) -> bool {
    let doc = &cx.state.doc;
    let Some(index) = doc.sequence.position(id) else {
        return false;
    };
    let before = doc.sequence.shots[index].clone();
    let mut shot = before.clone();
    let catalog = Catalog::builtin();
    let node = doc.node(shot.node);
    let mut open = true;
    let mut changed: Option<&'static str> = None;
    let mut show_node = false;
    egui::Window::new(format!("Shot {}", shot.number_at(index)))
        .id(egui::Id::unique("shot-details"))
        .open(&mut open)
        .collapsible(false)
        .resizable(true)
        .default_width(380.0)
        .show(ctx, |ui| {
            let node_title = node.map_or("(its node is gone)", |n| n.display_title(catalog));
            ui.weak(format!("Shows {node_title}"));
            egui::Grid::new("shot-fields")
                .num_columns(2)
                .spacing([8.0, 6.0])
                .show(ui, |ui| {
                    let mut line = |ui: &mut egui::Ui,
                                    label: &str,
                                    text: &mut String,
                                    key: &'static str,
                                    hint: &str| {
                        let l = ui.label(label).id;
                        if ui
                            .add(
                                egui::TextEdit::singleline(text)
                                    .hint_text(hint)
                                    .desired_width(260.0),
                            )
                            .labelled_by(l)
                            .changed()
                        {
                            changed = Some(key);
                        }
                        ui.end_row();
                    };
                    line(
                        ui,
                        "Number",
                        &mut shot.number,
                        "number",
                        "its place in the sequence",
                    );
                    line(ui, "Title", &mut shot.title, "title", "");
                    let l = ui.label("Description").id;
                    if ui
                        .add(
                            egui::TextEdit::multiline(&mut shot.description)
                                .desired_rows(3)
                                .desired_width(260.0),
                        )
                        .labelled_by(l)
                        .changed()
                    {
                        changed = Some("description");
                    }
                    ui.end_row();
                    let l = ui.label("Dialogue").id;
                    if ui
                        .add(
                            egui::TextEdit::multiline(&mut shot.dialogue)
                                .desired_rows(2)
                                .desired_width(260.0),
                        )
                        .labelled_by(l)
                        .changed()
                    {
                        changed = Some("dialogue");
                    }
                    ui.end_row();
                    // The dialogue's sound: an audio node of the board.
                    let sound_title = |id: Option<aktion_graph::NodeId>| {
                        id.and_then(|id| doc.node(id)).map_or_else(
                            || "none".to_owned(),
                            |n| n.display_title(catalog).to_owned(),
                        )
                    };
                    let mut sound = shot.dialogue_node;
                    let l = ui.label("Dialogue sound").id;
                    egui::ComboBox::from_id_salt("shot-sound")
                        .selected_text(sound_title(sound))
                        .show_ui(ui, |ui| {
                            ui.selectable_value(&mut sound, None, "none");
                            for n in doc.nodes.values().filter(|n| {
                                catalog
                                    .get(&n.kind)
                                    .is_some_and(|k| k.output == PortType::Audio)
                            }) {
                                ui.selectable_value(
                                    &mut sound,
                                    Some(n.id),
                                    n.display_title(catalog),
                                );
                            }
                        })
                        .response
                        .labelled_by(l);
                    ui.end_row();
                    if sound != shot.dialogue_node {
                        shot.dialogue_node = sound;
                        changed = Some("dialogue sound");
                    }
                    let camera = [
                        (
                            "Shot type",
                            &mut shot.camera.shot_type,
                            &SHOT_TYPES[..],
                            "shot type",
                            "Shot types",
                        ),
                        (
                            "Angle",
                            &mut shot.camera.angle,
                            &ANGLES[..],
                            "angle",
                            "Angles",
                        ),
                        (
                            "Movement",
                            &mut shot.camera.movement,
                            &MOVEMENTS[..],
                            "movement",
                            "Movements",
                        ),
                        (
                            "Lens",
                            &mut shot.camera.lens,
                            &["18mm", "24mm", "35mm", "50mm", "85mm", "135mm"][..],
                            "lens",
                            "Lenses",
                        ),
                    ];
                    for (label, text, suggestions, key, menu) in camera {
                        let l = ui.label(label).id;
                        ui.horizontal(|ui| {
                            if ui
                                .add(egui::TextEdit::singleline(text).desired_width(180.0))
                                .labelled_by(l)
                                .changed()
                            {
                                changed = Some(key);
                            }
                            ui.menu_button(menu, |ui| {
                                for s in suggestions {
                                    if ui.button(*s).clicked() {
                                        (*s).clone_into(text);
                                        changed = Some(key);
                                        ui.close();
                                    }
                                }
                            });
                        });
                        ui.end_row();
                    }
                    ui.label("Status");
                    ui.horizontal(|ui| {
                        for status in [ShotStatus::Draft, ShotStatus::Approved] {
                            if ui
                                .radio_value(&mut shot.status, status, status.label())
                                .changed()
                            {
                                changed = Some("status");
                            }
                        }
                    });
                    ui.end_row();
                    // Which take: the node's active one, or one pinned.
                    if let Some(node) = node {
                        let label = |t: Option<aktion_graph::TakeId>| match t
                            .and_then(|t| node.takes.iter().find(|x| x.id == t))
                        {
                            Some(take) => super::inspector::take_label(node, take),
                            None => "the node's active take".to_owned(),
                        };
                        let mut take = shot.take;
                        let l = ui.label("Take").id;
                        egui::ComboBox::from_id_salt("shot-take")
                            .selected_text(label(take))
                            .width(260.0)
                            .show_ui(ui, |ui| {
                                ui.selectable_value(&mut take, None, "the node's active take");
                                for t in &node.takes {
                                    ui.selectable_value(
                                        &mut take,
                                        Some(t.id),
                                        super::inspector::take_label(node, t),
                                    );
                                }
                            })
                            .response
                            .labelled_by(l);
                        ui.end_row();
                        if take != shot.take {
                            shot.take = take;
                            changed = Some("take");
                        }
                    }
                });
            ui.add_space(4.0);
            show_node = ui.button("Show its node").clicked();
        });
    if show_node {
        cx.send(AppCommand::ShowOnBoard(shot.node));
    }
    if let Some(field) = changed
        && shot != before
    {
        let mut sequence: Sequence = cx.state.doc.sequence.clone();
        sequence.shots[index] = shot;
        cx.send(AppCommand::Edit(Command::SetSequence {
            sequence: Box::new(sequence),
            label: format!("Change {field}"),
            merge: Some(format!("shot:{id}:{field}")),
        }));
    }
    open
}
