//! Exporting takes: the active take of each node (or every take) written to a folder, each
//! file with a JSON sidecar of the prompt and settings that made it.

use std::path::{Path, PathBuf};

use aktion_graph::{Catalog, Document, NodeId, project};

/// Writes the active take of each node (or every take, with `all_takes`) into `dir`, each file
/// with a JSON sidecar of the prompt and settings that made it. Returns the files written.
pub fn export_takes(
    doc: &Document,
    cache: &aktion_cache::Cache,
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
                let hash: aktion_cache::BlobHash = out
                    .hash
                    .parse()
                    .map_err(|_| "a take names a malformed file hash".to_owned())?;
                let bytes = cache
                    .read_blob(&hash)
                    .map_err(|e| format!("{e:#}"))?
                    .ok_or_else(|| format!("the result of `{title}` take {} is no longer in the cache: run it again", i + 1))?;
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
                    "params": take.params,
                    "route": take.route,
                    "provider": take.provider,
                    "model": take.model,
                    "draft": take.draft,
                    "credits": take.credits,
                    "duration_ms": take.duration_ms,
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
        let files = export_takes(&doc, &cache, &[id], &out, false).expect("export");
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
        cache.clear().expect("clear");
        let err = export_takes(&doc, &cache, &[id], &out, true).expect_err("gone");
        assert!(err.contains("no longer in the cache"), "{err}");
    }
}
