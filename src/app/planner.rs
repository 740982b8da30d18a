//! What a run of the board would do now — its cost, which nodes are stale, which are cached —
//! worked out off the UI thread whenever the board, the route, the prices or the cache change,
//! and kept until the next change. Planning reads the cache (a look-up per node, hashing on
//! first use); the UI thread only reads the memoised answer.

use std::collections::BTreeSet;
use std::sync::Arc;

use aktion_engine::{Engine, RunRequest};
use aktion_graph::NodeId;

use super::task::{Spawner, Task, take_ready};

/// What changes a plan: the board's edit revision, its takes, the route, the prices and the
/// cache's contents, each as a counter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PlanKey {
    pub revision: u64,
    pub takes: u64,
    pub route: u64,
    pub prices: u64,
    pub cache: u64,
}

/// The memoised answer.
#[derive(Clone, Debug, Default)]
pub struct PlanView {
    /// Credits a run of the whole board would cost now.
    pub cost: u32,
    /// Nodes whose active take no longer matches their parameters or inputs.
    pub stale: BTreeSet<NodeId>,
    /// The plan failed (a cycle): why.
    pub error: Option<String>,
}

#[derive(Default)]
pub struct Planner {
    /// The key the current view was made for.
    done: Option<PlanKey>,
    view: PlanView,
    pending: Option<(PlanKey, Task<PlanView>)>,
    /// Bumped when a new view lands.
    pub rev: u64,
}

impl Planner {
    pub fn view(&self) -> &PlanView {
        &self.view
    }

    /// Whether the view is for `key` (tests wait for it).
    pub fn is_current(&self, key: PlanKey) -> bool {
        self.done == Some(key)
    }

    /// Takes in a finished plan. Returns whether a new one should start: `key` differs from
    /// what is shown and nothing is being worked out (one at a time: a burst of edits plans
    /// once after it).
    pub fn update(&mut self, key: PlanKey) -> bool {
        if let Some((for_key, _)) = &self.pending {
            let for_key = *for_key;
            let mut slot = self.pending.take().map(|(_, t)| t);
            match take_ready(&mut slot) {
                None => {
                    self.pending = slot.map(|t| (for_key, t));
                    return false;
                }
                Some(Ok(view)) => {
                    self.view = view;
                    self.done = Some(for_key);
                    self.rev += 1;
                }
                Some(Err(lost)) => {
                    self.view.error = Some(lost.to_string());
                    self.done = Some(for_key);
                    self.rev += 1;
                }
            }
        }
        self.done != Some(key)
    }

    /// Works out the plan of `req` for `key` in the background.
    pub fn start(
        &mut self,
        key: PlanKey,
        spawner: &Spawner,
        engine: &Arc<Engine>,
        req: RunRequest,
    ) {
        let engine = Arc::clone(engine);
        let task = spawner.blocking(move || plan_view(&engine, &req));
        self.pending = Some((key, task));
    }
}

/// Plans `req` and reads off what the UI shows.
pub fn plan_view(engine: &Engine, req: &RunRequest) -> PlanView {
    match engine.plan(req) {
        Ok(plan) => {
            let stale = req
                .doc
                .nodes
                .values()
                .filter(|n| {
                    let sig = plan
                        .resolved
                        .nodes
                        .get(&n.id)
                        .and_then(|r| r.signature.as_ref().ok());
                    n.active_take().is_some_and(|t| Some(&t.signature) != sig)
                })
                .map(|n| n.id)
                .collect();
            PlanView {
                cost: plan.cost.total,
                stale,
                error: None,
            }
        }
        Err(e) => PlanView {
            error: Some(e.to_string()),
            ..PlanView::default()
        },
    }
}
