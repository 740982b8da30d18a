//! Files: the lock shared by readers and writers (exclusive for eviction and clearing), atomic
//! writes and the folder scans the other parts build on.

use super::{
    AtomicU64, BTreeMap, BlobHash, BlobInfo, Cache, CacheError, File, LockGuard, OpenOptions,
    Ordering, Path, PathBuf, SystemTime, TMP_MAX_AGE, UNIX_EPOCH, Write, age_between,
    create_cache_dir, fs, io, io_err, scan_two_levels, sync_dir,
};

impl Cache {
    pub(crate) fn entry_path(&self, signature: &str) -> PathBuf {
        // Named by a hash, not the signature itself: on case-insensitive file systems (macOS,
        // Windows) two signatures differing only in case would otherwise share one file.
        let mut hasher = blake3::Hasher::new_derive_key("aktion_cache 2025 index entry name");
        hasher.update(signature.as_bytes());
        let name = BlobHash::from(hasher.finalize());
        self.inner
            .index
            .join(name.shard())
            .join(format!("{}.json", name.to_hex()))
    }

    /// Takes `root/lock`, shared or exclusive. A fresh open per call: `flock`-style locks belong
    /// to an open file description, so threads sharing one handle would not exclude each other.
    pub(crate) fn lock(&self, exclusive: bool) -> Result<LockGuard, CacheError> {
        let path = &self.inner.lock;
        let open = || {
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(path)
        };
        let file = match open() {
            Ok(file) => file,
            // Someone removed the whole folder while we run; start it again.
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                fs::create_dir_all(&self.inner.root)
                    .map_err(io_err("create folder", &self.inner.root))?;
                open().map_err(io_err("open lock file", path))?
            }
            Err(err) => return Err(io_err("open lock file", path)(err)),
        };
        let locked = if exclusive {
            file.lock()
        } else {
            file.lock_shared()
        };
        match locked {
            Ok(()) => Ok(LockGuard { _file: Some(file) }),
            // Some network file systems have no locks; the grace period still protects writers.
            Err(err) if err.kind() == io::ErrorKind::Unsupported => Ok(LockGuard { _file: None }),
            Err(err) => Err(io_err("lock", path)(err)),
        }
    }

    /// A new, empty, uniquely named file in `tmp/`.
    pub(crate) fn create_temp(&self) -> Result<(File, PathBuf), CacheError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let tmp_dir = &self.inner.tmp;
        // The folder almost always exists: create it only when the first attempt says it is
        // missing (a mkdir per write was a tenth of the engine's per-node cost, measured).
        let mut created = false;
        let mut last_err = None;
        // The pid alone is not unique: a killed process's pid is reused, and its files linger.
        for _ in 0..16 {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos());
            let path = tmp_dir.join(format!("{}-{n}-{nanos:08x}.tmp", std::process::id()));
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(file) => return Ok((file, path)),
                Err(err) if err.kind() == io::ErrorKind::AlreadyExists => last_err = Some(err),
                Err(err) if !created => {
                    created = true;
                    last_err = Some(err);
                    create_cache_dir(tmp_dir, &self.inner.root)?;
                }
                Err(err) => return Err(io_err("create temp file in", tmp_dir)(err)),
            }
        }
        Err(io_err("create temp file in", tmp_dir)(
            last_err.unwrap_or_else(|| io::Error::other("no free name")),
        ))
    }

    /// Writes `bytes` to `dest` atomically: temp file, fsync, rename, fsync of the folder.
    pub(crate) fn write_atomic(
        &self,
        dest: &Path,
        bytes: &[u8],
        modified: Option<SystemTime>,
    ) -> Result<(), CacheError> {
        let (mut file, tmp) = self.create_temp()?;
        let written = file
            .write_all(bytes)
            .and_then(|()| modified.map_or(Ok(()), |time| file.set_modified(time)))
            .and_then(|()| file.sync_all());
        drop(file);
        if let Err(err) = written {
            let _ = fs::remove_file(&tmp);
            return Err(io_err("write", &tmp)(err));
        }
        self.publish(&tmp, dest)
    }

    /// Renames a finished temp file to `dest`; removes the temp file if that fails.
    pub(crate) fn publish(&self, tmp: &Path, dest: &Path) -> Result<(), CacheError> {
        let result = (|| {
            // Shard folders almost always exist; make (or repair) them only when the rename
            // says otherwise.
            if fs::rename(tmp, dest).is_err() {
                if let Some(dir) = dest.parent() {
                    create_cache_dir(dir, &self.inner.root)?;
                }
                fs::rename(tmp, dest).map_err(io_err("move into place", dest))?;
            }
            if let Some(dir) = dest.parent() {
                sync_dir(dir);
            }
            Ok(())
        })();
        if result.is_err() {
            let _ = fs::remove_file(tmp);
        }
        result
    }

    /// Deletes temp files old enough to be crash leftovers; younger ones may belong to a writer
    /// in another process.
    pub(crate) fn remove_stale_temps(&self) {
        let Ok(dir) = fs::read_dir(&self.inner.tmp) else {
            return;
        };
        let now = SystemTime::now();
        for item in dir.flatten() {
            let Ok(meta) = item.metadata() else {
                continue;
            };
            let old = meta
                .modified()
                .is_ok_and(|modified| age_between(now, modified) >= TMP_MAX_AGE);
            if meta.is_file() && old {
                let _ = fs::remove_file(item.path());
            }
        }
    }

    /// Every well-formed blob file: `blobs/<shard>/<hex>` with the shard matching the hash.
    /// Anything else in there is not ours and is neither counted nor deleted.
    pub(crate) fn scan_blobs(&self) -> Result<BTreeMap<BlobHash, BlobInfo>, CacheError> {
        let mut found = BTreeMap::new();
        for (shard, file_name, meta) in scan_two_levels(&self.inner.blobs)? {
            let Ok(hash) = file_name.parse::<BlobHash>() else {
                continue;
            };
            if hash.shard() != shard {
                continue;
            }
            found.insert(
                hash,
                BlobInfo {
                    size: meta.len(),
                    modified: meta.modified().unwrap_or(UNIX_EPOCH),
                },
            );
        }
        Ok(found)
    }

    /// Every well-formed entry file name: `index/<shard>/<hex>.json`.
    pub(crate) fn scan_entries(&self) -> Result<Vec<PathBuf>, CacheError> {
        let mut found = Vec::new();
        for (shard, file_name, _) in scan_two_levels(&self.inner.index)? {
            let Some(hex) = file_name.strip_suffix(".json") else {
                continue;
            };
            let Ok(name) = hex.parse::<BlobHash>() else {
                continue;
            };
            if name.shard() == shard {
                found.push(self.inner.index.join(shard).join(file_name));
            }
        }
        Ok(found)
    }
}
