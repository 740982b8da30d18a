//! The canvas driven like a user would, through `egui_kittest` (no GPU): widgets are found by
//! their accessible labels, pointer and keys are real egui events.

use aktion_canvas::{
    Board, Canvas, CanvasEvent, FrameView, Lod, NodeView, PinId, PinSide, PinView, WireView,
};
use egui::{
    Color32, Event, Modifiers, MouseWheelSource, MouseWheelUnit, Pos2, Rect, TouchPhase, pos2, vec2,
};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;

const TEXT: Color32 = Color32::from_rgb(80, 140, 230);
const IMAGE: Color32 = Color32::from_rgb(90, 200, 120);
const AUDIO: Color32 = Color32::from_rgb(230, 190, 60);

struct App {
    board: Board,
    canvas: Canvas,
    events: Vec<CanvasEvent>,
    checks: usize,
}

fn type_name(c: Color32) -> &'static str {
    match c {
        TEXT => "text",
        IMAGE => "image",
        AUDIO => "audio",
        _ => "unknown",
    }
}

fn pin_color(board: &Board, pin: PinId) -> Color32 {
    let node = board.nodes.iter().find(|n| n.id == pin.node).expect("node");
    let pins = match pin.side {
        PinSide::Input => &node.inputs,
        PinSide::Output => &node.outputs,
    };
    pins[pin.index as usize].color
}

fn board() -> Board {
    let mut prompt = NodeView::new(
        1,
        Rect::from_min_size(pos2(40.0, 40.0), vec2(180.0, 110.0)),
        "Prompt",
    );
    prompt.outputs = vec![PinView::new("text", TEXT), PinView::new("image", IMAGE)];
    prompt.badge = Some("2 cr".to_owned());
    let mut render = NodeView::new(
        2,
        Rect::from_min_size(pos2(400.0, 60.0), vec2(180.0, 110.0)),
        "Render",
    );
    render.inputs = vec![PinView::new("text", TEXT), PinView::new("audio", AUDIO)];
    render.body = vec!["seed 42".to_owned()];
    let mut sound = NodeView::new(
        3,
        Rect::from_min_size(pos2(40.0, 300.0), vec2(180.0, 80.0)),
        "Sound",
    );
    sound.outputs = vec![PinView::new("sound", AUDIO)];
    let mut board = Board {
        nodes: vec![prompt, render, sound],
        wires: vec![WireView {
            from: PinId::output(1, 0),
            to: PinId::input(2, 0),
            color: TEXT,
        }],
        frames: vec![FrameView {
            id: 1,
            rect: Rect::from_min_size(pos2(30.0, 260.0), vec2(220.0, 140.0)),
            title: "Shot 1".to_owned(),
            color: AUDIO,
        }],
        revision: 0,
    };
    board.touch();
    board
}

fn harness() -> Harness<'static, App> {
    harness_stepping(0.25)
}

/// A harness whose every step advances egui's clock by `dt` seconds.
fn harness_stepping(dt: f32) -> Harness<'static, App> {
    let app = App {
        board: board(),
        canvas: Canvas::default(),
        events: Vec::new(),
        checks: 0,
    };
    Harness::builder()
        .with_size(vec2(800.0, 600.0))
        .with_step_dt(dt)
        .build_ui_state(
            |ui, app: &mut App| {
                let board = &app.board;
                let checks = &mut app.checks;
                let mut can_connect = |from: PinId, to: PinId| {
                    *checks += 1;
                    let (a, b) = (pin_color(board, from), pin_color(board, to));
                    if a == b {
                        Ok(())
                    } else {
                        Err(format!("{} cannot feed {}", type_name(a), type_name(b)))
                    }
                };
                let events = app.canvas.show(ui, board, &mut can_connect);
                app.events.extend(events);
            },
            app,
        )
}

/// Where the canvas starts on screen (the root ui has a margin).
fn origin(h: &Harness<'_, App>) -> Pos2 {
    h.get_by_label("Node canvas").rect().min
}

fn center_of(h: &Harness<'_, App>, label: &str) -> Pos2 {
    h.get_by_label(label).rect().center()
}

/// Press at `from`, move in steps to `to`, release there.
fn drag(h: &mut Harness<'_, App>, from: Pos2, to: Pos2) {
    h.hover_at(from);
    h.drag_at(from);
    h.run();
    for t in [0.25, 0.5, 0.75, 1.0] {
        h.hover_at(from + (to - from) * t);
        h.run();
    }
    h.drop_at(to);
    h.run();
}

#[test]
fn click_selects_the_node_found_by_its_label_and_shift_click_adds() {
    let mut h = harness();
    h.get_by_label("Prompt").click();
    h.run();
    assert_eq!(
        h.state().events,
        vec![CanvasEvent::SelectionChanged(vec![1])]
    );

    h.get_by_label("Render").click_modifiers(Modifiers::SHIFT);
    h.run();
    assert_eq!(
        h.state()
            .canvas
            .selection()
            .iter()
            .copied()
            .collect::<Vec<_>>(),
        vec![1, 2]
    );

    // A plain click on the background clears it.
    h.hover_at(pos2(700.0, 40.0));
    h.event(Event::PointerButton {
        pos: pos2(700.0, 40.0),
        button: egui::PointerButton::Primary,
        pressed: true,
        modifiers: Modifiers::NONE,
    });
    h.event(Event::PointerButton {
        pos: pos2(700.0, 40.0),
        button: egui::PointerButton::Primary,
        pressed: false,
        modifiers: Modifiers::NONE,
    });
    h.run();
    assert!(h.state().canvas.selection().is_empty());
    assert_eq!(
        h.state().events.last(),
        Some(&CanvasEvent::SelectionChanged(vec![]))
    );
}

#[test]
fn box_select_picks_the_nodes_it_touches() {
    let mut h = harness();
    drag(&mut h, pos2(20.0, 20.0), pos2(620.0, 200.0));
    assert_eq!(
        h.state()
            .canvas
            .selection()
            .iter()
            .copied()
            .collect::<Vec<_>>(),
        vec![1, 2]
    );
    assert_eq!(
        h.state().events,
        vec![CanvasEvent::SelectionChanged(vec![1, 2])]
    );
}

#[test]
fn dragging_a_node_previews_and_emits_one_snapped_move() {
    let mut h = harness();
    let from = center_of(&h, "Render");
    let to = from + vec2(63.0, 41.0);
    h.hover_at(from);
    h.drag_at(from);
    h.run();
    h.hover_at(from + vec2(30.0, 20.0));
    h.run();
    h.hover_at(to);
    h.run();
    // Live preview: the node is drawn (and labelled) where it is being dragged.
    let preview = h.get_by_label("Render").rect();
    assert!(
        (preview.min.x - origin(&h).x - 460.0).abs() < 1.0,
        "{preview:?}"
    );
    assert!(
        !h.state()
            .events
            .iter()
            .any(|e| matches!(e, CanvasEvent::NodesMoved { .. })),
        "no move event before the drop"
    );
    h.drop_at(to);
    h.run();
    let moves: Vec<_> = h
        .state()
        .events
        .iter()
        .filter(|e| matches!(e, CanvasEvent::NodesMoved { .. }))
        .collect();
    assert_eq!(
        moves,
        vec![&CanvasEvent::NodesMoved {
            ids: vec![2],
            delta: vec2(60.0, 40.0), // 463,101 snapped to the 20-unit grid
        }]
    );
}

#[test]
fn dragging_from_an_output_to_a_compatible_input_connects() {
    let mut h = harness();
    let from = center_of(&h, "Prompt out text");
    let to = center_of(&h, "Render in text");
    drag(&mut h, from, to);
    assert!(h.state().events.contains(&CanvasEvent::Connect {
        from: PinId::output(1, 0),
        to: PinId::input(2, 0),
    }));

    // And the other way round: from a free input to an output, the event is still output first.
    let mut h = harness();
    let free_input = center_of(&h, "Render in audio");
    let sound_out = center_of(&h, "Sound out sound");
    drag(&mut h, free_input, sound_out);
    assert!(h.state().events.contains(&CanvasEvent::Connect {
        from: PinId::output(3, 0),
        to: PinId::input(2, 1),
    }));
}

#[test]
fn a_refused_connection_shows_the_reason_and_emits_nothing() {
    let mut h = harness();
    let from = center_of(&h, "Prompt out image");
    let to = center_of(&h, "Render in audio");
    h.hover_at(from);
    h.drag_at(from);
    h.run();
    h.hover_at(from.lerp(to, 0.5));
    h.run();
    h.hover_at(to);
    h.run();
    assert!(h.query_by_label("image cannot feed audio").is_some());
    assert!(h.state().checks > 0);
    h.drop_at(to);
    h.run();
    assert!(h.query_by_label("image cannot feed audio").is_none());
    assert!(
        !h.state().events.iter().any(|e| matches!(
            e,
            CanvasEvent::Connect { .. } | CanvasEvent::WireDroppedOnEmpty { .. }
        )),
        "{:?}",
        h.state().events
    );
}

#[test]
fn a_wire_dropped_on_empty_board_asks_for_the_palette() {
    let mut h = harness();
    let from = center_of(&h, "Prompt out text");
    drag(&mut h, from, pos2(500.0, 420.0));
    let dropped: Vec<_> = h
        .state()
        .events
        .iter()
        .filter_map(|e| match e {
            CanvasEvent::WireDroppedOnEmpty {
                from_pin,
                at,
                screen,
            } => Some((*from_pin, *at, *screen)),
            _ => None,
        })
        .collect();
    assert_eq!(dropped.len(), 1, "{:?}", h.state().events);
    let (pin, at, screen) = dropped[0];
    assert_eq!(pin, PinId::output(1, 0));
    assert!(screen.distance(pos2(500.0, 420.0)) < 0.5);
    let expected = pos2(500.0, 420.0) - origin(&h).to_vec2();
    assert!(at.distance(expected) < 0.5, "view is 1:1: {at:?}");
}

#[test]
fn the_wheel_zooms_around_the_pointer() {
    let mut h = harness();
    let anchor = pos2(300.0, 250.0);
    h.hover_at(anchor);
    h.run();
    h.event(Event::MouseWheel {
        unit: MouseWheelUnit::Point,
        delta: vec2(0.0, 120.0),
        phase: TouchPhase::Move,
        source: MouseWheelSource::Wheel,
        modifiers: Modifiers::NONE,
    });
    h.run();
    let view = h.state().canvas.view;
    assert!(view.zoom > 1.2, "zoomed in: {view:?}");
    // The board point under the pointer stays put.
    let under = view.at(origin(&h)).to_board(anchor);
    let before = anchor - origin(&h).to_vec2();
    assert!(under.distance(before) < 0.5, "{under:?}");
    // Zoomed in, the node grew on screen.
    let r = h.get_by_label("Render").rect();
    assert!(r.width() > 180.0 * 1.2, "{r:?} {view:?}");
}

#[test]
fn zoomed_out_nodes_become_cards_without_labels() {
    let mut h = harness();
    h.state_mut().canvas.view.zoom = 0.2;
    h.run();
    assert_eq!(h.state().canvas.stats().lod, Some(Lod::Cards));
    assert!(h.query_by_label("Prompt").is_none());
    assert_eq!(h.state().canvas.stats().visible_nodes, 3);
}

#[test]
fn keyboard_shortcuts_and_right_click_emit_events() {
    let mut h = harness();
    h.get_by_label("Prompt").click();
    h.run();
    h.key_press(egui::Key::Delete);
    h.run();
    h.key_press(egui::Key::M);
    h.run();
    h.key_press_modifiers(Modifiers::COMMAND, egui::Key::D);
    h.run();
    let events = &h.state().events;
    assert!(events.contains(&CanvasEvent::Delete(vec![1])), "{events:?}");
    assert!(
        events.contains(&CanvasEvent::ToggleMute(vec![1])),
        "{events:?}"
    );
    assert!(
        events.contains(&CanvasEvent::Duplicate(vec![1])),
        "{events:?}"
    );

    h.key_press_modifiers(Modifiers::COMMAND, egui::Key::A);
    h.run();
    assert_eq!(h.state().canvas.selection().len(), 3);

    let spot = pos2(650.0, 300.0);
    h.hover_at(spot);
    h.event(Event::PointerButton {
        pos: spot,
        button: egui::PointerButton::Secondary,
        pressed: true,
        modifiers: Modifiers::NONE,
    });
    h.event(Event::PointerButton {
        pos: spot,
        button: egui::PointerButton::Secondary,
        pressed: false,
        modifiers: Modifiers::NONE,
    });
    h.run();
    assert!(
        h.state().events.iter().any(
            |e| matches!(e, CanvasEvent::OpenPalette { screen, .. } if screen.distance(spot) < 0.5)
        ),
        "{:?}",
        h.state().events
    );
}

#[test]
fn wires_pins_and_minimap_are_labelled_and_the_minimap_jumps() {
    let mut h = harness();
    assert!(
        h.query_by_label("Wire Prompt text to Render text")
            .is_some()
    );
    assert!(h.query_by_label("Render in audio").is_some());
    let minimap = h.get_by_label("Minimap").rect();
    let before = h.state().canvas.view;
    h.get_by_label("Minimap").click();
    h.run();
    let after = h.state().canvas.view;
    assert!(
        (after.pan - before.pan).length() > 1.0,
        "{before:?} -> {after:?}"
    );
    assert!(minimap.width() > 100.0);
}

#[test]
fn fit_all_shows_every_node() {
    let mut h = harness();
    h.state_mut().canvas.view.zoom = 3.0;
    h.state_mut().canvas.fit_all();
    h.run();
    for label in ["Prompt", "Render", "Sound"] {
        let r = h.get_by_label(label).rect();
        assert!(
            Rect::from_min_size(Pos2::ZERO, vec2(800.0, 600.0)).contains_rect(r),
            "{label} {r:?}"
        );
    }
}

#[test]
fn middle_drag_and_trackpad_pan_pinch_zooms() {
    let mut h = harness();
    let (a, b) = (pos2(650.0, 400.0), pos2(600.0, 300.0));
    h.hover_at(a);
    h.event(Event::PointerButton {
        pos: a,
        button: egui::PointerButton::Middle,
        pressed: true,
        modifiers: Modifiers::NONE,
    });
    h.run();
    for t in [0.5, 1.0] {
        h.hover_at(a.lerp(b, t));
        h.run();
    }
    h.event(Event::PointerButton {
        pos: b,
        button: egui::PointerButton::Middle,
        pressed: false,
        modifiers: Modifiers::NONE,
    });
    h.run();
    let pan = h.state().canvas.view.pan;
    assert!((pan - (b - a)).length() < 1.0, "{pan:?}");
    assert!(h.state().events.is_empty(), "panning is not an edit");

    h.event(Event::MouseWheel {
        unit: MouseWheelUnit::Point,
        delta: vec2(-30.0, 10.0),
        phase: TouchPhase::Move,
        source: MouseWheelSource::Trackpad,
        modifiers: Modifiers::NONE,
    });
    h.run();
    let view = h.state().canvas.view;
    assert!(
        (view.pan - (b - a) - vec2(-30.0, 10.0)).length() < 1.0,
        "{view:?}"
    );
    assert!((view.zoom - 1.0).abs() < 1e-4);

    h.event(Event::Zoom(1.5));
    h.run();
    assert!((h.state().canvas.view.zoom - 1.5).abs() < 1e-3);
}

fn palette_requests(h: &Harness<'_, App>) -> usize {
    h.state()
        .events
        .iter()
        .filter(|e| matches!(e, CanvasEvent::OpenPalette { .. }))
        .count()
}

fn button(h: &Harness<'_, App>, pos: Pos2, pressed: bool) {
    h.event(Event::PointerButton {
        pos,
        button: egui::PointerButton::Primary,
        pressed,
        modifiers: Modifiers::NONE,
    });
}

#[test]
fn tab_and_a_space_tap_open_the_palette_but_space_drag_pans() {
    let mut h = harness();
    let spot = pos2(650.0, 300.0);
    h.hover_at(spot);
    h.run();
    h.key_press(egui::Key::Tab);
    h.run();
    assert_eq!(palette_requests(&h), 1);
    h.key_press(egui::Key::Space);
    h.run();
    assert_eq!(palette_requests(&h), 2);

    h.key_down(egui::Key::Space);
    h.run();
    button(&h, spot, true);
    h.run();
    for t in [0.5, 1.0] {
        h.hover_at(spot + vec2(-40.0, -30.0) * t);
        h.run();
    }
    button(&h, spot + vec2(-40.0, -30.0), false);
    h.run();
    h.key_up(egui::Key::Space);
    h.run();
    assert_eq!(palette_requests(&h), 2, "{:?}", h.state().events);
    let pan = h.state().canvas.view.pan;
    assert!((pan - vec2(-40.0, -30.0)).length() < 1.0, "{pan:?}");
    assert!(
        h.state().canvas.selection().is_empty(),
        "a pan is not a box select"
    );
}

#[test]
fn escape_cancels_a_wire_being_dragged() {
    let mut h = harness();
    let from = center_of(&h, "Prompt out text");
    let to = center_of(&h, "Render in text");
    h.hover_at(from);
    h.drag_at(from);
    h.run();
    h.hover_at(from.lerp(to, 0.5));
    h.run();
    h.key_press(egui::Key::Escape);
    h.run();
    h.hover_at(to);
    h.run();
    h.drop_at(to);
    h.run();
    assert!(
        !h.state()
            .events
            .iter()
            .any(|e| matches!(e, CanvasEvent::Connect { .. })),
        "{:?}",
        h.state().events
    );
}

#[test]
fn frames_are_drawn_behind_nodes_and_labelled() {
    let mut h = harness();
    assert!(h.query_by_label("Frame Shot 1").is_some());
    // Clicking inside a frame but on a node selects the node.
    h.get_by_label("Sound").click();
    h.run();
    assert_eq!(
        h.state().events,
        vec![CanvasEvent::SelectionChanged(vec![3])]
    );
}

#[test]
fn dragging_from_a_connected_input_picks_the_wire_up() {
    // Dropped on empty board: the wire is removed (and no palette is asked for).
    let mut h = harness();
    let input = center_of(&h, "Render in text");
    drag(&mut h, input, pos2(640.0, 480.0));
    assert_eq!(
        h.state().events,
        vec![CanvasEvent::Disconnect {
            from: PinId::output(1, 0),
            to: PinId::input(2, 0),
        }]
    );

    // Dropped back where it was: nothing changes.
    let mut h2 = harness();
    h2.hover_at(input);
    h2.drag_at(input);
    h2.run();
    h2.hover_at(input + vec2(40.0, 40.0));
    h2.run();
    h2.hover_at(input);
    h2.run();
    h2.drop_at(input);
    h2.run();
    assert!(h2.state().events.is_empty(), "{:?}", h2.state().events);
}

#[test]
fn dragging_a_frame_title_moves_it_with_its_nodes() {
    let mut h = harness();
    let title = center_of(&h, "Frame Shot 1");
    drag(&mut h, title, title + vec2(50.0, 20.0));
    assert_eq!(
        h.state().events,
        vec![CanvasEvent::FrameMoved {
            frame: 1,
            nodes: vec![3],
            delta: vec2(50.0, 20.0),
        }]
    );
}

#[test]
fn dragging_a_frame_corner_resizes_it_snapped_and_never_below_the_minimum() {
    let mut h = harness();
    let grip = center_of(&h, "Resize frame Shot 1");
    // The frame spans (30, 260)–(250, 400); the corner lands on the 20-unit grid.
    drag(&mut h, grip, grip + vec2(83.0, 38.0));
    assert_eq!(
        h.state().events,
        vec![CanvasEvent::FrameResized {
            frame: 1,
            rect: Rect::from_min_max(pos2(30.0, 260.0), pos2(340.0, 440.0)),
        }]
    );
    // Dragged far up and left: the minimum size, the top-left corner stays.
    let mut h = harness();
    let grip = center_of(&h, "Resize frame Shot 1");
    drag(&mut h, grip, grip - vec2(400.0, 300.0));
    assert_eq!(
        h.state().events,
        vec![CanvasEvent::FrameResized {
            frame: 1,
            rect: Rect::from_min_size(pos2(30.0, 260.0), vec2(160.0, 80.0)),
        }]
    );
    // The title still moves the frame; nodes inside are not selected by a corner drag.
    assert!(
        !h.state()
            .events
            .iter()
            .any(|e| matches!(e, CanvasEvent::SelectionChanged(_)))
    );
}

#[test]
fn double_clicking_a_frame_title_asks_to_rename_it() {
    // Steps of 50 ms of egui time, so two clicks fall within the double-click delay.
    let mut h = harness_stepping(0.05);
    let title = center_of(&h, "Frame Shot 1");
    h.hover_at(title);
    h.run();
    for _ in 0..2 {
        for pressed in [true, false] {
            h.event(egui::Event::PointerButton {
                pos: title,
                button: egui::PointerButton::Primary,
                pressed,
                modifiers: egui::Modifiers::NONE,
            });
            h.step();
        }
    }
    h.run();
    assert!(
        h.state()
            .events
            .iter()
            .any(|e| matches!(e, CanvasEvent::RenameFrame { frame: 1, screen } if (*screen - title).length() < 1.0)),
        "{:?}",
        h.state().events
    );
}
