//! `fleetdeck log`: the operation log, readably (local time, job, kind, command, hosts,
//! results) or as JSON lines, filtered by time, host and failure.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use chrono::{
    DateTime, Duration as ChronoDuration, FixedOffset, Local, NaiveDate, NaiveDateTime, TimeZone,
};

use crate::oplog::read::{jobs, read_path, JobView};
use crate::oplog::{HostResult, JobEnd, JobStart, Record};
use crate::output::{to_plain, to_terminal_safe_json};

/// Arguments of `fleetdeck log`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  fleetdeck log --since 2h\n  fleetdeck log --host web01 --failed\n  fleetdeck log --since 2026-01-31 --json"
)]
pub struct LogArgs {
    /// Only jobs started at or after T: RFC 3339 (`2026-01-31T10:00:00+01:00`), a local date
    /// or date and time (`2026-01-31`, `2026-01-31 10:00`), or an age (`30s`, `10m`, `2h`, `7d`).
    #[arg(long, value_name = "T", value_parser = parse_since)]
    pub since: Option<DateTime<FixedOffset>>,

    /// Only results of this host (a glob such as `web*` works too).
    #[arg(long, value_name = "H")]
    pub host: Option<String>,

    /// Only hosts that did not succeed.
    #[arg(long)]
    pub failed: bool,

    /// Print the matching records as JSON lines, as stored (terminal controls escaped).
    #[arg(long)]
    pub json: bool,

    /// The log file (default: `<state dir>/oplog.jsonl`).
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,
}

/// Parses `--since`.
fn parse_since(s: &str) -> Result<DateTime<FixedOffset>, String> {
    parse_since_at(s, Local::now().fixed_offset())
}

fn parse_since_at(s: &str, now: DateTime<FixedOffset>) -> Result<DateTime<FixedOffset>, String> {
    let t = s.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        return Ok(dt);
    }
    if let Some(unit) = t.chars().last().filter(char::is_ascii_alphabetic) {
        if let Ok(n) = t[..t.len() - 1].parse::<i64>() {
            let age = match unit {
                's' => ChronoDuration::try_seconds(n),
                'm' => ChronoDuration::try_minutes(n),
                'h' => ChronoDuration::try_hours(n),
                'd' => ChronoDuration::try_days(n),
                'w' => ChronoDuration::try_weeks(n),
                _ => None,
            };
            if let Some(age) = age.filter(|a| *a >= ChronoDuration::zero()) {
                return now
                    .checked_sub_signed(age)
                    .ok_or_else(|| format!("{s:?} is too far back"));
            }
        }
    }
    let local = |naive: NaiveDateTime| {
        Local
            .from_local_datetime(&naive)
            .earliest()
            .map(|d| d.fixed_offset())
            .ok_or_else(|| format!("{s:?} does not exist in the local time zone"))
    };
    for fmt in [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(t, fmt) {
            return local(naive);
        }
    }
    if let Ok(date) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        return local(date.and_hms_opt(0, 0, 0).unwrap_or_default());
    }
    Err(format!(
        "{s:?} is not a time: use RFC 3339 (2026-01-31T10:00:00Z), a local date (2026-01-31), \
         a local date and time (2026-01-31 10:00) or an age (30s, 10m, 2h, 7d, 1w)"
    ))
}

// By value: the dispatcher in `cli/mod.rs` hands every subcommand its arguments.
#[allow(clippy::needless_pass_by_value)]
pub fn run(args: LogArgs) -> ExitCode {
    let host_glob = match args.host.as_deref().map(globset::Glob::new).transpose() {
        Ok(g) => g.map(|g| g.compile_matcher()),
        Err(e) => {
            eprintln!("fleetdeck log: bad --host pattern: {e}");
            return ExitCode::from(crate::cli::EXIT_USAGE);
        }
    };
    let path = args.file.clone().unwrap_or_else(crate::oplog::default_path);
    let contents = match read_path(&path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("fleetdeck log: cannot read {}: {e}", path.display());
            return ExitCode::from(1);
        }
    };
    for w in &contents.warnings {
        eprintln!("fleetdeck log: warning: {w}");
    }
    let filter = Filter {
        since: args.since,
        host: host_glob,
        failed: args.failed,
    };
    let mut out = String::new();
    for job in jobs(&contents.records) {
        let Some(results) = filter.results(&job) else {
            continue;
        };
        if args.json {
            let mut push = |r: Record| {
                if let Ok(s) = to_terminal_safe_json(&r) {
                    out.push_str(&s);
                    out.push('\n');
                }
            };
            push(Record::JobStart(job.start.clone()));
            for r in &results {
                push(Record::HostResult((*r).clone()));
            }
            if let Some(end) = job.end {
                push(Record::JobEnd(end.clone()));
            }
        } else {
            format_job(&mut out, &job, &results);
        }
    }
    if out.is_empty() && !args.json {
        eprintln!("fleetdeck log: no matching records in {}", path.display());
    }
    let mut stdout = std::io::stdout().lock();
    let _ = std::io::Write::write_all(&mut stdout, out.as_bytes());
    ExitCode::SUCCESS
}

struct Filter {
    since: Option<DateTime<FixedOffset>>,
    host: Option<globset::GlobMatcher>,
    failed: bool,
}

impl Filter {
    /// The results of `job` to show, or `None` when the job is filtered out.
    fn results<'a>(&self, job: &JobView<'a>) -> Option<Vec<&'a HostResult>> {
        if self.since.is_some_and(|t| job.start.time < t) {
            return None;
        }
        let host_ok = |h: &str| self.host.as_ref().is_none_or_match(h);
        let results: Vec<&HostResult> = job
            .results
            .iter()
            .copied()
            .filter(|r| host_ok(&r.host) && (!self.failed || !r.succeeded()))
            .collect();
        let narrowed = self.host.is_some() || self.failed;
        if narrowed && results.is_empty() {
            // A job that targeted the host but has no result for it (interrupted) still counts
            // as a failure of that host.
            let missing = job
                .start
                .hosts
                .iter()
                .any(|h| host_ok(h) && !job.results.iter().any(|r| &r.host == h));
            if !missing {
                return None;
            }
        }
        Some(results)
    }
}

trait MatcherExt {
    fn is_none_or_match(&self, h: &str) -> bool;
}

impl MatcherExt for Option<&globset::GlobMatcher> {
    fn is_none_or_match(&self, h: &str) -> bool {
        self.map_or(true, |m| m.is_match(h))
    }
}

fn local(t: DateTime<FixedOffset>) -> DateTime<Local> {
    t.with_timezone(&Local)
}

fn format_job(out: &mut String, job: &JobView<'_>, results: &[&HostResult]) {
    format_start(out, job.start);
    let width = results
        .iter()
        .map(|r| r.host.chars().count())
        .max()
        .unwrap_or(0);
    for r in results {
        format_result(out, r, width);
    }
    match job.end {
        Some(e) => format_end(out, e),
        None => out.push_str("  (no end record: the job was interrupted or is still running)\n"),
    }
}

/// The job's header line: when, what, on which hosts, by whom.
fn format_start(out: &mut String, s: &JobStart) {
    let what = match (&s.command, &s.transfer) {
        (Some(c), _) => to_plain(c.as_bytes()),
        (None, Some(t)) => format!(
            "{} {} → {}",
            t.direction,
            t.local
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(" "),
            t.remote
        ),
        (None, None) => String::new(),
    };
    let what = match &s.become_ {
        Some(b) => format!("{what}  ({})", become_text(b)),
        None => what,
    };
    let _ = writeln!(
        out,
        "{}  {}  {}  on {} ({} host{}) by {}  [{}]",
        local(s.time).format("%Y-%m-%d %H:%M:%S"),
        to_plain(s.kind.as_bytes()),
        what,
        if s.pattern.is_empty() {
            "-".to_string()
        } else {
            to_plain(s.pattern.as_bytes())
        },
        s.hosts.len(),
        if s.hosts.len() == 1 { "" } else { "s" },
        to_plain(s.operator.as_bytes()),
        s.run,
    );
}

/// How a command job escalated: `sudo as root on 2 hosts (inventory)`, `no become
/// (--no-become)`.
fn become_text(b: &crate::oplog::JobBecome) -> String {
    let users = b
        .users
        .iter()
        .map(|(u, n)| format!("as {} on {n} host{}", to_plain(u.as_bytes()), plural(*n)))
        .collect::<Vec<_>>()
        .join(", ");
    match (b.from.as_str(), users.is_empty()) {
        ("no-become", true) => "no become (--no-become)".to_string(),
        (from, true) => format!("no become ({})", to_plain(from.as_bytes())),
        (from, false) => format!("sudo {users} ({})", to_plain(from.as_bytes())),
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// One host's line, its name padded to `width` so that the columns line up.
fn format_result(out: &mut String, r: &HostResult, width: usize) {
    let result = match (&r.error, r.exit_code, &r.signal) {
        (Some(e), _, _) => {
            format!("{}: {}", e.class, to_plain(e.message.as_bytes()).trim_end())
        }
        (None, _, Some(sig)) => format!("signal {}", to_plain(sig.as_bytes())),
        (None, Some(0) | None, None) => "ok".to_string(),
        (None, Some(c), None) => format!("exit {c}"),
    };
    let _ = write!(
        out,
        "  {}  {:<width$}  {:<6}  {:>8.3}s",
        local(r.time).format("%H:%M:%S"),
        to_plain(r.host.as_bytes()),
        if r.succeeded() { "ok" } else { "FAILED" },
        r.duration_ms as f64 / 1000.0,
    );
    if r.transfer.is_none() {
        let _ = write!(out, "  out {} B, err {} B", r.bytes_out, r.bytes_err);
    } else if let Some(t) = &r.transfer {
        let _ = write!(
            out,
            "  {} file{}, {} B",
            t.files,
            if t.files == 1 { "" } else { "s" },
            t.bytes
        );
    }
    if result != "ok" {
        let _ = write!(out, "  {result}");
    }
    out.push('\n');
}

/// The job's summary line.
fn format_end(out: &mut String, e: &JobEnd) {
    let _ = writeln!(
        out,
        "  {}  {}: {} ok, {} non-zero, {} error{} in {:.2}s",
        local(e.time).format("%H:%M:%S"),
        if e.cancelled { "cancelled" } else { "done" },
        e.ok,
        e.nonzero,
        e.errors,
        if e.errors == 1 { "" } else { "s" },
        e.duration_ms as f64 / 1000.0
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn become_in_the_job_line() {
        let b = |from: &str, users: &[(&str, usize)]| crate::oplog::JobBecome {
            from: from.into(),
            users: users.iter().map(|(u, n)| ((*u).to_string(), *n)).collect(),
        };
        assert_eq!(
            become_text(&b("inventory", &[("root", 2), ("pg", 1)])),
            "sudo as pg on 1 host, as root on 2 hosts (inventory)"
        );
        assert_eq!(become_text(&b("no-become", &[])), "no become (--no-become)");
        assert_eq!(
            become_text(&b("sudo", &[("root", 3)])),
            "sudo as root on 3 hosts (sudo)"
        );
    }

    #[test]
    fn since_forms() {
        let now = DateTime::parse_from_rfc3339("2026-03-10T12:00:00+00:00").unwrap();
        assert_eq!(
            parse_since_at("2h", now).unwrap().to_rfc3339(),
            "2026-03-10T10:00:00+00:00"
        );
        assert_eq!(
            parse_since_at("30s", now).unwrap().to_rfc3339(),
            "2026-03-10T11:59:30+00:00"
        );
        assert_eq!(
            parse_since_at("1w", now).unwrap().to_rfc3339(),
            "2026-03-03T12:00:00+00:00"
        );
        assert_eq!(
            parse_since_at("2026-01-02T03:04:05+01:00", now)
                .unwrap()
                .to_rfc3339(),
            "2026-01-02T03:04:05+01:00"
        );
        let d = parse_since_at("2026-01-02", now).unwrap();
        assert_eq!(
            local(d).format("%Y-%m-%d %H:%M").to_string(),
            "2026-01-02 00:00"
        );
        let d = parse_since_at("2026-01-02 10:30", now).unwrap();
        assert_eq!(local(d).format("%H:%M").to_string(), "10:30");
        let err = parse_since_at("yesterday", now).unwrap_err();
        assert!(err.contains("\"yesterday\" is not a time"), "{err}");
        assert!(parse_since_at("5x", now).is_err());
    }
}
