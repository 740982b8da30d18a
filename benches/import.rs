//! How long the UI thread is busy in any one frame while a 24-MP JPEG (6000×4000) is dropped on
//! the board, imported and shown in the inspector (PRODUCT.md §7: never more than 2 ms). The
//! app runs headless (an `egui::Context`, no GPU: layout and tessellation, as in the canvas
//! bench); frames are driven every 4 ms until the node exists and its preview is on screen.
//!
//! `cargo bench -p aktion --bench import`

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aktion::app::Studio;
use aktion::app::state::AppState;
use aktion_graph::Document;
use egui::{Context, RawInput, Rect, pos2, vec2};

struct Dropped {
    path: PathBuf,
    bytes: Vec<u8>,
}

impl std::fmt::Debug for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dropped")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl egui::DroppedFile for Dropped {
    fn path(&self) -> &std::path::Path {
        &self.path
    }
    fn bytes(&self) -> Result<Vec<u8>, String> {
        Ok(self.bytes.clone())
    }
}

fn jpeg_24mp() -> Vec<u8> {
    let img = image::RgbImage::from_fn(6000, 4000, |x, y| {
        let n = (x.wrapping_mul(7919) ^ y.wrapping_mul(104_729)) % 29;
        image::Rgb([
            (x / 24) as u8 ^ n as u8,
            (y / 16) as u8,
            ((x + y) / 40) as u8,
        ])
    });
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
        .encode_image(&img)
        .expect("encode");
    out
}

fn input(files: Vec<egui::DroppedFileHandle>) -> RawInput {
    RawInput {
        screen_rect: Some(Rect::from_min_size(pos2(0.0, 0.0), vec2(1400.0, 900.0))),
        dropped_files: files,
        ..RawInput::default()
    }
}

/// One import; returns the longest frame, the frames run and the time until the preview showed.
fn one_run(jpeg: &[u8]) -> (Duration, usize, Duration) {
    let dir = tempfile::tempdir().expect("tmp");
    let cache = aktion_cache::Cache::open(
        dir.path().join("cache"),
        aktion_cache::CacheOptions::default(),
    )
    .expect("cache");
    let engine = aktion::cli::engine(cache)
        .map_err(|f| f.message())
        .expect("engine");
    let state = AppState::new(Document::default(), dir.path().join("film.aktion"));
    let mut studio = Studio::new(state, engine, &aktion::setup::Setup::from_process())
        .map_err(|f| f.message())
        .expect("studio");
    studio.recent_dir = Some(dir.path().join("config"));
    let ctx = Context::default();
    let frame = |studio: &mut Studio, files: Vec<egui::DroppedFileHandle>| {
        let started = Instant::now();
        let out = ctx.run_ui(input(files), |ui| studio.frame_ui(ui));
        let _ = ctx.tessellate(out.shapes, out.pixels_per_point);
        started.elapsed()
    };
    for _ in 0..5 {
        frame(&mut studio, Vec::new());
    }
    let file: egui::DroppedFileHandle = Arc::new(Dropped {
        path: dir.path().join("plate-24mp.jpg"),
        bytes: jpeg.to_vec(),
    });
    let t0 = Instant::now();
    let mut longest = frame(&mut studio, vec![file]);
    let mut frames = 1;
    let mut shown = None;
    while t0.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(4));
        longest = longest.max(frame(&mut studio, Vec::new()));
        frames += 1;
        if let Some(id) = studio.state.doc.nodes.keys().next().copied() {
            // Select it, so the inspector shows (and loads) its preview.
            studio.state.selection.insert(id);
            if studio.preview_loaded(id) {
                shown = Some(t0.elapsed());
                // A few frames more with the preview on screen.
                for _ in 0..5 {
                    longest = longest.max(frame(&mut studio, Vec::new()));
                }
                break;
            }
        }
    }
    (
        longest,
        frames,
        shown.expect("the import finished and its preview showed within 20 s"),
    )
}

fn main() {
    let jpeg = jpeg_24mp();
    println!("24-MP JPEG: {} bytes", jpeg.len());
    let mut longest = Vec::new();
    for i in 0..5 {
        let (max, frames, shown) = one_run(&jpeg);
        println!(
            "run {i}: longest UI frame {:.2} ms over {frames} frames; preview shown after {:.0} ms",
            max.as_secs_f64() * 1000.0,
            shown.as_secs_f64() * 1000.0
        );
        longest.push(max);
    }
    longest.sort();
    println!(
        "longest UI frame while importing: median {:.2} ms, worst {:.2} ms (goal: ≤ 2 ms)",
        longest[longest.len() / 2].as_secs_f64() * 1000.0,
        longest[longest.len() - 1].as_secs_f64() * 1000.0
    );
}
