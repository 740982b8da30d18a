//! The sequence resolved against the project: each shot's media file (its take, or the file of
//! a source node), what that file is and how long, the shot's timing in whole frames, and the
//! facts its take carries. Every writer works from this, so they all agree.

use std::path::{Path, PathBuf};

use aktion_graph::catalog::ParamKind;
use aktion_graph::project::{AssetRef, take_path};
use aktion_graph::sequence::{Camera, ShotStatus, ms_to_frames};
use aktion_graph::{Catalog, Document, NodeId, Shot, ShotId, Take, TakeId};
use aktion_media::MediaKind;

use crate::ExportError;

/// Largest media file an export reads to learn its length (a take is a few tens of MB).
const MAX_MEDIA_BYTES: u64 = 2 * 1024 * 1024 * 1024;

/// What a media file is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Video,
    Image,
    Audio,
}

/// One media file a shot uses.
#[derive(Clone, Debug, PartialEq)]
pub struct Media {
    /// Where it is inside the project.
    pub source: PathBuf,
    /// Its name in the export's `media/` folder (stable: shot number, title, content hash).
    pub name: String,
    pub kind: Kind,
    /// Length in frames at the sequence's rate (`None` for a still).
    pub frames: Option<u64>,
    /// Pixel size (0 for sound).
    pub width: u32,
    pub height: u32,
    /// A clip with a sound track.
    pub has_audio: bool,
}

impl Media {
    /// Its path relative to the export folder.
    pub fn url(&self) -> String {
        format!("media/{}", self.name)
    }
}

/// The facts of the take a shot shows (OTIO metadata `aktion`, comments elsewhere).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Facts {
    pub prompt: String,
    pub seed: Option<i64>,
    pub model: String,
    pub route: String,
    pub credits: u32,
    pub node: NodeId,
    pub take: Option<TakeId>,
}

/// One shot, resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct Clip {
    pub index: usize,
    /// The shot's id (a conform finds the shot by it).
    pub shot: ShotId,
    pub number: String,
    /// The shot's title, or the node's, or "Shot N".
    pub name: String,
    pub description: String,
    pub dialogue: String,
    pub camera: Camera,
    pub status: ShotStatus,
    /// `None`: the node is gone or has no take.
    pub media: Option<Media>,
    /// The dialogue's sound file, when the shot names an audio node with a result.
    pub dialogue_audio: Option<Media>,
    /// First frame used of the media (0 for stills).
    pub source_in: u64,
    /// Length on the timeline in frames (at least 1).
    pub frames: u64,
    /// Longer than its take (an editor lengthened it): run again with the new duration.
    pub needs_longer_take: bool,
    pub facts: Facts,
}

impl Clip {
    /// Frames of its media it really uses: its length, cut to what the media has.
    pub fn used_frames(&self) -> u64 {
        match self.media.as_ref().and_then(|m| m.frames) {
            Some(available) => self
                .frames
                .min(available.saturating_sub(self.source_in))
                .max(1),
            None => self.frames,
        }
    }
}

/// The sequence, resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct Timeline {
    pub name: String,
    pub fps: u32,
    pub width: u32,
    pub height: u32,
    pub clips: Vec<Clip>,
}

impl Timeline {
    /// Frames from the start to each clip's start, and the total.
    pub fn starts(&self) -> (Vec<u64>, u64) {
        let mut at = 0u64;
        let starts = self
            .clips
            .iter()
            .map(|c| {
                let start = at;
                at = at.saturating_add(c.frames);
                start
            })
            .collect();
        (starts, at)
    }

    /// Shots without media, as "3 (Rooftop)" for messages.
    pub fn missing(&self) -> Vec<String> {
        self.clips
            .iter()
            .filter(|c| c.media.is_none())
            .map(|c| format!("{} ({})", c.number, c.name))
            .collect()
    }

    /// Every distinct media file, in first-use order.
    pub fn media(&self) -> Vec<&Media> {
        let mut seen = std::collections::BTreeSet::new();
        self.clips
            .iter()
            .flat_map(|c| c.media.iter().chain(c.dialogue_audio.iter()))
            .filter(|m| seen.insert(m.name.clone()))
            .collect()
    }
}

/// Resolves `doc`'s sequence in project folder `root`. Reads each media file once to learn
/// its kind, size and length; a file that cannot be read makes its shot missing.
pub fn resolve(doc: &Document, catalog: &Catalog, root: &Path) -> Result<Timeline, ExportError> {
    let seq = &doc.sequence;
    if seq.shots.is_empty() {
        return Err(ExportError::EmptySequence);
    }
    let fps = seq.fps;
    let mut names = Names::default();
    let mut clips = Vec::with_capacity(seq.shots.len());
    let (mut width, mut height) = (0, 0);
    for (index, shot) in seq.shots.iter().enumerate() {
        let number = shot.number_at(index);
        let node = doc.node(shot.node);
        let name = if !shot.title.is_empty() {
            shot.title.clone()
        } else if let Some(node) = node {
            node.display_title(catalog).to_owned()
        } else {
            format!("Shot {number}")
        };
        let take = shot.take(doc);
        let media = source_of(doc, catalog, root, shot.node, take)
            .and_then(|path| probe(&path, fps, &names.name(&number, &name, &path)));
        if let Some(m) = media.as_ref().filter(|m| m.kind != Kind::Audio)
            && width == 0
        {
            (width, height) = (m.width, m.height);
        }
        let dialogue_audio = shot.dialogue_node.and_then(|id| {
            let take = doc.node(id).and_then(aktion_graph::Node::active_take);
            let path = source_of(doc, catalog, root, id, take)?;
            let m = probe(&path, fps, &names.name(&number, "dialogue", &path))?;
            (m.kind == Kind::Audio || m.has_audio).then_some(m)
        });
        let clip_ms = media
            .as_ref()
            .and_then(|m| m.frames)
            .map(|f| aktion_graph::sequence::frames_to_ms(f, fps));
        let frames = ms_to_frames(shot.duration_ms(clip_ms), fps).max(1);
        let source_in = match clip_ms {
            Some(len) => ms_to_frames(shot.used(len).0, fps),
            None => 0,
        };
        clips.push(Clip {
            index,
            shot: shot.id,
            number,
            name,
            description: shot.description.clone(),
            dialogue: shot.dialogue.clone(),
            camera: shot.camera.clone(),
            status: shot.status,
            needs_longer_take: shot.needs_longer_take(clip_ms),
            media,
            dialogue_audio,
            source_in,
            frames,
            facts: facts(shot, take),
        });
    }
    if width == 0 {
        (width, height) = (1920, 1080);
    }
    Ok(Timeline {
        name: if doc.name.is_empty() {
            "Sequence".to_owned()
        } else {
            doc.name.clone()
        },
        fps,
        width,
        height,
        clips,
    })
}

/// The length of `shot`'s clip in ms; `None` for a still, a sound or a missing take.
pub fn clip_length_ms(doc: &Document, catalog: &Catalog, root: &Path, shot: &Shot) -> Option<u64> {
    let path = source_of(doc, catalog, root, shot.node, shot.take(doc))?;
    let media = probe(&path, 1000, "probe")?;
    (media.kind == Kind::Video).then_some(media.frames?)
}

fn facts(shot: &Shot, take: Option<&Take>) -> Facts {
    let Some(take) = take else {
        return Facts {
            node: shot.node,
            ..Facts::default()
        };
    };
    let params = &take.meta.params;
    Facts {
        prompt: params
            .get("prompt")
            .or_else(|| params.get("text"))
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned(),
        seed: params.get("seed").and_then(serde_json::Value::as_i64),
        model: take.meta.model.clone(),
        route: take.meta.route.as_str().to_owned(),
        credits: take.meta.credits,
        node: shot.node,
        take: Some(take.id),
    }
}

/// The file a node's shot shows: its take's first output kept in the project, or, for a
/// source node (Image, Video, Audio), the file it holds.
fn source_of(
    doc: &Document,
    catalog: &Catalog,
    root: &Path,
    id: NodeId,
    take: Option<&Take>,
) -> Option<PathBuf> {
    if let Some(take) = take {
        let out = take.outputs.first()?;
        return take_path(root, &out.hash).filter(|p| p.is_file());
    }
    let node = doc.node(id)?;
    let kind = catalog.get(&node.kind)?;
    kind.params
        .iter()
        .filter(|p| matches!(p.kind, ParamKind::Asset { .. }))
        .find_map(|p| AssetRef::from_value(node.params.get(&p.id)?))
        .map(|asset| asset.path(root))
        .filter(|p| p.is_file())
}

/// Reads a media file's kind, size and length. `None` when it is not media this build reads.
fn probe(path: &Path, fps: u32, name: &str) -> Option<Media> {
    let size = std::fs::metadata(path).ok()?.len();
    if size == 0 || size > MAX_MEDIA_BYTES {
        return None;
    }
    let bytes = std::fs::read(path).ok()?;
    let (kind, _) = aktion_media::sniff(&bytes);
    let frames_of = |seconds: f64| {
        // Whole frames, at least one; seconds are finite and bounded by the decoders' limits.
        let ms = (seconds.max(0.0) * 1000.0).round();
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "non-negative, rounded, far below 2^53 ms"
        )]
        let ms = ms as u64;
        ms_to_frames(ms, fps).max(1)
    };
    let media = match kind {
        MediaKind::Video => {
            let video = aktion_media::Video::open(bytes).ok()?;
            let info = video.info();
            Media {
                source: path.to_path_buf(),
                name: with_ext(name, "mp4"),
                kind: Kind::Video,
                frames: Some(frames_of(info.duration)),
                width: info.width,
                height: info.height,
                has_audio: info.has_audio,
            }
        }
        MediaKind::Image => {
            let (w, h, ext) = image_size(&bytes)?;
            Media {
                source: path.to_path_buf(),
                name: with_ext(name, ext),
                kind: Kind::Image,
                frames: None,
                width: w,
                height: h,
                has_audio: false,
            }
        }
        MediaKind::Audio => {
            let audio = aktion_media::decode_audio(&bytes).ok()?;
            let ext = audio_ext(&bytes);
            Media {
                source: path.to_path_buf(),
                name: with_ext(name, ext),
                kind: Kind::Audio,
                frames: Some(frames_of(audio.seconds())),
                width: 0,
                height: 0,
                has_audio: true,
            }
        }
        MediaKind::Unknown => return None,
    };
    Some(media)
}

fn image_size(bytes: &[u8]) -> Option<(u32, u32, &'static str)> {
    let (w, h) = aktion_media::image_dimensions(bytes).ok()?;
    let ext = match aktion_media::sniff(bytes).1 {
        "image/jpeg" => "jpg",
        "image/webp" => "webp",
        "image/gif" => "gif",
        "image/tiff" => "tif",
        "image/bmp" => "bmp",
        "image/avif" => "avif",
        "image/heic" => "heic",
        _ => "png",
    };
    Some((w, h, ext))
}

fn audio_ext(bytes: &[u8]) -> &'static str {
    let at = |offset: usize, magic: &[u8]| bytes.get(offset..offset + magic.len()) == Some(magic);
    if at(0, b"RIFF") {
        "wav"
    } else if at(0, b"fLaC") {
        "flac"
    } else if at(0, b"OggS") {
        "ogg"
    } else if at(4, b"ftyp") {
        "m4a"
    } else {
        "mp3"
    }
}

fn with_ext(stem: &str, ext: &str) -> String {
    format!("{stem}.{ext}")
}

/// Stable, unique, portable file names: `003_rooftop-chase_1a2b3c4d`.
#[derive(Default)]
struct Names {
    used: std::collections::BTreeMap<PathBuf, String>,
}

impl Names {
    fn name(&mut self, number: &str, title: &str, source: &Path) -> String {
        if let Some(name) = self.used.get(source) {
            return name.clone();
        }
        let hash = source
            .file_name()
            .map(|n| n.to_string_lossy().chars().take(8).collect::<String>())
            .unwrap_or_default();
        let name = format!("{:0>3}_{}_{hash}", slug(number), slug(title));
        self.used.insert(source.to_path_buf(), name.clone());
        name
    }
}

/// Lower-case ASCII letters, digits and single hyphens, at most 40 characters.
pub fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
        if out.len() >= 40 {
            break;
        }
    }
    let out = out.trim_end_matches('-').to_owned();
    if out.is_empty() {
        "shot".to_owned()
    } else {
        out
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn media(name: &str, kind: Kind, frames: Option<u64>, has_audio: bool) -> Media {
        Media {
            source: PathBuf::from(format!("/nonexistent/{name}")),
            name: name.to_owned(),
            kind,
            frames,
            width: if kind == Kind::Audio { 0 } else { 1280 },
            height: if kind == Kind::Audio { 0 } else { 720 },
            has_audio,
        }
    }

    /// Three shots: a 5 s clip used from 0.5 s for 3 s with its own sound; a still held 2 s
    /// with a 4 s dialogue file (cut to the shot); a clip lengthened past its take.
    pub(crate) fn sample() -> Timeline {
        let clip = |index: usize, name: &str, m: Option<Media>, source_in, frames| Clip {
            index,
            shot: ShotId::new(),
            number: (index + 1).to_string(),
            name: name.to_owned(),
            description: format!("{name}: the description, with \"quotes\", & <angles>"),
            dialogue: String::new(),
            camera: Camera::default(),
            status: ShotStatus::Draft,
            media: m,
            dialogue_audio: None,
            source_in,
            frames,
            needs_longer_take: false,
            facts: Facts {
                prompt: format!("{name} at night"),
                seed: Some(7),
                model: "draft".into(),
                route: "draft".into(),
                credits: 0,
                node: NodeId::new(),
                take: Some(TakeId::new()),
            },
        };
        let mut still = clip(
            1,
            "Mara, close",
            Some(media(
                "002_mara-close_bbbbbbbb.png",
                Kind::Image,
                None,
                false,
            )),
            0,
            48,
        );
        still.dialogue = "Not tonight.".into();
        still.dialogue_audio = Some(media(
            "002_dialogue_cccccccc.wav",
            Kind::Audio,
            Some(96),
            true,
        ));
        let mut long = clip(
            2,
            "Chase",
            Some(media(
                "003_chase_dddddddd.mp4",
                Kind::Video,
                Some(60),
                false,
            )),
            0,
            90,
        );
        long.needs_longer_take = true;
        Timeline {
            name: "Night & Day".into(),
            fps: 24,
            width: 1280,
            height: 720,
            clips: vec![
                clip(
                    0,
                    "Rooftop",
                    Some(media(
                        "001_rooftop_aaaaaaaa.mp4",
                        Kind::Video,
                        Some(120),
                        true,
                    )),
                    12,
                    72,
                ),
                still,
                long,
            ],
        }
    }

    #[test]
    fn slugs_are_portable() {
        assert_eq!(slug("Rooftop — chase at NIGHT!"), "rooftop-chase-at-night");
        assert_eq!(slug("../../etc/passwd"), "etc-passwd");
        assert_eq!(slug("日本"), "shot");
        assert!(slug(&"a".repeat(200)).len() <= 40);
    }
}
