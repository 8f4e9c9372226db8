//! Fetching remote files, trees and globs into `DEST/<host>/…` or `DEST/name.<host>`.
//!
//! The remote side is untrusted: every listed name is checked before it becomes a local path
//! component, symlinks below the named path are never followed (nor created locally), and
//! every local directory below DEST is created by us or checked to be a real directory, so a
//! planted symlink cannot lead a write outside DEST.

mod plan;
mod write;

use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use ssh2::Sftp;

pub use self::plan::PullLimits;
use self::plan::{make_plan, Bounds};
use self::write::{open_dest, open_local_dir};
use super::names::{sanitize_host, token};
use super::{
    check_cancel, resolve_remote, ssh_error, DownloadSpec, Naming, TransferError, TransferReport,
    CHUNK,
};

/// State shared by every file of one download.
struct Ctx<'a> {
    sess: &'a ssh2::Session,
    sftp: Sftp,
    spec: &'a DownloadSpec,
    cancel: &'a AtomicBool,
    base: PathBuf,
    /// `base`, open: every local path below it is reached relative to this.
    base_fd: std::os::fd::OwnedFd,
    token: String,
    buf: Vec<u8>,
    done: u64,
    total: u64,
    any_unverified: bool,
}

pub(super) fn run(
    sess: &ssh2::Session,
    host: &str,
    spec: &DownloadSpec,
    limits: PullLimits,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<TransferReport, TransferError> {
    if spec.dest.as_os_str().is_empty() {
        return Err(TransferError::Invalid("no local directory given".into()));
    }
    check_cancel(cancel)?;
    let host_name = sanitize_host(host);
    let sftp = sess.sftp().map_err(|e| ssh_error("starting SFTP", &e))?;
    let home = sftp
        .realpath(Path::new("."))
        .map_err(|e| ssh_error("finding the login directory", &e))?;
    let typed = spec.remote.trim_end_matches('/');
    let remote = if typed.is_empty() && spec.remote.starts_with('/') {
        PathBuf::from("/")
    } else {
        resolve_remote(&home, typed)
    };
    let plan = make_plan(&sftp, spec, &host_name, &remote, &Bounds { limits, cancel })?;

    // DEST and any missing parents are private like everything fleetdeck creates.
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&spec.dest)
        .map_err(|e| {
            TransferError::local(format!("creating directory {}", spec.dest.display()), e)
        })?;
    let dest_fd = open_dest(&spec.dest)?;
    let (base, base_fd) = match spec.naming {
        Naming::Subdir => (
            spec.dest.join(&host_name),
            open_local_dir(&dest_fd, &spec.dest, Path::new(&host_name))?,
        ),
        Naming::Suffix => (spec.dest.clone(), dest_fd),
    };
    let mut report = TransferReport {
        skipped: plan.skipped,
        refused: plan.refused,
        ..TransferReport::default()
    };
    let mut ctx = Ctx {
        sess,
        sftp,
        spec,
        cancel,
        base,
        base_fd,
        token: token(),
        buf: vec![0; 2 * CHUNK],
        done: 0,
        total: plan.total,
        any_unverified: false,
    };
    progress(0, ctx.total);
    let hashes = ctx.fetch_all(&plan.nodes, &mut report, progress)?;
    if spec.keep_perms {
        ctx.apply_dir_modes(&plan.nodes)?;
    }
    if let [Some(hash)] = hashes.as_slice() {
        report.sha256 = Some(hash.clone());
    }
    if spec.verify && report.files > 0 {
        if ctx.any_unverified {
            report
                .skipped
                .push("sha256 not verified: the host has no sha256sum".into());
        }
        report.verified = if ctx.any_unverified { None } else { Some(true) };
    }
    Ok(report)
}
