//! Sending every file of a plan: directories created ahead, unchanged files (sync) and
//! files the overwrite policy keeps left alone, small files through one tar stream (or the
//! lanes where the host cannot take one), the rest one
//! by one with the large-file window; then deletions (sync) and directory modes.

use ssh2::FileStat;

use super::lanes::{Small, SMALL_FILE};
use super::plan::{FileItem, Plan};
use super::tar::Tar;
use super::{sync, Ctx};
use crate::ssh::transfer::{
    check_cancel, shown, ssh_error, TransferError, TransferReport, MAX_LISTED,
};

/// Fewer small files than this go the serial way (opening lanes costs a few round trips).
const MIN_LANE_FILES: usize = 4;

/// Counts one file put in place.
fn record(report: &mut TransferReport, item: &FileItem, hash: Option<&String>) {
    report.files += 1;
    report.bytes += item.size;
    if report.paths.len() < MAX_LISTED {
        report.paths.push(shown(&item.remote));
        report.local_paths.push(item.local.display().to_string());
        report.hashes.extend(hash.cloned());
    }
}

/// A small file for the lanes: its temp name, and the mode, times and (where it replaces a
/// file) owner it gets.
fn small_item<'p>(ctx: &Ctx<'_>, item: &'p FileItem, existing: Option<FileStat>) -> Small<'p> {
    let mut attrs = ctx.attributes(item, existing.as_ref());
    // Keep the replaced file's owner (a no-op when it is ours; refused unless root, then the
    // lane sets the mode alone).
    if let Some((uid, gid)) = existing
        .as_ref()
        .filter(|st| st.is_file())
        .and_then(|st| st.uid.zip(st.gid))
    {
        (attrs.uid, attrs.gid) = (Some(uid), Some(gid));
    }
    Small {
        item,
        tmp: ctx.temp_path(&item.remote),
        attrs,
        replaces: existing.is_some(),
        existing,
    }
}

pub(super) fn send_all(
    ctx: &mut Ctx<'_>,
    plan: &Plan,
    report: &mut TransferReport,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<(), TransferError> {
    for dir in plan
        .dirs
        .iter()
        .map(|d| d.remote.as_path())
        .chain(plan.files.iter().filter_map(|f| f.remote.parent()))
    {
        check_cancel(ctx.cancel)?;
        ctx.ensure_dir(dir)?;
    }
    let same = match ctx.spec.sync {
        Some(opts) => sync::unchanged(ctx, plan, opts.checksum)?,
        None => vec![false; plan.files.len()],
    };
    if ctx.spec.sync.is_some_and(|o| o.checksum) && ctx.any_unverified {
        report.skipped.push(
            "sha256 not compared: the host has no sha256sum, files of equal size were sent".into(),
        );
    }
    let lanes = !ctx.spec.verify && !ctx.spec.resume;
    let mut small = Vec::new();
    let mut hashes = Vec::new();
    for (item, same) in plan.files.iter().zip(same) {
        let existing = if same {
            report.unchanged += 1;
            None
        } else {
            match ctx.decide(item)? {
                Ok(existing) => Some(existing),
                Err(reason) => {
                    report.skipped.push(reason);
                    None
                }
            }
        };
        let Some(existing) = existing else {
            ctx.total = ctx.total.saturating_sub(item.size);
            progress(ctx.done, ctx.total);
            continue;
        };
        if lanes && item.size <= SMALL_FILE {
            small.push(small_item(ctx, item, existing));
            continue;
        }
        let hash = ctx.send(item, existing.as_ref(), progress)?;
        record(report, item, hash.as_ref());
        hashes.push(hash);
    }
    if small.len() >= MIN_LANE_FILES {
        match ctx.send_tar(&small, progress)? {
            Tar::Placed => {
                for s in &small {
                    record(report, s.item, None);
                }
                report.tar_files += small.len() as u64;
            }
            Tar::Unavailable => send_small(ctx, small, report, progress)?,
        }
    } else {
        for s in small {
            let hash = ctx.send(s.item, s.existing.as_ref(), progress)?;
            record(report, s.item, hash.as_ref());
            hashes.push(hash);
        }
    }
    if let [Some(hash)] = hashes.as_slice() {
        report.sha256 = Some(hash.clone());
    }
    if ctx.spec.sync.is_some_and(|o| o.delete) {
        sync::delete_extra(ctx, plan, report)?;
    }
    set_dir_modes(ctx, plan)
}

/// Small files through the lanes; the ones replacing an existing target are then put in
/// place one by one with the overwriting rename.
fn send_small(
    ctx: &mut Ctx<'_>,
    small: Vec<Small<'_>>,
    report: &mut TransferReport,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<(), TransferError> {
    let replace = ctx.send_small(small, &mut |item, ctx| {
        ctx.done += item.size;
        progress(ctx.done, ctx.total.max(ctx.done));
        record(report, item, None);
    })?;
    let mut pending = replace.iter();
    while let Some(s) = pending.next() {
        let placed = check_cancel(ctx.cancel).and_then(|()| {
            ctx.keep_owner(&s.tmp, s.existing.as_ref());
            ctx.replace(&s.tmp, &s.item.remote, true)
        });
        if let Err(e) = placed {
            if !e.session_broken() {
                for left in std::iter::once(s).chain(pending) {
                    let _ = ctx.sftp.unlink(&left.tmp);
                }
            }
            return Err(e);
        }
        ctx.done += s.item.size;
        progress(ctx.done, ctx.total.max(ctx.done));
        record(report, s.item, None);
    }
    Ok(())
}

/// Directory modes and times last: writing files changes mtimes, and a read-only mode
/// would have blocked filling the directory.
fn set_dir_modes(ctx: &mut Ctx<'_>, plan: &Plan) -> Result<(), TransferError> {
    if !ctx.spec.keep_perms {
        return Ok(());
    }
    for dir in plan.dirs.iter().rev() {
        let attrs = FileStat {
            size: None,
            uid: None,
            gid: None,
            perm: Some(dir.mode),
            atime: Some(dir.atime),
            mtime: Some(dir.mtime),
        };
        ctx.sftp
            .setstat(&dir.remote, attrs)
            .map_err(|e| ssh_error(format!("setting mode of {}", shown(&dir.remote)), &e))?;
    }
    Ok(())
}
