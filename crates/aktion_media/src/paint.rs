//! Small deterministic raster helpers shared by the draft renderers: seeded randomness, colour,
//! blending, resizing, blur, and the DRAFT badge every draft output carries.

use fast_image_resize::{FilterType, ResizeAlg, ResizeOptions, Resizer};
use image::{Rgba, RgbaImage};

use crate::MediaError;
use crate::text;

/// `SplitMix64`: tiny, fast and the same on every platform (unlike `rand`'s defaults, which may
/// change between versions and would change a pinned seed's look).
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0.0..1.0`.
    pub(crate) fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }
}

/// FNV-1a: a stable hash of prompt text (std's hashers are not promised stable across releases).
pub(crate) fn hash_str(text: &str) -> u64 {
    text.bytes().fold(0xCBF2_9CE4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01B3)
    })
}

/// HSV (all in `0..1`) to RGB bytes.
pub(crate) fn hsv(hue: f32, saturation: f32, value: f32) -> [u8; 3] {
    let sector = hue.rem_euclid(1.0) * 6.0;
    let chroma = value * saturation;
    let second = chroma * (1.0 - ((sector % 2.0) - 1.0).abs());
    let (red, green, blue) = match sector as u32 {
        0 => (chroma, second, 0.0),
        1 => (second, chroma, 0.0),
        2 => (0.0, chroma, second),
        3 => (0.0, second, chroma),
        4 => (second, 0.0, chroma),
        _ => (chroma, 0.0, second),
    };
    let base = value - chroma;
    let byte = |channel: f32| ((channel + base) * 255.0).round().clamp(0.0, 255.0) as u8;
    [byte(red), byte(green), byte(blue)]
}

pub(crate) fn lerp_u8(a: u8, b: u8, t: f32) -> u8 {
    (f32::from(a) + (f32::from(b) - f32::from(a)) * t)
        .round()
        .clamp(0.0, 255.0) as u8
}

pub(crate) fn luma(p: [u8; 4]) -> f32 {
    (0.2126 * f32::from(p[0]) + 0.7152 * f32::from(p[1]) + 0.0722 * f32::from(p[2])) / 255.0
}

/// Source-over blend of `color` with extra `coverage` onto one pixel; out of bounds is ignored.
pub(crate) fn blend_pixel(img: &mut RgbaImage, x: u32, y: u32, color: [u8; 4], coverage: f32) {
    let Some(dst) = img.get_pixel_mut_checked(x, y) else {
        return;
    };
    let alpha = (f32::from(color[3]) / 255.0) * coverage.clamp(0.0, 1.0);
    if alpha <= 0.0 {
        return;
    }
    let dst_alpha = f32::from(dst.0[3]) / 255.0;
    let out_alpha = alpha + dst_alpha * (1.0 - alpha);
    if out_alpha <= 0.0 {
        return;
    }
    for (channel, &value) in color.iter().take(3).enumerate() {
        let src = f32::from(value) * alpha;
        let under = f32::from(dst.0[channel]) * dst_alpha * (1.0 - alpha);
        dst.0[channel] = ((src + under) / out_alpha).round().clamp(0.0, 255.0) as u8;
    }
    dst.0[3] = (out_alpha * 255.0).round().clamp(0.0, 255.0) as u8;
}

/// Fills `[x0, x1) × [y0, y1)` (clipped) blending `color` over what is there.
pub(crate) fn fill_rect(img: &mut RgbaImage, x0: u32, y0: u32, x1: u32, y1: u32, color: [u8; 4]) {
    for y in y0..y1.min(img.height()) {
        for x in x0..x1.min(img.width()) {
            blend_pixel(img, x, y, color, 1.0);
        }
    }
}

/// Draws `top` over `base` at `(x, y)`, clipped, using `top`'s alpha.
pub(crate) fn composite(base: &mut RgbaImage, top: &RgbaImage, x: i64, y: i64) {
    for (tx, ty, pixel) in top.enumerate_pixels() {
        if pixel.0[3] == 0 {
            continue;
        }
        let (bx, by) = (x + i64::from(tx), y + i64::from(ty));
        if let (Ok(bx), Ok(by)) = (u32::try_from(bx), u32::try_from(by)) {
            blend_pixel(base, bx, by, pixel.0, 1.0);
        }
    }
}

fn check_source(src: &RgbaImage) -> Result<(), MediaError> {
    if src.width() == 0 || src.height() == 0 {
        return Err(MediaError::InvalidArgument(
            "an input image is empty".to_owned(),
        ));
    }
    Ok(())
}

/// Resizes to exactly `width × height`, cropping the source to that aspect (CSS `cover`).
pub(crate) fn cover(src: &RgbaImage, width: u32, height: u32) -> Result<RgbaImage, MediaError> {
    check_source(src)?;
    let mut dst = RgbaImage::new(width, height);
    Resizer::new()
        .resize(
            src,
            &mut dst,
            &ResizeOptions::new()
                .resize_alg(ResizeAlg::Convolution(FilterType::Bilinear))
                .fit_into_destination(None),
        )
        .map_err(|err| MediaError::Encode(format!("resize failed: {err}")))?;
    Ok(dst)
}

/// Resizes the crop `(left, top, w, h)` of `src` to `width × height`.
pub(crate) fn crop_resize(
    src: &RgbaImage,
    crop: (f64, f64, f64, f64),
    width: u32,
    height: u32,
) -> Result<RgbaImage, MediaError> {
    check_source(src)?;
    let mut dst = RgbaImage::new(width, height);
    Resizer::new()
        .resize(
            src,
            &mut dst,
            &ResizeOptions::new()
                .resize_alg(ResizeAlg::Convolution(FilterType::Bilinear))
                .crop(crop.0, crop.1, crop.2, crop.3),
        )
        .map_err(|err| MediaError::Encode(format!("resize failed: {err}")))?;
    Ok(dst)
}

/// Resizes `src` to fit inside `width × height` (CSS `contain`), centred on `fill`.
pub(crate) fn contain(
    src: &RgbaImage,
    width: u32,
    height: u32,
    fill: [u8; 4],
) -> Result<RgbaImage, MediaError> {
    check_source(src)?;
    let scale = (f64::from(width) / f64::from(src.width()))
        .min(f64::from(height) / f64::from(src.height()));
    let fit_w = ((f64::from(src.width()) * scale).round() as u32).clamp(1, width);
    let fit_h = ((f64::from(src.height()) * scale).round() as u32).clamp(1, height);
    let mut fitted = RgbaImage::new(fit_w, fit_h);
    Resizer::new()
        .resize(
            src,
            &mut fitted,
            &ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Bilinear)),
        )
        .map_err(|err| MediaError::Encode(format!("resize failed: {err}")))?;
    let mut out = RgbaImage::from_pixel(width, height, Rgba(fill));
    composite(
        &mut out,
        &fitted,
        i64::from((width - fit_w) / 2),
        i64::from((height - fit_h) / 2),
    );
    Ok(out)
}

/// Separable box blur of a `width × height` scalar field, run twice (close to a Gaussian).
pub(crate) fn blur(field: &[f32], width: usize, height: usize, radius: usize) -> Vec<f32> {
    if radius == 0 || width == 0 || height == 0 {
        return field.to_vec();
    }
    let mut current = field.to_vec();
    let mut scratch = vec![0.0f32; current.len()];
    for _ in 0..2 {
        blur_pass(&current, &mut scratch, width, height, radius, true);
        blur_pass(&scratch, &mut current, width, height, radius, false);
    }
    current
}

fn blur_pass(
    src: &[f32],
    dst: &mut [f32],
    width: usize,
    height: usize,
    radius: usize,
    horizontal: bool,
) {
    let (lines, len) = if horizontal {
        (height, width)
    } else {
        (width, height)
    };
    let index = |line: usize, i: usize| {
        if horizontal {
            line * width + i
        } else {
            i * width + line
        }
    };
    let norm = 1.0 / (2 * radius + 1) as f32;
    for line in 0..lines {
        // Positions are offset by `radius` so they stay unsigned; edges are clamped so borders
        // do not darken.
        let at = |shifted: usize| src[index(line, shifted.saturating_sub(radius).min(len - 1))];
        let mut sum: f32 = (0..=2 * radius).map(at).sum();
        for i in 0..len {
            dst[index(line, i)] = sum * norm;
            sum += at(i + 2 * radius + 1) - at(i);
        }
    }
}

/// Amber of the DRAFT badge; tests look for it inside [`draft_badge_rect`].
pub const DRAFT_BADGE_COLOR: [u8; 4] = [255, 190, 30, 255];

/// Where the DRAFT badge is drawn on a `width × height` output: `(x, y, w, h)`, top-left corner.
/// Depends only on the size, so the UI and tests can find it.
pub fn draft_badge_rect(width: u32, height: u32) -> (u32, u32, u32, u32) {
    let badge_h = (height.min(width) / 10).clamp(12, 48);
    let badge_w = badge_h * 3;
    let margin = (badge_h / 3).max(2);
    (
        margin.min(width.saturating_sub(1)),
        margin.min(height.saturating_sub(1)),
        badge_w.min(width.saturating_sub(margin)),
        badge_h.min(height.saturating_sub(margin)),
    )
}

/// Stamps the amber DRAFT badge, so a draft can never pass for a generated result.
pub(crate) fn draw_badge(img: &mut RgbaImage) -> Result<(), MediaError> {
    let (x, y, w, h) = draft_badge_rect(img.width(), img.height());
    fill_rect(img, x, y, x + w, y + h, DRAFT_BADGE_COLOR);
    let px = h as f32 * 0.62;
    let label_w = text::text_width("DRAFT", px)?;
    let tx = x as f32 + ((w as f32 - label_w) / 2.0).max(1.0);
    let baseline = y as f32 + f32::midpoint(h as f32, px * 0.7);
    // Drawn twice, a pixel apart: Ubuntu Light is thin for a warning label.
    for dx in [0.0, 0.8] {
        text::draw_text(img, "DRAFT", tx + dx, baseline, px, [20, 16, 8, 255])?;
    }
    Ok(())
}

/// A translucent strip along the bottom with the (wrapped) caption: what the draft stands for.
pub(crate) fn draw_caption(img: &mut RgbaImage, caption: &str) -> Result<(), MediaError> {
    let caption = caption.trim();
    if caption.is_empty() {
        return Ok(());
    }
    let (width, height) = img.dimensions();
    let px = (height.min(width) as f32 / 22.0).clamp(9.0, 28.0);
    let pad = px * 0.5;
    let lines = text::wrap(caption, px, width as f32 - 2.0 * pad, 2)?;
    let line_h = px * 1.25;
    let strip_h = (lines.len() as f32 * line_h + pad * 1.5).ceil() as u32;
    let top = height.saturating_sub(strip_h);
    fill_rect(img, 0, top, width, height, [0, 0, 0, 150]);
    let ascent = text::ascent(px)?;
    for (i, line) in lines.iter().enumerate() {
        let baseline = top as f32 + pad * 0.75 + ascent + i as f32 * line_h;
        text::draw_text(img, line, pad, baseline, px, [245, 245, 245, 255])?;
    }
    Ok(())
}
