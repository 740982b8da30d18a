//! Video and audio in the inspector: H.264 MP4/MOV clips in the [`Player`] (decoded in-process,
//! ahead, on a worker; a full-window viewer too), animated GIFs frame by frame, other video as a
//! poster (through ffmpeg when installed) and a sound's waveform with its length. Everything is
//! decoded off the UI thread; nothing repaints unless a clip is playing.

use std::collections::HashMap;
use std::io::Cursor;
use std::time::{Duration, Instant};

use super::player::Player;
use super::sound::{SoundEnv, SoundLink, SoundOut, SoundPlayer, Volume};
use super::task::{Poll, Spawner, Task};

use image::AnimationDecoder as _;

/// Clips longer than this many frames play their first this-many.
const MAX_FRAMES: usize = 240;
/// Frames are shown at most this wide (textures no bigger than what is shown).
const FRAME_WIDTH: u32 = 480;
/// Bars of a waveform.
const WAVE_BARS: usize = 240;

/// Decoded media, ready to show.
pub enum Decoded {
    /// A clip, with its sound track (or why it has none).
    Video(aktion_media::Video, Result<aktion_sound::Track, String>),
    Clip(Vec<(egui::ColorImage, Duration)>),
    Poster(egui::ColorImage),
    Wave {
        peaks: Vec<f32>,
        seconds: f64,
        track: Option<aktion_sound::Track>,
    },
    Unavailable(String),
}

enum Shown {
    Video(Box<Player>),
    Clip(Vec<(egui::TextureHandle, Duration)>),
    Poster(egui::TextureHandle),
    Wave {
        peaks: Vec<f32>,
        seconds: f64,
        player: Option<Box<SoundPlayer>>,
    },
    Unavailable(String),
}

/// Media previews by content hash, and which clip plays.
pub struct Media {
    shown: HashMap<String, Shown>,
    /// Media being decoded, by key (a failed decode is shown as unavailable, not retried).
    pending: HashMap<String, Task<Decoded>>,
    /// Asked for by the inspector this frame; started by the next logic step.
    wanted: Vec<(String, super::previews::Load)>,
    spawner: Spawner,
    playing: Option<(String, Instant)>,
    /// The clip shown full-window, if any.
    viewer: Option<String>,
    /// Where sound plays and how loud.
    sound: SoundEnv,
    /// Media drawn since the last logic step: a player no longer on screen is paused.
    drawn: std::collections::HashSet<String>,
}

impl Media {
    /// Decodes on `spawner`'s runtime; sound plays on `out`.
    pub fn new(spawner: Spawner, out: SoundOut) -> Self {
        Self {
            drawn: std::collections::HashSet::new(),
            sound: SoundEnv {
                out,
                spawner: spawner.clone(),
                volume: Volume::default(),
            },
            shown: HashMap::new(),
            pending: HashMap::new(),
            wanted: Vec::new(),
            spawner,
            playing: None,
            viewer: None,
        }
    }
}

/// Decodes `bytes` (a video or a sound) for the inspector.
pub fn decode(bytes: &[u8]) -> Decoded {
    match aktion_media::sniff(bytes) {
        (aktion_media::MediaKind::Audio, _) => match aktion_media::decode_audio(bytes) {
            Ok(audio) => Decoded::Wave {
                peaks: peaks(&audio.samples, WAVE_BARS),
                seconds: audio.seconds(),
                track: aktion_sound::Track::new(audio.sample_rate, audio.samples).ok(),
            },
            Err(e) => Decoded::Unavailable(e.to_string()),
        },
        (_, "image/gif") => match gif_frames(bytes) {
            Ok(frames) if frames.len() > 1 => Decoded::Clip(frames),
            Ok(mut frames) => match frames.pop() {
                Some((f, _)) => Decoded::Poster(f),
                None => Decoded::Unavailable("an empty clip".into()),
            },
            Err(e) => Decoded::Unavailable(e),
        },
        (aktion_media::MediaKind::Video, _) => match aktion_media::Video::open(bytes.to_vec()) {
            Ok(video) => Decoded::Video(video, sound_track(bytes)),
            // Other codecs: a poster through ffmpeg when there is one, else why not.
            Err(aktion_media::MediaError::Unsupported(why)) => {
                match aktion_media::first_frame(bytes) {
                    Ok(img) => Decoded::Poster(color_image(&shrink(&img))),
                    Err(_) => Decoded::Unavailable(why),
                }
            }
            Err(e) => Decoded::Unavailable(e.to_string()),
        },
        _ => match aktion_media::first_frame(bytes) {
            Ok(img) => Decoded::Poster(color_image(&shrink(&img))),
            Err(e) => Decoded::Unavailable(e.to_string()),
        },
    }
}

/// A clip's sound track, ready for the device, or why it has none.
pub fn sound_track(bytes: &[u8]) -> Result<aktion_sound::Track, String> {
    let audio = aktion_media::decode_audio(bytes).map_err(|e| match e {
        aktion_media::MediaError::NoSoundTrack(_) => String::new(),
        other => format!("its sound cannot be played: {other}"),
    })?;
    aktion_sound::Track::new(audio.sample_rate, audio.samples).map_err(|e| e.to_string())
}

/// The loudest sample of each of `bars` equal slices, 0..=1.
pub fn peaks(samples: &[f32], bars: usize) -> Vec<f32> {
    if samples.is_empty() || bars == 0 {
        return Vec::new();
    }
    let per = samples.len().div_ceil(bars);
    samples
        .chunks(per)
        .map(|c| c.iter().fold(0.0f32, |m, s| m.max(s.abs())).min(1.0))
        .collect()
}

fn gif_frames(bytes: &[u8]) -> Result<Vec<(egui::ColorImage, Duration)>, String> {
    let decoder = image::codecs::gif::GifDecoder::new(Cursor::new(bytes))
        .map_err(|e| format!("cannot read the clip: {e}"))?;
    let (w, h) = image::ImageDecoder::dimensions(&decoder);
    if w == 0 || h == 0 || u64::from(w) * u64::from(h) > 16_000_000 {
        return Err(format!("a {w}×{h} clip is too large to preview"));
    }
    let mut frames = Vec::new();
    for frame in decoder.into_frames().take(MAX_FRAMES) {
        let frame = frame.map_err(|e| format!("cannot read the clip: {e}"))?;
        let (num, den) = frame.delay().numer_denom_ms();
        let ms = num.checked_div(den).unwrap_or(100);
        let delay = Duration::from_millis(u64::from(ms.clamp(20, 2000)));
        frames.push((color_image(&shrink(frame.buffer())), delay));
    }
    Ok(frames)
}

fn shrink(img: &image::RgbaImage) -> image::RgbaImage {
    if img.width() <= FRAME_WIDTH {
        return img.clone();
    }
    let h = (u64::from(img.height()) * u64::from(FRAME_WIDTH) / u64::from(img.width())).max(1);
    image::imageops::resize(
        img,
        FRAME_WIDTH,
        u32::try_from(h).unwrap_or(1),
        image::imageops::FilterType::Triangle,
    )
}

pub(super) fn color_image(img: &image::RgbaImage) -> egui::ColorImage {
    egui::ColorImage::from_rgba_unmultiplied(
        [img.width() as usize, img.height() as usize],
        img.as_raw(),
    )
}

impl Media {
    /// Starts the decodes the inspector asked for and takes in what the workers decoded.
    pub fn poll(&mut self, ctx: &egui::Context) {
        // What plays out of sight (another node selected, the panel closed) pauses.
        for (key, shown) in &mut self.shown {
            if self.drawn.contains(key) {
                continue;
            }
            match shown {
                Shown::Video(player) if player.is_playing() => player.toggle(),
                Shown::Wave {
                    player: Some(player),
                    ..
                } if player.is_playing() => player.toggle(&self.sound),
                _ => {}
            }
        }
        if self
            .playing
            .as_ref()
            .is_some_and(|(k, _)| !self.drawn.contains(k))
        {
            self.playing = None;
        }
        self.drawn.clear();
        for (key, load) in self.wanted.drain(..) {
            let task = self.spawner.blocking(move || {
                load().map_or_else(
                    || Decoded::Unavailable("the file is no longer there".into()),
                    |bytes| decode(&bytes),
                )
            });
            self.pending.insert(key, task);
        }
        let mut landed = Vec::new();
        self.pending.retain(|key, task| match task.poll() {
            Poll::Pending => true,
            Poll::Ready(d) => {
                landed.push((key.clone(), d));
                false
            }
            Poll::Lost => {
                landed.push((
                    key.clone(),
                    Decoded::Unavailable("the preview could not be made".into()),
                ));
                false
            }
        });
        for (key, decoded) in landed {
            let shown = match decoded {
                Decoded::Video(video, track) => {
                    let link = match track {
                        Ok(track) => self.sound.out.voice(&self.sound.spawner, track),
                        Err(why) if why.is_empty() => SoundLink::Silent,
                        Err(why) => SoundLink::Failed(why),
                    };
                    Shown::Video(Box::new(Player::new(key.clone(), video, link)))
                }
                Decoded::Clip(frames) => Shown::Clip(
                    frames
                        .into_iter()
                        .enumerate()
                        .map(|(i, (img, d))| {
                            (
                                ctx.load_texture(
                                    format!("{key}#{i}"),
                                    img,
                                    egui::TextureOptions::LINEAR,
                                ),
                                d,
                            )
                        })
                        .collect(),
                ),
                Decoded::Poster(img) => {
                    Shown::Poster(ctx.load_texture(key.clone(), img, egui::TextureOptions::LINEAR))
                }
                Decoded::Wave {
                    peaks,
                    seconds,
                    track,
                } => Shown::Wave {
                    peaks,
                    seconds,
                    player: track.map(|track| Box::new(SoundPlayer::new(track))),
                },
                Decoded::Unavailable(why) => Shown::Unavailable(why),
            };
            self.shown.insert(key, shown);
        }
    }

    /// Where sound plays and how loud (the animatic plays through it too).
    pub fn sound_env(&mut self) -> &mut SoundEnv {
        &mut self.sound
    }

    /// Whether `key` has been decoded (tests).
    pub fn is_ready(&self, key: &str) -> bool {
        self.shown.contains_key(key)
    }

    pub fn is_playing(&self, key: &str) -> bool {
        match self.shown.get(key) {
            Some(Shown::Video(player)) => player.is_playing(),
            Some(Shown::Wave {
                player: Some(player),
                ..
            }) => player.is_playing(),
            _ => self.playing.as_ref().is_some_and(|(k, _)| k == key),
        }
    }

    /// The player of clip `key`, once it is open (tests).
    pub fn player(&self, key: &str) -> Option<&Player> {
        match self.shown.get(key) {
            Some(Shown::Video(player)) => Some(player),
            _ => None,
        }
    }

    /// Plays or pauses clip `key` as its Play button does; false when it is not open
    /// (tests and benches).
    pub fn toggle_clip(&mut self, key: &str) -> bool {
        match self.shown.get_mut(key) {
            Some(Shown::Video(player)) => {
                player.toggle();
                true
            }
            _ => false,
        }
    }

    /// The player of sound `key`, once it is open (tests).
    pub fn sound_player(&self, key: &str) -> Option<&SoundPlayer> {
        match self.shown.get(key) {
            Some(Shown::Wave {
                player: Some(player),
                ..
            }) => Some(player),
            _ => None,
        }
    }

    /// The full-window viewer, when a clip is shown in it: the clip over everything, Space,
    /// ← and → for it, Escape or Close to leave.
    pub fn viewer_ui(&mut self, ctx: &egui::Context) {
        let Some(key) = self.viewer.clone() else {
            return;
        };
        let Some(Shown::Video(player)) = self.shown.get_mut(&key) else {
            self.viewer = None;
            return;
        };
        let screen = ctx.content_rect();
        let mut close = ctx.input_mut(|i| i.consume_key(egui::Modifiers::NONE, egui::Key::Escape));
        egui::Area::new(egui::Id::unique("clip-viewer"))
            .order(egui::Order::Foreground)
            .fixed_pos(screen.min)
            .show(ctx, |ui| {
                ui.painter()
                    .rect_filled(screen, 0.0, egui::Color32::from_black_alpha(245));
                ui.set_min_size(screen.size());
                ui.vertical_centered(|ui| {
                    if ui.button("Close viewer (Esc)").clicked() {
                        close = true;
                    }
                    let width = (screen.width() - 40.0).max(100.0);
                    let height = (screen.height() - 140.0).max(60.0);
                    player.ui(ui, width, height, true, &mut self.sound);
                    self.drawn.insert(key.clone());
                });
            });
        if close {
            self.viewer = None;
        }
    }

    /// The preview of media `key`, loading it with `load` the first time.
    pub fn ui(
        &mut self,
        ui: &mut egui::Ui,
        key: &str,
        width: f32,
        load: impl FnOnce() -> Option<Vec<u8>> + Send + 'static,
    ) {
        if !self.shown.contains_key(key) {
            let (rect, _) =
                ui.allocate_exact_size(egui::vec2(width, width * 0.5625), egui::Sense::hover());
            placeholder(ui, rect, "loading preview…");
            if !self.pending.contains_key(key) && !self.wanted.iter().any(|(k, _)| k == key) {
                self.wanted.push((key.to_owned(), Box::new(load)));
                // The next logic step starts the decode.
                ui.ctx().request_repaint();
            }
            return;
        }
        let over = ui
            .ctx()
            .pointer_hover_pos()
            .is_some_and(|pos| ui.clip_rect().contains(pos));
        let keys = self.viewer.is_none() && over && ui.ctx().memory(|m| m.focused().is_none());
        self.drawn.insert(key.to_owned());
        let Some(shown) = self.shown.get_mut(key) else {
            return;
        };
        match shown {
            Shown::Video(player) => {
                if player.ui(ui, width, width * 0.5625, keys, &mut self.sound) {
                    self.viewer = Some(key.to_owned());
                }
            }
            Shown::Poster(tex) => {
                picture(ui, tex, width);
            }
            Shown::Clip(frames) => {
                let playing = self.playing.as_ref().filter(|(k, _)| k == key).map(|p| p.1);
                let index = playing.map_or(0, |started| frame_at(frames, started.elapsed()));
                picture(ui, &frames[index].0, width);
                let total: Duration = frames.iter().map(|f| f.1).sum();
                ui.horizontal(|ui| {
                    let label = if playing.is_some() { "Pause" } else { "Play" };
                    if ui.button(label).clicked() {
                        self.playing = if playing.is_some() {
                            None
                        } else {
                            Some((key.to_owned(), Instant::now()))
                        };
                    }
                    ui.label(
                        egui::RichText::new(format!(
                            "{} frames · {:.1} s",
                            frames.len(),
                            total.as_secs_f32()
                        ))
                        .weak(),
                    );
                });
                if let Some(started) = playing {
                    // Wake exactly when the next frame is due; nothing repaints when paused.
                    let (_, due) = next_change(frames, started.elapsed());
                    ui.ctx().request_repaint_after(due);
                }
            }
            Shown::Wave {
                peaks,
                seconds,
                player,
            } => {
                if let Some(player) = player {
                    player.ui(ui, peaks, width, keys, &mut self.sound);
                } else {
                    let (rect, _) = ui
                        .allocate_exact_size(egui::vec2(width, width * 0.25), egui::Sense::hover());
                    super::sound::paint_wave(ui, rect, peaks);
                    ui.label(egui::RichText::new(format!("sound · {seconds:.1} s")).weak());
                }
            }
            Shown::Unavailable(why) => {
                ui.label(egui::RichText::new(format!("no preview: {why}")).weak());
            }
        }
    }
}

fn picture(ui: &mut egui::Ui, tex: &egui::TextureHandle, width: f32) {
    let (rect, _) = ui.allocate_exact_size(egui::vec2(width, width * 0.5625), egui::Sense::hover());
    ui.painter()
        .rect_filled(rect, 4.0, egui::Color32::from_gray(20));
    paint_fit(ui, tex, rect);
}

/// Paints `tex` as large as fits in `rect`, centred, into space already allocated (adding a
/// widget would move the layout under it the moment a picture arrives).
pub fn paint_fit(ui: &egui::Ui, tex: &egui::TextureHandle, rect: egui::Rect) -> egui::Rect {
    let size = tex.size_vec2();
    let scale = (rect.width() / size.x.max(1.0)).min(rect.height() / size.y.max(1.0));
    let shown = egui::Rect::from_center_size(rect.center(), size * scale);
    egui::Image::new(tex).paint_at(ui, shown);
    shown
}

/// The frame showing `elapsed` into a looping clip.
fn frame_at<T>(frames: &[(T, Duration)], elapsed: Duration) -> usize {
    next_change(frames, elapsed).0
}

/// The frame at `elapsed` (looping) and how long until the next one.
fn next_change<T>(frames: &[(T, Duration)], elapsed: Duration) -> (usize, Duration) {
    let total: Duration = frames.iter().map(|f| f.1).sum();
    if frames.is_empty() || total.is_zero() {
        return (0, Duration::from_millis(100));
    }
    let mut t =
        Duration::from_nanos(u64::try_from(elapsed.as_nanos() % total.as_nanos()).unwrap_or(0));
    for (i, (_, d)) in frames.iter().enumerate() {
        if t < *d {
            return (i, d.saturating_sub(t));
        }
        t = t.saturating_sub(*d);
    }
    (frames.len() - 1, Duration::from_millis(20))
}

/// A dark box with a grey line of text: where a preview will be, or why there is none.
pub fn placeholder(ui: &egui::Ui, rect: egui::Rect, text: &str) {
    ui.painter()
        .rect_filled(rect, 4.0, egui::Color32::from_gray(20));
    ui.painter().text(
        rect.center(),
        egui::Align2::CENTER_CENTER,
        text,
        egui::FontId::proportional(12.0),
        egui::Color32::GRAY,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clips_loop_and_wake_when_the_next_frame_is_due() {
        let frames = [
            ((), Duration::from_millis(100)),
            ((), Duration::from_millis(300)),
        ];
        assert_eq!(
            next_change(&frames, Duration::ZERO),
            (0, Duration::from_millis(100))
        );
        assert_eq!(
            next_change(&frames, Duration::from_millis(150)),
            (1, Duration::from_millis(250))
        );
        assert_eq!(
            frame_at(&frames, Duration::from_millis(450)),
            0,
            "loops after 400 ms"
        );
    }

    #[test]
    fn waveforms_follow_the_loudness() {
        let mut samples = vec![0.0f32; 1000];
        samples[990] = -0.8;
        let p = peaks(&samples, 10);
        assert_eq!(p.len(), 10);
        assert!(p[..9].iter().all(|v| *v == 0.0));
        assert!((p[9] - 0.8).abs() < 1e-6);
        assert!(peaks(&[], 10).is_empty());
    }

    #[test]
    fn a_gif_clip_decodes_to_frames_and_garbage_to_a_reason() {
        let frames = (0..3)
            .map(|i| image::RgbaImage::from_pixel(64, 36, image::Rgba([i * 80, 0, 0, 255])))
            .collect();
        let gif = aktion_media::encode_gif(&aktion_media::Clip { frames, fps: 8 }).unwrap();
        match decode(&gif) {
            Decoded::Clip(f) => {
                assert_eq!(f.len(), 3);
                assert_eq!(f[0].0.size, [64, 36]);
            }
            _ => panic!("a clip"),
        }
        assert!(matches!(
            decode(b"GIF89a\x00\x01garbage"),
            Decoded::Unavailable(_)
        ));
        assert!(matches!(
            decode(b"not media at all"),
            Decoded::Unavailable(_)
        ));
    }
}
