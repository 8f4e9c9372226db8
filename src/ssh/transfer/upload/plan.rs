//! Planning an upload: which local files and directories go where, decided locally before
//! anything is written, so that a bad request fails before the first byte moves.

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use ssh2::FileStat;

use crate::ssh::transfer::{check_cancel, shown, TransferError, UploadSpec};

/// A local file and where it goes.
pub(super) struct FileItem {
    pub(super) local: PathBuf,
    pub(super) remote: PathBuf,
    pub(super) size: u64,
    pub(super) mode: u32,
    pub(super) atime: u64,
    pub(super) mtime: u64,
}

/// A directory to create remotely (mode and times applied at the end with keep_perms).
pub(super) struct DirItem {
    pub(super) remote: PathBuf,
    pub(super) mode: u32,
    pub(super) atime: u64,
    pub(super) mtime: u64,
}

#[derive(Default)]
pub(super) struct Plan {
    pub(super) dirs: Vec<DirItem>,
    pub(super) files: Vec<FileItem>,
    pub(super) skipped: Vec<String>,
    pub(super) total: u64,
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
pub(super) fn make_plan(
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
