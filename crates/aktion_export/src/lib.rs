//! From board to film (PRODUCT.md §4.8): the project's sequence handed to editors and printed.
//!
//! [`timeline::resolve`] turns the sequence into clips with media files and whole-frame
//! timing; each writer renders that one timeline, so an EDL, an FCP7 XML and an `.otio` of the
//! same project agree frame for frame. Media are collected into a `media/` folder next to the
//! export (or inside the `.otioz` bundle) under stable names and referenced relatively.
//!
//! No UI types and no async: the app runs exports on a worker, the command line directly.

use std::path::{Path, PathBuf};

use aktion_graph::{Catalog, Document};

pub mod animatic;
pub mod conform;
pub mod edl;
pub mod fcp7;
pub mod fcpxml;
pub mod otio;
pub mod pdf;
pub mod shotlist;
pub mod timeline;
mod xml;

pub use timeline::{Clip, Media, Timeline, resolve};

/// What an export writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// The animatic: H.264 + AAC MP4, made in-process.
    Mp4,
    /// The storyboard as PDF: a title page, then 1, 3 or 6 panels a page.
    Pdf,
    /// OpenTimelineIO JSON (`Timeline.1`).
    Otio,
    /// OpenTimelineIO zip bundle: `content.otio` and `media/`.
    Otioz,
    /// Final Cut Pro 7 XML (xmeml v5): Premiere and Resolve.
    Fcp7Xml,
    /// FCPXML 1.10: Final Cut Pro.
    Fcpxml,
    /// CMX3600 EDL, one video track.
    Edl,
    /// The shot list as CSV.
    Csv,
}

impl Format {
    pub const ALL: [Format; 8] = [
        Format::Mp4,
        Format::Pdf,
        Format::Otio,
        Format::Otioz,
        Format::Fcp7Xml,
        Format::Fcpxml,
        Format::Edl,
        Format::Csv,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Mp4 => "mp4",
            Format::Pdf => "pdf",
            Format::Otio => "otio",
            Format::Otioz => "otioz",
            Format::Fcp7Xml => "fcp7xml",
            Format::Fcpxml => "fcpxml",
            Format::Edl => "edl",
            Format::Csv => "csv",
        }
    }

    /// The file extension it writes.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Fcp7Xml => "xml",
            other => other.as_str(),
        }
    }

    /// Whether every shot needs its media (timelines and the animatic); a shot list and a
    /// printed storyboard show missing takes as such.
    fn needs_media(self) -> bool {
        !matches!(self, Format::Csv | Format::Pdf)
    }

    /// Whether media files are copied next to the export.
    fn collects_media(self) -> bool {
        matches!(
            self,
            Format::Otio | Format::Fcp7Xml | Format::Fcpxml | Format::Edl
        )
    }
}

impl std::str::FromStr for Format {
    type Err = ExportError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Format::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| ExportError::UnknownFormat(s.to_owned()))
    }
}

/// Why an export did not happen. Nothing was written (or what was begun is removed).
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(
        "unknown export format `{0}` (expected mp4, pdf, otio, otioz, fcp7xml, fcpxml, edl, csv or bundle)"
    )]
    UnknownFormat(String),
    #[error(
        "the sequence has no shots: add shots from the board (select nodes, Sequence → Add selection) first"
    )]
    EmptySequence,
    #[error("{} shot(s) have no take to show: {}; run them first (aktion run) or remove them from the sequence", .0.len(), .0.join(", "))]
    MissingTakes(Vec<String>),
    #[error("could not write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("could not read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the animatic could not be made: {0}")]
    Media(#[from] aktion_media::MediaError),
    #[error("the export was cancelled")]
    Cancelled,
    #[error("a storyboard page holds 1, 3 or 6 panels, not {0}")]
    Layout(u8),
    #[error("the PDF could not be made: {0}")]
    Pdf(String),
}

/// What an export wrote.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    pub path: PathBuf,
    pub shots: usize,
    pub frames: u64,
    pub fps: u32,
    /// Media files copied next to it (or into it).
    pub media: usize,
}

/// Options of an export (the animatic's picture size; progress; cancel).
#[derive(Default)]
pub struct Options<'a> {
    /// Picture size of the animatic; `None` takes the first clip's (at most 1920 wide).
    pub size: Option<(u32, u32)>,
    /// Panels a storyboard page holds (1, 3 or 6); `None` is 3.
    pub panels: Option<u8>,
    /// Called with the fraction done (0..=1); returns false to cancel.
    pub progress: Option<&'a mut dyn FnMut(f32) -> bool>,
}

impl Options<'_> {
    /// Reports progress; false when the caller cancelled.
    pub(crate) fn report(&mut self, done: f32) -> bool {
        self.progress
            .as_mut()
            .is_none_or(|p| p(done.clamp(0.0, 1.0)))
    }
}

/// Exports `doc`'s sequence (project folder `root`) as `format` to `out`.
pub fn export(
    doc: &Document,
    catalog: &Catalog,
    root: &Path,
    format: Format,
    out: &Path,
    options: &mut Options<'_>,
) -> Result<Report, ExportError> {
    let timeline = resolve(doc, catalog, root)?;
    let missing = timeline.missing();
    if format.needs_media() && !missing.is_empty() {
        return Err(ExportError::MissingTakes(missing));
    }
    let (_, frames) = timeline.starts();
    let dir = out.parent().unwrap_or(Path::new(".")).to_path_buf();
    let write_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ExportError::Write { path, source }
    };
    if !dir.as_os_str().is_empty() {
        std::fs::create_dir_all(&dir).map_err(write_err(&dir))?;
    }
    let mut media = 0;
    match format {
        Format::Mp4 => {
            let bytes = animatic::render(&timeline, options)?;
            write_atomic(out, &bytes)?;
        }
        Format::Pdf => {
            let per_page = options.panels.unwrap_or(3);
            let bytes = pdf::render(&timeline, per_page, options)?;
            write_atomic(out, &bytes)?;
        }
        Format::Otioz => {
            let bytes = otio::bundle(&timeline)?;
            media = timeline.media().len();
            write_atomic(out, &bytes)?;
        }
        Format::Otio | Format::Fcp7Xml | Format::Fcpxml | Format::Edl | Format::Csv => {
            let text = match format {
                Format::Otio => otio::write(&timeline),
                Format::Fcp7Xml => fcp7::write(&timeline),
                Format::Fcpxml => fcpxml::write(&timeline),
                Format::Edl => edl::write(&timeline),
                _ => shotlist::write(&timeline),
            };
            if format.collects_media() {
                media = collect_media(&timeline, &dir)?;
            }
            write_atomic(out, text.as_bytes())?;
        }
    }
    Ok(Report {
        path: out.to_path_buf(),
        shots: timeline.clips.len(),
        frames,
        fps: timeline.fps,
        media,
    })
}

/// Copies every media file into `dir/media/` (skipping ones already there with the same
/// size); returns how many the timeline uses.
fn collect_media(timeline: &Timeline, dir: &Path) -> Result<usize, ExportError> {
    let media_dir = dir.join("media");
    std::fs::create_dir_all(&media_dir).map_err(|source| ExportError::Write {
        path: media_dir.clone(),
        source,
    })?;
    let all = timeline.media();
    for m in &all {
        let to = media_dir.join(&m.name);
        let same = match (std::fs::metadata(&to), std::fs::metadata(&m.source)) {
            (Ok(a), Ok(b)) => a.len() == b.len(),
            _ => false,
        };
        if !same {
            let bytes = std::fs::read(&m.source).map_err(|source| ExportError::Read {
                path: m.source.clone(),
                source,
            })?;
            write_atomic(&to, &bytes)?;
        }
    }
    Ok(all.len())
}

/// Writes through a temp file and a rename: an interrupted export leaves no half file.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ExportError> {
    aktion_graph::project::atomic_write(path, bytes).map_err(|source| ExportError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// Frames as `HH:MM:SS:FF` at `fps` (non-drop), starting from `offset_hours`.
pub fn timecode(frames: u64, fps: u32, offset_hours: u64) -> String {
    let fps = u64::from(fps.max(1));
    let total = frames + offset_hours * 3600 * fps;
    let ff = total % fps;
    let secs = total / fps;
    format!(
        "{:02}:{:02}:{:02}:{:02}",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60,
        ff
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timecodes_count_frames() {
        assert_eq!(timecode(0, 24, 1), "01:00:00:00");
        assert_eq!(timecode(72, 24, 0), "00:00:03:00");
        assert_eq!(timecode(24 * 3661 + 5, 24, 0), "01:01:01:05");
        assert_eq!(timecode(49, 25, 0), "00:00:01:24");
    }

    #[test]
    fn formats_parse_and_unknown_ones_are_named() {
        for f in Format::ALL {
            assert_eq!(f.as_str().parse::<Format>().ok(), Some(f));
        }
        let err = "mov".parse::<Format>().err().map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("`mov`") && e.contains("otio")));
    }
}
