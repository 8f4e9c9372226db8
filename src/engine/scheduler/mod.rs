//! The scheduler: the [`Engine`] handle, job bookkeeping, the fanout queue, the map of hosts
//! (their queued work, their parked sessions), the pool of worker threads and the keeper of
//! parked sessions.

mod fanout;
mod keeper;
mod pool;
mod records;
mod shells;
mod workers;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub(crate) use self::fanout::Fanout;
use self::keeper::Keeper;
use self::pool::Pool;
pub(crate) use self::records::{HostEnd, HostFacts};
use self::workers::HostSlot;
use super::{
    EngineConfig, ErrorClass, Event, EventReceiver, EventSender, JobId, JobSpec, LogLevel,
    DEFAULT_FANOUT,
};
use crate::oplog::OpLog;
use crate::ssh::auth::AuthCache;
use crate::ssh::connect::AcceptedKeys;
use crate::util::lock;

/// Counters for tests, benchmarks and the console's status line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EngineStats {
    /// TCP connect attempts since the engine started.
    pub tcp_connects_total: u64,
    /// Sessions that completed handshake and authentication.
    pub sessions_opened_total: u64,
    /// Authenticated sessions held right now.
    pub sessions_held: usize,
    /// Worker threads alive right now.
    pub workers: usize,
    /// Jobs not yet done.
    pub jobs_running: usize,
    /// Times the operator was asked for a sudo password.
    pub sudo_prompts_total: u64,
    /// Sessions opened to jump hosts (each shared by every target behind it).
    pub jump_sessions_opened_total: u64,
    /// `direct-tcpip` tunnels opened through jump hosts.
    pub tunnels_opened_total: u64,
}

#[derive(Default)]
pub(crate) struct Counters {
    pub tcp_connects: AtomicU64,
    pub sessions_opened: AtomicU64,
    pub sessions_held: AtomicUsize,
    pub workers: AtomicUsize,
}

/// One submitted job.
pub(crate) struct JobState {
    pub id: JobId,
    pub spec: JobSpec,
    pub cancel: AtomicBool,
    pub fanout: Fanout,
    remaining: AtomicUsize,
    ok: AtomicUsize,
    nonzero: AtomicUsize,
    errors: AtomicUsize,
    /// A rolling run, in hosts.
    pub rolling: Option<RollingHosts>,
    /// Hosts that succeeded, for the run folder's `hosts.succeeded` / `hosts.failed`.
    succeeded: std::sync::Mutex<std::collections::HashSet<Arc<str>>>,
    started: Instant,
    pub run_dir: Option<PathBuf>,
    pub run: String,
    /// Output kept per host (both streams), the rest counted and dropped.
    pub max_output: u64,
    /// Shell jobs: each host's typed input on its way to the worker.
    pub shells: Option<super::shell_input::ShellInboxes>,
}

/// A rolling run with its amounts resolved against the job's hosts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RollingHosts {
    pub batch: usize,
    pub max_failures: Option<usize>,
    pub pause: std::time::Duration,
}

impl JobState {
    /// Wakes the open shells of a shell job (cancelled: they hang up at once).
    fn wake_shells(&self) {
        if let Some(s) = &self.shells {
            s.wake_all();
        }
    }

    /// Hosts that failed so far (non-zero exit or an error).
    pub fn failed(&self) -> usize {
        self.nonzero.load(Ordering::Relaxed) + self.errors.load(Ordering::Relaxed)
    }

    fn new(
        id: JobId,
        spec: JobSpec,
        run: String,
        run_dir: Option<PathBuf>,
        max_output: u64,
    ) -> Self {
        let fanout = if spec.fanout == 0 {
            DEFAULT_FANOUT
        } else {
            spec.fanout
        };
        let n = spec.targets.len();
        let rolling = match &spec.kind {
            crate::engine::JobKind::Exec(e) => e.rolling,
            _ => None,
        }
        .map(|r| RollingHosts {
            batch: r.batch.of(n).max(1),
            max_failures: r.max_failures.map(|m| m.of(n)),
            pause: r.pause,
        });
        let shells = matches!(spec.kind, crate::engine::JobKind::Shell(_))
            .then(|| super::shell_input::ShellInboxes::new(&spec.targets));
        JobState {
            id,
            shells,
            fanout: match rolling {
                Some(r) => Fanout::batched(fanout, spec.targets.len(), r.batch),
                None => Fanout::new(fanout, spec.targets.len()),
            },
            rolling,
            cancel: AtomicBool::new(false),
            remaining: AtomicUsize::new(spec.targets.len()),
            ok: AtomicUsize::new(0),
            nonzero: AtomicUsize::new(0),
            errors: AtomicUsize::new(0),
            succeeded: std::sync::Mutex::default(),
            started: Instant::now(),
            run_dir,
            run,
            spec,
            max_output,
        }
    }
}

/// State shared by the engine handle and every worker thread.
pub(crate) struct Shared {
    pub config: EngineConfig,
    pub tx: EventSender,
    pub counters: Counters,
    pub auth_cache: AuthCache,
    pub sudo: super::sudo::SudoCache,
    pub jumps: crate::ssh::jump::JumpPool,
    pub accepted: AcceptedKeys,
    pub home: Option<PathBuf>,
    /// Hosts with work or a parked session, by everything their connection uses.
    hosts: Mutex<HashMap<String, HostSlot>>,
    pool: Pool,
    keeper: Mutex<Option<Keeper>>,
    jobs: Mutex<HashMap<JobId, Arc<JobState>>>,
    next_job: AtomicU64,
    shutting_down: AtomicBool,
    /// The cap of output kept per host for jobs submitted from now on.
    max_output: AtomicU64,
    oplog: Option<OpLog>,
}

impl Shared {
    /// Sends an event; a dropped receiver is not an error (nobody is watching).
    pub fn emit(&self, ev: Event) {
        self.tx.send(ev);
    }

    pub fn log(&self, level: LogLevel, message: String) {
        self.emit(Event::Log { level, message });
    }
}

struct EngineInner {
    shared: Arc<Shared>,
}

impl Drop for EngineInner {
    fn drop(&mut self) {
        shutdown(&self.shared);
    }
}

/// Runs jobs on many hosts over kept-alive sessions. Cheap to clone; the last clone dropped
/// shuts it down (closing sessions and joining threads).
#[derive(Clone)]
pub struct Engine {
    inner: Arc<EngineInner>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("stats", &self.stats())
            .finish()
    }
}

impl Engine {
    /// Starts an engine; events of every job arrive on the returned receiver.
    pub fn new(config: EngineConfig) -> (Engine, EventReceiver) {
        let (tx, rx) = super::flow::channel();
        let mut open_error = None;
        let oplog = config.oplog.as_ref().and_then(|p| match OpLog::open(p) {
            Ok(l) => Some(l),
            Err(e) => {
                open_error = Some(format!(
                    "cannot open the operation log {}: {e}",
                    p.display()
                ));
                None
            }
        });
        let idle_timeout = config.idle_timeout;
        let shared = Arc::new(Shared {
            config,
            tx,
            counters: Counters::default(),
            auth_cache: AuthCache::default(),
            sudo: super::sudo::SudoCache::default(),
            jumps: crate::ssh::jump::JumpPool::new(idle_timeout),
            accepted: AcceptedKeys::default(),
            home: crate::paths::passwd_home(),
            hosts: Mutex::new(HashMap::new()),
            pool: Pool::new(),
            keeper: Mutex::new(None),
            jobs: Mutex::new(HashMap::new()),
            next_job: AtomicU64::new(1),
            shutting_down: AtomicBool::new(false),
            max_output: AtomicU64::new(super::DEFAULT_MAX_OUTPUT),
            oplog,
        });
        if let Some(msg) = open_error {
            shared.log(LogLevel::Warn, msg);
        }
        match Keeper::start(&shared) {
            Ok(k) => *lock(&shared.keeper) = Some(k),
            Err(e) => shared.log(
                LogLevel::Warn,
                format!(
                    "cannot start the session keeper ({e}): idle sessions stay open until exit"
                ),
            ),
        }
        (
            Engine {
                inner: Arc::new(EngineInner { shared }),
            },
            rx,
        )
    }

    fn shared(&self) -> &Arc<Shared> {
        &self.inner.shared
    }

    /// Queues a job and returns at once; its events follow on the receiver, `JobStarted` first
    /// and `JobDone` last.
    pub fn submit(&self, spec: JobSpec) -> JobId {
        let shared = self.shared();
        let id = shared.next_job.fetch_add(1, Ordering::Relaxed);
        let now = chrono::Local::now();
        let stamp = now.format("%Y%m%dT%H%M%S").to_string();
        let run = format!("{stamp}-{}-{id}", std::process::id());
        let run_dir = shared
            .config
            .runs_dir
            .as_ref()
            .and_then(|dir| run_folder(shared, dir, &stamp, id));
        let hosts = spec.targets.len();
        let max_output = shared.max_output.load(Ordering::Relaxed);
        let job = Arc::new(JobState::new(id, spec, run, run_dir.clone(), max_output));
        shared.record_job_start(&job, now.fixed_offset(), run_dir.clone());
        shared.emit(Event::JobStarted {
            job: id,
            hosts,
            run_dir,
        });
        if hosts == 0 {
            shared.finish_job(&job);
            return id;
        }
        lock(&shared.jobs).insert(id, job.clone());
        if shared.shutting_down.load(Ordering::Relaxed) {
            job.cancel.store(true, Ordering::Relaxed);
            for t in &job.spec.targets {
                shared.host_done(
                    &job,
                    &t.name,
                    HostEnd::Failed(ErrorClass::Cancelled, "the engine is shutting down".into()),
                    Duration::ZERO,
                    HostFacts::default(),
                );
            }
            return id;
        }
        shared.enqueue(&job);
        id
    }

    /// Cancels a job: queued hosts fail as cancelled, running commands are signalled and their
    /// channels closed; sessions stay open for the next job. `JobDone` still arrives.
    pub fn cancel(&self, job: JobId) {
        let j = lock(&self.shared().jobs).get(&job).cloned();
        if let Some(j) = j {
            self.shared().cancel_job_detached(&j);
        }
    }

    /// Sets the cap of output kept per host per job (both streams together) for jobs submitted
    /// from now on; [`super::DEFAULT_MAX_OUTPUT`] until set. Bytes beyond it are counted and
    /// dropped (not in the run folder, not in events) while the command runs on.
    pub fn set_max_output(&self, bytes: u64) {
        self.shared().max_output.store(bytes, Ordering::Relaxed);
    }

    /// Cancels every running job.
    pub fn cancel_all(&self) {
        let jobs: Vec<Arc<JobState>> = lock(&self.shared().jobs).values().cloned().collect();
        for j in jobs {
            self.shared().cancel_job_detached(&j);
        }
    }

    pub fn stats(&self) -> EngineStats {
        let s = self.shared();
        EngineStats {
            tcp_connects_total: s.counters.tcp_connects.load(Ordering::Relaxed),
            sessions_opened_total: s.counters.sessions_opened.load(Ordering::Relaxed),
            sessions_held: s.counters.sessions_held.load(Ordering::Relaxed),
            workers: s.counters.workers.load(Ordering::Relaxed),
            jobs_running: lock(&s.jobs).len(),
            sudo_prompts_total: s.sudo.asked(),
            jump_sessions_opened_total: s.jumps.jump_sessions_opened(),
            tunnels_opened_total: s.jumps.tunnels_opened(),
        }
    }

    /// Cancels running jobs, closes every session and joins every worker thread.
    pub fn shutdown(&self) {
        shutdown(self.shared());
    }
}

fn shutdown(shared: &Arc<Shared>) {
    shared.shutting_down.store(true, Ordering::Relaxed);
    cancel_all(shared);
    if let Some(k) = lock(&shared.keeper).take() {
        k.stop();
    }
    shared
        .pool
        .stop(shared.counters.workers.load(Ordering::Relaxed));
    shared.close_hosts();
    // Jump sessions last: the workers' sessions ran through them.
    shared.jumps.shutdown();
}

/// Cancels every job (outside the jobs lock: failing queued hosts may finish a job).
fn cancel_all(shared: &Shared) {
    let jobs: Vec<Arc<JobState>> = lock(&shared.jobs).values().cloned().collect();
    for j in jobs {
        shared.cancel_job(&j);
    }
}

/// The job's run folder under `dir`; `None` (with a warning) when it cannot be created, since
/// a job still runs without one.
fn run_folder(shared: &Shared, dir: &Path, stamp: &str, id: JobId) -> Option<PathBuf> {
    match super::runfolder::create_run_dir(dir, stamp, id) {
        Ok(d) => Some(d),
        Err(e) => {
            shared.log(
                LogLevel::Warn,
                format!(
                    "cannot create a run folder under {}: {e}; output is not kept",
                    dir.display()
                ),
            );
            None
        }
    }
}
