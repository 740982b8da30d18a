//! Errors of the document model. Each says what is wrong in words a filmmaker can act on.

use std::path::PathBuf;

use crate::catalog::PortType;
use crate::document::NodeId;
use crate::validate::ParamError;

/// Why a wire was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConnectError {
    #[error("no node {0} on the board")]
    NoSuchNode(NodeId),
    #[error("a node cannot feed itself")]
    SelfLoop,
    #[error("unknown node kind `{0}`")]
    UnknownKind(String),
    #[error("{kind} has no input `{input}`")]
    NoSuchInput { kind: String, input: String },
    #[error("{input_label} takes {input}, not {output}")]
    TypeMismatch {
        output: PortType,
        input: PortType,
        input_label: String,
    },
    #[error("{input_label} has {slots} slot(s); slot {slot} does not exist")]
    NoSuchSlot {
        input_label: String,
        slot: u32,
        slots: u32,
    },
    #[error("{input_label} already has a wire")]
    InputTaken { input_label: String },
    #[error("this wire would make a loop")]
    Cycle,
}

/// One problem found by whole-board validation.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum Issue {
    #[error("sequence: {0}")]
    Sequence(#[from] crate::sequence::SequenceIssue),
    #[error("node {node}: unknown node kind `{kind}`")]
    UnknownKind { node: NodeId, kind: String },
    #[error(
        "wire into node {to} input `{input}`: source node {from} does not exist (dangling wire)"
    )]
    DanglingFrom {
        from: NodeId,
        to: NodeId,
        input: String,
    },
    #[error("wire from node {from}: target node {to} does not exist (dangling wire)")]
    DanglingTo { from: NodeId, to: NodeId },
    #[error("wire {from} -> {to}.{input}[{slot}]: {reason}")]
    BadWire {
        from: NodeId,
        to: NodeId,
        input: String,
        slot: u32,
        reason: ConnectError,
    },
    #[error("input `{input}` slot {slot} of node {node} has more than one wire")]
    DuplicateInput {
        node: NodeId,
        input: String,
        slot: u32,
    },
    #[error("the board has a cycle through {} node(s), starting at {first}", nodes.len())]
    Cycle { first: NodeId, nodes: Vec<NodeId> },
    #[error("node {node}: parameter `{param}` {reason}")]
    BadParam {
        node: NodeId,
        param: String,
        reason: ParamError,
    },
    #[error("node {node}: key `{key}` does not match the node's id")]
    IdMismatch { node: NodeId, key: String },
}

/// Errors reading, writing or importing into a project.
#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not a project: neither a project folder nor a project.json", path.display())]
    NotAProject { path: PathBuf },
    #[error("the project file is too large ({size} bytes; the limit is {limit})")]
    TooLarge { size: u64, limit: u64 },
    #[error("the project file is not valid JSON (it may be truncated or corrupt): {0}")]
    Syntax(String),
    #[error("the project file is not an Aktion Studio project: {0}")]
    Format(String),
    #[error(
        "the project was saved by a newer Aktion Studio (format version {found}; this build reads up to {supported}); it opens read-only and is never overwritten"
    )]
    NewerVersion { found: u64, supported: u64 },
    #[error("the project is invalid: {}", issues.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid { issues: Vec<Issue> },
    #[error("the file to import is empty or unreadable: {0}")]
    Import(String),
}
