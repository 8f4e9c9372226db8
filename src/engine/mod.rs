//! The engine: jobs on many hosts, run by worker threads that each own one host's libssh2
//! session and keep it between jobs. Workers report [`Event`]s over a channel; the engine
//! knows nothing about terminals.
//!
//! Owned by the engine work (issue 5). The types below are the contract between the engine and
//! its faces (console, command line); extend them rather than forking them.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::inventory::ConnSettings;

/// Identifies a job within one engine.
pub type JobId = u64;

/// One host a job runs on, with its connection already resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Inventory name; what events and outputs are keyed by.
    pub name: Arc<str>,
    pub conn: ConnSettings,
    /// Resolved jump hosts, first hop first (each with an empty `jump`).
    pub jump: Vec<Target>,
}

/// What a job does on each host.
#[derive(Debug, Clone)]
pub enum JobKind {
    Exec(ExecSpec),
    Upload(crate::ssh::transfer::UploadSpec),
    Download(crate::ssh::transfer::DownloadSpec),
}

/// A command to run on every target.
#[derive(Debug, Clone, Default)]
pub struct ExecSpec {
    pub command: String,
    /// Allocate a pty (so that closing the channel sends SIGHUP to the remote process).
    pub pty: bool,
    /// Wall-clock limit for the command on one host.
    pub timeout: Option<Duration>,
    /// Run through sudo as this user (`root` when `Some("root")`). If sudo asks a password,
    /// the engine asks the prompter once ([`SecretKind::Sudo`]) and answers sudo on every host;
    /// a wrong or missing password fails the host as [`ErrorClass::AuthFailed`].
    pub sudo_user: Option<String>,
}

/// A job: what to do, where, and how wide.
#[derive(Debug, Clone)]
pub struct JobSpec {
    pub kind: JobKind,
    pub targets: Vec<Target>,
    /// At most this many hosts connect or run at once.
    pub fanout: usize,
    /// The pattern the operator typed, for the operation log.
    pub pattern: String,
}

/// Default fanout limit.
pub const DEFAULT_FANOUT: usize = 64;

/// Which output stream a chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    Stdout,
    Stderr,
}

/// How a host's work ended when it ran to completion.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ExitStatus {
    /// The remote process exited with this code.
    Code(i32),
    /// The remote process died of this signal (e.g. `TERM`).
    Signal(String),
}

impl ExitStatus {
    pub fn success(&self) -> bool {
        matches!(self, ExitStatus::Code(0))
    }
}

/// Why a host failed, classified so that faces can group and color failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorClass {
    /// Name does not resolve or network unreachable.
    Unreachable,
    /// TCP connection refused.
    Refused,
    /// Connect, handshake or command deadline passed.
    Timeout,
    /// No offered credential was accepted (includes a wrong sudo password).
    AuthFailed,
    /// The host key is not in any known_hosts file and policy forbids accepting it.
    HostKeyUnknown,
    /// The host key differs from the one on record: always refused.
    HostKeyChanged,
    /// The peer is not speaking SSH properly, or the transport broke.
    Protocol,
    /// The operator cancelled the job.
    Cancelled,
    /// A file transfer failed (remote or local I/O, refused path).
    Transfer,
}

impl ErrorClass {
    /// The word used for this class in the UI, the CLI and the README.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Unreachable => "unreachable",
            ErrorClass::Refused => "refused",
            ErrorClass::Timeout => "timeout",
            ErrorClass::AuthFailed => "auth-failed",
            ErrorClass::HostKeyUnknown => "host-key-unknown",
            ErrorClass::HostKeyChanged => "host-key-changed",
            ErrorClass::Protocol => "protocol",
            ErrorClass::Cancelled => "cancelled",
            ErrorClass::Transfer => "transfer",
        }
    }
}

impl std::fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What workers and the scheduler report. Every per-host event carries the job and host name.
#[derive(Debug, Clone)]
pub enum Event {
    JobStarted {
        job: JobId,
        hosts: usize,
        /// The run folder holding every byte of this job's output.
        run_dir: Option<PathBuf>,
    },
    Connecting {
        job: JobId,
        host: Arc<str>,
    },
    Connected {
        job: JobId,
        host: Arc<str>,
        /// True when an already-authenticated session was reused.
        reused: bool,
    },
    /// Work started on the host (command sent or transfer begun).
    Running {
        job: JobId,
        host: Arc<str>,
    },
    Output {
        job: JobId,
        host: Arc<str>,
        stream: Stream,
        data: Vec<u8>,
    },
    Progress {
        job: JobId,
        host: Arc<str>,
        done: u64,
        total: u64,
    },
    Finished {
        job: JobId,
        host: Arc<str>,
        exit: ExitStatus,
        duration: Duration,
    },
    Failed {
        job: JobId,
        host: Arc<str>,
        class: ErrorClass,
        message: String,
        duration: Duration,
    },
    /// A free-form engine message for the live log (never contains secrets).
    Log {
        level: LogLevel,
        message: String,
    },
    JobDone {
        job: JobId,
        ok: usize,
        failed: usize,
        duration: Duration,
    },
}

/// Severity of a log line.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

/// Receives engine events (usable from tokio with `.recv().await` or from plain threads with
/// `.blocking_recv()`).
pub type EventReceiver = tokio::sync::mpsc::UnboundedReceiver<Event>;
/// Sends engine events.
pub type EventSender = tokio::sync::mpsc::UnboundedSender<Event>;

/// How unknown host keys are treated. A changed key is refused under every policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum HostKeyPolicy {
    /// Refuse unknown keys.
    #[default]
    Strict,
    /// Accept and record unknown keys.
    AcceptNew,
    /// Ask the operator (a dialog in the console, a prompt on a terminal).
    Ask,
}

/// A question about an unknown host key.
#[derive(Debug, Clone)]
pub struct HostKeyQuestion {
    pub host: Arc<str>,
    pub address: String,
    pub port: u16,
    /// Key type as OpenSSH names it, e.g. `ED25519`.
    pub key_type: String,
    /// As OpenSSH prints it: `SHA256:base64-without-padding`.
    pub fingerprint: String,
}

/// The operator's answer about an unknown host key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostKeyAnswer {
    AcceptOnce,
    AcceptAndSave,
    Reject,
}

/// What kind of secret is asked for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SecretKind {
    /// Login password for `user@host` (asked once per user).
    Password { user: String },
    /// Passphrase of an identity file.
    Passphrase { key_file: PathBuf },
    /// sudo password of login user `user`: asked when sudo first prompts, at most once per
    /// engine for that user (again in a later job only after sudo rejected it), kept in memory.
    Sudo { user: String },
}

/// Asks the operator things the engine cannot decide. Called from worker threads; blocks until
/// answered. Faces implement it (a tty prompt on the command line, a dialog in the console).
pub trait Prompter: Send + Sync {
    fn host_key(&self, question: &HostKeyQuestion) -> HostKeyAnswer;
    /// Returns `None` when the operator declines or no terminal can ask.
    fn secret(&self, kind: &SecretKind, prompt: &str) -> Option<Secret>;
}

/// A secret kept only in memory; its `Debug` never shows the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Self {
        Secret(value)
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// A prompter that never asks: rejects unknown keys and has no secrets (for scripts and tests).
#[derive(Debug, Default)]
pub struct NoPrompter;

impl Prompter for NoPrompter {
    fn host_key(&self, _question: &HostKeyQuestion) -> HostKeyAnswer {
        HostKeyAnswer::Reject
    }
    fn secret(&self, _kind: &SecretKind, _prompt: &str) -> Option<Secret> {
        None
    }
}

/// Engine-wide settings.
#[derive(Clone)]
pub struct EngineConfig {
    pub host_key_policy: HostKeyPolicy,
    /// known_hosts files to read; new keys are appended to the first.
    pub known_hosts: Vec<PathBuf>,
    /// Held sessions idle longer than this are closed.
    pub idle_timeout: Duration,
    /// SSH keepalive interval for held sessions.
    pub keepalive: Duration,
    /// Where run folders go (`<runs_dir>/<time>-<job>/<host>.out|.err`); `None` keeps none.
    pub runs_dir: Option<PathBuf>,
    /// The operation log file; `None` records nothing.
    pub oplog: Option<PathBuf>,
    pub prompter: Arc<dyn Prompter>,
}

impl std::fmt::Debug for EngineConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineConfig")
            .field("host_key_policy", &self.host_key_policy)
            .field("known_hosts", &self.known_hosts)
            .field("runs_dir", &self.runs_dir)
            .field("oplog", &self.oplog)
            .finish_non_exhaustive()
    }
}

pub mod runfolder;
pub mod scheduler;
mod sudo;
pub mod target;
mod worker;

pub use scheduler::{Engine, EngineStats};
pub use target::resolve_targets;
