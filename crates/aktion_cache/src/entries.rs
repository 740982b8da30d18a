//! Result entries: the index from a node signature to its outputs, read with every output
//! blob verified, written atomically.

use super::{
    Cache, CacheError, CachedResult, ENTRY_FORMAT, EntryOut, LOOKUPS, Ordering, fresh_stamp, fs,
    io_err, is_absent, read_entry, remove_path, touch, validate_signature,
};

impl Cache {
    /// The cached result for `signature`, with every output blob verified. A missing or corrupt
    /// blob, or a damaged entry, removes the entry and reads as a miss. A hit counts as a use for
    /// eviction.
    pub fn get(&self, signature: &str) -> Result<Option<CachedResult>, CacheError> {
        LOOKUPS.with(|n| n.set(n.get() + 1));
        validate_signature(signature)?;
        let path = self.entry_path(signature);
        // A miss needs no lock: an absent entry can only be a miss, and a planner asks about
        // every node of a board (one stat instead of a lock-file round trip, measured).
        if fs::symlink_metadata(&path).is_err() {
            return Ok(None);
        }
        let _lock = self.lock(false)?;
        let Some(entry) = read_entry(&path)? else {
            return Ok(None);
        };
        if entry.signature != signature {
            remove_path(&path);
            return Ok(None);
        }
        for output in &entry.result.outputs {
            if !self.verify_sized(&output.hash, Some(output.bytes))? {
                remove_path(&path);
                return Ok(None);
            }
        }
        touch(&path, fresh_stamp());
        Ok(Some(entry.result))
    }

    /// Stores `result` under `signature`, replacing any earlier one. Every output blob must already
    /// be in the cache with the size the output states. Evicts afterwards if over the size limit,
    /// judged by this process's running count (exact at `open` and after each eviction; other
    /// processes' writes are counted by their own `put`s).
    pub fn put(&self, signature: &str, result: &CachedResult) -> Result<(), CacheError> {
        validate_signature(signature)?;
        let json = serde_json::to_vec(&EntryOut {
            format: ENTRY_FORMAT,
            signature,
            result,
        })
        .map_err(CacheError::Encode)?;
        {
            let _lock = self.lock(false)?;
            for output in &result.outputs {
                let path = self.blob_path(&output.hash);
                let meta = match fs::symlink_metadata(&path) {
                    Ok(meta) if meta.is_file() => meta,
                    Ok(_) => return Err(CacheError::MissingBlob(output.hash)),
                    Err(err) if is_absent(&err) => {
                        return Err(CacheError::MissingBlob(output.hash));
                    }
                    Err(err) => return Err(io_err("inspect blob", &path)(err)),
                };
                if meta.len() != output.bytes {
                    return Err(CacheError::BlobSizeMismatch {
                        hash: output.hash,
                        expected: output.bytes,
                        actual: meta.len(),
                    });
                }
            }
            self.write_atomic(&self.entry_path(signature), &json, Some(fresh_stamp()))?;
        }
        if self.inner.approx_bytes.load(Ordering::Relaxed) > self.inner.max_bytes {
            self.evict()?;
        }
        Ok(())
    }

    /// Forgets the entry (its blobs go at the next eviction, once nothing references them).
    pub fn remove(&self, signature: &str) -> Result<(), CacheError> {
        validate_signature(signature)?;
        let path = self.entry_path(signature);
        let _lock = self.lock(false)?;
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(err) if is_absent(&err) => Ok(()),
            Err(err) => Err(io_err("remove entry", &path)(err)),
        }
    }
}
