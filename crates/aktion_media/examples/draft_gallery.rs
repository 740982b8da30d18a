//! Renders every draft renderer's output into a folder, to look at them by eye:
//! `cargo run -p aktion_media --example draft_gallery -- OUT_DIR`

use std::path::PathBuf;

use aktion_graph::sketch::{Stroke, StrokeTool};
use aktion_media::{Audio, draft, encode_gif, encode_png, rasterise_sketch};
use image::{Rgba, RgbaImage};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "draft_gallery".into()),
    );
    std::fs::create_dir_all(&out)?;
    let save = |name: &str, img: &RgbaImage| -> Result<(), Box<dyn std::error::Error>> {
        std::fs::write(
            out.join(name),
            encode_png(img, &[(draft::DRAFT_PNG_KEY, "true")])?,
        )?;
        Ok(())
    };
    let prompt = "a lone rider crosses the salt flats at dawn, long shadows, wide shot";
    save(
        "card.png",
        &draft::placeholder_card("Character", prompt, 512, 640, 42)?,
    )?;

    let mut strokes = Vec::new();
    let ring = |cx: f32, cy: f32, r: f32| -> Vec<[f32; 3]> {
        (0..=80)
            .map(|i| {
                let a = i as f32 / 80.0 * std::f32::consts::TAU;
                [
                    cx + a.cos() * r,
                    cy + a.sin() * r * 0.8,
                    0.4 + 0.6 * (a * 2.0).sin().abs(),
                ]
            })
            .collect()
    };
    for (cx, cy, r) in [(180.0, 200.0, 90.0), (360.0, 260.0, 60.0)] {
        strokes.push(Stroke {
            tool: StrokeTool::Pen,
            color: [20, 20, 20, 255],
            width: 7.0,
            points: ring(cx, cy, r),
        });
    }
    strokes.push(Stroke {
        tool: StrokeTool::Pen,
        color: [20, 20, 20, 255],
        width: 5.0,
        points: (0..100)
            .map(|i| {
                [
                    20.0 + i as f32 * 4.6,
                    380.0 + (i as f32 / 8.0).sin() * 10.0,
                    1.0,
                ]
            })
            .collect(),
    });
    strokes.push(Stroke {
        tool: StrokeTool::Eraser,
        color: [0; 4],
        width: 16.0,
        points: vec![[150.0, 100.0, 1.0], [220.0, 300.0, 1.0]],
    });
    let sketch = rasterise_sketch(&strokes, 480, 420, [255, 255, 255, 255])?;
    save("sketch.png", &sketch)?;
    save(
        "shaded_sketch.png",
        &draft::shaded_sketch(&sketch, prompt, 480, 420, 7)?,
    )?;

    let photo = RgbaImage::from_fn(640, 420, |x, y| {
        let sky = y < 200;
        let v = ((x as f32 / 40.0).sin() * 20.0) as i32;
        if sky {
            Rgba([120, (160 + v) as u8, 230, 255])
        } else {
            Rgba([(200 + v) as u8, 180, 140, 255])
        }
    });
    save("restyle.png", &draft::restyle(&photo, prompt, 0.8, 3)?)?;
    save(
        "pose.png",
        &draft::pose_composite(&photo, &sketch, 0.9, prompt)?,
    )?;
    let six: Vec<RgbaImage> = (0..6)
        .map(|i| draft::placeholder_card(&format!("Shot {}", i + 1), prompt, 320, 200, i))
        .collect::<Result<_, _>>()?;
    save("scene.png", &draft::scene_layout(&six, prompt)?)?;
    let pan = draft::animatic_pan(&photo, prompt, 2.0, 8, 480, 270, 9)?;
    std::fs::write(out.join("pan.gif"), encode_gif(&pan)?)?;
    save("pan_last.png", pan.frames.last().ok_or("no frames")?)?;
    let audio = Audio {
        sample_rate: 8000,
        samples: (0..16_000)
            .map(|i| ((i as f32) / 9.0).sin() * ((i as f32) / 2500.0).sin().abs())
            .collect(),
    };
    let wave = draft::waveform_clip(&photo, &audio, 10, 480, 320, 10.0)?;
    save("waveform_mid.png", &wave.frames[wave.frames.len() / 2])?;
    Ok(())
}
