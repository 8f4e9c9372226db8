//! `J`: the job history — past jobs from the operation log (this and earlier sessions, other
//! processes), each host's result, the output a host printed (read back from the run folder),
//! and re-running a command on its failed hosts or on all of them.
//!
//! The log and the run folder are read by the runtime off the UI thread ([`load_jobs`],
//! [`load_output`]); this module also holds the dialog's state, which `update` changes and
//! `draw` shows.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::oplog::read::{jobs, read_path, JobView};
use crate::oplog::HostResult;
use crate::output::Sanitizer;

/// Most jobs listed (the newest).
pub const MAX_JOBS: usize = 500;
/// Most bytes read back from the end of a host's output file (per stream).
pub const MAX_OUTPUT_BYTES: u64 = 512 * 1024;

/// One host's part in a past job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PastHost {
    pub name: String,
    /// `ok`, `exit 3`, `SIGTERM`, `refused: …`, `no result`.
    pub result: String,
    pub ok: bool,
}

/// One past job, as the list shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PastJob {
    /// Local time it started, `2026-12-02 10:02:11`.
    pub time: String,
    pub operator: String,
    /// `exec`, `upload` or `download`.
    pub kind: String,
    /// The command (exec jobs).
    pub command: Option<String>,
    /// The command or what was moved where.
    pub what: String,
    pub pattern: String,
    pub hosts: Vec<PastHost>,
    pub run_dir: Option<PathBuf>,
}

impl PastJob {
    pub fn failed(&self) -> Vec<&str> {
        self.hosts
            .iter()
            .filter(|h| !h.ok)
            .map(|h| h.name.as_str())
            .collect()
    }
}

/// A host's output read back from the run folder: (stderr, line) pairs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PastOutput {
    pub host: String,
    pub lines: Vec<(bool, String)>,
    /// Earlier bytes not read back (the file is longer than [`MAX_OUTPUT_BYTES`]).
    pub skipped: u64,
}

/// Which level of the history dialog is shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Level {
    Jobs,
    Hosts {
        job: usize,
    },
    Output {
        job: usize,
        output: Result<PastOutput, String>,
    },
}

/// The history dialog's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryDialog {
    /// `None` until the runtime answered; then the jobs, newest first, or why not.
    pub jobs: Option<Result<Vec<PastJob>, String>>,
    pub level: Level,
    /// The chosen job (level `Jobs`) or host (level `Hosts`).
    pub cursor: usize,
    /// Where the job cursor was when a job was opened.
    pub job_cursor: usize,
    /// Lines scrolled down in the output level.
    pub scroll: usize,
}

impl HistoryDialog {
    pub fn new() -> HistoryDialog {
        HistoryDialog {
            jobs: None,
            level: Level::Jobs,
            cursor: 0,
            job_cursor: 0,
            scroll: 0,
        }
    }

    pub fn job_list(&self) -> &[PastJob] {
        match &self.jobs {
            Some(Ok(j)) => j,
            _ => &[],
        }
    }

    /// The job shown or under the cursor.
    pub fn current_job(&self) -> Option<&PastJob> {
        let i = match &self.level {
            Level::Jobs => self.cursor,
            Level::Hosts { job } | Level::Output { job, .. } => *job,
        };
        self.job_list().get(i)
    }
}

impl Default for HistoryDialog {
    fn default() -> Self {
        HistoryDialog::new()
    }
}

fn host_result(r: Option<&HostResult>) -> (String, bool) {
    let Some(r) = r else {
        return ("no result".into(), false);
    };
    if let Some(e) = &r.error {
        return (format!("{}: {}", e.class, e.message), false);
    }
    match (r.exit_code, &r.signal) {
        (Some(0), _) => ("ok".into(), true),
        (Some(c), _) => (format!("exit {c}"), false),
        (None, Some(s)) => (format!("SIG{s}"), false),
        (None, None) => (
            if r.succeeded() { "ok" } else { "failed" }.into(),
            r.succeeded(),
        ),
    }
}

fn past_job(v: &JobView<'_>) -> PastJob {
    let s = v.start;
    let what = match (&s.command, &s.transfer) {
        (Some(c), _) => c.clone(),
        (None, Some(t)) => {
            let local: Vec<String> = t.local.iter().map(|p| p.display().to_string()).collect();
            if t.direction == "download" {
                format!("pull {} → {}", t.remote, local.join(" "))
            } else {
                format!("push {} → {}", local.join(" "), t.remote)
            }
        }
        (None, None) => s.kind.clone(),
    };
    let hosts = s
        .hosts
        .iter()
        .map(|h| {
            let r = v.results.iter().rev().find(|r| &r.host == h).copied();
            let (result, ok) = host_result(r);
            PastHost {
                name: h.clone(),
                result,
                ok,
            }
        })
        .collect();
    PastJob {
        time: s
            .time
            .with_timezone(&chrono::Local)
            .format("%Y-%m-%d %H:%M:%S")
            .to_string(),
        operator: s.operator.clone(),
        kind: s.kind.clone(),
        command: s.command.clone(),
        what,
        pattern: s.pattern.clone(),
        hosts,
        run_dir: s.run_dir.clone(),
    }
}

/// The newest [`MAX_JOBS`] jobs of the operation log at `oplog`, newest first.
pub fn load_jobs(oplog: &Path) -> Result<Vec<PastJob>, String> {
    let contents = match read_path(oplog) {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(format!(
                "cannot read the operation log {}: {e}",
                oplog.display()
            ))
        }
    };
    let views = jobs(&contents.records);
    Ok(views.iter().rev().take(MAX_JOBS).map(past_job).collect())
}

/// Reads the last [`MAX_OUTPUT_BYTES`] of `path` (missing: nothing); returns the bytes and
/// how many earlier bytes were skipped.
fn tail(path: &Path) -> Result<(Vec<u8>, u64), String> {
    let mut f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let len = f.metadata().map_err(|e| e.to_string())?.len();
    let skip = len.saturating_sub(MAX_OUTPUT_BYTES);
    f.seek(SeekFrom::Start(skip)).map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    f.take(MAX_OUTPUT_BYTES)
        .read_to_end(&mut buf)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok((buf, skip))
}

fn lines_of(bytes: &[u8], stderr: bool, out: &mut Vec<(bool, String)>) {
    let mut s = Sanitizer::new();
    for l in s.feed(bytes) {
        out.push((stderr, l.text()));
    }
    if let Some(l) = s.finish() {
        out.push((stderr, l.text()));
    }
}

/// `host`'s output of the job whose run folder is `run_dir`: stdout then stderr, sanitized.
/// `stem` is the host's file name in the run folder.
pub fn load_output(run_dir: &Path, host: &str, stem: &str) -> Result<PastOutput, String> {
    let (out, skip_out) = tail(&run_dir.join(format!("{stem}.out")))?;
    let (err, skip_err) = tail(&run_dir.join(format!("{stem}.err")))?;
    let mut lines = Vec::new();
    lines_of(&out, false, &mut lines);
    lines_of(&err, true, &mut lines);
    Ok(PastOutput {
        host: host.to_string(),
        lines,
        skipped: skip_out + skip_err,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_is_read_back_bounded_and_sanitized() {
        let dir = tempfile::tempdir().expect("tmp");
        let big = "x".repeat(100) + "\n";
        std::fs::write(dir.path().join("web01.out"), big.repeat(10_000)).expect("out");
        std::fs::write(dir.path().join("web01.err"), b"oops \x1b]52;c;eA==\x07\n").expect("err");
        let o = load_output(dir.path(), "web01", "web01").expect("read");
        assert_eq!(o.skipped, 101 * 10_000 - MAX_OUTPUT_BYTES);
        let last = o.lines.last().expect("lines");
        assert_eq!(last, &(true, "oops ".to_string()));
        assert!(o.lines.len() <= (MAX_OUTPUT_BYTES / 101 + 2) as usize);
        let none = load_output(dir.path(), "db1", "db1").expect("missing files are empty");
        assert!(none.lines.is_empty());
    }
}
