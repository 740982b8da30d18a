//! Audio import. WAV is decoded here; compressed formats are recognised and refused clearly.

use std::io::Cursor;

use crate::MediaError;
use crate::sniff::{MediaKind, sniff};

/// Longest audio accepted, in seconds: a dialogue line or a song, not an audiobook. Keeps the
/// decoded buffer (mono f32) under ~200 MB even at 96 kHz.
pub const MAX_AUDIO_SECONDS: u32 = 600;

/// Decoded audio, mixed down to mono, samples in `-1.0..=1.0`.
#[derive(Clone, Debug, PartialEq)]
pub struct Audio {
    pub sample_rate: u32,
    pub samples: Vec<f32>,
}

impl Audio {
    /// Length in seconds.
    pub fn seconds(&self) -> f64 {
        if self.sample_rate == 0 {
            return 0.0;
        }
        self.samples.len() as f64 / f64::from(self.sample_rate)
    }
}

/// Decodes WAV (8/16/24/32-bit integer PCM, 32-bit float) to mono. MP3, M4A/AAC, Ogg and FLAC
/// are recognised and refused with [`MediaError::Unsupported`].
pub fn decode_audio(bytes: &[u8]) -> Result<Audio, MediaError> {
    if bytes.is_empty() {
        return Err(MediaError::Empty);
    }
    match sniff(bytes) {
        (MediaKind::Audio, "audio/wav") => decode_wav(bytes),
        (MediaKind::Audio, mime) => Err(MediaError::Unsupported(format!(
            "{mime} audio cannot be decoded in this build yet; convert it to WAV"
        ))),
        (MediaKind::Image | MediaKind::Video, mime) => Err(MediaError::Unsupported(format!(
            "this is {mime}, not audio"
        ))),
        (MediaKind::Unknown, _) => Err(MediaError::Unsupported(
            "not a recognised audio format (WAV)".to_owned(),
        )),
    }
}

fn map_wav_error(err: hound::Error) -> MediaError {
    match err {
        hound::Error::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            MediaError::Truncated {
                format: "WAV",
                detail: io.to_string(),
            }
        }
        hound::Error::Unsupported | hound::Error::TooWide => {
            MediaError::Unsupported(format!("WAV variant: {err}"))
        }
        other => MediaError::Corrupt {
            format: "WAV",
            detail: other.to_string(),
        },
    }
}

fn decode_wav(bytes: &[u8]) -> Result<Audio, MediaError> {
    let reader = hound::WavReader::new(Cursor::new(bytes)).map_err(map_wav_error)?;
    let spec = reader.spec();
    if spec.channels == 0 || spec.sample_rate == 0 {
        return Err(MediaError::Corrupt {
            format: "WAV",
            detail: format!("{} channels at {} Hz", spec.channels, spec.sample_rate),
        });
    }
    if spec.sample_rate > 768_000 {
        return Err(MediaError::Unsupported(format!(
            "a sample rate of {} Hz",
            spec.sample_rate
        )));
    }
    let frames = u64::from(reader.duration());
    let seconds = frames as f64 / f64::from(spec.sample_rate);
    if frames > u64::from(MAX_AUDIO_SECONDS) * u64::from(spec.sample_rate) {
        return Err(MediaError::AudioTooLong {
            seconds,
            max: MAX_AUDIO_SECONDS,
        });
    }
    // The header's length is only trusted once the bytes are known to be there, so a lying
    // header cannot make us reserve gigabytes.
    let channels = usize::from(spec.channels);
    let bytes_per_sample = u64::from(spec.bits_per_sample.div_ceil(8));
    let claimed = frames * channels as u64 * bytes_per_sample;
    if claimed > bytes.len() as u64 {
        return Err(MediaError::Truncated {
            format: "WAV",
            detail: format!(
                "the header promises {claimed} bytes of samples but the file has {}",
                bytes.len()
            ),
        });
    }
    let mut samples = Vec::with_capacity(frames as usize);
    let mut acc = 0.0f32;
    let mut in_frame = 0usize;
    let mut push = |value: f32| {
        acc += value;
        in_frame += 1;
        if in_frame == channels {
            samples.push((acc / channels as f32).clamp(-1.0, 1.0));
            acc = 0.0;
            in_frame = 0;
        }
    };
    match (spec.sample_format, spec.bits_per_sample) {
        (hound::SampleFormat::Float, 32) => {
            for sample in hound::WavReader::into_samples::<f32>(reader) {
                let value = sample.map_err(map_wav_error)?;
                // NaN or inf in a file would poison every later computation (waveforms, mixing).
                push(if value.is_finite() { value } else { 0.0 });
            }
        }
        (hound::SampleFormat::Int, bits @ 1..=32) => {
            let scale = 1.0 / (1u64 << (bits - 1)) as f32;
            for sample in hound::WavReader::into_samples::<i32>(reader) {
                push(sample.map_err(map_wav_error)? as f32 * scale);
            }
        }
        (format, bits) => {
            return Err(MediaError::Unsupported(format!(
                "{bits}-bit {format:?} WAV samples"
            )));
        }
    }
    Ok(Audio {
        sample_rate: spec.sample_rate,
        samples,
    })
}
