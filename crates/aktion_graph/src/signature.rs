//! Cache-key signatures, computed ComfyUI-style: a node's signature is a hash of its kind, its
//! parameters (sorted), the signatures of what feeds it, the content hashes of its files and the
//! route and executor/model version that computes it. Never node ids or positions, so moving,
//! renaming or copying a node to another board keeps its cached result.
//!
//! [`resolve`] also works out, for each node a run needs, its route, where each input really
//! comes from (through bypassed nodes), and whether it can run at all.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::catalog::{Catalog, KindSchema, ParamKind};
use crate::document::{BoardSettings, Document, Node, NodeId, Route};

/// Version of the local computations (file import, crop, sketch rasterising). Bump it when their
/// output changes, so old cached results are not reused.
pub const LOCAL_VERSION: &str = "local-1";

/// How routes are chosen for a run, from most to least specific: `force` (e.g. `--route`), the
/// node's own route, the board's route for the kind, `default`.
#[derive(Clone, Debug)]
pub struct Routing<'a> {
    pub force: Option<Route>,
    pub default: Route,
    pub settings: &'a BoardSettings,
    /// The app's route per kind (account when signed in, direct where the provider's key is
    /// set, ...), below the board's own choices.
    pub kinds: Option<&'a std::collections::BTreeMap<String, Route>>,
}

impl Routing<'_> {
    /// The node's route: forced, else the node's own, else the board's for its kind, else the
    /// app's for its kind, else the default.
    pub fn route_for(&self, node: &Node) -> Route {
        self.force
            .or(node.route)
            .or_else(|| self.settings.routes.get(&node.kind).copied())
            .or_else(|| self.kinds.and_then(|k| k.get(&node.kind).copied()))
            .unwrap_or(self.default)
    }
}

/// Why a node cannot run.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Blocked {
    #[error("the node is muted")]
    Muted,
    #[error("unknown node kind `{0}`")]
    UnknownKind(String),
    #[error("needs {0}: connect something to it")]
    MissingInput(String),
    #[error("bypassed, but nothing is wired into {0} to pass through")]
    NothingToPassThrough(String),
    #[error("waits for an upstream node that cannot run ({0})")]
    Upstream(NodeId),
    #[error("has no file: drop or pick one")]
    NoFile,
}

/// One filled input slot of a node, traced to the node that really produces it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedInput {
    pub input: String,
    pub slot: u32,
    pub from: NodeId,
}

/// What a run needs to know about one node.
#[derive(Clone, Debug, PartialEq)]
pub struct ResolvedNode {
    /// `None` for local kinds (files, prompt, sketch).
    pub route: Option<Route>,
    /// The cache key, or why the node cannot run.
    pub signature: Result<String, Blocked>,
    pub inputs: Vec<ResolvedInput>,
    /// Set when the node is bypassed: its output is this node's output.
    pub passthrough: Option<NodeId>,
}

/// The nodes a run needs, in dependency order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Resolved {
    pub order: Vec<NodeId>,
    pub nodes: BTreeMap<NodeId, ResolvedNode>,
}

/// Works out routes, inputs and signatures for `targets` and everything upstream (the whole
/// board when `targets` is empty). `version` names the executor or model version that computes
/// a generating kind on a route; it is part of the signature. `None` when the board has a cycle.
pub fn resolve(
    doc: &Document,
    catalog: &Catalog,
    targets: &[NodeId],
    routing: &Routing<'_>,
    version: &dyn Fn(&KindSchema, Route) -> String,
) -> Option<Resolved> {
    let order = doc.topo_order(targets)?;
    let mut wires_into: BTreeMap<NodeId, Vec<&crate::document::Wire>> = BTreeMap::new();
    for w in &doc.wires {
        wires_into.entry(w.to).or_default().push(w);
    }
    let mut out: BTreeMap<NodeId, ResolvedNode> = BTreeMap::new();
    for &id in &order {
        let Some(node) = doc.nodes.get(&id) else {
            continue;
        };
        let wires = wires_into.get(&id).map_or(&[][..], Vec::as_slice);
        let resolved = resolve_node(node, wires, catalog, routing, version, &out);
        out.insert(id, resolved);
    }
    Some(Resolved { order, nodes: out })
}

fn resolve_node(
    node: &Node,
    wires: &[&crate::document::Wire],
    catalog: &Catalog,
    routing: &Routing<'_>,
    version: &dyn Fn(&KindSchema, Route) -> String,
    done: &BTreeMap<NodeId, ResolvedNode>,
) -> ResolvedNode {
    let blocked = |b: Blocked| ResolvedNode {
        route: None,
        signature: Err(b),
        inputs: Vec::new(),
        passthrough: None,
    };
    let Some(kind) = catalog.get(&node.kind) else {
        return blocked(Blocked::UnknownKind(node.kind.clone()));
    };
    if node.muted {
        return blocked(Blocked::Muted);
    }
    // Trace each wire to the node that really produces the value (skipping bypassed nodes).
    let mut inputs = Vec::new();
    let mut upstream_sigs: Vec<(String, u32, String)> = Vec::new();
    for w in wires {
        let Some(up) = done.get(&w.from) else {
            continue;
        };
        let from = up.passthrough.unwrap_or(w.from);
        match &up.signature {
            Ok(sig) => upstream_sigs.push((w.input.clone(), w.slot, sig.clone())),
            Err(_) => return blocked(Blocked::Upstream(w.from)),
        }
        inputs.push(ResolvedInput {
            input: w.input.clone(),
            slot: w.slot,
            from,
        });
    }

    if node.bypassed {
        let Some(pass) = kind.inputs.iter().find(|i| i.passthrough) else {
            return blocked(Blocked::NothingToPassThrough(kind.title.clone()));
        };
        let Some(w) = wires.iter().find(|w| w.input == pass.id && w.slot == 0) else {
            return blocked(Blocked::NothingToPassThrough(pass.label.clone()));
        };
        let Some(up) = done.get(&w.from) else {
            return blocked(Blocked::Upstream(w.from));
        };
        return ResolvedNode {
            route: None,
            signature: up.signature.clone(),
            inputs,
            passthrough: Some(up.passthrough.unwrap_or(w.from)),
        };
    }

    for input in &kind.inputs {
        let filled = inputs.iter().filter(|i| i.input == input.id).count() as u32;
        if filled < input.required_slots() {
            let label = if input.required_slots() > 1 {
                format!(
                    "{} {} ({} of {} filled)",
                    input.required_slots(),
                    input.label,
                    filled,
                    input.required_slots()
                )
            } else {
                input.label.clone()
            };
            return blocked(Blocked::MissingInput(label));
        }
    }
    if kind.params.iter().any(|p| {
        matches!(p.kind, ParamKind::Asset { .. })
            && node.params.get(&p.id).is_none_or(Value::is_null)
    }) {
        return blocked(Blocked::NoFile);
    }

    let route = kind.is_generating().then(|| routing.route_for(node));
    let signature = signature_of(node, kind, route, &upstream_sigs, version);
    ResolvedNode {
        route,
        signature: Ok(signature),
        inputs,
        passthrough: None,
    }
}

/// The signature of one node given its upstream signatures.
fn signature_of(
    node: &Node,
    kind: &KindSchema,
    route: Option<Route>,
    upstream: &[(String, u32, String)],
    version: &dyn Fn(&KindSchema, Route) -> String,
) -> String {
    let wired: Vec<&str> = upstream.iter().map(|(i, _, _)| i.as_str()).collect();
    let mut params = Map::new();
    for p in &kind.params {
        // A prompt field that a wired input replaces does not change the result.
        let replaced = kind.inputs.iter().any(|i| {
            i.fallback_param.as_deref() == Some(p.id.as_str()) && wired.contains(&i.id.as_str())
        });
        if replaced {
            continue;
        }
        let value = node
            .params
            .get(&p.id)
            .cloned()
            .unwrap_or_else(|| p.default_value());
        let value = match p.kind {
            // The file's content matters, not its name.
            ParamKind::Asset { .. } => value.get("hash").cloned().unwrap_or(Value::Null),
            _ => value,
        };
        params.insert(p.id.clone(), value);
    }
    let mut inputs: Vec<Value> = upstream
        .iter()
        .map(|(i, s, sig)| {
            Value::from(vec![
                Value::from(i.as_str()),
                Value::from(*s),
                Value::from(sig.as_str()),
            ])
        })
        .collect();
    inputs.sort_by_key(ToString::to_string);
    let mut key = Map::new();
    key.insert("kind".into(), Value::from(kind.id.as_str()));
    key.insert("params".into(), Value::Object(params));
    key.insert("inputs".into(), Value::Array(inputs));
    let (route, version) = route.map_or(("local", LOCAL_VERSION.to_owned()), |r| {
        (r.as_str(), version(kind, r))
    });
    key.insert("route".into(), Value::from(route));
    key.insert("version".into(), Value::from(version));
    // serde_json's map is a BTreeMap here (no `preserve_order`), so this text is canonical.
    let text = Value::Object(key).to_string();
    let mut h = blake3::Hasher::new();
    h.update(b"aktion-signature-v1\0");
    h.update(text.as_bytes());
    h.finalize().to_hex().to_string()
}
