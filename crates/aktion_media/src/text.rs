//! Text on images with the font egui ships (Ubuntu Light), so drafts need no system fonts and
//! render the same on every machine.

use ab_glyph::{Font, FontRef, PxScale, ScaleFont, point};
use image::RgbaImage;

use crate::MediaError;
use crate::paint::blend_pixel;

fn font() -> Result<FontRef<'static>, MediaError> {
    // Parsing only reads the table directory, so doing it per call costs microseconds.
    FontRef::try_from_slice(epaint_default_fonts::UBUNTU_LIGHT)
        .map_err(|err| MediaError::Encode(format!("the bundled font is unreadable: {err}")))
}

/// Glyph size is capped so that a hostile size cannot make one glyph cover gigapixels.
fn scale(px: f32) -> PxScale {
    PxScale::from(if px.is_finite() {
        px.clamp(1.0, 400.0)
    } else {
        12.0
    })
}

/// Advance width of `text` at `px` pixels.
pub(crate) fn text_width(text: &str, px: f32) -> Result<f32, MediaError> {
    let font = font()?;
    let scaled = font.as_scaled(scale(px));
    let mut width = 0.0;
    let mut previous = None;
    for c in text.chars() {
        let id = scaled.glyph_id(c);
        if let Some(prev) = previous {
            width += scaled.kern(prev, id);
        }
        width += scaled.h_advance(id);
        previous = Some(id);
    }
    Ok(width)
}

/// Ascent of the font at `px`: where to put the baseline below a line's top.
pub(crate) fn ascent(px: f32) -> Result<f32, MediaError> {
    Ok(font()?.as_scaled(scale(px)).ascent())
}

/// Draws one line with its baseline at `baseline`; anything off the image is clipped.
pub(crate) fn draw_text(
    img: &mut RgbaImage,
    text: &str,
    x: f32,
    baseline: f32,
    px: f32,
    color: [u8; 4],
) -> Result<(), MediaError> {
    if !x.is_finite() || !baseline.is_finite() {
        return Ok(());
    }
    let font = font()?;
    let px_scale = scale(px);
    let scaled = font.as_scaled(px_scale);
    let mut caret = x;
    let mut previous = None;
    for c in text.chars() {
        if caret > img.width() as f32 {
            break;
        }
        let id = scaled.glyph_id(c);
        if let Some(prev) = previous {
            caret += scaled.kern(prev, id);
        }
        let glyph = id.with_scale_and_position(px_scale, point(caret, baseline));
        caret += scaled.h_advance(id);
        previous = Some(id);
        let Some(outlined) = font.outline_glyph(glyph) else {
            continue; // spaces have no outline
        };
        let bounds = outlined.px_bounds();
        outlined.draw(|gx, gy, coverage| {
            let px_x = bounds.min.x + gx as f32;
            let px_y = bounds.min.y + gy as f32;
            if px_x >= 0.0 && px_y >= 0.0 {
                blend_pixel(img, px_x as u32, px_y as u32, color, coverage);
            }
        });
    }
    Ok(())
}

/// Word-wraps `text` to `max_width` pixels in at most `max_lines` lines; words longer than a line
/// are broken, and text that does not fit ends with an ellipsis.
pub(crate) fn wrap(
    text: &str,
    px: f32,
    max_width: f32,
    max_lines: usize,
) -> Result<Vec<String>, MediaError> {
    let mut lines: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut overflow = false;
    'words: for word in text.split_whitespace() {
        let candidate = if current.is_empty() {
            word.to_owned()
        } else {
            format!("{current} {word}")
        };
        if text_width(&candidate, px)? <= max_width {
            current = candidate;
            continue;
        }
        if !current.is_empty() {
            lines.push(std::mem::take(&mut current));
            if lines.len() == max_lines {
                overflow = true;
                break 'words;
            }
        }
        // The word alone may still be too long: break it by characters.
        for c in word.chars() {
            current.push(c);
            if text_width(&current, px)? > max_width && current.chars().count() > 1 {
                current.pop();
                lines.push(std::mem::take(&mut current));
                if lines.len() == max_lines {
                    overflow = true;
                    break 'words;
                }
                current.push(c);
            }
        }
    }
    if !overflow && !current.is_empty() {
        if lines.len() == max_lines {
            overflow = true;
        } else {
            lines.push(current);
        }
    }
    if overflow && let Some(last) = lines.last_mut() {
        while !last.is_empty() && text_width(&format!("{last}…"), px)? > max_width {
            last.pop();
        }
        last.push('…');
    }
    Ok(lines)
}

/// The font drafts and printed storyboards use (Ubuntu Light, shipped with egui; the Ubuntu
/// Font Licence allows embedding it in documents).
pub const BUNDLED_FONT: &[u8] = epaint_default_fonts::UBUNTU_LIGHT;

/// Width of `text` in the bundled font at font size `em` (the em square, as PDF font sizes are
/// given), in the same unit.
pub fn text_width_em(text: &str, em: f32) -> Result<f32, MediaError> {
    text_width(text, em_to_px(em)?)
}

/// [`wrap`] for font size `em` (the em square, as PDF font sizes are given).
pub fn wrap_em(
    text: &str,
    em: f32,
    max_width: f32,
    max_lines: usize,
) -> Result<Vec<String>, MediaError> {
    wrap(text, em_to_px(em)?, max_width, max_lines)
}

/// `ab_glyph` scales by the font's height (ascent − descent), PDF by its em square.
fn em_to_px(em: f32) -> Result<f32, MediaError> {
    let font = font()?;
    let upem = font.units_per_em().unwrap_or(1000.0).max(1.0);
    Ok(em * font.height_unscaled() / upem)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_respects_width_and_line_count() {
        let lines = wrap(
            "a lone rider crosses the salt flats at dawn while the camera cranes up",
            20.0,
            200.0,
            2,
        )
        .unwrap();
        assert_eq!(lines.len(), 2, "{lines:?}");
        for line in &lines {
            assert!(text_width(line, 20.0).unwrap() <= 200.0, "{line}");
        }
        assert!(lines.last().unwrap().ends_with('…'));
        let long = wrap(&"x".repeat(500), 20.0, 100.0, 2).unwrap();
        assert_eq!(long.len(), 2);
        assert!(wrap("", 20.0, 100.0, 2).unwrap().is_empty());
    }

    #[test]
    fn draws_visible_glyphs() {
        let mut img = RgbaImage::from_pixel(80, 30, image::Rgba([255, 255, 255, 255]));
        draw_text(&mut img, "Hi", 2.0, 22.0, 20.0, [0, 0, 0, 255]).unwrap();
        assert!(img.pixels().any(|p| p.0[0] < 64));
        // Off-image text must be clipped, not panic.
        draw_text(&mut img, "Hi", -50.0, -50.0, 1e9, [0, 0, 0, 255]).unwrap();
        draw_text(&mut img, "Hi", f32::NAN, 1e6, f32::NAN, [0, 0, 0, 255]).unwrap();
    }
}
