//! Putting an uploaded file in place: its directories (`mkdir -p`), then the rename of the
//! finished temp file over the target, atomic where the server allows.

use std::path::Path;

use ssh2::RenameFlags;

use super::{stat_opt, Ctx, Renamer};
use crate::ssh::transfer::names::temp_name;
use crate::ssh::transfer::remote::PosixRenamer;
use crate::ssh::transfer::{shown, ssh_error, TransferError};

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
}
