//! Copy and paste as text, so nodes move between boards (and app windows) through the system
//! clipboard. Pasted nodes get fresh ids; wires among them and their takes are kept. The text
//! names the project folder the nodes came from, so the app can bring their asset and take
//! files along into another project ([`files_of`]) before the paste is applied.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::catalog::Catalog;
use crate::document::{Document, Node, NodeId, Wire};
use crate::edit::Edit;
use crate::validate::{ParamError, check_param};

/// Marker field of clipboard text.
pub const CLIPBOARD_FORMAT: &str = "aktion-studio-nodes";
/// Largest clipboard text accepted.
pub const MAX_CLIPBOARD_BYTES: usize = 16 * 1024 * 1024;

#[derive(Serialize, Deserialize)]
struct Clip {
    format: String,
    version: u32,
    /// The project folder the nodes come from (their files are there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    source: Option<std::path::PathBuf>,
    nodes: Vec<Node>,
    wires: Vec<Wire>,
}

/// The files pasted nodes refer to, and the project folder they are in.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClipFiles {
    pub source: Option<std::path::PathBuf>,
    pub assets: Vec<crate::project::AssetRef>,
    /// Content hashes of take output files.
    pub takes: Vec<String>,
}

/// What clipboard text needs from its source project (empty for text that is not nodes).
pub fn files_of(text: &str) -> ClipFiles {
    if text.len() > MAX_CLIPBOARD_BYTES {
        return ClipFiles::default();
    }
    let Ok(clip) = serde_json::from_str::<Clip>(text) else {
        return ClipFiles::default();
    };
    let mut files = ClipFiles {
        source: clip.source,
        ..ClipFiles::default()
    };
    for n in &clip.nodes {
        files.assets.extend(
            n.params
                .values()
                .filter_map(crate::project::AssetRef::from_value),
        );
        files.takes.extend(
            n.takes
                .iter()
                .flat_map(|t| t.outputs.iter().map(|o| o.hash.clone())),
        );
    }
    files.assets.sort_by(|a, b| a.hash.cmp(&b.hash));
    files.assets.dedup();
    files.takes.sort();
    files.takes.dedup();
    files
}

/// Why clipboard text could not be pasted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PasteError {
    #[error("the clipboard does not hold Aktion Studio nodes")]
    NotNodes,
    #[error("the clipboard text is too large")]
    TooLarge,
    #[error("the pasted node kind `{0}` is unknown to this version")]
    UnknownKind(String),
    #[error("a pasted node has a bad parameter `{0}`: {1}")]
    BadParam(String, ParamError),
}

/// The selected nodes (with their takes) and the wires among them, as clipboard text; `source`
/// is the project folder their files are in.
pub fn copy(doc: &Document, ids: &[NodeId], source: Option<&std::path::Path>) -> String {
    let set: std::collections::BTreeSet<NodeId> = ids.iter().copied().collect();
    let nodes: Vec<Node> = set.iter().filter_map(|id| doc.node(*id)).cloned().collect();
    let wires = doc
        .wires
        .iter()
        .filter(|w| set.contains(&w.from) && set.contains(&w.to))
        .cloned()
        .collect();
    let clip = Clip {
        format: CLIPBOARD_FORMAT.into(),
        version: 1,
        source: source.map(std::path::Path::to_path_buf),
        nodes,
        wires,
    };
    serde_json::to_string(&clip).unwrap_or_default()
}

/// The edits that paste clipboard text with its top-left node at `at`, and the new node ids.
pub fn paste(
    text: &str,
    at: [f32; 2],
    catalog: &Catalog,
) -> Result<(Vec<Edit>, Vec<NodeId>), PasteError> {
    if text.len() > MAX_CLIPBOARD_BYTES {
        return Err(PasteError::TooLarge);
    }
    let clip: Clip = serde_json::from_str(text).map_err(|_| PasteError::NotNodes)?;
    if clip.format != CLIPBOARD_FORMAT {
        return Err(PasteError::NotNodes);
    }
    let min_x = clip
        .nodes
        .iter()
        .map(|n| n.pos[0])
        .fold(f32::INFINITY, f32::min);
    let min_y = clip
        .nodes
        .iter()
        .map(|n| n.pos[1])
        .fold(f32::INFINITY, f32::min);
    let mut remap = BTreeMap::new();
    let mut edits = Vec::new();
    let mut ids = Vec::new();
    for mut n in clip.nodes {
        let kind = catalog
            .get(&n.kind)
            .ok_or_else(|| PasteError::UnknownKind(n.kind.clone()))?;
        for p in &kind.params {
            check_param(p, n.params.get(&p.id))
                .map_err(|e| PasteError::BadParam(p.id.clone(), e))?;
        }
        let new = NodeId::new();
        remap.insert(n.id, new);
        n.id = new;
        n.pos = [at[0] + (n.pos[0] - min_x), at[1] + (n.pos[1] - min_y)];
        if !n.pos.iter().all(|v| v.is_finite()) {
            n.pos = at;
        }
        ids.push(new);
        edits.push(Edit::AddNode(Box::new(n)));
    }
    for w in clip.wires {
        if let (Some(&from), Some(&to)) = (remap.get(&w.from), remap.get(&w.to)) {
            edits.push(Edit::Connect(Wire { from, to, ..w }));
        }
    }
    Ok((edits, ids))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::edit::History;

    #[test]
    fn copy_paste_between_boards_keeps_internal_wires_with_new_ids() {
        let c = Catalog::builtin();
        let mut a = Document::default();
        let t = a.add_node(Node::new(c.get("t2i").expect("t2i"), [100.0, 100.0]));
        let v = a.add_node(Node::new(c.get("i2v").expect("i2v"), [400.0, 120.0]));
        let outside = a.add_node(Node::new(c.get("prompt").expect("prompt"), [0.0, 0.0]));
        a.connect(
            c,
            Wire {
                from: t,
                to: v,
                input: "image".into(),
                slot: 0,
            },
            false,
        )
        .expect("w");
        a.connect(
            c,
            Wire {
                from: outside,
                to: t,
                input: "prompt".into(),
                slot: 0,
            },
            false,
        )
        .expect("w");
        let text = copy(&a, &[t, v], None);

        let mut b = Document::default();
        let (edits, ids) = paste(&text, [0.0, 0.0], c).expect("paste");
        let mut h = History::new(10);
        h.apply(&mut b, c, "Paste", edits, None).expect("apply");
        assert_eq!(b.nodes.len(), 2);
        assert_eq!(b.wires.len(), 1, "only the wire inside the selection");
        assert!(!ids.contains(&t) && !ids.contains(&v), "fresh ids");
        let min: Vec<[f32; 2]> = b.nodes.values().map(|n| n.pos).collect();
        assert!(min.contains(&[0.0, 0.0]) && min.contains(&[300.0, 20.0]));
        // Pasting twice into the same board works too.
        let (edits, _) = paste(&text, [0.0, 500.0], c).expect("paste");
        h.apply(&mut b, c, "Paste", edits, None).expect("apply");
        assert_eq!(b.nodes.len(), 4);
    }

    #[test]
    fn foreign_or_hostile_clipboard_text_is_refused() {
        let c = Catalog::builtin();
        assert_eq!(
            paste("hello", [0.0, 0.0], c).unwrap_err(),
            PasteError::NotNodes
        );
        assert_eq!(
            paste("{}", [0.0, 0.0], c).unwrap_err(),
            PasteError::NotNodes
        );
        let unknown = r#"{"format":"aktion-studio-nodes","version":1,"nodes":[{"id":"00000000-0000-4000-8000-000000000001","kind":"x","pos":[0,0]}],"wires":[]}"#;
        assert_eq!(
            paste(unknown, [0.0, 0.0], c).unwrap_err(),
            PasteError::UnknownKind("x".into())
        );
        let bad = r#"{"format":"aktion-studio-nodes","version":1,"nodes":[{"id":"00000000-0000-4000-8000-000000000001","kind":"i2v","pos":[0,0],"params":{"duration":"long"}}],"wires":[]}"#;
        assert!(matches!(
            paste(bad, [0.0, 0.0], c),
            Err(PasteError::BadParam(..))
        ));
        let huge = "x".repeat(MAX_CLIPBOARD_BYTES + 1);
        assert_eq!(
            paste(&huge, [0.0, 0.0], c).unwrap_err(),
            PasteError::TooLarge
        );
    }

    #[test]
    fn copied_nodes_name_their_source_and_the_files_they_need() {
        let c = Catalog::builtin();
        let mut a = Document::default();
        let mut image = Node::new(c.get("image").expect("image"), [0.0, 0.0]);
        let asset = crate::project::AssetRef {
            hash: "a".repeat(64),
            name: "mara.png".into(),
            ext: "png".into(),
        };
        image.params.insert("file".into(), asset.to_value());
        let img = a.add_node(image);
        let mut t2i = Node::new(c.get("t2i").expect("t2i"), [300.0, 0.0]);
        let take = crate::document::Take {
            id: crate::document::TakeId::new(),
            signature: "sig".into(),
            outputs: vec![crate::document::TakeOutput {
                hash: "b".repeat(64),
                mime: "image/png".into(),
                name: "t2i.png".into(),
            }],
            meta: crate::document::TakeMeta::default(),
            created: 1,
        };
        t2i.active_take = Some(take.id);
        t2i.takes.push(take);
        let t = a.add_node(t2i);
        let source = std::path::Path::new("/films/rooftop.aktion");
        let text = copy(&a, &[img, t], Some(source));

        let files = files_of(&text);
        assert_eq!(files.source.as_deref(), Some(source));
        assert_eq!(files.assets, vec![asset]);
        assert_eq!(files.takes, vec!["b".repeat(64)]);
        // The takes come along with the nodes.
        let (edits, ids) = paste(&text, [0.0, 0.0], c).expect("paste");
        let mut b = Document::default();
        History::new(10)
            .apply(&mut b, c, "Paste", edits, None)
            .expect("apply");
        let pasted = ids
            .iter()
            .filter_map(|id| b.node(*id))
            .find(|n| n.kind == "t2i")
            .expect("t2i");
        assert_eq!(pasted.takes.len(), 1);
        assert!(pasted.active_take().is_some());
        assert_eq!(files_of("not nodes"), ClipFiles::default());
    }
}
