//! Several processes on one cache folder, and processes killed mid-write.
//!
//! The second process is this test binary itself, started with `WORKER_ENV` set so that the
//! `worker` test below does the child's part and every other test is filtered out.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aktion_cache::{BlobHash, Cache, CacheError, CacheOptions, CachedOutput, CachedResult};

const WORKER_ENV: &str = "AKTION_CACHE_TEST_WORKER";
const ROOT_ENV: &str = "AKTION_CACHE_TEST_ROOT";
const SEED_ENV: &str = "AKTION_CACHE_TEST_SEED";

/// Small xorshift generator: reproducible from the printed seed, no dependency.
struct Rng(u64);

impl Rng {
    fn from_env_or_clock() -> Self {
        let seed = std::env::var(SEED_ENV)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                let nanos = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos() as u64);
                nanos ^ u64::from(std::process::id()).rotate_left(32)
            });
        eprintln!("rng seed {seed} (set {SEED_ENV} to repeat)");
        Self(seed | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len + 8);
        while out.len() < len {
            out.extend_from_slice(&self.next().to_le_bytes());
        }
        out.truncate(len);
        out
    }
}

fn worker_command(mode: &str) -> Command {
    let mut command = Command::new(std::env::current_exe().expect("test binary path"));
    command
        .args([
            "worker",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(WORKER_ENV, mode)
        .stdin(Stdio::null());
    command
}

/// The child's side of the tests below; does nothing unless started by them. Its reports start
/// on a new line because libtest has already printed `test worker ... ` without one.
#[test]
#[ignore = "runs only as the child process of the other tests in this file"]
fn worker() {
    let Ok(mode) = std::env::var(WORKER_ENV) else {
        return;
    };
    let root = std::env::var_os(ROOT_ENV).map(PathBuf::from);
    match mode.as_str() {
        "default_dir" => match Cache::default_dir() {
            Ok(dir) => println!("\nDEFAULT_DIR={}", dir.display()),
            Err(err) => println!("\nDEFAULT_DIR_ERROR={err}"),
        },
        "hammer" => {
            let report = hammer(&root.expect("root"));
            println!(
                "\nHAMMER {} {} {}",
                report.puts, report.hits, report.missing
            );
        }
        "writes" => write_until_killed(&root.expect("root")),
        other => panic!("unknown worker mode {other}"),
    }
}

// ---------------------------------------------------------------- two processes

const HAMMER_KEYS: u32 = 40;
const HAMMER_MAX_BYTES: u64 = 48 * 1024;

/// What key `k` always computes to, so any hit can be checked for being the right result.
fn content_for(key: u32) -> Vec<u8> {
    let len = 600 + (key as usize * 211) % 3000;
    format!("result of key {key}; ")
        .into_bytes()
        .repeat(len / 16 + 1)[..len]
        .to_vec()
}

fn open_hammer_cache(root: &Path) -> Cache {
    let cache = Cache::open(
        root,
        CacheOptions {
            max_bytes: HAMMER_MAX_BYTES,
        },
    )
    .expect("open");
    // Eviction must actually run while the other process writes, not wait five minutes.
    cache.set_unreferenced_grace(Duration::ZERO);
    cache
}

#[derive(Default)]
struct HammerReport {
    puts: u64,
    hits: u64,
    missing: u64,
}

fn hammer(root: &Path) -> HammerReport {
    let cache = open_hammer_cache(root);
    std::thread::scope(|scope| {
        let threads: Vec<_> = (0..2)
            .map(|_| scope.spawn(|| hammer_thread(&cache)))
            .collect();
        let mut report = HammerReport::default();
        for thread in threads {
            let part = thread.join().expect("hammer thread panicked");
            report.puts += part.puts;
            report.hits += part.hits;
            report.missing += part.missing;
        }
        report
    })
}

fn hammer_thread(cache: &Cache) -> HammerReport {
    let mut rng = Rng::from_env_or_clock();
    let mut report = HammerReport::default();
    for _ in 0..300 {
        let key = rng.below(u64::from(HAMMER_KEYS)) as u32;
        let signature = format!("key-{key}");
        let expected = content_for(key);
        match rng.below(10) {
            0..=3 => {
                let hash = cache.put_bytes(&expected).expect("put_bytes");
                let result = CachedResult {
                    outputs: vec![CachedOutput {
                        hash,
                        mime: "application/octet-stream".to_owned(),
                        name: format!("{key}.bin"),
                        bytes: expected.len() as u64,
                    }],
                    meta: serde_json::json!({ "key": key }),
                    created_unix_ms: 1,
                };
                match cache.put(&signature, &result) {
                    Ok(()) => report.puts += 1,
                    // With no grace period an eviction may collect the blob before `put`.
                    Err(CacheError::MissingBlob(_)) => report.missing += 1,
                    Err(err) => panic!("put failed: {err}"),
                }
            }
            4 => {
                cache.evict().expect("evict");
            }
            _ => {
                if let Some(hit) = cache.get(&signature).expect("get") {
                    assert_eq!(hit.meta["key"], key, "result of another key");
                    assert_eq!(hit.outputs.len(), 1);
                    assert_eq!(hit.outputs[0].hash, BlobHash::of(&expected), "wrong blob");
                    if let Some(bytes) = cache.read_blob(&hit.outputs[0].hash).expect("read") {
                        assert_eq!(bytes, expected, "wrong bytes");
                    }
                    report.hits += 1;
                }
            }
        }
    }
    report
}

/// Every file in `blobs/` must hash to its own name. Returns how many there are.
fn assert_all_blobs_intact(root: &Path) -> usize {
    let mut count = 0;
    for shard in fs::read_dir(root.join("blobs"))
        .expect("list blobs")
        .flatten()
    {
        for file in fs::read_dir(shard.path()).expect("list shard").flatten() {
            let name = file.file_name().into_string().expect("utf-8 name");
            let hash: BlobHash = name.parse().expect("blob named by its hash");
            let bytes = fs::read(file.path()).expect("read blob");
            assert_eq!(BlobHash::of(&bytes), hash, "partial or corrupt blob {name}");
            assert_eq!(shard.file_name().into_string().expect("utf-8"), name[..2]);
            count += 1;
        }
    }
    count
}

/// Signatures of all entry files, read straight from disk.
fn entry_signatures(root: &Path) -> Vec<String> {
    let mut signatures = Vec::new();
    for shard in fs::read_dir(root.join("index"))
        .expect("list index")
        .flatten()
    {
        for file in fs::read_dir(shard.path()).expect("list shard").flatten() {
            let text = fs::read(file.path()).expect("read entry");
            let entry: serde_json::Value = serde_json::from_slice(&text).expect("entry is whole");
            signatures.push(entry["signature"].as_str().expect("signature").to_owned());
        }
    }
    signatures
}

#[test]
fn two_processes_share_one_cache() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("cache");
    let child = worker_command("hammer")
        .env(ROOT_ENV, &root)
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn worker");
    let mine = hammer(&root);
    let output = child.wait_with_output().expect("wait for worker");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "worker failed: {stdout}");
    let theirs: Vec<u64> = stdout
        .lines()
        .find_map(|line| line.strip_prefix("HAMMER "))
        .expect("worker report")
        .split(' ')
        .map(|n| n.parse().expect("number"))
        .collect();
    assert!(
        mine.puts > 0 && mine.hits > 0,
        "this process did no real work"
    );
    assert!(
        theirs[0] > 0 && theirs[1] > 0,
        "the worker did no real work"
    );

    // Afterwards: every blob intact, every entry a verified hit with the right bytes.
    assert_all_blobs_intact(&root);
    let cache = open_hammer_cache(&root);
    let signatures = entry_signatures(&root);
    assert!(!signatures.is_empty());
    for signature in signatures {
        let key: u32 = signature
            .strip_prefix("key-")
            .and_then(|k| k.parse().ok())
            .expect("a hammer key");
        let hit = cache.get(&signature).expect("get").expect("entry verifies");
        let bytes = cache
            .read_blob(&hit.outputs[0].hash)
            .expect("read")
            .expect("blob present");
        assert_eq!(bytes, content_for(key));
    }
    cache.evict().expect("evict");
    assert!(cache.stats().expect("stats").bytes <= HAMMER_MAX_BYTES);
}

// ---------------------------------------------------------------- kills

/// Writes blobs and entries in every way the cache offers until killed (or 20 s pass, so an
/// orphaned worker cannot run forever).
fn write_until_killed(root: &Path) {
    let cache = Cache::open(root, CacheOptions::default()).expect("open");
    let mut rng = Rng::from_env_or_clock();
    let source = root.with_extension(format!("src-{}", std::process::id()));
    println!("\nREADY");
    std::io::stdout().flush().expect("flush");
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < Duration::from_secs(20) {
        n += 1;
        let len = 1 + rng.below(96 * 1024) as usize;
        let bytes = rng.bytes(len);
        let hash = match n % 3 {
            0 => cache.put_bytes(&bytes).expect("put_bytes"),
            1 => {
                let mut writer = cache.writer(Some(len as u64)).expect("writer");
                for chunk in bytes.chunks(4096) {
                    writer.write_all(chunk).expect("write");
                }
                writer.finish().expect("finish")
            }
            _ => {
                fs::write(&source, &bytes).expect("write source");
                cache.put_file(&source).expect("put_file")
            }
        };
        let result = CachedResult {
            outputs: vec![CachedOutput {
                hash,
                mime: "image/png".to_owned(),
                name: "x.png".to_owned(),
                bytes: len as u64,
            }],
            meta: serde_json::json!({ "n": n }),
            created_unix_ms: n,
        };
        cache
            .put(&format!("w{}-{n}", std::process::id()), &result)
            .expect("put");
    }
}

#[test]
fn kills_during_writes_leave_no_partial_blobs() {
    // 50 in the test suite; `AKTION_CACHE_KILLS=1000` for the quality bar's 1,000 (BENCHMARKS.md).
    let rounds: usize = std::env::var("AKTION_CACHE_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("cache");
    drop(Cache::open(&root, CacheOptions::default()).expect("open"));
    let mut rng = Rng::from_env_or_clock();
    // Rounds whose kill left a new temp file behind, i.e. landed in the middle of a write.
    let mut interrupted = 0;
    let mut leftovers = 0;
    for _ in 0..rounds {
        let mut child = worker_command("writes")
            .env(ROOT_ENV, &root)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn worker");
        let stdout = child.stdout.take().expect("stdout");
        let ready = BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .any(|line| line == "READY");
        assert!(ready, "worker never got ready");
        std::thread::sleep(Duration::from_micros(rng.below(25_000)));
        child.kill().expect("kill worker");
        let status = child.wait().expect("reap worker");
        assert!(!status.success(), "worker finished before it was killed");
        let now = fs::read_dir(root.join("tmp")).expect("tmp").count();
        if now > leftovers {
            interrupted += 1;
        }
        leftovers = now;
    }
    eprintln!("{interrupted} of {rounds} kills interrupted a write; {leftovers} temp files left");
    assert!(interrupted > 0, "no kill landed during a write");

    let blobs = assert_all_blobs_intact(&root);
    assert!(
        blobs > rounds,
        "workers wrote too little to test anything: {blobs}"
    );
    let cache = Cache::open(&root, CacheOptions::default()).expect("reopen");
    let stats = cache.stats().expect("stats");
    assert_eq!(stats.blobs, blobs as u64, "temp files counted as blobs");
    let signatures = entry_signatures(&root);
    assert_eq!(stats.entries, signatures.len() as u64);
    for signature in signatures {
        assert!(
            cache.get(&signature).expect("get").is_some(),
            "entry {signature} does not verify"
        );
    }
}

// ---------------------------------------------------------------- default folder

#[test]
fn default_dir_follows_the_environment() {
    let run = |value: Option<&str>| {
        let mut command = worker_command("default_dir");
        match value {
            Some(value) => command.env(aktion_cache::CACHE_DIR_ENV, value),
            None => command.env_remove(aktion_cache::CACHE_DIR_ENV),
        };
        let output = command.output().expect("run worker");
        assert!(output.status.success());
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .find_map(|line| line.strip_prefix("DEFAULT_DIR=").map(str::to_owned))
            .expect("worker printed a folder")
    };
    assert_eq!(run(Some("/srv/aktion-cache")), "/srv/aktion-cache");
    let platform = run(None);
    assert!(Path::new(&platform).is_absolute(), "{platform}");
    assert_ne!(platform, "/srv/aktion-cache");
    // Empty counts as unset.
    assert_eq!(run(Some("")), platform);
}
