//! The project format: a folder holding `project.json` (versioned, diff-stable JSON), an
//! `assets/` folder of imported media and a `takes/` folder of every result kept on the board,
//! both stored by content hash.
//!
//! Reading never writes. Writing is atomic (temp file, fsync, rename), so a crash or a full disk
//! leaves the previous file intact. A newer format version is refused (the app opens it
//! read-only); older versions migrate step by step.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::catalog::Catalog;
use crate::document::{BoardSettings, Document, Frame, Node, Wire};
use crate::error::ProjectError;
use crate::sequence::Sequence;
use crate::validate::validate;

/// The `format` field of every project file.
pub const FORMAT: &str = "aktion-studio-project";
/// The format version this build writes.
pub const VERSION: u64 = 2;
/// The document's file name inside a project folder.
pub const PROJECT_FILE: &str = "project.json";
/// Imported media live here, named by content hash.
pub const ASSETS_DIR: &str = "assets";
/// Every take's output files live here, named by content hash (PRODUCT.md §4.4: takes belong to
/// the project; the cache is only a cache).
pub const TAKES_DIR: &str = "takes";
/// Largest project file read (sketches are vectors, so even big boards stay far below this).
pub const MAX_PROJECT_BYTES: u64 = 64 * 1024 * 1024;

/// The on-disk shape, in the order fields are written. Version 2 added `sequence`.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileV2 {
    format: String,
    version: u64,
    #[serde(default)]
    name: String,
    #[serde(default)]
    settings: BoardSettings,
    #[serde(default)]
    nodes: Vec<Node>,
    #[serde(default)]
    wires: Vec<Wire>,
    #[serde(default)]
    frames: Vec<Frame>,
    #[serde(default, skip_serializing_if = "Sequence::is_empty")]
    sequence: Sequence,
}

/// Where a project's files are, given the folder or its `project.json`.
pub fn resolve(path: &Path) -> Result<(PathBuf, PathBuf), ProjectError> {
    if path.is_dir() {
        Ok((path.to_path_buf(), path.join(PROJECT_FILE)))
    } else if path.is_file() {
        let root = path
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        Ok((root, path.to_path_buf()))
    } else {
        Err(ProjectError::NotAProject {
            path: path.to_path_buf(),
        })
    }
}

/// Reads, migrates and validates a project. Never writes anything.
pub fn load(path: &Path, catalog: &Catalog) -> Result<(PathBuf, Document), ProjectError> {
    let (root, bytes) = read_file(path)?;
    let doc = parse(&bytes, catalog)?;
    Ok((root, doc))
}

/// What a board saved by a newer version holds that this version can read, to show it
/// read-only: its name, the nodes that parse as this version's nodes (unknown fields ignored,
/// unknown kinds left out), the wires between them and the frames. Never writes anything.
/// Returns the board and how many nodes and wires were left out.
pub fn load_newer(
    path: &Path,
    catalog: &Catalog,
) -> Result<(PathBuf, Document, usize), ProjectError> {
    let (root, bytes) = read_file(path)?;
    let value: Value =
        serde_json::from_slice(&bytes).map_err(|e| ProjectError::Syntax(e.to_string()))?;
    let obj = value
        .as_object()
        .ok_or_else(|| ProjectError::Format("the top level is not an object".into()))?;
    let mut left_out = 0;
    let mut doc = Document {
        name: obj
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        settings: obj
            .get("settings")
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default(),
        ..Document::default()
    };
    let list = |key: &str| {
        obj.get(key)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    for v in list("nodes") {
        match serde_json::from_value::<Node>(v) {
            Ok(mut node)
                if catalog.get(&node.kind).is_some() && !doc.nodes.contains_key(&node.id) =>
            {
                fill_defaults(&mut node, catalog);
                doc.nodes.insert(node.id, node);
            }
            _ => left_out += 1,
        }
    }
    for v in list("wires") {
        match serde_json::from_value::<Wire>(v) {
            Ok(w) if doc.nodes.contains_key(&w.from) && doc.nodes.contains_key(&w.to) => {
                doc.wires.push(w);
            }
            _ => left_out += 1,
        }
    }
    doc.wires.sort();
    doc.wires.dedup();
    doc.frames = list("frames")
        .into_iter()
        .filter_map(|v| serde_json::from_value(v).ok())
        .collect();
    // The shots this version can read; a shot of a node left out shows as missing.
    if let Some(seq) = obj.get("sequence").and_then(Value::as_object) {
        doc.sequence.shots = seq
            .get("shots")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|v| serde_json::from_value(v.clone()).ok())
            .take(crate::sequence::MAX_SHOTS)
            .collect();
        if let Some(fps) = seq
            .get("fps")
            .and_then(Value::as_u64)
            .and_then(|f| u32::try_from(f).ok())
            .filter(|f| crate::sequence::FPS_CHOICES.contains(f))
        {
            doc.sequence.fps = fps;
        }
    }
    Ok((root, doc, left_out))
}

/// The bytes of a project file (at most [`MAX_PROJECT_BYTES`]) and its project folder.
fn read_file(path: &Path) -> Result<(PathBuf, Vec<u8>), ProjectError> {
    let (root, file) = resolve(path)?;
    let read_err = |source| ProjectError::Read {
        path: file.clone(),
        source,
    };
    let f = std::fs::File::open(&file).map_err(read_err)?;
    let size = f.metadata().map_err(read_err)?.len();
    if size > MAX_PROJECT_BYTES {
        return Err(ProjectError::TooLarge {
            size,
            limit: MAX_PROJECT_BYTES,
        });
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    f.take(MAX_PROJECT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_err)?;
    Ok((root, bytes))
}

/// Parses project JSON: checks format and version, migrates, fills defaults, validates.
pub fn parse(bytes: &[u8], catalog: &Catalog) -> Result<Document, ProjectError> {
    let doc = parse_unvalidated(bytes, catalog)?;
    let issues = validate(&doc, catalog);
    if issues.is_empty() {
        Ok(doc)
    } else {
        Err(ProjectError::Invalid { issues })
    }
}

/// Like [`parse`], without whole-board validation (for showing a broken board read-only).
pub fn parse_unvalidated(bytes: &[u8], catalog: &Catalog) -> Result<Document, ProjectError> {
    if bytes.len() as u64 > MAX_PROJECT_BYTES {
        return Err(ProjectError::TooLarge {
            size: bytes.len() as u64,
            limit: MAX_PROJECT_BYTES,
        });
    }
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| ProjectError::Syntax(e.to_string()))?;
    let value = migrate(value)?;
    let file: FileV2 =
        serde_json::from_value(value).map_err(|e| ProjectError::Format(e.to_string()))?;
    let mut doc = Document {
        name: file.name,
        nodes: BTreeMap::new(),
        wires: file.wires,
        frames: file.frames,
        settings: file.settings,
        sequence: file.sequence,
    };
    for mut node in file.nodes {
        if doc.nodes.contains_key(&node.id) {
            return Err(ProjectError::Format(format!(
                "node id {} appears twice",
                node.id
            )));
        }
        fill_defaults(&mut node, catalog);
        doc.nodes.insert(node.id, node);
    }
    doc.wires.sort();
    doc.wires.dedup();
    Ok(doc)
}

/// Parameters missing from a file (an older build, a hand-written board) take the schema
/// defaults; seeds missing are drawn fresh.
fn fill_defaults(node: &mut Node, catalog: &Catalog) {
    let Some(kind) = catalog.get(&node.kind) else {
        return;
    };
    for p in &kind.params {
        if !node.params.contains_key(&p.id) {
            let v = if p.kind == crate::catalog::ParamKind::Seed {
                Value::from(crate::document::random_seed())
            } else {
                p.default_value()
            };
            node.params.insert(p.id.clone(), v);
        }
    }
}

/// Brings any supported older version up to [`VERSION`].
fn migrate(mut value: Value) -> Result<Value, ProjectError> {
    let Some(obj) = value.as_object() else {
        return Err(ProjectError::Format(
            "the top level is not an object".into(),
        ));
    };
    let version = match obj.get("version") {
        Some(v) => v
            .as_u64()
            .ok_or_else(|| ProjectError::Format("`version` is not a whole number".into()))?,
        None => 0,
    };
    if version > VERSION {
        return Err(ProjectError::NewerVersion {
            found: version,
            supported: VERSION,
        });
    }
    if version == 0 {
        value = migrate_v0(&value)?;
    } else if version == 1 {
        // Version 1 had no sequence: the board is the same, its sequence empty.
        if let Some(obj) = value.as_object_mut() {
            obj.insert("version".into(), Value::from(2u64));
        }
    }
    match value.get("format").and_then(Value::as_str) {
        Some(FORMAT) => Ok(value),
        Some(other) => Err(ProjectError::Format(format!(
            "`format` is `{other}`, expected `{FORMAT}`"
        ))),
        None => Err(ProjectError::Format("`format` is missing".into())),
    }
}

/// Version 0 is the web canvas's export (React Flow JSON: `nodes` with `type`, `position` and
/// `data`; `edges` with `source`, `target`, `targetHandle`). Its node ids are free strings, so
/// each becomes a UUID derived from it, and its hyphenated kinds become ours.
fn migrate_v0(v0: &Value) -> Result<Value, ProjectError> {
    let bad = |m: &str| ProjectError::Format(format!("version 0 board: {m}"));
    let id_for = |s: &str| {
        let h = blake3::hash(format!("aktion-v0-node:{s}").as_bytes());
        let mut b = [0u8; 16];
        b.copy_from_slice(&h.as_bytes()[..16]);
        uuid::Builder::from_random_bytes(b).into_uuid().to_string()
    };
    let mut nodes = Vec::new();
    for n in v0
        .get("nodes")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("no `nodes` list"))?
    {
        let id = n
            .get("id")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("a node has no id"))?;
        let ty = n
            .get("type")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("a node has no type"))?;
        let kind = match ty {
            "coherent-scene" | "epic-scene" => "coherent_scene".to_owned(),
            "talking-portrait" => "t2v".to_owned(),
            "lipsync" | "lip-sync" => "lip_sync".to_owned(),
            "action-pose" => "action_pose".to_owned(),
            other => other.replace('-', "_"),
        };
        let x = n
            .pointer("/position/x")
            .and_then(Value::as_f64)
            .unwrap_or(0.0);
        let y = n
            .pointer("/position/y")
            .and_then(Value::as_f64)
            .unwrap_or(0.0);
        let data = n.get("data").and_then(Value::as_object);
        let mut params = serde_json::Map::new();
        if let Some(data) = data {
            if let Some(p) = data.get("prompt").and_then(Value::as_str) {
                let key = if kind == "prompt" { "text" } else { "prompt" };
                params.insert(key.into(), Value::String(p.to_owned()));
            }
            for key in ["strength", "creativity", "duration", "seed"] {
                if let Some(v) = data.get(key).filter(|v| v.is_number()) {
                    params.insert(key.into(), v.clone());
                }
            }
        }
        let title = data
            .and_then(|d| d.get("label"))
            .and_then(Value::as_str)
            .unwrap_or("");
        nodes.push(serde_json::json!({
            "id": id_for(id),
            "kind": kind,
            "title": title,
            "pos": [x, y],
            "params": params,
        }));
    }
    let mut wires = Vec::new();
    if let Some(edges) = v0.get("edges").and_then(Value::as_array) {
        for e in edges {
            let (Some(s), Some(t)) = (
                e.get("source").and_then(Value::as_str),
                e.get("target").and_then(Value::as_str),
            ) else {
                return Err(bad("an edge has no source or target"));
            };
            let handle = e
                .get("targetHandle")
                .and_then(Value::as_str)
                .unwrap_or("image");
            // React Flow handles for list inputs are written `images-3`.
            let (input, slot) = match handle.rsplit_once('-') {
                Some((base, n)) if n.parse::<u32>().is_ok() => {
                    (base.to_owned(), n.parse::<u32>().unwrap_or(0))
                }
                _ => (handle.to_owned(), 0),
            };
            wires.push(serde_json::json!({
                "from": id_for(s), "to": id_for(t), "input": input, "slot": slot
            }));
        }
    }
    Ok(serde_json::json!({
        "format": FORMAT,
        "version": VERSION,
        "name": v0.get("name").and_then(Value::as_str).unwrap_or("Imported board"),
        "nodes": nodes,
        "wires": wires,
    }))
}

/// The document as project-file JSON: stable order (nodes by id, wires sorted, object keys
/// sorted), two-space indent, trailing newline, so saving the same board twice gives the same
/// bytes and a diff shows only what changed.
pub fn to_json(doc: &Document) -> Result<String, ProjectError> {
    let mut wires = doc.wires.clone();
    wires.sort();
    let file = FileV2 {
        format: FORMAT.into(),
        version: VERSION,
        name: doc.name.clone(),
        settings: doc.settings.clone(),
        nodes: doc.nodes.values().cloned().collect(),
        wires,
        frames: doc.frames.clone(),
        sequence: doc.sequence.clone(),
    };
    let mut s =
        serde_json::to_string_pretty(&file).map_err(|e| ProjectError::Format(e.to_string()))?;
    s.push('\n');
    Ok(s)
}

/// Saves the document into the project folder `root` atomically.
pub fn save(root: &Path, doc: &Document) -> Result<(), ProjectError> {
    let text = to_json(doc)?;
    std::fs::create_dir_all(root).map_err(|source| ProjectError::Write {
        path: root.to_path_buf(),
        source,
    })?;
    let file = root.join(PROJECT_FILE);
    atomic_write(&file, text.as_bytes())
        .map_err(|source| ProjectError::Write { path: file, source })
}

/// Writes `bytes` to `path` so that `path` holds either the old or the new content, never a
/// mix: a temp file in the same folder, fsync, rename, fsync of the folder.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map_or_else(|| "file".into(), |n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(".{name}.{}.tmp", uuid::Uuid::new_v4().simple()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        sync_dir(dir);
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Makes a rename durable. Folders cannot be opened for syncing everywhere (Windows); where they
/// cannot, the rename is still atomic, only its durability across power loss is weaker.
fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// A file imported into a project's `assets/` folder.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssetRef {
    /// BLAKE3 hex of the content.
    pub hash: String,
    /// The original file name, for display and export.
    pub name: String,
    /// Lower-case extension without the dot (may be empty).
    pub ext: String,
}

impl AssetRef {
    /// The JSON value stored in an `asset` parameter.
    pub fn to_value(&self) -> Value {
        serde_json::json!({ "hash": self.hash, "name": self.name, "ext": self.ext })
    }

    /// Reads it back from a parameter value.
    pub fn from_value(v: &Value) -> Option<AssetRef> {
        let hash = v.get("hash")?.as_str()?;
        if !crate::validate::is_hex_hash(hash) {
            return None;
        }
        let ext = v.get("ext").and_then(Value::as_str).unwrap_or("");
        if ext.len() > 8 || !ext.chars().all(|c| c.is_ascii_alphanumeric()) {
            return None;
        }
        Some(AssetRef {
            hash: hash.to_owned(),
            name: v
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
            ext: ext.to_owned(),
        })
    }

    /// Where the asset lives inside project `root`. Built from the hash and a checked
    /// extension only, never from a user-supplied path.
    pub fn path(&self, root: &Path) -> PathBuf {
        let file = if self.ext.is_empty() {
            self.hash.clone()
        } else {
            format!("{}.{}", self.hash, self.ext)
        };
        root.join(ASSETS_DIR).join(file)
    }
}

/// Where a take's output file with content hash `hash` lives inside project `root`; `None` for
/// a malformed hash (never a path built from anything else).
pub fn take_path(root: &Path, hash: &str) -> Option<PathBuf> {
    crate::validate::is_hex_hash(hash).then(|| root.join(TAKES_DIR).join(hash))
}

/// Copies `bytes` (named `name`) into `root/assets/` under their content hash. Importing the
/// same file twice stores it once.
pub fn import_asset_bytes(root: &Path, name: &str, bytes: &[u8]) -> Result<AssetRef, ProjectError> {
    if bytes.is_empty() {
        return Err(ProjectError::Import(format!("`{name}` is empty")));
    }
    let ext = Path::new(name)
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .filter(|e| e.len() <= 8 && e.chars().all(|c| c.is_ascii_alphanumeric()))
        .unwrap_or_default();
    let asset = AssetRef {
        hash: blake3::hash(bytes).to_hex().to_string(),
        name: name.to_owned(),
        ext,
    };
    let path = asset.path(root);
    if !path.is_file() {
        let dir = root.join(ASSETS_DIR);
        std::fs::create_dir_all(&dir).map_err(|source| ProjectError::Write {
            path: dir.clone(),
            source,
        })?;
        atomic_write(&path, bytes).map_err(|source| ProjectError::Write {
            path: path.clone(),
            source,
        })?;
    }
    Ok(asset)
}

/// Reads an asset back, checking its content against its hash.
pub fn read_asset(root: &Path, asset: &AssetRef) -> Result<Vec<u8>, ProjectError> {
    let path = asset.path(root);
    let bytes = std::fs::read(&path).map_err(|source| ProjectError::Read {
        path: path.clone(),
        source,
    })?;
    if blake3::hash(&bytes).to_hex().as_str() != asset.hash {
        return Err(ProjectError::Read {
            path,
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "the file no longer matches its content hash (changed or corrupted)",
            ),
        });
    }
    Ok(bytes)
}

/// The autosave copy inside a project folder, written every couple of seconds while there are
/// unsaved changes. It sits beside `project.json`, never over it.
pub const AUTOSAVE_FILE: &str = ".autosave.json";

/// Writes the autosave copy of `doc` atomically.
pub fn autosave(root: &Path, doc: &Document) -> Result<(), ProjectError> {
    let text = to_json(doc)?;
    std::fs::create_dir_all(root).map_err(|source| ProjectError::Write {
        path: root.to_path_buf(),
        source,
    })?;
    let path = root.join(AUTOSAVE_FILE);
    atomic_write(&path, text.as_bytes()).map_err(|source| ProjectError::Write { path, source })
}

/// After a crash: the autosaved board, when there is one that differs from the saved project
/// (or the saved project is unreadable). `None` when there is nothing to recover.
pub fn recoverable(root: &Path, catalog: &Catalog) -> Option<Document> {
    let bytes = std::fs::read(root.join(AUTOSAVE_FILE)).ok()?;
    let auto = parse_unvalidated(&bytes, catalog).ok()?;
    match std::fs::read(root.join(PROJECT_FILE))
        .ok()
        .and_then(|b| parse_unvalidated(&b, catalog).ok())
    {
        Some(saved) if saved == auto => None,
        _ => Some(auto),
    }
}

/// Removes the autosave copy (after a save, or when the user declines recovery).
pub fn discard_autosave(root: &Path) {
    let _ = std::fs::remove_file(root.join(AUTOSAVE_FILE));
}
