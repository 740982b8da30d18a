//! Planning: what the requested outputs need, what is cached, what must run, what is blocked,
//! and the credits it would cost, worked out before anything runs.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use aktion_cache::CachedResult;
use aktion_graph::cost::CostEstimate;
use aktion_graph::signature::{Resolved, Routing, resolve};
use aktion_graph::{Blocked, Document, KindSchema, NodeId, Route};

use crate::events::Wake;
use crate::run::Engine;

/// What a run is asked to do.
#[derive(Clone, Debug)]
pub struct RunRequest {
    /// A snapshot of the board.
    pub doc: Document,
    /// The project folder (assets are read from it).
    pub project_root: PathBuf,
    /// Nodes whose outputs are wanted; empty means the whole board.
    pub targets: Vec<NodeId>,
    /// Overrides every node's route (`--route`).
    pub force_route: Option<Route>,
    /// The route of nodes that set none.
    pub default_route: Route,
    /// Credits per kind from the account backend, when known.
    pub prices: BTreeMap<String, u32>,
    /// The app's route per kind, for nodes and kinds the board gives none.
    pub kind_routes: BTreeMap<String, Route>,
    /// Called after each event is queued (a window wakes its UI with it).
    pub wake: Option<Wake>,
    /// Draw a new seed for each node that will run (not a cache hit) and whose seed is not
    /// pinned, so each run is a new take; pinned seeds are sent as they are. On by default.
    pub fresh_seeds: bool,
}

impl RunRequest {
    pub fn new(doc: Document, project_root: impl Into<PathBuf>) -> Self {
        Self {
            doc,
            project_root: project_root.into(),
            targets: Vec::new(),
            force_route: None,
            default_route: Route::Draft,
            prices: BTreeMap::new(),
            kind_routes: BTreeMap::new(),
            wake: None,
            fresh_seeds: true,
        }
    }
}

/// Errors that stop a run before it starts.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("the board has a cycle")]
    Cycle,
    #[error("no node {0} on the board")]
    UnknownNode(NodeId),
    #[error("no executor for the {0} route is configured")]
    NoExecutor(Route),
    #[error("cache: {0}")]
    Cache(#[from] aktion_cache::CacheError),
}

/// What a run will do, worked out before anything runs.
#[derive(Clone, Debug)]
pub struct Plan {
    pub resolved: Resolved,
    /// Needed nodes whose result is already in the cache or the project's takes.
    pub cached: BTreeMap<NodeId, CachedResult>,
    /// Those of `cached` found only in the project's takes (put back into the cache when the
    /// run starts).
    pub from_project: BTreeSet<NodeId>,
    /// Nodes that will run, in dependency order.
    pub to_run: Vec<NodeId>,
    /// Needed nodes that cannot run, and why.
    pub blocked: BTreeMap<NodeId, Blocked>,
    pub cost: CostEstimate,
}

impl Engine {
    pub(crate) fn version(&self, kind: &KindSchema, route: Route) -> String {
        self.route(route)
            .map_or_else(|| format!("{route}-unconfigured"), |e| e.version(kind))
    }

    /// Works out what a run would do: signatures, cache hits (the cache, then the project's
    /// takes), what must run, what is blocked, and the credits it would cost. Reads the cache
    /// and the sizes of take files; changes nothing.
    pub fn plan(&self, req: &RunRequest) -> Result<Plan, EngineError> {
        for t in &req.targets {
            if !req.doc.nodes.contains_key(t) {
                return Err(EngineError::UnknownNode(*t));
            }
        }
        let routing = Routing {
            force: req.force_route,
            default: req.default_route,
            settings: &req.doc.settings,
            kinds: Some(&req.kind_routes),
        };
        let version = |k: &KindSchema, r: Route| self.version(k, r);
        let resolved = resolve(&req.doc, &self.catalog, &req.targets, &routing, &version)
            .ok_or(EngineError::Cycle)?;

        // Walk down from the wanted nodes; stop at cache hits, whose inputs are not needed.
        let wanted: Vec<NodeId> = if req.targets.is_empty() {
            resolved.order.clone()
        } else {
            req.targets.clone()
        };
        let mut cached = BTreeMap::new();
        let mut from_project = BTreeSet::new();
        let mut needed = BTreeSet::new();
        let mut blocked = BTreeMap::new();
        let mut stack = wanted;
        while let Some(id) = stack.pop() {
            if !needed.insert(id) {
                continue;
            }
            let Some(r) = resolved.nodes.get(&id) else {
                continue;
            };
            if let Some(src) = r.passthrough {
                stack.push(src);
                continue;
            }
            match &r.signature {
                Err(b) => {
                    blocked.insert(id, b.clone());
                }
                Ok(sig) => {
                    if let Some(hit) = self.cache.get(sig)? {
                        cached.insert(id, hit);
                    } else if let Some(hit) =
                        crate::kept::from_project(&req.doc, &req.project_root, id, sig)
                    {
                        // The project's take for this very signature: never paid for twice,
                        // even with an empty cache.
                        from_project.insert(id);
                        cached.insert(id, hit);
                    } else {
                        stack.extend(r.inputs.iter().map(|i| i.from));
                    }
                }
            }
        }
        let to_run: Vec<NodeId> = resolved
            .order
            .iter()
            .copied()
            .filter(|id| {
                needed.contains(id)
                    && !cached.contains_key(id)
                    && !blocked.contains_key(id)
                    && resolved
                        .nodes
                        .get(id)
                        .is_some_and(|r| r.passthrough.is_none())
            })
            .collect();
        let run_sigs: BTreeSet<&str> = to_run
            .iter()
            .filter_map(|id| resolved.nodes.get(id)?.signature.as_deref().ok())
            .collect();
        let prices = |k: &str| req.prices.get(k).copied();
        let cost =
            aktion_graph::cost::estimate(&req.doc, &self.catalog, &resolved, &prices, &|s| {
                !run_sigs.contains(s)
            });
        Ok(Plan {
            resolved,
            cached,
            from_project,
            to_run,
            blocked,
            cost,
        })
    }
}
