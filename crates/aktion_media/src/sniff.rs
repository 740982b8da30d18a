//! Content sniffing: what a dropped file is, from its first bytes, never from its name.

/// Broad kind of a media file, deciding which node a dropped file becomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MediaKind {
    Image,
    Audio,
    Video,
    Unknown,
}

/// Identifies media from magic numbers. Returns the kind and a MIME type
/// (`application/octet-stream` when unknown).
pub fn sniff(bytes: &[u8]) -> (MediaKind, &'static str) {
    let at = |offset: usize, magic: &[u8]| {
        bytes
            .get(offset..offset + magic.len())
            .is_some_and(|b| b == magic)
    };
    if at(0, b"\x89PNG\r\n\x1a\n") {
        return (
            MediaKind::Image,
            if is_apng(bytes) {
                "image/apng"
            } else {
                "image/png"
            },
        );
    }
    if at(0, &[0xFF, 0xD8, 0xFF]) {
        return (MediaKind::Image, "image/jpeg");
    }
    if at(0, b"GIF87a") || at(0, b"GIF89a") {
        return (MediaKind::Image, "image/gif");
    }
    if at(0, b"RIFF") {
        if at(8, b"WEBP") {
            return (MediaKind::Image, "image/webp");
        }
        if at(8, b"WAVE") {
            return (MediaKind::Audio, "audio/wav");
        }
        if at(8, b"AVI ") {
            return (MediaKind::Video, "video/x-msvideo");
        }
    }
    if at(0, b"II*\0") || at(0, b"MM\0*") {
        return (MediaKind::Image, "image/tiff");
    }
    // "BM" alone is too common in text; the DIB header size pins it down.
    if at(0, b"BM")
        && bytes
            .get(14..18)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .is_some_and(|size| matches!(size, 12 | 40 | 52 | 56 | 64 | 108 | 124))
    {
        return (MediaKind::Image, "image/bmp");
    }
    // QuickTime files from before brands: the first box is the index, free space or the media.
    if at(4, b"moov") || at(4, b"wide") || (at(4, b"mdat") && bytes.len() > 16) {
        return (MediaKind::Video, "video/quicktime");
    }
    if at(4, b"ftyp") {
        return sniff_iso_bmff(bytes.get(8..12).unwrap_or_default());
    }
    if at(0, &[0x1A, 0x45, 0xDF, 0xA3]) {
        let head = &bytes[..bytes.len().min(64)];
        let is_webm = head.windows(4).any(|w| w == b"webm");
        return (
            MediaKind::Video,
            if is_webm {
                "video/webm"
            } else {
                "video/x-matroska"
            },
        );
    }
    if at(0, &[0, 0, 1, 0xBA]) || at(0, &[0, 0, 1, 0xB3]) {
        return (MediaKind::Video, "video/mpeg");
    }
    if at(0, b"ID3") {
        return (MediaKind::Audio, "audio/mpeg");
    }
    if at(0, b"OggS") {
        return (MediaKind::Audio, "audio/ogg");
    }
    if at(0, b"fLaC") {
        return (MediaKind::Audio, "audio/flac");
    }
    if let [0xFF, second, ..] = bytes {
        // MPEG audio frame sync: 11 set bits; the layer bits tell MP3 (non-zero) from ADTS AAC.
        if second & 0xE0 == 0xE0 {
            let mime = if second & 0x06 == 0 {
                "audio/aac"
            } else {
                "audio/mpeg"
            };
            return (MediaKind::Audio, mime);
        }
    }
    (MediaKind::Unknown, "application/octet-stream")
}

fn sniff_iso_bmff(brand: &[u8]) -> (MediaKind, &'static str) {
    match brand {
        b"M4A " | b"M4B " | b"M4P " => (MediaKind::Audio, "audio/mp4"),
        b"qt  " => (MediaKind::Video, "video/quicktime"),
        b"avif" | b"avis" => (MediaKind::Image, "image/avif"),
        b"heic" | b"heix" | b"mif1" | b"msf1" => (MediaKind::Image, "image/heic"),
        b"3gp4" | b"3gp5" | b"3g2a" => (MediaKind::Video, "video/3gpp"),
        _ => (MediaKind::Video, "video/mp4"),
    }
}

/// An APNG has an `acTL` chunk before its first `IDAT`.
fn is_apng(bytes: &[u8]) -> bool {
    let mut pos = 8usize;
    while let Some(header) = bytes.get(pos..pos + 8) {
        let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
        match &header[4..8] {
            b"acTL" => return true,
            b"IDAT" | b"IEND" => return false,
            _ => {}
        }
        pos = pos.saturating_add(len).saturating_add(12);
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_common_magic_numbers() {
        assert_eq!(
            sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"),
            (MediaKind::Image, "image/png")
        );
        assert_eq!(
            sniff(&[0xFF, 0xD8, 0xFF, 0xE0]),
            (MediaKind::Image, "image/jpeg")
        );
        assert_eq!(
            sniff(b"RIFF\0\0\0\0WAVEfmt "),
            (MediaKind::Audio, "audio/wav")
        );
        assert_eq!(
            sniff(b"RIFF\0\0\0\0WEBPVP8 "),
            (MediaKind::Image, "image/webp")
        );
        assert_eq!(
            sniff(b"\0\0\0\x20ftypisom"),
            (MediaKind::Video, "video/mp4")
        );
        assert_eq!(
            sniff(b"\0\0\0\x20ftypM4A "),
            (MediaKind::Audio, "audio/mp4")
        );
        assert_eq!(
            sniff(b"\0\0\0\x14ftypqt  "),
            (MediaKind::Video, "video/quicktime")
        );
        assert_eq!(sniff(b"ID3\x04\0"), (MediaKind::Audio, "audio/mpeg"));
        assert_eq!(sniff(&[0xFF, 0xFB, 0x90]), (MediaKind::Audio, "audio/mpeg"));
        assert_eq!(
            sniff(b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm"),
            (MediaKind::Video, "video/webm")
        );
        assert_eq!(
            sniff(b"BMP is a word"),
            (MediaKind::Unknown, "application/octet-stream")
        );
        assert_eq!(sniff(b""), (MediaKind::Unknown, "application/octet-stream"));
        assert_eq!(
            sniff(b"hello"),
            (MediaKind::Unknown, "application/octet-stream")
        );
    }
}
