//! A video file opened for pictures: frames in display order, from the start or from any frame,
//! at full size or scaled for thumbnails. Used for posters, the player's decode-ahead worker and
//! draft renderers; never touches ffmpeg.

use std::collections::BTreeMap;
use std::sync::Arc;

use image::RgbaImage;

use super::h264::{H264Decoder, OpenH264, Yuv420, avcc_to_annex_b, parameter_sets};
use super::mp4::{AvcTrack, demux};
use super::yuv::{Matrix, to_rgba};
use crate::MediaError;
use crate::image_io::thumbnail;
use crate::sniff::{MediaKind, sniff};

/// Consecutive frames the decoder may reject before the file is given up as corrupt.
const MAX_CONSECUTIVE_ERRORS: u32 = 24;
/// Pictures held waiting for an earlier one before that one is taken as lost.
const MAX_REORDER: usize = 34;

/// What a player needs to know before the first frame.
#[derive(Clone, Debug, PartialEq)]
pub struct VideoInfo {
    /// Display size (after rotation).
    pub width: u32,
    pub height: u32,
    /// Frames in the file.
    pub frames: usize,
    /// Seconds from the first frame's start to the last frame's end.
    pub duration: f64,
    /// Average frames per second.
    pub fps: f64,
    /// Clockwise rotation applied for display.
    pub rotation: u16,
    /// Whether the file also has a sound track.
    pub has_audio: bool,
    /// "H.264 High" and the like, for the inspector.
    pub codec: String,
}

/// One decoded frame.
#[derive(Clone, Debug)]
pub struct VideoFrame {
    /// Position in display order, from 0.
    pub index: usize,
    /// Presentation time in seconds.
    pub time: f64,
    pub image: RgbaImage,
}

/// An opened H.264 MP4/MOV. Cheap to clone (the bytes and index are shared), so a player can
/// hand one to a worker thread.
#[derive(Clone)]
pub struct Video {
    bytes: Arc<[u8]>,
    track: Arc<AvcTrack>,
    /// Presentation times of all frames, ascending: display index → time in track units.
    display: Arc<[i64]>,
    info: VideoInfo,
}

impl std::fmt::Debug for Video {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Video")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl Video {
    /// Reads the file's index. Fails with a message naming the problem for files that are not
    /// MP4/MOV, hold no H.264 track (HEVC, AV1, VP9 are named), or are cut short.
    pub fn open(bytes: impl Into<Arc<[u8]>>) -> Result<Self, MediaError> {
        let bytes: Arc<[u8]> = bytes.into();
        if bytes.is_empty() {
            return Err(MediaError::Empty);
        }
        match sniff(&bytes) {
            (MediaKind::Video, "video/mp4" | "video/quicktime" | "video/3gpp") => {}
            (MediaKind::Video, mime) => {
                return Err(MediaError::Unsupported(format!(
                    "{} video cannot be played in this build (it plays H.264 MP4 and MOV); \
                     install ffmpeg to show its first frame, or convert the clip to H.264 MP4",
                    super::format_name(mime)
                )));
            }
            (_, mime) => {
                return Err(MediaError::Unsupported(format!(
                    "not an MP4 or MOV video ({mime})"
                )));
            }
        }
        let demuxed = demux(&bytes)?;
        let track = demuxed.video?;
        let mut display: Vec<i64> = track.samples.iter().map(|s| s.pts).collect();
        display.sort_unstable();
        display.dedup();
        if display.len() != track.samples.len() {
            return Err(MediaError::Corrupt {
                format: "MP4",
                detail: "two frames share one presentation time".to_owned(),
            });
        }
        let timescale = track.timescale as f64;
        let last = track
            .samples
            .iter()
            .max_by_key(|s| s.pts)
            .map_or(0.0, |s| (s.pts as f64 + s.duration as f64) / timescale);
        let first = display.first().copied().unwrap_or(0) as f64 / timescale;
        let duration = (last - first).max(0.0);
        let frames = track.samples.len();
        let (width, height) = if track.rotation % 180 == 90 {
            (track.height, track.width)
        } else {
            (track.width, track.height)
        };
        let profile = match track.profile {
            66 => "Baseline",
            77 => "Main",
            88 => "Extended",
            100 => "High",
            _ => "",
        };
        let info = VideoInfo {
            width,
            height,
            frames,
            duration,
            fps: if duration > 0.0 {
                frames as f64 / duration
            } else {
                0.0
            },
            rotation: track.rotation,
            has_audio: demuxed.has_audio,
            codec: format!("H.264 {profile}").trim_end().to_owned(),
        };
        Ok(Self {
            bytes,
            track: Arc::new(track),
            display: display.into(),
            info,
        })
    }

    pub fn info(&self) -> &VideoInfo {
        &self.info
    }

    /// The presentation time of a frame, in seconds from the first frame.
    pub fn frame_time(&self, index: usize) -> f64 {
        let first = self.display.first().copied().unwrap_or(0);
        let Some(&pts) = self
            .display
            .get(index.min(self.display.len().saturating_sub(1)))
        else {
            return 0.0;
        };
        (pts - first) as f64 / self.track.timescale as f64
    }

    /// The frame showing at `seconds` (the last one whose time has come).
    pub fn frame_at(&self, seconds: f64) -> usize {
        let first = self.display.first().copied().unwrap_or(0);
        let target = first as f64 + seconds.max(0.0) * self.track.timescale as f64;
        let after = self
            .display
            .partition_point(|&pts| (pts as f64) <= target + 0.5);
        after.saturating_sub(1)
    }

    /// Frames from the first, in display order. `max_side` scales each frame to fit (for
    /// thumbnails); `None` keeps the full size.
    pub fn frames(&self, max_side: Option<u32>) -> Result<Frames, MediaError> {
        self.frames_from(0, max_side)
    }

    /// Frames from `index` on: decoding starts at the key frame before it and the frames in
    /// between are decoded but not converted or returned.
    pub fn frames_from(&self, index: usize, max_side: Option<u32>) -> Result<Frames, MediaError> {
        self.frames_with(Box::new(OpenH264::new()?), index, max_side)
    }

    /// [`Self::frames_from`] with another decoder (a platform one, or a test double).
    pub fn frames_with(
        &self,
        decoder: Box<dyn H264Decoder>,
        index: usize,
        max_side: Option<u32>,
    ) -> Result<Frames, MediaError> {
        let index = index.min(self.display.len().saturating_sub(1));
        let wanted = self.display.get(index).copied().unwrap_or(i64::MIN);
        let samples = &self.track.samples;
        let target = samples.iter().position(|s| s.pts == wanted).unwrap_or(0);
        let start = samples[..=target.min(samples.len().saturating_sub(1))]
            .iter()
            .rposition(|s| s.sync)
            .unwrap_or(0);
        Ok(Frames {
            video: self.clone(),
            decoder,
            next_sample: start,
            next_display: index,
            ready: BTreeMap::new(),
            max_side,
            matrix: None,
            scratch: Vec::new(),
            need_parameter_sets: true,
            flushed: false,
            errors: 0,
            last_error: None,
            emitted: 0,
        })
    }

    /// The first frame, as a poster.
    pub fn poster(&self, max_side: Option<u32>) -> Result<RgbaImage, MediaError> {
        match self.frames(max_side)?.next() {
            Some(frame) => frame.map(|frame| frame.image),
            None => Err(MediaError::Corrupt {
                format: "H.264",
                detail: "no frame could be decoded".to_owned(),
            }),
        }
    }
}

/// Frames in display order; see [`Video::frames`].
pub struct Frames {
    video: Video,
    decoder: Box<dyn H264Decoder>,
    /// Next sample to feed, in decode order.
    next_sample: usize,
    /// Next frame to hand out, in display order.
    next_display: usize,
    /// Converted pictures waiting for their turn, by presentation time.
    ready: BTreeMap<i64, RgbaImage>,
    max_side: Option<u32>,
    matrix: Option<Matrix>,
    scratch: Vec<u8>,
    need_parameter_sets: bool,
    flushed: bool,
    errors: u32,
    last_error: Option<MediaError>,
    emitted: usize,
}

impl Frames {
    fn wanted_pts(&self) -> Option<i64> {
        self.video.display.get(self.next_display).copied()
    }

    /// Feeds the decoder one more sample (or the end of stream). `false` when nothing is left.
    fn feed(&mut self) -> Result<bool, MediaError> {
        let first_wanted = self.wanted_pts().unwrap_or(i64::MIN);
        let Self {
            video,
            decoder,
            ready,
            max_side,
            matrix,
            ..
        } = self;
        let rotation = video.track.rotation;
        let mut sink = |picture: Yuv420<'_>, pts: i64| {
            // Pre-roll after a seek: decoded for reference, never shown.
            if pts < first_wanted {
                return;
            }
            let matrix = *matrix.get_or_insert(Matrix::for_size(picture.width, picture.height));
            let image = convert(&picture, matrix, *max_side, rotation);
            ready.insert(pts, image);
        };
        if self.next_sample >= video.track.samples.len() {
            if self.flushed {
                return Ok(false);
            }
            self.flushed = true;
            decoder.flush(&mut sink)?;
            return Ok(true);
        }
        let sample = video.track.samples[self.next_sample];
        self.next_sample += 1;
        self.scratch.clear();
        if self.need_parameter_sets || sample.sync {
            parameter_sets(&video.track.sps, &video.track.pps, &mut self.scratch);
            self.need_parameter_sets = false;
        }
        let data = &video.bytes[sample.offset..sample.offset + sample.size];
        let fed = avcc_to_annex_b(data, video.track.nal_length, &mut self.scratch)
            .and_then(|()| decoder.decode(&self.scratch, sample.pts, &mut sink));
        match fed {
            Ok(()) => self.errors = 0,
            Err(err) => {
                self.errors += 1;
                self.last_error = Some(err);
                if self.errors > MAX_CONSECUTIVE_ERRORS {
                    return Err(self.last_error.take().unwrap_or(MediaError::Corrupt {
                        format: "H.264",
                        detail: "too many frames failed to decode".to_owned(),
                    }));
                }
            }
        }
        Ok(true)
    }
}

fn convert(
    picture: &Yuv420<'_>,
    matrix: Matrix,
    max_side: Option<u32>,
    rotation: u16,
) -> RgbaImage {
    let mut image = to_rgba(picture, matrix);
    if let Some(side) = max_side
        && side > 0
        && image.width().max(image.height()) > side
        && let Ok(small) = thumbnail(&image, side)
    {
        image = small;
    }
    match rotation {
        90 => image::imageops::rotate90(&image),
        180 => image::imageops::rotate180(&image),
        270 => image::imageops::rotate270(&image),
        _ => image,
    }
}

impl Iterator for Frames {
    type Item = Result<VideoFrame, MediaError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let wanted = self.wanted_pts()?;
            if let Some(image) = self.ready.remove(&wanted) {
                let index = self.next_display;
                self.next_display += 1;
                self.emitted += 1;
                return Some(Ok(VideoFrame {
                    index,
                    time: self.video.frame_time(index),
                    image,
                }));
            }
            // A picture the decoder dropped (a damaged frame) must not stall the rest.
            let stalled = self.ready.len() > MAX_REORDER;
            match self.feed() {
                Ok(true) if !stalled => continue,
                Ok(_) => {}
                Err(err) => {
                    self.next_display = self.video.display.len();
                    return Some(Err(err));
                }
            }
            // Nothing more to feed (or too much waiting): skip to the earliest picture held.
            if let Some(pts) = self.ready.keys().next().copied() {
                self.next_display = self.video.display.partition_point(|&p| p < pts);
            } else {
                self.next_display = self.video.display.len();
                if self.emitted == 0 {
                    return Some(Err(self.last_error.take().unwrap_or(MediaError::Corrupt {
                        format: "H.264",
                        detail: "no frame could be decoded".to_owned(),
                    })));
                }
                return None;
            }
        }
    }
}
