//! `push --resume`: a file's temp copy is named after the source's identity (path, size,
//! mtime) instead of the job, kept when the push fails or is cancelled, and continued by the
//! next `--resume` push of the same source once the host's sha256 of what is there matches
//! the local file's first bytes. A partial copy that does not match is removed and the file
//! sent whole.

use std::fs;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::plan::FileItem;
use super::{stat_opt, Ctx};
use crate::ssh::transfer::remote::remote_sha256;
use crate::ssh::transfer::{check_cancel, shown, ssh_error, TransferError, CHUNK};

/// Where a resumed file continues: the bytes already there, and the local hash state over
/// them (for `verify`).
pub(super) struct Resume {
    pub(super) offset: u64,
    pub(super) hasher: Sha256,
}

/// The temp-name token of `item`'s resumable copy: `r` and 11 hex digits of the sha256 of
/// its canonical local path, size and mtime (a changed source gets a new name).
pub(super) fn resume_token(item: &FileItem) -> String {
    let path = fs::canonicalize(&item.local).unwrap_or_else(|_| item.local.clone());
    let mut h = Sha256::new();
    h.update(path.as_os_str().as_bytes());
    h.update([0]);
    h.update(item.size.to_le_bytes());
    h.update(item.mtime.to_le_bytes());
    let hex = hex::encode(h.finalize());
    format!("r{}", &hex[..11])
}

/// sha256 state over the first `len` bytes of `path`.
fn local_prefix(path: &Path, len: u64) -> Result<Sha256, TransferError> {
    let what = || format!("reading {}", path.display());
    let file = fs::File::open(path).map_err(|e| TransferError::local(what(), e))?;
    let mut h = Sha256::new();
    let mut reader = file.take(len);
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = reader
            .read(&mut buf)
            .map_err(|e| TransferError::local(what(), e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h)
}

impl Ctx<'_> {
    /// How much of a partial `tmp` can be kept. A copy that is no regular file, longer than
    /// the source, or whose sha256 differs from the source's prefix is removed. Without a
    /// `sha256sum` on the host nothing is kept (it cannot be checked).
    pub(super) fn resumable(
        &mut self,
        item: &FileItem,
        tmp: &Path,
    ) -> Result<Option<Resume>, TransferError> {
        check_cancel(self.cancel)?;
        let Some(st) = stat_opt(&self.sftp, tmp, false)? else {
            return Ok(None);
        };
        let size = st.size.unwrap_or(0);
        let keep = st.is_file() && size > 0 && size <= item.size;
        if keep {
            let hasher = local_prefix(&item.local, size)?;
            let local = hex::encode(hasher.clone().finalize());
            if remote_sha256(self.sess, tmp, size)?.as_deref() == Some(local.as_str()) {
                return Ok(Some(Resume {
                    offset: size,
                    hasher,
                }));
            }
        }
        self.sftp
            .unlink(tmp)
            .map_err(|e| ssh_error(format!("removing stale partial copy {}", shown(tmp)), &e))?;
        Ok(None)
    }
}
