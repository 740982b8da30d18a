//! Behaviour of one process using the cache: storage, verification, eviction, hostile folders.

use std::fs;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use aktion_cache::{BlobHash, Cache, CacheError, CacheOptions, CachedOutput, CachedResult};

fn open(root: &Path) -> Cache {
    Cache::open(root, CacheOptions::default()).expect("open cache")
}

fn open_limited(root: &Path, max_bytes: u64) -> Cache {
    Cache::open(root, CacheOptions { max_bytes }).expect("open cache")
}

/// Stores each blob and returns a result referencing them.
fn store(cache: &Cache, blobs: &[&[u8]]) -> CachedResult {
    let outputs = blobs
        .iter()
        .enumerate()
        .map(|(i, bytes)| CachedOutput {
            hash: cache.put_bytes(bytes).expect("put bytes"),
            mime: "image/png".to_owned(),
            name: format!("out{i}.png"),
            bytes: bytes.len() as u64,
        })
        .collect();
    CachedResult {
        outputs,
        meta: serde_json::json!({ "provider": "test", "seed": 7, "draft": false }),
        created_unix_ms: 1_700_000_000_000,
    }
}

/// Regular files one level below `dir`'s subfolders (the blob or entry files).
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for shard in fs::read_dir(dir).expect("list").flatten() {
        if shard.path().is_dir() {
            for file in fs::read_dir(shard.path()).expect("list shard").flatten() {
                found.push(file.path());
            }
        }
    }
    found.sort();
    found
}

fn only_entry_file(root: &Path) -> PathBuf {
    let files = files_under(&root.join("index"));
    assert_eq!(files.len(), 1, "expected one entry file: {files:?}");
    files[0].clone()
}

/// Makes every blob look written `age` ago, i.e. past eviction's grace period.
fn age_blobs(root: &Path, age: Duration) {
    let then = SystemTime::now() - age;
    for path in files_under(&root.join("blobs")) {
        let file = fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .expect("open blob");
        file.set_modified(then).expect("set mtime");
    }
}

fn flip_byte(path: &Path, index: usize) {
    let mut bytes = fs::read(path).expect("read");
    bytes[index] ^= 0x55;
    fs::write(path, bytes).expect("write");
}

const HOUR: Duration = Duration::from_secs(3600);

#[test]
fn results_round_trip_and_survive_reopening() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("cache");
    let cache = open(&root);
    let result = store(&cache, &[b"first output", b"second output"]);
    cache.put("sig-1", &result).expect("put");
    assert_eq!(cache.get("sig-1").expect("get"), Some(result.clone()));
    assert_eq!(cache.get("sig-2").expect("get"), None);
    assert!(root.join("blobs").is_dir() && root.join("index").is_dir());
    assert!(root.join("tmp").is_dir());
    drop(cache);

    let reopened = open(&root);
    assert_eq!(reopened.get("sig-1").expect("get"), Some(result.clone()));
    let hash = result.outputs[1].hash;
    assert_eq!(
        reopened.read_blob(&hash).expect("read"),
        Some(b"second output".to_vec())
    );
    assert_eq!(
        reopened.blob_path(&hash),
        root.join("blobs")
            .join(&hash.to_hex()[..2])
            .join(hash.to_hex())
    );
    let stats = reopened.stats().expect("stats");
    assert_eq!((stats.entries, stats.blobs), (1, 2));
    assert_eq!(stats.bytes, 12 + 13);
    assert_eq!(stats.root, root);
    assert_eq!(stats.max_bytes, 10 * 1024 * 1024 * 1024);
}

#[test]
fn put_replaces_and_remove_forgets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = open(dir.path());
    let first = store(&cache, &[b"one"]);
    let second = store(&cache, &[b"two"]);
    cache.put("sig", &first).expect("put");
    cache.put("sig", &second).expect("put again");
    assert_eq!(cache.get("sig").expect("get"), Some(second));
    cache.remove("sig").expect("remove");
    assert_eq!(cache.get("sig").expect("get"), None);
    // Removing what is not there is fine.
    cache.remove("sig").expect("remove again");
}

#[test]
fn identical_bytes_are_stored_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = open(&dir.path().join("cache"));
    let bytes = b"the same frame, rendered twice".repeat(100);
    let a = cache.put_bytes(&bytes).expect("put");
    let b = cache.put_bytes(&bytes).expect("put again");
    let source = dir.path().join("frame.bin");
    fs::write(&source, &bytes).expect("write source");
    let c = cache.put_file(&source).expect("put file");
    let mut writer = cache.writer(None).expect("writer");
    for chunk in bytes.chunks(7) {
        writer.write_all(chunk).expect("write");
    }
    let d = writer.finish().expect("finish");
    assert_eq!(a, BlobHash::of(&bytes));
    assert!([b, c, d].iter().all(|h| *h == a));
    assert_eq!(files_under(&dir.path().join("cache/blobs")).len(), 1);
    let stats = cache.stats().expect("stats");
    assert_eq!((stats.blobs, stats.bytes), (1, bytes.len() as u64));
    assert!(
        fs::read_dir(dir.path().join("cache/tmp"))
            .expect("tmp")
            .next()
            .is_none(),
        "dedup left temp files behind"
    );
}

#[test]
fn empty_blob_is_valid() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = open(dir.path());
    let hash = cache.put_bytes(b"").expect("put empty");
    assert_eq!(hash, BlobHash::of(b""));
    assert_eq!(cache.read_blob(&hash).expect("read"), Some(Vec::new()));
    assert!(cache.verify_blob(&hash).expect("verify"));
}

#[test]
fn flipped_blob_is_a_miss_then_accepted_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = open(dir.path());
    let bytes = b"a rendered shot".repeat(50);
    let result = store(&cache, &[&bytes]);
    let hash = result.outputs[0].hash;
    cache.put("shot", &result).expect("put");

    flip_byte(&cache.blob_path(&hash), 100);
    assert_eq!(cache.read_blob(&hash).expect("read"), None);
    assert!(!cache.has_blob(&hash), "corrupt blob was kept");

    // Recompute: the same bytes go in again and are served again.
    assert_eq!(cache.put_bytes(&bytes).expect("put again"), hash);
    assert_eq!(cache.read_blob(&hash).expect("read"), Some(bytes.clone()));

    // Through `get`: the entry goes too, and a fresh put works.
    flip_byte(&cache.blob_path(&hash), 0);
    assert_eq!(cache.get("shot").expect("get"), None);
    assert!(!cache.has_blob(&hash));
    assert_eq!(cache.stats().expect("stats").entries, 0);
    let again = store(&cache, &[&bytes]);
    cache.put("shot", &again).expect("put recomputed");
    assert_eq!(cache.get("shot").expect("get"), Some(again));
}

#[test]
fn truncated_blob_is_a_miss_and_replaced_by_a_new_write() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = open(dir.path());
    let bytes = vec![42u8; 300_000];
    let result = store(&cache, &[&bytes]);
    let hash = result.outputs[0].hash;
    cache.put("long", &result).expect("put");
    let path = cache.blob_path(&hash);

    fs::write(&path, &bytes[..1000]).expect("truncate");
    assert!(!cache.verify_blob(&hash).expect("verify"));
    assert!(!path.exists());
    assert_eq!(cache.get("long").expect("get"), None);

    // A truncated copy is not adopted as a duplicate: the new write replaces it.
    fs::write(&path, &bytes[..1000]).expect("truncate again");
    cache.put_bytes(&bytes).expect("put");
    assert!(cache.verify_blob(&hash).expect("verify"));
    assert_eq!(cache.read_blob(&hash).expect("read"), Some(bytes));
}

#[test]
fn zero_length_files_are_misses() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = open(dir.path());
    let result = store(&cache, &[b"content"]);
    let hash = result.outputs[0].hash;
    cache.put("sig", &result).expect("put");

    fs::write(cache.blob_path(&hash), b"").expect("empty blob");
    assert_eq!(cache.read_blob(&hash).expect("read"), None);

    let result = store(&cache, &[b"content"]);
    cache.put("sig", &result).expect("put");
    let entry = only_entry_file(dir.path());
    fs::write(&entry, b"").expect("empty entry");
    assert_eq!(cache.get("sig").expect("get"), None);
    assert!(!entry.exists(), "empty entry was kept");
}

#[test]
fn garbled_entries_are_misses_and_removed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = open(dir.path());
    let result = store(&cache, &[b"content"]);
    cache.put("sig", &result).expect("put");
    let entry = only_entry_file(dir.path());
    let good = fs::read(&entry).expect("read entry");

    let mut wrong_size: serde_json::Value = serde_json::from_slice(&good).expect("entry is json");
    wrong_size["result"]["outputs"][0]["bytes"] = serde_json::json!(999);
    let mut wrong_signature = wrong_size.clone();
    wrong_signature["result"]["outputs"][0]["bytes"] = serde_json::json!(7);
    wrong_signature["signature"] = serde_json::json!("other");
    let mut future_format = wrong_signature.clone();
    future_format["signature"] = serde_json::json!("sig");
    future_format["format"] = serde_json::json!(99);

    let garbage: Vec<Vec<u8>> = vec![
        b"{not json".to_vec(),
        b"[1, 2, 3]".to_vec(),
        b"{\"format\": 1}".to_vec(),
        vec![0xff, 0xfe, 0x00, 0x80],
        "[".repeat(100_000).into_bytes(),
        serde_json::to_vec(&wrong_size).expect("json"),
        serde_json::to_vec(&wrong_signature).expect("json"),
        serde_json::to_vec(&future_format).expect("json"),
    ];
    for text in garbage {
        fs::write(&entry, &text).expect("write garbage");
        assert_eq!(cache.get("sig").expect("get"), None);
        assert!(!entry.exists(), "garbled entry was kept");
    }
    // The blob an entry lied about is itself fine and stays.
    assert!(cache.has_blob(&result.outputs[0].hash));
    fs::write(&entry, &good).expect("restore");
    assert_eq!(cache.get("sig").expect("get"), Some(result));
}

#[test]
fn folders_where_files_belong_are_misses_not_panics() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = open(dir.path());
    let result = store(&cache, &[b"content"]);
    let hash = result.outputs[0].hash;
    cache.put("sig", &result).expect("put");

    let entry = only_entry_file(dir.path());
    fs::remove_file(&entry).expect("remove");
    fs::create_dir_all(entry.join("inner")).expect("dir for entry");
    assert_eq!(cache.get("sig").expect("get"), None);
    cache.put("sig", &result).expect("put over the folder");
    assert_eq!(cache.get("sig").expect("get"), Some(result.clone()));

    let blob = cache.blob_path(&hash);
    fs::remove_file(&blob).expect("remove");
    fs::create_dir_all(blob.join("inner")).expect("dir for blob");
    assert!(!cache.has_blob(&hash));
    assert!(matches!(
        cache.put("sig", &result),
        Err(CacheError::MissingBlob(h)) if h == hash
    ));
    assert_eq!(cache.read_blob(&hash).expect("read"), None);
    fs::create_dir_all(blob.join("inner")).expect("dir for blob");
    assert!(!cache.verify_blob(&hash).expect("verify"));
    fs::create_dir_all(blob.join("inner")).expect("dir for blob");
    assert_eq!(cache.get("sig").expect("get"), None);
    cache.put_bytes(b"content").expect("put over the folder");
    assert!(cache.verify_blob(&hash).expect("verify"));

    // A file where a shard folder belongs is cleared away (it is inside the cache's own folder).
    let other = (0..1000)
        .map(|i| format!("other {i}"))
        .find(|o| {
            let path = cache.blob_path(&BlobHash::of(o.as_bytes()));
            !path.parent().expect("shard").exists()
        })
        .expect("some bytes land in an unused shard");
    let path = cache.blob_path(&BlobHash::of(other.as_bytes()));
    fs::write(path.parent().expect("shard"), b"in the way").expect("file for shard");
    assert_eq!(
        cache
            .read_blob(&BlobHash::of(other.as_bytes()))
            .expect("read"),
        None
    );
    let hash = cache
        .put_bytes(other.as_bytes())
        .expect("put through the stray file");
    assert!(cache.verify_blob(&hash).expect("verify"));
    // The same for the index folder itself.
    fs::remove_dir_all(dir.path().join("index")).expect("remove index");
    fs::write(dir.path().join("index"), b"in the way").expect("file for index");
    assert_eq!(cache.get("sig").expect("get"), None);
    cache
        .put("sig", &result)
        .expect("put through the stray file");
    assert_eq!(cache.get("sig").expect("get"), Some(result.clone()));

    // A file where the root belongs.
    let file_root = dir.path().join("not-a-folder");
    fs::write(&file_root, b"x").expect("write");
    let err = Cache::open(&file_root, CacheOptions::default()).expect_err("opened a file");
    assert!(matches!(err, CacheError::Io { .. }));
    assert!(format!("{err}").contains("not-a-folder"));
}

#[test]
fn foreign_files_in_cache_folders_are_ignored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let cache = open(root);
    let result = store(&cache, &[b"real"]);
    cache.put("sig", &result).expect("put");
    let real = BlobHash::of(b"real").to_hex();
    let misplaced_shard = if real.starts_with("00") { "01" } else { "00" };
    let strays = [
        root.join("blobs/zz/not-hex"),
        root.join("blobs/ab/readme.txt"),
        root.join("blobs").join(misplaced_shard).join(&real),
        root.join("blobs/stray-file"),
        root.join("index/xx/foo.json"),
        root.join("index/ab").join(format!("{real}.txt")),
    ];
    for stray in &strays {
        fs::create_dir_all(stray.parent().expect("parent")).expect("mkdir");
        fs::write(stray, b"stray").expect("write stray");
    }
    age_blobs(root, HOUR);
    let stats = cache.stats().expect("stats");
    assert_eq!((stats.entries, stats.blobs, stats.bytes), (1, 1, 4));
    cache.evict().expect("evict");
    assert!(
        strays.iter().all(|p| p.exists()),
        "evict deleted a file it does not own"
    );
    assert_eq!(cache.get("sig").expect("get"), Some(result));
    cache.clear().expect("clear");
    assert_eq!(cache.stats().expect("stats").blobs, 0);
}

#[test]
fn hostile_signatures_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("cache");
    let cache = open(&root);
    let result = store(&cache, &[b"x"]);
    for sig in [
        "",
        "..",
        "../../escape",
        "/etc/passwd",
        "a/b",
        "C:\\x",
        "name.json",
        "new\nline",
        &"k".repeat(129),
    ] {
        assert!(matches!(
            cache.put(sig, &result),
            Err(CacheError::InvalidSignature(_))
        ));
        assert!(matches!(
            cache.get(sig),
            Err(CacheError::InvalidSignature(_))
        ));
        assert!(matches!(
            cache.remove(sig),
            Err(CacheError::InvalidSignature(_))
        ));
    }
    let outside: Vec<_> = fs::read_dir(dir.path())
        .expect("list")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(outside, vec![std::ffi::OsString::from("cache")]);
    assert_eq!(cache.stats().expect("stats").entries, 0);
}

#[test]
fn signatures_differing_in_case_are_distinct() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = open(dir.path());
    let lower = store(&cache, &[b"lower"]);
    let upper = store(&cache, &[b"UPPER"]);
    cache.put("abc", &lower).expect("put");
    cache.put("ABC", &upper).expect("put");
    assert_eq!(cache.get("abc").expect("get"), Some(lower));
    assert_eq!(cache.get("ABC").expect("get"), Some(upper));
}

#[test]
fn put_refuses_missing_or_misdescribed_blobs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = open(dir.path());
    let mut result = store(&cache, &[b"stored"]);
    let absent = BlobHash::of(b"never stored");
    result.outputs.push(CachedOutput {
        hash: absent,
        mime: "video/mp4".to_owned(),
        name: "clip.mp4".to_owned(),
        bytes: 12,
    });
    assert!(matches!(
        cache.put("sig", &result),
        Err(CacheError::MissingBlob(h)) if h == absent
    ));
    result.outputs.pop();
    result.outputs[0].bytes = 5;
    assert!(matches!(
        cache.put("sig", &result),
        Err(CacheError::BlobSizeMismatch {
            expected: 5,
            actual: 6,
            ..
        })
    ));
    assert_eq!(cache.stats().expect("stats").entries, 0);
    assert_eq!(cache.get("sig").expect("get"), None);
}

#[test]
fn writer_enforces_its_limit_and_cleans_up() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let cache = open(root);
    let tmp_is_empty = || {
        fs::read_dir(root.join("tmp"))
            .expect("tmp")
            .next()
            .is_none()
    };

    let mut writer = cache.writer(Some(4)).expect("writer");
    writer.write_all(b"abcd").expect("up to the limit");
    let err = writer.write_all(b"e").expect_err("over the limit");
    assert_eq!(err.kind(), ErrorKind::FileTooLarge);
    assert!(matches!(
        writer.finish(),
        Err(CacheError::TooLarge { limit: 4 })
    ));
    assert!(tmp_is_empty());
    assert_eq!(cache.stats().expect("stats").blobs, 0);

    let mut writer = cache.writer(None).expect("writer");
    writer.write_all(b"abandoned download").expect("write");
    writer.flush().expect("flush");
    assert!(!tmp_is_empty());
    drop(writer);
    assert!(tmp_is_empty(), "dropped writer left its temp file");
    assert!(!cache.has_blob(&BlobHash::of(b"abandoned download")));

    let mut writer = cache.writer(Some(u64::MAX)).expect("writer");
    writer.write_all(b"huge limit").expect("write");
    assert_eq!(writer.bytes_written(), 10);
    let hash = writer.finish().expect("finish");
    assert_eq!(
        cache.read_blob(&hash).expect("read"),
        Some(b"huge limit".to_vec())
    );

    let writer = cache.writer(Some(0)).expect("writer");
    assert_eq!(writer.finish().expect("empty blob"), BlobHash::of(b""));
    assert!(tmp_is_empty());
}

#[test]
fn put_file_reports_unreadable_sources() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = open(&dir.path().join("cache"));
    let missing = dir.path().join("missing.png");
    let err = cache.put_file(&missing).expect_err("missing file");
    assert!(format!("{err}").ends_with("missing.png"), "{err}");
    assert!(matches!(
        cache.put_file(dir.path()),
        Err(CacheError::Io { .. })
    ));
    let big = vec![7u8; 1_500_000];
    let source = dir.path().join("big.bin");
    fs::write(&source, &big).expect("write");
    let hash = cache.put_file(&source).expect("put file");
    assert_eq!(hash, BlobHash::of(&big));
    assert!(cache.verify_blob(&hash).expect("verify"));
}

#[test]
fn least_recently_used_entry_is_evicted_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let cache = open_limited(root, 3000);
    let blob = |c: u8| vec![c; 1000];
    let (a, b, c) = (blob(b'a'), blob(b'b'), blob(b'c'));
    for (sig, bytes) in [("a", &a), ("b", &b), ("c", &c)] {
        let result = store(&cache, &[bytes]);
        cache.put(sig, &result).expect("put");
    }
    assert_eq!(
        cache.stats().expect("stats").entries,
        3,
        "evicted below the limit"
    );
    age_blobs(root, HOUR);
    // `a` is now the most recently used of the three; `b` the least.
    assert!(cache.get("a").expect("get").is_some());

    let d = store(&cache, &[&blob(b'd')]);
    cache.put("d", &d).expect("put over the limit");
    assert_eq!(cache.get("b").expect("get"), None);
    assert!(!cache.has_blob(&BlobHash::of(&b)));
    for sig in ["a", "c", "d"] {
        assert!(cache.get(sig).expect("get").is_some(), "{sig} was evicted");
    }
    let stats = cache.stats().expect("stats");
    assert_eq!((stats.entries, stats.bytes), (3, 3000));
}

#[test]
fn eviction_reports_bytes_freed_and_keeps_shared_blobs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let cache = open_limited(root, 1500);
    let shared = vec![1u8; 1000];
    let own = vec![2u8; 1000];
    cache
        .put("old", &store(&cache, &[&shared, &own]))
        .expect("put");
    let new = store(&cache, &[&shared]);
    cache.put("new", &new).expect("put");
    age_blobs(root, HOUR);
    // Over the limit (2000 > 1500): evicting "old" frees only the blob "new" does not use.
    assert_eq!(cache.evict().expect("evict"), 1000);
    assert_eq!(cache.get("old").expect("get"), None);
    assert_eq!(cache.get("new").expect("get"), Some(new));
    assert_eq!(cache.evict().expect("evict"), 0);
}

#[test]
fn unreferenced_blobs_are_kept_through_the_grace_period() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let cache = open(root);
    let orphan = cache
        .put_bytes(b"a download not yet recorded")
        .expect("put");
    assert_eq!(cache.evict().expect("evict"), 0);
    assert!(cache.has_blob(&orphan), "young blob collected");

    age_blobs(root, HOUR);
    assert_eq!(cache.evict().expect("evict"), 27);
    assert!(!cache.has_blob(&orphan), "old unreferenced blob kept");

    // Re-storing bytes whose old blob is still there renews it, so it survives until `put`.
    let result = store(&cache, &[b"kept"]);
    cache.put("kept", &result).expect("put");
    age_blobs(root, HOUR);
    cache.remove("kept").expect("remove");
    cache.put_bytes(b"kept").expect("put again");
    cache.evict().expect("evict");
    cache.put("kept", &result).expect("blob still there");
    assert_eq!(cache.get("kept").expect("get"), Some(result));

    // Setting the grace period to zero collects at once.
    cache.remove("kept").expect("remove");
    cache.set_unreferenced_grace(Duration::ZERO);
    assert_eq!(cache.evict().expect("evict"), 4);
}

#[test]
fn recently_written_blobs_do_not_empty_the_index() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = open_limited(dir.path(), 1000);
    for i in 0..5u8 {
        let result = store(&cache, &[&vec![i; 1000]]);
        cache.put(&format!("sig{i}"), &result).expect("put");
    }
    // All blobs are within the grace period, so evicting entries would free nothing.
    assert_eq!(cache.stats().expect("stats").entries, 5);

    age_blobs(dir.path(), HOUR);
    cache.evict().expect("evict");
    let stats = cache.stats().expect("stats");
    assert_eq!((stats.entries, stats.bytes), (1, 1000));
    assert!(
        cache.get("sig4").expect("get").is_some(),
        "newest entry evicted"
    );
}

#[test]
fn clear_empties_the_cache_and_it_stays_usable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = open(dir.path());
    cache
        .put("one", &store(&cache, &[b"1", b"22"]))
        .expect("put");
    cache.put("two", &store(&cache, &[b"333"])).expect("put");
    let stats = cache.stats().expect("stats");
    assert_eq!((stats.entries, stats.blobs, stats.bytes), (2, 3, 6));
    let json = serde_json::to_value(&stats).expect("stats serialize");
    assert_eq!(json["entries"], 2);

    cache.clear().expect("clear");
    let stats = cache.stats().expect("stats");
    assert_eq!((stats.entries, stats.blobs, stats.bytes), (0, 0, 0));
    assert_eq!(cache.get("one").expect("get"), None);

    let again = store(&cache, &[b"1"]);
    cache.put("one", &again).expect("put after clear");
    assert_eq!(cache.get("one").expect("get"), Some(again));
}

#[test]
fn open_removes_only_stale_temp_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    drop(open(root));
    let stale = root.join("tmp/1-0-0.tmp");
    let fresh = root.join("tmp/2-0-0.tmp");
    fs::write(&stale, b"left by a crash").expect("write");
    fs::write(&fresh, b"another process writing").expect("write");
    fs::File::options()
        .write(true)
        .open(&stale)
        .expect("open")
        .set_modified(SystemTime::now() - 2 * HOUR)
        .expect("age");
    let cache = open(root);
    assert!(!stale.exists(), "stale temp kept");
    assert!(fresh.exists(), "a live writer's temp removed");
    assert_eq!(cache.stats().expect("stats").blobs, 0);
}

#[test]
fn verify_streams_large_blobs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = open(dir.path());
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let hash = cache.put_bytes(&big).expect("put");
    assert!(cache.verify_blob(&hash).expect("verify"));
    flip_byte(&cache.blob_path(&hash), big.len() - 1);
    assert!(!cache.verify_blob(&hash).expect("verify"));
    assert!(!cache.verify_blob(&hash).expect("verify absent"));
}

#[test]
fn clones_share_one_cache_across_threads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = open_limited(dir.path(), 8_000);
    cache.set_unreferenced_grace(Duration::ZERO);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..4u8)
            .map(|t| {
                let cache = cache.clone();
                scope.spawn(move || {
                    for i in 0..60u8 {
                        let key = (t * 7 + i) % 16;
                        let bytes = vec![key; 1000 + usize::from(key) * 10];
                        if i % 2 == 0 {
                            let hash = cache.put_bytes(&bytes).expect("put_bytes");
                            let result = CachedResult {
                                outputs: vec![CachedOutput {
                                    hash,
                                    mime: "a/b".to_owned(),
                                    name: "x".to_owned(),
                                    bytes: bytes.len() as u64,
                                }],
                                meta: serde_json::Value::Null,
                                created_unix_ms: 0,
                            };
                            match cache.put(&format!("k{key}"), &result) {
                                // With no grace period, eviction may take the blob before `put`.
                                Ok(()) | Err(CacheError::MissingBlob(_)) => {}
                                Err(err) => panic!("put failed: {err}"),
                            }
                        } else if let Some(hit) = cache.get(&format!("k{key}")).expect("get") {
                            assert_eq!(hit.outputs[0].hash, BlobHash::of(&bytes), "wrong result");
                        }
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.join().expect("worker panicked");
        }
    });
    cache.evict().expect("evict");
    let stats = cache.stats().expect("stats");
    assert!(stats.bytes <= 8_000, "over the limit: {stats:?}");
    assert!(stats.entries > 0);
    for key in 0..16u8 {
        if let Some(hit) = cache.get(&format!("k{key}")).expect("get") {
            let bytes = vec![key; 1000 + usize::from(key) * 10];
            assert_eq!(
                cache.read_blob(&hit.outputs[0].hash).expect("read"),
                Some(bytes)
            );
        }
    }
}

#[test]
fn a_hit_hashes_a_blob_once_per_process_and_rechecks_a_changed_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = open(dir.path());
    let bytes = b"a rendered shot".repeat(50);
    let result = store(&cache, &[&bytes]);
    let hash = result.outputs[0].hash;
    cache.put("shot", &result).expect("put");
    age_blobs(dir.path(), HOUR);
    let then = fs::metadata(cache.blob_path(&hash))
        .and_then(|m| m.modified())
        .expect("mtime");
    assert_eq!(cache.get("shot").expect("get"), Some(result.clone()));

    // Changed behind the cache's back with its size and time kept: this process trusts its
    // earlier check (no hashing on the hit path) ...
    let path = cache.blob_path(&hash);
    flip_byte(&path, 3);
    fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .expect("open blob")
        .set_modified(then)
        .expect("set mtime");
    assert!(cache.get("shot").expect("get").is_some());
    // ... but another process checks it in full on first use, and it is a miss.
    let fresh = open(dir.path());
    assert_eq!(fresh.get("shot").expect("get"), None);
    assert!(!fresh.has_blob(&hash), "corrupt blob was kept");

    // A change that moves the time is noticed by the first process too.
    let again = store(&cache, &[&bytes]);
    cache.put("shot", &again).expect("put");
    age_blobs(dir.path(), HOUR);
    assert!(cache.get("shot").expect("get").is_some());
    flip_byte(&path, 0);
    assert_eq!(cache.get("shot").expect("get"), None);
}
