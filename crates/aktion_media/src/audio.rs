//! Audio decoding, all in-process: WAV through `hound`, MP3, AAC (M4A, and the sound track of
//! MP4/MOV clips), FLAC and Ogg Vorbis through `symphonia`.

use std::io::Cursor;

use symphonia::core::codecs::audio::AudioDecoderOptions;
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, TrackType};
use symphonia::core::io::{MediaSourceStream, MediaSourceStreamOptions};
use symphonia::core::meta::MetadataOptions;

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

/// Decodes audio to mono: WAV (8/16/24/32-bit integer PCM, 32-bit float), MP3, M4A/AAC, FLAC,
/// Ogg Vorbis, and the sound track of an MP4/MOV clip.
pub fn decode_audio(bytes: &[u8]) -> Result<Audio, MediaError> {
    if bytes.is_empty() {
        return Err(MediaError::Empty);
    }
    match sniff(bytes) {
        (MediaKind::Audio, "audio/wav") => decode_wav(bytes),
        (
            MediaKind::Audio | MediaKind::Video,
            mime @ ("audio/mpeg" | "audio/mp4" | "audio/flac" | "audio/ogg" | "video/mp4"
            | "video/quicktime" | "video/3gpp"),
        ) => decode_compressed(bytes, mime),
        (MediaKind::Audio, mime) => Err(MediaError::Unsupported(format!(
            "{mime} audio cannot be decoded in this build (it reads WAV, MP3, M4A/AAC, FLAC and \
             Ogg Vorbis)"
        ))),
        (MediaKind::Image | MediaKind::Video, mime) => Err(MediaError::Unsupported(format!(
            "this is {mime}, not audio"
        ))),
        (MediaKind::Unknown, _) => Err(MediaError::Unsupported(
            "not a recognised audio format (WAV, MP3, M4A/AAC, FLAC, Ogg Vorbis)".to_owned(),
        )),
    }
}

/// The format's name as a filmmaker knows it, for messages.
fn format_name(mime: &str) -> &'static str {
    match mime {
        "audio/mpeg" => "MP3",
        "audio/mp4" => "M4A",
        "audio/flac" => "FLAC",
        "audio/ogg" => "Ogg",
        "video/quicktime" => "MOV",
        _ => "MP4",
    }
}

fn map_symphonia(err: SymphoniaError, format: &'static str) -> MediaError {
    match err {
        SymphoniaError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            MediaError::Truncated {
                format,
                detail: io.to_string(),
            }
        }
        SymphoniaError::IoError(io) => MediaError::Io(io),
        // An M4A whose index (kept at the end) was cut off.
        SymphoniaError::Unsupported(what) if what.contains("missing moov") => {
            MediaError::Truncated {
                format,
                detail: "its index (moov) is missing".to_owned(),
            }
        }
        // A box the format needs is not there: a damaged file, not an unknown format.
        SymphoniaError::Unsupported(what) if what.contains("missing") => MediaError::Corrupt {
            format,
            detail: what.to_owned(),
        },
        SymphoniaError::Unsupported(what) => {
            MediaError::Unsupported(format!("{format} audio using {what}"))
        }
        SymphoniaError::LimitError(what) => MediaError::LimitExceeded(what.to_owned()),
        other => MediaError::Corrupt {
            format,
            detail: other.to_string(),
        },
    }
}

fn decode_compressed(bytes: &[u8], mime: &str) -> Result<Audio, MediaError> {
    let format = format_name(mime);
    let source = MediaSourceStream::new(
        Box::new(Cursor::new(bytes)),
        MediaSourceStreamOptions::default(),
    );
    let mut hint = Hint::new();
    hint.mime_type(mime);
    let mut reader = symphonia::default::get_probe()
        .probe(
            &hint,
            source,
            FormatOptions::default(),
            MetadataOptions::default(),
        )
        .map_err(|err| map_symphonia(err, format))?;
    let Some(track) = reader.default_track(TrackType::Audio) else {
        return Err(MediaError::NoSoundTrack(format));
    };
    let track_id = track.id;
    let Some(params) = track
        .codec_params
        .as_ref()
        .and_then(|params| params.audio())
        .cloned()
    else {
        return Err(MediaError::Unsupported(format!(
            "the {format} file's sound is in a codec this build does not read"
        )));
    };
    let mut decoder = symphonia::default::get_codecs()
        .make_audio_decoder(&params, &AudioDecoderOptions::default())
        .map_err(|err| map_symphonia(err, format))?;
    let mut sample_rate = params.sample_rate.unwrap_or(0);
    let mut samples: Vec<f32> = Vec::new();
    let mut interleaved: Vec<f32> = Vec::new();
    let mut damaged = 0u32;
    loop {
        let packet = match reader.next_packet() {
            Ok(Some(packet)) => packet,
            Ok(None) => break,
            Err(err) => {
                let err = map_symphonia(err, format);
                // A stream that ends mid-packet after good audio is still cut short: say so.
                return Err(err);
            }
        };
        if packet.track_id != track_id {
            continue;
        }
        let buffer = match decoder.decode(&packet) {
            Ok(buffer) => buffer,
            // A damaged packet is skipped, as players do; many in a row mean a broken file.
            Err(SymphoniaError::DecodeError(detail)) => {
                damaged += 1;
                if damaged > 64 {
                    return Err(MediaError::Corrupt {
                        format,
                        detail: detail.to_owned(),
                    });
                }
                continue;
            }
            Err(err) => return Err(map_symphonia(err, format)),
        };
        damaged = 0;
        let spec = buffer.spec();
        let channels = spec.channels().count().max(1);
        sample_rate = spec.rate();
        if sample_rate == 0 || sample_rate > 768_000 {
            return Err(MediaError::Corrupt {
                format,
                detail: format!("a sample rate of {sample_rate} Hz"),
            });
        }
        buffer.copy_to_vec_interleaved(&mut interleaved);
        for frame in interleaved.chunks_exact(channels) {
            let sum: f32 = frame
                .iter()
                .map(|v| if v.is_finite() { *v } else { 0.0 })
                .sum();
            samples.push((sum / channels as f32).clamp(-1.0, 1.0));
        }
        if samples.len() as u64 > u64::from(MAX_AUDIO_SECONDS) * u64::from(sample_rate) {
            return Err(MediaError::AudioTooLong {
                seconds: samples.len() as f64 / f64::from(sample_rate),
                max: MAX_AUDIO_SECONDS,
            });
        }
    }
    if samples.is_empty() || sample_rate == 0 {
        return Err(MediaError::Corrupt {
            format,
            detail: "it holds no sound that could be decoded".to_owned(),
        });
    }
    Ok(Audio {
        sample_rate,
        samples,
    })
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
