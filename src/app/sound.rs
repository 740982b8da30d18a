//! Sound in the inspector: where it plays ([`SoundOut`], from the setup), one volume and mute
//! for every player ([`Volume`]), a track's voice on the device opened off the UI thread
//! ([`SoundLink`]), and the player of a sound take ([`SoundPlayer`]: play/pause, a playhead on
//! the waveform, click to seek). With no audio device the player says so and nothing else fails.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use aktion_sound::{Output, Track, Voice};

use super::task::{Poll, Spawner, Task};

/// Where sound plays.
#[derive(Clone, Debug)]
pub enum SoundOut {
    /// The system's default output device.
    Device,
    /// The PulseAudio server on this Unix socket (`AKTION_SOUND_SERVER`; tests).
    Server(PathBuf),
    /// No sound, and why (shown to the user).
    Off(String),
}

impl SoundOut {
    /// Connects (blocks for a handshake: call it on a worker).
    fn open(&self) -> Result<Output, String> {
        match self {
            Self::Device => Output::open().map_err(|e| e.to_string()),
            #[cfg(target_os = "linux")]
            Self::Server(path) => Output::open_at(path).map_err(|e| e.to_string()),
            #[cfg(not(target_os = "linux"))]
            Self::Server(path) => Err(format!(
                "no audio device: {} names a PulseAudio socket, which this system does not use",
                path.display()
            )),
            Self::Off(why) => Err(format!("no audio device: {why}")),
        }
    }

    /// Puts `track` on the device on a worker, paused at its start.
    pub fn voice(&self, spawner: &Spawner, track: Track) -> SoundLink {
        let out = self.clone();
        SoundLink::Opening(spawner.blocking(move || {
            out.open()
                .and_then(|output| output.voice(track).map_err(|e| e.to_string()))
        }))
    }
}

/// What every player shares: where sound plays, the runtime that opens it, the volume.
pub struct SoundEnv {
    pub out: SoundOut,
    pub spawner: Spawner,
    pub volume: Volume,
}

/// Loudness of every player: a level and mute.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Volume {
    pub level: f32,
    pub muted: bool,
}

impl Default for Volume {
    fn default() -> Self {
        Self {
            level: 0.8,
            muted: false,
        }
    }
}

impl Volume {
    pub fn gain(self) -> f32 {
        if self.muted { 0.0 } else { self.level }
    }

    /// Mute and a level slider; `keys` lets M toggle mute.
    pub fn ui(&mut self, ui: &mut egui::Ui, keys: bool) {
        if keys && ui.input_mut(|i| i.consume_key(egui::Modifiers::NONE, egui::Key::M)) {
            self.muted = !self.muted;
        }
        ui.checkbox(&mut self.muted, "Mute")
            .on_hover_text("Mute the sound (M)");
        ui.add_enabled(
            !self.muted,
            egui::Slider::new(&mut self.level, 0.0..=1.0)
                .show_value(false)
                .text("volume"),
        );
    }
}

/// A track's voice on the device: none (a silent clip), on its way, playing, or why not.
pub enum SoundLink {
    Silent,
    Opening(Task<Result<Voice, String>>),
    Ready(Voice),
    Failed(String),
}

impl SoundLink {
    /// The voice, once the worker has opened it; `ready` runs once when it arrives.
    pub fn poll(&mut self, ready: impl FnOnce(&Voice)) -> Option<&Voice> {
        if let Self::Opening(task) = self {
            match task.poll() {
                Poll::Pending => {}
                Poll::Ready(Ok(voice)) => {
                    ready(&voice);
                    *self = Self::Ready(voice);
                }
                Poll::Ready(Err(why)) => *self = Self::Failed(why),
                Poll::Lost => *self = Self::Failed("the sound could not be opened".into()),
            }
        }
        match self {
            Self::Ready(voice) => Some(voice),
            _ => None,
        }
    }

    pub fn voice(&self) -> Option<&Voice> {
        match self {
            Self::Ready(voice) => Some(voice),
            _ => None,
        }
    }

    /// Puts the sound at `at` seconds, playing or not.
    pub fn sync(&self, playing: bool, at: f64) {
        if let Some(voice) = self.voice() {
            voice.set_playing(false);
            voice.seek(at);
            voice.set_playing(playing);
        }
    }

    /// Takes in the voice once it is open (placed at `at`), sets its loudness, and while it
    /// plays returns where it is: the sound leads, the playhead follows.
    pub fn lead(&mut self, playing: bool, at: f64, gain: f32) -> Option<f64> {
        let voice = self.poll(|voice| {
            voice.seek(at);
            voice.set_playing(playing);
        })?;
        voice.set_gain(gain);
        (playing && !voice.finished()).then(|| voice.position())
    }

    /// A line for the player: why there is no sound, if there is none.
    pub fn status(&self) -> Option<String> {
        match self {
            Self::Silent => Some("no sound track".into()),
            Self::Opening(_) => Some("opening the audio device…".into()),
            Self::Ready(_) => None,
            Self::Failed(why) => Some(format!("{why}: the picture plays alone")),
        }
    }
}

/// The player of a sound take: play/pause (Space), the playhead on the waveform, click to seek.
pub struct SoundPlayer {
    track: Track,
    link: Option<SoundLink>,
    playing: bool,
    /// Playhead in seconds at `since` (advancing while playing).
    anchor: f64,
    since: Instant,
}

impl SoundPlayer {
    pub fn new(track: Track) -> Self {
        Self {
            track,
            link: None,
            playing: false,
            anchor: 0.0,
            since: Instant::now(),
        }
    }

    pub fn is_playing(&self) -> bool {
        self.playing
    }

    /// Samples handed to the device so far (tests).
    pub fn delivered(&self) -> Option<u64> {
        self.link.as_ref()?.voice().map(Voice::delivered)
    }

    /// Why there is no sound, if there is none (tests and the label).
    pub fn status(&self) -> Option<String> {
        self.link.as_ref().and_then(SoundLink::status)
    }

    pub fn position(&self) -> f64 {
        let seconds = self.track.seconds();
        if self.playing {
            (self.anchor + self.since.elapsed().as_secs_f64()).min(seconds)
        } else {
            self.anchor
        }
    }

    /// Plays or pauses; the device is opened on the first play.
    pub fn toggle(&mut self, env: &SoundEnv) {
        if self.playing {
            self.anchor = self.position();
            self.playing = false;
        } else {
            if self.position() >= self.track.seconds() - 0.01 {
                self.anchor = 0.0;
            }
            self.since = Instant::now();
            self.playing = true;
            if self.link.is_none() {
                self.link = Some(env.out.voice(&env.spawner, self.track.clone()));
            }
        }
        self.sync_voice();
    }

    /// Moves the playhead to `seconds`.
    pub fn seek(&mut self, seconds: f64) {
        self.anchor = seconds.clamp(0.0, self.track.seconds());
        self.since = Instant::now();
        self.sync_voice();
    }

    fn sync_voice(&self) {
        if let Some(link) = &self.link {
            link.sync(self.playing, self.anchor);
        }
    }

    /// Takes in the opened voice, follows its clock, stops at the end; returns when to repaint.
    pub fn advance(&mut self, gain: f32) -> Option<Duration> {
        let (playing, anchor) = (self.playing, self.position());
        if let Some(heard) = self
            .link
            .as_mut()
            .and_then(|link| link.lead(playing, anchor, gain))
        {
            self.anchor = heard;
            self.since = Instant::now();
        }
        if !self.playing {
            return None;
        }
        if self.position() >= self.track.seconds() {
            self.anchor = self.track.seconds();
            self.playing = false;
            self.sync_voice();
            return None;
        }
        Some(Duration::from_millis(33))
    }

    /// The waveform with its playhead, the transport and the time; `keys` lets Space play.
    pub fn ui(
        &mut self,
        ui: &mut egui::Ui,
        peaks: &[f32],
        width: f32,
        keys: bool,
        env: &mut SoundEnv,
    ) {
        if keys && ui.input_mut(|i| i.consume_key(egui::Modifiers::NONE, egui::Key::Space)) {
            self.toggle(env);
        }
        if let Some(due) = self.advance(env.volume.gain()) {
            ui.ctx().request_repaint_after(due);
        } else if matches!(self.link, Some(SoundLink::Opening(_))) {
            ui.ctx().request_repaint_after(Duration::from_millis(30));
        }
        let (rect, response) =
            ui.allocate_exact_size(egui::vec2(width, width * 0.25), egui::Sense::click());
        paint_wave(ui, rect, peaks);
        let seconds = self.track.seconds();
        if seconds > 0.0 {
            let x = rect.left() + rect.width() * (self.position() / seconds) as f32;
            ui.painter().line_segment(
                [egui::pos2(x, rect.top()), egui::pos2(x, rect.bottom())],
                egui::Stroke::new(1.5, egui::Color32::from_rgb(255, 200, 80)),
            );
        }
        if response.clicked()
            && let Some(pos) = response.interact_pointer_pos()
        {
            let at = f64::from((pos.x - rect.left()) / rect.width().max(1.0));
            self.seek(at * seconds);
        }
        ui.horizontal_wrapped(|ui| {
            if play_button(ui, self.playing) {
                self.toggle(env);
            }
            env.volume.ui(ui, keys);
        });
        let mut line = format!(
            "sound · {} / {}",
            super::player::clock(self.position()),
            super::player::clock(seconds)
        );
        if let Some(status) = self.status() {
            line.push_str(" · ");
            line.push_str(&status);
        }
        ui.label(egui::RichText::new(line).weak());
    }
}

/// The Play/Pause button of every player; true when clicked.
pub fn play_button(ui: &mut egui::Ui, playing: bool) -> bool {
    let label = if playing { "Pause" } else { "Play" };
    ui.button(label)
        .on_hover_text("Play or pause (Space)")
        .clicked()
}

/// Bars of `peaks` across `rect`.
pub fn paint_wave(ui: &egui::Ui, rect: egui::Rect, peaks: &[f32]) {
    let painter = ui.painter();
    painter.rect_filled(rect, 4.0, egui::Color32::from_gray(20));
    let bar = rect.width() / peaks.len().max(1) as f32;
    for (i, p) in peaks.iter().enumerate() {
        let x = rect.left() + (i as f32 + 0.5) * bar;
        let half = (p * rect.height() * 0.45).max(0.5);
        painter.line_segment(
            [
                egui::pos2(x, rect.center().y - half),
                egui::pos2(x, rect.center().y + half),
            ],
            egui::Stroke::new(bar.max(1.0) * 0.7, egui::Color32::from_rgb(110, 210, 140)),
        );
    }
}
