use std::io::Cursor;

use aktion_media::{
    Clip, MAX_AUDIO_SECONDS, MediaError, MediaKind, decode_audio, encode_gif, encode_mp4,
    ffmpeg_path, ffmpeg_path_in, first_frame, sniff,
};
use image::AnimationDecoder;

use super::util::{close, noise, solid};

fn wav(spec: hound::WavSpec, frames: usize, sample: impl Fn(usize, u16) -> f64) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    {
        let mut writer = hound::WavWriter::new(&mut out, spec).expect("in-memory WAV writing");
        for i in 0..frames {
            for channel in 0..spec.channels {
                let v = sample(i, channel).clamp(-1.0, 1.0);
                match (spec.sample_format, spec.bits_per_sample) {
                    (hound::SampleFormat::Float, _) => writer
                        .write_sample(v as f32)
                        .expect("in-memory WAV writing"),
                    (_, 8) => writer
                        .write_sample((v * 127.0) as i8)
                        .expect("in-memory WAV writing"),
                    (_, 16) => writer
                        .write_sample((v * 32767.0) as i16)
                        .expect("in-memory WAV writing"),
                    (_, bits) => writer
                        .write_sample((v * ((1i64 << (bits - 1)) - 1) as f64) as i32)
                        .expect("in-memory WAV writing"),
                }
            }
        }
        writer.finalize().expect("in-memory WAV writing");
    }
    out.into_inner()
}

fn spec(channels: u16, sample_rate: u32, bits: u16, float: bool) -> hound::WavSpec {
    hound::WavSpec {
        channels,
        sample_rate,
        bits_per_sample: bits,
        sample_format: if float {
            hound::SampleFormat::Float
        } else {
            hound::SampleFormat::Int
        },
    }
}

#[test]
fn wav_16_bit_stereo_mixes_to_mono() {
    // Left +0.5, right -0.1 → mono 0.2.
    let bytes = wav(spec(2, 22_050, 16, false), 22_050, |_, ch| {
        if ch == 0 { 0.5 } else { -0.1 }
    });
    assert_eq!(sniff(&bytes), (MediaKind::Audio, "audio/wav"));
    let audio = decode_audio(&bytes).unwrap();
    assert_eq!(audio.sample_rate, 22_050);
    assert_eq!(audio.samples.len(), 22_050);
    assert!(
        (audio.samples[100] - 0.2).abs() < 1e-3,
        "{}",
        audio.samples[100]
    );
    assert!((audio.seconds() - 1.0).abs() < 1e-9);
}

#[test]
fn wav_every_sample_format_decodes_to_the_same_signal() {
    let sine = |i: usize, _| (i as f64 / 20.0).sin() * 0.75;
    for (bits, float) in [
        (8, false),
        (16, false),
        (24, false),
        (32, false),
        (32, true),
    ] {
        let audio = decode_audio(&wav(spec(1, 8000, bits, float), 800, sine)).unwrap();
        assert_eq!(audio.samples.len(), 800, "{bits}-bit");
        let tolerance = if bits == 8 { 0.02 } else { 1e-3 };
        for (i, &s) in audio.samples.iter().enumerate().step_by(37) {
            assert!(
                (f64::from(s) - sine(i, 0)).abs() < tolerance,
                "{bits}-bit float={float} at {i}: {s}"
            );
        }
    }
}

#[test]
fn bad_audio_is_refused_clearly() {
    assert!(matches!(decode_audio(&[]), Err(MediaError::Empty)));
    assert!(matches!(
        decode_audio(&noise(1000, 5)),
        Err(MediaError::Unsupported(_))
    ));
    // MP3 and M4A are decoded now; a header with nothing behind it says what is wrong.
    let mp3 = decode_audio(b"ID3\x04\0\0\0\0\0\0rest").unwrap_err();
    assert!(!mp3.to_string().contains("convert it to WAV"), "{mp3}");
    let m4a = decode_audio(b"\0\0\0\x20ftypM4A \0\0\0\0").unwrap_err();
    assert!(
        matches!(
            m4a,
            MediaError::Truncated { .. } | MediaError::Corrupt { .. }
        ),
        "{m4a}"
    );
    // A WAV header with noise where the format chunk should be.
    let mut garbage = b"RIFF\xff\0\0\0WAVE".to_vec();
    garbage.extend(noise(200, 9));
    let err = decode_audio(&garbage).unwrap_err();
    assert!(
        matches!(
            err,
            MediaError::Corrupt { .. } | MediaError::Truncated { .. } | MediaError::Unsupported(_)
        ),
        "{err:?}"
    );
    // Cut off halfway through the samples.
    let full = wav(spec(1, 8000, 16, false), 8000, |_, _| 0.3);
    let err = decode_audio(&full[..full.len() / 2]).unwrap_err();
    assert!(
        matches!(err, MediaError::Truncated { format: "WAV", .. }),
        "{err:?}"
    );
}

#[test]
fn overlong_audio_is_refused_before_decoding() {
    // 1 Hz makes "longer than the cap" cheap to build.
    let bytes = wav(
        spec(1, 1, 16, false),
        MAX_AUDIO_SECONDS as usize + 1,
        |_, _| 0.0,
    );
    assert!(matches!(
        decode_audio(&bytes),
        Err(MediaError::AudioTooLong { .. })
    ));
    let ok = wav(spec(1, 1, 16, false), MAX_AUDIO_SECONDS as usize, |_, _| {
        0.0
    });
    assert!(decode_audio(&ok).is_ok());
}

fn colours_clip() -> Clip {
    let colours = [
        [255, 0, 0, 255],
        [0, 255, 0, 255],
        [0, 0, 255, 255],
        [255, 255, 255, 255],
        [0, 0, 0, 255],
    ];
    Clip {
        frames: colours.iter().map(|&c| solid(48, 32, c)).collect(),
        fps: 10,
    }
}

#[test]
fn gif_round_trips_frames_and_loops() {
    let bytes = encode_gif(&colours_clip()).unwrap();
    assert_eq!(sniff(&bytes), (MediaKind::Image, "image/gif"));
    let decoder = image::codecs::gif::GifDecoder::new(Cursor::new(&bytes)).unwrap();
    let frames: Vec<image::Frame> = decoder.into_frames().collect::<Result<_, _>>().unwrap();
    assert_eq!(frames.len(), 5);
    assert_eq!(frames[2].buffer().dimensions(), (48, 32));
    assert!(close(
        frames[2].buffer().get_pixel(10, 10).0,
        [0, 0, 255, 255],
        8
    ));
    let (numer, denom) = frames[0].delay().numer_denom_ms();
    assert_eq!(numer / denom, 100, "10 fps is 100 ms a frame");
    // NETSCAPE2.0 application extension = loops.
    assert!(bytes.windows(11).any(|w| w == b"NETSCAPE2.0"));
    // The poster of a GIF is its first frame.
    let poster = first_frame(&bytes).unwrap();
    assert!(close(poster.get_pixel(10, 10).0, [255, 0, 0, 255], 8));
}

#[test]
fn clips_are_validated_before_encoding() {
    assert!(matches!(
        encode_gif(&Clip {
            frames: vec![],
            fps: 10
        }),
        Err(MediaError::InvalidArgument(_))
    ));
    let mixed = Clip {
        frames: vec![solid(4, 4, [0; 4]), solid(5, 4, [0; 4])],
        fps: 10,
    };
    assert!(matches!(
        encode_gif(&mixed),
        Err(MediaError::InvalidArgument(_))
    ));
    let no_fps = Clip {
        frames: vec![solid(4, 4, [0; 4])],
        fps: 0,
    };
    assert!(matches!(
        encode_gif(&no_fps),
        Err(MediaError::InvalidArgument(_))
    ));
}

#[test]
fn ffmpeg_lookup_honours_override_and_path() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join(if cfg!(windows) {
        "ffmpeg.exe"
    } else {
        "ffmpeg"
    });
    std::fs::write(&fake, b"#!/bin/sh\n").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let path_var =
        std::env::join_paths([std::path::Path::new("/nonexistent"), dir.path()]).unwrap();
    assert_eq!(ffmpeg_path_in(None, Some(&path_var)), Some(fake.clone()));
    assert_eq!(ffmpeg_path_in(None, None), None);
    assert_eq!(
        ffmpeg_path_in(Some(fake.as_os_str()), None),
        Some(fake.clone())
    );
    // An explicit but wrong AKTION_FFMPEG is not silently replaced by the one on PATH.
    let missing = dir.path().join("nope");
    assert_eq!(
        ffmpeg_path_in(Some(missing.as_os_str()), Some(&path_var)),
        None
    );
    // An empty override counts as unset.
    assert_eq!(
        ffmpeg_path_in(Some("".as_ref()), Some(&path_var)),
        Some(fake)
    );
    #[cfg(unix)]
    {
        let plain = dir.path().join("plain");
        std::fs::create_dir(&plain).unwrap();
        std::fs::write(plain.join("ffmpeg"), b"not executable").unwrap();
        assert_eq!(ffmpeg_path_in(None, Some(plain.as_os_str())), None);
    }
}

/// Real MP4 encoding runs only where ffmpeg is installed. Where it is not (this project's build
/// machine), the test checks the fallback instead: video containers give `FfmpegMissing`.
#[test]
fn mp4_via_ffmpeg_or_a_clear_error() {
    let fake_mp4 = b"\0\0\0\x20ftypisom\0\0\x02\0isomiso2avc1mp41\0\0\0\x08free";
    if let Some(ffmpeg) = ffmpeg_path() {
        // Odd dimensions must be padded to even by the encoder.
        let clip = Clip {
            frames: (0..6)
                .map(|i| solid(65, 47, [i * 40, 100, 200, 255]))
                .collect(),
            fps: 6,
        };
        let mp4 = encode_mp4(&clip, &ffmpeg).unwrap();
        assert_eq!(sniff(&mp4).0, MediaKind::Video);
        let poster = first_frame(&mp4).unwrap();
        assert_eq!(poster.dimensions(), (66, 48));
    } else {
        eprintln!("ffmpeg not found: checking the no-ffmpeg path only");
        // encode_mp4 with a path that is not ffmpeg fails cleanly rather than panicking.
        let clip = colours_clip();
        assert!(encode_mp4(&clip, std::path::Path::new("/nonexistent/ffmpeg")).is_err());
    }
    // An MP4 with no index is read in-process and said to be cut short, ffmpeg or not.
    let err = first_frame(fake_mp4).unwrap_err();
    assert!(matches!(err, MediaError::Truncated { .. }), "{err:?}");
    assert!(matches!(first_frame(&[]), Err(MediaError::Empty)));
    assert!(matches!(
        first_frame(b"just text"),
        Err(MediaError::Unsupported(_))
    ));
}
