//! The sequence strip under the canvas (PRODUCT.md §4.8): the film's shots in order as cards
//! with their picture, number, title and length; the total running time; add shots from the
//! selection or a frame (one per node, in board order), drag to reorder, drag a card's edges to
//! trim, Delete to remove, ←/→ to move the selection (Alt+←/→ moves the shots). Selecting a shot
//! selects its node on the board, and a node selected on the board lights up its shots.
//!
//! Every change is a [`Command::SetSequence`] (one undo step; a trim drag merges into one).
//! Clip lengths are read off the UI thread, once per file.

use std::collections::{BTreeSet, HashMap};

use aktion_graph::catalog::PortType;
use aktion_graph::sequence::{STILL_MS, frames_to_ms, ms_to_frames, running_time};
use aktion_graph::{Catalog, Document, NodeId, Sequence, Shot, ShotId};
use eframe::egui;

use super::cards::{self, Cards, Thumb};
use super::command::AppCommand;
use super::panel::PanelCtx;
use super::state::Command;
use super::task::{Poll, Spawner, Task};

/// Card width per second of shot, and its bounds.
const PX_PER_SECOND: f32 = 36.0;
const MIN_CARD: f32 = 92.0;
const MAX_CARD: f32 = 280.0;
const CARD_HEIGHT: f32 = 100.0;
const PICTURE_HEIGHT: f32 = 58.0;
/// Grab width of a trim handle.
const HANDLE: f32 = 7.0;

/// A drag in the strip.
#[derive(Clone, Debug)]
enum Drag {
    /// Cards being moved; the insertion point follows the pointer.
    Move { ids: Vec<ShotId> },
    /// A card's edge: its in-point (`start`) or its length (end), from the values at the press.
    Trim {
        shot: ShotId,
        start: bool,
        in_ms: u64,
        duration_ms: u64,
        dx: f32,
    },
}

pub struct Strip {
    /// Shots picked in the strip.
    pub selected: BTreeSet<ShotId>,
    /// The shot whose details window is open.
    pub editing: Option<ShotId>,
    /// The animatic export's picture size (`None`: the first clip's, at most 1920 wide).
    pub animatic_size: Option<(u32, u32)>,
    /// Panels a storyboard PDF page holds (1, 3 or 6).
    pub pdf_panels: u8,
    drag: Option<Drag>,
    /// Clip length in ms by media hash (`None`: not a clip, e.g. a picture).
    lengths: HashMap<String, Option<u64>>,
    pending: HashMap<String, Task<Option<u64>>>,
    spawner: Spawner,
}

impl Strip {
    pub fn new(spawner: Spawner) -> Self {
        Self {
            selected: BTreeSet::new(),
            editing: None,
            animatic_size: None,
            pdf_panels: 3,
            drag: None,
            lengths: HashMap::new(),
            pending: HashMap::new(),
            spawner,
        }
    }

    /// Collects clip lengths read on workers (the logic step calls this).
    pub fn poll(&mut self) {
        let mut done = Vec::new();
        for (hash, task) in &mut self.pending {
            match task.poll() {
                Poll::Ready(length) => done.push((hash.clone(), length)),
                Poll::Lost => done.push((hash.clone(), None)),
                Poll::Pending => {}
            }
        }
        for (hash, length) in done {
            self.pending.remove(&hash);
            self.lengths.insert(hash, length);
        }
    }

    /// Whether every clip length asked for has been read (tests).
    pub fn settled(&self) -> bool {
        self.pending.is_empty()
    }

    /// The length of shot `shot`'s clip in ms, `None` for a still, a missing take or one not
    /// read yet (then reading starts).
    fn clip_ms(&mut self, doc: &Document, cx: &PanelCtx<'_>, shot: &Shot) -> Option<u64> {
        let node = doc.node(shot.node)?;
        let source = cards::take_source(node, shot.take(doc), &cx.state.root, cx.cache)?;
        if !source.mime.starts_with("video/") || source.mime == "video/gif" {
            return None;
        }
        if let Some(len) = self.lengths.get(&source.hash) {
            return *len;
        }
        if !self.pending.contains_key(&source.hash) {
            let load = (source.load)();
            let task = self.spawner.blocking(move || {
                let bytes = load()?;
                let video = aktion_media::Video::open(bytes).ok()?;
                let ms = (video.info().duration.max(0.0) * 1000.0).round();
                #[expect(
                    clippy::cast_possible_truncation,
                    clippy::cast_sign_loss,
                    reason = "non-negative and far below 2^53"
                )]
                Some(ms as u64)
            });
            self.pending.insert(source.hash, task);
        }
        None
    }

    /// Draws the strip as a panel under the canvas.
    /// `exporting`: a sequence export under way (what, fraction done), shown with Cancel.
    pub fn panel(
        &mut self,
        ui: &mut egui::Ui,
        cx: &mut PanelCtx<'_>,
        cards: &mut Cards,
        exporting: Option<(String, f32)>,
    ) {
        egui::Panel::bottom("sequence")
            .default_size(CARD_HEIGHT + 52.0)
            .size_range((CARD_HEIGHT + 40.0)..=(CARD_HEIGHT + 160.0))
            .resizable(true)
            .show(ui, |ui| {
                if let Some((label, done)) = exporting {
                    ui.horizontal(|ui| {
                        ui.add(
                            egui::ProgressBar::new(done)
                                .desired_width(240.0)
                                .show_percentage(),
                        );
                        ui.label(label);
                        if ui.button("Cancel export").clicked() {
                            cx.send(AppCommand::CancelSequenceExport);
                        }
                    });
                }
                self.ui(ui, cx, cards);
            });
        if let Some(id) = self.editing
            && !super::shot_editor::ui(ui.ctx(), cx, id)
        {
            self.editing = None;
        }
    }

    #[expect(
        clippy::too_many_lines,
        reason = "the strip's header, cards, drags and keys in one pass"
    )]
    fn ui(&mut self, ui: &mut egui::Ui, cx: &mut PanelCtx<'_>, cards: &mut Cards) {
        let doc = &cx.state.doc;
        let seq = doc.sequence.clone();
        let fps = seq.fps;
        // Lengths once per frame: each shot's clip length and its length on the timeline.
        let clip_ms: Vec<Option<u64>> =
            seq.shots.iter().map(|s| self.clip_ms(doc, cx, s)).collect();
        let durations: Vec<u64> = seq
            .shots
            .iter()
            .zip(&clip_ms)
            .map(|(s, c)| frames_to_ms(ms_to_frames(s.duration_ms(*c), fps), fps))
            .collect();
        let total: u64 = durations.iter().sum();
        self.selected.retain(|id| seq.position(*id).is_some());
        let board_selected = |shot: &Shot| cx.state.selection.contains(&shot.node);

        // Header: what the sequence is, and what can be done to it.
        ui.horizontal(|ui| {
            ui.strong("Sequence");
            let summary = format!(
                "{} shot{} · {}",
                seq.shots.len(),
                if seq.shots.len() == 1 { "" } else { "s" },
                running_time(total)
            );
            ui.label(&summary).on_hover_text("Total running time");
            if ui
                .add_enabled(!seq.shots.is_empty(), egui::Button::new("Play animatic"))
                .on_hover_text("Play the animatic full-window, with its sound")
                .clicked()
            {
                cx.send(AppCommand::PlayAnimatic);
            }
            ui.separator();
            let picked = addable(doc, cx.state.selection.iter().copied(), &seq);
            let add = ui
                .add_enabled(!picked.is_empty(), egui::Button::new("Add selection"))
                .on_hover_text("One shot per selected picture or clip node, in board order")
                .on_disabled_hover_text("Select picture or clip nodes on the board first");
            if add.clicked() {
                let at = self.insert_at(&seq);
                let next = with_added(&seq, &picked, at);
                self.selected = next.shots[at..at + picked.len()]
                    .iter()
                    .map(|s| s.id)
                    .collect();
                edit(cx, next, "Add shots", None);
            }
            ui.add_enabled_ui(!doc.frames.is_empty(), |ui| {
                ui.menu_button("Add frame", |ui| {
                    for frame in &doc.frames {
                        let nodes =
                            addable(doc, aktion_graph::batch::nodes_in(doc, frame.rect), &seq);
                        let label = format!("{} ({})", frame.title, nodes.len());
                        if ui
                            .add_enabled(!nodes.is_empty(), egui::Button::new(label))
                            .clicked()
                        {
                            let at = self.insert_at(&seq);
                            edit(cx, with_added(&seq, &nodes, at), "Add frame's shots", None);
                            ui.close();
                        }
                    }
                });
            });
            let longer: Vec<ShotId> = seq
                .shots
                .iter()
                .zip(&clip_ms)
                .filter(|(s, c)| s.needs_longer_take(**c))
                .map(|(s, _)| s.id)
                .collect();
            if !longer.is_empty()
                && ui
                    .button(format!("Run longer shots ({})", longer.len()))
                    .on_hover_text(
                        "Set each node's duration to its shot's new length and run it again",
                    )
                    .clicked()
            {
                cx.send(AppCommand::RunLonger(longer));
            }
            let one = (self.selected.len() == 1)
                .then(|| self.selected.first().copied())
                .flatten();
            if ui
                .add_enabled(one.is_some(), egui::Button::new("Shot details…"))
                .on_hover_text("Title, description, dialogue, camera, status and take of the shot")
                .on_disabled_hover_text("Pick one shot first")
                .clicked()
            {
                self.editing = one;
            }
            let remove = ui.add_enabled(
                !self.selected.is_empty(),
                egui::Button::new("Remove from sequence"),
            );
            if remove.clicked() {
                self.remove_selected(cx, &seq);
            }
            let mut new_fps = fps;
            egui::ComboBox::from_label("Frame rate")
                .selected_text(format!("{fps} fps"))
                .show_ui(ui, |ui| {
                    for f in aktion_graph::sequence::FPS_CHOICES {
                        ui.selectable_value(&mut new_fps, f, format!("{f} fps"));
                    }
                });
            if new_fps != fps {
                edit(
                    cx,
                    Sequence {
                        fps: new_fps,
                        ..seq.clone()
                    },
                    "Frame rate",
                    None,
                );
            }
        });

        if seq.shots.is_empty() {
            ui.add_space(8.0);
            ui.weak(
                "No shots yet. Select picture or clip nodes on the board and press Add selection, \
                 or add a frame's nodes: each becomes a shot, in board order.",
            );
            return;
        }

        let mut drop_at: Option<usize> = None;
        let mut card_rects = Vec::with_capacity(seq.shots.len());
        egui::ScrollArea::horizontal()
            .id_salt("sequence-strip")
            .show(ui, |ui| {
                ui.horizontal(|ui| {
                    for (i, shot) in seq.shots.iter().enumerate() {
                        let width = card_width(durations[i]);
                        let (rect, _) = ui.allocate_exact_size(
                            egui::vec2(width, CARD_HEIGHT),
                            egui::Sense::hover(),
                        );
                        card_rects.push(rect);
                        let lit = self.selected.contains(&shot.id) || board_selected(shot);
                        let info = CardInfo {
                            index: i,
                            duration_ms: durations[i],
                            clip_ms: clip_ms[i],
                        };
                        self.card(ui, cx, cards, &seq, shot, rect, lit, &info);
                    }
                });
                // Where dragged cards would land: before the first card whose middle is right
                // of the pointer.
                if matches!(self.drag, Some(Drag::Move { .. }))
                    && let Some(p) = ui.ctx().pointer_interact_pos()
                {
                    let at = card_rects
                        .iter()
                        .position(|r| p.x < r.center().x)
                        .unwrap_or(card_rects.len());
                    let x = card_rects.get(at).map_or_else(
                        || card_rects.last().map_or(0.0, |r| r.right() + 3.0),
                        |r| r.left() - 3.0,
                    );
                    let top = card_rects.first().map_or(0.0, egui::Rect::top);
                    ui.painter().line_segment(
                        [egui::pos2(x, top), egui::pos2(x, top + CARD_HEIGHT)],
                        egui::Stroke::new(3.0, egui::Color32::from_rgb(255, 200, 80)),
                    );
                    drop_at = Some(at);
                }
            });

        // A move ends where the pointer is let go.
        if let Some(Drag::Move { ids }) = &self.drag
            && ui.input(|i| i.pointer.any_released())
        {
            if let Some(at) = drop_at {
                let next = Sequence {
                    shots: seq.moved(ids, at),
                    ..seq.clone()
                };
                edit(cx, next, "Reorder shots", None);
            }
            self.drag = None;
        }
        if matches!(self.drag, Some(Drag::Trim { .. })) && ui.input(|i| !i.pointer.any_down()) {
            self.drag = None;
            cx.edit(Command::Seal);
        }
        self.keys(ui, cx, &seq);
    }

    /// Where new shots go: after the last picked shot, else at the end.
    fn insert_at(&self, seq: &Sequence) -> usize {
        seq.shots
            .iter()
            .rposition(|s| self.selected.contains(&s.id))
            .map_or(seq.shots.len(), |i| i + 1)
    }

    fn remove_selected(&mut self, cx: &mut PanelCtx<'_>, seq: &Sequence) {
        let next = Sequence {
            shots: seq
                .shots
                .iter()
                .filter(|s| !self.selected.contains(&s.id))
                .cloned()
                .collect(),
            ..seq.clone()
        };
        let n = seq.shots.len() - next.shots.len();
        self.selected.clear();
        edit(
            cx,
            next,
            if n == 1 {
                "Remove shot"
            } else {
                "Remove shots"
            },
            None,
        );
    }

    /// Delete removes the picked shots; ←/→ pick the previous or next; Alt+←/→ move them.
    fn keys(&mut self, ui: &egui::Ui, cx: &mut PanelCtx<'_>, seq: &Sequence) {
        let over = ui.ui_contains_pointer();
        if !over || ui.ctx().memory(|m| m.focused().is_some()) || self.selected.is_empty() {
            return;
        }
        let (delete, left, right, alt) = ui.input_mut(|i| {
            let alt = i.modifiers.alt;
            (
                i.consume_key(egui::Modifiers::NONE, egui::Key::Delete)
                    || i.consume_key(egui::Modifiers::NONE, egui::Key::Backspace),
                i.consume_key(i.modifiers, egui::Key::ArrowLeft),
                i.consume_key(i.modifiers, egui::Key::ArrowRight),
                alt,
            )
        });
        if delete {
            self.remove_selected(cx, seq);
            return;
        }
        if !(left || right) {
            return;
        }
        let picked: Vec<usize> = seq
            .shots
            .iter()
            .enumerate()
            .filter(|(_, s)| self.selected.contains(&s.id))
            .map(|(i, _)| i)
            .collect();
        let (Some(&first), Some(&last)) = (picked.first(), picked.last()) else {
            return;
        };
        if alt {
            let ids: Vec<ShotId> = picked.iter().map(|&i| seq.shots[i].id).collect();
            let to = if left {
                first.saturating_sub(1)
            } else {
                (last + 2).min(seq.shots.len())
            };
            let next = Sequence {
                shots: seq.moved(&ids, to),
                ..seq.clone()
            };
            edit(cx, next, "Move shots", None);
        } else {
            let i = if left {
                first.saturating_sub(1)
            } else {
                (last + 1).min(seq.shots.len() - 1)
            };
            let shot = &seq.shots[i];
            self.selected = BTreeSet::from([shot.id]);
            cx.edit(Command::Select(vec![shot.node]));
        }
    }

    #[expect(clippy::too_many_arguments, reason = "one card's drawing context")]
    #[expect(
        clippy::too_many_lines,
        reason = "a card: picture, labels, flags, selection, move and trim handles"
    )]
    fn card(
        &mut self,
        ui: &mut egui::Ui,
        cx: &mut PanelCtx<'_>,
        cards: &mut Cards,
        seq: &Sequence,
        shot: &Shot,
        rect: egui::Rect,
        lit: bool,
        info: &CardInfo,
    ) {
        let doc = &cx.state.doc;
        let painter = ui.painter_at(rect.expand(2.0));
        let node = doc.node(shot.node);
        let number = shot.number_at(info.index);
        let title = if shot.title.is_empty() {
            node.map_or_else(
                || "missing node".to_owned(),
                |n| n.display_title(Catalog::builtin()).to_owned(),
            )
        } else {
            shot.title.clone()
        };
        let fill = if lit {
            egui::Color32::from_rgb(52, 64, 92)
        } else {
            egui::Color32::from_gray(38)
        };
        painter.rect_filled(rect, 4.0, fill);
        if lit {
            painter.rect_stroke(
                rect,
                4.0,
                egui::Stroke::new(2.0, egui::Color32::from_rgb(120, 170, 255)),
                egui::StrokeKind::Inside,
            );
        }
        let picture = egui::Rect::from_min_size(
            rect.min + egui::vec2(4.0, 4.0),
            egui::vec2(rect.width() - 8.0, PICTURE_HEIGHT),
        );
        painter.rect_filled(picture, 2.0, egui::Color32::from_gray(14));
        let mut state = "no take yet";
        if let Some(n) = node {
            if let Some(source) = cards::take_source(n, shot.take(doc), &cx.state.root, cx.cache) {
                let px = picture.width().max(picture.height()) * ui.ctx().pixels_per_point();
                match cards.get(&source.hash, cards::bucket_for(px), || (source.load)()) {
                    Some(Thumb::Picture(tex)) => {
                        super::media::paint_fit(ui, tex, picture);
                        state = "picture shown";
                    }
                    Some(Thumb::Wave { .. }) => state = "sound",
                    Some(Thumb::Failed(_)) => state = "no preview",
                    None => state = "loading",
                }
            }
        } else {
            state = "missing node";
        }
        if state != "picture shown" {
            painter.text(
                picture.center(),
                egui::Align2::CENTER_CENTER,
                if state == "missing node" {
                    "missing — node deleted"
                } else {
                    state
                },
                egui::FontId::proportional(11.0),
                egui::Color32::from_gray(150),
            );
        }
        let longer = shot.needs_longer_take(info.clip_ms);
        let text_at = picture.left_bottom() + egui::vec2(0.0, 4.0);
        painter.text(
            text_at,
            egui::Align2::LEFT_TOP,
            format!("{number} · {title}"),
            egui::FontId::proportional(12.0),
            egui::Color32::from_gray(230),
        );
        let seconds = info.duration_ms as f32 / 1000.0;
        painter.text(
            text_at + egui::vec2(0.0, 16.0),
            egui::Align2::LEFT_TOP,
            if longer {
                format!("{seconds:.1} s · needs a longer take")
            } else {
                format!("{seconds:.1} s")
            },
            egui::FontId::proportional(11.0),
            if longer {
                egui::Color32::from_rgb(255, 190, 90)
            } else {
                egui::Color32::from_gray(160)
            },
        );

        // The card itself: click picks, drag moves.
        let id = ui.scope_id().with(("shot", shot.id));
        let body = ui.interact(
            rect.shrink2(egui::vec2(HANDLE, 0.0)),
            id,
            egui::Sense::click_and_drag(),
        );
        let described = format!(
            "Shot {number}: {title}, {seconds:.1} s, {state}{}",
            if longer { ", needs a longer take" } else { "" }
        );
        body.widget_info(|| egui::WidgetInfo::selected(egui::Role::Button, true, lit, &described));
        if body.clicked() {
            let toggle = ui.input(|i| i.modifiers.command || i.modifiers.shift);
            if toggle {
                if !self.selected.remove(&shot.id) {
                    self.selected.insert(shot.id);
                }
            } else {
                self.selected = BTreeSet::from([shot.id]);
            }
            let nodes: Vec<NodeId> = seq
                .shots
                .iter()
                .filter(|s| self.selected.contains(&s.id))
                .map(|s| s.node)
                .collect();
            cx.edit(Command::Select(nodes));
        }
        if body.drag_started() {
            if !self.selected.contains(&shot.id) {
                self.selected = BTreeSet::from([shot.id]);
            }
            let ids = seq
                .shots
                .iter()
                .filter(|s| self.selected.contains(&s.id))
                .map(|s| s.id)
                .collect();
            self.drag = Some(Drag::Move { ids });
        }

        // Trim handles: the end always; the start for clips.
        let handles = [
            (
                false,
                egui::Rect::from_min_max(egui::pos2(rect.right() - HANDLE, rect.top()), rect.max),
            ),
            (
                true,
                egui::Rect::from_min_max(rect.min, egui::pos2(rect.left() + HANDLE, rect.bottom())),
            ),
        ];
        for (start, area) in handles {
            if start && info.clip_ms.is_none() {
                continue;
            }
            let handle = ui.interact(
                area,
                id.with(if start { "trim-in" } else { "trim-out" }),
                egui::Sense::drag(),
            );
            handle.widget_info(|| {
                egui::WidgetInfo::labeled(
                    egui::Role::Splitter,
                    true,
                    format!(
                        "Trim {} of shot {number}",
                        if start { "start" } else { "end" }
                    ),
                )
            });
            if handle.hovered() || handle.dragged() {
                ui.ctx().set_cursor_icon(egui::CursorIcon::ResizeHorizontal);
                painter.rect_filled(area, 2.0, egui::Color32::from_rgb(255, 200, 80));
            }
            if handle.drag_started() {
                self.drag = Some(Drag::Trim {
                    shot: shot.id,
                    start,
                    in_ms: shot.in_ms,
                    duration_ms: info.duration_ms,
                    dx: 0.0,
                });
            }
            if handle.dragged()
                && let Some(Drag::Trim {
                    shot: s,
                    start: st,
                    in_ms,
                    duration_ms,
                    dx,
                }) = &mut self.drag
                && *s == shot.id
                && *st == start
            {
                *dx += handle.drag_delta().x;
                let delta_ms = (*dx / PX_PER_SECOND * 1000.0).round();
                let next = trimmed(
                    shot,
                    start,
                    *in_ms,
                    *duration_ms,
                    delta_ms,
                    info.clip_ms,
                    seq.fps,
                );
                if next == *shot {
                    continue;
                }
                let mut shots = seq.shots.clone();
                shots[info.index] = next;
                edit(
                    cx,
                    Sequence {
                        shots,
                        ..seq.clone()
                    },
                    "Trim shot",
                    Some(format!("trim:{}", shot.id)),
                );
            }
        }
    }
}

/// What a card shows besides the shot.
struct CardInfo {
    index: usize,
    duration_ms: u64,
    clip_ms: Option<u64>,
}

fn edit(cx: &mut PanelCtx<'_>, sequence: Sequence, label: &str, merge: Option<String>) {
    cx.send(AppCommand::Edit(Command::SetSequence {
        sequence: Box::new(sequence),
        label: label.to_owned(),
        merge,
    }));
}

fn card_width(duration_ms: u64) -> f32 {
    (duration_ms as f32 / 1000.0 * PX_PER_SECOND).clamp(MIN_CARD, MAX_CARD)
}

/// `shot` after its start or end edge moved by `delta_ms` from where the drag began. The end of
/// a clip stays inside the clip while it can (an out-point); past the clip's end the shot is
/// held longer and flagged as needing a longer take. A still's end sets its hold. Snapped to
/// frames; never shorter than one frame.
pub fn trimmed(
    shot: &Shot,
    start: bool,
    in_ms: u64,
    duration_ms: u64,
    delta_ms: f32,
    clip_ms: Option<u64>,
    fps: u32,
) -> Shot {
    let frame = frames_to_ms(1, fps).max(1);
    let snap = |ms: i64| -> u64 {
        let ms = u64::try_from(ms.max(0)).unwrap_or(0);
        frames_to_ms(ms_to_frames(ms, fps), fps)
    };
    #[expect(clippy::cast_possible_truncation, reason = "a drag of at most hours")]
    let delta = delta_ms as i64;
    let mut next = shot.clone();
    let dur = i64::try_from(duration_ms).unwrap_or(i64::MAX);
    match clip_ms {
        None => {
            next.hold_ms = Some(snap(dur + delta).max(frame));
            if next.hold_ms == Some(STILL_MS) {
                next.hold_ms = None;
            }
        }
        Some(len) if start => {
            // The in-point moves; the end of what is used stays where it was.
            let end = in_ms + duration_ms.min(len.saturating_sub(in_ms));
            let new_in =
                snap(i64::try_from(in_ms).unwrap_or(0) + delta).min(end.saturating_sub(frame));
            next.in_ms = new_in;
            next.out_ms = Some(end);
            next.hold_ms = None;
        }
        Some(len) => {
            let new_dur = snap(dur + delta).max(frame);
            if shot.in_ms + new_dur <= len {
                next.out_ms = (shot.in_ms + new_dur < len).then_some(shot.in_ms + new_dur);
                next.hold_ms = None;
            } else {
                next.out_ms = None;
                next.hold_ms = Some(new_dur);
            }
        }
    }
    next
}

/// Nodes of `candidates` that can become shots and have none yet, in board order (rows top to
/// bottom, left to right within a row).
pub fn addable(
    doc: &Document,
    candidates: impl IntoIterator<Item = NodeId>,
    seq: &Sequence,
) -> Vec<NodeId> {
    let catalog = Catalog::builtin();
    let taken: BTreeSet<NodeId> = seq.shots.iter().map(|s| s.node).collect();
    let mut nodes: Vec<&aktion_graph::Node> = candidates
        .into_iter()
        .filter(|id| !taken.contains(id))
        .filter_map(|id| doc.node(id))
        .filter(|n| {
            catalog
                .get(&n.kind)
                .is_some_and(|k| matches!(k.output, PortType::Image | PortType::Video))
        })
        .collect();
    nodes.sort_by(|a, b| {
        let row = |n: &aktion_graph::Node| (n.pos[1] / 160.0).floor();
        row(a)
            .total_cmp(&row(b))
            .then(a.pos[0].total_cmp(&b.pos[0]))
    });
    nodes.dedup_by_key(|n| n.id);
    nodes.into_iter().map(|n| n.id).collect()
}

/// The sequence with a shot for each of `nodes` inserted at `at`.
pub fn with_added(seq: &Sequence, nodes: &[NodeId], at: usize) -> Sequence {
    let at = at.min(seq.shots.len());
    let mut shots = seq.shots.clone();
    shots.splice(at..at, nodes.iter().map(|n| Shot::new(*n)));
    Sequence {
        shots,
        ..seq.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trimming_a_still_sets_its_hold_and_a_clip_its_out_point_then_its_hold() {
        let shot = Shot::new(NodeId::new());
        let still = trimmed(&shot, false, 0, 3_000, 1_000.0, None, 24);
        assert_eq!(still.hold_ms, Some(4_000));
        let shorter = trimmed(&shot, false, 0, 5_000, -2_000.0, Some(5_000), 24);
        assert_eq!((shorter.out_ms, shorter.hold_ms), (Some(3_000), None));
        let longer = trimmed(&shot, false, 0, 5_000, 1_500.0, Some(5_000), 24);
        assert_eq!((longer.out_ms, longer.hold_ms), (None, Some(6_500)));
        assert!(longer.needs_longer_take(Some(5_000)));
        let tiny = trimmed(&shot, false, 0, 3_000, -9_000.0, None, 24);
        assert_eq!(tiny.hold_ms, Some(42), "one frame at least");
        let later_in = trimmed(&shot, true, 0, 5_000, 1_000.0, Some(5_000), 24);
        assert_eq!((later_in.in_ms, later_in.out_ms), (1_000, Some(5_000)));
        assert_eq!(later_in.duration_ms(Some(5_000)), 4_000);
    }

    #[test]
    fn running_times_read_like_a_timeline() {
        assert_eq!(
            running_time(14_583),
            "14.6 s",
            "rounded, as the PDF writes it"
        );
        assert_eq!(running_time(65_200), "1:05.2");
        assert_eq!(running_time(0), "0.0 s");
    }
}
