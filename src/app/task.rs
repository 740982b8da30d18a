//! Background work as one type: a [`Task`] is pending until its result arrives, then ready
//! (rerun's `RequestedObject` is the model). Work runs on the app's tokio runtime, never on the
//! UI thread; the result comes back through a one-shot channel and wakes the UI with
//! `request_repaint`. A panel holds `Option<Task<T>>` where it used to hold a channel, a thread
//! and a `busy` flag: `is_some()` is "busy", and `poll` hands over the result once.

use std::future::Future;
use std::sync::{Arc, OnceLock};

use eframe::egui;
use tokio::sync::oneshot;

/// Where background work runs and whom it wakes.
/// Clones share the context to wake, which is known once the first frame runs.
#[derive(Clone)]
pub struct Spawner {
    handle: tokio::runtime::Handle,
    ctx: Arc<OnceLock<egui::Context>>,
}

impl Spawner {
    pub fn new(handle: tokio::runtime::Handle, ctx: Option<egui::Context>) -> Self {
        let cell = OnceLock::new();
        if let Some(ctx) = ctx {
            let _ = cell.set(ctx);
        }
        Self {
            handle,
            ctx: Arc::new(cell),
        }
    }

    /// Wakes `ctx` from now on (every clone); the first context set stays.
    pub fn set_ctx(&self, ctx: &egui::Context) {
        let _ = self.ctx.set(ctx.clone());
    }

    pub fn ctx(&self) -> Option<&egui::Context> {
        self.ctx.get()
    }

    pub fn handle(&self) -> &tokio::runtime::Handle {
        &self.handle
    }

    /// Runs blocking work (file system, decoding, hashing) on the runtime's blocking pool.
    pub fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Task<T> {
        let (tx, rx) = oneshot::channel();
        let ctx = Arc::clone(&self.ctx);
        self.handle.spawn_blocking(move || {
            let _ = tx.send(work());
            if let Some(ctx) = ctx.get() {
                ctx.request_repaint();
            }
        });
        Task { rx: Some(rx) }
    }

    /// Runs async work (network) on the runtime.
    pub fn spawn<T: Send + 'static>(
        &self,
        work: impl Future<Output = T> + Send + 'static,
    ) -> Task<T> {
        let (tx, rx) = oneshot::channel();
        let ctx = Arc::clone(&self.ctx);
        self.handle.spawn(async move {
            let _ = tx.send(work.await);
            if let Some(ctx) = ctx.get() {
                ctx.request_repaint();
            }
        });
        Task { rx: Some(rx) }
    }

    /// Runs work whose result nobody waits for (a detached child process's reaping).
    pub fn detach(&self, work: impl FnOnce() + Send + 'static) {
        self.handle.spawn_blocking(work);
    }
}

/// A piece of background work: pending, then ready once.
pub struct Task<T> {
    rx: Option<oneshot::Receiver<T>>,
}

/// What [`Task::poll`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Poll<T> {
    Pending,
    Ready(T),
    /// The work ended without a result (it panicked, or the runtime shut down).
    Lost,
}

impl<T> Task<T> {
    /// A task that is already done.
    pub fn ready(value: T) -> Self {
        let (tx, rx) = oneshot::channel();
        let _ = tx.send(value);
        Self { rx: Some(rx) }
    }

    /// Takes the result if it has arrived; after `Ready` or `Lost`, always `Lost`.
    pub fn poll(&mut self) -> Poll<T> {
        let Some(rx) = &mut self.rx else {
            return Poll::Lost;
        };
        match rx.try_recv() {
            Ok(v) => {
                self.rx = None;
                Poll::Ready(v)
            }
            Err(oneshot::error::TryRecvError::Empty) => Poll::Pending,
            Err(oneshot::error::TryRecvError::Closed) => {
                self.rx = None;
                Poll::Lost
            }
        }
    }
}

/// Polls an optional task in place: the result once it is ready (the slot empties then, also
/// when the work was lost, which is reported as `Some(Err(..))`).
pub fn take_ready<T>(slot: &mut Option<Task<T>>) -> Option<Result<T, Lost>> {
    let task = slot.as_mut()?;
    match task.poll() {
        Poll::Pending => None,
        Poll::Ready(v) => {
            *slot = None;
            Some(Ok(v))
        }
        Poll::Lost => {
            *slot = None;
            Some(Err(Lost))
        }
    }
}

/// Takes the results of the tasks that are done (in order), keeping the pending ones; work
/// that was lost is dropped.
pub fn drain_ready<T>(tasks: &mut Vec<Task<T>>) -> Vec<T> {
    let mut ready = Vec::new();
    tasks.retain_mut(|t| match t.poll() {
        Poll::Pending => true,
        Poll::Ready(r) => {
            ready.push(r);
            false
        }
        Poll::Lost => false,
    });
    ready
}

/// One piece of blocking work of a [`Lane`].
pub type Job<T> = Box<dyn FnOnce() -> T + Send>;

/// Blocking work that must happen one piece at a time, in the order asked: writes to the same
/// file or store, where two at once could interleave or land out of order.
pub struct Lane<T> {
    spawner: Spawner,
    queue: std::collections::VecDeque<Job<T>>,
    running: Option<Task<T>>,
}

impl<T: Send + 'static> Lane<T> {
    pub fn new(spawner: Spawner) -> Self {
        Self {
            spawner,
            queue: std::collections::VecDeque::new(),
            running: None,
        }
    }

    /// Queues `job` after everything queued before it.
    pub fn push(&mut self, job: Job<T>) {
        self.queue.push_back(job);
        self.start_next();
    }

    /// Whether work is queued or running.
    pub fn busy(&self) -> bool {
        self.running.is_some() || !self.queue.is_empty()
    }

    /// The results that arrived, in the order the work was queued; starts what comes next.
    pub fn poll(&mut self) -> Vec<Result<T, Lost>> {
        let mut done = Vec::new();
        while let Some(result) = take_ready(&mut self.running) {
            done.push(result);
            self.start_next();
        }
        done
    }

    fn start_next(&mut self) {
        if self.running.is_none()
            && let Some(job) = self.queue.pop_front()
        {
            self.running = Some(self.spawner.blocking(job));
        }
    }
}

/// Background work that ended without a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lost;

impl std::fmt::Display for Lost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the background work stopped unexpectedly")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_is_pending_then_ready_once() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let spawner = Spawner::new(rt.handle().clone(), None);
        let (go_tx, go_rx) = std::sync::mpsc::sync_channel::<()>(1);
        let mut slot = Some(spawner.blocking(move || {
            let _ = go_rx.recv();
            41 + 1
        }));
        assert!(
            take_ready(&mut slot).is_none(),
            "pending until the work ends"
        );
        assert!(slot.is_some());
        go_tx.send(()).expect("send");
        let got = loop {
            if let Some(r) = take_ready(&mut slot) {
                break r;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        };
        assert_eq!(got, Ok(42));
        assert!(slot.is_none(), "the slot empties once the result is taken");
    }

    #[test]
    fn work_that_panics_is_lost_not_pending_forever() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let spawner = Spawner::new(rt.handle().clone(), None);
        let mut task = spawner.blocking(|| -> u32 { panic!("boom") });
        let got = loop {
            match task.poll() {
                Poll::Pending => std::thread::sleep(std::time::Duration::from_millis(1)),
                other => break other,
            }
        };
        assert_eq!(got, Poll::Lost);
        assert_eq!(Task::ready(3).poll(), Poll::Ready(3));
    }

    #[test]
    fn a_lane_runs_one_job_at_a_time_in_order() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .expect("runtime");
        let spawner = Spawner::new(rt.handle().clone(), None);
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut lane = Lane::new(spawner);
        for i in 0..20_u32 {
            let log = Arc::clone(&log);
            lane.push(Box::new(move || {
                // A later job must not start before this one ends.
                log.lock().expect("log").push(("start", i));
                std::thread::sleep(std::time::Duration::from_micros(200));
                log.lock().expect("log").push(("end", i));
                i
            }));
        }
        assert!(lane.busy());
        let mut results = Vec::new();
        while lane.busy() {
            results.extend(lane.poll());
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert_eq!(results, (0..20).map(Ok).collect::<Vec<_>>());
        let expected: Vec<(&str, u32)> = (0..20).flat_map(|i| [("start", i), ("end", i)]).collect();
        assert_eq!(*log.lock().expect("log"), expected);
    }
}
