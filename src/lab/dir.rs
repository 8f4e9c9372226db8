//! The lab directory: made absolute, checked for what sshd_config cannot quote, locked
//! against a concurrent `up`/`down`, and written file by file atomically with private modes.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::error::io_err;
use super::LabError;

/// Makes `dir` absolute without requiring it to exist.
pub(super) fn absolute(dir: &Path) -> Result<PathBuf, LabError> {
    if dir.is_absolute() {
        Ok(dir.to_path_buf())
    } else {
        Ok(std::env::current_dir()
            .map_err(io_err("current directory"))?
            .join(dir))
    }
}

/// Makes sure `dir` exists and is writable; returns it absolute.
pub(super) fn prepare_dir(dir: &Path) -> Result<PathBuf, LabError> {
    let abs = absolute(dir)?;
    if let Some(ch) = abs
        .to_string_lossy()
        .chars()
        .find(|c| matches!(c, '"' | '\'' | '%' | '\\' | '\n' | '\r') || c.is_control())
    {
        return Err(LabError::BadDir { dir: abs, ch });
    }
    let not_writable = |source| LabError::DirNotWritable {
        dir: abs.clone(),
        source,
    };
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&abs)
        .map_err(not_writable)?;
    // The lab runs daemons (often as root) from files in DIR: a DIR others can write would let
    // them swap those files or plant symlinks for root's writes.
    crate::paths::check_private_dir(&abs).map_err(|e| LabError::UnsafeDir {
        dir: abs.clone(),
        reason: e.to_string(),
    })?;
    let probe = abs.join(".write-test");
    crate::paths::create_private_file(&probe).map_err(not_writable)?;
    let _ = fs::remove_file(&probe);
    let abs = abs.canonicalize().map_err(not_writable)?;
    Ok(abs)
}

/// Holds an exclusive lock on `DIR/.lock` so two `up`/`down` on one directory do not race.
pub(super) struct DirLock(#[allow(dead_code)] nix::fcntl::Flock<fs::File>);

pub(super) fn lock_dir(dir: &Path) -> Result<DirLock, LabError> {
    let path = dir.join(".lock");
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&path)
        .map_err(io_err(format!("open {}", path.display())))?;
    nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
        .map(DirLock)
        .map_err(|(_, e)| LabError::Io {
            context: format!("lock {}", path.display()),
            source: e.into(),
        })
}

pub(super) fn write_file(path: &Path, text: &str, mode: u32) -> Result<(), LabError> {
    let ctx = || format!("write {}", path.display());
    let tmp = path.with_extension("tmp");
    {
        let mut f = crate::paths::create_private_file(&tmp).map_err(io_err(ctx()))?;
        f.write_all(text.as_bytes()).map_err(io_err(ctx()))?;
    }
    fs::set_permissions(&tmp, fs::Permissions::from_mode(mode)).map_err(io_err(ctx()))?;
    fs::rename(&tmp, path).map_err(io_err(ctx()))
}
