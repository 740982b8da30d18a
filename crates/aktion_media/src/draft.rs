//! The offline **draft route** (PRODUCT.md §4.3): instant, free previews computed here, honest
//! about being previews. Every output carries an amber DRAFT badge at [`draft_badge_rect`], and
//! callers should also tag saved files with [`DRAFT_PNG_KEY`] via [`crate::encode_png`].
//!
//! All renderers are deterministic: the same inputs and seed give the same pixels, so drafts can
//! be cached like any other result.

use image::{Rgba, RgbaImage};

use crate::MediaError;
use crate::audio::Audio;
use crate::image_io::fit_size;
pub use crate::paint::{DRAFT_BADGE_COLOR, draft_badge_rect};
use crate::paint::{
    Rng, blur, composite, contain, cover, crop_resize, draw_badge, draw_caption, fill_rect,
    hash_str, hsv, lerp_u8, luma,
};
use crate::text;
use crate::video::Clip;

/// PNG `tEXt` keyword that marks a saved draft; its value is `"true"`.
pub const DRAFT_PNG_KEY: &str = "aktion:draft";
/// Smallest and largest side of a draft still.
pub const MIN_DRAFT_SIDE: u32 = 16;
pub const MAX_DRAFT_SIDE: u32 = 4096;
/// Draft clips are scaled so their longer side is at most this: a draft run must stay quick.
pub const MAX_CLIP_SIDE: u32 = 640;
/// Draft clips play at most this many frames a second.
pub const MAX_CLIP_FPS: u32 = 12;
/// Draft clips have at most this many frames (10 s at 12 fps, ~110 MB of RGBA at 640×360).
pub const MAX_CLIP_FRAMES: u32 = 120;
/// Inputs larger than this are shrunk first; drafts do not need more detail.
const WORKING_SIDE: u32 = 2048;

fn check_size(width: u32, height: u32) -> Result<(), MediaError> {
    let range = MIN_DRAFT_SIDE..=MAX_DRAFT_SIDE;
    if range.contains(&width) && range.contains(&height) {
        Ok(())
    } else {
        Err(MediaError::InvalidArgument(format!(
            "a draft of {width}×{height} is outside {MIN_DRAFT_SIDE}–{MAX_DRAFT_SIDE} pixels a side"
        )))
    }
}

/// The size a draft clip is actually rendered at: longer side capped at [`MAX_CLIP_SIDE`],
/// aspect kept, both sides even (H.264 in yuv420p needs that).
pub fn clip_size(width: u32, height: u32) -> Result<(u32, u32), MediaError> {
    check_size(width, height)?;
    let (w, h) = fit_size(width, height, MAX_CLIP_SIDE);
    Ok(((w & !1).max(MIN_DRAFT_SIDE), (h & !1).max(MIN_DRAFT_SIDE)))
}

fn clip_fps(fps: u32) -> Result<u32, MediaError> {
    if fps == 0 {
        return Err(MediaError::InvalidArgument("0 fps".to_owned()));
    }
    Ok(fps.min(MAX_CLIP_FPS))
}

fn check_unit(value: f32, what: &str) -> Result<f32, MediaError> {
    if value.is_finite() {
        Ok(value.clamp(0.0, 1.0))
    } else {
        Err(MediaError::InvalidArgument(format!("{what} is {value}")))
    }
}

/// A copy of an input image sized for drafting: at most [`WORKING_SIDE`], at least 64 pixels on
/// the shorter side (tiny inputs are scaled up so labels fit).
fn working_copy(image: &RgbaImage) -> Result<RgbaImage, MediaError> {
    let (w, h) = image.dimensions();
    if w == 0 || h == 0 {
        return Err(MediaError::InvalidArgument(
            "an input image is empty".to_owned(),
        ));
    }
    let (mut tw, mut th) = fit_size(w, h, WORKING_SIDE);
    if tw.min(th) < 64 {
        let scale = 64.0 / f64::from(tw.min(th));
        tw = ((f64::from(tw) * scale).round() as u32).clamp(64, WORKING_SIDE);
        th = ((f64::from(th) * scale).round() as u32).clamp(64, WORKING_SIDE);
    }
    if (tw, th) == (w, h) {
        Ok(image.clone())
    } else {
        cover(image, tw, th)
    }
}

fn smoothstep(edge0: f32, edge1: f32, x: f32) -> f32 {
    let t = ((x - edge0) / (edge1 - edge0)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

fn mix(a: [u8; 3], b: [u8; 3], t: f32) -> [u8; 3] {
    [
        lerp_u8(a[0], b[0], t),
        lerp_u8(a[1], b[1], t),
        lerp_u8(a[2], b[2], t),
    ]
}

fn scale_rgb(c: [u8; 3], k: f32) -> [u8; 3] {
    c.map(|v| (f32::from(v) * k).round().clamp(0.0, 255.0) as u8)
}

/// Caption and badge on a transparent layer, drawn once and laid over every frame of a clip.
fn overlay(width: u32, height: u32, caption: &str) -> Result<RgbaImage, MediaError> {
    let mut layer = RgbaImage::new(width, height);
    draw_caption(&mut layer, caption)?;
    draw_badge(&mut layer)?;
    Ok(layer)
}

/// Character / text-to-image draft: a seeded gradient card with the node kind as a title, the
/// prompt wrapped beneath it, and the DRAFT badge. The seed picks the colours; the prompt is text.
pub fn placeholder_card(
    kind_title: &str,
    prompt: &str,
    width: u32,
    height: u32,
    seed: u64,
) -> Result<RgbaImage, MediaError> {
    check_size(width, height)?;
    let mut rng = Rng::new(seed);
    let hue = rng.unit();
    let top = hsv(hue, 0.55, 0.62);
    let bottom = hsv(hue + 0.12 + rng.unit() * 0.25, 0.7, 0.22);
    let angle = rng.unit() * std::f32::consts::TAU;
    let (dx, dy) = (angle.cos(), angle.sin());
    let spots: Vec<(f32, f32, f32)> = (0..3)
        .map(|_| (rng.unit(), rng.unit(), 0.15 + rng.unit() * 0.3))
        .collect();
    let (wf, hf) = (width as f32, height as f32);
    let mut img = RgbaImage::from_fn(width, height, |x, y| {
        let (u, v) = (x as f32 / wf, y as f32 / hf);
        let along = ((u - 0.5) * dx + (v - 0.5) * dy) / std::f32::consts::SQRT_2 + 0.5;
        let glow: f32 = spots
            .iter()
            .map(|&(sx, sy, r)| {
                let d = ((u - sx).powi(2) + (v - sy).powi(2)).sqrt();
                (1.0 - d / r).max(0.0).powi(2) * 0.35
            })
            .sum();
        let [red, green, blue] = scale_rgb(mix(top, bottom, along), 1.0 + glow);
        Rgba([red, green, blue, 255])
    });

    let short = width.min(height) as f32;
    let margin = (short * 0.08).round() as u32;
    let (px0, py0, px1, py1) = (margin, margin * 2, width - margin, height - margin);
    fill_rect(&mut img, px0, py0, px1, py1, [0, 0, 0, 110]);
    let pad = short * 0.04;
    let title_px = (short / 11.0).clamp(9.0, 72.0);
    let title = if kind_title.trim().is_empty() {
        "Draft"
    } else {
        kind_title.trim()
    };
    let inner_w = (px1 - px0) as f32 - 2.0 * pad;
    let title_line = text::wrap(title, title_px, inner_w, 1)?;
    let mut cursor = py0 as f32 + pad + text::ascent(title_px)?;
    for line in &title_line {
        text::draw_text(
            &mut img,
            line,
            px0 as f32 + pad,
            cursor,
            title_px,
            [255, 255, 255, 255],
        )?;
    }
    cursor += title_px * 0.45;
    fill_rect(
        &mut img,
        px0 + pad as u32,
        cursor as u32,
        px1 - pad as u32,
        cursor as u32 + (short / 200.0).max(1.0) as u32,
        [255, 255, 255, 160],
    );
    let body_px = (short / 20.0).clamp(8.0, 36.0);
    let line_h = body_px * 1.3;
    let footer_h = body_px * 1.6;
    let room = (py1 as f32 - pad - footer_h - cursor - body_px * 0.5).max(0.0);
    let max_lines = ((room / line_h) as usize).max(1);
    let prompt = if prompt.trim().is_empty() {
        "(no prompt)"
    } else {
        prompt.trim()
    };
    cursor += body_px * 0.5 + text::ascent(body_px)?;
    for line in text::wrap(prompt, body_px, inner_w, max_lines)? {
        text::draw_text(
            &mut img,
            &line,
            px0 as f32 + pad,
            cursor,
            body_px,
            [235, 235, 235, 255],
        )?;
        cursor += line_h;
    }
    let footer_px = body_px * 0.75;
    text::draw_text(
        &mut img,
        &format!("offline draft · seed {seed}"),
        px0 as f32 + pad,
        py1 as f32 - pad,
        footer_px,
        [255, 255, 255, 170],
    )?;
    draw_badge(&mut img)?;
    Ok(img)
}

/// Estimates a sketch's paper colour: the per-channel median of its border pixels.
fn background_of(img: &RgbaImage) -> [u8; 4] {
    let (w, h) = img.dimensions();
    let mut border: Vec<[u8; 4]> = Vec::new();
    for x in 0..w {
        border.push(img.get_pixel(x, 0).0);
        border.push(img.get_pixel(x, h - 1).0);
    }
    for y in 0..h {
        border.push(img.get_pixel(0, y).0);
        border.push(img.get_pixel(w - 1, y).0);
    }
    let mut out = [0u8; 4];
    for (channel, slot) in out.iter_mut().enumerate() {
        let mut values: Vec<u8> = border.iter().map(|p| p[channel]).collect();
        values.sort_unstable();
        *slot = values.get(values.len() / 2).copied().unwrap_or(0);
    }
    out
}

/// How much each pixel is "ink" rather than paper, in `0..=1`. On transparent paper ink is
/// opacity; on opaque paper it is colour distance from the paper.
fn ink_mask(img: &RgbaImage, paper: [u8; 4]) -> Vec<f32> {
    img.pixels()
        .map(|p| {
            let alpha = f32::from(p.0[3]) / 255.0;
            if paper[3] < 128 {
                return alpha;
            }
            let distance = (0..3)
                .map(|c| (i16::from(p.0[c]) - i16::from(paper[c])).unsigned_abs())
                .max()
                .unwrap_or(0);
            (f32::from(distance) / 96.0).min(1.0) * alpha
        })
        .collect()
}

/// Labels 4-connected regions of paper not reachable from the border (the insides of closed
/// shapes). 0 = ink or outside; 1.. = region number.
fn enclosed_regions(ink: &[bool], width: usize, height: usize) -> Vec<u32> {
    const OUTSIDE: u32 = u32::MAX;
    let mut label = vec![0u32; ink.len()];
    let mut stack = Vec::new();
    let flood = |label: &mut Vec<u32>, start: usize, value: u32, stack: &mut Vec<usize>| {
        if ink[start] || label[start] != 0 {
            return;
        }
        label[start] = value;
        stack.push(start);
        while let Some(i) = stack.pop() {
            let (x, y) = (i % width, i / width);
            let mut visit = |j: usize| {
                if !ink[j] && label[j] == 0 {
                    label[j] = value;
                    stack.push(j);
                }
            };
            if x > 0 {
                visit(i - 1);
            }
            if x + 1 < width {
                visit(i + 1);
            }
            if y > 0 {
                visit(i - width);
            }
            if y + 1 < height {
                visit(i + width);
            }
        }
    };
    for x in 0..width {
        flood(&mut label, x, OUTSIDE, &mut stack);
        flood(&mut label, (height - 1) * width + x, OUTSIDE, &mut stack);
    }
    for y in 0..height {
        flood(&mut label, y * width, OUTSIDE, &mut stack);
        flood(&mut label, y * width + width - 1, OUTSIDE, &mut stack);
    }
    let mut next = 1u32;
    for i in 0..ink.len() {
        if !ink[i] && label[i] == 0 {
            flood(&mut label, i, next, &mut stack);
            next = next.saturating_add(1).min(OUTSIDE - 1);
        }
    }
    for value in &mut label {
        if *value == OUTSIDE {
            *value = 0;
        }
    }
    label
}

/// Sketch-to-image draft: the strokes cleaned up (crisp, dark ink), closed shapes filled with
/// seeded colours shaded top-to-bottom, a soft drop shadow and ambient darkening near lines.
pub fn shaded_sketch(
    sketch: &RgbaImage,
    prompt: &str,
    width: u32,
    height: u32,
    seed: u64,
) -> Result<RgbaImage, MediaError> {
    check_size(width, height)?;
    if sketch.width() == 0 || sketch.height() == 0 {
        return Err(MediaError::InvalidArgument(
            "the sketch is empty".to_owned(),
        ));
    }
    let small = crate::image_io::thumbnail(sketch, WORKING_SIDE)?;
    let paper_in = background_of(&small);
    let fitted = contain(&small, width, height, paper_in)?;
    let raw = ink_mask(&fitted, paper_in);
    let (w, h) = (width as usize, height as usize);
    let clean: Vec<f32> = raw.iter().map(|&m| smoothstep(0.12, 0.5, m)).collect();
    // Closing small gaps: a shape drawn quickly rarely meets itself exactly.
    let gap = (width.max(height) / 300).max(1) as usize;
    let thick = blur(&clean, w, h, gap);
    let ink: Vec<bool> = thick.iter().map(|&m| m > 0.08).collect();
    let regions = enclosed_regions(&ink, w, h);

    let mut rng = Rng::new(seed);
    let paper_hue = rng.unit();
    let fill_hue = rng.unit();
    let ink_rgb = hsv(rng.unit(), 0.5, 0.14);
    let paper_top = hsv(paper_hue, 0.06, 0.98);
    let paper_bottom = hsv(paper_hue, 0.12, 0.86);
    let radius = (width.min(height) / 90).max(2) as usize;
    let shadow = blur(&clean, w, h, radius);
    let ambient = blur(&clean, w, h, radius * 3);
    let offset = i64::from(width.min(height) / 90).max(2);

    let mut img = RgbaImage::new(width, height);
    for (x, y, pixel) in img.enumerate_pixels_mut() {
        let i = y as usize * w + x as usize;
        let v = y as f32 / height as f32;
        let mut rgb = mix(paper_top, paper_bottom, v);
        if let Some(&region) = regions.get(i)
            && region != 0
        {
            // Golden-ratio hue steps keep neighbouring regions distinguishable.
            let hue = fill_hue + region as f32 * 0.618_034;
            let light = 0.95 - 0.3 * v + 0.08 * (1.0 - x as f32 / width as f32);
            rgb = hsv(hue, 0.42, light.clamp(0.3, 1.0));
        }
        let sx = i64::from(x) - offset;
        let sy = i64::from(y) - offset;
        let cast = if sx >= 0 && sy >= 0 {
            shadow[sy as usize * w + sx as usize]
        } else {
            0.0
        };
        let shade = 1.0 - 0.35 * cast.min(1.0) - 0.25 * ambient[i].min(1.0);
        rgb = scale_rgb(rgb, shade);
        rgb = mix(rgb, ink_rgb, clean[i]);
        *pixel = Rgba([rgb[0], rgb[1], rgb[2], 255]);
    }
    draw_caption(&mut img, prompt)?;
    draw_badge(&mut img)?;
    Ok(img)
}

/// Luminance-gradient (Sobel) magnitude, roughly `0..=1`.
fn edges(img: &RgbaImage) -> Vec<f32> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let lum: Vec<f32> = img.pixels().map(|p| luma(p.0)).collect();
    let at = |x: usize, y: usize| lum[y.min(h - 1) * w + x.min(w - 1)];
    let mut out = Vec::with_capacity(w * h);
    for y in 0..h {
        let (up, down) = (y.saturating_sub(1), y + 1);
        for x in 0..w {
            let (left, right) = (x.saturating_sub(1), x + 1);
            let gx = at(right, up) + 2.0 * at(right, y) + at(right, down)
                - at(left, up)
                - 2.0 * at(left, y)
                - at(left, down);
            let gy = at(left, down) + 2.0 * at(x, down) + at(right, down)
                - at(left, up)
                - 2.0 * at(x, up)
                - at(right, up);
            out.push((gx * gx + gy * gy).sqrt() / 4.0);
        }
    }
    out
}

/// Image-to-image draft: a posterised, palette-mapped, ink-edged version of the image, mixed
/// with the original by `strength` (0 keeps it, 1 is fully restyled). Palette from seed + prompt.
pub fn restyle(
    image: &RgbaImage,
    prompt: &str,
    strength: f32,
    seed: u64,
) -> Result<RgbaImage, MediaError> {
    let strength = check_unit(strength, "strength")?;
    let mut img = working_copy(image)?;
    let mut rng = Rng::new(seed ^ hash_str(prompt));
    let hue = rng.unit();
    let palette = [
        hsv(hue, 0.65, 0.16),
        hsv(hue + 0.08 + rng.unit() * 0.1, 0.55, 0.52),
        hsv(hue + 0.2 + rng.unit() * 0.2, 0.25, 0.97),
    ];
    let levels = 4.0 + (rng.unit() * 3.0).floor();
    let edge = edges(&img);
    for (pixel, &g) in img.pixels_mut().zip(&edge) {
        let l = luma(pixel.0);
        let stepped = ((l * levels).floor().min(levels - 1.0)) / (levels - 1.0);
        let mapped = if stepped < 0.5 {
            mix(palette[0], palette[1], stepped * 2.0)
        } else {
            mix(palette[1], palette[2], stepped * 2.0 - 1.0)
        };
        let inked = scale_rgb(mapped, 1.0 - 0.85 * smoothstep(0.12, 0.45, g));
        for (channel, &target) in pixel.0.iter_mut().zip(&inked) {
            *channel = lerp_u8(*channel, target, strength);
        }
    }
    draw_caption(&mut img, prompt)?;
    draw_badge(&mut img)?;
    Ok(img)
}

/// Action-pose draft: the character image dimmed, the pose's strokes laid over it as a glowing
/// guide (opacity by `strength`), and the pose itself inset in a corner.
pub fn pose_composite(
    character: &RgbaImage,
    pose: &RgbaImage,
    strength: f32,
    prompt: &str,
) -> Result<RgbaImage, MediaError> {
    let strength = check_unit(strength, "pose strength")?;
    let mut img = working_copy(character)?;
    if pose.width() == 0 || pose.height() == 0 {
        return Err(MediaError::InvalidArgument(
            "the pose image is empty".to_owned(),
        ));
    }
    let (width, height) = img.dimensions();
    let pose_small = crate::image_io::thumbnail(pose, WORKING_SIDE)?;
    let paper = background_of(&pose_small);
    let fitted = contain(&pose_small, width, height, paper)?;
    let mask = ink_mask(&fitted, paper);
    let (w, h) = (width as usize, height as usize);
    let glow = blur(&mask, w, h, (width.min(height) / 60).max(2) as usize);
    let line_rgb = [255u8, 120, 40];
    let glow_rgb = [90u8, 220, 255];
    for (i, pixel) in img.pixels_mut().enumerate() {
        let dim = 1.0 - 0.35 * strength;
        let mut rgb = scale_rgb([pixel.0[0], pixel.0[1], pixel.0[2]], dim);
        rgb = mix(rgb, glow_rgb, (glow[i] * 1.5).min(1.0) * 0.6 * strength);
        rgb = mix(rgb, line_rgb, mask[i] * strength);
        *pixel = Rgba([rgb[0], rgb[1], rgb[2], 255]);
    }
    // The pose as given, inset top-right (the badge is top-left, the caption at the bottom),
    // so the user sees what drove the guide.
    let inset_side = (width.min(height) / 4).max(16);
    let inset = contain(&pose_small, inset_side, inset_side, [255, 255, 255, 255])?;
    let margin = (inset_side / 12).max(2);
    let ix = width.saturating_sub(inset_side + margin);
    let iy = margin + 2;
    fill_rect(
        &mut img,
        ix.saturating_sub(2),
        iy.saturating_sub(2),
        ix + inset_side + 2,
        iy + inset_side + 2,
        [255, 255, 255, 255],
    );
    composite(&mut img, &inset, i64::from(ix), i64::from(iy));
    draw_caption(&mut img, prompt)?;
    draw_badge(&mut img)?;
    Ok(img)
}

/// Width and height of a [`scene_layout`] board.
pub const SCENE_SIZE: (u32, u32) = (1280, 720);

/// The six cells of the scene board as `(x, y, w, h)`: a hero shot (image 1) top-left, two
/// stacked beside it, three along the bottom. Public so the UI can number drop slots to match.
pub fn scene_cells() -> [(u32, u32, u32, u32); 6] {
    let (width, height) = SCENE_SIZE;
    let gutter = 8;
    let top_h = (height - 3 * gutter) * 2 / 3;
    let bottom_h = height - 3 * gutter - top_h;
    let hero_w = (width - 3 * gutter) * 2 / 3;
    let side_w = width - 3 * gutter - hero_w;
    let side_h = (top_h - gutter) / 2;
    let third = (width - 4 * gutter) / 3;
    let bottom_y = 2 * gutter + top_h;
    [
        (gutter, gutter, hero_w, top_h),
        (2 * gutter + hero_w, gutter, side_w, side_h),
        (
            2 * gutter + hero_w,
            2 * gutter + side_h,
            side_w,
            top_h - side_h - gutter,
        ),
        (gutter, bottom_y, third, bottom_h),
        (2 * gutter + third, bottom_y, third, bottom_h),
        (
            3 * gutter + 2 * third,
            bottom_y,
            width - 4 * gutter - 2 * third,
            bottom_h,
        ),
    ]
}

/// Epic-scene draft: exactly six images composed into one board, graded towards their common
/// average colour so they read as one scene, with slot numbers, the prompt and the badge.
pub fn scene_layout(images: &[RgbaImage], prompt: &str) -> Result<RgbaImage, MediaError> {
    if images.len() != 6 {
        return Err(MediaError::InvalidArgument(format!(
            "an epic scene needs exactly 6 images, got {}",
            images.len()
        )));
    }
    let (width, height) = SCENE_SIZE;
    let mut board = RgbaImage::from_pixel(width, height, Rgba([18, 18, 22, 255]));
    let mut tiles = Vec::with_capacity(6);
    let mut sum = [0f64; 3];
    let mut count = 0f64;
    for (image, &(_, _, w, h)) in images.iter().zip(scene_cells().iter()) {
        let tile = cover(image, w, h)?;
        for p in tile.pixels() {
            for (total, &value) in sum.iter_mut().zip(&p.0) {
                *total += f64::from(value);
            }
        }
        count += f64::from(w) * f64::from(h);
        tiles.push(tile);
    }
    let mean = sum.map(|s| (s / count.max(1.0)).round().clamp(0.0, 255.0) as u8);
    let label_px = 18.0;
    for (index, (mut tile, &(x, y, _, _))) in
        tiles.into_iter().zip(scene_cells().iter()).enumerate()
    {
        for p in tile.pixels_mut() {
            let graded = mix([p.0[0], p.0[1], p.0[2]], mean, 0.18);
            *p = Rgba([graded[0], graded[1], graded[2], 255]);
        }
        let number = (index + 1).to_string();
        let tw = tile.width();
        fill_rect(
            &mut tile,
            tw.saturating_sub(30),
            4,
            tw.saturating_sub(6),
            28,
            [0, 0, 0, 150],
        );
        text::draw_text(
            &mut tile,
            &number,
            tw.saturating_sub(24) as f32,
            22.0,
            label_px,
            [255, 255, 255, 255],
        )?;
        composite(&mut board, &tile, i64::from(x), i64::from(y));
    }
    // A vignette ties the six frames into one picture.
    let (cx, cy) = (width as f32 / 2.0, height as f32 / 2.0);
    let max_d = (cx * cx + cy * cy).sqrt();
    for (x, y, p) in board.enumerate_pixels_mut() {
        let d = ((x as f32 - cx).powi(2) + (y as f32 - cy).powi(2)).sqrt() / max_d;
        let k = 1.0 - 0.35 * smoothstep(0.55, 1.0, d);
        let rgb = scale_rgb([p.0[0], p.0[1], p.0[2]], k);
        *p = Rgba([rgb[0], rgb[1], rgb[2], 255]);
    }
    draw_caption(
        &mut board,
        if prompt.trim().is_empty() {
            "epic scene (draft layout)"
        } else {
            prompt
        },
    )?;
    draw_badge(&mut board)?;
    Ok(board)
}

fn frame_count(seconds: f32, fps: u32) -> Result<u32, MediaError> {
    if !seconds.is_finite() || seconds <= 0.0 {
        return Err(MediaError::InvalidArgument(format!(
            "a clip of {seconds} seconds"
        )));
    }
    Ok(((seconds * fps as f32).ceil() as u32).clamp(1, MAX_CLIP_FRAMES))
}

/// Image-to-video draft: a Ken Burns move (seeded pan and zoom) over the still. The clip is
/// rendered at [`clip_size`], at most [`MAX_CLIP_FPS`] and [`MAX_CLIP_FRAMES`].
pub fn animatic_pan(
    still: &RgbaImage,
    prompt: &str,
    seconds: f32,
    fps: u32,
    width: u32,
    height: u32,
    seed: u64,
) -> Result<Clip, MediaError> {
    let (width, height) = clip_size(width, height)?;
    let fps = clip_fps(fps)?;
    let count = frame_count(seconds, fps)?;
    let src = working_copy(still)?;
    let (sw, sh) = (f64::from(src.width()), f64::from(src.height()));
    let aspect = f64::from(width) / f64::from(height);
    let (crop_w, crop_h) = if sw / sh > aspect {
        (sh * aspect, sh)
    } else {
        (sw, sw / aspect)
    };
    let mut rng = Rng::new(seed);
    let zoom = 1.15 + 0.15 * f64::from(rng.unit());
    let (z0, z1) = if rng.unit() < 0.5 {
        (1.0, zoom)
    } else {
        (zoom, 1.0)
    };
    let mut centre = || {
        (
            0.3 + 0.4 * f64::from(rng.unit()),
            0.3 + 0.4 * f64::from(rng.unit()),
        )
    };
    let (start, end) = (centre(), centre());
    let layer = overlay(width, height, prompt)?;
    let mut frames = Vec::with_capacity(count as usize);
    for i in 0..count {
        let t = if count > 1 {
            i as f32 / (count - 1) as f32
        } else {
            0.0
        };
        let e = f64::from(smoothstep(0.0, 1.0, t));
        let z = z0 + (z1 - z0) * e;
        let (cw, ch) = (crop_w / z, crop_h / z);
        let cx = (start.0 + (end.0 - start.0) * e) * sw;
        let cy = (start.1 + (end.1 - start.1) * e) * sh;
        let left = (cx - cw / 2.0).clamp(0.0, (sw - cw).max(0.0));
        let top = (cy - ch / 2.0).clamp(0.0, (sh - ch).max(0.0));
        let mut frame = crop_resize(&src, (left, top, cw, ch), width, height)?;
        composite(&mut frame, &layer, 0, 0);
        frames.push(frame);
    }
    Ok(Clip { frames, fps })
}

/// Sequence draft: a cross-fade from the first still to the last over `frames` frames (clamped
/// to 2..=[`MAX_CLIP_FRAMES`]).
pub fn animatic_crossfade(
    first: &RgbaImage,
    last: &RgbaImage,
    prompt: &str,
    frames: u32,
    fps: u32,
    width: u32,
    height: u32,
) -> Result<Clip, MediaError> {
    let (width, height) = clip_size(width, height)?;
    let fps = clip_fps(fps)?;
    if frames == 0 {
        return Err(MediaError::InvalidArgument(
            "a sequence of 0 frames".to_owned(),
        ));
    }
    let count = frames.clamp(2, MAX_CLIP_FRAMES);
    let a = cover(first, width, height)?;
    let b = cover(last, width, height)?;
    let layer = overlay(width, height, prompt)?;
    let mut out = Vec::with_capacity(count as usize);
    for i in 0..count {
        let t = smoothstep(0.0, 1.0, i as f32 / (count - 1) as f32);
        let mut frame = RgbaImage::new(width, height);
        for ((dst, pa), pb) in frame.pixels_mut().zip(a.pixels()).zip(b.pixels()) {
            for c in 0..4 {
                dst.0[c] = lerp_u8(pa.0[c], pb.0[c], t);
            }
        }
        composite(&mut frame, &layer, 0, 0);
        out.push(frame);
    }
    Ok(Clip { frames: out, fps })
}

/// Talking-portrait / lip-sync draft: the still with the audio's waveform along the bottom and a
/// playhead moving across it in time with the sound. Lasts as long as the audio, capped at
/// `max_seconds` and [`MAX_CLIP_FRAMES`].
pub fn waveform_clip(
    still: &RgbaImage,
    audio: &Audio,
    fps: u32,
    width: u32,
    height: u32,
    max_seconds: f32,
) -> Result<Clip, MediaError> {
    let (width, height) = clip_size(width, height)?;
    let fps = clip_fps(fps)?;
    if audio.sample_rate == 0 || audio.samples.is_empty() {
        return Err(MediaError::InvalidArgument("the audio is empty".to_owned()));
    }
    if !max_seconds.is_finite() || max_seconds <= 0.0 {
        return Err(MediaError::InvalidArgument(format!(
            "a maximum of {max_seconds} seconds"
        )));
    }
    let seconds = (audio.seconds() as f32)
        .min(max_seconds)
        .min(MAX_CLIP_FRAMES as f32 / fps as f32);
    let count = frame_count(seconds, fps)?;
    let used = ((f64::from(seconds) * f64::from(audio.sample_rate)) as usize)
        .clamp(1, audio.samples.len());
    let samples = &audio.samples[..used];

    let mut base = cover(still, width, height)?;
    let band_h = (height * 3 / 10).max(8);
    let band_top = height - band_h;
    for y in band_top..height {
        let k = 0.35 + 0.35 * (1.0 - (y - band_top) as f32 / band_h as f32);
        for x in 0..width {
            let p = base.get_pixel_mut(x, y);
            let rgb = scale_rgb([p.0[0], p.0[1], p.0[2]], k);
            *p = Rgba([rgb[0], rgb[1], rgb[2], 255]);
        }
    }
    let peaks: Vec<f32> = (0..width as usize)
        .map(|column| {
            let start = column * samples.len() / width as usize;
            let end = ((column + 1) * samples.len() / width as usize)
                .max(start + 1)
                .min(samples.len());
            samples[start.min(samples.len() - 1)..end]
                .iter()
                .fold(0.0f32, |peak, s| peak.max(s.abs()))
        })
        .collect();
    let loudest = peaks.iter().copied().fold(0.0f32, f32::max).max(1e-6);
    let mid = band_top as f32 + band_h as f32 / 2.0;
    let mut played = base.clone();
    for (x, &peak) in peaks.iter().enumerate() {
        let half = (peak / loudest * band_h as f32 * 0.42).max(1.0);
        let (y0, y1) = (
            (mid - half).max(0.0) as u32,
            ((mid + half) as u32).min(height),
        );
        for y in y0..y1 {
            crate::paint::blend_pixel(&mut base, x as u32, y, [200, 200, 210, 140], 1.0);
            crate::paint::blend_pixel(&mut played, x as u32, y, [255, 190, 30, 255], 1.0);
        }
    }
    let layer = overlay(width, height, "")?;
    let mut frames = Vec::with_capacity(count as usize);
    for i in 0..count {
        let head = ((i as f32 / count as f32) * width as f32) as u32;
        let mut frame = base.clone();
        for y in band_top..height {
            for x in 0..head.min(width) {
                frame.put_pixel(x, y, *played.get_pixel(x, y));
            }
        }
        fill_rect(
            &mut frame,
            head.saturating_sub(1),
            band_top,
            head + 1,
            height,
            [255, 255, 255, 230],
        );
        composite(&mut frame, &layer, 0, 0);
        frames.push(frame);
    }
    Ok(Clip { frames, fps })
}
