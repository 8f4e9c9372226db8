//! `fleetdeck run`: one command on every host a pattern selects, shown inline, gathered or as
//! JSON lines, with a closing summary. Exit status: 0 when every host succeeded, 1 otherwise,
//! 2 for bad input, 130 when interrupted.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use crate::cli::job::{cli_engine_config, drive, JobView};
use crate::engine::{self, Engine, Event, ExecSpec, JobKind, JobSpec, LogLevel, Stream, Target};
use crate::face::{parse_seconds, usage_error, ConnArgs};
use crate::output::{to_plain, Sanitizer};

pub(crate) mod capture;
mod diff;
mod input;
mod plan;
use plan::plan;
mod prompt;
pub(crate) mod render;
mod rolling;

pub use prompt::{for_cli as cli_prompter, TtyPrompter};
use render::{HostEnd, HostReport, Inline};

/// How results are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OutputMode {
    /// `host | line` as lines arrive (stderr lines `host ! line`, on stderr).
    #[default]
    Inline,
    /// Identical outputs folded into one block headed by the compact host set.
    Gathered,
    /// One JSON object per host per line.
    Json,
    /// The largest group of identical outputs in full, every other group as a unified diff
    /// against it, headed by its compact host set.
    Diff,
}

/// Arguments of `fleetdeck run`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  fleetdeck run web -- uptime\n  fleetdeck run 'prod:&db' --output gathered -- df -h /\n  fleetdeck run --failed-from last -- systemctl restart app\n  fleetdeck run db --stdin schema.sql -- psql app\n  fleetdeck run web --script ./check.sh -- --verbose"
)]
pub struct RunArgs {
    /// Target pattern (`web`, `web:db`, `prod:&web`, `all:!db`, `web[01-04]`). Optional with
    /// `--failed-from`, where it narrows the hosts taken from the log.
    #[arg(value_name = "PATTERN")]
    pub pattern: Option<String>,

    /// The command to run (after `--`); its words are joined with spaces, as ssh does. With
    /// `--script`, the script's arguments.
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,

    /// Feed this file (`-`: fleetdeck's own stdin) to the command's stdin on every host
    /// (without it, stdin ends at once, as with `ssh -n`).
    #[arg(long, value_name = "FILE|-")]
    pub stdin: Option<String>,

    /// Run this local script on every host, through the interpreter its `#!` line names
    /// (`sh` without one), fed on stdin: no file is left on the hosts. Words after `--` are its
    /// arguments.
    #[arg(long, value_name = "FILE", conflicts_with = "stdin")]
    pub script: Option<PathBuf>,

    /// Per-host command timeout in seconds.
    #[arg(short = 't', long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub timeout: Option<Duration>,

    /// How results are shown.
    #[arg(short = 'o', long, value_enum, default_value_t = OutputMode::Inline)]
    pub output: OutputMode,

    /// Run on the hosts that did not succeed in an earlier job of the operation log: `last`
    /// (the last command run) or a run id as `fleetdeck log` shows it.
    #[arg(long, value_name = "last|RUN")]
    pub failed_from: Option<String>,

    /// Run the command through sudo as root; a sudo password, if asked, is asked once.
    #[arg(long)]
    pub sudo: bool,

    /// Run the command through sudo as this user (implies --sudo).
    #[arg(long, value_name = "USER")]
    pub sudo_user: Option<String>,

    /// Ignore the inventory's ansible_become* for this job: hosts whose inventory asks for
    /// become run as the login user (--sudo / --sudo-user still apply).
    #[arg(long)]
    pub no_become: bool,

    /// Output kept per host (stdout and stderr together; `10M`, `1G`: K, M, G binary, KB, MB
    /// decimal). Beyond it bytes are counted, not kept or shown, and the command runs on.
    #[arg(long, value_name = "SIZE", value_parser = engine::parse_size, default_value = "1G")]
    pub max_output: u64,

    #[command(flatten)]
    pub rolling: rolling::RollArgs,

    #[command(flatten)]
    pub conn: ConnArgs,
}

// By value: the dispatcher in `cli/mod.rs` hands every subcommand its arguments.
#[allow(clippy::needless_pass_by_value)]
pub fn run(inventory: Vec<PathBuf>, args: RunArgs) -> ExitCode {
    let roll = match args.rolling.spec() {
        Ok(r) => r,
        Err(msg) => return usage_error("run", &msg),
    };
    let (command, stdin) = match input::command_and_stdin(
        &args.command,
        args.stdin.as_deref(),
        args.script.as_deref(),
    ) {
        Ok(x) => x,
        Err(msg) => return usage_error("run", &msg),
    };
    let oplog_path = crate::oplog::default_path();
    let plan = match plan(&crate::face::inventory_paths(inventory), &args, &oplog_path) {
        Ok(Some(p)) => p,
        Ok(None) => return ExitCode::SUCCESS,
        Err(msg) => return usage_error("run", &msg),
    };
    let config = cli_engine_config(&args.conn, plan.known_hosts.clone());
    let color = std::io::stdout().is_terminal() && !crate::util::no_color();
    let (engine, events) = Engine::new(config);
    engine.set_max_output(args.max_output);
    let spec = JobSpec {
        kind: JobKind::Exec(ExecSpec {
            command,
            pty: false,
            timeout: args.timeout,
            sudo_user: args
                .sudo_user
                .clone()
                .or_else(|| args.sudo.then(|| "root".into())),
            no_become: args.no_become,
            stdin: stdin.map(Arc::from),
            rolling: roll,
        }),
        targets: plan.targets,
        fanout: args.conn.fanout,
        pattern: plan.pattern,
    };
    let code = execute(&engine, events, spec, args.output, color);
    engine.shutdown();
    code
}

/// One host while the job runs.
struct HostState {
    index: usize,
    prefix_out: String,
    prefix_err: String,
    report: HostReport,
    out: Sanitizer,
    err: Sanitizer,
}

/// `run`'s view of its job: prints inline lines as they come, or keeps the bytes for the
/// gathered and JSON faces.
struct RunView {
    inline: Inline,
    hosts: HashMap<Arc<str>, HostState>,
    mode: OutputMode,
    out: std::io::BufWriter<std::io::StdoutLock<'static>>,
}

impl RunView {
    fn new(targets: &[Target], mode: OutputMode, color: bool) -> (Self, Vec<Arc<str>>) {
        let names: Vec<String> = targets
            .iter()
            .map(|t| to_plain(t.name.as_bytes()))
            .collect();
        let inline = Inline::new(&names, color);
        let hosts = targets
            .iter()
            .enumerate()
            .map(|(index, t)| {
                let report = HostReport {
                    name: names[index].clone(),
                    address: address_of(t),
                    stdout: capture::Captured::default(),
                    stderr: capture::Captured::default(),
                    end: None,
                    duration: Duration::ZERO,
                    truncated: None,
                };
                let state = HostState {
                    index,
                    prefix_out: inline.prefix(index, &names[index], Stream::Stdout),
                    prefix_err: inline.prefix(index, &names[index], Stream::Stderr),
                    report,
                    out: Sanitizer::new(),
                    err: Sanitizer::new(),
                };
                (t.name.clone(), state)
            })
            .collect();
        let order = targets.iter().map(|t| t.name.clone()).collect();
        let out = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
        let view = RunView {
            inline,
            hosts,
            mode,
            out,
        };
        (view, order)
    }

    fn output(&mut self, host: &Arc<str>, stream: Stream, data: &[u8]) {
        let Some(h) = self.hosts.get_mut(host) else {
            return;
        };
        if self.mode != OutputMode::Inline {
            match stream {
                Stream::Stdout => h.report.stdout.push(data),
                Stream::Stderr => h.report.stderr.push(data),
            }
            return;
        }
        let (sanitizer, prefix) = match stream {
            Stream::Stdout => (&mut h.out, &h.prefix_out),
            Stream::Stderr => (&mut h.err, &h.prefix_err),
        };
        let mut text = String::new();
        let inline = &self.inline;
        sanitizer.feed_each(data, |line| inline.push_line(&mut text, prefix, line));
        write_text(&mut self.out, stream, &text);
    }

    fn ended(&mut self, host: &Arc<str>, end: HostEnd, duration: Duration) {
        if let Some(h) = self.hosts.get_mut(host) {
            h.report.end = Some(end);
            h.report.duration = duration;
            host_done(&mut self.out, &self.inline, h, self.mode);
        }
    }

    /// The run folder is known: gathered and JSON read long outputs back from it.
    fn run_dir(&mut self, dir: &Path) {
        for (name, h) in &mut self.hosts {
            let files = engine::runfolder::HostFiles::new(dir, name);
            h.report.stdout.file = Some(files.path(Stream::Stdout));
            h.report.stderr.file = Some(files.path(Stream::Stderr));
        }
    }
}

impl JobView for RunView {
    fn event(&mut self, ev: Event) {
        match ev {
            Event::Output {
                host, stream, data, ..
            } => self.output(&host, stream, &data),
            Event::JobStarted {
                run_dir: Some(dir), ..
            } => self.run_dir(&dir),
            Event::Truncated {
                host,
                limit,
                dropped,
                ..
            } => {
                if let Some(h) = self.hosts.get_mut(&host) {
                    h.report.truncated = Some((limit, dropped));
                }
            }
            Event::Finished {
                host,
                exit,
                duration,
                ..
            } => self.ended(&host, HostEnd::Exit(exit), duration),
            Event::Failed {
                host,
                class,
                message,
                duration,
                ..
            } => self.ended(&host, HostEnd::Error { class, message }, duration),
            Event::Log { level, message } if level >= LogLevel::Warn => {
                let _ = self.out.flush();
                eprintln!(
                    "fleetdeck: {}: {}",
                    render::level_word(level),
                    to_plain(message.as_bytes()).trim_end()
                );
            }
            _ => {}
        }
    }
    fn settle(&mut self, queue_empty: bool) {
        if queue_empty {
            let _ = self.out.flush();
        }
    }
    fn interject(&mut self) {
        let _ = self.out.flush();
    }
}

/// `address:port` as the summary shows it (`[v6]:port` for IPv6).
fn address_of(t: &Target) -> String {
    if t.conn.address.contains(':') {
        format!("[{}]:{}", t.conn.address, t.conn.port)
    } else {
        format!("{}:{}", t.conn.address, t.conn.port)
    }
}

/// Runs the job to its end, printing as asked; returns the exit status.
fn execute(
    engine: &Engine,
    events: engine::EventReceiver,
    spec: JobSpec,
    mode: OutputMode,
    color: bool,
) -> ExitCode {
    let (mut view, order) = RunView::new(&spec.targets, mode, color);
    let driven = drive("run", engine, events, spec, &mut view);
    let reports = finish(view, &order, mode, color);
    let stderr_color = std::io::stderr().is_terminal() && color;
    eprint!(
        "{}",
        render::summary(&reports, driven.elapsed, driven.cancelled, stderr_color)
    );
    if driven.cancelled {
        ExitCode::from(driven.interrupt_code)
    } else if reports
        .iter()
        .all(|r| render::Bucket::of(r.end.as_ref()) == render::Bucket::Succeeded)
    {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// Prints what is still pending (partial lines, the gathered view, JSON lines of hosts that
/// never ended) and returns every host's report in inventory order.
fn finish(mut view: RunView, order: &[Arc<str>], mode: OutputMode, color: bool) -> Vec<HostReport> {
    let reports: Vec<HostReport> = order
        .iter()
        .filter_map(|name| view.hosts.remove(name))
        .map(|mut h| {
            // Lines still pending from hosts that never reported an end.
            if mode == OutputMode::Inline && h.report.end.is_none() {
                flush_partial(&mut view.out, &view.inline, &mut h);
            }
            h.report
        })
        .collect();
    let out = &mut view.out;
    let mut notes = Vec::new();
    if mode == OutputMode::Gathered {
        notes = render::gathered(out, &reports, color);
    }
    if mode == OutputMode::Diff {
        notes = diff::print(out, &reports, color);
    }
    if mode == OutputMode::Json {
        for r in reports.iter().filter(|r| r.end.is_none()) {
            notes.extend(render::json_line(out, r));
        }
    }
    let _ = out.flush();
    capture::warn_not_shown(&notes);
    reports
}

/// Writes inline text: stdout lines to stdout, stderr lines to stderr.
fn write_text(out: &mut impl Write, stream: Stream, text: &str) {
    if text.is_empty() {
        return;
    }
    match stream {
        Stream::Stdout => {
            let _ = out.write_all(text.as_bytes());
        }
        Stream::Stderr => {
            // Keep the order with stdout lines already printed, then write the batch at once.
            let _ = out.flush();
            let _ = std::io::stderr().lock().write_all(text.as_bytes());
        }
    }
}

fn flush_partial(out: &mut impl Write, inline: &Inline, h: &mut HostState) {
    for stream in [Stream::Stdout, Stream::Stderr] {
        let s = match stream {
            Stream::Stdout => &mut h.out,
            Stream::Stderr => &mut h.err,
        };
        if let Some(line) = s.finish() {
            let mut text = String::new();
            let prefix = if stream == Stream::Stdout {
                &h.prefix_out
            } else {
                &h.prefix_err
            };
            inline.push_line(&mut text, prefix, &line);
            write_text(out, stream, &text);
        }
    }
}

/// A host ended: inline flushes its partial lines and reports a bad end; JSON prints its line.
fn host_done(out: &mut impl Write, inline: &Inline, h: &mut HostState, mode: OutputMode) {
    match mode {
        OutputMode::Inline => {
            flush_partial(out, inline, h);
            if let Some(end) = &h.report.end {
                let bad = !matches!(end, HostEnd::Exit(e) if e.success());
                if bad {
                    let _ = out.flush();
                    eprintln!("{}", inline.failure(h.index, &h.report.name, end));
                }
            }
        }
        OutputMode::Json => {
            let notes = render::json_line(out, &h.report);
            capture::warn_not_shown(&notes);
            // The bytes are in the JSON line; keep memory bounded by the hosts still running.
            h.report.stdout.release();
            h.report.stderr.release();
        }
        OutputMode::Gathered | OutputMode::Diff => {}
    }
}
