//! Results kept in the project (PRODUCT.md §4.4: takes belong to the project). Every output
//! file of a result is put into the project's `takes/` folder by content hash — hard-linked
//! from the cache when both are on one file system, copied otherwise, always written under a
//! temporary name and renamed — so clearing or evicting the cache never loses a take and a
//! project copied to another machine brings its takes.
//!
//! The project's takes are also a second cache level: [`from_project`] turns a node's take
//! made for its current signature into a cache result (the plan counts it as cached, so it is
//! never paid for twice), and [`restore`] puts its files back into the cache before anything
//! downstream reads them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use aktion_cache::{BlobHash, Cache, CacheError, CachedOutput, CachedResult};
use aktion_graph::project::{TAKES_DIR, take_path};
use aktion_graph::{Document, NodeId, TakeId};

/// Why a result could not be kept in, or read back from, the project.
#[derive(Debug, thiserror::Error)]
pub enum KeepError {
    #[error("the result file {0} is in neither the cache nor the project")]
    Missing(String),
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the project's take file {} no longer matches its content hash (changed or damaged); \
         re-run the node",
        path.display()
    )]
    Damaged { path: PathBuf },
    #[error(transparent)]
    Cache(#[from] CacheError),
}

/// A take file modified less than this long ago is hashed again next time (a change within the
/// file system's timestamp resolution would not show in its modification time).
const RACY_WINDOW: Duration = Duration::from_secs(2);

/// Take files whose content matched their name in this process, with the size and
/// modification time they had then.
fn verified() -> &'static Mutex<HashMap<PathBuf, (u64, SystemTime)>> {
    static VERIFIED: OnceLock<Mutex<HashMap<PathBuf, (u64, SystemTime)>>> = OnceLock::new();
    VERIFIED.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The size of the take file at `path` when its content hashes to `hex`. Hashed once per
/// process while its size and modification time stay the same: a take file is a hard link to
/// the cache's blob where the file system allows, so damage to one is damage to both, and a
/// damaged take must count as missing, never as a result.
pub fn intact(path: &Path, hex: &str) -> Option<u64> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() {
        return None;
    }
    let stamp = (meta.len(), meta.modified().ok()?);
    let known = verified()
        .lock()
        .ok()
        .is_some_and(|m| m.get(path) == Some(&stamp));
    if known {
        return Some(stamp.0);
    }
    let mut hasher = blake3::Hasher::new();
    hasher.update_reader(std::fs::File::open(path).ok()?).ok()?;
    if hasher.finalize().to_hex().as_str() != hex {
        return None;
    }
    let settled = SystemTime::now()
        .duration_since(stamp.1)
        .is_ok_and(|age| age > RACY_WINDOW);
    if settled && let Ok(mut m) = verified().lock() {
        m.insert(path.to_path_buf(), stamp);
    }
    Some(stamp.0)
}

/// Puts each of `outputs` (already in `cache`) into `root/takes/`, unless it is there intact
/// (a damaged file of that name is replaced).
/// Returns how many files were added.
pub fn keep(cache: &Cache, root: &Path, outputs: &[CachedOutput]) -> Result<usize, KeepError> {
    let mut added = 0;
    for out in outputs {
        let hex = out.hash.to_hex();
        let Some(dest) = take_path(root, &hex) else {
            continue;
        };
        if intact(&dest, &hex).is_some() {
            continue;
        }
        let src = cache.blob_path(&out.hash);
        if !src.is_file() {
            return Err(KeepError::Missing(hex));
        }
        let dir = root.join(TAKES_DIR);
        let write = |source| KeepError::Write {
            path: dest.clone(),
            source,
        };
        std::fs::create_dir_all(&dir).map_err(write)?;
        let tmp = dir.join(format!(".{hex}.{}.tmp", uuid::Uuid::new_v4().simple()));
        let placed = std::fs::hard_link(&src, &tmp).or_else(|_| {
            // Another file system (or none that links): a full copy, flushed to disk.
            std::fs::copy(&src, &tmp)?;
            std::fs::File::open(&tmp)?.sync_all()
        });
        if let Err(e) = placed.and_then(|()| std::fs::rename(&tmp, &dest)) {
            let _ = std::fs::remove_file(&tmp);
            return Err(write(e));
        }
        if let Ok(d) = std::fs::File::open(&dir) {
            let _ = d.sync_all();
        }
        added += 1;
    }
    Ok(added)
}

/// The take of `node` made for `signature`, as a cache result, when every one of its files is
/// in the project and intact (hashed once per process, see [`intact`]).
pub fn from_project(
    doc: &Document,
    root: &Path,
    node: NodeId,
    signature: &str,
) -> Option<CachedResult> {
    let take = doc
        .node(node)?
        .takes
        .iter()
        .find(|t| t.signature == signature)?;
    if take.outputs.is_empty() {
        return None;
    }
    let outputs = take
        .outputs
        .iter()
        .map(|o| {
            let hash: BlobHash = o.hash.parse().ok()?;
            let bytes = intact(&take_path(root, &o.hash)?, &o.hash)?;
            Some(CachedOutput {
                hash,
                mime: o.mime.clone(),
                name: o.name.clone(),
                bytes,
            })
        })
        .collect::<Option<Vec<_>>>()?;
    Some(CachedResult {
        outputs,
        meta: serde_json::to_value(&take.meta).unwrap_or_default(),
        created_unix_ms: take.created,
    })
}

/// Puts a project take (from [`from_project`]) back into the cache under `signature`,
/// checking each file against its content hash on the way.
pub fn restore(
    cache: &Cache,
    root: &Path,
    signature: &str,
    result: &CachedResult,
) -> Result<(), KeepError> {
    for out in &result.outputs {
        if cache.has_blob(&out.hash) {
            continue;
        }
        let hex = out.hash.to_hex();
        let path = take_path(root, &hex).ok_or_else(|| KeepError::Missing(hex.clone()))?;
        let stored = cache.put_file(&path)?;
        if stored != out.hash {
            return Err(KeepError::Damaged { path });
        }
    }
    cache.put(signature, result)?;
    Ok(())
}

/// What [`keep_all`] found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct KeepReport {
    /// Files added to the project from the cache.
    pub added: usize,
    /// Takes with a file in neither the project nor the cache: shown "missing — re-run".
    pub missing: Vec<(NodeId, TakeId)>,
}

/// Brings every take of `doc` into the project: what the cache still has is kept; takes whose
/// files are nowhere are reported. Projects saved before takes lived in the project migrate
/// this way when opened.
pub fn keep_all(cache: &Cache, root: &Path, doc: &Document) -> KeepReport {
    let mut report = KeepReport::default();
    for node in doc.nodes.values() {
        for take in &node.takes {
            let mut whole = true;
            for out in &take.outputs {
                let in_project =
                    take_path(root, &out.hash).is_some_and(|p| intact(&p, &out.hash).is_some());
                if in_project {
                    continue;
                }
                let kept = out.hash.parse::<BlobHash>().ok().and_then(|hash| {
                    // A damaged blob is not carried into the project.
                    if !cache.verify_blob(&hash).unwrap_or(false) {
                        return None;
                    }
                    let bytes = std::fs::metadata(cache.blob_path(&hash)).ok()?.len();
                    let output = CachedOutput {
                        hash,
                        mime: out.mime.clone(),
                        name: out.name.clone(),
                        bytes,
                    };
                    keep(cache, root, std::slice::from_ref(&output)).ok()
                });
                match kept {
                    Some(n) => report.added += n,
                    None => whole = false,
                }
            }
            if !whole {
                report.missing.push((node.id, take.id));
            }
        }
    }
    report
}

/// The bytes of a take's output file: the project's copy (checked against its name), else the
/// cache's blob. `None` when neither has it intact.
pub fn read_take(cache: &Cache, root: &Path, hex: &str) -> Option<Vec<u8>> {
    if let Some(path) = take_path(root, hex)
        && let Ok(bytes) = std::fs::read(&path)
        && blake3::hash(&bytes).to_hex().as_str() == hex
    {
        return Some(bytes);
    }
    cache.read_blob(&hex.parse().ok()?).ok().flatten()
}

/// Where a take's output file is to show the user: the project's copy when it is there, else
/// the cache's blob.
pub fn take_file_path(cache: &Cache, root: &Path, hex: &str) -> Option<PathBuf> {
    match take_path(root, hex) {
        Some(p) if p.is_file() => Some(p),
        _ => Some(cache.blob_path(&hex.parse().ok()?)),
    }
}

/// Content hashes of every take output file of `doc`.
pub fn doc_hashes(doc: &Document) -> std::collections::BTreeSet<String> {
    doc.nodes
        .values()
        .flat_map(|n| &n.takes)
        .flat_map(|t| t.outputs.iter().map(|o| o.hash.clone()))
        .collect()
}

/// Removes the files of `root/takes/` that nothing refers to any more: not in `keep` (the
/// board's takes, those an undo step could bring back, results waiting to be restored) and
/// unchanged for longer than `grace` (a result that has just arrived may not be on the board
/// yet). Returns how many files were removed. Files of other names are left alone.
pub fn collect_garbage(
    root: &Path,
    keep: &std::collections::BTreeSet<String>,
    grace: Duration,
) -> std::io::Result<usize> {
    let dir = root.join(TAKES_DIR);
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let now = SystemTime::now();
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !aktion_graph::validate::is_hex_hash(name) || keep.contains(name) {
            continue;
        }
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| now.duration_since(t).ok())
            .is_some_and(|age| age > grace);
        if old && std::fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    Ok(removed)
}
