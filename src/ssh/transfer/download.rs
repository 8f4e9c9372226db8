//! Fetching remote files, trees and globs into `DEST/<host>/…` or `DEST/name.<host>`.
//!
//! The remote side is untrusted: every listed name is checked before it becomes a local path
//! component, symlinks below the named path are never followed (nor created locally), and
//! every local directory below DEST is created by us or checked to be a real directory, so a
//! planted symlink cannot lead a write outside DEST.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};
use ssh2::{FileStat, Sftp};

use super::names::{check_remote_name, link_stays_inside, sanitize_host, temp_name, token};
use super::remote::remote_sha256;
use super::{
    check_cancel, io_ssh_error, is_not_found, resolve_remote, shown, ssh_error, DownloadSpec,
    Naming, TransferError, TransferReport, CHUNK, MAX_LISTED,
};

/// libssh2's "no more directory entries" code from `readdir`.
const LIBSSH2_ERROR_FILE: i32 = -16;

/// Characters that make the last component of a remote path a glob.
const GLOB_CHARS: &[char] = &['*', '?', '[', '{'];

/// What will be written, relative to the local base directory.
enum Node {
    Dir {
        local: PathBuf,
        stat: FileStat,
    },
    File {
        local: PathBuf,
        remote: PathBuf,
        stat: FileStat,
    },
}

#[derive(Default)]
struct Plan {
    nodes: Vec<Node>,
    skipped: Vec<String>,
    refused: Vec<String>,
    total: u64,
}

/// Lists a remote directory with the raw names the server sent (not joined, so `..` or `a/b`
/// stay visible to the name check). `.` and `..` entries, which every listing has, are dropped.
fn list_dir(sftp: &Sftp, dir: &Path) -> Result<Vec<(Vec<u8>, FileStat)>, TransferError> {
    let what = || format!("listing {}", shown(dir));
    let mut handle = sftp.opendir(dir).map_err(|e| ssh_error(what(), &e))?;
    let mut entries = Vec::new();
    loop {
        match handle.readdir() {
            Ok((name, stat)) => {
                let raw = name.as_os_str().as_bytes().to_vec();
                if raw != b"." && raw != b".." {
                    entries.push((raw, stat));
                }
            }
            Err(e) if e.code() == ssh2::ErrorCode::Session(LIBSSH2_ERROR_FILE) => break,
            Err(e) => return Err(ssh_error(what(), &e)),
        }
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(entries)
}

fn is_symlink(stat: &FileStat) -> bool {
    stat.file_type().is_symlink()
}

/// Walks a remote directory into the plan, refusing hostile names and never following links.
/// `depth` is how many directories `dir` lies below the fetched root.
fn walk(
    sftp: &Sftp,
    dir: &Path,
    local: &Path,
    depth: usize,
    plan: &mut Plan,
    cancel: &AtomicBool,
) -> Result<(), TransferError> {
    check_cancel(cancel)?;
    for (raw, stat) in list_dir(sftp, dir)? {
        let shown_name = format!(
            "{}/{}",
            shown(dir),
            shown(Path::new(OsStr::from_bytes(&raw)))
        );
        if let Some(reason) = check_remote_name(&raw) {
            plan.refused.push(format!("{shown_name}: {reason}"));
            continue;
        }
        let name = OsStr::from_bytes(&raw);
        let remote = dir.join(name);
        let local = local.join(name);
        if is_symlink(&stat) {
            let target = sftp.readlink(&remote).unwrap_or_default();
            let target_bytes = target.as_os_str().as_bytes();
            if link_stays_inside(target_bytes, depth) {
                plan.skipped.push(format!(
                    "{shown_name}: symlink (-> {}) not followed",
                    shown(&target)
                ));
            } else {
                plan.refused.push(format!(
                    "{shown_name}: symlink pointing outside (-> {}), not followed",
                    shown(&target)
                ));
            }
        } else if stat.is_dir() {
            plan.nodes.push(Node::Dir {
                local: local.clone(),
                stat,
            });
            walk(sftp, &remote, &local, depth + 1, plan, cancel)?;
        } else if stat.is_file() {
            plan.total += stat.size.unwrap_or(0);
            plan.nodes.push(Node::File {
                local,
                remote,
                stat,
            });
        } else {
            plan.skipped
                .push(format!("{shown_name}: not a regular file or directory"));
        }
    }
    Ok(())
}

/// Adds one top-level entry (the named path, or one glob match) to the plan.
fn add_top(
    sftp: &Sftp,
    spec: &DownloadSpec,
    remote: &Path,
    stat: FileStat,
    local: PathBuf,
    plan: &mut Plan,
    cancel: &AtomicBool,
) -> Result<(), TransferError> {
    if stat.is_dir() {
        if !spec.recursive {
            return Err(TransferError::Invalid(format!(
                "{} is a directory (use --recursive to fetch it)",
                shown(remote)
            )));
        }
        plan.nodes.push(Node::Dir {
            local: local.clone(),
            stat,
        });
        walk(sftp, remote, &local, 0, plan, cancel)
    } else if stat.is_file() {
        plan.total += stat.size.unwrap_or(0);
        plan.nodes.push(Node::File {
            local,
            remote: remote.to_path_buf(),
            stat,
        });
        Ok(())
    } else {
        plan.skipped.push(format!(
            "{}: not a regular file or directory",
            shown(remote)
        ));
        Ok(())
    }
}

/// The local name of a top-level entry: `name` (subdir naming) or `name.<host>`.
fn top_local(name: &OsStr, spec: &DownloadSpec, host: &str) -> PathBuf {
    match spec.naming {
        Naming::Subdir => PathBuf::from(name),
        Naming::Suffix => {
            let mut n = name.to_os_string();
            n.push(".");
            n.push(host);
            PathBuf::from(n)
        }
    }
}

fn make_plan(
    sftp: &Sftp,
    spec: &DownloadSpec,
    host: &str,
    remote: &Path,
    cancel: &AtomicBool,
) -> Result<Plan, TransferError> {
    let mut plan = Plan::default();
    let last = remote
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if last.contains(GLOB_CHARS) {
        let parent = remote.parent().unwrap_or(Path::new("/"));
        if parent.to_string_lossy().contains(GLOB_CHARS) {
            return Err(TransferError::Invalid(format!(
                "{}: a glob may only be in the last path component",
                shown(remote)
            )));
        }
        let matcher = globset::GlobBuilder::new(&last)
            .literal_separator(true)
            .build()
            .map_err(|e| TransferError::Invalid(format!("bad glob {last:?}: {e}")))?
            .compile_matcher();
        let want_hidden = last.starts_with('.');
        let mut matched = 0;
        for (raw, stat) in list_dir(sftp, parent)? {
            let name = OsStr::from_bytes(&raw);
            if !matcher.is_match(name) || (raw.first() == Some(&b'.') && !want_hidden) {
                continue;
            }
            matched += 1;
            let path = parent.join(name);
            if let Some(reason) = check_remote_name(&raw) {
                plan.refused.push(format!(
                    "{}/{}: {reason}",
                    shown(parent),
                    shown(Path::new(name))
                ));
                continue;
            }
            // A match the operator's pattern named may be a link to a file; links to anything
            // else are not followed.
            let stat = if is_symlink(&stat) {
                match sftp.stat(&path) {
                    Ok(st) if st.is_file() => st,
                    _ => {
                        plan.refused.push(format!(
                            "{}: symlink to a non-file, not followed",
                            shown(&path)
                        ));
                        continue;
                    }
                }
            } else {
                stat
            };
            if stat.is_dir() && !spec.recursive {
                plan.skipped.push(format!(
                    "{}: directory (use --recursive to fetch it)",
                    shown(&path)
                ));
                continue;
            }
            add_top(
                sftp,
                spec,
                &path,
                stat,
                top_local(name, spec, host),
                &mut plan,
                cancel,
            )?;
        }
        if matched == 0 {
            return Err(TransferError::Remote {
                what: format!("fetching {}", shown(remote)),
                message: "no match".into(),
            });
        }
        return Ok(plan);
    }

    let stat = sftp
        .stat(remote)
        .map_err(|e| ssh_error(format!("fetching {}", shown(remote)), &e))?;
    let name: OsString = match remote.file_name() {
        Some(n) if n != ".." => n.to_os_string(),
        _ => sftp
            .realpath(remote)
            .ok()
            .and_then(|p| p.file_name().map(OsStr::to_os_string))
            .ok_or_else(|| {
                TransferError::Invalid(format!("cannot name a local copy of {}", shown(remote)))
            })?,
    };
    if let Some(reason) = check_remote_name(name.as_bytes()) {
        return Err(TransferError::Invalid(format!(
            "{}: {reason}",
            shown(remote)
        )));
    }
    add_top(
        sftp,
        spec,
        remote,
        stat,
        top_local(&name, spec, host),
        &mut plan,
        cancel,
    )?;
    Ok(plan)
}

/// Creates `dir` (which must lie below `dest`) and any missing parents below `dest`, refusing
/// any existing component that is not a real directory (a symlink could lead outside DEST).
fn ensure_local_dir(dest: &Path, rel: &Path) -> Result<(), TransferError> {
    let mut path = dest.to_path_buf();
    for part in rel.components() {
        let std::path::Component::Normal(part) = part else {
            return Err(TransferError::Invalid(format!(
                "refusing local path {}",
                rel.display()
            )));
        };
        path.push(part);
        match fs::symlink_metadata(&path) {
            Ok(md) if md.is_dir() => {}
            Ok(_) => {
                return Err(TransferError::local(
                    format!("creating directory {}", path.display()),
                    std::io::Error::new(
                        std::io::ErrorKind::AlreadyExists,
                        "exists and is not a directory",
                    ),
                ))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                fs::DirBuilder::new()
                    .mode(0o700)
                    .create(&path)
                    .map_err(|e| {
                        TransferError::local(format!("creating directory {}", path.display()), e)
                    })?;
            }
            Err(e) => {
                return Err(TransferError::local(
                    format!("looking at {}", path.display()),
                    e,
                ))
            }
        }
    }
    Ok(())
}

fn read_retry(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        match reader.read(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}

fn file_times(stat: &FileStat) -> Option<fs::FileTimes> {
    let mtime = SystemTime::UNIX_EPOCH + Duration::from_secs(stat.mtime?);
    let atime = SystemTime::UNIX_EPOCH + Duration::from_secs(stat.atime.unwrap_or(stat.mtime?));
    Some(fs::FileTimes::new().set_modified(mtime).set_accessed(atime))
}

struct Ctx<'a> {
    sess: &'a ssh2::Session,
    sftp: Sftp,
    spec: &'a DownloadSpec,
    cancel: &'a AtomicBool,
    base: PathBuf,
    token: String,
    buf: Vec<u8>,
    done: u64,
    total: u64,
    any_unverified: bool,
}

impl Ctx<'_> {
    /// Fetches one file into `base/local` via a temp file. Returns its sha256 when hashed.
    fn fetch(
        &mut self,
        remote: &Path,
        local: &Path,
        stat: &FileStat,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<(Option<String>, u64), TransferError> {
        check_cancel(self.cancel)?;
        if let Some(parent) = local.parent() {
            ensure_local_dir(&self.base, parent)?;
        }
        let target = self.base.join(local);
        let name = target.file_name().unwrap_or_default().to_os_string();
        let tmp = target.with_file_name(temp_name(&name, &self.token));
        let result = self.fetch_to(remote, &target, &tmp, stat, progress);
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    fn fetch_to(
        &mut self,
        remote: &Path,
        target: &Path,
        tmp: &Path,
        stat: &FileStat,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<(Option<String>, u64), TransferError> {
        let what = || format!("reading {}", shown(remote));
        let mut written = 0u64;
        let mut src = match self.sftp.open(remote) {
            Ok(f) => f,
            Err(e) if is_not_found(&e) => {
                return Err(TransferError::Remote {
                    what: what(),
                    message: "vanished during the fetch".into(),
                })
            }
            Err(e) => return Err(ssh_error(what(), &e)),
        };
        let mut out = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(tmp)
            .map_err(|e| TransferError::local(format!("creating {}", tmp.display()), e))?;
        let mut hasher = self.spec.verify.then(Sha256::new);
        loop {
            check_cancel(self.cancel)?;
            // Always the whole buffer: libssh2 keeps read-ahead requests in flight in
            // proportion to the size asked for, so a shrinking request would drain the pipe.
            let n = read_retry(&mut src, &mut self.buf).map_err(|e| io_ssh_error(what(), &e))?;
            if n == 0 {
                break;
            }
            if let Some(h) = hasher.as_mut() {
                h.update(&self.buf[..n]);
            }
            out.write_all(&self.buf[..n])
                .map_err(|e| TransferError::local(format!("writing {}", tmp.display()), e))?;
            self.done += n as u64;
            written += n as u64;
            progress(self.done, self.total.max(self.done));
        }
        drop(src);
        if self.spec.keep_perms {
            let mode = stat.perm.unwrap_or(0o600) & 0o777;
            out.set_permissions(fs::Permissions::from_mode(mode))
                .map_err(|e| {
                    TransferError::local(format!("setting mode of {}", tmp.display()), e)
                })?;
            if let Some(times) = file_times(stat) {
                out.set_times(times).map_err(|e| {
                    TransferError::local(format!("setting times of {}", tmp.display()), e)
                })?;
            }
        }
        drop(out);
        let hash = hasher.map(|h| hex::encode(h.finalize()));
        if let Some(local_hash) = &hash {
            check_cancel(self.cancel)?;
            match remote_sha256(self.sess, remote, written)? {
                Some(remote_hash) if &remote_hash == local_hash => {}
                Some(remote_hash) => {
                    return Err(TransferError::Mismatch {
                        path: shown(remote),
                        local: local_hash.clone(),
                        remote: remote_hash,
                    })
                }
                None => self.any_unverified = true,
            }
        }
        check_cancel(self.cancel)?;
        fs::rename(tmp, target).map_err(|e| {
            TransferError::local(format!("renaming into place {}", target.display()), e)
        })?;
        Ok((hash, written))
    }
}

pub(super) fn run(
    sess: &ssh2::Session,
    host: &str,
    spec: &DownloadSpec,
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
    let plan = make_plan(&sftp, spec, &host_name, &remote, cancel)?;

    // DEST and any missing parents are private like everything fleetdeck creates.
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&spec.dest)
        .map_err(|e| {
            TransferError::local(format!("creating directory {}", spec.dest.display()), e)
        })?;
    let base = match spec.naming {
        Naming::Subdir => {
            ensure_local_dir(&spec.dest, Path::new(&host_name))?;
            spec.dest.join(&host_name)
        }
        Naming::Suffix => spec.dest.clone(),
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
        token: token(),
        buf: vec![0; 2 * CHUNK],
        done: 0,
        total: plan.total,
        any_unverified: false,
    };
    progress(0, ctx.total);
    let mut hashes = Vec::new();
    for node in &plan.nodes {
        match node {
            Node::Dir { local, .. } => ensure_local_dir(&ctx.base, local)?,
            Node::File {
                local,
                remote,
                stat,
            } => {
                let (hash, bytes) = ctx.fetch(remote, local, stat, progress)?;
                report.files += 1;
                report.bytes += bytes;
                if report.paths.len() < MAX_LISTED {
                    report.paths.push(shown(remote));
                    report
                        .local_paths
                        .push(ctx.base.join(local).display().to_string());
                    report.hashes.extend(hash.clone());
                }
                hashes.push(hash);
            }
        }
    }
    if spec.keep_perms {
        for node in plan.nodes.iter().rev() {
            if let Node::Dir { local, stat, .. } = node {
                let path = ctx.base.join(local);
                let mode = stat.perm.unwrap_or(0o700) & 0o777;
                if let Some(times) = file_times(stat) {
                    if let Ok(f) = fs::File::open(&path) {
                        let _ = f.set_times(times);
                    }
                }
                fs::set_permissions(&path, fs::Permissions::from_mode(mode)).map_err(|e| {
                    TransferError::local(format!("setting mode of {}", path.display()), e)
                })?;
            }
        }
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
