//! The node catalog, loaded from data (`catalog.json`): ports, parameter schemas, defaults and
//! ranges, default provider, credits and typical duration per kind. Adding a node kind is an
//! entry in that file; pins, editors, validation and cost all come from it.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The type of a port. A wire may only join matching types, except that an `image` output may
/// fill one slot of an `image_list` input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PortType {
    Image,
    Video,
    Audio,
    Text,
    ImageList,
}

impl PortType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Image => "image",
            Self::Video => "video",
            Self::Audio => "audio",
            Self::Text => "text",
            Self::ImageList => "image_list",
        }
    }

    /// Whether an output of type `self` may feed an input of type `input`.
    pub fn feeds(self, input: PortType) -> bool {
        self == input || (self == PortType::Image && input == PortType::ImageList)
    }
}

impl std::fmt::Display for PortType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One input port of a kind.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InputSchema {
    pub id: String,
    pub label: String,
    #[serde(rename = "type")]
    pub ty: PortType,
    /// A run does not need this input wired.
    #[serde(default)]
    pub optional: bool,
    /// For `image_list` inputs: how many slots there are.
    #[serde(default = "one")]
    pub slots: u32,
    /// For `image_list` inputs: how many slots must be filled for a run.
    #[serde(default)]
    pub min_slots: u32,
    /// A parameter used when this input is left unwired (a `text` input falls back to the
    /// node's own prompt field).
    #[serde(default)]
    pub fallback_param: Option<String>,
    /// When the node is bypassed, this input passes straight through to the output.
    #[serde(default)]
    pub passthrough: bool,
}

fn one() -> u32 {
    1
}

impl InputSchema {
    /// Slots a wire may target on this input.
    pub fn slot_count(&self) -> u32 {
        if self.ty == PortType::ImageList {
            self.slots.max(1)
        } else {
            1
        }
    }

    /// Slots that must be filled before the node can run.
    pub fn required_slots(&self) -> u32 {
        if self.optional {
            0
        } else if self.ty == PortType::ImageList {
            self.min_slots.min(self.slot_count())
        } else {
            u32::from(self.fallback_param.is_none())
        }
    }
}

/// What kind of value a parameter holds, with its range and default.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ParamKind {
    Text {
        #[serde(default)]
        multiline: bool,
        #[serde(default)]
        default: String,
    },
    Int {
        min: i64,
        max: i64,
        default: i64,
    },
    Float {
        min: f64,
        max: f64,
        default: f64,
    },
    Choice {
        options: Vec<String>,
        default: String,
    },
    Bool {
        #[serde(default)]
        default: bool,
    },
    /// A generation seed: drawn at random when the node is made, fixed when the user pins it.
    Seed,
    /// A file imported into the project's `assets/` folder, referenced by content hash.
    Asset {
        accept: PortType,
    },
    /// Sketch strokes, as vectors.
    Strokes,
    /// An optional normalised crop rectangle.
    Crop,
}

/// One parameter of a kind.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ParamSchema {
    pub id: String,
    pub label: String,
    #[serde(flatten)]
    pub kind: ParamKind,
}

impl ParamSchema {
    /// The value a new node starts with. Seeds are drawn by the caller.
    pub fn default_value(&self) -> Value {
        match &self.kind {
            ParamKind::Text { default, .. } | ParamKind::Choice { default, .. } => {
                Value::String(default.clone())
            }
            ParamKind::Int { default, .. } => Value::from(*default),
            ParamKind::Float { default, .. } => Value::from(*default),
            ParamKind::Bool { default } => Value::Bool(*default),
            ParamKind::Seed => Value::from(0u64),
            ParamKind::Strokes => Value::Array(Vec::new()),
            ParamKind::Asset { .. } | ParamKind::Crop => Value::Null,
        }
    }
}

/// The provider a generating kind uses by default on the account and direct routes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderRef {
    pub name: String,
    pub model: String,
}

/// Broad grouping for the palette.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Source,
    Generate,
    Animate,
}

/// The schema of one node kind.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KindSchema {
    pub id: String,
    pub title: String,
    pub category: Category,
    pub icon: String,
    pub description: String,
    #[serde(default)]
    pub beta: bool,
    pub inputs: Vec<InputSchema>,
    pub output: PortType,
    pub params: Vec<ParamSchema>,
    /// `None` for local kinds (files, prompt, sketch), which never leave the machine.
    #[serde(default)]
    pub provider: Option<ProviderRef>,
    /// Credits on the account route (the server's price list overrides this).
    pub credits: u32,
    pub typical_seconds: u32,
    /// Overall time limit for one job of this kind.
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u32,
}

fn default_timeout() -> u32 {
    600
}

impl KindSchema {
    /// Generating kinds run on a route (draft, account, direct, comfyui); the others are local.
    pub fn is_generating(&self) -> bool {
        self.provider.is_some()
    }

    pub fn input(&self, id: &str) -> Option<&InputSchema> {
        self.inputs.iter().find(|i| i.id == id)
    }

    pub fn param(&self, id: &str) -> Option<&ParamSchema> {
        self.params.iter().find(|p| p.id == id)
    }

    pub fn has_seed(&self) -> bool {
        self.params.iter().any(|p| p.kind == ParamKind::Seed)
    }
}

/// Why a catalog document was refused.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    #[error("kind `{0}` is defined twice")]
    Duplicate(String),
    #[error("kind `{kind}` input `{input}` falls back to unknown parameter `{param}`")]
    UnknownFallback {
        kind: String,
        input: String,
        param: String,
    },
    #[error("generating kind `{0}` has no seed")]
    NoSeed(String),
}

/// All node kinds, in palette order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Catalog {
    pub kinds: Vec<KindSchema>,
    #[serde(skip)]
    index: BTreeMap<String, usize>,
}

impl Catalog {
    /// Parses and checks a catalog document.
    pub fn from_json(text: &str) -> Result<Self, CatalogError> {
        let mut catalog: Catalog = serde_json::from_str(text)?;
        for (i, kind) in catalog.kinds.iter().enumerate() {
            if catalog.index.insert(kind.id.clone(), i).is_some() {
                return Err(CatalogError::Duplicate(kind.id.clone()));
            }
            for input in &kind.inputs {
                if let Some(p) = &input.fallback_param
                    && kind.param(p).is_none()
                {
                    return Err(CatalogError::UnknownFallback {
                        kind: kind.id.clone(),
                        input: input.id.clone(),
                        param: p.clone(),
                    });
                }
            }
            if kind.is_generating() && !kind.has_seed() {
                return Err(CatalogError::NoSeed(kind.id.clone()));
            }
        }
        Ok(catalog)
    }

    /// The catalog shipped with this build.
    pub fn builtin() -> &'static Catalog {
        static CATALOG: OnceLock<Catalog> = OnceLock::new();
        CATALOG.get_or_init(|| {
            #[expect(
                clippy::expect_used,
                reason = "the embedded catalog is checked by a unit test; a failure is a build bug"
            )]
            Catalog::from_json(include_str!("catalog.json")).expect("embedded catalog.json")
        })
    }

    pub fn get(&self, kind: &str) -> Option<&KindSchema> {
        self.index.get(kind).and_then(|&i| self.kinds.get(i))
    }

    pub fn iter(&self) -> impl Iterator<Item = &KindSchema> {
        self.kinds.iter()
    }

    /// Kinds with an input that an output of type `ty` could feed (for the palette shown when a
    /// wire is dropped on empty space).
    pub fn kinds_accepting(&self, ty: PortType) -> impl Iterator<Item = &KindSchema> {
        self.kinds
            .iter()
            .filter(move |k| k.inputs.iter().any(|i| ty.feeds(i.ty)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_catalog_parses_and_has_every_kind_of_the_contract() {
        let c = Catalog::builtin();
        let ids: Vec<&str> = c.iter().map(|k| k.id.as_str()).collect();
        assert_eq!(
            ids,
            [
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
                "coherent_scene"
            ]
        );
    }

    #[test]
    fn credits_and_times_match_the_seed_price_list() {
        let c = Catalog::builtin();
        let credits = |k: &str| c.get(k).expect("kind").credits;
        assert_eq!(credits("character"), 2);
        assert_eq!(credits("sketch_to_image"), 1);
        assert_eq!(credits("t2i"), 2);
        assert_eq!(credits("i2i"), 5);
        assert_eq!(credits("t2v"), 5);
        assert_eq!(credits("i2v"), 8);
        assert_eq!(credits("lip_sync"), 3);
        assert_eq!(credits("action_pose"), 2);
        assert_eq!(credits("coherent_scene"), 10);
        assert_eq!(credits("sequence"), 5);
        assert_eq!(credits("image"), 0);
        let scene = c.get("coherent_scene").expect("scene");
        assert_eq!(scene.timeout_seconds, 1800);
        assert_eq!(scene.input("images").expect("images").required_slots(), 6);
    }

    #[test]
    fn image_feeds_image_list_but_not_the_reverse() {
        assert!(PortType::Image.feeds(PortType::ImageList));
        assert!(!PortType::ImageList.feeds(PortType::Image));
        assert!(!PortType::Video.feeds(PortType::Image));
        assert!(PortType::Text.feeds(PortType::Text));
    }

    #[test]
    fn bad_catalogs_are_refused_with_a_reason() {
        let dup = r#"{"kinds":[
            {"id":"a","title":"A","category":"source","icon":"a","description":"","inputs":[],"output":"image","params":[],"credits":0,"typical_seconds":0},
            {"id":"a","title":"A","category":"source","icon":"a","description":"","inputs":[],"output":"image","params":[],"credits":0,"typical_seconds":0}]}"#;
        let err = Catalog::from_json(dup).unwrap_err();
        assert!(
            matches!(&err, CatalogError::Duplicate(k) if k == "a"),
            "{err:?}"
        );
        assert_eq!(err.to_string(), "kind `a` is defined twice");
        assert!(matches!(
            Catalog::from_json("{"),
            Err(CatalogError::Json(_))
        ));
    }

    #[test]
    fn kinds_accepting_audio_are_the_talking_kinds() {
        let ids: Vec<&str> = Catalog::builtin()
            .kinds_accepting(PortType::Audio)
            .map(|k| k.id.as_str())
            .collect();
        assert_eq!(ids, ["t2v", "lip_sync"]);
    }
}
