//! Drags: moving nodes and frames, box selection, resizing frames, connecting wires.

use egui::{Pos2, Rect, Response, Vec2, pos2, vec2};

use crate::model::{Board, CanvasDelegate, CanvasEvent, PinId, PinSide};

use super::{Canvas, ConnectFeedback, Drag, HitIdx};

impl Canvas {
    pub(super) fn start_drag(
        &mut self,
        board: &Board,
        rect: Rect,
        origin: Pos2,
        minimap: Option<Rect>,
        shift: bool,
        events: &mut Vec<CanvasEvent>,
    ) {
        if minimap.is_some_and(|m| m.contains(origin)) {
            self.drag = Drag::Minimap;
            return;
        }
        let x = self.view.at(rect.min);
        self.drag = match self.hit(board, x, origin) {
            HitIdx::Pin(pin) => {
                self.feedback = Some(ConnectFeedback {
                    target: None,
                    verdict: None,
                });
                // Dragging from a connected input picks its wire up by the output end.
                let wire = (pin.side == PinSide::Input)
                    .then(|| board.wires.iter().rev().find(|w| w.to == pin))
                    .flatten();
                match wire {
                    Some(w) => Drag::Connect {
                        from: w.from,
                        detached: Some(pin),
                    },
                    None => Drag::Connect {
                        from: pin,
                        detached: None,
                    },
                }
            }
            HitIdx::Node(i) => {
                let Some(node) = board.nodes.get(i as usize) else {
                    return;
                };
                if !self.selection.contains(&node.id) {
                    if !shift {
                        self.selection.clear();
                    }
                    self.selection.insert(node.id);
                    events.push(CanvasEvent::SelectionChanged(self.selected_vec()));
                }
                Drag::Move {
                    ids: self.selected_vec(),
                    origin,
                    anchor: node.rect.min,
                    delta: Vec2::ZERO,
                    frame: None,
                }
            }
            HitIdx::Background => {
                let b = x.to_board(origin);
                let corner = board
                    .frames
                    .iter()
                    .rev()
                    .find(|f| frame_handle(f.rect, x.zoom).contains(b));
                let title = board
                    .frames
                    .iter()
                    .rev()
                    .find(|f| frame_title(f.rect).contains(b));
                if let Some(frame) = corner {
                    Drag::ResizeFrame {
                        frame: frame.id,
                        start: frame.rect,
                        origin,
                        size: frame.rect.size(),
                    }
                } else if let Some(frame) = title {
                    let mut inside = Vec::new();
                    self.cache.index.query(frame.rect, &mut inside);
                    let ids = inside
                        .iter()
                        .filter_map(|&i| board.nodes.get(i as usize))
                        .filter(|n| frame.rect.contains_rect(n.rect))
                        .map(|n| n.id)
                        .collect();
                    Drag::Move {
                        ids,
                        origin,
                        anchor: frame.rect.min,
                        delta: Vec2::ZERO,
                        frame: Some(frame.id),
                    }
                } else {
                    Drag::Box {
                        start: b,
                        additive: shift,
                    }
                }
            }
        };
        self.rebuild_moving_mask();
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "one call site; a struct would only rename them"
    )]
    pub(super) fn update_drag(
        &mut self,
        response: &Response,
        rect: Rect,
        board: &Board,
        pointer: Pos2,
        minimap: Option<Rect>,
        alt: bool,
        delegate: &mut dyn CanvasDelegate,
    ) {
        let x = self.view.at(rect.min);
        let grid = self.options.grid;
        let snap = self.options.snap && !alt && grid > 0.0;
        match &mut self.drag {
            Drag::Pan => self.view.pan += response.drag_delta(),
            Drag::Move {
                origin,
                anchor,
                delta,
                ..
            } => {
                let raw = (pointer - *origin) / x.zoom;
                *delta = if snap {
                    let target = *anchor + raw;
                    let snapped = pos2(
                        (target.x / grid).round() * grid,
                        (target.y / grid).round() * grid,
                    );
                    snapped - *anchor
                } else {
                    raw
                };
            }
            Drag::ResizeFrame {
                start,
                origin,
                size,
                ..
            } => {
                let raw = (pointer - *origin) / x.zoom;
                let mut corner = start.max + raw;
                if snap {
                    corner = pos2(
                        (corner.x / grid).round() * grid,
                        (corner.y / grid).round() * grid,
                    );
                }
                *size = (corner - start.min).max(FRAME_MIN);
            }
            Drag::Minimap => {
                if let Some(mm) = minimap {
                    self.center_on_minimap(rect, mm, pointer);
                }
            }
            Drag::Connect { from, .. } => {
                let from = *from;
                let target = self.connect_target(board, x, pointer, from);
                let previous = self.feedback.take();
                let verdict = match (target, previous) {
                    (Some(t), Some(prev)) if prev.target == Some(t) => prev.verdict,
                    (Some(t), _) => {
                        let (out, inp) = ordered(from, t);
                        Some(delegate.can_connect(out, inp))
                    }
                    (None, _) => None,
                };
                self.feedback = Some(ConnectFeedback { target, verdict });
            }
            Drag::Box { .. } | Drag::None => {}
        }
    }

    pub(super) fn finish_drag(
        &mut self,
        board: &Board,
        rect: Rect,
        pointer: Pos2,
        delegate: &mut dyn CanvasDelegate,
        events: &mut Vec<CanvasEvent>,
    ) {
        let x = self.view.at(rect.min);
        match std::mem::take(&mut self.drag) {
            Drag::Move {
                ids, delta, frame, ..
            } => {
                if delta != Vec2::ZERO {
                    events.push(match frame {
                        Some(frame) => CanvasEvent::FrameMoved {
                            frame,
                            nodes: ids,
                            delta,
                        },
                        None => CanvasEvent::NodesMoved { ids, delta },
                    });
                }
            }
            Drag::ResizeFrame {
                frame, start, size, ..
            } => {
                if size != start.size() {
                    events.push(CanvasEvent::FrameResized {
                        frame,
                        rect: Rect::from_min_size(start.min, size),
                    });
                }
            }
            Drag::Box { start, additive } => {
                let area = Rect::from_two_pos(start, x.to_board(pointer));
                let before = self.selection.clone();
                if !additive {
                    self.selection.clear();
                }
                let mut found = Vec::new();
                self.cache.index.query(area, &mut found);
                for i in found {
                    if let Some(node) = board.nodes.get(i as usize) {
                        self.selection.insert(node.id);
                    }
                }
                if before != self.selection {
                    events.push(CanvasEvent::SelectionChanged(self.selected_vec()));
                }
            }
            Drag::Connect { from, detached } => {
                let target = self.connect_target(board, x, pointer, from);
                if let Some(old) = detached {
                    // A picked-up wire: dropped back, moved to another input, or removed.
                    match target {
                        Some(to) if to == old => {}
                        Some(to) => {
                            let (out, inp) = ordered(from, to);
                            if delegate.can_connect(out, inp).is_ok() {
                                events.push(CanvasEvent::Disconnect { from, to: old });
                                events.push(CanvasEvent::Connect { from: out, to: inp });
                            }
                        }
                        None => events.push(CanvasEvent::Disconnect { from, to: old }),
                    }
                } else if let Some(to) = target {
                    let (out, inp) = ordered(from, to);
                    if delegate.can_connect(out, inp).is_ok() {
                        events.push(CanvasEvent::Connect { from: out, to: inp });
                    }
                } else {
                    let empty = matches!(self.hit(board, x, pointer), HitIdx::Background);
                    if empty && rect.contains(pointer) {
                        events.push(CanvasEvent::WireDroppedOnEmpty {
                            from_pin: from,
                            at: x.to_board(pointer),
                            screen: pointer,
                        });
                    }
                }
                self.feedback = None;
            }
            Drag::Pan | Drag::Minimap | Drag::None => {}
        }
        self.moving.clear();
    }
}

/// The strip at the top of a frame that drags it, in board units.
/// The smallest a frame can be resized to (board units).
pub(super) const FRAME_MIN: Vec2 = vec2(160.0, 80.0);

/// A frame's resize grip: a square in its bottom-right corner, 14 px on screen at any zoom
/// (never more than a third of the frame).
pub(super) fn frame_handle(rect: Rect, zoom: f32) -> Rect {
    let side = (14.0 / zoom.max(0.05))
        .min(rect.width() / 3.0)
        .min(rect.height() / 3.0);
    Rect::from_min_max(rect.max - vec2(side, side), rect.max)
}

pub(super) fn frame_title(rect: Rect) -> Rect {
    Rect::from_min_max(
        rect.min,
        pos2(rect.max.x, (rect.min.y + 32.0).min(rect.max.y)),
    )
}

/// Orders a pin pair as (output, input).
pub(super) fn ordered(a: PinId, b: PinId) -> (PinId, PinId) {
    if a.side == PinSide::Output {
        (a, b)
    } else {
        (b, a)
    }
}
