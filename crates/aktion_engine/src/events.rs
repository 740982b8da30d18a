//! What a run tells as it goes (events, in order) and when it ends (a report per node), and
//! the sender that queues events and wakes their reader. Executors and the scheduler both use
//! these; neither imports the other for them.

use std::path::PathBuf;
use std::sync::Arc;

use aktion_cache::{CachedOutput, CachedResult};
use aktion_graph::NodeId;
use serde::Serialize;
use tokio::sync::mpsc;

/// Progress of a run, in the order it happens.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    Planned {
        to_run: usize,
        cached: usize,
        blocked: usize,
        credits: u32,
    },
    Queued {
        node: NodeId,
    },
    Started {
        node: NodeId,
    },
    Progress {
        node: NodeId,
        fraction: Option<f32>,
        message: String,
    },
    Done {
        node: NodeId,
        cached: bool,
        outputs: Vec<CachedOutput>,
        /// The signature the result was made for (of the board as the run saw it).
        signature: String,
        /// The whole result, to be kept as a take.
        #[serde(skip)]
        result: CachedResult,
    },
    Failed {
        node: NodeId,
        error: String,
    },
    Blocked {
        node: NodeId,
        reason: String,
    },
    Cancelled {
        node: NodeId,
    },
}

/// How a node ended in a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeStatus {
    Done,
    Cached,
    Failed,
    Blocked,
    Cancelled,
    Bypassed,
    /// Not needed: a node downstream of it was already cached.
    Skipped,
}

/// One node's part of a run.
#[derive(Clone, Debug, Serialize)]
pub struct NodeReport {
    pub node: NodeId,
    pub kind: String,
    pub title: String,
    pub status: NodeStatus,
    pub signature: Option<String>,
    pub outputs: Vec<CachedOutput>,
    /// Where each output file is in the cache.
    pub output_paths: Vec<PathBuf>,
    pub error: Option<String>,
    pub credits: u32,
    pub meta: Option<aktion_graph::TakeMeta>,
}

/// The outcome of a run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RunSummary {
    pub nodes: Vec<NodeReport>,
    pub ran: usize,
    pub cached: usize,
    pub failed: usize,
    pub blocked: usize,
    pub cancelled: usize,
    pub credits: u32,
    pub elapsed_ms: u64,
}

impl RunSummary {
    pub fn report(&self, node: NodeId) -> Option<&NodeReport> {
        self.nodes.iter().find(|r| r.node == node)
    }

    /// True when nothing failed, was blocked or was cancelled.
    pub fn success(&self) -> bool {
        self.failed == 0 && self.blocked == 0 && self.cancelled == 0
    }
}

/// A callback told of every event as it is queued, with whether it is only progress (a UI may
/// draw progress less often than a job starting or ending).
#[derive(Clone)]
pub struct Wake(pub Arc<dyn Fn(bool) + Send + Sync>);

impl std::fmt::Debug for Wake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Wake")
    }
}

/// Sends a run's events and wakes whoever reads them.
#[derive(Clone)]
pub(crate) struct EventSender {
    tx: mpsc::UnboundedSender<Event>,
    wake: Option<Wake>,
}

impl EventSender {
    pub(crate) fn new(tx: mpsc::UnboundedSender<Event>, wake: Option<Wake>) -> Self {
        Self { tx, wake }
    }

    /// Queues `event`; false when nobody reads the run's events any more.
    pub(crate) fn send(&self, event: Event) -> bool {
        let progress_only = matches!(event, Event::Progress { .. });
        let sent = self.tx.send(event).is_ok();
        if let Some(w) = &self.wake {
            (w.0)(progress_only);
        }
        sent
    }
}
