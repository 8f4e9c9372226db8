//! One host's connection settings as the levels are laid over each other: inventory levels
//! override, the ssh_config only fills what no inventory level gave (as OpenSSH puts its
//! config behind command-line options), and defaults come last.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::provenance::{HostOrigins, Origin, Provenance};
use super::raw::Settings;
use crate::inventory::error::Loc;
use crate::inventory::sshconfig::SshConfig;
use crate::inventory::sshmatch::Tokens;
use crate::inventory::ConnSettings;

/// The settings of one host so far, with where each came from.
pub(super) struct Effective {
    pub conn: ConnSettings,
    pub vars: BTreeMap<String, String>,
    pub origins: HostOrigins,
    /// Whether some level gave the address; its origin alone cannot tell, since the address
    /// defaults to the host's name only at the very end.
    address_set: bool,
}

impl Effective {
    /// Before any level. Not [`ConnSettings::default`]: that looks up the operator's name,
    /// which only hosts that no level gives a user need (see [`Effective::finish`]).
    pub fn new() -> Self {
        Self {
            conn: ConnSettings {
                address: String::new(),
                port: 22,
                user: String::new(),
                identity_files: Vec::new(),
                jump: Vec::new(),
                proxy_command: None,
                connect_timeout: Duration::from_secs(10),
                options: crate::inventory::SshOptions::default(),
            },
            vars: BTreeMap::new(),
            origins: HostOrigins::default(),
            address_set: false,
        }
    }

    /// Applies one level's settings over the effective ones.
    pub fn apply(&mut self, s: &Settings, level: usize, prov: &mut Provenance) {
        let (conn, o) = (&mut self.conn, &mut self.origins);
        let mut origin = |level: usize, at: &Loc| prov.at(level, at);
        if let Some(a) = &s.address {
            conn.address.clone_from(&a.v);
            o.address = origin(level, &a.at);
            self.address_set = true;
        }
        if let Some(p) = &s.port {
            conn.port = p.v;
            o.port = origin(level, &p.at);
        }
        if let Some(u) = &s.user {
            conn.user.clone_from(&u.v);
            o.user = origin(level, &u.at);
        }
        if let Some(i) = &s.identity {
            conn.identity_files.clone_from(&i.v);
            o.identity = origin(level, &i.at);
        }
        // One level names one way through: its jump (even none) replaces a proxy command
        // from below, its proxy command a jump; a jump wins when a level gives both.
        if let Some(j) = &s.jump {
            conn.jump.clone_from(&j.v);
            o.jump = origin(level, &j.at);
            conn.proxy_command = None;
            o.proxy_command = Origin::Default;
        } else if let Some(p) = &s.proxy_command {
            conn.proxy_command = Some(p.v.clone());
            o.proxy_command = origin(level, &p.at);
            conn.jump.clear();
            o.jump = Origin::Default;
        }
        if let Some(t) = &s.connect_timeout {
            conn.connect_timeout = t.v;
            o.connect_timeout = origin(level, &t.at);
        }
        for opt in &s.options {
            conn.options.set(opt.v.clone());
            o.options[opt.v.index()] = origin(level, &opt.at);
        }
        for (k, v) in &s.vars {
            self.vars.insert(k.clone(), v.v.clone());
            match o.vars.iter_mut().find(|(x, _)| x == k) {
                Some(slot) => slot.1 = origin(level, &v.at),
                None => o.vars.push((k.clone(), origin(level, &v.at))),
            }
        }
    }

    /// Fills what no inventory level gave from the ssh_config's blocks for host `name`.
    pub fn apply_ssh(
        &mut self,
        cfg: &SshConfig,
        name: &str,
        prov: &mut Provenance,
        ssh_levels: &mut HashMap<Arc<Path>, u32>,
    ) {
        let found = cfg.lookup(name);
        let mut level = |at: &Loc| prov.ssh_origin(ssh_levels, at);
        let (conn, o) = (&mut self.conn, &mut self.origins);
        if !self.address_set {
            if let Some(v) = found.hostname {
                conn.address = v.v;
                o.address = level(&v.at);
                self.address_set = true;
            }
        }
        if o.port == Origin::Default {
            if let Some(v) = found.port {
                conn.port = v.v;
                o.port = level(&v.at);
            }
        }
        if o.user == Origin::Default {
            if let Some(v) = found.user {
                conn.user = v.v;
                o.user = level(&v.at);
            }
        }
        // ProxyJump and ProxyCommand share one slot: the ssh_config fills it only when no
        // inventory level gave either (`lookup` already kept the first of the two).
        if o.jump == Origin::Default && o.proxy_command == Origin::Default {
            if let Some(v) = found.jump {
                conn.jump = v.v;
                o.jump = level(&v.at);
            } else if let Some(v) = found.proxy_command {
                conn.proxy_command = Some(v.v);
                o.proxy_command = level(&v.at);
            }
        }
        if o.connect_timeout == Origin::Default {
            if let Some(v) = found.connect_timeout {
                conn.connect_timeout = v.v;
                o.connect_timeout = level(&v.at);
            }
        }
        for opt in found.options {
            let i = opt.v.index();
            if o.options[i] == Origin::Default {
                conn.options.set(opt.v);
                o.options[i] = level(&opt.at);
            }
        }
        // OpenSSH tries `-i` files first, then every IdentityFile of every matching block.
        let mut first_ssh = None;
        for v in found.identity_files {
            if !conn.identity_files.contains(&v.v) {
                conn.identity_files.push(v.v);
                first_ssh.get_or_insert(v.at);
            }
        }
        if o.identity == Origin::Default {
            if let Some(at) = first_ssh {
                o.identity = level(&at);
            }
        }
    }

    /// The defaults for what no level gave: the host's name as its address, the operator as
    /// its user.
    pub fn finish(mut self, name: &str) -> Self {
        if !self.address_set {
            self.conn.address = name.to_string();
            self.origins.address = Origin::HostName;
        }
        if self.origins.user == Origin::Default {
            self.conn.user = crate::inventory::default_user();
        }
        let o = &self.conn.options;
        if o.user_known_hosts.is_some() || o.global_known_hosts.is_some() {
            // Known_hosts file names expand with the final address, port and user.
            let local_user = crate::inventory::default_user();
            let tokens = Tokens {
                host: &self.conn.address,
                original: name,
                port: self.conn.port,
                user: &self.conn.user,
                local_user: &local_user,
            };
            let mut options = std::mem::take(&mut self.conn.options);
            options.expand_paths(&tokens);
            self.conn.options = options;
        }
        self
    }
}
