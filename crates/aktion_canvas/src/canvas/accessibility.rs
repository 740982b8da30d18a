//! The accessibility tree: nodes and pins as widgets screen readers and kittest can find.

use egui::{Id, Rect, Role, Sense, Ui, Vec2, WidgetInfo};

use crate::geometry::{Xform, pin_pos};
use crate::model::{Board, PinSide};

use super::{Canvas, pin_label, pin_name};

impl Canvas {
    /// One accessible widget per visible node, pin and wire, labelled for tests and screen
    /// readers. Only at full detail, where a view holds tens of nodes, not thousands.
    #[expect(clippy::too_many_arguments, reason = "painting context passed down")]
    pub(super) fn accessibility(
        &self,
        ui: &Ui,
        id: Id,
        x: Xform,
        rect: Rect,
        board: &Board,
        visible: &[u32],
        delta: Vec2,
    ) {
        for &i in visible {
            let node = &board.nodes[i as usize];
            let r = self.node_rect(i, node, delta);
            let sr = x.rect_to_screen(r).intersect(rect);
            if sr.width() <= 0.0 || sr.height() <= 0.0 {
                continue;
            }
            let resp = ui.interact(sr, id.with(("node", node.id)), Sense::hover());
            let selected = self.selection.contains(&node.id);
            resp.widget_info(|| WidgetInfo::selected(Role::Group, true, selected, &node.title));
            let pins = node
                .inputs
                .iter()
                .enumerate()
                .map(|(k, p)| (PinSide::Input, k, p))
                .chain(
                    node.outputs
                        .iter()
                        .enumerate()
                        .map(|(k, p)| (PinSide::Output, k, p)),
                );
            for (side, k, pin) in pins {
                let c = x.to_screen(pin_pos(r, side, k as u32));
                if !rect.contains(c) {
                    continue;
                }
                let pr = Rect::from_center_size(c, Vec2::splat(12.0));
                let pid = id.with(("pin", node.id, side, k));
                let resp = ui.interact(pr, pid, Sense::hover());
                resp.widget_info(|| {
                    WidgetInfo::labeled(Role::Button, true, pin_label(node, side, pin))
                });
            }
        }
        for (geom, wire) in self.cache.wires.iter().zip(&board.wires) {
            if geom.points.len() < 2 || geom.from == u32::MAX || geom.to == u32::MAX {
                continue;
            }
            let mid = x.to_screen(geom.points[geom.points.len() / 2]);
            if !rect.contains(mid) || !geom.bounds.intersects(x.rect_to_board(rect)) {
                continue;
            }
            let (Some(a), Some(b)) = (
                board.nodes.get(geom.from as usize),
                board.nodes.get(geom.to as usize),
            ) else {
                continue;
            };
            let resp = ui.interact(
                Rect::from_center_size(mid, Vec2::splat(10.0)),
                id.with(("wire", wire.from, wire.to)),
                Sense::hover(),
            );
            resp.widget_info(|| {
                let from = pin_name(a, wire.from);
                let to = pin_name(b, wire.to);
                WidgetInfo::labeled(
                    Role::Button,
                    true,
                    format!("Wire {} {from} to {} {to}", a.title, b.title),
                )
            });
        }
    }
}
