//! Reversible edits of a board, and an undo history made of them.
//!
//! Every change the app makes goes through [`Edit`]: applying one returns the edit that undoes
//! it, so undo never needs whole-board snapshots (a 10,000-node board stays cheap to edit). A
//! user action is one [`Step`] of edits, so a paste of 20 nodes undoes in one go.

use serde::{Deserialize, Serialize};

use crate::catalog::Catalog;
use crate::document::{Document, Frame, Node, NodeId, Route, Wire};
use crate::error::ConnectError;
use crate::sequence::Sequence;

/// One primitive, reversible change.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Edit {
    /// Adds a node (which must not exist yet).
    AddNode(Box<Node>),
    /// Removes a node and the wires touching it.
    RemoveNode(NodeId),
    /// Replaces a node's whole state (position, title, params, flags, takes).
    ReplaceNode(Box<Node>),
    /// Adds a wire, replacing whatever occupies its input slot.
    Connect(Wire),
    /// Removes a wire.
    Disconnect(Wire),
    /// Replaces the frames.
    SetFrames(Vec<Frame>),
    /// Renames the board.
    SetName(String),
    /// Sets (or, with `None`, clears) the board's route for every node of a kind.
    SetKindRoute { kind: String, route: Option<Route> },
    /// Replaces the sequence (shots, their order and fields, the frame rate).
    SetSequence(Box<Sequence>),
}

/// Why an edit could not be applied. Nothing changed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum EditError {
    #[error("node {0} is already on the board")]
    NodeExists(NodeId),
    #[error("no node {0} on the board")]
    NoSuchNode(NodeId),
    #[error("no such wire")]
    NoSuchWire,
    #[error(transparent)]
    Connect(#[from] ConnectError),
}

impl Edit {
    /// Applies the edit and returns the edits that undo it (in the order to apply them).
    pub fn apply(self, doc: &mut Document, catalog: &Catalog) -> Result<Vec<Edit>, EditError> {
        match self {
            Edit::AddNode(node) => {
                if doc.nodes.contains_key(&node.id) {
                    return Err(EditError::NodeExists(node.id));
                }
                let id = doc.add_node(*node);
                Ok(vec![Edit::RemoveNode(id)])
            }
            Edit::RemoveNode(id) => {
                let wires: Vec<Wire> = doc
                    .wires
                    .iter()
                    .filter(|w| w.from == id || w.to == id)
                    .cloned()
                    .collect();
                let node = doc.remove_node(id).ok_or(EditError::NoSuchNode(id))?;
                let mut undo = vec![Edit::AddNode(Box::new(node))];
                undo.extend(wires.into_iter().map(Edit::Connect));
                Ok(undo)
            }
            Edit::ReplaceNode(node) => {
                let slot = doc
                    .nodes
                    .get_mut(&node.id)
                    .ok_or(EditError::NoSuchNode(node.id))?;
                let old = std::mem::replace(slot, *node);
                Ok(vec![Edit::ReplaceNode(Box::new(old))])
            }
            Edit::Connect(wire) => {
                let replaced = doc.connect(catalog, wire.clone(), true)?;
                let mut undo = vec![Edit::Disconnect(wire)];
                undo.extend(replaced.map(Edit::Connect));
                Ok(undo)
            }
            Edit::Disconnect(wire) => {
                if doc.disconnect(&wire) {
                    Ok(vec![Edit::Connect(wire)])
                } else {
                    Err(EditError::NoSuchWire)
                }
            }
            Edit::SetFrames(frames) => {
                let old = std::mem::replace(&mut doc.frames, frames);
                Ok(vec![Edit::SetFrames(old)])
            }
            Edit::SetName(name) => {
                let old = std::mem::replace(&mut doc.name, name);
                Ok(vec![Edit::SetName(old)])
            }
            Edit::SetKindRoute { kind, route } => {
                let old = match route {
                    Some(r) => doc.settings.routes.insert(kind.clone(), r),
                    None => doc.settings.routes.remove(&kind),
                };
                Ok(vec![Edit::SetKindRoute { kind, route: old }])
            }
            Edit::SetSequence(sequence) => {
                let old = std::mem::replace(&mut doc.sequence, *sequence);
                Ok(vec![Edit::SetSequence(Box::new(old))])
            }
        }
    }
}

/// One user action: a label for the Undo menu and the edits that reverse it.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    pub label: String,
    /// Edits that undo the action, in the order to apply them.
    undo: Vec<Edit>,
    /// When set, a following step with the same key merges into this one (typing in a prompt
    /// box is one undo step, not one per key).
    merge_key: Option<String>,
}

/// Applies `edits` as one step: all or nothing. On an error, the edits already applied are
/// rolled back and the board is as it was.
pub fn apply_all(
    doc: &mut Document,
    catalog: &Catalog,
    edits: Vec<Edit>,
) -> Result<Vec<Edit>, EditError> {
    let mut undo: Vec<Edit> = Vec::new();
    for edit in edits {
        match edit.apply(doc, catalog) {
            Ok(mut inverse) => {
                // Undo runs newest first: this edit's inverse goes before the earlier ones.
                inverse.append(&mut undo);
                undo = inverse;
            }
            Err(e) => {
                rollback(doc, catalog, undo);
                return Err(e);
            }
        }
    }
    Ok(undo)
}

fn rollback(doc: &mut Document, catalog: &Catalog, undo: Vec<Edit>) {
    for edit in undo {
        // Inverses of edits that just succeeded cannot fail; if one ever did, the rest still run.
        let _ = edit.apply(doc, catalog);
    }
}

/// Undo and redo stacks.
#[derive(Clone, Debug, Default)]
pub struct History {
    undo: Vec<Step>,
    redo: Vec<Step>,
    /// Bumped on every change, so the app can tell "saved" from "modified".
    revision: u64,
    limit: usize,
}

impl History {
    pub fn new(limit: usize) -> Self {
        Self {
            limit: limit.max(1),
            ..Self::default()
        }
    }

    /// Applies `edits` as one undoable step named `label`. `merge_key`: consecutive steps with
    /// the same key become one (e.g. `"param:<node>:prompt"` while typing).
    pub fn apply(
        &mut self,
        doc: &mut Document,
        catalog: &Catalog,
        label: impl Into<String>,
        edits: Vec<Edit>,
        merge_key: Option<String>,
    ) -> Result<(), EditError> {
        if edits.is_empty() {
            return Ok(());
        }
        let mut undo = apply_all(doc, catalog, edits)?;
        self.redo.clear();
        self.revision += 1;
        if let (Some(key), Some(last)) = (&merge_key, self.undo.last_mut())
            && last.merge_key.as_ref() == Some(key)
        {
            // Keep the oldest state: undoing the merged step goes back to before the first.
            undo.append(&mut last.undo);
            last.undo = undo;
            return Ok(());
        }
        self.undo.push(Step {
            label: label.into(),
            undo,
            merge_key,
        });
        if self.undo.len() > self.limit.max(1) {
            self.undo.remove(0);
        }
        Ok(())
    }

    /// Ends merging (e.g. when a text box loses focus).
    pub fn seal(&mut self) {
        if let Some(last) = self.undo.last_mut() {
            last.merge_key = None;
        }
    }

    /// Undoes the last step; returns its label.
    pub fn undo(&mut self, doc: &mut Document, catalog: &Catalog) -> Option<String> {
        let step = self.undo.pop()?;
        match apply_all(doc, catalog, step.undo) {
            Ok(redo) => {
                self.revision += 1;
                let label = step.label.clone();
                self.redo.push(Step {
                    label: step.label,
                    undo: redo,
                    merge_key: None,
                });
                Some(label)
            }
            Err(_) => None,
        }
    }

    /// Redoes the last undone step; returns its label.
    pub fn redo(&mut self, doc: &mut Document, catalog: &Catalog) -> Option<String> {
        let step = self.redo.pop()?;
        match apply_all(doc, catalog, step.undo) {
            Ok(undo) => {
                self.revision += 1;
                let label = step.label.clone();
                self.undo.push(Step {
                    label: step.label,
                    undo,
                    merge_key: None,
                });
                Some(label)
            }
            Err(_) => None,
        }
    }

    pub fn can_undo(&self) -> Option<&str> {
        self.undo.last().map(|s| s.label.as_str())
    }

    pub fn can_redo(&self) -> Option<&str> {
        self.redo.last().map(|s| s.label.as_str())
    }

    /// Content hashes of every take output file an undo or redo step could bring back (a
    /// deleted take, a deleted node's takes): such files must stay in the project.
    pub fn take_hashes(&self) -> std::collections::BTreeSet<String> {
        self.undo
            .iter()
            .chain(&self.redo)
            .flat_map(|step| &step.undo)
            .filter_map(|edit| match edit {
                Edit::AddNode(n) | Edit::ReplaceNode(n) => Some(n),
                _ => None,
            })
            .flat_map(|n| &n.takes)
            .flat_map(|t| t.outputs.iter().map(|o| o.hash.clone()))
            .collect()
    }

    pub fn revision(&self) -> u64 {
        self.revision
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;

    fn node(kind: &str) -> Node {
        Node::new(Catalog::builtin().get(kind).expect("kind"), [0.0, 0.0])
    }

    #[test]
    fn a_paste_of_twenty_nodes_undoes_and_redoes_in_one_step() {
        let c = Catalog::builtin();
        let mut doc = Document::default();
        let mut h = History::new(100);
        let nodes: Vec<Node> = (0..20).map(|_| node("t2i")).collect();
        let first = nodes[0].id;
        let edits = nodes
            .into_iter()
            .map(|n| Edit::AddNode(Box::new(n)))
            .collect();
        h.apply(&mut doc, c, "Paste 20 nodes", edits, None)
            .expect("paste");
        assert_eq!(doc.nodes.len(), 20);
        assert_eq!(h.undo(&mut doc, c).as_deref(), Some("Paste 20 nodes"));
        assert!(doc.nodes.is_empty());
        h.redo(&mut doc, c).expect("redo");
        assert_eq!(doc.nodes.len(), 20);
        assert!(doc.nodes.contains_key(&first), "redo keeps the same ids");
    }

    #[test]
    fn a_kind_route_is_set_cleared_and_undone() {
        let c = Catalog::builtin();
        let mut doc = Document::default();
        let mut h = History::new(100);
        let set = |route| {
            vec![Edit::SetKindRoute {
                kind: "t2i".into(),
                route,
            }]
        };
        h.apply(&mut doc, c, "Route", set(Some(Route::Comfyui)), None)
            .expect("set");
        h.apply(&mut doc, c, "Route", set(Some(Route::Direct)), None)
            .expect("change");
        assert_eq!(doc.settings.routes.get("t2i"), Some(&Route::Direct));
        h.apply(&mut doc, c, "Route", set(None), None)
            .expect("clear");
        assert!(doc.settings.routes.is_empty());
        h.undo(&mut doc, c);
        assert_eq!(doc.settings.routes.get("t2i"), Some(&Route::Direct));
        h.undo(&mut doc, c);
        assert_eq!(doc.settings.routes.get("t2i"), Some(&Route::Comfyui));
        h.undo(&mut doc, c);
        assert!(doc.settings.routes.is_empty());
    }

    #[test]
    fn removing_a_node_and_undoing_restores_its_wires() {
        let c = Catalog::builtin();
        let mut doc = Document::default();
        let a = doc.add_node(node("t2i"));
        let b = doc.add_node(node("i2v"));
        let w = Wire {
            from: a,
            to: b,
            input: "image".into(),
            slot: 0,
        };
        doc.connect(c, w.clone(), false).expect("wire");
        let before = doc.clone();
        let mut h = History::new(10);
        h.apply(&mut doc, c, "Delete", vec![Edit::RemoveNode(a)], None)
            .expect("delete");
        assert!(doc.wires.is_empty());
        h.undo(&mut doc, c);
        assert_eq!(doc, before);
    }

    #[test]
    fn a_failing_step_changes_nothing() {
        let c = Catalog::builtin();
        let mut doc = Document::default();
        let a = doc.add_node(node("audio"));
        let b = doc.add_node(node("i2v"));
        let before = doc.clone();
        let mut h = History::new(10);
        let extra = node("t2i");
        let bad = Wire {
            from: a,
            to: b,
            input: "image".into(),
            slot: 0,
        };
        let err = h
            .apply(
                &mut doc,
                c,
                "Add and wire",
                vec![Edit::AddNode(Box::new(extra)), Edit::Connect(bad)],
                None,
            )
            .expect_err("audio into image is refused");
        assert!(matches!(
            err,
            EditError::Connect(ConnectError::TypeMismatch { .. })
        ));
        assert_eq!(doc, before, "the added node was rolled back");
        assert!(h.can_undo().is_none());
    }

    #[test]
    fn typing_merges_into_one_step_until_sealed() {
        let c = Catalog::builtin();
        let mut doc = Document::default();
        let a = doc.add_node(node("t2i"));
        let mut h = History::new(10);
        for text in ["a", "a k", "a knight"] {
            let mut n = doc.node(a).expect("a").clone();
            n.params.insert("prompt".into(), text.into());
            h.apply(
                &mut doc,
                c,
                "Edit prompt",
                vec![Edit::ReplaceNode(Box::new(n))],
                Some("p".into()),
            )
            .expect("edit");
        }
        h.seal();
        let mut n = doc.node(a).expect("a").clone();
        n.params.insert("prompt".into(), "a knight!".into());
        h.apply(
            &mut doc,
            c,
            "Edit prompt",
            vec![Edit::ReplaceNode(Box::new(n))],
            Some("p".into()),
        )
        .expect("edit");
        h.undo(&mut doc, c);
        assert_eq!(doc.node(a).expect("a").param_str("prompt"), "a knight");
        h.undo(&mut doc, c);
        assert_eq!(doc.node(a).expect("a").param_str("prompt"), "");
        assert!(h.can_undo().is_none());
    }

    #[test]
    fn replacing_a_wire_and_undoing_brings_the_old_one_back() {
        let c = Catalog::builtin();
        let mut doc = Document::default();
        let a = doc.add_node(node("t2i"));
        let b = doc.add_node(node("t2i"));
        let v = doc.add_node(node("i2v"));
        let wa = Wire {
            from: a,
            to: v,
            input: "image".into(),
            slot: 0,
        };
        doc.connect(c, wa.clone(), false).expect("wire");
        let mut h = History::new(10);
        let wb = Wire {
            from: b,
            ..wa.clone()
        };
        h.apply(
            &mut doc,
            c,
            "Connect",
            vec![Edit::Connect(wb.clone())],
            None,
        )
        .expect("replace");
        assert_eq!(doc.wires, vec![wb]);
        h.undo(&mut doc, c);
        assert_eq!(doc.wires, vec![wa]);
    }

    #[test]
    fn history_is_bounded() {
        let c = Catalog::builtin();
        let mut doc = Document::default();
        let mut h = History::new(3);
        for i in 0..5 {
            h.apply(
                &mut doc,
                c,
                format!("rename {i}"),
                vec![Edit::SetName(i.to_string())],
                None,
            )
            .expect("rename");
        }
        let mut undone = 0;
        while h.undo(&mut doc, c).is_some() {
            undone += 1;
        }
        assert_eq!(undone, 3);
        assert_eq!(doc.name, "1");
    }
}
