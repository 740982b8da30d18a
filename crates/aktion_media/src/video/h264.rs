//! H.264 decoding behind a small trait, so a platform decoder (`VideoToolbox`, Media Foundation)
//! can take `OpenH264`'s place without touching the reader.
//!
//! The one implementation here is Cisco's `OpenH264`, compiled from the source bundled in the
//! `openh264-sys2` crate (no download at build time). It is driven through `DecodeFrame2`, the
//! entry point `OpenH264`'s own console decoder uses: it handles B-frames (Main/High profile), where
//! the `decode()` of the `openh264` crate (`DecodeFrameNoDelay`) fails after a few frames
//! (openh264-rs issue #50). Frames leave the decoder tagged with the presentation time they were
//! fed with; [`super::reader`] puts them in display order.
//!
//! This module is the only place in the workspace with `unsafe` code: three FFI calls through
//! the decoder's vtable and the reading of the planes it returns.

#![allow(unsafe_code)]

use std::ptr::{addr_of_mut, null, null_mut};

use openh264::decoder::{Decoder, DecoderConfig};
use openh264_sys2::{
    DECODER_OPTION, DECODER_OPTION_END_OF_STREAM, DECODER_OPTION_NUM_OF_FRAMES_REMAINING_IN_BUFFER,
    DECODING_STATE, SBufferInfo, dsBitstreamError, dsDataErrorConcealed, dsErrorFree,
    dsFramePending, dsNoParamSets, dsOutOfMemory, dsRefLost,
};

use crate::MediaError;

/// A decoded picture's planes, borrowed from the decoder until the next call.
#[derive(Clone, Copy, Debug)]
pub struct Yuv420<'a> {
    pub width: usize,
    pub height: usize,
    pub y: &'a [u8],
    pub u: &'a [u8],
    pub v: &'a [u8],
    pub y_stride: usize,
    pub uv_stride: usize,
}

/// Receives each decoded picture with the presentation time it was fed with.
pub type PictureSink<'s> = dyn FnMut(Yuv420<'_>, i64) + 's;

/// An H.264 decoder fed with access units in decode order (Annex B: start-code delimited NAL
/// units, parameter sets included where the stream needs them).
pub trait H264Decoder: Send {
    /// Decodes one access unit. Pictures that become ready (not necessarily this one: B-frames
    /// reorder) go to `sink` with the time they were fed with.
    fn decode(
        &mut self,
        access_unit: &[u8],
        pts: i64,
        sink: &mut PictureSink<'_>,
    ) -> Result<(), MediaError>;

    /// Ends the stream: every picture still held goes to `sink`.
    fn flush(&mut self, sink: &mut PictureSink<'_>) -> Result<(), MediaError>;
}

/// `OpenH264` built from source.
pub struct OpenH264 {
    decoder: Decoder,
    /// Consecutive access units that failed; the stream is given up after many.
    failures: u32,
}

impl OpenH264 {
    pub fn new() -> Result<Self, MediaError> {
        let decoder =
            Decoder::with_api_config(openh264::OpenH264API::from_source(), DecoderConfig::new())
                .map_err(|err| {
                    MediaError::Decode(format!("the H.264 decoder did not start: {err}"))
                })?;
        Ok(Self {
            decoder,
            failures: 0,
        })
    }

    fn check(&mut self, state: DECODING_STATE) -> Result<(), MediaError> {
        let fatal = dsBitstreamError | dsNoParamSets | dsOutOfMemory;
        if state == dsErrorFree || state & fatal == 0 {
            // Pending frames, concealed errors and lost references are recoverable.
            let _ = (dsFramePending, dsDataErrorConcealed, dsRefLost);
            self.failures = 0;
            return Ok(());
        }
        self.failures += 1;
        if state & dsNoParamSets != 0 {
            return Err(MediaError::Corrupt {
                format: "H.264",
                detail: "a frame came before its parameter sets (SPS/PPS)".to_owned(),
            });
        }
        Err(MediaError::Corrupt {
            format: "H.264",
            detail: format!("the decoder rejected a frame (state {state:#x})"),
        })
    }

    /// Passes the picture described by `dst`/`info` to `sink` when the decoder says one is ready.
    fn emit(dst: &[*mut u8; 3], info: &SBufferInfo, sink: &mut PictureSink<'_>) {
        if info.iBufferStatus != 1 || dst.iter().any(|plane| plane.is_null()) {
            return;
        }
        // SAFETY: with iBufferStatus == 1 OpenH264 fills the system-buffer variant of the union
        // (the only variant it has) with the picture's size and strides.
        let buffer = unsafe { info.UsrData.sSystemBuffer };
        let (Ok(width), Ok(height), Ok(y_stride), Ok(uv_stride)) = (
            usize::try_from(buffer.iWidth),
            usize::try_from(buffer.iHeight),
            usize::try_from(buffer.iStride[0]),
            usize::try_from(buffer.iStride[1]),
        ) else {
            return;
        };
        if width == 0 || height == 0 || y_stride < width || uv_stride < width.div_ceil(2) {
            return;
        }
        let chroma_rows = height.div_ceil(2);
        // SAFETY: OpenH264 owns these planes until the next call into the decoder; they hold
        // `height` rows of `y_stride` bytes (luma) and `height / 2` rows of `uv_stride` bytes
        // (each chroma plane), as its own console decoder writes them out. The slices do not
        // outlive this function's call to `sink`.
        let (y, u, v) = unsafe {
            (
                std::slice::from_raw_parts(dst[0], y_stride * height),
                std::slice::from_raw_parts(dst[1], uv_stride * chroma_rows),
                std::slice::from_raw_parts(dst[2], uv_stride * chroma_rows),
            )
        };
        let pts = i64::try_from(info.uiOutYuvTimeStamp).unwrap_or(i64::MAX);
        sink(
            Yuv420 {
                width,
                height,
                y,
                u,
                v,
                y_stride,
                uv_stride,
            },
            pts,
        );
    }

    fn remaining(&mut self) -> usize {
        let mut count: DECODER_OPTION = 0;
        // SAFETY: GetOption writes one int to the pointer it is given for this option.
        let status = unsafe {
            self.decoder.raw_api().get_option(
                DECODER_OPTION_NUM_OF_FRAMES_REMAINING_IN_BUFFER,
                addr_of_mut!(count).cast(),
            )
        };
        if status == 0 {
            usize::try_from(count).unwrap_or(0)
        } else {
            0
        }
    }
}

impl H264Decoder for OpenH264 {
    fn decode(
        &mut self,
        access_unit: &[u8],
        pts: i64,
        sink: &mut PictureSink<'_>,
    ) -> Result<(), MediaError> {
        let Ok(len) = i32::try_from(access_unit.len()) else {
            return Err(MediaError::LimitExceeded(
                "an H.264 frame over 2 GiB".to_owned(),
            ));
        };
        if len == 0 {
            return Ok(());
        }
        let mut dst = [null_mut::<u8>(); 3];
        let mut info = SBufferInfo {
            uiInBsTimeStamp: u64::try_from(pts).unwrap_or(0),
            ..SBufferInfo::default()
        };
        // SAFETY: the input pointer and length describe `access_unit`, which OpenH264 only
        // reads during the call; `dst` and `info` are valid for writes.
        let state = unsafe {
            self.decoder.raw_api().decode_frame2(
                access_unit.as_ptr(),
                len,
                dst.as_mut_ptr(),
                &raw mut info,
            )
        };
        let checked = self.check(state);
        Self::emit(&dst, &info, sink);
        checked
    }

    fn flush(&mut self, sink: &mut PictureSink<'_>) -> Result<(), MediaError> {
        let mut end: DECODER_OPTION = 1;
        // SAFETY: SetOption reads one int from the pointer for this option. A null, zero-length
        // DecodeFrame2 after it is OpenH264's documented way to finish the last picture, and
        // FlushFrame hands out the ones its reorder buffer still holds.
        unsafe {
            self.decoder
                .raw_api()
                .set_option(DECODER_OPTION_END_OF_STREAM, addr_of_mut!(end).cast());
            let mut dst = [null_mut::<u8>(); 3];
            let mut info = SBufferInfo::default();
            self.decoder
                .raw_api()
                .decode_frame2(null(), 0, dst.as_mut_ptr(), &raw mut info);
            Self::emit(&dst, &info, sink);
        }
        // Bounded: the reorder buffer holds at most 16 pictures.
        for _ in 0..self.remaining().min(32) {
            let mut dst = [null_mut::<u8>(); 3];
            let mut info = SBufferInfo::default();
            // SAFETY: as above; `dst` and `info` are valid for writes.
            unsafe {
                self.decoder
                    .raw_api()
                    .flush_frame(dst.as_mut_ptr(), &raw mut info);
            }
            Self::emit(&dst, &info, sink);
        }
        Ok(())
    }
}

/// Rewrites one MP4 sample (NAL units each prefixed by its length in `nal_length` bytes) as an
/// Annex B access unit, appended to `out`. Refuses lengths that run past the sample.
pub(crate) fn avcc_to_annex_b(
    sample: &[u8],
    nal_length: usize,
    out: &mut Vec<u8>,
) -> Result<(), MediaError> {
    let mut at = 0usize;
    while at < sample.len() {
        let Some(prefix) = sample.get(at..at + nal_length) else {
            return Err(MediaError::Corrupt {
                format: "H.264",
                detail: "a frame ends inside a NAL length".to_owned(),
            });
        };
        let len = prefix
            .iter()
            .fold(0usize, |acc, byte| (acc << 8) | usize::from(*byte));
        at += nal_length;
        let Some(nal) = at.checked_add(len).and_then(|end| sample.get(at..end)) else {
            return Err(MediaError::Truncated {
                format: "H.264",
                detail: "a NAL unit runs past the end of its frame".to_owned(),
            });
        };
        if !nal.is_empty() {
            out.extend_from_slice(&[0, 0, 0, 1]);
            out.extend_from_slice(nal);
        }
        at += len;
    }
    Ok(())
}

/// Parameter sets as an Annex B prefix for the first access unit after a (re)start.
pub(crate) fn parameter_sets(sps: &[Vec<u8>], pps: &[Vec<u8>], out: &mut Vec<u8>) {
    for nal in sps.iter().chain(pps) {
        if !nal.is_empty() {
            out.extend_from_slice(&[0, 0, 0, 1]);
            out.extend_from_slice(nal);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn avcc_samples_become_annex_b() {
        let sample = [0, 0, 0, 2, 0x65, 0xAA, 0, 0, 0, 1, 0x06];
        let mut out = Vec::new();
        avcc_to_annex_b(&sample, 4, &mut out).unwrap();
        assert_eq!(out, [0, 0, 0, 1, 0x65, 0xAA, 0, 0, 0, 1, 0x06]);
    }

    #[test]
    fn avcc_lengths_past_the_sample_are_refused() {
        let mut out = Vec::new();
        assert!(matches!(
            avcc_to_annex_b(&[0, 0, 0, 9, 0x65], 4, &mut out),
            Err(MediaError::Truncated { .. })
        ));
        assert!(matches!(
            avcc_to_annex_b(&[0, 0], 4, &mut out),
            Err(MediaError::Corrupt { .. })
        ));
        assert!(matches!(
            avcc_to_annex_b(&[0xFF, 0xFF, 0xFF, 0xFF], 4, &mut out),
            Err(MediaError::Truncated { .. })
        ));
    }

    #[test]
    fn garbage_is_an_error_not_a_crash() {
        let mut decoder = OpenH264::new().unwrap();
        let mut pictures = 0;
        let mut sink = |_: Yuv420<'_>, _: i64| pictures += 1;
        for seed in 0..50u8 {
            let junk: Vec<u8> = (0..4096u32)
                .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
                .collect();
            let mut au = vec![0, 0, 0, 1, 0x65];
            au.extend_from_slice(&junk);
            let _ = decoder.decode(&au, i64::from(seed), &mut sink);
        }
        let _ = decoder.flush(&mut sink);
        assert_eq!(pictures, 0);
    }
}
