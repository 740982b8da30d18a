//! The storyboard PDF: a title page, then the shots at 1, 3 or 6 panels a page (A4 landscape),
//! each with its picture at print resolution (300 dpi for its box, JPEG), number, title,
//! length, camera fields, description and dialogue. Text is real text in an embedded (subset)
//! font, so it can be selected, searched and read by `pdftotext`. Made with krilla.

use std::io::Cursor;

use aktion_media::{RgbaImage, Video};
use krilla::Document;
use krilla::color::rgb;
use krilla::geom::{PathBuilder, Point, Rect, Size, Transform};
use krilla::image::Image;
use krilla::num::NormalizedF32;
use krilla::page::PageSettings;
use krilla::paint::{Fill, FillRule};
use krilla::surface::Surface;
use krilla::text::{Font, TextDirection};

use crate::timeline::{Clip, Kind, Timeline};
use crate::{ExportError, Options};

/// A4 landscape, in points.
const PAGE: (f32, f32) = (842.0, 595.0);
const MARGIN: f32 = 36.0;
/// Pictures are rendered for 300 dots per inch of their box.
const DPI: f32 = 300.0;
const JPEG_QUALITY: u8 = 85;

/// Panels a page may hold.
pub const LAYOUTS: [u8; 3] = [1, 3, 6];

const INK: (u8, u8, u8) = (20, 20, 24);
const SOFT: (u8, u8, u8) = (95, 95, 105);
const ACCENT: (u8, u8, u8) = (200, 110, 20);

fn fill(surface: &mut Surface<'_>, (r, g, b): (u8, u8, u8)) {
    surface.set_fill(Some(Fill {
        paint: rgb::Color::new(r, g, b).into(),
        opacity: NormalizedF32::ONE,
        rule: FillRule::NonZero,
    }));
}

fn rect(surface: &mut Surface<'_>, x: f32, y: f32, w: f32, h: f32, color: (u8, u8, u8)) {
    let Some(r) = Rect::from_xywh(x, y, w.max(0.1), h.max(0.1)) else {
        return;
    };
    let mut pb = PathBuilder::new();
    pb.push_rect(r);
    if let Some(path) = pb.finish() {
        fill(surface, color);
        surface.draw_path(&path);
    }
}

/// One line of text with its baseline at `y`.
fn text(
    surface: &mut Surface<'_>,
    font: &Font,
    x: f32,
    y: f32,
    size: f32,
    s: &str,
    color: (u8, u8, u8),
) {
    if s.is_empty() {
        return;
    }
    fill(surface, color);
    surface.draw_text(
        Point::from_xy(x, y),
        font.clone(),
        size,
        s,
        false,
        TextDirection::Auto,
    );
}

/// Wrapped text from `y` (first baseline) down; returns the y below it.
#[expect(clippy::too_many_arguments, reason = "a text box's geometry and style")]
fn paragraph(
    surface: &mut Surface<'_>,
    font: &Font,
    x: f32,
    y: f32,
    width: f32,
    size: f32,
    max_lines: usize,
    s: &str,
    color: (u8, u8, u8),
) -> f32 {
    let lines = aktion_media::wrap_em(s, size, width, max_lines).unwrap_or_default();
    let mut y = y;
    for line in lines {
        text(surface, font, x, y, size, &line, color);
        y += size * 1.3;
    }
    y
}

/// The picture of a clip for print: its first used frame (or the still), fitted into
/// `max_w`×`max_h` pixels, as JPEG. `None` when the file cannot be read (a card is drawn).
fn picture(clip: &Clip, max_w: u32, max_h: u32) -> Option<(Vec<u8>, u32, u32)> {
    let media = clip.media.as_ref()?;
    let bytes = std::fs::read(&media.source).ok()?;
    let img: RgbaImage = match media.kind {
        Kind::Video => {
            let video = Video::open(bytes).ok()?;
            let first = usize::try_from(clip.source_in).unwrap_or(0);
            let frame = video
                .frames_from(first, Some(max_w.max(max_h)))
                .ok()?
                .next()?
                .ok()?;
            frame.image
        }
        Kind::Image => {
            aktion_media::decode_image(&bytes, &aktion_media::DecodeLimits::default()).ok()?
        }
        Kind::Audio => return None,
    };
    let (w, h) = img.dimensions();
    let scale = (max_w as f32 / w.max(1) as f32)
        .min(max_h as f32 / h.max(1) as f32)
        .min(1.0);
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "positive and at most the picture's own size"
    )]
    let (tw, th) = (
        ((w as f32 * scale).round() as u32).max(1),
        ((h as f32 * scale).round() as u32).max(1),
    );
    let img = if (tw, th) == (w, h) {
        img
    } else {
        image::imageops::resize(&img, tw, th, image::imageops::FilterType::Triangle)
    };
    let rgb = image::DynamicImage::ImageRgba8(img).to_rgb8();
    let mut out = Cursor::new(Vec::new());
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY)
        .encode_image(&rgb)
        .ok()?;
    Some((out.into_inner(), tw, th))
}

/// Draws the picture (or a card saying why there is none) fitted into the box.
fn panel_picture(
    surface: &mut Surface<'_>,
    font: &Font,
    clip: &Clip,
    x: f32,
    y: f32,
    w: f32,
    h: f32,
) {
    rect(surface, x, y, w, h, (12, 12, 14));
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "a box of at most a page at 300 dpi"
    )]
    let (px_w, px_h) = ((w / 72.0 * DPI) as u32, (h / 72.0 * DPI) as u32);
    if let Some((image, pw, ph)) = picture(clip, px_w, px_h)
        .and_then(|(jpeg, pw, ph)| Some((Image::from_jpeg(jpeg.into(), true).ok()?, pw, ph)))
    {
        let scale = (w / pw as f32).min(h / ph as f32);
        let (dw, dh) = (pw as f32 * scale, ph as f32 * scale);
        if let Some(size) = Size::from_wh(dw, dh) {
            surface.push_transform(&Transform::from_translate(
                x + (w - dw) / 2.0,
                y + (h - dh) / 2.0,
            ));
            surface.draw_image(image, size);
            surface.pop();
        }
    } else {
        let why = if clip.media.is_none() {
            "missing take — run this shot"
        } else {
            "no picture"
        };
        text(
            surface,
            font,
            x + 10.0,
            y + h / 2.0,
            11.0,
            why,
            (170, 170, 175),
        );
        if !clip.description.is_empty() {
            paragraph(
                surface,
                font,
                x + 10.0,
                y + h / 2.0 + 16.0,
                w - 20.0,
                9.0,
                3,
                &clip.description,
                (150, 150, 155),
            );
        }
    }
}

/// The shot's words beside or under its picture.
#[expect(
    clippy::too_many_arguments,
    reason = "a text column's geometry and style"
)]
fn panel_text(
    surface: &mut Surface<'_>,
    font: &Font,
    clip: &Clip,
    fps: u32,
    x: f32,
    y: f32,
    w: f32,
    size: f32,
    lines: usize,
) {
    let seconds = clip.frames as f32 / fps.max(1) as f32;
    let mut y = y + size * 1.2;
    text(
        surface,
        font,
        x,
        y,
        size * 1.25,
        &format!("{} · {}", clip.number, clip.name),
        INK,
    );
    y += size * 1.7;
    let mut facts = format!("{seconds:.1} s");
    let camera = clip.camera.summary();
    if !camera.is_empty() {
        facts = format!("{facts} · {camera}");
    }
    if clip.needs_longer_take {
        facts.push_str(" · needs a longer take");
    }
    y = paragraph(surface, font, x, y, w, size * 0.9, 2, &facts, SOFT);
    if !clip.description.is_empty() {
        y = paragraph(
            surface,
            font,
            x,
            y + 2.0,
            w,
            size,
            lines,
            &clip.description,
            INK,
        );
    }
    if !clip.dialogue.is_empty() {
        paragraph(
            surface,
            font,
            x,
            y + 2.0,
            w,
            size,
            lines.min(3),
            &format!("“{}”", clip.dialogue),
            ACCENT,
        );
    }
}

fn title_page(surface: &mut Surface<'_>, font: &Font, timeline: &Timeline) {
    let (_, frames) = timeline.starts();
    let seconds = frames as f32 / timeline.fps.max(1) as f32;
    let y = PAGE.1 * 0.4;
    paragraph(
        surface,
        font,
        MARGIN * 2.0,
        y,
        PAGE.0 - MARGIN * 4.0,
        34.0,
        2,
        &timeline.name,
        INK,
    );
    text(
        surface,
        font,
        MARGIN * 2.0,
        y + 60.0,
        16.0,
        "Storyboard",
        SOFT,
    );
    let n = timeline.clips.len();
    text(
        surface,
        font,
        MARGIN * 2.0,
        y + 84.0,
        12.0,
        &format!(
            "{n} shot{} · {} · {} fps",
            if n == 1 { "" } else { "s" },
            running_time(seconds),
            timeline.fps
        ),
        SOFT,
    );
}

fn running_time(seconds: f32) -> String {
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "a running time in ms, non-negative"
    )]
    let ms = (seconds * 1000.0).round().max(0.0) as u64;
    aktion_graph::sequence::running_time(ms)
}

fn footer(surface: &mut Surface<'_>, font: &Font, timeline: &Timeline, page: usize, pages: usize) {
    let s = format!("{} · page {page} of {pages}", timeline.name);
    text(surface, font, MARGIN, PAGE.1 - MARGIN / 2.0, 8.0, &s, SOFT);
}

/// Renders the storyboard with `per_page` panels a page (1, 3 or 6).
#[expect(
    clippy::too_many_lines,
    reason = "the title page and the three layouts, page by page"
)]
pub fn render(
    timeline: &Timeline,
    per_page: u8,
    options: &mut Options<'_>,
) -> Result<Vec<u8>, ExportError> {
    if !LAYOUTS.contains(&per_page) {
        return Err(ExportError::Layout(per_page));
    }
    let font = Font::new(aktion_media::BUNDLED_FONT.to_vec().into(), 0)
        .ok_or_else(|| ExportError::Pdf("the bundled font could not be read".into()))?;
    let mut document = Document::new();
    document.set_metadata(
        krilla::metadata::Metadata::new()
            .title(timeline.name.clone())
            .creator("Aktion Studio".to_owned()),
    );
    let page_settings =
        || PageSettings::from_wh(PAGE.0, PAGE.1).ok_or(ExportError::Pdf("page size".into()));
    let per = usize::from(per_page);
    let pages = timeline.clips.len().div_ceil(per) + 1;
    {
        let mut page = document.start_page_with(page_settings()?);
        let mut surface = page.surface();
        title_page(&mut surface, &font, timeline);
        footer(&mut surface, &font, timeline, 1, pages);
        surface.finish();
        page.finish();
    }
    let inner_w = PAGE.0 - 2.0 * MARGIN;
    let inner_h = PAGE.1 - 2.0 * MARGIN - 10.0;
    for (p, chunk) in timeline.clips.chunks(per).enumerate() {
        let mut page = document.start_page_with(page_settings()?);
        let mut surface = page.surface();
        for (i, clip) in chunk.iter().enumerate() {
            match per_page {
                1 => {
                    let pic_w = inner_w * 0.66;
                    let pic_h = (pic_w * 9.0 / 16.0).min(inner_h);
                    panel_picture(&mut surface, &font, clip, MARGIN, MARGIN, pic_w, pic_h);
                    let tx = MARGIN + pic_w + 18.0;
                    panel_text(
                        &mut surface,
                        &font,
                        clip,
                        timeline.fps,
                        tx,
                        MARGIN,
                        inner_w - pic_w - 18.0,
                        12.0,
                        20,
                    );
                }
                3 => {
                    let row_h = inner_h / 3.0;
                    let pic_h = row_h - 12.0;
                    let pic_w = pic_h * 16.0 / 9.0;
                    #[expect(clippy::cast_precision_loss, reason = "a panel index")]
                    let y = MARGIN + row_h * i as f32;
                    panel_picture(&mut surface, &font, clip, MARGIN, y, pic_w, pic_h);
                    let tx = MARGIN + pic_w + 16.0;
                    panel_text(
                        &mut surface,
                        &font,
                        clip,
                        timeline.fps,
                        tx,
                        y,
                        inner_w - pic_w - 16.0,
                        10.5,
                        6,
                    );
                }
                _ => {
                    let col_w = inner_w / 3.0;
                    let row_h = inner_h / 2.0;
                    #[expect(clippy::cast_precision_loss, reason = "a panel index")]
                    let (x, y) = (
                        MARGIN + col_w * (i % 3) as f32,
                        MARGIN + row_h * (i / 3) as f32,
                    );
                    let pic_w = col_w - 14.0;
                    let pic_h = pic_w * 9.0 / 16.0;
                    panel_picture(&mut surface, &font, clip, x, y, pic_w, pic_h);
                    panel_text(
                        &mut surface,
                        &font,
                        clip,
                        timeline.fps,
                        x,
                        y + pic_h + 2.0,
                        pic_w,
                        8.5,
                        4,
                    );
                }
            }
        }
        footer(&mut surface, &font, timeline, p + 2, pages);
        surface.finish();
        page.finish();
        #[expect(clippy::cast_precision_loss, reason = "page counts")]
        let done = (p + 1) as f32 / (pages - 1).max(1) as f32;
        if !options.report(done) {
            return Err(ExportError::Cancelled);
        }
    }
    document
        .finish()
        .map_err(|e| ExportError::Pdf(format!("{e:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timeline::tests::sample;

    #[test]
    fn every_layout_makes_a_pdf_and_others_are_refused() {
        let t = sample();
        for per in LAYOUTS {
            let pdf = render(&t, per, &mut Options::default()).expect("pdf");
            assert!(pdf.starts_with(b"%PDF-"));
            assert!(pdf.ends_with(b"%%EOF") || pdf.ends_with(b"%%EOF\n"));
        }
        assert!(matches!(
            render(&t, 4, &mut Options::default()),
            Err(ExportError::Layout(4))
        ));
        assert_eq!(running_time(75.25), "1:15.3");
    }
}
