//! The clip player of the inspector and the full-window viewer: play/pause, scrub, frame step,
//! loop, volume and mute, time and frame shown. Frames are decoded ahead on a worker thread into
//! a bounded queue; while paused the queue fills and the worker waits, so nothing decodes; the
//! UI repaints only when the next frame is due. A clip's sound track plays on the audio device
//! and leads the clock, so the picture follows the sound.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use aktion_media::Video;
use eframe::egui;

use super::sound::{SoundEnv, SoundLink};

/// Frames decoded ahead of the playhead.
const AHEAD: usize = 6;
/// Longest side of decoded frames (the viewer shows them full-window).
const FRAME_SIDE: u32 = 1280;

/// What the worker and the UI share.
#[derive(Default)]
struct Ahead {
    /// Decoded frames of generation `gen`, in display order: (index, picture).
    queue: VecDeque<(usize, egui::ColorImage)>,
    /// A seek asked for and not yet started: frame index and its generation.
    seek: Option<(usize, u64)>,
    /// Generation the queued frames belong to.
    generation: u64,
    ended: bool,
    stop: bool,
    error: Option<String>,
    /// Frames decoded since opening (tests: nothing decodes while paused).
    decoded: usize,
}

type Shared = Arc<(Mutex<Ahead>, Condvar)>;

fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, Ahead> {
    shared.0.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One opened clip and its playback state.
pub struct Player {
    pub key: String,
    video: Video,
    shared: Shared,
    worker: Option<JoinHandle<()>>,
    texture: Option<egui::TextureHandle>,
    shown: Option<usize>,
    generation: u64,
    playing: bool,
    pub looping: bool,
    /// The sound track on the device (or why there is none).
    sound: SoundLink,
    /// Playhead in seconds at `since` (advancing from then while playing).
    anchor: f64,
    since: Instant,
}

impl Drop for Player {
    fn drop(&mut self) {
        lock(&self.shared).stop = true;
        self.shared.1.notify_all();
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

impl Player {
    /// Starts the decode-ahead worker for `video`, from its first frame.
    pub fn new(key: String, video: Video, sound: SoundLink) -> Self {
        let shared: Shared = Arc::default();
        lock(&shared).seek = Some((0, 1));
        let worker = {
            let (shared, video) = (Arc::clone(&shared), video.clone());
            std::thread::Builder::new()
                .name("clip-decoder".into())
                .spawn(move || decode_ahead(&video, &shared))
                .ok()
        };
        Self {
            key,
            video,
            shared,
            worker,
            texture: None,
            shown: None,
            generation: 1,
            playing: false,
            looping: true,
            sound,
            anchor: 0.0,
            since: Instant::now(),
        }
    }

    pub fn is_playing(&self) -> bool {
        self.playing
    }

    /// The frame on screen (tests).
    pub fn shown(&self) -> Option<usize> {
        self.shown
    }

    /// The picture on screen, once one is.
    pub fn texture(&self) -> Option<&egui::TextureHandle> {
        self.texture.as_ref()
    }

    /// Sound samples handed to the device so far (tests).
    pub fn sound_delivered(&self) -> Option<u64> {
        self.sound.voice().map(aktion_sound::Voice::delivered)
    }

    /// Why the clip plays without sound, if it does (tests and the label).
    pub fn sound_status(&self) -> Option<String> {
        self.sound.status()
    }

    /// Sets the sound to the playhead and the play state.
    fn sync_sound(&self) {
        self.sound.sync(self.playing, self.anchor);
    }

    /// Frames the worker decoded so far (tests).
    pub fn decoded(&self) -> usize {
        lock(&self.shared).decoded
    }

    fn position(&self) -> f64 {
        if self.playing {
            self.anchor + self.since.elapsed().as_secs_f64()
        } else {
            self.anchor
        }
    }

    pub fn toggle(&mut self) {
        if self.playing {
            self.anchor = self.position();
            self.playing = false;
        } else {
            // At the end, play starts again from the top.
            let last = self.video.info().frames.saturating_sub(1);
            if self.shown == Some(last) {
                self.seek(0);
            }
            self.since = Instant::now();
            self.playing = true;
        }
        self.sync_sound();
    }

    /// Shows frame `index` next (pausing keeps the playhead there).
    pub fn seek(&mut self, index: usize) {
        let index = index.min(self.video.info().frames.saturating_sub(1));
        self.anchor = self.video.frame_time(index);
        self.since = Instant::now();
        self.sync_sound();
        // The next frame is already waiting: no need to restart decoding.
        {
            let ahead = lock(&self.shared);
            if ahead.seek.is_none()
                && ahead.generation == self.generation
                && ahead.queue.front().is_some_and(|(i, _)| *i == index)
            {
                return;
            }
        }
        self.generation += 1;
        lock(&self.shared).seek = Some((index, self.generation));
        self.shared.1.notify_all();
    }

    /// One frame forward or back, paused.
    pub fn step(&mut self, forward: bool) {
        self.anchor = self.position();
        self.playing = false;
        let now = self.shown.unwrap_or(0);
        let target = if forward {
            now + 1
        } else {
            now.saturating_sub(1)
        };
        self.seek(target);
    }

    /// Takes the frames due from the worker; returns when the next one is due, while playing.
    pub fn advance(&mut self, ctx: &egui::Context, gain: f32) -> Option<Duration> {
        let (playing, anchor) = (self.playing, self.position());
        if let Some(heard) = self.sound.lead(playing, anchor, gain) {
            self.anchor = heard;
            self.since = Instant::now();
        }
        let info = self.video.info().clone();
        let mut position = self.position();
        if self.playing && position >= info.duration {
            if self.looping {
                self.seek(0);
                position = 0.0;
            } else {
                self.anchor = info.duration;
                self.playing = false;
                self.sync_sound();
            }
        }
        let target = self.video.frame_at(position);
        let mut newest = None;
        {
            let mut ahead = lock(&self.shared);
            if ahead.generation == self.generation && ahead.seek.is_none() {
                while ahead.queue.front().is_some_and(|(i, _)| *i <= target) {
                    newest = ahead.queue.pop_front();
                }
                // Paused after a seek: show the frame sought even if it is the only one.
                if newest.is_none()
                    && self.shown.is_none_or(|s| s != target)
                    && ahead.queue.front().is_some_and(|(i, _)| *i == target)
                {
                    newest = ahead.queue.pop_front();
                }
            }
        }
        if newest.is_some() {
            self.shared.1.notify_all();
        }
        if let Some((index, image)) = newest {
            match &mut self.texture {
                Some(texture) => texture.set(image, egui::TextureOptions::LINEAR),
                None => {
                    self.texture = Some(ctx.load_texture(
                        format!("player:{}", self.key),
                        image,
                        egui::TextureOptions::LINEAR,
                    ));
                }
            }
            self.shown = Some(index);
        }
        if !self.playing {
            return None;
        }
        let next = self.video.frame_time(target + 1);
        let due = if target + 1 >= info.frames {
            info.duration - position
        } else {
            next - position
        };
        Some(Duration::from_secs_f64(due.clamp(0.001, 1.0)))
    }

    /// The player: picture, controls, time. `keys` lets it take Space and the arrow keys.
    pub fn ui(
        &mut self,
        ui: &mut egui::Ui,
        width: f32,
        height: f32,
        keys: bool,
        env: &mut SoundEnv,
    ) -> bool {
        let mut full = false;
        if keys {
            let (space, left, right) = ui.input_mut(|i| {
                (
                    i.consume_key(egui::Modifiers::NONE, egui::Key::Space),
                    i.consume_key(egui::Modifiers::NONE, egui::Key::ArrowLeft),
                    i.consume_key(egui::Modifiers::NONE, egui::Key::ArrowRight),
                )
            });
            if space {
                self.toggle();
            }
            if left || right {
                self.step(right);
            }
        }
        if let Some(due) = self.advance(ui.ctx(), env.volume.gain()) {
            ui.ctx().request_repaint_after(due);
        } else if matches!(self.sound, SoundLink::Opening(_))
            || (lock(&self.shared).queue.is_empty() && self.shown.is_none())
        {
            // The first frame is on its way.
            ui.ctx().request_repaint_after(Duration::from_millis(15));
        }
        let (rect, response) =
            ui.allocate_exact_size(egui::vec2(width, height), egui::Sense::click());
        ui.painter()
            .rect_filled(rect, 4.0, egui::Color32::from_gray(12));
        if let Some(texture) = &self.texture {
            super::media::paint_fit(ui, texture, rect);
        } else {
            let error = lock(&self.shared).error.clone();
            super::media::placeholder(ui, rect, error.as_deref().unwrap_or("decoding…"));
        }
        if response.clicked() {
            self.toggle();
        }
        let info = self.video.info().clone();
        let frames = info.frames.max(1);
        if self.controls_ui(ui, keys, env) {
            full = true;
        }
        let mut index = self.shown.unwrap_or(0);
        let scrub = ui.add(
            egui::Slider::new(&mut index, 0..=frames - 1)
                .show_value(false)
                .text("frame"),
        );
        if scrub.changed() {
            self.playing = false;
            self.seek(index);
        }
        let shown = self.shown.unwrap_or(0);
        let sound = self
            .sound
            .status()
            .map(|status| format!(" · {status}"))
            .unwrap_or_default();
        ui.label(
            egui::RichText::new(format!(
                "{} / {} · frame {} of {} · {:.2} fps · {}×{} {}{sound}",
                clock(self.video.frame_time(shown)),
                clock(info.duration),
                shown + 1,
                frames,
                info.fps,
                info.width,
                info.height,
                info.codec,
            ))
            .weak()
            .monospace(),
        );
        full
    }

    /// Play, frame steps, loop, full window, volume; true when Full window was clicked.
    fn controls_ui(&mut self, ui: &mut egui::Ui, keys: bool, env: &mut SoundEnv) -> bool {
        let mut full = false;
        ui.horizontal_wrapped(|ui| {
            if super::sound::play_button(ui, self.playing) {
                self.toggle();
            }
            if ui
                .small_button("< Frame")
                .on_hover_text("Previous frame (←)")
                .clicked()
            {
                self.step(false);
            }
            if ui
                .small_button("Frame >")
                .on_hover_text("Next frame (→)")
                .clicked()
            {
                self.step(true);
            }
            ui.checkbox(&mut self.looping, "Loop");
            if ui
                .small_button("Full window")
                .on_hover_text("Show the clip over the whole window")
                .clicked()
            {
                full = true;
            }
            if !matches!(self.sound, SoundLink::Silent) {
                env.volume.ui(ui, keys);
            }
        });
        full
    }
}

pub(super) fn clock(seconds: f64) -> String {
    let seconds = seconds.max(0.0);
    let minutes = (seconds / 60.0).floor();
    format!("{:02}:{:05.2}", minutes as u64, seconds - minutes * 60.0)
}

/// The worker: decodes from the latest seek into the queue, waiting while the queue is full.
fn decode_ahead(video: &Video, shared: &Shared) {
    let mut frames = None;
    let mut generation = 0;
    loop {
        {
            let mut ahead = lock(shared);
            while !ahead.stop
                && ahead.seek.is_none()
                && (ahead.queue.len() >= AHEAD || ahead.ended || frames.is_none())
            {
                ahead = shared.1.wait(ahead).unwrap_or_else(PoisonError::into_inner);
            }
            if ahead.stop {
                return;
            }
            if let Some((index, g)) = ahead.seek.take() {
                ahead.queue.clear();
                ahead.ended = false;
                ahead.generation = g;
                generation = g;
                drop(ahead);
                match video.frames_from(index, Some(FRAME_SIDE)) {
                    Ok(f) => frames = Some(f),
                    Err(err) => {
                        let mut ahead = lock(shared);
                        ahead.error = Some(err.to_string());
                        ahead.ended = true;
                        frames = None;
                    }
                }
                continue;
            }
        }
        let Some(iter) = frames.as_mut() else {
            continue;
        };
        let next = iter.next();
        let mut ahead = lock(shared);
        if ahead.seek.is_some() || ahead.generation != generation {
            continue;
        }
        match next {
            Some(Ok(frame)) => {
                ahead.decoded += 1;
                ahead
                    .queue
                    .push_back((frame.index, super::media::color_image(&frame.image)));
            }
            Some(Err(err)) => {
                ahead.error = Some(err.to_string());
                ahead.ended = true;
            }
            None => ahead.ended = true,
        }
        drop(ahead);
        shared.1.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_reads_minutes_and_hundredths() {
        assert_eq!(clock(0.0), "00:00.00");
        assert_eq!(clock(75.5), "01:15.50");
    }
}
