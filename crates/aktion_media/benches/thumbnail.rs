//! PRODUCT.md §7 image-import bar: a 24-MP JPEG to a 512-px thumbnail in ≤ 150 ms.
//!
//! `cargo bench -p aktion_media --bench thumbnail -- --warm-up-time 1 --measurement-time 5`

use std::hint::black_box;

use aktion_media::{DecodeLimits, thumbnail_from_bytes};
use criterion::{Criterion, criterion_group, criterion_main};
use image::{Rgb, RgbImage};

/// A 6000×4000 photo-like JPEG (gradients plus texture, so the entropy coder has real work).
fn synthetic_jpeg() -> Vec<u8> {
    let img = RgbImage::from_fn(6000, 4000, |x, y| {
        let noise = (x.wrapping_mul(2_654_435_761) ^ y.wrapping_mul(40_503)) >> 27;
        Rgb([
            (x / 24) as u8 ^ noise as u8,
            (y / 16) as u8,
            ((x + y) / 40) as u8 ^ (noise as u8 >> 1),
        ])
    });
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 88)
        .encode_image(&img)
        .expect("in-memory JPEG encoding");
    out
}

fn bench(c: &mut Criterion) {
    let jpeg = synthetic_jpeg();
    let limits = DecodeLimits::default();
    let mut group = c.benchmark_group("thumbnail_from_bytes");
    group.sample_size(10);
    group.bench_function("24mp_jpeg_to_512", |b| {
        b.iter(|| thumbnail_from_bytes(black_box(&jpeg), 512, &limits).expect("decodes"));
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
