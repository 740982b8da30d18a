//! App state and the one place where commands are applied. No egui types: widgets read this
//! state and emit [`Command`]s; [`AppState::apply`] changes the document through undoable
//! edits, keeps the selection consistent and tracks what needs saving.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use aktion_graph::clipboard;
use aktion_graph::edit::{Edit, History};
use aktion_graph::project;
use aktion_graph::{Catalog, Document, Node, NodeId, PortType, Route, TakeId, Wire};
use serde_json::Value;

pub use super::export::export_takes;
pub use super::import::{DroppedFile, PreparedFile, prepare_file};

/// How long unsaved changes may wait before they are autosaved (the contract: lose ≤ 2 s).
pub const AUTOSAVE_AFTER: Duration = Duration::from_secs(1);

/// Something the user asked for.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    AddNode {
        kind: String,
        pos: [f32; 2],
    },
    /// Puts back a node that was deleted while its job ran: same id, kind, title and
    /// parameters (its result is then recorded as a take).
    Restore {
        node: NodeId,
        kind: String,
        title: String,
        params: std::collections::BTreeMap<String, serde_json::Value>,
        at: [f32; 2],
    },
    /// From the palette opened by dropping a wire on empty space: add and connect.
    AddNodeFrom {
        kind: String,
        pos: [f32; 2],
        from: NodeId,
    },
    Delete(Vec<NodeId>),
    Move {
        ids: Vec<NodeId>,
        delta: [f32; 2],
    },
    /// A frame dragged by its title, with the nodes inside it.
    MoveFrame {
        index: usize,
        nodes: Vec<NodeId>,
        delta: [f32; 2],
    },
    Connect(Wire),
    Disconnect(Wire),
    SetParam {
        node: NodeId,
        key: String,
        value: Value,
    },
    SetTitle {
        node: NodeId,
        title: String,
    },
    SetMuted {
        ids: Vec<NodeId>,
        on: bool,
    },
    SetBypassed {
        ids: Vec<NodeId>,
        on: bool,
    },
    SetRoute {
        node: NodeId,
        route: Option<Route>,
    },
    /// The board's route for every node of a kind (`None`: the app's default).
    SetKindRoute {
        kind: String,
        route: Option<Route>,
    },
    PinSeed {
        node: NodeId,
        pinned: bool,
    },
    Duplicate(Vec<NodeId>),
    Paste {
        text: String,
        at: [f32; 2],
    },
    /// Files prepared off the UI thread (checked and copied into the assets): one node each.
    AddPrepared {
        files: Vec<PreparedFile>,
        at: [f32; 2],
    },
    /// A file prepared off the UI thread, wired into a node's input.
    FillInputPrepared {
        node: NodeId,
        input: String,
        slot: u32,
        file: PreparedFile,
    },
    /// The Epic Scene panel's Generate: an Epic Scene node at `at` with the six images wired
    /// into its slots in order (board nodes, or files dropped on the panel, which become image
    /// nodes), as one undoable step. The new node is selected.
    AddEpicScene {
        images: Vec<SceneImage>,
        prompt: String,
        at: [f32; 2],
    },
    /// Puts a titled frame (backdrop) around the nodes: a shot or a scene.
    FrameNodes {
        ids: Vec<NodeId>,
        title: String,
    },
    /// Gives the frame at `index` a new title.
    RenameFrame {
        index: usize,
        title: String,
    },
    /// Gives the frame at `index` a new rectangle (`[x, y, width, height]`).
    ResizeFrame {
        index: usize,
        rect: [f32; 4],
    },
    /// Removes the frame at `index` (its nodes stay).
    DeleteFrame(usize),
    PickTake {
        node: NodeId,
        take: TakeId,
    },
    DeleteTake {
        node: NodeId,
        take: TakeId,
    },
    /// The user's 1–5 rating of a take (kept in the project, one undo step).
    RateTake {
        node: NodeId,
        take: TakeId,
        rating: u8,
    },
    Select(Vec<NodeId>),
    /// The sequence as the strip edited it (add, reorder, trim, delete, fields): one undo step,
    /// or merged with the previous one of the same `merge` key (a trim drag, typing).
    SetSequence {
        sequence: Box<aktion_graph::Sequence>,
        label: String,
        merge: Option<String>,
    },
    /// A shot list made into shots from a template (File → Import shot list…): one undo
    /// step; the new shots' nodes are selected.
    ImportShots {
        list: std::sync::Arc<aktion_graph::shotlist::ShotList>,
        template: Vec<NodeId>,
    },
    Undo,
    Redo,
    /// Ends merging of typing into one undo step (a text box lost focus).
    Seal,
}

/// Where one of the Epic Scene's six images comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum SceneImage {
    /// A node on the board whose output is an image.
    Node(NodeId),
    /// A file dropped on the panel (checked and copied into the assets already).
    File(PreparedFile),
}

/// The app's state.
pub struct AppState {
    pub doc: Document,
    /// The project folder; new boards get one under the data folder at once, so imports and
    /// autosave always have a home.
    pub root: PathBuf,
    pub history: History,
    saved_revision: u64,
    pub selection: BTreeSet<NodeId>,
    /// Why the board is read-only (a newer format), if it is.
    pub read_only: Option<String>,
    last_change: Option<Instant>,
    autosaved_revision: u64,
    /// Results recorded as takes since the last save (they change the file, not the history).
    takes_changed: bool,
    /// Bumped whenever a result is recorded as a take (the history's revision does not move).
    pub takes_rev: u64,
}

impl AppState {
    pub fn new(doc: Document, root: PathBuf) -> Self {
        Self {
            doc,
            root,
            history: History::new(500),
            saved_revision: 0,
            selection: BTreeSet::new(),
            read_only: None,
            last_change: None,
            autosaved_revision: 0,
            takes_changed: false,
            takes_rev: 0,
        }
    }

    /// Opens a project folder (or its `project.json`).
    /// A board saved by a newer version opens read-only with what this version can read of it
    /// (and says so); it is never overwritten.
    pub fn open(path: &Path) -> Result<Self, aktion_graph::ProjectError> {
        match project::load(path, Catalog::builtin()) {
            Ok((root, doc)) => Ok(Self::new(doc, root)),
            Err(newer @ aktion_graph::ProjectError::NewerVersion { .. }) => {
                let (root, doc, left_out) = project::load_newer(path, Catalog::builtin())?;
                let mut s = Self::new(doc, root);
                s.read_only = Some(if left_out == 0 {
                    newer.to_string()
                } else {
                    format!(
                        "{newer}; {left_out} node(s) or wire(s) this version cannot read are not shown"
                    )
                });
                Ok(s)
            }
            Err(e) => Err(e),
        }
    }

    pub fn is_modified(&self) -> bool {
        self.history.revision() != self.saved_revision || self.takes_changed
    }

    /// Opens a project, taking the autosave copy when a crash left unsaved work newer than the
    /// file. The recovered board is marked unsaved, so the user decides by saving (or not);
    /// project.json itself is not touched. Returns the state and what to tell the user.
    pub fn open_with_recovery(path: &Path) -> Result<(Self, String), aktion_graph::ProjectError> {
        let mut s = Self::open(path)?;
        let message = match project::recoverable(&s.root, Catalog::builtin()) {
            Some(auto) => {
                s.doc = auto;
                s.takes_changed = true;
                "recovered unsaved changes from the last session; save to keep them".to_owned()
            }
            None => match &s.read_only {
                Some(why) => why.clone(),
                None => format!("opened {}", s.root.display()),
            },
        };
        Ok((s, message))
    }

    /// Records a finished result as the node's active take. Not an undoable edit: results are
    /// not taken back by Undo, but they are saved with the board.
    pub fn record_result(
        &mut self,
        node: NodeId,
        signature: &str,
        result: &aktion_cache::CachedResult,
    ) {
        if aktion_engine::takes::record_take(&mut self.doc, node, signature, result).is_some() {
            self.takes_changed = true;
            self.takes_rev += 1;
        }
    }

    /// Saves to the project folder (atomically) and drops the autosave copy.
    pub fn save(&mut self) -> Result<(), String> {
        if let Some(why) = &self.read_only {
            return Err(format!("this board is read-only: {why}"));
        }
        project::save(&self.root, &self.doc).map_err(|e| format!("{e:#}"))?;
        project::discard_autosave(&self.root);
        self.saved_revision = self.history.revision();
        self.autosaved_revision = self.saved_revision;
        self.takes_changed = false;
        Ok(())
    }

    /// Saves into another folder (assets come along) and makes it the project.
    pub fn save_as(&mut self, root: &Path) -> Result<(), String> {
        copy_project_files(&self.root, root)
            .map_err(|e| format!("cannot copy the assets and takes: {e}"))?;
        let old = std::mem::replace(&mut self.root, root.to_path_buf());
        self.read_only = None;
        self.save().inspect_err(|_| self.root = old)
    }

    /// Whether unsaved changes are still waiting for their autosave.
    pub fn autosave_pending(&self) -> bool {
        self.read_only.is_none()
            && self.is_modified()
            && self.history.revision() != self.autosaved_revision
    }

    /// Writes the autosave copy when changes have waited long enough. Returns whether it wrote.
    pub fn autosave_if_due(&mut self, now: Instant) -> Result<bool, String> {
        let due = self.history.revision() != self.autosaved_revision
            && self.is_modified()
            && self
                .last_change
                .is_some_and(|t| now.duration_since(t) >= AUTOSAVE_AFTER);
        if !due || self.read_only.is_some() {
            return Ok(false);
        }
        project::autosave(&self.root, &self.doc).map_err(|e| format!("{e:#}"))?;
        self.autosaved_revision = self.history.revision();
        Ok(true)
    }

    /// Applies one command. An error leaves the board as it was and says why.
    #[expect(
        clippy::too_many_lines,
        reason = "one short arm per command reads best in one place"
    )]
    pub fn apply(&mut self, cmd: Command, now: Instant) -> Result<(), String> {
        if self.read_only.is_some() && !matches!(cmd, Command::Select(_) | Command::Seal) {
            return Err("this board is read-only".into());
        }
        let catalog = Catalog::builtin();
        let before = self.history.revision();
        match cmd {
            Command::Select(ids) => {
                self.selection = ids
                    .into_iter()
                    .filter(|i| self.doc.nodes.contains_key(i))
                    .collect();
            }
            Command::Seal => self.history.seal(),
            Command::Undo => {
                self.history.undo(&mut self.doc, catalog);
            }
            Command::Redo => {
                self.history.redo(&mut self.doc, catalog);
            }
            Command::AddNode { kind, pos } => {
                let node = new_node(catalog, &kind, pos)?;
                let id = node.id;
                self.edit(
                    format!("Add {}", title_of(catalog, &kind)),
                    vec![Edit::AddNode(Box::new(node))],
                    None,
                )?;
                self.selection = [id].into();
            }
            Command::Restore {
                node,
                kind,
                title,
                params,
                at,
            } => {
                if self.doc.nodes.contains_key(&node) {
                    return Err("that node is already on the board".into());
                }
                let mut n = new_node(catalog, &kind, at)?;
                n.id = node;
                n.title = title;
                n.params.extend(params);
                self.edit(
                    format!("Restore {}", title_of(catalog, &kind)),
                    vec![Edit::AddNode(Box::new(n))],
                    None,
                )?;
                self.selection = [node].into();
            }
            Command::AddNodeFrom { kind, pos, from } => {
                let node = new_node(catalog, &kind, pos)?;
                let id = node.id;
                let out = self
                    .doc
                    .output_type(catalog, from)
                    .ok_or("the source node is gone")?;
                let schema = catalog.get(&kind).ok_or("unknown kind")?;
                let input = schema
                    .inputs
                    .iter()
                    .find(|i| out.feeds(i.ty))
                    .ok_or_else(|| format!("{} takes no {out}", schema.title))?;
                let wire = Wire {
                    from,
                    to: id,
                    input: input.id.clone(),
                    slot: 0,
                };
                self.edit(
                    format!("Add {}", schema.title),
                    vec![Edit::AddNode(Box::new(node)), Edit::Connect(wire)],
                    None,
                )?;
                self.selection = [id].into();
            }
            Command::Delete(ids) => {
                let edits = ids
                    .iter()
                    .filter(|i| self.doc.nodes.contains_key(i))
                    .map(|&i| Edit::RemoveNode(i))
                    .collect::<Vec<_>>();
                let n = edits.len();
                self.edit(plural("Delete", n), edits, None)?;
                for i in &ids {
                    self.selection.remove(i);
                }
            }
            Command::Move { ids, delta } => {
                if !delta.iter().all(|d| d.is_finite()) {
                    return Err("bad move".into());
                }
                let edits = self.replace_each(&ids, |n| {
                    n.pos = [n.pos[0] + delta[0], n.pos[1] + delta[1]];
                });
                self.edit(plural("Move", ids.len()), edits, None)?;
            }
            Command::RenameFrame { index, title } => {
                let title = title.trim();
                if title.is_empty() || title.chars().count() > 200 {
                    return Err("a frame title is 1 to 200 characters".into());
                }
                let mut frames = self.doc.frames.clone();
                let frame = frames.get_mut(index).ok_or("no such frame")?;
                if frame.title == title {
                    return Ok(());
                }
                title.clone_into(&mut frame.title);
                self.edit("Rename frame".into(), vec![Edit::SetFrames(frames)], None)?;
            }
            Command::ResizeFrame { index, rect } => {
                if !rect.iter().all(|v| v.is_finite()) || rect[2] <= 0.0 || rect[3] <= 0.0 {
                    return Err("bad frame size".into());
                }
                let mut frames = self.doc.frames.clone();
                frames.get_mut(index).ok_or("no such frame")?.rect = rect;
                self.edit("Resize frame".into(), vec![Edit::SetFrames(frames)], None)?;
            }
            Command::MoveFrame {
                index,
                nodes,
                delta,
            } => {
                if !delta.iter().all(|d| d.is_finite()) {
                    return Err("bad move".into());
                }
                let mut frames = self.doc.frames.clone();
                let f = frames.get_mut(index).ok_or("no such frame")?;
                f.rect[0] += delta[0];
                f.rect[1] += delta[1];
                let mut edits = vec![Edit::SetFrames(frames)];
                edits.extend(self.replace_each(&nodes, |n| {
                    n.pos = [n.pos[0] + delta[0], n.pos[1] + delta[1]];
                }));
                self.edit("Move frame".into(), edits, None)?;
            }
            Command::Connect(wire) => {
                self.doc
                    .check_connect(catalog, &wire, true)
                    .map_err(|e| e.to_string())?;
                self.edit("Connect".into(), vec![Edit::Connect(wire)], None)?;
            }
            Command::Disconnect(wire) => {
                self.edit("Disconnect".into(), vec![Edit::Disconnect(wire)], None)?;
            }
            Command::SetParam { node, key, value } => {
                let kind = self
                    .doc
                    .node(node)
                    .and_then(|n| catalog.get(&n.kind))
                    .ok_or("no such node")?;
                let schema = kind
                    .param(&key)
                    .ok_or_else(|| format!("{} has no `{key}`", kind.title))?;
                aktion_graph::validate::check_param(schema, Some(&value))
                    .map_err(|e| e.to_string())?;
                let label = format!("Edit {}", schema.label);
                let merge = Some(format!("param:{node}:{key}"));
                let edits = self.replace_each(&[node], |n| {
                    n.params.insert(key.clone(), value.clone());
                });
                self.edit(label, edits, merge)?;
            }
            Command::SetSequence {
                sequence,
                label,
                merge,
            } => {
                if *sequence != self.doc.sequence {
                    self.edit(label, vec![Edit::SetSequence(sequence)], merge)?;
                }
            }
            Command::SetTitle { node, title } => {
                let merge = Some(format!("title:{node}"));
                let edits = self.replace_each(&[node], |n| n.title.clone_from(&title));
                self.edit("Rename".into(), edits, merge)?;
            }
            Command::SetMuted { ids, on } => {
                let edits = self.replace_each(&ids, |n| n.muted = on);
                self.edit(if on { "Mute" } else { "Unmute" }.into(), edits, None)?;
            }
            Command::SetBypassed { ids, on } => {
                let edits = self.replace_each(&ids, |n| n.bypassed = on);
                self.edit(
                    if on { "Bypass" } else { "Stop bypassing" }.into(),
                    edits,
                    None,
                )?;
            }
            Command::SetRoute { node, route } => {
                let edits = self.replace_each(&[node], |n| n.route = route);
                self.edit("Change route".into(), edits, None)?;
            }
            Command::SetKindRoute { kind, route } => {
                let edits = vec![Edit::SetKindRoute { kind, route }];
                self.edit("Change route of a kind".into(), edits, None)?;
            }
            Command::PinSeed { node, pinned } => {
                let edits = self.replace_each(&[node], |n| n.seed_pinned = pinned);
                self.edit(
                    if pinned { "Pin seed" } else { "Unpin seed" }.into(),
                    edits,
                    None,
                )?;
            }
            Command::Duplicate(ids) => {
                let text = clipboard::copy(&self.doc, &ids, None);
                let at = self.offset_of(&ids, [40.0, 40.0]);
                self.paste(&text, at, "Duplicate")?;
            }
            Command::Paste { text, at } => self.paste(&text, at, "Paste")?,
            Command::ImportShots { list, template } => {
                let made = aktion_graph::batch::plan(&self.doc, catalog, &list, &template)
                    .map_err(|e| e.to_string())?;
                let label = format!(
                    "Import {} shot{}",
                    made.shots.len(),
                    if made.shots.len() == 1 { "" } else { "s" }
                );
                self.edit(label, made.edits, None)?;
                self.selection = made.shot_nodes.into_iter().collect();
            }
            Command::AddPrepared { files, at } => self.add_prepared(&files, at)?,
            Command::AddEpicScene { images, prompt, at } => {
                self.add_epic_scene(&images, prompt, at)?;
            }
            Command::FillInputPrepared {
                node,
                input,
                slot,
                file,
            } => self.fill_input(node, input, slot, &file)?,
            Command::FrameNodes { ids, title } => {
                let rects: Vec<[f32; 4]> = ids
                    .iter()
                    .filter_map(|i| self.doc.node(*i))
                    .map(|n| {
                        let pins = catalog.get(&n.kind).map_or(1, |k| {
                            k.inputs
                                .iter()
                                .map(aktion_graph::catalog::InputSchema::slot_count)
                                .sum::<u32>()
                                .max(1)
                        });
                        [n.pos[0], n.pos[1], 240.0, 100.0 + 22.0 * pins as f32]
                    })
                    .collect();
                if rects.is_empty() {
                    return Err("select the nodes to frame first".into());
                }
                let margin = 30.0;
                let x0 = rects.iter().map(|r| r[0]).fold(f32::INFINITY, f32::min) - margin;
                let y0 = rects.iter().map(|r| r[1]).fold(f32::INFINITY, f32::min) - margin - 24.0;
                let x1 = rects
                    .iter()
                    .map(|r| r[0] + r[2])
                    .fold(f32::NEG_INFINITY, f32::max)
                    + margin;
                let y1 = rects
                    .iter()
                    .map(|r| r[1] + r[3])
                    .fold(f32::NEG_INFINITY, f32::max)
                    + margin;
                let mut frames = self.doc.frames.clone();
                frames.push(aktion_graph::Frame::new(title, [x0, y0, x1 - x0, y1 - y0]));
                self.edit("Frame nodes".into(), vec![Edit::SetFrames(frames)], None)?;
            }
            Command::DeleteFrame(index) => {
                let mut frames = self.doc.frames.clone();
                if index >= frames.len() {
                    return Err("no such frame".into());
                }
                frames.remove(index);
                self.edit("Delete frame".into(), vec![Edit::SetFrames(frames)], None)?;
            }
            Command::PickTake { node, take } => {
                self.take_edit("Pick take", node, take, aktion_engine::takes::pick_take)?;
            }
            Command::DeleteTake { node, take } => {
                self.take_edit("Delete take", node, take, aktion_engine::takes::delete_take)?;
            }
            Command::RateTake { node, take, rating } => {
                if !(1..=5).contains(&rating) {
                    return Err("a rating is 1 to 5".into());
                }
                let mut n = self.doc.node(node).cloned().ok_or("no such node")?;
                let t = n
                    .takes
                    .iter_mut()
                    .find(|t| t.id == take)
                    .ok_or("no such take")?;
                t.meta.rating = Some(rating);
                self.edit(
                    "Rate take".into(),
                    vec![Edit::ReplaceNode(Box::new(n))],
                    None,
                )?;
            }
        }
        if self.history.revision() != before {
            self.last_change = Some(now);
            self.selection.retain(|i| self.doc.nodes.contains_key(i));
        }
        Ok(())
    }

    fn edit(
        &mut self,
        label: String,
        edits: Vec<Edit>,
        merge: Option<String>,
    ) -> Result<(), String> {
        self.history
            .apply(&mut self.doc, Catalog::builtin(), label, edits, merge)
            .map_err(|e| e.to_string())
    }

    /// Applies a take operation (pick, delete) to a copy of the node, then records the result
    /// as one undoable replacement.
    fn take_edit(
        &mut self,
        label: &str,
        node: NodeId,
        take: TakeId,
        op: fn(&mut Document, NodeId, TakeId) -> bool,
    ) -> Result<(), String> {
        let mut probe = Document::default();
        probe.add_node(self.doc.node(node).cloned().ok_or("no such node")?);
        if !op(&mut probe, node, take) {
            return Err("no such take".into());
        }
        let n = probe.node(node).cloned().ok_or("no such node")?;
        self.edit(label.into(), vec![Edit::ReplaceNode(Box::new(n))], None)
    }

    /// `ReplaceNode` edits for each existing node in `ids` after `change`.
    fn replace_each(&self, ids: &[NodeId], change: impl Fn(&mut Node)) -> Vec<Edit> {
        ids.iter()
            .filter_map(|i| self.doc.node(*i))
            .map(|n| {
                let mut n = n.clone();
                change(&mut n);
                Edit::ReplaceNode(Box::new(n))
            })
            .collect()
    }

    fn offset_of(&self, ids: &[NodeId], by: [f32; 2]) -> [f32; 2] {
        let (x, y) = ids
            .iter()
            .filter_map(|i| self.doc.node(*i))
            .fold((f32::INFINITY, f32::INFINITY), |(x, y), n| {
                (x.min(n.pos[0]), y.min(n.pos[1]))
            });
        if x.is_finite() {
            [x + by[0], y + by[1]]
        } else {
            by
        }
    }

    fn paste(&mut self, text: &str, at: [f32; 2], label: &str) -> Result<(), String> {
        let (edits, ids) =
            clipboard::paste(text, at, Catalog::builtin()).map_err(|e| e.to_string())?;
        self.edit(plural(label, ids.len()), edits, None)?;
        self.selection = ids.into_iter().collect();
        Ok(())
    }

    fn source_node(file: &PreparedFile, pos: [f32; 2]) -> Result<Node, String> {
        let mut node = new_node(Catalog::builtin(), file.kind, pos)?;
        node.params.insert("file".into(), file.asset.to_value());
        node.title.clone_from(&file.name);
        Ok(node)
    }

    fn add_prepared(&mut self, files: &[PreparedFile], at: [f32; 2]) -> Result<(), String> {
        let mut edits = Vec::new();
        let mut ids = Vec::new();
        for (i, file) in files.iter().enumerate() {
            let node = Self::source_node(file, [at[0] + 280.0 * i as f32, at[1]])?;
            ids.push(node.id);
            edits.push(Edit::AddNode(Box::new(node)));
        }
        self.edit(plural("Import", ids.len()), edits, None)?;
        self.selection = ids.into_iter().collect();
        Ok(())
    }

    fn add_epic_scene(
        &mut self,
        images: &[SceneImage],
        prompt: String,
        at: [f32; 2],
    ) -> Result<(), String> {
        const SLOTS: usize = 6;
        if images.len() != SLOTS {
            return Err(format!(
                "an Epic Scene takes exactly {SLOTS} images ({} given)",
                images.len()
            ));
        }
        let catalog = Catalog::builtin();
        let mut scene = new_node(catalog, "coherent_scene", at)?;
        scene.params.insert("prompt".into(), prompt.into());
        let scene_id = scene.id;
        let mut probe = self.doc.clone();
        probe.add_node(scene.clone());
        let mut edits = vec![Edit::AddNode(Box::new(scene))];
        let mut wires = Vec::new();
        for (slot, image) in images.iter().enumerate() {
            let from = match image {
                SceneImage::Node(id) => {
                    let node = self
                        .doc
                        .node(*id)
                        .ok_or("an image of the scene is no longer on the board")?;
                    let output = catalog.get(&node.kind).map(|k| k.output);
                    if output != Some(aktion_graph::PortType::Image) {
                        return Err(format!(
                            "`{}` does not give an image",
                            node.display_title(catalog)
                        ));
                    }
                    *id
                }
                SceneImage::File(file) => {
                    let pos = [at[0] - 320.0, at[1] - 250.0 + 100.0 * slot as f32];
                    let source = Self::source_node(file, pos)?;
                    let id = source.id;
                    probe.add_node(source.clone());
                    edits.push(Edit::AddNode(Box::new(source)));
                    id
                }
            };
            wires.push(Wire {
                from,
                to: scene_id,
                input: "images".into(),
                slot: u32::try_from(slot).unwrap_or(u32::MAX),
            });
        }
        // Every wire checked against the board as it will be, before anything changes.
        for wire in &wires {
            probe
                .connect(catalog, wire.clone(), true)
                .map_err(|e| e.to_string())?;
        }
        edits.extend(wires.into_iter().map(Edit::Connect));
        self.edit("Epic scene".into(), edits, None)?;
        self.selection = std::iter::once(scene_id).collect();
        Ok(())
    }

    fn fill_input(
        &mut self,
        node: NodeId,
        input: String,
        slot: u32,
        file: &PreparedFile,
    ) -> Result<(), String> {
        let target = self.doc.node(node).ok_or("no such node")?;
        let pos = [target.pos[0] - 300.0, target.pos[1] + 40.0 * slot as f32];
        let source = Self::source_node(file, pos)?;
        let wire = Wire {
            from: source.id,
            to: node,
            input,
            slot,
        };
        // Check the wire against a board that has the new node, before changing anything.
        let mut probe = self.doc.clone();
        probe.add_node(source.clone());
        probe
            .check_connect(Catalog::builtin(), &wire, true)
            .map_err(|e| e.to_string())?;
        self.edit(
            format!("Drop {}", file.name),
            vec![Edit::AddNode(Box::new(source)), Edit::Connect(wire)],
            None,
        )
    }
}

fn new_node(catalog: &Catalog, kind: &str, pos: [f32; 2]) -> Result<Node, String> {
    let schema = catalog
        .get(kind)
        .ok_or_else(|| format!("unknown node kind `{kind}`"))?;
    if !pos.iter().all(|v| v.is_finite()) {
        return Err("bad position".into());
    }
    Ok(Node::new(schema, pos))
}

fn title_of<'a>(catalog: &'a Catalog, kind: &'a str) -> &'a str {
    catalog.get(kind).map_or(kind, |k| k.title.as_str())
}

fn plural(verb: &str, n: usize) -> String {
    if n == 1 {
        format!("{verb} node")
    } else {
        format!("{verb} {n} nodes")
    }
}

/// Copies the content-addressed assets of one project folder into another.
/// Copies a project's assets and take files into another project folder (Save As): each file
/// under a temporary name, then renamed, so a crash never leaves half a file under a real name.
/// Files already there are kept; temporary files are not copied.
fn copy_project_files(from: &Path, to: &Path) -> std::io::Result<()> {
    for folder in [project::ASSETS_DIR, project::TAKES_DIR] {
        let src = from.join(folder);
        let dst = to.join(folder);
        let Ok(entries) = std::fs::read_dir(&src) else {
            continue;
        };
        std::fs::create_dir_all(&dst)?;
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !name.starts_with('.') && e.file_type().is_ok_and(|t| t.is_file()) {
                super::import::copy_into(&e.path(), &dst, &name)?;
            }
        }
    }
    Ok(())
}

/// The kinds a wire of `ty` could feed (for the palette shown when a wire is dropped on empty
/// space), in palette order.
pub fn kinds_for_wire(ty: PortType) -> Vec<&'static str> {
    Catalog::builtin()
        .kinds_accepting(ty)
        .map(|k| k.id.as_str())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> (tempfile::TempDir, AppState) {
        let dir = tempfile::tempdir().expect("tmp");
        let root = dir.path().join("board.aktion");
        (dir, AppState::new(Document::default(), root))
    }

    fn png(w: u32, h: u32) -> Vec<u8> {
        aktion_media::encode_png(
            &image::RgbaImage::from_pixel(w, h, image::Rgba([200, 10, 10, 255])),
            &[],
        )
        .expect("png")
    }

    fn now() -> Instant {
        Instant::now()
    }

    /// Files straight from a test, checked and copied on this thread.
    enum Raw {
        ImportFiles {
            files: Vec<DroppedFile>,
            at: [f32; 2],
        },
        FillInput {
            node: NodeId,
            input: String,
            slot: u32,
            file: DroppedFile,
        },
    }

    fn apply_raw(s: &mut AppState, raw: Raw) -> Result<(), String> {
        let cmd = match raw {
            Raw::ImportFiles { files, at } => Command::AddPrepared {
                files: files
                    .iter()
                    .map(|f| prepare_file(&s.root, f))
                    .collect::<Result<Vec<_>, _>>()?,
                at,
            },
            Raw::FillInput {
                node,
                input,
                slot,
                file,
            } => Command::FillInputPrepared {
                node,
                input,
                slot,
                file: prepare_file(&s.root, &file)?,
            },
        };
        s.apply(cmd, now())
    }

    fn only_node(s: &AppState, kind: &str) -> NodeId {
        s.doc
            .nodes
            .values()
            .find(|n| n.kind == kind)
            .expect("node")
            .id
    }

    #[test]
    fn add_connect_refuse_undo_redo() {
        let (_d, mut s) = state();
        s.apply(
            Command::AddNode {
                kind: "audio".into(),
                pos: [0.0, 0.0],
            },
            now(),
        )
        .expect("add");
        s.apply(
            Command::AddNode {
                kind: "i2v".into(),
                pos: [300.0, 0.0],
            },
            now(),
        )
        .expect("add");
        let (audio, i2v) = (only_node(&s, "audio"), only_node(&s, "i2v"));
        let err = s
            .apply(
                Command::Connect(Wire {
                    from: audio,
                    to: i2v,
                    input: "image".into(),
                    slot: 0,
                }),
                now(),
            )
            .expect_err("refused");
        assert_eq!(err, "Image takes image, not audio");
        assert!(s.doc.wires.is_empty());
        assert_eq!(s.history.can_undo(), Some("Add Image to Video"));
        s.apply(Command::Undo, now()).expect("undo");
        assert_eq!(s.doc.nodes.len(), 1);
        s.apply(Command::Redo, now()).expect("redo");
        assert_eq!(s.doc.nodes.len(), 2);
        assert!(s.is_modified());
    }

    #[test]
    fn typing_a_prompt_is_one_undo_step_and_bad_values_are_refused() {
        let (_d, mut s) = state();
        s.apply(
            Command::AddNode {
                kind: "t2i".into(),
                pos: [0.0, 0.0],
            },
            now(),
        )
        .expect("add");
        let t = only_node(&s, "t2i");
        for text in ["a", "a c", "a cat"] {
            s.apply(
                Command::SetParam {
                    node: t,
                    key: "prompt".into(),
                    value: text.into(),
                },
                now(),
            )
            .expect("type");
        }
        s.apply(Command::Seal, now()).expect("seal");
        assert_eq!(s.doc.node(t).expect("t").param_str("prompt"), "a cat");
        s.apply(Command::Undo, now()).expect("undo");
        assert_eq!(s.doc.node(t).expect("t").param_str("prompt"), "");
        let err = s
            .apply(
                Command::SetParam {
                    node: t,
                    key: "aspect_ratio".into(),
                    value: "7:5".into(),
                },
                now(),
            )
            .expect_err("not a choice");
        assert!(err.contains("not one of"), "{err}");
    }

    #[test]
    fn dropped_files_make_nodes_and_a_corrupt_file_changes_nothing() {
        let (_d, mut s) = state();
        let files = vec![
            DroppedFile {
                name: "a.png".into(),
                bytes: png(8, 8),
            },
            DroppedFile {
                name: "b.png".into(),
                bytes: png(16, 9),
            },
        ];
        apply_raw(
            &mut s,
            Raw::ImportFiles {
                files,
                at: [10.0, 10.0],
            },
        )
        .expect("import");
        assert_eq!(s.doc.nodes.len(), 2);
        assert_eq!(s.selection.len(), 2);
        assert_eq!(s.history.can_undo(), Some("Import 2 nodes"));
        let before = s.doc.clone();
        let bad = vec![
            DroppedFile {
                name: "ok.png".into(),
                bytes: png(4, 4),
            },
            DroppedFile {
                name: "broken.jpg".into(),
                bytes: b"\xff\xd8\xff\xe0 not a jpeg".to_vec(),
            },
        ];
        let err = apply_raw(
            &mut s,
            Raw::ImportFiles {
                files: bad,
                at: [0.0, 0.0],
            },
        )
        .expect_err("corrupt");
        assert!(err.contains("broken.jpg"), "{err}");
        assert_eq!(s.doc, before, "a corrupt file in a drop changes nothing");
        let err = apply_raw(
            &mut s,
            Raw::ImportFiles {
                files: vec![DroppedFile {
                    name: "notes.txt".into(),
                    bytes: b"hello".to_vec(),
                }],
                at: [0.0, 0.0],
            },
        )
        .expect_err("unsupported");
        assert!(err.contains("notes.txt"));
    }

    #[test]
    fn a_file_dropped_on_an_input_fills_it() {
        let (_d, mut s) = state();
        s.apply(
            Command::AddNode {
                kind: "i2v".into(),
                pos: [400.0, 0.0],
            },
            now(),
        )
        .expect("add");
        let v = only_node(&s, "i2v");
        apply_raw(
            &mut s,
            Raw::FillInput {
                node: v,
                input: "image".into(),
                slot: 0,
                file: DroppedFile {
                    name: "still.png".into(),
                    bytes: png(8, 8),
                },
            },
        )
        .expect("fill");
        let img = only_node(&s, "image");
        assert_eq!(
            s.doc.wires,
            vec![Wire {
                from: img,
                to: v,
                input: "image".into(),
                slot: 0
            }]
        );
        // An image cannot fill an audio input: refused, nothing added.
        s.apply(
            Command::AddNode {
                kind: "t2v".into(),
                pos: [0.0, 400.0],
            },
            now(),
        )
        .expect("add");
        let t2v = only_node(&s, "t2v");
        let n = s.doc.nodes.len();
        let err = apply_raw(
            &mut s,
            Raw::FillInput {
                node: t2v,
                input: "audio".into(),
                slot: 0,
                file: DroppedFile {
                    name: "x.png".into(),
                    bytes: png(8, 8),
                },
            },
        )
        .expect_err("wrong type");
        assert!(err.contains("takes audio"), "{err}");
        assert_eq!(s.doc.nodes.len(), n);
    }

    #[test]
    fn paste_and_duplicate_are_one_step_each() {
        let (_d, mut s) = state();
        for i in 0..20 {
            s.apply(
                Command::AddNode {
                    kind: "t2i".into(),
                    pos: [i as f32 * 10.0, 0.0],
                },
                now(),
            )
            .expect("add");
        }
        let ids: Vec<NodeId> = s.doc.nodes.keys().copied().collect();
        let text = clipboard::copy(&s.doc, &ids, None);
        s.apply(
            Command::Paste {
                text,
                at: [0.0, 500.0],
            },
            now(),
        )
        .expect("paste");
        assert_eq!(s.doc.nodes.len(), 40);
        assert_eq!(s.selection.len(), 20);
        s.apply(Command::Undo, now()).expect("undo");
        assert_eq!(s.doc.nodes.len(), 20);
        s.apply(Command::Duplicate(ids[..2].to_vec()), now())
            .expect("dup");
        assert_eq!(s.doc.nodes.len(), 22);
        let err = s
            .apply(
                Command::Paste {
                    text: "not nodes".into(),
                    at: [0.0, 0.0],
                },
                now(),
            )
            .expect_err("bad");
        assert!(err.contains("does not hold"));
    }

    #[test]
    fn autosave_after_a_pause_and_recovery_after_a_crash() {
        let (_d, mut s) = state();
        s.save().expect("save");
        let t0 = Instant::now();
        s.apply(
            Command::AddNode {
                kind: "t2i".into(),
                pos: [0.0, 0.0],
            },
            t0,
        )
        .expect("add");
        assert!(!s.autosave_if_due(t0).expect("early"), "not yet");
        assert!(
            s.autosave_if_due(t0 + Duration::from_millis(1500))
                .expect("due")
        );
        assert!(
            !s.autosave_if_due(t0 + Duration::from_secs(3))
                .expect("once"),
            "nothing new"
        );
        // The app is killed here; reopening offers the unsaved board.
        let recovered = project::recoverable(&s.root, Catalog::builtin()).expect("recoverable");
        assert_eq!(recovered, s.doc);
        s.save().expect("save");
        assert!(project::recoverable(&s.root, Catalog::builtin()).is_none());
        assert!(!s.is_modified());
    }

    #[test]
    fn opening_after_a_crash_offers_the_autosaved_board_unsaved() {
        let (_d, mut s) = state();
        s.save().expect("save");
        s.apply(
            Command::AddNode {
                kind: "t2i".into(),
                pos: [0.0, 0.0],
            },
            now(),
        )
        .expect("add");
        project::autosave(&s.root, &s.doc).expect("autosave");
        let (reopened, message) = AppState::open_with_recovery(&s.root).expect("open");
        assert_eq!(reopened.doc, s.doc);
        assert!(reopened.is_modified());
        assert!(message.contains("recovered"), "{message}");
        let (plain, message) = AppState::open_with_recovery(&s.root).expect("open");
        assert_eq!(plain.doc.nodes.len(), 1);
        assert!(
            message.contains("recovered"),
            "still offered until saved or discarded"
        );
    }

    #[test]
    fn a_frame_is_renamed_and_resized_with_undo() {
        let (_d, mut s) = framed(&[0.0]);
        // Renamed, with undo; an empty or huge title is refused.
        s.apply(
            Command::RenameFrame {
                index: 0,
                title: "  Rooftop chase ".into(),
            },
            now(),
        )
        .expect("rename");
        assert_eq!(s.doc.frames[0].title, "Rooftop chase");
        for bad in [String::new(), "   ".into(), "x".repeat(201)] {
            assert!(
                s.apply(
                    Command::RenameFrame {
                        index: 0,
                        title: bad
                    },
                    now()
                )
                .is_err()
            );
        }
        s.apply(Command::Undo, now()).expect("undo");
        assert_eq!(s.doc.frames[0].title, "Shot 1");
        let f = &s.doc.frames[0];
        // Resized, with undo; a nonsense size or frame is refused and changes nothing.
        let before = f.rect;
        let bigger = [before[0], before[1], before[2] + 200.0, before[3] + 100.0];
        s.apply(
            Command::ResizeFrame {
                index: 0,
                rect: bigger,
            },
            now(),
        )
        .expect("resize");
        assert_eq!(
            s.doc.frames[0].rect.map(f32::to_bits),
            bigger.map(f32::to_bits)
        );
        for bad in [
            [0.0, 0.0, -5.0, 10.0],
            [f32::NAN, 0.0, 10.0, 10.0],
            [0.0, 0.0, 10.0, 0.0],
        ] {
            assert!(
                s.apply(
                    Command::ResizeFrame {
                        index: 0,
                        rect: bad
                    },
                    now()
                )
                .is_err()
            );
        }
        assert!(
            s.apply(
                Command::ResizeFrame {
                    index: 9,
                    rect: bigger
                },
                now()
            )
            .is_err()
        );
        assert_eq!(
            s.doc.frames[0].rect.map(f32::to_bits),
            bigger.map(f32::to_bits)
        );
        s.apply(Command::Undo, now()).expect("undo");
        assert_eq!(
            s.doc.frames[0].rect.map(f32::to_bits),
            before.map(f32::to_bits)
        );
    }

    /// A board with a Text to Image node at each `x` and a frame "Shot 1" around them.
    fn framed(xs: &[f32]) -> (tempfile::TempDir, AppState) {
        let (d, mut s) = state();
        for x in xs {
            s.apply(
                Command::AddNode {
                    kind: "t2i".into(),
                    pos: [*x, 100.0],
                },
                now(),
            )
            .expect("add");
        }
        let ids: Vec<NodeId> = s.doc.nodes.keys().copied().collect();
        s.apply(
            Command::FrameNodes {
                ids,
                title: "Shot 1".into(),
            },
            now(),
        )
        .expect("frame");
        (d, s)
    }

    #[test]
    fn framing_nodes_adds_a_backdrop_around_them_and_undoes() {
        let (_d, mut s) = framed(&[0.0, 400.0]);
        let f = &s.doc.frames[0];
        assert_eq!(f.title, "Shot 1");
        assert!(
            f.rect[0] < 0.0 && f.rect[0] + f.rect[2] > 640.0,
            "it encloses both nodes: {:?}",
            f.rect
        );
        s.apply(Command::Undo, now()).expect("undo");
        assert!(s.doc.frames.is_empty());
        assert!(
            s.apply(
                Command::FrameNodes {
                    ids: vec![],
                    title: "x".into()
                },
                now()
            )
            .is_err()
        );
        assert!(s.apply(Command::DeleteFrame(3), now()).is_err());
    }

    #[test]
    fn a_board_from_a_newer_version_opens_read_only_with_what_this_version_reads() {
        let d = tempfile::tempdir().expect("tmp");
        let root = d.path().join("future.aktion");
        std::fs::create_dir_all(&root).expect("mkdir");
        let (a, b, c) = (NodeId::new(), NodeId::new(), NodeId::new());
        let text = serde_json::json!({
            "format": "aktion-studio-project",
            "version": 99,
            "name": "from the future",
            "hologram_settings": { "depth": 3 },
            "nodes": [
                { "id": a, "kind": "t2i", "pos": [0.0, 0.0], "params": { "prompt": "a door" },
                  "sparkle": true },
                { "id": b, "kind": "hologram", "pos": [300.0, 0.0] },
                { "id": c, "kind": "i2i", "pos": [600.0, 0.0] }
            ],
            "wires": [
                { "from": a, "to": c, "input": "image", "slot": 0 },
                { "from": b, "to": c, "input": "image", "slot": 1 }
            ]
        })
        .to_string();
        let file = root.join("project.json");
        std::fs::write(&file, &text).expect("write");

        let (mut s, message) = AppState::open_with_recovery(&root).expect("opens");
        assert!(message.contains("newer"), "{message}");
        assert!(message.contains("2 node(s) or wire(s)"), "{message}");
        assert_eq!(s.doc.name, "from the future");
        assert_eq!(s.doc.nodes.len(), 2, "the hologram is not shown");
        assert_eq!(s.doc.nodes[&a].param_str("prompt"), "a door");
        assert_eq!(s.doc.wires.len(), 1);
        assert!(s.read_only.is_some());
        assert!(s.save().is_err(), "never overwritten");
        assert_eq!(std::fs::read_to_string(&file).expect("read"), text);
    }

    #[test]
    fn save_as_carries_the_takes() {
        let (d, mut s) = state();
        let hash = blake3::hash(b"a picture").to_hex().to_string();
        let file = project::take_path(&s.root, &hash).expect("path");
        std::fs::create_dir_all(file.parent().expect("dir")).expect("mkdir");
        std::fs::write(&file, b"a picture").expect("write");
        let other = d.path().join("copy.aktion");
        s.save_as(&other).expect("save as");
        let copied = project::take_path(&other, &hash).expect("path");
        assert_eq!(
            std::fs::read(copied).expect("the take came along"),
            b"a picture"
        );
    }

    #[test]
    fn save_as_carries_the_assets_and_reopens() {
        let (d, mut s) = state();
        apply_raw(
            &mut s,
            Raw::ImportFiles {
                files: vec![DroppedFile {
                    name: "a.png".into(),
                    bytes: png(8, 8),
                }],
                at: [0.0, 0.0],
            },
        )
        .expect("import");
        let other = d.path().join("copy.aktion");
        s.save_as(&other).expect("save as");
        let reopened = AppState::open(&other).expect("open");
        assert_eq!(reopened.doc, s.doc);
        let img = reopened.doc.nodes.values().next().expect("node");
        let asset = project::AssetRef::from_value(img.param("file").expect("file")).expect("asset");
        assert!(project::read_asset(&other, &asset).is_ok());
    }

    #[test]
    fn a_wire_dropped_on_empty_space_offers_compatible_kinds_and_connects() {
        assert_eq!(kinds_for_wire(PortType::Audio), ["t2v", "lip_sync"]);
        let (_d, mut s) = state();
        s.apply(
            Command::AddNode {
                kind: "t2i".into(),
                pos: [0.0, 0.0],
            },
            now(),
        )
        .expect("add");
        let t = only_node(&s, "t2i");
        s.apply(
            Command::AddNodeFrom {
                kind: "i2v".into(),
                pos: [300.0, 0.0],
                from: t,
            },
            now(),
        )
        .expect("add");
        let v = only_node(&s, "i2v");
        assert_eq!(
            s.doc.wires,
            vec![Wire {
                from: t,
                to: v,
                input: "image".into(),
                slot: 0
            }]
        );
        s.apply(Command::Undo, now()).expect("undo");
        assert_eq!(s.doc.nodes.len(), 1, "add + connect undo as one step");
    }

    #[test]
    fn read_only_boards_refuse_edits() {
        let (_d, mut s) = state();
        s.read_only = Some("saved by a newer version".into());
        assert!(
            s.apply(
                Command::AddNode {
                    kind: "t2i".into(),
                    pos: [0.0, 0.0]
                },
                now()
            )
            .is_err()
        );
        assert!(s.save().is_err());
        assert!(s.apply(Command::Select(vec![]), now()).is_ok());
    }

    #[test]
    fn picking_a_take_restores_its_seed_and_undoes() {
        let (_d, mut s) = state();
        s.apply(
            Command::AddNode {
                kind: "t2i".into(),
                pos: [0.0, 0.0],
            },
            now(),
        )
        .expect("add");
        let t = only_node(&s, "t2i");
        let result = aktion_cache::CachedResult {
            outputs: vec![],
            meta: serde_json::json!({ "params": { "prompt": "", "aspect_ratio": "16:9", "seed": 42 } }),
            created_unix_ms: 1,
        };
        let take =
            aktion_engine::takes::record_take(&mut s.doc, t, "sig-a", &result).expect("take");
        s.apply(
            Command::SetParam {
                node: t,
                key: "seed".into(),
                value: 7.into(),
            },
            now(),
        )
        .expect("seed");
        s.apply(Command::PickTake { node: t, take }, now())
            .expect("pick");
        assert_eq!(s.doc.node(t).expect("t").seed(), 42);
        s.apply(Command::Undo, now()).expect("undo");
        assert_eq!(s.doc.node(t).expect("t").seed(), 7);
        let missing = aktion_graph::TakeId::new();
        assert!(
            s.apply(
                Command::PickTake {
                    node: t,
                    take: missing
                },
                now()
            )
            .is_err()
        );
        s.apply(Command::DeleteTake { node: t, take }, now())
            .expect("delete");
        assert!(s.doc.node(t).expect("t").takes.is_empty());
    }

    #[test]
    fn rating_a_take_is_one_undo_step_and_survives_a_save() {
        let (_d, mut s) = state();
        s.apply(
            Command::AddNode {
                kind: "t2i".into(),
                pos: [0.0, 0.0],
            },
            now(),
        )
        .expect("add");
        let t = only_node(&s, "t2i");
        let result = aktion_cache::CachedResult {
            outputs: vec![],
            meta: serde_json::json!({ "route": "account", "generation": "g-1", "params": {} }),
            created_unix_ms: 1,
        };
        let take =
            aktion_engine::takes::record_take(&mut s.doc, t, "sig-a", &result).expect("take");
        let rating = |s: &AppState| s.doc.node(t).expect("t").takes[0].meta.rating;
        for bad in [0, 6] {
            assert!(
                s.apply(
                    Command::RateTake {
                        node: t,
                        take,
                        rating: bad
                    },
                    now()
                )
                .is_err()
            );
        }
        s.apply(
            Command::RateTake {
                node: t,
                take,
                rating: 4,
            },
            now(),
        )
        .expect("rate");
        assert_eq!(rating(&s), Some(4));
        let meta = &s.doc.node(t).expect("t").takes[0].meta;
        assert_eq!(meta.generation.as_deref(), Some("g-1"), "where to send it");
        let saved = serde_json::to_string(&s.doc.node(t).expect("t").takes[0]).expect("json");
        let back: aktion_graph::Take = serde_json::from_str(&saved).expect("read");
        assert_eq!(back.meta.rating, Some(4), "kept with the take: {saved}");
        s.apply(Command::Undo, now()).expect("undo");
        assert_eq!(rating(&s), None);
    }
}
