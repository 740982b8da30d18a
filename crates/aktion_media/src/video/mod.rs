//! Moving pictures: H.264 MP4/MOV read in-process ([`Video`]: posters, thumbnails, every frame
//! for playback), animated GIF out, MP4 through an ffmpeg subprocess when the user has one.
//! Formats this build cannot decode (WebM/VP9, AV1, HEVC, 10-bit) use ffmpeg for a poster when
//! it is installed, and otherwise get a message naming the format.

mod encode;
mod h264;
mod mp4;
mod mux;
mod reader;
mod yuv;

pub use encode::{Mp4Encoder, encode_h264_mp4, resample};
pub use h264::{H264Decoder, OpenH264, PictureSink, Yuv420};
pub use reader::{Frames, Video, VideoFrame, VideoInfo};
pub use yuv::{Matrix, to_rgba};

use std::ffi::OsStr;
use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use image::codecs::gif::{GifEncoder, Repeat};
use image::{Delay, Frame, RgbaImage};

use crate::MediaError;
use crate::image_io::{DecodeLimits, decode_image};
use crate::sniff::{MediaKind, sniff};

/// A short sequence of equally sized frames.
#[derive(Clone, Debug, PartialEq)]
pub struct Clip {
    pub frames: Vec<RgbaImage>,
    pub fps: u32,
}

impl Clip {
    /// Checks the invariants encoders rely on: frames exist, share one non-zero size, fps sane.
    fn validate(&self) -> Result<(u32, u32), MediaError> {
        let Some(first) = self.frames.first() else {
            return Err(MediaError::InvalidArgument(
                "the clip has no frames".to_owned(),
            ));
        };
        let size = first.dimensions();
        if size.0 == 0 || size.1 == 0 {
            return Err(MediaError::InvalidArgument(
                "the clip's frames are empty".to_owned(),
            ));
        }
        if self.frames.iter().any(|frame| frame.dimensions() != size) {
            return Err(MediaError::InvalidArgument(
                "the clip's frames differ in size".to_owned(),
            ));
        }
        if !(1..=120).contains(&self.fps) {
            return Err(MediaError::InvalidArgument(format!(
                "{} fps is outside 1–120",
                self.fps
            )));
        }
        Ok(size)
    }

    /// Duration in seconds.
    pub fn seconds(&self) -> f32 {
        self.frames.len() as f32 / self.fps.max(1) as f32
    }
}

/// The first frame of a clip, as a poster. GIF, APNG and `WebP` are read by `image`, H.264
/// MP4/MOV by [`Video`]; other video (`WebM`, AV1, HEVC…) goes through ffmpeg when it is installed.
pub fn first_frame(video: &[u8]) -> Result<RgbaImage, MediaError> {
    if video.is_empty() {
        return Err(MediaError::Empty);
    }
    match sniff(video) {
        (MediaKind::Image, _) => decode_image(video, &DecodeLimits::default()),
        (MediaKind::Video, _) => {
            let in_process = Video::open(video.to_vec()).and_then(|clip| clip.poster(None));
            match in_process {
                Ok(poster) => Ok(poster),
                // Only a codec this build lacks is worth ffmpeg's try; a damaged file stays
                // damaged.
                Err(MediaError::Unsupported(message)) => match ffmpeg_path() {
                    Some(ffmpeg) => first_frame_with_ffmpeg(video, &ffmpeg),
                    None => Err(MediaError::Unsupported(message)),
                },
                Err(other) => Err(other),
            }
        }
        (MediaKind::Audio, mime) => Err(MediaError::Unsupported(format!(
            "this is {mime}, which has no pictures"
        ))),
        (MediaKind::Unknown, _) => Err(MediaError::Unsupported(
            "not a recognised video format (MP4, MOV, WebM, GIF, APNG, WebP)".to_owned(),
        )),
    }
}

fn first_frame_with_ffmpeg(video: &[u8], ffmpeg: &Path) -> Result<RgbaImage, MediaError> {
    // MP4s often keep their index at the end, so ffmpeg needs a seekable file, not a pipe.
    let mut input = tempfile::Builder::new()
        .prefix("aktion-video-")
        .tempfile()?;
    input.write_all(video)?;
    input.flush()?;
    let output = Command::new(ffmpeg)
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-i"])
        .arg(input.path())
        .args(["-frames:v", "1", "-f", "image2pipe", "-c:v", "png", "-"])
        .stdin(Stdio::null())
        .output()?;
    if !output.status.success() || output.stdout.is_empty() {
        return Err(MediaError::Ffmpeg(stderr_tail(&output.stderr)));
    }
    decode_image(&output.stdout, &DecodeLimits::default())
}

fn stderr_tail(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let tail: Vec<&str> = text.lines().rev().take(3).collect();
    let joined = tail.into_iter().rev().collect::<Vec<_>>().join(" | ");
    if joined.is_empty() {
        "no error output".to_owned()
    } else {
        joined
    }
}

/// A container's name as a filmmaker knows it, for messages.
pub(crate) fn format_name(mime: &str) -> &str {
    match mime {
        "video/mp4" => "MP4",
        "video/quicktime" => "MOV",
        "video/webm" => "WebM",
        "video/x-matroska" => "Matroska (MKV)",
        "video/x-msvideo" => "AVI",
        "video/mpeg" => "MPEG-PS",
        "video/3gpp" => "3GP",
        other => other,
    }
}

/// Encodes a looping animated GIF, playable by the app (and anything else) without ffmpeg.
pub fn encode_gif(clip: &Clip) -> Result<Vec<u8>, MediaError> {
    let (width, height) = clip.validate()?;
    if width > u32::from(u16::MAX) || height > u32::from(u16::MAX) {
        return Err(MediaError::InvalidArgument(format!(
            "GIF frames are at most 65535 pixels a side, not {width}×{height}"
        )));
    }
    let mut out = Vec::new();
    {
        // Speed 10 of 30: quantising with speed 1 takes ~10× longer for little visible gain on
        // draft-quality frames.
        let mut encoder = GifEncoder::new_with_speed(Cursor::new(&mut out), 10);
        encoder
            .set_repeat(Repeat::Infinite)
            .map_err(|err| MediaError::Encode(err.to_string()))?;
        let delay = Delay::from_numer_denom_ms(1000, clip.fps);
        for frame in &clip.frames {
            encoder
                .encode_frame(Frame::from_parts(frame.clone(), 0, 0, delay))
                .map_err(|err| MediaError::Encode(err.to_string()))?;
        }
    }
    Ok(out)
}

/// ffmpeg to use: `AKTION_FFMPEG` when set (and only it, so a user's choice is never silently
/// replaced), otherwise `ffmpeg` on `PATH`.
pub fn ffmpeg_path() -> Option<PathBuf> {
    ffmpeg_path_in(
        std::env::var_os("AKTION_FFMPEG").as_deref(),
        std::env::var_os("PATH").as_deref(),
    )
}

/// [`ffmpeg_path`] with the two variables passed in, so it can be tested without touching the
/// process environment.
pub fn ffmpeg_path_in(override_path: Option<&OsStr>, path_var: Option<&OsStr>) -> Option<PathBuf> {
    if let Some(explicit) = override_path.filter(|value| !value.is_empty()) {
        let explicit = PathBuf::from(explicit);
        return is_executable(&explicit).then_some(explicit);
    }
    let names: &[&str] = if cfg!(windows) {
        &["ffmpeg.exe", "ffmpeg"]
    } else {
        &["ffmpeg"]
    };
    std::env::split_paths(path_var?)
        .flat_map(|dir| names.iter().map(move |name| dir.join(name)))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    let Ok(meta) = std::fs::metadata(path) else {
        return false;
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        meta.is_file() && meta.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    {
        meta.is_file()
    }
}

/// Encodes an MP4 (H.264 via libx264, or MPEG-4 Part 2 where the ffmpeg build lacks x264),
/// yuv420p with dimensions padded to even numbers as those codecs require.
pub fn encode_mp4(clip: &Clip, ffmpeg: &Path) -> Result<Vec<u8>, MediaError> {
    let (width, height) = clip.validate()?;
    let mut last_error = String::new();
    for codec in [
        &["-c:v", "libx264", "-preset", "veryfast", "-crf", "23"][..],
        &["-c:v", "mpeg4", "-q:v", "4"][..],
    ] {
        match run_mp4_encoder(clip, ffmpeg, width, height, codec) {
            Ok(bytes) => return Ok(bytes),
            Err(MediaError::Ffmpeg(message)) => last_error = message,
            Err(other) => return Err(other),
        }
    }
    Err(MediaError::Ffmpeg(last_error))
}

fn run_mp4_encoder(
    clip: &Clip,
    ffmpeg: &Path,
    width: u32,
    height: u32,
    codec: &[&str],
) -> Result<Vec<u8>, MediaError> {
    let output_file = tempfile::Builder::new()
        .prefix("aktion-clip-")
        .suffix(".mp4")
        .tempfile()?;
    let mut child = Command::new(ffmpeg)
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(["-f", "rawvideo", "-pix_fmt", "rgba"])
        .args(["-s", &format!("{width}x{height}")])
        .args(["-r", &clip.fps.to_string()])
        .args(["-i", "-"])
        .args(["-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2"])
        .args(codec)
        .args([
            "-pix_fmt",
            "yuv420p",
            "-movflags",
            "+faststart",
            "-f",
            "mp4",
        ])
        .arg(output_file.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let Some(mut stdin) = child.stdin.take() else {
        return Err(MediaError::Ffmpeg(
            "could not open ffmpeg's input".to_owned(),
        ));
    };
    // Frames are written from a second thread while this one drains stderr: with both on one
    // thread a chatty ffmpeg could fill the stderr pipe and deadlock us.
    let output = std::thread::scope(|scope| {
        let writer = scope.spawn(move || -> std::io::Result<()> {
            for frame in &clip.frames {
                stdin.write_all(frame.as_raw())?;
            }
            Ok(())
        });
        let output = child.wait_with_output();
        // A write error here just means ffmpeg stopped reading; its stderr says why.
        let _ = writer.join();
        output
    })?;
    if !output.status.success() {
        return Err(MediaError::Ffmpeg(stderr_tail(&output.stderr)));
    }
    let bytes = std::fs::read(output_file.path())?;
    if bytes.is_empty() {
        return Err(MediaError::Ffmpeg("ffmpeg wrote an empty file".to_owned()));
    }
    Ok(bytes)
}
