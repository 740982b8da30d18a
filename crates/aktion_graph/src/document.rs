//! The board: nodes, wires, frames and takes. Plain data with no UI types; every edit that can
//! be refused goes through a method that says why.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::catalog::{Catalog, KindSchema, ParamKind, PortType};
use crate::error::ConnectError;

/// Stable node id. UUID v4: never reused, survives copy/paste between boards (a paste gets new
/// ids).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NodeId(pub Uuid);

impl NodeId {
    pub fn new() -> Self {
        Self(Uuid::new_v4())
    }
}

impl Default for NodeId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::str::FromStr for NodeId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(Self)
    }
}

/// Id of a take (one kept result of a node).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TakeId(pub Uuid);

impl TakeId {
    pub fn new() -> Self {
        Self(Uuid::new_v4())
    }
}

impl Default for TakeId {
    fn default() -> Self {
        Self::new()
    }
}

/// Where a generating node runs.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Route {
    /// Offline, instant, free previews computed on this machine.
    #[default]
    Draft,
    /// Through the account backend; credits are reserved and charged.
    Account,
    /// Straight to the provider with the user's own key.
    Direct,
    /// A ComfyUI server the user runs.
    Comfyui,
}

impl Route {
    pub const ALL: [Route; 4] = [Route::Draft, Route::Account, Route::Direct, Route::Comfyui];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Account => "account",
            Self::Direct => "direct",
            Self::Comfyui => "comfyui",
        }
    }

    /// Only the account route costs credits.
    pub fn costs_credits(self) -> bool {
        self == Route::Account
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Route {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Route::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                format!("unknown route `{s}` (expected draft, account, direct or comfyui)")
            })
    }
}

/// One output file of a take, stored in the local cache by content hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TakeOutput {
    /// BLAKE3 hex of the file.
    pub hash: String,
    pub mime: String,
    pub name: String,
}

/// Facts about a result: what made it and what it cost. The engine's executors fill it, the
/// cache keeps it with the result, and a [`Take`] carries it (inline, same field names).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TakeMeta {
    /// Parameters that produced it (seed included).
    #[serde(default)]
    pub params: BTreeMap<String, Value>,
    #[serde(default)]
    pub route: Route,
    #[serde(default)]
    pub provider: String,
    #[serde(default)]
    pub model: String,
    /// A draft-route preview, not a real generation.
    #[serde(default)]
    pub draft: bool,
    #[serde(default)]
    pub credits: u32,
    #[serde(default)]
    pub duration_ms: u64,
    /// Parameters the model did not take (their values did not shape this take), e.g. a
    /// strength on a route whose model has none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unused: Vec<String>,
    /// The account server's generation that made it (account route), to rate it there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<String>,
    /// The user's 1–5 rating of this take.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rating: Option<u8>,
}

impl TakeMeta {
    /// Reads the facts a cache entry keeps as JSON. Entries written by older versions (with
    /// fields since dropped, or some missing) read with defaults for what is missing; a value
    /// that is not an object reads as no facts at all.
    pub fn from_cached(value: &Value) -> Self {
        Self::deserialize(value).unwrap_or_default()
    }
}

/// One kept result of a node. Picking a take restores the parameters that produced it, so the
/// board always shows what its parameters mean and the cache key stays honest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Take {
    pub id: TakeId,
    /// Signature of the node when this take was made.
    pub signature: String,
    pub outputs: Vec<TakeOutput>,
    #[serde(flatten)]
    pub meta: TakeMeta,
    /// Unix milliseconds.
    #[serde(default)]
    pub created: u64,
}

/// A node on the board.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Node {
    pub id: NodeId,
    pub kind: String,
    /// User title; the kind's title when empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub title: String,
    pub pos: [f32; 2],
    #[serde(default)]
    pub params: BTreeMap<String, Value>,
    /// Per-node route; the board's route for the kind applies when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<Route>,
    /// A pinned seed is kept when the node is run again for a new take.
    #[serde(default, skip_serializing_if = "is_false")]
    pub seed_pinned: bool,
    /// A muted node does not run; its dependents cannot run either.
    #[serde(default, skip_serializing_if = "is_false")]
    pub muted: bool,
    /// A bypassed node passes its pass-through input to its output unchanged.
    #[serde(default, skip_serializing_if = "is_false")]
    pub bypassed: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub takes: Vec<Take>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_take: Option<TakeId>,
}

#[expect(
    clippy::trivially_copy_pass_by_ref,
    reason = "serde's skip_serializing_if signature"
)]
fn is_false(b: &bool) -> bool {
    !*b
}

impl Node {
    /// A node of `kind` with the schema's defaults and a fresh random seed.
    pub fn new(schema: &KindSchema, pos: [f32; 2]) -> Self {
        let mut params = BTreeMap::new();
        for p in &schema.params {
            let value = if p.kind == ParamKind::Seed {
                Value::from(random_seed())
            } else {
                p.default_value()
            };
            params.insert(p.id.clone(), value);
        }
        Self {
            id: NodeId::new(),
            kind: schema.id.clone(),
            title: String::new(),
            pos,
            params,
            route: None,
            seed_pinned: false,
            muted: false,
            bypassed: false,
            takes: Vec::new(),
            active_take: None,
        }
    }

    pub fn param(&self, id: &str) -> Option<&Value> {
        self.params.get(id)
    }

    pub fn param_str(&self, id: &str) -> &str {
        self.params.get(id).and_then(Value::as_str).unwrap_or("")
    }

    pub fn param_f64(&self, id: &str) -> Option<f64> {
        self.params.get(id).and_then(Value::as_f64)
    }

    pub fn param_i64(&self, id: &str) -> Option<i64> {
        self.params.get(id).and_then(Value::as_i64)
    }

    pub fn seed(&self) -> u64 {
        self.params.get("seed").and_then(Value::as_u64).unwrap_or(0)
    }

    pub fn active_take(&self) -> Option<&Take> {
        let id = self.active_take?;
        self.takes.iter().find(|t| t.id == id)
    }

    /// Title shown on the board.
    pub fn display_title<'a>(&'a self, catalog: &'a Catalog) -> &'a str {
        if self.title.is_empty() {
            catalog
                .get(&self.kind)
                .map_or(self.kind.as_str(), |k| k.title.as_str())
        } else {
            &self.title
        }
    }
}

/// A 53-bit random seed (exact in JSON numbers everywhere), from the OS's randomness via UUID v4.
pub fn random_seed() -> u64 {
    let bytes = Uuid::new_v4().into_bytes();
    let mut v = 0u64;
    for b in &bytes[..8] {
        v = (v << 8) | u64::from(*b);
    }
    v & ((1 << 53) - 1)
}

/// A wire from a node's output to one slot of another node's input.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Wire {
    pub from: NodeId,
    pub to: NodeId,
    pub input: String,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub slot: u32,
}

#[expect(
    clippy::trivially_copy_pass_by_ref,
    reason = "serde's skip_serializing_if signature"
)]
fn is_zero(v: &u32) -> bool {
    *v == 0
}

/// A frame's identity.
pub type FrameId = Uuid;

/// A frame (backdrop) grouping shots on the board.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Frame {
    pub id: Uuid,
    pub title: String,
    /// `[x, y, width, height]` in board units.
    pub rect: [f32; 4],
    #[serde(default = "frame_color")]
    pub color: [u8; 3],
}

impl Frame {
    /// A frame with a fresh id.
    pub fn new(title: impl Into<String>, rect: [f32; 4]) -> Self {
        Self {
            id: Uuid::new_v4(),
            title: title.into(),
            rect,
            color: frame_color(),
        }
    }
}

fn frame_color() -> [u8; 3] {
    [60, 70, 90]
}

/// Board-wide settings saved with the project.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BoardSettings {
    /// Route per node kind, overriding the app default.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub routes: BTreeMap<String, Route>,
}

/// The whole board.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Document {
    pub name: String,
    pub nodes: BTreeMap<NodeId, Node>,
    /// Kept sorted and unique.
    pub wires: Vec<Wire>,
    pub frames: Vec<Frame>,
    pub settings: BoardSettings,
    /// The film in outline: shots in order (PRODUCT.md §4.8).
    pub sequence: crate::sequence::Sequence,
}

impl Document {
    pub fn node(&self, id: NodeId) -> Option<&Node> {
        self.nodes.get(&id)
    }

    pub fn node_mut(&mut self, id: NodeId) -> Option<&mut Node> {
        self.nodes.get_mut(&id)
    }

    /// Adds a node and returns its id.
    pub fn add_node(&mut self, node: Node) -> NodeId {
        let id = node.id;
        self.nodes.insert(id, node);
        id
    }

    /// Removes a node and every wire touching it.
    pub fn remove_node(&mut self, id: NodeId) -> Option<Node> {
        let node = self.nodes.remove(&id)?;
        self.wires.retain(|w| w.from != id && w.to != id);
        Some(node)
    }

    /// Wires feeding `node`, in (input, slot) order.
    pub fn inputs_of(&self, node: NodeId) -> impl Iterator<Item = &Wire> {
        self.wires.iter().filter(move |w| w.to == node)
    }

    /// The wire into `(node, input, slot)`, if any.
    pub fn wire_into(&self, node: NodeId, input: &str, slot: u32) -> Option<&Wire> {
        self.wires
            .iter()
            .find(|w| w.to == node && w.input == input && w.slot == slot)
    }

    /// Checks whether a wire from `from`'s output to `(to, input, slot)` would be accepted,
    /// without changing anything. `replace` allows an occupied slot (the new wire would replace
    /// the old one, as dropping a wire on a used input does in the canvas).
    pub fn check_connect(
        &self,
        catalog: &Catalog,
        wire: &Wire,
        replace: bool,
    ) -> Result<(), ConnectError> {
        let from = self
            .nodes
            .get(&wire.from)
            .ok_or(ConnectError::NoSuchNode(wire.from))?;
        let to = self
            .nodes
            .get(&wire.to)
            .ok_or(ConnectError::NoSuchNode(wire.to))?;
        if wire.from == wire.to {
            return Err(ConnectError::SelfLoop);
        }
        let from_kind = catalog
            .get(&from.kind)
            .ok_or_else(|| ConnectError::UnknownKind(from.kind.clone()))?;
        let to_kind = catalog
            .get(&to.kind)
            .ok_or_else(|| ConnectError::UnknownKind(to.kind.clone()))?;
        let input = to_kind
            .input(&wire.input)
            .ok_or_else(|| ConnectError::NoSuchInput {
                kind: to_kind.title.clone(),
                input: wire.input.clone(),
            })?;
        if !from_kind.output.feeds(input.ty) {
            return Err(ConnectError::TypeMismatch {
                output: from_kind.output,
                input: input.ty,
                input_label: input.label.clone(),
            });
        }
        if wire.slot >= input.slot_count() {
            return Err(ConnectError::NoSuchSlot {
                input_label: input.label.clone(),
                slot: wire.slot,
                slots: input.slot_count(),
            });
        }
        if !replace && self.wire_into(wire.to, &wire.input, wire.slot).is_some() {
            return Err(ConnectError::InputTaken {
                input_label: input.label.clone(),
            });
        }
        if self.reaches(wire.to, wire.from) {
            return Err(ConnectError::Cycle);
        }
        Ok(())
    }

    /// Adds a wire after checking it; an occupied slot is replaced when `replace`. Returns the
    /// wire it replaced.
    pub fn connect(
        &mut self,
        catalog: &Catalog,
        wire: Wire,
        replace: bool,
    ) -> Result<Option<Wire>, ConnectError> {
        self.check_connect(catalog, &wire, replace)?;
        let old = self
            .wires
            .iter()
            .position(|w| w.to == wire.to && w.input == wire.input && w.slot == wire.slot)
            .map(|i| self.wires.remove(i));
        let at = self.wires.binary_search(&wire).unwrap_or_else(|i| i);
        self.wires.insert(at, wire);
        Ok(old)
    }

    /// Removes a wire; returns whether it existed.
    pub fn disconnect(&mut self, wire: &Wire) -> bool {
        let before = self.wires.len();
        self.wires.retain(|w| w != wire);
        before != self.wires.len()
    }

    /// Whether `to` can be reached from `from` by following wires downstream.
    pub fn reaches(&self, from: NodeId, to: NodeId) -> bool {
        let mut seen = std::collections::BTreeSet::new();
        let mut stack = vec![from];
        while let Some(n) = stack.pop() {
            if n == to {
                return true;
            }
            if !seen.insert(n) {
                continue;
            }
            stack.extend(self.wires.iter().filter(|w| w.from == n).map(|w| w.to));
        }
        false
    }

    /// Node ids in an order where every node comes after everything it depends on, restricted to
    /// what `targets` need (all nodes when `targets` is empty). `None` if there is a cycle.
    pub fn topo_order(&self, targets: &[NodeId]) -> Option<Vec<NodeId>> {
        let wanted: std::collections::BTreeSet<NodeId> = if targets.is_empty() {
            self.nodes.keys().copied().collect()
        } else {
            self.upstream_closure(targets)
        };
        let mut indegree: BTreeMap<NodeId, usize> = wanted.iter().map(|&n| (n, 0)).collect();
        for w in &self.wires {
            if wanted.contains(&w.from)
                && let Some(d) = indegree.get_mut(&w.to)
            {
                *d += 1;
            }
        }
        let mut ready: std::collections::BTreeSet<NodeId> = indegree
            .iter()
            .filter(|(_, d)| **d == 0)
            .map(|(n, _)| *n)
            .collect();
        let mut order = Vec::with_capacity(wanted.len());
        while let Some(n) = ready.pop_first() {
            order.push(n);
            for w in self.wires.iter().filter(|w| w.from == n) {
                if let Some(d) = indegree.get_mut(&w.to) {
                    *d -= 1;
                    if *d == 0 {
                        ready.insert(w.to);
                    }
                }
            }
        }
        (order.len() == wanted.len()).then_some(order)
    }

    /// `targets` and everything upstream of them.
    pub fn upstream_closure(&self, targets: &[NodeId]) -> std::collections::BTreeSet<NodeId> {
        let mut seen = std::collections::BTreeSet::new();
        let mut stack: Vec<NodeId> = targets
            .iter()
            .copied()
            .filter(|t| self.nodes.contains_key(t))
            .collect();
        while let Some(n) = stack.pop() {
            if !seen.insert(n) {
                continue;
            }
            stack.extend(
                self.wires
                    .iter()
                    .filter(|w| w.to == n && self.nodes.contains_key(&w.from))
                    .map(|w| w.from),
            );
        }
        seen
    }

    /// `start` and everything downstream of it.
    pub fn downstream_closure(&self, start: NodeId) -> std::collections::BTreeSet<NodeId> {
        let mut seen = std::collections::BTreeSet::new();
        let mut stack = vec![start];
        while let Some(n) = stack.pop() {
            if seen.insert(n) {
                stack.extend(self.wires.iter().filter(|w| w.from == n).map(|w| w.to));
            }
        }
        seen
    }

    /// Port type of a node's output, if its kind is known.
    pub fn output_type(&self, catalog: &Catalog, node: NodeId) -> Option<PortType> {
        let n = self.nodes.get(&node)?;
        catalog.get(&n.kind).map(|k| k.output)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_take_keeps_its_project_format_with_the_facts_inline() {
        let saved = json!({
            "id": "0190a0a0-0000-7000-8000-000000000001",
            "signature": "sig",
            "outputs": [{"hash": "ab", "mime": "image/png", "name": "image.png"}],
            "params": {"prompt": "a lighthouse", "seed": 7},
            "route": "direct",
            "provider": "a2e",
            "model": "userText2Image",
            "draft": false,
            "credits": 4,
            "duration_ms": 1200,
            "created": 1_700_000_000_000_u64,
            "unused": ["strength"]
        });
        let take: Take = serde_json::from_value(saved.clone()).expect("a saved take reads");
        assert_eq!(take.meta.route, Route::Direct);
        assert_eq!(take.meta.params["seed"], 7);
        assert_eq!(take.meta.unused, ["strength"]);
        assert_eq!(serde_json::to_value(&take).expect("writes"), saved);
    }

    #[test]
    fn facts_read_from_a_cache_entry_of_any_age() {
        // Older entries kept a seed and had no route; a broken entry reads as no facts.
        let old = json!({"provider": "draft", "seed": 3, "draft": true, "params": {}});
        let meta = TakeMeta::from_cached(&old);
        assert!(meta.draft);
        assert_eq!(meta.route, Route::Draft);
        assert_eq!(TakeMeta::from_cached(&json!([1, 2])), TakeMeta::default());
        assert_eq!(
            TakeMeta::from_cached(&json!({"credits": "many"})),
            TakeMeta::default()
        );
    }
}
