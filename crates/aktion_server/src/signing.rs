//! Signed, expiring blob URLs under `AKTION_PUBLIC_URL`, handed to providers so they can fetch
//! a user's input without a session token: `GET /v1/signed/blobs/{hash}?expires=…&sig=…`.
//!
//! The signature is a keyed BLAKE3 of `hash:expires` with a 32-byte key kept in the database
//! (`server_secrets`), so every instance sharing the database signs and verifies alike.

use crate::db::now_ms;
use crate::storage::BlobHash;
use crate::{ApiError, AppState, Db};

const KEY_NAME: &str = "url_signing_key";

/// Loads the signing key, creating it on first start (concurrent first starts agree on one).
pub async fn load_or_create_key(db: &Db) -> Result<[u8; 32], ApiError> {
    let mut fresh = [0u8; 32];
    getrandom::fill(&mut fresh).map_err(|e| ApiError::Internal(format!("random key: {e}")))?;
    sqlx::query(
        "INSERT INTO server_secrets (name, value, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT (name) DO NOTHING",
    )
    .bind(KEY_NAME)
    .bind(hex(&fresh))
    .bind(now_ms())
    .execute(db.writer())
    .await?;
    let stored: String = sqlx::query_scalar("SELECT value FROM server_secrets WHERE name = $1")
        .bind(KEY_NAME)
        .fetch_one(&db.pool)
        .await?;
    let bytes = unhex(&stored)
        .ok_or_else(|| ApiError::Internal("stored URL signing key is malformed".to_owned()))?;
    Ok(bytes)
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn unhex(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    Some(out)
}

fn signature(key: &[u8; 32], hash: &BlobHash, expires: i64) -> String {
    blake3::keyed_hash(key, format!("{hash}:{expires}").as_bytes())
        .to_hex()
        .to_string()
}

/// A URL a provider can fetch blob `hash` from until it expires, or `None` without
/// `AKTION_PUBLIC_URL` (then inputs travel as bytes).
pub fn signed_blob_url(state: &AppState, hash: &BlobHash) -> Option<String> {
    let base = state.config.public_url.as_deref()?.trim_end_matches('/');
    let ttl = i64::try_from(state.config.signed_url_ttl.as_millis()).unwrap_or(3_600_000);
    let expires = now_ms() + ttl;
    let sig = signature(&state.signing_key, hash, expires);
    Some(format!(
        "{base}/v1/signed/blobs/{hash}?expires={expires}&sig={sig}"
    ))
}

/// Checks a signed URL's query; a wrong, malformed or expired one is 404 (as if no such blob).
pub fn verify(key: &[u8; 32], hash: &BlobHash, expires: i64, sig: &str) -> Result<(), ApiError> {
    let expected = signature(key, hash, expires);
    let same = crate::auth::same_secret(expected.as_bytes(), sig.as_bytes());
    if same && expires >= now_ms() {
        Ok(())
    } else {
        Err(ApiError::NotFound("blob"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_bind_hash_expiry_and_key() {
        let key = [7u8; 32];
        let h = BlobHash::of(b"a");
        let later = now_ms() + 60_000;
        let sig = signature(&key, &h, later);
        assert!(verify(&key, &h, later, &sig).is_ok());
        assert!(
            verify(&key, &h, later + 1, &sig).is_err(),
            "expiry is signed"
        );
        assert!(verify(&key, &BlobHash::of(b"b"), later, &sig).is_err());
        assert!(verify(&[8u8; 32], &h, later, &sig).is_err());
        assert!(verify(&key, &h, later, "").is_err());
        let past = now_ms() - 1;
        assert!(verify(&key, &h, past, &signature(&key, &h, past)).is_err());
    }

    #[test]
    fn hex_round_trip() {
        let k = [0xab; 32];
        assert_eq!(unhex(&hex(&k)), Some(k));
        assert_eq!(unhex("zz"), None);
        assert_eq!(unhex(&"g".repeat(64)), None);
    }
}
