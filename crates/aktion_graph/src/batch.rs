//! A shot list made into shots (PRODUCT.md §4.8 "Shot list as batch"): the user picks a
//! template (a frame's nodes, or a selection), and each row of a [`ShotList`] becomes a copy of
//! it in its own frame, with the row's fields put into its prompts (`{description}`), and a
//! shot in the sequence. [`plan`] works out the edits; applied as one step they undo in one go.
//!
//! Wires from outside the template (a Character node the shots share) reach every copy; wires
//! from the template to the outside are not copied. Copies start without takes and, unless the
//! template's seed is pinned, with seeds of their own.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::catalog::{Catalog, ParamKind, PortType};
use crate::document::{Document, Frame, Node, NodeId, Wire, random_seed};
use crate::edit::Edit;
use crate::sequence::{Camera, MAX_SHOT_MS, MAX_SHOTS, Sequence, Shot, ShotId, ShotStatus};
use crate::shotlist::{ShotList, ShotRow, placeholders, substitute};
use crate::validate::MAX_TEXT_LEN;

/// Most nodes a template may have.
pub const MAX_TEMPLATE_NODES: usize = 200;
/// Most nodes one import adds.
pub const MAX_BATCH_NODES: usize = 20_000;
/// Copies laid side by side before the next row of frames.
pub const COLUMNS: usize = 4;
/// The room a node card takes on the board, as the layout reckons it.
const CARD: [f32; 2] = [240.0, 330.0];
const MARGIN: f32 = 30.0;
const GAP: f32 = 80.0;

/// Why a batch cannot be made. Nothing changes then.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    #[error("pick a template first: a frame, or the nodes one shot is made of")]
    EmptyTemplate,
    #[error("the template has {0} nodes; at most {MAX_TEMPLATE_NODES} are copied per shot")]
    TemplateTooLarge(usize),
    #[error("no node {0} on the board")]
    NoSuchNode(NodeId),
    #[error("no frame or node `{0}` on the board")]
    NoSuchTemplate(String),
    #[error("the template has no picture or clip node to become the shot")]
    NoShotNode,
    #[error(
        "the template's prompts use {{{field}}}, which the shot list has no field for (it has: {fields})"
    )]
    UnknownField { field: String, fields: String },
    #[error("the batch would add {0} nodes; at most {MAX_BATCH_NODES} are added at once")]
    TooManyNodes(usize),
    #[error("the sequence would have more than {MAX_SHOTS} shots")]
    TooManyShots,
    #[error("line {line}: {message}")]
    Row { line: usize, message: String },
}

/// The edits that make a batch, and what they make.
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    /// Applied as one step (one undo).
    pub edits: Vec<Edit>,
    /// Every node added.
    pub nodes: Vec<NodeId>,
    /// Per row: the node that became its shot.
    pub shot_nodes: Vec<NodeId>,
    /// Per row: its shot.
    pub shots: Vec<ShotId>,
    /// The `{field}`s the template's prompts use.
    pub uses: BTreeSet<String>,
}

/// The template a command line names: a frame (its id, or its title when no other frame has
/// it) or node ids separated by commas.
pub fn template_from_spec(doc: &Document, spec: &str) -> Result<Vec<NodeId>, BatchError> {
    let spec = spec.trim();
    let frame = doc
        .frames
        .iter()
        .find(|f| f.id.to_string() == spec)
        .or_else(|| {
            let mut titled = doc.frames.iter().filter(|f| f.title == spec);
            match (titled.next(), titled.next()) {
                (Some(f), None) => Some(f),
                _ => None,
            }
        });
    if let Some(frame) = frame {
        return Ok(nodes_in(doc, frame.rect));
    }
    spec.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            let id: NodeId = s
                .parse()
                .map_err(|_| BatchError::NoSuchTemplate(s.to_string()))?;
            if doc.nodes.contains_key(&id) {
                Ok(id)
            } else {
                Err(BatchError::NoSuchNode(id))
            }
        })
        .collect()
}

/// Nodes whose position lies in a frame's rectangle.
pub fn nodes_in(doc: &Document, rect: [f32; 4]) -> Vec<NodeId> {
    let [x, y, w, h] = rect;
    doc.nodes
        .values()
        .filter(|n| n.pos[0] >= x && n.pos[0] <= x + w && n.pos[1] >= y && n.pos[1] <= y + h)
        .map(|n| n.id)
        .collect()
}

/// The template node whose result is the shot: a picture or clip node no other template node
/// takes a picture or clip from (the end of the chain), a clip before a still, then the
/// right-most.
pub fn shot_node(doc: &Document, catalog: &Catalog, template: &[NodeId]) -> Option<NodeId> {
    let set: BTreeSet<NodeId> = template.iter().copied().collect();
    let visual = |id: &NodeId| {
        doc.node(*id)
            .and_then(|n| catalog.get(&n.kind))
            .map(|k| k.output)
            .filter(|o| matches!(o, PortType::Image | PortType::Video))
    };
    let feeds_visual = |id: NodeId| {
        doc.wires
            .iter()
            .any(|w| w.from == id && set.contains(&w.to) && visual(&w.to).is_some())
    };
    set.iter()
        .filter_map(|id| visual(id).map(|o| (*id, o)))
        .filter(|(id, _)| !feeds_visual(*id))
        .max_by(|(a, ao), (b, bo)| {
            let pos = |id: &NodeId| doc.node(*id).map_or([0.0; 2], |n| n.pos);
            (*ao == PortType::Video)
                .cmp(&(*bo == PortType::Video))
                .then(pos(a)[0].total_cmp(&pos(b)[0]))
                .then(pos(a)[1].total_cmp(&pos(b)[1]))
        })
        .map(|(id, _)| id)
}

/// Seconds as a shot list writes them: `3`, `2.5`, `4s`, `0:04`. `None` when it is not one.
pub fn parse_seconds(text: &str) -> Option<f64> {
    let t = text.trim().trim_end_matches(['s', 'S']).trim();
    let secs = match t.split_once(':') {
        Some((m, s)) => {
            m.trim().parse::<u32>().ok().map(f64::from)? * 60.0 + s.trim().parse::<f64>().ok()?
        }
        None => t.parse::<f64>().ok()?,
    };
    (secs.is_finite() && secs > 0.0).then_some(secs)
}

/// Works out the batch: one copy of `template` per row of `list`, each in a frame below
/// everything on the board, and a shot per row at the end of the sequence.
#[expect(
    clippy::too_many_lines,
    reason = "one pass over the rows, read top to bottom"
)]
pub fn plan(
    doc: &Document,
    catalog: &Catalog,
    list: &ShotList,
    template: &[NodeId],
) -> Result<Batch, BatchError> {
    let set: BTreeSet<NodeId> = template.iter().copied().collect();
    if set.is_empty() {
        return Err(BatchError::EmptyTemplate);
    }
    if set.len() > MAX_TEMPLATE_NODES {
        return Err(BatchError::TemplateTooLarge(set.len()));
    }
    let nodes: Vec<&Node> = set
        .iter()
        .map(|id| doc.node(*id).ok_or(BatchError::NoSuchNode(*id)))
        .collect::<Result<_, _>>()?;
    let shot_of = shot_node(doc, catalog, template).ok_or(BatchError::NoShotNode)?;
    let total = set.len() * list.rows.len();
    if total > MAX_BATCH_NODES {
        return Err(BatchError::TooManyNodes(total));
    }
    if doc.sequence.shots.len() + list.rows.len() > MAX_SHOTS {
        return Err(BatchError::TooManyShots);
    }
    // The fields the template's prompts use must be ones the list has.
    let text_params = |n: &Node| -> Vec<String> {
        catalog.get(&n.kind).map_or_else(Vec::new, |k| {
            k.params
                .iter()
                .filter(|p| matches!(p.kind, ParamKind::Text { .. }))
                .map(|p| p.id.clone())
                .collect()
        })
    };
    let mut uses = BTreeSet::new();
    for n in &nodes {
        for p in text_params(n) {
            uses.extend(placeholders(n.param_str(&p)));
        }
    }
    if let Some(field) = uses.iter().find(|f| !list.fields.contains(f)) {
        return Err(BatchError::UnknownField {
            field: field.clone(),
            fields: list.fields.join(", "),
        });
    }
    let dialogue_of = nodes
        .iter()
        .find(|n| {
            catalog
                .get(&n.kind)
                .is_some_and(|k| k.output == PortType::Audio)
        })
        .map(|n| n.id);

    // Layout: the template's box, copies in rows of COLUMNS below the board.
    let min_x = nodes.iter().map(|n| n.pos[0]).fold(f32::INFINITY, f32::min);
    let min_y = nodes.iter().map(|n| n.pos[1]).fold(f32::INFINITY, f32::min);
    let max_x = nodes
        .iter()
        .map(|n| n.pos[0])
        .fold(f32::NEG_INFINITY, f32::max);
    let max_y = nodes
        .iter()
        .map(|n| n.pos[1])
        .fold(f32::NEG_INFINITY, f32::max);
    let frame_w = (max_x - min_x) + CARD[0] + 2.0 * MARGIN;
    let frame_h = (max_y - min_y) + CARD[1] + 2.0 * MARGIN + 24.0;
    let board_left = doc
        .nodes
        .values()
        .map(|n| n.pos[0])
        .chain(doc.frames.iter().map(|f| f.rect[0]))
        .fold(f32::INFINITY, f32::min);
    let board_bottom = doc
        .nodes
        .values()
        .map(|n| n.pos[1] + CARD[1])
        .chain(doc.frames.iter().map(|f| f.rect[1] + f.rect[3]))
        .fold(f32::NEG_INFINITY, f32::max);
    let left = if board_left.is_finite() {
        board_left
    } else {
        0.0
    };
    let top = if board_bottom.is_finite() {
        board_bottom + GAP * 2.0
    } else {
        0.0
    };
    if !(frame_w.is_finite() && frame_h.is_finite() && left.is_finite() && top.is_finite()) {
        return Err(BatchError::EmptyTemplate);
    }

    let outside_in: Vec<&Wire> = doc
        .wires
        .iter()
        .filter(|w| set.contains(&w.to) && !set.contains(&w.from))
        .collect();
    let inside: Vec<&Wire> = doc
        .wires
        .iter()
        .filter(|w| set.contains(&w.to) && set.contains(&w.from))
        .collect();

    let mut adds = Vec::with_capacity(total);
    let mut connects = Vec::new();
    let mut frames = doc.frames.clone();
    let mut sequence: Sequence = doc.sequence.clone();
    let mut batch = Batch {
        edits: Vec::new(),
        nodes: Vec::with_capacity(total),
        shot_nodes: Vec::with_capacity(list.rows.len()),
        shots: Vec::with_capacity(list.rows.len()),
        uses,
    };
    for (i, row) in list.rows.iter().enumerate() {
        #[expect(
            clippy::cast_precision_loss,
            reason = "a row's place in a grid of frames"
        )]
        let (col, line) = ((i % COLUMNS) as f32, (i / COLUMNS) as f32);
        let fx = left + col * (frame_w + GAP);
        let fy = top + line * (frame_h + GAP);
        let origin = [fx + MARGIN, fy + MARGIN + 24.0];
        let mut remap = BTreeMap::new();
        for n in &nodes {
            let mut copy = (*n).clone();
            copy.id = NodeId::new();
            copy.pos = [
                origin[0] + (n.pos[0] - min_x),
                origin[1] + (n.pos[1] - min_y),
            ];
            copy.takes.clear();
            copy.active_take = None;
            if !copy.seed_pinned && copy.params.contains_key("seed") {
                copy.params
                    .insert("seed".into(), Value::from(random_seed()));
            }
            for p in text_params(n) {
                let text = substitute(n.param_str(&p), row);
                if text.len() > MAX_TEXT_LEN {
                    return Err(BatchError::Row {
                        line: row.line,
                        message: format!(
                            "the prompt `{p}` would be longer than {MAX_TEXT_LEN} bytes"
                        ),
                    });
                }
                copy.params.insert(p, Value::from(text));
            }
            remap.insert(n.id, copy.id);
            batch.nodes.push(copy.id);
            adds.push(copy);
        }
        for w in &inside {
            connects.push(Wire {
                from: remap[&w.from],
                to: remap[&w.to],
                input: w.input.clone(),
                slot: w.slot,
            });
        }
        for w in &outside_in {
            connects.push(Wire {
                from: w.from,
                to: remap[&w.to],
                input: w.input.clone(),
                slot: w.slot,
            });
        }
        let node = remap[&shot_of];
        let shot = shot_for(
            row,
            node,
            dialogue_of.map(|d| remap[&d]),
            &mut adds,
            catalog,
        )?;
        let title = match (row.get("number"), row.get("title")) {
            ("", "") => format!("Shot {}", sequence.shots.len() + 1),
            (num, "") => format!("Shot {num}"),
            ("", title) => title.to_string(),
            (num, title) => format!("{num} · {title}"),
        };
        frames.push(Frame::new(title, [fx, fy, frame_w, frame_h]));
        batch.shot_nodes.push(node);
        batch.shots.push(shot.id);
        sequence.shots.push(shot);
    }
    batch.edits = adds
        .into_iter()
        .map(|n| Edit::AddNode(Box::new(n)))
        .chain(connects.into_iter().map(Edit::Connect))
        .chain([
            Edit::SetFrames(frames),
            Edit::SetSequence(Box::new(sequence)),
        ])
        .collect();
    Ok(batch)
}

/// The shot a row makes of `node`: its number, title, texts, camera fields, status and length
/// (a clip node with a duration parameter is set to it; anything else holds that long).
fn shot_for(
    row: &ShotRow,
    node: NodeId,
    dialogue_node: Option<NodeId>,
    adds: &mut [Node],
    catalog: &Catalog,
) -> Result<Shot, BatchError> {
    let mut shot = Shot::new(node);
    shot.number = row.get("number").to_string();
    shot.title = row.get("title").to_string();
    shot.description = row.get("description").to_string();
    shot.dialogue = row.get("dialogue").to_string();
    shot.dialogue_node = dialogue_node;
    shot.camera = Camera {
        shot_type: row.get("shot_type").to_string(),
        angle: row.get("angle").to_string(),
        movement: row.get("movement").to_string(),
        lens: row.get("lens").to_string(),
    };
    shot.status = if row.get("status").eq_ignore_ascii_case("approved") {
        ShotStatus::Approved
    } else {
        ShotStatus::Draft
    };
    let duration = row.get("duration");
    if !duration.is_empty() {
        let secs = parse_seconds(duration).ok_or_else(|| BatchError::Row {
            line: row.line,
            message: format!("duration `{duration}` is not a length in seconds (3, 2.5, 0:04)"),
        })?;
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "clamped to an hour first"
        )]
        let ms = (secs * 1000.0).min(MAX_SHOT_MS as f64).round() as u64;
        let copy = adds.iter_mut().find(|n| n.id == node);
        let param = copy
            .as_ref()
            .and_then(|n| catalog.get(&n.kind))
            .and_then(|k| k.param("duration"))
            .cloned();
        match (copy, param) {
            (Some(copy), Some(p)) => {
                let value = match p.kind {
                    ParamKind::Float { min, max, .. } => Value::from(secs.clamp(min, max)),
                    #[expect(clippy::cast_possible_truncation, reason = "clamped")]
                    ParamKind::Int { min, max, .. } => {
                        Value::from((secs.round() as i64).clamp(min, max))
                    }
                    _ => Value::Null,
                };
                if !value.is_null() {
                    copy.params.insert("duration".into(), value);
                }
            }
            _ => shot.hold_ms = Some(ms.max(1)),
        }
    }
    Ok(shot)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::edit::History;
    use crate::shotlist::{read_csv, read_fountain};

    /// A Character shared from outside, a T2I made from a prompt with fields, and an I2V of it.
    fn board() -> (Document, Vec<NodeId>, NodeId) {
        let c = Catalog::builtin();
        let mut doc = Document::default();
        let character = doc.add_node(Node::new(c.get("character").expect("k"), [0.0, 0.0]));
        let mut t2i = Node::new(c.get("t2i").expect("k"), [400.0, 0.0]);
        t2i.params.insert(
            "prompt".into(),
            Value::from("{shot_type} of Mara: {description}"),
        );
        let t2i = doc.add_node(t2i);
        let i2v = doc.add_node(Node::new(c.get("i2v").expect("k"), [700.0, 0.0]));
        doc.connect(
            c,
            Wire {
                from: t2i,
                to: i2v,
                input: "image".into(),
                slot: 0,
            },
            false,
        )
        .expect("wire");
        let _ = character;
        (doc, vec![t2i, i2v], i2v)
    }

    #[test]
    fn each_row_becomes_a_framed_copy_and_a_shot_in_one_undo_step() {
        let c = Catalog::builtin();
        let (mut doc, template, i2v) = board();
        let before = doc.clone();
        let list = read_csv(
            b"Shot,Title,Description,Shot size,Duration\n\
              1,Roof,Mara on the ledge,WS,6\n\
              2,Stairs,Mara runs down,CU,2.5\n",
        )
        .expect("csv");
        let batch = plan(&doc, c, &list, &template).expect("plan");
        assert_eq!(batch.nodes.len(), 4);
        assert_eq!(batch.shots.len(), 2);
        let mut h = History::new(10);
        h.apply(&mut doc, c, "Import shot list", batch.edits, None)
            .expect("apply");
        assert_eq!(doc.nodes.len(), 3 + 4);
        assert_eq!(doc.frames.len(), 2);
        assert_eq!(doc.frames[0].title, "1 · Roof");
        assert_eq!(doc.sequence.shots.len(), 2);
        let roof = &doc.sequence.shots[0];
        assert_eq!(roof.node, batch.shot_nodes[0]);
        assert_ne!(roof.node, i2v, "the copy, not the template");
        assert_eq!(roof.camera.shot_type, "WS");
        assert_eq!(roof.description, "Mara on the ledge");
        let clip = doc.node(roof.node).expect("copy");
        assert_eq!(clip.kind, "i2v");
        assert_eq!(
            clip.param_f64("duration"),
            Some(6.0),
            "the clip is made that long"
        );
        // The copy's picture node carries the row in its prompt and feeds its clip node.
        let wire = doc
            .wires
            .iter()
            .find(|w| w.to == roof.node)
            .expect("copied wire");
        let picture = doc.node(wire.from).expect("picture");
        assert_eq!(picture.param_str("prompt"), "WS of Mara: Mara on the ledge");
        assert_ne!(
            picture.seed(),
            before.node(template[0]).expect("t").seed(),
            "a seed of its own"
        );
        // Every copy sits inside its frame.
        for (frame, shot) in doc.frames.iter().zip(&doc.sequence.shots) {
            let n = doc.node(shot.node).expect("node");
            let [x, y, w, hgt] = frame.rect;
            assert!(n.pos[0] >= x && n.pos[0] <= x + w && n.pos[1] >= y && n.pos[1] <= y + hgt);
        }
        assert!(h.undo(&mut doc, c).is_some());
        assert_eq!(doc, before, "one undo step takes the whole batch back");
    }

    #[test]
    fn wires_from_outside_reach_every_copy_and_stills_hold_their_duration() {
        let c = Catalog::builtin();
        let mut doc = Document::default();
        let character = doc.add_node(Node::new(c.get("character").expect("k"), [0.0, 0.0]));
        let mut pose = Node::new(c.get("i2i").expect("k"), [400.0, 0.0]);
        pose.params.insert("prompt".into(), Value::from("{title}"));
        pose.seed_pinned = true;
        let pose_seed = pose.seed();
        let pose = doc.add_node(pose);
        doc.connect(
            c,
            Wire {
                from: character,
                to: pose,
                input: "image".into(),
                slot: 0,
            },
            false,
        )
        .expect("wire");
        let list = read_fountain(b"INT. A\n\nOne.\n\nEXT. B\n\nTwo.\n").expect("fountain");
        let mut list = list;
        list.rows[1].fields.insert("duration".into(), "0:04".into());
        list.fields.push("duration".into());
        let batch = plan(&doc, c, &list, &[pose]).expect("plan");
        History::new(4)
            .apply(&mut doc, c, "Import", batch.edits, None)
            .expect("apply");
        for shot in &doc.sequence.shots {
            assert!(
                doc.wires
                    .iter()
                    .any(|w| w.from == character && w.to == shot.node)
            );
            assert_eq!(doc.node(shot.node).expect("n").seed(), pose_seed, "pinned");
        }
        assert_eq!(doc.sequence.shots[0].hold_ms, None);
        assert_eq!(doc.sequence.shots[1].hold_ms, Some(4_000));
        assert_eq!(
            doc.node(doc.sequence.shots[1].node)
                .expect("n")
                .param_str("prompt"),
            "EXT. B"
        );
    }

    #[test]
    fn bad_templates_and_rows_change_nothing_and_say_why() {
        let c = Catalog::builtin();
        let (doc, template, _) = board();
        let list = read_csv(b"title\nRoof\n").expect("csv");
        assert_eq!(
            plan(&doc, c, &list, &template)
                .expect_err("unknown field")
                .to_string(),
            "the template's prompts use {description}, which the shot list has no field for (it has: title)"
        );
        assert_eq!(
            plan(&doc, c, &list, &[]).expect_err("empty"),
            BatchError::EmptyTemplate
        );
        let prompt_only: Vec<NodeId> = doc
            .nodes
            .values()
            .filter(|n| n.kind == "character")
            .map(|n| n.id)
            .collect();
        let list = read_csv(b"description,shot_type\nx,y\n").expect("csv");
        assert!(
            plan(&doc, c, &list, &prompt_only).is_ok(),
            "a character is a picture"
        );
        let ghost = NodeId::new();
        assert_eq!(
            plan(&doc, c, &list, &[ghost]).expect_err("ghost"),
            BatchError::NoSuchNode(ghost)
        );
        let bad = read_csv(b"description,shot_type,duration\nx,y,soon\n").expect("csv");
        assert_eq!(
            plan(&doc, c, &bad, &template)
                .expect_err("duration")
                .to_string(),
            "line 2: duration `soon` is not a length in seconds (3, 2.5, 0:04)"
        );
        let mut prompt_doc = Document::default();
        let p = prompt_doc.add_node(Node::new(c.get("prompt").expect("k"), [0.0, 0.0]));
        assert_eq!(
            plan(&prompt_doc, c, &list, &[p]).expect_err("no shot node"),
            BatchError::NoShotNode
        );
    }

    #[test]
    fn templates_are_named_by_frame_or_node_ids() {
        let (mut doc, template, _) = board();
        doc.frames
            .push(Frame::new("Template", [380.0, -40.0, 600.0, 400.0]));
        let by_title = template_from_spec(&doc, "Template").expect("title");
        assert_eq!(
            by_title.iter().copied().collect::<BTreeSet<_>>(),
            template.iter().copied().collect()
        );
        let id = doc.frames[0].id.to_string();
        assert_eq!(template_from_spec(&doc, &id).expect("id").len(), 2);
        let ids = format!("{},{}", template[0].0, template[1].0);
        assert_eq!(template_from_spec(&doc, &ids).expect("ids"), template);
        assert!(matches!(
            template_from_spec(&doc, "Nope"),
            Err(BatchError::NoSuchTemplate(_))
        ));
    }

    #[test]
    fn seconds_read_as_shot_lists_write_them() {
        assert_eq!(parse_seconds("3"), Some(3.0));
        assert_eq!(parse_seconds(" 2.5s "), Some(2.5));
        assert_eq!(parse_seconds("1:05"), Some(65.0));
        assert_eq!(parse_seconds("0"), None);
        assert_eq!(parse_seconds("-2"), None);
        assert_eq!(parse_seconds("NaN"), None);
        assert_eq!(parse_seconds("soon"), None);
    }
}
