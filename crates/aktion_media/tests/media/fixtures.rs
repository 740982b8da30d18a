//! Real files made by a real encoder: `cargo xtask test` (and `cargo xtask media-fixtures`) runs
//! Debian's ffmpeg to make them in `target/media-fixtures` and points `AKTION_MEDIA_FIXTURES`
//! there. The tests themselves never run ffmpeg.

use std::path::PathBuf;

/// The fixtures folder, or `None` (with a note) when they were not made; under `cargo xtask
/// test` (`AKTION_REQUIRE_MEDIA_FIXTURES`) a missing folder fails the test instead.
pub fn dir() -> Option<PathBuf> {
    let dir = std::env::var_os("AKTION_MEDIA_FIXTURES").map(PathBuf::from);
    match dir {
        Some(dir) if dir.join("recipe.txt").is_file() => Some(dir),
        _ => {
            assert!(
                std::env::var_os("AKTION_REQUIRE_MEDIA_FIXTURES").is_none(),
                "media fixtures are required but AKTION_MEDIA_FIXTURES has none"
            );
            eprintln!("note: media fixtures not made (cargo xtask media-fixtures); skipping");
            None
        }
    }
}

/// A fixture's bytes.
pub fn read(dir: &std::path::Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).unwrap_or_else(|err| panic!("fixture {name}: {err}"))
}
