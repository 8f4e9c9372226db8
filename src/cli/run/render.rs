//! How `fleetdeck run` shows results: inline lines, gathered blocks, JSON lines and the closing
//! summary. Pure string building so that it can be tested without hosts or terminals; remote
//! bytes always go through [`crate::output`] before they reach a terminal.

use std::fmt::Write as _;
use std::io::Write;
use std::time::Duration;

use unicode_width::UnicodeWidthStr;

use super::capture::{render_line, Captured};
use crate::engine::human_size;
use crate::engine::{ErrorClass, ExitStatus, Stream};
use crate::output::{compact, fold_by, line_to_sgr, to_plain, to_terminal_safe_json, StyledLine};

/// Host name colours (SGR foreground codes), cycled by host index.
const HOST_COLORS: [u8; 6] = [36, 32, 33, 35, 34, 96];
/// Longest host column; longer names push their line to the right.
const MAX_HOST_COLUMN: usize = 32;

/// How one host's work ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostEnd {
    Exit(ExitStatus),
    Error { class: ErrorClass, message: String },
}

/// Everything known about one host of a job once it is done.
#[derive(Debug, Clone)]
pub struct HostReport {
    pub name: String,
    /// `address:port`.
    pub address: String,
    pub stdout: Captured,
    pub stderr: Captured,
    /// `None` when the engine never reported an end (the job was interrupted).
    pub end: Option<HostEnd>,
    pub duration: Duration,
    /// `(limit, dropped)` when the output passed `--max-output`.
    pub truncated: Option<(u64, u64)>,
}

impl HostReport {
    /// Bytes of output not kept (beyond `--max-output`).
    pub fn truncated_bytes(&self) -> u64 {
        self.truncated.map_or(0, |t| t.1)
    }
}

/// The summary buckets, in the order they are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Bucket {
    Succeeded,
    /// Ran and exited non-zero or died of a signal.
    Failed,
    TimedOut,
    /// Unreachable or refused.
    Unreachable,
    /// Any other error class (auth-failed, host keys, protocol, cancelled, transfer).
    Other(ErrorClassOrd),
    /// No result reported.
    NoResult,
}

/// [`ErrorClass`] ordered by its word, for sorting buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorClassOrd(pub ErrorClass);

impl PartialOrd for ErrorClassOrd {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for ErrorClassOrd {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.as_str().cmp(other.0.as_str())
    }
}

impl Bucket {
    pub fn of(end: Option<&HostEnd>) -> Bucket {
        match end {
            Some(HostEnd::Exit(e)) if e.success() => Bucket::Succeeded,
            Some(HostEnd::Exit(_)) => Bucket::Failed,
            Some(HostEnd::Error {
                class: ErrorClass::Timeout,
                ..
            }) => Bucket::TimedOut,
            Some(HostEnd::Error {
                class: ErrorClass::Unreachable | ErrorClass::Refused,
                ..
            }) => Bucket::Unreachable,
            Some(HostEnd::Error { class, .. }) => Bucket::Other(ErrorClassOrd(*class)),
            None => Bucket::NoResult,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Bucket::Succeeded => "succeeded",
            Bucket::Failed => "failed",
            Bucket::TimedOut => "timed-out",
            Bucket::Unreachable => "unreachable",
            Bucket::Other(c) => c.0.as_str(),
            Bucket::NoResult => "no-result",
        }
    }
}

/// Short description of an end: `exit 0`, `exit 3`, `signal TERM`, `refused`.
pub fn describe_end(end: Option<&HostEnd>) -> String {
    match end {
        Some(HostEnd::Exit(ExitStatus::Code(c))) => format!("exit {c}"),
        Some(HostEnd::Exit(ExitStatus::Signal(s))) => format!("signal {}", to_plain(s.as_bytes())),
        Some(HostEnd::Error { class, .. }) => class.as_str().to_string(),
        None => "no result".to_string(),
    }
}

/// Formatting of inline lines for one job: host column width and colour.
#[derive(Debug, Clone)]
pub struct Inline {
    pub width: usize,
    pub color: bool,
}

impl Inline {
    pub fn new<S: AsRef<str>>(hosts: &[S], color: bool) -> Inline {
        let width = hosts
            .iter()
            .map(|h| h.as_ref().width())
            .max()
            .unwrap_or(0)
            .min(MAX_HOST_COLUMN);
        Inline { width, color }
    }

    fn host(&self, out: &mut String, index: usize, host: &str) {
        let pad = self.width.saturating_sub(host.width());
        if self.color {
            let c = HOST_COLORS[index % HOST_COLORS.len()];
            let _ = write!(out, "\x1b[{c}m{host}\x1b[0m");
        } else {
            out.push_str(host);
        }
        out.extend(std::iter::repeat(' ').take(pad));
    }

    /// The prefix of every line of `host` on `stream`: `host | ` or `host ! `, aligned.
    pub fn prefix(&self, index: usize, host: &str, stream: Stream) -> String {
        let mut out = String::new();
        self.host(&mut out, index, host);
        match (stream, self.color) {
            (Stream::Stdout, _) => out.push_str(" | "),
            (Stream::Stderr, false) => out.push_str(" ! "),
            (Stream::Stderr, true) => out.push_str(" \x1b[31m!\x1b[0m "),
        }
        out
    }

    /// Appends `prefix`, the line (SGR colours when coloured, else plain text) and a newline.
    pub fn push_line(&self, out: &mut String, prefix: &str, line: &StyledLine) {
        out.push_str(prefix);
        if self.color {
            out.push_str(&line_to_sgr(line));
        } else {
            for (_, t) in &line.spans {
                out.push_str(t);
            }
        }
        out.push('\n');
    }

    /// `host | text` for stdout, `host ! text` for stderr (the `!` red when coloured).
    #[cfg(test)]
    pub fn line(&self, index: usize, host: &str, stream: Stream, line: &StyledLine) -> String {
        let mut out = String::new();
        self.push_line(&mut out, &self.prefix(index, host, stream), line);
        out.pop();
        out
    }

    /// The line printed (to stderr) when a host ends badly: `host ✗ refused: message`.
    pub fn failure(&self, index: usize, host: &str, end: &HostEnd) -> String {
        let mut out = String::new();
        self.host(&mut out, index, host);
        let mark = if self.color {
            " \x1b[31m✗\x1b[0m "
        } else {
            " ✗ "
        };
        out.push_str(mark);
        match end {
            HostEnd::Exit(_) => out.push_str(&describe_end(Some(end))),
            HostEnd::Error { class, message } => {
                let _ = write!(out, "{class}: {}", to_plain(message.as_bytes()).trim_end());
            }
        }
        out
    }
}

/// Gathered output: hosts with identical stdout, stderr and end folded into one block headed
/// by their compact host set; largest group first. Outputs are compared by their SHA-256 and
/// length, so nothing but the prefixes is held; a block's text is read back from the run
/// folder when it was longer. Hosts that never ran and printed nothing (unreachable and the
/// like) are left to the summary. Returns what could not be shown, for warnings.
/// How a log level is said on stderr.
pub fn level_word(level: crate::engine::LogLevel) -> &'static str {
    match level {
        crate::engine::LogLevel::Debug => "debug",
        crate::engine::LogLevel::Info => "info",
        crate::engine::LogLevel::Warn => "warning",
        crate::engine::LogLevel::Error => "error",
    }
}

/// A group's header: a rule, `HOSTS (N hosts) · END EXTRA`, a rule.
pub fn group_header(out: &mut dyn Write, hosts: &[String], end: &str, extra: &str, color: bool) {
    let set = compact(hosts);
    let mut title = format!(
        "{set} ({} host{})",
        hosts.len(),
        if hosts.len() == 1 { "" } else { "s" }
    );
    if !end.is_empty() {
        let _ = write!(title, " · {end}");
    }
    title.push_str(extra);
    let rule = "-".repeat(title.width().clamp(15, 100));
    let _ = if color {
        writeln!(
            out,
            "\x1b[2m{rule}\x1b[0m\n\x1b[1;36m{title}\x1b[0m\n\x1b[2m{rule}\x1b[0m"
        )
    } else {
        writeln!(out, "{rule}\n{title}\n{rule}")
    };
}

/// Hosts with identical stdout, stderr and end, folded: (hosts, how they ended), largest
/// group first. Hosts that never ran and printed nothing are left out (the summary has them).
pub fn fold_reports(reports: &[HostReport]) -> Vec<(Vec<String>, String)> {
    let shown: Vec<&HostReport> = reports
        .iter()
        .filter(|r| {
            matches!(r.end, Some(HostEnd::Exit(_))) || !r.stdout.is_empty() || !r.stderr.is_empty()
        })
        .collect();
    let groups = fold_by(shown.iter().map(|r| {
        let mut end = match &r.end {
            Some(HostEnd::Exit(e)) if !e.success() => describe_end(r.end.as_ref()),
            Some(HostEnd::Error { class, .. }) => class.as_str().to_string(),
            _ => String::new(),
        };
        if let Some((limit, _)) = r.truncated {
            let sep = if end.is_empty() { "" } else { " · " };
            let _ = write!(end, "{sep}cut at {} (--max-output)", human_size(limit));
        }
        let key = (
            r.stdout.digest(),
            r.stdout.len,
            r.stderr.digest(),
            r.stderr.len,
        );
        (r.name.as_str(), (key, end))
    }));
    groups.into_iter().map(|(h, (_, end))| (h, end)).collect()
}

pub fn gathered(out: &mut dyn Write, reports: &[HostReport], color: bool) -> Vec<String> {
    let by_name: std::collections::HashMap<&str, &HostReport> =
        reports.iter().map(|r| (r.name.as_str(), r)).collect();
    let groups = fold_reports(reports);
    let mut notes = Vec::new();
    for (hosts, end) in groups {
        group_header(out, &hosts, &end, "", color);
        let Some(rep) = by_name.get(hosts[0].as_str()) else {
            continue;
        };
        let r = rep.stdout.each_line(&mut |line| {
            let _ = writeln!(out, "{}", render_line(line, color));
        });
        notes.extend(r.err().map(|e| format!("{} stdout: {e}", rep.name)));
        let mark = if color { "\x1b[31m!\x1b[0m" } else { "!" };
        let r = rep.stderr.each_line(&mut |line| {
            let _ = writeln!(out, "{mark} {}", render_line(line, color));
        });
        notes.extend(r.err().map(|e| format!("{} stderr: {e}", rep.name)));
    }
    notes
}

/// One JSON object (one line, with its newline) for a host, written as it is read back so that
/// a long output is never held whole; terminal controls in strings escaped. Returns what could
/// not be shown, for warnings.
pub fn json_line(out: &mut dyn Write, r: &HostReport) -> Vec<String> {
    let (exit_code, signal) = match &r.end {
        Some(HostEnd::Exit(ExitStatus::Code(c))) => (Some(*c), None),
        Some(HostEnd::Exit(ExitStatus::Signal(s))) => (None, Some(s.clone())),
        _ => (None, None),
    };
    let error = match &r.end {
        Some(HostEnd::Error { class, message }) => {
            serde_json::json!({ "class": class.as_str(), "message": message })
        }
        None => serde_json::json!({ "class": "cancelled", "message": "no result reported" }),
        Some(HostEnd::Exit(_)) => serde_json::Value::Null,
    };
    // Values always serialize.
    let j = |v: &serde_json::Value| to_terminal_safe_json(v).unwrap_or_default();
    let _ = write!(
        out,
        "{{\"host\":{},\"address\":{},\"exit_code\":{},\"signal\":{},\"duration_ms\":{}",
        j(&r.name.as_str().into()),
        j(&r.address.as_str().into()),
        j(&exit_code.into()),
        j(&signal.into()),
        u64::try_from(r.duration.as_millis()).unwrap_or(u64::MAX),
    );
    let mut notes = Vec::new();
    for (key, stream) in [("stdout", &r.stdout), ("stderr", &r.stderr)] {
        let _ = write!(out, ",\"{key}\":\"");
        if let Err(e) = stream.each_json_piece(&mut |p| {
            let _ = out.write_all(p.as_bytes());
        }) {
            notes.push(format!("{} {key}: {e}", r.name));
        }
        let _ = out.write_all(b"\"");
    }
    let _ = writeln!(
        out,
        ",\"error\":{},\"truncated_bytes\":{}}}",
        j(&error),
        r.truncated_bytes()
    );
    notes
}

/// The closing summary: a count line, then one line per non-empty bucket naming its hosts as
/// a compact host set.
pub fn summary(reports: &[HostReport], elapsed: Duration, cancelled: bool, color: bool) -> String {
    let mut buckets: std::collections::BTreeMap<Bucket, Vec<&str>> =
        std::collections::BTreeMap::new();
    for r in reports {
        buckets
            .entry(Bucket::of(r.end.as_ref()))
            .or_default()
            .push(&r.name);
    }
    let mut out = String::new();
    let counts: Vec<String> = buckets
        .iter()
        .map(|(b, hosts)| format!("{} {}", hosts.len(), b.label()))
        .collect();
    let _ = writeln!(
        out,
        "{}{} host{} in {:.2}s: {}",
        if cancelled { "cancelled: " } else { "" },
        reports.len(),
        if reports.len() == 1 { "" } else { "s" },
        elapsed.as_secs_f64(),
        counts.join(", ")
    );
    let label_width = buckets.keys().map(|b| b.label().len()).max().unwrap_or(0);
    for (bucket, hosts) in &buckets {
        let label = format!("{:<label_width$}", bucket.label());
        let set = compact(hosts);
        if color {
            let c = if *bucket == Bucket::Succeeded { 32 } else { 31 };
            let _ = writeln!(out, "  \x1b[{c}m{label}\x1b[0m  {set}");
        } else {
            let _ = writeln!(out, "  {label}  {set}");
        }
    }
    let cut: Vec<&HostReport> = reports.iter().filter(|r| r.truncated.is_some()).collect();
    if let Some(first) = cut.first() {
        let names: Vec<&str> = cut.iter().map(|r| r.name.as_str()).collect();
        let dropped: u64 = cut.iter().map(|r| r.truncated_bytes()).sum();
        let limit = first.truncated.map_or(0, |t| t.0);
        let _ = writeln!(
            out,
            "  truncated: {} (output beyond {} per host not kept, --max-output; {} dropped)",
            compact(&names),
            human_size(limit),
            human_size(dropped)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::Sanitizer;

    fn report(name: &str, out: &str, end: Option<HostEnd>) -> HostReport {
        HostReport {
            name: name.into(),
            address: "127.0.0.1:2201".into(),
            stdout: Captured::from_bytes(out.as_bytes()),
            stderr: Captured::default(),
            end,
            duration: Duration::from_millis(12),
            truncated: None,
        }
    }

    fn json_line(r: &HostReport) -> String {
        let mut out = Vec::new();
        assert!(super::json_line(&mut out, r).is_empty());
        let text = String::from_utf8(out).expect("UTF-8");
        assert_eq!(text.matches('\n').count(), 1, "one line: {text}");
        text.trim_end().to_string()
    }

    fn gathered(reports: &[HostReport], color: bool) -> String {
        let mut out = Vec::new();
        assert!(super::gathered(&mut out, reports, color).is_empty());
        String::from_utf8(out).expect("UTF-8")
    }

    /// A successful end, as reports hold it.
    const OK: Option<HostEnd> = Some(HostEnd::Exit(ExitStatus::Code(0)));

    fn line(bytes: &[u8]) -> StyledLine {
        let mut s = Sanitizer::new();
        s.feed(bytes).remove(0)
    }

    #[test]
    fn inline_aligns_and_marks_stderr() {
        let f = Inline::new(&["web1", "database01"], false);
        assert_eq!(
            f.line(0, "web1", Stream::Stdout, &line(b"hi\n")),
            "web1       | hi"
        );
        assert_eq!(
            f.line(1, "database01", Stream::Stderr, &line(b"oops\n")),
            "database01 ! oops"
        );
        let end = HostEnd::Error {
            class: ErrorClass::Refused,
            message: "connection refused\n".into(),
        };
        assert_eq!(
            f.failure(0, "web1", &end),
            "web1       ✗ refused: connection refused"
        );
    }

    #[test]
    fn inline_color_keeps_only_sgr() {
        let f = Inline::new(&["a"], true);
        let l = f.line(
            0,
            "a",
            Stream::Stderr,
            &line(b"\x1b]0;t\x07\x1b[31mred\x1b[2J\n"),
        );
        assert_eq!(l, "\x1b[36ma\x1b[0m \x1b[31m!\x1b[0m \x1b[0;31mred\x1b[0m");
    }

    #[test]
    fn gathered_folds_and_orders() {
        let reports = vec![
            report("web01", "same\n", OK),
            report("web02", "same\n", OK),
            report("web03", "same\n", OK),
            report(
                "db1",
                "other\x1b[2J\n",
                Some(HostEnd::Exit(ExitStatus::Code(3))),
            ),
            report(
                "db2",
                "",
                Some(HostEnd::Error {
                    class: ErrorClass::Refused,
                    message: "x".into(),
                }),
            ),
        ];
        let g = gathered(&reports, false);
        let r20 = "-".repeat(20);
        let r21 = "-".repeat(21);
        assert_eq!(
            g,
            format!(
                "{r20}\nweb[01-03] (3 hosts)\n{r20}\nsame\n{r21}\ndb1 (1 host) · exit 3\n{r21}\nother\n"
            )
        );
    }

    #[test]
    fn json_has_every_field() {
        let mut r = report("h1", "out\x1b]0;x\x07", OK);
        r.stderr = Captured::from_bytes(b"\xff");
        let v: serde_json::Value = serde_json::from_str(&json_line(&r)).unwrap();
        assert_eq!(v["host"], "h1");
        assert_eq!(v["address"], "127.0.0.1:2201");
        assert_eq!(v["exit_code"], 0);
        assert_eq!(v["signal"], serde_json::Value::Null);
        assert_eq!(v["duration_ms"], 12);
        assert_eq!(v["stdout"], "out\x1b]0;x\x07");
        assert_eq!(v["stderr"], "\u{FFFD}");
        assert_eq!(v["error"], serde_json::Value::Null);
        assert_eq!(v["truncated_bytes"], 0);
        // The JSON text itself carries no raw ESC.
        assert!(!json_line(&r).contains('\x1b'));
        // Nor raw C1 or bidi controls, from the output or the host name.
        let mut c1 = report("h\u{202E}1", "a\u{9B}2J\u{2066}b", OK);
        c1.stderr = Captured::from_bytes("\u{85}".as_bytes());
        let text = json_line(&c1);
        assert!(
            !text.contains(['\u{9B}', '\u{85}', '\u{202E}', '\u{2066}']),
            "{text}"
        );
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["host"], "h\u{202E}1");
        assert_eq!(v["stdout"], "a\u{9B}2J\u{2066}b");
        assert_eq!(v["stderr"], "\u{85}");
        let e = report(
            "h2",
            "",
            Some(HostEnd::Error {
                class: ErrorClass::Timeout,
                message: "late".into(),
            }),
        );
        let v: serde_json::Value = serde_json::from_str(&json_line(&e)).unwrap();
        assert_eq!(v["error"]["class"], "timeout");
        assert_eq!(v["exit_code"], serde_json::Value::Null);
    }

    #[test]
    fn summary_names_buckets_as_host_sets() {
        let err = |c| {
            Some(HostEnd::Error {
                class: c,
                message: String::new(),
            })
        };
        let reports = vec![
            report("web01", "", OK),
            report("web02", "", OK),
            report(
                "web03",
                "",
                Some(HostEnd::Exit(ExitStatus::Signal("KILL".into()))),
            ),
            report("db1", "", err(ErrorClass::Timeout)),
            report("db2", "", err(ErrorClass::Refused)),
            report("db3", "", err(ErrorClass::Unreachable)),
            report("db4", "", err(ErrorClass::AuthFailed)),
            report("db5", "", None),
        ];
        let s = summary(&reports, Duration::from_millis(1500), false, false);
        assert_eq!(
            s,
            "8 hosts in 1.50s: 2 succeeded, 1 failed, 1 timed-out, 2 unreachable, 1 auth-failed, 1 no-result\n\
             \x20 succeeded    web[01-02]\n\
             \x20 failed       web03\n\
             \x20 timed-out    db1\n\
             \x20 unreachable  db[2-3]\n\
             \x20 auth-failed  db4\n\
             \x20 no-result    db5\n"
        );
    }
}

#[cfg(test)]
mod truncation_tests {
    use super::*;

    #[test]
    fn truncation_shows_in_gathered_json_and_summary() {
        let mut rep = HostReport {
            name: "web01".into(),
            address: "127.0.0.1:2201".into(),
            stdout: Captured::from_bytes(b"kept\n"),
            stderr: Captured::default(),
            end: Some(HostEnd::Exit(ExitStatus::Code(0))),
            duration: Duration::from_millis(3),
            truncated: Some((1 << 20, 3 << 20)),
        };
        let mut block = Vec::new();
        gathered(&mut block, std::slice::from_ref(&rep), false);
        let block = String::from_utf8(block).unwrap();
        assert!(
            block.contains("web01 (1 host) · cut at 1.0 MiB (--max-output)"),
            "{block}"
        );
        let mut line = Vec::new();
        json_line(&mut line, &rep);
        let v: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(v["truncated_bytes"], 3 << 20);
        let text = summary(
            std::slice::from_ref(&rep),
            Duration::from_secs(1),
            false,
            false,
        );
        assert!(
            text.ends_with("  truncated: web01 (output beyond 1.0 MiB per host not kept, --max-output; 3.0 MiB dropped)\n"),
            "{text}"
        );
        rep.truncated = None;
        let text = summary(
            std::slice::from_ref(&rep),
            Duration::from_secs(1),
            false,
            false,
        );
        assert!(!text.contains("truncated"), "{text}");
    }
}
