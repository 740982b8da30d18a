//! The content address of a blob.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::CacheError;

/// 32-byte BLAKE3 hash; `Display`/`FromStr` as 64 lowercase hex chars; serde as that hex string.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct BlobHash(pub [u8; 32]);

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

impl BlobHash {
    /// The BLAKE3 hash of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self(*blake3::hash(bytes).as_bytes())
    }

    /// 64 lowercase hex characters.
    pub fn to_hex(&self) -> String {
        let mut out = String::with_capacity(64);
        for byte in self.0 {
            out.push(char::from(HEX_DIGITS[usize::from(byte >> 4)]));
            out.push(char::from(HEX_DIGITS[usize::from(byte & 0x0f)]));
        }
        out
    }

    /// The two-character folder that spreads blobs and entries over 256 directories, so no single
    /// directory grows huge (slow listings on some file systems).
    pub(crate) fn shard(&self) -> String {
        let byte = self.0[0];
        let mut out = String::with_capacity(2);
        out.push(char::from(HEX_DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(HEX_DIGITS[usize::from(byte & 0x0f)]));
        out
    }
}

impl From<blake3::Hash> for BlobHash {
    fn from(hash: blake3::Hash) -> Self {
        Self(*hash.as_bytes())
    }
}

impl fmt::Display for BlobHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

/// Only lowercase is accepted: the hex string is also a file name, and one hash must have exactly
/// one name on case-sensitive file systems.
impl FromStr for BlobHash {
    type Err = CacheError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || CacheError::InvalidHash(crate::shorten(s));
        let bytes = s.as_bytes();
        if bytes.len() != 64 {
            return Err(invalid());
        }
        let mut out = [0u8; 32];
        for (slot, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
            let &[hi, lo] = pair else {
                return Err(invalid());
            };
            let (Some(hi), Some(lo)) = (nibble(hi), nibble(lo)) else {
                return Err(invalid());
            };
            *slot = (hi << 4) | lo;
        }
        Ok(Self(out))
    }
}

impl Serialize for BlobHash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for BlobHash {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_matches_blake3() {
        let hash = BlobHash::of(b"hello");
        assert_eq!(hash.to_hex(), blake3::hash(b"hello").to_hex().as_str());
        assert_eq!(hash.to_string(), hash.to_hex());
        assert_eq!(hash.to_hex().parse::<BlobHash>().expect("valid hex"), hash);
        assert_eq!(hash.shard(), hash.to_hex()[..2]);
    }

    #[test]
    fn bad_hex_is_refused() {
        let good = BlobHash::of(b"x").to_hex();
        for bad in [
            String::new(),
            "zz".to_owned(),
            good.to_uppercase(),
            format!("{good}0"),
            good[..63].to_owned(),
            format!("{}g", &good[..63]),
            // 64 bytes but not 64 ASCII characters.
            format!("é{}", &good[..62]),
            "../".repeat(30),
        ] {
            assert!(
                matches!(bad.parse::<BlobHash>(), Err(CacheError::InvalidHash(_))),
                "{bad:?} parsed"
            );
        }
    }

    #[test]
    fn serde_uses_the_hex_string() {
        let hash = BlobHash::of(b"serde");
        let json = serde_json::to_string(&hash).expect("serialize");
        assert_eq!(json, format!("\"{}\"", hash.to_hex()));
        let back: BlobHash = serde_json::from_str(&json).expect("deserialize");
        assert_eq!(back, hash);
        assert!(serde_json::from_str::<BlobHash>("\"nothex\"").is_err());
        assert!(serde_json::from_str::<BlobHash>("[1,2,3]").is_err());
    }
}
