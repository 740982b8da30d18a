use aktion_graph::sketch::{Stroke, StrokeTool};
use aktion_media::draft::{
    self, MAX_CLIP_FPS, MAX_CLIP_FRAMES, MAX_CLIP_SIDE, SCENE_SIZE, scene_cells,
};
use aktion_media::{Audio, MediaError, rasterise_sketch};
use image::RgbaImage;

use super::util::{assert_draft_badge, close, digest, distinct_colours, solid, test_picture};

const PROMPT: &str = "a lone rider crosses the salt flats at dawn";

#[test]
fn placeholder_card_is_labelled_seeded_and_deterministic() {
    let card = draft::placeholder_card("Character", PROMPT, 320, 240, 7).unwrap();
    assert_eq!(card.dimensions(), (320, 240));
    assert!(distinct_colours(&card) > 200, "too flat");
    assert_draft_badge(&card);
    let again = draft::placeholder_card("Character", PROMPT, 320, 240, 7).unwrap();
    assert_eq!(digest(&card), digest(&again));
    // The seed picks the colours (a corner far from any text differs) ...
    let reseeded = draft::placeholder_card("Character", PROMPT, 320, 240, 8).unwrap();
    assert_ne!(card.get_pixel(310, 235), reseeded.get_pixel(310, 235));
    // ... and the prompt is written on the card: only the text area changes.
    let reprompted = draft::placeholder_card("Character", "a different idea", 320, 240, 7).unwrap();
    assert_ne!(digest(&card), digest(&reprompted));
    assert_eq!(card.get_pixel(310, 235), reprompted.get_pixel(310, 235));
    // Long prompts wrap instead of running off the card; empty ones still render.
    let long = PROMPT.repeat(40);
    assert!(draft::placeholder_card("Text to Image", &long, 200, 300, 1).is_ok());
    assert!(draft::placeholder_card("", "", 16, 16, 1).is_ok());
}

#[test]
fn draft_sizes_are_validated() {
    for (w, h) in [
        (0, 100),
        (100, 0),
        (15, 100),
        (5000, 100),
        (u32::MAX, u32::MAX),
    ] {
        assert!(
            matches!(
                draft::placeholder_card("t2i", PROMPT, w, h, 1),
                Err(MediaError::InvalidArgument(_))
            ),
            "{w}×{h}"
        );
    }
    let sketch = solid(50, 50, [255, 255, 255, 255]);
    assert!(matches!(
        draft::shaded_sketch(&sketch, PROMPT, 0, 10, 1),
        Err(MediaError::InvalidArgument(_))
    ));
    let empty = RgbaImage::new(0, 0);
    assert!(matches!(
        draft::shaded_sketch(&empty, PROMPT, 64, 64, 1),
        Err(MediaError::InvalidArgument(_))
    ));
    assert!(matches!(
        draft::restyle(&empty, PROMPT, 0.5, 1),
        Err(MediaError::InvalidArgument(_))
    ));
}

/// A closed circle and an open stroke drawn with the real rasteriser.
fn sketch() -> RgbaImage {
    let circle: Vec<[f32; 3]> = (0..=64)
        .map(|i| {
            let a = i as f32 / 64.0 * std::f32::consts::TAU;
            [100.0 + a.cos() * 50.0, 100.0 + a.sin() * 50.0, 1.0]
        })
        .collect();
    let strokes = vec![
        Stroke {
            tool: StrokeTool::default(),
            color: [0, 0, 0, 255],
            width: 4.0,
            points: circle,
        },
        Stroke {
            tool: StrokeTool::default(),
            color: [0, 0, 0, 255],
            width: 3.0,
            points: vec![[10.0, 180.0, 1.0], [190.0, 170.0, 1.0]],
        },
    ];
    rasterise_sketch(&strokes, 200, 200, [255, 255, 255, 255]).expect("rasterising the test sketch")
}

#[test]
fn shaded_sketch_fills_closed_shapes_and_keeps_lines() {
    let out = draft::shaded_sketch(&sketch(), PROMPT, 200, 200, 3).unwrap();
    assert_eq!(out.dimensions(), (200, 200));
    assert_draft_badge(&out);
    let line = out.get_pixel(150, 100).0; // on the circle's outline
    let inside = out.get_pixel(100, 100).0;
    let outside = out.get_pixel(180, 100).0;
    assert!(
        line.iter().take(3).all(|&c| c < 90),
        "ink should be dark: {line:?}"
    );
    assert!(
        !close(inside, outside, 12),
        "the enclosed shape should be filled: {inside:?} vs {outside:?}"
    );
    assert_eq!(
        digest(&out),
        digest(&draft::shaded_sketch(&sketch(), PROMPT, 200, 200, 3).unwrap())
    );
    let reseeded = draft::shaded_sketch(&sketch(), PROMPT, 200, 200, 4).unwrap();
    assert_ne!(reseeded.get_pixel(100, 100), out.get_pixel(100, 100));
    // Another output size and aspect: the sketch is fitted, not stretched.
    let wide = draft::shaded_sketch(&sketch(), "", 320, 160, 3).unwrap();
    assert_eq!(wide.dimensions(), (320, 160));
    assert!(wide.get_pixel(160, 80).0 != wide.get_pixel(20, 80).0);
    // A sketch on a transparent canvas works the same.
    let transparent = rasterise_sketch(
        &[Stroke {
            tool: StrokeTool::default(),
            color: [0, 0, 0, 255],
            width: 6.0,
            points: vec![[5.0, 5.0, 1.0], [60.0, 60.0, 1.0]],
        }],
        64,
        64,
        [0, 0, 0, 0],
    )
    .unwrap();
    let out = draft::shaded_sketch(&transparent, PROMPT, 64, 64, 1).unwrap();
    assert!(out.get_pixel(32, 32).0[0] < 90);
}

#[test]
fn restyle_mixes_by_strength_and_seed() {
    let src = test_picture(160, 120);
    let none = draft::restyle(&src, PROMPT, 0.0, 1).unwrap();
    let full = draft::restyle(&src, PROMPT, 1.0, 1).unwrap();
    assert_eq!(full.dimensions(), (160, 120));
    assert_draft_badge(&full);
    // Strength 0 keeps the picture (away from badge and caption) ...
    assert_eq!(none.get_pixel(120, 40), src.get_pixel(120, 40));
    // ... strength 1 changes it, and the seed changes the palette.
    assert!(!close(
        full.get_pixel(120, 40).0,
        src.get_pixel(120, 40).0,
        10
    ));
    let other = draft::restyle(&src, PROMPT, 1.0, 2).unwrap();
    assert_ne!(digest(&full), digest(&other));
    assert_eq!(
        digest(&full),
        digest(&draft::restyle(&src, PROMPT, 1.0, 1).unwrap())
    );
    assert!(matches!(
        draft::restyle(&src, PROMPT, f32::NAN, 1),
        Err(MediaError::InvalidArgument(_))
    ));
    // Tiny and huge inputs are resized to a workable size.
    assert!(
        draft::restyle(&solid(3, 3, [9, 9, 9, 255]), "", 0.5, 1)
            .unwrap()
            .width()
            >= 64
    );
    let big = draft::restyle(&test_picture(3000, 1000), "", 0.5, 1).unwrap();
    assert_eq!(big.dimensions(), (2048, 683));
}

#[test]
fn pose_composite_overlays_the_pose() {
    let character = solid(200, 200, [90, 120, 160, 255]);
    let pose = sketch();
    let weak = draft::pose_composite(&character, &pose, 0.0, PROMPT).unwrap();
    let strong = draft::pose_composite(&character, &pose, 1.0, PROMPT).unwrap();
    assert_eq!(strong.dimensions(), (200, 200));
    assert_draft_badge(&strong);
    // On a pose stroke: the guide colour shows at full strength and not at zero strength.
    let on_line = strong.get_pixel(150, 100).0;
    assert!(
        on_line[0] > 200 && on_line[2] < 120,
        "pose line not drawn: {on_line:?}"
    );
    assert!(close(weak.get_pixel(150, 100).0, [90, 120, 160, 255], 2));
    assert_eq!(
        digest(&strong),
        digest(&draft::pose_composite(&character, &pose, 1.0, PROMPT).unwrap())
    );
    assert!(matches!(
        draft::pose_composite(&character, &RgbaImage::new(0, 0), 1.0, PROMPT),
        Err(MediaError::InvalidArgument(_))
    ));
}

#[test]
fn scene_layout_needs_exactly_six_and_shows_each() {
    let colours = [
        [230, 30, 30, 255],
        [30, 230, 30, 255],
        [30, 30, 230, 255],
        [230, 230, 30, 255],
        [30, 230, 230, 255],
        [230, 30, 230, 255],
    ];
    let images: Vec<RgbaImage> = colours.iter().map(|&c| solid(300, 200, c)).collect();
    for n in [0, 1, 5, 7] {
        let many: Vec<RgbaImage> = images.iter().cycle().take(n).cloned().collect();
        let err = draft::scene_layout(&many, PROMPT).unwrap_err();
        assert!(
            matches!(err, MediaError::InvalidArgument(_)),
            "{n}: {err:?}"
        );
        assert!(err.to_string().contains("exactly 6"));
    }
    let board = draft::scene_layout(&images, PROMPT).unwrap();
    assert_eq!(board.dimensions(), SCENE_SIZE);
    assert_draft_badge(&board);
    for (i, (&(x, y, w, h), colour)) in scene_cells().iter().zip(&colours).enumerate() {
        let centre = board.get_pixel(x + w / 2, y + h / 3).0;
        // Graded towards the common mean, but each cell's own colour still dominates.
        let dominant = (0..3).max_by_key(|&c| colour[c]).unwrap();
        assert!(
            centre[dominant] > 150,
            "cell {i} lost its image: {centre:?}"
        );
    }
    assert_eq!(
        digest(&board),
        digest(&draft::scene_layout(&images, PROMPT).unwrap())
    );
    // Cells are disjoint and inside the board.
    let cells = scene_cells();
    for (i, a) in cells.iter().enumerate() {
        assert!(a.0 + a.2 <= SCENE_SIZE.0 && a.1 + a.3 <= SCENE_SIZE.1);
        for b in &cells[i + 1..] {
            let apart =
                a.0 + a.2 <= b.0 || b.0 + b.2 <= a.0 || a.1 + a.3 <= b.1 || b.1 + b.3 <= a.1;
            assert!(apart, "{a:?} overlaps {b:?}");
        }
    }
}

#[test]
fn animatic_pan_moves_and_respects_caps() {
    let still = test_picture(800, 600);
    let clip = draft::animatic_pan(&still, PROMPT, 1.0, 8, 320, 180, 5).unwrap();
    assert_eq!(clip.fps, 8);
    assert_eq!(clip.frames.len(), 8);
    assert!(clip.frames.iter().all(|f| f.dimensions() == (320, 180)));
    assert_draft_badge(&clip.frames[0]);
    assert_draft_badge(&clip.frames[7]);
    assert_ne!(
        digest(&clip.frames[0]),
        digest(&clip.frames[7]),
        "the camera should move"
    );
    let again = draft::animatic_pan(&still, PROMPT, 1.0, 8, 320, 180, 5).unwrap();
    assert_eq!(clip, again);
    let reseeded = draft::animatic_pan(&still, PROMPT, 1.0, 8, 320, 180, 6).unwrap();
    assert_ne!(clip.frames[7], reseeded.frames[7]);
    // Caps: fps to 12, size to 640 on the longer side (even), frames to the maximum.
    let capped = draft::animatic_pan(&still, PROMPT, 1000.0, 60, 1920, 1080, 1).unwrap();
    assert_eq!(capped.fps, MAX_CLIP_FPS);
    assert_eq!(capped.frames.len(), MAX_CLIP_FRAMES as usize);
    assert_eq!(capped.frames[0].dimensions(), (MAX_CLIP_SIDE, 360));
    for bad in [0.0, -1.0, f32::NAN, f32::INFINITY] {
        assert!(matches!(
            draft::animatic_pan(&still, PROMPT, bad, 8, 320, 180, 1),
            Err(MediaError::InvalidArgument(_))
        ));
    }
    assert!(draft::animatic_pan(&still, PROMPT, 1.0, 0, 320, 180, 1).is_err());
}

#[test]
fn animatic_crossfade_goes_from_first_to_last() {
    let first = solid(100, 100, [250, 20, 20, 255]);
    let last = solid(100, 100, [20, 20, 250, 255]);
    let clip = draft::animatic_crossfade(&first, &last, PROMPT, 9, 6, 160, 120).unwrap();
    assert_eq!(clip.frames.len(), 9);
    assert_eq!(clip.fps, 6);
    let probe = |i: usize| clip.frames[i].get_pixel(120, 40).0;
    assert!(close(probe(0), [250, 20, 20, 255], 2));
    assert!(close(probe(8), [20, 20, 250, 255], 2));
    let middle = probe(4);
    assert!(
        middle[0] > 100 && middle[2] > 100,
        "halfway should be a mix: {middle:?}"
    );
    assert_draft_badge(&clip.frames[4]);
    assert!(draft::animatic_crossfade(&first, &last, PROMPT, 0, 6, 160, 120).is_err());
    let many = draft::animatic_crossfade(&first, &last, PROMPT, 100_000, 6, 160, 120).unwrap();
    assert_eq!(many.frames.len(), MAX_CLIP_FRAMES as usize);
}

fn tone(seconds: f32, loud_second_half: bool) -> Audio {
    let sample_rate = 8000;
    let samples = (0..(seconds * sample_rate as f32) as usize)
        .map(|i| {
            let t = i as f32 / sample_rate as f32;
            let gain = if loud_second_half && t < seconds / 2.0 {
                0.05
            } else {
                0.8
            };
            (t * 440.0 * std::f32::consts::TAU).sin() * gain
        })
        .collect();
    Audio {
        sample_rate,
        samples,
    }
}

#[test]
fn waveform_clip_follows_the_audio() {
    let still = test_picture(400, 300);
    let audio = tone(2.0, true);
    let clip = draft::waveform_clip(&still, &audio, 10, 320, 240, 30.0).unwrap();
    assert_eq!(clip.frames.len(), 20, "2 s at 10 fps");
    assert_eq!(clip.frames[0].dimensions(), (320, 240));
    assert_draft_badge(&clip.frames[10]);
    // The playhead moves: the band differs between early and late frames.
    let band_row = 240 - 30;
    let row = |f: &RgbaImage| {
        (0..320)
            .map(|x| f.get_pixel(x, band_row).0)
            .collect::<Vec<_>>()
    };
    assert_ne!(row(&clip.frames[1]), row(&clip.frames[18]));
    // The waveform is taller where the audio is louder.
    let height_at = |x: u32| {
        let f = clip.frames.last().unwrap();
        (168..240)
            .filter(|&y| {
                let p = f.get_pixel(x, y).0;
                p[0] > 240 && p[1] > 170 && p[2] < 60
            })
            .count()
    };
    assert!(
        height_at(250) > height_at(60) * 3,
        "loud {} quiet {}",
        height_at(250),
        height_at(60)
    );
    // max_seconds caps the length.
    assert_eq!(
        draft::waveform_clip(&still, &audio, 10, 320, 240, 0.5)
            .unwrap()
            .frames
            .len(),
        5
    );
    let empty = Audio {
        sample_rate: 8000,
        samples: vec![],
    };
    assert!(matches!(
        draft::waveform_clip(&still, &empty, 10, 320, 240, 5.0),
        Err(MediaError::InvalidArgument(_))
    ));
    assert!(draft::waveform_clip(&still, &audio, 10, 320, 240, f32::NAN).is_err());
}
