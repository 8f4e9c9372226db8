//! The inventory: hosts in nested groups, their inherited connection settings, and the
//! target pattern language. No terminal or SSH code lives here.
//!
//! Owned by the inventory work (issue 4). The types below are the contract the engine, the
//! console and the command line build on; extend them, don't fork them.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// Index of a group in [`Inventory::groups`]. Group 0 is always `all`.
pub type GroupId = usize;
/// Index of a host in [`Inventory::hosts`].
pub type HostId = usize;

/// A loaded, fully resolved inventory.
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    /// The file it was read from (for messages).
    pub source: PathBuf,
    /// Group 0 is the root `all`; its `children` are the top-level groups.
    pub groups: Vec<Group>,
    pub hosts: Vec<Host>,
}

/// A group: a node of the tree.
#[derive(Debug, Clone, Default)]
pub struct Group {
    pub name: String,
    /// Child groups, in file order.
    pub children: Vec<GroupId>,
    /// Hosts listed directly in this group, in file order.
    pub hosts: Vec<HostId>,
}

/// A host with its effective settings (inheritance already applied).
#[derive(Debug, Clone)]
pub struct Host {
    /// The inventory name, unique; what the operator sees.
    pub name: String,
    /// Effective connection settings.
    pub conn: ConnSettings,
    /// Free-form labels/vars, effective after inheritance.
    pub vars: BTreeMap<String, String>,
    /// Groups that list this host directly.
    pub groups: Vec<GroupId>,
}

/// Where a host's connection goes and how it authenticates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnSettings {
    /// DNS name, IPv4 or IPv6 (without brackets).
    pub address: String,
    pub port: u16,
    pub user: String,
    /// Identity files to try, most specific first.
    pub identity_files: Vec<PathBuf>,
    /// Jump hosts, first hop first; each is an inventory host name or `[user@]host[:port]`.
    pub jump: Vec<String>,
    pub connect_timeout: Duration,
}

impl Default for ConnSettings {
    fn default() -> Self {
        Self {
            address: String::new(),
            port: 22,
            user: default_user(),
            identity_files: Vec::new(),
            jump: Vec::new(),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// The login name of the operator, as OpenSSH would default it.
pub fn default_user() -> String {
    std::env::var("USER")
        .ok()
        .filter(|u| !u.is_empty())
        .or_else(|| {
            nix::unistd::User::from_uid(nix::unistd::getuid())
                .ok()
                .flatten()
                .map(|u| u.name)
        })
        .unwrap_or_else(|| "root".to_string())
}

impl Inventory {
    /// Host ids of every host in `group` and its descendants, deduplicated, in tree order.
    pub fn hosts_under(&self, group: GroupId) -> Vec<HostId> {
        let mut seen = vec![false; self.hosts.len()];
        let mut visited = vec![false; self.groups.len()];
        let mut out = Vec::new();
        self.collect_hosts(group, &mut seen, &mut visited, &mut out);
        out
    }

    fn collect_hosts(
        &self,
        group: GroupId,
        seen: &mut [bool],
        visited: &mut [bool],
        out: &mut Vec<HostId>,
    ) {
        if visited[group] {
            return;
        }
        visited[group] = true;
        for &h in &self.groups[group].hosts {
            if !seen[h] {
                seen[h] = true;
                out.push(h);
            }
        }
        for &c in &self.groups[group].children {
            self.collect_hosts(c, seen, visited, out);
        }
    }

    /// Finds a host by its inventory name.
    pub fn host_by_name(&self, name: &str) -> Option<HostId> {
        self.hosts.iter().position(|h| h.name == name)
    }

    /// Finds a group by name.
    pub fn group_by_name(&self, name: &str) -> Option<GroupId> {
        self.groups.iter().position(|g| g.name == name)
    }
}
