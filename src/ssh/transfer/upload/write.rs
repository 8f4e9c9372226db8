//! Writing one file's temp copy: the pipelined SFTP write, then its mode, times and owner,
//! then (when asked) the remote sha256 check, all before it is renamed into place.

use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use sha2::{Digest, Sha256};
use ssh2::{FileStat, OpenFlags, OpenType};

use super::plan::FileItem;
use super::resume::Resume;
use super::{Ctx, DEFAULT_UMASK};
use crate::ssh::transfer::remote::remote_sha256;
use crate::ssh::transfer::{
    check_cancel, io_ssh_error, shown, ssh_error, Overwrite, TransferError, CHUNK,
};

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

impl Ctx<'_> {
    /// Streams `item` into `tmp`, sets its mode and times, verifies it. Returns the sha256 when
    /// it was computed.
    pub(super) fn write_temp(
        &mut self,
        item: &FileItem,
        tmp: &Path,
        existing: Option<&FileStat>,
        resume: Option<Resume>,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<Option<String>, TransferError> {
        let hash = self.stream(item, tmp, resume, progress)?;
        self.set_attributes(item, tmp, existing)?;
        if let Some(local_hash) = &hash {
            self.verify(item, tmp, local_hash)?;
        }
        Ok(hash)
    }

    /// Copies the local file into a new `tmp` (or on after what a resumed `tmp` holds);
    /// returns its sha256 when `verify` is asked.
    fn stream(
        &mut self,
        item: &FileItem,
        tmp: &Path,
        resume: Option<Resume>,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<Option<String>, TransferError> {
        let reading = || format!("reading {}", item.local.display());
        let mut local =
            fs::File::open(&item.local).map_err(|e| TransferError::local(reading(), e))?;
        let what = || format!("writing {}", shown(&item.remote));
        let (offset, prefix) = resume.map_or((0, None), |r| (r.offset, Some(r.hasher)));
        let flags = if offset > 0 {
            OpenFlags::WRITE
        } else {
            OpenFlags::WRITE | OpenFlags::EXCLUSIVE
        };
        let mut remote = self
            .sftp
            .open_mode(tmp, flags, 0o600, OpenType::File)
            .map_err(|e| ssh_error(what(), &e))?;
        if offset > 0 {
            remote
                .seek(SeekFrom::Start(offset))
                .map_err(|e| io_ssh_error(what(), &e))?;
            local
                .seek(SeekFrom::Start(offset))
                .map_err(|e| TransferError::local(reading(), e))?;
            self.done += offset;
            progress(self.done, self.total.max(self.done));
        }
        let mut hasher = self.spec.verify.then(|| prefix.unwrap_or_else(Sha256::new));
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
        Ok(hasher.map(|h| hex::encode(h.finalize())))
    }

    /// The mode and times `item`'s temp copy gets (the replaced file's mode unless
    /// `keep_perms`).
    pub(super) fn attributes(&self, item: &FileItem, existing: Option<&FileStat>) -> FileStat {
        let keep_times = self.spec.keep_perms
            || self.spec.overwrite == Overwrite::IfDifferent
            || self.spec.sync.is_some();
        let perm = if self.spec.keep_perms {
            item.mode
        } else if let Some(st) = existing.filter(|st| st.is_file()) {
            st.perm.map_or(0o644, |p| p & 0o7777)
        } else {
            item.mode & 0o777 & !DEFAULT_UMASK
        };
        FileStat {
            size: None,
            uid: None,
            gid: None,
            perm: Some(perm),
            atime: keep_times.then_some(item.atime),
            mtime: keep_times.then_some(item.mtime),
        }
    }

    /// Gives `tmp` its final mode and times, and the replaced file's owner when we may.
    fn set_attributes(
        &mut self,
        item: &FileItem,
        tmp: &Path,
        existing: Option<&FileStat>,
    ) -> Result<(), TransferError> {
        let attrs = self.attributes(item, existing);
        self.sftp
            .setstat(tmp, attrs)
            .map_err(|e| ssh_error(format!("setting mode of {}", shown(tmp)), &e))?;
        self.keep_owner(tmp, existing);
        Ok(())
    }

    /// Gives `tmp` the replaced file's owner when it differs from ours and we may (root);
    /// the owner of our files is learnt once.
    pub(super) fn keep_owner(&mut self, tmp: &Path, existing: Option<&FileStat>) {
        let Some(st) = existing.filter(|st| st.is_file()) else {
            return;
        };
        let (Some(uid), Some(gid)) = (st.uid, st.gid) else {
            return;
        };
        if self.own_ids.is_none() {
            if let Ok(now) = self.sftp.lstat(tmp) {
                self.own_ids = now.uid.zip(now.gid);
            }
        }
        if self.own_ids != Some((uid, gid)) {
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

    /// Compares the host's sha256 of `tmp` with the bytes sent.
    fn verify(
        &mut self,
        item: &FileItem,
        tmp: &Path,
        local_hash: &str,
    ) -> Result<(), TransferError> {
        check_cancel(self.cancel)?;
        match remote_sha256(self.sess, tmp, item.size)? {
            Some(remote_hash) if remote_hash == local_hash => {}
            Some(remote_hash) => {
                self.all_verified = false;
                return Err(TransferError::Mismatch {
                    path: shown(&item.remote),
                    local: local_hash.to_string(),
                    remote: remote_hash,
                });
            }
            None => self.any_unverified = true,
        }
        Ok(())
    }
}
