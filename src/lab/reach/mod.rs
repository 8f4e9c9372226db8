//! Reach and privilege for the lab (issue 8): bastions with targets only they can reach, and
//! hosts where a real sudo asks a real password. Both need root.
//!
//! Network design (`--bastion`): two network namespaces per lab, linked by veth pairs whose
//! addresses are link-local (169.254.S.0/24, one free `S` per lab):
//! ```text
//! root ns  --veth 169.254.S.1 <-> 169.254.S.2--  fdlab-ID-1: bastion  (169.254.S.2:2200)
//!                                                            targets  (127.1.0.1:PORT, its own lo)
//!                                  fdlab-ID-1 --veth 169.254.S.5 <-> 169.254.S.6-- fdlab-ID-2:
//!                                                            bastion2 (169.254.S.6:2200)
//!                                                            deep     (127.2.0.1:PORT, its own lo)
//! ```
//! Targets listen on the loopback of their namespace, so only a process inside it (the
//! bastion's sshd) reaches them: from the root namespace `127.1.0.1:PORT` is refused. The
//! bastion namespace does not forward (`ip_forward=0`), and the root namespace has no route
//! to the second link, so the deep hosts need both hops.
//!
//! Sudo design (`--sudo-password`): a system user [`SUDO_USER`] (created only when absent,
//! recorded), a sudoers drop-in requiring its password (validated with `visudo -cf`), the
//! password set with `chpasswd` (never written to a file by the lab).

mod network;
mod sudo;

pub use network::{
    create_network, netns_exists, remove_network, BASTION_PORT, DEEP_ADDR, TARGET_ADDR,
};
pub use sudo::{remove_sudo, setup_sudo, sudoers_text, SUDOERS_FILE, SUDO_USER};

use std::fs;
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};

use super::LabError;

/// Serialises namespace and subnet allocation between labs started at the same time.
const GLOBAL_LOCK: &str = "/run/fleetdeck-lab.lock";

/// What the reach features of one lab created, recorded in `lab.json` so `down` removes
/// exactly that.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ReachState {
    /// Network namespaces created (first: the bastion's, second: bastion2's).
    #[serde(default)]
    pub netns: Vec<String>,
    /// Root-namespace veth ends created.
    #[serde(default)]
    pub root_veths: Vec<String>,
    /// The `S` of 169.254.S.0/24.
    #[serde(default)]
    pub slot: u8,
    /// Two-hop hosts behind bastion2.
    #[serde(default)]
    pub deep: usize,
    /// Sudo hosts: the login user.
    #[serde(default)]
    pub sudo_user: Option<String>,
    /// True when this lab created [`SUDO_USER`] (so `down` deletes it).
    #[serde(default)]
    pub created_user: bool,
    /// True when this lab wrote [`SUDOERS_FILE`].
    #[serde(default)]
    pub sudoers: bool,
}

impl ReachState {
    pub fn bastion(&self) -> bool {
        !self.netns.is_empty()
    }
    /// `169.254.S.N`.
    pub fn addr(&self, n: u8) -> String {
        format!("169.254.{}.{n}", self.slot)
    }
}

fn run(what: &str, cmd: &mut Command) -> Result<String, LabError> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| LabError::Io {
            context: format!("run {what}"),
            source: e,
        })?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(LabError::Io {
            context: what.to_string(),
            source: std::io::Error::other(String::from_utf8_lossy(&out.stderr).trim().to_string()),
        })
    }
}

fn ip(args: &[&str]) -> Result<String, LabError> {
    run(
        &format!("ip {}", args.join(" ")),
        Command::new("ip").args(args),
    )
}

fn in_ns(ns: &str, args: &[&str]) -> Result<String, LabError> {
    let mut full = vec!["netns", "exec", ns];
    full.extend_from_slice(args);
    run(
        &format!("ip {}", full.join(" ")),
        Command::new("ip").args(&full),
    )
}

/// True when running as root (everything here needs it).
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

struct GlobalLock(#[allow(dead_code)] nix::fcntl::Flock<fs::File>);

fn global_lock() -> Result<GlobalLock, LabError> {
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(GLOBAL_LOCK)
        .map_err(|e| LabError::Io {
            context: format!("open {GLOBAL_LOCK}"),
            source: e,
        })?;
    nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
        .map(GlobalLock)
        .map_err(|(_, e)| LabError::Io {
            context: format!("lock {GLOBAL_LOCK}"),
            source: e.into(),
        })
}
