//! Arbitrary input must give misses or clear errors, never panics or wrong results.

use std::fs;
use std::path::PathBuf;

use aktion_cache::{BlobHash, Cache, CacheError, CacheOptions, CachedOutput, CachedResult};
use proptest::prelude::*;

/// One cache for all cases of a property: opening one per case would mostly measure `open`.
struct Fixture {
    _dir: tempfile::TempDir,
    cache: Cache,
    result: CachedResult,
    entry_file: PathBuf,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = Cache::open(dir.path(), CacheOptions::default()).expect("open");
    let bytes = b"an honest output";
    let result = CachedResult {
        outputs: vec![CachedOutput {
            hash: cache.put_bytes(bytes).expect("put"),
            mime: "text/plain".to_owned(),
            name: "out.txt".to_owned(),
            bytes: bytes.len() as u64,
        }],
        meta: serde_json::json!({}),
        created_unix_ms: 0,
    };
    cache.put("target", &result).expect("put entry");
    let shard = fs::read_dir(dir.path().join("index"))
        .expect("index")
        .flatten()
        .next()
        .expect("one shard");
    let entry_file = fs::read_dir(shard.path())
        .expect("shard")
        .flatten()
        .next()
        .expect("one entry")
        .path();
    Fixture {
        _dir: dir,
        cache,
        result,
        entry_file,
    }
}

fn is_valid_signature(s: &str) -> bool {
    (1..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

// Each case opens a cache and fsyncs a few files, so the file-system properties run fewer cases.
proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn any_entry_file_content_is_a_miss(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let f = fixture();
        fs::write(&f.entry_file, &bytes).expect("write");
        prop_assert_eq!(f.cache.get("target").expect("get"), None);
        prop_assert!(!f.entry_file.exists());
        // And the cache recovers with a fresh put.
        f.cache.put("target", &f.result).expect("put");
        prop_assert_eq!(f.cache.get("target").expect("get"), Some(f.result.clone()));
    }

    #[test]
    fn any_blob_content_but_the_right_one_is_a_miss(
        bytes in proptest::collection::vec(any::<u8>(), 0..2048),
    ) {
        let f = fixture();
        let hash = f.result.outputs[0].hash;
        prop_assume!(BlobHash::of(&bytes) != hash);
        fs::write(f.cache.blob_path(&hash), &bytes).expect("write");
        prop_assert_eq!(f.cache.get("target").expect("get"), None);
        prop_assert_eq!(f.cache.read_blob(&hash).expect("read"), None);
    }

    #[test]
    fn any_signature_is_accepted_or_refused_cleanly(signature in "\\PC{0,140}|[a-zA-Z0-9_-]{1,130}") {
        let f = fixture();
        let valid = is_valid_signature(&signature);
        match f.cache.put(&signature, &f.result) {
            Ok(()) => {
                prop_assert!(valid);
                prop_assert_eq!(f.cache.get(&signature).expect("get"), Some(f.result.clone()));
                f.cache.remove(&signature).expect("remove");
            }
            Err(CacheError::InvalidSignature(_)) => prop_assert!(!valid),
            Err(err) => prop_assert!(false, "unexpected error {}", err),
        }
        prop_assert_eq!(f.cache.get(&signature).is_ok(), valid);
    }

}

proptest! {
    #[test]
    fn hashes_round_trip_and_junk_never_parses(raw in any::<[u8; 32]>(), junk in "\\PC{0,80}") {
        let hash = BlobHash(raw);
        prop_assert_eq!(hash.to_hex().parse::<BlobHash>().expect("parse"), hash);
        if let Ok(parsed) = junk.parse::<BlobHash>() {
            prop_assert_eq!(parsed.to_hex(), junk);
        }
    }
}
