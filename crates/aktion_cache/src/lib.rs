//! Local content-addressed cache: BLAKE3-addressed blobs plus a result index keyed by node
//! signature. Must never depend on egui, tokio or any other aktion crate.
//!
//! Layout under the root folder:
//!
//! ```text
//! blobs/ab/<64 hex>        blob bytes, named by their BLAKE3 hash
//! index/cd/<64 hex>.json   one result entry, named by a hash of its signature
//! tmp/                     files being written; never counted as blobs or entries
//! lock                     shared by writers and readers, exclusive for eviction and clearing
//! ```
//!
//! Every file appears by `rename` of a fully written and fsynced file from `tmp/`, so a crash or
//! kill leaves either the old state or the new one, never a partial blob or entry. Everything read
//! back is verified against its hash: a damaged cache turns into misses, never into wrong
//! results. Several processes may use one root at once.

mod blobs;
mod entries;
mod files;
mod hash;
mod maintenance;
mod writer;

use std::collections::HashMap;
use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

pub use hash::BlobHash;
pub use writer::BlobWriter;

/// Default size limit: 10 GiB of blobs.
pub const DEFAULT_MAX_BYTES: u64 = 10 * 1024 * 1024 * 1024;

/// How long a blob no entry references is kept, by default. Between `put_bytes` and the `put` that
/// references the blob no lock is held, so a younger unreferenced blob may be about to be used.
pub const DEFAULT_UNREFERENCED_GRACE: Duration = Duration::from_secs(5 * 60);

/// Temp files older than this are left over from a crash: no live writer is that idle.
const TMP_MAX_AGE: Duration = Duration::from_secs(60 * 60);

/// An index entry is a few hundred bytes; anything this big is not one of ours.
const MAX_ENTRY_BYTES: u64 = 16 * 1024 * 1024;

/// Bumped when the entry layout changes; other values read as a miss.
const ENTRY_FORMAT: u32 = 1;

/// The environment variable that overrides [`Cache::default_dir`].
pub const CACHE_DIR_ENV: &str = "AKTION_CACHE_DIR";

/// The crate's one error type.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("cache I/O failed: could not {action} {}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("invalid cache signature {0:?}: expected 1 to 128 characters of 0-9, a-z, A-Z, _ or -")]
    InvalidSignature(String),
    #[error("invalid blob hash {0:?}: expected 64 lowercase hex characters")]
    InvalidHash(String),
    #[error("the result references blob {0}, which is not in the cache")]
    MissingBlob(BlobHash),
    #[error("the result says blob {hash} has {expected} bytes, but the cache holds {actual}")]
    BlobSizeMismatch {
        hash: BlobHash,
        expected: u64,
        actual: u64,
    },
    #[error("the blob is larger than its limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("a write to this blob failed earlier, so it is incomplete")]
    IncompleteBlob,
    #[error("this system has no known cache folder; set {CACHE_DIR_ENV}")]
    NoCacheDir,
    #[error("could not encode the cache entry")]
    Encode(#[source] serde_json::Error),
}

pub(crate) fn io_err(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> CacheError {
    let path = path.to_path_buf();
    move |source| CacheError::Io {
        action,
        path,
        source,
    }
}

/// Keeps hostile input from making error messages huge.
pub(crate) fn shorten(text: &str) -> String {
    const MAX_CHARS: usize = 80;
    if text.chars().count() <= MAX_CHARS {
        text.to_owned()
    } else {
        let mut short: String = text.chars().take(MAX_CHARS).collect();
        short.push('…');
        short
    }
}

#[derive(Clone, Debug)]
pub struct CacheOptions {
    /// Total blob bytes above which least-recently-used entries are evicted.
    pub max_bytes: u64,
}

impl Default for CacheOptions {
    fn default() -> Self {
        Self {
            max_bytes: DEFAULT_MAX_BYTES,
        }
    }
}

/// One stored output of a result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CachedOutput {
    pub hash: BlobHash,
    pub mime: String,
    pub name: String,
    /// Size of the blob; `put` checks it, so readers may trust it.
    pub bytes: u64,
}

/// What a node run produced, stored under its signature.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CachedResult {
    pub outputs: Vec<CachedOutput>,
    /// Opaque to the cache (provider, model, seed, draft flag, credits...).
    pub meta: serde_json::Value,
    pub created_unix_ms: u64,
}

/// What `aktion cache stats` shows.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CacheStats {
    pub entries: u64,
    pub blobs: u64,
    /// Total blob bytes (entries and temp files are not counted).
    pub bytes: u64,
    pub max_bytes: u64,
    pub root: PathBuf,
}

thread_local! {
    /// Look-ups made on this thread (benches check that a UI thread makes none).
    static LOOKUPS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// How many times [`Cache::get`] ran on the calling thread.
pub fn lookups_on_this_thread() -> u64 {
    LOOKUPS.with(std::cell::Cell::get)
}

/// How old a blob file must be for its verification to be remembered (see `verify_sized`).
const RACY_WINDOW: Duration = Duration::from_secs(2);

/// Handle to a cache folder. Cheap to clone; all clones share one state.
#[derive(Clone)]
pub struct Cache {
    inner: Arc<Inner>,
}

struct Inner {
    root: PathBuf,
    blobs: PathBuf,
    index: PathBuf,
    tmp: PathBuf,
    lock: PathBuf,
    max_bytes: u64,
    grace_ms: AtomicU64,
    /// Blob bytes as last measured plus what this process has added since. Other processes'
    /// writes are missing from it, so it only decides when to run the exact scan in `evict`.
    approx_bytes: AtomicU64,
    /// Blobs this process has hashed and found intact, with the size and modification time they
    /// had then. A hit whose file still has both is not hashed again (a planner asks about every
    /// node of a board each time it changes); any change to either means a full check.
    verified: Mutex<HashMap<BlobHash, (u64, SystemTime)>>,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("root", &self.inner.root)
            .field("max_bytes", &self.inner.max_bytes)
            .finish_non_exhaustive()
    }
}

/// The entry file as written.
#[derive(Serialize)]
struct EntryOut<'a> {
    format: u32,
    signature: &'a str,
    result: &'a CachedResult,
}

/// The entry file as read back.
#[derive(Deserialize)]
struct EntryIn {
    format: u32,
    signature: String,
    result: CachedResult,
}

struct BlobInfo {
    size: u64,
    modified: SystemTime,
}

/// Holds `root/lock` for as long as it lives; dropping closes the file, which releases it.
struct LockGuard {
    _file: Option<File>,
}

impl Cache {
    /// Opens (creating if needed) the cache at `root` and removes temp files left by crashes.
    #[expect(
        clippy::needless_pass_by_value,
        reason = "the signature the engine and CLI are written against; options may grow owned fields"
    )]
    pub fn open(root: impl Into<PathBuf>, options: CacheOptions) -> Result<Cache, CacheError> {
        let root = root.into();
        let inner = Inner {
            blobs: root.join("blobs"),
            index: root.join("index"),
            tmp: root.join("tmp"),
            lock: root.join("lock"),
            root,
            max_bytes: options.max_bytes,
            grace_ms: AtomicU64::new(duration_ms(DEFAULT_UNREFERENCED_GRACE)),
            approx_bytes: AtomicU64::new(0),
            verified: Mutex::new(HashMap::new()),
        };
        fs::create_dir_all(&inner.root).map_err(io_err("create folder", &inner.root))?;
        for dir in [&inner.blobs, &inner.index, &inner.tmp] {
            create_cache_dir(dir, &inner.root)?;
        }
        // Backup tools and `tar --exclude-caches` skip folders marked like this.
        let tag = inner.root.join("CACHEDIR.TAG");
        if !tag.exists() {
            let _ = fs::write(
                &tag,
                "Signature: 8a477f597d28d172789f06886806bc55\n\
                 # This file marks the Aktion Studio result cache; see https://bford.info/cachedir/\n",
            );
        }
        let cache = Cache {
            inner: Arc::new(inner),
        };
        drop(cache.lock(false)?);
        cache.remove_stale_temps();
        let total = cache
            .scan_blobs()?
            .values()
            .fold(0u64, |sum, blob| sum.saturating_add(blob.size));
        cache.inner.approx_bytes.store(total, Ordering::Relaxed);
        Ok(cache)
    }

    /// `AKTION_CACHE_DIR` if set and non-empty, else the platform cache folder.
    pub fn default_dir() -> Result<PathBuf, CacheError> {
        if let Some(dir) = std::env::var_os(CACHE_DIR_ENV)
            && !dir.is_empty()
        {
            return Ok(PathBuf::from(dir));
        }
        directories::ProjectDirs::from("studio", "Aktion", "Aktion Studio")
            .map(|dirs| dirs.cache_dir().to_path_buf())
            .ok_or(CacheError::NoCacheDir)
    }

    pub fn open_default(options: CacheOptions) -> Result<Cache, CacheError> {
        Self::open(Self::default_dir()?, options)
    }

    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    pub fn max_bytes(&self) -> u64 {
        self.inner.max_bytes
    }

    /// How long blobs that no entry references are protected from eviction (all clones of this
    /// handle). Lower it only when no other writer shares the folder, e.g. in tests: a blob
    /// collected between `put_bytes` and `put` makes that `put` fail with
    /// [`CacheError::MissingBlob`].
    pub fn set_unreferenced_grace(&self, grace: Duration) {
        self.inner
            .grace_ms
            .store(duration_ms(grace), Ordering::Relaxed);
    }

    fn grace(&self) -> Duration {
        Duration::from_millis(self.inner.grace_ms.load(Ordering::Relaxed))
    }
}

/// Regular files one folder below `dir`, as (folder name, file name, metadata). Entries that
/// vanish during the scan (another process evicting) are skipped.
fn scan_two_levels(dir: &Path) -> Result<Vec<(String, String, fs::Metadata)>, CacheError> {
    let top = match fs::read_dir(dir) {
        Ok(top) => top,
        Err(err) if is_absent(&err) => return Ok(Vec::new()),
        Err(err) => return Err(io_err("list folder", dir)(err)),
    };
    let mut found = Vec::new();
    for shard in top.flatten() {
        let Ok(shard_name) = shard.file_name().into_string() else {
            continue;
        };
        if !shard.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let Ok(files) = fs::read_dir(shard.path()) else {
            continue;
        };
        for file in files.flatten() {
            let Ok(file_name) = file.file_name().into_string() else {
                continue;
            };
            let Ok(meta) = file.metadata() else {
                continue;
            };
            if meta.is_file() {
                found.push((shard_name.clone(), file_name, meta));
            }
        }
    }
    Ok(found)
}

/// Reads and parses an entry. `None` if absent; a damaged entry (not a file, unreadable, garbled,
/// an unknown format) is removed and also `None`.
fn read_entry(path: &Path) -> Result<Option<EntryIn>, CacheError> {
    let Some(file) = open_regular(path)? else {
        return Ok(None);
    };
    let mut text = Vec::new();
    let read = file.take(MAX_ENTRY_BYTES + 1).read_to_end(&mut text);
    let entry = match read {
        Ok(n) if (n as u64) <= MAX_ENTRY_BYTES => serde_json::from_slice::<EntryIn>(&text).ok(),
        _ => None,
    };
    match entry {
        Some(entry) if entry.format == ENTRY_FORMAT => Ok(Some(entry)),
        _ => {
            remove_path(path);
            Ok(None)
        }
    }
}

/// Opens `path` if it is a regular file. Absent is `None`; something else in its place (a folder,
/// a link) is removed so the real file can be written again, and also `None`.
fn open_regular(path: &Path) -> Result<Option<File>, CacheError> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_file() => {}
        Ok(_) => {
            remove_path(path);
            return Ok(None);
        }
        Err(err) if is_absent(&err) => return Ok(None),
        Err(err) => return Err(io_err("inspect", path)(err)),
    }
    match File::open(path) {
        Ok(file) => Ok(Some(file)),
        Err(err) if is_absent(&err) => Ok(None),
        Err(err) => Err(io_err("open", path)(err)),
    }
}

/// Whether an error says the path does not exist, including "a file stands where a folder on
/// the way should be", which also means nothing of ours is there.
fn is_absent(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
    )
}

/// `create_dir_all` that first clears a regular file standing where one of the cache's own
/// folders belongs (left by some other tool or a user), instead of failing forever. Only paths
/// strictly inside `root` are touched, and never links: a linked folder may be deliberate.
fn create_cache_dir(dir: &Path, root: &Path) -> Result<(), CacheError> {
    if fs::create_dir_all(dir).is_ok() {
        return Ok(());
    }
    let mut candidate = Some(dir);
    while let Some(path) = candidate {
        if path == root || !path.starts_with(root) {
            break;
        }
        if fs::symlink_metadata(path).is_ok_and(|m| m.is_file()) {
            let _ = fs::remove_file(path);
            break;
        }
        candidate = path.parent();
    }
    fs::create_dir_all(dir).map_err(io_err("create folder", dir))
}

/// Best-effort removal of whatever is at `path`, without following links. A failure leaves a
/// damaged file that reads as a miss again next time, which is safe.
fn remove_path(path: &Path) {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => {
            let _ = fs::remove_dir_all(path);
        }
        Ok(_) => {
            let _ = fs::remove_file(path);
        }
        Err(_) => {}
    }
}

/// Sets the modification time, the cache's record of last use. Best effort: a failure only makes
/// eviction's order slightly less accurate.
fn touch(path: &Path, time: SystemTime) {
    if let Ok(file) = OpenOptions::new().write(true).open(path) {
        let _ = file.set_modified(time);
    }
}

/// Makes a rename durable. Folders cannot be opened as files on Windows, where rename is durable
/// by itself; some Unix file systems refuse to fsync folders, which is not worth failing over.
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(handle) = File::open(dir) {
        let _ = handle.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

/// A "now" for use stamps that never repeats within this process, so two uses in the same clock
/// tick still have an order for LRU.
fn fresh_stamp() -> SystemTime {
    static LAST_NANOS: AtomicU64 = AtomicU64::new(0);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    let mut last = LAST_NANOS.load(Ordering::Relaxed);
    loop {
        let next = now.max(last.saturating_add(1));
        match LAST_NANOS.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return UNIX_EPOCH + Duration::from_nanos(next),
            Err(actual) => last = actual,
        }
    }
}

/// How far apart two times are, in either direction: a file stamped in the future (clock changes,
/// copied folders) counts as that far away, so it cannot stay "young" forever.
fn age_between(now: SystemTime, then: SystemTime) -> Duration {
    now.duration_since(then)
        .or_else(|_| then.duration_since(now))
        .unwrap_or(Duration::ZERO)
}

fn duration_ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Signatures become part of no path (entries are named by a hash of them), but they are still
/// kept to a plain alphabet so a hostile key is refused loudly rather than stored.
fn validate_signature(signature: &str) -> Result<(), CacheError> {
    let valid = (1..=128).contains(&signature.len())
        && signature
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if valid {
        Ok(())
    } else {
        Err(CacheError::InvalidSignature(shorten(signature)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_and_writer_can_cross_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        fn assert_send<T: Send>() {}
        assert_send_sync::<Cache>();
        assert_send::<BlobWriter>();
    }

    #[test]
    fn signatures_are_validated() {
        for good in ["a", "A-b_9", &"f".repeat(128), &BlobHash::of(b"s").to_hex()] {
            assert!(validate_signature(good).is_ok(), "{good:?} refused");
        }
        for bad in [
            "",
            "../escape",
            "a/b",
            "a\\b",
            "a.json",
            "a b",
            "a\0b",
            "é",
            &"f".repeat(129),
        ] {
            assert!(
                matches!(
                    validate_signature(bad),
                    Err(CacheError::InvalidSignature(_))
                ),
                "{bad:?} accepted"
            );
        }
    }

    #[test]
    fn stamps_strictly_increase() {
        let mut last = fresh_stamp();
        for _ in 0..1000 {
            let next = fresh_stamp();
            assert!(next > last);
            last = next;
        }
    }

    #[test]
    fn age_is_symmetric_for_future_stamps() {
        let now = SystemTime::now();
        let hour = Duration::from_secs(3600);
        assert_eq!(age_between(now, now - hour), hour);
        assert_eq!(age_between(now, now + hour), hour);
    }

    #[test]
    fn long_hostile_text_is_shortened() {
        let long = "x".repeat(10_000);
        assert!(shorten(&long).chars().count() <= 81);
        assert_eq!(shorten("short"), "short");
    }
}
