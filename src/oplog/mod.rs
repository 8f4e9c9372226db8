//! The operation log: append-only JSON Lines of every operation and per-host result.
//!
//! One record per line, written with one `write` on a file opened `O_APPEND` (mode 0600), so
//! that concurrent fleetdeck processes never interleave partial lines. Records carry no
//! secrets: the engine never puts passwords or passphrases in them.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};

use crate::contract::ErrorClass;

pub mod read;
pub mod redact;

/// Default location: `<state dir>/oplog.jsonl`.
pub fn default_path() -> PathBuf {
    crate::paths::oplog_file()
}

/// The local time now, with its UTC offset (RFC 3339 when serialized).
pub fn now() -> DateTime<FixedOffset> {
    chrono::Local::now().fixed_offset()
}

/// One line of the operation log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Record {
    JobStart(JobStart),
    HostResult(HostResult),
    JobEnd(JobEnd),
}

impl Record {
    /// The run this record belongs to.
    pub fn run(&self) -> &str {
        match self {
            Record::JobStart(r) => &r.run,
            Record::HostResult(r) => &r.run,
            Record::JobEnd(r) => &r.run,
        }
    }

    pub fn time(&self) -> DateTime<FixedOffset> {
        match self {
            Record::JobStart(r) => r.time,
            Record::HostResult(r) => r.time,
            Record::JobEnd(r) => r.time,
        }
    }
}

/// Written when a job starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobStart {
    pub time: DateTime<FixedOffset>,
    /// Who ran it (login name).
    pub operator: String,
    /// Job id within its engine (restarts at 1 in every process).
    pub job: u64,
    /// Unique across processes: `<YYYYmmddTHHMMSS>-<pid>-<job>`; also groups this job's records.
    pub run: String,
    /// `exec`, `upload`, `download` or `shell`.
    pub kind: String,
    /// The command (exec jobs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// The target pattern the operator typed.
    pub pattern: String,
    /// Inventory names of the targets.
    pub hosts: Vec<String>,
    /// The run folder holding every byte of output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_dir: Option<PathBuf>,
    /// Transfer jobs: what moves where.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer: Option<TransferPlan>,
    /// Command jobs run through sudo on some host, or with `--no-become`: who decided and as
    /// whom (never a password).
    #[serde(default, rename = "become", skip_serializing_if = "Option::is_none")]
    pub become_: Option<JobBecome>,
}

/// How a command job escalated, for the operation log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobBecome {
    /// `sudo` (the job's `--sudo`/`--sudo-user` or the console's `S`), `inventory` (the
    /// hosts' `ansible_become*`) or `no-become` (`--no-become`: the inventory's ignored).
    pub from: String,
    /// Hosts run through sudo, by the user they ran as.
    #[serde(default, rename = "as")]
    pub users: std::collections::BTreeMap<String, usize>,
}

/// The plan of a transfer job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferPlan {
    /// `upload` or `download`.
    pub direction: String,
    pub local: Vec<PathBuf>,
    pub remote: String,
}

/// Written when one host is done (finished or failed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostResult {
    pub time: DateTime<FixedOffset>,
    pub job: u64,
    pub run: String,
    pub host: String,
    /// `address:port` connected to.
    #[serde(default)]
    pub address: String,
    /// Exit code when the command ran to completion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// Signal name when the remote process died of one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<String>,
    pub duration_ms: u64,
    #[serde(default)]
    pub bytes_out: u64,
    #[serde(default)]
    pub bytes_err: u64,
    /// Output bytes beyond the job's `--max-output` cap: counted, not kept in the run folder.
    /// Absent (0) in records written before the cap existed and when nothing was cut.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub truncated_bytes: u64,
    /// Set when the host failed (connect, auth, timeout, cancel, transfer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorInfo>,
    /// Transfer jobs: what was moved on this host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer: Option<TransferResult>,
    /// Shell sessions: when the host's session started (`time` is its end).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<DateTime<FixedOffset>>,
    /// Commands run through sudo: the user they ran as (never a password).
    #[serde(default, rename = "become", skip_serializing_if = "Option::is_none")]
    pub become_user: Option<String>,
}

// serde's `skip_serializing_if` passes a reference.
#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl HostResult {
    /// True when the host ran to completion with exit code 0 and no error.
    pub fn succeeded(&self) -> bool {
        self.error.is_none() && self.signal.is_none() && self.exit_code.unwrap_or(0) == 0
    }
}

/// A classified failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorInfo {
    pub class: ErrorClass,
    pub message: String,
}

/// What a transfer moved on one host.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TransferResult {
    /// `upload` or `download`.
    pub direction: String,
    /// Local paths read (upload) or written (download).
    pub local: Vec<PathBuf>,
    /// Remote paths written (upload) or read (download).
    pub remote: Vec<String>,
    pub files: u64,
    pub bytes: u64,
    /// Hex SHA-256 per file, in the order of `remote`, when computed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sha256: Vec<String>,
    /// Files `push --sync` found already the same and did not send.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unchanged: u64,
    /// Remote entries `push --sync --delete` removed, and the first of their paths.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub deleted: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deleted_paths: Vec<String>,
    /// Bytes `push --resume` kept from an earlier partial copy.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub resumed_bytes: u64,
}

/// Written when every host of a job is done.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobEnd {
    pub time: DateTime<FixedOffset>,
    pub job: u64,
    pub run: String,
    pub hosts: usize,
    /// Hosts that exited 0 (or whose transfer completed).
    pub ok: usize,
    /// Hosts that ran and exited non-zero or died of a signal.
    pub nonzero: usize,
    /// Hosts that failed with an error class (connect, auth, timeout, cancel, transfer).
    pub errors: usize,
    pub cancelled: bool,
    pub duration_ms: u64,
}

/// An append-only writer of [`Record`]s.
#[derive(Debug)]
pub struct OpLog {
    path: PathBuf,
    file: Mutex<std::fs::File>,
}

impl OpLog {
    /// Opens (creating 0600, parent dirs 0700) the log at `path` for appending.
    /// A torn last line left by a crashed writer is ended with a newline first, so that the
    /// next record is not glued to it (the reader then skips only the torn fragment).
    pub fn open(path: &Path) -> io::Result<OpLog> {
        let mut file = crate::paths::open_private_append(path)?;
        end_torn_line(path, &mut file)?;
        Ok(OpLog {
            path: path.to_path_buf(),
            file: Mutex::new(file),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one record as one whole line, with a single write.
    /// Commands are recorded through [`redact::redact`] (no `sshpass -p` passwords).
    pub fn append(&self, record: &Record) -> io::Result<()> {
        let mut line = match record {
            Record::JobStart(s) if s.command.is_some() => {
                let mut s = s.clone();
                s.command = s.command.as_deref().map(redact::redact);
                serde_json::to_vec(&Record::JobStart(s))
            }
            _ => serde_json::to_vec(record),
        }
        .map_err(io::Error::other)?;
        line.push(b'\n');
        let mut f = self
            .file
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f.write_all(&line)
    }
}

/// Appends a newline when the file does not end with one (a crash mid-write).
fn end_torn_line(path: &Path, file: &mut std::fs::File) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(());
    }
    let mut last = [0u8; 1];
    // Read through a second open of the same path, never through a symlink swapped in since
    // (the append handle is write-only).
    let reader = {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)?
    };
    reader.read_exact_at(&mut last, len - 1)?;
    if last[0] != b'\n' {
        file.write_all(b"\n")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_symlinked_log_is_refused_not_followed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "precious\n").expect("write");
        let path = dir.path().join("oplog.jsonl");
        std::os::unix::fs::symlink(&victim, &path).expect("symlink");
        let e = OpLog::open(&path).expect_err("symlink refused");
        assert!(e.to_string().contains("symbolic link"), "{e}");
        assert_eq!(
            std::fs::read_to_string(&victim).expect("read"),
            "precious\n"
        );
    }

    #[test]
    fn records_round_trip_as_tagged_json_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub/oplog.jsonl");
        let log = OpLog::open(&path).expect("open");
        let start = Record::JobStart(JobStart {
            time: now(),
            operator: "ops".into(),
            job: 1,
            run: "20260101T000000-1-1".into(),
            kind: "exec".into(),
            command: Some("uptime".into()),
            pattern: "web".into(),
            hosts: vec!["web01".into()],
            run_dir: None,
            transfer: None,
            become_: None,
        });
        let host = Record::HostResult(HostResult {
            time: now(),
            job: 1,
            run: "20260101T000000-1-1".into(),
            host: "web01".into(),
            address: "127.0.0.1:22".into(),
            exit_code: None,
            signal: None,
            duration_ms: 5,
            bytes_out: 0,
            bytes_err: 0,
            truncated_bytes: 0,
            error: Some(ErrorInfo {
                class: ErrorClass::AuthFailed,
                message: "no".into(),
            }),
            transfer: None,
            started: None,
            become_user: None,
        });
        log.append(&start).expect("append");
        log.append(&host).expect("append");
        let text = std::fs::read_to_string(&path).expect("read");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(
            lines[0].starts_with(r#"{"type":"job-start","time":""#),
            "{}",
            lines[0]
        );
        assert!(
            lines[1].contains(r#""class":"auth-failed""#),
            "{}",
            lines[1]
        );
        let back: Record = serde_json::from_str(lines[1]).expect("parse");
        assert_eq!(back, host);
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}
