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

/// Converts a picture to an RGBA image of the same size.
pub fn to_rgba(picture: &Yuv420<'_>, matrix: Matrix) -> RgbaImage {
    let (width, height) = (picture.width, picture.height);
    let mut out = vec![0u8; width * height * 4];
    let (rv, gu, gv, bu) = matrix.coefficients();
    // 1.164 × 2^14 for luma; +2^13 rounds.
    const Y_SCALE: i32 = 19_071;
    const ROUND: i32 = 1 << 13;
    for (row, out_row) in out.chunks_exact_mut(width * 4).enumerate() {
        let y_row = &picture.y[row * picture.y_stride..][..width];
        let c = (row / 2) * picture.uv_stride;
        let u_row = &picture.u[c..][..width.div_ceil(2)];
        let v_row = &picture.v[c..][..width.div_ceil(2)];
        for (x, pixel) in out_row.chunks_exact_mut(4).enumerate() {
            let luma = (i32::from(y_row[x]) - 16) * Y_SCALE + ROUND;
            let u = i32::from(u_row[x / 2]) - 128;
            let v = i32::from(v_row[x / 2]) - 128;
            pixel[0] = clamp((luma + rv * v) >> 14);
            pixel[1] = clamp((luma - gu * u - gv * v) >> 14);
            pixel[2] = clamp((luma + bu * u) >> 14);
            pixel[3] = 255;
        }
    }
    RgbaImage::from_raw(width as u32, height as u32, out)
        .unwrap_or_else(|| RgbaImage::new(width as u32, height as u32))
}

#[inline]
fn clamp(value: i32) -> u8 {
    value.clamp(0, 255) as u8
}

#[cfg(test)]
mod tests {
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
    fn odd_sizes_use_the_last_chroma_column() {
        let y = [100u8; 3 * 3];
        let u = [128u8; 2 * 2];
        let v = [128u8; 2 * 2];
        let rgba = to_rgba(&picture(&y, &u, &v, 3, 3), Matrix::Bt601);
        assert_eq!(rgba.dimensions(), (3, 3));
        assert!(rgba.pixels().all(|p| p.0 == rgba.get_pixel(0, 0).0));
    }
}
