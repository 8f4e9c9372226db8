//! Sending local files and trees: plan locally, then write each file to a temp name in its
//! target directory and rename it over the target.

use std::collections::HashSet;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use sha2::{Digest, Sha256};
use ssh2::{FileStat, OpenFlags, OpenType, RenameFlags, Sftp};

use super::names::{temp_name, token};
use super::remote::{remote_sha256, Janitor, PosixRenamer};
use super::{
    check_cancel, is_not_found, resolve_remote, shown, ssh_error, TransferError, TransferReport,
    UploadSpec, CHUNK, MAX_LISTED,
};
use crate::ssh::transfer::{io_ssh_error, Overwrite};

/// Bytes kept in flight per upload: refilled from the local file whenever less than
/// [`CHUNK`] is unacknowledged, so 1–2 MiB of requests are always pipelined.
const WINDOW: usize = 2 * CHUNK;

/// Mode bits for files and directories that keep no permissions from the source.
const DEFAULT_UMASK: u32 = 0o022;

/// A local file and where it goes.
struct FileItem {
    local: PathBuf,
    remote: PathBuf,
    size: u64,
    mode: u32,
    atime: u64,
    mtime: u64,
}

/// A directory to create remotely (mode and times applied at the end with keep_perms).
struct DirItem {
    remote: PathBuf,
    mode: u32,
    atime: u64,
    mtime: u64,
}

#[derive(Default)]
struct Plan {
    dirs: Vec<DirItem>,
    files: Vec<FileItem>,
    skipped: Vec<String>,
    total: u64,
}

fn timestamp(secs: i64) -> u64 {
    u64::try_from(secs).unwrap_or(0)
}

/// The name a source is known by remotely (`dir/.` and `..` resolved through the filesystem).
fn source_name(src: &Path) -> Result<std::ffi::OsString, TransferError> {
    if let Some(name) = src.file_name() {
        return Ok(name.to_os_string());
    }
    let real = fs::canonicalize(src)
        .map_err(|e| TransferError::local(format!("reading {}", src.display()), e))?;
    real.file_name()
        .map(std::ffi::OsStr::to_os_string)
        .ok_or_else(|| {
            TransferError::Invalid(format!("cannot send {}: it has no name", src.display()))
        })
}

/// Walks `dir` (already mapped to `remote`) into the plan. Symlinks to files are followed,
/// symlinks to directories and special files are skipped with a reason.
fn walk(
    dir: &Path,
    remote: &Path,
    plan: &mut Plan,
    cancel: &AtomicBool,
) -> Result<(), TransferError> {
    check_cancel(cancel)?;
    let mut entries: Vec<fs::DirEntry> = fs::read_dir(dir)
        .map_err(|e| TransferError::local(format!("reading directory {}", dir.display()), e))?
        .collect::<Result<_, _>>()
        .map_err(|e| TransferError::local(format!("reading directory {}", dir.display()), e))?;
    entries.sort_by_key(fs::DirEntry::file_name);
    for entry in entries {
        let path = entry.path();
        let target = remote.join(entry.file_name());
        let lmd = fs::symlink_metadata(&path)
            .map_err(|e| TransferError::local(format!("reading {}", path.display()), e))?;
        let md = if lmd.file_type().is_symlink() {
            match fs::metadata(&path) {
                Ok(md) if md.is_file() => md,
                Ok(md) if md.is_dir() => {
                    plan.skipped.push(format!(
                        "{}: symlink to a directory, not followed",
                        path.display()
                    ));
                    continue;
                }
                Ok(_) => {
                    plan.skipped.push(format!(
                        "{}: symlink to a special file, skipped",
                        path.display()
                    ));
                    continue;
                }
                Err(_) => {
                    plan.skipped
                        .push(format!("{}: broken symlink, skipped", path.display()));
                    continue;
                }
            }
        } else {
            lmd
        };
        if md.is_dir() {
            plan.dirs.push(DirItem {
                remote: target.clone(),
                mode: md.mode() & 0o7777,
                atime: timestamp(md.atime()),
                mtime: timestamp(md.mtime()),
            });
            walk(&path, &target, plan, cancel)?;
        } else if md.is_file() {
            plan.total += md.len();
            plan.files.push(FileItem {
                local: path,
                remote: target,
                size: md.len(),
                mode: md.mode() & 0o7777,
                atime: timestamp(md.atime()),
                mtime: timestamp(md.mtime()),
            });
        } else {
            plan.skipped.push(format!(
                "{}: not a regular file or directory, skipped",
                path.display()
            ));
        }
    }
    Ok(())
}

/// Maps the sources onto the remote side.
fn make_plan(
    spec: &UploadSpec,
    remote: &Path,
    remote_stat: Option<&FileStat>,
    cancel: &AtomicBool,
) -> Result<Plan, TransferError> {
    let remote_is_dir = remote_stat.is_some_and(FileStat::is_dir);
    let remote_exists = remote_stat.is_some();
    let into_dir = remote_is_dir || spec.remote.ends_with('/') || spec.sources.len() > 1;
    let mut plan = Plan::default();
    for src in &spec.sources {
        let md = fs::metadata(src)
            .map_err(|e| TransferError::local(format!("reading {}", src.display()), e))?;
        if md.is_dir() {
            if !spec.recursive {
                return Err(TransferError::Invalid(format!(
                    "{} is a directory (use --recursive to send it)",
                    src.display()
                )));
            }
            if remote_exists && !remote_is_dir {
                return Err(TransferError::Invalid(format!(
                    "cannot send directory {} to {}: it exists and is not a directory",
                    src.display(),
                    shown(remote)
                )));
            }
            let contents_only = src.as_os_str().as_bytes().ends_with(b"/");
            let target = if contents_only {
                remote.to_path_buf()
            } else {
                remote.join(source_name(src)?)
            };
            plan.dirs.push(DirItem {
                remote: target.clone(),
                mode: md.mode() & 0o7777,
                atime: timestamp(md.atime()),
                mtime: timestamp(md.mtime()),
            });
            walk(src, &target, &mut plan, cancel)?;
        } else if md.is_file() {
            if spec.sources.len() > 1 && remote_exists && !remote_is_dir {
                return Err(TransferError::Invalid(format!(
                    "cannot send several files to {}: it exists and is not a directory",
                    shown(remote)
                )));
            }
            let target = if into_dir {
                remote.join(source_name(src)?)
            } else {
                remote.to_path_buf()
            };
            plan.total += md.len();
            plan.files.push(FileItem {
                local: src.clone(),
                remote: target,
                size: md.len(),
                mode: md.mode() & 0o7777,
                atime: timestamp(md.atime()),
                mtime: timestamp(md.mtime()),
            });
        } else {
            return Err(TransferError::Invalid(format!(
                "{} is not a regular file or directory",
                src.display()
            )));
        }
    }
    Ok(plan)
}

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

/// Fills `buf` from `reader` as far as it goes (large SFTP writes are what make it fast).
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
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
    buf: Vec<u8>,
    done: u64,
    total: u64,
    all_verified: bool,
    any_unverified: bool,
}

impl Ctx<'_> {
    /// `mkdir -p`: creates `dir` and missing parents (0755 before umask; 0700 while a kept
    /// mode is still to be applied, so read-only modes do not block filling them).
    fn ensure_dir(&mut self, dir: &Path) -> Result<(), TransferError> {
        if self.known_dirs.contains(dir) {
            return Ok(());
        }
        match stat_opt(&self.sftp, dir, true)? {
            Some(st) if st.is_dir() => {}
            Some(_) => {
                return Err(TransferError::Remote {
                    what: format!("creating directory {}", shown(dir)),
                    message: "exists and is not a directory".into(),
                })
            }
            None => {
                if let Some(parent) = dir.parent() {
                    if parent != dir && !parent.as_os_str().is_empty() {
                        self.ensure_dir(parent)?;
                    }
                }
                let mode = if self.spec.keep_perms { 0o700 } else { 0o755 };
                if let Err(e) = self.sftp.mkdir(dir, mode) {
                    // Another writer may have created it meanwhile.
                    if !stat_opt(&self.sftp, dir, true)?.is_some_and(|st| st.is_dir()) {
                        return Err(ssh_error(format!("creating directory {}", shown(dir)), &e));
                    }
                }
            }
        }
        self.known_dirs.insert(dir.to_path_buf());
        Ok(())
    }

    /// Renames `tmp` over `target`, replacing it atomically where the server allows.
    fn replace(
        &mut self,
        tmp: &Path,
        target: &Path,
        target_exists: bool,
    ) -> Result<(), TransferError> {
        let what = || format!("renaming into place {}", shown(target));
        if matches!(self.renamer, Renamer::Unopened) {
            self.renamer =
                PosixRenamer::open(self.sess).map_or(Renamer::Unavailable, Renamer::Posix);
        }
        if let Renamer::Posix(renamer) = &self.renamer {
            match renamer.rename(tmp, target) {
                Ok(()) => return Ok(()),
                // 8 = SSH_FX_OP_UNSUPPORTED: the server lacks posix-rename; fall back below.
                Err(e) if e.code() == ssh2::ErrorCode::SFTP(8) => {
                    self.renamer = Renamer::Unavailable;
                }
                Err(e) => return Err(ssh_error(what(), &e)),
            }
        }
        let flags = Some(RenameFlags::OVERWRITE | RenameFlags::ATOMIC | RenameFlags::NATIVE);
        match self.sftp.rename(tmp, target, flags) {
            Ok(()) => Ok(()),
            Err(e) if !target_exists => Err(ssh_error(what(), &e)),
            Err(_) => {
                // SFTPv3 servers without posix-rename refuse to replace: move the old target
                // aside, put the new one in place, and restore the old one if that fails.
                let name = target.file_name().unwrap_or_default();
                let aside = target.with_file_name(temp_name(name, &format!("{}-old", self.token)));
                self.sftp
                    .rename(target, &aside, None)
                    .map_err(|e| ssh_error(what(), &e))?;
                if let Err(e) = self.sftp.rename(tmp, target, None) {
                    let _ = self.sftp.rename(&aside, target, None);
                    return Err(ssh_error(what(), &e));
                }
                let _ = self.sftp.unlink(&aside);
                Ok(())
            }
        }
    }

    /// Sends one file. `Ok(None)` when the overwrite policy left the target alone.
    fn send(
        &mut self,
        item: &FileItem,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<Result<Option<String>, String>, TransferError> {
        check_cancel(self.cancel)?;
        let target = &item.remote;
        let existing = stat_opt(&self.sftp, target, false)?;
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
        let parent = target.parent().unwrap_or(Path::new("/"));
        let name = target.file_name().unwrap_or_default();
        let tmp = parent.join(temp_name(name, &self.token));
        let result = self.write_temp(item, &tmp, existing.as_ref(), progress);
        let result = result.and_then(|hash| {
            check_cancel(self.cancel)?;
            self.replace(&tmp, target, existing.is_some())?;
            Ok(hash)
        });
        match result {
            Ok(hash) => Ok(Ok(hash)),
            Err(e) => {
                if !e.session_broken() {
                    let _ = self.sftp.unlink(&tmp);
                }
                Err(e)
            }
        }
    }

    /// Streams `item` into `tmp`, sets its mode and times, verifies it. Returns the sha256 when
    /// it was computed.
    fn write_temp(
        &mut self,
        item: &FileItem,
        tmp: &Path,
        existing: Option<&FileStat>,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<Option<String>, TransferError> {
        let mut local = fs::File::open(&item.local)
            .map_err(|e| TransferError::local(format!("reading {}", item.local.display()), e))?;
        let what = || format!("writing {}", shown(&item.remote));
        let mut remote = self
            .sftp
            .open_mode(
                tmp,
                OpenFlags::WRITE | OpenFlags::EXCLUSIVE,
                0o600,
                OpenType::File,
            )
            .map_err(|e| ssh_error(what(), &e))?;
        let mut hasher = self.spec.verify.then(Sha256::new);
        // A sliding window: libssh2 splits what one write call gets into pipelined SFTP
        // requests and returns as soon as the first is acknowledged; the next call must pass
        // the unacknowledged rest again (libssh2 skips what it already sent) plus new data, so
        // that requests stay in flight instead of draining at every buffer boundary.
        let (mut start, mut end, mut eof) = (0usize, 0usize, false);
        loop {
            check_cancel(self.cancel)?;
            if !eof && end - start < CHUNK {
                self.buf.copy_within(start..end, 0);
                end -= start;
                start = 0;
                let n = read_full(&mut local, &mut self.buf[end..]).map_err(|e| {
                    TransferError::local(format!("reading {}", item.local.display()), e)
                })?;
                if let Some(h) = hasher.as_mut() {
                    h.update(&self.buf[end..end + n]);
                }
                end += n;
                eof = n == 0;
            }
            if start == end {
                break;
            }
            let n = remote
                .write(&self.buf[start..end])
                .map_err(|e| io_ssh_error(what(), &e))?;
            if n == 0 {
                return Err(TransferError::Protocol {
                    what: what(),
                    message: "the SFTP write made no progress".into(),
                });
            }
            start += n;
            self.done += n as u64;
            progress(self.done, self.total.max(self.done));
        }
        remote.close().map_err(|e| ssh_error(what(), &e))?;

        let keep_times = self.spec.keep_perms || self.spec.overwrite == Overwrite::IfDifferent;
        let perm = if self.spec.keep_perms {
            item.mode
        } else if let Some(st) = existing.filter(|st| st.is_file()) {
            st.perm.map_or(0o644, |p| p & 0o7777)
        } else {
            item.mode & 0o777 & !DEFAULT_UMASK
        };
        let attrs = FileStat {
            size: None,
            uid: None,
            gid: None,
            perm: Some(perm),
            atime: keep_times.then_some(item.atime),
            mtime: keep_times.then_some(item.mtime),
        };
        self.sftp
            .setstat(tmp, attrs)
            .map_err(|e| ssh_error(format!("setting mode of {}", shown(tmp)), &e))?;
        if let Some(st) = existing.filter(|st| st.is_file()) {
            // Keep the replaced file's owner when we may (root); ignored otherwise.
            if let (Some(uid), Some(gid)) = (st.uid, st.gid) {
                if let Ok(now) = self.sftp.lstat(tmp) {
                    if now.uid != Some(uid) || now.gid != Some(gid) {
                        let owner = FileStat {
                            size: None,
                            uid: Some(uid),
                            gid: Some(gid),
                            perm: None,
                            atime: None,
                            mtime: None,
                        };
                        let _ = self.sftp.setstat(tmp, owner);
                    }
                }
            }
        }

        let hash = hasher.map(|h| hex::encode(h.finalize()));
        if let Some(local_hash) = &hash {
            check_cancel(self.cancel)?;
            match remote_sha256(self.sess, tmp, item.size)? {
                Some(remote_hash) if &remote_hash == local_hash => {}
                Some(remote_hash) => {
                    self.all_verified = false;
                    return Err(TransferError::Mismatch {
                        path: shown(&item.remote),
                        local: local_hash.clone(),
                        remote: remote_hash,
                    });
                }
                None => self.any_unverified = true,
            }
        }
        Ok(hash)
    }
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

    let mut report = TransferReport {
        skipped: plan.skipped.clone(),
        ..TransferReport::default()
    };
    let job_token = token();
    let mut target_dirs: Vec<&Path> = plan
        .files
        .iter()
        .filter_map(|f| f.remote.parent())
        .collect();
    target_dirs.sort();
    target_dirs.dedup();
    let janitor = if plan.files.is_empty() {
        None
    } else {
        Some(Janitor::start(sess, &target_dirs, &job_token))
    };

    let mut ctx = Ctx {
        sess,
        sftp,
        spec,
        cancel,
        token: job_token,
        known_dirs: HashSet::new(),
        renamer: Renamer::Unopened,
        buf: vec![0; WINDOW],
        done: 0,
        total: plan.total,
        all_verified: true,
        any_unverified: false,
    };
    progress(0, ctx.total);
    let result = send_all(&mut ctx, &plan, &mut report, progress);
    if let Some(janitor) = janitor {
        janitor.finish(result.is_err());
    }
    result?;

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

fn send_all(
    ctx: &mut Ctx<'_>,
    plan: &Plan,
    report: &mut TransferReport,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<(), TransferError> {
    for dir in &plan.dirs {
        check_cancel(ctx.cancel)?;
        ctx.ensure_dir(&dir.remote)?;
    }
    let mut hashes = Vec::new();
    for item in &plan.files {
        if let Some(parent) = item.remote.parent() {
            ctx.ensure_dir(parent)?;
        }
        match ctx.send(item, progress)? {
            Ok(hash) => {
                report.files += 1;
                report.bytes += item.size;
                if report.paths.len() < MAX_LISTED {
                    report.paths.push(shown(&item.remote));
                    report.local_paths.push(item.local.display().to_string());
                    report.hashes.extend(hash.clone());
                }
                hashes.push(hash);
            }
            Err(reason) => {
                ctx.total = ctx.total.saturating_sub(item.size);
                progress(ctx.done, ctx.total);
                report.skipped.push(reason);
            }
        }
    }
    if let [Some(hash)] = hashes.as_slice() {
        report.sha256 = Some(hash.clone());
    }
    // Directory modes and times last: writing files changes mtimes, and a read-only mode
    // would have blocked filling the directory.
    if ctx.spec.keep_perms {
        for dir in plan.dirs.iter().rev() {
            let attrs = FileStat {
                size: None,
                uid: None,
                gid: None,
                perm: Some(dir.mode),
                atime: Some(dir.atime),
                mtime: Some(dir.mtime),
            };
            ctx.sftp
                .setstat(&dir.remote, attrs)
                .map_err(|e| ssh_error(format!("setting mode of {}", shown(&dir.remote)), &e))?;
        }
    }
    Ok(())
}
