//! The sequence exports at film size (issue #12, BENCHMARKS.md): a 60-shot 1080p animatic
//! (half clips with sound, half stills, 3 s each: 3 minutes of film) made in-process, its speed
//! against real time; and the 6-up storyboard PDF of the same 60 shots, its time and size.
//!
//! One measured pass each (an export of three minutes of 1080p takes minutes in a debug build
//! and tens of seconds in release; criterion's repeated samples would take an hour), after the
//! media are made. Run with `cargo bench -p aktion_export --bench sequence`.

use std::path::Path;
use std::time::Instant;

use aktion_graph::{Catalog, Document, Node, Shot, Take, TakeId, TakeMeta, TakeOutput};
use aktion_media::{Audio, Mp4Encoder, RgbaImage};

const SHOTS: usize = 60;
const FPS: u32 = 24;
const SECONDS: u32 = 3;
const DISTINCT: usize = 6;

/// A 1080p clip with moving content and a tone, `SECONDS` long.
fn clip(seed: u32) -> Vec<u8> {
    let (w, h) = (1920, 1080);
    let mut enc = Mp4Encoder::new(w, h, FPS).expect("encoder");
    for f in 0..FPS * SECONDS {
        let img = RgbaImage::from_fn(w, h, |x, y| {
            let v = (x + y + f * 7 + seed * 40) % 256;
            #[expect(clippy::cast_possible_truncation, reason = "below 256")]
            image::Rgba([
                v as u8,
                ((x / 8 + f) % 256) as u8,
                ((y / 8 + seed) % 256) as u8,
                255,
            ])
        });
        enc.push(&img).expect("frame");
    }
    let rate = 48_000;
    #[expect(clippy::cast_precision_loss, reason = "sample index")]
    let samples = (0..rate * SECONDS)
        .map(|i| (i as f32 * 0.05 * (1.0 + seed as f32 * 0.1)).sin() * 0.2)
        .collect();
    enc.finish(Some(&Audio {
        sample_rate: rate,
        samples,
    }))
    .expect("mp4")
}

/// A 1080p PNG still.
fn still(seed: u32) -> Vec<u8> {
    let img = RgbaImage::from_fn(1920, 1080, |x, y| {
        #[expect(clippy::cast_possible_truncation, reason = "below 256")]
        image::Rgba([
            ((x / 4 + seed * 30) % 256) as u8,
            ((y / 4) % 256) as u8,
            90,
            255,
        ])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .expect("png");
    out.into_inner()
}

fn take(root: &Path, bytes: &[u8], mime: &str, name: &str) -> Take {
    let hash = blake3::hash(bytes).to_hex().to_string();
    let path = aktion_graph::project::take_path(root, &hash).expect("hash");
    std::fs::create_dir_all(path.parent().expect("dir")).expect("mkdir");
    std::fs::write(&path, bytes).expect("write");
    Take {
        id: TakeId::new(),
        signature: hash.clone(),
        outputs: vec![TakeOutput {
            hash,
            mime: mime.into(),
            name: name.into(),
        }],
        meta: TakeMeta::default(),
        created: 0,
    }
}

fn main() {
    let dir = tempfile::tempdir().expect("tmp");
    let root = dir.path().join("film.aktion");
    let catalog = Catalog::builtin();
    let t0 = Instant::now();
    let clips: Vec<Take> = (0..DISTINCT)
        .map(|i| {
            let seed = u32::try_from(i).unwrap_or(0);
            take(&root, &clip(seed), "video/mp4", "clip.mp4")
        })
        .collect();
    let stills: Vec<Take> = (0..DISTINCT)
        .map(|i| {
            let seed = u32::try_from(i).unwrap_or(0);
            take(&root, &still(seed), "image/png", "still.png")
        })
        .collect();
    eprintln!("media made in {:.1} s", t0.elapsed().as_secs_f64());
    let mut doc = Document {
        name: "Benchmark film".into(),
        ..Document::default()
    };
    for i in 0..SHOTS {
        let (kind, take) = if i % 2 == 0 {
            ("i2v", clips[i / 2 % DISTINCT].clone())
        } else {
            ("t2i", stills[i / 2 % DISTINCT].clone())
        };
        #[expect(clippy::cast_precision_loss, reason = "a grid position")]
        let mut node = Node::new(catalog.get(kind).expect("kind"), [i as f32 * 300.0, 0.0]);
        node.active_take = Some(take.id);
        node.takes.push(take);
        let id = doc.add_node(node);
        let mut shot = Shot::new(id);
        shot.title = format!("Shot {}", i + 1);
        shot.description =
            "Mara on the rooftop in the rain, the city below, neon in the puddles".into();
        shot.dialogue = if i % 3 == 0 {
            "MARA: Not tonight.".into()
        } else {
            String::new()
        };
        doc.sequence.shots.push(shot);
    }
    let film_s = f64::from(u32::try_from(SHOTS).unwrap_or(0) * SECONDS);

    let out = dir.path().join("out");
    let t = Instant::now();
    let report = aktion_export::export(
        &doc,
        catalog,
        &root,
        aktion_export::Format::Mp4,
        &out.join("animatic.mp4"),
        &mut aktion_export::Options::default(),
    )
    .expect("animatic");
    let secs = t.elapsed().as_secs_f64();
    let size = std::fs::metadata(&report.path).map_or(0, |m| m.len());
    println!(
        "animatic: {SHOTS} shots, {film_s:.0} s of 1920x1080 film at {FPS} fps, made in {secs:.1} s = {:.2}x real time, {:.1} MB",
        film_s / secs,
        size as f64 / 1e6
    );

    let t = Instant::now();
    let report = aktion_export::export(
        &doc,
        catalog,
        &root,
        aktion_export::Format::Pdf,
        &out.join("storyboard.pdf"),
        &mut aktion_export::Options {
            panels: Some(6),
            ..aktion_export::Options::default()
        },
    )
    .expect("pdf");
    let secs = t.elapsed().as_secs_f64();
    let size = std::fs::metadata(&report.path).map_or(0, |m| m.len());
    println!(
        "storyboard PDF: {SHOTS} shots 6-up ({} pages with the title page), made in {secs:.2} s, {:.1} MB",
        1 + SHOTS.div_ceil(6),
        size as f64 / 1e6
    );
}
