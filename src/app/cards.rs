//! Pictures on the board's cards: a node's active result (image thumbnail, video poster that
//! plays muted under the pointer, audio waveform), a progress bar with the time left while it
//! runs, and the take count with ‹ › to flip takes.
//!
//! The canvas stays kind-agnostic: it gives each visible node's body area to
//! [`CardDelegate::node_body_ui`] at full detail only (never below the level-of-detail zoom).
//! Textures are decoded off the UI thread at the size the zoom needs (power-of-two buckets) and
//! kept in a least-recently-used set under a byte budget, so zooming and panning over a large
//! board never holds more than the budget in GPU memory.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::state::Command;
use aktion_cache::Cache;
use aktion_graph::catalog::{Catalog, PortType};
use aktion_graph::{Document, NodeId};
use eframe::egui;

use super::command::AppCommand;
use super::media::{self, peaks};
use super::previews::Load;
use super::task::{Poll, Spawner, Task};
use super::view::{IdMap, RunStatus};

/// Texture sizes (longest side, pixels) a card asks for: the smallest bucket at least as large
/// as the card shows.
const BUCKETS: [u32; 4] = [64, 128, 256, 512];
/// GPU memory the cards' textures may hold (RGBA bytes).
pub const DEFAULT_BUDGET: usize = 192 * 1024 * 1024;
/// Decodes running at once; the rest wait their turn (the nearest cards ask first).
const PARALLEL: usize = 4;
/// Frames decoded for a clip playing under the pointer.
const HOVER_FRAMES: usize = 96;
/// Bars of a card's waveform.
const WAVE_BARS: usize = 64;

type Key = (String, u32);

/// What a worker made of a result's bytes.
enum Loaded {
    Picture(egui::ColorImage),
    Wave { peaks: Arc<[f32]>, seconds: f64 },
    Failed(String),
}

/// A card's picture, ready to draw.
pub enum Thumb {
    Picture(egui::TextureHandle),
    Wave { peaks: Arc<[f32]>, seconds: f64 },
    Failed(String),
}

struct Entry {
    thumb: Thumb,
    bytes: usize,
    used: u64,
}

/// A clip playing muted on a hovered card: its frames at card size.
/// A clip's first frames at card size and its frame rate, or why not.
type ClipFrames = Result<(Vec<egui::ColorImage>, f64), String>;

struct HoverClip {
    hash: String,
    frames: Option<Task<ClipFrames>>,
    textures: Vec<egui::TextureHandle>,
    fps: f64,
    started: Instant,
    used: u64,
}

/// The cards' textures, their loads, and per-node run timing for "time left".
pub struct Cards {
    entries: HashMap<Key, Entry>,
    pending: HashMap<Key, Task<Loaded>>,
    queue: VecDeque<(Key, Load)>,
    tick: u64,
    bytes: usize,
    budget: usize,
    spawner: Spawner,
    running_since: HashMap<NodeId, Instant>,
    hover: Option<HoverClip>,
}

impl Cards {
    pub fn new(spawner: Spawner) -> Self {
        Self {
            entries: HashMap::new(),
            pending: HashMap::new(),
            queue: VecDeque::new(),
            tick: 0,
            bytes: 0,
            budget: DEFAULT_BUDGET,
            spawner,
            running_since: HashMap::new(),
            hover: None,
        }
    }

    /// Sets the texture budget in bytes (tests and benches use small ones).
    pub fn set_budget(&mut self, bytes: usize) {
        self.budget = bytes;
    }

    /// Bytes of texture held now.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Textures held now.
    pub fn textures(&self) -> usize {
        self.entries.len()
    }

    /// Whether every picture asked for has arrived (tests).
    pub fn settled(&self) -> bool {
        self.pending.is_empty()
            && self.queue.is_empty()
            && self
                .hover
                .as_ref()
                .is_none_or(|hover| hover.frames.is_none())
    }

    /// Forgets everything (another project was opened).
    pub fn clear(&mut self) {
        self.entries.clear();
        self.pending.clear();
        self.queue.clear();
        self.bytes = 0;
        self.running_since.clear();
        self.hover = None;
    }

    /// Whether a muted clip is playing on a hovered card (tests).
    pub fn hover_frames(&self) -> usize {
        self.hover.as_ref().map_or(0, |hover| hover.textures.len())
    }

    /// The picture for `hash` at `bucket` px, or the nearest size already here while the right
    /// one loads; asks for the right one when missing.
    pub(super) fn get(
        &mut self,
        hash: &str,
        bucket: u32,
        load: impl FnOnce() -> Load,
    ) -> Option<&Thumb> {
        let key = (hash.to_owned(), bucket);
        let tick = self.tick;
        if !self.entries.contains_key(&key)
            && !self.pending.contains_key(&key)
            && !self.queue.iter().any(|(k, _)| *k == key)
        {
            self.queue.push_back((key.clone(), load()));
        }
        let found = if self.entries.contains_key(&key) {
            Some(key)
        } else {
            // Another size of the same picture stands in (blurry or large) until then.
            BUCKETS
                .iter()
                .map(|b| (hash.to_owned(), *b))
                .find(|k| self.entries.contains_key(k))
        }?;
        let entry = self.entries.get_mut(&found)?;
        entry.used = tick;
        Some(&entry.thumb)
    }

    /// Starts waiting decodes and takes in finished ones; drops the least recently used
    /// textures over the budget. Called once per frame from the logic step.
    pub fn poll(&mut self, ctx: &egui::Context) {
        self.tick += 1;
        while self.pending.len() < PARALLEL {
            let Some((key, load)) = self.queue.pop_front() else {
                break;
            };
            let bucket = key.1;
            let task = self.spawner.blocking(move || decode(load, bucket));
            self.pending.insert(key, task);
        }
        let mut landed = Vec::new();
        self.pending.retain(|key, task| match task.poll() {
            Poll::Pending => true,
            Poll::Ready(loaded) => {
                landed.push((key.clone(), loaded));
                false
            }
            Poll::Lost => {
                landed.push((key.clone(), Loaded::Failed("the preview failed".into())));
                false
            }
        });
        for (key, loaded) in landed {
            let (thumb, bytes) = match loaded {
                Loaded::Picture(image) => {
                    let bytes = image.pixels.len() * 4;
                    let name = format!("card:{}:{}", key.0, key.1);
                    (
                        Thumb::Picture(ctx.load_texture(name, image, egui::TextureOptions::LINEAR)),
                        bytes,
                    )
                }
                Loaded::Wave { peaks, seconds } => (Thumb::Wave { peaks, seconds }, 0),
                Loaded::Failed(why) => (Thumb::Failed(why), 0),
            };
            self.bytes += bytes;
            if let Some(old) = self.entries.insert(
                key,
                Entry {
                    thumb,
                    bytes,
                    used: self.tick,
                },
            ) {
                self.bytes -= old.bytes;
            }
        }
        self.evict();
        self.poll_hover(ctx);
    }

    fn evict(&mut self) {
        if self.bytes <= self.budget {
            return;
        }
        let mut by_age: Vec<(u64, Key, usize)> = self
            .entries
            .iter()
            // What was drawn in the last frame stays.
            .filter(|(_, e)| e.used + 1 < self.tick && e.bytes > 0)
            .map(|(k, e)| (e.used, k.clone(), e.bytes))
            .collect();
        by_age.sort_unstable_by_key(|(used, _, _)| *used);
        for (_, key, bytes) in by_age {
            if self.bytes <= self.budget {
                break;
            }
            self.entries.remove(&key);
            self.bytes -= bytes;
        }
    }

    fn poll_hover(&mut self, ctx: &egui::Context) {
        let Some(hover) = &mut self.hover else {
            return;
        };
        // The pointer left the card: stop (and free the frames).
        if hover.used + 1 < self.tick {
            self.hover = None;
            return;
        }
        if let Some(Ok(result)) = super::task::take_ready(&mut hover.frames) {
            if let Ok((frames, fps)) = result {
                hover.textures = frames
                    .into_iter()
                    .enumerate()
                    .map(|(i, image)| {
                        ctx.load_texture(
                            format!("hover:{}:{i}", hover.hash),
                            image,
                            egui::TextureOptions::LINEAR,
                        )
                    })
                    .collect();
                hover.fps = fps.clamp(1.0, 120.0);
            }
            hover.started = Instant::now();
        }
    }

    /// The frame of the hovered clip `hash` to show now, asking for its frames the first time.
    fn hover_frame(
        &mut self,
        hash: &str,
        bucket: u32,
        load: impl FnOnce() -> Load,
    ) -> Option<(&egui::TextureHandle, Duration)> {
        let tick = self.tick;
        if self.hover.as_ref().is_none_or(|hover| hover.hash != hash) {
            let load = load();
            let task = self.spawner.blocking(move || clip_frames(load, bucket));
            self.hover = Some(HoverClip {
                hash: hash.to_owned(),
                frames: Some(task),
                textures: Vec::new(),
                fps: 24.0,
                started: Instant::now(),
                used: tick,
            });
        }
        let hover = self.hover.as_mut()?;
        hover.used = tick;
        if hover.textures.is_empty() {
            return None;
        }
        let frame_length = 1.0 / hover.fps;
        let elapsed = hover.started.elapsed().as_secs_f64();
        let index = (elapsed / frame_length) as usize % hover.textures.len();
        let next = frame_length - elapsed % frame_length;
        Some((&hover.textures[index], Duration::from_secs_f64(next)))
    }

    /// Notes when each node started running, for the time left on its progress bar.
    pub fn track_runs(&mut self, status: &BTreeMap<NodeId, RunStatus>) {
        self.running_since
            .retain(|id, _| matches!(status.get(id), Some(RunStatus::Running { .. })));
        for (id, s) in status {
            if matches!(s, RunStatus::Running { .. }) {
                self.running_since.entry(*id).or_insert_with(Instant::now);
            }
        }
    }
}

/// The smallest bucket at least `px` large.
pub(super) fn bucket_for(px: f32) -> u32 {
    BUCKETS
        .iter()
        .copied()
        .find(|b| *b as f32 >= px)
        .unwrap_or(BUCKETS[BUCKETS.len() - 1])
}

fn decode(load: Load, bucket: u32) -> Loaded {
    let Some(bytes) = load() else {
        return Loaded::Failed("the file is missing".into());
    };
    match aktion_media::sniff(&bytes).0 {
        aktion_media::MediaKind::Audio => match aktion_media::decode_audio(&bytes) {
            Ok(audio) => Loaded::Wave {
                peaks: peaks(&audio.samples, WAVE_BARS).into(),
                seconds: audio.seconds(),
            },
            Err(err) => Loaded::Failed(err.to_string()),
        },
        aktion_media::MediaKind::Video => {
            match aktion_media::Video::open(bytes).and_then(|v| v.poster(Some(bucket))) {
                Ok(image) => Loaded::Picture(media::color_image(&image)),
                Err(err) => Loaded::Failed(err.to_string()),
            }
        }
        _ => match aktion_media::thumbnail_from_bytes(
            &bytes,
            bucket,
            &aktion_media::DecodeLimits::default(),
        ) {
            Ok(image) => Loaded::Picture(media::color_image(&image)),
            Err(err) => Loaded::Failed(err.to_string()),
        },
    }
}

/// Up to [`HOVER_FRAMES`] frames of a clip at card size, with its frame rate.
fn clip_frames(load: Load, bucket: u32) -> ClipFrames {
    let bytes = load().ok_or("the file is missing")?;
    let video = aktion_media::Video::open(bytes).map_err(|e| e.to_string())?;
    let fps = video.info().fps;
    let frames = video
        .frames(Some(bucket))
        .map_err(|e| e.to_string())?
        .take(HOVER_FRAMES)
        .filter_map(Result::ok)
        .map(|frame| media::color_image(&frame.image))
        .collect();
    Ok((frames, fps))
}

/// What a node's card shows: the active take's first output, else the node's imported file.
pub(super) struct Source {
    pub hash: String,
    pub mime: String,
    pub load: Box<dyn Fn() -> Load>,
}

/// Where the card's picture comes from, if anywhere.
fn source(node: &aktion_graph::Node, root: &std::path::Path, cache: &Cache) -> Option<Source> {
    take_source(node, node.active_take(), root, cache)
}

/// The picture of `take` of `node` (a shot may pin one), else the node's imported file.
pub(super) fn take_source(
    node: &aktion_graph::Node,
    take: Option<&aktion_graph::Take>,
    root: &std::path::Path,
    cache: &Cache,
) -> Option<Source> {
    if let Some(out) = take.and_then(|t| t.outputs.first()) {
        let (cache, root, hash) = (cache.clone(), root.to_owned(), out.hash.clone());
        return Some(Source {
            hash: out.hash.clone(),
            mime: out.mime.clone(),
            load: Box::new(move || {
                let (cache, root, hash) = (cache.clone(), root.clone(), hash.clone());
                Box::new(move || aktion_engine::kept::read_take(&cache, &root, &hash))
            }),
        });
    }
    let (asset, holds) = super::inspector::node_asset(node)?;
    let path: PathBuf = asset.path(root);
    let mime = match holds {
        PortType::Video => "video/mp4",
        PortType::Audio => "audio/*",
        _ => "image/*",
    };
    Some(Source {
        hash: asset.hash.clone(),
        mime: mime.to_owned(),
        load: Box::new(move || {
            let path = path.clone();
            Box::new(move || std::fs::read(path).ok())
        }),
    })
}

/// Height of the picture area of a kind's card, in board units at `width`.
pub fn media_height(output: PortType, width: f32) -> f32 {
    match output {
        PortType::Image | PortType::ImageList | PortType::Video => width * 9.0 / 16.0,
        PortType::Audio => 40.0,
        PortType::Text => 0.0,
    }
}

/// Height of the line under the picture (takes, draft, cost), in board units.
pub const FOOTER: f32 = 18.0;

/// What the canvas asks the app while it draws: wires' validity and the cards' bodies.
pub struct CardDelegate<'a> {
    pub doc: &'a Document,
    pub ids: &'a IdMap,
    pub catalog: &'a Catalog,
    pub cards: &'a mut Cards,
    pub root: &'a std::path::Path,
    pub cache: &'a Cache,
    pub status: &'a BTreeMap<NodeId, RunStatus>,
    pub missing: &'a std::collections::BTreeSet<aktion_graph::TakeId>,
    pub commands: &'a mut Vec<AppCommand>,
}

impl aktion_canvas::CanvasDelegate for CardDelegate<'_> {
    fn can_connect(
        &mut self,
        from: aktion_canvas::PinId,
        to: aktion_canvas::PinId,
    ) -> Result<(), String> {
        let w = self
            .ids
            .wire(self.doc, self.catalog, from, to)
            .ok_or_else(|| "unknown pin".to_owned())?;
        self.doc
            .check_connect(self.catalog, &w, true)
            .map_err(|e| e.to_string())
    }

    fn node_body_ui(&mut self, ui: &mut egui::Ui, node: aktion_canvas::NodeId, zoom: f32) {
        let Some(id) = self.ids.node(node) else {
            return;
        };
        let Some(node) = self.doc.node(id) else {
            return;
        };
        let Some(kind) = self.catalog.get(&node.kind) else {
            return;
        };
        let body = ui.max_rect();
        let media_h = media_height(kind.output, body.width() / zoom) * zoom;
        let footer_h = FOOTER * zoom;
        if media_h <= 0.0 && node.takes.is_empty() && kind.credits == 0 {
            return;
        }
        let bottom = body.bottom();
        let area = egui::Rect::from_min_max(
            egui::pos2(body.left(), bottom - footer_h - media_h),
            egui::pos2(body.right(), bottom - footer_h),
        );
        let footer = egui::Rect::from_min_max(
            egui::pos2(body.left(), bottom - footer_h),
            egui::pos2(body.right(), bottom),
        );
        if media_h > 0.0 {
            self.media_ui(ui, node, kind.output, area, zoom);
        }
        self.footer_ui(ui, node, kind.credits, footer, zoom);
    }
}

impl CardDelegate<'_> {
    #[expect(
        clippy::too_many_lines,
        reason = "the picture, its fallbacks and the progress bar of one card"
    )]
    fn media_ui(
        &mut self,
        ui: &mut egui::Ui,
        node: &aktion_graph::Node,
        output: PortType,
        area: egui::Rect,
        zoom: f32,
    ) {
        let painter = ui.painter().clone();
        painter.rect_filled(area, 3.0 * zoom, egui::Color32::from_gray(16));
        let response = ui.interact(
            area,
            ui.scope_id().with(("card-media", node.id.0)),
            egui::Sense::hover(),
        );
        let title = node.display_title(self.catalog).to_owned();
        let mut described = format!("{title}: no result yet");
        if let Some(source) = source(node, self.root, self.cache) {
            let px = area.width().max(area.height()) * ui.ctx().pixels_per_point();
            let bucket = bucket_for(px);
            let missing = node
                .active_take()
                .is_some_and(|take| self.missing.contains(&take.id));
            let is_video = source.mime.starts_with("video/") && source.mime != "video/gif";
            let hovered_frame = if is_video && response.hovered() {
                self.cards
                    .hover_frame(&source.hash, bucket, || (source.load)())
                    .map(|(tex, due)| (tex.clone(), due))
            } else {
                None
            };
            let kind = if is_video {
                "video"
            } else if source.mime.starts_with("audio/") {
                "sound"
            } else {
                "picture"
            };
            if let Some((tex, due)) = hovered_frame {
                media::paint_fit(ui, &tex, area.shrink(2.0 * zoom));
                ui.ctx().request_repaint_after(due);
                described = format!("{title}: {kind}, playing");
            } else {
                match self.cards.get(&source.hash, bucket, || (source.load)()) {
                    Some(Thumb::Picture(tex)) => {
                        media::paint_fit(ui, tex, area.shrink(2.0 * zoom));
                        described = format!("{title}: {kind} shown");
                        if is_video {
                            play_mark(&painter, area, zoom);
                        }
                    }
                    Some(Thumb::Wave { peaks, seconds }) => {
                        paint_wave(&painter, area.shrink(3.0 * zoom), peaks);
                        painter.text(
                            area.right_bottom() - egui::vec2(4.0, 3.0) * zoom,
                            egui::Align2::RIGHT_BOTTOM,
                            format!("{seconds:.1} s"),
                            egui::FontId::proportional(10.0 * zoom),
                            egui::Color32::from_gray(170),
                        );
                        described = format!("{title}: waveform shown, {seconds:.1} s");
                    }
                    Some(Thumb::Failed(why)) => {
                        let why = if missing {
                            "missing — re-run".to_owned()
                        } else {
                            why.clone()
                        };
                        caption(&painter, area, &why, zoom);
                        described = format!("{title}: no preview ({why})");
                    }
                    None => {
                        caption(&painter, area, "loading…", zoom);
                        described = format!("{title}: {kind} loading");
                    }
                }
            }
            let _ = output;
        }
        // Running: a bar along the bottom of the picture, with the time left when known.
        if let Some(RunStatus::Running { fraction, .. }) = self.status.get(&node.id) {
            let bar = egui::Rect::from_min_max(
                egui::pos2(area.left(), area.bottom() - 5.0 * zoom),
                area.right_bottom(),
            );
            painter.rect_filled(bar, 0.0, egui::Color32::from_black_alpha(160));
            let fraction = fraction.unwrap_or(0.0).clamp(0.0, 1.0);
            let mut done = bar;
            done.set_right(bar.left() + bar.width() * fraction);
            painter.rect_filled(done, 0.0, egui::Color32::from_rgb(90, 170, 255));
            let left = self
                .cards
                .running_since
                .get(&node.id)
                .filter(|_| fraction > 0.02)
                .map(|since| {
                    let elapsed = since.elapsed().as_secs_f32();
                    elapsed * (1.0 - fraction) / fraction
                });
            let text = match left {
                Some(seconds) => format!("{:.0}% · {} left", fraction * 100.0, short_time(seconds)),
                None => format!("{:.0}%", fraction * 100.0),
            };
            painter.text(
                bar.left_top() + egui::vec2(4.0 * zoom, -2.0 * zoom),
                egui::Align2::LEFT_BOTTOM,
                &text,
                egui::FontId::proportional(10.0 * zoom),
                egui::Color32::WHITE,
            );
            described = format!("{described}, running {text}");
            // The time left counts down even when nothing else changes.
            ui.ctx().request_repaint_after(Duration::from_secs(1));
        }
        response
            .widget_info(|| egui::WidgetInfo::labeled(egui::Role::Image, true, described.clone()));
    }

    fn footer_ui(
        &mut self,
        ui: &mut egui::Ui,
        node: &aktion_graph::Node,
        credits: u32,
        footer: egui::Rect,
        zoom: f32,
    ) {
        let painter = ui.painter().clone();
        let font = egui::FontId::proportional(11.0 * zoom);
        let weak = egui::Color32::from_gray(170);
        let mut x = footer.left();
        let y = footer.center().y;
        if let Some(active) = node.active_take() {
            let count = node.takes.len();
            let index = node
                .takes
                .iter()
                .position(|t| t.id == active.id)
                .unwrap_or(0);
            if count > 1 {
                let size = egui::vec2(16.0, footer.height()) * egui::vec2(zoom, 1.0);
                let prev = egui::Rect::from_min_size(egui::pos2(x, footer.top()), size);
                if self.flip_button(
                    ui,
                    node,
                    prev,
                    "<",
                    "Previous take",
                    index.checked_sub(1),
                    zoom,
                ) {
                    ui.ctx().request_repaint();
                }
                x = prev.right();
                let label = format!("{}/{count}", index + 1);
                let shown = painter.text(
                    egui::pos2(x + 2.0, y),
                    egui::Align2::LEFT_CENTER,
                    label,
                    font.clone(),
                    egui::Color32::WHITE,
                );
                x = shown.right() + 2.0;
                let next = egui::Rect::from_min_size(egui::pos2(x, footer.top()), size);
                let target = (index + 1 < count).then_some(index + 1);
                self.flip_button(ui, node, next, ">", "Next take", target, zoom);
                x = next.right() + 4.0 * zoom;
            } else {
                let shown = painter.text(
                    egui::pos2(x, y),
                    egui::Align2::LEFT_CENTER,
                    "1 take",
                    font.clone(),
                    weak,
                );
                x = shown.right() + 6.0 * zoom;
            }
            if active.meta.draft {
                let text = painter.layout_no_wrap(
                    "DRAFT".into(),
                    egui::FontId::proportional(9.0 * zoom),
                    egui::Color32::BLACK,
                );
                let badge = egui::Rect::from_min_size(
                    egui::pos2(x, y - text.size().y / 2.0 - 1.0),
                    text.size() + egui::vec2(6.0, 2.0) * zoom,
                );
                painter.rect_filled(badge, 3.0 * zoom, egui::Color32::from_rgb(240, 190, 60));
                painter.galley(
                    badge.min + egui::vec2(3.0, 1.0) * zoom,
                    text,
                    egui::Color32::BLACK,
                );
            }
        }
        if credits > 0 {
            painter.text(
                egui::pos2(footer.right(), y),
                egui::Align2::RIGHT_CENTER,
                format!("{credits} cr"),
                font,
                weak,
            );
        }
    }

    /// A ‹ or › on the card; clicking it makes take `target` active (one undoable edit).
    #[expect(clippy::too_many_arguments, reason = "a small painted button")]
    fn flip_button(
        &mut self,
        ui: &mut egui::Ui,
        node: &aktion_graph::Node,
        rect: egui::Rect,
        glyph: &str,
        label: &str,
        target: Option<usize>,
        zoom: f32,
    ) -> bool {
        let response = ui
            .interact(
                rect,
                ui.scope_id().with((label, node.id.0)),
                egui::Sense::click(),
            )
            .on_hover_text(label);
        response
            .widget_info(|| egui::WidgetInfo::labeled(egui::Role::Button, target.is_some(), label));
        let colour = if target.is_none() {
            egui::Color32::from_gray(80)
        } else if response.hovered() {
            egui::Color32::WHITE
        } else {
            egui::Color32::from_gray(200)
        };
        ui.painter().text(
            rect.center(),
            egui::Align2::CENTER_CENTER,
            glyph,
            egui::FontId::proportional(14.0 * zoom),
            colour,
        );
        if response.clicked()
            && let Some(take) = target.and_then(|i| node.takes.get(i))
        {
            self.commands.push(AppCommand::Edit(Command::PickTake {
                node: node.id,
                take: take.id,
            }));
            return true;
        }
        false
    }
}

fn short_time(seconds: f32) -> String {
    let seconds = seconds.max(0.0).round() as u64;
    if seconds >= 60 {
        format!("{}m {:02}s", seconds / 60, seconds % 60)
    } else {
        format!("{seconds}s")
    }
}

fn caption(painter: &egui::Painter, area: egui::Rect, text: &str, zoom: f32) {
    let galley = painter.layout(
        text.to_owned(),
        egui::FontId::proportional(10.0 * zoom),
        egui::Color32::GRAY,
        area.width() - 8.0 * zoom,
    );
    let at = area.center() - galley.size() / 2.0;
    painter.galley(at, galley, egui::Color32::GRAY);
}

fn play_mark(painter: &egui::Painter, area: egui::Rect, zoom: f32) {
    let c = area.left_bottom() + egui::vec2(12.0, -12.0) * zoom;
    let r = 6.0 * zoom;
    painter.circle_filled(c, r + 2.0 * zoom, egui::Color32::from_black_alpha(150));
    painter.add(egui::Shape::convex_polygon(
        vec![
            c + egui::vec2(-r * 0.4, -r * 0.6),
            c + egui::vec2(r * 0.6, 0.0),
            c + egui::vec2(-r * 0.4, r * 0.6),
        ],
        egui::Color32::WHITE,
        egui::Stroke::NONE,
    ));
}

fn paint_wave(painter: &egui::Painter, rect: egui::Rect, peaks: &[f32]) {
    let bar = rect.width() / peaks.len().max(1) as f32;
    let colour = egui::Color32::from_rgb(110, 210, 140);
    for (i, p) in peaks.iter().enumerate() {
        let x = rect.left() + (i as f32 + 0.5) * bar;
        let half = (p * rect.height() * 0.5).max(0.5);
        painter.line_segment(
            [
                egui::pos2(x, rect.center().y - half),
                egui::pos2(x, rect.center().y + half),
            ],
            egui::Stroke::new((bar * 0.7).max(1.0), colour),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_what_the_card_shows() {
        assert_eq!(bucket_for(10.0), 64);
        assert_eq!(bucket_for(64.0), 64);
        assert_eq!(bucket_for(65.0), 128);
        assert_eq!(bucket_for(300.0), 512);
        assert_eq!(bucket_for(5000.0), 512);
    }

    #[test]
    fn time_left_reads_short() {
        assert_eq!(short_time(4.4), "4s");
        assert_eq!(short_time(125.0), "2m 05s");
        assert_eq!(short_time(-3.0), "0s");
    }
}
