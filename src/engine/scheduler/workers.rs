//! The map of per-host worker threads: one per host (keyed by everything its connection uses),
//! started on first use, kept between jobs with its session, retired once it has none. Hosts
//! reach their workers through the job's fanout queue, never more than `fanout` at once.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};

use super::{HostEnd, HostFacts, JobState, Shared};
use crate::engine::worker::{self, WorkItem};
use crate::engine::{ErrorClass, Target};
use crate::util::lock;

/// A worker with no session and nothing queued, offering its thread to the next host.
pub(crate) struct Idle<'a> {
    /// The worker's key, rewritten when its thread takes another host.
    pub key: &'a mut String,
    pub rx: &'a Receiver<WorkItem>,
}

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
    pub fn retire_worker(&self, key: &str, rx: &Receiver<WorkItem>) -> bool {
        let mut workers = lock(&self.workers);
        if !rx.is_empty() || self.shutting_down.load(Ordering::Relaxed) {
            return false;
        }
        workers.remove(key);
        true
    }

    /// Starts `job`: hands its first `fanout` hosts to their workers; the rest wait in the
    /// job's queue (a cursor, O(1) however many hosts) until a slot frees.
    pub(super) fn enqueue(self: &Arc<Self>, job: &Arc<JobState>) {
        self.admit_more(job, None);
    }

    /// A worker finished a host of `job`: its slot goes to the next queued host. A worker with
    /// no session and no other work passes itself as `idle`, and its thread takes that host
    /// when the host has no worker yet (no thread started, none left waiting).
    pub(crate) fn host_slot_done(self: &Arc<Self>, job: &Arc<JobState>, idle: Option<Idle<'_>>) {
        if job.fanout.release() && !self.batch_done(job) {
            return;
        }
        self.admit_more(job, idle);
    }

    /// A batch of a rolling run ended. Holds every later batch back when more hosts than
    /// `max_failures` failed; else opens the next batch, at once or after the pause (on a
    /// timer thread of its own). True when the caller should admit hosts now.
    fn batch_done(self: &Arc<Self>, job: &Arc<JobState>) -> bool {
        let Some(r) = job.rolling else { return true };
        let failed = job.failed();
        if let Some(max) = r.max_failures.filter(|&m| failed > m) {
            let msg =
                format!("held back: {failed} failed before it, more than --max-failures {max}");
            self.fail_queued_as(job, job.fanout.drain(), ErrorClass::Skipped, &msg);
            return false;
        }
        if r.pause.is_zero() {
            job.fanout.next_batch(r.batch);
            return true;
        }
        let (shared, job) = (self.clone(), job.clone());
        let spawned = std::thread::Builder::new()
            .name("fleetdeck-pause".into())
            .spawn(move || {
                let until = std::time::Instant::now() + r.pause;
                while std::time::Instant::now() < until && !job.cancel.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(20));
                }
                job.fanout.next_batch(r.batch);
                shared.admit_more(&job, None);
            });
        spawned.is_err()
    }

    /// Cancels `job`: running hosts see the flag, queued ones fail as cancelled now.
    pub(super) fn cancel_job(&self, job: &JobState) {
        job.cancel.store(true, Ordering::Relaxed);
        job.wake_shells();
        self.fail_queued(job, job.fanout.drain());
    }

    /// Like [`Shared::cancel_job`], but the queued hosts are failed (events, oplog records)
    /// on a thread of their own: the caller may be the console's loop, which reads the events.
    pub(super) fn cancel_job_detached(self: &Arc<Self>, job: &Arc<JobState>) {
        job.cancel.store(true, Ordering::Relaxed);
        job.wake_shells();
        let queued = job.fanout.drain();
        if queued.is_empty() {
            return;
        }
        let (shared, job2, range) = (self.clone(), job.clone(), queued.clone());
        let spawned = std::thread::Builder::new()
            .name("fleetdeck-cancel".into())
            .spawn(move || shared.fail_queued(&job2, range));
        if spawned.is_err() {
            // No thread to spare: the queue is already drained, so fail them here.
            self.fail_queued(job, queued);
        }
    }

    fn fail_queued(&self, job: &JobState, queued: std::ops::Range<usize>) {
        let msg = "cancelled before it started";
        self.fail_queued_as(job, queued, ErrorClass::Cancelled, msg);
    }

    fn fail_queued_as(
        &self,
        job: &JobState,
        queued: std::ops::Range<usize>,
        class: ErrorClass,
        msg: &str,
    ) {
        for idx in queued {
            self.host_done(
                job,
                &job.spec.targets[idx].name,
                HostEnd::Failed(class, msg.into()),
                job.started.elapsed(),
                HostFacts::default(),
            );
        }
    }

    /// Hands queued hosts of `job` to workers while it has free slots.
    fn admit_more(self: &Arc<Self>, job: &Arc<JobState>, mut idle: Option<Idle<'_>>) {
        if job.cancel.load(Ordering::Relaxed) {
            self.cancel_job(job);
            return;
        }
        while let Some(idx) = job.fanout.admit() {
            if let Err(e) = self.dispatch(job, idx, &mut idle) {
                self.host_done(
                    job,
                    &job.spec.targets[idx].name,
                    HostEnd::Failed(
                        ErrorClass::Protocol,
                        format!("cannot start a worker thread: {e}"),
                    ),
                    Duration::ZERO,
                    HostFacts::default(),
                );
                job.fanout.release();
            }
        }
    }

    /// Gives target `idx` of `job` to its host's worker: the existing one (queued behind its
    /// current work), else the idle worker's thread under the new key, else a new thread.
    fn dispatch(
        self: &Arc<Self>,
        job: &Arc<JobState>,
        idx: usize,
        idle: &mut Option<Idle<'_>>,
    ) -> std::io::Result<()> {
        let key = worker_key(&job.spec.targets[idx]);
        let item = WorkItem::Run(job.clone(), idx);
        let mut workers = lock(&self.workers);
        let item = match workers.get(&key) {
            Some(h) => match h.tx.send(item) {
                Ok(()) => return Ok(()),
                Err(e) => e.into_inner(),
            },
            None => item,
        };
        if let Some(me) = idle.take() {
            if me.rx.is_empty() && !self.shutting_down.load(Ordering::Relaxed) {
                if let Some(h) = workers.remove(me.key.as_str()) {
                    // The worker's own channel: it reads this item next.
                    let _ = h.tx.send(item);
                    workers.insert(key.clone(), h);
                    *me.key = key;
                    return Ok(());
                }
            }
        }
        let (tx, rx) = crossbeam_channel::unbounded();
        let _ = tx.send(item);
        let join = worker::spawn(self.clone(), key.clone(), rx)?;
        workers.insert(
            key,
            WorkerHandle {
                tx,
                join: Some(join),
            },
        );
        Ok(())
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
