//! A transfer job on one host: SFTP in blocking mode on the held session (the channel opened
//! by `session_channel` only proves the session alive and is closed first), progress
//! throttled into events, the report turned into log lines and the oplog record.

use std::time::{Duration, Instant};

use super::{timeout_ms, Worker};
use crate::engine::scheduler::{HostEnd, HostFacts, JobState};
use crate::engine::{ErrorClass, Event, ExitStatus, JobKind, LogLevel, Target};
use crate::oplog::TransferResult;
use crate::ssh::exec::close_channel;
use crate::ssh::transfer::{self, TransferError, TransferReport};

/// How often transfer progress is reported.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(100);

impl Worker {
    pub(super) fn run_transfer(
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
        if self.held.is_none() {
            self.shared.host_done(
                job,
                host,
                HostEnd::Failed(
                    ErrorClass::Protocol,
                    "the session broke before the transfer".into(),
                ),
                start.elapsed(),
                facts,
            );
            return;
        }
        self.announce(job.id, host, reused);
        let Some((result, record)) = self.transfer_held(job, target) else {
            return;
        };
        let end = self.transfer_end(host, result, record, &mut facts);
        self.shared
            .host_done(job, host, end, start.elapsed(), facts);
    }

    /// Runs the job's transfer on the held session; `None` when the job is no transfer.
    fn transfer_held(
        &mut self,
        job: &JobState,
        target: &Target,
    ) -> Option<(Result<TransferReport, TransferError>, TransferResult)> {
        let host = &target.name;
        let h = self.held.as_mut()?;
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
        let done = match &job.spec.kind {
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
            JobKind::Exec(_) | JobKind::Shell(_) => return None,
        };
        sess.set_blocking(false);
        sess.set_timeout(timeout_ms(target.conn.connect_timeout));
        h.last_used = Instant::now();
        Some(done)
    }

    /// How the host ended, from the transfer's result; fills the oplog record into `facts`.
    fn transfer_end(
        &mut self,
        host: &str,
        result: Result<TransferReport, TransferError>,
        mut record: TransferResult,
        facts: &mut HostFacts,
    ) -> HostEnd {
        match result {
            Ok(report) => {
                for s in &report.skipped {
                    self.shared
                        .log(LogLevel::Info, format!("{host}: skipped {s}"));
                }
                for r in &report.refused {
                    self.shared
                        .log(LogLevel::Warn, format!("{host}: refused {r}"));
                }
                record.files = report.files;
                record.bytes = report.bytes;
                record.remote.clone_from(&report.paths);
                record.sha256 = report.sha256.iter().cloned().collect();
                record.unchanged = report.unchanged;
                record.deleted = report.deleted;
                record.deleted_paths.clone_from(&report.deleted_paths);
                record.resumed_bytes = report.resumed_bytes;
                if report.unchanged > 0 || report.deleted > 0 {
                    self.shared.log(
                        LogLevel::Info,
                        format!(
                            "{host}: sync sent {}, skipped {} unchanged, deleted {}",
                            report.files, report.unchanged, report.deleted
                        ),
                    );
                }
                facts.transfer = Some(record);
                HostEnd::Finished(ExitStatus::Code(0))
            }
            Err(e) => {
                if e.session_broken() {
                    self.held = None;
                }
                HostEnd::Failed(e.class(), e.to_string())
            }
        }
    }
}
