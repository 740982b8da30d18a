//! The animatic player (PRODUCT.md §4.8): the sequence played full-window with its sound, a
//! playhead over the shots, and the shot list beside it. The sequence is first rendered on a
//! worker to a preview MP4 (the animatic export's own renderer, at preview size, so what plays
//! is what exports), then played by the clip player, whose sound leads its clock. Stills and
//! shots without a take are shown with a card of the shot's description.
//!
//! Keys: Space play/pause, K pause, L play, J back to the shot's start (again: the shot
//! before), ←/→ a frame, ↑/↓ the shot before/after, Home/End, Esc closes.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use aktion_export::timeline::{Kind, Timeline};
use aktion_graph::{Catalog, Document, ShotId};
use eframe::egui;

use super::player::{Player, clock};
use super::sound::{SoundEnv, SoundLink};
use super::task::{Spawner, Task};

/// Widest preview rendered (the player shows it full-window; the export makes full size).
const PREVIEW_WIDTH: u32 = 854;

/// What a shot shows in the animatic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpanKind {
    Clip,
    Still,
    /// The node is gone or has no take yet.
    Missing,
}

/// One shot on the animatic's timeline.
#[derive(Clone, Debug, PartialEq)]
pub struct Span {
    pub shot: ShotId,
    pub number: String,
    pub title: String,
    pub description: String,
    pub dialogue: String,
    pub camera: String,
    /// First frame and length, in frames of the sequence.
    pub start: u64,
    pub frames: u64,
    pub kind: SpanKind,
}

/// The spans of a resolved sequence.
pub fn spans(timeline: &Timeline) -> Vec<Span> {
    let (starts, _) = timeline.starts();
    timeline
        .clips
        .iter()
        .zip(starts)
        .map(|(c, start)| Span {
            shot: c.shot,
            number: c.number.clone(),
            title: c.name.clone(),
            description: c.description.clone(),
            dialogue: c.dialogue.clone(),
            camera: c.camera.summary(),
            start,
            frames: c.frames,
            kind: match c.media.as_ref().map(|m| m.kind) {
                Some(Kind::Video) => SpanKind::Clip,
                Some(_) => SpanKind::Still,
                None => SpanKind::Missing,
            },
        })
        .collect()
}

/// The rendered preview: the clip, its sound, the shots.
pub struct Prepared {
    pub video: aktion_media::Video,
    pub sound: Result<aktion_sound::Track, String>,
    pub spans: Vec<Span>,
    pub fps: u32,
}

/// The preview's picture size: the sequence's, at most [`PREVIEW_WIDTH`] wide, even sides.
fn preview_size(timeline: &Timeline) -> (u32, u32) {
    let (w, h) = (timeline.width.max(16), timeline.height.max(16));
    let (w, h) = if w > PREVIEW_WIDTH {
        let h = u64::from(h) * u64::from(PREVIEW_WIDTH) / u64::from(w);
        (PREVIEW_WIDTH, u32::try_from(h).unwrap_or(540))
    } else {
        (w, h)
    };
    ((w.max(16) / 2) * 2, (h.max(16) / 2) * 2)
}

/// Renders the sequence of `doc` (project folder `root`) for playing; `progress` hears
/// thousandths done, `cancel` stops it.
pub fn prepare(
    doc: &Document,
    root: &std::path::Path,
    progress: &AtomicU32,
    cancel: &AtomicBool,
) -> Result<Prepared, String> {
    let timeline = aktion_export::timeline::resolve(doc, Catalog::builtin(), root)
        .map_err(|e| e.to_string())?;
    let mut report = |done: f32| {
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "a fraction in 0..=1"
        )]
        progress.store((done * 1000.0) as u32, Ordering::Relaxed);
        !cancel.load(Ordering::Relaxed)
    };
    let mut options = aktion_export::Options {
        size: Some(preview_size(&timeline)),
        panels: None,
        progress: Some(&mut report),
    };
    let bytes =
        aktion_export::animatic::render(&timeline, &mut options).map_err(|e| e.to_string())?;
    let sound = super::media::sound_track(&bytes);
    let video = aktion_media::Video::open(bytes).map_err(|e| e.to_string())?;
    Ok(Prepared {
        video,
        sound,
        spans: spans(&timeline),
        fps: timeline.fps,
    })
}

/// The player window: preparing, playing, or why it cannot.
pub enum Animatic {
    Preparing {
        task: Task<Result<Prepared, String>>,
        progress: Arc<AtomicU32>,
        cancel: Arc<AtomicBool>,
    },
    Ready(Box<Ready>),
    Failed(String),
}

/// The animatic playing.
pub struct Ready {
    pub player: Player,
    pub spans: Vec<Span>,
    pub fps: u32,
    /// The shot list scrolls to the playing shot when it changes.
    followed: Option<usize>,
}

impl Ready {
    /// The frame shown (the sequence's frame: the preview is made at its rate).
    pub fn frame(&self) -> u64 {
        self.player.shown().unwrap_or(0) as u64
    }

    /// The shot playing at the frame shown.
    pub fn current(&self) -> Option<usize> {
        let f = self.frame();
        self.spans
            .iter()
            .rposition(|s| s.start <= f)
            .or((!self.spans.is_empty()).then_some(0))
    }

    fn seek_frame(&mut self, frame: u64) {
        self.player
            .seek(usize::try_from(frame).unwrap_or(usize::MAX));
    }

    /// Goes to shot `index`'s first frame.
    pub fn go_to_shot(&mut self, index: usize) {
        if let Some(span) = self.spans.get(index) {
            self.seek_frame(span.start);
        }
    }
}

impl Animatic {
    /// Starts rendering the sequence on a worker.
    pub fn start(spawner: &Spawner, doc: Document, root: std::path::PathBuf) -> Self {
        let progress = Arc::new(AtomicU32::new(0));
        let cancel = Arc::new(AtomicBool::new(false));
        let task = {
            let (progress, cancel) = (Arc::clone(&progress), Arc::clone(&cancel));
            spawner.blocking(move || prepare(&doc, &root, &progress, &cancel))
        };
        Self::Preparing {
            task,
            progress,
            cancel,
        }
    }

    /// Takes in the rendered preview: the player opens, paused at the start, and plays.
    pub fn poll(&mut self, env: &SoundEnv) {
        let Animatic::Preparing { task, .. } = self else {
            return;
        };
        match task.poll() {
            super::task::Poll::Pending => {}
            super::task::Poll::Ready(Ok(prepared)) => {
                let link = match prepared.sound {
                    Ok(track) => env.out.voice(&env.spawner, track),
                    Err(why) if why.is_empty() => SoundLink::Silent,
                    Err(why) => SoundLink::Failed(why),
                };
                let mut player = Player::new("animatic".into(), prepared.video, link);
                player.toggle();
                *self = Animatic::Ready(Box::new(Ready {
                    player,
                    spans: prepared.spans,
                    fps: prepared.fps,
                    followed: None,
                }));
            }
            super::task::Poll::Ready(Err(e)) => *self = Animatic::Failed(e),
            super::task::Poll::Lost => {
                *self = Animatic::Failed(super::task::Lost.to_string());
            }
        }
    }

    /// Draws the player over the whole window; false when it was closed.
    pub fn ui(&mut self, ctx: &egui::Context, env: &mut SoundEnv) -> bool {
        let screen = ctx.content_rect();
        let mut open = !ctx.input_mut(|i| i.consume_key(egui::Modifiers::NONE, egui::Key::Escape));
        egui::Area::new(egui::Id::unique("animatic"))
            .order(egui::Order::Foreground)
            .fixed_pos(screen.min)
            .show(ctx, |ui| {
                ui.painter()
                    .rect_filled(screen, 0.0, egui::Color32::from_gray(8));
                ui.set_min_size(screen.size());
                ui.set_max_size(screen.size());
                ui.horizontal(|ui| {
                    ui.heading("Animatic");
                    if ui.button("Close (Esc)").clicked() {
                        open = false;
                    }
                    ui.weak("Space play/pause · J back · K stop · L play · Left/Right a frame · Up/Down a shot");
                });
                match self {
                    Animatic::Preparing {
                        progress, cancel, ..
                    } => {
                        let done = f32::from(
                            u16::try_from(progress.load(Ordering::Relaxed)).unwrap_or(1000),
                        ) / 1000.0;
                        ui.add_space(screen.height() * 0.35);
                        ui.vertical_centered(|ui| {
                            ui.label("Putting the sequence together…");
                            ui.add(
                                egui::ProgressBar::new(done)
                                    .desired_width(360.0)
                                    .show_percentage(),
                            );
                            if ui.button("Cancel").clicked() {
                                cancel.store(true, Ordering::Relaxed);
                                open = false;
                            }
                        });
                        ui.ctx().request_repaint_after(Duration::from_millis(100));
                    }
                    Animatic::Failed(why) => {
                        ui.add_space(screen.height() * 0.35);
                        ui.vertical_centered(|ui| {
                            ui.colored_label(
                                ui.visuals().error_fg_color,
                                format!("The animatic cannot play: {why}"),
                            );
                        });
                    }
                    Animatic::Ready(ready) => ready.ui(ui, env),
                }
            });
        if !open && let Animatic::Preparing { cancel, .. } = self {
            cancel.store(true, Ordering::Relaxed);
        }
        open
    }
}

impl Ready {
    fn keys(&mut self, ui: &egui::Ui) {
        use egui::Key;
        let pressed = |key: Key| ui.input_mut(|i| i.consume_key(egui::Modifiers::NONE, key));
        if pressed(Key::Space) {
            self.player.toggle();
        }
        if pressed(Key::K) && self.player.is_playing() {
            self.player.toggle();
        }
        if pressed(Key::L) && !self.player.is_playing() {
            self.player.toggle();
        }
        if pressed(Key::J) {
            // Back to this shot's start; from (near) its start, to the shot before.
            if let Some(i) = self.current() {
                let near_start = self.frame() <= self.spans[i].start + u64::from(self.fps / 2);
                let to = if near_start { i.saturating_sub(1) } else { i };
                self.go_to_shot(to);
            }
        }
        if pressed(Key::ArrowLeft) {
            self.player.step(false);
        }
        if pressed(Key::ArrowRight) {
            self.player.step(true);
        }
        if pressed(Key::ArrowUp) {
            let i = self.current().unwrap_or(0);
            self.go_to_shot(i.saturating_sub(1));
        }
        if pressed(Key::ArrowDown) {
            let i = self.current().unwrap_or(0);
            self.go_to_shot((i + 1).min(self.spans.len().saturating_sub(1)));
        }
        if pressed(Key::Home) {
            self.go_to_shot(0);
        }
        if pressed(Key::End) {
            self.go_to_shot(self.spans.len().saturating_sub(1));
        }
    }

    fn ui(&mut self, ui: &mut egui::Ui, env: &mut SoundEnv) {
        self.keys(ui);
        if let Some(due) = self.player.advance(ui.ctx(), env.volume.gain()) {
            ui.ctx().request_repaint_after(due);
        } else if self.player.shown().is_none() {
            ui.ctx().request_repaint_after(Duration::from_millis(15));
        }
        let current = self.current();
        let avail = ui.available_rect_before_wrap();
        let list_w = (avail.width() * 0.28).clamp(220.0, 420.0);
        let bar_h = 96.0;
        let picture = egui::Rect::from_min_max(
            avail.min + egui::vec2(8.0, 4.0),
            egui::pos2(avail.max.x - list_w - 16.0, avail.max.y - bar_h),
        );
        let list = egui::Rect::from_min_max(
            egui::pos2(picture.max.x + 8.0, avail.min.y + 4.0),
            egui::pos2(avail.max.x - 8.0, avail.max.y - 8.0),
        );
        let bar = egui::Rect::from_min_max(
            egui::pos2(picture.min.x, picture.max.y + 6.0),
            egui::pos2(picture.max.x, avail.max.y - 8.0),
        );
        self.picture_ui(ui, picture, current);
        self.bar_ui(ui, bar, current, env);
        self.list_ui(ui, list, current);
        ui.allocate_rect(avail, egui::Sense::hover());
    }

    /// The picture, with a card for stills (a caption) and shots without a take (the shot's
    /// description where the picture would be).
    fn picture_ui(&mut self, ui: &mut egui::Ui, rect: egui::Rect, current: Option<usize>) {
        let painter = ui.painter_at(rect);
        painter.rect_filled(rect, 4.0, egui::Color32::BLACK);
        let response = ui.interact(
            rect,
            ui.scope_id().with("animatic-picture"),
            egui::Sense::click(),
        );
        if response.clicked() {
            self.player.toggle();
        }
        let span = current.and_then(|i| self.spans.get(i));
        let missing = span.is_some_and(|s| s.kind == SpanKind::Missing);
        if !missing && let Some(texture) = self.player.texture() {
            super::media::paint_fit(ui, texture, rect);
        }
        let Some(span) = span else { return };
        let text = |s: &str, size: f32, color: egui::Color32| {
            egui::RichText::new(s.to_owned()).size(size).color(color)
        };
        if missing {
            let card = rect.shrink2(egui::vec2(rect.width() * 0.18, rect.height() * 0.22));
            painter.rect_filled(card, 8.0, egui::Color32::from_gray(34));
            let mut child = ui.new_child(egui::UiBuilder::new().max_rect(card.shrink(18.0)));
            child.label(text(
                &format!("Shot {} · {}", span.number, span.title),
                22.0,
                egui::Color32::WHITE,
            ));
            child.label(text(
                "no take yet: run its node to see it here",
                13.0,
                egui::Color32::from_gray(150),
            ));
            child.add_space(8.0);
            if !span.description.is_empty() {
                child.label(text(&span.description, 16.0, egui::Color32::from_gray(220)));
            }
            if !span.camera.is_empty() {
                child.label(text(&span.camera, 13.0, egui::Color32::from_gray(160)));
            }
        } else if span.kind == SpanKind::Still && !span.description.is_empty() {
            let band =
                egui::Rect::from_min_max(egui::pos2(rect.min.x, rect.max.y - 54.0), rect.max);
            painter.rect_filled(band, 0.0, egui::Color32::from_black_alpha(170));
            painter.text(
                band.left_center() + egui::vec2(14.0, 0.0),
                egui::Align2::LEFT_CENTER,
                super::view::ellipsize(&span.description, 120),
                egui::FontId::proportional(15.0),
                egui::Color32::from_gray(230),
            );
        }
        if !span.dialogue.is_empty() {
            let y = if span.kind == SpanKind::Still {
                70.0
            } else {
                24.0
            };
            painter.text(
                egui::pos2(rect.center().x, rect.max.y - y),
                egui::Align2::CENTER_BOTTOM,
                super::view::ellipsize(&span.dialogue, 100),
                egui::FontId::proportional(18.0),
                egui::Color32::from_rgb(255, 236, 160),
            );
        }
    }

    /// Transport, the shots as blocks along the time, the playhead; click or drag to seek.
    fn bar_ui(
        &mut self,
        ui: &mut egui::Ui,
        rect: egui::Rect,
        current: Option<usize>,
        env: &mut SoundEnv,
    ) {
        let total = self.spans.last().map_or(1, |s| s.start + s.frames).max(1);
        let mut child = ui.new_child(egui::UiBuilder::new().max_rect(rect));
        child.horizontal(|ui| {
            if super::sound::play_button(ui, self.player.is_playing()) {
                self.player.toggle();
            }
            if ui
                .small_button("|< Shot")
                .on_hover_text("The shot before (Up)")
                .clicked()
            {
                let i = current.unwrap_or(0);
                self.go_to_shot(i.saturating_sub(1));
            }
            if ui
                .small_button("Shot >|")
                .on_hover_text("The shot after (Down)")
                .clicked()
            {
                let i = current.unwrap_or(0);
                self.go_to_shot((i + 1).min(self.spans.len().saturating_sub(1)));
            }
            let fps = f64::from(self.fps.max(1));
            #[expect(clippy::cast_precision_loss, reason = "frames of a sequence")]
            let (now, end) = (self.frame() as f64 / fps, total as f64 / fps);
            ui.label(egui::RichText::new(format!("{} / {}", clock(now), clock(end))).monospace());
            if let Some(i) = current {
                ui.label(format!("shot {} of {}", i + 1, self.spans.len()));
            }
            if let Some(status) = self.player.sound_status() {
                ui.weak(status);
            }
            env.volume.ui(ui, false);
        });
        let track = egui::Rect::from_min_max(
            egui::pos2(rect.min.x, rect.min.y + 34.0),
            egui::pos2(rect.max.x, rect.max.y),
        );
        let response = ui.interact(
            track,
            ui.scope_id().with("animatic-track"),
            egui::Sense::click_and_drag(),
        );
        let painter = ui.painter_at(track);
        #[expect(clippy::cast_precision_loss, reason = "frames of a sequence")]
        let x_of = |frame: u64| track.min.x + track.width() * (frame as f32 / total as f32);
        for (i, span) in self.spans.iter().enumerate() {
            let r = egui::Rect::from_min_max(
                egui::pos2(x_of(span.start), track.min.y),
                egui::pos2(x_of(span.start + span.frames) - 1.0, track.max.y),
            );
            let fill = match (Some(i) == current, span.kind) {
                (true, _) => egui::Color32::from_rgb(70, 100, 150),
                (false, SpanKind::Missing) => egui::Color32::from_rgb(70, 45, 45),
                (false, _) if i % 2 == 0 => egui::Color32::from_gray(48),
                (false, _) => egui::Color32::from_gray(40),
            };
            painter.rect_filled(r, 2.0, fill);
            if r.width() > 28.0 {
                painter.text(
                    r.left_top() + egui::vec2(4.0, 3.0),
                    egui::Align2::LEFT_TOP,
                    super::view::ellipsize(
                        &format!("{} {}", span.number, span.title),
                        (r.width() / 7.0) as usize,
                    ),
                    egui::FontId::proportional(11.0),
                    egui::Color32::from_gray(210),
                );
            }
        }
        let x = x_of(self.frame());
        painter.line_segment(
            [egui::pos2(x, track.min.y), egui::pos2(x, track.max.y)],
            egui::Stroke::new(2.0, egui::Color32::from_rgb(255, 200, 60)),
        );
        if (response.clicked() || response.dragged())
            && let Some(p) = response.interact_pointer_pos()
        {
            let t = ((p.x - track.min.x) / track.width()).clamp(0.0, 1.0);
            #[expect(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                clippy::cast_precision_loss,
                reason = "a fraction of the frames"
            )]
            let frame = ((t * total as f32) as u64).min(total - 1);
            self.seek_frame(frame);
        }
    }

    /// The shot list: number, title, length, description, dialogue; the playing one marked;
    /// a click plays from it.
    fn list_ui(&mut self, ui: &mut egui::Ui, rect: egui::Rect, current: Option<usize>) {
        let mut child = ui.new_child(egui::UiBuilder::new().max_rect(rect));
        child.strong(format!("Shots ({})", self.spans.len()));
        let follow = current != self.followed;
        self.followed = current;
        let mut go = None;
        egui::ScrollArea::vertical()
            .id_salt("animatic-shots")
            .auto_shrink([false, false])
            .show(&mut child, |ui| {
                for (i, span) in self.spans.iter().enumerate() {
                    let playing = Some(i) == current;
                    let fill = if playing {
                        egui::Color32::from_rgb(40, 58, 90)
                    } else {
                        egui::Color32::from_gray(22)
                    };
                    let frame = egui::Frame::new()
                        .fill(fill)
                        .corner_radius(4.0)
                        .inner_margin(6.0)
                        .show(ui, |ui| {
                            ui.set_width(ui.available_width());
                            #[expect(clippy::cast_precision_loss, reason = "frames of a shot")]
                            let secs = span.frames as f64 / f64::from(self.fps.max(1));
                            ui.horizontal(|ui| {
                                ui.strong(&span.number);
                                ui.label(&span.title);
                                ui.with_layout(
                                    egui::Layout::right_to_left(egui::Align::Center),
                                    |ui| {
                                        ui.weak(format!("{secs:.1} s"));
                                    },
                                );
                            });
                            if span.kind == SpanKind::Missing {
                                ui.colored_label(
                                    egui::Color32::from_rgb(220, 140, 120),
                                    "no take yet",
                                );
                            }
                            if !span.description.is_empty() {
                                ui.weak(super::view::ellipsize(&span.description, 140));
                            }
                            if !span.dialogue.is_empty() {
                                ui.label(
                                    egui::RichText::new(super::view::ellipsize(
                                        &span.dialogue,
                                        140,
                                    ))
                                    .italics()
                                    .color(egui::Color32::from_rgb(240, 220, 150)),
                                );
                            }
                        });
                    let response = ui.interact(
                        frame.response.rect,
                        ui.scope_id().with(("animatic-shot", i)),
                        egui::Sense::click(),
                    );
                    if response.clicked() {
                        go = Some(i);
                    }
                    if playing && follow {
                        response.scroll_to_me(Some(egui::Align::Center));
                    }
                }
            });
        if let Some(i) = go {
            self.go_to_shot(i);
        }
    }
}
