//! How `fleetdeck run` shows results: inline lines, gathered blocks, JSON lines and the closing
//! summary. Pure string building so that it can be tested without hosts or terminals; remote
//! bytes always go through [`crate::output`] before they reach a terminal.

use std::fmt::Write as _;
use std::time::Duration;

use unicode_width::UnicodeWidthStr;

use crate::engine::{ErrorClass, ExitStatus, Stream};
use crate::output::{
    compact, fold_by, line_to_sgr, to_plain, to_safe_sgr, to_terminal_safe_json, StyledLine,
};

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
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// `None` when the engine never reported an end (the job was interrupted).
    pub end: Option<HostEnd>,
    pub duration: Duration,
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
/// by their compact host set; largest group first. Hosts that never ran and printed nothing
/// (unreachable and the like) are left to the summary.
pub fn gathered(reports: &[HostReport], color: bool) -> String {
    let shown = reports.iter().filter(|r| {
        matches!(r.end, Some(HostEnd::Exit(_))) || !r.stdout.is_empty() || !r.stderr.is_empty()
    });
    let groups = fold_by(shown.map(|r| {
        let end = match &r.end {
            Some(HostEnd::Exit(e)) if !e.success() => describe_end(r.end.as_ref()),
            Some(HostEnd::Error { class, .. }) => class.as_str().to_string(),
            _ => String::new(),
        };
        (
            r.name.as_str(),
            (r.stdout.as_slice(), r.stderr.as_slice(), end),
        )
    }));
    let render = |bytes: &[u8]| {
        if color {
            to_safe_sgr(bytes)
        } else {
            to_plain(bytes)
        }
    };
    let mut out = String::new();
    for (hosts, (stdout, stderr, end)) in groups {
        let set = compact(&hosts);
        let mut title = format!(
            "{set} ({} host{})",
            hosts.len(),
            if hosts.len() == 1 { "" } else { "s" }
        );
        if !end.is_empty() {
            let _ = write!(title, " · {end}");
        }
        let rule = "-".repeat(title.width().clamp(15, 100));
        if color {
            let _ = writeln!(
                out,
                "\x1b[2m{rule}\x1b[0m\n\x1b[1;36m{title}\x1b[0m\n\x1b[2m{rule}\x1b[0m"
            );
        } else {
            let _ = writeln!(out, "{rule}\n{title}\n{rule}");
        }
        let text = render(stdout);
        out.push_str(&text);
        if !text.is_empty() && !text.ends_with('\n') {
            out.push('\n');
        }
        let err = render(stderr);
        for line in err.lines() {
            if color {
                let _ = writeln!(out, "\x1b[31m!\x1b[0m {line}");
            } else {
                let _ = writeln!(out, "! {line}");
            }
        }
    }
    out
}

/// One JSON object (one line, no newline) for a host; terminal controls in strings escaped.
pub fn json_line(r: &HostReport) -> String {
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
    let v = serde_json::json!({
        "host": r.name,
        "address": r.address,
        "exit_code": exit_code,
        "signal": signal,
        "duration_ms": u64::try_from(r.duration.as_millis()).unwrap_or(u64::MAX),
        "stdout": String::from_utf8_lossy(&r.stdout),
        "stderr": String::from_utf8_lossy(&r.stderr),
        "error": error,
    });
    // A `Value` always serializes.
    to_terminal_safe_json(&v).unwrap_or_default()
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
            stdout: out.as_bytes().to_vec(),
            stderr: Vec::new(),
            end,
            duration: Duration::from_millis(12),
        }
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
        r.stderr = b"\xff".to_vec();
        let v: serde_json::Value = serde_json::from_str(&json_line(&r)).unwrap();
        assert_eq!(v["host"], "h1");
        assert_eq!(v["address"], "127.0.0.1:2201");
        assert_eq!(v["exit_code"], 0);
        assert_eq!(v["signal"], serde_json::Value::Null);
        assert_eq!(v["duration_ms"], 12);
        assert_eq!(v["stdout"], "out\x1b]0;x\x07");
        assert_eq!(v["stderr"], "\u{FFFD}");
        assert_eq!(v["error"], serde_json::Value::Null);
        // The JSON text itself carries no raw ESC.
        assert!(!json_line(&r).contains('\x1b'));
        // Nor raw C1 or bidi controls, from the output or the host name.
        let mut c1 = report("h\u{202E}1", "a\u{9B}2J\u{2066}b", OK);
        c1.stderr = "\u{85}".as_bytes().to_vec();
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
