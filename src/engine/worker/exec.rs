//! A command job on one host: output streamed to events and the run folder as it arrives,
//! sudo's prompt answered from the engine's cache.

use std::time::Instant;

use super::Worker;
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
            .map(|run_as| crate::engine::sudo::JobSudo {
                cache: &shared.sudo,
                asker: crate::engine::sudo::Asker {
                    job: job.id,
                    user: &target.conn.user,
                    run_as,
                    host,
                    newly_trusted: crate::engine::sudo::newly_trusted(
                        &shared.accepted,
                        &target.conn,
                    ),
                },
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
        match outcome.result {
            Ok(exit) => HostEnd::Finished(exit),
            Err(e) => HostEnd::Failed(e.class, e.message),
        }
    }
}
