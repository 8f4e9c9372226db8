//! Putting an uploaded file in place: its directories (`mkdir -p`), then the rename of the
//! finished temp file over the target, atomic where the server allows.

use std::path::{Path, PathBuf};

use ssh2::{FileStat, RenameFlags};

use super::{stat_opt, Ctx, Renamer};
use crate::ssh::transfer::names::temp_name;
use crate::ssh::transfer::remote::{link_aside, PosixRenamer};
use crate::ssh::transfer::{shown, ssh_error, TransferError};

/// Replaced files from this size on are linked aside and freed in the background.
const FREE_ASIDE_MIN: u64 = 16 * 1024 * 1024;

impl Ctx<'_> {
    /// `mkdir -p`: creates `dir` and missing parents (0755 before umask; 0700 while a kept
    /// mode is still to be applied, so read-only modes do not block filling them).
    pub(super) fn ensure_dir(&mut self, dir: &Path) -> Result<(), TransferError> {
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

    /// The name a replaced file is linked aside under (a temp name the janitor knows).
    fn aside_name(&self, target: &Path) -> PathBuf {
        let name = target.file_name().unwrap_or_default();
        target.with_file_name(temp_name(name, &format!("{}-old", self.token)))
    }

    /// Before a large file is replaced: a second link to it, so that the rename does not free
    /// it (hundreds of milliseconds for large files); the link is removed in the background
    /// when the upload ends.
    pub(super) fn set_aside(&mut self, target: &Path, existing: Option<&FileStat>) {
        let large = existing.is_some_and(|st| {
            st.is_file()
                && st.perm.is_some_and(|p| p & 0o170_000 == 0o100_000)
                && st.size.unwrap_or(0) >= FREE_ASIDE_MIN
        });
        if large {
            let aside = self.aside_name(target);
            if link_aside(self.sess, target, &aside) {
                self.asides.push(aside);
            }
        }
    }

    /// Renames `tmp` over `target`, replacing it atomically where the server allows.
    pub(super) fn replace(
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
                let aside = self.aside_name(target);
                if self.asides.last() == Some(&aside) {
                    // Linked aside already: drop that link first (cheap, the target keeps
                    // the data), the fallback below needs the name.
                    let _ = self.sftp.unlink(&aside);
                    self.asides.pop();
                }
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
}
