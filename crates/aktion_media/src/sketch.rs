//! Sketch strokes (vectors stored in the project) to pixels, with tiny-skia: anti-aliased and
//! deterministic, so the same strokes give the same bytes and therefore the same cache key.

use aktion_graph::sketch::{Stroke, StrokeTool};
use image::RgbaImage;
use tiny_skia::{BlendMode, Color, FillRule, Paint, PathBuilder, Pixmap, Transform};

use crate::MediaError;

/// Largest sketch canvas side accepted.
pub const MAX_SKETCH_SIDE: u32 = 8192;
/// Largest canvas area accepted (an 8K-by-5K sheet).
const MAX_SKETCH_PIXELS: u64 = 40_000_000;
/// Points drawn per sketch at most; denser input is thinned evenly. A person drawing for an hour
/// makes far fewer, so this only bites on hostile or buggy input and bounds the render time.
pub const MAX_SKETCH_POINTS: usize = 200_000;
/// Points further than this outside the canvas are pulled in; their segments are off-canvas
/// anyway, and tiny-skia's fixed-point edges cannot take arbitrary magnitudes.
const OFF_CANVAS_MARGIN: f32 = 4096.0;
/// Consecutive points closer than this add nothing visible and are skipped.
const MIN_STEP: f32 = 0.35;
/// Pressure never thins a stroke below this fraction of its width, so light touches still show.
const MIN_PRESSURE: f32 = 0.1;

/// Rasterises strokes onto a `width × height` canvas filled with `background`.
///
/// A pen stroke's radius at each point is `width / 2 × pressure`; an eraser stroke paints the
/// background colour back. Non-finite coordinates are dropped, widths and pressures clamped, and
/// huge point counts thinned, so hostile strokes cannot panic or stall.
pub fn rasterise_sketch(
    strokes: &[Stroke],
    width: u32,
    height: u32,
    background: [u8; 4],
) -> Result<RgbaImage, MediaError> {
    if width == 0 || height == 0 {
        return Err(MediaError::InvalidArgument(format!(
            "a sketch canvas of {width}×{height} has no pixels"
        )));
    }
    if width > MAX_SKETCH_SIDE
        || height > MAX_SKETCH_SIDE
        || u64::from(width) * u64::from(height) > MAX_SKETCH_PIXELS
    {
        return Err(MediaError::TooLarge {
            width,
            height,
            limit: format!("{MAX_SKETCH_SIDE} pixels a side and 40 megapixels"),
        });
    }
    let mut pixmap = Pixmap::new(width, height).ok_or_else(|| {
        MediaError::InvalidArgument(format!("cannot allocate a {width}×{height} canvas"))
    })?;
    let [bg_r, bg_g, bg_b, bg_a] = background;
    pixmap.fill(Color::from_rgba8(bg_r, bg_g, bg_b, bg_a));

    let total_points = strokes.iter().fold(0usize, |sum, stroke| {
        sum.saturating_add(stroke.points.len())
    });
    let stride = total_points.div_ceil(MAX_SKETCH_POINTS).max(1);
    let max_width = 2.0 * width.max(height) as f32;
    let bounds = (width as f32, height as f32);

    for stroke in strokes {
        let Some(path) = stroke_path(stroke, stride, max_width, bounds) else {
            continue;
        };
        let mut paint = Paint::default();
        match stroke.tool {
            StrokeTool::Pen => {
                let [r, g, b, a] = stroke.color;
                paint.set_color_rgba8(r, g, b, a);
            }
            StrokeTool::Eraser => {
                // `Source` replaces what is under the stroke (blended only at the anti-aliased
                // edge), which is what erasing to a possibly transparent background means.
                paint.set_color_rgba8(bg_r, bg_g, bg_b, bg_a);
                paint.blend_mode = BlendMode::Source;
            }
        }
        paint.anti_alias = true;
        pixmap.fill_path(
            &path,
            &paint,
            FillRule::Winding,
            Transform::identity(),
            None,
        );
    }

    let mut out = RgbaImage::new(width, height);
    for (dst, src) in out.pixels_mut().zip(pixmap.pixels()) {
        let color = src.demultiply();
        dst.0 = [color.red(), color.green(), color.blue(), color.alpha()];
    }
    Ok(out)
}

/// The outline of one stroke as a single path: a disc at every kept point plus a quad joining
/// each pair of neighbouring discs. Every sub-path is wound the same way, so with the non-zero
/// rule their union fills once and a translucent stroke does not darken where it overlaps itself.
fn stroke_path(
    stroke: &Stroke,
    stride: usize,
    max_width: f32,
    (canvas_w, canvas_h): (f32, f32),
) -> Option<tiny_skia::Path> {
    if !stroke.width.is_finite() || stroke.width <= 0.0 {
        return None;
    }
    let half_width = stroke.width.min(max_width) / 2.0;
    let last_index = stroke.points.len().checked_sub(1)?;
    let mut builder = PathBuilder::new();
    let mut previous: Option<(f32, f32, f32)> = None;
    for (index, &[x, y, pressure]) in stroke.points.iter().enumerate() {
        if index % stride != 0 && index != last_index {
            continue;
        }
        if !x.is_finite() || !y.is_finite() {
            continue;
        }
        let x = x.clamp(-OFF_CANVAS_MARGIN, canvas_w + OFF_CANVAS_MARGIN);
        let y = y.clamp(-OFF_CANVAS_MARGIN, canvas_h + OFF_CANVAS_MARGIN);
        // Platforms without pressure report 1.0; NaN is treated the same way.
        let pressure = if pressure.is_nan() {
            1.0
        } else {
            pressure.clamp(MIN_PRESSURE, 1.0)
        };
        let radius = (half_width * pressure).max(0.25);
        if let Some((px, py, pr)) = previous {
            let (dx, dy) = (x - px, y - py);
            let len = (dx * dx + dy * dy).sqrt();
            if len < MIN_STEP && index != last_index {
                continue;
            }
            if len > f32::EPSILON {
                let (nx, ny) = (-dy / len, dx / len);
                push_quad(
                    &mut builder,
                    [
                        (px + nx * pr, py + ny * pr),
                        (x + nx * radius, y + ny * radius),
                        (x - nx * radius, y - ny * radius),
                        (px - nx * pr, py - ny * pr),
                    ],
                );
            }
        }
        push_disc(&mut builder, x, y, radius);
        previous = Some((x, y, radius));
    }
    builder.finish()
}

/// Signed area > 0 in the y-down pixel frame; `push_disc` uses the same orientation.
fn push_quad(builder: &mut PathBuilder, mut corners: [(f32, f32); 4]) {
    let area: f32 = (0..4)
        .map(|i| {
            let (a, b) = (corners[i], corners[(i + 1) % 4]);
            a.0 * b.1 - b.0 * a.1
        })
        .sum();
    if area < 0.0 {
        corners.reverse();
    }
    builder.move_to(corners[0].0, corners[0].1);
    for &(x, y) in &corners[1..] {
        builder.line_to(x, y);
    }
    builder.close();
}

/// A circle as four cubic arcs, going +x → +y → −x → −y (positive signed area). Small discs are
/// octagons: cheaper, and identical once anti-aliased at that size.
fn push_disc(builder: &mut PathBuilder, cx: f32, cy: f32, r: f32) {
    if r < 1.5 {
        const STEPS: usize = 8;
        builder.move_to(cx + r, cy);
        for step in 1..STEPS {
            let angle = step as f32 * std::f32::consts::TAU / STEPS as f32;
            builder.line_to(cx + r * angle.cos(), cy + r * angle.sin());
        }
        builder.close();
        return;
    }
    // Control-point distance for a quarter circle.
    let k = 0.552_284_8 * r;
    builder.move_to(cx + r, cy);
    builder.cubic_to(cx + r, cy + k, cx + k, cy + r, cx, cy + r);
    builder.cubic_to(cx - k, cy + r, cx - r, cy + k, cx - r, cy);
    builder.cubic_to(cx - r, cy - k, cx - k, cy - r, cx, cy - r);
    builder.cubic_to(cx + k, cy - r, cx + r, cy - k, cx + r, cy);
    builder.close();
}
