//! Streaming blob writes (downloads, file imports): hash while writing into `tmp/`, then publish.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use crate::{BlobHash, Cache, CacheError, io_err};

/// Writes one blob in pieces; [`BlobWriter::finish`] publishes it under its hash.
///
/// Dropping the writer without `finish` removes its temporary file, so an abandoned download
/// leaves nothing behind.
pub struct BlobWriter {
    cache: Cache,
    /// `None` once finished or dropped.
    file: Option<BufWriter<File>>,
    tmp_path: PathBuf,
    hasher: blake3::Hasher,
    written: u64,
    max_bytes: Option<u64>,
    failure: Option<Failure>,
}

#[derive(Clone, Copy, Debug)]
enum Failure {
    TooLarge(u64),
    WriteFailed,
}

impl std::fmt::Debug for BlobWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobWriter")
            .field("tmp_path", &self.tmp_path)
            .field("written", &self.written)
            .field("max_bytes", &self.max_bytes)
            .field("failure", &self.failure)
            .finish_non_exhaustive()
    }
}

impl BlobWriter {
    pub(crate) fn new(cache: Cache, max_bytes: Option<u64>) -> Result<Self, CacheError> {
        let (file, tmp_path) = cache.create_temp()?;
        Ok(Self {
            cache,
            file: Some(BufWriter::with_capacity(256 * 1024, file)),
            tmp_path,
            hasher: blake3::Hasher::new(),
            written: 0,
            max_bytes,
            failure: None,
        })
    }

    /// Bytes accepted so far.
    pub fn bytes_written(&self) -> u64 {
        self.written
    }

    /// Flushes, fsyncs and publishes the blob under its hash (or adopts an identical blob that is
    /// already there). Fails if any earlier write failed, so a caller that ignored a write error
    /// can never publish a truncated blob.
    pub fn finish(mut self) -> Result<BlobHash, CacheError> {
        match self.failure {
            Some(Failure::TooLarge(limit)) => return Err(CacheError::TooLarge { limit }),
            Some(Failure::WriteFailed) => return Err(CacheError::IncompleteBlob),
            None => {}
        }
        let Some(buffered) = self.file.take() else {
            return Err(CacheError::IncompleteBlob);
        };
        let result = buffered
            .into_inner()
            .map_err(io::IntoInnerError::into_error)
            .and_then(|file| file.sync_all())
            .map_err(io_err("write blob", &self.tmp_path));
        if let Err(err) = result {
            let _ = fs::remove_file(&self.tmp_path);
            return Err(err);
        }
        let hash = BlobHash::from(self.hasher.finalize());
        // `commit_blob` consumes the temp file whatever happens.
        self.cache.commit_blob(&self.tmp_path, hash, self.written)?;
        Ok(hash)
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(Failure::TooLarge(limit)) = self.failure {
            return Err(too_large(limit));
        }
        if let Some(limit) = self.max_bytes {
            let after = self.written.checked_add(buf.len() as u64);
            if after.is_none_or(|after| after > limit) {
                self.failure = Some(Failure::TooLarge(limit));
                return Err(too_large(limit));
            }
        }
        let Some(file) = self.file.as_mut() else {
            return Err(io::Error::other("blob writer is closed"));
        };
        match file.write(buf) {
            Ok(n) => {
                let Some(done) = buf.get(..n) else {
                    self.failure = Some(Failure::WriteFailed);
                    return Err(io::Error::other("writer reported more bytes than given"));
                };
                self.hasher.update(done);
                self.written = self.written.saturating_add(n as u64);
                Ok(n)
            }
            Err(err) => {
                if err.kind() != io::ErrorKind::Interrupted {
                    self.failure = Some(Failure::WriteFailed);
                }
                Err(err)
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.file.as_mut() {
            Some(file) => file.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        if let Some(buffered) = self.file.take() {
            // `into_parts` skips the flush a plain drop would do: the data is being thrown away.
            let (file, _unwritten) = buffered.into_parts();
            drop(file);
            let _ = fs::remove_file(&self.tmp_path);
        }
    }
}

fn too_large(limit: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::FileTooLarge,
        format!("blob exceeds its limit of {limit} bytes"),
    )
}
