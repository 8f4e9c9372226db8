//! How a job and its hosts end up in the operation log and the event stream: the job's start
//! record, each host's result (counted into the job), and the job's end after its last host.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::{JobState, Shared};
use crate::engine::sudo::Escalation;
use crate::engine::{ErrorClass, Event, ExitStatus, JobKind, LogLevel, Target};
use crate::oplog::{self, Record};
use crate::util::lock;

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
    /// Output bytes beyond the job's cap, not kept.
    pub truncated_bytes: u64,
    pub transfer: Option<oplog::TransferResult>,
    /// When the host's work started (shell jobs: the shell session's start).
    pub started: Option<chrono::DateTime<chrono::FixedOffset>>,
    /// The user the command ran as through sudo (the job's sudo or the inventory's become).
    pub become_user: Option<String>,
}

impl Shared {
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

    /// Records that `job` started (at `time`, with its output in `run_dir`).
    pub(super) fn record_job_start(
        &self,
        job: &JobState,
        time: chrono::DateTime<chrono::FixedOffset>,
        run_dir: Option<PathBuf>,
    ) {
        let (kind, command, transfer) = describe(&job.spec.kind);
        self.write_oplog(&Record::JobStart(oplog::JobStart {
            time,
            operator: crate::inventory::default_user(),
            job: job.id,
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
            run_dir,
            transfer,
            become_: job_become(&job.spec.kind, &job.spec.targets),
        }));
        self.warn_become_flags(job);
    }

    /// One warning per job for the hosts whose `ansible_become_flags` fleetdeck does not pass
    /// to sudo (never the flags themselves: they are the inventory's).
    fn warn_become_flags(&self, job: &JobState) {
        let JobKind::Exec(e) = &job.spec.kind else {
            return;
        };
        let n = job
            .spec
            .targets
            .iter()
            .filter(|t| {
                t.become_.as_ref().is_some_and(|b| b.flags_ignored)
                    && Escalation::of(e, t).sudo_user().is_some()
            })
            .count();
        if n > 0 {
            self.log(
                LogLevel::Warn,
                format!(
                    "ansible_become_flags ignored on {n} host(s): fleetdeck runs sudo with its \
                     own flags (-S -p PROMPT -u USER)"
                ),
            );
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
        if matches!(&end, HostEnd::Finished(exit) if exit.success()) {
            lock(&job.succeeded).insert(host.clone());
        }
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
            truncated_bytes: facts.truncated_bytes,
            error,
            transfer: facts.transfer,
            started: facts.started,
            become_user: facts.become_user,
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

    pub(super) fn finish_job(&self, job: &JobState) {
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
        self.write_host_lists(job);
        lock(&self.jobs).remove(&job.id);
        self.emit(Event::JobDone {
            job: job.id,
            ok,
            failed: nonzero + errors,
            duration,
        });
    }
}

impl Shared {
    /// `hosts.succeeded` and `hosts.failed` in the run folder: one host name a line, in target
    /// order (a host with no result, cancelled before it ran, is failed).
    fn write_host_lists(&self, job: &JobState) {
        let Some(dir) = &job.run_dir else { return };
        let ok = lock(&job.succeeded);
        let (mut good, mut bad) = (String::new(), String::new());
        for t in &job.spec.targets {
            let list = if ok.contains(&t.name) {
                &mut good
            } else {
                &mut bad
            };
            list.push_str(&t.name);
            list.push('\n');
        }
        for (name, text) in [("hosts.succeeded", good), ("hosts.failed", bad)] {
            let path = dir.join(name);
            let written = crate::paths::create_private_file(&path)
                .and_then(|mut f| std::io::Write::write_all(&mut f, text.as_bytes()));
            if let Err(e) = written {
                self.log(
                    LogLevel::Warn,
                    format!("cannot write {}: {e}", path.display()),
                );
            }
        }
    }
}

/// Who decided that a command job runs through sudo, and as whom on how many hosts; `None`
/// when no host does and the job did not say `--no-become`.
fn job_become(kind: &JobKind, targets: &[Target]) -> Option<oplog::JobBecome> {
    let JobKind::Exec(e) = kind else {
        return None;
    };
    let mut users = std::collections::BTreeMap::new();
    for t in targets {
        if let Some(u) = Escalation::of(e, t).sudo_user() {
            *users.entry(u.to_string()).or_insert(0) += 1;
        }
    }
    let from = match (e.sudo_user.is_some(), e.no_become) {
        (true, _) => "sudo",
        (false, true) => "no-become",
        (false, false) if users.is_empty() => return None,
        (false, false) => "inventory",
    };
    Some(oplog::JobBecome {
        from: from.into(),
        users,
    })
}

fn describe(kind: &JobKind) -> (&'static str, Option<String>, Option<oplog::TransferPlan>) {
    match kind {
        JobKind::Exec(e) => ("exec", Some(e.command.clone()), None),
        // What is typed into a shell is never recorded.
        JobKind::Shell(_) => ("shell", None, None),
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
