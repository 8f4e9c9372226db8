//! One worker thread per host: it owns that host's libssh2 session, takes work from its own
//! queue in submission order, keeps the session for the next job (keepalives while idle,
//! closed after the idle timeout), and replaces a dead session transparently.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};

use super::runfolder::HostFiles;
use super::scheduler::{HostEnd, HostFacts, JobState, Shared};
use super::{Event, ExecSpec, ExitStatus, JobKind, LogLevel, Stream, Target};
use crate::oplog::TransferResult;
use crate::ssh::connect::{keepalive_secs, ConnectContext, Connection};
use crate::ssh::exec::{self, close_channel, open_channel};
use crate::ssh::jump::connect_via;
use crate::ssh::{transfer, SshError, Waiter};

/// Stack of a worker thread: libssh2 and OpenSSL need little; most of it is never touched.
const WORKER_STACK: usize = 512 * 1024;

/// How often transfer progress is reported.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(100);

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
            };
            w.main_loop();
            drop(w);
            shared.counters.workers.fetch_sub(1, Ordering::Relaxed);
        })
}

/// An authenticated session kept between jobs.
struct Held {
    conn: Connection,
    last_used: Instant,
    last_keepalive: Instant,
    shared: Arc<Shared>,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.shared
            .counters
            .sessions_held
            .fetch_sub(1, Ordering::Relaxed);
        let sess = &self.conn.sess;
        sess.set_timeout(1000);
        sess.set_blocking(true);
        let _ = sess.disconnect(None, "fleetdeck closing the session", None);
    }
}

struct Worker {
    shared: Arc<Shared>,
    key: String,
    rx: Receiver<WorkItem>,
    held: Option<Held>,
}

impl Worker {
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
                    let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        self.run_item(&job, idx);
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
                            &job,
                            &host,
                            HostEnd::Failed(
                                super::ErrorClass::Protocol,
                                format!("internal error, please report it: {what}"),
                            ),
                            Duration::ZERO,
                            HostFacts::default(),
                        );
                    }
                    idle_since = Instant::now();
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

    fn run_item(&mut self, job: &JobState, idx: usize) {
        let target = &job.spec.targets[idx];
        let host = target.name.clone();
        let queued = Instant::now();
        let cancelled = |d: Duration| {
            self.shared.host_done(
                job,
                &host,
                HostEnd::Failed(
                    super::ErrorClass::Cancelled,
                    "cancelled before it started".into(),
                ),
                d,
                HostFacts::default(),
            );
        };
        if job.cancel.load(Ordering::Relaxed) {
            cancelled(Duration::ZERO);
            return;
        }
        let Some(_permit) = job.fanout.acquire(&job.cancel) else {
            cancelled(queued.elapsed());
            return;
        };
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
        }
    }

    /// Returns a channel on a held session (reused) or on a new one.
    fn session_channel(
        &mut self,
        job: &JobState,
        target: &Target,
    ) -> Result<(bool, ssh2::Channel), SshError> {
        if let Some(h) = &self.held {
            let w = Waiter::new(h.conn.fd, Some(&job.cancel));
            w.set_deadline(Some(target.conn.connect_timeout), "connect timeout");
            match open_channel(&h.conn.sess, &w) {
                Ok(ch) => return Ok((true, ch)),
                Err(e) if e.class == super::ErrorClass::Cancelled => return Err(e),
                Err(e) if e.class == super::ErrorClass::Timeout => {
                    // The host stopped answering (frozen): reconnecting would wait again.
                    self.held = None;
                    return Err(e);
                }
                Err(e) => {
                    self.held = None;
                    self.shared.log(
                        LogLevel::Debug,
                        format!(
                            "{}: held session unusable ({}); reconnecting",
                            target.name, e.message
                        ),
                    );
                }
            }
        }
        let shared = &self.shared;
        let ctx = ConnectContext {
            known_hosts: &shared.config.known_hosts,
            policy: shared.config.host_key_policy,
            prompter: shared.config.prompter.as_ref(),
            auth_cache: &shared.auth_cache,
            accepted: &shared.accepted,
            home: shared.home.clone(),
            cancel: Some(&job.cancel),
        };
        let conn = connect_via(
            &target.name,
            &target.conn,
            &target.jump,
            &ctx,
            &shared.jumps,
            job.id,
            &mut || {
                shared.counters.tcp_connects.fetch_add(1, Ordering::Relaxed);
            },
        )?;
        for note in &conn.notes {
            shared.log(LogLevel::Info, note.clone());
        }
        shared
            .counters
            .sessions_opened
            .fetch_add(1, Ordering::Relaxed);
        shared
            .counters
            .sessions_held
            .fetch_add(1, Ordering::Relaxed);
        conn.sess
            .set_keepalive(false, keepalive_secs(shared.config.keepalive));
        let w = Waiter::new(conn.fd, Some(&job.cancel));
        w.set_deadline(Some(target.conn.connect_timeout), "connect timeout");
        let ch = open_channel(&conn.sess, &w);
        let now = Instant::now();
        self.held = Some(Held {
            conn,
            last_used: now,
            last_keepalive: now,
            shared: shared.clone(),
        });
        match ch {
            Ok(ch) => Ok((false, ch)),
            Err(e) => {
                if e.class != super::ErrorClass::Cancelled {
                    self.held = None;
                }
                Err(e)
            }
        }
    }

    fn run_exec(
        &mut self,
        job: &JobState,
        target: &Target,
        spec: &ExecSpec,
        start: Instant,
        mut facts: HostFacts,
    ) {
        let host = &target.name;
        let (reused, ch) = match self.session_channel(job, target) {
            Ok(x) => x,
            Err(e) => {
                self.shared.host_done(
                    job,
                    host,
                    HostEnd::Failed(e.class, e.message),
                    start.elapsed(),
                    facts,
                );
                return;
            }
        };
        self.shared.emit(Event::Connected {
            job: job.id,
            host: host.clone(),
            reused,
        });
        self.shared.emit(Event::Running {
            job: job.id,
            host: host.clone(),
        });
        let mut files = job.run_dir.as_ref().map(|d| HostFiles::new(d, host));
        let Some(h) = self.held.as_mut() else {
            // session_channel always leaves a held session behind a returned channel.
            self.shared.host_done(
                job,
                host,
                HostEnd::Failed(super::ErrorClass::Protocol, "internal: no session".into()),
                start.elapsed(),
                facts,
            );
            return;
        };
        let w = Waiter::new(h.conn.fd, Some(&job.cancel));
        w.set_deadline(spec.timeout, "command timeout");
        let shared = &self.shared;
        let (mut out, mut err) = (0u64, 0u64);
        let mut on_output = |stream: Stream, data: &[u8]| {
            match stream {
                Stream::Stdout => out += data.len() as u64,
                Stream::Stderr => err += data.len() as u64,
            }
            if let Some(f) = files.as_mut() {
                f.write(stream, data);
            }
            shared.emit(Event::Output {
                job: job.id,
                host: host.clone(),
                stream,
                data: data.to_vec(),
            });
        };
        let mut sudo = spec
            .sudo_user
            .as_deref()
            .map(|run_as| super::sudo::JobSudo {
                cache: &shared.sudo,
                job: job.id,
                user: &target.conn.user,
                run_as,
                host,
                prompter: &shared.config.prompter,
            });
        let outcome = exec::run(
            &h.conn.sess,
            &w,
            ch,
            spec,
            sudo.as_mut().map(|s| s as &mut dyn exec::SudoPassword),
            &mut on_output,
        );
        h.last_used = Instant::now();
        facts.bytes_out = out;
        facts.bytes_err = err;
        if let Some(f) = files {
            if let Err(e) = f.finish() {
                self.shared.log(
                    LogLevel::Warn,
                    format!("{host}: writing the run folder failed: {e}"),
                );
            }
        }
        if !outcome.session_ok {
            self.held = None;
        }
        let end = match outcome.result {
            Ok(exit) => HostEnd::Finished(exit),
            Err(e) => HostEnd::Failed(e.class, e.message),
        };
        self.shared
            .host_done(job, host, end, start.elapsed(), facts);
    }

    fn run_transfer(
        &mut self,
        job: &JobState,
        target: &Target,
        start: Instant,
        mut facts: HostFacts,
    ) {
        let host = &target.name;
        let reused = match self.session_channel(job, target) {
            Ok((reused, mut probe)) => {
                if let Some(h) = &self.held {
                    if !close_channel(&h.conn.sess, h.conn.fd, &mut probe) {
                        self.held = None;
                    }
                }
                reused
            }
            Err(e) => {
                self.shared.host_done(
                    job,
                    host,
                    HostEnd::Failed(e.class, e.message),
                    start.elapsed(),
                    facts,
                );
                return;
            }
        };
        let Some(h) = self.held.as_mut() else {
            self.shared.host_done(
                job,
                host,
                HostEnd::Failed(
                    super::ErrorClass::Protocol,
                    "the session broke before the transfer".into(),
                ),
                start.elapsed(),
                facts,
            );
            return;
        };
        self.shared.emit(Event::Connected {
            job: job.id,
            host: host.clone(),
            reused,
        });
        self.shared.emit(Event::Running {
            job: job.id,
            host: host.clone(),
        });
        let shared = &self.shared;
        let mut last = Instant::now()
            .checked_sub(PROGRESS_INTERVAL)
            .unwrap_or_else(Instant::now);
        let mut progress = |done: u64, total: u64| {
            if last.elapsed() >= PROGRESS_INTERVAL || done == total {
                last = Instant::now();
                shared.emit(Event::Progress {
                    job: job.id,
                    host: host.clone(),
                    done,
                    total,
                });
            }
        };
        let sess = &h.conn.sess;
        sess.set_timeout(timeout_ms(
            target.conn.connect_timeout.max(Duration::from_secs(10)),
        ));
        sess.set_blocking(true);
        let (result, record) = match &job.spec.kind {
            JobKind::Upload(spec) => (
                transfer::upload(sess, spec, &job.cancel, &mut progress),
                TransferResult {
                    direction: "upload".into(),
                    local: spec.sources.clone(),
                    ..TransferResult::default()
                },
            ),
            JobKind::Download(spec) => (
                transfer::download(sess, host, spec, &job.cancel, &mut progress),
                TransferResult {
                    direction: "download".into(),
                    local: vec![spec.dest.clone()],
                    ..TransferResult::default()
                },
            ),
            JobKind::Exec(_) => return,
        };
        sess.set_blocking(false);
        sess.set_timeout(timeout_ms(target.conn.connect_timeout));
        h.last_used = Instant::now();
        let end = match result {
            Ok(report) => {
                for s in &report.skipped {
                    self.shared
                        .log(LogLevel::Info, format!("{host}: skipped {s}"));
                }
                for r in &report.refused {
                    self.shared
                        .log(LogLevel::Warn, format!("{host}: refused {r}"));
                }
                let mut record = record;
                record.files = report.files;
                record.bytes = report.bytes;
                record.remote.clone_from(&report.paths);
                record.sha256 = report.sha256.iter().cloned().collect();
                facts.transfer = Some(record);
                HostEnd::Finished(ExitStatus::Code(0))
            }
            Err(e) => {
                if e.session_broken() {
                    self.held = None;
                }
                HostEnd::Failed(e.class(), e.to_string())
            }
        };
        self.shared
            .host_done(job, host, end, start.elapsed(), facts);
    }
}

fn timeout_ms(d: Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX).max(1)
}
