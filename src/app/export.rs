//! Exporting takes: the active take of each node (or every take) written to a folder, each
//! file with a JSON sidecar of the prompt and settings that made it.

use std::path::{Path, PathBuf};

use aktion_graph::{Catalog, Document, NodeId, project};

/// Writes the active take of each node (or every take, with `all_takes`) into `dir`, each file
/// with a JSON sidecar of the prompt and settings that made it; files come from the project
/// `root`'s takes (or the cache). Returns the files written.
pub fn export_takes(
    doc: &Document,
    cache: &aktion_cache::Cache,
    root: &Path,
    nodes: &[NodeId],
    dir: &Path,
    all_takes: bool,
) -> Result<Vec<PathBuf>, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let mut written = Vec::new();
    for id in nodes {
        let Some(node) = doc.node(*id) else { continue };
        let title = safe_file_stem(node.display_title(Catalog::builtin()));
        let takes: Vec<(usize, &aktion_graph::Take)> = node
            .takes
            .iter()
            .enumerate()
            .filter(|(_, t)| all_takes || node.active_take == Some(t.id))
            .collect();
        for (i, take) in takes {
            for (j, out) in take.outputs.iter().enumerate() {
                let bytes = aktion_engine::kept::read_take(cache, root, &out.hash)
                    .ok_or_else(|| {
                        format!(
                            "the file of `{title}` take {} is missing (neither in the project nor                              the cache): run it again",
                            i + 1
                        )
                    })?;
                let ext = Path::new(&out.name)
                    .extension()
                    .and_then(|e| e.to_str())
                    .unwrap_or("bin");
                let suffix = if j == 0 {
                    String::new()
                } else {
                    format!("-{j}")
                };
                let base = format!("{title}-take{}{suffix}", i + 1);
                let file = dir.join(format!("{base}.{ext}"));
                project::atomic_write(&file, &bytes)
                    .map_err(|e| format!("cannot write {}: {e}", file.display()))?;
                let sidecar = serde_json::json!({
                    "node": node.id,
                    "kind": node.kind,
                    "title": node.display_title(Catalog::builtin()),
                    "take": i + 1,
                    "params": take.meta.params,
                    "route": take.meta.route,
                    "provider": take.meta.provider,
                    "model": take.meta.model,
                    "draft": take.meta.draft,
                    "credits": take.meta.credits,
                    "duration_ms": take.meta.duration_ms,
                    "created_unix_ms": take.created,
                    "content_hash": out.hash,
                    "mime": out.mime,
                });
                let side = dir.join(format!("{base}.json"));
                let text = serde_json::to_vec_pretty(&sidecar).map_err(|e| e.to_string())?;
                project::atomic_write(&side, &text)
                    .map_err(|e| format!("cannot write {}: {e}", side.display()))?;
                written.push(file);
                written.push(side);
            }
        }
    }
    Ok(written)
}

/// What a project bundle holds.
#[derive(Debug, PartialEq, Eq)]
pub struct Bundled {
    pub assets: usize,
    pub takes: usize,
    /// Take files found in neither the project nor the cache (left out).
    pub missing: usize,
}

/// Writes the project as one `.zip` at `out`: a folder `<name>.aktion/` holding the document as
/// it is now, every asset and every take file it refers to (from the project, else the cache).
/// Media are stored as they are (already compressed), the document deflated; written under a
/// temporary name and renamed, so `out` is whole or absent.
pub fn export_bundle(
    doc: &Document,
    cache: &aktion_cache::Cache,
    root: &Path,
    out: &Path,
) -> Result<Bundled, String> {
    use std::io::Write as _;
    use zip::write::SimpleFileOptions;

    let stem = format!(
        "{}.aktion",
        safe_file_stem(if doc.name.trim().is_empty() {
            root.file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("project")
        } else {
            &doc.name
        })
    );
    let dir = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let tmp = dir.join(format!(".bundle.{}.tmp", std::process::id()));
    let fail = |e: &dyn std::fmt::Display| format!("cannot write {}: {e}", out.display());
    let result = (|| {
        let file = std::fs::File::create(&tmp).map_err(|e| fail(&e))?;
        let mut zip = zip::ZipWriter::new(std::io::BufWriter::new(file));
        let stored = SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored)
            .large_file(true);
        let text = project::to_json(doc).map_err(|e| fail(&e))?;
        zip.start_file(
            format!("{stem}/{}", project::PROJECT_FILE),
            SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated),
        )
        .map_err(|e| fail(&e))?;
        zip.write_all(text.as_bytes()).map_err(|e| fail(&e))?;

        let mut bundled = Bundled {
            assets: 0,
            takes: 0,
            missing: 0,
        };
        if let Ok(entries) = std::fs::read_dir(root.join(project::ASSETS_DIR)) {
            let mut names: Vec<(String, PathBuf)> = entries
                .flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                .filter_map(|e| Some((e.file_name().into_string().ok()?, e.path())))
                .filter(|(n, _)| !n.starts_with('.'))
                .collect();
            names.sort();
            for (name, path) in names {
                let mut src = std::fs::File::open(&path).map_err(|e| fail(&e))?;
                zip.start_file(format!("{stem}/{}/{name}", project::ASSETS_DIR), stored)
                    .map_err(|e| fail(&e))?;
                std::io::copy(&mut src, &mut zip).map_err(|e| fail(&e))?;
                bundled.assets += 1;
            }
        }
        for hash in aktion_engine::kept::doc_hashes(doc) {
            let Some(bytes) = aktion_engine::kept::read_take(cache, root, &hash) else {
                bundled.missing += 1;
                continue;
            };
            zip.start_file(format!("{stem}/{}/{hash}", project::TAKES_DIR), stored)
                .map_err(|e| fail(&e))?;
            zip.write_all(&bytes).map_err(|e| fail(&e))?;
            bundled.takes += 1;
        }
        let writer = zip.finish().map_err(|e| fail(&e))?;
        let file = writer.into_inner().map_err(|e| fail(&e.error()))?;
        file.sync_all().map_err(|e| fail(&e))?;
        std::fs::rename(&tmp, out).map_err(|e| fail(&e))?;
        Ok(bundled)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// A title made safe as a file name on every platform.
fn safe_file_stem(title: &str) -> String {
    let s: String = title
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(80)
        .collect();
    let s = s.trim_matches('_').to_owned();
    if s.is_empty() { "node".into() } else { s }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aktion_graph::Node;

    #[test]
    fn a_bundle_holds_the_document_its_assets_and_takes_and_opens_elsewhere() {
        let dir = tempfile::tempdir().expect("tmp");
        let cache = aktion_cache::Cache::open(
            dir.path().join("cache"),
            aktion_cache::CacheOptions::default(),
        )
        .expect("cache");
        let root = dir.path().join("film.aktion");
        let mut doc = Document {
            name: "Rooftop / showdown".into(),
            ..Document::default()
        };
        let asset = project::import_asset_bytes(&root, "mara.png", b"a png").expect("asset");
        let mut image = Node::new(Catalog::builtin().get("image").expect("image"), [0.0, 0.0]);
        image.params.insert("file".into(), asset.to_value());
        doc.add_node(image);
        let id = doc.add_node(Node::new(
            Catalog::builtin().get("t2i").expect("t2i"),
            [0.0, 0.0],
        ));
        // One take kept in the project, one only in the cache, one nowhere.
        let mut hashes = Vec::new();
        for (i, bytes) in [&b"kept"[..], b"cached", b"lost"].into_iter().enumerate() {
            let hash = if i == 2 {
                aktion_cache::BlobHash::of(bytes)
            } else {
                cache.put_bytes(bytes).expect("put")
            };
            let result = aktion_cache::CachedResult {
                outputs: vec![aktion_cache::CachedOutput {
                    hash,
                    mime: "image/png".into(),
                    name: "t2i.png".into(),
                    bytes: bytes.len() as u64,
                }],
                meta: serde_json::json!({ "params": { "seed": i } }),
                created_unix_ms: 1,
            };
            if i == 0 {
                aktion_engine::kept::keep(&cache, &root, &result.outputs).expect("keep");
            }
            aktion_engine::takes::record_take(&mut doc, id, &format!("sig{i}"), &result);
            hashes.push(hash.to_hex());
        }
        project::save(&root, &doc).expect("save");

        let out = dir.path().join("exports").join("film.zip");
        let bundled = export_bundle(&doc, &cache, &root, &out).expect("bundle");
        assert_eq!(
            bundled,
            Bundled {
                assets: 1,
                takes: 2,
                missing: 1
            }
        );

        // Unzipped elsewhere, it opens as the same board with its files.
        let mut archive =
            zip::ZipArchive::new(std::fs::File::open(&out).expect("open")).expect("a zip");
        let elsewhere = dir.path().join("elsewhere");
        archive.extract(&elsewhere).expect("extract");
        let opened = elsewhere.join("Rooftop___showdown.aktion");
        let (_, back) = project::load(&opened, Catalog::builtin()).expect("load");
        assert_eq!(back, doc);
        assert!(project::read_asset(&opened, &asset).is_ok());
        for hash in &hashes[..2] {
            let file = project::take_path(&opened, hash).expect("path");
            assert_eq!(
                blake3::hash(&std::fs::read(file).expect("take"))
                    .to_hex()
                    .as_str(),
                hash
            );
        }
        assert!(
            !project::take_path(&opened, &hashes[2])
                .expect("path")
                .exists()
        );
    }

    #[test]
    fn exports_the_active_take_with_a_sidecar_and_refuses_missing_results() {
        let dir = tempfile::tempdir().expect("tmp");
        let cache = aktion_cache::Cache::open(
            dir.path().join("cache"),
            aktion_cache::CacheOptions::default(),
        )
        .expect("cache");
        let mut doc = Document::default();
        let mut n = Node::new(Catalog::builtin().get("t2i").expect("t2i"), [0.0, 0.0]);
        n.title = "Shot 1: the ../../roof".into();
        let id = doc.add_node(n);
        let bytes = b"png bytes".to_vec();
        let hash = cache.put_bytes(&bytes).expect("put");
        let result = aktion_cache::CachedResult {
            outputs: vec![aktion_cache::CachedOutput {
                hash,
                mime: "image/png".into(),
                name: "t2i-draft.png".into(),
                bytes: bytes.len() as u64,
            }],
            meta: serde_json::json!({ "params": { "prompt": "a roof", "seed": 9 }, "provider": "draft" }),
            created_unix_ms: 5,
        };
        aktion_engine::takes::record_take(&mut doc, id, "sig", &result).expect("take");
        let out = dir.path().join("export");
        let root = dir.path().join("film.aktion");
        let files = export_takes(&doc, &cache, &root, &[id], &out, false).expect("export");
        assert_eq!(files.len(), 2);
        assert!(
            files.iter().all(|f| f.starts_with(&out)),
            "hostile titles cannot leave the folder"
        );
        assert_eq!(std::fs::read(&files[0]).expect("read"), bytes);
        let side: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&files[1]).expect("read")).expect("json");
        assert_eq!(side["params"]["prompt"], "a roof");
        assert_eq!(side["params"]["seed"], 9);
        // Kept in the project, the take exports with the cache cleared; in neither, it says so.
        aktion_engine::kept::keep(&cache, &root, &result.outputs).expect("keep");
        cache.clear().expect("clear");
        let again = export_takes(&doc, &cache, &root, &[id], &out, true).expect("export");
        assert_eq!(std::fs::read(&again[0]).expect("read"), bytes);
        std::fs::remove_dir_all(root.join("takes")).expect("rm");
        let err = export_takes(&doc, &cache, &root, &[id], &out, true).expect_err("gone");
        assert!(err.contains("is missing"), "{err}");
    }
}
