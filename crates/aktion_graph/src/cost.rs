//! What a run would cost in credits, given what is already cached.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::catalog::Catalog;
use crate::document::{Document, NodeId, Route};
use crate::signature::Resolved;

/// One node's share of a run's cost.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CostLine {
    pub node: NodeId,
    pub kind: String,
    pub route: Option<Route>,
    /// Credits this node would be charged now (0 when cached, local, blocked or not on the
    /// account route).
    pub credits: u32,
    /// Credits if it ran on the account route, ignoring the cache.
    pub list_price: u32,
    pub cached: bool,
    /// False when the node cannot run (muted, missing input, ...).
    pub runnable: bool,
}

/// The cost of a run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CostEstimate {
    pub lines: Vec<CostLine>,
    /// Credits the run would be charged.
    pub total: u32,
    /// Nodes that would run (not cached, runnable).
    pub to_run: usize,
    pub cached: usize,
}

/// Prices every node of a resolved run. `price` gives the server's price for a kind when
/// known (falling back to the catalog); `is_cached` says whether a signature already has a
/// result.
pub fn estimate(
    doc: &Document,
    catalog: &Catalog,
    resolved: &Resolved,
    price: &dyn Fn(&str) -> Option<u32>,
    is_cached: &dyn Fn(&str) -> bool,
) -> CostEstimate {
    let mut est = CostEstimate::default();
    let mut seen_sigs: BTreeSet<&str> = BTreeSet::new();
    for id in &resolved.order {
        let (Some(node), Some(r)) = (doc.nodes.get(id), resolved.nodes.get(id)) else {
            continue;
        };
        if r.passthrough.is_some() {
            continue;
        }
        let list_price = catalog
            .get(&node.kind)
            .filter(|k| k.is_generating())
            .map_or(0, |k| price(&k.id).unwrap_or(k.credits));
        let (runnable, cached) = match &r.signature {
            // Two nodes with the same signature run once.
            Ok(sig) => (true, is_cached(sig) || !seen_sigs.insert(sig)),
            Err(_) => (false, false),
        };
        let credits = if runnable && !cached && r.route.is_some_and(Route::costs_credits) {
            list_price
        } else {
            0
        };
        if runnable {
            if cached {
                est.cached += 1;
            } else {
                est.to_run += 1;
            }
        }
        est.total += credits;
        est.lines.push(CostLine {
            node: *id,
            kind: node.kind.clone(),
            route: r.route,
            credits,
            list_price,
            cached,
            runnable,
        });
    }
    est
}
