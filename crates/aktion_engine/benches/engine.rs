//! Engine figures for BENCHMARKS.md: re-running an unchanged 100-node board (everything cached,
//! nothing evaluated) and the engine's own overhead per evaluated node (an executor that does
//! no work, so what is measured is planning, scheduling, events and cache bookkeeping).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use aktion_cache::{Cache, CacheOptions};
use aktion_engine::{
    BoxFuture, Engine, ExecError, Executor, Job, JobContext, JobOutput, RunRequest, TakeMeta,
};
use aktion_graph::{Catalog, Document, KindSchema, Node, Route, Wire};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};

/// Does no work: stores a few bytes and returns.
struct Instant(Arc<AtomicUsize>);

impl Executor for Instant {
    fn version(&self, _kind: &KindSchema) -> String {
        "instant-1".into()
    }
    fn limit(&self, _kind: &KindSchema) -> (String, usize) {
        ("instant".into(), 64)
    }
    fn execute(
        &self,
        job: Job,
        ctx: JobContext,
    ) -> BoxFuture<'static, Result<JobOutput, ExecError>> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Box::pin(async move {
            let out = ctx.store(job.signature.as_bytes(), "text/plain", "out.txt")?;
            Ok(JobOutput {
                outputs: vec![out],
                meta: TakeMeta::default(),
            })
        })
    }
}

/// `n` nodes: half t2i, each feeding one i2i.
fn board(n: usize, seed: u64) -> Document {
    let mut doc = Document::default();
    let catalog = Catalog::builtin();
    for i in 0..n / 2 {
        let mut a = Node::new(catalog.get("t2i").expect("t2i"), [0.0, i as f32 * 100.0]);
        a.params.insert("prompt".into(), format!("shot {i}").into());
        a.params.insert("seed".into(), seed.into());
        let mut b = Node::new(catalog.get("i2i").expect("i2i"), [300.0, i as f32 * 100.0]);
        b.params.insert("seed".into(), seed.into());
        let (a, b) = (doc.add_node(a), doc.add_node(b));
        let w = Wire {
            from: a,
            to: b,
            input: "image".into(),
            slot: 0,
        };
        doc.connect(catalog, w, false).expect("wire");
    }
    doc
}

fn engine(root: &std::path::Path, count: &Arc<AtomicUsize>) -> Arc<Engine> {
    let cache = Cache::open(root, CacheOptions::default()).expect("cache");
    Arc::new(
        Engine::new(Arc::new(Catalog::builtin().clone()), cache)
            .expect("engine")
            .with_route(Route::Draft, Arc::new(Instant(Arc::clone(count)))),
    )
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tmp");
    let count = Arc::new(AtomicUsize::new(0));

    // Unchanged 100-node board: one run fills the cache, then every run is all hits.
    let eng = engine(&dir.path().join("rerun"), &count);
    let doc = board(100, 1);
    let req = RunRequest::new(doc, dir.path());
    rt.block_on(async { eng.start(req.clone()).expect("start").finish().await });
    let before = count.load(Ordering::Relaxed);
    c.bench_function("rerun unchanged 100-node board", |b| {
        b.iter(|| {
            let s = rt.block_on(async { eng.start(req.clone()).expect("start").finish().await });
            assert_eq!((s.ran, s.cached), (0, 100));
        });
    });
    assert_eq!(
        count.load(Ordering::Relaxed),
        before,
        "zero evaluations on re-runs"
    );

    // Overhead per evaluated node: 200 fresh nodes per iteration (a new seed each time). Once
    // with the cache on disk (each result costs two fsyncs, the disk's latency, not the
    // engine's), once on tmpfs where fsync is free, which leaves the engine's own work.
    let shm = std::path::Path::new("/dev/shm");
    let mut group = c.benchmark_group("engine overhead");
    group.sample_size(20);
    group.throughput(criterion::Throughput::Elements(200));
    let shm_dir = shm
        .is_dir()
        .then(|| tempfile::tempdir_in(shm).expect("shm"));
    let mut targets = vec![("disk cache", dir.path().join("fresh"))];
    if let Some(d) = &shm_dir {
        targets.push(("tmpfs cache", d.path().join("fresh")));
    }
    for (label, root) in targets {
        let eng = engine(&root, &count);
        let mut seed = 10u64;
        group.bench_function(
            format!("evaluate 200 nodes with a no-op executor, {label}"),
            |b| {
                b.iter_batched(
                    || {
                        seed += 1;
                        RunRequest::new(board(200, seed), dir.path())
                    },
                    |req| {
                        let s =
                            rt.block_on(async { eng.start(req).expect("start").finish().await });
                        assert_eq!(s.ran, 200);
                    },
                    BatchSize::LargeInput,
                );
            },
        );
    }
    group.finish();
}

criterion_group!(engine_benches, benches);
criterion_main!(engine_benches);
