//! YUV 4:2:0 to RGBA, in integer arithmetic (limited range, BT.601 for SD and BT.709 for HD,
//! as players assume when a stream does not say).

use image::RgbaImage;

use super::h264::Yuv420;

/// Colour matrix of the stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Matrix {
    Bt601,
    Bt709,
}

impl Matrix {
    /// The usual guess for an untagged stream: HD sizes are BT.709.
    pub fn for_size(width: usize, height: usize) -> Self {
        if width >= 1280 || height >= 720 {
            Self::Bt709
        } else {
            Self::Bt601
        }
    }

    /// (R from V, G from U, G from V, B from U), scaled by 2^14.
    fn coefficients(self) -> (i32, i32, i32, i32) {
        match self {
            // 1.596, 0.392, 0.813, 2.017
            Self::Bt601 => (26_149, 6_423, 13_320, 33_050),
            // 1.793, 0.213, 0.533, 2.112
            Self::Bt709 => (29_376, 3_494, 8_731, 34_603),
        }
    }
}

/// Converts a picture to an RGBA image of the same size. Rows are split between two threads
/// for large pictures (the conversion is a quarter of the work of showing an HD frame).
pub fn to_rgba(picture: &Yuv420<'_>, matrix: Matrix) -> RgbaImage {
    /// Pictures this large are converted on two threads.
    const PARALLEL_PIXELS: usize = 1280 * 720;
    let (width, height) = (picture.width, picture.height);
    let mut out = vec![0u8; width * height * 4];
    let coefficients = matrix.coefficients();
    if width * height >= PARALLEL_PIXELS && height >= 4 {
        // Split on an even row so each half starts a chroma row.
        let split = (height / 2) & !1;
        let (top, bottom) = out.split_at_mut(split * width * 4);
        std::thread::scope(|scope| {
            scope.spawn(|| convert_rows(picture, coefficients, 0, top));
            convert_rows(picture, coefficients, split, bottom);
        });
    } else {
        convert_rows(picture, coefficients, 0, &mut out);
    }
    RgbaImage::from_raw(width as u32, height as u32, out)
        .unwrap_or_else(|| RgbaImage::new(width as u32, height as u32))
}

/// Converts the rows from `first` on into `out` (whole RGBA rows). Each chroma row's three
/// products are spread to full width once and shared by its two luma rows, so the inner loop
/// is straight per-pixel arithmetic the compiler turns into vector code.
fn convert_rows(
    picture: &Yuv420<'_>,
    (rv, gu, gv, bu): (i32, i32, i32, i32),
    first: usize,
    out: &mut [u8],
) {
    // 1.164 × 2^14 for luma; +2^13 rounds.
    const Y_SCALE: i32 = 19_071;
    const ROUND: i32 = 1 << 13;
    let width = picture.width;
    if width == 0 {
        return;
    }
    let chroma_width = width.div_ceil(2);
    let (mut red, mut green, mut blue) = (vec![0i32; width], vec![0i32; width], vec![0i32; width]);
    let mut chroma_row = usize::MAX;
    for (offset, out_row) in out.chunks_exact_mut(width * 4).enumerate() {
        let row = first + offset;
        if row / 2 != chroma_row {
            chroma_row = row / 2;
            let c = chroma_row * picture.uv_stride;
            let u_row = &picture.u[c..][..chroma_width];
            let v_row = &picture.v[c..][..chroma_width];
            for (x, ((r, g), b)) in red
                .iter_mut()
                .zip(green.iter_mut())
                .zip(blue.iter_mut())
                .enumerate()
            {
                let (u, v) = (i32::from(u_row[x / 2]) - 128, i32::from(v_row[x / 2]) - 128);
                *r = rv * v + ROUND;
                *g = ROUND - gu * u - gv * v;
                *b = bu * u + ROUND;
            }
        }
        let y_row = &picture.y[row * picture.y_stride..][..width];
        let pixel = |luma: u8, r: i32, g: i32, b: i32| {
            let luma = (i32::from(luma) - 16) * Y_SCALE;
            [
                clamp((luma + r) >> 14),
                clamp((luma + g) >> 14),
                clamp((luma + b) >> 14),
                255,
            ]
        };
        // Whole pixels as words when the row is word-aligned (it nearly always is): one store
        // per pixel, which vectorises; bytes otherwise.
        if let Ok(words) = bytemuck::try_cast_slice_mut::<u8, u32>(out_row) {
            let pixels = words
                .iter_mut()
                .zip(y_row)
                .zip(red.iter().zip(&green).zip(&blue));
            for ((word, &luma), ((&r, &g), &b)) in pixels {
                *word = u32::from_le_bytes(pixel(luma, r, g, b));
            }
        } else {
            let pixels = out_row
                .chunks_exact_mut(4)
                .zip(y_row)
                .zip(red.iter().zip(&green).zip(&blue));
            for ((bytes, &luma), ((&r, &g), &b)) in pixels {
                bytes.copy_from_slice(&pixel(luma, r, g, b));
            }
        }
    }
}

/// RGB to limited-range YUV coefficients, scaled by 2^16: (Y from R, G, B; U from R, G, B;
/// V from R, G, B).
fn forward(matrix: Matrix) -> [[i32; 3]; 3] {
    match matrix {
        // Y = 0.257R + 0.504G + 0.098B + 16; U = -0.148R - 0.291G + 0.439B + 128;
        // V = 0.439R - 0.368G - 0.071B + 128
        Matrix::Bt601 => [
            [16_829, 33_039, 6_416],
            [-9_714, -19_071, 28_784],
            [28_784, -24_103, -4_681],
        ],
        // Y = 0.183R + 0.614G + 0.062B + 16; U = -0.101R - 0.339G + 0.439B + 128;
        // V = 0.439R - 0.399G - 0.040B + 128
        Matrix::Bt709 => [
            [11_966, 40_254, 4_064],
            [-6_596, -22_189, 28_784],
            [28_784, -26_145, -2_639],
        ],
    }
}

/// Converts an RGBA image to planar 4:2:0 (I420: Y plane, then U, then V), limited range.
/// Odd sizes are padded to even by repeating the last row and column, as 4:2:0 needs.
/// Returns the planes and the padded size.
pub fn to_i420(image: &RgbaImage, matrix: Matrix) -> (Vec<u8>, usize, usize) {
    if image.width().is_multiple_of(2) && image.height().is_multiple_of(2) {
        to_i420_even(image, matrix)
    } else {
        to_i420_padded(image, matrix)
    }
}

/// [`to_i420`] for even sizes (every picture the animatic makes): two rows at a time, each
/// 2×2 block read once for its four lumas and its chroma; the same numbers as the general
/// path, a few times faster (it was a fifth of the animatic export's time).
fn to_i420_even(image: &RgbaImage, matrix: Matrix) -> (Vec<u8>, usize, usize) {
    const HALF: i32 = 1 << 15;
    let (w, h) = (image.width() as usize, image.height() as usize);
    let raw = image.as_raw();
    let m = forward(matrix);
    let luma_of = |p: &[u8]| {
        let (r, g, b) = (i32::from(p[0]), i32::from(p[1]), i32::from(p[2]));
        (((m[0][0] * r + m[0][1] * g + m[0][2] * b + HALF) >> 16) + 16).clamp(0, 255) as u8
    };
    let mut out = vec![0u8; w * h * 3 / 2];
    let (luma, chroma) = out.split_at_mut(w * h);
    let (u_plane, v_plane) = chroma.split_at_mut(w * h / 4);
    let rows = raw.chunks_exact(w * 8).zip(luma.chunks_exact_mut(w * 2));
    let chroma_rows = u_plane
        .chunks_exact_mut(w / 2)
        .zip(v_plane.chunks_exact_mut(w / 2));
    for ((pair, lumas), (us, vs)) in rows.zip(chroma_rows) {
        let (top, bottom) = pair.split_at(w * 4);
        let (l0, l1) = lumas.split_at_mut(w);
        let blocks = top
            .chunks_exact(8)
            .zip(bottom.chunks_exact(8))
            .zip(l0.chunks_exact_mut(2).zip(l1.chunks_exact_mut(2)))
            .zip(us.iter_mut().zip(vs.iter_mut()));
        for (((a, b), (ya, yb)), (u, v)) in blocks {
            ya[0] = luma_of(&a[0..4]);
            ya[1] = luma_of(&a[4..8]);
            yb[0] = luma_of(&b[0..4]);
            yb[1] = luma_of(&b[4..8]);
            let sum = |c: usize| {
                (i32::from(a[c]) + i32::from(a[c + 4]) + i32::from(b[c]) + i32::from(b[c + 4])) / 4
            };
            let (r, g, bl) = (sum(0), sum(1), sum(2));
            let cu = (m[1][0] * r + m[1][1] * g + m[1][2] * bl + HALF) >> 16;
            let cv = (m[2][0] * r + m[2][1] * g + m[2][2] * bl + HALF) >> 16;
            *u = (cu + 128).clamp(0, 255) as u8;
            *v = (cv + 128).clamp(0, 255) as u8;
        }
    }
    (out, w, h)
}

/// [`to_i420`] for any size: odd sizes padded by repeating the last row and column.
fn to_i420_padded(image: &RgbaImage, matrix: Matrix) -> (Vec<u8>, usize, usize) {
    const HALF: i32 = 1 << 15;
    let (w, h) = (image.width() as usize, image.height() as usize);
    let (pw, ph) = (w.div_ceil(2) * 2, h.div_ceil(2) * 2);
    let raw = image.as_raw();
    let m = forward(matrix);
    let px = |x: usize, y: usize| -> [i32; 3] {
        let at = (y.min(h.saturating_sub(1)) * w + x.min(w.saturating_sub(1))) * 4;
        [
            i32::from(raw[at]),
            i32::from(raw[at + 1]),
            i32::from(raw[at + 2]),
        ]
    };
    let mut out = vec![0u8; pw * ph * 3 / 2];
    let (luma, chroma) = out.split_at_mut(pw * ph);
    let (u_plane, v_plane) = chroma.split_at_mut(pw * ph / 4);
    for y in 0..ph {
        for x in 0..pw {
            let [r, g, b] = px(x, y);
            let value = (m[0][0] * r + m[0][1] * g + m[0][2] * b + HALF) >> 16;
            luma[y * pw + x] = (value + 16).clamp(0, 255) as u8;
        }
    }
    for cy in 0..ph / 2 {
        for cx in 0..pw / 2 {
            let mut sum = [0i32; 3];
            for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                let p = px(cx * 2 + dx, cy * 2 + dy);
                for c in 0..3 {
                    sum[c] += p[c];
                }
            }
            let [r, g, b] = sum.map(|v| v / 4);
            let u = (m[1][0] * r + m[1][1] * g + m[1][2] * b + HALF) >> 16;
            let v = (m[2][0] * r + m[2][1] * g + m[2][2] * b + HALF) >> 16;
            u_plane[cy * (pw / 2) + cx] = (u + 128).clamp(0, 255) as u8;
            v_plane[cy * (pw / 2) + cx] = (v + 128).clamp(0, 255) as u8;
        }
    }
    (out, pw, ph)
}

#[inline]
fn clamp(value: i32) -> u8 {
    value.clamp(0, 255) as u8
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_even_fast_path_converts_exactly_as_the_general_one() {
        let mut seed = 0x2545_f491_u32;
        let image = RgbaImage::from_fn(38, 22, |_, _| {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            let [r, g, b, _] = seed.to_le_bytes();
            image::Rgba([r, g, b, 255])
        });
        for matrix in [Matrix::Bt601, Matrix::Bt709] {
            assert_eq!(
                super::to_i420_even(&image, matrix),
                super::to_i420_padded(&image, matrix)
            );
        }
    }

    use super::*;

    fn picture<'a>(y: &'a [u8], u: &'a [u8], v: &'a [u8], w: usize, h: usize) -> Yuv420<'a> {
        Yuv420 {
            width: w,
            height: h,
            y,
            u,
            v,
            y_stride: w,
            uv_stride: w.div_ceil(2),
        }
    }

    #[test]
    fn limited_range_black_white_and_red() {
        let rgba = to_rgba(&picture(&[16, 235], &[128], &[128], 2, 1), Matrix::Bt601);
        assert_eq!(rgba.get_pixel(0, 0).0, [0, 0, 0, 255]);
        assert_eq!(rgba.get_pixel(1, 0).0, [255, 255, 255, 255]);
        // BT.601 red: Y 81, U 90, V 240.
        let red = to_rgba(&picture(&[81], &[90], &[240], 1, 1), Matrix::Bt601);
        let [r, g, b, _] = red.get_pixel(0, 0).0;
        assert!(r >= 250 && g <= 4 && b <= 4, "{r} {g} {b}");
        // BT.709 red: Y 63, U 102, V 240.
        let red = to_rgba(&picture(&[63], &[102], &[240], 1, 1), Matrix::Bt709);
        let [r, g, b, _] = red.get_pixel(0, 0).0;
        assert!(r >= 250 && g <= 4 && b <= 4, "{r} {g} {b}");
    }

    #[test]
    fn rgb_survives_the_round_trip_through_yuv() {
        for matrix in [Matrix::Bt601, Matrix::Bt709] {
            let image = RgbaImage::from_fn(6, 4, |x, _| match x / 2 {
                0 => image::Rgba([200, 30, 40, 255]),
                1 => image::Rgba([20, 180, 60, 255]),
                _ => image::Rgba([30, 40, 210, 255]),
            });
            let (planes, w, h) = to_i420(&image, matrix);
            assert_eq!((w, h), (6, 4));
            let (y, rest) = planes.split_at(w * h);
            let (u, v) = rest.split_at(w * h / 4);
            let back = to_rgba(&picture(y, u, v, w, h), matrix);
            for (a, b) in image.pixels().zip(back.pixels()) {
                for c in 0..3 {
                    assert!(a.0[c].abs_diff(b.0[c]) <= 3, "{matrix:?} {a:?} {b:?}");
                }
            }
        }
        let (_, w, h) = to_i420(&RgbaImage::new(5, 3), Matrix::Bt601);
        assert_eq!((w, h), (6, 4));
    }

    #[test]
    fn odd_sizes_use_the_last_chroma_column() {
        let y = [100u8; 3 * 3];
        let u = [128u8; 2 * 2];
        let v = [128u8; 2 * 2];
        let rgba = to_rgba(&picture(&y, &u, &v, 3, 3), Matrix::Bt601);
        assert_eq!(rgba.dimensions(), (3, 3));
        assert!(rgba.pixels().all(|p| p.0 == rgba.get_pixel(0, 0).0));
    }
}
