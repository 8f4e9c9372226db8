//! `fleetdeck lab`: a local fleet of real OpenSSH daemons on 127.0.0.1.
//!
//! One `sshd` process per host, each with its own port, ed25519 host key and home directory
//! (commands, shells and SFTP start there through a forced command, so a file sent to 8 hosts
//! lands 8 times). One client key is authorized for the current user. `up` writes into the lab
//! directory an inventory, a known_hosts file and an ssh_config; it is idempotent and adopts a
//! fleet left behind by a crashed run. `down` kills only the processes whose pid files and
//! command lines prove they are this lab's sshd, plus their per-connection children.
//!
//! Layout of a lab directory:
//! ```text
//! DIR/lab.json          state: base port and host count
//! DIR/inventory.yaml    the fleet for `fleetdeck -i`
//! DIR/known_hosts       [127.0.0.1]:PORT ssh-ed25519 ...
//! DIR/ssh_config        for `ssh -F DIR/ssh_config NAME`
//! DIR/client_key(.pub)  the client identity (ed25519, no passphrase)
//! DIR/authorized_keys   the client key, read by every host
//! DIR/hosts/NAME/       sshd_config, ssh_host_ed25519_key, sshd.pid, sshd.log, home/
//! ```
//!
//! The code follows the same seams: `topology` derives the hosts from the count, `keys` and
//! `files` make what daemons and clients read, `sshd` starts and stops the daemons,
//! `lifecycle` runs `up` and `down`, `state` keeps lab.json, `faults` breaks single hosts
//! for tests, [`reach`] builds bastion networks and the sudo user.

mod dir;
mod error;
mod faults;
mod files;
mod keys;
mod lifecycle;
mod procs;
pub mod reach;
mod sshd;
mod state;
mod topology;

pub use error::LabError;
/// Every live (non-zombie) descendant process of `root`: what tests check is left behind.
pub use procs::descendants;
pub use reach::ReachState;
pub use sshd::{sshd_path, SSHD, SSHD_ENV};
pub use topology::{LabHost, DEFAULT_BASE_PORT, MAX_HOSTS};

use std::path::{Path, PathBuf};

use keys::public_key;
use sshd::running_pid;

/// What `fleetdeck lab up` was asked for.
#[derive(Debug, Clone)]
pub struct LabOptions {
    /// Number of hosts (at least 1).
    pub hosts: usize,
    /// The lab directory (created if missing).
    pub dir: PathBuf,
    /// First port; hosts use `base..base+hosts`. `None`: the previous run's, else the first
    /// free range from [`DEFAULT_BASE_PORT`].
    pub base_port: Option<u16>,
}

/// Issue 8's lab features, for [`Lab::up_with`]; the default is a plain lab. All need root.
#[derive(Debug, Clone, Default)]
pub struct ReachOptions {
    /// Put the hosts where only a bastion reaches them (network namespaces).
    pub bastion: bool,
    /// Also start this many two-hop hosts (`deep01`, ...) behind `bastion` then `bastion2`.
    pub deep: usize,
    /// Hosts log in as [`reach::SUDO_USER`], whose sudo asks this password.
    pub sudo_password: Option<String>,
}

/// Name of the (first) bastion host of a `--bastion` lab.
pub const BASTION: &str = "bastion";
/// Name of the second hop in front of the deep hosts.
pub const BASTION2: &str = "bastion2";

/// What an `up` did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UpSummary {
    /// Hosts whose sshd was started by this `up`.
    pub started: usize,
    /// Hosts already running with the same config, kept as they were.
    pub reused: usize,
    /// Running hosts stopped because they were no longer wanted or their config changed.
    pub stopped: usize,
}

/// A lab fleet in a directory.
#[derive(Debug, Clone)]
pub struct Lab {
    dir: PathBuf,
    base_port: u16,
    user: String,
    hosts: Vec<LabHost>,
    summary: UpSummary,
    reach: Option<ReachState>,
}

fn current_user() -> String {
    nix::unistd::User::from_uid(nix::unistd::geteuid())
        .ok()
        .flatten()
        .map_or_else(crate::inventory::default_user, |u| u.name)
}

impl Lab {
    /// What the bastion / sudo features created (namespaces, veths, sudo user), if any.
    pub fn reach(&self) -> Option<&ReachState> {
        self.reach.as_ref()
    }
    /// The host called `name` (bastions come last in [`Lab::hosts`]).
    pub fn host(&self, name: &str) -> Option<&LabHost> {
        self.hosts.iter().find(|h| h.name == name)
    }
    pub fn hosts(&self) -> &[LabHost] {
        &self.hosts
    }
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    pub fn base_port(&self) -> u16 {
        self.base_port
    }
    /// The login name the fleet authorizes (the current user).
    pub fn user(&self) -> &str {
        &self.user
    }
    /// What the `up` that made this value did (zeros for [`Lab::open`]).
    pub fn up_summary(&self) -> UpSummary {
        self.summary
    }
    pub fn inventory_path(&self) -> PathBuf {
        self.dir.join("inventory.yaml")
    }
    pub fn known_hosts_path(&self) -> PathBuf {
        self.dir.join("known_hosts")
    }
    pub fn ssh_config_path(&self) -> PathBuf {
        self.dir.join("ssh_config")
    }
    pub fn client_key_path(&self) -> PathBuf {
        self.dir.join("client_key")
    }
    /// Index of the host called `name`.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.hosts.iter().position(|h| h.name == name)
    }
    /// `ssh-ed25519 AAAA...` of host `i`'s host key.
    pub fn host_public_key(&self, i: usize) -> Result<String, LabError> {
        public_key(&self.hosts[i].host_key_path().with_extension("pub"))
    }
    /// The pid of host `i`'s sshd listener when it runs (stopped counts as running).
    pub fn pid(&self, i: usize) -> Option<i32> {
        self.hosts.get(i).and_then(running_pid)
    }
    /// `(name, port, running)` for every host.
    pub fn status(&self) -> Vec<(String, u16, bool)> {
        self.hosts
            .iter()
            .map(|h| (h.name.clone(), h.port, running_pid(h).is_some()))
            .collect()
    }
    /// Resident memory of the fleet's sshd listeners and their children, in KiB.
    pub fn rss_kib(&self) -> u64 {
        let mut total = 0;
        for i in 0..self.hosts.len() {
            if let Some(pid) = self.pid(i) {
                total += procs::rss_kib(pid);
                for child in procs::descendants(pid) {
                    total += procs::rss_kib(child);
                }
            }
        }
        total
    }
}
