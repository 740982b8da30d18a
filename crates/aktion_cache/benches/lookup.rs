//! `Cache::get` of a hit on a cache of ~1,000 entries with small blobs (goal: p99 ≤ 1 ms).
//!
//! Criterion reports the mean; a second pass afterwards times single lookups and prints the
//! percentiles, since the goal is about the tail.

use std::hint::black_box;
use std::time::{Duration, Instant};

use aktion_cache::{Cache, CacheOptions, CachedOutput, CachedResult};
use criterion::Criterion;

const ENTRIES: usize = 1_000;

fn signature(i: usize) -> String {
    // Shaped like aktion_graph's signatures: 64 hex characters.
    blake3::hash(format!("node {i}").as_bytes())
        .to_hex()
        .to_string()
}

fn filled_cache(root: &std::path::Path) -> Cache {
    let cache = Cache::open(root, CacheOptions::default()).expect("open cache");
    for i in 0..ENTRIES {
        // A small thumbnail-sized blob per entry.
        let bytes: Vec<u8> = format!("thumbnail {i} ").into_bytes().repeat(300);
        let hash = cache.put_bytes(&bytes).expect("put blob");
        let result = CachedResult {
            outputs: vec![CachedOutput {
                hash,
                mime: "image/png".to_owned(),
                name: format!("take-{i}.png"),
                bytes: bytes.len() as u64,
            }],
            meta: serde_json::json!({
                "provider": "fal", "model": "flux-schnell", "seed": i, "draft": false, "credits": 2
            }),
            created_unix_ms: 1_700_000_000_000,
        };
        cache.put(&signature(i), &result).expect("put entry");
    }
    cache
}

fn bench_get(c: &mut Criterion, cache: &Cache, signatures: &[String]) {
    let mut i = 0;
    c.bench_function("cache get hit (1,000 entries)", |b| {
        b.iter(|| {
            i = (i + 7) % signatures.len();
            let hit = cache.get(black_box(&signatures[i])).expect("get");
            assert!(hit.is_some());
            hit
        });
    });
}

fn report_percentiles(cache: &Cache, signatures: &[String]) {
    let mut times: Vec<Duration> = (0..10_000)
        .map(|n| {
            let signature = &signatures[(n * 13) % signatures.len()];
            let start = Instant::now();
            let hit = cache.get(black_box(signature)).expect("get");
            let elapsed = start.elapsed();
            assert!(hit.is_some());
            elapsed
        })
        .collect();
    times.sort();
    let at = |q: f64| times[((times.len() - 1) as f64 * q) as usize];
    println!(
        "cache get hit, {} single lookups: p50 {:?}, p90 {:?}, p99 {:?}, max {:?}",
        times.len(),
        at(0.50),
        at(0.90),
        at(0.99),
        at(1.0)
    );
}

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = filled_cache(dir.path());
    let signatures: Vec<String> = (0..ENTRIES).map(signature).collect();
    let mut criterion = Criterion::default().configure_from_args();
    bench_get(&mut criterion, &cache, &signatures);
    criterion.final_summary();
    // `cargo test --benches` runs this binary without `--bench`; keep that run short.
    if std::env::args().any(|arg| arg == "--bench") {
        report_percentiles(&cache, &signatures);
    }
}
