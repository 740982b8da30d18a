use std::hash::{DefaultHasher, Hash, Hasher};

use image::{Rgba, RgbaImage};

/// A stable digest of an image's bytes and size (`DefaultHasher::new` uses fixed keys).
pub fn digest(img: &RgbaImage) -> u64 {
    let mut hasher = DefaultHasher::new();
    img.dimensions().hash(&mut hasher);
    img.as_raw().hash(&mut hasher);
    hasher.finish()
}

/// A colourful test picture: gradients plus a few blocks, so resizes and effects show.
pub fn test_picture(width: u32, height: u32) -> RgbaImage {
    RgbaImage::from_fn(width, height, |x, y| {
        let r = (x * 255 / width.max(1)) as u8;
        let g = (y * 255 / height.max(1)) as u8;
        let b = if (x / 16 + y / 16) % 2 == 0 { 40 } else { 220 };
        Rgba([r, g, b, 255])
    })
}

pub fn solid(width: u32, height: u32, color: [u8; 4]) -> RgbaImage {
    RgbaImage::from_pixel(width, height, Rgba(color))
}

pub fn distinct_colours(img: &RgbaImage) -> usize {
    let mut colours: Vec<[u8; 4]> = img.pixels().map(|p| p.0).collect();
    colours.sort_unstable();
    colours.dedup();
    colours.len()
}

pub fn close(a: [u8; 4], b: [u8; 4], tolerance: u8) -> bool {
    a.iter().zip(&b).all(|(x, y)| x.abs_diff(*y) <= tolerance)
}

/// The DRAFT badge is present: most of its rectangle is the badge amber, and some pixels inside
/// it are dark (the lettering).
pub fn assert_draft_badge(img: &RgbaImage) {
    let (left, top, width, height) =
        aktion_media::draft::draft_badge_rect(img.width(), img.height());
    let mut amber = 0;
    let mut dark = 0;
    for py in top..top + height {
        for px in left..left + width {
            let pixel = img.get_pixel(px, py).0;
            if close(pixel, aktion_media::draft::DRAFT_BADGE_COLOR, 6) {
                amber += 1;
            }
            if pixel[0] < 120 && pixel[1] < 120 {
                dark += 1;
            }
        }
    }
    let area = (width * height) as usize;
    assert!(amber * 2 > area, "badge not amber: {amber} of {area}");
    assert!(
        dark > area / 50,
        "badge has no lettering: {dark} dark of {area}"
    );
}

/// CRC-32 (PNG/zlib polynomial), for building PNG chunks by hand.
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

pub fn png_chunk(out: &mut Vec<u8>, kind: [u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let mut body = kind.to_vec();
    body.extend_from_slice(data);
    out.extend_from_slice(&body);
    out.extend_from_slice(&crc32(&body).to_be_bytes());
}

pub fn encode_jpeg(img: &RgbaImage, quality: u8) -> Vec<u8> {
    let rgb = image::DynamicImage::ImageRgba8(img.clone()).into_rgb8();
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality)
        .encode_image(&rgb)
        .expect("in-memory JPEG encoding");
    out
}

/// A seeded xorshift byte stream, for "random garbage" inputs that are the same every run.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}
