//! The inventory: hosts in nested groups, their inherited connection settings, and the
//! target pattern language. No terminal or SSH code lives here.
//!
//! Owned by the inventory work (issue 4). The types below are the contract the engine, the
//! console and the command line build on; extend them, don't fork them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

mod ansible;
mod dir;
pub mod error;
mod ini;
mod parse;
mod pattern;
pub mod range;
mod resolve;
mod script;
mod source;
pub mod sshargs;
pub mod sshconfig;
mod sshmatch;
pub mod sshopts;
pub mod vars;
mod yaml;

pub use error::{InventoryError, Loc, PatternError, RangeError};
pub use range::{expand_range, MAX_RANGE_HOSTS};
pub use resolve::{HostOrigins, Origin, Provenance};
use source::{base_dir, host_list, is_json, read_inventory, Format};
pub use sshmatch::{expand as expand_tokens, Tokens};
pub use sshopts::{SshOpt, SshOptions};

/// Environment variable naming the ssh_config applied to inventory hosts; empty means none.
/// Unset, `~/.ssh/config` is used when it exists.
pub const SSH_CONFIG_ENV: &str = "FLEETDECK_SSH_CONFIG";

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
    /// known_hosts files named by the inventory (`known_hosts:`), absolute or relative to the
    /// working directory, `~` expanded.
    pub known_hosts: Vec<PathBuf>,
    /// Where each host's settings came from (see [`Inventory::provenance`]).
    pub provenance: Provenance,
    /// What Ansible only warns about (an unknown group key, an unparsable file in an
    /// inventory directory…), each `FILE:LINE:COL: message`; shown, not fatal.
    pub warnings: Vec<InventoryError>,
}

/// A group: a node of the tree.
#[derive(Debug, Clone, Default)]
pub struct Group {
    pub name: String,
    /// Child groups, in file order.
    pub children: Vec<GroupId>,
    /// Hosts listed directly in this group, in file order.
    pub hosts: Vec<HostId>,
    /// Groups named by `include:`: their hosts are members of this group too (for targets and
    /// counts), but this group's settings do not flow into them.
    pub includes: Vec<GroupId>,
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
    /// OpenSSH's `ProxyCommand`, as written (`%h %p %r %n %%` expand at connect time): SSH
    /// runs over its stdin and stdout. Never set together with `jump` (the first wins).
    pub proxy_command: Option<String>,
    pub connect_timeout: Duration,
    /// Per-host OpenSSH options (known_hosts files, host key checking, keepalives…).
    pub options: SshOptions,
}

impl Default for ConnSettings {
    fn default() -> Self {
        Self {
            address: String::new(),
            port: 22,
            user: default_user(),
            identity_files: Vec::new(),
            jump: Vec::new(),
            proxy_command: None,
            connect_timeout: Duration::from_secs(10),
            options: SshOptions::default(),
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

/// What loading takes from outside the inventory file, passed explicitly so that tests and
/// embedders need not steer it through process-wide environment variables (setting those
/// races with every other thread reading the environment).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// The ssh_config applied to the hosts, or none. Never applied to an inventory that is
    /// itself an ssh_config.
    pub ssh_config: Option<PathBuf>,
    /// How long dynamic inventory scripts may run in all; none means
    /// [`DEFAULT_SCRIPT_TIMEOUT`].
    pub script_timeout: Option<Duration>,
}

/// How long a dynamic inventory script may run (`--list` and every `--host`) by default.
pub const DEFAULT_SCRIPT_TIMEOUT: Duration = Duration::from_secs(30);

impl LoadOptions {
    /// The operator's setup, as the command line and the console use it: [`SSH_CONFIG_ENV`]
    /// (empty means none), else `~/.ssh/config` when it exists.
    pub fn from_env() -> Self {
        let ssh_config = match std::env::var_os(SSH_CONFIG_ENV) {
            Some(v) if v.is_empty() => None,
            Some(v) => Some(expand_tilde(&v.to_string_lossy())),
            None => crate::paths::home_dir()
                .map(|h| h.join(".ssh").join("config"))
                .filter(|p| p.is_file()),
        };
        Self {
            ssh_config,
            script_timeout: None,
        }
    }

    /// These options with `path` as the ssh_config.
    #[must_use]
    pub fn with_ssh_config(mut self, path: impl Into<PathBuf>) -> Self {
        self.ssh_config = Some(path.into());
        self
    }
}

impl Inventory {
    /// Reads an inventory: fleetdeck's YAML, Ansible's YAML or INI, an Ansible inventory
    /// directory (with `group_vars/` and `host_vars/`), or an ssh_config (detected by
    /// content, or by the file name `config`), then applies the operator's ssh_config
    /// ([`LoadOptions::from_env`]) to its hosts as OpenSSH would.
    pub fn load(path: &Path) -> Result<Inventory, InventoryError> {
        Self::load_with(path, &LoadOptions::from_env())
    }

    /// [`Inventory::load`] with explicit options instead of the environment's.
    pub fn load_with(path: &Path, options: &LoadOptions) -> Result<Inventory, InventoryError> {
        let timeout = options.script_timeout.unwrap_or(DEFAULT_SCRIPT_TIMEOUT);
        if let Some(raw) = Self::read_dir_or_script(path, timeout)? {
            let ssh = options
                .ssh_config
                .as_deref()
                .map(sshconfig::SshConfig::load)
                .transpose()?;
            return resolve::resolve(raw, ssh.as_ref());
        }
        let text = read_inventory(path)?;
        Self::load_str_with(path, &text, options)
    }

    /// [`Inventory::load`] from text already read; `path` names it in messages and anchors
    /// relative paths.
    pub fn load_str(path: &Path, text: &str) -> Result<Inventory, InventoryError> {
        Self::load_str_with(path, text, &LoadOptions::from_env())
    }

    /// [`Inventory::load_str`] with explicit options instead of the environment's.
    pub fn load_str_with(
        path: &Path,
        text: &str,
        options: &LoadOptions,
    ) -> Result<Inventory, InventoryError> {
        if Self::is_ssh_config(path, text) {
            return Self::load_inner(path, text, None);
        }
        let ssh = options
            .ssh_config
            .as_deref()
            .map(sshconfig::SshConfig::load)
            .transpose()?;
        Self::load_inner(path, text, ssh.as_ref())
    }

    /// [`Inventory::load`] with an explicit ssh_config (or none), whatever the environment
    /// says. Unlike [`Inventory::load_with`], a given ssh_config is read (and its errors
    /// reported) even when the inventory is itself an ssh_config.
    pub fn load_with_ssh_config(
        path: &Path,
        ssh_config: Option<&Path>,
    ) -> Result<Inventory, InventoryError> {
        let ssh = ssh_config.map(sshconfig::SshConfig::load).transpose()?;
        if let Some(raw) = Self::read_dir_or_script(path, DEFAULT_SCRIPT_TIMEOUT)? {
            return resolve::resolve(raw, ssh.as_ref());
        }
        let text = read_inventory(path)?;
        Self::load_inner(path, &text, ssh.as_ref())
    }

    fn load_inner(
        path: &Path,
        text: &str,
        ssh: Option<&sshconfig::SshConfig>,
    ) -> Result<Inventory, InventoryError> {
        if Self::is_ssh_config(path, text) {
            let cfg = sshconfig::SshConfig::load(path)?;
            let mut raw = resolve::Raw::new(path, resolve::Order::FileOrder, "defaults");
            for (name, _) in &cfg.concrete_hosts {
                raw.add_host(0, name, resolve::Settings::default())?;
            }
            return resolve::resolve(raw, Some(&cfg));
        }
        let file: Arc<Path> = Arc::from(path);
        let ctx = parse::Ctx {
            file: Arc::clone(&file),
            base: base_dir(path),
        };
        let mut raw = match Format::of(path, text) {
            Format::Ini => ini::read(&ctx, text, path)?,
            Format::Yaml => Self::read_yaml(&ctx, path, text)?,
        };
        if raw.order == resolve::Order::AnsibleName {
            dir::vars_dirs(&ctx.base, &mut raw)?;
        }
        resolve::resolve(raw, ssh)
    }

    /// Several inventory sources merged as Ansible merges `-i a -i b`: each an Ansible
    /// inventory (INI, YAML, a directory, a script, `ansible-inventory --list` JSON) or a
    /// host list (`web1,web2,`). One source is read as [`Inventory::load_with`] reads it
    /// (fleetdeck's own format and ssh_configs included).
    pub fn load_sources(
        paths: &[PathBuf],
        options: &LoadOptions,
    ) -> Result<Inventory, InventoryError> {
        if let [one] = paths {
            if host_list(one).is_none() {
                return Self::load_with(one, options);
            }
        }
        let timeout = options.script_timeout.unwrap_or(DEFAULT_SCRIPT_TIMEOUT);
        let raw = dir::read_sources(paths, timeout)?;
        let ssh = options
            .ssh_config
            .as_deref()
            .map(sshconfig::SshConfig::load)
            .transpose()?;
        resolve::resolve(raw, ssh.as_ref())
    }

    /// An inventory directory or an executable inventory script; `None` for a plain file.
    fn read_dir_or_script(
        path: &Path,
        timeout: Duration,
    ) -> Result<Option<resolve::Raw>, InventoryError> {
        if path.is_dir() {
            return dir::read(path, timeout).map(Some);
        }
        if !script::is_script(path) {
            return Ok(None);
        }
        let mut raw = resolve::Raw::new(path, resolve::Order::AnsibleName, "group all");
        let base = base_dir(path);
        script::run_into(path, timeout, &base, &mut raw)?;
        ansible::finish(&mut raw);
        dir::vars_dirs(&base, &mut raw)?;
        Ok(Some(raw))
    }

    /// fleetdeck's YAML or Ansible's, or inventory-script JSON.
    fn read_yaml(
        ctx: &parse::Ctx,
        path: &Path,
        text: &str,
    ) -> Result<resolve::Raw, InventoryError> {
        let Some(root) = yaml::parse(text, &ctx.file)? else {
            return Err(InventoryError::new(
                Loc::new(&ctx.file, 1, 1),
                "the inventory is empty: expected defaults/groups/hosts or an Ansible inventory",
            ));
        };
        if is_json(path) && script::looks_like_script_json(&root) {
            let mut raw = resolve::Raw::new(path, resolve::Order::AnsibleName, "group all");
            script::read_json(ctx, &root, &mut raw)?;
            ansible::finish(&mut raw);
            Ok(raw)
        } else if ansible::looks_like_ansible(&root) {
            ansible::read(ctx, &root, path)
        } else {
            parse::read(ctx, &root, path)
        }
    }

    /// An ssh_config by content (its first meaningful line starts with a keyword such as
    /// `Host` or `Include`), or an empty file named `config`.
    fn is_ssh_config(path: &Path, text: &str) -> bool {
        let is_config_name = path.file_name().is_some_and(|n| n == "config");
        sshconfig::looks_like_ssh_config(text) || (is_config_name && text.trim().is_empty())
    }

    /// Hosts a target pattern selects (see [`pattern`](self) docs: Ansible's host patterns
    /// plus fleetdeck's ranges), in inventory order, without duplicates.
    pub fn select(&self, pattern: &str) -> Result<Vec<HostId>, PatternError> {
        pattern::select(self, pattern)
    }

    /// Each effective setting of `host` as `(setting, value, origin)`, for `inventory --host`.
    /// Origins read like `group prod (inventory.yaml:12:5)`, `host web01 (…)`,
    /// `ssh_config (~/.ssh/config:4:3)` or `default`.
    pub fn provenance(&self, host: HostId) -> Vec<(String, String, String)> {
        let h = &self.hosts[host];
        let o = self.provenance.hosts.get(host).cloned().unwrap_or_default();
        let p = &self.provenance;
        let list = |v: &[String]| {
            if v.is_empty() {
                "(none)".to_string()
            } else {
                v.join(",")
            }
        };
        let mut out = vec![
            (
                "address".to_string(),
                h.conn.address.clone(),
                p.describe(o.address),
            ),
            (
                "port".to_string(),
                h.conn.port.to_string(),
                p.describe(o.port),
            ),
            ("user".to_string(), h.conn.user.clone(), p.describe(o.user)),
            (
                "identity".to_string(),
                list(
                    &h.conn
                        .identity_files
                        .iter()
                        .map(|f| f.display().to_string())
                        .collect::<Vec<_>>(),
                ),
                p.describe(o.identity),
            ),
            ("jump".to_string(), list(&h.conn.jump), p.describe(o.jump)),
            (
                "connect_timeout".to_string(),
                format!("{}s", h.conn.connect_timeout.as_secs_f64()),
                p.describe(o.connect_timeout),
            ),
        ];
        if let Some(cmd) = &h.conn.proxy_command {
            // Only when set: most hosts have none, and `jump` already says "(none)".
            out.insert(
                5,
                (
                    "proxy_command".to_string(),
                    cmd.clone(),
                    p.describe(o.proxy_command),
                ),
            );
        }
        for (i, name, shown) in h.conn.options.rows() {
            out.push((name.to_string(), shown, p.describe(o.options[i])));
        }
        let origin_of = |k: &str| {
            o.vars
                .iter()
                .find(|(x, _)| x == k)
                .map_or_else(|| "default".to_string(), |(_, og)| p.describe(*og))
        };
        let (become_, from) = vars::become_summary(&h.vars);
        out.push(("become".to_string(), become_, origin_of(from)));
        for (k, v) in &h.vars {
            let shown = vars::shown(k, v).to_string();
            out.push((format!("vars.{k}"), shown, origin_of(k)));
        }
        out
    }

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
        for &c in &self.groups[group].includes {
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

pub use crate::paths::expand_tilde;

#[cfg(test)]
mod tests {
    use super::*;

    const FLEET: &str = "hosts:\n  web01: {}\n";

    #[test]
    fn load_options_choose_the_ssh_config() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = dir.path().join("ssh_config");
        std::fs::write(&cfg, "Host web01\n  User deploy\n  Port 2222\n").expect("write");
        let path = Path::new("fleet.yaml");

        let with = LoadOptions::default().with_ssh_config(&cfg);
        let inv = Inventory::load_str_with(path, FLEET, &with).expect("loads");
        assert_eq!(inv.hosts[0].conn.user, "deploy");
        assert_eq!(inv.hosts[0].conn.port, 2222);

        let inv = Inventory::load_str_with(path, FLEET, &LoadOptions::default()).expect("loads");
        assert_eq!(inv.hosts[0].conn.port, 22);

        let missing = LoadOptions::default().with_ssh_config(dir.path().join("absent"));
        assert!(Inventory::load_str_with(path, FLEET, &missing).is_err());
    }

    #[test]
    fn one_way_through_per_level_proxy_command_or_jump() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = dir.path().join("ssh_config");
        std::fs::write(
            &cfg,
            "Host a c\n  ProxyJump sshjump\nHost *\n  ProxyCommand from-ssh-config %h\n",
        )
        .expect("write");
        let inv = "all:\n  hosts:\n    c:\n    d:\n  children:\n    web:\n      vars:\n        \
                   ansible_ssh_common_args: '-o ProxyCommand=\"nc %h %p\"'\n      hosts:\n        \
                   a:\n        b:\n          ansible_ssh_common_args: '-J gw'\n";
        let with = LoadOptions::default().with_ssh_config(&cfg);
        let inv = Inventory::load_str_with(Path::new("inv.yml"), inv, &with).expect("loads");
        let conn = |n: &str| &inv.hosts[inv.host_by_name(n).expect("host")].conn;
        let way = |n: &str| (conn(n).jump.clone(), conn(n).proxy_command.clone());
        let s = |v: &str| Some(v.to_string());
        // The group's ProxyCommand, not the ssh_config's ProxyJump (the inventory wins).
        assert_eq!(way("a"), (vec![], s("nc %h %p")));
        // The host's own -J replaces its group's ProxyCommand.
        assert_eq!(way("b"), (vec!["gw".to_string()], None));
        // From the ssh_config: the first of ProxyJump and ProxyCommand.
        assert_eq!(way("c"), (vec!["sshjump".to_string()], None));
        assert_eq!(way("d"), (vec![], s("from-ssh-config %h")));
        let row = |n: &str| {
            inv.provenance(inv.host_by_name(n).expect("host"))
                .into_iter()
                .find(|r| r.0 == "proxy_command")
        };
        let (_, v, from) = row("d").expect("a proxy_command row");
        assert_eq!(v, "from-ssh-config %h");
        assert!(
            from.starts_with("ssh_config (") && from.ends_with(":4:3)"),
            "{from}"
        );
        assert!(row("a").expect("row").2.starts_with("group web"));
        assert!(row("b").is_none() && row("c").is_none(), "only when set");
    }
}
