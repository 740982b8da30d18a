//! H.264 MP4 made in-process: `OpenH264`'s encoder (from bundled source) for the pictures,
//! `rusty_aac` (pure Rust AAC-LC) for the sound, [`super::mux`] for the file. What draft
//! animatics and exports write; ffmpeg is never needed.

use image::RgbaImage;
use openh264::encoder::{
    Encoder, EncoderConfig, FrameRate, IntraFramePeriod, QpRange, RateControlMode, VuiConfig,
};
use openh264::formats::YUVBuffer;

use super::Clip;
use super::mux::{AudioTrackOut, VideoTrackOut, write};
use super::yuv::{Matrix, to_i420};
use crate::{Audio, MediaError};

/// Largest side accepted (H.264 level 5.1 tops out at 4096×2304).
const MAX_SIDE: u32 = 4096;
/// AAC-LC's encoder delay, skipped by the edit list.
const AAC_PRIMING: u32 = 1024;

/// Builds an MP4 frame by frame: [`Self::push`] each picture, then [`Self::finish`] with the
/// sound, if any. Frames are encoded as they come; only the compressed samples are held.
pub struct Mp4Encoder {
    encoder: Encoder,
    width: u32,
    height: u32,
    fps: u32,
    matrix: Matrix,
    samples: Vec<(Vec<u8>, bool)>,
    sps: Vec<u8>,
    pps: Vec<u8>,
    /// The picture pushed last, converted ([`Self::repeat`] encodes it again).
    last: Option<YUVBuffer>,
}

impl std::fmt::Debug for Mp4Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mp4Encoder")
            .field("width", &self.width)
            .field("height", &self.height)
            .field("fps", &self.fps)
            .field("frames", &self.samples.len())
            .finish_non_exhaustive()
    }
}

impl Mp4Encoder {
    /// An encoder for `width`×`height` pictures at `fps` frames per second.
    pub fn new(width: u32, height: u32, fps: u32) -> Result<Self, MediaError> {
        if width == 0 || height == 0 || width > MAX_SIDE || height > MAX_SIDE {
            return Err(MediaError::InvalidArgument(format!(
                "{width}×{height} is outside what H.264 MP4 export takes (1–{MAX_SIDE} a side)"
            )));
        }
        if !(1..=120).contains(&fps) {
            return Err(MediaError::InvalidArgument(format!(
                "{fps} fps is outside 1–120"
            )));
        }
        let (even_w, even_h) = (width.div_ceil(2) * 2, height.div_ceil(2) * 2);
        let matrix = Matrix::for_size(even_w as usize, even_h as usize);
        // Constant quality (no rate control: it would drop frames to meet a bitrate, and a
        // draft must keep every frame in step with its sound).
        let config = EncoderConfig::new()
            .max_frame_rate(FrameRate::from_hz(fps as f32))
            .rate_control_mode(RateControlMode::Off)
            .qp(QpRange::new(22, 28))
            .skip_frames(false)
            // A key frame every two seconds: scrubbing and seeking stay quick.
            .intra_frame_period(IntraFramePeriod::from_num_frames(fps * 2))
            .vui(match matrix {
                Matrix::Bt601 => VuiConfig::bt601(),
                Matrix::Bt709 => VuiConfig::bt709(),
            });
        let encoder = Encoder::with_api_config(openh264::OpenH264API::from_source(), config)
            .map_err(|err| MediaError::Encode(format!("the H.264 encoder did not start: {err}")))?;
        Ok(Self {
            encoder,
            width: even_w,
            height: even_h,
            fps,
            matrix,
            samples: Vec::new(),
            sps: Vec::new(),
            pps: Vec::new(),
            last: None,
        })
    }

    /// Frames encoded so far.
    pub fn frames(&self) -> usize {
        self.samples.len()
    }

    /// Encodes one picture; it must be the size given to [`Self::new`] (or one less, for odd
    /// sizes that were rounded up).
    pub fn push(&mut self, frame: &RgbaImage) -> Result<(), MediaError> {
        if frame.width().div_ceil(2) * 2 != self.width
            || frame.height().div_ceil(2) * 2 != self.height
        {
            return Err(MediaError::InvalidArgument(format!(
                "a {}×{} frame in a {}×{} clip",
                frame.width(),
                frame.height(),
                self.width,
                self.height
            )));
        }
        let (planes, w, h) = to_i420(frame, self.matrix);
        let yuv = YUVBuffer::from_vec(planes, w, h);
        let result = self.encode(&yuv);
        self.last = Some(yuv);
        result
    }

    /// Encodes the picture pushed last once more (a still held, a clip's last frame held):
    /// the same as pushing it again without converting it again.
    pub fn repeat(&mut self) -> Result<(), MediaError> {
        let Some(yuv) = self.last.take() else {
            return Err(MediaError::InvalidArgument(
                "no picture to repeat yet".to_owned(),
            ));
        };
        let result = self.encode(&yuv);
        self.last = Some(yuv);
        result
    }

    fn encode(&mut self, yuv: &YUVBuffer) -> Result<(), MediaError> {
        let stream = self
            .encoder
            .encode(yuv)
            .map_err(|err| MediaError::Encode(format!("H.264: {err}")))?;
        let mut sample = Vec::new();
        let mut key = false;
        for l in 0..stream.num_layers() {
            let Some(layer) = stream.layer(l) else {
                continue;
            };
            for n in 0..layer.nal_count() {
                let Some(nal) = layer.nal_unit(n).map(strip_start_code) else {
                    continue;
                };
                let Some(&header) = nal.first() else {
                    continue;
                };
                match header & 0x1F {
                    7 => {
                        if self.sps.is_empty() {
                            self.sps = nal.to_vec();
                        }
                    }
                    8 => {
                        if self.pps.is_empty() {
                            self.pps = nal.to_vec();
                        }
                    }
                    9 => {}
                    kind => {
                        key |= kind == 5;
                        sample.extend_from_slice(&(nal.len() as u32).to_be_bytes());
                        sample.extend_from_slice(nal);
                    }
                }
            }
        }
        if sample.is_empty() {
            return Err(MediaError::Encode(
                "the H.264 encoder skipped a frame".to_owned(),
            ));
        }
        self.samples.push((sample, key));
        Ok(())
    }

    /// The finished file, with `sound` (mixed to mono) as an AAC track when given.
    pub fn finish(self, sound: Option<&Audio>) -> Result<Vec<u8>, MediaError> {
        if self.samples.is_empty() || self.sps.is_empty() || self.pps.is_empty() {
            return Err(MediaError::InvalidArgument(
                "the clip has no frames".to_owned(),
            ));
        }
        let video = VideoTrackOut {
            width: self.width,
            height: self.height,
            timescale: self.fps * 1000,
            sample_duration: 1000,
            samples: self.samples,
            sps: self.sps,
            pps: self.pps,
        };
        let audio = match sound {
            Some(sound) if !sound.samples.is_empty() => Some(encode_aac(sound)?),
            _ => None,
        };
        Ok(write(&video, audio.as_ref()))
    }
}

fn strip_start_code(nal: &[u8]) -> &[u8] {
    if nal.starts_with(&[0, 0, 0, 1]) {
        &nal[4..]
    } else if nal.starts_with(&[0, 0, 1]) {
        &nal[3..]
    } else {
        nal
    }
}

/// Sample rates AAC-LC takes; others are resampled to 48 kHz.
const AAC_RATES: [u32; 9] = [
    96_000, 88_200, 64_000, 48_000, 44_100, 32_000, 24_000, 22_050, 16_000,
];

fn encode_aac(sound: &Audio) -> Result<AudioTrackOut, MediaError> {
    let (rate, samples) = if AAC_RATES.contains(&sound.sample_rate) {
        (
            sound.sample_rate,
            std::borrow::Cow::Borrowed(&sound.samples[..]),
        )
    } else {
        (
            48_000,
            std::borrow::Cow::Owned(resample(&sound.samples, sound.sample_rate, 48_000)),
        )
    };
    let mut encoder = rusty_aac::AacEncoder::new(rusty_aac::AacEncoderConfig {
        bitrate_bps: 96_000,
        ..rusty_aac::AacEncoderConfig::default()
    });
    encoder
        .push_pcm(&samples, 1, rate)
        .map_err(|err| MediaError::Encode(format!("AAC: {err}")))?;
    encoder.finish();
    let mut frames = Vec::new();
    while let Ok(packet) = encoder.next_packet() {
        frames.push(packet.data);
    }
    if frames.is_empty() {
        return Err(MediaError::Encode("AAC: no frames".to_owned()));
    }
    Ok(AudioTrackOut {
        sample_rate: rate,
        channels: 1,
        config: rusty_aac::audio_specific_config_bytes(rate, 1),
        frames,
        priming: AAC_PRIMING,
    })
}

/// Linear resampling: enough for dialogue in a draft.
pub fn resample(samples: &[f32], from: u32, to: u32) -> Vec<f32> {
    if from == 0 || samples.is_empty() {
        return Vec::new();
    }
    let out_len = (samples.len() as u64 * u64::from(to) / u64::from(from)) as usize;
    let step = f64::from(from) / f64::from(to);
    (0..out_len)
        .map(|i| {
            let at = i as f64 * step;
            let j = at as usize;
            let frac = (at - j as f64) as f32;
            let a = samples[j.min(samples.len() - 1)];
            let b = samples[(j + 1).min(samples.len() - 1)];
            a + (b - a) * frac
        })
        .collect()
}

/// A whole clip to H.264 MP4, with its sound when given.
pub fn encode_h264_mp4(clip: &Clip, sound: Option<&Audio>) -> Result<Vec<u8>, MediaError> {
    let (width, height) = clip.validate()?;
    let mut encoder = Mp4Encoder::new(width, height, clip.fps)?;
    for frame in &clip.frames {
        encoder.push(frame)?;
    }
    encoder.finish(sound)
}
