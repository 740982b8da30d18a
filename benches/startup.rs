//! Start-up (PRODUCT.md §7: first frame ≤ 300 ms; a 1,000-node project open ≤ 1 s), headless:
//! from nothing to the first frame laid out and tessellated — opening the result cache and the
//! job journal, building the engine and its provider clients, reading the project (and its
//! autosave), building the app, and the first frame with the whole board zoomed to fit. Window
//! and GPU set-up by the platform are not in these figures.
//!
//! `cargo bench -p aktion --bench startup`

use std::path::Path;
use std::time::{Duration, Instant};

use aktion::app::Studio;
use aktion::app::state::AppState;
use aktion_graph::{Catalog, Document, Node, Wire};
use egui::{Context, RawInput, Rect, pos2, vec2};

/// A feature film's board: `n` nodes in rows of shots (sketch → sketch to image → image to video),
/// wired, saved as a project folder.
fn write_board(root: &Path, n: usize) {
    let catalog = Catalog::builtin();
    let mut doc = Document {
        name: format!("{n}-node board"),
        ..Document::default()
    };
    let kinds = ["sketch", "sketch_to_image", "i2v"];
    let mut previous = None;
    for i in 0..n {
        let kind = kinds[i % kinds.len()];
        let pos = [(i % 30) as f32 * 260.0, (i / 30) as f32 * 200.0];
        let mut node = Node::new(catalog.get(kind).expect("kind"), pos);
        node.params.insert(
            "prompt".into(),
            format!("shot {i}: rain on the rooftop").into(),
        );
        let id = doc.add_node(node);
        if let Some(from) = previous {
            let input = match kind {
                "sketch_to_image" => Some("sketch"),
                "i2v" => Some("image"),
                _ => None,
            };
            if let Some(input) = input {
                doc.connect(
                    catalog,
                    Wire {
                        from,
                        to: id,
                        input: input.into(),
                        slot: 0,
                    },
                    false,
                )
                .expect("wire");
            }
        }
        previous = Some(id);
    }
    aktion_graph::project::save(root, &doc).expect("save");
}

fn input() -> RawInput {
    RawInput {
        screen_rect: Some(Rect::from_min_size(pos2(0.0, 0.0), vec2(1400.0, 900.0))),
        ..RawInput::default()
    }
}

/// Everything from an empty process state to the first tessellated frame.
fn start(project: Option<&Path>, dir: &Path) -> (Duration, usize) {
    let t0 = Instant::now();
    let cache = aktion_cache::Cache::open(dir.join("cache"), aktion_cache::CacheOptions::default())
        .expect("cache");
    let engine = aktion::cli::engine(cache)
        .map_err(|f| f.message())
        .expect("engine");
    let state = match project {
        Some(p) => AppState::open_with_recovery(p).expect("open").0,
        None => AppState::new(Document::default(), dir.join("new.aktion")),
    };
    let nodes = state.doc.nodes.len();
    let mut studio = Studio::new(state, engine, &aktion::setup::Setup::from_process())
        .map_err(|f| f.message())
        .expect("studio");
    studio.recent_dir = Some(dir.join("config"));
    let ctx = Context::default();
    let out = ctx.run_ui(input(), |ui| studio.frame_ui(ui));
    let _ = ctx.tessellate(out.shapes, out.pixels_per_point);
    (t0.elapsed(), nodes)
}

fn report(label: &str, mut times: Vec<Duration>, goal_ms: f64) {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{label}: median {:.1} ms, best {:.1} ms, worst {:.1} ms over {} starts (goal ≤ {goal_ms} ms)",
        ms(times[times.len() / 2]),
        ms(times[0]),
        ms(times[times.len() - 1]),
        times.len()
    );
}

fn main() {
    const RUNS: usize = 15;
    let dir = tempfile::tempdir().expect("tmp");
    let board = dir.path().join("feature.aktion");
    write_board(&board, 1000);

    let mut empty = Vec::new();
    let mut big = Vec::new();
    for i in 0..RUNS {
        // A fresh cache folder each time: nothing warm but the OS page cache.
        let run = dir.path().join(format!("run-{i}"));
        empty.push(start(None, &run.join("a")).0);
        let (t, nodes) = start(Some(&board), &run.join("b"));
        assert_eq!(nodes, 1000);
        big.push(t);
    }
    report("first frame, new board", empty, 300.0);
    report("first frame, 1,000-node project opened", big, 1000.0);
}
