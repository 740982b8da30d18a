//! Still images: decoding behind limits, thumbnails, PNG with text metadata.

use std::io::Cursor;

use fast_image_resize::{FilterType, ResizeAlg, ResizeOptions, Resizer};
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageError, ImageFormat, ImageReader, RgbaImage};

use crate::MediaError;
use crate::sniff::{MediaKind, sniff};

/// Limits applied before and while decoding untrusted images.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Largest `width × height` accepted.
    pub max_pixels: u64,
    /// Largest width or height accepted.
    pub max_dimension: u32,
    /// Largest encoded input accepted.
    pub max_bytes: u64,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        Self {
            max_pixels: 100_000_000,
            max_dimension: 20_000,
            max_bytes: 256 * 1024 * 1024,
        }
    }
}

impl DecodeLimits {
    /// The same limits in `image`'s terms, a second line of defence inside the decoders.
    fn to_image_limits(self) -> image::Limits {
        let mut limits = image::Limits::default();
        limits.max_image_width = Some(self.max_dimension);
        limits.max_image_height = Some(self.max_dimension);
        // 8 bytes a pixel covers 16-bit RGBA; the slack covers decoders' working buffers.
        limits.max_alloc = Some(
            self.max_pixels
                .saturating_mul(8)
                .saturating_add(64 * 1024 * 1024),
        );
        limits
    }

    fn check_dimensions(&self, width: u32, height: u32) -> Result<(), MediaError> {
        if width == 0 || height == 0 {
            return Err(MediaError::Corrupt {
                format: "image",
                detail: format!("the header declares a {width}×{height} image"),
            });
        }
        if width > self.max_dimension || height > self.max_dimension {
            return Err(MediaError::TooLarge {
                width,
                height,
                limit: format!("{} pixels a side", self.max_dimension),
            });
        }
        if u64::from(width) * u64::from(height) > self.max_pixels {
            return Err(MediaError::TooLarge {
                width,
                height,
                limit: format!("{} megapixels", self.max_pixels / 1_000_000),
            });
        }
        Ok(())
    }
}

fn format_name(format: ImageFormat) -> &'static str {
    match format {
        ImageFormat::Png => "PNG",
        ImageFormat::Jpeg => "JPEG",
        ImageFormat::Gif => "GIF",
        ImageFormat::WebP => "WebP",
        ImageFormat::Tiff => "TIFF",
        ImageFormat::Bmp => "BMP",
        ImageFormat::Avif => "AVIF",
        _ => "image",
    }
}

/// Checks shared by every entry point, ending with the sniffed format.
fn guess_format(bytes: &[u8], max_bytes: Option<u64>) -> Result<ImageFormat, MediaError> {
    if bytes.is_empty() {
        return Err(MediaError::Empty);
    }
    let len = bytes.len() as u64;
    if let Some(max) = max_bytes
        && len > max
    {
        return Err(MediaError::TooManyBytes { len, max });
    }
    // Our own sniffing first: `image` would call a WAV file "unsupported" without saying why.
    let (kind, mime) = sniff(bytes);
    if matches!(kind, MediaKind::Audio | MediaKind::Video) {
        return Err(MediaError::Unsupported(format!(
            "this is {mime}, not a still image"
        )));
    }
    match image::guess_format(bytes) {
        Ok(
            format @ (ImageFormat::Png | ImageFormat::Jpeg | ImageFormat::Gif | ImageFormat::WebP),
        ) => Ok(format),
        Ok(other) => Err(MediaError::Unsupported(format!(
            "{} images are not supported (use PNG, JPEG, GIF or WebP)",
            format_name(other)
        ))),
        Err(_) => Err(MediaError::Unsupported(
            "not a recognised image format (PNG, JPEG, GIF or WebP)".to_owned(),
        )),
    }
}

fn looks_truncated(message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    [
        "eof",
        "end of",
        "truncat",
        "no more data",
        "not enough",
        "unexpected end",
    ]
    .iter()
    .any(|needle| message.contains(needle))
}

fn map_image_error(format: &'static str, err: ImageError) -> MediaError {
    match err {
        ImageError::Limits(limit) => MediaError::LimitExceeded(limit.to_string()),
        ImageError::Unsupported(detail) => MediaError::Unsupported(format!("{format}: {detail}")),
        ImageError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            MediaError::Truncated {
                format,
                detail: io.to_string(),
            }
        }
        ImageError::Encoding(detail) => MediaError::Encode(detail.to_string()),
        other => {
            let detail = other.to_string();
            if looks_truncated(&detail) {
                MediaError::Truncated { format, detail }
            } else {
                MediaError::Corrupt { format, detail }
            }
        }
    }
}

/// The zune JPEG decoder pads a cut-off scan with grey instead of failing, so a half-downloaded
/// photo would import as a half-grey one. A complete JPEG has an EOI marker after its first scan
/// (inside entropy-coded data 0xFF is always stuffed, so 0xFF 0xD9 there can only be EOI).
fn check_jpeg_complete(bytes: &[u8]) -> Result<(), MediaError> {
    let Some(sos) = bytes.windows(2).position(|w| w == [0xFF, 0xDA]) else {
        return Err(MediaError::Truncated {
            format: "JPEG",
            detail: "the file ends before the image data starts".to_owned(),
        });
    };
    if bytes[sos..].windows(2).any(|w| w == [0xFF, 0xD9]) {
        Ok(())
    } else {
        Err(MediaError::Truncated {
            format: "JPEG",
            detail: "no end-of-image marker after the image data".to_owned(),
        })
    }
}

/// Reads only the header: width and height as stored (before any EXIF rotation).
pub fn image_dimensions(bytes: &[u8]) -> Result<(u32, u32), MediaError> {
    let format = guess_format(bytes, None)?;
    let name = format_name(format);
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    // Only dimension limits are lifted: the point is to *report* a huge size, while `max_alloc`
    // still stops a decoder that would allocate on header parse.
    let mut limits = image::Limits::default();
    limits.max_image_width = None;
    limits.max_image_height = None;
    reader.limits(limits);
    let decoder = reader
        .into_decoder()
        .map_err(|err| map_image_error(name, err))?;
    Ok(decoder.dimensions())
}

/// Decodes to whatever pixel type the file has, with its EXIF orientation not yet applied, so
/// the thumbnail path can rotate the small image instead of the big one.
fn decode_unrotated(
    bytes: &[u8],
    limits: &DecodeLimits,
) -> Result<(DynamicImage, Orientation), MediaError> {
    let format = guess_format(bytes, Some(limits.max_bytes))?;
    let name = format_name(format);
    // The header is checked with our limits first so that the error names the real size; the
    // decoder below carries the same limits in case a format lies about its size.
    let (width, height) = image_dimensions(bytes)?;
    limits.check_dimensions(width, height)?;
    if format == ImageFormat::Jpeg {
        check_jpeg_complete(bytes)?;
    }
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    reader.limits(limits.to_image_limits());
    let mut decoder = reader
        .into_decoder()
        .map_err(|err| map_image_error(name, err))?;
    // A damaged EXIF block should not make an otherwise good photo unusable.
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let image = DynamicImage::from_decoder(decoder).map_err(|err| map_image_error(name, err))?;
    Ok((image, orientation))
}

/// Decodes an untrusted image: format sniffed from content, header checked against `limits`
/// before any pixel buffer exists, EXIF orientation applied.
pub fn decode_image(bytes: &[u8], limits: &DecodeLimits) -> Result<RgbaImage, MediaError> {
    let (mut image, orientation) = decode_unrotated(bytes, limits)?;
    image.apply_orientation(orientation);
    Ok(image.into_rgba8())
}

/// The size that fits `width × height` inside `max_side` keeping the aspect ratio; never grows.
pub(crate) fn fit_size(width: u32, height: u32, max_side: u32) -> (u32, u32) {
    if width <= max_side && height <= max_side {
        return (width, height);
    }
    let scale = f64::from(max_side) / f64::from(width.max(height));
    let fit = |side: u32| ((f64::from(side) * scale).round() as u32).clamp(1, max_side);
    (fit(width), fit(height))
}

fn resize_dynamic(src: &DynamicImage, width: u32, height: u32) -> Result<DynamicImage, MediaError> {
    let mut dst = DynamicImage::new(width, height, src.color());
    Resizer::new()
        .resize(
            src,
            &mut dst,
            &ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Bilinear)),
        )
        .map_err(|err| MediaError::Encode(format!("resize failed: {err}")))?;
    Ok(dst)
}

/// Shrinks `img` so its longer side is at most `max_side`, keeping the aspect ratio. Images
/// already small enough are returned unchanged (thumbnails never upscale).
pub fn thumbnail(img: &RgbaImage, max_side: u32) -> Result<RgbaImage, MediaError> {
    if max_side == 0 {
        return Err(MediaError::InvalidArgument(
            "thumbnail size must be at least 1 pixel".to_owned(),
        ));
    }
    if img.width() == 0 || img.height() == 0 {
        return Err(MediaError::InvalidArgument("the image is empty".to_owned()));
    }
    let (width, height) = fit_size(img.width(), img.height(), max_side);
    if (width, height) == img.dimensions() {
        return Ok(img.clone());
    }
    let mut dst = RgbaImage::new(width, height);
    Resizer::new()
        .resize(
            img,
            &mut dst,
            &ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Bilinear)),
        )
        .map_err(|err| MediaError::Encode(format!("resize failed: {err}")))?;
    Ok(dst)
}

/// Decodes and shrinks in one go. Faster than `decode_image` + `thumbnail`: the full-size image
/// is never converted to RGBA, and EXIF rotation is applied to the small result.
pub fn thumbnail_from_bytes(
    bytes: &[u8],
    max_side: u32,
    limits: &DecodeLimits,
) -> Result<RgbaImage, MediaError> {
    if max_side == 0 {
        return Err(MediaError::InvalidArgument(
            "thumbnail size must be at least 1 pixel".to_owned(),
        ));
    }
    let (image, orientation) = decode_unrotated(bytes, limits)?;
    let (width, height) = fit_size(image.width(), image.height(), max_side);
    let mut small = if (width, height) == (image.width(), image.height()) {
        image
    } else {
        resize_dynamic(&image, width, height)?
    };
    small.apply_orientation(orientation);
    Ok(small.into_rgba8())
}

/// Encodes RGBA as PNG with `tEXt` chunks (keyword, text), e.g. `("aktion:draft", "true")`.
/// Keywords must be 1–79 Latin-1 characters and text Latin-1, as the PNG spec requires.
pub fn encode_png(img: &RgbaImage, text: &[(&str, &str)]) -> Result<Vec<u8>, MediaError> {
    if img.width() == 0 || img.height() == 0 {
        return Err(MediaError::InvalidArgument(
            "cannot encode an empty image".to_owned(),
        ));
    }
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, img.width(), img.height());
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Eight);
    // Results are cached and re-encoded often; fdeflate's fast mode is ~10× quicker than the
    // default for a few percent in size.
    encoder.set_compression(png::Compression::Fast);
    for (keyword, value) in text {
        let latin1 = |s: &str| s.chars().all(|c| u32::from(c) <= 0xFF);
        if keyword.is_empty() || keyword.chars().count() > 79 || !latin1(keyword) || !latin1(value)
        {
            return Err(MediaError::InvalidArgument(format!(
                "PNG text keyword {keyword:?} or its value is not 1–79 Latin-1 characters"
            )));
        }
        encoder
            .add_text_chunk((*keyword).to_owned(), (*value).to_owned())
            .map_err(|err| MediaError::Encode(err.to_string()))?;
    }
    let mut writer = encoder
        .write_header()
        .map_err(|err| MediaError::Encode(err.to_string()))?;
    writer
        .write_image_data(img.as_raw())
        .map_err(|err| MediaError::Encode(err.to_string()))?;
    writer
        .finish()
        .map_err(|err| MediaError::Encode(err.to_string()))?;
    Ok(out)
}

/// Reads the `tEXt` (and uncompressed `iTXt`) chunks of a PNG without decoding pixels, in file
/// order. Walks the chunk list directly so text after the image data is found too.
pub fn png_text(bytes: &[u8]) -> Result<Vec<(String, String)>, MediaError> {
    const SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
    if bytes.is_empty() {
        return Err(MediaError::Empty);
    }
    let Some(mut rest) = bytes.strip_prefix(SIGNATURE) else {
        return Err(MediaError::Unsupported("not a PNG file".to_owned()));
    };
    let truncated = |detail: &str| MediaError::Truncated {
        format: "PNG",
        detail: detail.to_owned(),
    };
    let mut found = Vec::new();
    loop {
        let Some((header, after)) = rest.split_first_chunk::<8>() else {
            return Err(truncated("the file ends before the IEND chunk"));
        };
        let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let kind = &header[4..8];
        let Some(data) = after.get(..len) else {
            return Err(truncated("a chunk runs past the end of the file"));
        };
        let Some(next) = after.get(len.saturating_add(4)..) else {
            return Err(truncated("a chunk's checksum is missing"));
        };
        match kind {
            b"tEXt" => {
                if let Some(pair) = parse_text(data) {
                    found.push(pair);
                }
            }
            b"iTXt" => {
                if let Some(pair) = parse_itxt(data) {
                    found.push(pair);
                }
            }
            b"IEND" => return Ok(found),
            _ => {}
        }
        rest = next;
    }
}

fn latin1_to_string(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

fn parse_text(data: &[u8]) -> Option<(String, String)> {
    let nul = data.iter().position(|&b| b == 0)?;
    Some((
        latin1_to_string(&data[..nul]),
        latin1_to_string(&data[nul + 1..]),
    ))
}

/// `iTXt`: keyword NUL flag method language NUL translated-keyword NUL text (UTF-8). Compressed
/// ones are skipped: nothing we write uses them.
fn parse_itxt(data: &[u8]) -> Option<(String, String)> {
    let nul = data.iter().position(|&b| b == 0)?;
    let keyword = latin1_to_string(&data[..nul]);
    let rest = data.get(nul + 1..)?;
    let (&compressed, rest) = rest.split_first()?;
    if compressed != 0 {
        return None;
    }
    let rest = rest.get(1..)?;
    let lang_end = rest.iter().position(|&b| b == 0)?;
    let rest = rest.get(lang_end + 1..)?;
    let tk_end = rest.iter().position(|&b| b == 0)?;
    let text = std::str::from_utf8(rest.get(tk_end + 1..)?).ok()?;
    Some((keyword, text.to_owned()))
}
