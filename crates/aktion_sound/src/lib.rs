//! Sound output for Aktion Studio: a decoded mono track played on the default output device,
//! with play/pause, seek, gain and a clock the picture follows.
//!
//! On Linux the device is the PulseAudio server (PipeWire serves the same protocol), spoken to
//! by the pure-Rust `pulseaudio` crate, so building needs no system library; on macOS and
//! Windows it is cpal's default host. With no device, [`Output::open`] says why and nothing
//! else fails: the player shows the message and plays the picture alone.
//!
//! A [`Voice`] is one track on the device. The device pulls samples from it on its own thread
//! (the UI thread never waits on the device); while paused it hands out silence and its cursor
//! stands still, so pausing and resuming need no round trip to the server.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

#[cfg(any(target_os = "macos", target_os = "windows"))]
mod cpal_out;
#[cfg(target_os = "linux")]
mod pulse;

#[cfg(any(target_os = "macos", target_os = "windows"))]
use cpal_out as backend;
#[cfg(target_os = "linux")]
use pulse as backend;

#[cfg(target_os = "linux")]
pub use pulse::default_server_path;

/// Why sound cannot play.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum SoundError {
    /// No output device (no sound server running, no device, or this platform has no backend).
    #[error("no audio device: {0}")]
    NoDevice(String),
    /// The device refused the stream.
    #[error("the audio device refused to play: {0}")]
    Stream(String),
    /// The track itself cannot be played.
    #[error("{0}")]
    Track(String),
}

/// Decoded mono samples in `-1.0..=1.0` at `rate` samples per second.
#[derive(Clone, Debug)]
pub struct Track {
    pub rate: u32,
    pub samples: Arc<[f32]>,
}

impl Track {
    pub fn new(rate: u32, samples: impl Into<Arc<[f32]>>) -> Result<Self, SoundError> {
        if !(1_000..=384_000).contains(&rate) {
            return Err(SoundError::Track(format!(
                "a sample rate of {rate} Hz cannot be played (1 kHz to 384 kHz)"
            )));
        }
        Ok(Self {
            rate,
            samples: samples.into(),
        })
    }

    /// Length in seconds.
    pub fn seconds(&self) -> f64 {
        self.samples.len() as f64 / f64::from(self.rate)
    }
}

/// A connection to the default output device.
pub struct Output {
    device: backend::Device,
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Output").finish_non_exhaustive()
    }
}

impl Output {
    /// Connects to the default output device. Blocks for the handshake (a few milliseconds):
    /// call it off the UI thread.
    pub fn open() -> Result<Self, SoundError> {
        Ok(Self {
            device: backend::Device::open_default()?,
        })
    }

    /// Connects to the PulseAudio server listening on the Unix socket `path` (tests).
    #[cfg(target_os = "linux")]
    pub fn open_at(path: &std::path::Path) -> Result<Self, SoundError> {
        Ok(Self {
            device: backend::Device::open_at(path)?,
        })
    }

    /// Puts `track` on the device, paused at its start. Blocks for one round trip to the
    /// device: call it off the UI thread.
    pub fn voice(&self, track: Track) -> Result<Voice, SoundError> {
        let rate = self.device.rate(track.rate);
        let track = if rate == track.rate {
            track
        } else {
            resample(&track, rate)
        };
        let state = Arc::new(VoiceState::new(track));
        let stream = self.device.stream(&state)?;
        Ok(Voice {
            state,
            stream,
            _device: self.device.clone(),
        })
    }
}

/// One track on the device. Dropping it removes it from the device.
pub struct Voice {
    state: Arc<VoiceState>,
    #[expect(
        dead_code,
        reason = "held so the device keeps the stream until the voice is dropped"
    )]
    stream: backend::Stream,
    /// The connection the stream runs on, kept while the voice is.
    _device: backend::Device,
}

impl std::fmt::Debug for Voice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Voice")
            .field("rate", &self.state.track.rate)
            .field("position", &self.position())
            .finish_non_exhaustive()
    }
}

impl Voice {
    /// Starts or pauses the sound (the cursor stays where it is).
    pub fn set_playing(&self, playing: bool) {
        self.state.playing.store(playing, Ordering::Release);
    }

    pub fn is_playing(&self) -> bool {
        self.state.playing.load(Ordering::Acquire)
    }

    /// Moves the cursor to `seconds` from the start.
    pub fn seek(&self, seconds: f64) {
        let frame = (seconds.max(0.0) * f64::from(self.state.track.rate)).round() as u64;
        let frame = frame.min(self.state.track.samples.len() as u64);
        self.state.cursor.store(frame, Ordering::Release);
        self.state.anchor.store(frame, Ordering::Release);
        self.state.tail.store(0, Ordering::Release);
    }

    /// Loudness: 0 is silent (mute), 1 as recorded; clamped to 0..=2.
    pub fn set_gain(&self, gain: f32) {
        let gain = if gain.is_finite() {
            gain.clamp(0.0, 2.0)
        } else {
            0.0
        };
        self.state.gain.store(gain.to_bits(), Ordering::Release);
    }

    /// Seconds of the track heard so far: the cursor less what the device still holds.
    pub fn position(&self) -> f64 {
        self.state.heard_frame() as f64 / f64::from(self.state.track.rate)
    }

    /// Whether every sample has been handed to the device.
    pub fn finished(&self) -> bool {
        self.state.cursor.load(Ordering::Acquire) >= self.state.track.samples.len() as u64
    }

    /// Samples handed to the device since the voice was made (tests).
    pub fn delivered(&self) -> u64 {
        self.state.delivered.load(Ordering::Acquire)
    }
}

/// What a voice and the device's thread share.
struct VoiceState {
    track: Track,
    /// Next sample to hand out.
    cursor: AtomicU64,
    /// The cursor at the last seek: the clock never reads earlier than this.
    anchor: AtomicU64,
    playing: AtomicBool,
    gain: AtomicU32,
    /// Samples the device holds ahead of what is heard (its buffer), set by the backend.
    latency: AtomicU64,
    /// Silence handed out past the end while playing: the device plays out what it holds.
    tail: AtomicU64,
    delivered: AtomicU64,
}

impl VoiceState {
    fn new(track: Track) -> Self {
        Self {
            track,
            cursor: AtomicU64::new(0),
            anchor: AtomicU64::new(0),
            playing: AtomicBool::new(false),
            gain: AtomicU32::new(1.0f32.to_bits()),
            latency: AtomicU64::new(0),
            tail: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
        }
    }

    fn heard_frame(&self) -> u64 {
        let cursor = self.cursor.load(Ordering::Acquire) + self.tail.load(Ordering::Acquire);
        let anchor = self.anchor.load(Ordering::Acquire);
        cursor
            .saturating_sub(self.latency.load(Ordering::Acquire))
            .min(self.track.samples.len() as u64)
            .max(anchor)
    }

    /// Fills `out` (mono) with the next samples, or silence while paused or past the end.
    fn fill(&self, out: &mut [f32]) {
        let samples = &self.track.samples;
        if !self.playing.load(Ordering::Acquire) {
            out.fill(0.0);
            return;
        }
        let gain = f32::from_bits(self.gain.load(Ordering::Acquire));
        let start = usize::try_from(self.cursor.load(Ordering::Acquire))
            .unwrap_or(usize::MAX)
            .min(samples.len());
        let take = out.len().min(samples.len() - start);
        for (slot, sample) in out.iter_mut().zip(&samples[start..start + take]) {
            *slot = (sample * gain).clamp(-1.0, 1.0);
        }
        out[take..].fill(0.0);
        if take < out.len() {
            self.tail
                .fetch_add((out.len() - take) as u64, Ordering::AcqRel);
        }
        // A seek between the load and this store wins: only advance from where we read.
        let _ = self.cursor.compare_exchange(
            start as u64,
            (start + take) as u64,
            Ordering::AcqRel,
            Ordering::Acquire,
        );
        self.delivered.fetch_add(take as u64, Ordering::AcqRel);
    }
}

/// `track` at `rate` samples per second, by linear interpolation (for devices that take one
/// rate only).
fn resample(track: &Track, rate: u32) -> Track {
    let samples = &track.samples;
    if samples.is_empty() || rate == 0 {
        return Track {
            rate: rate.max(1),
            samples: Arc::from(Vec::new()),
        };
    }
    let step = f64::from(track.rate) / f64::from(rate);
    let count = (samples.len() as f64 / step).floor() as usize;
    let last = samples.len() - 1;
    let out: Vec<f32> = (0..count)
        .map(|i| {
            let at = i as f64 * step;
            let index = (at.floor() as usize).min(last);
            let next = (index + 1).min(last);
            let frac = (at - index as f64) as f32;
            samples[index] + (samples[next] - samples[index]) * frac
        })
        .collect();
    Track {
        rate,
        samples: out.into(),
    }
}

#[cfg(test)]
#[expect(
    clippy::float_cmp,
    reason = "the samples are copied or scaled by two, exactly"
)]
mod tests {
    use super::*;

    fn state(samples: Vec<f32>) -> VoiceState {
        VoiceState::new(Track::new(8_000, samples).unwrap())
    }

    #[test]
    fn paused_voices_give_silence_and_keep_their_place() {
        let voice = state(vec![0.5; 100]);
        let mut out = [1.0; 10];
        voice.fill(&mut out);
        assert_eq!(out, [0.0; 10]);
        assert_eq!(voice.cursor.load(Ordering::Acquire), 0);
        voice.playing.store(true, Ordering::Release);
        voice.fill(&mut out);
        assert_eq!(out, [0.5; 10]);
        assert_eq!(voice.cursor.load(Ordering::Acquire), 10);
    }

    #[test]
    fn the_end_is_followed_by_silence_and_gain_scales() {
        let voice = state((0..5).map(|i| i as f32 / 10.0).collect());
        voice.playing.store(true, Ordering::Release);
        voice.gain.store(2.0f32.to_bits(), Ordering::Release);
        let mut out = [9.0; 8];
        voice.fill(&mut out);
        assert_eq!(out, [0.0, 0.2, 0.4, 0.6, 0.8, 0.0, 0.0, 0.0]);
        voice.fill(&mut out);
        assert_eq!(out, [0.0; 8]);
        assert_eq!(voice.delivered.load(Ordering::Acquire), 5);
    }

    #[test]
    fn the_clock_subtracts_what_the_device_holds_but_never_reads_before_a_seek() {
        let voice = state(vec![0.0; 80_000]);
        voice.cursor.store(4_000, Ordering::Release);
        voice.latency.store(800, Ordering::Release);
        assert_eq!(voice.heard_frame(), 3_200);
        voice.anchor.store(3_900, Ordering::Release);
        assert_eq!(voice.heard_frame(), 3_900);
        // At the end, what the device held plays out.
        voice.cursor.store(80_000, Ordering::Release);
        voice.tail.store(500, Ordering::Release);
        assert_eq!(voice.heard_frame(), 79_700);
        voice.tail.store(5_000, Ordering::Release);
        assert_eq!(voice.heard_frame(), 80_000);
    }

    #[test]
    fn resampling_keeps_length_in_time_and_interpolates() {
        let track = Track::new(
            8_000,
            (0..8_000).map(|i| i as f32 / 8_000.0).collect::<Vec<_>>(),
        )
        .unwrap();
        let up = resample(&track, 48_000);
        assert_eq!(up.rate, 48_000);
        assert!((up.seconds() - track.seconds()).abs() < 0.001);
        assert!((up.samples[3] - 0.5 / 8_000.0).abs() < 1e-6);
        let empty = resample(&Track::new(8_000, Vec::new()).unwrap(), 44_100);
        assert!(empty.samples.is_empty());
    }

    #[test]
    fn voices_and_outputs_move_between_threads() {
        fn movable<T: Send + 'static>() {}
        movable::<Voice>();
        movable::<Output>();
    }

    #[test]
    fn bad_rates_are_refused_and_samples_clamp() {
        assert!(Track::new(0, vec![0.0]).is_err());
        assert!(Track::new(1_000_000, vec![0.0]).is_err());
    }
}
