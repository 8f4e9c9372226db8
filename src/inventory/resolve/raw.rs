//! The inventory as written, before inheritance: what the format readers (fleetdeck's YAML,
//! Ansible's, ssh_config) build, each setting with the place it was written so that later
//! errors and `inventory --host` can point at it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::inventory::error::{InventoryError, Loc};
use crate::inventory::SshOpt;

/// A value with the place it was written.
#[derive(Debug, Clone)]
pub struct Val<T> {
    pub v: T,
    pub at: Loc,
}

/// Settings as written at one level (defaults, a group or a host).
#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub address: Option<Val<String>>,
    pub port: Option<Val<u16>>,
    pub user: Option<Val<String>>,
    pub identity: Option<Val<Vec<PathBuf>>>,
    pub jump: Option<Val<Vec<String>>>,
    pub proxy_command: Option<Val<String>>,
    pub connect_timeout: Option<Val<Duration>>,
    /// OpenSSH options, one value per option at most.
    pub options: Vec<Val<SshOpt>>,
    pub vars: Vec<(String, Val<String>)>,
}

impl Settings {
    /// Lays `later` over `self` (a host listed twice): later values win, except that one host
    /// name cannot have two different addresses.
    fn overlay(&mut self, name: &str, later: Settings) -> Result<(), InventoryError> {
        if let (Some(a), Some(b)) = (&self.address, &later.address) {
            if a.v != b.v {
                return Err(InventoryError::new(
                    b.at.clone(),
                    format!(
                        "host {name:?} is given a second address {:?}; it already has {:?} (at {})",
                        b.v, a.v, a.at
                    ),
                ));
            }
        }
        self.merge(later);
        Ok(())
    }

    /// Lays `later` over `self`: every setting `later` gives replaces this one's (a jump and a
    /// proxy command are one setting), options and vars one by one.
    pub fn merge(&mut self, later: Settings) {
        macro_rules! take {
            ($($f:ident),*) => { $( if later.$f.is_some() { self.$f = later.$f; } )* };
        }
        // A jump and a proxy command are one setting: the later of the two replaces the other.
        if later.jump.is_some() || later.proxy_command.is_some() {
            self.jump = None;
            self.proxy_command = None;
        }
        take!(
            address,
            port,
            user,
            identity,
            jump,
            proxy_command,
            connect_timeout
        );
        merge_options(&mut self.options, later.options);
        for (k, v) in later.vars {
            match self.vars.iter_mut().find(|(x, _)| *x == k) {
                Some(slot) => slot.1 = v,
                None => self.vars.push((k, v)),
            }
        }
    }
}

/// Lays `later` options over `into`: a later value of an option replaces the earlier one.
fn merge_options(into: &mut Vec<Val<SshOpt>>, later: Vec<Val<SshOpt>>) {
    for o in later {
        match into.iter_mut().find(|x| x.v.index() == o.v.index()) {
            Some(slot) => *slot = o,
            None => into.push(o),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct RawGroup {
    pub name: String,
    pub at: Option<Loc>,
    pub settings: Settings,
    /// From `group_vars/` next to the inventory (Ansible's host_group_vars plugin).
    pub vars_files: Settings,
    pub children: Vec<usize>,
    /// `include:` names with where they were written; resolved after the whole file is read.
    pub includes: Vec<(String, Loc)>,
    pub hosts: Vec<usize>,
    pub priority: i64,
    /// Where each child was attached, for cycle messages.
    pub child_at: Vec<Option<Loc>>,
}

#[derive(Debug, Clone)]
pub struct RawHost {
    pub name: String,
    pub settings: Settings,
    /// From `host_vars/` next to the inventory.
    pub vars_files: Settings,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// fleetdeck's format: at equal depth, the later group in the file wins.
    FileOrder,
    /// Ansible: at equal depth, by `ansible_group_priority` then by name.
    AnsibleName,
}

/// An inventory as written, before inheritance.
#[derive(Debug)]
pub struct Raw {
    pub source: PathBuf,
    pub file: Arc<Path>,
    pub groups: Vec<RawGroup>,
    pub hosts: Vec<RawHost>,
    pub group_ix: HashMap<String, usize>,
    pub host_ix: HashMap<String, usize>,
    pub known_hosts: Vec<PathBuf>,
    pub order: Order,
    /// Label of group 0's settings in provenance ("defaults" or "group all").
    pub root_label: String,
    /// What Ansible only warns about: shown, not fatal.
    pub warnings: Vec<InventoryError>,
}

impl Raw {
    pub fn new(source: &Path, order: Order, root_label: &str) -> Self {
        let mut raw = Self {
            source: source.to_path_buf(),
            file: Arc::from(source),
            groups: Vec::new(),
            hosts: Vec::new(),
            group_ix: HashMap::new(),
            host_ix: HashMap::new(),
            known_hosts: Vec::new(),
            order,
            root_label: root_label.to_string(),
            warnings: Vec::new(),
        };
        raw.group_ix.insert("all".to_string(), 0);
        raw.groups.push(RawGroup {
            name: "all".to_string(),
            ..RawGroup::default()
        });
        raw
    }

    /// The group of that name, created if new.
    pub fn group(&mut self, name: &str) -> usize {
        if let Some(&g) = self.group_ix.get(name) {
            return g;
        }
        let g = self.groups.len();
        self.groups.push(RawGroup {
            name: name.to_string(),
            ..RawGroup::default()
        });
        self.group_ix.insert(name.to_string(), g);
        g
    }

    pub fn add_child(&mut self, parent: usize, child: usize, at: Option<Loc>) {
        if !self.groups[parent].children.contains(&child) {
            self.groups[parent].children.push(child);
            self.groups[parent].child_at.push(at);
        }
    }

    /// Lists host `name` in `group`; the same name listed again is the same host.
    pub fn add_host(
        &mut self,
        group: usize,
        name: &str,
        settings: Settings,
    ) -> Result<usize, InventoryError> {
        if let Some(&h) = self.host_ix.get(name) {
            self.hosts[h].settings.overlay(name, settings)?;
            if !self.groups[group].hosts.contains(&h) {
                self.groups[group].hosts.push(h);
            }
            return Ok(h);
        }
        // A new host is in no group yet: no scan of the group's (maybe 10,000) hosts.
        let h = self.hosts.len();
        self.hosts.push(RawHost {
            name: name.to_string(),
            settings,
            vars_files: Settings::default(),
        });
        self.host_ix.insert(name.to_string(), h);
        self.groups[group].hosts.push(h);
        Ok(h)
    }
}
