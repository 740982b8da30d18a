//! Importing files: a file dropped from the file manager (or picked) is sniffed, checked and
//! copied into the project's assets by content hash, off the UI thread; the board edit that
//! places it comes after, as a command.

use std::path::Path;

use aktion_graph::project::{self, AssetRef};
use aktion_media::MediaKind;

/// A file from the file manager (its bytes read off the UI thread).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DroppedFile {
    pub name: String,
    pub bytes: Vec<u8>,
}

/// A dropped file after the slow part (sniffing, decoding to check it, copying into the
/// project's assets), which runs off the UI thread.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreparedFile {
    pub name: String,
    /// The source node kind it becomes (`image`, `audio`, `video`).
    pub kind: &'static str,
    pub asset: AssetRef,
}

/// The slow part of importing a file: refuses unsupported or corrupt files (nothing is written
/// then) and copies good ones into `root/assets/` by content hash. Safe to call on any thread.
pub fn prepare_file(root: &Path, file: &DroppedFile) -> Result<PreparedFile, String> {
    let (kind, mime) = aktion_media::sniff(&file.bytes);
    let node_kind = match kind {
        MediaKind::Image if mime == "image/gif" && is_animated_gif(&file.bytes) => "video",
        MediaKind::Image => "image",
        MediaKind::Audio => "audio",
        MediaKind::Video => "video",
        MediaKind::Unknown => {
            return Err(format!(
                "`{}` is not an image, audio or video file Aktion Studio can read",
                file.name
            ));
        }
    };
    if node_kind == "image" {
        aktion_media::image_dimensions(&file.bytes)
            .and_then(|_| {
                aktion_media::decode_image(&file.bytes, &aktion_media::DecodeLimits::default())
            })
            .map_err(|e| format!("`{}`: {e}", file.name))?;
    }
    let asset =
        project::import_asset_bytes(root, &file.name, &file.bytes).map_err(|e| format!("{e:#}"))?;
    Ok(PreparedFile {
        name: file.name.clone(),
        kind: node_kind,
        asset,
    })
}

fn is_animated_gif(bytes: &[u8]) -> bool {
    // Two or more image descriptors (0x2C after a graphic control block) mean a clip.
    bytes.windows(2).filter(|w| w == b"\x00\x2c").count() > 1
}
