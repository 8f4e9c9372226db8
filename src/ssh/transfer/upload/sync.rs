//! `push --sync`: every target directory listed ahead (one listing per directory instead of
//! one stat per file), files whose size and mtime (or, with `checksum`, sha256) match left
//! alone, and with `delete` the remote entries the source lacks removed, after every file
//! was sent (a failed push deletes nothing).

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use ssh2::{FileStat, Sftp};

use super::plan::{FileItem, Plan};
use super::Ctx;
use crate::ssh::transfer::names::TEMP_MARKER;
use crate::ssh::transfer::remote::remote_sha256_many;
use crate::ssh::transfer::{
    check_cancel, is_not_found, shown, ssh_error, TransferError, TransferReport, MAX_LISTED,
};

/// Entries one listed directory may hold; a larger one is not listed (its files are looked at
/// one by one) and cannot be synced with `delete`.
pub(super) const MAX_DIR_ENTRIES: usize = 100_000;

/// How deep `delete` descends into a remote directory the source lacks.
const MAX_DELETE_DEPTH: usize = 64;

/// libssh2's "no more directory entries" code from `readdir`.
const LIBSSH2_ERROR_FILE: i32 = -16;

/// The remote entries of the directories an upload writes into, by directory then name.
#[derive(Default)]
pub(super) struct Listing {
    dirs: HashMap<PathBuf, HashMap<OsString, FileStat>>,
}

impl Listing {
    /// What is at `path` (not following a link): from the listing of its directory, or
    /// asked of the server when that directory was not listed.
    pub(super) fn lookup(
        &self,
        sftp: &Sftp,
        path: &Path,
    ) -> Result<Option<FileStat>, TransferError> {
        let listed = path.parent().and_then(|dir| self.dirs.get(dir));
        match (listed, path.file_name()) {
            (Some(entries), Some(name)) => Ok(entries.get(name).cloned()),
            _ => super::stat_opt(sftp, path, false),
        }
    }
}

fn is_link(st: &FileStat) -> bool {
    st.perm.is_some_and(|p| p & 0o170_000 == 0o120_000)
}

/// The entries of `dir` (`Some(empty)` when it does not exist), or `None` when it holds more
/// than [`MAX_DIR_ENTRIES`] or is no directory.
fn list(sftp: &Sftp, dir: &Path) -> Result<Option<HashMap<OsString, FileStat>>, TransferError> {
    let what = || format!("listing {}", shown(dir));
    let mut handle = match sftp.opendir(dir) {
        Ok(h) => h,
        Err(e) if is_not_found(&e) => return Ok(Some(HashMap::new())),
        Err(e) if matches!(e.code(), ssh2::ErrorCode::SFTP(_)) => return Ok(None),
        Err(e) => return Err(ssh_error(what(), &e)),
    };
    let mut entries = HashMap::new();
    loop {
        match handle.readdir() {
            Ok((name, stat)) => {
                if name.as_os_str() == "." || name.as_os_str() == ".." {
                    continue;
                }
                if entries.len() >= MAX_DIR_ENTRIES {
                    return Ok(None);
                }
                entries.insert(name.into_os_string(), stat);
            }
            Err(e) if e.code() == ssh2::ErrorCode::Session(LIBSSH2_ERROR_FILE) => break,
            Err(e) => return Err(ssh_error(what(), &e)),
        }
    }
    Ok(Some(entries))
}

/// Lists every directory the plan writes into.
pub(super) fn list_targets(ctx: &Ctx<'_>, plan: &Plan) -> Result<Listing, TransferError> {
    let mut dirs: Vec<&Path> = plan.dirs.iter().map(|d| d.remote.as_path()).collect();
    dirs.extend(plan.files.iter().filter_map(|f| f.remote.parent()));
    dirs.sort();
    dirs.dedup();
    let mut listing = Listing::default();
    for dir in dirs {
        check_cancel(ctx.cancel)?;
        if let Some(entries) = list(&ctx.sftp, dir)? {
            listing.dirs.insert(dir.to_path_buf(), entries);
        }
    }
    Ok(listing)
}

fn local_sha256(path: &Path) -> Result<String, TransferError> {
    let what = || format!("reading {}", path.display());
    let mut f = fs::File::open(path).map_err(|e| TransferError::local(what(), e))?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h).map_err(|e| TransferError::local(what(), e))?;
    Ok(hex::encode(h.finalize()))
}

/// Which planned files are already there (`true`): same size and mtime, or with `checksum`
/// same size and sha256.
pub(super) fn unchanged(
    ctx: &mut Ctx<'_>,
    plan: &Plan,
    checksum: bool,
) -> Result<Vec<bool>, TransferError> {
    let mut same = vec![false; plan.files.len()];
    let mut candidates: Vec<(usize, &FileItem)> = Vec::new();
    for (i, item) in plan.files.iter().enumerate() {
        let existing = ctx.listing.lookup(&ctx.sftp, &item.remote)?;
        let Some(st) = existing.filter(|st| st.is_file() && !is_link(st)) else {
            continue;
        };
        if st.size != Some(item.size) {
            continue;
        }
        if checksum {
            candidates.push((i, item));
        } else {
            same[i] = st.mtime == Some(item.mtime);
        }
    }
    if candidates.is_empty() {
        return Ok(same);
    }
    let asked: Vec<(PathBuf, u64)> = candidates
        .iter()
        .map(|(_, f)| (f.remote.clone(), f.size))
        .collect();
    let Some(remote) = remote_sha256_many(ctx.sess, &asked)? else {
        ctx.any_unverified = true;
        return Ok(same);
    };
    for (i, item) in candidates {
        check_cancel(ctx.cancel)?;
        if let Some(theirs) = remote.get(&item.remote) {
            same[i] = *theirs == local_sha256(&item.local)?;
        }
    }
    Ok(same)
}

/// The names each planned directory should hold.
fn expected(plan: &Plan) -> HashMap<&Path, HashSet<&std::ffi::OsStr>> {
    let mut out: HashMap<&Path, HashSet<&std::ffi::OsStr>> = plan
        .dirs
        .iter()
        .map(|d| (d.remote.as_path(), HashSet::new()))
        .collect();
    let children = plan
        .dirs
        .iter()
        .map(|d| d.remote.as_path())
        .chain(plan.files.iter().map(|f| f.remote.as_path()));
    for child in children {
        if let (Some(parent), Some(name)) = (child.parent(), child.file_name()) {
            if let Some(names) = out.get_mut(parent) {
                names.insert(name);
            }
        }
    }
    out
}

/// Deletes what the source's directories lack on the remote side. Temp files of fleetdeck
/// pushes (this one's, or another's still running) are left alone.
pub(super) fn delete_extra(
    ctx: &mut Ctx<'_>,
    plan: &Plan,
    report: &mut TransferReport,
) -> Result<(), TransferError> {
    for (dir, names) in expected(plan) {
        check_cancel(ctx.cancel)?;
        let Some(entries) = ctx.listing.dirs.get(dir) else {
            return Err(TransferError::Invalid(format!(
                "cannot sync --delete {}: it is not a directory or holds more than {MAX_DIR_ENTRIES} entries",
                shown(dir)
            )));
        };
        let mut extra: Vec<(&OsString, &FileStat)> = entries
            .iter()
            .filter(|(name, _)| {
                !names.contains(name.as_os_str()) && !name.to_string_lossy().contains(TEMP_MARKER)
            })
            .collect();
        extra.sort_by(|a, b| a.0.cmp(b.0));
        for (name, st) in extra {
            let path = dir.join(name);
            if st.is_dir() && !is_link(st) {
                remove_tree(ctx, &path, 0)?;
            } else {
                ctx.sftp
                    .unlink(&path)
                    .map_err(|e| ssh_error(format!("deleting {}", shown(&path)), &e))?;
            }
            report.deleted += 1;
            if report.deleted_paths.len() < MAX_LISTED {
                report.deleted_paths.push(shown(&path));
            }
        }
    }
    Ok(())
}

/// `rm -r` over SFTP, never following links.
fn remove_tree(ctx: &Ctx<'_>, dir: &Path, depth: usize) -> Result<(), TransferError> {
    check_cancel(ctx.cancel)?;
    if depth >= MAX_DELETE_DEPTH {
        return Err(TransferError::Invalid(format!(
            "not deleting {}: nested more than {MAX_DELETE_DEPTH} directories deep",
            shown(dir)
        )));
    }
    let entries = list(&ctx.sftp, dir)?.ok_or_else(|| {
        TransferError::Invalid(format!(
            "not deleting {}: more than {MAX_DIR_ENTRIES} entries",
            shown(dir)
        ))
    })?;
    for (name, st) in &entries {
        let path = dir.join(name);
        if st.is_dir() && !is_link(st) {
            remove_tree(ctx, &path, depth + 1)?;
        } else {
            ctx.sftp
                .unlink(&path)
                .map_err(|e| ssh_error(format!("deleting {}", shown(&path)), &e))?;
        }
    }
    ctx.sftp
        .rmdir(dir)
        .map_err(|e| ssh_error(format!("deleting directory {}", shown(dir)), &e))
}
