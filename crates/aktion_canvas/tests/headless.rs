//! The canvas in a bare headless `egui::Context`: what it lays out, and that it stays idle.

use std::time::Duration;

use aktion_canvas::{Board, Canvas, CanvasDelegate, Lod, NodeId, NodeView, PinId};
use egui::{Context, RawInput, Rect, ViewportId, pos2, vec2};

struct Bodies(Vec<NodeId>);

impl CanvasDelegate for Bodies {
    fn can_connect(&mut self, _: PinId, _: PinId) -> Result<(), String> {
        Ok(())
    }

    fn node_body_ui(&mut self, ui: &mut egui::Ui, node: NodeId, _zoom: f32) {
        self.0.push(node);
        ui.label(format!("body of {node}"));
    }
}

/// 100 nodes in a 10×10 grid, 400 × 420 units apart.
fn board() -> Board {
    let nodes = (0..100u64)
        .map(|i| {
            let (c, r) = ((i % 10) as f32, (i / 10) as f32);
            let rect = Rect::from_min_size(pos2(c * 400.0, r * 420.0), vec2(200.0, 150.0));
            NodeView::new(i, rect, format!("N{i}"))
        })
        .collect();
    let mut board = Board {
        nodes,
        ..Board::default()
    };
    board.touch();
    board
}

fn frame(ctx: &Context, canvas: &mut Canvas, board: &Board, bodies: &mut Bodies) -> Duration {
    let input = RawInput {
        screen_rect: Some(Rect::from_min_size(pos2(0.0, 0.0), vec2(1280.0, 800.0))),
        ..RawInput::default()
    };
    let out = ctx.run_ui(input, |ui| {
        let events = canvas.show(ui, board, bodies);
        assert!(events.is_empty(), "no input, no events: {events:?}");
    });
    let delay = out
        .viewport_output
        .get(&ViewportId::ROOT)
        .map_or(Duration::ZERO, |v| v.repaint_delay);
    out.drop_without_applying_deltas();
    delay
}

#[test]
fn only_visible_nodes_are_laid_out_and_bodies_only_at_full_detail() {
    let ctx = Context::default();
    let mut canvas = Canvas::default();
    let board = board();
    let mut bodies = Bodies(Vec::new());
    frame(&ctx, &mut canvas, &board, &mut bodies);
    // A 1280×800 view at 1:1 from the origin shows columns 0..=3 of rows 0..=1.
    let stats = canvas.stats();
    assert_eq!(stats.lod, Some(Lod::Full));
    assert_eq!(stats.visible_nodes, 8);
    bodies.0.sort_unstable();
    assert_eq!(bodies.0, vec![0, 1, 2, 3, 10, 11, 12, 13]);

    bodies.0.clear();
    canvas.fit_all();
    frame(&ctx, &mut canvas, &board, &mut bodies);
    assert_eq!(canvas.stats().lod, Some(Lod::Cards));
    assert_eq!(canvas.stats().visible_nodes, 100);
    assert!(bodies.0.is_empty(), "cards draw no bodies");
}

#[test]
fn the_canvas_never_asks_for_a_repaint_on_its_own() {
    let ctx = Context::default();
    let mut canvas = Canvas::default();
    let board = board();
    let mut bodies = Bodies(Vec::new());
    for _ in 0..3 {
        frame(&ctx, &mut canvas, &board, &mut bodies);
    }
    assert_eq!(frame(&ctx, &mut canvas, &board, &mut bodies), Duration::MAX);
}

#[test]
fn wire_geometry_is_flattened_once_per_zoom_bucket() {
    let ctx = Context::default();
    let mut canvas = Canvas::default();
    let mut board = board();
    board.wires = (0..9u64)
        .map(|i| aktion_canvas::WireView {
            from: PinId::output(i, 0),
            to: PinId::input(i + 1, 0),
            color: egui::Color32::WHITE,
        })
        .collect();
    for node in &mut board.nodes {
        node.inputs = vec![aktion_canvas::PinView::new("in", egui::Color32::WHITE)];
        node.outputs = vec![aktion_canvas::PinView::new("out", egui::Color32::WHITE)];
    }
    board.touch();
    let mut bodies = Bodies(Vec::new());
    frame(&ctx, &mut canvas, &board, &mut bodies);
    let first = canvas.stats();
    assert_eq!(
        first.visible_wires, 3,
        "wires between the 4 visible nodes of row 0"
    );
    assert_eq!(first.wires_flattened, 3);
    frame(&ctx, &mut canvas, &board, &mut bodies);
    assert_eq!(canvas.stats().wires_flattened, 0, "cached");
    canvas.view.zoom = 0.5;
    frame(&ctx, &mut canvas, &board, &mut bodies);
    assert!(canvas.stats().wires_flattened > 0, "new zoom bucket");
    board.touch();
    canvas.view.zoom = 0.5;
    frame(&ctx, &mut canvas, &board, &mut bodies);
    assert!(canvas.stats().wires_flattened > 0, "board changed");
}
