//! `run`'s plan: the inventory loaded, the pattern (and `--failed-from`) resolved to targets,
//! before any connection.

use std::path::{Path, PathBuf};

use super::RunArgs;
use crate::engine::Target;
use crate::face::{inventory_name, plan_targets, read_inventory};

/// What to run where, decided before any connection.
pub(super) struct Plan {
    pub targets: Vec<Target>,
    pub pattern: String,
    pub known_hosts: Vec<PathBuf>,
}

/// Loads the inventory and picks the targets. `Ok(None)`: nothing to do (said on stderr).
pub(super) fn plan(
    inv_paths: &[PathBuf],
    args: &RunArgs,
    oplog: &Path,
) -> Result<Option<Plan>, String> {
    let inv = read_inventory(inv_paths).map_err(|e| e.to_string())?;
    let mut ids = match &args.pattern {
        Some(p) => {
            let ids = inv.select(p).map_err(|e| e.to_string())?;
            if ids.is_empty() && args.failed_from.is_none() {
                return Err(format!(
                    "pattern {p:?} selects no host in {}",
                    inventory_name(inv_paths)
                ));
            }
            ids
        }
        None if args.failed_from.is_some() => (0..inv.hosts.len()).collect(),
        None => return Err("a target PATTERN is required (or --failed-from last)".to_string()),
    };
    let mut pattern = args.pattern.clone().unwrap_or_default();
    if let Some(which) = &args.failed_from {
        let log = crate::oplog::read::read_path(oplog)
            .map_err(|e| format!("cannot read the operation log {}: {e}", oplog.display()))?;
        for w in &log.warnings {
            eprintln!("fleetdeck run: warning: {w}");
        }
        let last = crate::oplog::read::find_job(&log.records, which, "exec").ok_or_else(|| {
            if which == "last" {
                format!("--failed-from last: no command in the operation log {}", oplog.display())
            } else {
                format!(
                    "--failed-from {which}: no such run in the operation log {} (`fleetdeck log` lists them)",
                    oplog.display()
                )
            }
        })?;
        let failed = last.not_succeeded();
        for name in &failed {
            if inv.host_by_name(name).is_none() {
                eprintln!(
                    "fleetdeck run: warning: host {name:?} of run {} is no longer in the inventory",
                    last.start.run
                );
            }
        }
        let wanted: std::collections::HashSet<&str> = failed.iter().map(String::as_str).collect();
        ids.retain(|&id| wanted.contains(inv.hosts[id].name.as_str()));
        if ids.is_empty() {
            eprintln!(
                "fleetdeck run: nothing to re-run: every host of run {} succeeded{}",
                last.start.run,
                if args.pattern.is_some() {
                    " or is outside the pattern"
                } else {
                    ""
                }
            );
            return Ok(None);
        }
        let names: Vec<&str> = ids.iter().map(|&id| inv.hosts[id].name.as_str()).collect();
        pattern = crate::output::compact(&names);
    }
    let (targets, known_hosts) = plan_targets(&inv, &ids, &args.conn)?;
    Ok(Some(Plan {
        targets,
        pattern,
        known_hosts,
    }))
}
