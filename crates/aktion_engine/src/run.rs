//! Running: the engine, the order nodes run in and how many at once, cancellation, failure
//! isolation, in-flight de-duplication and resuming journaled jobs. Planning is in `plan`,
//! what a run reports in `events`.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use aktion_cache::{Cache, CachedResult};
use aktion_graph::{Blocked, Catalog, NodeId, Route, TakeMeta};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::events::EventSender;
pub use crate::events::{Event, NodeReport, NodeStatus, RunSummary, Wake};
use crate::executor::{ExecError, Executor, Job, JobContext, JobInput, JobOutput};
use crate::journal::{JobSnapshot, Journal, JournalEntry, JournalSlot};
pub use crate::plan::{EngineError, Plan, RunRequest};

/// The evaluation engine. Cheap to share (`Arc`); many runs may use it at once and share its
/// concurrency limits.
pub struct Engine {
    pub(crate) catalog: Arc<Catalog>,
    pub(crate) cache: Cache,
    journal: Arc<Journal>,
    local: Arc<dyn Executor>,
    /// Swappable while the engine runs (Settings → Providers changes keys and addresses); a
    /// job keeps the executor it started with.
    routes: std::sync::RwLock<BTreeMap<Route, Arc<dyn Executor>>>,
    groups: Mutex<BTreeMap<String, Arc<Semaphore>>>,
    paused: watch::Sender<bool>,
    /// Jobs running now, by signature, with where their result will be published.
    inflight: Mutex<BTreeMap<String, InflightResult>>,
}

type InflightResult = watch::Receiver<Option<Result<CachedResult, ExecError>>>;

/// The claim on a signature while its job runs; dropping it (the job's future dropped by an
/// aborted run) frees the signature, and waiters take over.
struct InflightClaim {
    engine: Arc<Engine>,
    signature: String,
    done: watch::Sender<Option<Result<CachedResult, ExecError>>>,
}

impl InflightClaim {
    fn publish(self, result: &Result<CachedResult, ExecError>) {
        self.done.send_replace(Some(result.clone()));
    }
}

impl Drop for InflightClaim {
    fn drop(&mut self) {
        self.engine
            .inflight
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&self.signature);
    }
}

impl Engine {
    /// An engine with the local executor and the draft route. Other routes are added with
    /// [`Engine::with_route`].
    pub fn new(catalog: Arc<Catalog>, cache: Cache) -> std::io::Result<Self> {
        let journal = Journal::open(cache.root().join("journal"))?;
        let mut routes: BTreeMap<Route, Arc<dyn Executor>> = BTreeMap::new();
        routes.insert(Route::Draft, Arc::new(crate::draft::DraftExecutor));
        Ok(Self {
            catalog,
            cache,
            journal,
            local: Arc::new(crate::local::LocalExecutor),
            routes: std::sync::RwLock::new(routes),
            groups: Mutex::new(BTreeMap::new()),
            paused: watch::Sender::new(false),
            inflight: Mutex::new(BTreeMap::new()),
        })
    }

    /// Sets the executor of a route (replacing any).
    #[must_use]
    pub fn with_route(self, route: Route, executor: Arc<dyn Executor>) -> Self {
        self.set_route(route, executor);
        self
    }

    /// Replaces the executor of a route on a running engine: later jobs use the new one (with
    /// its own version, so results of another address or model are never mixed up); jobs
    /// already started finish on theirs.
    pub fn set_route(&self, route: Route, executor: Arc<dyn Executor>) {
        self.routes
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(route, executor);
    }

    pub(crate) fn route(&self, route: Route) -> Option<Arc<dyn Executor>> {
        self.routes
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&route)
            .cloned()
    }

    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    pub fn journal(&self) -> &Arc<Journal> {
        &self.journal
    }

    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.catalog
    }

    /// Pauses or resumes the queue: running jobs go on, queued ones wait.
    pub fn set_paused(&self, paused: bool) {
        self.paused.send_replace(paused);
    }

    pub fn is_paused(&self) -> bool {
        *self.paused.borrow()
    }

    fn executor_for(&self, route: Option<Route>) -> Result<Arc<dyn Executor>, EngineError> {
        match route {
            None => Ok(Arc::clone(&self.local)),
            Some(r) => self.route(r).ok_or(EngineError::NoExecutor(r)),
        }
    }

    /// Starts a run on the current tokio runtime.
    pub fn start(self: &Arc<Self>, mut req: RunRequest) -> Result<RunHandle, EngineError> {
        let mut plan = self.plan(&req)?;
        if req.fresh_seeds && draw_seeds(&mut req, &plan, &self.journal) {
            // New seeds are new signatures (for these nodes and what depends on them).
            plan = self.plan(&req)?;
        }
        for id in &plan.to_run {
            let route = plan.resolved.nodes.get(id).and_then(|r| r.route);
            self.executor_for(route)?;
        }
        #[expect(
            clippy::disallowed_methods,
            reason = "a run's events must never block a job (progress is sent from sync \
                      callbacks); the reader drains them every frame or awaits them"
        )]
        let (tx, rx) = mpsc::unbounded_channel();
        let tx = EventSender::new(tx, req.wake.clone());
        let cancel = CancellationToken::new();
        let node_tokens: BTreeMap<NodeId, CancellationToken> = plan
            .to_run
            .iter()
            .map(|&id| (id, cancel.child_token()))
            .collect();
        let node_tokens = Arc::new(node_tokens);
        let engine = Arc::clone(self);
        let tokens = Arc::clone(&node_tokens);
        let task = tokio::spawn(async move { engine.drive(req, plan, tx, tokens).await });
        Ok(RunHandle {
            events: rx,
            cancel,
            node_tokens,
            task,
        })
    }

    #[expect(
        clippy::too_many_lines,
        reason = "one scheduling loop reads best in one place"
    )]
    async fn drive(
        self: Arc<Self>,
        req: RunRequest,
        plan: Plan,
        tx: EventSender,
        tokens: Arc<BTreeMap<NodeId, CancellationToken>>,
    ) -> RunSummary {
        let started = Instant::now();
        let _ = tx.send(Event::Planned {
            to_run: plan.to_run.len(),
            cached: plan.cached.len(),
            blocked: plan.blocked.len(),
            credits: plan.cost.total,
        });
        let mut reports: BTreeMap<NodeId, NodeReport> = BTreeMap::new();
        let mut outputs: BTreeMap<NodeId, CachedResult> = plan.cached.clone();
        for (id, error) in self.settle_cached(&req, &plan).await {
            outputs.remove(&id);
            let _ = tx.send(Event::Failed {
                node: id,
                error: error.clone(),
            });
            reports.insert(
                id,
                self.report(&req, &plan, id, NodeStatus::Failed, None, Some(error)),
            );
        }
        for (id, hit) in &plan.cached {
            if !outputs.contains_key(id) {
                continue;
            }
            let _ = tx.send(Event::Done {
                node: *id,
                cached: true,
                outputs: hit.outputs.clone(),
                signature: signature_of(&plan, *id),
                result: hit.clone(),
            });
            reports.insert(
                *id,
                self.report(&req, &plan, *id, NodeStatus::Cached, Some(hit), None),
            );
        }
        for (id, b) in &plan.blocked {
            let _ = tx.send(Event::Blocked {
                node: *id,
                reason: b.to_string(),
            });
            reports.insert(
                *id,
                self.report(
                    &req,
                    &plan,
                    *id,
                    NodeStatus::Blocked,
                    None,
                    Some(b.to_string()),
                ),
            );
        }

        // Dependencies among the nodes that run.
        let running: BTreeSet<NodeId> = plan.to_run.iter().copied().collect();
        let mut pending: BTreeMap<NodeId, usize> = BTreeMap::new();
        let mut dependents: BTreeMap<NodeId, Vec<NodeId>> = BTreeMap::new();
        for id in &plan.to_run {
            let deps: BTreeSet<NodeId> = plan.resolved.nodes[id]
                .inputs
                .iter()
                .map(|i| i.from)
                .filter(|f| running.contains(f))
                .collect();
            pending.insert(*id, deps.len());
            for d in deps {
                dependents.entry(d).or_default().push(*id);
            }
        }
        for id in &plan.to_run {
            let _ = tx.send(Event::Queued { node: *id });
        }

        let mut set: JoinSet<(NodeId, Result<CachedResult, ExecError>)> = JoinSet::new();
        let mut ready: Vec<NodeId> = plan
            .to_run
            .iter()
            .rev()
            .copied()
            .filter(|id| pending.get(id) == Some(&0))
            .collect();
        loop {
            while let Some(id) = ready.pop() {
                match self.job_for(&req, &plan, id, &outputs) {
                    Ok(job) => {
                        let token = tokens.get(&id).cloned().unwrap_or_default();
                        self.spawn_job(&mut set, job, token, tx.clone());
                    }
                    Err(message) => {
                        let _ = tx.send(Event::Failed {
                            node: id,
                            error: message.clone(),
                        });
                        reports.insert(
                            id,
                            self.report(&req, &plan, id, NodeStatus::Failed, None, Some(message)),
                        );
                        self.block_dependents(&req, &plan, id, &dependents, &mut reports, &tx);
                    }
                }
            }
            let Some(joined) = set.join_next().await else {
                break;
            };
            let (id, result) = match joined {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!("a job task ended abnormally: {e}");
                    continue;
                }
            };
            match result {
                Ok(result) => {
                    let _ = tx.send(Event::Done {
                        node: id,
                        cached: false,
                        outputs: result.outputs.clone(),
                        signature: signature_of(&plan, id),
                        result: result.clone(),
                    });
                    reports.insert(
                        id,
                        self.report(&req, &plan, id, NodeStatus::Done, Some(&result), None),
                    );
                    outputs.insert(id, result);
                    for d in dependents.get(&id).into_iter().flatten() {
                        if let Some(p) = pending.get_mut(d) {
                            *p -= 1;
                            if *p == 0 && !reports.contains_key(d) {
                                ready.push(*d);
                            }
                        }
                    }
                }
                Err(ExecError::Cancelled) => {
                    let _ = tx.send(Event::Cancelled { node: id });
                    reports.insert(
                        id,
                        self.report(&req, &plan, id, NodeStatus::Cancelled, None, None),
                    );
                    self.block_dependents(&req, &plan, id, &dependents, &mut reports, &tx);
                }
                Err(e) => {
                    let _ = tx.send(Event::Failed {
                        node: id,
                        error: e.to_string(),
                    });
                    reports.insert(
                        id,
                        self.report(
                            &req,
                            &plan,
                            id,
                            NodeStatus::Failed,
                            None,
                            Some(e.to_string()),
                        ),
                    );
                    self.block_dependents(&req, &plan, id, &dependents, &mut reports, &tx);
                }
            }
        }

        // Bypassed and unneeded nodes, for a complete report.
        for id in &plan.resolved.order {
            if reports.contains_key(id) {
                continue;
            }
            let Some(r) = plan.resolved.nodes.get(id) else {
                continue;
            };
            let status = if r.passthrough.is_some() {
                NodeStatus::Bypassed
            } else {
                NodeStatus::Skipped
            };
            let src = r.passthrough.and_then(|s| outputs.get(&s)).cloned();
            reports.insert(
                *id,
                self.report(&req, &plan, *id, status, src.as_ref(), None),
            );
        }

        let mut summary = RunSummary {
            elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            ..RunSummary::default()
        };
        for id in &plan.resolved.order {
            let Some(r) = reports.remove(id) else {
                continue;
            };
            match r.status {
                NodeStatus::Done => summary.ran += 1,
                NodeStatus::Cached => summary.cached += 1,
                NodeStatus::Failed => summary.failed += 1,
                NodeStatus::Blocked => summary.blocked += 1,
                NodeStatus::Cancelled => summary.cancelled += 1,
                NodeStatus::Bypassed | NodeStatus::Skipped => {}
            }
            summary.credits += r.credits;
            summary.nodes.push(r);
        }
        summary
    }

    /// Follows the journaled provider jobs of `project_root` to their end, as one run, without
    /// a board: each job is rebuilt from its journal entry (kind, parameters, route) and
    /// resumed by its executor, which polls the job it journaled and never submits again. Its
    /// result lands in the cache and in a `Done` event with the signature it was made for,
    /// whether or not its node still exists or still has those parameters. `None` when
    /// nothing is journaled for the project.
    #[expect(
        clippy::too_many_lines,
        reason = "rebuilding the jobs and reporting them read best together"
    )]
    pub fn resume_journaled(
        self: &Arc<Self>,
        project_root: &std::path::Path,
        wake: Option<Wake>,
    ) -> Option<(RunHandle, Vec<JournalEntry>)> {
        let mut entries: Vec<(JournalEntry, Job)> = Vec::new();
        for entry in self.journal.entries() {
            let Some(snap) = &entry.job else { continue };
            if snap.project_root != project_root {
                continue;
            }
            let Some(kind) = self.catalog.get(&snap.kind) else {
                continue;
            };
            if entries.iter().any(|(e, _)| e.signature == entry.signature) {
                continue;
            }
            let time_limit = self.executor_for(snap.route).map_or_else(
                |_| crate::executor::catalog_limit(kind),
                |e| e.time_limit(kind),
            );
            let job = Job {
                node: entry.node,
                kind: kind.clone(),
                title: snap.title.clone(),
                params: snap.params.clone(),
                signature: entry.signature.clone(),
                route: snap.route,
                inputs: Vec::new(),
                project_root: snap.project_root.clone(),
                time_limit,
            };
            entries.push((entry.clone(), job));
        }
        if entries.is_empty() {
            return None;
        }
        #[expect(
            clippy::disallowed_methods,
            reason = "a run's events must never block a job (progress is sent from sync \
                      callbacks); the reader drains them every frame or awaits them"
        )]
        let (tx, rx) = mpsc::unbounded_channel();
        let tx = EventSender::new(tx, wake);
        let cancel = CancellationToken::new();
        let node_tokens: BTreeMap<NodeId, CancellationToken> = entries
            .iter()
            .map(|(e, _)| (e.node, cancel.child_token()))
            .collect();
        let node_tokens = Arc::new(node_tokens);
        let engine = Arc::clone(self);
        let tokens = Arc::clone(&node_tokens);
        let listed: Vec<JournalEntry> = entries.iter().map(|(e, _)| e.clone()).collect();
        let task = tokio::spawn(async move {
            let started = Instant::now();
            let mut set: JoinSet<(NodeId, Result<CachedResult, ExecError>)> = JoinSet::new();
            let mut signatures = BTreeMap::new();
            for (entry, job) in entries {
                let _ = tx.send(Event::Queued { node: entry.node });
                signatures.insert(
                    entry.node,
                    (entry.signature, job.kind.id.clone(), job.title.clone()),
                );
                let token = tokens.get(&entry.node).cloned().unwrap_or_default();
                engine.spawn_job(&mut set, job, token, tx.clone());
            }
            let mut summary = RunSummary::default();
            while let Some(joined) = set.join_next().await {
                let Ok((node, result)) = joined else { continue };
                let (signature, kind, title) = signatures.remove(&node).unwrap_or_default();
                let mut report = NodeReport {
                    node,
                    kind,
                    title,
                    status: NodeStatus::Done,
                    signature: Some(signature.clone()),
                    outputs: Vec::new(),
                    output_paths: Vec::new(),
                    error: None,
                    credits: 0,
                    meta: None,
                };
                match result {
                    Ok(result) => {
                        summary.ran += 1;
                        report.output_paths = result
                            .outputs
                            .iter()
                            .map(|o| engine.cache.blob_path(&o.hash))
                            .collect();
                        report.outputs.clone_from(&result.outputs);
                        report.meta = Some(TakeMeta::from_cached(&result.meta));
                        let _ = tx.send(Event::Done {
                            node,
                            cached: false,
                            outputs: result.outputs.clone(),
                            signature,
                            result,
                        });
                    }
                    Err(ExecError::Cancelled) => {
                        summary.cancelled += 1;
                        report.status = NodeStatus::Cancelled;
                        let _ = tx.send(Event::Cancelled { node });
                    }
                    Err(e) => {
                        summary.failed += 1;
                        report.status = NodeStatus::Failed;
                        report.error = Some(e.to_string());
                        let _ = tx.send(Event::Failed {
                            node,
                            error: e.to_string(),
                        });
                    }
                }
                summary.nodes.push(report);
            }
            summary.elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            summary
        });
        Some((
            RunHandle {
                events: rx,
                cancel,
                node_tokens,
                task,
            },
            listed,
        ))
    }

    fn block_dependents(
        &self,
        req: &RunRequest,
        plan: &Plan,
        failed: NodeId,
        dependents: &BTreeMap<NodeId, Vec<NodeId>>,
        reports: &mut BTreeMap<NodeId, NodeReport>,
        tx: &EventSender,
    ) {
        let mut stack: Vec<NodeId> = dependents.get(&failed).cloned().unwrap_or_default();
        while let Some(d) = stack.pop() {
            if reports.contains_key(&d) {
                continue;
            }
            let reason = Blocked::Upstream(failed).to_string();
            let _ = tx.send(Event::Blocked {
                node: d,
                reason: reason.clone(),
            });
            reports.insert(
                d,
                self.report(req, plan, d, NodeStatus::Blocked, None, Some(reason)),
            );
            stack.extend(dependents.get(&d).into_iter().flatten().copied());
        }
    }

    fn job_for(
        &self,
        req: &RunRequest,
        plan: &Plan,
        id: NodeId,
        outputs: &BTreeMap<NodeId, CachedResult>,
    ) -> Result<Job, String> {
        let node = req.doc.nodes.get(&id).ok_or("the node disappeared")?;
        let kind = self
            .catalog
            .get(&node.kind)
            .ok_or_else(|| format!("unknown node kind `{}`", node.kind))?;
        let r = plan
            .resolved
            .nodes
            .get(&id)
            .ok_or("the node was not planned")?;
        let signature = r.signature.clone().map_err(|b| b.to_string())?;
        let mut inputs = Vec::new();
        for i in &r.inputs {
            let out = outputs
                .get(&i.from)
                .and_then(|res| res.outputs.first())
                .ok_or_else(|| format!("input `{}` has no result", i.input))?;
            inputs.push(JobInput {
                input: i.input.clone(),
                slot: i.slot,
                output: out.clone(),
            });
        }
        let time_limit = self.executor_for(r.route).map_or_else(
            |_| crate::executor::catalog_limit(kind),
            |e| e.time_limit(kind),
        );
        Ok(Job {
            time_limit,
            node: id,
            kind: kind.clone(),
            title: node.display_title(&self.catalog).to_owned(),
            params: node.params.clone(),
            signature,
            route: r.route,
            inputs,
            project_root: req.project_root.clone(),
        })
    }

    fn group(&self, name: &str, limit: usize) -> Arc<Semaphore> {
        let mut groups = self
            .groups
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(
            groups
                .entry(name.to_owned())
                .or_insert_with(|| Arc::new(Semaphore::new(limit.max(1)))),
        )
    }

    fn spawn_job(
        self: &Arc<Self>,
        set: &mut JoinSet<(NodeId, Result<CachedResult, ExecError>)>,
        job: Job,
        cancel: CancellationToken,
        tx: EventSender,
    ) {
        let engine = Arc::clone(self);
        set.spawn(async move {
            let id = job.node;
            let result = engine.run_job(job, cancel, tx).await;
            (id, result)
        });
    }

    /// Runs a job, or, when a job with the same signature is already running in another run,
    /// waits for that one's result: two runs asking for the same result never pay twice. A
    /// waiter whose job's owner was cancelled or dropped takes over.
    async fn run_job(
        self: Arc<Self>,
        job: Job,
        cancel: CancellationToken,
        tx: EventSender,
    ) -> Result<CachedResult, ExecError> {
        loop {
            let claim = {
                let mut inflight = self
                    .inflight
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if let Some(rx) = inflight.get(&job.signature) {
                    Err(rx.clone())
                } else {
                    let (done, rx) = watch::channel(None);
                    inflight.insert(job.signature.clone(), rx);
                    Ok(InflightClaim {
                        engine: Arc::clone(&self),
                        signature: job.signature.clone(),
                        done,
                    })
                }
            };
            match claim {
                Ok(claim) => {
                    let result = Arc::clone(&self).run_job_owned(job, cancel, tx).await;
                    claim.publish(&result);
                    return result;
                }
                Err(mut rx) => {
                    let _ = tx.send(Event::Progress {
                        node: job.node,
                        fraction: None,
                        message: "waiting for the same job in another run".into(),
                    });
                    let outcome = tokio::select! {
                        () = cancel.cancelled() => return Err(ExecError::Cancelled),
                        r = rx.wait_for(Option::is_some) => r.ok().and_then(|v| v.clone()),
                    };
                    match outcome {
                        Some(Ok(result)) => {
                            let _ = tx.send(Event::Started { node: job.node });
                            return Ok(result);
                        }
                        Some(Err(ExecError::Cancelled)) | None => {}
                        Some(Err(e)) => return Err(e),
                    }
                }
            }
        }
    }

    async fn run_job_owned(
        self: Arc<Self>,
        job: Job,
        cancel: CancellationToken,
        tx: EventSender,
    ) -> Result<CachedResult, ExecError> {
        let executor = self
            .executor_for(job.route)
            .map_err(|e| ExecError::failed(e.to_string()))?;
        let (group, limit) = executor.limit(&job.kind);
        let sem = self.group(&group, limit);

        // Wait for a free place in the group and for the queue to be running.
        let mut paused = self.paused.subscribe();
        let permit = tokio::select! {
            () = cancel.cancelled() => return Err(ExecError::Cancelled),
            permit = async {
                loop {
                    if !*paused.borrow_and_update() {
                        if let Ok(p) = Arc::clone(&sem).acquire_owned().await {
                            if !*paused.borrow() {
                                return Some(p);
                            }
                        } else {
                            return None;
                        }
                    }
                    if paused.changed().await.is_err() {
                        return None;
                    }
                }
            } => permit,
        };
        let Some(_permit) = permit else {
            return Err(ExecError::failed("the engine is shutting down"));
        };

        let _ = tx.send(Event::Started { node: job.node });
        let started = Instant::now();
        let timeout = job.time_limit;
        let ctx = JobContext {
            cache: self.cache.clone(),
            cancel: cancel.clone(),
            journal: JournalSlot::new(
                Arc::clone(&self.journal),
                job.signature.clone(),
                job.node,
                Some(JobSnapshot {
                    kind: job.kind.id.clone(),
                    title: job.title.clone(),
                    params: job.params.clone(),
                    route: job.route,
                    project_root: job.project_root.clone(),
                }),
            ),
            node: job.node,
            events: tx,
        };
        let signature = job.signature.clone();
        let route = job.route;
        let params = job.params.clone();
        let project_root = job.project_root.clone();
        let fut = executor.execute(job, ctx);
        let out: JobOutput = tokio::select! {
            () = cancel.cancelled() => return Err(ExecError::Cancelled),
            r = tokio::time::timeout(timeout, fut) => match r {
                Ok(r) => r?,
                Err(_) => return Err(ExecError::Timeout(timeout.as_secs())),
            },
        };
        if out.outputs.is_empty() {
            return Err(ExecError::failed("the job finished without any output"));
        }
        let mut meta = out.meta;
        meta.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        meta.route = route.unwrap_or_default();
        if meta.params.is_empty() {
            meta.params = params;
        }
        let result = CachedResult {
            outputs: out.outputs,
            meta: serde_json::to_value(&meta).unwrap_or_default(),
            created_unix_ms: crate::now_ms(),
        };
        self.cache.put(&signature, &result).map_err(|e| {
            ExecError::failed(format!("cannot record the result in the cache: {e:#}"))
        })?;
        // The take's files go into the project too; the cache is only a cache. Should that
        // fail (a full disk), the result is still in the cache and the next open keeps it.
        let (cache, outputs) = (self.cache.clone(), result.outputs.clone());
        let kept =
            tokio::task::spawn_blocking(move || crate::kept::keep(&cache, &project_root, &outputs))
                .await;
        if let Ok(Err(e)) = kept {
            tracing::error!("the result could not be kept in the project: {e}");
        }
        Ok(result)
    }

    /// Before cached results are handed out: a take found only in the project goes back into
    /// the cache (checked against its hashes), and a result found only in the cache is kept in
    /// the project (projects saved before takes lived there migrate this way). Returns the
    /// nodes whose project take could not be read back, with why.
    async fn settle_cached(&self, req: &RunRequest, plan: &Plan) -> Vec<(NodeId, String)> {
        if plan.cached.is_empty() {
            return Vec::new();
        }
        let cache = self.cache.clone();
        let root = req.project_root.clone();
        let work: Vec<(NodeId, bool, String, CachedResult)> = plan
            .cached
            .iter()
            .map(|(id, hit)| {
                (
                    *id,
                    plan.from_project.contains(id),
                    signature_of(plan, *id),
                    hit.clone(),
                )
            })
            .collect();
        let settled = tokio::task::spawn_blocking(move || {
            let mut failed = Vec::new();
            for (id, from_project, signature, hit) in work {
                if from_project {
                    if let Err(e) = crate::kept::restore(&cache, &root, &signature, &hit) {
                        failed.push((id, e.to_string()));
                    }
                } else if let Err(e) = crate::kept::keep(&cache, &root, &hit.outputs) {
                    tracing::warn!("a cached result could not be kept in the project: {e}");
                }
            }
            failed
        })
        .await;
        settled.unwrap_or_default()
    }

    fn report(
        &self,
        req: &RunRequest,
        plan: &Plan,
        id: NodeId,
        status: NodeStatus,
        result: Option<&CachedResult>,
        error: Option<String>,
    ) -> NodeReport {
        let node = req.doc.nodes.get(&id);
        let credits = if status == NodeStatus::Done {
            plan.cost
                .lines
                .iter()
                .find(|l| l.node == id)
                .map_or(0, |l| l.credits)
        } else {
            0
        };
        let outputs = result.map(|r| r.outputs.clone()).unwrap_or_default();
        NodeReport {
            node: id,
            kind: node.map(|n| n.kind.clone()).unwrap_or_default(),
            title: node
                .map(|n| n.display_title(&self.catalog).to_owned())
                .unwrap_or_default(),
            status,
            signature: plan
                .resolved
                .nodes
                .get(&id)
                .and_then(|r| r.signature.clone().ok()),
            output_paths: outputs
                .iter()
                .map(|o| self.cache.blob_path(&o.hash))
                .collect(),
            outputs,
            error,
            credits,
            meta: result.map(|r| TakeMeta::from_cached(&r.meta)),
        }
    }
}

/// Draws a new seed for each node about to run whose seed is not pinned (the take records the
/// seed sent; the signature is made with it). A node with a provider job still in the journal
/// (a run that crashed or was killed before its result came back) gets that job's seed again,
/// so the job is resumed, never paid twice. Returns whether any seed changed.
fn draw_seeds(req: &mut RunRequest, plan: &Plan, journal: &Journal) -> bool {
    let in_flight: BTreeMap<NodeId, Value> = journal
        .entries()
        .into_iter()
        .filter_map(|e| {
            let job = e.job?;
            let seed = job.params.get("seed")?.clone();
            (job.project_root == req.project_root).then_some((e.node, seed))
        })
        .collect();
    let mut changed = false;
    for id in &plan.to_run {
        let Some(node) = req.doc.nodes.get_mut(id) else {
            continue;
        };
        if node.seed_pinned || !node.params.contains_key("seed") {
            continue;
        }
        let seed = in_flight
            .get(id)
            .cloned()
            .unwrap_or_else(|| aktion_graph::document::random_seed().into());
        node.params.insert("seed".into(), seed);
        changed = true;
    }
    changed
}

/// The signature a plan gave `id` (empty for a node without one, which never ends `Done`).
fn signature_of(plan: &Plan, id: NodeId) -> String {
    plan.resolved
        .nodes
        .get(&id)
        .and_then(|r| r.signature.clone().ok())
        .unwrap_or_default()
}

/// A run in progress.
pub struct RunHandle {
    /// Progress events; the run goes on whether or not they are read.
    pub events: mpsc::UnboundedReceiver<Event>,
    cancel: CancellationToken,
    node_tokens: Arc<BTreeMap<NodeId, CancellationToken>>,
    task: tokio::task::JoinHandle<RunSummary>,
}

impl RunHandle {
    /// Cancels every job of the run.
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    /// Cancels one job (its dependents are blocked; everything else goes on).
    pub fn cancel_node(&self, node: NodeId) -> bool {
        self.node_tokens
            .get(&node)
            .map(CancellationToken::cancel)
            .is_some()
    }

    /// Waits for the run to end.
    pub async fn finish(self) -> RunSummary {
        self.task.await.unwrap_or_default()
    }

    /// Waits for the end while handing each event to `on_event`.
    pub async fn finish_with(mut self, mut on_event: impl FnMut(&Event)) -> RunSummary {
        while let Some(e) = self.events.recv().await {
            on_event(&e);
        }
        self.task.await.unwrap_or_default()
    }

    /// Stops the run at once without any clean-up, as a crash would (for tests of resuming).
    pub fn abort(&self) {
        self.task.abort();
    }
}
