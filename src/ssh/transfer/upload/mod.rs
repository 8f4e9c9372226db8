//! Sending local files and trees: plan locally, then write each file to a temp name in its
//! target directory and rename it over the target.

mod all;
mod lanes;
mod place;
mod plan;
mod resume;
mod sync;
mod tar;
mod write;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use ssh2::{FileStat, Sftp};

use self::plan::{make_plan, FileItem, Plan};
use self::resume::resume_token;
use super::names::{temp_name, token};
use super::remote::{remove_in_background, Janitor, PosixRenamer};
use super::{
    check_cancel, is_not_found, resolve_remote, shown, ssh_error, Overwrite, TransferError,
    TransferReport, UploadSpec, CHUNK,
};

/// Bytes kept in flight per upload: refilled from the local file whenever less than
/// [`CHUNK`] is unacknowledged, so 1–2 MiB of requests are always pipelined.
const WINDOW: usize = 2 * CHUNK;

/// Mode bits for files and directories that keep no permissions from the source.
const DEFAULT_UMASK: u32 = 0o022;

/// Stat that maps "no such file" to `None`.
fn stat_opt(sftp: &Sftp, path: &Path, follow: bool) -> Result<Option<FileStat>, TransferError> {
    let result = if follow {
        sftp.stat(path)
    } else {
        sftp.lstat(path)
    };
    match result {
        Ok(st) => Ok(Some(st)),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(ssh_error(format!("looking at {}", shown(path)), &e)),
    }
}

/// The overwriting rename, opened on first use.
enum Renamer<'a> {
    Unopened,
    Posix(PosixRenamer<'a>),
    /// The server has no `posix-rename@openssh.com`: plain SFTP rename with a fallback.
    Unavailable,
}

/// State shared by every file of one upload.
struct Ctx<'a> {
    sess: &'a ssh2::Session,
    sftp: Sftp,
    spec: &'a UploadSpec,
    cancel: &'a AtomicBool,
    token: String,
    known_dirs: HashSet<PathBuf>,
    renamer: Renamer<'a>,
    /// Target directories listed ahead (sync, trees); files elsewhere are looked at one by one.
    listing: sync::Listing,
    buf: Vec<u8>,
    done: u64,
    total: u64,
    all_verified: bool,
    any_unverified: bool,
    /// Bytes kept from resumed partial copies.
    resumed: u64,
    /// Second links to replaced large files, removed in the background at the end.
    asides: Vec<PathBuf>,
    /// The owner of files this session creates, once seen.
    own_ids: Option<(u32, u32)>,
}

impl Ctx<'_> {
    /// This job's temp name for `target`.
    fn temp_path(&self, target: &Path) -> PathBuf {
        let parent = target.parent().unwrap_or(Path::new("/"));
        parent.join(temp_name(
            target.file_name().unwrap_or_default(),
            &self.token,
        ))
    }

    /// Whether `item` is sent: `Ok(existing target)`, or `Err(why it is left alone)` by the
    /// overwrite policy.
    fn decide(
        &mut self,
        item: &FileItem,
    ) -> Result<Result<Option<FileStat>, String>, TransferError> {
        check_cancel(self.cancel)?;
        let target = &item.remote;
        let existing = self.listing.lookup(&self.sftp, target)?;
        if let Some(st) = &existing {
            if st.is_dir() {
                return Err(TransferError::Remote {
                    what: format!("writing {}", shown(target)),
                    message: "is a directory".into(),
                });
            }
            match self.spec.overwrite {
                Overwrite::Always => {}
                Overwrite::Never => {
                    return Ok(Err(format!("{}: exists (overwrite=never)", shown(target))))
                }
                Overwrite::IfDifferent => {
                    if st.size == Some(item.size) && st.mtime == Some(item.mtime) {
                        return Ok(Err(format!(
                            "{}: unchanged, same size and mtime (overwrite=if-different)",
                            shown(target)
                        )));
                    }
                }
            }
        }
        Ok(Ok(existing))
    }

    /// Sends one file over `existing` (what [`Ctx::decide`] found); returns its sha256 when
    /// computed.
    fn send(
        &mut self,
        item: &FileItem,
        existing: Option<&FileStat>,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<Option<String>, TransferError> {
        let target = &item.remote;
        let (tmp, resume) = if self.spec.resume {
            let parent = target.parent().unwrap_or(Path::new("/"));
            let name = target.file_name().unwrap_or_default();
            let tmp = parent.join(temp_name(name, &resume_token(item)));
            let resume = self.resumable(item, &tmp)?;
            (tmp, resume)
        } else {
            (self.temp_path(target), None)
        };
        self.resumed += resume.as_ref().map_or(0, |r| r.offset);
        let result = self.write_temp(item, &tmp, existing, resume, progress);
        let result = result.and_then(|hash| {
            check_cancel(self.cancel)?;
            self.set_aside(target, existing);
            self.replace(&tmp, target, existing.is_some())?;
            Ok(hash)
        });
        match result {
            Ok(hash) => Ok(hash),
            Err(e) => {
                // A resumable copy is kept for the next `--resume` push (unless it is wrong).
                let keep = self.spec.resume && !matches!(e, TransferError::Mismatch { .. });
                if !e.session_broken() && !keep {
                    let _ = self.sftp.unlink(&tmp);
                }
                Err(e)
            }
        }
    }
}

/// `--delete` into `/` or the login directory itself would remove everything else there.
fn check_delete(spec: &UploadSpec, plan: &Plan, home: &Path) -> Result<(), TransferError> {
    if !spec.sync.is_some_and(|o| o.delete) {
        return Ok(());
    }
    match plan
        .dirs
        .iter()
        .find(|d| d.remote == Path::new("/") || d.remote == home)
    {
        Some(dir) => Err(TransferError::Invalid(format!(
            "refusing --delete in {}: it would remove everything else there (name a subdirectory)",
            shown(&dir.remote)
        ))),
        None => Ok(()),
    }
}

/// The janitor for this job's temp files in the directories the plan writes into.
fn start_janitor(sess: &ssh2::Session, plan: &Plan, token: &str) -> Option<Janitor> {
    let mut target_dirs: Vec<&Path> = plan
        .files
        .iter()
        .filter_map(|f| f.remote.parent())
        .collect();
    target_dirs.sort();
    target_dirs.dedup();
    (!plan.files.is_empty()).then(|| Janitor::start(sess, &target_dirs, token))
}

pub(super) fn run(
    sess: &ssh2::Session,
    spec: &UploadSpec,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<TransferReport, TransferError> {
    if spec.sources.is_empty() {
        return Err(TransferError::Invalid(
            "nothing to send: no local files given".into(),
        ));
    }
    check_cancel(cancel)?;
    let sftp = sess.sftp().map_err(|e| ssh_error("starting SFTP", &e))?;
    let home = sftp
        .realpath(Path::new("."))
        .map_err(|e| ssh_error("finding the login directory", &e))?;
    let remote = resolve_remote(&home, &spec.remote);
    let remote_stat = stat_opt(&sftp, &remote, true)?;
    let plan = make_plan(spec, &remote, remote_stat.as_ref(), cancel)?;
    check_delete(spec, &plan, &home)?;

    let mut report = TransferReport {
        skipped: plan.skipped.clone(),
        ..TransferReport::default()
    };
    let job_token = token();
    let janitor = start_janitor(sess, &plan, &job_token);

    let mut ctx = Ctx {
        sess,
        sftp,
        spec,
        cancel,
        token: job_token,
        known_dirs: HashSet::new(),
        renamer: Renamer::Unopened,
        listing: sync::Listing::default(),
        buf: vec![0; WINDOW],
        done: 0,
        total: plan.total,
        all_verified: true,
        any_unverified: false,
        resumed: 0,
        asides: Vec::new(),
        own_ids: None,
    };
    if spec.sync.is_some() || plan.files.len() > 1 {
        ctx.listing = sync::list_targets(&ctx, &plan)?;
    }
    progress(0, ctx.total);
    let result = all::send_all(&mut ctx, &plan, &mut report, progress);
    if !ctx.asides.is_empty() && !result.as_ref().is_err_and(TransferError::session_broken) {
        remove_in_background(sess, &ctx.asides);
    }
    if let Some(janitor) = janitor {
        janitor.finish(result.is_err());
    }
    result?;
    report.resumed_bytes = ctx.resumed;

    if spec.verify && report.files > 0 {
        if ctx.any_unverified {
            report
                .skipped
                .push("sha256 not verified: the host has no sha256sum".into());
        }
        report.verified = if ctx.any_unverified {
            None
        } else {
            Some(ctx.all_verified)
        };
    }
    Ok(report)
}
