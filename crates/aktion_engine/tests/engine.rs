//! Engine behaviour with a scripted executor on tokio's paused clock: concurrency and limits,
//! caching, cancellation, failure isolation, timeouts, pausing and journal resume.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aktion_cache::{Cache, CacheOptions};
use aktion_engine::{
    BoxFuture, Engine, Event, ExecError, Executor, Job, JobContext, JobOutput, NodeStatus,
    RunRequest, RunSummary, TakeMeta,
};
use aktion_graph::{Catalog, Document, KindSchema, Node, NodeId, Route, Wire};

/// Behaviour is scripted by each node's prompt: `slow:N` sleeps N seconds, `fail` fails,
/// `hang` never finishes, anything else takes one second.
#[derive(Default)]
struct Scripted {
    submits: AtomicUsize,
    executions: AtomicUsize,
    running: AtomicUsize,
    max_running: AtomicUsize,
    order: Mutex<Vec<String>>,
    limit: usize,
}

impl Scripted {
    fn with_limit(limit: usize) -> Arc<Self> {
        Arc::new(Self {
            limit,
            ..Self::default()
        })
    }
}

struct Handle(Arc<Scripted>);

impl Executor for Handle {
    fn version(&self, _kind: &KindSchema) -> String {
        "scripted-1".into()
    }

    fn limit(&self, _kind: &KindSchema) -> (String, usize) {
        ("scripted".into(), self.0.limit)
    }

    fn execute(
        &self,
        job: Job,
        ctx: JobContext,
    ) -> BoxFuture<'static, Result<JobOutput, ExecError>> {
        let s = Arc::clone(&self.0);
        Box::pin(async move {
            s.executions.fetch_add(1, Ordering::SeqCst);
            let prompt = job.param_str("prompt").to_owned();
            if ctx.journal.resume_handle().is_none() {
                s.submits.fetch_add(1, Ordering::SeqCst);
                ctx.journal
                    .record(serde_json::json!({ "job": prompt }))
                    .map_err(|e| ExecError::failed(e.to_string()))?;
            }
            let now = s.running.fetch_add(1, Ordering::SeqCst) + 1;
            s.max_running.fetch_max(now, Ordering::SeqCst);
            let secs = match prompt.as_str() {
                "hang" => 1_000_000,
                p => p
                    .strip_prefix("slow:")
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(1),
            };
            let outcome = tokio::select! {
                () = ctx.cancel.cancelled() => Err(ExecError::Cancelled),
                () = tokio::time::sleep(Duration::from_secs(secs)) => Ok(()),
            };
            s.running.fetch_sub(1, Ordering::SeqCst);
            outcome?;
            ctx.progress(Some(1.0), "done");
            if prompt == "fail" {
                ctx.journal.clear();
                return Err(ExecError::failed("the provider said no"));
            }
            s.order.lock().expect("lock").push(prompt.clone());
            let inputs: Vec<String> = job.inputs.iter().map(|i| i.output.hash.to_hex()).collect();
            let out = ctx.store(
                format!("{prompt}|{}", inputs.join(",")).as_bytes(),
                "text/plain",
                "out.txt",
            )?;
            ctx.journal.clear();
            Ok(JobOutput {
                outputs: vec![out],
                meta: TakeMeta {
                    provider: "scripted".into(),
                    ..TakeMeta::default()
                },
            })
        })
    }
}

struct Fixture {
    dir: tempfile::TempDir,
    cache_root: std::path::PathBuf,
    doc: Document,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tmp");
        let cache_root = dir.path().join("cache");
        Self {
            dir,
            cache_root,
            doc: Document::default(),
        }
    }

    fn engine(&self, exec: &Arc<Scripted>) -> Arc<Engine> {
        let cache = Cache::open(&self.cache_root, CacheOptions::default()).expect("cache");
        let engine = Engine::new(Arc::new(Catalog::builtin().clone()), cache)
            .expect("engine")
            .with_route(Route::Draft, Arc::new(Handle(Arc::clone(exec))));
        Arc::new(engine)
    }

    /// A t2i node (or an i2i fed by `from`) with a scripted prompt.
    fn node(&mut self, prompt: &str, from: Option<NodeId>) -> NodeId {
        let kind = if from.is_some() { "i2i" } else { "t2i" };
        let mut n = Node::new(Catalog::builtin().get(kind).expect("kind"), [0.0, 0.0]);
        n.params.insert("prompt".into(), prompt.into());
        n.params.insert("seed".into(), 1.into());
        let id = self.doc.add_node(n);
        if let Some(from) = from {
            let w = Wire {
                from,
                to: id,
                input: "image".into(),
                slot: 0,
            };
            self.doc
                .connect(Catalog::builtin(), w, false)
                .expect("wire");
        }
        id
    }

    /// A run with the seeds as they are: these tests are about caching and scheduling (fresh
    /// seeds per run have their own tests, with takes recorded as the app does).
    fn request(&self) -> RunRequest {
        let mut req = RunRequest::new(self.doc.clone(), self.dir.path());
        req.fresh_seeds = false;
        req
    }
}

async fn run(engine: &Arc<Engine>, req: RunRequest) -> (RunSummary, Vec<Event>) {
    let handle = engine.start(req).expect("start");
    let mut events = Vec::new();
    let summary = handle.finish_with(|e| events.push(e.clone())).await;
    (summary, events)
}

fn status(summary: &RunSummary, id: NodeId) -> NodeStatus {
    summary.report(id).expect("report").status
}

#[tokio::test(start_paused = true)]
async fn independent_nodes_overlap_within_the_group_limit() {
    let mut f = Fixture::new();
    for i in 0..6 {
        f.node(&format!("slow:{}", 10 + i), None);
    }
    let exec = Scripted::with_limit(3);
    let engine = f.engine(&exec);
    let start = tokio::time::Instant::now();
    let (summary, _) = run(&engine, f.request()).await;
    assert_eq!(summary.ran, 6);
    assert_eq!(
        exec.max_running.load(Ordering::SeqCst),
        3,
        "limit of 3 reached, never passed"
    );
    // Two waves of three: ~10-15 s + ~13-15 s, far less than 6 serial jobs (~75 s).
    assert!(
        start.elapsed() < Duration::from_secs(35),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn a_second_run_is_all_cached_and_an_edit_reruns_only_its_dependents() {
    let mut f = Fixture::new();
    let a = f.node("a", None);
    let b = f.node("b", Some(a));
    let c = f.node("c", None);
    let exec = Scripted::with_limit(4);
    let engine = f.engine(&exec);
    let (s1, _) = run(&engine, f.request()).await;
    assert_eq!((s1.ran, s1.cached), (3, 0));

    let (s2, events) = run(&engine, f.request()).await;
    assert_eq!((s2.ran, s2.cached), (0, 3));
    assert_eq!(
        exec.executions.load(Ordering::SeqCst),
        3,
        "nothing evaluated again"
    );
    assert!(events.iter().all(|e| !matches!(e, Event::Started { .. })));

    f.doc
        .node_mut(a)
        .expect("a")
        .params
        .insert("prompt".into(), "a2".into());
    let (s3, _) = run(&engine, f.request()).await;
    assert_eq!(status(&s3, a), NodeStatus::Done);
    assert_eq!(status(&s3, b), NodeStatus::Done);
    assert_eq!(status(&s3, c), NodeStatus::Cached);
    assert_eq!(exec.executions.load(Ordering::SeqCst), 5);
}

#[tokio::test(start_paused = true)]
async fn a_failure_blocks_only_its_dependents() {
    let mut f = Fixture::new();
    let bad = f.node("fail", None);
    let child = f.node("child", Some(bad));
    let grandchild = f.node("grandchild", Some(child));
    let other = f.node("other", None);
    let exec = Scripted::with_limit(4);
    let engine = f.engine(&exec);
    let (s, events) = run(&engine, f.request()).await;
    assert_eq!(status(&s, bad), NodeStatus::Failed);
    assert_eq!(
        s.report(bad).expect("r").error.as_deref(),
        Some("the provider said no")
    );
    assert_eq!(status(&s, child), NodeStatus::Blocked);
    assert_eq!(status(&s, grandchild), NodeStatus::Blocked);
    assert_eq!(status(&s, other), NodeStatus::Done);
    assert!(!s.success());
    assert!(events.contains(&Event::Failed {
        node: bad,
        error: "the provider said no".into()
    }));
    // Nothing was cached for the failed node: the next run tries it again.
    let (s2, _) = run(&engine, f.request()).await;
    assert_eq!(status(&s2, bad), NodeStatus::Failed);
    assert_eq!(status(&s2, other), NodeStatus::Cached);
}

#[tokio::test(start_paused = true)]
async fn cancelling_one_job_leaves_the_others_running() {
    let mut f = Fixture::new();
    let long = f.node("slow:100", None);
    let after = f.node("after", Some(long));
    let other = f.node("slow:5", None);
    let exec = Scripted::with_limit(4);
    let engine = f.engine(&exec);
    let mut handle = engine.start(f.request()).expect("start");
    // Wait until the long job has started, then cancel it.
    while let Some(e) = handle.events.recv().await {
        if e == (Event::Started { node: long }) {
            break;
        }
    }
    assert!(handle.cancel_node(long));
    let s = handle.finish().await;
    assert_eq!(status(&s, long), NodeStatus::Cancelled);
    assert_eq!(status(&s, after), NodeStatus::Blocked);
    assert_eq!(status(&s, other), NodeStatus::Done);
}

#[tokio::test(start_paused = true)]
async fn cancelling_the_run_stops_everything_promptly() {
    let mut f = Fixture::new();
    let a = f.node("hang", None);
    let b = f.node("hang", None);
    let exec = Scripted::with_limit(4);
    let engine = f.engine(&exec);
    let handle = engine.start(f.request()).expect("start");
    tokio::time::sleep(Duration::from_secs(3)).await;
    handle.cancel();
    let s = handle.finish().await;
    assert_eq!(s.cancelled, 2);
    assert_eq!(status(&s, a), NodeStatus::Cancelled);
    assert_eq!(status(&s, b), NodeStatus::Cancelled);
}

#[tokio::test(start_paused = true)]
async fn a_job_that_never_finishes_times_out_by_its_kind() {
    let mut f = Fixture::new();
    let a = f.node("hang", None);
    let exec = Scripted::with_limit(1);
    let engine = f.engine(&exec);
    let start = tokio::time::Instant::now();
    let (s, _) = run(&engine, f.request()).await;
    assert_eq!(status(&s, a), NodeStatus::Failed);
    let timeout = Catalog::builtin().get("t2i").expect("t2i").timeout_seconds;
    assert_eq!(
        s.report(a).expect("r").error,
        Some(format!("timed out after {timeout} s"))
    );
    assert!(start.elapsed() >= Duration::from_secs(u64::from(timeout)));
}

#[tokio::test(start_paused = true)]
async fn a_paused_queue_starts_nothing_until_resumed() {
    let mut f = Fixture::new();
    f.node("x", None);
    let exec = Scripted::with_limit(1);
    let engine = f.engine(&exec);
    engine.set_paused(true);
    let handle = engine.start(f.request()).expect("start");
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(exec.executions.load(Ordering::SeqCst), 0);
    engine.set_paused(false);
    let s = handle.finish().await;
    assert_eq!(s.ran, 1);
}

#[tokio::test(start_paused = true)]
async fn after_a_crash_the_journaled_job_is_resumed_not_resubmitted() {
    let mut f = Fixture::new();
    let a = f.node("slow:600", None);
    let exec = Scripted::with_limit(1);
    {
        let engine = f.engine(&exec);
        let mut handle = engine.start(f.request()).expect("start");
        while let Some(e) = handle.events.recv().await {
            if e == (Event::Started { node: a }) {
                break;
            }
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
        // A crash: no clean-up code runs.
        handle.abort();
        let _ = handle.finish().await;
    }
    assert_eq!(exec.submits.load(Ordering::SeqCst), 1);
    let engine = f.engine(&exec);
    assert_eq!(engine.journal().entries().len(), 1, "the job is journaled");
    let (s, _) = run(&engine, f.request()).await;
    assert_eq!(status(&s, a), NodeStatus::Done);
    assert_eq!(
        exec.submits.load(Ordering::SeqCst),
        1,
        "resumed, not paid for twice"
    );
    assert_eq!(exec.executions.load(Ordering::SeqCst), 2);
    assert!(engine.journal().entries().is_empty(), "cleared once done");
}

#[tokio::test(start_paused = true)]
async fn a_corrupted_cached_blob_is_recomputed() {
    let mut f = Fixture::new();
    let a = f.node("a", None);
    let exec = Scripted::with_limit(1);
    let engine = f.engine(&exec);
    let (s, _) = run(&engine, f.request()).await;
    let path = s.report(a).expect("r").output_paths[0].clone();
    std::fs::write(&path, b"bit rot").expect("corrupt");
    let (s2, _) = run(&engine, f.request()).await;
    assert_eq!(status(&s2, a), NodeStatus::Done, "a corrupt blob is a miss");
    assert_eq!(exec.executions.load(Ordering::SeqCst), 2);
    let bytes = std::fs::read(&s2.report(a).expect("r").output_paths[0]).expect("read");
    assert_eq!(bytes, b"a|");
}

#[tokio::test(start_paused = true)]
async fn running_one_node_runs_only_what_it_needs() {
    let mut f = Fixture::new();
    let a = f.node("a", None);
    let b = f.node("b", Some(a));
    let unrelated = f.node("u", None);
    let exec = Scripted::with_limit(2);
    let engine = f.engine(&exec);
    let mut req = f.request();
    req.targets = vec![b];
    let (s, _) = run(&engine, req).await;
    assert_eq!(s.ran, 2);
    assert!(s.report(unrelated).is_none());
    // With b cached, asking for b again needs nothing upstream, even if a's result is gone.
    let cache = Cache::open(&f.cache_root, CacheOptions::default()).expect("cache");
    let a_sig = s.report(a).expect("a").signature.clone().expect("sig");
    cache.remove(&a_sig).expect("remove");
    let mut req = f.request();
    req.targets = vec![b];
    let (s2, _) = run(&engine, req).await;
    assert_eq!((s2.ran, s2.cached), (0, 1));
    assert_eq!(status(&s2, a), NodeStatus::Skipped);
}

#[tokio::test(start_paused = true)]
async fn account_route_cost_counts_uncached_nodes_and_is_reported_per_node() {
    let mut f = Fixture::new();
    let a = f.node("a", None);
    let _b = f.node("b", Some(a));
    let exec = Scripted::with_limit(2);
    let engine = {
        let cache = Cache::open(&f.cache_root, CacheOptions::default()).expect("cache");
        Arc::new(
            Engine::new(Arc::new(Catalog::builtin().clone()), cache)
                .expect("engine")
                .with_route(Route::Account, Arc::new(Handle(Arc::clone(&exec)))),
        )
    };
    let mut req = f.request();
    req.force_route = Some(Route::Account);
    req.prices = BTreeMap::from([("i2i".to_owned(), 4)]);
    let plan = engine.plan(&req).expect("plan");
    assert_eq!(plan.cost.total, 2 + 4);
    let (s, _) = run(&engine, req.clone()).await;
    assert_eq!(s.credits, 6);
    assert_eq!(s.report(a).expect("a").credits, 2);
    assert_eq!(
        engine.plan(&req).expect("plan").cost.total,
        0,
        "all cached now"
    );
}

#[tokio::test(start_paused = true)]
async fn a_route_without_an_executor_is_refused_before_anything_runs() {
    let mut f = Fixture::new();
    f.node("a", None);
    let exec = Scripted::with_limit(1);
    let engine = f.engine(&exec);
    let mut req = f.request();
    req.force_route = Some(Route::Comfyui);
    let err = engine.start(req).err().expect("refused");
    assert_eq!(
        err.to_string(),
        "no executor for the comfyui route is configured"
    );
    assert_eq!(exec.executions.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn takes_accumulate_and_picking_one_restores_its_parameters() {
    let mut f = Fixture::new();
    let a = f.node("a", None);
    let exec = Scripted::with_limit(1);
    let engine = f.engine(&exec);
    let (s1, _) = run(&engine, f.request()).await;
    let sig1 = s1.report(a).expect("a").signature.clone().expect("sig");
    let cache = engine.cache().clone();
    let r1 = cache.get(&sig1).expect("get").expect("hit");
    let t1 = aktion_engine::takes::record_take(&mut f.doc, a, &sig1, &r1).expect("take");

    assert!(aktion_engine::takes::reroll_seed(&mut f.doc, a));
    let (s2, _) = run(&engine, f.request()).await;
    let sig2 = s2.report(a).expect("a").signature.clone().expect("sig");
    assert_ne!(sig1, sig2, "a new seed is a new take");
    let r2 = cache.get(&sig2).expect("get").expect("hit");
    let t2 = aktion_engine::takes::record_take(&mut f.doc, a, &sig2, &r2).expect("take");
    assert_eq!(f.doc.node(a).expect("a").takes.len(), 2);
    assert_eq!(f.doc.node(a).expect("a").active_take, Some(t2));

    assert!(aktion_engine::takes::pick_take(&mut f.doc, a, t1));
    assert_eq!(
        f.doc.node(a).expect("a").seed(),
        1,
        "the first take's seed is back"
    );
    let (s3, _) = run(&engine, f.request()).await;
    assert_eq!(
        status(&s3, a),
        NodeStatus::Cached,
        "the picked take is the cached result"
    );

    f.doc.node_mut(a).expect("a").seed_pinned = true;
    assert!(
        !aktion_engine::takes::reroll_seed(&mut f.doc, a),
        "a pinned seed stays"
    );
    assert!(aktion_engine::takes::delete_take(&mut f.doc, a, t1));
    assert_eq!(f.doc.node(a).expect("a").active_take, Some(t2));
}

/// Runs the board and keeps every result as a take of its node (what the app and
/// `aktion run` do with `Done` events).
async fn run_and_keep(f: &mut Fixture, engine: &Arc<Engine>) -> RunSummary {
    let (summary, _) = run(engine, f.request()).await;
    for report in &summary.nodes {
        let Some(sig) = &report.signature else {
            continue;
        };
        if let Some(result) = engine.cache().get(sig).expect("get") {
            aktion_engine::takes::record_take(&mut f.doc, report.node, sig, &result);
        }
    }
    summary
}

fn take_file(f: &Fixture, id: NodeId) -> std::path::PathBuf {
    let node = f.doc.node(id).expect("node");
    let out = &node.active_take().expect("take").outputs[0];
    aktion_graph::project::take_path(f.dir.path(), &out.hash).expect("path")
}

#[tokio::test(start_paused = true)]
async fn results_are_kept_in_the_project_so_a_cleared_cache_never_means_paying_twice() {
    let mut f = Fixture::new();
    let a = f.node("a", None);
    let b = f.node("b", Some(a));
    let exec = Scripted::with_limit(2);
    let engine = f.engine(&exec);
    run_and_keep(&mut f, &engine).await;
    assert_eq!(exec.executions.load(Ordering::SeqCst), 2);

    // Each take's file is in the project's takes/ folder, the same bytes as the cache's.
    for id in [a, b] {
        let path = take_file(&f, id);
        let hash: aktion_cache::BlobHash = path
            .file_name()
            .and_then(|n| n.to_str())
            .expect("name")
            .parse()
            .expect("hash");
        let in_cache = engine
            .cache()
            .read_blob(&hash)
            .expect("read")
            .expect("blob");
        assert_eq!(std::fs::read(&path).expect("take file"), in_cache);
    }

    // The cache is cleared: the project's takes are the second level. Nothing runs again; the
    // nodes are reported cached and the cache holds them again for what comes downstream.
    engine.cache().clear().expect("clear");
    let plan = engine.plan(&f.request()).expect("plan");
    assert!(plan.to_run.is_empty(), "{:?}", plan.to_run);
    assert_eq!(plan.cost.to_run, 0);
    let (s2, _) = run(&engine, f.request()).await;
    assert_eq!(status(&s2, a), NodeStatus::Cached);
    assert_eq!(status(&s2, b), NodeStatus::Cached);
    assert_eq!(
        exec.executions.load(Ordering::SeqCst),
        2,
        "nothing paid twice"
    );
    let sig_a = s2.report(a).expect("a").signature.clone().expect("sig");
    assert!(
        engine.cache().get(&sig_a).expect("get").is_some(),
        "restored"
    );

    // An edit downstream reruns only that node, with its input read back from the project.
    f.doc
        .node_mut(b)
        .expect("b")
        .params
        .insert("prompt".into(), "b2".into());
    engine.cache().clear().expect("clear");
    let (s3, _) = run(&engine, f.request()).await;
    assert_eq!(status(&s3, a), NodeStatus::Cached);
    assert_eq!(status(&s3, b), NodeStatus::Done);
    assert_eq!(exec.executions.load(Ordering::SeqCst), 3);
}

#[tokio::test(start_paused = true)]
async fn a_damaged_take_file_is_never_trusted() {
    let mut f = Fixture::new();
    let a = f.node("a", None);
    let exec = Scripted::with_limit(1);
    let engine = f.engine(&exec);
    run_and_keep(&mut f, &engine).await;
    let path = take_file(&f, a);
    let good = std::fs::read(&path).expect("take file");
    engine.cache().clear().expect("clear");
    std::fs::write(&path, vec![b'x'; good.len()]).expect("damage");

    // Not counted as cached (the plan checks the file against its name); the node runs again
    // and the damaged file is replaced by the good one.
    let plan = engine.plan(&f.request()).expect("plan");
    assert_eq!(plan.to_run, vec![a]);
    let (s, _) = run(&engine, f.request()).await;
    assert_eq!(status(&s, a), NodeStatus::Done);
    assert_eq!(exec.executions.load(Ordering::SeqCst), 2);
    assert_eq!(std::fs::read(&path).expect("take file"), good);
}

#[tokio::test(start_paused = true)]
async fn an_older_project_keeps_what_the_cache_has_and_names_what_is_missing() {
    let mut f = Fixture::new();
    let a = f.node("a", None);
    let b = f.node("b", None);
    let exec = Scripted::with_limit(2);
    let engine = f.engine(&exec);
    run_and_keep(&mut f, &engine).await;
    // As a project saved before takes lived in it: no takes/ folder, and the cache has lost
    // a's file.
    std::fs::remove_dir_all(f.dir.path().join(aktion_graph::project::TAKES_DIR)).expect("rm");
    let a_hash: aktion_cache::BlobHash = f
        .doc
        .node(a)
        .expect("a")
        .active_take()
        .expect("take")
        .outputs[0]
        .hash
        .parse()
        .expect("hash");
    std::fs::remove_file(engine.cache().blob_path(&a_hash)).expect("rm blob");

    let report = aktion_engine::kept::keep_all(engine.cache(), f.dir.path(), &f.doc);
    assert_eq!(report.added, 1);
    let a_take = f.doc.node(a).expect("a").active_take.expect("take");
    assert_eq!(report.missing, vec![(a, a_take)]);
    assert!(take_file(&f, b).is_file(), "b's file came from the cache");
    assert!(!take_file(&f, a).exists());
}

#[tokio::test(start_paused = true)]
async fn only_old_take_files_nothing_refers_to_are_collected() {
    let mut f = Fixture::new();
    let a = f.node("a", None);
    let b = f.node("b", None);
    let exec = Scripted::with_limit(2);
    let engine = f.engine(&exec);
    run_and_keep(&mut f, &engine).await;
    let (file_a, file_b) = (take_file(&f, a), take_file(&f, b));
    // b's take is no longer on the board.
    let b_take = f.doc.node(b).expect("b").active_take.expect("take");
    assert!(aktion_engine::takes::delete_take(&mut f.doc, b, b_take));
    let keep = aktion_engine::kept::doc_hashes(&f.doc);
    let grace = Duration::from_secs(3600);

    // Young files stay even when nothing refers to them (a result may be on its way).
    let removed = aktion_engine::kept::collect_garbage(f.dir.path(), &keep, grace).expect("gc");
    assert_eq!(removed, 0);
    assert!(file_b.is_file());

    // Old and unreferenced: removed; referenced: kept whatever its age; other names: untouched.
    let old = std::time::SystemTime::now() - Duration::from_secs(7200);
    for file in [&file_a, &file_b] {
        std::fs::File::options()
            .write(true)
            .open(file)
            .and_then(|f| f.set_modified(old))
            .expect("age");
    }
    let stray = f.dir.path().join("takes").join("notes.txt");
    std::fs::write(&stray, b"mine").expect("write");
    let removed = aktion_engine::kept::collect_garbage(f.dir.path(), &keep, grace).expect("gc");
    assert_eq!(removed, 1);
    assert!(!file_b.exists());
    assert!(file_a.is_file());
    assert!(stray.is_file());
}
