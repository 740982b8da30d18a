//! H.264 MP4 written in-process, read back by the app's own decoders and, where the test command
//! provides it, checked by ffprobe (a real implementation no one here wrote).

use aktion_media::{Audio, Clip, MediaError, Mp4Encoder, Video, decode_audio, encode_h264_mp4};
use image::{Rgba, RgbaImage};

/// A moving test picture: a bright square crossing a gradient.
fn frame(width: u32, height: u32, i: u32) -> RgbaImage {
    RgbaImage::from_fn(width, height, |x, y| {
        let inside = x.abs_diff(i * 7 % width) < 24 && y.abs_diff(height / 2) < 24;
        if inside {
            Rgba([250, 240, 40, 255])
        } else {
            Rgba([(x * 255 / width) as u8, (y * 255 / height) as u8, 120, 255])
        }
    })
}

fn tone(seconds: f64, rate: u32) -> Audio {
    let samples = (0..(seconds * f64::from(rate)) as usize)
        .map(|i| (0.25 * (i as f64 * 440.0 * std::f64::consts::TAU / f64::from(rate)).sin()) as f32)
        .collect();
    Audio {
        sample_rate: rate,
        samples,
    }
}

fn mean_difference(a: &RgbaImage, b: &RgbaImage) -> f64 {
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
fn an_encoded_clip_plays_back_frame_for_frame_with_its_sound() {
    let frames: Vec<RgbaImage> = (0..48).map(|i| frame(320, 240, i)).collect();
    let clip = Clip {
        frames: frames.clone(),
        fps: 24,
    };
    let mp4 = encode_h264_mp4(&clip, Some(&tone(2.0, 44_100))).unwrap();
    assert_eq!(&mp4[4..8], b"ftyp");
    let video = Video::open(mp4.clone()).unwrap();
    let info = video.info();
    assert_eq!((info.width, info.height, info.frames), (320, 240, 48));
    assert!((info.duration - 2.0).abs() < 1e-6, "{}", info.duration);
    assert!(info.has_audio);
    for decoded in video.frames(None).unwrap() {
        let decoded = decoded.unwrap();
        let difference = mean_difference(&decoded.image, &frames[decoded.index]);
        assert!(difference < 6.0, "frame {}: {difference:.2}", decoded.index);
        // Not some other frame: the square moved.
        if decoded.index > 0 {
            assert!(mean_difference(&decoded.image, &frames[decoded.index - 1]) > difference);
        }
    }
    let sound = decode_audio(&mp4).unwrap();
    assert_eq!(sound.sample_rate, 44_100);
    assert!((sound.seconds() - 2.0).abs() < 0.1, "{} s", sound.seconds());
    let crossings = sound.samples[4096..sound.samples.len() - 4096]
        .windows(2)
        .filter(|w| (w[0] < 0.0) != (w[1] < 0.0))
        .count();
    let seconds = (sound.samples.len() - 8192) as f64 / 44_100.0;
    let frequency = crossings as f64 / 2.0 / seconds;
    assert!((frequency - 440.0).abs() < 5.0, "{frequency} Hz");
    let rms = (sound.samples[4096..sound.samples.len() - 4096]
        .iter()
        .map(|s| f64::from(*s).powi(2))
        .sum::<f64>()
        / (sound.samples.len() - 8192) as f64)
        .sqrt();
    assert!((rms - 0.177).abs() < 0.02, "RMS {rms}");
    ffprobe_accepts(&mp4, &["h264", "aac"]);
}

#[test]
fn odd_sizes_rates_and_silent_clips_encode() {
    // 9:16 at an odd size and 30 fps, no sound; 8 kHz sound is resampled to 48 kHz.
    let frames: Vec<RgbaImage> = (0..10).map(|i| frame(181, 321, i)).collect();
    let mp4 = encode_h264_mp4(&Clip { frames, fps: 30 }, None).unwrap();
    let video = Video::open(mp4.clone()).unwrap();
    assert_eq!((video.info().width, video.info().height), (182, 322));
    assert!(!video.info().has_audio);
    assert_eq!(video.frames(None).unwrap().count(), 10);
    ffprobe_accepts(&mp4, &["h264"]);
    let frames: Vec<RgbaImage> = (0..6).map(|i| frame(64, 64, i)).collect();
    let mp4 = encode_h264_mp4(&Clip { frames, fps: 12 }, Some(&tone(0.5, 8_000))).unwrap();
    assert_eq!(decode_audio(&mp4).unwrap().sample_rate, 48_000);
}

#[test]
fn bad_arguments_are_refused() {
    assert!(matches!(
        Mp4Encoder::new(0, 10, 24),
        Err(MediaError::InvalidArgument(_))
    ));
    assert!(matches!(
        Mp4Encoder::new(10, 10, 0),
        Err(MediaError::InvalidArgument(_))
    ));
    assert!(matches!(
        Mp4Encoder::new(5000, 10, 24),
        Err(MediaError::InvalidArgument(_))
    ));
    let mut encoder = Mp4Encoder::new(64, 64, 24).unwrap();
    assert!(matches!(
        encoder.push(&RgbaImage::new(32, 32)),
        Err(MediaError::InvalidArgument(_))
    ));
    assert!(matches!(
        encoder.finish(None),
        Err(MediaError::InvalidArgument(_))
    ));
}

/// ffprobe (named by `AKTION_TEST_FFPROBE`, set by `cargo xtask test`) reads the file without a
/// complaint and finds the streams expected.
fn ffprobe_accepts(mp4: &[u8], codecs: &[&str]) {
    let Some(ffprobe) = std::env::var_os("AKTION_TEST_FFPROBE") else {
        eprintln!("note: AKTION_TEST_FFPROBE not set; the file is checked by this crate only");
        return;
    };
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), mp4).expect("temp file");
    let out = std::process::Command::new(ffprobe)
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=codec_name",
            "-of",
            "csv=p=0",
        ])
        .arg(file.path())
        .output()
        .expect("ffprobe runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "ffprobe: {stderr}"
    );
    let found: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().to_owned())
        .collect();
    assert_eq!(found, codecs, "streams");
}
