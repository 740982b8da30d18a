//! The job journal: for every provider job in flight, the handle needed to poll it again (job
//! id, poll URLs), written to disk before the engine waits on it. After a crash or restart the
//! executor finds the handle and resumes polling instead of submitting (and paying) again.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use aktion_graph::NodeId;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One journaled job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JournalEntry {
    pub signature: String,
    pub node: NodeId,
    /// Executor-defined, e.g. a provider's resumable job handle. Never holds keys.
    pub handle: Value,
    pub recorded_unix_ms: u64,
    /// What the job was asked to make, so that it can be finished after a restart even when
    /// its node was edited or deleted meanwhile (a paid result is never thrown away).
    #[serde(default)]
    pub job: Option<JobSnapshot>,
}

/// The parts of a job needed to follow it to its end after a restart (not to submit it: its
/// inputs are not kept).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobSnapshot {
    pub kind: String,
    pub title: String,
    pub params: std::collections::BTreeMap<String, Value>,
    pub route: Option<aktion_graph::Route>,
    /// The project the node belongs to.
    pub project_root: PathBuf,
}

/// The journal folder.
#[derive(Debug)]
pub struct Journal {
    dir: PathBuf,
}

impl Journal {
    /// Opens (creating) the journal folder.
    pub fn open(dir: impl Into<PathBuf>) -> std::io::Result<Arc<Self>> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)?;
        Ok(Arc::new(Self { dir }))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, signature: &str) -> Option<PathBuf> {
        // Signatures are ours (hex), but never let one name a path outside the folder.
        let ok = !signature.is_empty()
            && signature.len() <= 128
            && signature.bytes().all(|b| b.is_ascii_alphanumeric());
        ok.then(|| self.dir.join(format!("{signature}.json")))
    }

    /// The entry for a signature, if a job was in flight. An unreadable entry counts as none.
    pub fn get(&self, signature: &str) -> Option<JournalEntry> {
        let bytes = std::fs::read(self.path(signature)?).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Records (atomically) that a job is in flight.
    pub fn record(&self, entry: &JournalEntry) -> std::io::Result<()> {
        let path = self.path(&entry.signature).ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "malformed signature")
        })?;
        let bytes = serde_json::to_vec_pretty(entry).map_err(std::io::Error::other)?;
        aktion_graph::project::atomic_write(&path, &bytes)
    }

    /// Forgets a job (it finished, failed for good or was cancelled).
    pub fn clear(&self, signature: &str) {
        if let Some(p) = self.path(signature) {
            let _ = std::fs::remove_file(p);
        }
    }

    /// Every entry, oldest first (for a jobs panel after restart).
    pub fn entries(&self) -> Vec<JournalEntry> {
        let mut out: Vec<JournalEntry> = std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| std::fs::read(e.path()).ok())
            .filter_map(|b| serde_json::from_slice(&b).ok())
            .collect();
        out.sort_by_key(|e: &JournalEntry| e.recorded_unix_ms);
        out
    }
}

/// The journal as one job sees it.
#[derive(Clone, Debug)]
pub struct JournalSlot {
    journal: Arc<Journal>,
    signature: String,
    node: NodeId,
    job: Option<JobSnapshot>,
}

impl JournalSlot {
    pub(crate) fn new(
        journal: Arc<Journal>,
        signature: String,
        node: NodeId,
        job: Option<JobSnapshot>,
    ) -> Self {
        Self {
            journal,
            signature,
            node,
            job,
        }
    }

    /// The handle of this node's job from before a restart.
    pub fn resume_handle(&self) -> Option<Value> {
        self.journal.get(&self.signature).map(|e| e.handle)
    }

    /// Records the handle of a job just submitted. Call before waiting on the job.
    pub fn record(&self, handle: Value) -> std::io::Result<()> {
        self.journal.record(&JournalEntry {
            signature: self.signature.clone(),
            node: self.node,
            handle,
            recorded_unix_ms: crate::now_ms(),
            job: self.job.clone(),
        })
    }

    pub fn clear(&self) {
        self.journal.clear(&self.signature);
    }
}
