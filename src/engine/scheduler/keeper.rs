//! The keeper: one thread that owns every parked session between jobs. It sends their
//! keepalives, closes those idle past the timeout, and hands a host whose work arrived during
//! a keepalive to a pool thread. At shutdown it closes what is left.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use super::workers::SlotState;
use super::{HostEnd, HostFacts, Shared};
use crate::engine::worker::{Assignment, Due, Held};
use crate::engine::ErrorClass;
use crate::util::lock;

/// The keeper thread and the channel that stops it.
pub(super) struct Keeper {
    stop: Sender<()>,
    join: JoinHandle<()>,
}

impl Keeper {
    pub fn start(shared: &Arc<Shared>) -> std::io::Result<Keeper> {
        let (stop, stopped) = crossbeam_channel::bounded(1);
        let shared = shared.clone();
        let join = std::thread::Builder::new()
            .name("fleetdeck-keeper".into())
            .spawn(move || keep(&shared, &stopped))?;
        Ok(Keeper { stop, join })
    }

    pub fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.join.join();
    }
}

fn keep(shared: &Arc<Shared>, stopped: &Receiver<()>) {
    let (idle, keepalive) = shared.keeper_times();
    let tick = (idle.min(keepalive) / 4).clamp(Duration::from_millis(5), Duration::from_secs(1));
    while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(tick) {
        shared.keep_parked(idle, keepalive);
    }
}

impl Shared {
    fn keeper_times(&self) -> (Duration, Duration) {
        (
            self.config.idle_timeout.max(Duration::from_millis(10)),
            self.config.keepalive.max(Duration::from_secs(1)),
        )
    }

    /// One round: parked sessions idle too long are closed, those due a keepalive get one.
    fn keep_parked(self: &Arc<Self>, idle: Duration, keepalive: Duration) {
        let mut closing: Vec<Held> = Vec::new();
        let mut due: Vec<(String, Held)> = Vec::new();
        {
            let mut hosts = lock(&self.hosts);
            hosts.retain(|key, slot| {
                let SlotState::Parked(h) = &slot.state else {
                    return true;
                };
                match h.due(idle, keepalive) {
                    Due::Nothing => true,
                    Due::Close => {
                        if let SlotState::Parked(h) =
                            std::mem::replace(&mut slot.state, SlotState::Running)
                        {
                            closing.push(h);
                        }
                        false
                    }
                    Due::Keepalive => {
                        if let SlotState::Parked(h) =
                            std::mem::replace(&mut slot.state, SlotState::Keeper)
                        {
                            due.push((key.clone(), h));
                        }
                        true
                    }
                }
            });
        }
        // Closing sends a disconnect: outside the lock.
        drop(closing);
        for (key, mut h) in due {
            let alive = h.keepalive();
            self.unpark_after_keepalive(key, alive.then_some(h));
        }
    }

    /// Puts a session back after its keepalive (`None`: it died), or hands the host to a
    /// pool thread when work arrived meanwhile.
    fn unpark_after_keepalive(self: &Arc<Self>, key: String, held: Option<Held>) {
        let mut hosts = lock(&self.hosts);
        let Some(slot) = hosts.get_mut(&key) else {
            return; // shut down meanwhile: `held` closes here
        };
        if slot.queue.is_empty() {
            match held {
                Some(h) => slot.state = SlotState::Parked(h),
                None => {
                    hosts.remove(&key);
                }
            }
            return;
        }
        slot.state = SlotState::Running;
        drop(hosts);
        if let Err((e, a)) = self.pool.run(self, Assignment { key, held }) {
            self.fail_host(&a.key, &format!("cannot start a worker thread: {e}"));
        }
    }

    /// Fails every queued item of host `key` and removes it (no thread could take it).
    fn fail_host(self: &Arc<Self>, key: &str, msg: &str) {
        let slot = lock(&self.hosts).remove(key);
        for (job, idx) in slot.map(|s| s.queue).unwrap_or_default() {
            self.host_done(
                &job,
                &job.spec.targets[idx].name,
                HostEnd::Failed(ErrorClass::Protocol, msg.into()),
                Duration::ZERO,
                HostFacts::default(),
            );
            self.host_slot_done(&job, None);
        }
    }

    /// At shutdown, after the threads ended: closes every parked session and fails any work
    /// no thread took.
    pub(super) fn close_hosts(&self) {
        let slots: Vec<_> = lock(&self.hosts).drain().map(|(_, s)| s).collect();
        for slot in slots {
            for (job, idx) in slot.queue {
                self.host_done(
                    &job,
                    &job.spec.targets[idx].name,
                    HostEnd::Failed(ErrorClass::Cancelled, "the engine is shutting down".into()),
                    Duration::ZERO,
                    HostFacts::default(),
                );
            }
        }
    }
}
