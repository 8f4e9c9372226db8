//! The shape of a fleet: host names, groups, addresses, jumps and ports. Pure functions of
//! the host count and the reach features, so every run derives the same fleet again.

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};

use super::{reach, LabError, ReachState, BASTION, BASTION2};

/// Where the default port search starts when neither `--base-port` nor an earlier run says.
/// Below Linux's ephemeral range (32768-60999) so client sockets do not take lab ports.
pub const DEFAULT_BASE_PORT: u16 = 24001;
/// Most hosts one lab runs.
pub const MAX_HOSTS: usize = 2000;
/// Hosts generated per round of the name pattern: kind index for `i % 4`.
const PATTERN: [usize; 4] = [0, 0, 1, 2];
/// Host kinds: (name prefix, top group, sub group). Group names are unique in the file.
pub(super) const LAYOUT: [(&str, &str, &str); 3] = [
    ("web", "prod", "web"),
    ("db", "prod", "db"),
    ("stg-web", "staging", "stg-web"),
];

/// One host of the fleet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabHost {
    /// Inventory name: `web01`, `db01`, `stg-web01`, ...
    pub name: String,
    /// Port on [`LabHost::address`].
    pub port: u16,
    /// Where sshd listens: `127.0.0.1`, or inside a namespace for a bastion lab.
    pub address: String,
    /// The network namespace the host's sshd runs in (`None`: the root one).
    pub netns: Option<String>,
    /// Jump hosts to reach it (inventory names, first hop first).
    pub jump: Vec<String>,
    /// Login user when not the lab's user (sudo hosts: [`reach::SUDO_USER`]).
    pub login: Option<String>,
    /// The host's own home: commands start here, relative SFTP paths resolve here.
    pub home: PathBuf,
    /// Group path from the top: `["prod", "web"]`.
    pub groups: Vec<String>,
    /// The host's directory (`DIR/hosts/NAME`): sshd_config, host key, pid file, log.
    pub dir: PathBuf,
}

impl LabHost {
    pub fn config_path(&self) -> PathBuf {
        self.dir.join("sshd_config")
    }
    pub fn pid_path(&self) -> PathBuf {
        self.dir.join("sshd.pid")
    }
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("sshd.log")
    }
    pub fn host_key_path(&self) -> PathBuf {
        self.dir.join("ssh_host_ed25519_key")
    }
}

/// Name and group path of the `i`th host (0-based). Depends on `i` only, so growing or
/// shrinking a fleet keeps the names of the hosts that stay.
fn host_identity(i: usize) -> (String, [&'static str; 2]) {
    let kind = PATTERN[i % 4];
    let round = i / 4;
    let number = match kind {
        0 => round * 2 + i % 4 + 1,
        _ => round + 1,
    };
    let (prefix, top, sub) = LAYOUT[kind];
    (format!("{prefix}{number:02}"), [top, sub])
}

#[cfg(test)]
pub(super) fn make_hosts(dir: &Path, base_port: u16, n: usize) -> Vec<LabHost> {
    make_hosts_reach(dir, base_port, n, None)
}

/// The hosts of a lab: `n` targets (behind the bastion when `reach` has namespaces), then
/// the deep hosts, then the bastions.
pub(super) fn make_hosts_reach(
    dir: &Path,
    base_port: u16,
    n: usize,
    reach: Option<&ReachState>,
) -> Vec<LabHost> {
    let host = |name: String, groups: Vec<String>, port: u16| {
        let hdir = dir.join("hosts").join(&name);
        LabHost {
            home: hdir.join("home"),
            dir: hdir,
            port,
            address: "127.0.0.1".to_string(),
            netns: None,
            jump: Vec::new(),
            login: reach.and_then(|r| r.sudo_user.clone()),
            groups,
            name,
        }
    };
    let mut hosts: Vec<LabHost> = (0..n)
        .map(|i| {
            let (name, groups) = host_identity(i);
            host(
                name,
                groups.iter().map(ToString::to_string).collect(),
                base_port + i as u16,
            )
        })
        .collect();
    let Some(r) = reach.filter(|r| r.bastion()) else {
        return hosts;
    };
    for h in &mut hosts {
        h.address = reach::TARGET_ADDR.to_string();
        h.netns = Some(r.netns[0].clone());
        h.jump = vec![BASTION.to_string()];
    }
    if let Some(ns2) = r.netns.get(1) {
        for i in 0..r.deep {
            let mut h = host(
                format!("deep{:02}", i + 1),
                vec!["deep".to_string()],
                base_port + (n + i) as u16,
            );
            h.address = reach::DEEP_ADDR.to_string();
            h.netns = Some(ns2.clone());
            h.jump = vec![BASTION2.to_string()];
            hosts.push(h);
        }
    }
    let mut b = host(
        BASTION.to_string(),
        vec!["bastions".to_string()],
        reach::BASTION_PORT,
    );
    b.address = r.addr(2);
    b.netns = Some(r.netns[0].clone());
    b.login = None;
    hosts.push(b);
    if let Some(ns2) = r.netns.get(1) {
        let mut b2 = host(
            BASTION2.to_string(),
            vec!["bastions".to_string()],
            reach::BASTION_PORT,
        );
        b2.address = r.addr(6);
        b2.netns = Some(ns2.clone());
        b2.jump = vec![BASTION.to_string()];
        b2.login = None;
        hosts.push(b2);
    }
    hosts
}

/// Where the fleet's ports start: the asked base, else the previous run's when the fleet
/// still fits (`previous`: its base port and whether its hosts sat in namespaces), else a
/// free range.
pub(super) fn choose_base_port(
    asked: Option<u16>,
    previous: Option<(u16, bool)>,
    bastion: bool,
    n: usize,
    total: usize,
) -> Result<u16, LabError> {
    Ok(match (asked, previous) {
        (Some(b), _) => b,
        // A bastion lab's ports were inside its namespaces: not a root-namespace range.
        (None, Some((base, was_bastion)))
            if usize::from(base) + total <= 65536 && (bastion || !was_bastion) =>
        {
            base
        }
        // Namespaced hosts do not use the root namespace's ports.
        (None, _) if bastion => DEFAULT_BASE_PORT,
        _ => find_free_range(n)?,
    })
}

pub(super) fn port_free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// Finds the first base port from [`DEFAULT_BASE_PORT`] with `n` free ports after it.
fn find_free_range(n: usize) -> Result<u16, LabError> {
    let mut base = usize::from(DEFAULT_BASE_PORT);
    while base + n <= 65536 {
        match (base..base + n).find(|&p| !port_free(p as u16)) {
            Some(busy) => base = busy + 1,
            None => return Ok(base as u16),
        }
    }
    Err(LabError::NoFreeRange(n))
}

/// Hosts that have a directory under `DIR/hosts`, whatever the current count (so `down`
/// also stops hosts of an older, bigger fleet).
pub(super) fn existing_host_dirs(dir: &Path) -> Vec<LabHost> {
    let Ok(entries) = fs::read_dir(dir.join("hosts")) else {
        return Vec::new();
    };
    let mut out: Vec<LabHost> = entries
        .flatten()
        .filter(|e| e.path().join("sshd_config").exists())
        .map(|e| {
            let hdir = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            LabHost {
                home: hdir.join("home"),
                dir: hdir,
                port: 0,
                address: String::new(),
                netns: None,
                jump: Vec::new(),
                login: None,
                groups: Vec::new(),
                name,
            }
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_stable_and_spread_over_groups() {
        let names: Vec<String> = (0..8).map(|i| host_identity(i).0).collect();
        assert_eq!(
            names,
            [
                "web01",
                "web02",
                "db01",
                "stg-web01",
                "web03",
                "web04",
                "db02",
                "stg-web02"
            ]
        );
        assert_eq!(host_identity(2).1, ["prod", "db"]);
        assert_eq!(host_identity(3).1, ["staging", "stg-web"]);
        let all: std::collections::HashSet<String> = (0..500).map(|i| host_identity(i).0).collect();
        assert_eq!(all.len(), 500, "names must be unique");
    }
}
