//! Whole-board validation: every problem is reported, in a stable order.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::catalog::{Catalog, ParamKind, ParamSchema};
use crate::document::{Document, NodeId, Wire};
use crate::error::Issue;
use crate::sketch::Stroke;

/// Longest text parameter accepted (a screenplay scene fits; a pasted novel does not).
pub const MAX_TEXT_LEN: usize = 100_000;
/// Most stroke points in one sketch.
pub const MAX_SKETCH_POINTS: usize = 2_000_000;

/// Checks the whole board and returns every issue found (empty when the board is valid).
pub fn validate(doc: &Document, catalog: &Catalog) -> Vec<Issue> {
    let mut issues: Vec<Issue> = doc.sequence.issues().into_iter().map(Issue::from).collect();
    for (key, node) in &doc.nodes {
        if *key != node.id {
            issues.push(Issue::IdMismatch {
                node: node.id,
                key: key.to_string(),
            });
        }
        let Some(kind) = catalog.get(&node.kind) else {
            issues.push(Issue::UnknownKind {
                node: node.id,
                kind: node.kind.clone(),
            });
            continue;
        };
        for p in &kind.params {
            if let Err(reason) = check_param(p, node.params.get(&p.id)) {
                issues.push(Issue::BadParam {
                    node: node.id,
                    param: p.id.clone(),
                    reason,
                });
            }
        }
    }

    let mut seen_inputs: BTreeMap<(NodeId, &str, u32), usize> = BTreeMap::new();
    for w in &doc.wires {
        if !doc.nodes.contains_key(&w.from) {
            issues.push(Issue::DanglingFrom {
                from: w.from,
                to: w.to,
                input: w.input.clone(),
            });
            continue;
        }
        if !doc.nodes.contains_key(&w.to) {
            issues.push(Issue::DanglingTo {
                from: w.from,
                to: w.to,
            });
            continue;
        }
        *seen_inputs
            .entry((w.to, w.input.as_str(), w.slot))
            .or_default() += 1;
        // Check the wire as if it were new, on a board without it (so it does not collide with
        // itself); cycles are reported once for the whole board below.
        if let Err(reason) = check_existing_wire(doc, catalog, w) {
            issues.push(Issue::BadWire {
                from: w.from,
                to: w.to,
                input: w.input.clone(),
                slot: w.slot,
                reason,
            });
        }
    }
    for ((node, input, slot), count) in seen_inputs {
        if count > 1 {
            issues.push(Issue::DuplicateInput {
                node,
                input: input.to_owned(),
                slot,
            });
        }
    }

    if doc.topo_order(&[]).is_none() {
        let nodes = nodes_on_cycles(doc);
        if let Some(&first) = nodes.first() {
            issues.push(Issue::Cycle { first, nodes });
        }
    }
    issues
}

fn check_existing_wire(
    doc: &Document,
    catalog: &Catalog,
    w: &Wire,
) -> Result<(), crate::error::ConnectError> {
    use crate::error::ConnectError;
    let (Some(from), Some(to)) = (doc.nodes.get(&w.from), doc.nodes.get(&w.to)) else {
        return Err(ConnectError::NoSuchNode(w.from));
    };
    if w.from == w.to {
        return Err(ConnectError::SelfLoop);
    }
    // Unknown kinds are reported per node already.
    let (Some(fk), Some(tk)) = (catalog.get(&from.kind), catalog.get(&to.kind)) else {
        return Ok(());
    };
    let input = tk
        .input(&w.input)
        .ok_or_else(|| ConnectError::NoSuchInput {
            kind: tk.title.clone(),
            input: w.input.clone(),
        })?;
    if !fk.output.feeds(input.ty) {
        return Err(ConnectError::TypeMismatch {
            output: fk.output,
            input: input.ty,
            input_label: input.label.clone(),
        });
    }
    if w.slot >= input.slot_count() {
        return Err(ConnectError::NoSuchSlot {
            input_label: input.label.clone(),
            slot: w.slot,
            slots: input.slot_count(),
        });
    }
    Ok(())
}

/// Nodes that cannot be ordered (on or behind a cycle), by repeatedly peeling off nodes with no
/// remaining inputs and outputs.
fn nodes_on_cycles(doc: &Document) -> Vec<NodeId> {
    let mut alive: std::collections::BTreeSet<NodeId> = doc.nodes.keys().copied().collect();
    loop {
        let removable: Vec<NodeId> = alive
            .iter()
            .copied()
            .filter(|&n| {
                let has_in = doc
                    .wires
                    .iter()
                    .any(|w| w.to == n && alive.contains(&w.from));
                let has_out = doc
                    .wires
                    .iter()
                    .any(|w| w.from == n && alive.contains(&w.to));
                !has_in || !has_out
            })
            .collect();
        if removable.is_empty() {
            break;
        }
        for n in removable {
            alive.remove(&n);
        }
    }
    alive.into_iter().collect()
}

/// Why a parameter value does not fit its schema. Reads after the parameter's name:
/// "Steps is 900, outside 1..=150".
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    #[error("must be {0}")]
    WrongType(&'static str),
    #[error("is {len} characters long (at most {max})")]
    TooLong { len: usize, max: usize },
    #[error("is {value}, outside {min}..={max}")]
    OutOfRange {
        value: String,
        min: String,
        max: String,
    },
    #[error("is `{value}`, not one of {options}")]
    NotAChoice { value: String, options: String },
    #[error("is not a list of strokes: {0}")]
    NotStrokes(String),
    #[error("has {points} points (at most {max})")]
    TooManyPoints { points: usize, max: usize },
    #[error("has a point or width that is not a finite number")]
    NotFinite,
    #[error("must name a file by `hash`")]
    NoHash,
    #[error("has a malformed content hash `{0}`")]
    BadHash(String),
    #[error("has a malformed file extension `{0}`")]
    BadExtension(String),
    #[error("must have x, y, w and h")]
    CropFields,
    #[error("must lie inside the image (fractions 0..1)")]
    CropOutside,
}

fn out_of_range(
    value: &dyn std::fmt::Display,
    min: &dyn std::fmt::Display,
    max: &dyn std::fmt::Display,
) -> ParamError {
    ParamError::OutOfRange {
        value: value.to_string(),
        min: min.to_string(),
        max: max.to_string(),
    }
}

/// Checks one parameter value against its schema. `None` (missing) is accepted: defaults fill in.
pub fn check_param(schema: &ParamSchema, value: Option<&Value>) -> Result<(), ParamError> {
    let Some(value) = value else { return Ok(()) };
    match &schema.kind {
        ParamKind::Text { .. } => match value.as_str() {
            Some(s) if s.len() > MAX_TEXT_LEN => Err(ParamError::TooLong {
                len: s.len(),
                max: MAX_TEXT_LEN,
            }),
            Some(_) => Ok(()),
            None => Err(ParamError::WrongType("text")),
        },
        ParamKind::Int { min, max, .. } => match value.as_i64() {
            Some(v) if (*min..=*max).contains(&v) => Ok(()),
            Some(v) => Err(out_of_range(&v, min, max)),
            None => Err(ParamError::WrongType("a whole number")),
        },
        ParamKind::Float { min, max, .. } => match value.as_f64() {
            Some(v) if v.is_finite() && v >= *min && v <= *max => Ok(()),
            Some(v) => Err(out_of_range(&v, min, max)),
            None => Err(ParamError::WrongType("a number")),
        },
        ParamKind::Choice { options, .. } => match value.as_str() {
            Some(s) if options.iter().any(|o| o == s) => Ok(()),
            Some(s) => Err(ParamError::NotAChoice {
                value: s.to_owned(),
                options: options.join(", "),
            }),
            None => Err(ParamError::WrongType("one of the listed choices")),
        },
        ParamKind::Bool { .. } => value
            .is_boolean()
            .then_some(())
            .ok_or(ParamError::WrongType("true or false")),
        ParamKind::Seed => value
            .as_u64()
            .map(|_| ())
            .ok_or(ParamError::WrongType("a non-negative whole number")),
        ParamKind::Asset { .. } => check_asset(value),
        ParamKind::Strokes => {
            let strokes: Vec<Stroke> = serde_json::from_value(value.clone())
                .map_err(|e| ParamError::NotStrokes(e.to_string()))?;
            let points: usize = strokes.iter().map(|s| s.points.len()).sum();
            if points > MAX_SKETCH_POINTS {
                return Err(ParamError::TooManyPoints {
                    points,
                    max: MAX_SKETCH_POINTS,
                });
            }
            let finite = strokes
                .iter()
                .all(|s| s.width.is_finite() && s.points.iter().flatten().all(|v| v.is_finite()));
            finite.then_some(()).ok_or(ParamError::NotFinite)
        }
        ParamKind::Crop => check_crop(value),
    }
}

fn check_asset(value: &Value) -> Result<(), ParamError> {
    if value.is_null() {
        return Ok(());
    }
    let hash = value
        .get("hash")
        .and_then(Value::as_str)
        .ok_or(ParamError::NoHash)?;
    if !is_hex_hash(hash) {
        return Err(ParamError::BadHash(hash.to_owned()));
    }
    if let Some(ext) = value.get("ext").and_then(Value::as_str)
        && (ext.len() > 8 || !ext.chars().all(|c| c.is_ascii_alphanumeric()))
    {
        return Err(ParamError::BadExtension(ext.to_owned()));
    }
    Ok(())
}

fn check_crop(value: &Value) -> Result<(), ParamError> {
    if value.is_null() {
        return Ok(());
    }
    let get = |k: &str| value.get(k).and_then(Value::as_f64);
    let (Some(x), Some(y), Some(w), Some(h)) = (get("x"), get("y"), get("w"), get("h")) else {
        return Err(ParamError::CropFields);
    };
    let ok = [x, y, w, h].iter().all(|v| (0.0..=1.0).contains(v))
        && w > 0.0
        && h > 0.0
        && x + w <= 1.0 + 1e-6
        && y + h <= 1.0 + 1e-6;
    ok.then_some(()).ok_or(ParamError::CropOutside)
}

/// 64 lowercase hex characters.
pub fn is_hex_hash(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}
