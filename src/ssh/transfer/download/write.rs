//! Writing a download locally: directories below DEST created by us or checked to be real
//! directories, each file streamed to a temp name (never through a planted symlink), checked
//! and renamed into place.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, SystemTime};

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

/// Creates `dir` (which must lie below `dest`) and any missing parents below `dest`, refusing
/// any existing component that is not a real directory (a symlink could lead outside DEST).
pub(super) fn ensure_local_dir(dest: &Path, rel: &Path) -> Result<(), TransferError> {
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
            self.verify(remote, written, local_hash)?;
        }
        check_cancel(self.cancel)?;
        fs::rename(tmp, target).map_err(|e| {
            TransferError::local(format!("renaming into place {}", target.display()), e)
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
                Node::Dir { local, .. } => ensure_local_dir(&self.base, local)?,
                Node::File {
                    local,
                    remote,
                    stat,
                } => {
                    let (hash, bytes) = self.fetch(remote, local, stat, progress)?;
                    report.files += 1;
                    report.bytes += bytes;
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
        Ok(())
    }
}
