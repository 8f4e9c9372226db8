//! The scheduler: the [`Engine`] handle, job bookkeeping, the fanout limit, and the map of
//! per-host worker threads (one per host, kept between jobs with its session).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;

use super::worker::{self, WorkItem};
use super::{
    EngineConfig, ErrorClass, Event, EventReceiver, EventSender, ExitStatus, JobId, JobKind,
    JobSpec, LogLevel, Target, DEFAULT_FANOUT,
};
use crate::oplog::{self, OpLog, Record};
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

/// A counting semaphore bounding how many hosts of one job connect or run at once.
pub(crate) struct Fanout {
    max: usize,
    used: Mutex<usize>,
    cv: Condvar,
}

/// Releases a fanout slot when dropped.
pub(crate) struct Permit<'a>(&'a Fanout);

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        *lock(&self.0.used) -= 1;
        self.0.cv.notify_one();
    }
}

impl Fanout {
    fn new(max: usize) -> Self {
        Fanout {
            max: max.max(1),
            used: Mutex::new(0),
            cv: Condvar::new(),
        }
    }

    /// Waits for a slot; `None` when `cancel` is set first.
    pub fn acquire<'a>(&'a self, cancel: &AtomicBool) -> Option<Permit<'a>> {
        let mut used = lock(&self.used);
        loop {
            if cancel.load(Ordering::Relaxed) {
                return None;
            }
            if *used < self.max {
                *used += 1;
                return Some(Permit(self));
            }
            used = self
                .cv
                .wait_timeout(used, Duration::from_millis(50))
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
    }
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
    started: Instant,
    pub run_dir: Option<PathBuf>,
    pub run: String,
}

/// How one host ended, as the worker reports it.
pub(crate) enum HostEnd {
    Finished(ExitStatus),
    Failed(ErrorClass, String),
}

/// Per-host facts for the operation log.
#[derive(Default)]
pub(crate) struct HostFacts {
    pub address: String,
    pub bytes_out: u64,
    pub bytes_err: u64,
    pub transfer: Option<oplog::TransferResult>,
}

struct WorkerHandle {
    tx: Sender<WorkItem>,
    join: Option<JoinHandle<()>>,
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
    workers: Mutex<HashMap<String, WorkerHandle>>,
    jobs: Mutex<HashMap<JobId, Arc<JobState>>>,
    next_job: AtomicU64,
    shutting_down: AtomicBool,
    oplog: Option<OpLog>,
}

impl Shared {
    /// Sends an event; a dropped receiver is not an error (nobody is watching).
    pub fn emit(&self, ev: Event) {
        let _ = self.tx.send(ev);
    }

    pub fn log(&self, level: LogLevel, message: String) {
        self.emit(Event::Log { level, message });
    }

    fn write_oplog(&self, rec: &Record) {
        if let Some(log) = &self.oplog {
            if let Err(e) = log.append(rec) {
                self.log(
                    LogLevel::Warn,
                    format!(
                        "cannot append to the operation log {}: {e}",
                        log.path().display()
                    ),
                );
            }
        }
    }

    /// Reports the final event of one host, records it, and ends the job after its last host.
    pub fn host_done(
        &self,
        job: &JobState,
        host: &Arc<str>,
        end: HostEnd,
        duration: Duration,
        facts: HostFacts,
    ) {
        let (exit_code, signal, error) = match &end {
            HostEnd::Finished(ExitStatus::Code(c)) => (Some(*c), None, None),
            HostEnd::Finished(ExitStatus::Signal(s)) => (None, Some(s.clone()), None),
            HostEnd::Failed(class, message) => (
                None,
                None,
                Some(oplog::ErrorInfo {
                    class: *class,
                    message: message.clone(),
                }),
            ),
        };
        match &end {
            HostEnd::Finished(exit) if exit.success() => job.ok.fetch_add(1, Ordering::Relaxed),
            HostEnd::Finished(_) => job.nonzero.fetch_add(1, Ordering::Relaxed),
            HostEnd::Failed(..) => job.errors.fetch_add(1, Ordering::Relaxed),
        };
        self.write_oplog(&Record::HostResult(oplog::HostResult {
            time: oplog::now(),
            job: job.id,
            run: job.run.clone(),
            host: host.to_string(),
            address: facts.address,
            exit_code,
            signal,
            duration_ms: duration.as_millis() as u64,
            bytes_out: facts.bytes_out,
            bytes_err: facts.bytes_err,
            error,
            transfer: facts.transfer,
        }));
        self.emit(match end {
            HostEnd::Finished(exit) => Event::Finished {
                job: job.id,
                host: host.clone(),
                exit,
                duration,
            },
            HostEnd::Failed(class, message) => Event::Failed {
                job: job.id,
                host: host.clone(),
                class,
                message,
                duration,
            },
        });
        if job.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.finish_job(job);
        }
    }

    fn finish_job(&self, job: &JobState) {
        let duration = job.started.elapsed();
        let ok = job.ok.load(Ordering::Relaxed);
        let nonzero = job.nonzero.load(Ordering::Relaxed);
        let errors = job.errors.load(Ordering::Relaxed);
        self.write_oplog(&Record::JobEnd(oplog::JobEnd {
            time: oplog::now(),
            job: job.id,
            run: job.run.clone(),
            hosts: job.spec.targets.len(),
            ok,
            nonzero,
            errors,
            cancelled: job.cancel.load(Ordering::Relaxed),
            duration_ms: duration.as_millis() as u64,
        }));
        lock(&self.jobs).remove(&job.id);
        self.emit(Event::JobDone {
            job: job.id,
            ok,
            failed: nonzero + errors,
            duration,
        });
    }

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
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
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
            workers: Mutex::new(HashMap::new()),
            jobs: Mutex::new(HashMap::new()),
            next_job: AtomicU64::new(1),
            shutting_down: AtomicBool::new(false),
            oplog,
        });
        if let Some(msg) = open_error {
            shared.log(LogLevel::Warn, msg);
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
        let run_dir =
            shared
                .config
                .runs_dir
                .as_ref()
                .and_then(
                    |dir| match super::runfolder::create_run_dir(dir, &stamp, id) {
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
                    },
                );
        let fanout = if spec.fanout == 0 {
            DEFAULT_FANOUT
        } else {
            spec.fanout
        };
        let hosts = spec.targets.len();
        let job = Arc::new(JobState {
            id,
            fanout: Fanout::new(fanout),
            cancel: AtomicBool::new(false),
            remaining: AtomicUsize::new(hosts),
            ok: AtomicUsize::new(0),
            nonzero: AtomicUsize::new(0),
            errors: AtomicUsize::new(0),
            started: Instant::now(),
            run_dir: run_dir.clone(),
            run,
            spec,
        });
        let (kind, command, transfer) = describe(&job.spec.kind);
        shared.write_oplog(&Record::JobStart(oplog::JobStart {
            time: now.fixed_offset(),
            operator: crate::inventory::default_user(),
            job: id,
            run: job.run.clone(),
            kind: kind.into(),
            command,
            pattern: job.spec.pattern.clone(),
            hosts: job
                .spec
                .targets
                .iter()
                .map(|t| t.name.to_string())
                .collect(),
            run_dir: run_dir.clone(),
            transfer,
        }));
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
        // Enqueue every host under the map lock, so that every worker sees jobs in the same
        // order (no fanout deadlock between jobs) and no idle worker retires past an item.
        let mut workers = lock(&shared.workers);
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
            match worker::spawn(shared.clone(), key.clone(), rx) {
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
                    shared.host_done(
                        &job,
                        &target.name,
                        HostEnd::Failed(
                            ErrorClass::Protocol,
                            format!("cannot start a worker thread: {e}"),
                        ),
                        Duration::ZERO,
                        HostFacts::default(),
                    );
                    workers = lock(&shared.workers);
                }
            }
        }
        id
    }

    /// Cancels a job: queued hosts fail as cancelled, running commands are signalled and their
    /// channels closed; sessions stay open for the next job. `JobDone` still arrives.
    pub fn cancel(&self, job: JobId) {
        if let Some(j) = lock(&self.shared().jobs).get(&job) {
            j.cancel.store(true, Ordering::Relaxed);
            j.fanout.cv.notify_all();
        }
    }

    /// Cancels every running job.
    pub fn cancel_all(&self) {
        for j in lock(&self.shared().jobs).values() {
            j.cancel.store(true, Ordering::Relaxed);
            j.fanout.cv.notify_all();
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
    for j in lock(&shared.jobs).values() {
        j.cancel.store(true, Ordering::Relaxed);
        j.fanout.cv.notify_all();
    }
    let handles: Vec<WorkerHandle> = lock(&shared.workers).drain().map(|(_, h)| h).collect();
    for h in &handles {
        let _ = h.tx.send(WorkItem::Shutdown);
    }
    for mut h in handles {
        if let Some(j) = h.join.take() {
            let _ = j.join();
        }
    }
    // Jump sessions last: the workers' sessions ran through them.
    shared.jumps.shutdown();
}

fn describe(kind: &JobKind) -> (&'static str, Option<String>, Option<oplog::TransferPlan>) {
    match kind {
        JobKind::Exec(e) => ("exec", Some(e.command.clone()), None),
        JobKind::Upload(u) => (
            "upload",
            None,
            Some(oplog::TransferPlan {
                direction: "upload".into(),
                local: u.sources.clone(),
                remote: u.remote.clone(),
            }),
        ),
        JobKind::Download(d) => (
            "download",
            None,
            Some(oplog::TransferPlan {
                direction: "download".into(),
                local: vec![d.dest.clone()],
                remote: d.remote.clone(),
            }),
        ),
    }
}
