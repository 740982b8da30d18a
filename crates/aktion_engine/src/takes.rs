//! Takes: every run of a node keeps its result; the active take feeds downstream. Picking a take
//! restores the parameters that made it, so the board and the cache stay consistent.

use aktion_cache::CachedResult;
use aktion_graph::{Document, NodeId, Take, TakeId, TakeMeta, TakeOutput};

/// Records a result as a take of `node` (or re-activates the take it already is) and makes it
/// the active take. Returns its id, or `None` when the node is gone.
pub fn record_take(
    doc: &mut Document,
    node: NodeId,
    signature: &str,
    result: &CachedResult,
) -> Option<TakeId> {
    let n = doc.node_mut(node)?;
    let mut meta = TakeMeta::from_cached(&result.meta);
    // The run drew this seed (an unpinned seed is new for each run): the node takes it, so
    // its signature is the take's again and the next run finds it.
    if !n.seed_pinned
        && n.params.contains_key("seed")
        && let Some(seed) = meta.params.get("seed").filter(|s| s.is_u64())
    {
        n.params.insert("seed".into(), seed.clone());
    }
    if let Some(t) = n.takes.iter().find(|t| t.signature == signature) {
        let id = t.id;
        n.active_take = Some(id);
        return Some(id);
    }
    if meta.params.is_empty() {
        meta.params = n.params.clone();
    }
    let take = Take {
        id: TakeId::new(),
        signature: signature.to_owned(),
        outputs: result
            .outputs
            .iter()
            .map(|o| TakeOutput {
                hash: o.hash.to_hex(),
                mime: o.mime.clone(),
                name: o.name.clone(),
            })
            .collect(),
        meta,
        created: result.created_unix_ms,
    };
    let id = take.id;
    n.takes.push(take);
    n.active_take = Some(id);
    Some(id)
}

/// Makes `take` the active take of `node` and restores its parameters. Returns false when either
/// is unknown.
pub fn pick_take(doc: &mut Document, node: NodeId, take: TakeId) -> bool {
    let Some(n) = doc.node_mut(node) else {
        return false;
    };
    let Some(t) = n.takes.iter().find(|t| t.id == take) else {
        return false;
    };
    let params = t.meta.params.clone();
    for (k, v) in params {
        n.params.insert(k, v);
    }
    n.active_take = Some(take);
    true
}

/// Deletes a take; the newest remaining take becomes active if the active one was deleted.
pub fn delete_take(doc: &mut Document, node: NodeId, take: TakeId) -> bool {
    let Some(n) = doc.node_mut(node) else {
        return false;
    };
    let before = n.takes.len();
    n.takes.retain(|t| t.id != take);
    if n.active_take == Some(take) {
        n.active_take = n.takes.last().map(|t| t.id);
    }
    before != n.takes.len()
}

/// Draws a new seed for a node whose seed is not pinned, so that running it again makes a new
/// take. Returns whether the seed changed.
pub fn reroll_seed(doc: &mut Document, node: NodeId) -> bool {
    let Some(n) = doc.node_mut(node) else {
        return false;
    };
    if n.seed_pinned || !n.params.contains_key("seed") {
        return false;
    }
    n.params
        .insert("seed".into(), aktion_graph::document::random_seed().into());
    true
}
