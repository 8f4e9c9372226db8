//! The map of per-host worker threads: one per host (keyed by everything its connection uses),
//! started on first use, kept between jobs with its session, retired once idle.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::Sender;

use super::{HostEnd, HostFacts, JobState, Shared};
use crate::engine::worker::{self, WorkItem};
use crate::engine::{ErrorClass, Target};
use crate::util::lock;

pub(super) struct WorkerHandle {
    tx: Sender<WorkItem>,
    join: Option<JoinHandle<()>>,
}

/// The key that identifies one host's worker: the name plus everything the connection uses.
fn worker_key(t: &Target) -> String {
    let c = &t.conn;
    let jumps: Vec<String> = t
        .jump
        .iter()
        .map(|j| format!("{}@{}:{}", j.conn.user, j.conn.address, j.conn.port))
        .collect();
    format!(
        "{}\u{1f}{}@{}:{}\u{1f}{:?}\u{1f}{}",
        t.name,
        c.user,
        c.address,
        c.port,
        c.identity_files,
        jumps.join(",")
    )
}

impl Shared {
    /// Called by an idle worker without a session: removes it from the map unless work
    /// arrived meanwhile. Returns true when the worker may exit.
    pub fn retire_worker(&self, key: &str, rx: &crossbeam_channel::Receiver<WorkItem>) -> bool {
        let mut workers = lock(&self.workers);
        if !rx.is_empty() || self.shutting_down.load(Ordering::Relaxed) {
            return false;
        }
        workers.remove(key);
        true
    }

    /// Queues every host of `job` on its worker, starting the workers that do not exist.
    pub(super) fn enqueue(self: &Arc<Self>, job: &Arc<JobState>) {
        // Enqueue every host under the map lock, so that every worker sees jobs in the same
        // order (no fanout deadlock between jobs) and no idle worker retires past an item.
        let mut workers = lock(&self.workers);
        for (idx, target) in job.spec.targets.iter().enumerate() {
            let key = worker_key(target);
            let item = WorkItem::Run(job.clone(), idx);
            let item = match workers.get(&key) {
                Some(h) => match h.tx.send(item) {
                    Ok(()) => continue,
                    Err(e) => e.into_inner(),
                },
                None => item,
            };
            let (tx, rx) = crossbeam_channel::unbounded();
            let _ = tx.send(item);
            match worker::spawn(self.clone(), key.clone(), rx) {
                Ok(join) => {
                    workers.insert(
                        key,
                        WorkerHandle {
                            tx,
                            join: Some(join),
                        },
                    );
                }
                Err(e) => {
                    drop(workers);
                    self.host_done(
                        job,
                        &target.name,
                        HostEnd::Failed(
                            ErrorClass::Protocol,
                            format!("cannot start a worker thread: {e}"),
                        ),
                        Duration::ZERO,
                        HostFacts::default(),
                    );
                    workers = lock(&self.workers);
                }
            }
        }
    }

    /// Tells every worker to stop (closing its session) and joins them.
    pub(super) fn stop_workers(&self) {
        let handles: Vec<WorkerHandle> = lock(&self.workers).drain().map(|(_, h)| h).collect();
        for h in &handles {
            let _ = h.tx.send(WorkItem::Shutdown);
        }
        for mut h in handles {
            if let Some(j) = h.join.take() {
                let _ = j.join();
            }
        }
    }
}
