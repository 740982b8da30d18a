//! Media for Aktion Studio: image decoding with limits, thumbnails, PNG metadata, sketch
//! rasterising, audio/video helpers and the offline [`draft`] renderers (PRODUCT.md §4.3).
//!
//! Everything here is synchronous, deterministic where it draws, and refuses hostile input with a
//! [`MediaError`] instead of panicking: files come from users' disks and from providers.
//! Must never depend on egui, tokio or the network; ffmpeg is an optional subprocess, never a
//! link-time dependency.

mod audio;
pub mod draft;
mod image_io;
mod paint;
mod sketch;
mod sniff;
mod text;
mod video;

pub use audio::{Audio, MAX_AUDIO_SECONDS, decode_audio};
pub use image::RgbaImage;
pub use image_io::{
    DecodeLimits, decode_image, encode_png, image_dimensions, png_text, thumbnail,
    thumbnail_from_bytes,
};
pub use sketch::{MAX_SKETCH_POINTS, MAX_SKETCH_SIDE, rasterise_sketch};
pub use sniff::{MediaKind, sniff};
pub use text::{BUNDLED_FONT, text_width_em, wrap_em};
pub use video::{
    Clip, Frames, H264Decoder, Matrix, Mp4Encoder, OpenH264, PictureSink, Video, VideoFrame,
    VideoInfo, Yuv420, encode_gif, encode_h264_mp4, encode_mp4, ffmpeg_path, ffmpeg_path_in,
    first_frame, resample, to_rgba,
};

/// Everything that can go wrong in this crate. Messages are written for a filmmaker reading a
/// node's error badge, so they say what was wrong with the file rather than which decoder failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MediaError {
    /// Zero bytes: usually a failed download or an empty file.
    #[error("the file is empty")]
    Empty,
    /// A format this build cannot read or write (or not media at all).
    #[error("unsupported media: {0}")]
    Unsupported(String),
    /// The data claims a known format but does not follow it.
    #[error("the {format} data is corrupt: {detail}")]
    Corrupt {
        format: &'static str,
        detail: String,
    },
    /// The data stops before the format says it should end.
    #[error("the {format} data is truncated (the file ends early): {detail}")]
    Truncated {
        format: &'static str,
        detail: String,
    },
    /// The header declares an image larger than the limits allow (a decompression bomb, or just
    /// too big to handle). Raised before any pixel buffer is allocated.
    #[error("the image is {width}×{height} pixels, over the limit of {limit}")]
    TooLarge {
        width: u32,
        height: u32,
        limit: String,
    },
    /// A clip (or audio container) with no sound in it: nothing to play, nothing wrong.
    #[error("the {0} file has no sound track")]
    NoSoundTrack(&'static str),
    /// A decoder hit its memory or size limit while reading.
    #[error("the media exceeds a safety limit: {0}")]
    LimitExceeded(String),
    /// The input is bigger than the byte limit.
    #[error("the file is {len} bytes, over the limit of {max} bytes")]
    TooManyBytes { len: u64, max: u64 },
    /// Audio longer than [`MAX_AUDIO_SECONDS`].
    #[error("the audio is {seconds:.0} s long, over the limit of {max} s")]
    AudioTooLong { seconds: f64, max: u32 },
    /// A caller passed a value that cannot work (zero size, NaN, wrong image count…).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The operation needs ffmpeg and none was found.
    #[error("ffmpeg is needed to {0}, but it was not found (install ffmpeg or set AKTION_FFMPEG)")]
    FfmpegMissing(String),
    /// ffmpeg ran and failed; the detail is the tail of its stderr.
    #[error("ffmpeg failed: {0}")]
    Ffmpeg(String),
    /// Writing an image or clip failed.
    #[error("encoding failed: {0}")]
    Encode(String),
    /// The video decoder could not start or stopped working.
    #[error("the video decoder failed: {0}")]
    Decode(String),
    /// Temporary files or subprocess pipes failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}
