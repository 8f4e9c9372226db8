//! The engine's pool of worker threads. A thread is handed a host (its key, its queued work
//! and its parked session, if any), runs that host's work in order on the session, and parks
//! the session again when the host has nothing queued (the scheduler's keeper sends its
//! keepalives and closes it after the idle timeout). A held session costs no thread:
//! only hosts with work do. Each session belongs to one thread at a time.

mod exec;
mod session;
mod shell;
mod transfer;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub(crate) use self::session::{Due, Held};
use super::scheduler::{HostEnd, HostFacts, JobState, Shared};
use super::{Event, JobKind};
use crate::util::lock;

/// Stack of a worker thread: libssh2 and OpenSSL need little; most of it is never touched.
const WORKER_STACK: usize = 512 * 1024;

/// A host handed to a pool thread: its key in the scheduler's host map (its queue of work is
/// there) and its parked session, if it has one.
pub(crate) struct Assignment {
    pub key: String,
    pub held: Option<Held>,
}

/// Starts a pool thread that runs `first`, then waits for more hosts.
/// `first` is taken by the thread; it is still there when the thread could not start.
pub(crate) fn spawn(
    shared: Arc<Shared>,
    first: Arc<Mutex<Option<Assignment>>>,
) -> std::io::Result<JoinHandle<()>> {
    shared.counters.workers.fetch_add(1, Ordering::Relaxed);
    let counters = shared.clone();
    let spawned = std::thread::Builder::new()
        .name("fleetdeck-host".into())
        .stack_size(WORKER_STACK)
        .spawn(move || {
            let mut next = lock(&first).take();
            loop {
                let a = match next.take() {
                    Some(a) => a,
                    None => match shared.pool_wait() {
                        Some(a) => a,
                        None => break,
                    },
                };
                next = run_host(&shared, a);
            }
            shared.counters.workers.fetch_sub(1, Ordering::Relaxed);
        });
    if spawned.is_err() {
        counters.counters.workers.fetch_sub(1, Ordering::Relaxed);
    }
    spawned
}

/// Runs the queued work of one host in order on its session, then parks the session. Returns
/// the host this thread was handed when the last item freed a fanout slot (instead of a new
/// thread for it).
fn run_host(shared: &Arc<Shared>, a: Assignment) -> Option<Assignment> {
    let mut w = Worker {
        shared: shared.clone(),
        held: a.held,
        slot_released: false,
    };
    let mut item = shared.next_item(&a.key, &mut w.held)?;
    loop {
        let (job, idx) = item;
        w.slot_released = false;
        w.run_guarded(&job, idx);
        // A shell gave its slot back once open: it is not given back twice.
        let released = w.slot_released;
        let Some(next) = shared.next_item(&a.key, &mut w.held) else {
            if released {
                return None;
            }
            let mut handed = None;
            shared.host_slot_done(&job, Some(&mut handed));
            return handed;
        };
        if !released {
            shared.host_slot_done(&job, None);
        }
        item = next;
    }
}

struct Worker {
    shared: Arc<Shared>,
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

    /// Runs one host of `job`; a panic fails the host (its fanout slot is handed on by the
    /// caller).
    fn run_guarded(&mut self, job: &Arc<JobState>, idx: usize) {
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
