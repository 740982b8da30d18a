//! Importing files: a file dropped from the file manager (or picked) is sniffed, checked and
//! copied into the project's assets by content hash, off the UI thread; the board edit that
//! places it comes after, as a command.

use std::path::Path;

use aktion_graph::Catalog;
use aktion_graph::project::{self, AssetRef};
use aktion_media::MediaKind;
use eframe::egui;

use super::state::Command;
use super::{DropTarget, Studio, state, view};

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

/// Reads one file to import, on a worker.
type FileRead = Box<dyn FnOnce() -> Result<Vec<u8>, String> + Send>;

/// Copies `src` into folder `dir` as `name` unless a file of that name is there: under a
/// temporary name, flushed, then renamed, so a crash never leaves half a file under a real name.
pub(super) fn copy_into(src: &Path, dir: &Path, name: &str) -> std::io::Result<()> {
    let target = dir.join(name);
    if target.exists() {
        return Ok(());
    }
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let copied = std::fs::copy(src, &tmp)
        .and_then(|_| std::fs::File::open(&tmp)?.sync_all())
        .and_then(|()| std::fs::rename(&tmp, &target));
    if copied.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    copied
}

/// Brings the asset and take files pasted nodes refer to from their project `from` into `to`
/// (takes missing there come from the cache when it has them). Returns how many could not be
/// found anywhere.
pub fn bring_files(
    files: &aktion_graph::clipboard::ClipFiles,
    from: &Path,
    to: &Path,
    cache: &aktion_cache::Cache,
) -> std::io::Result<usize> {
    let mut missing = 0;
    for asset in &files.assets {
        let src = asset.path(from);
        if src.is_file() {
            let name = src
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            copy_into(&src, &to.join(project::ASSETS_DIR), &name)?;
        } else if !asset.path(to).is_file() {
            missing += 1;
        }
    }
    for hash in &files.takes {
        let (Some(src), Some(dst)) = (project::take_path(from, hash), project::take_path(to, hash))
        else {
            continue;
        };
        if dst.is_file() {
            continue;
        }
        if src.is_file() {
            copy_into(&src, &to.join(project::TAKES_DIR), hash)?;
            continue;
        }
        let from_cache = hash.parse::<aktion_cache::BlobHash>().ok().and_then(|h| {
            let bytes = std::fs::metadata(cache.blob_path(&h)).ok()?.len();
            let output = aktion_cache::CachedOutput {
                hash: h,
                mime: String::new(),
                name: String::new(),
                bytes,
            };
            aktion_engine::kept::keep(cache, to, std::slice::from_ref(&output)).ok()
        });
        if from_cache.is_none() {
            missing += 1;
        }
    }
    Ok(missing)
}

impl Studio {
    /// Files dropped from the file manager. Reading, checking (a 24-MP JPEG takes a decode) and
    /// copying into the assets happen on a worker thread, so the UI never waits; the result comes
    /// back as one command.
    pub(super) fn drops(&mut self, ctx: &egui::Context) {
        let handles: Vec<egui::DroppedFileHandle> = ctx.input(|i| i.raw.dropped_files.clone());
        if handles.is_empty() {
            return;
        }
        let pointer = ctx.input(|i| i.pointer.hover_pos());
        let mut target = DropTarget::Board(match (pointer, self.board.rect) {
            (Some(p), Some(rect)) => {
                let b = self.board.canvas.view.at(rect.min).to_board(p);
                [b.x, b.y]
            }
            _ => [0.0, 0.0],
        });
        if let (Some(p), Some(rect), 1) = (pointer, self.board.rect, handles.len())
            && let aktion_canvas::Hit::Pin(pin) =
                self.board.canvas.hit_test(&self.board.model, rect, p)
            && pin.side == aktion_canvas::PinSide::Input
            && let Some(node) = self.board.ids.node(pin.node)
            && let Some(kind) = self
                .state
                .doc
                .node(node)
                .and_then(|n| Catalog::builtin().get(&n.kind))
            && let Some((input, slot, _, _)) =
                view::input_pins(kind).into_iter().nth(pin.index as usize)
        {
            target = DropTarget::Input { node, input, slot };
        }
        if let (Some(p), 1) = (pointer, handles.len())
            && let Some(slot) = self.panels.epic.slot_at(p)
        {
            target = DropTarget::SceneSlot(slot);
        }
        let files = handles
            .into_iter()
            .map(|h| {
                let name = h.path().file_name().map_or_else(
                    || "dropped file".to_owned(),
                    |n| n.to_string_lossy().into_owned(),
                );
                let read: FileRead = Box::new(move || h.bytes());
                (name, read)
            })
            .collect();
        self.start_import(target, files);
    }

    /// Reads and imports files picked from disk (off the UI thread), into `target`.
    pub(super) fn import_paths(&mut self, target: DropTarget, paths: Vec<std::path::PathBuf>) {
        let files = paths
            .into_iter()
            .map(|path| {
                let name = path
                    .file_name()
                    .map_or_else(|| "file".to_owned(), |n| n.to_string_lossy().into_owned());
                let read: FileRead =
                    Box::new(move || std::fs::read(path).map_err(|e| e.to_string()));
                (name, read)
            })
            .collect();
        self.start_import(target, files);
    }

    /// Reads, checks and stores `files` into the project's assets on a worker; the board edit
    /// for `target` follows in [`Self::poll_imports`], in the order imports were started.
    fn start_import(&mut self, target: DropTarget, files: Vec<(String, FileRead)>) {
        let root = self.state.root.clone();
        self.message = Some(format!("importing {} file(s)…", files.len()));
        let task = self.spawner.blocking(move || {
            let prepared = files
                .into_iter()
                .map(|(name, read)| {
                    let bytes = read().map_err(|e| format!("cannot read `{name}`: {e}"))?;
                    state::prepare_file(&root, &state::DroppedFile { name, bytes })
                })
                .collect::<Result<Vec<_>, String>>();
            (target, prepared)
        });
        self.loaders.imports.push(task);
    }

    /// Applies imports the worker thread has finished.
    pub(super) fn poll_imports(&mut self) {
        // In drop order: a later drop waits for an earlier one still being read.
        while let Some(first) = self.loaders.imports.first_mut() {
            let (target, prepared) = match first.poll() {
                super::task::Poll::Pending => break,
                super::task::Poll::Lost => {
                    self.loaders.imports.remove(0);
                    self.message = Some(super::task::Lost.to_string());
                    continue;
                }
                super::task::Poll::Ready(r) => {
                    self.loaders.imports.remove(0);
                    r
                }
            };
            let files = match prepared {
                Ok(files) => files,
                Err(e) => {
                    self.message = Some(e);
                    continue;
                }
            };
            self.message = None;
            match target {
                DropTarget::Input { node, input, slot } => {
                    for file in files {
                        self.apply(Command::FillInputPrepared {
                            node,
                            input: input.clone(),
                            slot,
                            file,
                        });
                    }
                }
                DropTarget::Board(at) => self.apply(Command::AddPrepared { files, at }),
                DropTarget::Node(node) => {
                    let kind = self.state.doc.node(node).map(|n| n.kind.clone());
                    for file in files {
                        if kind.as_deref() == Some(file.kind) {
                            self.apply(Command::SetParam {
                                node,
                                key: "file".into(),
                                value: file.asset.to_value(),
                            });
                        } else {
                            self.message = Some(format!(
                                "`{}` is {} file; this node takes {}",
                                file.name,
                                file.kind,
                                kind.as_deref().unwrap_or("nothing")
                            ));
                        }
                    }
                }
                DropTarget::SceneSlot(slot) => {
                    for file in files {
                        if file.kind != "image" {
                            self.message = Some(format!(
                                "`{}` is not an image; a scene takes images",
                                file.name
                            ));
                        } else if let Some(s) = self.panels.epic.slots.get_mut(slot) {
                            *s = Some(state::SceneImage::File(file));
                        }
                    }
                }
            }
        }
    }
}
