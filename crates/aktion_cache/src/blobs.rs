//! Blobs: storing bytes once by their BLAKE3 hash, reading and verifying them (a blob verified
//! once in a process is trusted while its size and modification time stay the same).

use super::{
    BlobHash, BlobWriter, Cache, CacheError, File, Ordering, Path, PathBuf, RACY_WINDOW, Read,
    SystemTime, Write, fs, io, io_err, is_absent, open_regular, remove_path, touch,
};

impl Cache {
    /// Stores `bytes` (once: identical bytes share one blob) and returns their hash.
    pub fn put_bytes(&self, bytes: &[u8]) -> Result<BlobHash, CacheError> {
        let hash = BlobHash::of(bytes);
        let len = bytes.len() as u64;
        {
            let _lock = self.lock(false)?;
            if self.adopt_existing(&hash, len)? {
                return Ok(hash);
            }
        }
        let (mut file, tmp) = self.create_temp()?;
        let written = file.write_all(bytes).and_then(|()| file.sync_all());
        drop(file);
        if let Err(err) = written {
            let _ = fs::remove_file(&tmp);
            return Err(io_err("write blob", &tmp)(err));
        }
        self.commit_blob(&tmp, hash, len)?;
        Ok(hash)
    }

    /// Copies the file at `path` into the cache, hashing while copying.
    pub fn put_file(&self, path: &Path) -> Result<BlobHash, CacheError> {
        let mut source = File::open(path).map_err(io_err("open", path))?;
        let mut writer = self.writer(None)?;
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = match source.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(io_err("read", path)(err)),
            };
            let chunk = buf.get(..n).unwrap_or_default();
            writer
                .write_all(chunk)
                .map_err(io_err("write blob from", path))?;
        }
        writer.finish()
    }

    /// A writer for a blob that arrives in pieces (a download). Writing more than `max_bytes`
    /// fails with an I/O error of kind `FileTooLarge`, and `finish` then fails too.
    pub fn writer(&self, max_bytes: Option<u64>) -> Result<BlobWriter, CacheError> {
        BlobWriter::new(self.clone(), max_bytes)
    }

    /// The blob's bytes, verified. A blob that fails its hash is deleted and reported as a miss.
    pub fn read_blob(&self, hash: &BlobHash) -> Result<Option<Vec<u8>>, CacheError> {
        let path = self.blob_path(hash);
        let Some(mut file) = open_regular(&path)? else {
            return Ok(None);
        };
        let size = file.metadata().map_or(0, |m| m.len());
        // The size is only a hint; a hostile sparse file must not reserve memory up front.
        let mut bytes = Vec::with_capacity(size.min(64 * 1024 * 1024) as usize);
        file.read_to_end(&mut bytes)
            .map_err(io_err("read blob", &path))?;
        drop(file);
        if BlobHash::of(&bytes) == *hash {
            Ok(Some(bytes))
        } else {
            remove_path(&path);
            Ok(None)
        }
    }

    /// Whether the blob is present and intact, hashing it as a stream. A corrupt blob is deleted.
    pub fn verify_blob(&self, hash: &BlobHash) -> Result<bool, CacheError> {
        self.verify_sized(hash, None)
    }

    /// Whether a blob file exists (not verified).
    pub fn has_blob(&self, hash: &BlobHash) -> bool {
        fs::symlink_metadata(self.blob_path(hash)).is_ok_and(|m| m.is_file())
    }

    /// Where the blob lives (it may not exist).
    pub fn blob_path(&self, hash: &BlobHash) -> PathBuf {
        self.inner.blobs.join(hash.shard()).join(hash.to_hex())
    }

    /// Verifies the blob; with `expected_len`, also that it has that size. Only a blob failing its
    /// hash is deleted: a size mismatch with an intact blob means the entry is wrong, not the blob.
    pub(crate) fn verify_sized(
        &self,
        hash: &BlobHash,
        expected_len: Option<u64>,
    ) -> Result<bool, CacheError> {
        let path = self.blob_path(hash);
        let Some(mut file) = open_regular(&path)? else {
            self.forget_verified(hash);
            return Ok(false);
        };
        let meta = file.metadata().map_err(io_err("inspect blob", &path))?;
        let len = meta.len();
        let modified = meta.modified().ok();
        if let Some(modified) = modified
            && self.verified_as(hash) == Some((len, modified))
        {
            return Ok(expected_len.is_none_or(|expected| expected == len));
        }
        let mut hasher = blake3::Hasher::new();
        hasher
            .update_reader(&mut file)
            .map_err(io_err("read blob", &path))?;
        drop(file);
        if BlobHash::from(hasher.finalize()) != *hash {
            self.forget_verified(hash);
            remove_path(&path);
            return Ok(false);
        }
        // Like git's racy-clean rule: a file modified within the clock's granularity of this
        // check could change again without its time changing, so only older files are trusted.
        if let Some(modified) = modified
            && SystemTime::now()
                .duration_since(modified)
                .is_ok_and(|age| age >= RACY_WINDOW)
        {
            self.inner
                .verified
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(*hash, (len, modified));
        }
        Ok(expected_len.is_none_or(|expected| expected == len))
    }

    pub(crate) fn verified_as(&self, hash: &BlobHash) -> Option<(u64, SystemTime)> {
        self.inner
            .verified
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(hash)
            .copied()
    }

    pub(crate) fn forget_verified(&self, hash: &BlobHash) {
        self.inner
            .verified
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(hash);
    }

    /// If an intact-looking copy of the blob is already stored, refreshes its age (so eviction's
    /// grace period protects it until the caller's `put`) and returns true. Must run under the
    /// shared lock, or eviction could judge the blob by its old age and delete it afterwards.
    pub(crate) fn adopt_existing(&self, hash: &BlobHash, len: u64) -> Result<bool, CacheError> {
        let path = self.blob_path(hash);
        match fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_file() && meta.len() == len => {
                touch(&path, SystemTime::now());
                Ok(true)
            }
            // A truncated copy is replaced by the rename that follows.
            Ok(meta) if meta.is_file() => Ok(false),
            Ok(_) => {
                remove_path(&path);
                Ok(false)
            }
            Err(err) if is_absent(&err) => Ok(false),
            Err(err) => Err(io_err("inspect blob", &path)(err)),
        }
    }

    /// Publishes a fully written and fsynced temp file as the blob `hash`. The temp file is gone
    /// afterwards whatever the outcome.
    pub(crate) fn commit_blob(
        &self,
        tmp: &Path,
        hash: BlobHash,
        len: u64,
    ) -> Result<(), CacheError> {
        let _lock = match self.lock(false) {
            Ok(lock) => lock,
            Err(err) => {
                let _ = fs::remove_file(tmp);
                return Err(err);
            }
        };
        match self.adopt_existing(&hash, len) {
            Ok(true) => {
                let _ = fs::remove_file(tmp);
                Ok(())
            }
            Ok(false) => {
                self.publish(tmp, &self.blob_path(&hash))?;
                self.inner.approx_bytes.fetch_add(len, Ordering::Relaxed);
                Ok(())
            }
            Err(err) => {
                let _ = fs::remove_file(tmp);
                Err(err)
            }
        }
    }
}
