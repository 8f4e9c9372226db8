//! Writing a download locally: every directory below DEST opened relative to the one above
//! it with `O_NOFOLLOW` (created 0700 by us where missing), each file streamed to a temp name
//! created in that directory (`O_EXCL | O_NOFOLLOW`), checked and renamed into place there.
//! Nothing is reached by path below DEST, so a symlink planted (or swapped in) anywhere below
//! it cannot lead a write outside.

use std::ffi::OsStr;
use std::fs;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Component, Path};
use std::time::{Duration, SystemTime};

use rustix::fs::{AtFlags, Mode, OFlags};
use rustix::io::Errno;
use sha2::{Digest, Sha256};
use ssh2::FileStat;

use super::plan::Node;
use super::Ctx;
use crate::ssh::transfer::names::temp_name;
use crate::ssh::transfer::remote::remote_sha256;
use crate::ssh::transfer::{
    check_cancel, io_ssh_error, is_not_found, shown, ssh_error, TransferError, TransferReport,
    MAX_LISTED,
};

const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

/// Opens DEST itself: the operator's own path (a symlink there is the operator's choice).
pub(super) fn open_dest(dest: &Path) -> Result<OwnedFd, TransferError> {
    rustix::fs::open(
        dest,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| TransferError::local(format!("opening directory {}", dest.display()), e.into()))
}

fn not_a_dir(path: &Path) -> TransferError {
    TransferError::local(
        format!("creating directory {}", path.display()),
        std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            "exists and is not a directory",
        ),
    )
}

/// Opens the directory `rel` below the open directory `base` (shown as `base_path`), one
/// component at a time, creating missing ones 0700 and refusing any that is not a real
/// directory (a symlink could lead outside DEST).
pub(super) fn open_local_dir(
    base: &OwnedFd,
    base_path: &Path,
    rel: &Path,
) -> Result<OwnedFd, TransferError> {
    let mut fd = base
        .try_clone()
        .map_err(|e| TransferError::local(format!("opening {}", base_path.display()), e))?;
    let mut path = base_path.to_path_buf();
    for part in rel.components() {
        let Component::Normal(part) = part else {
            return Err(TransferError::Invalid(format!(
                "refusing local path {}",
                rel.display()
            )));
        };
        path.push(part);
        fd = open_child_dir(&fd, part, &path)?;
    }
    Ok(fd)
}

fn open_child_dir(parent: &OwnedFd, name: &OsStr, path: &Path) -> Result<OwnedFd, TransferError> {
    let mut created = false;
    loop {
        match rustix::fs::openat(parent, name, DIR_FLAGS, Mode::empty()) {
            Ok(fd) => return Ok(fd),
            Err(Errno::NOENT) if !created => {
                match rustix::fs::mkdirat(parent, name, Mode::from_raw_mode(0o700)) {
                    Ok(()) | Err(Errno::EXIST) => created = true,
                    Err(e) => {
                        return Err(TransferError::local(
                            format!("creating directory {}", path.display()),
                            e.into(),
                        ))
                    }
                }
            }
            Err(Errno::LOOP | Errno::NOTDIR) => return Err(not_a_dir(path)),
            Err(e) => {
                return Err(TransferError::local(
                    format!("opening directory {}", path.display()),
                    e.into(),
                ))
            }
        }
    }
}

/// Where one fetched file goes: its directory (open), its name, its temp name, and the path
/// shown in messages.
struct LocalFile<'a> {
    dir: &'a OwnedFd,
    name: &'a OsStr,
    tmp: &'a OsStr,
    shown: &'a Path,
}

fn read_retry(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        match reader.read(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}

pub(super) fn file_times(stat: &FileStat) -> Option<fs::FileTimes> {
    let mtime = SystemTime::UNIX_EPOCH + Duration::from_secs(stat.mtime?);
    let atime = SystemTime::UNIX_EPOCH + Duration::from_secs(stat.atime.unwrap_or(stat.mtime?));
    Some(fs::FileTimes::new().set_modified(mtime).set_accessed(atime))
}

impl Ctx<'_> {
    /// Fetches one file into `base/local` via a temp file. Returns its sha256 when hashed.
    pub(super) fn fetch(
        &mut self,
        remote: &Path,
        local: &Path,
        stat: &FileStat,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<(Option<String>, u64), TransferError> {
        check_cancel(self.cancel)?;
        let dir = open_local_dir(
            &self.base_fd,
            &self.base,
            local.parent().unwrap_or(Path::new("")),
        )?;
        let target = self.base.join(local);
        let name = target.file_name().unwrap_or_default().to_os_string();
        let tmp = temp_name(&name, &self.token);
        let at = LocalFile {
            dir: &dir,
            name: &name,
            tmp: &tmp,
            shown: &target,
        };
        let result = self.fetch_to(remote, &at, stat, progress);
        if result.is_err() {
            let _ = rustix::fs::unlinkat(&dir, &tmp, AtFlags::empty());
        }
        result
    }

    fn fetch_to(
        &mut self,
        remote: &Path,
        at: &LocalFile<'_>,
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
        let tmp = at.shown.with_file_name(at.tmp);
        let mut out = rustix::fs::openat(
            at.dir,
            at.tmp,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )
        .map(fs::File::from)
        .map_err(|e| TransferError::local(format!("creating {}", tmp.display()), e.into()))?;
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
            self.done = self.done.saturating_add(n as u64);
            written = written.saturating_add(n as u64);
            progress(self.done, self.total.max(self.done));
        }
        drop(src);
        if self.spec.keep_perms {
            let mode = stat.perm.unwrap_or(0o600) & 0o777;
            rustix::fs::fchmod(&out, Mode::from_raw_mode(mode)).map_err(|e| {
                TransferError::local(format!("setting mode of {}", tmp.display()), e.into())
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
            self.verify(remote, written, local_hash)?;
        }
        check_cancel(self.cancel)?;
        rustix::fs::renameat(at.dir, at.tmp, at.dir, at.name).map_err(|e| {
            TransferError::local(
                format!("renaming into place {}", at.shown.display()),
                e.into(),
            )
        })?;
        Ok((hash, written))
    }

    /// Compares the host's sha256 of `remote` with the bytes received.
    fn verify(
        &mut self,
        remote: &Path,
        written: u64,
        local_hash: &str,
    ) -> Result<(), TransferError> {
        check_cancel(self.cancel)?;
        match remote_sha256(self.sess, remote, written)? {
            Some(remote_hash) if remote_hash == local_hash => {}
            Some(remote_hash) => {
                return Err(TransferError::Mismatch {
                    path: shown(remote),
                    local: local_hash.to_string(),
                    remote: remote_hash,
                })
            }
            None => self.any_unverified = true,
        }
        Ok(())
    }

    /// Fetches every node of the plan in order; returns each file's hash (when hashed).
    pub(super) fn fetch_all(
        &mut self,
        nodes: &[Node],
        report: &mut TransferReport,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<Vec<Option<String>>, TransferError> {
        let mut hashes = Vec::new();
        for node in nodes {
            match node {
                Node::Dir { local, .. } => {
                    open_local_dir(&self.base_fd, &self.base, local)?;
                }
                Node::File {
                    local,
                    remote,
                    stat,
                } => {
                    let (hash, bytes) = self.fetch(remote, local, stat, progress)?;
                    report.files += 1;
                    report.bytes = report.bytes.saturating_add(bytes);
                    if report.paths.len() < MAX_LISTED {
                        report.paths.push(shown(remote));
                        report
                            .local_paths
                            .push(self.base.join(local).display().to_string());
                        report.hashes.extend(hash.clone());
                    }
                    hashes.push(hash);
                }
            }
        }
        Ok(hashes)
    }

    /// Directory modes and times last, deepest first: writing files changes mtimes, and a
    /// read-only mode would have blocked filling the directory.
    pub(super) fn apply_dir_modes(&self, nodes: &[Node]) -> Result<(), TransferError> {
        for node in nodes.iter().rev() {
            if let Node::Dir { local, stat, .. } = node {
                let path = self.base.join(local);
                let mode = stat.perm.unwrap_or(0o700) & 0o777;
                let dir = fs::File::from(open_local_dir(&self.base_fd, &self.base, local)?);
                if let Some(times) = file_times(stat) {
                    let _ = dir.set_times(times);
                }
                rustix::fs::fchmod(dir.as_fd(), Mode::from_raw_mode(mode)).map_err(|e| {
                    TransferError::local(format!("setting mode of {}", path.display()), e.into())
                })?;
            }
        }
        Ok(())
    }
}
