//! The whole app driven through `egui_kittest` (no GPU), as a filmmaker would: widgets found by
//! their accessible labels, real pointer and key events, assertions on the app's state.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use aktion_graph::{Catalog, Document, NodeId};
use egui::{Event, Modifiers, PointerButton, Pos2};
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};

use super::Studio;
use super::state::AppState;

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("tmp"),
        }
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("film.aktion")
    }

    fn studio(&self, state: AppState) -> Studio {
        self.studio_with(state, &[])
    }

    /// Surroundings of the test's own: no process variables, a config folder and secret file
    /// in the temp folder, never the keychain.
    fn setup(&self) -> crate::setup::Setup {
        crate::setup::Setup::hermetic(
            self.dir.path().join("config"),
            std::collections::BTreeMap::default(),
        )
    }

    /// A studio whose surroundings have these variables (and nothing of the process's).
    fn studio_with(&self, state: AppState, vars: &[(&str, &str)]) -> Studio {
        let vars = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let setup = crate::setup::Setup::hermetic(self.dir.path().join("config"), vars);
        let cache = aktion_cache::Cache::open(
            self.dir.path().join("cache"),
            aktion_cache::CacheOptions::default(),
        )
        .expect("cache");
        let engine = setup
            .engine(cache, setup.account_session())
            .map_err(|f| f.message())
            .expect("engine");
        let mut studio = Studio::new(state, engine, &setup)
            .map_err(|f| f.message())
            .expect("studio");
        // Never touch the real recent-projects list from a test.
        studio.recent_dir = Some(self.dir.path().join("config"));
        studio
    }

    fn harness(&self, state: AppState) -> Harness<'static, Studio> {
        self.harness_with(state, &[])
    }

    fn harness_with(&self, state: AppState, vars: &[(&str, &str)]) -> Harness<'static, Studio> {
        self.harness_sized(state, vars, egui::vec2(1400.0, 900.0))
    }

    fn harness_sized(
        &self,
        state: AppState,
        vars: &[(&str, &str)],
        size: egui::Vec2,
    ) -> Harness<'static, Studio> {
        let studio = self.studio_with(state, vars);
        Harness::builder()
            .with_size(size)
            // Background work (runs, imports, previews) wakes the UI when it lands; allow a few
            // frames for it to settle.
            .with_max_steps(32)
            .build_ui_state(|ui, app: &mut Studio| app.frame_ui(ui), studio)
    }
}

#[derive(Debug)]
struct TestFile {
    path: PathBuf,
    bytes: Vec<u8>,
}

impl egui::DroppedFile for TestFile {
    fn path(&self) -> &std::path::Path {
        &self.path
    }
    fn bytes(&self) -> Result<Vec<u8>, String> {
        Ok(self.bytes.clone())
    }
}

fn right_click(h: &mut Harness<'_, Studio>, at: Pos2) {
    h.hover_at(at);
    for pressed in [true, false] {
        h.event(Event::PointerButton {
            pos: at,
            button: PointerButton::Secondary,
            pressed,
            modifiers: Modifiers::NONE,
        });
    }
    h.run();
}

fn drag(h: &mut Harness<'_, Studio>, from: Pos2, to: Pos2) {
    h.hover_at(from);
    h.drag_at(from);
    h.run();
    for t in [0.25, 0.5, 0.75, 1.0] {
        h.hover_at(from + (to - from) * t);
        h.run();
    }
    h.drop_at(to);
    h.run();
}

fn add_from_palette(h: &mut Harness<'_, Studio>, at: Pos2, button: &str) -> NodeId {
    let before: Vec<NodeId> = h.state().state.doc.nodes.keys().copied().collect();
    right_click(h, at);
    h.get_by_label(button).click();
    h.run();
    let doc = &h.state().state.doc;
    doc.nodes
        .keys()
        .copied()
        .find(|k| !before.contains(k))
        .unwrap_or_else(|| panic!("`{button}` added no node"))
}

/// Clicks like a person: the pointer arrives over the widget in one frame, presses and releases
/// in the next two.
/// Presses `label` once the account window has no call under way (its buttons are disabled
/// while one is, and a slow machine can be mid-call when the test gets there).
fn press_idle(h: &mut Harness<'_, Studio>, label: &str) {
    wait_until(h, |app| !app.panels.account.busy());
    h.run();
    press(h, label);
}

fn press(h: &mut Harness<'_, Studio>, label: &str) {
    let at = h.get_by_label(label).rect().center();
    click_at(h, at);
}

fn click_at(h: &mut Harness<'_, Studio>, at: Pos2) {
    h.hover_at(at);
    h.run_steps(1);
    for pressed in [true, false] {
        h.event(Event::PointerButton {
            pos: at,
            button: PointerButton::Primary,
            pressed,
            modifiers: Modifiers::NONE,
        });
        h.run_steps(1);
    }
    h.run();
}

fn center(h: &Harness<'_, Studio>, label: &str) -> Pos2 {
    h.get_by_label(label).rect().center()
}

fn png(w: u32, h: u32) -> Vec<u8> {
    aktion_media::encode_png(
        &image::RgbaImage::from_pixel(w, h, image::Rgba([30, 90, 200, 255])),
        &[],
    )
    .expect("png")
}

/// Runs frames until `done` holds (background work such as imports reports back by itself).
fn wait_until(h: &mut Harness<'_, Studio>, done: impl Fn(&Studio) -> bool) {
    for _ in 0..3000 {
        h.run_steps(1);
        if done(h.state()) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("timed out waiting for the app");
}

/// Lets the background run finish, one frame at a time.
fn wait_for_run(h: &mut Harness<'_, Studio>) {
    for _ in 0..3000 {
        h.run_steps(1);
        if !h.state().runs.any_running() {
            h.run_steps(2);
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("the run did not finish");
}

#[test]
#[expect(
    clippy::too_many_lines,
    reason = "one story, start to finish, as a filmmaker works"
)]
fn a_filmmaker_builds_runs_saves_and_recovers_a_board() {
    let f = Fixture::new();
    let mut h = f.harness(AppState::new(Document::default(), f.root()));
    h.run();

    // Add nodes from the palette (right-click on the empty canvas).
    let canvas = h.get_by_label("Node canvas").rect();
    let t2i = add_from_palette(
        &mut h,
        canvas.min + egui::vec2(60.0, 60.0),
        "Text to Image  ·  2 cr",
    );
    let audio = add_from_palette(
        &mut h,
        canvas.min + egui::vec2(60.0, 360.0),
        "Audio  ·  0 cr",
    );
    let i2v = add_from_palette(
        &mut h,
        canvas.min + egui::vec2(480.0, 120.0),
        "Image to Video  ·  8 cr",
    );
    assert_eq!(h.state().state.doc.nodes.len(), 3);
    assert_eq!(h.state().state.doc.node(t2i).expect("t2i").kind, "t2i");

    // A wrong-type wire is refused, with its reason shown while dragging.
    let from = center(&h, "Audio out audio");
    let to = center(&h, "Image to Video in Image");
    h.hover_at(from);
    h.drag_at(from);
    h.run();
    h.hover_at(from.lerp(to, 0.5));
    h.run();
    h.hover_at(to);
    h.run();
    assert!(
        h.query_by_label("Image takes image, not audio").is_some(),
        "the refusal reason is shown"
    );
    h.drop_at(to);
    h.run();
    assert!(h.state().state.doc.wires.is_empty());

    // The right wire connects; undo and redo take it away and back.
    let (from, to) = (
        center(&h, "Text to Image out image"),
        center(&h, "Image to Video in Image"),
    );
    drag(&mut h, from, to);
    assert_eq!(h.state().state.doc.wires.len(), 1);
    assert_eq!(h.state().state.doc.wires[0].from, t2i);
    assert_eq!(h.state().state.doc.wires[0].to, i2v);
    h.key_press_modifiers(Modifiers::COMMAND, egui::Key::Z);
    h.run();
    assert!(h.state().state.doc.wires.is_empty(), "undo");
    h.key_press_modifiers(Modifiers::COMMAND | Modifiers::SHIFT, egui::Key::Z);
    h.run();
    assert_eq!(h.state().state.doc.wires.len(), 1, "redo");

    // Type a prompt in the inspector.
    press(&mut h, "Text to Image");
    assert_eq!(
        h.state()
            .state
            .selection
            .iter()
            .copied()
            .collect::<Vec<_>>(),
        vec![t2i]
    );
    let prompt = h
        .get_all_by_label("Prompt")
        .find(|n| n.accesskit_node().role() == egui::accesskit::Role::MultilineTextInput)
        .expect("the prompt box");
    prompt.click();
    h.run();
    h.get_all_by_label("Prompt")
        .find(|n| n.accesskit_node().role() == egui::accesskit::Role::MultilineTextInput)
        .expect("the prompt box")
        .type_text("a lighthouse in a storm");
    h.run();
    assert_eq!(
        h.state()
            .state
            .doc
            .node(t2i)
            .expect("t2i")
            .param_str("prompt"),
        "a lighthouse in a storm"
    );

    // Draw a sketch in the pad: two strokes, undo one.
    let sketch = add_from_palette(
        &mut h,
        canvas.min + egui::vec2(60.0, 560.0),
        "Sketch  ·  0 cr",
    );
    assert_eq!(
        h.state()
            .state
            .selection
            .iter()
            .copied()
            .collect::<Vec<_>>(),
        vec![sketch],
        "new nodes are selected"
    );
    press(&mut h, "Open sketch pad");
    let pad = h.get_by_label("Sketch pad").rect();
    drag(&mut h, pad.min + egui::vec2(20.0, 20.0), pad.center());
    drag(&mut h, pad.center(), pad.max - egui::vec2(20.0, 20.0));
    let strokes = |h: &Harness<'_, Studio>| {
        h.state().state.doc.node(sketch).expect("sketch").params["strokes"]
            .as_array()
            .map_or(0, Vec::len)
    };
    assert_eq!(strokes(&h), 2);
    press(&mut h, "Undo stroke");
    assert_eq!(strokes(&h), 1);
    let first = &h.state().state.doc.node(sketch).expect("sketch").params["strokes"][0];
    assert!(
        first["points"].as_array().expect("points").len() >= 2,
        "a stroke is a list of points"
    );
    h.state_mut().panels.dialogs.sketch_pad = None;
    h.run();

    // Drop two images and a corrupt file on the board: two nodes, then a clear refusal.
    let drop_at = canvas.min + egui::vec2(700.0, 420.0);
    h.hover_at(drop_at);
    h.input_mut().dropped_files = vec![
        Arc::new(TestFile {
            path: "/photos/a.png".into(),
            bytes: png(32, 18),
        }),
        Arc::new(TestFile {
            path: "/photos/b.png".into(),
            bytes: png(18, 32),
        }),
    ];
    h.run();
    wait_until(&mut h, |app| {
        app.state
            .doc
            .nodes
            .values()
            .filter(|n| n.kind == "image")
            .count()
            == 2
    });
    let images = h
        .state()
        .state
        .doc
        .nodes
        .values()
        .filter(|n| n.kind == "image")
        .count();
    assert_eq!(images, 2);
    // Selected, an imported image shows its picture in the inspector (decoded off the UI
    // thread, from the project's assets).
    let photo = h
        .state()
        .state
        .doc
        .nodes
        .values()
        .find(|n| n.kind == "image" && n.params["file"]["name"] == "a.png")
        .map(|n| n.id)
        .expect("a.png node");
    h.state_mut().state.selection = std::collections::BTreeSet::from([photo]);
    h.run();
    wait_until(&mut h, |app| app.preview_loaded(photo));
    let before = h.state().state.doc.clone();
    h.input_mut().dropped_files = vec![Arc::new(TestFile {
        path: "/photos/broken.jpg".into(),
        bytes: b"\xff\xd8\xff\xe0 truncated".to_vec(),
    })];
    h.run();
    wait_until(&mut h, |app| {
        app.message
            .as_deref()
            .is_some_and(|m| m.contains("broken.jpg"))
    });
    assert_eq!(
        h.state().state.doc,
        before,
        "a corrupt file changes nothing"
    );
    assert!(
        h.state()
            .message
            .as_deref()
            .is_some_and(|m| m.contains("broken.jpg"))
    );

    // Wire the audio away (the t2v would need a portrait) and run the board on the draft route.
    press(&mut h, "Audio");
    h.key_press(egui::Key::Delete);
    h.run();
    assert!(h.state().state.doc.node(audio).is_none());
    h.get_by_label("Run board · 0 credits").click();
    h.run_steps(1);
    wait_for_run(&mut h);
    let doc = &h.state().state.doc;
    for id in [t2i, i2v] {
        let n = doc.node(id).expect("node");
        let take = n.active_take().expect("a take after the run");
        assert!(take.meta.draft, "draft results are marked");
        assert!(!take.outputs.is_empty());
    }

    // A new seed and another run make a second take; picking the first restores its seed.
    press(&mut h, "Text to Image");
    let first_seed = h.state().state.doc.node(t2i).expect("t2i").seed();
    press(&mut h, "New seed");
    assert_ne!(
        h.state().state.doc.node(t2i).expect("t2i").seed(),
        first_seed,
        "a new seed"
    );
    h.get_by_label("Run node").click();
    h.run_steps(1);
    wait_for_run(&mut h);
    assert_eq!(h.state().state.doc.node(t2i).expect("t2i").takes.len(), 2);
    press(&mut h, "Compare #1");
    assert!(
        h.state().panels.inspector.comparing().is_some(),
        "compare chosen"
    );
    assert!(
        h.query_by_label("Take #1").is_some() && h.query_by_label("Take #2 (active)").is_some(),
        "two takes side by side"
    );
    press(&mut h, "Stop comparing");
    let first_take = h
        .get_all_by_role(egui::accesskit::Role::Button)
        .find(|n| {
            n.accesskit_node()
                .label()
                .is_some_and(|l| l.starts_with("#1 draft"))
        })
        .expect("take #1 in the strip");
    first_take.click();
    h.run();
    assert_eq!(
        h.state().state.doc.node(t2i).expect("t2i").seed(),
        first_seed
    );

    // Export the active take with its sidecar.
    press(&mut h, "Export take…");
    press(&mut h, "Export files");
    // Written off the UI thread.
    wait_until(&mut h, |app| app.loaders.exporting.is_none());
    let exported: Vec<PathBuf> = std::fs::read_dir(f.root().join("exports"))
        .expect("exports folder")
        .map(|e| e.expect("entry").path())
        .collect();
    let has = |ext: &str| {
        exported
            .iter()
            .any(|p| p.extension().is_some_and(|e| e == ext))
    };
    assert!(has("png") && has("json"), "{exported:?}");

    // Copy the active take's image to the clipboard (decoded off the UI thread).
    press(&mut h, "Copy image");
    wait_until(&mut h, |app| app.message.as_deref() == Some("image copied"));

    // Save, reopen: the same board.
    h.key_press_modifiers(Modifiers::COMMAND, egui::Key::S);
    h.run();
    assert!(!h.state().state.is_modified());
    let saved = h.state().state.doc.clone();
    // The recent list is written off the UI thread.
    wait_until(&mut h, |app| app.recent.len() == 1);

    // Idle: with nothing running and nothing to autosave, the app asks for no frame at all
    // (once the previews it asked for have arrived).
    wait_until(&mut h, |app| app.loaders.previews.settled());
    h.run();
    assert!(!h.ctx.has_requested_repaint(), "an idle app paints nothing");
    let reopened = AppState::open(&f.root()).expect("reopen");
    assert_eq!(reopened.doc, saved);

    // An edit, a pause long enough for autosave, then a crash: reopening offers the edit.
    add_from_palette(
        &mut h,
        canvas.min + egui::vec2(900.0, 80.0),
        "Prompt  ·  0 cr",
    );
    std::thread::sleep(super::state::AUTOSAVE_AFTER + Duration::from_millis(200));
    h.run();
    let unsaved = h.state().state.doc.clone();
    drop(h);
    let recovered =
        aktion_graph::project::recoverable(&f.root(), Catalog::builtin()).expect("recoverable");
    assert_eq!(recovered, unsaved);
    assert_eq!(
        AppState::open(&f.root()).expect("open").doc,
        saved,
        "project.json itself untouched"
    );
}

#[test]
fn the_jobs_panel_estimates_time_left() {
    assert_eq!(
        super::jobs::eta_text(10.0, Some(0.5), 120),
        "10 s · ~10 s left"
    );
    assert_eq!(
        super::jobs::eta_text(30.0, None, 120),
        "30 s · ~1 min 30 s left"
    );
    assert_eq!(
        super::jobs::eta_text(200.0, None, 120),
        "3 min 20 s · finishing"
    );
    assert_eq!(
        super::jobs::eta_text(5.0, Some(0.01), 60),
        "5 s · ~55 s left",
        "tiny fractions fall back to the typical time"
    );
}

/// An `aktion-server` on a loopback port, in its own runtime.
struct Server {
    runtime: tokio::runtime::Runtime,
    url: String,
    state: aktion_server::AppState,
    _dir: tempfile::TempDir,
}

/// A runtime for the servers a test starts beside the app (fakes, the account server, Stripe).
fn one_worker_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime")
}

impl Server {
    fn start() -> Self {
        Self::start_with(None)
    }

    /// With billing against a Stripe stand-in.
    fn start_with(billing: Option<aktion_server::billing::BillingConfig>) -> Self {
        let runtime = one_worker_runtime();
        let dir = tempfile::tempdir().expect("tmp");
        let db = format!("sqlite://{}", dir.path().join("server.db").display());
        let url = runtime.block_on(async {
            let config = aktion_server::Config {
                password_cost: aktion_server::auth::PasswordCost {
                    memory_kib: 1024,
                    passes: 1,
                },
                // A studio that gives new accounts credits (the server's default is none).
                starter_grant: 20,
                billing,
                ..aktion_server::Config::default()
            };
            let (state, _) = aktion_server::start(&db, config).await.expect("server");
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let url = format!("http://{}", listener.local_addr().expect("addr"));
            tokio::spawn(aktion_server::serve(
                listener,
                state.clone(),
                std::future::pending(),
            ));
            (url, state)
        });
        Self {
            runtime,
            url: url.0,
            state: url.1,
            _dir: dir,
        }
    }

    /// Follows the verification link mailed to `email` (read from the server's outbox, where
    /// the mail waits without SMTP), as the user would in their mail program.
    fn confirm_email(&self, email: &str) {
        self.runtime.block_on(async {
            let text: String = sqlx::query_scalar(
                "SELECT body_text FROM outbox WHERE recipient = $1 AND template = 'verify-email' \
                 ORDER BY id DESC LIMIT 1",
            )
            .bind(email)
            .fetch_one(&self.state.db.pool)
            .await
            .expect("the verification mail");
            let token = text
                .split("token=")
                .nth(1)
                .and_then(|t| t.split_whitespace().next())
                .expect("a link with a token");
            aktion_server::accounts::verify_email(&self.state, token)
                .await
                .expect("verified");
        });
    }
}

fn text_field(h: &mut Harness<'_, Studio>, label: &str, text: &str) {
    h.get_by_label(label).click();
    h.run();
    h.get_by_label(label).type_text(text);
    h.run();
}

/// A breached password is refused with the server's reason, shown as an error; nothing is
/// signed in and the password field is left empty for the next try.
fn refused_sign_up_says_why(h: &mut Harness<'_, Studio>) {
    // A breached password is refused with the server's reason, shown as an error.
    text_field(h, "Password", "Password123456");
    press(h, "Create account");
    wait_until(h, |app| app.panels.account.notice.is_some());
    h.run();
    assert_eq!(
        h.state().panels.account.notice_kind,
        super::account::NoticeKind::Error
    );
    assert!(
        h.query_by_label_contains("lists of breached passwords")
            .is_some()
    );
    assert!(!h.state().panels.account.signed_in());
    h.state_mut().panels.account.password.clear();
}

#[test]
fn the_account_window_signs_up_shows_credits_and_controls_data_sharing() {
    let server = Server::start();
    let fx = Fixture::new();
    let mut h = fx.harness(AppState::new(Document::default(), fx.root()));
    let store = aktion_account::secrets::SecretStore::file_only(&fx.dir.path().join("secrets"));
    h.state_mut()
        .panels
        .account
        .set_secrets(Some(store.clone()));
    h.state_mut().panels.account.server.clone_from(&server.url);
    h.run();

    press(&mut h, "Sign in");
    text_field(&mut h, "Email", "director@example.com");
    refused_sign_up_says_why(&mut h);
    text_field(&mut h, "Password", "correct horse");
    press(&mut h, "Create account");
    wait_until(&mut h, |app| app.panels.account.me.is_some());
    h.run();
    assert!(h.state().panels.account.signed_in());
    // The starter grant waits for the address: the banner says so.
    assert!(h.query_by_label("0 credits").is_some());
    assert!(h.query_by_label("Confirm your email").is_some());
    server.confirm_email("director@example.com");
    press_idle(&mut h, "I have confirmed it");
    wait_until(&mut h, |app| {
        app.panels
            .account
            .me
            .as_ref()
            .is_some_and(|m| m.email_verified)
    });
    h.run();
    assert!(h.query_by_label("Confirm your email").is_none());
    // The starter grant, in the toolbar; the session kept in the (file) store, said so.
    assert!(h.query_by_label("20 credits").is_some());
    let token = store
        .get(aktion_account::secrets::ACCOUNT_TOKEN)
        .expect("store")
        .expect("the token is kept");
    assert!(!token.is_empty());
    assert!(
        h.state()
            .panels
            .account
            .notice
            .as_deref()
            .is_some_and(|n| n.contains("no system keychain")),
        "{:?}",
        h.state().panels.account.notice
    );
    assert_eq!(
        h.state().panels.account.notice_kind,
        super::account::NoticeKind::News,
        "news, not an error"
    );
    assert!(
        h.state().panels.account.password.is_empty(),
        "the password is not kept"
    );

    // Data sharing: the toggle earns the discount, shows the date, lists what is shared.
    press_idle(
        &mut h,
        "Share my results to train better models (10 % off the membership)",
    );
    wait_until(&mut h, |app| {
        app.panels
            .account
            .me
            .as_ref()
            .is_some_and(|m| m.data_sharing.opt_in)
    });
    h.run();
    assert!(h.query_by_label_contains("Sharing since").is_some());
    press_idle(&mut h, "What data is shared?");
    assert!(h.query_by_label_contains("the prompt").is_some());
    press_idle(&mut h, "Delete my shared data");
    wait_until(&mut h, |app| {
        app.panels
            .account
            .notice
            .as_deref()
            .is_some_and(|n| n.starts_with("deleted 0 shared record"))
    });

    // Sign out: the token leaves the store; the button says "Sign in" again.
    press_idle(&mut h, "Sign out");
    wait_until(&mut h, |app| !app.panels.account.signed_in());
    h.run();
    assert_eq!(
        store
            .get(aktion_account::secrets::ACCOUNT_TOKEN)
            .expect("store"),
        None
    );
    assert_eq!(
        h.query_all_by_label("Sign in").count(),
        2,
        "the toolbar and the window offer it again"
    );
}

/// Forgot password, change password, sign out everywhere and delete account, driven in the
/// window as a user would.
#[test]
fn the_account_window_resets_changes_the_password_and_deletes_the_account() {
    let server = Server::start();
    let fx = Fixture::new();
    let mut h = fx.harness(AppState::new(Document::default(), fx.root()));
    let store = aktion_account::secrets::SecretStore::file_only(&fx.dir.path().join("secrets"));
    h.state_mut()
        .panels
        .account
        .set_secrets(Some(store.clone()));
    h.state_mut().panels.account.server.clone_from(&server.url);
    h.run();
    press(&mut h, "Sign in");
    text_field(&mut h, "Email", "editor@example.com");
    press_idle(&mut h, "Forgot password?");
    wait_until(&mut h, |app| {
        app.panels
            .account
            .notice
            .as_deref()
            .is_some_and(|n| n.contains("link to choose a new password"))
    });
    text_field(&mut h, "Password", "correct horse");
    press(&mut h, "Create account");
    wait_until(&mut h, |app| app.panels.account.me.is_some());
    h.run();

    // A second device, signed in with the old password.
    let other = server.runtime.block_on(async {
        aktion_account::AccountClient::new(&server.url, None)
            .expect("client")
            .login("editor@example.com", "correct horse")
            .await
            .expect("login")
            .token
    });
    // The window settles first (this server sells nothing: it says so).
    wait_until(&mut h, |app| app.panels.account.billing_note.is_some());
    h.run();
    assert!(
        h.query_by_label_contains("Buying is not available")
            .is_some()
    );
    press(&mut h, "Change password");
    h.run();
    text_field(&mut h, "Current password", "correct horse");
    text_field(&mut h, "New password", "a much longer password");
    wait_until(&mut h, |app| !app.panels.account.busy());
    h.run();
    press_nth(&mut h, "Change password", 1);
    wait_until(&mut h, |app| {
        app.panels
            .account
            .notice
            .as_deref()
            .is_some_and(|n| n.starts_with("password changed; 1 other"))
    });
    let other_now = server.runtime.block_on(
        aktion_account::AccountClient::new(&server.url, Some(other))
            .expect("client")
            .me(),
    );
    assert!(other_now.is_err(), "the other device is signed out");
    assert!(h.state().panels.account.signed_in(), "this one stays");

    // Delete: needs the password and the confirmation box.
    press_idle(&mut h, "Delete account");
    h.run();
    text_field(&mut h, "Password", "a much longer password");
    assert!(
        h.get_by_label("Delete my account")
            .accesskit_node()
            .is_disabled(),
        "not before the box is ticked"
    );
    press_idle(&mut h, "I understand that this cannot be undone");
    h.run();
    press_idle(&mut h, "Delete my account");
    wait_until(&mut h, |app| !app.panels.account.signed_in());
    h.run();
    assert_eq!(
        store
            .get(aktion_account::secrets::ACCOUNT_TOKEN)
            .expect("store"),
        None,
        "the token leaves the store"
    );
    let gone = server.runtime.block_on(
        aktion_account::AccountClient::new(&server.url, None)
            .expect("client")
            .login("editor@example.com", "a much longer password"),
    );
    assert!(gone.is_err(), "the account is gone");
}

/// Account → Buy credits opens Stripe Checkout in the browser; the balance updates by itself
/// when the payment's webhook lands on the server.
#[test]
fn buying_credits_opens_checkout_and_the_balance_follows_the_webhook() {
    let stripe = one_worker_runtime();
    let (stripe_url, _stand_in) = stripe.block_on(aktion_fakes::stripe::start());
    let server = Server::start_with(Some(aktion_server::billing::BillingConfig {
        secret_key: aktion_fakes::stripe::SECRET_KEY.to_owned(),
        webhook_secrets: vec!["whsec_app".to_owned()],
        base_url: stripe_url,
        membership_price: Some("price_member".to_owned()),
        membership_credits: 1000,
        packs: vec![aktion_server::billing::Pack {
            price: "price_500".to_owned(),
            credits: 500,
        }],
        coupon: "aktion-member-10".to_owned(),
    }));
    let fx = Fixture::new();
    let mut h = fx.harness(AppState::new(Document::default(), fx.root()));
    let opened = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let record = opened.clone();
    h.state_mut().panels.account.open_url = std::sync::Arc::new(move |url: &str| {
        record.lock().expect("lock").push(url.to_owned());
        Ok(())
    });
    h.state_mut().panels.account.server.clone_from(&server.url);
    h.run();
    press(&mut h, "Sign in");
    text_field(&mut h, "Email", "buyer@example.com");
    text_field(&mut h, "Password", "correct horse");
    press(&mut h, "Create account");
    wait_until(&mut h, |app| app.panels.account.billing.is_some());
    h.run();
    assert!(h.query_by_label("Become a member").is_some());
    press_idle(&mut h, "Buy 500 credits");
    wait_until(&mut h, |app| app.panels.account.opened.is_some());
    h.run();
    let url = opened
        .lock()
        .expect("lock")
        .first()
        .cloned()
        .expect("opened");
    assert!(url.starts_with("https://checkout.stripe.test/"), "{url}");
    assert!(h.state().panels.account.awaiting_payment());
    assert!(
        h.query_by_label("waiting for the payment to land…")
            .is_some()
    );

    // Stripe tells the server (the signature is checked in the server's own tests).
    let user = server
        .runtime
        .block_on(aktion_server::auth::user_by_email(
            &server.state.db,
            "buyer@example.com",
        ))
        .expect("db")
        .expect("user");
    let event = serde_json::json!({
        "id": "evt_app_1", "object": "event", "type": "checkout.session.completed",
        "created": 1, "data": {"object": {
            "id": "cs_app_1", "object": "checkout.session", "mode": "payment",
            "payment_status": "paid", "client_reference_id": user.id.to_string(),
            "metadata": {"credits": "500"}, "amount_total": 900, "currency": "eur",
            "payment_intent": "pi_app_1"}}});
    server
        .runtime
        .block_on(aktion_server::billing::receive(
            &server.state,
            event.to_string().as_bytes(),
        ))
        .expect("applied");
    wait_until(&mut h, |app| {
        app.panels
            .account
            .me
            .as_ref()
            .is_some_and(|m| m.balance == 500)
    });
    h.run();
    assert!(!h.state().panels.account.awaiting_payment());
    assert!(
        h.query_by_label("500 credits").is_some(),
        "the toolbar shows it"
    );
}

/// "Report a problem" on a failed node shows exactly what is sent (no prompt, no key), and
/// sends it only when asked, signed in or not; the server keeps it for the dashboard.
#[test]
fn a_failed_node_reports_its_problem_after_showing_what_is_sent() {
    let server = Server::start();
    let fx = Fixture::new();
    let mut doc = Document::default();
    let mut t2i =
        aktion_graph::Node::new(Catalog::builtin().get("t2i").expect("kind"), [100.0, 100.0]);
    t2i.params.insert("prompt".into(), "a red door".into());
    let t2i = doc.add_node(t2i);
    let mut h = fx.harness(AppState::new(doc, fx.root()));
    h.state_mut().panels.account.server.clone_from(&server.url);
    h.state_mut().runs.status.insert(
        t2i,
        super::view::RunStatus::Failed("A2E: the task failed (code 1004)".into()),
    );
    h.state_mut().state.selection = std::collections::BTreeSet::from([t2i]);
    h.run();
    press(&mut h, "Report a problem…");
    h.run();
    let report = h
        .state()
        .panels
        .account
        .report
        .clone()
        .expect("shown first");
    assert_eq!(report.node_kind, "t2i");
    assert_eq!(report.error, "A2E: the task failed (code 1004)");
    assert_eq!(report.provider.as_deref(), Some("a2e"));
    let shown = serde_json::to_string(&report).expect("json");
    assert!(!shown.contains("a red door"), "prompts stay here: {shown}");
    assert!(h.query_by_label_contains("no keys, no files").is_some());
    let count = |server: &Server| -> i64 {
        server.runtime.block_on(async {
            sqlx::query_scalar("SELECT COUNT(*) FROM problem_reports")
                .fetch_one(&server.state.db.pool)
                .await
                .expect("count")
        })
    };
    assert_eq!(count(&server), 0, "nothing sent before the user says so");
    press_idle(&mut h, "Send report");
    wait_until(&mut h, |app| {
        app.panels
            .account
            .notice
            .as_deref()
            .is_some_and(|n| n.starts_with("problem report #"))
    });
    assert!(h.state().panels.account.report.is_none());
    assert_eq!(count(&server), 1);
}

/// Rating a take in the inspector keeps it in the project and, for an account-route take,
/// sends it to the generation on the server.
#[test]
fn rating_an_account_take_keeps_it_and_sends_it() {
    let server = Server::start();
    let fx = Fixture::new();
    let mut doc = Document::default();
    let t2i = doc.add_node(aktion_graph::Node::new(
        Catalog::builtin().get("t2i").expect("kind"),
        [100.0, 100.0],
    ));
    let result = aktion_cache::CachedResult {
        outputs: vec![],
        meta: serde_json::json!({"route": "account", "provider": "account", "generation": "0123456789abcdef0123456789abcdef", "params": {}}),
        created_unix_ms: 1,
    };
    let take = aktion_engine::takes::record_take(&mut doc, t2i, "sig-ui", &result).expect("take");
    let mut h = fx.harness(AppState::new(doc, fx.root()));
    h.state_mut().panels.account.server.clone_from(&server.url);
    h.run();
    press(&mut h, "Sign in");
    text_field(&mut h, "Email", "rater@example.com");
    text_field(&mut h, "Password", "correct horse");
    press(&mut h, "Create account");
    wait_until(&mut h, |app| app.panels.account.me.is_some());
    // The generation that made the take, on the server.
    server.runtime.block_on(async {
        let user = aktion_server::auth::user_by_email(&server.state.db, "rater@example.com")
            .await
            .expect("db")
            .expect("user");
        sqlx::query(
            "INSERT INTO generations (id, user_id, kind, request, state, credits, lease_until, \
             created_at, finished_at) VALUES ('0123456789abcdef0123456789abcdef', $1, 't2i', '{\"kind\":\"t2i\"}', \
             'succeeded', 2, 0, 1, 2)",
        )
        .bind(user.id)
        .execute(server.state.db.writer())
        .await
        .expect("generation");
    });
    h.state_mut().panels.account.open = false;
    h.state_mut().state.selection = std::collections::BTreeSet::from([t2i]);
    h.run();
    press_idle(&mut h, "4/5");
    wait_until(&mut h, |app| {
        app.panels
            .account
            .notice
            .as_deref()
            .is_some_and(|n| n.starts_with("rated") || n.contains("not sent"))
    });
    assert_eq!(
        h.state().panels.account.notice.as_deref(),
        Some("rated 4 of 5; thank you")
    );
    let node = h.state().state.doc.node(t2i).expect("node").clone();
    assert_eq!(
        node.takes
            .iter()
            .find(|t| t.id == take)
            .and_then(|t| t.meta.rating),
        Some(4)
    );
    let on_server: Option<i64> = server.runtime.block_on(async {
        sqlx::query_scalar(
            "SELECT rating FROM generations WHERE id = '0123456789abcdef0123456789abcdef'",
        )
        .fetch_one(&server.state.db.pool)
        .await
        .expect("rating")
    });
    assert_eq!(on_server, Some(4));
}

/// An opted-in user's new direct-route result is shared after it lands (its file and its
/// record, on the server); nothing is shared while not opted in.
#[test]
#[expect(clippy::too_many_lines, reason = "share, then rate, step by step")]
fn an_opted_in_users_direct_result_is_shared_after_it_lands() {
    let server = Server::start();
    let fx = Fixture::new();
    let mut doc = Document::default();
    let mut t2i =
        aktion_graph::Node::new(Catalog::builtin().get("t2i").expect("kind"), [100.0, 100.0]);
    t2i.params
        .insert("prompt".into(), "a lighthouse at dusk".into());
    let t2i = doc.add_node(t2i);
    let mut h = fx.harness(AppState::new(doc, fx.root()));
    h.state_mut().panels.account.server.clone_from(&server.url);
    h.run();
    press(&mut h, "Sign in");
    text_field(&mut h, "Email", "sharer@example.com");
    text_field(&mut h, "Password", "correct horse");
    press(&mut h, "Create account");
    wait_until(&mut h, |app| app.panels.account.me.is_some());
    let png = {
        let mut out = std::io::Cursor::new(Vec::new());
        image::RgbaImage::from_pixel(4, 4, image::Rgba([200, 40, 40, 255]))
            .write_to(&mut out, image::ImageFormat::Png)
            .expect("png");
        out.into_inner()
    };
    let hash = h.state().engine.cache().put_bytes(&png).expect("cached");
    let finished = |cached: bool| super::runs::Finished {
        node: t2i,
        signature: "sig-share".into(),
        result: aktion_cache::CachedResult {
            outputs: vec![aktion_cache::CachedOutput {
                hash,
                mime: "image/png".into(),
                name: "out.png".into(),
                bytes: png.len() as u64,
            }],
            meta: serde_json::json!({"route": "direct", "provider": "replicate", "duration_ms": 5100,
                "params": {"prompt": "a lighthouse at dusk", "seed": 9}}),
            created_unix_ms: 1,
        },
        cached,
        ran_secs: 5,
        run: super::runs::RunId::default(),
    };
    let records = |server: &Server| -> i64 {
        server.runtime.block_on(async {
            sqlx::query_scalar("SELECT COUNT(*) FROM training_records")
                .fetch_one(&server.state.db.pool)
                .await
                .expect("count")
        })
    };
    // Not opted in: nothing leaves.
    h.state_mut().share_result(&finished(false));
    wait_until(&mut h, |app| !app.panels.account.busy());
    assert_eq!(records(&server), 0, "not opted in: nothing leaves");
    press_idle(
        &mut h,
        "Share my results to train better models (10 % off the membership)",
    );
    wait_until(&mut h, |app| {
        app.panels
            .account
            .me
            .as_ref()
            .is_some_and(|m| m.data_sharing.opt_in)
    });
    h.state_mut().share_result(&finished(true));
    wait_until(&mut h, |app| !app.panels.account.busy());
    assert_eq!(
        records(&server),
        0,
        "a cache hit was shared when it was made"
    );
    h.state_mut().share_result(&finished(false));
    wait_until(&mut h, |app| !app.panels.account.busy());
    assert_eq!(records(&server), 1, "{:?}", h.state().panels.account.notice);
    let (prompt, ms): (Option<String>, Option<i64>) = server.runtime.block_on(async {
        sqlx::query_as("SELECT prompt, generation_ms FROM training_records")
            .fetch_one(&server.state.db.pool)
            .await
            .expect("record")
    });
    assert_eq!(prompt.as_deref(), Some("a lighthouse at dusk"));
    assert_eq!(ms, Some(5100));

    // Rating the take later rates the shared record too.
    let landed = finished(false);
    h.state_mut()
        .state
        .record_result(t2i, &landed.signature, &landed.result);
    h.state_mut().panels.account.open = false;
    h.state_mut().state.selection = std::collections::BTreeSet::from([t2i]);
    h.run();
    press_idle(&mut h, "5/5");
    wait_until(&mut h, |app| {
        app.panels
            .account
            .notice
            .as_deref()
            .is_some_and(|n| n.starts_with("rated") || n.contains("not sent"))
    });
    let rating: Option<i64> = server.runtime.block_on(async {
        sqlx::query_scalar("SELECT rating FROM training_records")
            .fetch_one(&server.state.db.pool)
            .await
            .expect("rating")
    });
    assert_eq!(rating, Some(5), "{:?}", h.state().panels.account.notice);
}

#[test]
fn first_launch_opens_a_copy_of_the_example_then_the_last_project() {
    let dir = tempfile::tempdir().expect("tmp");
    let (config, data) = (dir.path().join("config"), dir.path().join("data"));
    let first = super::starting_project(Some(&config), Some(&data));
    assert_eq!(first, data.join("Rooftop showdown.aktion"));
    assert!(
        first.join("project.json").is_file(),
        "copied, with its assets"
    );
    assert!(first.join("assets").is_dir());
    assert!(AppState::open(&first).is_ok());
    // Edits there never reach the bundled example; a second launch opens the same copy.
    std::fs::write(first.join("marker"), b"edited").expect("write");
    assert_eq!(super::starting_project(Some(&config), Some(&data)), first);
    assert!(first.join("marker").is_file(), "not copied over again");
    // Once there is a recent project, that one opens.
    let other = dir.path().join("film.aktion");
    std::fs::create_dir_all(&other).expect("mkdir");
    super::recent::remember_in(&config, &other).expect("remember");
    assert_eq!(super::starting_project(Some(&config), Some(&data)), other);
}

/// 16-bit mono PCM WAV of a 440 Hz tone.
fn wav(seconds: f32) -> Vec<u8> {
    let rate = 8000u32;
    let n = (seconds * rate as f32) as u32;
    let mut out = Vec::new();
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + n * 2).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&(rate * 2).to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&(n * 2).to_le_bytes());
    for i in 0..n {
        let v = ((i as f32 * 440.0 * std::f32::consts::TAU / rate as f32).sin() * 12_000.0) as i16;
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

#[test]
fn clips_play_and_sounds_show_their_waveform_in_the_inspector() {
    let fx = Fixture::new();
    let mut h = fx.harness(AppState::new(Document::default(), fx.root()));
    h.run();
    let canvas = h.get_by_label("Node canvas").rect();
    h.hover_at(canvas.center());
    let frames = (0..4)
        .map(|i| image::RgbaImage::from_pixel(96, 54, image::Rgba([i * 60, 40, 90, 255])))
        .collect();
    let gif = aktion_media::encode_gif(&aktion_media::Clip { frames, fps: 8 }).expect("gif");
    h.input_mut().dropped_files = vec![
        Arc::new(TestFile {
            path: "/footage/rehearsal.gif".into(),
            bytes: gif,
        }),
        Arc::new(TestFile {
            path: "/sound/line.wav".into(),
            bytes: wav(1.5),
        }),
    ];
    h.run();
    wait_until(&mut h, |app| app.state.doc.nodes.len() == 2);
    let find = |h: &Harness<'_, Studio>, kind: &str| {
        h.state()
            .state
            .doc
            .nodes
            .values()
            .find(|n| n.kind == kind)
            .map_or_else(|| panic!("a {kind} node"), |n| n.id)
    };
    let (clip, sound) = (find(&h, "video"), find(&h, "audio"));

    h.state_mut().state.selection = std::collections::BTreeSet::from([clip]);
    h.run();
    wait_until(&mut h, |app| app.preview_loaded(clip));
    h.run();
    assert!(h.query_by_label_contains("4 frames").is_some());
    press(&mut h, "Play");
    let key = |h: &Harness<'_, Studio>, id: NodeId| {
        h.state().state.doc.node(id).expect("node").params["file"]["hash"]
            .as_str()
            .expect("hash")
            .to_owned()
    };
    let clip_key = key(&h, clip);
    assert!(h.state().loaders.media.is_playing(&clip_key));
    press(&mut h, "Pause");
    assert!(!h.state().loaders.media.is_playing(&clip_key));

    h.state_mut().state.selection = std::collections::BTreeSet::from([sound]);
    h.run();
    wait_until(&mut h, |app| app.preview_loaded(sound));
    h.run();
    assert!(h.query_by_label("sound · 00:00.00 / 00:01.50").is_some());
    // No audio device in this setup: Play says so, and nothing else fails.
    let sound_key = key(&h, sound);
    press(&mut h, "Play");
    wait_until(&mut h, |app| {
        app.loaders
            .media
            .sound_player(&sound_key)
            .and_then(super::sound::SoundPlayer::status)
            .is_some_and(|s| s.contains("no audio device"))
    });
}

/// Clicks the `index`-th widget labelled `label` (Settings has a Save and a Test connection per
/// provider).
fn press_nth(h: &mut Harness<'_, Studio>, label: &str, index: usize) {
    let at = h
        .get_all_by_label(label)
        .nth(index)
        .unwrap_or_else(|| panic!("a {index}th {label:?}"))
        .rect()
        .center();
    click_at(h, at);
}

/// Settings → Providers, Routes, Cache, driven as a filmmaker would: a key saved to the (file)
/// secret store and removed again, the ComfyUI address pointed at a server (a fake that
/// validates prompts as ComfyUI does), its connection test listing what it can run, a board run
/// on the comfyui route reaching that server at once, and the cache shown and cleared.
#[test]
#[expect(
    clippy::too_many_lines,
    reason = "one visit to Settings, tab by tab, as a filmmaker makes it"
)]
fn settings_keep_keys_point_comfyui_at_a_server_and_show_the_cache() {
    use aktion_providers::ProviderKind;
    use settings_under_test::*;

    let rt = one_worker_runtime();
    let comfy = rt
        .block_on(aktion_fakes::Fake::start(aktion_fakes::Flavor::ComfyUi))
        .expect("fake");
    comfy.set_script(vec![aktion_fakes::Step::Succeed]);
    let fx = Fixture::new();
    let mut doc = Document::default();
    let mut t2i =
        aktion_graph::Node::new(Catalog::builtin().get("t2i").expect("kind"), [100.0, 100.0]);
    t2i.params.insert("prompt".into(), "a red door".into());
    let t2i = doc.add_node(t2i);
    let mut h = fx.harness(AppState::new(doc, fx.root()));
    let store = aktion_account::secrets::SecretStore::file_only(&fx.dir.path().join("secrets"));
    let config = fx.dir.path().join("config");
    h.state_mut()
        .panels
        .settings
        .set_storage(Some(store.clone()), Some(config.clone()));
    h.run();

    press(&mut h, "Settings");
    text_field(&mut h, "Replicate key", "r8_SETTINGS_KEY_never_shown");
    press_nth(&mut h, "Save", 1);
    // Kept off the UI thread; the window says where once it is done.
    wait_until(&mut h, |app| !app.panels.settings.busy());
    assert_eq!(
        store.get("REPLICATE_API_TOKEN").expect("store").as_deref(),
        Some("r8_SETTINGS_KEY_never_shown")
    );
    assert!(matches!(
        h.state().panels.settings.source(ProviderKind::Replicate),
        KeySource::Saved(_)
    ));
    assert!(
        h.state().panels.settings.keys[&ProviderKind::Replicate].is_empty(),
        "field cleared"
    );

    text_field(&mut h, "Address", &comfy.base_url());
    press_nth(&mut h, "Save", 4);
    wait_until(&mut h, |app| !app.panels.settings.busy());
    assert_eq!(
        Prefs::load(&config).comfyui_url.as_deref(),
        Some(comfy.base_url().as_str())
    );
    press_nth(&mut h, "Test connection", 4);
    wait_until(&mut h, |app| {
        app.panels
            .settings
            .checks
            .contains_key(&ProviderKind::ComfyUi)
    });
    let check = h.state().panels.settings.checks[&ProviderKind::ComfyUi].clone();
    assert!(
        check.ok && check.summary.contains("ComfyUI 0.3.66"),
        "{check:?}"
    );
    assert!(check.details[0].starts_with("ready: "), "{check:?}");
    assert!(h.get_by_label(&check.summary).rect().width() > 0.0, "shown");

    // The comfyui route follows the new address at once.
    h.state_mut()
        .set_default_route(aktion_graph::Route::Comfyui);
    h.state_mut().start_run(Vec::new());
    wait_for_run(&mut h);
    assert_eq!(comfy.submissions(), 1);
    assert_eq!(
        h.state().state.doc.nodes[&t2i].takes.len(),
        1,
        "{:?}",
        h.state().message
    );

    // Routes: one line per generating kind; a choice is a board edit with undo.
    press(&mut h, "Routes");
    // The board's node and the Routes line answer to the kind's name.
    assert!(h.get_all_by_label("Text to Image").count() >= 2);
    assert!(
        h.query_by_label("Epic Scene").is_some(),
        "every generating kind is listed"
    );
    h.state_mut().apply(super::state::Command::SetKindRoute {
        kind: "t2i".into(),
        route: Some(aktion_graph::Route::Direct),
    });
    h.run();
    assert_eq!(
        h.state().state.doc.settings.routes.get("t2i"),
        Some(&aktion_graph::Route::Direct)
    );
    h.state_mut().apply(super::state::Command::Undo);
    h.run();
    assert!(h.state().state.doc.settings.routes.is_empty());

    // Cache: what is kept, and clearing it.
    press(&mut h, "Cache");
    wait_until(
        &mut h,
        |app| matches!(&app.panels.settings.stats, Some(Ok(s)) if s.entries > 0),
    );
    press(&mut h, "Clear cache");
    wait_until(
        &mut h,
        |app| matches!(&app.panels.settings.stats, Some(Ok(s)) if s.entries == 0),
    );
    assert!(
        h.state()
            .panels
            .settings
            .notice
            .as_deref()
            .is_some_and(|n| n.starts_with("the cache is empty")),
        "{:?}",
        h.state().panels.settings.notice
    );

    // The key goes again; it was never written to the project or the settings file.
    press(&mut h, "Providers");
    press_nth(&mut h, "Remove", 1);
    wait_until(&mut h, |app| !app.panels.settings.busy());
    assert_eq!(store.get("REPLICATE_API_TOKEN").expect("store"), None);
    h.state_mut().save();
    for dir in [fx.root(), config] {
        for f in walk(&dir) {
            let bytes = std::fs::read(&f).unwrap_or_default();
            assert!(
                !bytes
                    .windows(b"r8_SETTINGS".len())
                    .any(|w| w == b"r8_SETTINGS"),
                "key in {}",
                f.display()
            );
        }
    }
    drop(rt);
}

mod settings_under_test {
    pub use super::super::settings::{KeySource, Prefs};
}

fn walk(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// The Epic Scene panel (PRODUCT.md §4.6): six slots filled from the board's selection and by
/// a file dropped on a slot, Generate enabled only when all six are filled, then the scene node
/// is on the board with its six images wired in order, runs (draft route here: offline), and
/// shows its progress and result; the whole placement is one undo step.
#[test]
fn the_epic_scene_panel_fills_six_slots_generates_and_places_the_scene() {
    let fx = Fixture::new();
    let mut doc = Document::default();
    let sketch = Catalog::builtin().get("sketch").expect("kind");
    let sketches: Vec<NodeId> = (0..5)
        .map(|i| doc.add_node(aktion_graph::Node::new(sketch, [0.0, 140.0 * i as f32])))
        .collect();
    let mut h = fx.harness(AppState::new(doc, fx.root()));
    h.state_mut().state.selection = sketches.iter().copied().collect();
    h.run();

    press(&mut h, "Run");
    press(&mut h, "Epic Scene…");
    assert!(h.state().panels.epic.open);
    let generate = "Generate · 10 credits";
    press(&mut h, "Fill from selection");
    assert_eq!(
        h.state().panels.epic.filled(),
        5,
        "five image nodes selected"
    );
    // In board order, top to bottom.
    assert_eq!(
        h.state().panels.epic.slots[0],
        Some(super::state::SceneImage::Node(sketches[0]))
    );
    press(&mut h, generate);
    assert!(
        h.state().panels.epic.node.is_none(),
        "Generate does nothing with a slot empty"
    );

    // The sixth image: a file dropped on the empty slot.
    let slot = h.state().panels.epic.slot_rects[5].center();
    h.hover_at(slot);
    h.input_mut().dropped_files = vec![Arc::new(TestFile {
        path: "/photos/rooftop.png".into(),
        bytes: png(40, 30),
    })];
    h.run();
    wait_until(&mut h, |app| app.panels.epic.filled() == 6);
    // The dropped file's slot shows its picture (decoded off the UI thread).
    let Some(super::state::SceneImage::File(file)) = h.state().panels.epic.slots[5].clone() else {
        panic!("the sixth slot holds the dropped file");
    };
    wait_until(&mut h, |app| {
        app.loaders.previews.get(&file.asset.hash).is_some()
    });
    let nodes_before = h.state().state.doc.nodes.len();

    text_field(&mut h, "Prompt (optional)", "the showdown, wide");
    press(&mut h, generate);
    let scene = h.state().panels.epic.node.expect("the scene node");
    wait_for_run(&mut h);
    let doc = &h.state().state.doc;
    assert_eq!(
        doc.nodes.len(),
        nodes_before + 2,
        "the scene and the dropped image"
    );
    assert_eq!(doc.nodes[&scene].kind, "coherent_scene");
    assert_eq!(doc.nodes[&scene].params["prompt"], "the showdown, wide");
    let mut wires: Vec<_> = doc.wires.iter().filter(|w| w.to == scene).collect();
    wires.sort_by_key(|w| w.slot);
    assert_eq!(wires.len(), 6);
    assert_eq!(
        wires.iter().take(5).map(|w| w.from).collect::<Vec<_>>(),
        sketches,
        "slots in order"
    );
    assert_eq!(doc.nodes[&wires[5].from].kind, "image");
    assert_eq!(doc.nodes[&scene].takes.len(), 1, "{:?}", h.state().message);
    assert!(
        h.state().panels.epic.slots.iter().all(Option::is_none),
        "emptied for the next one"
    );
    assert!(
        h.query_by_label_contains("Done: the scene is on the board")
            .is_some(),
        "the panel says where the result is"
    );

    // One step undoes the placement; the board's own nodes stay.
    h.state_mut().apply(super::state::Command::Undo);
    h.run();
    assert_eq!(h.state().state.doc.nodes.len(), nodes_before);
    assert!(!h.state().state.doc.nodes.contains_key(&scene));
}

/// A provider route for tests: jobs whose prompt says "long" run until the gate opens (or they
/// are cancelled); the others finish at once. Outputs are small PNGs in the cache.
struct GatedExecutor {
    open: tokio::sync::watch::Sender<bool>,
}

impl aktion_engine::Executor for GatedExecutor {
    fn version(&self, _kind: &aktion_graph::KindSchema) -> String {
        "gated-test:1".into()
    }

    fn limit(&self, _kind: &aktion_graph::KindSchema) -> (String, usize) {
        ("gated".into(), 8)
    }

    fn execute(
        &self,
        job: aktion_engine::Job,
        ctx: aktion_engine::JobContext,
    ) -> aktion_engine::BoxFuture<'static, Result<aktion_engine::JobOutput, aktion_engine::ExecError>>
    {
        let mut open = self.open.subscribe();
        Box::pin(async move {
            // Like a provider: the job is journaled once submitted, and a restart follows the
            // journaled job instead of submitting again.
            let resumed = ctx.journal.resume_handle().is_some();
            if resumed || job.param_str("prompt").contains("long") {
                if !resumed {
                    ctx.journal
                        .record(serde_json::json!({ "job": "gated-1" }))
                        .expect("journal");
                }
                ctx.progress(Some(0.1), "rendering");
                tokio::select! {
                    () = ctx.cancel.cancelled() => return Err(aktion_engine::ExecError::Cancelled),
                    _ = open.wait_for(|o| *o) => {}
                }
            }
            ctx.journal.clear();
            let out = ctx.store(&png(8, 8), "image/png", "out.png")?;
            Ok(aktion_engine::JobOutput {
                outputs: vec![out],
                meta: aktion_engine::TakeMeta {
                    provider: "gated".into(),
                    ..aktion_engine::TakeMeta::default()
                },
            })
        })
    }
}

fn status_of(app: &Studio, node: NodeId) -> Option<super::view::RunStatus> {
    app.runs.status.get(&node).cloned()
}

#[test]
fn a_long_epic_scene_does_not_block_other_runs_and_jobs_cancel_on_their_own() {
    use super::AppCommand;
    use super::view::RunStatus;
    let fx = Fixture::new();
    let mut doc = Document::default();
    let catalog = Catalog::builtin();
    let sketch = catalog.get("sketch").expect("kind");
    let scene_kind = catalog.get("coherent_scene").expect("kind");
    let t2i = catalog.get("t2i").expect("kind");
    let mut scene = aktion_graph::Node::new(scene_kind, [600.0, 0.0]);
    scene
        .params
        .insert("prompt".into(), "a long showdown".into());
    let scene = doc.add_node(scene);
    for i in 0..6 {
        let s = doc.add_node(aktion_graph::Node::new(sketch, [0.0, 140.0 * i as f32]));
        doc.connect(
            catalog,
            aktion_graph::Wire {
                from: s,
                to: scene,
                input: "images".into(),
                slot: i,
            },
            false,
        )
        .expect("wire");
    }
    let mut quick = aktion_graph::Node::new(t2i, [900.0, 0.0]);
    quick.params.insert("prompt".into(), "a quick look".into());
    let quick = doc.add_node(quick);
    let mut slow = aktion_graph::Node::new(t2i, [900.0, 300.0]);
    slow.params.insert("prompt".into(), "a long wait".into());
    let slow = doc.add_node(slow);

    let (open, _) = tokio::sync::watch::channel(false);
    let mut studio = fx.studio(AppState::new(doc, fx.root()));
    studio.engine.set_route(
        aktion_graph::Route::Direct,
        Arc::new(GatedExecutor { open: open.clone() }),
    );
    studio.set_default_route(aktion_graph::Route::Direct);
    let mut h = Harness::builder()
        .with_size(egui::vec2(1400.0, 900.0))
        .with_max_steps(32)
        .build_ui_state(|ui, app: &mut Studio| app.frame_ui(ui), studio);
    h.run();

    h.state_mut().send(AppCommand::Run(vec![scene]));
    wait_until(&mut h, |app| {
        matches!(status_of(app, scene), Some(RunStatus::Running { .. }))
    });
    // Another node runs and finishes while the scene goes on.
    h.state_mut().send(AppCommand::Run(vec![quick]));
    wait_until(&mut h, |app| app.state.doc.nodes[&quick].takes.len() == 1);
    assert!(
        matches!(status_of(h.state(), scene), Some(RunStatus::Running { .. })),
        "the scene is still running"
    );
    assert!(
        h.query_by_label_contains("Run board").is_some(),
        "running never disables the next run"
    );

    // A third, long job; cancelling the scene's job leaves it going.
    h.state_mut().send(AppCommand::Run(vec![slow]));
    wait_until(&mut h, |app| {
        matches!(status_of(app, slow), Some(RunStatus::Running { .. }))
    });
    assert_eq!(h.state().runs.runs().len(), 2, "two runs going at once");
    h.state_mut().send(AppCommand::CancelJob(scene));
    wait_until(&mut h, |app| {
        matches!(status_of(app, scene), Some(RunStatus::Cancelled))
    });
    assert!(
        matches!(status_of(h.state(), slow), Some(RunStatus::Running { .. })),
        "the other job goes on"
    );
    open.send_replace(true);
    wait_until(&mut h, |app| app.state.doc.nodes[&slow].takes.len() == 1);
    wait_for_run(&mut h);
    assert!(h.state().state.doc.nodes[&scene].takes.is_empty());
}

fn gated_harness(
    fx: &Fixture,
    doc: Document,
    open: &tokio::sync::watch::Sender<bool>,
) -> Harness<'static, Studio> {
    let mut studio = fx.studio(AppState::new(doc, fx.root()));
    studio.engine.set_route(
        aktion_graph::Route::Direct,
        Arc::new(GatedExecutor { open: open.clone() }),
    );
    studio.set_default_route(aktion_graph::Route::Direct);
    Harness::builder()
        .with_size(egui::vec2(1400.0, 900.0))
        .with_max_steps(32)
        .build_ui_state(|ui, app: &mut Studio| app.frame_ui(ui), studio)
}

#[test]
fn jobs_journaled_by_a_killed_app_resume_at_the_next_start_and_end_as_takes() {
    use super::AppCommand;
    use super::view::RunStatus;
    let fx = Fixture::new();
    let mut doc = Document::default();
    let t2i = Catalog::builtin().get("t2i").expect("kind");
    let mut edited = aktion_graph::Node::new(t2i, [0.0, 0.0]);
    edited
        .params
        .insert("prompt".into(), "a long dolly shot".into());
    let edited = doc.add_node(edited);
    let mut deleted = aktion_graph::Node::new(t2i, [0.0, 300.0]);
    deleted
        .params
        .insert("prompt".into(), "a long crane shot".into());
    deleted.title = "Crane shot".into();
    let deleted = doc.add_node(deleted);

    // The first session starts both jobs, then dies with them in flight.
    {
        let (open, _) = tokio::sync::watch::channel(false);
        let mut h = gated_harness(&fx, doc.clone(), &open);
        h.run();
        h.state_mut().send(AppCommand::Run(Vec::new()));
        wait_until(&mut h, |app| {
            [edited, deleted]
                .iter()
                .all(|n| matches!(status_of(app, *n), Some(RunStatus::Running { .. })))
        });
        let journal = h.state().engine.journal().entries();
        assert_eq!(journal.len(), 2, "both jobs journaled");
    }

    // Meanwhile one node was edited and the other deleted (the autosave the user kept).
    doc.node_mut(edited)
        .expect("node")
        .params
        .insert("prompt".into(), "a long dolly shot, at dusk".into());
    doc.nodes.remove(&deleted);

    // The next start: no user action. The jobs resume and show in the jobs panel.
    let (open, _) = tokio::sync::watch::channel(false);
    let mut h = gated_harness(&fx, doc, &open);
    h.run();
    wait_until(&mut h, |app| app.runs.any_running());
    assert!(
        h.query_by_label_contains("Resumed after restart").is_some(),
        "the resumed jobs are in the jobs panel"
    );
    open.send_replace(true);
    wait_for_run(&mut h);
    let node = &h.state().state.doc.nodes[&edited];
    assert_eq!(node.takes.len(), 1, "{:?}", h.state().message);
    assert_eq!(
        node.takes[0].meta.params["prompt"], "a long dolly shot",
        "the take is what was paid for; the node keeps its edit"
    );
    assert_eq!(node.params["prompt"], "a long dolly shot, at dusk");
    assert!(
        h.state().engine.journal().entries().is_empty(),
        "nothing left to resume"
    );

    // The deleted node's result is kept, and restored on request.
    assert_eq!(h.state().runs.orphans.len(), 1);
    press(&mut h, "Restore node");
    let doc = &h.state().state.doc;
    let restored = doc.nodes.get(&deleted).expect("restored");
    assert_eq!(restored.title, "Crane shot");
    assert_eq!(restored.takes.len(), 1);
    assert_eq!(restored.params["prompt"], "a long crane shot");
    assert!(h.state().runs.orphans.is_empty());
}

/// Run as a child of itself: the child's process has provider keys in its environment and a
/// secret store with a key where the real app would look; the test app must see neither.
#[test]
fn the_test_app_reads_no_key_from_the_environment_or_a_secret_store() {
    use aktion_providers::ProviderKind;
    const NAME: &str =
        "app::tests::the_test_app_reads_no_key_from_the_environment_or_a_secret_store";
    let Some(store_dir) = std::env::var_os("AKTION_TEST_CHILD_STORE") else {
        let dir = tempfile::tempdir().expect("tmp");
        aktion_account::secrets::SecretStore::file_only(dir.path())
            .set("A2E_API_KEY", "a2e_kept_in_the_store")
            .expect("keep a key");
        let exe = std::env::current_exe().expect("test binary");
        let out = std::process::Command::new(exe)
            .args(["--exact", NAME, "--test-threads", "1"])
            .env("AKTION_TEST_CHILD_STORE", dir.path())
            .env("AKTION_CONFIG_DIR", dir.path())
            .env("AKTION_SECRETS", "file")
            .env("REPLICATE_API_TOKEN", "r8_in_the_environment")
            .env("FAL_KEY", "fal_in_the_environment")
            .output()
            .expect("run the child");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains("1 passed"), "the child ran the test: {text}");
        return;
    };
    // The keys are there for anyone who looks at the process ...
    let process = crate::setup::Setup::from_process();
    assert_eq!(
        process.config_dir.as_deref(),
        Some(std::path::Path::new(&store_dir))
    );
    let config = process.providers_config().expect("config");
    for p in [
        ProviderKind::Replicate,
        ProviderKind::Fal,
        ProviderKind::A2e,
    ] {
        assert!(
            config.endpoint(p).key.is_some(),
            "{p:?} is set for the process"
        );
    }
    // ... and the test app sees none of them.
    let fx = Fixture::new();
    let mut h = fx.harness(AppState::new(Document::default(), fx.root()));
    h.run();
    for p in [
        ProviderKind::Replicate,
        ProviderKind::Fal,
        ProviderKind::A2e,
    ] {
        assert_eq!(
            super::settings::key_sources(&h.state().panels.settings.worker_setup())[&p],
            super::settings::KeySource::None,
            "{p:?}"
        );
    }
    let config = fx.setup().providers_config().expect("config");
    for p in [
        ProviderKind::Replicate,
        ProviderKind::Fal,
        ProviderKind::A2e,
    ] {
        assert!(config.endpoint(p).key.is_none(), "{p:?}");
    }
    assert_ne!(
        h.state().recent_dir.as_deref(),
        Some(std::path::Path::new(&store_dir))
    );
}

#[test]
fn the_edit_menu_shows_every_canvas_action_and_its_items_work() {
    let fx = Fixture::new();
    let mut doc = Document::default();
    let t2i = Catalog::builtin().get("t2i").expect("kind");
    let a = doc.add_node(aktion_graph::Node::new(t2i, [0.0, 0.0]));
    let b = doc.add_node(aktion_graph::Node::new(t2i, [300.0, 0.0]));
    let mut h = fx.harness(AppState::new(doc, fx.root()));
    h.run();
    press(&mut h, "Edit");
    for label in [
        "Copy",
        "Cut",
        "Paste",
        "Duplicate",
        "Delete",
        "Select all",
        "Mute",
        "Bypass",
        "Frame selection",
    ] {
        assert!(
            h.query_all_by_label_contains(label).next().is_some(),
            "`{label}` is in the Edit menu"
        );
    }
    let at = h.get_by_label_contains("Select all").rect().center();
    click_at(&mut h, at);
    assert_eq!(
        h.state().state.selection,
        [a, b].into_iter().collect(),
        "Select all selects every node"
    );
    press(&mut h, "Edit");
    let at = h.get_by_label_contains("Mute").rect().center();
    click_at(&mut h, at);
    assert!(h.state().state.doc.nodes.values().all(|n| n.muted));
    // The menu's shortcut text comes from the table the keys are read from.
    let ctx = h.ctx.clone();
    assert_eq!(
        super::actions::shortcut_text(&ctx, super::actions::Action::Mute),
        ctx.format_shortcut(&aktion_canvas::shortcuts::MUTE)
    );
}

#[test]
fn each_kind_runs_where_its_key_is_and_a_costly_run_asks_first() {
    use super::AppCommand;
    let fx = Fixture::new();
    let mut doc = Document::default();
    let catalog = Catalog::builtin();
    let mut t2i = aktion_graph::Node::new(catalog.get("t2i").expect("kind"), [0.0, 0.0]);
    t2i.params
        .insert("prompt".into(), "a rooftop at night".into());
    let t2i = doc.add_node(t2i);
    let sketch = doc.add_node(aktion_graph::Node::new(
        catalog.get("sketch").expect("kind"),
        [0.0, 300.0],
    ));
    let mut s2i = aktion_graph::Node::new(
        catalog.get("sketch_to_image").expect("kind"),
        [300.0, 300.0],
    );
    s2i.params.insert("prompt".into(), "the same, inked".into());
    let s2i = doc.add_node(s2i);
    doc.connect(
        catalog,
        aktion_graph::Wire {
            from: sketch,
            to: s2i,
            input: "sketch".into(),
            slot: 0,
        },
        false,
    )
    .expect("wire");
    // A2E's key is set (Text to Image runs there); Replicate's is not (Sketch to Image).
    let studio = fx.studio_with(
        AppState::new(doc, fx.root()),
        &[("A2E_API_KEY", "a2e_test_key")],
    );
    let mut h = Harness::builder()
        .with_size(egui::vec2(1400.0, 900.0))
        .with_max_steps(32)
        .build_ui_state(|ui, app: &mut Studio| app.frame_ui(ui), studio);
    h.run();
    wait_until(&mut h, |app| {
        app.kind_routes().get("t2i") == Some(&aktion_graph::Route::Direct)
    });
    let routes = h.state().kind_routes();
    assert_eq!(
        routes.get("sketch_to_image"),
        Some(&aktion_graph::Route::Draft)
    );
    assert_eq!(
        routes.get("coherent_scene"),
        Some(&aktion_graph::Route::Draft)
    );

    // Credits are spent on the account route only (a key of one's own pays the provider).
    let credits = catalog.get("t2i").expect("kind").credits
        + catalog.get("sketch_to_image").expect("kind").credits;
    h.state_mut().send(AppCommand::SetDefaultRoute(Some(
        aktion_graph::Route::Account,
    )));
    wait_until(&mut h, |app| app.planner.view().cost == credits);

    // Above the threshold, the run asks first; "Don't run" runs nothing.
    h.state_mut().send(AppCommand::Settings(
        super::settings::SettingsRequest::SetConfirmAbove(credits - 1),
    ));
    h.state_mut().send(AppCommand::Run(Vec::new()));
    h.run();
    assert!(
        h.query_by_label_contains("This run costs").is_some(),
        "asks first"
    );
    press(&mut h, "Don't run");
    assert!(!h.state().runs.any_running(), "nothing ran");
    assert!(h.state().state.doc.nodes[&t2i].takes.is_empty());

    // At or under it, the run starts at once (here: each kind's own route again, where
    // Sketch to Image is a free draft).
    h.state_mut().send(AppCommand::SetDefaultRoute(None));
    wait_until(&mut h, |app| app.planner.view().cost == 0);
    h.state_mut().send(AppCommand::Run(vec![s2i]));
    h.run();
    assert!(h.query_by_label_contains("This run costs").is_none());
    wait_until(&mut h, |app| app.state.doc.nodes[&s2i].takes.len() == 1);
    assert!(h.state().state.doc.nodes[&s2i].takes[0].meta.draft);
}

#[test]
fn a_project_opens_off_the_ui_thread_and_never_over_edits_made_meanwhile() {
    use super::AppCommand;
    let fx = Fixture::new();
    let other = fx.dir.path().join("other.aktion");
    let mut doc = Document {
        name: "the other film".into(),
        ..Document::default()
    };
    doc.add_node(aktion_graph::Node::new(
        Catalog::builtin().get("t2i").expect("kind"),
        [0.0, 0.0],
    ));
    aktion_graph::project::save(&other, &doc).expect("save");
    let mut h = fx.harness(AppState::new(Document::default(), fx.root()));
    h.run();
    h.state_mut().save();

    // Open: the board switches once the project has been read, and it joins the recent list.
    h.state_mut().send(AppCommand::Open(other.clone()));
    h.run();
    wait_until(&mut h, |app| app.state.doc.name == "the other film");
    assert_eq!(h.state().state.root, other);
    assert_eq!(h.state().state.doc.nodes.len(), 1);
    wait_until(&mut h, |app| app.recent.len() == 2);

    // Asked to open another project, then edited before it was read: the edit wins.
    h.state_mut().send(AppCommand::Open(fx.root()));
    h.state_mut()
        .send(AppCommand::Edit(super::state::Command::AddNode {
            kind: "t2i".into(),
            pos: [300.0, 0.0],
        }));
    h.run();
    wait_until(&mut h, |app| app.loaders.opening.is_none());
    assert_eq!(h.state().state.root, other, "still the edited board");
    assert_eq!(h.state().state.doc.nodes.len(), 2, "the edit is kept");
    assert!(
        h.state()
            .message
            .as_deref()
            .is_some_and(|m| m.contains("was not opened")),
        "{:?}",
        h.state().message
    );

    // A project that cannot be read says why; the board stays.
    h.state_mut().save();
    h.state_mut()
        .send(AppCommand::Open(fx.dir.path().join("missing.aktion")));
    h.run();
    wait_until(&mut h, |app| app.loaders.opening.is_none());
    assert_eq!(h.state().state.root, other);
    assert!(h.state().message.is_some());
}

#[test]
fn a_run_is_planned_off_the_ui_thread_and_a_refusal_is_shown() {
    use super::AppCommand;
    let fx = Fixture::new();
    let (doc, t2i) = lighthouse_board();
    let mut h = fx.harness(AppState::new(doc, fx.root()));
    h.run();

    // The engine plans on a worker; until it has, the run counts as going (no second click
    // starts a duplicate unseen), then the result lands as a take.
    let looked_up = aktion_cache::lookups_on_this_thread();
    h.state_mut().send(AppCommand::Run(vec![t2i]));
    h.state_mut().handle_commands();
    assert!(h.state().runs.any_running(), "starting counts as running");
    assert_eq!(
        aktion_cache::lookups_on_this_thread(),
        looked_up,
        "no cache look-up on the UI thread to start a run"
    );
    wait_until(&mut h, |app| {
        app.state.doc.nodes[&t2i].takes.len() == 1 && !app.runs.any_running()
    });

    // A run the engine refuses (a node that is not on the board) says why.
    let ghost = aktion_graph::NodeId::new();
    h.state_mut().send(AppCommand::RunConfirmed(vec![ghost]));
    wait_until(&mut h, |app| {
        app.message
            .as_deref()
            .is_some_and(|m| m.contains(&ghost.to_string()))
    });
    assert!(!h.state().runs.any_running());
}

#[test]
fn an_older_project_brings_its_takes_in_from_the_cache_and_marks_the_rest_missing() {
    let fx = Fixture::new();
    let cache = aktion_cache::Cache::open(
        fx.dir.path().join("cache"),
        aktion_cache::CacheOptions::default(),
    )
    .expect("cache");
    let mut doc = Document::default();
    let kind = Catalog::builtin().get("t2i").expect("kind");
    let kept = doc.add_node(aktion_graph::Node::new(kind, [0.0, 0.0]));
    let lost = doc.add_node(aktion_graph::Node::new(kind, [300.0, 0.0]));
    let take = |bytes: &[u8], hash: aktion_cache::BlobHash| aktion_cache::CachedResult {
        outputs: vec![aktion_cache::CachedOutput {
            hash,
            mime: "image/png".into(),
            name: "t2i.png".into(),
            bytes: bytes.len() as u64,
        }],
        meta: serde_json::json!({ "provider": "draft" }),
        created_unix_ms: 1,
    };
    // One take's file is still in the cache; the other's is nowhere.
    let in_cache = cache.put_bytes(b"kept picture").expect("put");
    aktion_engine::takes::record_take(&mut doc, kept, "sig-kept", &take(b"kept picture", in_cache));
    let nowhere = aktion_cache::BlobHash::of(b"lost picture");
    aktion_engine::takes::record_take(&mut doc, lost, "sig-lost", &take(b"lost picture", nowhere));
    aktion_graph::project::save(&fx.root(), &doc).expect("save");
    let (state, _) = AppState::open_with_recovery(&fx.root()).expect("open");
    let mut h = fx.harness(state);
    h.run();

    wait_until(&mut h, |app| !app.loaders.missing_takes.is_empty());
    let file = aktion_graph::project::take_path(&fx.root(), &in_cache.to_hex()).expect("path");
    assert_eq!(
        std::fs::read(&file).expect("kept in the project"),
        b"kept picture"
    );
    let lost_take = h.state().state.doc.nodes[&lost].active_take.expect("take");
    assert_eq!(
        h.state()
            .loaders
            .missing_takes
            .iter()
            .copied()
            .collect::<Vec<_>>(),
        vec![lost_take]
    );
    h.state_mut()
        .apply(super::state::Command::Select(vec![lost]));
    h.run();
    let labels: Vec<String> = h
        .get_all_by_label_contains("missing — re-run")
        .filter_map(|n| n.accesskit_node().label())
        .collect();
    assert!(
        labels.iter().any(|l| l.starts_with("#1 ")),
        "the inspector marks the take: {labels:?}"
    );
}

#[test]
fn a_deleted_take_keeps_its_file_while_undo_can_bring_it_back() {
    use super::state::Command;
    let fx = Fixture::new();
    let (mut h, t2i) = lighthouse_run(&fx);
    let take = h.state().state.doc.nodes[&t2i].active_take.expect("take");
    let hash = h.state().state.doc.nodes[&t2i].takes[0].outputs[0]
        .hash
        .clone();
    let file = aktion_graph::project::take_path(&fx.root(), &hash).expect("path");
    let bytes = std::fs::read(&file).expect("the take is in the project");
    // Old enough that only a reference keeps it.
    std::fs::File::options()
        .write(true)
        .open(&file)
        .and_then(|f| f.set_modified(std::time::SystemTime::now() - Duration::from_secs(7200)))
        .expect("age");

    h.state_mut().apply(Command::DeleteTake { node: t2i, take });
    h.run();
    assert!(h.state().state.doc.nodes[&t2i].takes.is_empty());
    h.state_mut().save();
    wait_until(&mut h, |app| app.loaders.tidying.is_none());
    assert_eq!(std::fs::read(&file).expect("kept for undo"), bytes);

    h.state_mut().apply(Command::Undo);
    h.run();
    assert_eq!(h.state().state.doc.nodes[&t2i].active_take, Some(take));
    assert_eq!(std::fs::read(&file).expect("still there"), bytes);

    // Once nothing can bring it back (a fresh history) and it is gone from the board, a save
    // tidies it away.
    h.state_mut().apply(Command::DeleteTake { node: t2i, take });
    h.run();
    h.state_mut().save();
    let (state, _) = AppState::open_with_recovery(&fx.root()).expect("open");
    h.state_mut().state = state;
    h.state_mut().save();
    wait_until(&mut h, |app| app.loaders.tidying.is_none());
    assert!(!file.exists(), "no take and no undo step refers to it");
}

#[test]
fn file_export_project_bundle_writes_one_zip_with_the_takes() {
    use super::AppCommand;
    let fx = Fixture::new();
    let (mut h, t2i) = lighthouse_run(&fx);
    let hash = h.state().state.doc.nodes[&t2i].takes[0].outputs[0]
        .hash
        .clone();

    let out = fx.dir.path().join("film.zip");
    h.state_mut().send(AppCommand::ExportBundle(out.clone()));
    h.run();
    wait_until(&mut h, |app| app.loaders.exporting.is_none());
    assert!(
        h.state()
            .message
            .as_deref()
            .is_some_and(|m| m.starts_with("wrote") && m.contains("1 take file(s)")),
        "{:?}",
        h.state().message
    );
    let mut archive = zip::ZipArchive::new(std::fs::File::open(&out).expect("zip")).expect("zip");
    let names: Vec<String> = archive
        .file_names()
        .map(|n| n.map(std::borrow::Cow::into_owned).expect("name"))
        .collect();
    assert!(
        names.iter().any(|n| n.ends_with("/project.json")),
        "{names:?}"
    );
    let take = names
        .iter()
        .find(|n| n.ends_with(&format!("/takes/{hash}")))
        .expect("the take is in the bundle")
        .clone();
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut archive.by_name(&take).expect("entry"), &mut bytes)
        .expect("read");
    assert_eq!(blake3::hash(&bytes).to_hex().as_str(), hash);
}

#[test]
fn nodes_pasted_from_another_project_bring_their_assets_and_takes() {
    use super::AppCommand;
    let fx = Fixture::new();
    let other = fx.dir.path().join("other.aktion");
    let catalog = Catalog::builtin();
    let mut doc = Document::default();
    let asset =
        aktion_graph::project::import_asset_bytes(&other, "mara.png", b"mara").expect("asset");
    let mut image = aktion_graph::Node::new(catalog.get("image").expect("image"), [0.0, 0.0]);
    image.params.insert("file".into(), asset.to_value());
    let img = doc.add_node(image);
    let t2i = doc.add_node(aktion_graph::Node::new(
        catalog.get("t2i").expect("t2i"),
        [300.0, 0.0],
    ));
    let hash = blake3::hash(b"a take").to_hex().to_string();
    let take_file = aktion_graph::project::take_path(&other, &hash).expect("path");
    std::fs::create_dir_all(take_file.parent().expect("dir")).expect("mkdir");
    std::fs::write(&take_file, b"a take").expect("write");
    aktion_engine::takes::record_take(
        &mut doc,
        t2i,
        "sig",
        &aktion_cache::CachedResult {
            outputs: vec![aktion_cache::CachedOutput {
                hash: hash.parse().expect("hash"),
                mime: "image/png".into(),
                name: "t2i.png".into(),
                bytes: 6,
            }],
            meta: serde_json::json!({}),
            created_unix_ms: 1,
        },
    );
    let text = aktion_graph::clipboard::copy(&doc, &[img, t2i], Some(&other));

    let mut h = fx.harness(AppState::new(Document::default(), fx.root()));
    h.run();
    h.state_mut().send(AppCommand::Paste {
        text,
        at: [0.0, 0.0],
    });
    h.run();
    wait_until(&mut h, |app| app.state.doc.nodes.len() == 2);
    assert_eq!(
        aktion_graph::project::read_asset(&fx.root(), &asset).expect("the asset came along"),
        b"mara"
    );
    let here = aktion_graph::project::take_path(&fx.root(), &hash).expect("path");
    assert_eq!(std::fs::read(here).expect("the take came along"), b"a take");
    let pasted = h
        .state()
        .state
        .doc
        .nodes
        .values()
        .find(|n| n.kind == "t2i")
        .expect("t2i");
    assert_eq!(pasted.takes.len(), 1);
}

#[test]
fn a_source_node_takes_a_file_chosen_from_disk_of_its_kind_only() {
    use super::AppCommand;
    let fx = Fixture::new();
    let mut doc = Document::default();
    let image = doc.add_node(aktion_graph::Node::new(
        Catalog::builtin().get("image").expect("kind"),
        [0.0, 0.0],
    ));
    let mut h = fx.harness(AppState::new(doc, fx.root()));
    h.run();
    h.state_mut()
        .apply(super::state::Command::Select(vec![image]));
    h.run();
    assert!(
        h.query_by_label("Choose file…").is_some(),
        "the picker is offered"
    );

    let picture = fx.dir.path().join("Mara.png");
    std::fs::write(&picture, png(16, 9)).expect("write");
    h.state_mut().send(AppCommand::SetNodeFile {
        node: image,
        path: picture,
    });
    h.run();
    wait_until(&mut h, |app| app.loaders.imports.is_empty());
    h.run();
    let asset = aktion_graph::project::AssetRef::from_value(
        h.state().state.doc.nodes[&image]
            .param("file")
            .expect("file set"),
    )
    .expect("asset");
    assert_eq!(asset.name, "Mara.png");
    assert!(aktion_graph::project::read_asset(&fx.root(), &asset).is_ok());

    // A sound is not an image: refused with a reason, the file stays.
    let sound = fx.dir.path().join("line.wav");
    std::fs::write(&sound, wav(0.5)).expect("write");
    h.state_mut().send(AppCommand::SetNodeFile {
        node: image,
        path: sound,
    });
    h.run();
    wait_until(&mut h, |app| app.loaders.imports.is_empty());
    h.run();
    assert!(
        h.state()
            .message
            .as_deref()
            .is_some_and(|m| m.contains("this node takes image")),
        "{:?}",
        h.state().message
    );
    let still = aktion_graph::project::AssetRef::from_value(
        h.state().state.doc.nodes[&image]
            .param("file")
            .expect("file"),
    )
    .expect("asset");
    assert_eq!(still, asset);
}

#[test]
fn an_image_is_cropped_by_dragging_a_rectangle_on_its_preview() {
    let fx = Fixture::new();
    let mut doc = Document::default();
    let asset = aktion_graph::project::import_asset_bytes(&fx.root(), "wide.png", &png(160, 90))
        .expect("asset");
    let mut node =
        aktion_graph::Node::new(Catalog::builtin().get("image").expect("kind"), [0.0, 0.0]);
    node.params.insert("file".into(), asset.to_value());
    let image = doc.add_node(node);
    let mut h = fx.harness(AppState::new(doc, fx.root()));
    h.run();
    h.state_mut()
        .apply(super::state::Command::Select(vec![image]));
    h.run();
    wait_until(&mut h, |app| {
        app.loaders.previews.get(&asset.hash).is_some()
    });
    h.run();

    // The corner dragged up and left: the crop shrinks, as one edit on release.
    let corner = h.get_by_label("Crop corner").rect().center();
    let crop_rect = h.get_by_label("Crop area").rect();
    drag(
        &mut h,
        corner,
        corner - egui::vec2(crop_rect.width() / 2.0, crop_rect.height() / 4.0),
    );
    h.run();
    let crop = h.state().state.doc.nodes[&image]
        .param("crop")
        .expect("crop")
        .clone();
    let w = crop["w"].as_f64().expect("w");
    let hgt = crop["h"].as_f64().expect("h");
    assert!((w - 0.5).abs() < 0.05, "{crop}");
    assert!((hgt - 0.75).abs() < 0.05, "{crop}");
    assert_eq!(crop["x"], 0.0);

    // Dragged inside, it moves and keeps its size, never leaving the picture.
    let inside = h.get_by_label("Crop area").rect().center();
    drag(&mut h, inside, inside + egui::vec2(500.0, 0.0));
    h.run();
    let moved = h.state().state.doc.nodes[&image]
        .param("crop")
        .expect("crop")
        .clone();
    let x = moved["x"].as_f64().expect("x");
    assert!(
        (x + w - 1.0).abs() < 0.01,
        "against the right edge: {moved}"
    );
    assert!((moved["w"].as_f64().expect("w") - w).abs() < 1e-6);

    // Undo takes back the move only.
    h.state_mut().apply(super::state::Command::Undo);
    h.run();
    assert_eq!(h.state().state.doc.nodes[&image].param("crop"), Some(&crop));
}

/// A board with one Text to Image node prompted "a lighthouse".
fn lighthouse_board() -> (Document, NodeId) {
    let mut doc = Document::default();
    let mut node =
        aktion_graph::Node::new(Catalog::builtin().get("t2i").expect("kind"), [0.0, 0.0]);
    node.params.insert("prompt".into(), "a lighthouse".into());
    let t2i = doc.add_node(node);
    (doc, t2i)
}

/// The app on [`lighthouse_board`], its node run once on the draft route.
fn lighthouse_run(fx: &Fixture) -> (Harness<'static, Studio>, NodeId) {
    let (doc, t2i) = lighthouse_board();
    let mut h = fx.harness(AppState::new(doc, fx.root()));
    h.run();
    h.state_mut().start_run(vec![t2i]);
    wait_for_run(&mut h);
    (h, t2i)
}

/// The node titled `title`.
fn titled(app: &Studio, title: &str) -> NodeId {
    app.state
        .doc
        .nodes
        .values()
        .find(|n| n.title == title)
        .map_or_else(|| panic!("a node titled {title}"), |n| n.id)
}

#[test]
#[expect(
    clippy::too_many_lines,
    reason = "one filmmaker's walk through the board, in order"
)]
fn after_a_draft_run_the_board_shows_pictures_flips_takes_and_plays_clips() {
    let fx = Fixture::new();
    crate::examples::make("storyboard", &fx.root())
        .map_err(|f| f.message())
        .expect("example");
    let state = AppState::open(&fx.root()).expect("opens");
    // A window tall enough for the board's first four rows above the sequence strip.
    let mut h = fx.harness_sized(state, &[], egui::vec2(1400.0, 1060.0));
    h.run();
    h.get_by_label("Run board · 0 credits").click();
    wait_for_run(&mut h);
    // Pictures, posters and waveforms on the cards (visible ones at the opening zoom), decoded
    // in the background as the cards are drawn.
    let shown = [
        "Location: rooftop: picture shown",
        "Hero: Mara: picture shown",
        "Mara speaks: video shown",
        "Dialogue: \"Not tonight.\": waveform shown",
    ];
    for _ in 0..500 {
        h.run_steps(1);
        if shown.iter().all(|s| h.query_by_label_contains(s).is_some()) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    for s in shown {
        assert!(h.query_by_label_contains(s).is_some(), "no picture: {s}");
    }
    assert!(h.state().loaders.cards.bytes() > 0);

    // A second take on one node: the card flips between them, as one undoable edit each.
    let hero = titled(h.state(), "Hero: Mara");
    let (first, second) = {
        let app = h.state_mut();
        let node = app.state.doc.nodes.get_mut(&hero).expect("hero");
        let mut again = node.active_take().expect("a take").clone();
        again.id = aktion_graph::TakeId::new();
        let ids = (node.active_take.expect("active"), again.id);
        node.takes.push(again);
        app.state.takes_rev += 1;
        ids
    };
    h.run_steps(2);
    h.get_by_label("Next take").click();
    h.run_steps(2);
    assert_eq!(
        h.state().state.doc.node(hero).expect("hero").active_take,
        Some(second)
    );
    h.get_by_label("Previous take").click();
    h.run_steps(2);
    assert_eq!(
        h.state().state.doc.node(hero).expect("hero").active_take,
        Some(first)
    );

    // The talking portrait's clip plays in the inspector, and stops on pause.
    let talk = titled(h.state(), "Mara speaks");
    h.state_mut().state.selection = std::collections::BTreeSet::from([talk]);
    h.run();
    wait_until(&mut h, |app| app.preview_loaded(talk));
    let key = h
        .state()
        .state
        .doc
        .node(talk)
        .expect("node")
        .active_take()
        .expect("take")
        .outputs[0]
        .hash
        .clone();
    wait_until(&mut h, |app| {
        app.loaders
            .media
            .player(&key)
            .is_some_and(|p| p.shown() == Some(0))
    });
    press(&mut h, "Play");
    assert!(h.state().loaders.media.is_playing(&key));
    wait_until(&mut h, |app| {
        app.loaders
            .media
            .player(&key)
            .and_then(super::player::Player::shown)
            >= Some(3)
    });
    press(&mut h, "Pause");
    assert!(!h.state().loaders.media.is_playing(&key));
    let player = h.state().loaders.media.player(&key).expect("player");
    let (shown, decoded) = (player.shown(), player.decoded());
    for _ in 0..10 {
        h.run_steps(1);
        std::thread::sleep(Duration::from_millis(30));
    }
    let player = h.state().loaders.media.player(&key).expect("player");
    assert_eq!(player.shown(), shown, "paused: the picture holds");
    // Paused: the worker fills its few frames ahead and then decodes nothing.
    assert!(
        player.decoded() <= decoded + 6,
        "{} > {decoded} + 6",
        player.decoded()
    );
    press(&mut h, "Frame >");
    h.run_steps(3);
    let player = h.state().loaders.media.player(&key).expect("player");
    assert_eq!(player.shown(), shown.map(|s| s + 1), "a frame forward");
    // No audio device here: the player says so and the picture played alone.
    let status = player.sound_status().expect("a status");
    assert!(status.contains("no audio device"), "{status}");
    // Selecting another node pauses what played out of sight.
    press(&mut h, "Play");
    assert!(h.state().loaders.media.is_playing(&key));
    h.state_mut().state.selection = std::collections::BTreeSet::from([hero]);
    h.run_steps(3);
    assert!(!h.state().loaders.media.is_playing(&key));
}

/// The test sound server `cargo xtask test` starts (a PulseAudio null sink), if any.
fn test_sound_server() -> Option<String> {
    if let Ok(path) = std::env::var("AKTION_TEST_PULSE") {
        return Some(path);
    }
    assert!(
        std::env::var_os("AKTION_REQUIRE_SOUND_SERVER").is_none(),
        "AKTION_TEST_PULSE is not set"
    );
    eprintln!("skipped: no test sound server (run `cargo xtask test`)");
    None
}

/// Samples the player handed to the device, after letting the app run for `ms`.
fn delivered_after(h: &mut Harness<'_, Studio>, ms: u64, read: impl Fn(&Studio) -> u64) -> u64 {
    let end = std::time::Instant::now() + Duration::from_millis(ms);
    while std::time::Instant::now() < end {
        h.run_steps(1);
        std::thread::sleep(Duration::from_millis(10));
    }
    read(h.state())
}

#[test]
fn clips_and_sounds_play_on_the_sound_server_and_stop_on_pause() {
    let Some(server) = test_sound_server() else {
        return;
    };
    let fx = Fixture::new();
    crate::examples::make("storyboard", &fx.root())
        .map_err(|f| f.message())
        .expect("example");
    let state = AppState::open(&fx.root()).expect("opens");
    let mut h = fx.harness_with(state, &[("AKTION_SOUND_SERVER", &server)]);
    h.run();
    h.get_by_label("Run board · 0 credits").click();
    wait_for_run(&mut h);

    // The talking portrait's clip: its sound track reaches the device while it plays.
    let talk = titled(h.state(), "Mara speaks");
    wait_until(&mut h, |app| {
        app.state
            .doc
            .node(talk)
            .is_some_and(|n| n.active_take().is_some())
    });
    h.state_mut().state.selection = std::collections::BTreeSet::from([talk]);
    h.run();
    let key = h
        .state()
        .state
        .doc
        .node(talk)
        .expect("node")
        .active_take()
        .expect("take")
        .outputs[0]
        .hash
        .clone();
    wait_until(&mut h, |app| {
        app.loaders
            .media
            .player(&key)
            .is_some_and(|p| p.shown() == Some(0))
    });
    press(&mut h, "Play");
    wait_until(&mut h, |app| {
        app.loaders
            .media
            .player(&key)
            .and_then(super::player::Player::sound_delivered)
            .is_some_and(|n| n > 4_000)
    });
    let player = h.state().loaders.media.player(&key).expect("player");
    assert_eq!(player.sound_status(), None, "the sound plays");
    assert!(player.shown() > Some(0), "the picture moves with it");
    press(&mut h, "Pause");
    let clip_sound = |app: &Studio| {
        app.loaders
            .media
            .player(&key)
            .and_then(super::player::Player::sound_delivered)
            .unwrap_or(0)
    };
    let paused = delivered_after(&mut h, 100, clip_sound);
    assert_eq!(
        delivered_after(&mut h, 300, clip_sound),
        paused,
        "paused: no sound goes out"
    );

    // The dialogue line (a sound take): Play, the playhead moves, Pause holds it.
    let line = titled(h.state(), "Dialogue: \"Not tonight.\"");
    h.state_mut().state.selection = std::collections::BTreeSet::from([line]);
    h.run();
    let key = h
        .state()
        .state
        .doc
        .node(line)
        .expect("node")
        .active_take()
        .expect("take")
        .outputs[0]
        .hash
        .clone();
    wait_until(&mut h, |app| app.loaders.media.sound_player(&key).is_some());
    press_nth(&mut h, "Play", 0);
    let line_sound = |app: &Studio| {
        app.loaders
            .media
            .sound_player(&key)
            .and_then(super::sound::SoundPlayer::delivered)
            .unwrap_or(0)
    };
    wait_until(&mut h, |app| line_sound(app) > 4_000);
    assert!(h.state().loaders.media.is_playing(&key));
    press_nth(&mut h, "Pause", 0);
    let paused = delivered_after(&mut h, 100, line_sound);
    assert_eq!(delivered_after(&mut h, 300, line_sound), paused);
    assert!(
        h.state()
            .loaders
            .media
            .sound_player(&key)
            .expect("player")
            .position()
            > 0.0
    );
}

/// The example storyboard opened in the app after a draft run: every shot of its sequence has
/// its take.
/// The example storyboard opened, nothing run yet.
fn storyboard(fx: &Fixture) -> Harness<'static, Studio> {
    crate::examples::make("storyboard", &fx.root())
        .map_err(|f| f.message())
        .expect("example");
    let state = AppState::open(&fx.root()).expect("opens");
    let mut h = fx.harness(state);
    h.run();
    h
}

fn storyboard_with_takes(fx: &Fixture) -> Harness<'static, Studio> {
    let mut h = storyboard(fx);
    h.get_by_label("Run board · 0 credits").click();
    wait_for_run(&mut h);
    wait_until(&mut h, |app| {
        let doc = &app.state.doc;
        doc.sequence.shots.iter().all(|s| s.take(doc).is_some())
    });
    h
}

/// The accessible label of the strip's card of shot `index` (0-based), found by its prefix.
fn shot_card(h: &Harness<'_, Studio>, index: usize) -> String {
    let prefix = format!("Shot {}: ", index + 1);
    h.query_all_by(|node| {
        node.label()
            .is_some_and(|l| l.starts_with(&prefix) && l.contains(" s,"))
    })
    .next()
    .and_then(|n| n.accesskit_node().label())
    .unwrap_or_else(|| panic!("no card for shot {}", index + 1))
}

fn shot_titles(app: &Studio) -> Vec<String> {
    app.state
        .doc
        .sequence
        .shots
        .iter()
        .map(|s| s.title.clone())
        .collect()
}

#[test]
fn the_strip_shows_the_sequence_adds_reorders_trims_removes_and_undoes() {
    let fx = Fixture::new();
    let mut h = storyboard_with_takes(&fx);
    wait_until(&mut h, |app| {
        app.panels.strip.settled() && app.loaders.cards.settled()
    });
    h.run();

    // Five shots with their pictures and lengths; the running time adds them up.
    let first = shot_card(&h, 0);
    assert!(
        first.starts_with("Shot 1: The showdown, 3.0 s, picture shown"),
        "{first}"
    );
    assert!(shot_card(&h, 1).starts_with("Shot 2: The Broker, 2.0 s, picture shown"));
    assert!(
        shot_card(&h, 2).contains("Mara speaks, 2."),
        "{}",
        shot_card(&h, 2)
    );
    assert_eq!(h.state().state.doc.sequence.shots.len(), 5);
    assert!(
        h.query_by_label_contains("5 shots · 14.").is_some(),
        "the total running time"
    );

    // Add from the selection: the punch frame becomes shot 6.
    let punch = titled(h.state(), "Punch frame");
    h.state_mut().state.selection = std::collections::BTreeSet::from([punch]);
    h.run();
    press(&mut h, "Add selection");
    assert_eq!(h.state().state.doc.sequence.shots.len(), 6);
    assert_eq!(h.state().state.doc.sequence.shots[5].node, punch);
    wait_until(&mut h, |app| app.loaders.cards.settled());
    h.run();
    assert!(
        shot_card(&h, 5).contains("3.0 s, picture shown"),
        "{}",
        shot_card(&h, 5)
    );
    // The same node again adds nothing: one shot per node.
    assert!(
        h.get_by_label("Add selection")
            .accesskit_node()
            .is_disabled()
    );

    // Clicking a shot selects its node on the board.
    let broker = shot_card(&h, 1);
    press(&mut h, &broker);
    let villain = titled(h.state(), "Villain: the Broker");
    assert_eq!(
        h.state().state.selection,
        std::collections::BTreeSet::from([villain])
    );

    // Drag shot 2 to the end.
    let from = center(&h, &broker);
    let last = h.get_by_label(&shot_card(&h, 5)).rect();
    drag(&mut h, from, last.right_center() + egui::vec2(-4.0, 0.0));
    let titles = shot_titles(h.state());
    assert_eq!(
        titles.last().map(String::as_str),
        Some("The Broker"),
        "{titles:?}"
    );
    assert_eq!(titles[1], "Mara speaks");

    // Trim: the still's end dragged 36 px right holds it one second longer.
    let card = h.get_by_label(&shot_card(&h, 0)).rect();
    let handle = h.get_by_label("Trim end of shot 1").rect().center();
    assert!(handle.x > card.center().x);
    drag(&mut h, handle, handle + egui::vec2(36.0, 0.0));
    assert_eq!(h.state().state.doc.sequence.shots[0].hold_ms, Some(4_000));
    assert!(shot_card(&h, 0).contains("4.0 s"), "{}", shot_card(&h, 0));

    // Remove the picked shot with Delete, then undo everything back, step by step.
    let card = shot_card(&h, 0);
    press(&mut h, &card);
    h.hover_at(center(&h, &card));
    h.key_press(egui::Key::Delete);
    h.run();
    assert_eq!(h.state().state.doc.sequence.shots.len(), 5);
    assert_eq!(shot_titles(h.state())[0], "Mara speaks");
    let mut undone = Vec::new();
    for _ in 0..4 {
        undone.extend(h.state().state.history.can_undo().map(str::to_owned));
        h.state_mut().apply(super::state::Command::Undo);
        h.run();
    }
    assert_eq!(
        undone,
        ["Remove shot", "Trim shot", "Reorder shots", "Add shots"],
        "each action one step"
    );
    let titles = shot_titles(h.state());
    assert_eq!(
        titles,
        [
            "The showdown",
            "The Broker",
            "Mara speaks",
            "Rooftop to punch",
            "The punch"
        ],
        "undo restores the sequence: remove, trim, reorder and add, each one step"
    );
    assert_eq!(h.state().state.doc.sequence.shots[0].hold_ms, None);
}

#[test]
fn file_export_sequence_writes_a_timeline_and_an_animatic_export_can_be_cancelled() {
    use super::AppCommand;
    let fx = Fixture::new();
    let mut h = storyboard_with_takes(&fx);

    // An OpenTimelineIO timeline with the media beside it, written on a worker.
    let out = fx.dir.path().join("hand-off").join("film.otio");
    h.state_mut().send(AppCommand::ExportSequence {
        format: aktion_export::Format::Otio,
        out: out.clone(),
    });
    wait_until(&mut h, |app| app.loaders.sequence_export.is_none());
    let message = h.state().message.clone().unwrap_or_default();
    assert!(message.starts_with("wrote "), "{message}");
    let otio: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&out).expect("written")).expect("json");
    let clips = otio["tracks"]["children"][0]["children"]
        .as_array()
        .expect("video track");
    assert_eq!(clips.len(), 5);
    for clip in clips {
        let url = clip["media_references"]["DEFAULT_MEDIA"]["target_url"]
            .as_str()
            .expect("url");
        assert!(out.parent().expect("dir").join(url).is_file(), "{url}");
    }

    // The animatic shows its progress in the strip; Cancel export stops it and leaves no file.
    let mp4 = fx.dir.path().join("hand-off").join("film.mp4");
    h.state_mut().send(AppCommand::ExportSequence {
        format: aktion_export::Format::Mp4,
        out: mp4.clone(),
    });
    h.run_steps(2);
    press(&mut h, "Cancel export");
    wait_until(&mut h, |app| app.loaders.sequence_export.is_none());
    let message = h.state().message.clone().unwrap_or_default();
    assert!(message.contains("cancelled"), "{message}");
    assert!(!mp4.exists(), "nothing half-written");

    // The size chosen under File → Export sequence ▸ Animatic size, and the sequence's frame
    // rate, are the animatic's.
    h.state_mut().panels.strip.animatic_size = Some((320, 180));
    h.state_mut().send(AppCommand::ExportSequence {
        format: aktion_export::Format::Mp4,
        out: mp4.clone(),
    });
    wait_until(&mut h, |app| app.loaders.sequence_export.is_none());
    let video = aktion_media::Video::open(std::fs::read(&mp4).expect("written")).expect("mp4");
    assert_eq!((video.info().width, video.info().height), (320, 180));
    assert!((video.info().fps - 24.0).abs() < 0.01);
    // And the storyboard's panels a page: 6-up makes a title page and one page of five shots.
    h.state_mut().panels.strip.pdf_panels = 6;
    let pdf = fx.dir.path().join("hand-off").join("board.pdf");
    h.state_mut().send(AppCommand::ExportSequence {
        format: aktion_export::Format::Pdf,
        out: pdf.clone(),
    });
    wait_until(&mut h, |app| app.loaders.sequence_export.is_none());
    let bytes = std::fs::read(&pdf).expect("written");
    assert!(bytes.starts_with(b"%PDF-"));
    // poppler's pdfinfo (installed by `cargo xtask test`) counts the pages.
    if let Ok(dir) = std::env::var("AKTION_TEST_POPPLER") {
        let info = std::process::Command::new(std::path::Path::new(&dir).join("pdfinfo"))
            .arg(&pdf)
            .output()
            .expect("pdfinfo runs");
        let info = String::from_utf8_lossy(&info.stdout);
        assert!(
            info.lines()
                .any(|l| l.starts_with("Pages:") && l.trim_end().ends_with(" 2")),
            "a title page and one page of six panels: {info}"
        );
    }
}

#[test]
fn conforming_to_an_edit_reorders_flags_a_longer_shot_and_runs_it_longer() {
    use super::AppCommand;
    let fx = Fixture::new();
    let mut h = storyboard_with_takes(&fx);

    // The editor's cut: the export with the last shot (the punch) first and a second longer.
    let otio = fx.dir.path().join("cut").join("film.otio");
    aktion_export::export(
        &h.state().state.doc,
        Catalog::builtin(),
        &fx.root(),
        aktion_export::Format::Otio,
        &otio,
        &mut aktion_export::Options::default(),
    )
    .expect("export");
    let mut edit: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&otio).expect("read")).expect("json");
    let video = edit["tracks"]["children"][0]["children"]
        .as_array_mut()
        .expect("video");
    let last = video.pop().expect("clip");
    video.insert(0, last);
    let punch = &mut video[0];
    let frames = punch["source_range"]["duration"]["value"]
        .as_f64()
        .expect("frames");
    punch["source_range"]["duration"]["value"] = serde_json::json!(frames + 24.0);
    let cut = fx.dir.path().join("cut").join("edited.otio");
    std::fs::write(&cut, serde_json::to_vec(&edit).expect("json")).expect("write");

    h.state_mut().send(AppCommand::Conform(cut));
    wait_until(&mut h, |app| app.loaders.conforming.is_none());
    h.run();
    let message = h.state().message.clone().unwrap_or_default();
    assert!(message.contains("1 need a longer take"), "{message}");
    assert_eq!(
        shot_titles(h.state()),
        [
            "The punch",
            "The showdown",
            "The Broker",
            "Mara speaks",
            "Rooftop to punch"
        ]
    );
    assert_eq!(
        h.state().state.history.can_undo(),
        Some("Conform to edit"),
        "one undo step"
    );
    wait_until(&mut h, |app| app.panels.strip.settled());
    h.run();
    let flagged = shot_card(&h, 0);
    assert!(flagged.contains("needs a longer take"), "{flagged}");

    // Run longer: the punch's duration becomes the shot's length and the node runs again; its
    // new take is long enough and the flag goes.
    press(&mut h, "Run longer shots (1)");
    let talk = titled(h.state(), "Shot 12: the punch");
    let want = (frames + 24.0) / 24.0;
    let set = h.state().state.doc.nodes[&talk]
        .param("duration")
        .and_then(serde_json::Value::as_f64)
        .expect("duration");
    assert!(
        (set - (want * 10.0).ceil() / 10.0).abs() < 1e-9,
        "{set} for {want}"
    );
    wait_until(&mut h, |app| {
        app.state.doc.nodes[&talk].takes.len() == 2 && !app.runs.any_running()
    });
    wait_until(&mut h, |app| app.panels.strip.settled());
    h.run_steps(3);
    wait_until(&mut h, |app| app.panels.strip.settled());
    h.run();
    let card = shot_card(&h, 0);
    assert!(!card.contains("needs a longer take"), "{card}");
    assert!(card.contains("6.0 s"), "{card}");
}

#[test]
fn the_animatic_plays_full_window_with_its_shot_list_and_keys() {
    use super::animatic::{Animatic, SpanKind};
    let fx = Fixture::new();
    let mut h = storyboard_with_takes(&fx);
    // Whatever the run left focused or open closes first, as a person's Esc would.
    h.key_press(egui::Key::Escape);
    h.run();
    press(&mut h, "Play animatic");
    wait_until(&mut h, |app| {
        matches!(
            app.panels.animatic,
            Some(Animatic::Ready(_) | Animatic::Failed(_))
        )
    });
    let ready = |app: &Studio| match &app.panels.animatic {
        Some(Animatic::Ready(r)) => (r.frame(), r.current(), r.player.is_playing()),
        Some(Animatic::Failed(why)) => panic!("the animatic failed: {why}"),
        _ => panic!("the animatic closed"),
    };
    // It plays from the start: the playhead moves.
    wait_until(&mut h, |app| ready(app).0 > 2);
    let (_, current, playing) = ready(h.state());
    assert!(playing);
    assert_eq!(current, Some(0));
    // The shot list beside the picture names every shot.
    for title in [
        "The showdown",
        "The Broker",
        "Mara speaks",
        "Rooftop to punch",
        "The punch",
    ] {
        assert!(
            h.query_by_label(title).is_some(),
            "{title} in the shot list"
        );
    }
    if let Some(Animatic::Ready(r)) = &h.state().panels.animatic {
        assert_eq!(r.spans.len(), 5);
        assert!(r.spans.iter().all(|s| s.kind != SpanKind::Missing));
        assert!(r.spans.iter().any(|s| s.kind == SpanKind::Still));
        assert!(r.spans.iter().any(|s| s.kind == SpanKind::Clip));
    }
    // K stops, ↓ goes to the next shot, L plays on, J goes back to the shot's start.
    h.key_press(egui::Key::K);
    h.run();
    assert!(!ready(h.state()).2, "K pauses");
    h.key_press(egui::Key::ArrowDown);
    wait_until(&mut h, |app| ready(app).1 == Some(1));
    h.key_press(egui::Key::ArrowDown);
    wait_until(&mut h, |app| ready(app).1 == Some(2));
    let start_of_third = match &h.state().panels.animatic {
        Some(Animatic::Ready(r)) => r.spans[2].start,
        _ => unreachable!(),
    };
    assert_eq!(ready(h.state()).0, start_of_third);
    // J at a shot's start goes to the shot before; within the shot, back to its start.
    h.key_press(egui::Key::J);
    wait_until(&mut h, |app| ready(app).1 == Some(1));
    h.key_press(egui::Key::ArrowDown);
    wait_until(&mut h, |app| ready(app).0 == start_of_third);
    for step in 1..=14 {
        h.key_press(egui::Key::ArrowRight);
        wait_until(&mut h, |app| ready(app).0 == start_of_third + step);
    }
    h.key_press(egui::Key::J);
    wait_until(&mut h, |app| ready(app).0 == start_of_third);
    h.key_press(egui::Key::L);
    h.run();
    assert!(ready(h.state()).2, "L plays");
    h.key_press(egui::Key::Space);
    h.run();
    assert!(!ready(h.state()).2, "Space pauses");
    // A click on a shot in the list plays from it.
    h.get_by_label("The punch").click();
    wait_until(&mut h, |app| ready(app).1 == Some(4));
    h.key_press(egui::Key::Escape);
    h.run();
    assert!(h.state().panels.animatic.is_none(), "Esc closes");
    assert!(
        h.query_by_label("Play animatic").is_some(),
        "the board is back"
    );
}

#[test]
fn the_animatic_shows_shots_without_a_take_as_cards_of_their_description() {
    use super::animatic::{Animatic, SpanKind};
    let fx = Fixture::new();
    let mut h = storyboard(&fx);
    press(&mut h, "Play animatic");
    wait_until(&mut h, |app| {
        matches!(
            app.panels.animatic,
            Some(Animatic::Ready(_) | Animatic::Failed(_))
        )
    });
    h.run();
    let Some(Animatic::Ready(r)) = &h.state().panels.animatic else {
        panic!("the animatic plays even with nothing run");
    };
    assert!(r.spans.iter().all(|s| s.kind == SpanKind::Missing));
    let first = r.spans[0].description.clone();
    assert!(!first.is_empty());
    assert!(
        h.query_by_label("no take yet: run its node to see it here")
            .is_some()
    );
    assert!(
        h.query_all_by_label(&first).count() >= 1,
        "the card shows the shot's description"
    );
}

#[test]
fn a_shot_list_is_imported_from_a_template_with_its_cost_shown_first_in_one_undo_step() {
    use super::AppCommand;
    let fx = Fixture::new();
    let mut h = storyboard(&fx);
    let night = titled(h.state(), "Rooftop at night");
    h.state_mut()
        .send(AppCommand::Edit(super::state::Command::SetParam {
            node: night,
            key: "prompt".into(),
            value: serde_json::json!("{description}, heavy rain"),
        }));
    h.state_mut()
        .send(AppCommand::Edit(super::state::Command::Select(vec![night])));
    h.run();
    let before_shots = h.state().state.doc.sequence.shots.len();
    let before_nodes = h.state().state.doc.nodes.len();
    let list = fx.dir.path().join("shots.csv");
    std::fs::write(
        &list,
        "Shot,Title,Description\n14,Ledge,Mara on the ledge\n15,Drop,Mara jumps\n",
    )
    .expect("write");
    h.state_mut().send(AppCommand::ReadShotList(list));
    wait_until(&mut h, |app| app.panels.dialogs.shot_list.is_some());
    wait_until(&mut h, |app| {
        app.panels
            .dialogs
            .shot_list
            .as_ref()
            .is_some_and(|d| d.cost.is_some())
    });
    h.run();
    assert!(h.query_by_label_contains("shots.csv: 2 rows").is_some());
    assert!(h.query_by_label("Prompts use {description}.").is_some());
    // The draft route (the tests' default) is free; the account route's price is checked by
    // the command line's test (tests/e2e/shots.rs).
    assert!(
        h.query_by_label("Running the batch would cost 0 credit(s): 3 node(s) to run")
            .is_some(),
        "the batch's cost is shown before importing (two pictures and the location they share)"
    );
    assert!(
        h.query_by_label("10 credit(s) on the account route")
            .is_some(),
        "and its price on the account route (two Image to Image nodes at 5)"
    );
    press(&mut h, "Import");
    h.run();
    let doc = &h.state().state.doc;
    assert_eq!(doc.sequence.shots.len(), before_shots + 2);
    assert_eq!(doc.nodes.len(), before_nodes + 2);
    let ledge = &doc.sequence.shots[before_shots];
    assert_eq!(ledge.title, "Ledge");
    assert_eq!(
        doc.nodes[&ledge.node].param_str("prompt"),
        "Mara on the ledge, heavy rain"
    );
    assert!(
        h.state().panels.dialogs.shot_list.is_none(),
        "the window closes"
    );
    assert_eq!(h.state().state.history.can_undo(), Some("Import 2 shots"));
    h.key_press_modifiers(Modifiers::COMMAND, egui::Key::Z);
    h.run();
    assert_eq!(h.state().state.doc.sequence.shots.len(), before_shots);
    assert_eq!(
        h.state().state.doc.nodes.len(),
        before_nodes,
        "one undo step"
    );

    // A list the template cannot use says why and imports nothing.
    let bad = fx.dir.path().join("titles.csv");
    std::fs::write(&bad, "Title\nLedge\n").expect("write");
    h.state_mut()
        .send(AppCommand::Edit(super::state::Command::Select(vec![night])));
    h.state_mut().send(AppCommand::ReadShotList(bad));
    wait_until(&mut h, |app| app.panels.dialogs.shot_list.is_some());
    h.run();
    assert!(
        h.query_by_label_contains("which the shot list has no field for")
            .is_some()
    );
    press(&mut h, "Cancel");
    h.run();
    assert_eq!(h.state().state.doc.nodes.len(), before_nodes);
    // A malformed file is named in the status line.
    let broken = fx.dir.path().join("broken.csv");
    std::fs::write(&broken, "a,b\n1,2,3\n").expect("write");
    h.state_mut().send(AppCommand::ReadShotList(broken));
    wait_until(&mut h, |app| app.loaders.reading_shots.is_none());
    h.run();
    let message = h.state().message.clone().unwrap_or_default();
    assert!(
        message.contains("line 2: the row has 3 fields"),
        "{message}"
    );
    assert!(h.state().panels.dialogs.shot_list.is_none());
}

#[test]
fn a_shots_details_are_edited_in_their_window_each_field_one_undo_step() {
    use aktion_graph::ShotStatus;
    let fx = Fixture::new();
    let mut h = storyboard(&fx);
    wait_until(&mut h, |app| app.panels.strip.settled());
    h.run();
    let card = shot_card(&h, 1);
    h.get_by_label(&card).click();
    h.run();
    press(&mut h, "Shot details…");
    assert!(
        h.query_by_label("Shot 2").is_some(),
        "the window names the shot"
    );
    h.get_by_label("Title").focus();
    h.run();
    h.key_press_modifiers(Modifiers::COMMAND, egui::Key::A);
    h.event(Event::Text("The Broker waits".into()));
    h.run();
    let shot = |app: &Studio| app.state.doc.sequence.shots[1].clone();
    assert_eq!(shot(h.state()).title, "The Broker waits");
    h.event(Event::Text(", smoking".into()));
    h.run();
    assert_eq!(shot(h.state()).title, "The Broker waits, smoking");
    press(&mut h, "approved");
    assert_eq!(shot(h.state()).status, ShotStatus::Approved);
    press(&mut h, "Shot types");
    press(&mut h, "ECU");
    assert_eq!(shot(h.state()).camera.shot_type, "ECU");
    // Three changes, three undo steps: the typing in the title is one.
    assert_eq!(h.state().state.history.can_undo(), Some("Change shot type"));
    let undo = |h: &mut Harness<'_, Studio>| {
        h.state_mut().apply(super::state::Command::Undo);
        h.run();
    };
    undo(&mut h);
    undo(&mut h);
    assert_eq!(shot(h.state()).status, ShotStatus::Draft);
    assert_eq!(shot(h.state()).title, "The Broker waits, smoking");
    undo(&mut h);
    assert_eq!(shot(h.state()).title, "The Broker");
}

/// Settings → Inputs & deployments (issue #15), as a studio sets it up: its own Wan deployment
/// for Sequence, checked against the deployed workflow through RunComfy's management API (the
/// shipped node ids do not land, the studio's do), saved so the direct route sends the studio's
/// ids; and an S3-compatible bucket for A2E's inputs, its keys kept in the secret store, never
/// in the settings file.
#[test]
#[expect(
    clippy::too_many_lines,
    reason = "one visit to the tab, deployment then hosting, as a studio makes it"
)]
fn settings_map_a_studio_deployment_and_set_up_input_hosting() {
    use settings_under_test::Prefs;

    let rt = one_worker_runtime();
    let runcomfy = rt
        .block_on(aktion_fakes::Fake::start(aktion_fakes::Flavor::RunComfy))
        .expect("fake");
    runcomfy.require_key("rc-settings-key");
    runcomfy.add_deployment(
        "studio-wan",
        serde_json::json!({
            "12": {"class_type": "LoadImage", "inputs": {"image": "a.png"}},
            "13": {"class_type": "LoadImage", "inputs": {"image": "b.png"}},
            "16": {"class_type": "CLIPTextEncode", "inputs": {"text": ""}},
            "57": {"class_type": "KSamplerAdvanced", "inputs": {"noise_seed": 0}}
        }),
    );
    let fx = Fixture::new();
    let base = runcomfy.base_url();
    let mut h = fx.harness_with(
        AppState::new(Document::default(), fx.root()),
        &[
            ("AKTION_RUNCOMFY_BASE_URL", base.as_str()),
            ("RUNCOMFY_API_TOKEN", "rc-settings-key"),
        ],
    );
    let store = aktion_account::secrets::SecretStore::file_only(&fx.dir.path().join("secrets"));
    let config = fx.dir.path().join("config");
    h.state_mut()
        .panels
        .settings
        .set_storage(Some(store.clone()), Some(config.clone()));
    h.run();
    press(&mut h, "Settings");
    press(&mut h, "Inputs & deployments");
    assert!(h.query_by_label("Epic Scene deployment").is_some());

    h.get_by_label("Sequence deployment").scroll_to_me();
    h.run();
    text_field(&mut h, "Sequence deployment", "studio-wan");
    let checked = |app: &Studio| {
        !app.panels
            .settings
            .deployments
            .checking
            .contains("sequence")
    };
    press_scrolled(&mut h, "Check Sequence");
    wait_until(&mut h, |app| {
        checked(app)
            && app
                .panels
                .settings
                .deployments
                .checks
                .contains_key("sequence")
    });
    let (ok, lines) = h.state().panels.settings.deployments.checks["sequence"].clone();
    assert!(!ok, "{lines:?}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("node 52 is not in the deployment's workflow")),
        "{lines:?}"
    );
    assert!(
        h.query_by_label_contains("node 52 is not in").is_some(),
        "shown"
    );

    // The studio's node ids; what its workflow has no node for goes.
    {
        let form = h
            .state_mut()
            .panels
            .settings
            .deployments
            .forms
            .get_mut("sequence")
            .expect("form");
        form.rows.retain_mut(|row| {
            let (node, input) = match row.from.as_str() {
                "first_frame" => ("12", "image"),
                "last_frame" => ("13", "image"),
                "prompt" => ("16", "text"),
                "seed" => ("57", "noise_seed"),
                _ => return false,
            };
            (row.node, row.input) = (node.into(), input.into());
            true
        });
    }
    press_scrolled(&mut h, "Check Sequence");
    wait_until(&mut h, |app| {
        checked(app) && app.panels.settings.deployments.checks["sequence"].0
    });
    press_scrolled(&mut h, "Save Sequence");
    wait_until(&mut h, |app| !app.panels.settings.busy());
    let saved = Prefs::load(&config);
    assert_eq!(saved.deployments["sequence"].deployment_id, "studio-wan");
    let providers = h
        .state()
        .panels
        .settings
        .worker_setup()
        .providers_config()
        .expect("config");
    let seq = &providers.kinds["sequence"];
    assert_eq!(
        seq.target,
        aktion_providers::Target::RunComfy {
            deployment_id: "studio-wan".into()
        }
    );
    let to: Vec<&str> = seq.inputs.iter().map(|m| m.to.as_str()).collect();
    assert_eq!(
        to,
        [
            "12/inputs/image",
            "13/inputs/image",
            "16/inputs/text",
            "57/inputs/noise_seed"
        ]
    );

    // Input hosting: the bucket in the settings file, its keys in the secret store.
    h.get_by_label("Bucket").scroll_to_me();
    h.run();
    text_field(&mut h, "Bucket", "s3://studio-inputs/aktion");
    text_field(&mut h, "Access key id", "AKIDSETTINGS");
    text_field(&mut h, "Secret access key", "bucket-secret-from-settings");
    press_scrolled(&mut h, "Save hosting");
    wait_until(&mut h, |app| !app.panels.settings.busy());
    let saved = Prefs::load(&config);
    assert_eq!(
        saved.input_bucket.as_deref(),
        Some("s3://studio-inputs/aktion")
    );
    assert_eq!(
        store
            .get("AWS_SECRET_ACCESS_KEY")
            .expect("store")
            .as_deref(),
        Some("bucket-secret-from-settings")
    );
    let text = std::fs::read_to_string(config.join("settings.json")).expect("settings");
    assert!(!text.contains("bucket-secret-from-settings") && !text.contains("AKIDSETTINGS"));
    let providers = h
        .state()
        .panels
        .settings
        .worker_setup()
        .providers_config()
        .expect("config");
    let bucket = providers.input_host.bucket.expect("bucket configured");
    assert_eq!(bucket.access_key_id.as_deref(), Some("AKIDSETTINGS"));
    assert!(
        !providers.input_host.a2e_presigned_upload,
        "off unless turned on"
    );

    // Back to the shipped mapping.
    press_scrolled(&mut h, "Reset Sequence");
    wait_until(&mut h, |app| !app.panels.settings.busy());
    assert!(!Prefs::load(&config).deployments.contains_key("sequence"));
    drop(runcomfy);
    drop(rt);
}

/// Scrolls the widget into view, then presses it (the Inputs & deployments tab scrolls).
fn press_scrolled(h: &mut Harness<'_, Studio>, label: &str) {
    h.get_by_label(label).scroll_to_me();
    h.run();
    press(h, label);
}
