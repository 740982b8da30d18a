//! PRODUCT.md §7 canvas bar: one full UI pass (layout + tessellation) of a headless egui
//! context showing a 1,280×800 canvas. Goals: 1,000 nodes / 2,000 wires ≤ 4 ms at 1:1 and
//! ≤ 8 ms zoomed to fit; 10,000 nodes / 20,000 wires ≤ 16 ms in both.
//!
//! `cargo bench -p aktion_canvas --bench canvas -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use aktion_canvas::{Board, Canvas, NodeView, PinId, PinView, WireView};
use criterion::{Criterion, criterion_group, criterion_main};
use egui::{Color32, Context, RawInput, Rect, pos2, vec2};

const TYPES: [Color32; 3] = [
    Color32::from_rgb(80, 140, 230),
    Color32::from_rgb(90, 200, 120),
    Color32::from_rgb(230, 190, 60),
];

/// A grid of nodes, each wired to its right and lower neighbours (two wires per node).
fn board(n: usize) -> Board {
    let cols = ((n as f32 * 1.6).sqrt().ceil() as usize).max(1);
    let nodes = (0..n)
        .map(|i| {
            let (c, r) = ((i % cols) as f32, (i / cols) as f32);
            let rect = Rect::from_min_size(pos2(c * 300.0, r * 200.0), vec2(200.0, 130.0));
            let mut node = NodeView::new(i as u64, rect, format!("Shot {i} — image"));
            node.header_color = TYPES[i % 3];
            node.badge = Some(format!("{} cr", i % 7));
            node.inputs = vec![
                PinView::new("prompt", TYPES[0]),
                PinView::new("image", TYPES[1]),
            ];
            node.outputs = vec![
                PinView::new("image", TYPES[1]),
                PinView::new("mask", TYPES[2]),
            ];
            node.body = vec!["seed 42 · 1024×576".to_owned()];
            node
        })
        .collect();
    let mut wires = Vec::with_capacity(2 * n);
    for i in 0..n {
        for (k, j) in [(0, i + 1), (1, i + cols)] {
            let j = if j < n { j } else { (i * 7 + 3) % n };
            wires.push(WireView {
                from: PinId::output(i as u64, k),
                to: PinId::input(j as u64, k),
                color: TYPES[k as usize + 1],
            });
        }
    }
    let mut board = Board {
        nodes,
        wires,
        frames: Vec::new(),
        revision: 0,
    };
    board.touch();
    board
}

fn input() -> RawInput {
    RawInput {
        screen_rect: Some(Rect::from_min_size(pos2(0.0, 0.0), vec2(1280.0, 800.0))),
        ..RawInput::default()
    }
}

/// One frame: run the UI, then tessellate what it painted.
fn pass(ctx: &Context, canvas: &mut Canvas, board: &Board) -> usize {
    let mut can_connect = |_: PinId, _: PinId| Ok(());
    let out = ctx.run_ui(input(), |ui| {
        let events = canvas.show(ui, board, &mut can_connect);
        black_box(events);
    });
    let egui::FullOutput {
        shapes,
        pixels_per_point,
        mut textures_delta,
        ..
    } = out;
    // No renderer here: the font atlas upload is dropped on purpose.
    textures_delta.clear();
    ctx.tessellate(shapes, pixels_per_point).len()
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("canvas_pass");
    group.sample_size(20);
    for n in [1_000, 10_000] {
        let board = board(n);
        // "fit" is the bar; "0.4" is the most a view draws at full detail (worst case, for
        // information).
        for view in ["1to1", "fit", "0.4"] {
            let ctx = Context::default();
            let mut canvas = Canvas::default();
            if view == "fit" {
                canvas.fit_all();
            } else {
                // Looking at the middle of the board.
                let zoom = if view == "1to1" { 1.0 } else { 0.4 };
                let mid = board.bounds().map_or(pos2(0.0, 0.0), |b| b.center());
                canvas.view.zoom = zoom;
                canvas.view.pan = vec2(640.0, 400.0) - mid.to_vec2() * zoom;
            }
            // Warm the font atlas and the caches, as a running app has.
            for _ in 0..3 {
                pass(&ctx, &mut canvas, &board);
            }
            let stats = canvas.stats();
            let name = format!(
                "{n}_nodes_{view}_({}_nodes_{}_wires_visible)",
                stats.visible_nodes, stats.visible_wires
            );
            group.bench_function(name, |b| {
                b.iter(|| pass(&ctx, &mut canvas, &board));
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
