//! Builds the canvas's view model from the document: node cards, pins coloured by type, wires,
//! frames, badges. Pure functions of the document and the run status, so they are easy to test.

use std::collections::BTreeMap;

use aktion_canvas::{Board, FrameView, NodeView, PinId, PinView, WireView};
use aktion_graph::{Catalog, Document, KindSchema, NodeId, PortType, Wire};
use egui::{Color32, Pos2, Rect, Vec2};

/// Width of a node card in board units.
pub const NODE_WIDTH: f32 = 240.0;

/// A node's state in the current session (not saved).
#[derive(Clone, Debug, PartialEq)]
pub enum RunStatus {
    Queued,
    Running {
        fraction: Option<f32>,
        message: String,
    },
    Done {
        cached: bool,
    },
    Failed(String),
    Blocked(String),
    Cancelled,
}

pub fn port_color(t: PortType) -> Color32 {
    match t {
        PortType::Image | PortType::ImageList => Color32::from_rgb(92, 168, 255),
        PortType::Video => Color32::from_rgb(240, 120, 90),
        PortType::Audio => Color32::from_rgb(110, 210, 140),
        PortType::Text => Color32::from_rgb(230, 196, 90),
    }
}

fn header_color(kind: &KindSchema) -> Color32 {
    use aktion_graph::catalog::Category;
    match kind.category {
        Category::Source => Color32::from_rgb(58, 66, 84),
        Category::Generate => Color32::from_rgb(74, 62, 120),
        Category::Animate => Color32::from_rgb(120, 64, 70),
    }
}

/// The canvas id of a node: the low half of its UUID folded with the high half.
pub fn canvas_id(id: NodeId) -> u64 {
    let (hi, lo) = id.0.as_u64_pair();
    hi ^ lo
}

/// One input pin per slot: `(input id, slot)` for each input pin index of a kind.
pub fn input_pins(kind: &KindSchema) -> Vec<(String, u32, String, PortType)> {
    let mut pins = Vec::new();
    for input in &kind.inputs {
        let n = input.slot_count();
        for slot in 0..n {
            let label = if n > 1 {
                format!("{} {}", input.label, slot + 1)
            } else {
                input.label.clone()
            };
            pins.push((input.id.clone(), slot, label, input.ty));
        }
    }
    pins
}

/// The canvas id of a frame.
pub fn frame_canvas_id(f: &aktion_graph::Frame) -> u64 {
    let (hi, lo) = f.id.as_u64_pair();
    hi ^ lo
}

/// Maps canvas ids back to node ids.
#[derive(Clone, Debug, Default)]
pub struct IdMap {
    pub to_node: BTreeMap<u64, NodeId>,
}

impl IdMap {
    pub fn node(&self, id: u64) -> Option<NodeId> {
        self.to_node.get(&id).copied()
    }

    /// The wire a canvas connection stands for.
    pub fn wire(&self, doc: &Document, catalog: &Catalog, from: PinId, to: PinId) -> Option<Wire> {
        let from_node = self.node(from.node)?;
        let to_node = self.node(to.node)?;
        let kind = catalog.get(&doc.node(to_node)?.kind)?;
        let (input, slot, _, _) = input_pins(kind).into_iter().nth(to.index as usize)?;
        Some(Wire {
            from: from_node,
            to: to_node,
            input,
            slot,
        })
    }
}

fn status_badge(status: Option<&RunStatus>, kind: &KindSchema, stale: bool) -> Option<String> {
    let credits = (kind.credits > 0).then(|| format!("{} cr", kind.credits));
    match status {
        Some(RunStatus::Queued) => Some("queued".into()),
        // The account route cannot reach its server: the job keeps its place and goes on
        // when the network returns (PRODUCT.md §4.5, §6).
        Some(RunStatus::Running { message, .. }) if message.starts_with("waiting for network") => {
            Some("waiting for network".into())
        }
        Some(RunStatus::Running { fraction, .. }) => Some(match fraction {
            Some(f) => format!("running {:.0}%", f * 100.0),
            None => "running".into(),
        }),
        Some(RunStatus::Done { cached: true }) => Some("cached".into()),
        Some(RunStatus::Done { cached: false }) => Some("done".into()),
        Some(RunStatus::Failed(_)) => Some("failed".into()),
        Some(RunStatus::Blocked(_)) => Some("waiting".into()),
        Some(RunStatus::Cancelled) => Some("cancelled".into()),
        None if stale => Some("stale".into()),
        None => credits,
    }
}

/// The whole view model.
#[expect(
    clippy::too_many_lines,
    reason = "nodes, wires and frames built in one pass"
)]
pub fn board(
    doc: &Document,
    catalog: &Catalog,
    status: &BTreeMap<NodeId, RunStatus>,
    stale: &std::collections::BTreeSet<NodeId>,
    revision: u64,
) -> (Board, IdMap) {
    let mut ids = IdMap::default();
    let mut nodes = Vec::with_capacity(doc.nodes.len());
    for node in doc.nodes.values() {
        let Some(kind) = catalog.get(&node.kind) else {
            continue;
        };
        let cid = canvas_id(node.id);
        ids.to_node.insert(cid, node.id);
        let inputs: Vec<PinView> = input_pins(kind)
            .into_iter()
            .map(|(_, _, label, ty)| PinView::new(label, port_color(ty)))
            .collect();
        let outputs = vec![PinView::new(kind.output.as_str(), port_color(kind.output))];
        let mut body = Vec::new();
        if let Some(p) = node
            .params
            .get("prompt")
            .or_else(|| node.params.get("text"))
            .and_then(|v| v.as_str())
            && !p.is_empty()
        {
            body.push(ellipsize(p, 34));
        }
        if let Some(f) = node
            .params
            .get("file")
            .and_then(|v| v.get("name"))
            .and_then(|v| v.as_str())
        {
            body.push(ellipsize(f, 34));
        }
        match status.get(&node.id) {
            Some(RunStatus::Failed(m) | RunStatus::Blocked(m)) => body.push(ellipsize(m, 34)),
            Some(RunStatus::Running { message, .. }) if !message.is_empty() => {
                body.push(ellipsize(message, 34));
            }
            _ => {}
        }
        // The card's picture and its line of takes, draft badge and cost are drawn by
        // `cards::CardDelegate` in the space reserved here.
        let media = super::cards::media_height(kind.output, NODE_WIDTH - 12.0);
        let footer = if media > 0.0 || !node.takes.is_empty() || kind.credits > 0 {
            super::cards::FOOTER + 4.0
        } else {
            0.0
        };
        let pins = inputs.len().max(1) as f32;
        let height = 44.0 + pins * 22.0 + body.len() as f32 * 16.0 + 12.0 + media + footer;
        let mut view = NodeView::new(
            cid,
            Rect::from_min_size(
                Pos2::new(node.pos[0], node.pos[1]),
                Vec2::new(NODE_WIDTH, height),
            ),
            node.display_title(catalog),
        );
        view.header_color = header_color(kind);
        view.badge = status_badge(status.get(&node.id), kind, stale.contains(&node.id));
        view.inputs = inputs;
        view.outputs = outputs;
        view.body = body;
        view.muted = node.muted;
        view.bypassed = node.bypassed;
        nodes.push(view);
    }
    let wires = doc
        .wires
        .iter()
        .filter_map(|w| {
            let to_kind = catalog.get(&doc.node(w.to)?.kind)?;
            let index = input_pins(to_kind)
                .iter()
                .position(|(i, s, _, _)| *i == w.input && *s == w.slot)?;
            let color = doc
                .output_type(catalog, w.from)
                .map_or(Color32::GRAY, port_color);
            Some(WireView {
                from: PinId::output(canvas_id(w.from), 0),
                to: PinId::input(canvas_id(w.to), u32::try_from(index).ok()?),
                color,
            })
        })
        .collect();
    let frames = doc
        .frames
        .iter()
        .map(|f| FrameView {
            id: frame_canvas_id(f),
            rect: Rect::from_min_size(
                Pos2::new(f.rect[0], f.rect[1]),
                Vec2::new(f.rect[2], f.rect[3]),
            ),
            title: f.title.clone(),
            color: Color32::from_rgb(f.color[0], f.color[1], f.color[2]),
        })
        .collect();
    let board = Board {
        nodes,
        wires,
        frames,
        revision,
    };
    (board, ids)
}

pub fn ellipsize(s: &str, max: usize) -> String {
    let line = s.lines().next().unwrap_or("");
    if line.chars().count() <= max {
        line.to_owned()
    } else {
        let cut: String = line.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aktion_graph::Node;

    #[test]
    fn list_inputs_get_one_pin_per_slot_and_wires_map_back() {
        let c = Catalog::builtin();
        let mut doc = Document::default();
        let img = doc.add_node(Node::new(c.get("t2i").expect("t2i"), [0.0, 0.0]));
        let scene = doc.add_node(Node::new(
            c.get("coherent_scene").expect("scene"),
            [300.0, 0.0],
        ));
        let w = Wire {
            from: img,
            to: scene,
            input: "images".into(),
            slot: 4,
        };
        doc.connect(c, w.clone(), false).expect("wire");
        let (b, ids) = board(
            &doc,
            c,
            &BTreeMap::new(),
            &std::collections::BTreeSet::new(),
            1,
        );
        let scene_view = b
            .nodes
            .iter()
            .find(|n| n.id == canvas_id(scene))
            .expect("scene");
        assert_eq!(scene_view.inputs.len(), 7, "six image slots and the prompt");
        assert_eq!(scene_view.inputs[4].label, "Images 5");
        assert_eq!(b.wires.len(), 1);
        let back = ids
            .wire(&doc, c, b.wires[0].from, b.wires[0].to)
            .expect("maps back");
        assert_eq!(back, w);
        assert_eq!(scene_view.badge.as_deref(), Some("10 cr"));
    }

    #[test]
    fn badges_follow_the_run_status() {
        let c = Catalog::builtin();
        let mut doc = Document::default();
        let t = doc.add_node(Node::new(c.get("t2i").expect("t2i"), [0.0, 0.0]));
        let status = BTreeMap::from([(
            t,
            RunStatus::Running {
                fraction: Some(0.4),
                message: "step 8/20".into(),
            },
        )]);
        let (b, _) = board(&doc, c, &status, &std::collections::BTreeSet::new(), 1);
        assert_eq!(b.nodes[0].badge.as_deref(), Some("running 40%"));
        assert!(b.nodes[0].body.contains(&"step 8/20".to_owned()));
        let stale = std::collections::BTreeSet::from([t]);
        let (b, _) = board(&doc, c, &BTreeMap::new(), &stale, 2);
        assert_eq!(b.nodes[0].badge.as_deref(), Some("stale"));
        let offline = BTreeMap::from([(
            t,
            RunStatus::Running {
                fraction: None,
                message: "waiting for network".into(),
            },
        )]);
        let (b, _) = board(&doc, c, &offline, &std::collections::BTreeSet::new(), 3);
        assert_eq!(b.nodes[0].badge.as_deref(), Some("waiting for network"));
        let failed = BTreeMap::from([(t, RunStatus::Failed("content filter".into()))]);
        let (b, _) = board(&doc, c, &failed, &std::collections::BTreeSet::new(), 4);
        assert_eq!(b.nodes[0].badge.as_deref(), Some("failed"));
        assert!(b.nodes[0].body.iter().any(|l| l.contains("content filter")));
    }
}
