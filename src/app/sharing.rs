//! Training-data sharing from every route (PRODUCT.md §5.10): while the signed-in user is opted
//! in, each new result made on the direct or ComfyUI route is shared after it lands, as the
//! seed's canvas did (the account route's results are recorded by the server itself; draft
//! previews are not generations). Skipped silently when not opted in. The upload runs as a
//! background task; the UI thread only decides.

use aktion_api::TrainingDataSubmission;
use aktion_graph::{Catalog, Node, ParamKind, Route, TakeMeta};

/// What to share of a new result, or `None` when nothing is shared: not opted in, a cached
/// result (already shared when it was made), a draft, the account route, or no output.
pub fn submission(
    node: &Node,
    result: &aktion_cache::CachedResult,
    cached: bool,
    opted_in: bool,
) -> Option<(TrainingDataSubmission, aktion_cache::CachedOutput)> {
    if !opted_in || cached {
        return None;
    }
    let meta = TakeMeta::from_cached(&result.meta);
    if meta.draft || !matches!(meta.route, Route::Direct | Route::Comfyui) {
        return None;
    }
    let schema = Catalog::builtin()
        .get(&node.kind)
        .filter(|k| k.is_generating())?;
    let output = result.outputs.first()?.clone();
    // The parameters that made it (the take's, else the node's): text ones are prompts.
    let params = if meta.params.is_empty() {
        &node.params
    } else {
        &meta.params
    };
    let mut prompt = None;
    let mut settings = serde_json::Map::new();
    for (key, value) in params {
        let Some(param) = schema.param(key) else {
            continue;
        };
        match (&param.kind, value.as_str()) {
            (ParamKind::Text { .. }, Some(text)) if key == "prompt" => {
                prompt = Some(text.chars().take(5000).collect());
            }
            (ParamKind::Text { .. }, _) => {}
            _ => {
                settings.insert(key.clone(), value.clone());
            }
        }
    }
    Some((
        TrainingDataSubmission {
            node_kind: node.kind.clone(),
            output_hash: output.hash.to_hex(),
            prompt,
            settings,
            character_refs: Vec::new(),
            input_refs: Vec::new(),
            generation_ms: i64::try_from(meta.duration_ms)
                .ok()
                .filter(|ms| *ms <= 86_400_000),
            rating: meta.rating,
        },
        output,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(route: &str, draft: bool) -> aktion_cache::CachedResult {
        aktion_cache::CachedResult {
            outputs: vec![aktion_cache::CachedOutput {
                hash: aktion_cache::BlobHash::of(b"png"),
                mime: "image/png".into(),
                name: "out.png".into(),
                bytes: 3,
            }],
            meta: serde_json::json!({"route": route, "draft": draft, "duration_ms": 4200,
                "params": {"prompt": "a ship of light", "seed": 7, "aspect_ratio": "16:9"}}),
            created_unix_ms: 1,
        }
    }

    #[test]
    fn only_new_real_results_of_the_direct_and_comfyui_routes_of_an_opted_in_user() {
        let node = Node::new(Catalog::builtin().get("t2i").expect("kind"), [0.0, 0.0]);
        let (sub, out) = submission(&node, &result("direct", false), false, true).expect("shared");
        assert_eq!(sub.node_kind, "t2i");
        assert_eq!(sub.prompt.as_deref(), Some("a ship of light"));
        assert_eq!(sub.settings["seed"], 7);
        assert!(
            !sub.settings.contains_key("prompt"),
            "text stays out of the settings"
        );
        assert_eq!(sub.generation_ms, Some(4200));
        assert_eq!(sub.output_hash, out.hash.to_hex());
        assert!(submission(&node, &result("comfyui", false), false, true).is_some());
        assert!(
            submission(&node, &result("direct", false), false, false).is_none(),
            "not opted in"
        );
        assert!(
            submission(&node, &result("direct", false), true, true).is_none(),
            "cached"
        );
        assert!(
            submission(&node, &result("draft", true), false, true).is_none(),
            "a draft"
        );
        assert!(
            submission(&node, &result("account", false), false, true).is_none(),
            "the server records it"
        );
        let local = Node::new(Catalog::builtin().get("image").expect("kind"), [0.0, 0.0]);
        assert!(submission(&local, &result("direct", false), false, true).is_none());
    }
}
