//! Blob storage through `object_store`: a local folder by default, any S3-compatible bucket by
//! URL (`AKTION_STORAGE_URL`), and memory for tests.
//!
//! Keys are derived from ids and hashes only, never from anything a user typed (PRODUCT.md
//! §5.4): `blobs/<2 hex>/<blake3>` for uploaded inputs and generated outputs (content-addressed,
//! so shared by everyone who uploads the same bytes; the `blobs` table says who may read them),
//! and `training/<user id>/<blake3>` for shared training data (private, under the user's prefix,
//! erased by "delete my shared data").

use std::sync::Arc;

use bytes::Bytes;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};

use crate::ApiError;

/// A validated BLAKE3 hash: 64 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BlobHash(String);

impl BlobHash {
    /// Parses a hash from a path or a request body; anything but 64 hex digits is refused.
    pub fn parse(text: &str) -> Result<Self, ApiError> {
        let lower = text.to_ascii_lowercase();
        if lower.len() == 64 && lower.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(Self(lower))
        } else {
            Err(ApiError::invalid_field(
                "hash",
                "must be a BLAKE3 hash: 64 hex digits",
            ))
        }
    }

    /// The hash of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self(blake3::hash(bytes).to_hex().to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for BlobHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The object store and where it is.
#[derive(Clone)]
pub struct Storage {
    store: Arc<dyn ObjectStore>,
    /// `file:///…`, `s3://bucket/…` or `memory://`, without credentials; for logs and doctor.
    pub location: String,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storage")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

impl Storage {
    /// `file:///abs/dir` (created when missing), `s3://bucket[/prefix]` (credentials, region and
    /// endpoint from the usual `AWS_*` variables, so any S3-compatible service works) or
    /// `memory://`.
    pub fn from_url(url: &str) -> Result<Self, ApiError> {
        let config = |e: &dyn std::fmt::Display| {
            ApiError::Internal(format!("storage URL {}: {e}", redact(url)))
        };
        if let Some(path) = url.strip_prefix("file://") {
            if !path.starts_with('/') {
                return Err(config(&"file:// URLs need an absolute path"));
            }
            return Self::local(std::path::Path::new(path));
        }
        if url == "memory://" || url == "memory:" {
            return Ok(Self {
                store: Arc::new(object_store::memory::InMemory::new()),
                location: "memory://".to_owned(),
            });
        }
        if url.starts_with("s3://") || url.starts_with("s3a://") {
            let parsed = url::Url::parse(url).map_err(|e| config(&e))?;
            let bucket = parsed.host_str().unwrap_or_default();
            if bucket.is_empty() {
                return Err(config(&"no bucket name"));
            }
            let store = object_store::aws::AmazonS3Builder::from_env()
                .with_bucket_name(bucket)
                .build()
                .map_err(|e| config(&e))?;
            let prefix = parsed.path().trim_matches('/');
            let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
                Arc::new(store)
            } else {
                Arc::new(object_store::prefix::PrefixStore::new(store, prefix))
            };
            return Ok(Self {
                store,
                location: format!("s3://{bucket}/{prefix}"),
            });
        }
        Err(config(
            &"must start with file://, s3:// or memory:// (other schemes are not supported)",
        ))
    }

    /// A folder on the local disk.
    pub fn local(dir: &std::path::Path) -> Result<Self, ApiError> {
        std::fs::create_dir_all(dir).map_err(|e| {
            ApiError::Internal(format!("creating the blob folder {}: {e}", dir.display()))
        })?;
        let store = object_store::local::LocalFileSystem::new_with_prefix(dir)
            .map_err(|e| ApiError::Internal(format!("blob folder {}: {e}", dir.display())))?;
        Ok(Self {
            store: Arc::new(store),
            location: format!("file://{}", dir.display()),
        })
    }

    /// Key of a content-addressed blob.
    pub fn blob_key(hash: &BlobHash) -> String {
        format!("blobs/{}/{}", &hash.as_str()[..2], hash.as_str())
    }

    /// Key of a user's shared training-data file.
    pub fn training_key(user_id: i64, hash: &BlobHash) -> String {
        format!("training/{user_id}/{}", hash.as_str())
    }

    pub async fn put(&self, key: &str, bytes: Bytes) -> Result<(), ApiError> {
        self.store
            .put(&Path::from(key), PutPayload::from_bytes(bytes))
            .await
            .map_err(|e| storage_error(&e))?;
        Ok(())
    }

    /// Streams `chunks` to a new temporary object while hashing them, holding at most a few
    /// multipart parts in memory whatever the size. Refused past `max` bytes (the partial
    /// object is removed). Commit the result with [`Storage::commit`].
    pub async fn receive<S, E>(&self, mut chunks: S, max: u64) -> Result<Received, ReceiveError>
    where
        S: futures_util::Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        use futures_util::StreamExt as _;
        let key = format!("{UPLOADS}/{}", uuid::Uuid::new_v4().simple());
        let upload = self
            .store
            .put_multipart(&Path::from(key.as_str()))
            .await
            .map_err(|e| ReceiveError::Storage(storage_error(&e)))?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_BYTES);
        let mut hasher = blake3::Hasher::new();
        let mut size = 0_u64;
        let failed = loop {
            let Some(chunk) = chunks.next().await else {
                break None;
            };
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(e) => break Some(ReceiveError::Body(e.to_string())),
            };
            size += chunk.len() as u64;
            if size > max {
                break Some(ReceiveError::TooLarge);
            }
            hasher.update(&chunk);
            if let Err(e) = writer.wait_for_capacity(PARTS_IN_FLIGHT).await {
                break Some(ReceiveError::Storage(storage_error(&e)));
            }
            writer.put(chunk);
        };
        if let Some(error) = failed {
            let _ = writer.abort().await;
            return Err(error);
        }
        if size == 0 {
            let _ = writer.abort().await;
            return Err(ReceiveError::Empty);
        }
        writer
            .finish()
            .await
            .map_err(|e| ReceiveError::Storage(storage_error(&e)))?;
        Ok(Received {
            key,
            hash: BlobHash(hasher.finalize().to_hex().to_string()),
            size,
        })
    }

    /// Moves a received object to its blob key (or drops it when those bytes are already
    /// stored).
    pub async fn commit(&self, received: &Received) -> Result<(), ApiError> {
        let to = Self::blob_key(&received.hash);
        if self.exists(&to).await? {
            return self.delete(&received.key).await;
        }
        self.store
            .rename(&Path::from(received.key.as_str()), &Path::from(to.as_str()))
            .await
            .map_err(|e| storage_error(&e))
    }

    /// Removes temporary objects of uploads older than `age` that a stopped server left.
    pub async fn purge_received(&self, age: std::time::Duration) -> Result<u64, ApiError> {
        use futures_util::StreamExt as _;
        let cutoff = std::time::SystemTime::now() - age;
        let mut listing = self.store.list(Some(&Path::from(UPLOADS)));
        let mut removed = 0;
        while let Some(meta) = listing.next().await {
            let meta = meta.map_err(|e| storage_error(&e))?;
            let modified = std::time::SystemTime::UNIX_EPOCH
                + std::time::Duration::from_millis(
                    u64::try_from(meta.last_modified.timestamp_millis()).unwrap_or(0),
                );
            if modified < cutoff {
                self.delete(meta.location.as_ref()).await?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// The bytes under `key`, or `None` when there are none.
    pub async fn get(&self, key: &str) -> Result<Option<Bytes>, ApiError> {
        match self.store.get(&Path::from(key)).await {
            Ok(result) => Ok(Some(result.bytes().await.map_err(|e| storage_error(&e))?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(storage_error(&e)),
        }
    }

    pub async fn exists(&self, key: &str) -> Result<bool, ApiError> {
        match self.store.head(&Path::from(key)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(storage_error(&e)),
        }
    }

    /// Removes `key`; a missing object is not an error.
    pub async fn delete(&self, key: &str) -> Result<(), ApiError> {
        match self.store.delete(&Path::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(storage_error(&e)),
        }
    }

    /// Writes, reads back and deletes a probe object (`admin doctor`).
    pub async fn check(&self) -> Result<(), ApiError> {
        let key = format!("doctor/probe-{}", crate::db::now_ms());
        let probe = Bytes::from_static(b"aktion doctor probe");
        self.put(&key, probe.clone()).await?;
        let back = self.get(&key).await?;
        self.delete(&key).await?;
        if back.as_ref() == Some(&probe) {
            Ok(())
        } else {
            Err(ApiError::Internal(
                "storage returned different bytes than were written".to_owned(),
            ))
        }
    }
}

/// Prefix of objects being received.
const UPLOADS: &str = "uploads";
/// Multipart part size (S3's minimum is 5 MiB) and parts buffered or in flight per upload.
const PART_BYTES: usize = 5 * 1024 * 1024;
const PARTS_IN_FLIGHT: usize = 2;

/// An object received by [`Storage::receive`], under a temporary key.
#[derive(Debug, Clone)]
pub struct Received {
    pub key: String,
    pub hash: BlobHash,
    pub size: u64,
}

/// Why [`Storage::receive`] stopped.
#[derive(Debug)]
pub enum ReceiveError {
    TooLarge,
    Empty,
    /// The client's body failed (disconnect, timeout).
    Body(String),
    Storage(ApiError),
}

fn storage_error(e: &object_store::Error) -> ApiError {
    ApiError::Internal(format!("storage: {e}"))
}

/// `url` without a password, for messages.
fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_validated_and_lowercased() {
        let h = BlobHash::of(b"x");
        assert_eq!(BlobHash::parse(&h.as_str().to_uppercase()).unwrap(), h);
        for bad in [
            "",
            "abc",
            &"g".repeat(64),
            &"a".repeat(65),
            "../../etc/passwd",
        ] {
            assert!(BlobHash::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn keys_come_from_ids_and_hashes() {
        let h = BlobHash::of(b"x");
        assert_eq!(
            Storage::blob_key(&h),
            format!("blobs/{}/{h}", &h.as_str()[..2])
        );
        assert_eq!(Storage::training_key(7, &h), format!("training/7/{h}"));
    }

    #[test]
    fn unknown_schemes_and_relative_paths_are_refused() {
        assert!(Storage::from_url("ftp://x").is_err());
        assert!(Storage::from_url("file://relative/dir").is_err());
        assert!(Storage::from_url("s3://").is_err());
    }

    #[tokio::test]
    async fn local_folder_round_trip_and_doctor_probe() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("file://{}", dir.path().join("blobs").display());
        let storage = Storage::from_url(&url).unwrap();
        storage.check().await.unwrap();
        let h = BlobHash::of(b"hello");
        let key = Storage::blob_key(&h);
        assert!(!storage.exists(&key).await.unwrap());
        storage
            .put(&key, Bytes::from_static(b"hello"))
            .await
            .unwrap();
        assert!(storage.exists(&key).await.unwrap());
        assert_eq!(
            storage.get(&key).await.unwrap().as_deref(),
            Some(&b"hello"[..])
        );
        // Really on disk, under the derived key.
        assert!(dir.path().join("blobs").join(&key).is_file());
        storage.delete(&key).await.unwrap();
        storage.delete(&key).await.unwrap();
        assert_eq!(storage.get(&key).await.unwrap(), None);
    }
}
