//! Streaming output downloads: size-limited, content-type checked, written chunk by chunk so a
//! 500 MB video never sits in memory.

use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE};

use crate::error::{ProviderError, Result};
use crate::{MediaKind, ProviderKind};

/// What a download must satisfy.
#[derive(Debug, Clone, Copy)]
pub struct DownloadLimits {
    pub max_bytes: u64,
    pub expected: MediaKind,
}

/// What was downloaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Downloaded {
    pub bytes: u64,
    /// The content type the body has, from the header or (for `application/octet-stream`)
    /// from its first bytes.
    pub content_type: String,
}

/// Guesses a media type from magic bytes. Storage buckets often serve generated files as
/// `application/octet-stream`; we accept those only when the bytes say what the node expects.
pub(crate) fn sniff(head: &[u8]) -> Option<&'static str> {
    let starts = |p: &[u8]| head.starts_with(p);
    if starts(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if starts(b"\xff\xd8\xff") {
        Some("image/jpeg")
    } else if starts(b"GIF87a") || starts(b"GIF89a") {
        Some("image/gif")
    } else if head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP" {
        Some("image/webp")
    } else if head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WAVE" {
        Some("audio/wav")
    } else if head.len() >= 8 && &head[4..8] == b"ftyp" {
        Some("video/mp4")
    } else if starts(b"\x1a\x45\xdf\xa3") {
        Some("video/webm")
    } else if starts(b"ID3") || starts(b"\xff\xfb") || starts(b"\xff\xf3") {
        Some("audio/mpeg")
    } else {
        None
    }
}

fn matches(expected: MediaKind, content_type: &str) -> bool {
    content_type.starts_with(expected.mime_prefix())
}

/// Streams `resp` into `sink`, enforcing `limits`. The first chunk is held back until the content
/// type is settled, so a wrong type never reaches the sink.
pub(crate) async fn stream_to(
    provider: ProviderKind,
    mut resp: reqwest::Response,
    limits: DownloadLimits,
    sink: &mut (dyn FnMut(&[u8]) -> std::io::Result<()> + Send),
) -> Result<Downloaded> {
    let too_large = || ProviderError::TooLarge {
        provider,
        what: "output",
        limit: limits.max_bytes,
    };
    if let Some(len) = resp
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        && len > limits.max_bytes
    {
        return Err(too_large());
    }
    let header_type = resp
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or(v).trim().to_ascii_lowercase())
        .unwrap_or_default();
    let transport = |e: reqwest::Error| crate::http::body_error(provider, &e);

    let mut content_type: Option<String> = None;
    let mut total: u64 = 0;
    while let Some(chunk) = resp.chunk().await.map_err(transport)? {
        total += chunk.len() as u64;
        if total > limits.max_bytes {
            return Err(too_large());
        }
        if content_type.is_none() {
            let settled = if matches(limits.expected, &header_type) {
                header_type.clone()
            } else if header_type.is_empty() || header_type == "application/octet-stream" {
                match sniff(&chunk) {
                    Some(t) if matches(limits.expected, t) => t.to_owned(),
                    _ => {
                        return Err(ProviderError::ContentType {
                            provider,
                            expected: limits.expected.mime_prefix().to_owned(),
                            got: if header_type.is_empty() {
                                "(none)".into()
                            } else {
                                header_type
                            },
                        });
                    }
                }
            } else {
                return Err(ProviderError::ContentType {
                    provider,
                    expected: limits.expected.mime_prefix().to_owned(),
                    got: header_type,
                });
            };
            content_type = Some(settled);
        }
        sink(&chunk).map_err(ProviderError::Sink)?;
    }
    let Some(content_type) = content_type else {
        return Err(ProviderError::Decode {
            provider,
            message: "output is empty".into(),
        });
    };
    Ok(Downloaded {
        bytes: total,
        content_type,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_common_media() {
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n...."), Some("image/png"));
        assert_eq!(sniff(b"\0\0\0\x18ftypmp42"), Some("video/mp4"));
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(sniff(b"<html>"), None);
    }
}
