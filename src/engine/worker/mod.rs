//! One worker thread per host: it owns that host's libssh2 session, takes the hosts the job's
//! fanout queue hands it in order, keeps the session for the next job (keepalives while idle,
//! closed after the idle timeout), and replaces a dead session transparently.

mod exec;
mod session;
mod shell;
mod transfer;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};

use self::session::Held;
use super::scheduler::{HostEnd, HostFacts, Idle, JobState, Shared};
use super::{Event, JobKind};

/// Stack of a worker thread: libssh2 and OpenSSL need little; most of it is never touched.
const WORKER_STACK: usize = 512 * 1024;

pub(crate) enum WorkItem {
    /// Run target `usize` of the job.
    Run(Arc<JobState>, usize),
    Shutdown,
}

pub(crate) fn spawn(
    shared: Arc<Shared>,
    key: String,
    rx: Receiver<WorkItem>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("fleetdeck-host".into())
        .stack_size(WORKER_STACK)
        .spawn(move || {
            shared.counters.workers.fetch_add(1, Ordering::Relaxed);
            let mut w = Worker {
                shared: shared.clone(),
                key,
                rx,
                held: None,
                slot_released: false,
            };
            w.main_loop();
            drop(w);
            shared.counters.workers.fetch_sub(1, Ordering::Relaxed);
        })
}

struct Worker {
    shared: Arc<Shared>,
    key: String,
    rx: Receiver<WorkItem>,
    held: Option<Held>,
    /// The current host gave its fanout slot back early (a shell, once open, holds none).
    slot_released: bool,
}

impl Worker {
    /// The host is connected (or its held session reused) and its work starts.
    fn announce(&self, job: crate::contract::JobId, host: &Arc<str>, reused: bool) {
        self.shared.emit(Event::Connected {
            job,
            host: host.clone(),
            reused,
        });
        self.shared.emit(Event::Running {
            job,
            host: host.clone(),
        });
    }

    fn main_loop(&mut self) {
        let idle = self
            .shared
            .config
            .idle_timeout
            .max(Duration::from_millis(10));
        let keepalive = self.shared.config.keepalive.max(Duration::from_secs(1));
        let mut idle_since = Instant::now();
        loop {
            let wait = match &self.held {
                Some(h) => {
                    let to_idle = idle.saturating_sub(h.last_used.elapsed());
                    let to_ka = keepalive.saturating_sub(h.last_keepalive.elapsed());
                    to_idle.min(to_ka).max(Duration::from_millis(5))
                }
                None => idle
                    .saturating_sub(idle_since.elapsed())
                    .max(Duration::from_millis(5)),
            };
            match self.rx.recv_timeout(wait) {
                Ok(WorkItem::Run(job, idx)) => {
                    idle_since = Instant::now();
                    if self.run_guarded(&job, idx) {
                        break;
                    }
                }
                Ok(WorkItem::Shutdown) | Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {
                    if let Some(h) = &mut self.held {
                        if h.last_used.elapsed() >= idle {
                            self.held = None;
                        } else if h.last_keepalive.elapsed() >= keepalive {
                            h.last_keepalive = Instant::now();
                            let sess = &h.conn.sess;
                            sess.set_blocking(true);
                            let ok = sess.keepalive_send().is_ok();
                            sess.set_blocking(false);
                            if !ok {
                                self.held = None;
                            }
                        }
                    } else if idle_since.elapsed() >= idle
                        && self.shared.retire_worker(&self.key, &self.rx)
                    {
                        break;
                    }
                }
            }
        }
        self.held = None;
    }

    /// Runs one host of `job` (a panic fails the host), then hands its fanout slot on.
    /// Returns true when this worker retired (no session, nothing queued).
    fn run_guarded(&mut self, job: &Arc<JobState>, idx: usize) -> bool {
        self.slot_released = false;
        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.run_item(job, idx);
        }));
        if let Err(panic) = ran {
            // A bug must not hang the job: the host fails, and its session (maybe
            // mid-operation) is never reused.
            self.held = None;
            let what = panic
                .downcast_ref::<&str>()
                .map(ToString::to_string)
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            let host = job.spec.targets[idx].name.clone();
            self.shared.host_done(
                job,
                &host,
                HostEnd::Failed(
                    super::ErrorClass::Protocol,
                    format!("internal error, please report it: {what}"),
                ),
                Duration::ZERO,
                HostFacts::default(),
            );
        }
        let shared = self.shared.clone();
        if !self.slot_released {
            let idle = self.held.is_none().then_some(Idle {
                key: &mut self.key,
                rx: &self.rx,
            });
            shared.host_slot_done(job, idle);
        }
        // A thread without a session is worth nothing between jobs.
        self.held.is_none() && shared.retire_worker(&self.key, &self.rx)
    }

    fn run_item(&mut self, job: &Arc<JobState>, idx: usize) {
        let target = &job.spec.targets[idx];
        let host = target.name.clone();
        // The fanout slot was taken when the host was handed here; the main loop frees it.
        if job.cancel.load(Ordering::Relaxed) {
            self.shared.host_done(
                job,
                &host,
                HostEnd::Failed(
                    super::ErrorClass::Cancelled,
                    "cancelled before it started".into(),
                ),
                Duration::ZERO,
                HostFacts::default(),
            );
            return;
        }
        let start = Instant::now();
        self.shared.emit(Event::Connecting {
            job: job.id,
            host: host.clone(),
        });
        let facts = HostFacts {
            address: format!("{}:{}", target.conn.address, target.conn.port),
            ..HostFacts::default()
        };
        match &job.spec.kind {
            JobKind::Exec(spec) => self.run_exec(job, target, spec, start, facts),
            JobKind::Upload(_) | JobKind::Download(_) => {
                self.run_transfer(job, target, start, facts);
            }
            JobKind::Shell(spec) => self.run_shell(job, target, spec, start, facts),
        }
    }
}

fn timeout_ms(d: Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX).max(1)
}
