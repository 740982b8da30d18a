//! Every run the app has going: several at once (a 15-minute Epic Scene never blocks other
//! nodes), each with its jobs, each run and job cancellable on its own. Events come straight
//! from the engine's channels (the engine wakes the UI as it sends them); finished results are
//! handed back to be kept as takes, with the signature the run made them for, so a job whose
//! node was edited meanwhile still becomes a take of that node, and one whose node was deleted
//! is kept in the jobs panel with "Restore node".

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use aktion_cache::CachedResult;
use aktion_engine::{Engine, Event, RunHandle, RunRequest, Wake};
use aktion_graph::NodeId;

use super::task::{Lost, Poll, Spawner, Task};
use super::view::RunStatus;

/// How soon progress reports of running jobs are drawn (they coalesce into one frame).
pub const PROGRESS_REPAINT: std::time::Duration = std::time::Duration::from_secs(1);

pub type RunId = u64;

/// One run.
pub struct Run {
    pub id: RunId,
    /// What started it ("Run board", "Resumed after restart", a node's title).
    pub label: String,
    handle: RunHandle,
    /// The board as the run saw it (for a node deleted while its job ran).
    board: Option<Arc<aktion_graph::Document>>,
    /// Nodes whose job belongs to this run.
    pub jobs: Vec<NodeId>,
    ended: bool,
}

/// A result to keep as a take.
pub struct Finished {
    pub node: NodeId,
    pub signature: String,
    pub result: CachedResult,
    pub cached: bool,
    /// How long it ran, in seconds (for the desktop notification).
    pub ran_secs: u64,
    pub run: RunId,
}

/// A paid result whose node is no longer on the board.
#[derive(Clone)]
pub struct Orphan {
    pub node: NodeId,
    pub kind: String,
    pub title: String,
    pub params: BTreeMap<String, serde_json::Value>,
    pub signature: String,
    pub result: CachedResult,
}

/// A run being planned on a worker (the engine reads the cache to plan before it starts).
struct Starting {
    task: Task<Result<RunHandle, String>>,
    label: String,
    board: Arc<aktion_graph::Document>,
    /// Cancel-all was asked before it started: cancel it as soon as it has.
    cancelled: bool,
}

#[derive(Default)]
pub struct Runs {
    list: Vec<Run>,
    starting: Vec<Starting>,
    /// Why runs asked for could not start (taken by the app to show).
    pub refused: Vec<String>,
    next: RunId,
    /// The latest status of each node that took part in a run.
    pub status: BTreeMap<NodeId, RunStatus>,
    /// When each running job started (for elapsed time and the estimate of time left).
    pub started: BTreeMap<NodeId, Instant>,
    /// Which run a node's job is in.
    pub owner: BTreeMap<NodeId, RunId>,
    /// Bumped on every status change (the board's view model is rebuilt from it).
    pub rev: u64,
    /// Results whose node was deleted while they ran.
    pub orphans: Vec<Orphan>,
    /// Jobs resumed from the journal: what they were asked to make (for orphans).
    pub resumed: BTreeMap<NodeId, aktion_engine::JobSnapshot>,
}

impl Runs {
    /// The wake-up the engine calls with each event: progress coalesces into the once-a-second
    /// tick, anything else is drawn at once.
    pub fn wake(ctx: Option<&eframe::egui::Context>) -> Option<Wake> {
        let ctx = ctx?.clone();
        Some(Wake(Arc::new(move |progress_only| {
            if progress_only {
                ctx.request_repaint_after(PROGRESS_REPAINT);
            } else {
                ctx.request_repaint();
            }
        })))
    }

    /// Starts a run: the engine plans it (cache look-ups) on a worker of `spawner`'s runtime,
    /// and it joins the list when it has started (a refusal lands in `refused`). Nodes it shares
    /// with a run already going are not paid twice: the engine makes the second wait for the
    /// first's result.
    pub fn start(
        &mut self,
        engine: &Arc<Engine>,
        spawner: &Spawner,
        req: RunRequest,
        label: String,
    ) {
        let board = Arc::new(req.doc.clone());
        let engine = Arc::clone(engine);
        let task = spawner.blocking(move || engine.start(req).map_err(|e| e.to_string()));
        self.starting.push(Starting {
            task,
            label,
            board,
            cancelled: false,
        });
    }

    /// Takes in the runs that have started (or were refused).
    fn poll_starting(&mut self) {
        let mut started = Vec::new();
        self.starting.retain_mut(|s| match s.task.poll() {
            Poll::Pending => true,
            Poll::Ready(r) => {
                started.push((r, s.label.clone(), Arc::clone(&s.board), s.cancelled));
                false
            }
            Poll::Lost => {
                started.push((
                    Err(Lost.to_string()),
                    s.label.clone(),
                    Arc::clone(&s.board),
                    s.cancelled,
                ));
                false
            }
        });
        for (result, label, board, cancelled) in started {
            match result {
                Ok(handle) => {
                    if cancelled {
                        handle.cancel();
                    }
                    self.add(handle, label, Vec::new());
                    if let Some(r) = self.list.last_mut() {
                        r.board = Some(board);
                    }
                }
                Err(e) => self.refused.push(e),
            }
        }
    }

    /// Adds a run already started (the journal's resumed jobs).
    pub fn add(&mut self, handle: RunHandle, label: String, jobs: Vec<NodeId>) -> RunId {
        self.next += 1;
        let id = self.next;
        for node in &jobs {
            self.owner.insert(*node, id);
            self.status.insert(*node, RunStatus::Queued);
        }
        self.rev += 1;
        self.list.push(Run {
            id,
            label,
            handle,
            board: None,
            jobs,
            ended: false,
        });
        id
    }

    /// Whether a run is going or being started.
    pub fn any_running(&self) -> bool {
        !self.list.is_empty() || !self.starting.is_empty()
    }

    pub fn runs(&self) -> &[Run] {
        &self.list
    }

    pub fn is_running(&self, node: NodeId) -> bool {
        matches!(
            self.status.get(&node),
            Some(RunStatus::Queued | RunStatus::Running { .. })
        )
    }

    pub fn cancel_run(&self, id: RunId) {
        if let Some(r) = self.list.iter().find(|r| r.id == id) {
            r.handle.cancel();
        }
    }

    pub fn cancel_all(&mut self) {
        for r in &self.list {
            r.handle.cancel();
        }
        for s in &mut self.starting {
            s.cancelled = true;
        }
    }

    /// Cancels one job; its run goes on with everything that does not need it.
    pub fn cancel_job(&self, node: NodeId) -> bool {
        let Some(run) = self.owner.get(&node) else {
            return false;
        };
        self.list
            .iter()
            .find(|r| r.id == *run)
            .is_some_and(|r| r.handle.cancel_node(node))
    }

    /// Forgets the statuses of nodes not in a run (a new board).
    pub fn clear_statuses(&mut self) {
        let active: Vec<NodeId> = self
            .owner
            .iter()
            .filter(|(_, r)| self.list.iter().any(|x| x.id == **r))
            .map(|(n, _)| *n)
            .collect();
        self.status.retain(|n, _| active.contains(n));
        self.started.retain(|n, _| active.contains(n));
        self.rev += 1;
    }

    /// Takes in every run's events. Returns the results to keep (of nodes on `doc`; a result
    /// whose node is gone becomes an orphan) and whether a run ended.
    pub fn poll(&mut self, doc: &aktion_graph::Document) -> (Vec<Finished>, bool) {
        self.poll_starting();
        let mut finished = Vec::new();
        let mut any_ended = false;
        let mut events: Vec<(RunId, Event)> = Vec::new();
        for run in &mut self.list {
            loop {
                match run.handle.events.try_recv() {
                    Ok(e) => events.push((run.id, e)),
                    Err(tokio::sync::mpsc::error::TryRecvError::Empty) => break,
                    Err(tokio::sync::mpsc::error::TryRecvError::Disconnected) => {
                        run.ended = true;
                        break;
                    }
                }
            }
        }
        for (run, e) in events {
            self.rev += 1;
            match e {
                Event::Planned { .. } => {}
                Event::Queued { node } => {
                    self.owner.insert(node, run);
                    if let Some(r) = self.list.iter_mut().find(|r| r.id == run)
                        && !r.jobs.contains(&node)
                    {
                        r.jobs.push(node);
                    }
                    self.status.insert(node, RunStatus::Queued);
                }
                Event::Started { node } => {
                    self.started.insert(node, Instant::now());
                    self.status.insert(
                        node,
                        RunStatus::Running {
                            fraction: None,
                            message: String::new(),
                        },
                    );
                }
                Event::Progress {
                    node,
                    fraction,
                    message,
                } => {
                    self.status
                        .insert(node, RunStatus::Running { fraction, message });
                }
                Event::Done {
                    node,
                    cached,
                    signature,
                    result,
                    ..
                } => {
                    let ran_secs = self.started.get(&node).map_or(0, |t| t.elapsed().as_secs());
                    self.status.insert(node, RunStatus::Done { cached });
                    if doc.node(node).is_none() {
                        if let Some(orphan) = self.orphan(run, node, signature, result) {
                            self.orphans.push(orphan);
                        }
                        continue;
                    }
                    finished.push(Finished {
                        node,
                        signature,
                        result,
                        cached,
                        ran_secs,
                        run,
                    });
                }
                Event::Failed { node, error } => {
                    self.status.insert(node, RunStatus::Failed(error));
                }
                Event::Blocked { node, reason } => {
                    self.status.insert(node, RunStatus::Blocked(reason));
                }
                Event::Cancelled { node } => {
                    self.status.insert(node, RunStatus::Cancelled);
                }
            }
        }
        let before = self.list.len();
        self.list.retain(|r| !r.ended);
        if self.list.len() != before {
            any_ended = true;
            self.rev += 1;
            let live: Vec<RunId> = self.list.iter().map(|r| r.id).collect();
            self.owner.retain(|_, r| live.contains(r));
        }
        (finished, any_ended)
    }

    /// What is known of a node that is gone: from the board its run saw, or its journal entry.
    fn orphan(
        &self,
        run: RunId,
        node: NodeId,
        signature: String,
        result: CachedResult,
    ) -> Option<Orphan> {
        if self.orphans.iter().any(|o| o.signature == signature) {
            return None;
        }
        let from_board = self
            .list
            .iter()
            .find(|r| r.id == run)
            .and_then(|r| r.board.as_ref())
            .and_then(|b| b.node(node))
            .map(|n| {
                (
                    n.kind.clone(),
                    n.display_title(aktion_graph::Catalog::builtin()).to_owned(),
                    n.params.clone(),
                )
            });
        let (kind, title, params) = from_board.or_else(|| {
            self.resumed
                .get(&node)
                .map(|s| (s.kind.clone(), s.title.clone(), s.params.clone()))
        })?;
        Some(Orphan {
            node,
            kind,
            title,
            params,
            signature,
            result,
        })
    }
}
