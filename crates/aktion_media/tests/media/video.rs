//! H.264 MP4/MOV and compressed audio decoded in-process, checked against files and reference
//! frames made by ffmpeg (see `fixtures`). No ffmpeg runs here.

use aktion_media::{MediaError, Video, decode_audio, first_frame};
use image::RgbaImage;

use super::fixtures;

/// (file, display width, height, frames, seconds)
const CLIPS: &[(&str, u32, u32, usize, f64)] = &[
    ("baseline.mp4", 320, 240, 48, 2.0),
    ("main-moov-at-end.mp4", 640, 360, 50, 2.0),
    ("high-480p-aac.mp4", 852, 480, 72, 3.0),
    ("fragmented.mp4", 640, 360, 48, 2.0),
    ("clip.mov", 640, 360, 48, 2.0),
    ("portrait-9x16.mp4", 360, 640, 30, 1.0),
    ("hd-1080p.mp4", 1920, 1080, 24, 1.0),
    ("rotated-90.mp4", 240, 320, 24, 1.0),
];

/// Mean absolute difference per channel (RGB) between two images of one size.
fn mean_difference(a: &RgbaImage, b: &RgbaImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    let total: u64 = a
        .pixels()
        .zip(b.pixels())
        .map(|(p, q)| {
            (0..3)
                .map(|c| u64::from(p.0[c].abs_diff(q.0[c])))
                .sum::<u64>()
        })
        .sum();
    total as f64 / (f64::from(a.width()) * f64::from(a.height()) * 3.0)
}

#[test]
fn every_clip_decodes_every_frame_in_display_order() {
    let Some(dir) = fixtures::dir() else { return };
    for &(name, width, height, frames, seconds) in CLIPS {
        let video =
            Video::open(fixtures::read(&dir, name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let info = video.info().clone();
        assert_eq!((info.width, info.height), (width, height), "{name}");
        assert_eq!(info.frames, frames, "{name}");
        let frame_length = 1.0 / info.fps;
        assert!(
            (info.duration - seconds).abs() <= frame_length + 1e-6,
            "{name}: {} s, expected {seconds} s",
            info.duration
        );
        let mut count = 0;
        let mut last_time = -1.0;
        for (i, frame) in video.frames(None).unwrap().enumerate() {
            let frame = frame.unwrap_or_else(|e| panic!("{name} frame {i}: {e}"));
            assert_eq!(frame.index, i, "{name}");
            assert!(frame.time > last_time, "{name}: time goes back at {i}");
            last_time = frame.time;
            assert_eq!(
                frame.image.dimensions(),
                (width, height),
                "{name} frame {i}"
            );
            count += 1;
        }
        assert_eq!(count, frames, "{name}: frames decoded");
    }
}

#[test]
fn decoded_frames_match_ffmpegs_including_b_frames() {
    let Some(dir) = fixtures::dir() else { return };
    // (clip, the frames ffmpeg wrote as ref1..ref3)
    let cases: &[(&str, &[usize])] = &[
        ("main-moov-at-end", &[0, 26, 49]),
        ("high-480p-aac", &[0, 37, 71]),
        ("fragmented", &[0, 25, 47]),
        ("hd-1080p", &[0, 13, 23]),
        // Stored landscape, shown portrait: ffmpeg's frame is turned as players turn it.
        ("rotated-90", &[5]),
    ];
    for (name, indices) in cases {
        let video = Video::open(fixtures::read(&dir, &format!("{name}.mp4"))).unwrap();
        let all: Vec<RgbaImage> = video
            .frames(None)
            .unwrap()
            .map(|frame| frame.unwrap().image)
            .collect();
        for (n, &index) in indices.iter().enumerate() {
            let reference = image::open(dir.join(format!("{name}.ref{}.png", n + 1)))
                .unwrap()
                .to_rgba8();
            let difference = mean_difference(&all[index], &reference);
            assert!(
                difference < 3.0,
                "{name} frame {index}: mean difference {difference:.2} from ffmpeg's"
            );
            // A wrong frame (off by one in a moving test pattern) differs far more.
            if index > 0 {
                let neighbour = mean_difference(&all[index - 1], &reference);
                assert!(neighbour > difference, "{name} frame {index}: order");
            }
        }
    }
}

#[test]
fn seeking_gives_the_same_pictures_as_playing_through() {
    let Some(dir) = fixtures::dir() else { return };
    let video = Video::open(fixtures::read(&dir, "high-480p-aac.mp4")).unwrap();
    let all: Vec<RgbaImage> = video
        .frames(Some(160))
        .unwrap()
        .map(|frame| frame.unwrap().image)
        .collect();
    assert!(all[0].width() <= 160 && all[0].height() <= 160);
    for start in [1, 30, 37, 71] {
        let first = video
            .frames_from(start, Some(160))
            .unwrap()
            .next()
            .unwrap()
            .unwrap();
        assert_eq!(first.index, start);
        assert!((first.time - video.frame_time(start)).abs() < 1e-9);
        assert_eq!(first.image, all[start], "frame {start} after seeking");
    }
    assert_eq!(video.frame_at(0.0), 0);
    assert_eq!(video.frame_at(1.0), 24);
    assert_eq!(video.frame_at(99.0), 71);
    // The poster is the first frame.
    assert_eq!(video.poster(Some(160)).unwrap(), all[0]);
}

#[test]
fn posters_come_without_ffmpeg_and_other_codecs_are_named() {
    let Some(dir) = fixtures::dir() else { return };
    // The test command puts ffmpeg out of reach; a poster must still come.
    let poster = first_frame(&fixtures::read(&dir, "clip.mov")).unwrap();
    assert_eq!(poster.dimensions(), (640, 360));
    let video = Video::open(fixtures::read(&dir, "clip.mov")).unwrap();
    assert!(video.info().has_audio);
    assert_eq!(video.info().codec, "H.264 High");
    for (name, needle) in [
        ("hevc.mp4", "HEVC"),
        ("high10.mp4", "10-bit"),
        ("vp9.webm", "WebM"),
    ] {
        let err = first_frame(&fixtures::read(&dir, name)).unwrap_err();
        let message = err.to_string();
        assert!(
            matches!(err, MediaError::Unsupported(_)) && message.contains(needle),
            "{name}: {message}"
        );
        assert!(
            message.contains("ffmpeg"),
            "{name}: says what would play it: {message}"
        );
    }
}

#[test]
fn damaged_files_get_a_clear_error_and_never_a_panic() {
    let Some(dir) = fixtures::dir() else { return };
    assert!(matches!(Video::open(Vec::new()), Err(MediaError::Empty)));
    let text = b"this is a note saved with an .mp4 name by mistake\n".repeat(40);
    let err = Video::open(text.clone()).unwrap_err();
    assert!(matches!(err, MediaError::Unsupported(_)), "{err}");
    assert!(first_frame(&text).is_err());
    // Index at the end, file cut in half: the index is gone.
    let moov_at_end = fixtures::read(&dir, "main-moov-at-end.mp4");
    let err = Video::open(moov_at_end[..moov_at_end.len() / 2].to_vec()).unwrap_err();
    assert!(matches!(err, MediaError::Truncated { .. }), "{err}");
    assert!(err.to_string().contains("truncated"), "{err}");
    // Index first, media cut: frames point past the end.
    let faststart = fixtures::read(&dir, "baseline.mp4");
    let err = Video::open(faststart[..faststart.len() * 2 / 3].to_vec()).unwrap_err();
    assert!(matches!(err, MediaError::Truncated { .. }), "{err}");
    // Cut anywhere, every file either opens and decodes or says why.
    for name in ["baseline.mp4", "fragmented.mp4", "clip.mov"] {
        let bytes = fixtures::read(&dir, name);
        for cut in (0..bytes.len()).step_by(bytes.len() / 97 + 1) {
            if let Ok(video) = Video::open(bytes[..cut].to_vec())
                && let Ok(frames) = video.frames(Some(32))
            {
                for frame in frames.take(8) {
                    let _ = frame;
                }
            }
        }
    }
    // Bytes flipped inside the pictures: decoding goes on or stops with an error.
    let mut damaged = fixtures::read(&dir, "high-480p-aac.mp4");
    let len = damaged.len();
    for i in (len / 3..len - 64).step_by(997) {
        damaged[i] ^= 0x5A;
    }
    if let Ok(video) = Video::open(damaged) {
        let mut decoded = 0;
        for frame in video.frames(Some(64)).unwrap() {
            if frame.is_ok() {
                decoded += 1;
            }
        }
        assert!(decoded <= 72);
    }
}

/// Frequency from zero crossings and RMS of decoded audio.
fn tone_of(samples: &[f32], rate: u32) -> (f64, f64) {
    let crossings = samples
        .windows(2)
        .filter(|w| (w[0] < 0.0) != (w[1] < 0.0))
        .count();
    let seconds = samples.len() as f64 / f64::from(rate);
    let rms =
        (samples.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>() / samples.len() as f64).sqrt();
    (crossings as f64 / 2.0 / seconds, rms)
}

#[test]
fn compressed_audio_decodes_to_the_tone_it_holds() {
    let Some(dir) = fixtures::dir() else { return };
    // lavfi's sine: 440 Hz at amplitude 1/8, so RMS 0.0884; made stereo (`-ac 2`), ffmpeg
    // spreads it at -3 dB a side, so RMS 0.0625.
    for (name, rate, seconds, expected_rms) in [
        ("tone.mp3", 44_100, 2.0, 0.0884),
        ("tone.m4a", 44_100, 2.0, 0.0884),
        ("tone.flac", 44_100, 2.0, 0.0884),
        ("tone.ogg", 44_100, 2.0, 0.0884),
        ("stereo.wav", 48_000, 2.0, 0.0625),
        ("high-480p-aac.mp4", 48_000, 3.0, 0.0625),
        ("clip.mov", 44_100, 2.0, 0.0884),
    ] {
        let audio =
            decode_audio(&fixtures::read(&dir, name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(audio.sample_rate, rate, "{name}");
        // Encoders pad (MP3, AAC priming); within 0.1 s.
        assert!(
            (audio.seconds() - seconds).abs() < 0.1,
            "{name}: {} s",
            audio.seconds()
        );
        let (frequency, rms) = tone_of(&audio.samples, audio.sample_rate);
        assert!((frequency - 440.0).abs() < 5.0, "{name}: {frequency} Hz");
        assert!((rms - expected_rms).abs() < 0.008, "{name}: RMS {rms}");
    }
}

#[test]
fn damaged_audio_gets_a_clear_error() {
    let Some(dir) = fixtures::dir() else { return };
    for name in [
        "tone.mp3",
        "tone.m4a",
        "tone.flac",
        "tone.ogg",
        "stereo.wav",
    ] {
        let bytes = fixtures::read(&dir, name);
        assert!(matches!(decode_audio(&bytes[..0]), Err(MediaError::Empty)));
        for cut in (1..bytes.len()).step_by(bytes.len() / 37 + 1) {
            match decode_audio(&bytes[..cut]) {
                Ok(audio) => assert!(audio.seconds() < 2.05, "{name} cut at {cut}"),
                Err(err) => assert!(!err.to_string().is_empty()),
            }
        }
    }
    // M4A keeps its index at the end: cut, it cannot be read, and says so.
    let m4a = fixtures::read(&dir, "tone.m4a");
    let err = decode_audio(&m4a[..m4a.len() / 2]).unwrap_err();
    assert!(
        matches!(
            err,
            MediaError::Truncated { .. } | MediaError::Corrupt { .. }
        ),
        "{err}"
    );
    let err = decode_audio(b"ID3 but not really an mp3 at all").unwrap_err();
    assert!(!err.to_string().is_empty());
}
