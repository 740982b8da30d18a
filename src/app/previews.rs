//! Picture previews (takes, imported images, Epic Scene slots) as textures, decoded and scaled
//! off the UI thread. Panels only ask ([`Previews::box_ui`] records what is missing); the logic
//! step starts the decodes and takes in what landed ([`Previews::poll`]), like rerun's loaders.

use std::collections::HashMap;

use eframe::egui;

use super::media;
use super::task::{Poll, Spawner, Task};

/// Reads a preview's bytes on a worker thread (from the cache or the project's assets).
pub type Load = Box<dyn FnOnce() -> Option<Vec<u8>> + Send>;

/// The longest side of a preview texture: no bigger than what the panels show.
const PREVIEW_PX: u32 = 480;

/// Preview textures by key (a content hash), the decodes going on, and a copy to the clipboard.
pub struct Previews {
    textures: HashMap<String, egui::TextureHandle>,
    pending: HashMap<String, Task<Option<egui::ColorImage>>>,
    /// Asked for by a panel this frame; started by the next logic step.
    wanted: Vec<(String, Load)>,
    /// An image being decoded at full size for the clipboard.
    copying: Option<Task<Option<egui::ColorImage>>>,
    spawner: Spawner,
}

impl Previews {
    pub fn new(spawner: Spawner) -> Self {
        Self {
            textures: HashMap::new(),
            pending: HashMap::new(),
            wanted: Vec::new(),
            copying: None,
            spawner,
        }
    }

    pub fn get(&self, key: &str) -> Option<&egui::TextureHandle> {
        self.textures.get(key)
    }

    /// Whether every preview asked for has arrived (tests).
    pub fn settled(&self) -> bool {
        self.pending.is_empty() && self.wanted.is_empty()
    }

    /// Forgets every texture (another project was opened).
    pub fn clear(&mut self) {
        self.textures.clear();
        self.pending.clear();
        self.wanted.clear();
    }

    /// Asks for the preview `key`, read by `load`, unless it is here or on its way. Returns
    /// whether it was asked for now (the caller wakes the logic step to start it).
    pub fn want(&mut self, key: &str, load: Load) -> bool {
        if self.textures.contains_key(key)
            || self.pending.contains_key(key)
            || self.wanted.iter().any(|(k, _)| k == key)
        {
            return false;
        }
        self.wanted.push((key.to_owned(), load));
        true
    }

    /// A fixed 4:3 box with the picture `key` once decoded; until then "loading preview…" and
    /// the preview is asked for. The box never changes size, so the panel never jumps. Returns
    /// where the picture was drawn, once it is there.
    pub fn box_ui(
        &mut self,
        ui: &mut egui::Ui,
        key: &str,
        width: f32,
        load: Load,
    ) -> Option<egui::Rect> {
        let (rect, _) =
            ui.allocate_exact_size(egui::vec2(width, width * 0.75), egui::Sense::hover());
        if let Some(tex) = self.textures.get(key) {
            ui.painter()
                .rect_filled(rect, 4.0, egui::Color32::from_gray(20));
            return Some(media::paint_fit(ui, tex, rect));
        }
        media::placeholder(ui, rect, "loading preview…");
        if self.want(key, load) {
            // The next logic step starts the decode.
            ui.ctx().request_repaint();
        }
        None
    }

    /// Decodes an image at full size off the UI thread for the clipboard; [`Self::poll`] puts it
    /// there.
    pub fn copy(&mut self, load: Load) {
        self.copying = Some(self.spawner.blocking(move || {
            load()
                .and_then(|b| {
                    aktion_media::decode_image(&b, &aktion_media::DecodeLimits::default()).ok()
                })
                .map(|img| media::color_image(&img))
        }));
    }

    /// Starts what panels asked for and takes in what landed. Returns a message for the user
    /// when a copy to the clipboard finished or failed.
    pub fn poll(&mut self, ctx: &egui::Context) -> Option<String> {
        for (key, load) in self.wanted.drain(..) {
            let task = self.spawner.blocking(move || {
                load()
                    .and_then(|bytes| {
                        aktion_media::thumbnail_from_bytes(
                            &bytes,
                            PREVIEW_PX,
                            &aktion_media::DecodeLimits::default(),
                        )
                        .ok()
                    })
                    .map(|img| media::color_image(&img))
            });
            self.pending.insert(key, task);
        }
        let mut landed = Vec::new();
        for (key, task) in &mut self.pending {
            if let Poll::Ready(Some(image)) = task.poll() {
                landed.push((key.clone(), image));
            }
            // A failed preview stays pending: the label says loading, and nothing retries in
            // a loop.
        }
        for (key, image) in landed {
            self.pending.remove(&key);
            let tex = ctx.load_texture(key.clone(), image, egui::TextureOptions::LINEAR);
            self.textures.insert(key, tex);
        }
        match super::task::take_ready(&mut self.copying)? {
            Ok(Some(image)) => {
                ctx.copy_image(image);
                Some("image copied".into())
            }
            Ok(None) | Err(_) => Some("cannot copy: the result is no longer in the cache".into()),
        }
    }
}
