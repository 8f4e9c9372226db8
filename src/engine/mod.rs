//! The engine: jobs on many hosts, run by worker threads that each own one host's libssh2
//! session and keep it between jobs. Workers report [`Event`]s over a channel; the engine
//! knows nothing about terminals.
//!
//! Owned by the engine work (issue 5). The types below are the contract between the engine and
//! its faces (console, command line); extend them rather than forking them.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use crate::contract::{
    DownloadSpec, ErrorClass, ExecSpec, ExitStatus, HostKeyAnswer, HostKeyPolicy, HostKeyQuestion,
    JobId, LogLevel, NoPrompter, Prompter, Secret, SecretKind, ShellSpec, Stream, UploadSpec,
};
pub use crate::inventory::vars::Become;
use crate::inventory::ConnSettings;
pub use crate::ssh::Hop;

/// One host a job runs on, with its connection already resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Inventory name; what events and outputs are keyed by.
    pub name: Arc<str>,
    pub conn: ConnSettings,
    /// Resolved jump hosts, first hop first.
    pub jump: Vec<Hop>,
    /// What the inventory's `ansible_become*` asks for on this host (commands only); the
    /// job's own sudo wins, `--no-become` turns it off.
    pub become_: Option<Become>,
}

impl Target {
    /// The target itself as the last hop of its route.
    pub fn hop(&self) -> Hop {
        Hop {
            name: self.name.clone(),
            conn: self.conn.clone(),
        }
    }
}

/// What a job does on each host.
#[derive(Debug, Clone)]
pub enum JobKind {
    Exec(ExecSpec),
    Upload(UploadSpec),
    Download(DownloadSpec),
    /// An interactive login shell with a pty on every host, over the kept sessions. Typed
    /// input goes in through `Engine::shell_input`; the pty's output arrives as `Stdout`
    /// output events; each host finishes when its shell exits. Fanout bounds how many hosts
    /// connect at once, not how many shells stay open.
    Shell(ShellSpec),
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
    /// The host's output reached the job's cap (`limit` bytes, both streams together): what
    /// follows is counted, neither kept in the run folder nor sent. Sent when the cap is first
    /// crossed (`dropped` = the bytes cut so far) and again with the final count before the
    /// host's `Finished` or `Failed`.
    Truncated {
        job: JobId,
        host: Arc<str>,
        limit: u64,
        dropped: u64,
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

pub(crate) use flow::EventSender;
pub use flow::{
    human_size, parse_size, EventReceiver, DEFAULT_MAX_OUTPUT, OUTPUT_QUEUE_BYTES, PENDING_BYTES,
};

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

mod flow;
pub mod runfolder;
pub mod scheduler;
mod shell_input;
mod sudo;
pub mod target;
mod worker;

pub use scheduler::{Engine, EngineStats};
pub use shell_input::SHELL_INPUT_QUEUE_BYTES;
pub use target::resolve_targets;
