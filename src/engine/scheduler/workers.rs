//! The map of hosts with work or a held session, keyed by everything a connection uses. A
//! host with work is run by one pool thread (see `pool.rs`) through its queue, in order; a
//! host whose queue ran dry parks its session here, where the keeper (`keeper.rs`) keeps it
//! alive and closes it after the idle timeout. Hosts reach the map through the job's fanout
//! queue, never more than `fanout` at once.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::{HostEnd, HostFacts, JobState, Shared};
use crate::engine::worker::{Assignment, Held};
use crate::engine::{ErrorClass, Target};
use crate::util::lock;

/// One host of the map: its queued work and where its session is.
pub(super) struct HostSlot {
    pub queue: VecDeque<(Arc<JobState>, usize)>,
    pub state: SlotState,
}

pub(super) enum SlotState {
    /// A pool thread runs the host's work (and owns its session, if any).
    Running,
    /// No work: the session waits here for the next job.
    Parked(Held),
    /// The keeper has the session out for a keepalive; it hands queued work on after.
    Keeper,
}

/// Where a freed thread can take the next host instead of a new thread being started.
pub(crate) type Handoff<'a> = Option<&'a mut Option<Assignment>>;

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
    /// Starts `job`: hands its first `fanout` hosts to their workers; the rest wait in the
    /// job's queue (a cursor, O(1) however many hosts) until a slot frees.
    pub(super) fn enqueue(self: &Arc<Self>, job: &Arc<JobState>) {
        self.admit_more(job, None);
    }

    /// A host of `job` finished: its slot goes to the next queued host. A thread that is free
    /// now passes `handoff`, and takes the first host that needs a thread.
    pub(crate) fn host_slot_done(self: &Arc<Self>, job: &Arc<JobState>, handoff: Handoff<'_>) {
        if job.fanout.release() && !self.batch_done(job) {
            return;
        }
        self.admit_more(job, handoff);
    }

    /// The next work of host `key` for the thread running it; `None` when its queue is empty,
    /// and then its session (if any) is parked and the thread is free.
    pub(crate) fn next_item(
        &self,
        key: &str,
        held: &mut Option<Held>,
    ) -> Option<(Arc<JobState>, usize)> {
        let mut hosts = lock(&self.hosts);
        let slot = hosts.get_mut(key)?;
        if let Some(item) = slot.queue.pop_front() {
            return Some(item);
        }
        match held.take() {
            Some(h) if !self.shutting_down.load(Ordering::Relaxed) => {
                slot.state = SlotState::Parked(h);
            }
            closing => {
                hosts.remove(key);
                drop(hosts);
                drop(closing);
            }
        }
        None
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
    fn admit_more(self: &Arc<Self>, job: &Arc<JobState>, mut handoff: Handoff<'_>) {
        if job.cancel.load(Ordering::Relaxed) {
            self.cancel_job(job);
            return;
        }
        while let Some(idx) = job.fanout.admit() {
            if let Err(e) = self.dispatch(job, idx, &mut handoff) {
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

    /// Gives target `idx` of `job` to its host: queued behind the host's current work, or
    /// handed (with its parked session) to a free thread.
    fn dispatch(
        self: &Arc<Self>,
        job: &Arc<JobState>,
        idx: usize,
        handoff: &mut Handoff<'_>,
    ) -> std::io::Result<()> {
        let key = worker_key(&job.spec.targets[idx]);
        let mut hosts = lock(&self.hosts);
        let held = if let Some(slot) = hosts.get_mut(&key) {
            slot.queue.push_back((job.clone(), idx));
            match std::mem::replace(&mut slot.state, SlotState::Running) {
                SlotState::Parked(h) => Some(h),
                busy => {
                    slot.state = busy;
                    return Ok(());
                }
            }
        } else {
            hosts.insert(
                key.clone(),
                HostSlot {
                    queue: VecDeque::from([(job.clone(), idx)]),
                    state: SlotState::Running,
                },
            );
            None
        };
        drop(hosts);
        let had_session = held.is_some();
        if let Err((e, a)) = self.assign(Assignment { key, held }, handoff) {
            // No thread for it: the host goes back as it was, without this item.
            let mut hosts = lock(&self.hosts);
            let closing = match a.held {
                Some(h) if had_session => {
                    if let Some(slot) = hosts.get_mut(&a.key) {
                        slot.queue.pop_back();
                        slot.state = SlotState::Parked(h);
                    }
                    None
                }
                other => {
                    hosts.remove(&a.key);
                    other
                }
            };
            drop(hosts);
            drop(closing);
            return Err(e);
        }
        Ok(())
    }

    /// Runs `a` on a thread: the caller's own (`handoff`), an idle pool thread, or a new one.
    fn assign(
        self: &Arc<Self>,
        a: Assignment,
        handoff: &mut Handoff<'_>,
    ) -> Result<(), (std::io::Error, Assignment)> {
        if let Some(slot) = handoff.take() {
            if slot.is_none() {
                *slot = Some(a);
                return Ok(());
            }
        }
        self.pool.run(self, a)
    }
}
