use aktion_graph::sketch::{Stroke, StrokeTool};
use aktion_media::{MediaError, rasterise_sketch};
use proptest::prelude::*;

use super::util::digest;

const WHITE: [u8; 4] = [255, 255, 255, 255];

fn pen(width: f32, points: Vec<[f32; 3]>) -> Stroke {
    Stroke {
        tool: StrokeTool::Pen,
        color: [0, 0, 0, 255],
        width,
        points,
    }
}

fn eraser(width: f32, points: Vec<[f32; 3]>) -> Stroke {
    Stroke {
        tool: StrokeTool::Eraser,
        color: [255, 0, 0, 255],
        width,
        points,
    }
}

/// A wavy line with varying pressure.
fn scribble() -> Vec<Stroke> {
    let points = (0..200)
        .map(|i| {
            let t = i as f32 / 199.0;
            [
                10.0 + t * 180.0,
                60.0 + (t * 12.0).sin() * 30.0,
                0.3 + 0.7 * t,
            ]
        })
        .collect();
    vec![
        pen(8.0, points),
        Stroke {
            color: [200, 30, 30, 180],
            ..pen(14.0, vec![[20.0, 20.0, 1.0], [180.0, 100.0, 0.5]])
        },
    ]
}

/// Rows in `column` where the pixel is darker than mid-grey.
fn thickness(img: &image::RgbaImage, column: u32) -> usize {
    (0..img.height())
        .filter(|&y| img.get_pixel(column, y).0[0] < 128)
        .count()
}

#[test]
fn rasterising_is_deterministic() {
    let a = rasterise_sketch(&scribble(), 200, 120, WHITE).unwrap();
    let b = std::thread::scope(|s| {
        s.spawn(|| rasterise_sketch(&scribble(), 200, 120, WHITE).unwrap())
            .join()
            .unwrap()
    });
    assert_eq!(digest(&a), digest(&b));
    assert_eq!(a, b);
    // And it drew something.
    assert!(a.pixels().any(|p| p.0[0] < 50));
    let other = rasterise_sketch(&scribble()[..1], 200, 120, WHITE).unwrap();
    assert_ne!(digest(&a), digest(&other));
}

#[test]
fn strokes_are_anti_aliased() {
    let img = rasterise_sketch(
        &[pen(6.0, vec![[10.0, 10.0, 1.0], [190.0, 97.0, 1.0]])],
        200,
        120,
        WHITE,
    )
    .unwrap();
    let grey = img.pixels().filter(|p| (40..215).contains(&p.0[0])).count();
    assert!(
        grey > 50,
        "only {grey} intermediate pixels: not anti-aliased"
    );
}

#[test]
fn pressure_varies_width() {
    // Pressure ramps from 0.1 on the left to 1.0 on the right.
    let points = (0..=100)
        .map(|i| [10.0 + i as f32 * 1.8, 50.0, 0.1 + 0.9 * i as f32 / 100.0])
        .collect();
    let img = rasterise_sketch(&[pen(20.0, points)], 200, 100, WHITE).unwrap();
    let thin = thickness(&img, 30);
    let thick = thickness(&img, 180);
    assert!(
        thin >= 1 && thick >= 17 && thick > thin * 3,
        "thin {thin}, thick {thick}"
    );
    // Full pressure draws the nominal width.
    let full = rasterise_sketch(
        &[pen(20.0, vec![[10.0, 50.0, 1.0], [190.0, 50.0, 1.0]])],
        200,
        100,
        WHITE,
    )
    .unwrap();
    assert!((19..=21).contains(&thickness(&full, 100)));
}

#[test]
fn translucent_strokes_do_not_darken_where_they_overlap_themselves() {
    let stroke = Stroke {
        color: [0, 0, 0, 128],
        ..pen(
            10.0,
            vec![[10.0, 50.0, 1.0], [190.0, 50.0, 1.0], [10.0, 52.0, 1.0]],
        )
    };
    let img = rasterise_sketch(&[stroke], 200, 100, WHITE).unwrap();
    let value = img.get_pixel(100, 51).0[0];
    assert!((120..=135).contains(&value), "doubled-up alpha: {value}");
}

#[test]
fn eraser_paints_the_background() {
    let line = pen(10.0, vec![[10.0, 50.0, 1.0], [190.0, 50.0, 1.0]]);
    let cut = eraser(20.0, vec![[100.0, 10.0, 1.0], [100.0, 90.0, 1.0]]);
    let img = rasterise_sketch(&[line.clone(), cut.clone()], 200, 100, WHITE).unwrap();
    assert_eq!(
        img.get_pixel(100, 50).0,
        WHITE,
        "erased, and not in the eraser's colour"
    );
    assert!(
        img.get_pixel(50, 50).0[0] < 10,
        "the rest of the line stays"
    );
    // On a transparent canvas erasing restores transparency.
    let clear = rasterise_sketch(&[line, cut], 200, 100, [0, 0, 0, 0]).unwrap();
    assert_eq!(clear.get_pixel(100, 50).0[3], 0);
    assert_eq!(clear.get_pixel(50, 50).0[3], 255);
}

#[test]
fn single_points_draw_dots() {
    let img = rasterise_sketch(&[pen(10.0, vec![[50.0, 50.0, 1.0]])], 100, 100, WHITE).unwrap();
    assert!(img.get_pixel(50, 50).0[0] < 10);
    assert_eq!(img.get_pixel(60, 60).0, WHITE);
}

#[test]
fn canvas_size_is_validated() {
    assert!(matches!(
        rasterise_sketch(&[], 0, 10, WHITE),
        Err(MediaError::InvalidArgument(_))
    ));
    assert!(matches!(
        rasterise_sketch(&[], 10, 0, WHITE),
        Err(MediaError::InvalidArgument(_))
    ));
    assert!(matches!(
        rasterise_sketch(&[], 100_000, 100_000, WHITE),
        Err(MediaError::TooLarge { .. })
    ));
    assert!(matches!(
        rasterise_sketch(&[], 8000, 8000, WHITE),
        Err(MediaError::TooLarge { .. })
    ));
    assert_eq!(
        rasterise_sketch(&[], 3, 2, WHITE).unwrap().dimensions(),
        (3, 2)
    );
}

#[test]
fn hostile_strokes_do_not_panic() {
    let nan = f32::NAN;
    let inf = f32::INFINITY;
    let strokes = vec![
        pen(nan, vec![[10.0, 10.0, 1.0], [20.0, 20.0, 1.0]]),
        pen(inf, vec![[10.0, 10.0, 1.0]]),
        pen(-5.0, vec![[10.0, 10.0, 1.0]]),
        pen(1e30, vec![[50.0, 50.0, 1.0]]),
        pen(
            5.0,
            vec![
                [nan, 10.0, 1.0],
                [inf, -inf, 1.0],
                [1e30, -1e30, nan],
                [30.0, 30.0, -7.0],
            ],
        ),
        pen(
            5.0,
            vec![[10.0, 10.0, 1e9], [f32::MAX, f32::MIN, f32::MIN_POSITIVE]],
        ),
        pen(5.0, vec![]),
        eraser(nan, vec![[1.0, 1.0, 1.0]]),
    ];
    let img = rasterise_sketch(&strokes, 100, 100, WHITE).unwrap();
    assert_eq!(img.dimensions(), (100, 100));
    // The huge-width dot covers everything; nothing else broke.
    assert!(img.pixels().all(|p| p.0[0] < 10));
}

#[test]
fn millions_of_points_are_thinned_not_choked_on() {
    let points: Vec<[f32; 3]> = (0..2_000_000u32)
        .map(|i| {
            let t = i as f32 / 2_000_000.0;
            [
                100.0 + (t * 500.0).cos() * 80.0 * t,
                100.0 + (t * 500.0).sin() * 80.0 * t,
                1.0,
            ]
        })
        .collect();
    let started = std::time::Instant::now();
    let img = rasterise_sketch(&[pen(2.0, points)], 200, 200, WHITE).unwrap();
    assert!(img.pixels().filter(|p| p.0[0] < 128).count() > 1000);
    assert!(
        started.elapsed().as_secs() < 20,
        "took {:?}",
        started.elapsed()
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_strokes_never_panic(
        strokes in prop::collection::vec(
            (
                any::<bool>(),
                any::<[u8; 4]>(),
                any::<f32>(),
                prop::collection::vec(any::<[f32; 3]>(), 0..40),
            ),
            0..6,
        ),
        width in 1u32..64,
        height in 1u32..64,
    ) {
        let strokes: Vec<Stroke> = strokes
            .into_iter()
            .map(|(erase, color, width, points)| Stroke {
                tool: if erase { StrokeTool::Eraser } else { StrokeTool::Pen },
                color,
                width,
                points,
            })
            .collect();
        let img = rasterise_sketch(&strokes, width, height, [10, 20, 30, 255]).unwrap();
        prop_assert_eq!(img.dimensions(), (width, height));
        // The background is opaque and nothing is ever subtracted from alpha.
        prop_assert!(img.pixels().all(|p| p.0[3] == 255));
    }
}
