//! Planning a download: listing the remote side into what will be written, refusing hostile
//! names and never following links below the named path, before anything is written locally.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use ssh2::{FileStat, Sftp};

use crate::ssh::transfer::names::{check_remote_name, link_stays_inside};
use crate::ssh::transfer::{check_cancel, shown, ssh_error, DownloadSpec, Naming, TransferError};

/// libssh2's "no more directory entries" code from `readdir`.
const LIBSSH2_ERROR_FILE: i32 = -16;

/// Characters that make the last component of a remote path a glob.
const GLOB_CHARS: &[char] = &['*', '?', '[', '{'];

/// Bounds on what a listing from the (untrusted) server may hold, so that a hostile server
/// can neither exhaust the worker's stack with nesting nor its memory with entries. A fetch
/// that passes one fails before anything is written locally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PullLimits {
    /// How many directories deep below the fetched one a tree may go.
    pub max_depth: usize,
    /// Entries one directory listing may hold.
    pub max_dir_entries: usize,
    /// Entries (files, directories, links) the whole fetch may list.
    pub max_entries: usize,
}

impl Default for PullLimits {
    fn default() -> Self {
        PullLimits {
            max_depth: 64,
            max_dir_entries: 100_000,
            max_entries: 1_000_000,
        }
    }
}

/// What will be written, relative to the local base directory.
pub(super) enum Node {
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
pub(super) struct Plan {
    pub(super) nodes: Vec<Node>,
    pub(super) skipped: Vec<String>,
    pub(super) refused: Vec<String>,
    /// Bytes to fetch: the sizes the server reported, summed saturating.
    pub(super) total: u64,
    /// Entries listed so far (checked against [`PullLimits::max_entries`]).
    listed: usize,
}

/// The limits a listing is checked against, and the cancel flag checked at every entry.
pub(super) struct Bounds<'a> {
    pub(super) limits: PullLimits,
    pub(super) cancel: &'a AtomicBool,
}

fn over_limit(dir: &Path, what: &str) -> TransferError {
    TransferError::Remote {
        what: format!("listing {}", shown(dir)),
        message: format!("{what}; nothing was written"),
    }
}

/// Lists a remote directory with the raw names the server sent (not joined, so `..` or `a/b`
/// stay visible to the name check). `.` and `..` entries, which every listing has, are dropped.
/// At most `limits.max_dir_entries` entries, and at most what is left of `max_entries`
/// (`plan.listed` counts them).
fn list_dir(
    sftp: &Sftp,
    dir: &Path,
    plan: &mut Plan,
    b: &Bounds<'_>,
) -> Result<Vec<(Vec<u8>, FileStat)>, TransferError> {
    let what = || format!("listing {}", shown(dir));
    let mut handle = sftp.opendir(dir).map_err(|e| ssh_error(what(), &e))?;
    let mut entries = Vec::new();
    loop {
        check_cancel(b.cancel)?;
        match handle.readdir() {
            Ok((name, stat)) => {
                let raw = name.as_os_str().as_bytes().to_vec();
                if raw == b"." || raw == b".." {
                    continue;
                }
                if entries.len() >= b.limits.max_dir_entries {
                    return Err(over_limit(
                        dir,
                        &format!(
                            "more than {} entries in one directory (the limit)",
                            b.limits.max_dir_entries
                        ),
                    ));
                }
                plan.listed += 1;
                if plan.listed > b.limits.max_entries {
                    return Err(over_limit(
                        dir,
                        &format!(
                            "more than {} entries in the whole fetch (the limit)",
                            b.limits.max_entries
                        ),
                    ));
                }
                entries.push((raw, stat));
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
    b: &Bounds<'_>,
) -> Result<(), TransferError> {
    check_cancel(b.cancel)?;
    for (raw, stat) in list_dir(sftp, dir, plan, b)? {
        check_cancel(b.cancel)?;
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
            if depth + 1 > b.limits.max_depth {
                return Err(over_limit(
                    &remote,
                    &format!(
                        "directories nested more than {} deep (the limit)",
                        b.limits.max_depth
                    ),
                ));
            }
            plan.nodes.push(Node::Dir {
                local: local.clone(),
                stat,
            });
            walk(sftp, &remote, &local, depth + 1, plan, b)?;
        } else if stat.is_file() {
            plan.total = plan.total.saturating_add(stat.size.unwrap_or(0));
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
    b: &Bounds<'_>,
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
        walk(sftp, remote, &local, 0, plan, b)
    } else if stat.is_file() {
        plan.total = plan.total.saturating_add(stat.size.unwrap_or(0));
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

/// The local name of a top-level entry: `name` (subdir naming) or `name.<host>`. `host` is
/// already a file name ([`crate::paths::host_file_name`]); for the suffix its dots are encoded
/// too, so that the last `.` always separates name and host and two hosts' files never meet
/// (`a.b` from `c` and `a` from `b.c`).
fn top_local(name: &OsStr, spec: &DownloadSpec, host: &str) -> PathBuf {
    match spec.naming {
        Naming::Subdir => PathBuf::from(name),
        Naming::Suffix => {
            let mut n = name.to_os_string();
            n.push(".");
            n.push(host.replace('.', "%2E"));
            PathBuf::from(n)
        }
    }
}

/// Everything the fetch will write: the named path, or every match of a glob in its last
/// component.
pub(super) fn make_plan(
    sftp: &Sftp,
    spec: &DownloadSpec,
    host: &str,
    remote: &Path,
    b: &Bounds<'_>,
) -> Result<Plan, TransferError> {
    let last = remote
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if last.contains(GLOB_CHARS) {
        return plan_glob(sftp, spec, host, remote, &last, b);
    }
    let mut plan = Plan::default();

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
        b,
    )?;
    Ok(plan)
}

/// The plan for a glob `last` in the last component of `remote`.
fn plan_glob(
    sftp: &Sftp,
    spec: &DownloadSpec,
    host: &str,
    remote: &Path,
    last: &str,
    b: &Bounds<'_>,
) -> Result<Plan, TransferError> {
    let mut plan = Plan::default();
    let parent = remote.parent().unwrap_or(Path::new("/"));
    if parent.to_string_lossy().contains(GLOB_CHARS) {
        return Err(TransferError::Invalid(format!(
            "{}: a glob may only be in the last path component",
            shown(remote)
        )));
    }
    let matcher = globset::GlobBuilder::new(last)
        .literal_separator(true)
        .build()
        .map_err(|e| TransferError::Invalid(format!("bad glob {last:?}: {e}")))?
        .compile_matcher();
    let want_hidden = last.starts_with('.');
    let mut matched = 0;
    for (raw, stat) in list_dir(sftp, parent, &mut plan, b)? {
        check_cancel(b.cancel)?;
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
            b,
        )?;
    }
    if matched == 0 {
        return Err(TransferError::Remote {
            what: format!("fetching {}", shown(remote)),
            message: "no match".into(),
        });
    }
    Ok(plan)
}
