//! Maintenance: size accounting, least-recently-used eviction with a grace period for
//! unreferenced blobs, statistics and clearing.

use super::{
    BTreeMap, BTreeSet, BlobHash, BlobInfo, Cache, CacheError, CacheStats, Ordering, SystemTime,
    age_between, create_cache_dir, fs, io_err, is_absent, read_entry, remove_path,
};

impl Cache {
    pub fn stats(&self) -> Result<CacheStats, CacheError> {
        let _lock = self.lock(false)?;
        let entries = self.scan_entries()?.len() as u64;
        let blobs = self.scan_blobs()?;
        Ok(CacheStats {
            entries,
            blobs: blobs.len() as u64,
            bytes: blobs
                .values()
                .fold(0u64, |sum, blob| sum.saturating_add(blob.size)),
            max_bytes: self.inner.max_bytes,
            root: self.inner.root.clone(),
        })
    }

    /// Removes every entry and blob. Temp files of writers still running are left to them; a
    /// `put` racing with `clear` may fail with [`CacheError::MissingBlob`].
    pub fn clear(&self) -> Result<(), CacheError> {
        let _lock = self.lock(true)?;
        for dir in [&self.inner.index, &self.inner.blobs] {
            let removed = match fs::symlink_metadata(dir) {
                Ok(meta) if meta.is_dir() => fs::remove_dir_all(dir),
                Ok(_) => fs::remove_file(dir),
                Err(err) => Err(err),
            };
            match removed {
                Ok(()) => {}
                Err(err) if is_absent(&err) => {}
                Err(err) => return Err(io_err("remove folder", dir)(err)),
            }
            create_cache_dir(dir, &self.inner.root)?;
        }
        self.inner.approx_bytes.store(0, Ordering::Relaxed);
        Ok(())
    }

    /// Removes least-recently-used entries while blob bytes exceed the limit, and deletes blobs
    /// that no entry references. Blobs younger than the grace period are kept even then (a writer
    /// may be about to reference them), so the limit can be exceeded by recently written bytes.
    /// Returns the bytes freed.
    pub fn evict(&self) -> Result<u64, CacheError> {
        let _lock = self.lock(true)?;
        let grace = self.grace();
        let now = SystemTime::now();
        let is_young = |blob: &BlobInfo| age_between(now, blob.modified) < grace;

        let mut entries = Vec::new();
        for path in self.scan_entries()? {
            let Ok(modified) = fs::metadata(&path).and_then(|m| m.modified()) else {
                continue;
            };
            let Some(entry) = read_entry(&path)? else {
                continue;
            };
            // A valid entry in the wrong file would never be found by `get`.
            if self.entry_path(&entry.signature) != path {
                remove_path(&path);
                continue;
            }
            let hashes: BTreeSet<BlobHash> = entry.result.outputs.iter().map(|o| o.hash).collect();
            entries.push((modified, path, hashes));
        }
        let blobs = self.scan_blobs()?;
        let mut refs: BTreeMap<BlobHash, usize> = BTreeMap::new();
        for (_, _, hashes) in &entries {
            for hash in hashes {
                *refs.entry(*hash).or_default() += 1;
            }
        }

        let mut total = blobs
            .values()
            .fold(0u64, |sum, blob| sum.saturating_add(blob.size));
        let mut freed = 0u64;
        let mut delete = |hash: &BlobHash, blob: &BlobInfo, total: &mut u64| {
            if self.delete_blob(hash) {
                *total = total.saturating_sub(blob.size);
                freed = freed.saturating_add(blob.size);
            }
        };
        for (hash, blob) in &blobs {
            if !refs.contains_key(hash) && !is_young(blob) {
                delete(hash, blob, &mut total);
            }
        }

        // Evicting an entry frees only its old blobs; once no referenced old bytes remain,
        // evicting more would empty the index without getting under the limit.
        let mut freeable = blobs
            .iter()
            .filter(|(hash, blob)| refs.contains_key(hash) && !is_young(blob))
            .fold(0u64, |sum, (_, blob)| sum.saturating_add(blob.size));
        entries.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
        for (_, path, hashes) in entries {
            if total <= self.inner.max_bytes || freeable == 0 {
                break;
            }
            remove_path(&path);
            for hash in hashes {
                let Some(count) = refs.get_mut(&hash) else {
                    continue;
                };
                *count = count.saturating_sub(1);
                if *count > 0 {
                    continue;
                }
                if let Some(blob) = blobs.get(&hash)
                    && !is_young(blob)
                {
                    freeable = freeable.saturating_sub(blob.size);
                    delete(&hash, blob, &mut total);
                }
            }
        }

        // Young bytes are left out of the estimate while over the limit: they cannot be freed
        // yet, and counting them would rerun this full scan after every `put`.
        let young = blobs
            .values()
            .filter(|blob| is_young(blob))
            .fold(0u64, |sum, blob| sum.saturating_add(blob.size));
        let estimate = if total > self.inner.max_bytes {
            total.saturating_sub(young)
        } else {
            total
        };
        self.inner.approx_bytes.store(estimate, Ordering::Relaxed);
        Ok(freed)
    }

    pub(crate) fn delete_blob(&self, hash: &BlobHash) -> bool {
        fs::remove_file(self.blob_path(hash)).is_ok()
    }
}
