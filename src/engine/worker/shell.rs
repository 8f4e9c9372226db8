//! A shell job on one host: a login shell on a pty over the held session, its output streamed
//! to events and the run folder like a command's, the operator's typed input taken from the
//! host's inbox and written to the channel. Once the shell is open the host gives its fanout
//! slot back (fanout bounds connects, not open shells). Typed input goes nowhere but the
//! channel: not to events, logs, the run folder or the operation log.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use super::exec::{finish_files, Capture};
use super::Worker;
use crate::engine::scheduler::{HostEnd, HostFacts, JobState};
use crate::engine::shell_input::{Inbox, SHELL_INPUT_QUEUE_BYTES};
use crate::engine::{ErrorClass, Event, ShellSpec, Stream, Target};
use crate::ssh::shell::{self, ShellIo};
use crate::ssh::{SshError, Waiter};

impl Worker {
    pub(super) fn run_shell(
        &mut self,
        job: &Arc<JobState>,
        target: &Target,
        spec: &ShellSpec,
        start: Instant,
        mut facts: HostFacts,
    ) {
        let host = &target.name;
        facts.started = Some(crate::oplog::now());
        let inbox = job.shells.as_ref().and_then(|s| s.get(host));
        let opened = self.open_shell(job, target, spec);
        let (ch, inbox) = match (opened, inbox) {
            (Ok(ch), Some(inbox)) => (ch, inbox),
            (Err(e), inbox) => {
                if let Some(i) = inbox {
                    i.close();
                }
                let end = HostEnd::Failed(e.class, e.message);
                self.shared
                    .host_done(job, host, end, start.elapsed(), facts);
                return;
            }
            (Ok(_), None) => {
                let end = HostEnd::Failed(ErrorClass::Protocol, "internal: no inbox".into());
                self.shared
                    .host_done(job, host, end, start.elapsed(), facts);
                return;
            }
        };
        self.shared.emit(Event::Running {
            job: job.id,
            host: host.clone(),
        });
        // Open: the next queued host may connect.
        self.slot_released = true;
        self.shared.host_slot_done(job, None);
        let end = self.shell_held(job, target, ch, inbox, &mut facts);
        inbox.close();
        self.shared
            .host_done(job, host, end, start.elapsed(), facts);
    }

    /// A channel on the held or a new session, with the pty and the shell started on it.
    fn open_shell(
        &mut self,
        job: &JobState,
        target: &Target,
        spec: &ShellSpec,
    ) -> Result<ssh2::Channel, SshError> {
        let (reused, mut ch) = self.session_channel(job, target)?;
        self.shared.emit(Event::Connected {
            job: job.id,
            host: target.name.clone(),
            reused,
        });
        let Some(h) = self.held.as_ref() else {
            return Err(SshError::new(ErrorClass::Protocol, "internal: no session"));
        };
        let w = Waiter::new(h.conn.fd, Some(&job.cancel)).watch_alive(&target.conn);
        w.set_deadline(Some(target.conn.connect_timeout), "connect timeout");
        shell::open(&h.conn.sess, &w, &mut ch, spec)?;
        Ok(ch)
    }

    /// Runs the open shell until it exits or the job is cancelled; counts into `facts`.
    fn shell_held(
        &mut self,
        job: &JobState,
        target: &Target,
        ch: ssh2::Channel,
        inbox: &Inbox,
        facts: &mut HostFacts,
    ) -> HostEnd {
        let host = &target.name;
        let Some(h) = self.held.as_mut() else {
            return HostEnd::Failed(ErrorClass::Protocol, "internal: no session".into());
        };
        let wake = match inbox.open() {
            Ok(fd) => fd,
            Err(e) => {
                return HostEnd::Failed(
                    ErrorClass::Protocol,
                    format!("cannot make the shell's input wake-up: {e}"),
                )
            }
        };
        let w = Waiter::new(h.conn.fd, Some(&job.cancel)).watch_alive(&target.conn);
        let cap = Capture::new(&self.shared, job, host);
        let mut io = JobIo {
            cap: &cap,
            inbox,
            job,
        };
        let keepalive = self
            .shared
            .config
            .keepalive
            .max(std::time::Duration::from_secs(1));
        let outcome = shell::run(&h.conn.sess, &w, ch, wake, keepalive, &mut io);
        h.last_used = Instant::now();
        h.last_keepalive = Instant::now();
        if !outcome.session_ok {
            self.held = None;
        }
        let files = cap.finish(&|| job.cancel.load(Ordering::Relaxed), facts);
        finish_files(&self.shared, host, files);
        match outcome.result {
            Ok(exit) => HostEnd::Finished(exit),
            Err(e) => HostEnd::Failed(e.class, e.message),
        }
    }
}

/// The shell loop's view of the job: output to the capture, input from the inbox.
struct JobIo<'a> {
    cap: &'a Capture<'a>,
    inbox: &'a Inbox,
    job: &'a JobState,
}

impl JobIo<'_> {
    fn stopped(&self) -> bool {
        self.job.cancel.load(Ordering::Relaxed)
    }
}

impl ShellIo for JobIo<'_> {
    fn output(&mut self, data: &[u8]) {
        let job = self.job;
        self.cap
            .output(Stream::Stdout, data, &|| job.cancel.load(Ordering::Relaxed));
    }

    fn idle(&mut self) {
        let job = self.job;
        self.cap
            .output(Stream::Stdout, &[], &|| job.cancel.load(Ordering::Relaxed));
    }

    fn input(&mut self, buf: &mut Vec<u8>, room: usize) -> Option<(u16, u16)> {
        if self.stopped() {
            return None;
        }
        self.inbox.take(buf, room)
    }

    fn input_bound(&self) -> usize {
        SHELL_INPUT_QUEUE_BYTES
    }
}
