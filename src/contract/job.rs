//! Jobs and their outcomes: what a face asks for and what the engine answers, in words every
//! module shares (the operation log records them, the faces color them).

use std::time::Duration;

/// Identifies a job within one engine.
pub type JobId = u64;

/// A command to run on every target.
#[derive(Debug, Clone, Default)]
pub struct ExecSpec {
    pub command: String,
    /// Allocate a pty (so that closing the channel sends SIGHUP to the remote process).
    pub pty: bool,
    /// Wall-clock limit for the command on one host.
    pub timeout: Option<Duration>,
    /// Run through sudo as this user (`root` when `Some("root")`) on every host, whatever the
    /// inventory's `ansible_become*` says. If sudo asks a password, a host's inventory
    /// `ansible_become_password` answers it; otherwise the engine asks the prompter once
    /// ([`SecretKind::Sudo`](super::SecretKind::Sudo)) and answers sudo on every host;
    /// a wrong or missing password fails the host as [`ErrorClass::AuthFailed`]. `None`: the
    /// inventory's become decides per host (unless `no_become`).
    pub sudo_user: Option<String>,
    /// `--no-become`: the inventory's `ansible_become*` does not apply to this job (hosts run
    /// plainly unless `sudo_user` is set, which wins for every host either way).
    pub no_become: bool,
    /// What the command reads on stdin (`run --stdin`, `run --script`), the same bytes for
    /// every host; `None`: stdin ends at once, as with `ssh -n`.
    pub stdin: Option<std::sync::Arc<[u8]>>,
    /// Run hosts in batches (`--batch`), in target order; `None`: all at once (up to fanout).
    pub rolling: Option<Rolling>,
}

/// An interactive login shell with a pty on every target (the console's broadcast, `B`, and
/// `fleetdeck shell`). The pty's terminal type and size; the size changes later through
/// `Engine::shell_resize`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShellSpec {
    /// `TERM` for the remote side (e.g. `xterm-256color`).
    pub term: String,
    pub cols: u16,
    pub rows: u16,
}

/// A number of hosts, or a percentage of the job's hosts (`10`, `25%`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Amount {
    Count(usize),
    Percent(u32),
}

impl Amount {
    /// `N` or `N%` (1–100).
    pub fn parse(s: &str) -> Result<Amount, String> {
        let bad = || format!("{s:?} is not a number of hosts or a percentage (10, 25%)");
        match s.trim().strip_suffix('%') {
            Some(p) => match p.trim().parse::<u32>() {
                Ok(n) if (1..=100).contains(&n) => Ok(Amount::Percent(n)),
                _ => Err(bad()),
            },
            None => s.trim().parse().map(Amount::Count).map_err(|_| bad()),
        }
    }

    /// Hosts out of `total` (a percentage rounds up).
    pub fn of(self, total: usize) -> usize {
        match self {
            Amount::Count(n) => n,
            Amount::Percent(p) => (total * p as usize).div_ceil(100),
        }
    }
}

/// A rolling run: hosts in batches of `batch`, the next batch starting `pause` after the
/// previous one ended; once more than `max_failures` hosts have failed, every later batch is
/// held back (its hosts end as [`ErrorClass::Skipped`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rolling {
    pub batch: Amount,
    pub max_failures: Option<Amount>,
    pub pause: Duration,
}

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
    /// A rolling run held the host back: more hosts than `--max-failures` had failed.
    Skipped,
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
            ErrorClass::Skipped => "skipped",
        }
    }
}

impl std::fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
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

/// Exit status of the process for bad input (usage, inventory, lab arguments).
pub const EXIT_USAGE: u8 = 2;
/// Exit status when interrupted by Ctrl-C (128 + SIGINT), as shells report it.
pub const EXIT_INTERRUPTED: u8 = 130;
/// Exit status when stopped by SIGTERM (128 + 15); the job is cancelled first as for Ctrl-C.
pub const EXIT_TERMINATED: u8 = 143;
