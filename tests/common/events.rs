//! Collecting one engine job's events into per-host results, for the engine-level tests
//! (engine, engine_reach, faults): one copy instead of one per test binary.
#![allow(dead_code)]

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use fleetdeck::engine::{ErrorClass, Event, EventReceiver, ExitStatus, JobId, Stream};

/// How long [`collect`] waits for a job before failing the test (instead of hanging CI).
pub const JOB_LIMIT: Duration = Duration::from_secs(300);

/// Everything one host reported in one job.
#[derive(Debug, Default)]
pub struct HostRun {
    /// The kinds of events in arrival order (`output` once per run of output events).
    pub kinds: Vec<&'static str>,
    pub reused: Option<bool>,
    pub running: bool,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub exit: Option<ExitStatus>,
    pub failed: Option<(ErrorClass, String)>,
    pub duration: Duration,
    /// When the final event arrived, from the job's start.
    pub at: Duration,
}

/// Everything one job reported.
#[derive(Debug, Default)]
pub struct JobRun {
    pub hosts: HashMap<String, HostRun>,
    pub run_dir: Option<PathBuf>,
    pub ok: usize,
    pub failed: usize,
    pub wall: Duration,
    /// Debug text of every event, to look for secrets.
    pub all_events: String,
}

/// Collects job `job`'s events until its `JobDone`; fails after [`JOB_LIMIT`].
pub fn collect(rx: &mut EventReceiver, job: JobId) -> JobRun {
    collect_with(rx, job, JOB_LIMIT, |_, _| {})
}

/// Collects job `job`'s events until its `JobDone`; fails after `limit`.
pub fn collect_within(rx: &mut EventReceiver, job: JobId, limit: Duration) -> JobRun {
    collect_with(rx, job, limit, |_, _| {})
}

/// Collects job `job`'s events until its `JobDone`, calling `on` for each event first; fails
/// the test after `limit`. Checks the contract on the way: `JobStarted` comes first and every
/// host's final event before `JobDone`.
pub fn collect_with(
    rx: &mut EventReceiver,
    job: JobId,
    limit: Duration,
    mut on: impl FnMut(&Event, &JobRun),
) -> JobRun {
    let start = Instant::now();
    let mut run = JobRun::default();
    let mut started = false;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("tokio runtime");
    loop {
        let left = limit.saturating_sub(start.elapsed());
        let ev = rt
            .block_on(async { tokio::time::timeout(left, rx.recv()).await })
            .unwrap_or_else(|_| panic!("job {job} not done after {limit:?}: {:?}", run.hosts))
            .expect("engine event channel closed before JobDone");
        let _ = writeln!(run.all_events, "{ev:?}");
        on(&ev, &run);
        match ev {
            Event::JobStarted {
                job: j, run_dir, ..
            } if j == job => {
                started = true;
                run.run_dir = run_dir;
            }
            Event::JobDone {
                job: j, ok, failed, ..
            } if j == job => {
                assert!(started, "JobDone before JobStarted");
                run.ok = ok;
                run.failed = failed;
                run.wall = start.elapsed();
                for (name, hr) in &run.hosts {
                    assert!(
                        hr.exit.is_some() || hr.failed.is_some(),
                        "{name}: JobDone arrived before its final event: {:?}",
                        hr.kinds
                    );
                }
                return run;
            }
            ev => host_event(&mut run, job, ev, start),
        }
    }
}

/// Folds one per-host event of `job` into its host's record.
fn host_event(run: &mut JobRun, job: JobId, ev: Event, start: Instant) {
    match ev {
        Event::Connecting { job: j, host } if j == job => {
            run.hosts
                .entry(host.to_string())
                .or_default()
                .kinds
                .push("connecting");
        }
        Event::Connected {
            job: j,
            host,
            reused,
        } if j == job => {
            let hr = run.hosts.entry(host.to_string()).or_default();
            hr.kinds.push("connected");
            hr.reused = Some(reused);
        }
        Event::Running { job: j, host } if j == job => {
            let hr = run.hosts.entry(host.to_string()).or_default();
            hr.kinds.push("running");
            hr.running = true;
        }
        Event::Output {
            job: j,
            host,
            stream,
            data,
        } if j == job => {
            let hr = run.hosts.entry(host.to_string()).or_default();
            if hr.kinds.last() != Some(&"output") {
                hr.kinds.push("output");
            }
            match stream {
                Stream::Stdout => hr.stdout.extend_from_slice(&data),
                Stream::Stderr => hr.stderr.extend_from_slice(&data),
            }
        }
        Event::Finished {
            job: j,
            host,
            exit,
            duration,
        } if j == job => {
            let hr = run.hosts.entry(host.to_string()).or_default();
            hr.kinds.push("finished");
            hr.exit = Some(exit);
            hr.duration = duration;
            hr.at = start.elapsed();
        }
        Event::Failed {
            job: j,
            host,
            class,
            message,
            duration,
        } if j == job => {
            let hr = run.hosts.entry(host.to_string()).or_default();
            hr.kinds.push("failed");
            hr.failed = Some((class, message));
            hr.duration = duration;
            hr.at = start.elapsed();
        }
        _ => {}
    }
}
