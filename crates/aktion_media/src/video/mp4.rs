//! MP4 and MOV demuxing through `re_mp4` (rerun's ISO-BMFF reader: moov anywhere, fragmented
//! files, composition offsets for B-frames), wrapped so hostile files get a [`MediaError`].
//!
//! `re_mp4` indexes its tables without bounds checks in places, so parsing runs under
//! `catch_unwind`, after a pre-scan that refuses sample counts no real file has (a tiny box can
//! otherwise promise billions of samples and exhaust memory before anything panics).

use std::panic::{AssertUnwindSafe, catch_unwind};

use re_mp4::{Mp4, StsdBoxContent, TrackKind};

use crate::MediaError;

/// More samples than any clip this app handles (an hour at 240 fps is 864,000).
const MAX_SAMPLES: u64 = 2_000_000;

/// One coded picture's place in the file and its timing, in track time units.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Sample {
    pub offset: usize,
    pub size: usize,
    /// Decode time.
    pub dts: i64,
    /// Presentation time (first picture at 0).
    pub pts: i64,
    pub duration: u64,
    pub sync: bool,
}

/// What the app needs of an H.264 track: its samples in decode order and its parameter sets.
#[derive(Clone, Debug)]
pub(crate) struct AvcTrack {
    pub width: u32,
    pub height: u32,
    /// Clockwise rotation to apply for display (0, 90, 180 or 270), from the track matrix.
    pub rotation: u16,
    pub timescale: u64,
    pub samples: Vec<Sample>,
    /// Bytes in each NAL unit's length prefix (1, 2 or 4).
    pub nal_length: usize,
    pub sps: Vec<Vec<u8>>,
    pub pps: Vec<Vec<u8>>,
    /// `profile_idc` from the configuration record (66 Baseline, 77 Main, 100 High…).
    pub profile: u8,
}

/// The result of demuxing: the H.264 track when there is one, else a description of the video
/// codec found (so the message can name it).
pub(crate) struct Demuxed {
    pub video: Result<AvcTrack, MediaError>,
    pub has_audio: bool,
}

/// Reads an MP4/MOV file's tracks.
pub(crate) fn demux(bytes: &[u8]) -> Result<Demuxed, MediaError> {
    if bytes.is_empty() {
        return Err(MediaError::Empty);
    }
    prescan(bytes)?;
    let parsed = catch_unwind(AssertUnwindSafe(|| Mp4::read_bytes(bytes)));
    let mp4 = match parsed {
        Ok(Ok(mp4)) => mp4,
        Ok(Err(err)) => return Err(map_error(&err, bytes)),
        Err(_) => {
            return Err(MediaError::Corrupt {
                format: "MP4",
                detail: "its sample tables are inconsistent".to_owned(),
            });
        }
    };
    let has_audio = mp4
        .tracks()
        .values()
        .any(|track| track.kind == Some(TrackKind::Audio));
    let mut video = Err(MediaError::Unsupported(
        "the file has no video track".to_owned(),
    ));
    for track in mp4.tracks().values() {
        if track.kind != Some(TrackKind::Video) {
            continue;
        }
        let found = catch_unwind(AssertUnwindSafe(|| avc_track(&mp4, track, bytes.len())))
            .unwrap_or_else(|_| {
                Err(MediaError::Corrupt {
                    format: "MP4",
                    detail: "its video track is inconsistent".to_owned(),
                })
            });
        let is_avc = found.is_ok();
        video = found;
        if is_avc {
            break;
        }
    }
    Ok(Demuxed { video, has_audio })
}

fn map_error(err: &re_mp4::Error, bytes: &[u8]) -> MediaError {
    let detail = err.to_string();
    let truncated = matches!(err, re_mp4::Error::Io(io) if io.kind() == std::io::ErrorKind::UnexpectedEof)
        || detail.contains("larger size than it")
        || (matches!(err, re_mp4::Error::BoxNotFound(_)) && !has_top_level_moov(bytes));
    if truncated {
        MediaError::Truncated {
            format: "MP4",
            detail: if detail.contains("moov") {
                "its index (moov) is missing".to_owned()
            } else {
                detail
            },
        }
    } else {
        MediaError::Corrupt {
            format: "MP4",
            detail,
        }
    }
}

#[expect(
    clippy::too_many_lines,
    reason = "one table read after another, checked as it goes"
)]
fn avc_track(mp4: &Mp4, track: &re_mp4::Track, len: usize) -> Result<AvcTrack, MediaError> {
    let header = track.trak(mp4);
    let avc1 = match &header.mdia.minf.stbl.stsd.contents {
        StsdBoxContent::Avc1(avc1) => avc1,
        StsdBoxContent::Hev1(_) | StsdBoxContent::Hvc1(_) => {
            return Err(unsupported_codec("HEVC (H.265)"));
        }
        StsdBoxContent::Av01(_) => return Err(unsupported_codec("AV1")),
        StsdBoxContent::Vp08(_) => return Err(unsupported_codec("VP8")),
        StsdBoxContent::Vp09(_) => return Err(unsupported_codec("VP9")),
        _ => {
            let name = track
                .codec_string(mp4)
                .unwrap_or_else(|| "an unknown codec".to_owned());
            return Err(unsupported_codec(&name));
        }
    };
    let config = &avc1.avcc.contents;
    let nal_length = usize::from(config.length_size_minus_one & 0b11) + 1;
    if nal_length == 3 {
        return Err(MediaError::Corrupt {
            format: "MP4",
            detail: "its H.264 configuration uses 3-byte NAL lengths".to_owned(),
        });
    }
    let sps: Vec<Vec<u8>> = config
        .sequence_parameter_sets
        .iter()
        .map(|nal| nal.bytes.clone())
        .collect();
    let pps: Vec<Vec<u8>> = config
        .picture_parameter_sets
        .iter()
        .map(|nal| nal.bytes.clone())
        .collect();
    // High 10, High 4:2:2 and High 4:4:4 carry more than 8 bits or other chroma layouts.
    let profile = sps
        .first()
        .and_then(|sps| sps.get(1).copied())
        .unwrap_or(config.avc_profile_indication);
    if matches!(profile, 110 | 122 | 244 | 44) {
        return Err(unsupported_codec(
            "H.264 with 10-bit or 4:2:2/4:4:4 colour (High 10/4:2:2/4:4:4 profile)",
        ));
    }
    let mut samples = Vec::with_capacity(track.samples.len());
    let mut past_end = 0usize;
    for sample in &track.samples {
        let (Ok(offset), Ok(size)) = (usize::try_from(sample.offset), usize::try_from(sample.size))
        else {
            past_end += 1;
            continue;
        };
        if offset.checked_add(size).is_none_or(|end| end > len) {
            past_end += 1;
            continue;
        }
        samples.push(Sample {
            offset,
            size,
            dts: sample.decode_timestamp,
            pts: sample.composition_timestamp,
            duration: sample.duration,
            sync: sample.is_sync,
        });
    }
    if past_end > 0 {
        return Err(MediaError::Truncated {
            format: "MP4",
            detail: format!(
                "{past_end} of {} video frames lie past the end of the file",
                track.samples.len()
            ),
        });
    }
    if samples.is_empty() {
        return Err(MediaError::Corrupt {
            format: "MP4",
            detail: "its video track has no frames".to_owned(),
        });
    }
    let width = u32::from(if avc1.width > 0 {
        avc1.width
    } else {
        track.width
    });
    let height = u32::from(if avc1.height > 0 {
        avc1.height
    } else {
        track.height
    });
    Ok(AvcTrack {
        width,
        height,
        rotation: {
            let m = &header.tkhd.matrix;
            rotation(m.a, m.b, m.c, m.d)
        },
        timescale: track.timescale.max(1),
        samples,
        nal_length,
        sps,
        pps,
        profile,
    })
}

fn unsupported_codec(name: &str) -> MediaError {
    MediaError::Unsupported(format!(
        "{name} video cannot be played in this build (it plays H.264); install ffmpeg to show \
         its first frame, or convert the clip to H.264 MP4"
    ))
}

/// Clockwise display rotation from a track header matrix (`a b / c d` in 16.16 fixed point).
fn rotation(a: i32, b: i32, c: i32, d: i32) -> u16 {
    match (a.signum(), b.signum(), c.signum(), d.signum()) {
        (0, 1, -1, 0) => 90,
        (-1, 0, 0, -1) => 180,
        (0, -1, 1, 0) => 270,
        _ => 0,
    }
}

/// Whether a `moov` box header appears among the top-level boxes (walking headers only).
fn has_top_level_moov(bytes: &[u8]) -> bool {
    boxes(bytes).any(|(name, _)| &name == b"moov")
}

/// Boxes as (type, body) pairs; stops at the first malformed header.
fn boxes(bytes: &[u8]) -> impl Iterator<Item = ([u8; 4], &[u8])> {
    let mut at = 0usize;
    std::iter::from_fn(move || {
        let head = bytes.get(at..at.checked_add(8)?)?;
        let size32 = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
        let name = [head[4], head[5], head[6], head[7]];
        let (header, size) = match size32 {
            0 => (8, bytes.len() - at),
            1 => {
                let ext = bytes.get(at + 8..at + 16)?;
                let mut raw = [0u8; 8];
                raw.copy_from_slice(ext);
                (16, usize::try_from(u64::from_be_bytes(raw)).ok()?)
            }
            n => (8, usize::try_from(n).ok()?),
        };
        if size < header {
            return None;
        }
        let end = at.checked_add(size)?.min(bytes.len());
        let body = bytes.get(at + header..end)?;
        at = at.checked_add(size)?;
        Some((name, body))
    })
}

/// Refuses files whose sample tables promise more samples than [`MAX_SAMPLES`] before
/// `re_mp4` builds its per-sample index.
fn prescan(bytes: &[u8]) -> Result<(), MediaError> {
    fn walk(body: &[u8], depth: u32) -> Result<(), MediaError> {
        if depth > 8 {
            return Ok(());
        }
        for (name, inner) in boxes(body) {
            match &name {
                b"moov" | b"trak" | b"mdia" | b"minf" | b"stbl" | b"moof" | b"traf" => {
                    walk(inner, depth + 1)?;
                }
                // stsz/stz2: version+flags (4), sample_size (4), sample_count (4).
                // trun: version+flags (4), sample_count (4).
                b"stsz" | b"stz2" | b"trun" => {
                    let at = if &name == b"trun" { 4 } else { 8 };
                    if let Some(raw) = inner.get(at..at + 4) {
                        let count = u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]);
                        if u64::from(count) > MAX_SAMPLES {
                            return Err(MediaError::LimitExceeded(format!(
                                "the MP4 claims {count} samples in one table (at most \
                                 {MAX_SAMPLES} are read)"
                            )));
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }
    walk(bytes, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mp4_box(name: [u8; 4], body: &[u8]) -> Vec<u8> {
        let mut out = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        out.extend_from_slice(&name);
        out.extend_from_slice(body);
        out
    }

    #[test]
    fn prescan_refuses_a_table_promising_billions_of_samples() {
        let mut stsz = vec![0, 0, 0, 0, 0, 0, 0, 1];
        stsz.extend_from_slice(&u32::MAX.to_be_bytes());
        let stbl = mp4_box(*b"stbl", &mp4_box(*b"stsz", &stsz));
        let moov = mp4_box(
            *b"moov",
            &mp4_box(*b"trak", &mp4_box(*b"mdia", &mp4_box(*b"minf", &stbl))),
        );
        let mut file = mp4_box(*b"ftyp", b"isom\0\0\0\0isom");
        file.extend_from_slice(&moov);
        assert!(matches!(
            demux(&file),
            Err(MediaError::LimitExceeded(message)) if message.contains("4294967295")
        ));
    }

    #[test]
    fn a_missing_index_reads_as_truncated() {
        let mut file = mp4_box(*b"ftyp", b"isom\0\0\0\0isom");
        file.extend_from_slice(&mp4_box(*b"mdat", &[0; 64]));
        assert!(matches!(demux(&file), Err(MediaError::Truncated { .. })));
    }

    #[test]
    fn rotation_reads_the_matrix() {
        assert_eq!(rotation(1 << 16, 0, 0, 1 << 16), 0);
        assert_eq!(rotation(0, 1 << 16, -(1 << 16), 0), 90);
        assert_eq!(rotation(-(1 << 16), 0, 0, -(1 << 16)), 180);
        assert_eq!(rotation(0, -(1 << 16), 1 << 16, 0), 270);
    }
}
