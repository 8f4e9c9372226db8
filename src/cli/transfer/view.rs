//! A push or pull while it runs and when it ends: progress bars per host redrawn in place on a
//! terminal, then one result line per host (files, bytes, hashes from the operation log) and
//! `run`'s closing summary.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::cli::job::{drive, JobView};
use crate::cli::run::render::{HostEnd, HostReport};
use crate::engine::{self, Engine, ErrorClass, Event, ExitStatus, JobSpec, LogLevel, Target};
use crate::face::progress::{self, human_bytes};
use crate::output::to_plain;

/// How a host ended.
#[derive(Debug, Clone)]
enum End {
    Ok,
    Failed { class: ErrorClass, message: String },
}

/// What the operation log recorded for one host of this job (files, bytes, hashes).
#[derive(Debug, Clone, Default)]
struct Recorded {
    files: u64,
    bytes: u64,
    sha256: Vec<String>,
    /// `Some((unchanged, deleted))` for a `--sync` push.
    sync: Option<(u64, u64)>,
    resumed_bytes: u64,
}

/// The operation log's per-host transfer records of job `job` of this process.
fn recorded(oplog: &Path, job: u64, sync: bool) -> HashMap<String, Recorded> {
    let Ok(log) = crate::oplog::read::read_path(oplog) else {
        return HashMap::new();
    };
    let suffix = format!("-{}-{job}", std::process::id());
    let jobs = crate::oplog::read::jobs(&log.records);
    let Some(view) = jobs
        .iter()
        .rev()
        .find(|j| j.start.job == job && j.start.run.ends_with(&suffix))
    else {
        return HashMap::new();
    };
    view.results
        .iter()
        .filter_map(|r| {
            let t = r.transfer.as_ref()?;
            Some((
                r.host.clone(),
                Recorded {
                    files: t.files,
                    bytes: t.bytes,
                    sha256: t.sha256.clone(),
                    sync: sync.then_some((t.unchanged, t.deleted)),
                    resumed_bytes: t.resumed_bytes,
                },
            ))
        })
        .collect()
}

/// Redraws bars in place on stderr.
struct Screen {
    lines: usize,
    last: Instant,
}

impl Screen {
    fn clear(&mut self, err: &mut impl Write) {
        if self.lines > 0 {
            let _ = write!(err, "\x1b[{}A\x1b[J", self.lines);
            self.lines = 0;
        }
    }

    fn draw(&mut self, err: &mut impl Write, hosts: &[progress::HostProgress], started: Instant) {
        let cols = crossterm::terminal::size()
            .map_or(80, |(c, _)| usize::from(c))
            .max(20);
        let lines = progress::render(hosts, started, Instant::now(), cols - 1);
        self.clear(err);
        for l in &lines {
            let _ = writeln!(err, "{l}");
        }
        self.lines = lines.len();
        self.last = Instant::now();
        let _ = err.flush();
    }
}

/// `push`/`pull`'s view of its job: a progress bar per host, redrawn in place on a terminal.
struct TransferView {
    verb: String,
    index: HashMap<Arc<str>, usize>,
    bars: Vec<progress::HostProgress>,
    ends: Vec<Option<End>>,
    durations: Vec<Duration>,
    tty: bool,
    screen: Screen,
    started: Instant,
    // Not locked for the whole job: a warning printed by another thread (a worker, a prompt)
    // would otherwise wait forever for the lock.
    err: std::io::Stderr,
}

impl TransferView {
    fn new(verb: &str, names: &[String], targets: &[Target]) -> Self {
        TransferView {
            verb: verb.to_string(),
            index: targets
                .iter()
                .enumerate()
                .map(|(i, t)| (t.name.clone(), i))
                .collect(),
            bars: names
                .iter()
                .map(|n| progress::HostProgress {
                    name: n.clone(),
                    ..Default::default()
                })
                .collect(),
            ends: vec![None; names.len()],
            durations: vec![Duration::ZERO; names.len()],
            tty: std::io::stderr().is_terminal(),
            screen: Screen {
                lines: 0,
                last: Instant::now(),
            },
            started: Instant::now(),
            err: std::io::stderr(),
        }
    }

    fn ended(&mut self, host: &Arc<str>, end: End, duration: Duration) {
        if let Some(&i) = self.index.get(host) {
            self.bars[i].ended = Some(matches!(end, End::Ok));
            if !matches!(end, End::Ok) {
                self.bars[i].started.get_or_insert_with(Instant::now);
            }
            self.ends[i] = Some(end);
            self.durations[i] = duration;
        }
    }
}

impl JobView for TransferView {
    fn event(&mut self, ev: Event) {
        match ev {
            Event::Running { host, .. } => {
                if let Some(&i) = self.index.get(&host) {
                    self.bars[i].started.get_or_insert_with(Instant::now);
                }
            }
            Event::Progress {
                host, done, total, ..
            } => {
                if let Some(&i) = self.index.get(&host) {
                    let bar = &mut self.bars[i];
                    bar.started.get_or_insert_with(Instant::now);
                    bar.done = done;
                    bar.total = total;
                }
            }
            Event::Finished { host, duration, .. } => self.ended(&host, End::Ok, duration),
            Event::Failed {
                host,
                class,
                message,
                duration,
                ..
            } => self.ended(&host, End::Failed { class, message }, duration),
            // Skipped targets and refused remote entries come as log lines naming the host.
            Event::Log { level, message }
                if level >= LogLevel::Warn
                    || message.contains(": skipped ")
                    || message.contains(": refused ") =>
            {
                self.screen.clear(&mut self.err);
                let _ = writeln!(
                    self.err,
                    "fleetdeck {}: {}",
                    self.verb,
                    to_plain(message.as_bytes()).trim_end()
                );
            }
            _ => {}
        }
    }
    fn settle(&mut self, _queue_empty: bool) {
        if self.tty && self.screen.last.elapsed() >= progress::REDRAW_INTERVAL {
            self.screen.draw(&mut self.err, &self.bars, self.started);
        }
    }
    fn interject(&mut self) {
        self.screen.clear(&mut self.err);
    }
    fn tick(&self) -> Duration {
        progress::REDRAW_INTERVAL
    }
}

pub(super) fn execute(
    verb: &str,
    engine: &Engine,
    events: engine::EventReceiver,
    spec: JobSpec,
    oplog: &Path,
) -> ExitCode {
    let names: Vec<String> = spec
        .targets
        .iter()
        .map(|t| to_plain(t.name.as_bytes()))
        .collect();
    let mut view = TransferView::new(verb, &names, &spec.targets);
    let sync = matches!(&spec.kind, engine::JobKind::Upload(u) if u.sync.is_some());
    let driven = drive(verb, engine, events, spec, &mut view);
    view.screen.clear(&mut view.err);

    let records = recorded(oplog, driven.job, sync);
    print!("{}", host_lines(&names, &view, &records));
    let _ = std::io::stdout().flush();
    let color = view.tty && !crate::util::no_color();
    eprint!(
        "{}",
        summary(&names, &view.ends, driven.elapsed, driven.cancelled, color)
    );
    if driven.cancelled {
        ExitCode::from(driven.interrupt_code)
    } else if view.ends.iter().all(|e| matches!(e, Some(End::Ok))) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// One line per host: what it sent or fetched (from the operation log's record), or why it
/// failed.
fn host_lines(
    names: &[String],
    view: &TransferView,
    records: &HashMap<String, Recorded>,
) -> String {
    let mut out = String::new();
    let width = names
        .iter()
        .map(|n| unicode_width::UnicodeWidthStr::width(n.as_str()))
        .max()
        .unwrap_or(0);
    for (i, name) in names.iter().enumerate() {
        let pad = width - unicode_width::UnicodeWidthStr::width(name.as_str());
        let _ = write!(out, "{name}{:pad$}  ", "");
        match &view.ends[i] {
            Some(End::Ok) => {
                let rec = records
                    .get(name.as_str())
                    .cloned()
                    .unwrap_or_else(|| Recorded {
                        bytes: view.bars[i].done,
                        ..Recorded::default()
                    });
                write_ok(&mut out, &rec, view.durations[i]);
            }
            Some(End::Failed { class, message }) => {
                let _ = write!(
                    out,
                    "FAILED  {class}: {}",
                    to_plain(message.as_bytes()).trim_end()
                );
            }
            None => out.push_str("no result"),
        }
        out.push('\n');
    }
    out
}

fn write_ok(out: &mut String, rec: &Recorded, duration: Duration) {
    if let Some((unchanged, deleted)) = rec.sync {
        let _ = write!(
            out,
            "ok      sent {} file{} ({}), skipped {unchanged} unchanged, deleted {deleted} in {:.2}s",
            rec.files,
            if rec.files == 1 { "" } else { "s" },
            human_bytes(rec.bytes),
            duration.as_secs_f64()
        );
        return;
    }
    let _ = write!(
        out,
        "ok      {} file{}, {} in {:.2}s",
        rec.files,
        if rec.files == 1 { "" } else { "s" },
        human_bytes(rec.bytes),
        duration.as_secs_f64()
    );
    if let [hash] = rec.sha256.as_slice() {
        let _ = write!(out, ", sha256 {hash}");
    } else if !rec.sha256.is_empty() {
        let _ = write!(out, ", {} sha256 checked", rec.sha256.len());
    }
    if rec.resumed_bytes > 0 {
        let _ = write!(out, ", resumed after {}", human_bytes(rec.resumed_bytes));
    }
}

/// `run`'s closing summary, for the hosts of a transfer.
fn summary(
    names: &[String],
    ends: &[Option<End>],
    elapsed: Duration,
    cancelled: bool,
    color: bool,
) -> String {
    let reports: Vec<HostReport> = names
        .iter()
        .zip(ends)
        .map(|(name, end)| HostReport {
            name: name.clone(),
            address: String::new(),
            stdout: crate::cli::run::capture::Captured::default(),
            stderr: crate::cli::run::capture::Captured::default(),
            truncated: None,
            end: end.as_ref().map(|e| match e {
                End::Ok => HostEnd::Exit(ExitStatus::Code(0)),
                End::Failed { class, message } => HostEnd::Error {
                    class: *class,
                    message: message.clone(),
                },
            }),
            duration: Duration::ZERO,
        })
        .collect();
    crate::cli::run::render::summary(&reports, elapsed, cancelled, color)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_matches_run_format() {
        let names = vec!["web01".to_string(), "web02".to_string(), "db01".to_string()];
        let ends = vec![
            Some(End::Ok),
            Some(End::Ok),
            Some(End::Failed {
                class: ErrorClass::Protocol,
                message: "x".into(),
            }),
        ];
        let s = summary(&names, &ends, Duration::from_millis(1500), false, false);
        assert_eq!(s, "3 hosts in 1.50s: 2 succeeded, 1 protocol\n  succeeded  web[01-02]\n  protocol   db01\n");
    }
}
