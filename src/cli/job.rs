//! What the command-line job faces (`run`, `push`, `pull`) share beyond [`crate::face`]: the
//! engine set-up of a short-lived process, the event and signal channels, and [`drive`], the
//! one loop that runs a job to its end with Ctrl-C, a second Ctrl-C and the cancel grace.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crossbeam_channel::{select, Receiver};

use crate::contract::{JobId, EXIT_INTERRUPTED, EXIT_TERMINATED};
use crate::engine::{self, Engine, EngineConfig, Event, JobSpec};
use crate::face::{engine_config, ConnArgs};

/// How long to wait for hosts to report after a cancel before giving up on them.
pub const CANCEL_GRACE: Duration = Duration::from_secs(5);

/// How long held sessions of a command-line job may stay idle (the process ends soon anyway).
const CLI_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// The engine settings of a command-line job.
pub fn cli_engine_config(conn: &ConnArgs, known_hosts: Vec<PathBuf>) -> EngineConfig {
    engine_config(
        conn.host_key_policy,
        known_hosts,
        CLI_IDLE_TIMEOUT,
        crate::cli::run::cli_prompter(),
    )
}

/// Events the forwarding thread may hold for the loop; bounded so that a slow view keeps the
/// engine's back-pressure (see [`engine::OUTPUT_QUEUE_BYTES`]).
const FORWARD_EVENTS: usize = 64;

/// Moves engine events onto a crossbeam channel so that they can be selected together with
/// signals and redraw ticks.
pub fn forward(mut events: engine::EventReceiver) -> Receiver<Event> {
    let (tx, rx) = crossbeam_channel::bounded(FORWARD_EVENTS);
    std::thread::Builder::new()
        .name("fleetdeck-events".into())
        .spawn(move || {
            while let Some(ev) = events.blocking_recv() {
                if tx.send(ev).is_err() {
                    break;
                }
            }
        })
        .expect("spawn the event forwarding thread");
    rx
}

/// SIGINT and SIGTERM as messages; an empty channel (and a warning) if the handlers cannot be
/// installed.
pub fn interrupts(verb: &str) -> Receiver<i32> {
    let (tx, rx) = crossbeam_channel::unbounded();
    match signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
    ]) {
        Ok(mut signals) => {
            let _ = std::thread::Builder::new()
                .name("fleetdeck-signals".into())
                .spawn(move || {
                    for sig in signals.forever() {
                        if tx.send(sig).is_err() {
                            break;
                        }
                    }
                });
        }
        Err(e) => eprintln!("fleetdeck {verb}: warning: Ctrl-C will not cancel cleanly: {e}"),
    }
    rx
}

/// What a command-line face does with its job's events while [`drive`] runs the loop.
pub trait JobView {
    /// One event of this job, or a job-less engine event (a log line).
    fn event(&mut self, ev: Event);
    /// After every turn of the loop; `queue_empty` when no event is waiting (a moment to
    /// flush or redraw).
    fn settle(&mut self, queue_empty: bool);
    /// The driver is about to print a line on stderr: clear progress bars, flush stdout.
    fn interject(&mut self);
    /// How long the loop may wait without an event before `settle` is called anyway.
    fn tick(&self) -> Duration {
        Duration::from_secs(3600)
    }
}

/// How a driven job ended.
#[derive(Debug, Clone, Copy)]
pub struct Driven {
    pub job: JobId,
    /// The operator cancelled (Ctrl-C or SIGTERM): exit with [`Driven::interrupt_code`].
    pub cancelled: bool,
    /// 130 after SIGINT, 143 after SIGTERM, as shells report them.
    pub interrupt_code: u8,
    pub elapsed: Duration,
}

/// The job a per-host or job event belongs to; `None` for log lines.
fn job_of(ev: &Event) -> Option<JobId> {
    match ev {
        Event::JobStarted { job, .. }
        | Event::Connecting { job, .. }
        | Event::Connected { job, .. }
        | Event::Running { job, .. }
        | Event::Output { job, .. }
        | Event::Truncated { job, .. }
        | Event::Progress { job, .. }
        | Event::Finished { job, .. }
        | Event::Failed { job, .. }
        | Event::JobDone { job, .. } => Some(*job),
        Event::Log { .. } => None,
    }
}

/// Submits `spec` and feeds its events to `view` until the job is done. The first Ctrl-C (or
/// SIGTERM) cancels the job and waits [`CANCEL_GRACE`] for hosts to report; a second one
/// exits the process at once.
pub fn drive(
    verb: &str,
    engine: &Engine,
    events: engine::EventReceiver,
    spec: JobSpec,
    view: &mut impl JobView,
) -> Driven {
    let events = forward(events);
    let interrupts = interrupts(verb);
    let started = Instant::now();
    let job = engine.submit(spec);
    let mut driven = Driven {
        job,
        cancelled: false,
        interrupt_code: EXIT_INTERRUPTED,
        elapsed: Duration::ZERO,
    };
    let mut deadline: Option<Instant> = None;
    loop {
        let wait = deadline.map_or(view.tick(), |d| {
            d.saturating_duration_since(Instant::now()).min(view.tick())
        });
        select! {
            recv(events) -> ev => match ev {
                Ok(Event::JobDone { job: j, .. }) if j == job => break,
                // Cancelled: output still queued is dropped, not shown (the run folder has it).
                Ok(Event::Output { .. }) if driven.cancelled => {}
                Ok(ev) if job_of(&ev).map_or(true, |j| j == job) => view.event(ev),
                Ok(_) => {}
                Err(_) => break,
            },
            recv(interrupts) -> sig => {
                view.interject();
                if driven.cancelled {
                    eprintln!("fleetdeck {verb}: interrupted again, exiting");
                    std::process::exit(i32::from(driven.interrupt_code));
                }
                if sig == Ok(signal_hook::consts::SIGTERM) {
                    driven.interrupt_code = EXIT_TERMINATED;
                }
                driven.cancelled = true;
                deadline = Some(Instant::now() + CANCEL_GRACE);
                eprintln!("fleetdeck {verb}: cancelling (Ctrl-C again to quit at once)");
                engine.cancel(job);
            }
            default(wait) => {}
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            view.interject();
            eprintln!(
                "fleetdeck {verb}: hosts did not report within {}s of the cancel",
                CANCEL_GRACE.as_secs()
            );
            break;
        }
        view.settle(events.is_empty());
    }
    driven.elapsed = started.elapsed();
    driven
}
