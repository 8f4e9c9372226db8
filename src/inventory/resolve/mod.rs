//! The format-independent middle: groups and hosts as written (each setting with the place it
//! was written), then inheritance, `~/.ssh/config`, and the resolved [`Inventory`].
//!
//! Inheritance rule: a host's settings start from the built-in defaults, then every group the
//! host is in (directly or as a descendant) is applied from the shallowest to the deepest, so
//! the most specific group wins; groups at the same depth are applied in file order (fleetdeck
//! format: the later group in the file wins) or, for Ansible inventories, as Ansible does:
//! by `ansible_group_priority`, then by name. The host's own settings come last. Settings that
//! no inventory level gives are then taken from `~/.ssh/config` for the host's name, as OpenSSH
//! would take them behind command-line options.

mod apply;
mod graph;
mod provenance;
mod raw;

use std::collections::HashMap;

pub use provenance::{HostOrigins, Origin, Provenance};
pub use raw::{Order, Raw, Settings, Val};

use super::error::InventoryError;
use super::sshconfig::SshConfig;
use super::{Group, Host, Inventory};
use apply::Effective;

/// Turns a raw inventory into the resolved one.
pub fn resolve(mut raw: Raw, ssh: Option<&SshConfig>) -> Result<Inventory, InventoryError> {
    crate::inventory::sshargs::warn_ignored(&mut raw);
    if let Some(cfg) = ssh {
        raw.warnings.extend(cfg.warnings.iter().cloned());
    }
    let includes = graph::resolve_includes(&mut raw)?;
    graph::check_cycles(&raw, &includes)?;
    let order = graph::LevelOrder::new(&raw);
    let mut prov = Provenance::for_raw(&raw);
    let mut ssh_levels = HashMap::new();
    let n = raw.groups.len();
    let m = raw.hosts.len();

    // Direct groups of each host.
    let mut direct: Vec<Vec<usize>> = vec![Vec::new(); raw.hosts.len()];
    for (g, grp) in raw.groups.iter().enumerate() {
        for &h in &grp.hosts {
            direct[h].push(g);
        }
    }

    let mut hosts = Vec::with_capacity(raw.hosts.len());
    let mut merged: Vec<usize> = Vec::new();
    for (h, rh) in raw.hosts.iter().enumerate() {
        let groups = &direct[h];
        let mut eff = Effective::new();
        let chain = order.chain_for(groups, &mut merged);
        for &g in chain {
            eff.apply(&raw.groups[g].settings, g, &mut prov);
        }
        // As Ansible: group_vars/ files over every group level of the inventory itself, then
        // the host's own vars, then host_vars/. Levels: groups, hosts, group_vars, host_vars.
        for &g in chain {
            eff.apply(&raw.groups[g].vars_files, n + m + g, &mut prov);
        }
        eff.apply(&rh.settings, n + h, &mut prov);
        eff.apply(&rh.vars_files, 2 * n + m + h, &mut prov);
        if let Some(cfg) = ssh {
            eff.apply_ssh(cfg, &rh.name, &mut prov, &mut ssh_levels);
        }
        let eff = eff.finish(&rh.name);
        prov.hosts.push(eff.origins);
        hosts.push(Host {
            name: rh.name.clone(),
            conn: eff.conn,
            vars: eff.vars,
            groups: groups.clone(),
        });
    }

    let groups = raw
        .groups
        .into_iter()
        .zip(includes)
        .map(|(g, inc)| Group {
            name: g.name,
            children: g.children,
            includes: inc.into_iter().map(|(t, _)| t).collect(),
            hosts: g.hosts,
        })
        .collect();
    Ok(Inventory {
        source: raw.source,
        groups,
        hosts,
        known_hosts: raw.known_hosts,
        provenance: prov,
        warnings: raw.warnings,
    })
}
