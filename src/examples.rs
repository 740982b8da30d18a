//! Example projects, made entirely from media this program draws itself (no downloaded or
//! third-party files): `storyboard` uses every node kind; `small` is three nodes.

use std::path::Path;

use aktion_graph::project::{import_asset_bytes, save};
use aktion_graph::sketch::{Stroke, StrokeTool};
use aktion_graph::{Catalog, Document, Node, NodeId, Wire};
use image::{Rgba, RgbaImage};

use crate::cli::Failure;

struct Builder<'a> {
    doc: Document,
    root: &'a Path,
}

impl Builder<'_> {
    fn node(
        &mut self,
        kind: &str,
        title: &str,
        pos: [f32; 2],
        seed: u64,
    ) -> Result<NodeId, Failure> {
        let schema = Catalog::builtin()
            .get(kind)
            .ok_or_else(|| anyhow::anyhow!("no kind {kind}"))?;
        let mut n = Node::new(schema, pos);
        title.clone_into(&mut n.title);
        if n.params.contains_key("seed") {
            n.params.insert("seed".into(), seed.into());
        }
        Ok(self.doc.add_node(n))
    }

    fn set(&mut self, id: NodeId, key: &str, value: impl Into<serde_json::Value>) {
        if let Some(n) = self.doc.node_mut(id) {
            n.params.insert(key.into(), value.into());
        }
    }

    fn file(&mut self, id: NodeId, name: &str, bytes: &[u8]) -> Result<(), Failure> {
        let asset = import_asset_bytes(self.root, name, bytes)?;
        self.set(id, "file", asset.to_value());
        Ok(())
    }

    fn wire(&mut self, from: NodeId, to: NodeId, input: &str, slot: u32) -> Result<(), Failure> {
        let w = Wire {
            from,
            to,
            input: input.into(),
            slot,
        };
        self.doc
            .connect(Catalog::builtin(), w, false)
            .map(|_| ())
            .map_err(Failure::from)
    }
}

pub fn make(which: &str, dir: &Path) -> Result<u8, Failure> {
    if which == "landing-clip" {
        // The account server's landing page background (crates/aktion_server/assets).
        let gif = aktion_media::encode_gif(&landing_loop(&skyline(1280, 540), 480, 270, 48, 12))?;
        std::fs::write(dir, gif)?;
        println!("wrote {}", dir.display());
        return Ok(0);
    }
    let mut b = Builder {
        doc: Document::default(),
        root: dir,
    };
    match which {
        "storyboard" => storyboard(&mut b)?,
        "small" => small(&mut b)?,
        other => return Err(Failure::input(format!("unknown example `{other}`"))),
    }
    save(dir, &b.doc)?;
    println!("wrote {}", dir.display());
    Ok(0)
}

fn small(b: &mut Builder<'_>) -> Result<(), Failure> {
    b.doc.name = "Small board".into();
    let p = b.node("prompt", "Logline", [0.0, 0.0], 0)?;
    b.set(
        p,
        "text",
        "A lighthouse keeper sees a ship made of light, storm at dusk",
    );
    let t = b.node("t2i", "Key frame", [320.0, 0.0], 11)?;
    let v = b.node("i2v", "Push in", [640.0, 0.0], 12)?;
    b.set(v, "prompt", "slow push in, waves crashing");
    b.wire(p, t, "prompt", 0)?;
    b.wire(t, v, "image", 0)
}

fn storyboard(b: &mut Builder<'_>) -> Result<(), Failure> {
    b.doc.name = "Rooftop showdown — storyboard".into();
    let col = |c: u8| f32::from(c) * 340.0;
    let row = |r: u8| f32::from(r) * 360.0;

    let style = b.node("prompt", "Style", [col(0), row(0)], 0)?;
    b.set(
        style,
        "text",
        "rain-soaked neon noir, anamorphic, high contrast",
    );
    let location = b.node("image", "Location: rooftop", [col(0), row(1)], 0)?;
    b.file(location, "rooftop.png", &png(&skyline(960, 540)))?;
    let hero_ref = b.node("image", "Hero reference", [col(0), row(2)], 0)?;
    b.file(
        hero_ref,
        "hero-reference.png",
        &png(&portrait(512, 640, [200, 120, 60])),
    )?;
    let dialogue = b.node("audio", "Dialogue: \"Not tonight.\"", [col(0), row(3)], 0)?;
    b.file(dialogue, "dialogue.wav", &speech_like_wav(2.5))?;
    let rehearsal = b.node("video", "Rehearsal clip", [col(0), row(4)], 0)?;
    b.file(rehearsal, "rehearsal.gif", &rehearsal_gif()?)?;
    let sketch = b.node("sketch", "Punch sketch", [col(0), row(5)], 0)?;
    b.set(sketch, "strokes", serde_json::to_value(punch_strokes())?);

    let hero = b.node("character", "Hero: Mara", [col(1), row(1)], 101)?;
    b.set(
        hero,
        "prompt",
        "Mara, 30s, scar over left eye, long dark coat",
    );
    b.wire(hero_ref, hero, "refs", 0)?;
    let villain = b.node("t2i", "Villain: the Broker", [col(1), row(0)], 102)?;
    b.wire(style, villain, "prompt", 0)?;
    let s2i = b.node("sketch_to_image", "Punch frame", [col(1), row(5)], 103)?;
    b.set(
        s2i,
        "prompt",
        "Mara throws a punch, rain spray, neon backlight",
    );
    b.wire(sketch, s2i, "sketch", 0)?;
    let night = b.node("i2i", "Rooftop at night", [col(1), row(2)], 104)?;
    b.set(
        night,
        "prompt",
        "same rooftop at night, heavy rain, neon signs",
    );
    b.wire(location, night, "image", 0)?;

    let pose = b.node("action_pose", "Mara mid-punch", [col(2), row(4)], 105)?;
    b.wire(hero, pose, "character", 0)?;
    b.wire(sketch, pose, "pose", 0)?;
    let talk = b.node("t2v", "Mara speaks", [col(2), row(2)], 106)?;
    b.set(talk, "duration", 2.5);
    b.wire(hero, talk, "portrait", 0)?;
    b.wire(dialogue, talk, "audio", 0)?;
    let sync = b.node("lip_sync", "Rehearsal, synced", [col(2), row(3)], 107)?;
    b.wire(rehearsal, sync, "video", 0)?;
    b.wire(dialogue, sync, "audio", 0)?;
    let shot_node = b.node("i2v", "Shot 12: the punch", [col(3), row(4)], 108)?;
    b.set(shot_node, "prompt", "slow-motion punch, camera orbits");
    b.wire(pose, shot_node, "image", 0)?;
    let seq = b.node(
        "sequence",
        "Shot 13: rooftop to punch",
        [col(2), row(5)],
        109,
    )?;
    b.set(
        seq,
        "prompt",
        "camera cranes down from the skyline onto the fight",
    );
    b.set(seq, "length", 33);
    b.wire(night, seq, "first_frame", 0)?;
    b.wire(s2i, seq, "last_frame", 0)?;
    let scene = b.node(
        "coherent_scene",
        "Epic scene: the showdown",
        [col(3), row(1)],
        110,
    )?;
    b.set(scene, "prompt", "the showdown on the rooftop, wide shot");
    for (slot, from) in [hero, villain, location, night, s2i, hero_ref]
        .into_iter()
        .enumerate()
    {
        b.wire(from, scene, "images", u32::try_from(slot).unwrap_or(0))?;
    }
    b.doc.frames = vec![
        aktion_graph::Frame::new("References", [-30.0, -50.0, 300.0, 2230.0]),
        aktion_graph::Frame::new("Shot 12–13: the punch", [650.0, 1390.0, 700.0, 760.0]),
    ];
    storyboard_sequence(b, [scene, villain, talk, seq, shot_node], dialogue);
    Ok(())
}

/// The film in outline: five shots in order, with timing, dialogue and camera.
fn storyboard_sequence(b: &mut Builder<'_>, nodes: [NodeId; 5], dialogue: NodeId) {
    let [scene, villain, talk, seq, shot_node] = nodes;
    let shot = |node: NodeId, title: &str, description: &str, camera: [&str; 4]| {
        let mut s = aktion_graph::Shot::new(node);
        title.clone_into(&mut s.title);
        description.clone_into(&mut s.description);
        s.camera = aktion_graph::sequence::Camera {
            shot_type: camera[0].into(),
            angle: camera[1].into(),
            movement: camera[2].into(),
            lens: camera[3].into(),
        };
        s
    };
    let mut speaks = shot(
        talk,
        "Mara speaks",
        "Mara turns to the Broker, rain running off her coat.",
        ["MCU", "eye level", "static", "50mm"],
    );
    speaks.dialogue = "Not tonight.".into();
    speaks.dialogue_node = Some(dialogue);
    let mut broker = shot(
        villain,
        "The Broker",
        "The Broker under a neon sign, unimpressed.",
        ["CU", "low", "static", "85mm"],
    );
    broker.hold_ms = Some(2_000);
    b.doc.sequence.shots = vec![
        shot(
            scene,
            "The showdown",
            "The rooftop in heavy rain; Mara and the Broker face each other.",
            ["WS", "eye level", "crane", "24mm"],
        ),
        broker,
        speaks,
        shot(
            seq,
            "Rooftop to punch",
            "The camera cranes down from the skyline onto the fight.",
            ["WS", "high", "crane", "24mm"],
        ),
        shot(
            shot_node,
            "The punch",
            "Slow motion: Mara's punch lands, the camera orbits.",
            ["MS", "eye level", "dolly in", "35mm"],
        ),
    ];
}

fn png(img: &RgbaImage) -> Vec<u8> {
    aktion_media::encode_png(img, &[("aktion:example", "generated")]).unwrap_or_default()
}

/// A dusk skyline: gradient sky, a moon, building silhouettes with lit windows.
fn skyline(w: u32, h: u32) -> RgbaImage {
    let mut img = RgbaImage::from_fn(w, h, |_, y| {
        let t = y as f32 / h as f32;
        let mix = |a: f32, b: f32| (a + (b - a) * t) as u8;
        Rgba([mix(40.0, 230.0), mix(30.0, 120.0), mix(90.0, 80.0), 255])
    });
    let (mx, my, mr) = (w as f32 * 0.75, h as f32 * 0.25, h as f32 * 0.08);
    for y in 0..h {
        for x in 0..w {
            let d = ((x as f32 - mx).powi(2) + (y as f32 - my).powi(2)).sqrt();
            if d < mr {
                img.put_pixel(x, y, Rgba([245, 240, 220, 255]));
            }
        }
    }
    let mut x = 0u32;
    let mut k = 7u32;
    while x < w {
        k = k.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let bw = 40 + (k >> 8) % 90;
        let bh = h / 4 + (k >> 16) % (h / 2);
        for yy in h.saturating_sub(bh)..h {
            for xx in x..(x + bw).min(w) {
                let lit = (xx / 8 + yy / 12 + k).is_multiple_of(7) && xx % 8 > 2 && yy % 12 > 4;
                let c = if lit {
                    [250, 210, 120, 255]
                } else {
                    [18, 16, 28, 255]
                };
                img.put_pixel(xx, yy, Rgba(c));
            }
        }
        x += bw + 6;
    }
    img
}

/// The landing page's background: a slow pan across the skyline and back with the city's
/// windows flickering, made for the page — no draft badge or caption, and the last frame
/// leads into the first (a cosine ping-pong; each window's flicker runs a whole number of
/// cycles), so the loop has no seam.
fn landing_loop(src: &RgbaImage, w: u32, h: u32, frames: u32, fps: u32) -> aktion_media::Clip {
    let (sw, sh) = (src.width(), src.height());
    // The window keeps the page's aspect and the source's full height.
    let crop_w = (u64::from(sh) * u64::from(w) / u64::from(h.max(1))).min(u64::from(sw));
    let crop_w = u32::try_from(crop_w).unwrap_or(sw);
    let travel = f64::from(sw - crop_w);
    let out = (0..frames)
        .map(|i| {
            let t = f64::from(i) / f64::from(frames);
            let along = (1.0 - (std::f64::consts::TAU * t).cos()) / 2.0;
            #[expect(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                reason = "within the source"
            )]
            let left = (travel * along).round() as u32;
            let window = image::imageops::crop_imm(src, left, 0, crop_w, sh).to_image();
            let mut frame =
                image::imageops::resize(&window, w, h, image::imageops::FilterType::Triangle);
            // Lit windows breathe: brightness on a cycle of the whole loop, phase per pixel
            // column block, so frame `frames` equals frame 0.
            for (x, _, p) in frame.enumerate_pixels_mut() {
                let Rgba([r, g, b, a]) = *p;
                if r > 200 && g > 150 && b < 160 {
                    let phase = f64::from((x / 6) % 7) / 7.0;
                    let k = 0.8 + 0.2 * (std::f64::consts::TAU * (t + phase)).cos();
                    #[expect(
                        clippy::cast_possible_truncation,
                        clippy::cast_sign_loss,
                        reason = "scaled down"
                    )]
                    let dim = |c: u8| (f64::from(c) * k).round() as u8;
                    *p = Rgba([dim(r), dim(g), dim(b), a]);
                }
            }
            frame
        })
        .collect();
    aktion_media::Clip { frames: out, fps }
}

/// A simple head-and-shoulders figure on a plain backdrop.
fn portrait(w: u32, h: u32, coat: [u8; 3]) -> RgbaImage {
    let (cx, cy, r) = (w as f32 / 2.0, h as f32 * 0.38, w as f32 * 0.18);
    RgbaImage::from_fn(w, h, |x, y| {
        let (fx, fy) = (x as f32, y as f32);
        let head = ((fx - cx).powi(2) + (fy - cy).powi(2)).sqrt() < r;
        let shoulders =
            fy > h as f32 * 0.62 && (fx - cx).abs() < w as f32 * 0.38 - (fy - h as f32) * -0.1;
        if head {
            Rgba([224, 180, 150, 255])
        } else if shoulders {
            Rgba([coat[0], coat[1], coat[2], 255])
        } else {
            let t = y as f32 / h as f32;
            Rgba([(70.0 + 40.0 * t) as u8, (80.0 + 30.0 * t) as u8, 100, 255])
        }
    })
}

/// A short clip: a figure crossing the frame.
fn rehearsal_gif() -> Result<Vec<u8>, Failure> {
    let frames = (0..12)
        .map(|i| {
            let mut f = portrait(320, 240, [40, 60, 140]);
            let x0 = 20 + i * 22;
            for y in 150..230 {
                for x in x0..(x0 + 30).min(320) {
                    f.put_pixel(x, y, Rgba([230, 60, 60, 255]));
                }
            }
            f
        })
        .collect();
    aktion_media::encode_gif(&aktion_media::Clip { frames, fps: 8 }).map_err(Failure::from)
}

/// 16-bit mono WAV of syllable-like bursts (a stand-in for a line of dialogue).
fn speech_like_wav(seconds: f32) -> Vec<u8> {
    let rate = 16_000u32;
    let n = (seconds * rate as f32) as u32;
    let mut data = Vec::with_capacity(n as usize * 2);
    for i in 0..n {
        let t = i as f32 / rate as f32;
        let envelope = (t * 5.0 * std::f32::consts::TAU).sin().abs() * (1.0 - t / seconds);
        let tone = (t * 180.0 * std::f32::consts::TAU).sin() * 0.6
            + (t * 540.0 * std::f32::consts::TAU).sin() * 0.3;
        let s = (tone * envelope * 20_000.0) as i16;
        data.extend_from_slice(&s.to_le_bytes());
    }
    let mut wav = Vec::with_capacity(44 + data.len());
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes());
    wav.extend_from_slice(&rate.to_le_bytes());
    wav.extend_from_slice(&(rate * 2).to_le_bytes());
    wav.extend_from_slice(&2u16.to_le_bytes());
    wav.extend_from_slice(&16u16.to_le_bytes());
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&(data.len() as u32).to_le_bytes());
    wav.extend_from_slice(&data);
    wav
}

/// A stick figure throwing a punch.
fn punch_strokes() -> Vec<Stroke> {
    let pen = |points: &[(f32, f32)]| Stroke {
        tool: StrokeTool::Pen,
        color: [0, 0, 0, 255],
        width: 7.0,
        points: points.iter().map(|&(x, y)| [x, y, 1.0]).collect(),
    };
    let circle: Vec<(f32, f32)> = (0..=24)
        .map(|i| {
            let a = i as f32 / 24.0 * std::f32::consts::TAU;
            (300.0 + 40.0 * a.cos(), 120.0 + 40.0 * a.sin())
        })
        .collect();
    vec![
        pen(&circle),
        pen(&[(300.0, 160.0), (320.0, 300.0)]),
        pen(&[(305.0, 190.0), (420.0, 180.0), (520.0, 175.0)]),
        pen(&[(305.0, 195.0), (250.0, 250.0), (270.0, 290.0)]),
        pen(&[(320.0, 300.0), (380.0, 400.0), (400.0, 480.0)]),
        pen(&[(320.0, 300.0), (260.0, 390.0), (200.0, 470.0)]),
        pen(&[(540.0, 150.0), (580.0, 130.0)]),
        pen(&[(545.0, 175.0), (600.0, 175.0)]),
        pen(&[(540.0, 200.0), (580.0, 220.0)]),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The landing page's clip is made for the page: no draft badge or caption, and a loop
    /// without a seam (the frame after the last is the first); the committed asset is what
    /// this code makes.
    #[test]
    fn the_landing_clip_loops_without_a_seam_or_a_badge() {
        let src = skyline(1280, 540);
        let clip = landing_loop(&src, 480, 270, 48, 12);
        assert_eq!(clip.frames.len(), 48);
        let diff = |a: &RgbaImage, b: &RgbaImage| -> f64 {
            let total: u64 = a
                .as_raw()
                .iter()
                .zip(b.as_raw())
                .map(|(x, y)| u64::from(x.abs_diff(*y)))
                .sum();
            total as f64 / a.as_raw().len() as f64
        };
        let last = &clip.frames[47];
        let step = diff(&clip.frames[0], &clip.frames[1]);
        // The frame after the last is the first again.
        let seam = diff(last, &clip.frames[0]);
        assert!(
            seam <= step * 1.5,
            "the loop's seam ({seam:.2}) is no bigger than a step ({step:.2})"
        );
        // The draft animatic's badge sat in the top-left corner: here it is sky.
        let corner = clip.frames[0].get_pixel(12, 12);
        let sky = clip.frames[0].get_pixel(240, 12);
        assert!(
            corner.0.iter().zip(sky.0).all(|(a, b)| a.abs_diff(b) < 24),
            "{corner:?} vs {sky:?}"
        );
        let gif = aktion_media::encode_gif(&clip).expect("gif");
        assert!(
            gif == include_bytes!("../crates/aktion_server/assets/landing.gif"),
            "run `aktion make-example landing-clip crates/aktion_server/assets/landing.gif`"
        );
    }
}
