//! When the console draws: at once for the operator's keys, at most every
//! [`OUTPUT_REDRAW_INTERVAL`] while only output changes, promptly while broadcast keys' echo
//! comes back ([`ECHO_WINDOW`]), and the key trace (FLEETDECK_TRACE_KEYS) of those times.

use std::collections::HashSet;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::super::action::{Action, Effect};
use super::super::app::{App, Clock};
use super::super::draw::draw;
use super::super::term::TerminalGuard;
use super::super::update::update;

/// How often the screen may be redrawn (only when something changed).
pub const RENDER_INTERVAL: Duration = Duration::from_millis(16);
/// A key is drawn at once, unless the last frame is younger than this.
pub const MIN_KEY_REDRAW_GAP: Duration = Duration::from_millis(4);
/// While a job runs, redraw at least this often (live durations).
pub const LIVE_REDRAW_INTERVAL: Duration = Duration::from_millis(250);
/// While only output changes, redraw at most this often (keys redraw at the next tick).
pub const OUTPUT_REDRAW_INTERVAL: Duration = Duration::from_millis(50);
/// For this long after keys went to broadcast shells, their output is drawn at the
/// [`RENDER_INTERVAL`] instead of the [`OUTPUT_REDRAW_INTERVAL`], and at once when every host
/// that got the keys has answered: the operator is waiting for the hosts' echo.
pub const ECHO_WINDOW: Duration = Duration::from_millis(500);
/// How long a broadcast key's answers are waited for: the frame that shows the last of them
/// is drawn at once (and traced) until then, however slow the hosts.
pub const ECHO_WAIT: Duration = Duration::from_secs(10);

/// When to draw. `urgent`: the operator did something, draw at the next tick. `changed`:
/// output arrived, draw at most every OUTPUT_REDRAW_INTERVAL so a flood does not flood the
/// terminal too.
pub(super) struct Redraw {
    pub urgent: bool,
    changed: bool,
    last_draw: Instant,
    /// Instrumentation for latency measurements: with FLEETDECK_TRACE_KEYS=FILE, each key's
    /// time from arrival to the end of the frame showing it is appended to FILE (µs).
    pub key_trace: Option<std::fs::File>,
    pub keys_waiting: Vec<Instant>,
    /// The last keys sent to shells, until every host that got them answered and a frame
    /// showed it (at most [`ECHO_WAIT`]).
    pub echo: Option<Echo>,
}

/// One broadcast key's way through the hosts: when it went out, who got it, when the first
/// and the last of them answered. With the trace on, a line `echo FRAME FIRST LAST HOSTS
/// DRAW` (µs after the key; DRAW: that frame's own time) is written by the frame that shows
/// the last answer.
pub(super) struct Echo {
    sent: Instant,
    want: HashSet<Arc<str>>,
    answered: HashSet<Arc<str>>,
    first: Option<Duration>,
    last: Option<Duration>,
    /// A frame has shown every answer.
    shown: bool,
}

impl Echo {
    pub fn output(&mut self, host: &Arc<str>) {
        if self.want.contains(host) && self.answered.insert(host.clone()) {
            let at = self.sent.elapsed();
            self.first.get_or_insert(at);
            self.last = Some(at);
        }
    }

    fn complete(&self) -> bool {
        self.answered.len() == self.want.len()
    }
}

impl Redraw {
    /// Nothing drawn yet (the first frame is urgent); the key trace on with
    /// FLEETDECK_TRACE_KEYS=FILE.
    pub fn new() -> Self {
        Self {
            urgent: true,
            changed: false,
            last_draw: Instant::now(),
            key_trace: std::env::var_os("FLEETDECK_TRACE_KEYS")
                .and_then(|p| crate::paths::open_private_append(std::path::Path::new(&p)).ok()),
            keys_waiting: Vec::new(),
            echo: None,
        }
    }

    /// Keys went to shells: their echo is drawn promptly (and traced, with the trace on).
    pub fn note_shell_input(&mut self, effects: &[Effect]) {
        let mut hosts = effects.iter().filter_map(|e| match e {
            Effect::ShellInput { host, .. } => Some(host.clone()),
            _ => None,
        });
        let Some(first) = hosts.next() else { return };
        self.echo = Some(Echo {
            sent: Instant::now(),
            want: std::iter::once(first).chain(hosts).collect(),
            answered: HashSet::new(),
            first: None,
            last: None,
            shown: false,
        });
    }

    /// When a frame the operator waits for (a key's, or every host's answer to one) may be
    /// drawn, if one is waiting: sooner than the next tick.
    pub fn due(&self) -> Option<Instant> {
        (self.urgent || self.echo_answered()).then(|| self.last_draw + MIN_KEY_REDRAW_GAP)
    }

    /// Every host that got the last broadcast keys has answered, and no frame showed it yet.
    fn echo_answered(&self) -> bool {
        self.echo.as_ref().is_some_and(|e| !e.shown && e.complete())
    }

    pub fn note_ingest(&mut self, took: Duration) {
        if let (Some(f), true) = (self.key_trace.as_mut(), took > Duration::from_millis(50)) {
            let _ = writeln!(f, "slow-ingest {}", took.as_micros());
        }
        self.changed = true;
    }

    /// Draws if the operator is waiting, a job's durations tick, or output changed long
    /// enough ago.
    pub fn maybe_draw(&mut self, app: &mut App, guard: &mut TerminalGuard) -> std::io::Result<()> {
        let since = self.last_draw.elapsed();
        self.echo.take_if(|e| {
            let age = e.sent.elapsed();
            (e.shown && age >= ECHO_WINDOW) || age >= ECHO_WAIT
        });
        let answered = self.echo_answered();
        if !(since >= RENDER_INTERVAL || ((self.urgent || answered) && since >= MIN_KEY_REDRAW_GAP))
        {
            return Ok(());
        }
        app.clock = Clock::real();
        let folded = app.gathered_at;
        update(app, Action::Tick);
        if app.gathered_at != folded {
            self.changed = true;
        }
        let live = app.job_running() && since >= LIVE_REDRAW_INTERVAL;
        let output_gap = if self
            .echo
            .as_ref()
            .is_some_and(|e| e.sent.elapsed() < ECHO_WINDOW)
        {
            RENDER_INTERVAL
        } else {
            OUTPUT_REDRAW_INTERVAL
        };
        if self.urgent || live || answered || (self.changed && since >= output_gap) {
            let draw_start = Instant::now();
            guard.terminal.draw(|f| draw(f, app))?;
            self.last_draw = Instant::now();
            if let Some(f) = self.key_trace.as_mut() {
                if draw_start.elapsed() > Duration::from_millis(50) {
                    let _ = writeln!(f, "slow-draw {}", draw_start.elapsed().as_micros());
                }
                for k in self.keys_waiting.drain(..) {
                    let _ = writeln!(f, "{}", k.elapsed().as_micros());
                }
                if let Some(e) = self.echo.as_ref().filter(|_| answered) {
                    let us = |d: Option<Duration>| d.unwrap_or_default().as_micros();
                    let _ = writeln!(
                        f,
                        "echo {} {} {} {} {}",
                        e.sent.elapsed().as_micros(),
                        us(e.first),
                        us(e.last),
                        e.want.len(),
                        draw_start.elapsed().as_micros()
                    );
                }
            }
            self.urgent = false;
            self.changed = false;
            if let Some(e) = self.echo.as_mut() {
                e.shown = e.complete();
            }
        }
        Ok(())
    }
}
