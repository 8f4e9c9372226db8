//! Reading the operation log back: for `fleetdeck log`, `--failed-from last` and the console.
//!
//! The log is append-only JSON Lines written by concurrent processes; a crash can leave a torn
//! last line. The reader skips any line it cannot parse and reports it as a warning naming the
//! file and line, instead of failing the whole read.

use std::collections::HashSet;
use std::io::{self, BufRead};
use std::path::Path;

use super::{HostResult, JobEnd, JobStart, Record};

/// Records read from a log, with warnings about lines skipped.
#[derive(Debug, Default, Clone)]
pub struct LogContents {
    pub records: Vec<Record>,
    /// One message per skipped line: `FILE:LINE: why`.
    pub warnings: Vec<String>,
}

/// Reads every record of the log at `path`. A missing file reads as empty.
pub fn read_path(path: &Path) -> io::Result<LogContents> {
    match std::fs::File::open(path) {
        Ok(f) => read_from(io::BufReader::new(f), &path.display().to_string()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(LogContents::default()),
        Err(e) => Err(e),
    }
}

/// Reads records from `reader`; `name` is used in warnings.
pub fn read_from<R: BufRead>(mut reader: R, name: &str) -> io::Result<LogContents> {
    let mut out = LogContents::default();
    let mut buf = Vec::new();
    let mut lineno = 0usize;
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf)? == 0 {
            break;
        }
        lineno += 1;
        let torn = buf.last() != Some(&b'\n');
        let line = buf.strip_suffix(b"\n").unwrap_or(&buf);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<Record>(line) {
            Ok(r) => out.records.push(r),
            Err(e) => {
                let what = if torn {
                    "torn last line (no newline)"
                } else {
                    "invalid record"
                };
                out.warnings
                    .push(format!("{name}:{lineno}: skipped {what}: {e}"));
            }
        }
    }
    Ok(out)
}

/// One job as the log tells it.
#[derive(Debug, Clone)]
pub struct JobView<'a> {
    pub start: &'a JobStart,
    pub results: Vec<&'a HostResult>,
    pub end: Option<&'a JobEnd>,
}

impl JobView<'_> {
    /// Target hosts that did not succeed: failed, non-zero, or with no result at all (the
    /// process died or was interrupted before the host finished). In target order.
    pub fn not_succeeded(&self) -> Vec<String> {
        let ok: HashSet<&str> = self
            .results
            .iter()
            .filter(|r| r.succeeded())
            .map(|r| r.host.as_str())
            .collect();
        self.start
            .hosts
            .iter()
            .filter(|h| !ok.contains(h.as_str()))
            .cloned()
            .collect()
    }
}

/// The jobs in `records`, in the order they started.
pub fn jobs(records: &[Record]) -> Vec<JobView<'_>> {
    let mut views: Vec<JobView<'_>> = Vec::new();
    let mut by_run: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for r in records {
        match r {
            Record::JobStart(s) => {
                by_run.insert(s.run.as_str(), views.len());
                views.push(JobView {
                    start: s,
                    results: Vec::new(),
                    end: None,
                });
            }
            Record::HostResult(h) => {
                if let Some(&i) = by_run.get(h.run.as_str()) {
                    views[i].results.push(h);
                }
            }
            Record::JobEnd(e) => {
                if let Some(&i) = by_run.get(e.run.as_str()) {
                    views[i].end = Some(e);
                }
            }
        }
    }
    views
}

/// The most recently started job, if any.
pub fn last_job(records: &[Record]) -> Option<JobView<'_>> {
    jobs(records).pop()
}

/// The job `which` names: `last` (the most recent job of `kind`: `exec`, `upload`,
/// `download`) or a run id (`20261201T100211-4242-1`, as `fleetdeck log` shows it).
pub fn find_job<'r>(records: &'r [Record], which: &str, kind: &str) -> Option<JobView<'r>> {
    let all = jobs(records);
    if which == "last" {
        all.into_iter().rev().find(|j| j.start.kind == kind)
    } else {
        all.into_iter().rev().find(|j| j.start.run == which)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::ErrorClass;
    use crate::oplog::{now, ErrorInfo, OpLog};

    fn start(run: &str, hosts: &[&str]) -> Record {
        Record::JobStart(JobStart {
            time: now(),
            operator: "ops".into(),
            job: 1,
            run: run.into(),
            kind: "exec".into(),
            command: Some("true".into()),
            pattern: "all".into(),
            hosts: hosts.iter().map(|s| (*s).to_string()).collect(),
            run_dir: None,
            transfer: None,
            become_: None,
        })
    }

    fn result(run: &str, host: &str, code: Option<i32>, error: Option<ErrorClass>) -> Record {
        Record::HostResult(HostResult {
            time: now(),
            job: 1,
            run: run.into(),
            host: host.into(),
            address: "127.0.0.1:22".into(),
            exit_code: code,
            signal: None,
            duration_ms: 1,
            bytes_out: 0,
            bytes_err: 0,
            truncated_bytes: 0,
            error: error.map(|class| ErrorInfo {
                class,
                message: "m".into(),
            }),
            transfer: None,
            started: None,
            become_user: None,
        })
    }

    #[test]
    fn torn_and_invalid_lines_are_skipped_with_warnings() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("oplog.jsonl");
        let log = OpLog::open(&path).unwrap();
        log.append(&start("r1", &["a", "b"])).unwrap();
        log.append(&result("r1", "a", Some(0), None)).unwrap();
        drop(log);
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("not json\n\n");
        text.push_str(r#"{"type":"host-result","time":"2026-"#);
        std::fs::write(&path, text).unwrap();
        let got = read_path(&path).unwrap();
        assert_eq!(got.records.len(), 2);
        assert_eq!(got.warnings.len(), 2, "{:?}", got.warnings);
        assert!(
            got.warnings[0].contains("oplog.jsonl:3: skipped invalid record"),
            "{}",
            got.warnings[0]
        );
        assert!(
            got.warnings[1].contains(":5: skipped torn last line"),
            "{}",
            got.warnings[1]
        );
    }

    #[test]
    fn truncated_bytes_round_trip_and_old_records_still_read() {
        let mut rec = result("r1", "a", Some(0), None);
        if let Record::HostResult(h) = &mut rec {
            h.truncated_bytes = 12_345;
        }
        let line = serde_json::to_string(&rec).unwrap();
        assert!(line.contains(r#""truncated_bytes":12345"#), "{line}");
        let plain = serde_json::to_string(&result("r1", "a", Some(0), None)).unwrap();
        // Nothing cut: the field is left out, so the record reads as it did before the cap.
        assert!(!plain.contains("truncated_bytes"), "{plain}");
        let text = format!("{line}\n{plain}\n");
        let got = read_from(text.as_bytes(), "oplog.jsonl").unwrap();
        assert!(got.warnings.is_empty(), "{:?}", got.warnings);
        let cut: Vec<u64> = got
            .records
            .iter()
            .filter_map(|r| match r {
                Record::HostResult(h) => Some(h.truncated_bytes),
                _ => None,
            })
            .collect();
        assert_eq!(cut, vec![12_345, 0]);
    }

    #[test]
    fn missing_file_is_empty() {
        let got = read_path(Path::new("/nonexistent/fleetdeck/oplog.jsonl")).unwrap();
        assert!(got.records.is_empty() && got.warnings.is_empty());
    }

    #[test]
    fn last_job_not_succeeded_hosts() {
        let records = vec![
            start("r1", &["a", "b"]),
            result("r1", "a", Some(1), None),
            start("r2", &["a", "b", "c", "d", "e"]),
            result("r2", "a", Some(0), None),
            result("r1", "b", Some(0), None),
            result("r2", "b", Some(2), None),
            result("r2", "c", None, Some(ErrorClass::Refused)),
            result("r2", "e", Some(0), None),
        ];
        let last = last_job(&records).unwrap();
        assert_eq!(last.start.run, "r2");
        assert_eq!(last.results.len(), 4);
        // d has no result: it did not succeed either.
        assert_eq!(last.not_succeeded(), vec!["b", "c", "d"]);
        let all = jobs(&records);
        assert_eq!(all[0].not_succeeded(), vec!["a"]);
        assert!(last_job(&[]).is_none());
    }
}
