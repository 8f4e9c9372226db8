//! A command job on one host: output streamed to events and the run folder as it arrives,
//! sudo's prompt answered from the engine's cache.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use super::Worker;
use crate::engine::flow::OutputSink;
use crate::engine::runfolder::HostFiles;
use crate::engine::scheduler::{HostEnd, HostFacts, JobState};
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
        let end = self.exec_held(job, target, spec, ch, &mut facts);
        self.shared
            .host_done(job, host, end, start.elapsed(), facts);
    }

    /// Runs `spec` on `ch`, a channel of the held session; counts its output into `facts`.
    fn exec_held(
        &mut self,
        job: &JobState,
        target: &Target,
        spec: &ExecSpec,
        ch: ssh2::Channel,
        facts: &mut HostFacts,
    ) -> HostEnd {
        let host = &target.name;
        let mut files = job.run_dir.as_ref().map(|d| HostFiles::new(d, host));
        let Some(h) = self.held.as_mut() else {
            // session_channel always leaves a held session behind a returned channel.
            return HostEnd::Failed(ErrorClass::Protocol, "internal: no session".into());
        };
        let w = Waiter::new(h.conn.fd, Some(&job.cancel));
        w.set_deadline(spec.timeout, "command timeout");
        let shared = &self.shared;
        let (mut out, mut err) = (0u64, 0u64);
        let mut sink = OutputSink::new(&shared.tx, job.id, host.clone(), job.max_output);
        // A worker held back by a slow reader gives up its pending output at cancel or deadline.
        let stop = || w.check("waiting for the reader").is_err();
        let mut on_output = |stream: Stream, data: &[u8]| {
            if data.is_empty() {
                // The read loop is idle: send what a slow reader left pending, if it can.
                sink.push(stream, data, &stop);
                return;
            }
            match stream {
                Stream::Stdout => out += data.len() as u64,
                Stream::Stderr => err += data.len() as u64,
            }
            let kept = sink.cap(data);
            if kept.first_cut {
                shared.emit(truncated(job, host, sink.dropped));
            }
            if let Some(f) = files.as_mut() {
                f.write(stream, kept.data);
            }
            sink.push(stream, kept.data, &stop);
        };
        let mut sudo = spec
            .sudo_user
            .as_deref()
            .map(|run_as| job_sudo(shared, job.id, target, run_as));
        let outcome = exec::run(
            &h.conn.sess,
            &w,
            ch,
            spec,
            sudo.as_mut().map(|s| s as &mut dyn exec::SudoPassword),
            &mut on_output,
        );
        h.last_used = Instant::now();
        sink.finish(&|| job.cancel.load(Ordering::Relaxed));
        if sink.dropped > 0 {
            shared.emit(truncated(job, host, sink.dropped));
        }
        facts.bytes_out = out;
        facts.bytes_err = err;
        facts.truncated_bytes = sink.dropped;
        self.finish_files(host, files);
        if !outcome.session_ok {
            self.held = None;
        }
        match outcome.result {
            Ok(exit) => HostEnd::Finished(exit),
            Err(e) => HostEnd::Failed(e.class, e.message),
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

impl Worker {
    /// Flushes the host's run folder files; a failure is a warning (the job's result stands).
    fn finish_files(&self, host: &str, files: Option<HostFiles>) {
        if let Some(Err(e)) = files.map(HostFiles::finish) {
            self.shared.log(
                LogLevel::Warn,
                format!("{host}: writing the run folder failed: {e}"),
            );
        }
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
