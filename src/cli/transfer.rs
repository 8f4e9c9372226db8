//! `fleetdeck push` and `fleetdeck pull`: send files to, or fetch files from, every host a
//! pattern selects. Progress bars on a terminal (none when stderr is not one), one result line
//! per host, then the same closing summary and exit status as `run`: 0 when every host
//! succeeded, 1 otherwise, 2 for bad input, 130 when interrupted.
//!
//! Target planning, the engine set-up and signal handling are `cli::job`'s, shared with `run`;
//! the closing summary is `run`'s own.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::select;

use crate::cli::job::{cli_engine_config, forward, interrupts};
use crate::cli::run::render::{HostEnd, HostReport};
use crate::contract::{DownloadSpec, Naming, Overwrite, UploadSpec, EXIT_INTERRUPTED};
use crate::engine::{
    self, Engine, ErrorClass, Event, ExitStatus, JobKind, JobSpec, LogLevel, Target,
};
use crate::face::{plan_targets, progress, usage_error, ConnArgs};
use crate::inventory::Inventory;
use crate::output::to_plain;
pub use progress::human_bytes;

/// How long to wait for hosts after a cancel.
const CANCEL_GRACE: Duration = Duration::from_secs(5);

/// Options shared by push and pull.
#[derive(Debug, clap::Args)]
pub struct TransferOpts {
    /// Recurse into directories.
    #[arg(short = 'r', long)]
    pub recursive: bool,

    /// Keep permission bits and modification times.
    #[arg(short = 'p', long)]
    pub keep_perms: bool,

    /// Compare every file's sha256 with the remote `sha256sum` (when the host has it).
    #[arg(long)]
    pub verify: bool,

    #[command(flatten)]
    pub conn: ConnArgs,
}

/// Arguments of `fleetdeck push`.
#[derive(Debug, clap::Args)]
#[command(
    override_usage = "fleetdeck push [OPTIONS] <PATTERN> <LOCAL>... <REMOTE>",
    after_help = "A directory SRC goes to REMOTE/SRC (its contents only when written SRC/); one file \
goes to REMOTE itself unless REMOTE is a directory or ends with '/'. Files are written to a temp name \
and renamed into place, so a target is never left half-written.\n\nExamples:\n  fleetdeck push web app.tar.gz /srv/releases/\n  fleetdeck push 'prod:&web' -r -p --verify site/ /var/www/site"
)]
pub struct PushArgs {
    /// Target pattern (`web`, `web:db`, `prod:&web`, `all:!db`).
    #[arg(value_name = "PATTERN")]
    pub pattern: String,

    /// Local files or directories, then the remote path (relative to the login directory).
    #[arg(value_name = "PATH", num_args = 2.., required = true)]
    pub paths: Vec<String>,

    /// When the remote target exists: replace it, leave it, or replace it only when size or
    /// mtime differ.
    #[arg(long, value_parser = crate::face::choice::<Overwrite>(), default_value = "always")]
    pub overwrite: Overwrite,

    #[command(flatten)]
    pub opts: TransferOpts,
}

/// Arguments of `fleetdeck pull`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "REMOTE may be a file, a directory (with -r) or a glob in its last component. \
Each host's files land in LOCAL_DIR/<host>/… (--naming subdir) or LOCAL_DIR/name.<host> (--naming suffix); \
nothing is ever written outside LOCAL_DIR and remote symlinks are never followed below REMOTE.\n\nExamples:\n  fleetdeck pull db /var/log/postgresql/*.log ./logs\n  fleetdeck pull web -r /etc/nginx ./configs --naming suffix"
)]
pub struct PullArgs {
    /// Target pattern (`web`, `web:db`, `prod:&web`, `all:!db`).
    #[arg(value_name = "PATTERN")]
    pub pattern: String,

    /// Remote file, directory or glob (relative to the login directory).
    #[arg(value_name = "REMOTE")]
    pub remote: String,

    /// Local directory to fetch into (created when missing).
    #[arg(value_name = "LOCAL_DIR")]
    pub local_dir: PathBuf,

    /// One subdirectory per host, or a `.<host>` suffix on each fetched name.
    #[arg(long, value_parser = crate::face::choice::<Naming>(), default_value = "subdir")]
    pub naming: Naming,

    #[command(flatten)]
    pub opts: TransferOpts,
}

/// Checks the local side of a push before any connection.
fn check_push(args: &PushArgs) -> Result<UploadSpec, String> {
    let (remote, locals) = args
        .paths
        .split_last()
        .ok_or("LOCAL and REMOTE are required")?;
    if remote.trim().is_empty() {
        return Err("the REMOTE path is empty".into());
    }
    let mut sources = Vec::new();
    for local in locals {
        let path = PathBuf::from(local);
        let md = std::fs::metadata(&path).map_err(|e| format!("{local}: {e}"))?;
        if md.is_dir() && !args.opts.recursive {
            return Err(format!(
                "{local} is a directory (use -r/--recursive to send it)"
            ));
        }
        if !md.is_dir() && !md.is_file() {
            return Err(format!("{local} is not a regular file or directory"));
        }
        sources.push(path);
    }
    Ok(UploadSpec {
        sources,
        remote: remote.clone(),
        recursive: args.opts.recursive,
        keep_perms: args.opts.keep_perms,
        overwrite: args.overwrite,
        verify: args.opts.verify,
    })
}

fn check_pull(args: &PullArgs) -> Result<DownloadSpec, String> {
    if args.remote.trim().is_empty() {
        return Err("the REMOTE path is empty".into());
    }
    if let Ok(md) = std::fs::metadata(&args.local_dir) {
        if !md.is_dir() {
            return Err(format!(
                "{} exists and is not a directory",
                args.local_dir.display()
            ));
        }
    }
    Ok(DownloadSpec {
        remote: args.remote.clone(),
        dest: args.local_dir.clone(),
        recursive: args.opts.recursive,
        keep_perms: args.opts.keep_perms,
        naming: args.naming,
        verify: args.opts.verify,
    })
}

// By value: the dispatcher in `cli/mod.rs` hands every subcommand its arguments.
#[allow(clippy::needless_pass_by_value)]
pub fn push(inventory: Option<PathBuf>, args: PushArgs) -> ExitCode {
    let spec = match check_push(&args) {
        Ok(s) => s,
        Err(msg) => return usage_error("push", &msg),
    };
    start(
        "push",
        inventory,
        &args.pattern,
        &args.opts,
        JobKind::Upload(spec),
    )
}

#[allow(clippy::needless_pass_by_value)]
pub fn pull(inventory: Option<PathBuf>, args: PullArgs) -> ExitCode {
    let spec = match check_pull(&args) {
        Ok(s) => s,
        Err(msg) => return usage_error("pull", &msg),
    };
    start(
        "pull",
        inventory,
        &args.pattern,
        &args.opts,
        JobKind::Download(spec),
    )
}

/// Targets and known_hosts files for a pattern (as `run` picks them).
fn targets(
    inv_path: &Path,
    pattern: &str,
    opts: &TransferOpts,
) -> Result<(Vec<Target>, Vec<PathBuf>), String> {
    let inv = Inventory::load(inv_path).map_err(|e| e.to_string())?;
    let ids = inv.select(pattern).map_err(|e| e.to_string())?;
    if ids.is_empty() {
        return Err(format!(
            "pattern {pattern:?} selects no host in {}",
            inv_path.display()
        ));
    }
    plan_targets(&inv, &ids, &opts.conn)
}

fn start(
    verb: &str,
    inventory: Option<PathBuf>,
    pattern: &str,
    opts: &TransferOpts,
    kind: JobKind,
) -> ExitCode {
    let inv_path = crate::face::inventory_path(inventory);
    let (targets, known_hosts) = match targets(&inv_path, pattern, opts) {
        Ok(t) => t,
        Err(msg) => return usage_error(verb, &msg),
    };
    let oplog_path = crate::oplog::default_path();
    let config = cli_engine_config(&opts.conn, known_hosts);
    let (engine, events) = Engine::new(config);
    let spec = JobSpec {
        kind,
        targets,
        fanout: opts.conn.fanout,
        pattern: pattern.to_string(),
    };
    let code = execute(verb, &engine, events, spec, &oplog_path);
    engine.shutdown();
    code
}

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
}

/// The operation log's per-host transfer records of job `job` of this process.
fn recorded(oplog: &Path, job: u64) -> HashMap<String, Recorded> {
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

fn execute(
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
    let index: HashMap<Arc<str>, usize> = spec
        .targets
        .iter()
        .enumerate()
        .map(|(i, t)| (t.name.clone(), i))
        .collect();
    let mut bars: Vec<progress::HostProgress> = names
        .iter()
        .map(|n| progress::HostProgress {
            name: n.clone(),
            ..Default::default()
        })
        .collect();
    let mut ends: Vec<Option<End>> = vec![None; names.len()];
    let mut durations = vec![Duration::ZERO; names.len()];
    let tty = std::io::stderr().is_terminal();
    let color = tty && !crate::util::no_color();
    let mut screen = Screen {
        lines: 0,
        last: Instant::now(),
    };
    // Not locked for the whole job: a warning printed by another thread (a worker, a prompt)
    // would otherwise wait forever for the lock.
    let mut err = std::io::stderr();

    let events = forward(events);
    let interrupts = interrupts(verb);
    let started = Instant::now();
    let job = engine.submit(spec);
    let mut cancelled = false;
    let mut deadline: Option<Instant> = None;
    loop {
        let wait = deadline.map_or(progress::REDRAW_INTERVAL, |d| {
            d.saturating_duration_since(Instant::now())
                .min(progress::REDRAW_INTERVAL)
        });
        let event = select! {
            recv(events) -> ev => match ev { Ok(ev) => Some(ev), Err(_) => break },
            recv(interrupts) -> _ => {
                if cancelled {
                    screen.clear(&mut err);
                    let _ = writeln!(err, "fleetdeck {verb}: interrupted again, exiting");
                    std::process::exit(i32::from(EXIT_INTERRUPTED));
                }
                cancelled = true;
                deadline = Some(Instant::now() + CANCEL_GRACE);
                screen.clear(&mut err);
                let _ = writeln!(err, "fleetdeck {verb}: cancelling (Ctrl-C again to quit at once)");
                engine.cancel(job);
                None
            }
            default(wait) => None,
        };
        if deadline.is_some_and(|d| Instant::now() >= d) {
            screen.clear(&mut err);
            let _ = writeln!(
                err,
                "fleetdeck {verb}: hosts did not report within {}s of the cancel",
                CANCEL_GRACE.as_secs()
            );
            break;
        }
        match event {
            Some(Event::Running { job: j, host }) if j == job => {
                if let Some(&i) = index.get(&host) {
                    bars[i].started.get_or_insert_with(Instant::now);
                }
            }
            Some(Event::Progress {
                job: j,
                host,
                done,
                total,
            }) if j == job => {
                if let Some(&i) = index.get(&host) {
                    bars[i].started.get_or_insert_with(Instant::now);
                    bars[i].done = done;
                    bars[i].total = total;
                }
            }
            Some(Event::Finished {
                job: j,
                host,
                duration,
                ..
            }) if j == job => {
                if let Some(&i) = index.get(&host) {
                    ends[i] = Some(End::Ok);
                    durations[i] = duration;
                    bars[i].ended = Some(true);
                }
            }
            Some(Event::Failed {
                job: j,
                host,
                class,
                message,
                duration,
            }) if j == job => {
                if let Some(&i) = index.get(&host) {
                    ends[i] = Some(End::Failed { class, message });
                    durations[i] = duration;
                    bars[i].ended = Some(false);
                    bars[i].started.get_or_insert_with(Instant::now);
                }
            }
            // Skipped targets and refused remote entries come as log lines naming the host.
            Some(Event::Log { level, message })
                if level >= LogLevel::Warn
                    || message.contains(": skipped ")
                    || message.contains(": refused ") =>
            {
                screen.clear(&mut err);
                let _ = writeln!(
                    err,
                    "fleetdeck {verb}: {}",
                    to_plain(message.as_bytes()).trim_end()
                );
            }
            Some(Event::JobDone { job: j, .. }) if j == job => break,
            _ => {}
        }
        if tty && screen.last.elapsed() >= progress::REDRAW_INTERVAL {
            screen.draw(&mut err, &bars, started);
        }
    }
    let elapsed = started.elapsed();
    screen.clear(&mut err);

    let records = recorded(oplog, job);
    let mut out = String::new();
    let width = names
        .iter()
        .map(|n| unicode_width::UnicodeWidthStr::width(n.as_str()))
        .max()
        .unwrap_or(0);
    for (i, name) in names.iter().enumerate() {
        let pad = width - unicode_width::UnicodeWidthStr::width(name.as_str());
        let _ = write!(out, "{name}{:pad$}  ", "");
        match &ends[i] {
            Some(End::Ok) => {
                let rec = records
                    .get(name.as_str())
                    .cloned()
                    .unwrap_or_else(|| Recorded {
                        bytes: bars[i].done,
                        ..Recorded::default()
                    });
                let _ = write!(
                    out,
                    "ok      {} file{}, {} in {:.2}s",
                    rec.files,
                    if rec.files == 1 { "" } else { "s" },
                    human_bytes(rec.bytes),
                    durations[i].as_secs_f64()
                );
                if let [hash] = rec.sha256.as_slice() {
                    let _ = write!(out, ", sha256 {hash}");
                } else if !rec.sha256.is_empty() {
                    let _ = write!(out, ", {} sha256 checked", rec.sha256.len());
                }
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
    print!("{out}");
    let _ = std::io::stdout().flush();
    eprint!("{}", summary(&names, &ends, elapsed, cancelled, color));
    if cancelled {
        ExitCode::from(EXIT_INTERRUPTED)
    } else if ends.iter().all(|e| matches!(e, Some(End::Ok))) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
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
            stdout: Vec::new(),
            stderr: Vec::new(),
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
