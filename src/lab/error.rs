//! The lab's errors and which of them are the operator's to fix.

use std::io;
use std::path::PathBuf;

use super::{files, DEFAULT_BASE_PORT, MAX_HOSTS};

/// Errors of the lab. [`LabError::is_bad_input`] tells which are the operator's to fix
/// (exit status 2).
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error("--hosts must be at least 1 (got 0)")]
    NoHosts,
    #[error("--hosts {0} is too many (at most {MAX_HOSTS})")]
    TooManyHosts(usize),
    #[error("ports {first}-{last} do not fit below 65536; choose a lower --base-port")]
    PortRange { first: u16, last: usize },
    #[error("port {port} on 127.0.0.1 is already in use by another program (host {host} needs it; the fleet needs ports {first}-{last}); choose another --base-port")]
    PortInUse {
        port: u16,
        host: String,
        first: u16,
        last: u16,
    },
    #[error(
        "no free range of {0} ports found on 127.0.0.1 from {DEFAULT_BASE_PORT}; give --base-port"
    )]
    NoFreeRange(usize),
    #[error("lab directory {dir} is not writable: {source}")]
    DirNotWritable { dir: PathBuf, source: io::Error },
    #[error("lab directory {} is not safe: {reason}; choose another --dir", dir.display())]
    UnsafeDir { dir: PathBuf, reason: String },
    #[error(
        "lab directory {dir:?} holds {ch:?}, which sshd_config cannot quote; choose another --dir"
    )]
    BadDir { dir: PathBuf, ch: char },
    #[error("sshd not found at {}: install the Debian package openssh-server (scripts/setup does: apt-get install -y openssh-server)", .0.display())]
    SshdMissing(PathBuf),
    #[error(
        "{} not found: install the Debian package openssh-sftp-server (scripts/setup does)",
        files::SFTP_SERVER
    )]
    SftpServerMissing,
    #[error("{0} not found: install the Debian package openssh-client")]
    ToolMissing(&'static str),
    #[error("no lab fleet in {0} (no lab.json there); start one with: fleetdeck lab up --dir {0}")]
    NotALab(PathBuf),
    #[error("lab host {host}: sshd did not start: {detail} (log: {log})")]
    Start {
        host: String,
        detail: String,
        log: PathBuf,
    },
    #[error("{0}")]
    NeedsRoot(&'static str),
    #[error("--deep needs --bastion (the deep hosts sit behind bastion and bastion2)")]
    DeepNeedsBastion,
    #[error("--sudo-password must be non-empty and hold no newline or ':'")]
    BadSudoPassword,
    #[error("{context}: {source}")]
    Io { context: String, source: io::Error },
}

impl LabError {
    /// True for errors in what the operator asked (exit status 2).
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            Self::NoHosts
                | Self::TooManyHosts(_)
                | Self::PortRange { .. }
                | Self::PortInUse { .. }
                | Self::NoFreeRange(_)
                | Self::DirNotWritable { .. }
                | Self::UnsafeDir { .. }
                | Self::BadDir { .. }
                | Self::NotALab(_)
                | Self::DeepNeedsBastion
                | Self::BadSudoPassword
        )
    }
}

pub(super) fn io_err(context: impl Into<String>) -> impl FnOnce(io::Error) -> LabError {
    let context = context.into();
    move |source| LabError::Io { context, source }
}
