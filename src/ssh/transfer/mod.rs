//! File transfers over SFTP on an already authenticated session.
//!
//! The engine's worker thread owns the host's `ssh2::Session` and calls [`upload`] or
//! [`download`] with the session in blocking mode with a timeout; everything here runs on that
//! thread (SFTP, and the small exec channels for `sha256sum` and the temp-file janitor).
//!
//! Safety rules this module keeps:
//! - **Uploads are atomic per file**: bytes go to `.NAME.fleetdeck-tmp-TOKEN` in the target
//!   directory, which is renamed over the target (`posix-rename@openssh.com`) only once closed
//!   (and verified, when asked). On failure or cancel the temp file is removed; if the
//!   connection itself dies, a detached remote janitor removes it (see `remote.rs`).
//! - **Downloads never write outside DEST**: host and remote names are checked
//!   ([`names`]), remote symlinks are never followed below the named path, local files are
//!   written to a temp name and renamed into place.
//! - **Memory is flat**: files are streamed in [`CHUNK`]-sized calls, never loaded whole.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::contract::ErrorClass;
pub use crate::contract::{DownloadSpec, Naming, Overwrite, SmallFiles, SyncOptions, UploadSpec};

mod download;
pub use download::PullLimits;
pub mod names;
mod remote;
mod upload;

/// Bytes per SFTP read/write call. libssh2 pipelines the requests of one call, so large calls
/// are what makes SFTP as fast as OpenSSH (SSH-NOTES: 8 KiB ≈ 75 MB/s, 256 KiB–1 MiB ≈ 400 MB/s).
pub const CHUNK: usize = 1024 * 1024;

/// What one host's transfer did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct TransferReport {
    /// Files written (uploaded or downloaded).
    pub files: u64,
    /// Payload bytes written.
    pub bytes: u64,
    /// Targets left alone on purpose, each with its reason (`/srv/a: exists (overwrite=never)`).
    pub skipped: Vec<String>,
    /// Hostile or unsafe remote entries that were refused, each with its reason.
    pub refused: Vec<String>,
    /// sha256 (hex) of the file when exactly one file was transferred and hashed (files are
    /// hashed while streaming when `verify` is asked).
    pub sha256: Option<String>,
    /// `Some(true)` when every transferred file's remote sha256 matched; `None` when not asked
    /// or the host has no `sha256sum`. A mismatch is an error, never `Some(false)` in an `Ok`.
    pub verified: Option<bool>,
    /// Remote paths written (uploads) or read (downloads), at most [`MAX_LISTED`]; for the
    /// operation log and the closing summary.
    pub paths: Vec<String>,
    /// The local side of each entry of `paths`: read (uploads) or written (downloads).
    pub local_paths: Vec<String>,
    /// sha256 (hex) of each entry of `paths` when hashed (`verify`), else empty.
    pub hashes: Vec<String>,
    /// Files `push --sync` left alone because they were already the same.
    pub unchanged: u64,
    /// Remote entries `push --sync --delete` removed (a directory counts once).
    pub deleted: u64,
    /// The first [`MAX_LISTED`] of them.
    pub deleted_paths: Vec<String>,
    /// Bytes `--resume` kept from partial temp files of an earlier push (not sent again).
    pub resumed_bytes: u64,
    /// Files of `files` sent in one tar stream (the small files, where the host has `tar`).
    #[serde(skip)]
    pub tar_files: u64,
}

/// How many written paths a report lists.
pub const MAX_LISTED: usize = 50;

/// Why a transfer failed on one host. Messages name the path and what was being done.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    #[error("cancelled")]
    Cancelled,
    /// The session timeout passed while waiting for the host.
    #[error("timed out {what}")]
    Timeout { what: String },
    /// The SSH transport broke (connection lost, peer gone). The session is unusable.
    #[error("connection lost {what}: {message}")]
    Protocol { what: String, message: String },
    /// The remote side refused an operation (SFTP status: no such file, permission denied, …).
    #[error("{what}: {message}")]
    Remote { what: String, message: String },
    /// A local file or directory could not be read or written.
    #[error("{what}: {source}")]
    Local {
        what: String,
        #[source]
        source: io::Error,
    },
    /// The data arrived but its sha256 differs from the remote one.
    #[error(
        "sha256 mismatch for {path}: the bytes moved hash to {local}, the host's file to {remote} \
         (changed during the transfer, or corrupted)"
    )]
    Mismatch {
        path: String,
        local: String,
        remote: String,
    },
    /// The request cannot work as given (directory without recursive, bad remote path…).
    #[error("{0}")]
    Invalid(String),
}

impl TransferError {
    /// The error class faces and the operation log use.
    pub fn class(&self) -> ErrorClass {
        match self {
            TransferError::Cancelled => ErrorClass::Cancelled,
            TransferError::Timeout { .. } => ErrorClass::Timeout,
            TransferError::Protocol { .. } => ErrorClass::Protocol,
            TransferError::Remote { .. }
            | TransferError::Local { .. }
            | TransferError::Mismatch { .. }
            | TransferError::Invalid(_) => ErrorClass::Transfer,
        }
    }

    /// True when the session can no longer be trusted (the engine should drop it).
    pub fn session_broken(&self) -> bool {
        matches!(
            self,
            TransferError::Timeout { .. } | TransferError::Protocol { .. }
        )
    }

    fn local(what: impl Into<String>, source: io::Error) -> Self {
        TransferError::Local {
            what: what.into(),
            source,
        }
    }
}

/// libssh2's "timed out" error code.
const LIBSSH2_ERROR_TIMEOUT: i32 = -9;
/// libssh2's "SFTP protocol error" (the server answered with a failure status).
const LIBSSH2_ERROR_SFTP_PROTOCOL: i32 = -31;
/// libssh2's "channel request denied" / "channel failure" (exec refused, not a broken link).
const LIBSSH2_ERROR_CHANNEL_REQUEST_DENIED: i32 = -22;
const LIBSSH2_ERROR_CHANNEL_FAILURE: i32 = -21;

/// SFTP status code for "no such file".
const SFTP_NO_SUCH_FILE: i32 = 2;

/// Classifies an ssh2 error that happened while doing `what`.
fn ssh_error(what: impl Into<String>, e: &ssh2::Error) -> TransferError {
    let what = what.into();
    match e.code() {
        ssh2::ErrorCode::SFTP(_) => TransferError::Remote {
            what,
            message: sftp_message(e),
        },
        ssh2::ErrorCode::Session(LIBSSH2_ERROR_TIMEOUT) => TransferError::Timeout { what },
        ssh2::ErrorCode::Session(
            LIBSSH2_ERROR_SFTP_PROTOCOL
            | LIBSSH2_ERROR_CHANNEL_REQUEST_DENIED
            | LIBSSH2_ERROR_CHANNEL_FAILURE,
        ) => TransferError::Remote {
            what,
            message: e.message().to_string(),
        },
        ssh2::ErrorCode::Session(_) => TransferError::Protocol {
            what,
            message: e.message().to_string(),
        },
    }
}

/// The ssh2 error inside an `io::Error` from `Read`/`Write` on an SFTP file, classified.
fn io_ssh_error(what: impl Into<String>, e: &io::Error) -> TransferError {
    if let Some(inner) = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<ssh2::Error>())
    {
        return ssh_error(what, inner);
    }
    if e.kind() == io::ErrorKind::TimedOut {
        return TransferError::Timeout { what: what.into() };
    }
    TransferError::Protocol {
        what: what.into(),
        message: e.to_string(),
    }
}

/// Readable text for an SFTP status code (ssh2's own messages are terse).
fn sftp_message(e: &ssh2::Error) -> String {
    match e.code() {
        ssh2::ErrorCode::SFTP(2) => "no such file or directory".into(),
        ssh2::ErrorCode::SFTP(3) => "permission denied".into(),
        ssh2::ErrorCode::SFTP(4) => "failure (exists, not empty, or not permitted)".into(),
        ssh2::ErrorCode::SFTP(8) => "operation not supported by the server".into(),
        ssh2::ErrorCode::SFTP(11) => "already exists".into(),
        ssh2::ErrorCode::SFTP(14) => "no space left on the remote filesystem".into(),
        ssh2::ErrorCode::SFTP(15) => "remote quota exceeded".into(),
        ssh2::ErrorCode::SFTP(n) => format!("{} (SFTP status {n})", e.message()),
        ssh2::ErrorCode::Session(_) => e.message().to_string(),
    }
}

/// True when `e` is SFTP's "no such file".
fn is_not_found(e: &ssh2::Error) -> bool {
    e.code() == ssh2::ErrorCode::SFTP(SFTP_NO_SUCH_FILE)
}

/// Returns `Err(Cancelled)` once the operator cancelled.
fn check_cancel(cancel: &AtomicBool) -> Result<(), TransferError> {
    if cancel.load(Ordering::Relaxed) {
        Err(TransferError::Cancelled)
    } else {
        Ok(())
    }
}

/// Resolves a remote path as the operator typed it: absolute stays, `~` and `~/x` and relative
/// paths are under `home` (the SFTP server's starting directory, the login directory).
pub fn resolve_remote(home: &Path, typed: &str) -> PathBuf {
    if typed.is_empty() || typed == "~" || typed == "." {
        return home.to_path_buf();
    }
    if let Some(rest) = typed.strip_prefix("~/") {
        return home.join(rest);
    }
    if typed.starts_with('/') {
        return PathBuf::from(typed);
    }
    home.join(typed)
}

/// A path for messages: lossy UTF-8 with control characters escaped (remote names are
/// untrusted and must not reach the operator's terminal raw).
pub fn shown(path: &Path) -> String {
    names::escape_for_display(&path.to_string_lossy())
}

/// Sends `spec.sources` to `spec.remote` on the host `sess` is connected to.
///
/// `progress(done, total)` is called after every chunk (the caller throttles); `cancel` is
/// checked before every chunk.
pub fn upload(
    sess: &ssh2::Session,
    spec: &UploadSpec,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<TransferReport, TransferError> {
    upload::run(sess, spec, cancel, progress)
}

/// Fetches `spec.remote` from the host `sess` is connected to (inventory name `host`) into
/// `spec.dest` (`DEST/<host>/…` or `DEST/name.<host>`). Nothing is written outside `spec.dest`.
pub fn download(
    sess: &ssh2::Session,
    host: &str,
    spec: &DownloadSpec,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<TransferReport, TransferError> {
    download_with_limits(sess, host, spec, PullLimits::default(), cancel, progress)
}

/// [`download`] with other bounds on what the server may list (tests use small ones).
pub fn download_with_limits(
    sess: &ssh2::Session,
    host: &str,
    spec: &DownloadSpec,
    limits: PullLimits,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<TransferReport, TransferError> {
    download::run(sess, host, spec, limits, cancel, progress)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_remote_paths() {
        let home = Path::new("/home/ops");
        assert_eq!(resolve_remote(home, "/etc/x"), PathBuf::from("/etc/x"));
        assert_eq!(resolve_remote(home, "x/y"), PathBuf::from("/home/ops/x/y"));
        assert_eq!(resolve_remote(home, "~/x"), PathBuf::from("/home/ops/x"));
        assert_eq!(resolve_remote(home, "~"), PathBuf::from("/home/ops"));
        assert_eq!(resolve_remote(home, ""), PathBuf::from("/home/ops"));
    }

    #[test]
    fn error_classes() {
        assert_eq!(TransferError::Cancelled.class(), ErrorClass::Cancelled);
        assert_eq!(
            TransferError::Timeout { what: "x".into() }.class(),
            ErrorClass::Timeout
        );
        assert_eq!(
            TransferError::Protocol {
                what: "x".into(),
                message: "y".into()
            }
            .class(),
            ErrorClass::Protocol
        );
        assert_eq!(
            TransferError::Invalid("x".into()).class(),
            ErrorClass::Transfer
        );
        let timeout = ssh2::Error::new(ssh2::ErrorCode::Session(-9), "timed out");
        assert!(matches!(
            ssh_error("w", &timeout),
            TransferError::Timeout { .. }
        ));
        let denied = ssh2::Error::new(ssh2::ErrorCode::SFTP(3), "denied");
        let err = ssh_error("writing /x", &denied);
        assert_eq!(err.to_string(), "writing /x: permission denied");
        let gone = ssh2::Error::new(ssh2::ErrorCode::Session(-43), "Failure while receiving");
        assert!(ssh_error("w", &gone).session_broken());
    }
}
