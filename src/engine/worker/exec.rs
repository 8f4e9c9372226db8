//! A command job on one host: output streamed to events and the run folder as it arrives,
//! through sudo as the job or the host's inventory (`ansible_become*`) says, sudo's prompt
//! answered with the inventory's password or from the engine's cache.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use super::Worker;
use crate::engine::flow::OutputSink;
use crate::engine::runfolder::HostFiles;
use crate::engine::scheduler::{HostEnd, HostFacts, JobState};
use crate::engine::sudo::{Escalation, InventorySudo, INVENTORY_PASSWORD_REJECTED};
use crate::engine::{ErrorClass, Event, ExecSpec, LogLevel, Stream, Target};
use crate::ssh::exec;
use crate::ssh::Waiter;

impl Worker {
    pub(super) fn run_exec(
        &mut self,
        job: &JobState,
        target: &Target,
        spec: &ExecSpec,
        start: Instant,
        mut facts: HostFacts,
    ) {
        let host = &target.name;
        let esc = Escalation::of(spec, target);
        if let Escalation::Refused(why) = esc {
            let end = HostEnd::Failed(ErrorClass::AuthFailed, why.to_string());
            self.shared
                .host_done(job, host, end, start.elapsed(), facts);
            return;
        }
        facts.become_user = esc.sudo_user().map(str::to_string);
        // The command line sudo wraps is built from the spec: the host's own user for sudo.
        let spec: Cow<'_, ExecSpec> = if esc.sudo_user() == spec.sudo_user.as_deref() {
            Cow::Borrowed(spec)
        } else {
            Cow::Owned(ExecSpec {
                sudo_user: esc.sudo_user().map(str::to_string),
                ..spec.clone()
            })
        };
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
        self.announce(job.id, host, reused);
        if let Some(end) = self.exec_held(job, target, (&spec, &esc), ch, (start, &mut facts)) {
            self.shared
                .host_done(job, host, end, start.elapsed(), facts);
        }
    }

    /// Runs `spec` on `ch`, a channel of the held session; counts its output into `facts`.
    /// Returns `None` when the host was already reported: a cancelled or timed-out command is
    /// reported at once, and stopping it on the remote side (a second channel, seconds on a
    /// loaded machine) happens after, so that Ctrl-C ends a job without waiting for it.
    fn exec_held(
        &mut self,
        job: &JobState,
        target: &Target,
        (spec, esc): (&ExecSpec, &Escalation<'_>),
        ch: ssh2::Channel,
        (start, facts): (Instant, &mut HostFacts),
    ) -> Option<HostEnd> {
        let host = &target.name;
        let Some(h) = self.held.as_mut() else {
            // session_channel always leaves a held session behind a returned channel.
            return Some(HostEnd::Failed(
                ErrorClass::Protocol,
                "internal: no session".into(),
            ));
        };
        let w = Waiter::new(h.conn.fd, Some(&job.cancel)).watch_alive(&target.conn);
        w.set_deadline(spec.timeout, "command timeout");
        let shared = &self.shared;
        let cap = Capture::new(shared, job, host);
        // A worker held back by a slow reader gives up its pending output at cancel or deadline.
        let stop = || w.check("waiting for the reader").is_err();
        let mut on_output = |stream: Stream, data: &[u8]| cap.output(stream, data, &stop);
        let reported = Cell::new(false);
        let mut on_stop = |e: &crate::ssh::SshError| {
            let f = cap.finish(&|| true, facts);
            finish_files(shared, host, f);
            let end = HostEnd::Failed(e.class, e.message.clone());
            shared.host_done(job, host, end, start.elapsed(), std::mem::take(facts));
            reported.set(true);
        };
        let mut sudo = HostSudo::new(shared, job.id, target, spec, esc);
        let mut outcome = exec::run(
            &h.conn.sess,
            &w,
            ch,
            spec,
            sudo.password(),
            (&mut on_output, &mut on_stop),
        );
        sudo.explain(&mut outcome.result);
        h.last_used = Instant::now();
        if !outcome.session_ok {
            self.held = None;
        }
        if reported.get() {
            // Reported as cancelled already; say so if the command could not be stopped.
            if let Err(e) = outcome.result.as_ref() {
                if e.message.contains(exec::MAY_STILL_RUN) {
                    self.shared
                        .log(LogLevel::Warn, format!("{host}: {}", e.message));
                }
            }
            return None;
        }
        let files = cap.finish(&|| job.cancel.load(Ordering::Relaxed), facts);
        finish_files(&self.shared, host, files);
        Some(match outcome.result {
            Ok(exit) => HostEnd::Finished(exit),
            Err(e) => {
                let e = self.behind_jump(target, e);
                HostEnd::Failed(e.class, e.message)
            }
        })
    }
}

/// What a command's output becomes while it runs: counted, capped, written to the run folder
/// and sent as events (through the bounded queue).
pub(super) struct Capture<'a> {
    shared: &'a crate::engine::scheduler::Shared,
    job: &'a JobState,
    host: &'a std::sync::Arc<str>,
    out: Cell<u64>,
    err: Cell<u64>,
    sink: RefCell<OutputSink<'a>>,
    files: RefCell<Option<HostFiles>>,
}

impl<'a> Capture<'a> {
    pub(super) fn new(
        shared: &'a crate::engine::scheduler::Shared,
        job: &'a JobState,
        host: &'a std::sync::Arc<str>,
    ) -> Self {
        Capture {
            shared,
            job,
            host,
            out: Cell::new(0),
            err: Cell::new(0),
            sink: RefCell::new(OutputSink::new(
                &shared.tx,
                job.id,
                host.clone(),
                job.max_output,
            )),
            files: RefCell::new(job.run_dir.as_ref().map(|d| HostFiles::new(d, host))),
        }
    }

    pub(super) fn output(&self, stream: Stream, data: &[u8], stop: &dyn Fn() -> bool) {
        let mut sink = self.sink.borrow_mut();
        if data.is_empty() {
            // The read loop is idle: send what a slow reader left pending, if it can.
            sink.push(stream, data, stop);
            return;
        }
        let n = match stream {
            Stream::Stdout => &self.out,
            Stream::Stderr => &self.err,
        };
        n.set(n.get() + data.len() as u64);
        let kept = sink.cap(data);
        if kept.first_cut {
            self.shared
                .emit(truncated(self.job, self.host, sink.dropped));
        }
        if let Some(f) = self.files.borrow_mut().as_mut() {
            f.write(stream, kept.data);
        }
        sink.push(stream, kept.data, stop);
    }

    /// Sends what is pending (unless `stop`), counts into `facts`; the run-folder files to
    /// finish (taken: a second call finds none).
    pub(super) fn finish(
        &self,
        stop: &dyn Fn() -> bool,
        facts: &mut HostFacts,
    ) -> Option<HostFiles> {
        let mut sink = self.sink.borrow_mut();
        sink.finish(stop);
        if sink.dropped > 0 && facts.truncated_bytes != sink.dropped {
            self.shared
                .emit(truncated(self.job, self.host, sink.dropped));
        }
        facts.bytes_out = self.out.get();
        facts.bytes_err = self.err.get();
        facts.truncated_bytes = sink.dropped;
        self.files.borrow_mut().take()
    }
}

/// Where one host's sudo password comes from: the inventory's (`ansible_become_password`),
/// else the operator, asked through the engine's cache.
struct HostSudo<'a> {
    given: Option<InventorySudo<'a>>,
    asked: Option<crate::engine::sudo::JobSudo<'a>>,
    run_as: &'a str,
}

impl<'a> HostSudo<'a> {
    fn new(
        shared: &'a crate::engine::scheduler::Shared,
        job: crate::engine::JobId,
        target: &'a Target,
        spec: &'a ExecSpec,
        esc: &Escalation<'a>,
    ) -> Self {
        let run_as = spec.sudo_user.as_deref().unwrap_or("root");
        let given = match esc {
            Escalation::Sudo {
                password: Some(secret),
                ..
            } => Some(InventorySudo {
                secret,
                rejected: false,
            }),
            _ => None,
        };
        let asked = spec
            .sudo_user
            .as_deref()
            .filter(|_| given.is_none())
            .map(|run_as| job_sudo(shared, job, target, run_as));
        HostSudo {
            given,
            asked,
            run_as,
        }
    }

    fn password(&mut self) -> Option<&mut dyn exec::SudoPassword> {
        match (&mut self.given, &mut self.asked) {
            (Some(g), _) => Some(g),
            (None, Some(a)) => Some(a),
            (None, None) => None,
        }
    }

    /// A rejected inventory password fails the host saying so (never the password).
    fn explain(&self, result: &mut Result<crate::engine::ExitStatus, crate::ssh::SshError>) {
        if let (Some(g), Err(e)) = (&self.given, result) {
            if g.rejected && e.class == ErrorClass::AuthFailed {
                e.message = format!("{INVENTORY_PASSWORD_REJECTED} (to run as {})", self.run_as);
            }
        }
    }
}

/// How the command asks for and caches the sudo password on `target`.
fn job_sudo<'a>(
    shared: &'a crate::engine::scheduler::Shared,
    job: crate::engine::JobId,
    target: &'a Target,
    run_as: &'a str,
) -> crate::engine::sudo::JobSudo<'a> {
    crate::engine::sudo::JobSudo {
        cache: &shared.sudo,
        asker: crate::engine::sudo::Asker {
            job,
            user: &target.conn.user,
            run_as,
            host: &target.name,
            newly_trusted: crate::engine::sudo::newly_trusted(&shared.accepted, &target.conn),
        },
        prompter: &shared.config.prompter,
    }
}

/// The event saying `host` passed the job's output cap, `dropped` bytes cut so far.
fn truncated(job: &JobState, host: &Arc<str>, dropped: u64) -> Event {
    Event::Truncated {
        job: job.id,
        host: host.clone(),
        limit: job.max_output,
        dropped,
    }
}

/// Flushes the host's run folder files; a failure is a warning (the job's result stands).
pub(super) fn finish_files(
    shared: &crate::engine::scheduler::Shared,
    host: &str,
    files: Option<HostFiles>,
) {
    if let Some(Err(e)) = files.map(HostFiles::finish) {
        shared.log(
            LogLevel::Warn,
            format!("{host}: writing the run folder failed: {e}"),
        );
    }
}
