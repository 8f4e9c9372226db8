//! Where each effective setting came from, kept compact (an index into a level table plus a
//! line and column) because an inventory may hold a hundred thousand hosts.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use super::raw::Raw;
use crate::inventory::error::Loc;

/// Where one effective setting came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Origin {
    /// fleetdeck's built-in default.
    #[default]
    Default,
    /// The address defaulted to the host's name.
    HostName,
    /// Written at a level (index into [`Provenance::levels`]) in a file (index into
    /// [`Provenance::files`]) at a line and column.
    At {
        level: u32,
        file: u32,
        line: u32,
        col: u32,
    },
}

/// Origins of one host's effective settings.
#[derive(Debug, Clone, Default)]
pub struct HostOrigins {
    pub address: Origin,
    pub port: Origin,
    pub user: Origin,
    pub identity: Origin,
    pub jump: Origin,
    pub proxy_command: Origin,
    pub connect_timeout: Origin,
    /// Parallel to [`OPTION_KEYWORDS`](crate::inventory::sshopts::OPTION_KEYWORDS).
    pub options: [Origin; crate::inventory::sshopts::OPTION_COUNT],
    pub vars: Vec<(String, Origin)>,
}

/// Where every effective setting of every host came from (for `inventory --host`).
#[derive(Debug, Clone, Default)]
pub struct Provenance {
    /// Label and file of each level: "defaults", "group prod", "host web01", "ssh_config".
    pub levels: Vec<(String, Arc<Path>)>,
    /// Parallel to [`Inventory::hosts`](crate::inventory::Inventory::hosts).
    pub hosts: Vec<HostOrigins>,
    /// Every file a setting was read from (an inventory directory has many).
    pub files: Vec<Arc<Path>>,
    /// [`Provenance::files`] by the address of the shared path.
    file_ix: HashMap<usize, u32>,
}

impl Provenance {
    /// The levels every inventory has: each group (group 0 under the format's own label),
    /// then each host. ssh_config files are added as hosts pick settings from them.
    pub(super) fn for_raw(raw: &Raw) -> Self {
        let mut prov = Provenance::default();
        for (g, grp) in raw.groups.iter().enumerate() {
            let label = if g == 0 {
                raw.root_label.clone()
            } else {
                format!("group {}", grp.name)
            };
            prov.levels.push((label, Arc::clone(&raw.file)));
        }
        for h in &raw.hosts {
            prov.levels
                .push((format!("host {}", h.name), Arc::clone(&raw.file)));
        }
        for grp in &raw.groups {
            prov.levels
                .push((format!("group_vars/{}", grp.name), Arc::clone(&raw.file)));
        }
        for h in &raw.hosts {
            prov.levels
                .push((format!("host_vars/{}", h.name), Arc::clone(&raw.file)));
        }
        prov
    }

    /// The origin of a setting written at inventory level `level` at `at`.
    pub(super) fn at(&mut self, level: usize, at: &Loc) -> Origin {
        let key = Arc::as_ptr(&at.file).cast::<u8>() as usize;
        let files = &mut self.files;
        let file = *self.file_ix.entry(key).or_insert_with(|| {
            files.push(Arc::clone(&at.file));
            (files.len() - 1) as u32
        });
        Origin::At {
            level: level as u32,
            file,
            line: at.line as u32,
            col: at.col as u32,
        }
    }

    /// The origin of a setting written in an ssh_config file at `at`; `ids` remembers the
    /// level of each file so that a file is one level however many hosts use it.
    pub(super) fn ssh_origin(&mut self, ids: &mut HashMap<Arc<Path>, u32>, at: &Loc) -> Origin {
        let id = *ids.entry(Arc::clone(&at.file)).or_insert_with(|| {
            self.levels
                .push(("ssh_config".to_string(), Arc::clone(&at.file)));
            (self.levels.len() - 1) as u32
        });
        self.at(id as usize, at)
    }

    pub fn describe(&self, o: Origin) -> String {
        match o {
            Origin::Default => "default".to_string(),
            Origin::HostName => "default (the host's name)".to_string(),
            Origin::At {
                level,
                file,
                line,
                col,
            } => match (
                self.levels.get(level as usize),
                self.files.get(file as usize),
            ) {
                (Some((label, _)), Some(file)) => {
                    format!("{label} ({}:{line}:{col})", file.display())
                }
                _ => "unknown".to_string(),
            },
        }
    }
}
