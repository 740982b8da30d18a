//! Document model: connection rules (property-tested), project round-trips, refusals,
//! migrations, signatures and cost.

use std::collections::BTreeMap;

use aktion_graph::document::BoardSettings;
use aktion_graph::project;
use aktion_graph::signature::{Routing, resolve};
use aktion_graph::{Catalog, ConnectError, Document, Node, NodeId, ProjectError, Route, Wire};
use proptest::prelude::*;

fn catalog() -> &'static Catalog {
    Catalog::builtin()
}

fn add(doc: &mut Document, kind: &str) -> NodeId {
    let schema = catalog().get(kind).expect("kind");
    doc.add_node(Node::new(schema, [0.0, 0.0]))
}

fn wire(from: NodeId, to: NodeId, input: &str, slot: u32) -> Wire {
    Wire {
        from,
        to,
        input: input.into(),
        slot,
    }
}

fn draft_routing(settings: &BoardSettings) -> Routing<'_> {
    Routing {
        force: None,
        default: Route::Draft,
        settings,
        kinds: None,
    }
}

fn sigs(doc: &Document) -> BTreeMap<NodeId, Result<String, aktion_graph::Blocked>> {
    let settings = doc.settings.clone();
    let r = resolve(doc, catalog(), &[], &draft_routing(&settings), &|_, r| {
        format!("{r}-test-1")
    })
    .expect("no cycle");
    r.nodes.into_iter().map(|(k, v)| (k, v.signature)).collect()
}

#[test]
fn connection_refusals_name_the_reason() {
    let mut doc = Document::default();
    let img = add(&mut doc, "image");
    let audio = add(&mut doc, "audio");
    let t2v = add(&mut doc, "t2v");
    let scene = add(&mut doc, "coherent_scene");

    let err = doc
        .connect(catalog(), wire(audio, t2v, "portrait", 0), false)
        .unwrap_err();
    assert_eq!(
        err,
        ConnectError::TypeMismatch {
            output: aktion_graph::PortType::Audio,
            input: aktion_graph::PortType::Image,
            input_label: "Portrait".into()
        }
    );
    assert_eq!(err.to_string(), "Portrait takes image, not audio");

    doc.connect(catalog(), wire(img, t2v, "portrait", 0), false)
        .expect("image into portrait");
    assert!(matches!(
        doc.connect(catalog(), wire(img, t2v, "portrait", 0), false),
        Err(ConnectError::InputTaken { .. })
    ));
    // An image fills one slot of an image list; slot 6 of six does not exist.
    doc.connect(catalog(), wire(img, scene, "images", 5), false)
        .expect("slot 5");
    assert!(matches!(
        doc.connect(catalog(), wire(img, scene, "images", 6), false),
        Err(ConnectError::NoSuchSlot { .. })
    ));
    assert!(matches!(
        doc.connect(catalog(), wire(img, scene, "nope", 0), false),
        Err(ConnectError::NoSuchInput { .. })
    ));
    assert_eq!(
        doc.connect(catalog(), wire(t2v, t2v, "audio", 0), false),
        Err(ConnectError::SelfLoop)
    );
}

#[test]
fn cycles_are_refused() {
    let mut doc = Document::default();
    let a = add(&mut doc, "i2i");
    let b = add(&mut doc, "i2i");
    doc.connect(catalog(), wire(a, b, "image", 0), false)
        .expect("a->b");
    assert_eq!(
        doc.connect(catalog(), wire(b, a, "image", 0), false),
        Err(ConnectError::Cycle)
    );
}

#[test]
fn replacing_a_wire_returns_the_old_one() {
    let mut doc = Document::default();
    let a = add(&mut doc, "image");
    let b = add(&mut doc, "image");
    let c = add(&mut doc, "i2i");
    doc.connect(catalog(), wire(a, c, "image", 0), false)
        .expect("a");
    let old = doc
        .connect(catalog(), wire(b, c, "image", 0), true)
        .expect("replace");
    assert_eq!(old, Some(wire(a, c, "image", 0)));
    assert_eq!(doc.wires, vec![wire(b, c, "image", 0)]);
}

const KINDS: [&str; 15] = [
    "image",
    "audio",
    "video",
    "prompt",
    "sketch",
    "character",
    "t2i",
    "sketch_to_image",
    "i2i",
    "action_pose",
    "t2v",
    "i2v",
    "lip_sync",
    "sequence",
    "coherent_scene",
];

fn random_board(kinds: &[usize], attempts: &[(usize, usize, usize, u32)]) -> Document {
    let mut doc = Document::default();
    let ids: Vec<NodeId> = kinds
        .iter()
        .map(|&k| add(&mut doc, KINDS[k % KINDS.len()]))
        .collect();
    for &(f, t, i, slot) in attempts {
        let from = ids[f % ids.len()];
        let to = ids[t % ids.len()];
        let to_kind = catalog().get(&doc.nodes[&to].kind).expect("kind");
        if to_kind.inputs.is_empty() {
            continue;
        }
        let input = to_kind.inputs[i % to_kind.inputs.len()].id.clone();
        let before = doc.clone();
        if doc
            .connect(catalog(), wire(from, to, &input, slot % 7), false)
            .is_err()
        {
            assert_eq!(doc, before, "a refused wire must change nothing");
        }
    }
    doc
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Whatever sequence of connections is attempted, what is accepted always forms a valid
    /// board: types match, one wire per slot, no cycle.
    #[test]
    fn accepted_wires_always_form_a_valid_board(
        kinds in prop::collection::vec(0usize..15, 1..12),
        attempts in prop::collection::vec((0usize..12, 0usize..12, 0usize..3, 0u32..8), 0..60),
    ) {
        let doc = random_board(&kinds, &attempts);
        let issues = aktion_graph::validate::validate(&doc, catalog());
        prop_assert!(issues.is_empty(), "{issues:?}");
        prop_assert!(doc.topo_order(&[]).is_some());
    }

    /// Saving and loading gives back the same board, and saving is byte-stable.
    #[test]
    fn project_json_round_trips(
        kinds in prop::collection::vec(0usize..15, 0..10),
        attempts in prop::collection::vec((0usize..10, 0usize..10, 0usize..3, 0u32..8), 0..30),
        prompt in ".{0,40}",
        x in -1.0e6f32..1.0e6,
    ) {
        let mut doc = random_board(if kinds.is_empty() { &[0] } else { &kinds }, &attempts);
        doc.name = prompt.clone();
        if let Some(n) = doc.nodes.values_mut().next() {
            n.pos = [x, -x];
            n.title = prompt.clone();
            if n.params.contains_key("prompt") {
                n.params.insert("prompt".into(), prompt.clone().into());
            }
        }
        let text = project::to_json(&doc).expect("json");
        let back = project::parse(text.as_bytes(), catalog()).expect("parse");
        prop_assert_eq!(&back, &doc);
        prop_assert_eq!(project::to_json(&back).expect("json"), text);
    }

    /// Truncating a valid project anywhere gives an error, never a panic or a half board.
    #[test]
    fn truncated_projects_are_refused(cut in 0usize..10_000) {
        let mut doc = Document::default();
        let a = add(&mut doc, "t2i");
        let b = add(&mut doc, "i2v");
        doc.connect(catalog(), wire(a, b, "image", 0), false).expect("wire");
        let text = project::to_json(&doc).expect("json");
        // Cut inside the JSON itself: dropping only the trailing newline leaves a whole document.
        let cut = cut % text.trim_end().len();
        prop_assert!(project::parse(&text.as_bytes()[..cut], catalog()).is_err());
    }
}

fn write_project(dir: &std::path::Path, text: &str) -> std::path::PathBuf {
    let root = dir.join("p.aktion");
    std::fs::create_dir_all(&root).expect("dir");
    std::fs::write(root.join("project.json"), text).expect("write");
    root
}

fn load_err(text: &str) -> ProjectError {
    let dir = tempfile::tempdir().expect("tmp");
    let root = write_project(dir.path(), text);
    let before = std::fs::read(root.join("project.json")).expect("read");
    let err = project::load(&root, catalog()).expect_err("must be refused");
    assert_eq!(
        std::fs::read(root.join("project.json")).expect("read"),
        before,
        "a refused project must be left byte-for-byte untouched"
    );
    err
}

const A: &str = "00000000-0000-4000-8000-00000000000a";
const B: &str = "00000000-0000-4000-8000-00000000000b";

#[test]
fn bad_projects_are_refused_with_the_problem_named() {
    let newer = r#"{"format":"aktion-studio-project","version":99,"nodes":[]}"#;
    let e = load_err(newer);
    assert!(
        matches!(e, ProjectError::NewerVersion { found: 99, .. }),
        "{e}"
    );
    assert!(e.to_string().contains("newer"));

    let e = load_err(r#"{"format":"aktion-studio-project","version":1,"nodes":[{"id":"#);
    assert!(matches!(e, ProjectError::Syntax(_)), "{e}");

    let unknown = format!(
        r#"{{"format":"aktion-studio-project","version":1,"nodes":[{{"id":"{A}","kind":"hologram","pos":[0,0]}}]}}"#
    );
    let e = load_err(&unknown);
    assert!(
        e.to_string().contains("unknown node kind `hologram`"),
        "{e}"
    );

    let dangling = format!(
        r#"{{"format":"aktion-studio-project","version":1,"nodes":[{{"id":"{A}","kind":"t2i","pos":[0,0]}}],
            "wires":[{{"from":"{B}","to":"{A}","input":"prompt"}}]}}"#
    );
    let e = load_err(&dangling);
    assert!(e.to_string().contains("dangling wire"), "{e}");

    let wrong_type = format!(
        r#"{{"format":"aktion-studio-project","version":1,"nodes":[
            {{"id":"{A}","kind":"audio","pos":[0,0]}},{{"id":"{B}","kind":"i2v","pos":[0,0]}}],
            "wires":[{{"from":"{A}","to":"{B}","input":"image"}}]}}"#
    );
    let e = load_err(&wrong_type);
    assert!(
        e.to_string().contains("Image takes image, not audio"),
        "{e}"
    );

    let cycle = format!(
        r#"{{"format":"aktion-studio-project","version":1,"nodes":[
            {{"id":"{A}","kind":"i2i","pos":[0,0]}},{{"id":"{B}","kind":"i2i","pos":[0,0]}}],
            "wires":[{{"from":"{A}","to":"{B}","input":"image"}},{{"from":"{B}","to":"{A}","input":"image"}}]}}"#
    );
    let e = load_err(&cycle);
    assert!(e.to_string().contains("cycle"), "{e}");

    let e = load_err(r#"{"format":"something-else","version":1}"#);
    assert!(e.to_string().contains("something-else"), "{e}");
    let e = load_err("[1,2,3]");
    assert!(matches!(e, ProjectError::Format(_)), "{e}");
    let e = load_err("");
    assert!(matches!(e, ProjectError::Syntax(_)), "{e}");

    let bad_param = format!(
        r#"{{"format":"aktion-studio-project","version":1,"nodes":[{{"id":"{A}","kind":"i2v","pos":[0,0],"params":{{"duration":1e9}}}}]}}"#
    );
    let e = load_err(&bad_param);
    assert!(e.to_string().contains("duration"), "{e}");

    let hostile_asset = format!(
        r#"{{"format":"aktion-studio-project","version":1,"nodes":[{{"id":"{A}","kind":"image","pos":[0,0],"params":{{"file":{{"hash":"../../etc/passwd","ext":"jpg"}}}}}}]}}"#
    );
    let e = load_err(&hostile_asset);
    assert!(e.to_string().contains("malformed content hash"), "{e}");
}

#[test]
fn missing_projects_and_huge_files_are_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    let e = project::load(&dir.path().join("nope"), catalog()).expect_err("missing");
    assert!(matches!(e, ProjectError::NotAProject { .. }));
    let big = vec![b' '; usize::try_from(project::MAX_PROJECT_BYTES).expect("fits") + 10];
    let e = project::parse(&big, catalog()).expect_err("huge");
    assert!(matches!(e, ProjectError::TooLarge { .. }));
}

#[test]
fn save_is_atomic_and_leaves_no_temp_files() {
    let dir = tempfile::tempdir().expect("tmp");
    let root = dir.path().join("film.aktion");
    let mut doc = Document::default();
    add(&mut doc, "t2i");
    project::save(&root, &doc).expect("save");
    project::save(&root, &doc).expect("save again");
    let names: Vec<String> = std::fs::read_dir(&root)
        .expect("ls")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["project.json"]);
    let (_, back) = project::load(&root, catalog()).expect("load");
    assert_eq!(back, doc);
}

#[test]
fn version_0_web_canvas_boards_migrate() {
    let v0 = r#"{
        "nodes": [
            {"id": "node-1", "type": "sketch", "position": {"x": 10, "y": 20}, "data": {"label": "Hero sketch"}},
            {"id": "node-2", "type": "sketch-to-image", "position": {"x": 300, "y": 20}, "data": {"prompt": "action hero punching", "creativity": 7.5}},
            {"id": "node-3", "type": "coherent-scene", "position": {"x": 600, "y": 20}, "data": {}}
        ],
        "edges": [
            {"source": "node-1", "target": "node-2", "targetHandle": "sketch"},
            {"source": "node-2", "target": "node-3", "targetHandle": "images-2"}
        ]
    }"#;
    let doc = project::parse(v0.as_bytes(), catalog()).expect("migrates");
    assert_eq!(doc.nodes.len(), 3);
    let s2i = doc
        .nodes
        .values()
        .find(|n| n.kind == "sketch_to_image")
        .expect("sketch_to_image");
    assert_eq!(s2i.param_str("prompt"), "action hero punching");
    assert_eq!(s2i.param_f64("creativity"), Some(7.5));
    assert!(doc.nodes.values().any(|n| n.kind == "coherent_scene"));
    assert!(doc.wires.iter().any(|w| w.input == "images" && w.slot == 2));
    let sketch = doc
        .nodes
        .values()
        .find(|n| n.kind == "sketch")
        .expect("sketch");
    assert_eq!(sketch.title, "Hero sketch");
    // Migrating twice gives the same ids.
    let again = project::parse(v0.as_bytes(), catalog()).expect("again");
    assert_eq!(
        doc.nodes.keys().collect::<Vec<_>>(),
        again.nodes.keys().collect::<Vec<_>>()
    );
}

#[test]
fn assets_are_stored_by_content_hash_and_checked_on_read() {
    let dir = tempfile::tempdir().expect("tmp");
    let a = project::import_asset_bytes(dir.path(), "Photo.JPG", b"jpeg bytes").expect("import");
    let b = project::import_asset_bytes(dir.path(), "copy.jpg", b"jpeg bytes").expect("again");
    assert_eq!(a.hash, b.hash);
    assert_eq!(a.ext, "jpg");
    assert_eq!(
        std::fs::read_dir(dir.path().join("assets"))
            .expect("ls")
            .count(),
        1
    );
    assert_eq!(
        project::read_asset(dir.path(), &a).expect("read"),
        b"jpeg bytes"
    );
    std::fs::write(a.path(dir.path()), b"tampered").expect("tamper");
    assert!(project::read_asset(dir.path(), &a).is_err());
    assert!(project::import_asset_bytes(dir.path(), "empty.png", b"").is_err());
    // Hostile names cannot steer where the file goes.
    let c = project::import_asset_bytes(dir.path(), "../../evil.png/../x.sh", b"x").expect("ok");
    assert!(c.path(dir.path()).starts_with(dir.path().join("assets")));
}

#[test]
fn signatures_ignore_ids_positions_and_titles_but_follow_content() {
    let build = |prompt: &str, x: f32, title: &str| {
        let mut doc = Document::default();
        let mut t2i = Node::new(catalog().get("t2i").expect("t2i"), [x, 0.0]);
        t2i.params.insert("prompt".into(), prompt.into());
        t2i.params.insert("seed".into(), 7.into());
        t2i.title = title.into();
        let mut i2v = Node::new(catalog().get("i2v").expect("i2v"), [x + 200.0, 0.0]);
        i2v.params.insert("seed".into(), 9.into());
        let a = doc.add_node(t2i);
        let b = doc.add_node(i2v);
        doc.connect(catalog(), wire(a, b, "image", 0), false)
            .expect("wire");
        let s = sigs(&doc);
        (
            s[&a].clone().expect("a runs"),
            s[&b].clone().expect("b runs"),
        )
    };
    let (a1, b1) = build("a knight", 0.0, "");
    let (a2, b2) = build("a knight", 500.0, "Shot 1");
    assert_eq!(
        (&a1, &b1),
        (&a2, &b2),
        "ids, positions and titles must not matter"
    );
    let (a3, b3) = build("a dragon", 0.0, "");
    assert_ne!(a1, a3);
    assert_ne!(b1, b3, "a changed upstream prompt changes its dependents");
}

#[test]
fn a_wired_prompt_replaces_the_prompt_field_in_the_signature() {
    let mut doc = Document::default();
    let p = add(&mut doc, "prompt");
    let t = add(&mut doc, "t2i");
    doc.nodes
        .get_mut(&p)
        .expect("p")
        .params
        .insert("text".into(), "rain".into());
    doc.connect(catalog(), wire(p, t, "prompt", 0), false)
        .expect("wire");
    let before = sigs(&doc)[&t].clone();
    doc.nodes
        .get_mut(&t)
        .expect("t")
        .params
        .insert("prompt".into(), "ignored".into());
    assert_eq!(sigs(&doc)[&t], before);
}

#[test]
fn routes_and_versions_are_part_of_the_signature() {
    let mut doc = Document::default();
    let t = add(&mut doc, "t2i");
    let settings = BoardSettings::default();
    let sig_with = |route: Route, ver: &str| {
        let r = Routing {
            force: Some(route),
            default: Route::Draft,
            settings: &settings,
            kinds: None,
        };
        let v = ver.to_owned();
        resolve(&doc, catalog(), &[], &r, &move |_, _| v.clone())
            .expect("ok")
            .nodes[&t]
            .signature
            .clone()
            .expect("sig")
    };
    assert_ne!(sig_with(Route::Draft, "1"), sig_with(Route::Account, "1"));
    assert_ne!(sig_with(Route::Draft, "1"), sig_with(Route::Draft, "2"));
    assert_eq!(sig_with(Route::Draft, "1"), sig_with(Route::Draft, "1"));
}

#[test]
fn blocked_nodes_say_why_and_block_only_their_dependents() {
    let mut doc = Document::default();
    let portrait = add(&mut doc, "t2v"); // no inputs wired
    let lip = add(&mut doc, "lip_sync");
    let other = add(&mut doc, "t2i");
    doc.connect(catalog(), wire(portrait, lip, "video", 0), false)
        .expect("wire");
    let s = sigs(&doc);
    assert_eq!(
        s[&portrait],
        Err(aktion_graph::Blocked::MissingInput("Portrait".into()))
    );
    assert_eq!(s[&lip], Err(aktion_graph::Blocked::Upstream(portrait)));
    assert!(s[&other].is_ok());

    let scene = add(&mut doc, "coherent_scene");
    let img = add(&mut doc, "t2i");
    for slot in 0..5 {
        doc.connect(catalog(), wire(img, scene, "images", slot), false)
            .expect("slot");
    }
    let msg = sigs(&doc)[&scene].clone().unwrap_err().to_string();
    assert!(msg.contains("5 of 6"), "{msg}");

    doc.nodes.get_mut(&other).expect("o").muted = true;
    assert_eq!(sigs(&doc)[&other], Err(aktion_graph::Blocked::Muted));
}

#[test]
fn bypassed_nodes_pass_their_input_through() {
    let mut doc = Document::default();
    let src = add(&mut doc, "t2i");
    let mid = add(&mut doc, "i2i");
    let end = add(&mut doc, "i2v");
    doc.connect(catalog(), wire(src, mid, "image", 0), false)
        .expect("w1");
    doc.connect(catalog(), wire(mid, end, "image", 0), false)
        .expect("w2");
    doc.nodes.get_mut(&mid).expect("mid").bypassed = true;
    let settings = doc.settings.clone();
    let r = resolve(
        &doc,
        catalog(),
        &[end],
        &draft_routing(&settings),
        &|_, _| "v".into(),
    )
    .expect("ok");
    assert_eq!(r.nodes[&mid].passthrough, Some(src));
    assert_eq!(r.nodes[&mid].signature, r.nodes[&src].signature);
    assert_eq!(r.nodes[&end].inputs[0].from, src);
}

#[test]
fn cost_counts_only_uncached_account_nodes() {
    let mut doc = Document::default();
    let a = add(&mut doc, "t2i");
    let b = add(&mut doc, "i2v");
    let _img = add(&mut doc, "prompt");
    doc.connect(catalog(), wire(a, b, "image", 0), false)
        .expect("wire");
    let settings = doc.settings.clone();
    let account = Routing {
        force: Some(Route::Account),
        default: Route::Draft,
        settings: &settings,
        kinds: None,
    };
    let r = resolve(&doc, catalog(), &[], &account, &|_, _| "v".into()).expect("ok");
    let est = aktion_graph::cost::estimate(&doc, catalog(), &r, &|_| None, &|_| false);
    assert_eq!(est.total, 2 + 8);
    let a_sig = r.nodes[&a].signature.clone().expect("sig");
    let est = aktion_graph::cost::estimate(&doc, catalog(), &r, &|_| None, &|s| s == a_sig);
    assert_eq!(est.total, 8, "the cached t2i costs nothing");
    let est =
        aktion_graph::cost::estimate(&doc, catalog(), &r, &|k| (k == "i2v").then_some(4), &|_| {
            false
        });
    assert_eq!(est.total, 2 + 4, "the server's price wins");
    let draft = draft_routing(&settings);
    let r = resolve(&doc, catalog(), &[], &draft, &|_, _| "v".into()).expect("ok");
    assert_eq!(
        aktion_graph::cost::estimate(&doc, catalog(), &r, &|_| None, &|_| false).total,
        0
    );
}

#[test]
fn autosave_offers_recovery_after_a_crash_and_nothing_after_a_save() {
    let dir = tempfile::tempdir().expect("tmp");
    let root = dir.path().join("film.aktion");
    let mut doc = Document::default();
    add(&mut doc, "t2i");
    project::save(&root, &doc).expect("save");
    assert!(
        project::recoverable(&root, catalog()).is_none(),
        "nothing autosaved yet"
    );

    // Unsaved work is autosaved, then the app dies.
    add(&mut doc, "i2v");
    project::autosave(&root, &doc).expect("autosave");
    let saved = std::fs::read(root.join("project.json")).expect("read");
    let recovered = project::recoverable(&root, catalog()).expect("recoverable");
    assert_eq!(recovered, doc);
    assert_eq!(
        std::fs::read(root.join("project.json")).expect("read"),
        saved,
        "project.json untouched"
    );

    // Saving makes the copy redundant.
    project::save(&root, &recovered).expect("save");
    assert!(project::recoverable(&root, catalog()).is_none());
    project::discard_autosave(&root);
    assert!(!root.join(project::AUTOSAVE_FILE).exists());

    // A corrupt project.json still has its autosave copy.
    project::autosave(&root, &doc).expect("autosave");
    std::fs::write(root.join("project.json"), b"{ truncated").expect("corrupt");
    assert_eq!(project::recoverable(&root, catalog()), Some(doc));
}

proptest! {
    /// Parameter numbers survive save and reload bit for bit, so a reopened board keeps its
    /// signatures (and its cached results). serde_json's fast float parser alone is not exact.
    #[test]
    fn floats_in_parameters_round_trip_exactly(points in prop::collection::vec((0.0f32..4096.0, 0.0f32..4096.0, 0.0f32..1.0), 1..50), creativity in 0.1f64..30.0) {
        let mut doc = Document::default();
        let s = add(&mut doc, "sketch");
        let strokes = vec![aktion_graph::sketch::Stroke {
            tool: aktion_graph::sketch::StrokeTool::Pen,
            color: [0, 0, 0, 255],
            width: 5.5,
            points: points.iter().map(|&(x, y, p)| [x, y, p]).collect(),
        }];
        doc.nodes.get_mut(&s).expect("s").params.insert("strokes".into(), serde_json::to_value(&strokes).expect("json"));
        let k = add(&mut doc, "sketch_to_image");
        doc.nodes.get_mut(&k).expect("k").params.insert("creativity".into(), creativity.into());
        let before = sigs(&doc);
        let back = project::parse(project::to_json(&doc).expect("json").as_bytes(), catalog()).expect("parse");
        prop_assert_eq!(&back, &doc);
        prop_assert_eq!(sigs(&back), before);
    }
}

#[test]
fn a_route_comes_from_the_node_then_the_board_then_the_app_then_the_default() {
    let mut doc = Document::default();
    let t = add(&mut doc, "t2i");
    let mut kinds = BTreeMap::new();
    kinds.insert("t2i".to_owned(), Route::Direct);
    let mut settings = BoardSettings::default();
    let routing =
        |doc: &Document, settings: &BoardSettings, kinds: Option<&BTreeMap<String, Route>>| {
            let r = Routing {
                force: None,
                default: Route::Draft,
                settings,
                kinds,
            };
            r.route_for(&doc.nodes[&t])
        };
    assert_eq!(routing(&doc, &settings, None), Route::Draft);
    assert_eq!(
        routing(&doc, &settings, Some(&kinds)),
        Route::Direct,
        "the app's per kind"
    );
    settings.routes.insert("t2i".into(), Route::Comfyui);
    assert_eq!(
        routing(&doc, &settings, Some(&kinds)),
        Route::Comfyui,
        "the board's wins"
    );
    doc.nodes.get_mut(&t).expect("node").route = Some(Route::Account);
    assert_eq!(
        routing(&doc, &settings, Some(&kinds)),
        Route::Account,
        "the node's wins"
    );
}

mod sequence {
    use super::*;
    use aktion_graph::edit::{Edit, History};
    use aktion_graph::sequence::{Camera, Sequence, Shot, ShotStatus};

    fn board_with_shots(n: usize) -> Document {
        let mut doc = Document::default();
        let nodes: Vec<NodeId> = (0..n).map(|_| add(&mut doc, "t2i")).collect();
        doc.sequence.shots = nodes.into_iter().map(Shot::new).collect();
        doc
    }

    #[test]
    fn shots_save_diff_stable_and_reload_equal() {
        let mut doc = board_with_shots(3);
        doc.sequence.fps = 25;
        let s = &mut doc.sequence.shots[1];
        s.title = "Mara, close".into();
        s.dialogue = "Not tonight.\nNot ever.".into();
        s.in_ms = 500;
        s.out_ms = Some(2_500);
        s.hold_ms = Some(4_000);
        s.camera = Camera {
            shot_type: "CU".into(),
            angle: "low".into(),
            movement: "static".into(),
            lens: "85mm".into(),
        };
        s.status = ShotStatus::Approved;
        let text = project::to_json(&doc).expect("json");
        assert!(text.contains("\"version\": 2"));
        let back = project::parse(text.as_bytes(), catalog()).expect("parse");
        assert_eq!(back.sequence, doc.sequence);
        assert_eq!(
            project::to_json(&back).expect("json"),
            text,
            "the same bytes"
        );
        // A board without shots writes no sequence at all.
        let empty = project::to_json(&Document::default()).expect("json");
        assert!(!empty.contains("sequence"));
    }

    #[test]
    fn version_1_projects_migrate_with_an_empty_sequence() {
        let v1 = format!(
            r#"{{"format":"aktion-studio-project","version":1,"nodes":[{{"id":"{}","kind":"t2i","pos":[0,0]}}]}}"#,
            NodeId::new()
        );
        let doc = project::parse(v1.as_bytes(), catalog()).expect("migrates");
        assert_eq!(doc.sequence, Sequence::default());
        assert!(
            project::to_json(&doc)
                .expect("json")
                .contains("\"version\": 2")
        );
    }

    #[test]
    fn sequence_edits_undo_and_redo() {
        let mut doc = board_with_shots(4);
        let before = doc.sequence.clone();
        let ids: Vec<_> = doc.sequence.shots.iter().map(|s| s.id).collect();
        let mut history = History::new(100);
        let moved = Sequence {
            shots: doc.sequence.moved(&[ids[3]], 0),
            ..doc.sequence.clone()
        };
        history
            .apply(
                &mut doc,
                catalog(),
                "Move shot",
                vec![Edit::SetSequence(Box::new(moved))],
                None,
            )
            .expect("applies");
        assert_eq!(doc.sequence.shots[0].id, ids[3]);
        history.undo(&mut doc, catalog());
        assert_eq!(doc.sequence, before);
        history.redo(&mut doc, catalog());
        assert_eq!(doc.sequence.shots[0].id, ids[3]);
    }

    #[test]
    fn a_shot_whose_node_is_gone_stays_and_shows_as_missing() {
        let mut doc = board_with_shots(2);
        let gone = doc.sequence.shots[0].node;
        doc.remove_node(gone);
        let text = project::to_json(&doc).expect("json");
        let back = project::parse(text.as_bytes(), catalog()).expect("still a valid project");
        let missing: Vec<_> = back.sequence.missing(&back).map(|s| s.node).collect();
        assert_eq!(missing, [gone]);
        assert!(back.sequence.shots[0].take(&back).is_none());
    }

    #[test]
    fn hostile_sequences_are_refused_with_the_reason() {
        let id = NodeId::new();
        let shot = |extra: &str| {
            format!(
                r#"{{"format":"aktion-studio-project","version":2,"nodes":[{{"id":"{id}","kind":"t2i","pos":[0,0]}}],"sequence":{{"shots":[{{"id":"{}","node":"{id}"{extra}}}]}}}}"#,
                NodeId::new(),
            )
        };
        for (extra, needle) in [
            (r#","title":"a\u0000b""#, "control character"),
            (r#","hold_ms":99999999999"#, "longer than an hour"),
            (r#","in_ms":-4"#, "invalid value"),
            (r#","status":"lost""#, "unknown variant"),
        ] {
            let err = project::parse(shot(extra).as_bytes(), catalog())
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(err.contains(needle), "{extra}: {err}");
        }
        let bad_fps =
            r#"{"format":"aktion-studio-project","version":2,"sequence":{"fps":7}}"#.to_owned();
        let err = project::parse(bad_fps.as_bytes(), catalog())
            .err()
            .map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("frame rate 7")));
    }

    proptest! {
        /// Any sequence of moves keeps every shot exactly once, and the file round trip keeps
        /// the order and every field.
        #[test]
        fn moves_keep_every_shot_once_and_round_trip(
            n in 1usize..12,
            moves in prop::collection::vec((prop::collection::vec(0usize..12, 1..4), 0usize..13), 0..20),
            titles in prop::collection::vec(".{0,12}", 12),
            holds in prop::collection::vec(prop::option::of(0u64..600_000), 12),
        ) {
            let mut doc = board_with_shots(n);
            for (i, shot) in doc.sequence.shots.iter_mut().enumerate() {
                shot.title = titles[i].chars().filter(|c| !c.is_control()).collect();
                shot.hold_ms = holds[i];
            }
            let mut all: Vec<_> = doc.sequence.shots.iter().map(|s| s.id).collect();
            for (pick, to) in moves {
                let ids: Vec<_> = pick
                    .iter()
                    .filter_map(|&i| doc.sequence.shots.get(i).map(|s| s.id))
                    .collect();
                doc.sequence.shots = doc.sequence.moved(&ids, to);
                prop_assert_eq!(doc.sequence.shots.len(), n);
            }
            let mut now: Vec<_> = doc.sequence.shots.iter().map(|s| s.id).collect();
            all.sort();
            now.sort();
            prop_assert_eq!(all, now);
            let text = project::to_json(&doc).expect("json");
            let back = project::parse(text.as_bytes(), catalog()).expect("parse");
            prop_assert_eq!(back.sequence, doc.sequence);
        }
    }
}
