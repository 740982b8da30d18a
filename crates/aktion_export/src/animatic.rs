//! The animatic: the sequence rendered to one H.264 + AAC MP4, in-process (no ffmpeg). Clips
//! play from their in-point for the shot's length (their last frame held when an edit made the
//! shot longer than the take), stills are held, and each shot's sound (its dialogue file, or
//! its clip's own track) is mixed in at the shot's start, cut at its end.

use aktion_media::{Audio, Mp4Encoder, RgbaImage, Video};
use image::imageops::FilterType;

use crate::otio::sound_of;
use crate::timeline::{Kind, Timeline};
use crate::{ExportError, Options};

/// The animatic's sound rate.
const RATE: u32 = 48_000;
/// Widest animatic made without being asked (a 4K clip makes a 1080p animatic).
const MAX_WIDTH: u32 = 1920;

/// Picture size: as asked, else the timeline's, scaled down to 1920 wide; even sides.
fn size(timeline: &Timeline, asked: Option<(u32, u32)>) -> (u32, u32) {
    let (w, h) = asked.unwrap_or_else(|| {
        let (w, h) = (timeline.width.max(2), timeline.height.max(2));
        if w > MAX_WIDTH {
            let h = u64::from(h) * u64::from(MAX_WIDTH) / u64::from(w);
            (MAX_WIDTH, u32::try_from(h).unwrap_or(1080))
        } else {
            (w, h)
        }
    });
    ((w.max(2) / 2) * 2, (h.max(2) / 2) * 2)
}

/// `img` fitted into `w`×`h`, centred on black (letterboxed or pillarboxed).
fn fit(img: &RgbaImage, w: u32, h: u32) -> RgbaImage {
    if img.dimensions() == (w, h) {
        return img.clone();
    }
    let (iw, ih) = (
        u64::from(img.width().max(1)),
        u64::from(img.height().max(1)),
    );
    let (tw, th) = if iw * u64::from(h) > ih * u64::from(w) {
        (u64::from(w), (ih * u64::from(w) / iw).max(1))
    } else {
        ((iw * u64::from(h) / ih).max(1), u64::from(h))
    };
    let (tw, th) = (
        u32::try_from(tw).unwrap_or(w).min(w),
        u32::try_from(th).unwrap_or(h).min(h),
    );
    let scaled = image::imageops::resize(img, tw, th, FilterType::Triangle);
    let mut out = RgbaImage::from_pixel(w, h, image::Rgba([0, 0, 0, 255]));
    image::imageops::overlay(
        &mut out,
        &scaled,
        i64::from((w - tw) / 2),
        i64::from((h - th) / 2),
    );
    out
}

/// Renders the animatic; `options.progress` hears the fraction of frames done and may cancel.
pub fn render(timeline: &Timeline, options: &mut Options<'_>) -> Result<Vec<u8>, ExportError> {
    let (w, h) = size(timeline, options.size);
    let fps = timeline.fps;
    let mut encoder = Mp4Encoder::new(w, h, fps)?;
    let (starts, total) = timeline.starts();
    let black = RgbaImage::from_pixel(w, h, image::Rgba([0, 0, 0, 255]));
    let mut done = 0u64;
    let mut sound = vec![0f32; samples_at(total, fps)];
    let mut any_sound = false;
    for (clip, &start) in timeline.clips.iter().zip(&starts) {
        match &clip.media {
            Some(m) if m.kind == Kind::Video => {
                let bytes = read(&m.source)?;
                let video = Video::open(bytes)?;
                let first = usize::try_from(clip.source_in).unwrap_or(usize::MAX);
                let mut frames = video.frames_from(first, Some(w.max(h)))?;
                let mut pushed = false;
                for _ in 0..clip.frames {
                    // Past the take's end its last frame is held (encoded again, not
                    // converted again).
                    match frames.next() {
                        Some(frame) => {
                            let frame = frame?;
                            if frame.image.dimensions() == (w, h) {
                                encoder.push(&frame.image)?;
                            } else {
                                encoder.push(&fit(&frame.image, w, h))?;
                            }
                        }
                        None if pushed => encoder.repeat()?,
                        None => encoder.push(&black)?,
                    }
                    pushed = true;
                    done += 1;
                    if !options.report(done as f32 / total.max(1) as f32) {
                        return Err(ExportError::Cancelled);
                    }
                }
            }
            Some(m) if m.kind == Kind::Image => {
                let bytes = read(&m.source)?;
                let img =
                    aktion_media::decode_image(&bytes, &aktion_media::DecodeLimits::default())?;
                encoder.push(&fit(&img, w, h))?;
                for done_here in 0..clip.frames {
                    if done_here > 0 {
                        encoder.repeat()?;
                    }
                    done += 1;
                    if !options.report(done as f32 / total.max(1) as f32) {
                        return Err(ExportError::Cancelled);
                    }
                }
            }
            _ => {
                // A shot without a take: black for its length (at least a frame, as every
                // resolved shot is).
                encoder.push(&black)?;
                for _ in 1..clip.frames {
                    encoder.repeat()?;
                }
                done += clip.frames.max(1);
            }
        }
        if let Some((m, source_in)) = sound_of(clip) {
            let bytes = read(&m.source)?;
            match aktion_media::decode_audio(&bytes) {
                Ok(audio) => {
                    mix(&mut sound, &audio, start, source_in, clip.frames, fps);
                    any_sound = true;
                }
                Err(aktion_media::MediaError::NoSoundTrack(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    let sound = any_sound.then_some(Audio {
        sample_rate: RATE,
        samples: sound,
    });
    Ok(encoder.finish(sound.as_ref())?)
}

fn read(path: &std::path::Path) -> Result<Vec<u8>, ExportError> {
    std::fs::read(path).map_err(|source| ExportError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn samples_at(frames: u64, fps: u32) -> usize {
    usize::try_from(frames * u64::from(RATE) / u64::from(fps.max(1))).unwrap_or(0)
}

/// Adds `audio` from `source_in` frames into it, at `start` frames of the mix, for `frames`.
fn mix(out: &mut [f32], audio: &Audio, start: u64, source_in: u64, frames: u64, fps: u32) {
    let samples = aktion_media::resample(&audio.samples, audio.sample_rate, RATE);
    let from = samples_at(source_in, fps);
    let at = samples_at(start, fps);
    let len = samples_at(frames, fps);
    let Some(src) = samples.get(from..) else {
        return;
    };
    let end = (at + len).min(out.len());
    if let Some(dst) = out.get_mut(at..end) {
        for (d, s) in dst.iter_mut().zip(src) {
            *d = (*d + s).clamp(-1.0, 1.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pictures_are_fitted_on_black() {
        let wide = RgbaImage::from_pixel(400, 100, image::Rgba([255, 0, 0, 255]));
        let out = fit(&wide, 200, 200);
        assert_eq!(out.dimensions(), (200, 200));
        assert_eq!(out.get_pixel(100, 100).0, [255, 0, 0, 255]);
        assert_eq!(out.get_pixel(100, 10).0, [0, 0, 0, 255], "letterboxed");
        let tall = RgbaImage::from_pixel(100, 400, image::Rgba([0, 255, 0, 255]));
        let out = fit(&tall, 200, 200);
        assert_eq!(out.get_pixel(100, 100).0, [0, 255, 0, 255]);
        assert_eq!(out.get_pixel(5, 100).0, [0, 0, 0, 255], "pillarboxed");
    }

    #[test]
    fn sound_lands_at_its_shot_and_stops_at_its_end() {
        let mut out = vec![0f32; samples_at(48, 24)];
        let audio = Audio {
            sample_rate: RATE,
            samples: vec![0.5; RATE as usize * 4],
        };
        // A 4 s line under a 1 s shot starting at 1 s: only that second sounds.
        mix(&mut out, &audio, 24, 0, 24, 24);
        assert!(out[RATE as usize / 2].abs() < 1e-6);
        assert!((out[RATE as usize + 10] - 0.5).abs() < 1e-6);
        assert_eq!(out.len(), 2 * RATE as usize);
    }
}
