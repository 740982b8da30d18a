//! The Aktion Studio document model: stable node ids, the node catalog as data, typed ports and
//! connection rules, whole-board validation, the project file format with migrations, cache-key
//! signatures and cost estimates.
//!
//! It must never depend on egui, tokio, reqwest, sqlx or axum: the app, the engine and the server
//! all share it.

pub mod batch;
pub mod catalog;
pub mod clipboard;
pub mod cost;
pub mod document;
pub mod edit;
pub mod error;
pub mod project;
pub mod sequence;
pub mod shotlist;
pub mod signature;
pub mod sketch;
pub mod validate;

pub use catalog::{Catalog, CatalogError, KindSchema, ParamKind, ParamSchema, PortType};
pub use document::{
    Document, Frame, FrameId, Node, NodeId, Route, Take, TakeId, TakeMeta, TakeOutput, Wire,
};
pub use error::{ConnectError, Issue, ProjectError};
pub use sequence::{Sequence, Shot, ShotId, ShotStatus};
pub use signature::{Blocked, Resolved, ResolvedNode, Routing};
