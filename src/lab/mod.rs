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
//! DIR/lab-shell         the forced command (cd to the host's home, run the command)
//! DIR/hosts/NAME/       sshd_config, ssh_host_ed25519_key, sshd.pid, sshd.log, home/
//! ```

mod files;
mod procs;

/// Every live (non-zombie) descendant process of `root`: what tests check is left behind.
pub use procs::descendants;
pub mod reach;

pub use reach::ReachState;

use std::fs;
use std::io::{self, Write as _};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use serde::{Deserialize, Serialize};

/// The sshd binary (Debian package `openssh-server`). sshd must be started by absolute path.
pub const SSHD: &str = "/usr/sbin/sshd";
/// Environment variable naming another sshd binary (absolute path), e.g. for tests.
pub const SSHD_ENV: &str = "FLEETDECK_SSHD";

/// The sshd to run: `$FLEETDECK_SSHD` when set, else [`SSHD`].
pub fn sshd_path() -> PathBuf {
    std::env::var_os(SSHD_ENV).map_or_else(|| PathBuf::from(SSHD), PathBuf::from)
}
/// Where the default port search starts when neither `--base-port` nor an earlier run says.
/// Below Linux's ephemeral range (32768-60999) so client sockets do not take lab ports.
pub const DEFAULT_BASE_PORT: u16 = 24001;
/// Most hosts one lab runs.
pub const MAX_HOSTS: usize = 2000;
/// Hosts generated per round of the name pattern: kind index for `i % 4`.
const PATTERN: [usize; 4] = [0, 0, 1, 2];
/// Host kinds: (name prefix, top group, sub group). Group names are unique in the file.
pub(crate) const LAYOUT: [(&str, &str, &str); 3] = [
    ("web", "prod", "web"),
    ("db", "prod", "db"),
    ("stg-web", "staging", "stg-web"),
];
/// How many `ssh-keygen` processes run at once.
const KEYGEN_PARALLEL: usize = 32;
/// Poll interval while waiting for sshd.
const POLL: Duration = Duration::from_millis(10);

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

/// Errors of the lab. [`LabError::is_bad_input`] tells which are the operator's to fix
/// (exit status 2).
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error("--hosts must be at least 1 (got 0)")]
    NoHosts,
    #[error("--hosts {0} is too many (at most {MAX_HOSTS})")]
    TooManyHosts(usize),
    #[error("ports {first}-{last} do not fit below 65536; choose a lower --base-port")]
    PortRange { first: u16, last: usize },
    #[error("port {port} on 127.0.0.1 is already in use by another program (host {host} needs it; the fleet needs ports {first}-{last}); choose another --base-port")]
    PortInUse {
        port: u16,
        host: String,
        first: u16,
        last: u16,
    },
    #[error(
        "no free range of {0} ports found on 127.0.0.1 from {DEFAULT_BASE_PORT}; give --base-port"
    )]
    NoFreeRange(usize),
    #[error("lab directory {dir} is not writable: {source}")]
    DirNotWritable { dir: PathBuf, source: io::Error },
    #[error(
        "lab directory {dir:?} holds {ch:?}, which sshd_config cannot quote; choose another --dir"
    )]
    BadDir { dir: PathBuf, ch: char },
    #[error("sshd not found at {}: install the Debian package openssh-server (scripts/setup does: apt-get install -y openssh-server)", .0.display())]
    SshdMissing(PathBuf),
    #[error(
        "{} not found: install the Debian package openssh-sftp-server (scripts/setup does)",
        files::SFTP_SERVER
    )]
    SftpServerMissing,
    #[error("{0} not found: install the Debian package openssh-client")]
    ToolMissing(&'static str),
    #[error("no lab fleet in {0} (no lab.json there); start one with: fleetdeck lab up --dir {0}")]
    NotALab(PathBuf),
    #[error("lab host {host}: sshd did not start: {detail} (log: {log})")]
    Start {
        host: String,
        detail: String,
        log: PathBuf,
    },
    #[error("{0}")]
    NeedsRoot(&'static str),
    #[error("--deep needs --bastion (the deep hosts sit behind bastion and bastion2)")]
    DeepNeedsBastion,
    #[error("--sudo-password must be non-empty and hold no newline or ':'")]
    BadSudoPassword,
    #[error("{context}: {source}")]
    Io { context: String, source: io::Error },
}

impl LabError {
    /// True for errors in what the operator asked (exit status 2).
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            Self::NoHosts
                | Self::TooManyHosts(_)
                | Self::PortRange { .. }
                | Self::PortInUse { .. }
                | Self::NoFreeRange(_)
                | Self::DirNotWritable { .. }
                | Self::BadDir { .. }
                | Self::NotALab(_)
                | Self::DeepNeedsBastion
                | Self::BadSudoPassword
        )
    }
}

fn io_err(context: impl Into<String>) -> impl FnOnce(io::Error) -> LabError {
    let context = context.into();
    move |source| LabError::Io { context, source }
}

/// State kept in `DIR/lab.json`.
#[derive(Debug, Serialize, Deserialize)]
struct State {
    base_port: u16,
    hosts: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reach: Option<ReachState>,
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
fn make_hosts(dir: &Path, base_port: u16, n: usize) -> Vec<LabHost> {
    make_hosts_reach(dir, base_port, n, None)
}

/// The hosts of a lab: `n` targets (behind the bastion when `reach` has namespaces), then
/// the deep hosts, then the bastions.
fn make_hosts_reach(
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

fn current_user() -> String {
    nix::unistd::User::from_uid(nix::unistd::geteuid())
        .ok()
        .flatten()
        .map_or_else(crate::inventory::default_user, |u| u.name)
}

/// Makes `dir` absolute without requiring it to exist.
fn absolute(dir: &Path) -> Result<PathBuf, LabError> {
    if dir.is_absolute() {
        Ok(dir.to_path_buf())
    } else {
        Ok(std::env::current_dir()
            .map_err(io_err("current directory"))?
            .join(dir))
    }
}

/// Holds an exclusive lock on `DIR/.lock` so two `up`/`down` on one directory do not race.
struct DirLock(#[allow(dead_code)] nix::fcntl::Flock<fs::File>);

fn lock_dir(dir: &Path) -> Result<DirLock, LabError> {
    let path = dir.join(".lock");
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io_err(format!("open {}", path.display())))?;
    nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
        .map(DirLock)
        .map_err(|(_, e)| LabError::Io {
            context: format!("lock {}", path.display()),
            source: e.into(),
        })
}

fn write_file(path: &Path, text: &str, mode: u32) -> Result<(), LabError> {
    let ctx = || format!("write {}", path.display());
    let tmp = path.with_extension("tmp");
    {
        let mut f = crate::paths::create_private_file(&tmp).map_err(io_err(ctx()))?;
        f.write_all(text.as_bytes()).map_err(io_err(ctx()))?;
    }
    fs::set_permissions(&tmp, fs::Permissions::from_mode(mode)).map_err(io_err(ctx()))?;
    fs::rename(&tmp, path).map_err(io_err(ctx()))
}

/// Runs ssh-keygen for every path in `keys` that has no key yet, `KEYGEN_PARALLEL` at a time.
fn generate_keys(keys: &[(PathBuf, String)]) -> Result<(), LabError> {
    let missing: Vec<&(PathBuf, String)> = keys
        .iter()
        .filter(|(p, _)| !p.exists() || !p.with_extension("pub").exists())
        .collect();
    for chunk in missing.chunks(KEYGEN_PARALLEL) {
        let mut children: Vec<(&PathBuf, Child)> = Vec::new();
        for (path, comment) in chunk {
            let _ = fs::remove_file(path);
            let _ = fs::remove_file(path.with_extension("pub"));
            let child = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
                .arg(path)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|e| {
                    if e.kind() == io::ErrorKind::NotFound {
                        LabError::ToolMissing("ssh-keygen")
                    } else {
                        LabError::Io {
                            context: "run ssh-keygen".into(),
                            source: e,
                        }
                    }
                })?;
            children.push((path, child));
        }
        for (path, child) in children {
            let out = child
                .wait_with_output()
                .map_err(io_err("wait for ssh-keygen"))?;
            if !out.status.success() {
                return Err(LabError::Io {
                    context: format!("ssh-keygen -f {}", path.display()),
                    source: io::Error::other(
                        String::from_utf8_lossy(&out.stderr).trim().to_string(),
                    ),
                });
            }
        }
    }
    Ok(())
}

/// `ssh-ed25519 AAAA...` from a `.pub` file (without the comment).
fn public_key(pub_path: &Path) -> Result<String, LabError> {
    let text =
        fs::read_to_string(pub_path).map_err(io_err(format!("read {}", pub_path.display())))?;
    let mut parts = text.split_whitespace();
    match (parts.next(), parts.next()) {
        (Some(kind), Some(key)) => Ok(format!("{kind} {key}")),
        _ => Err(LabError::Io {
            context: format!("read {}", pub_path.display()),
            source: io::Error::other("not an OpenSSH public key"),
        }),
    }
}

/// The pid of the running sshd of `host`: from its pid file when the pid's command line is
/// that host's sshd, else `None`.
fn running_pid(host: &LabHost) -> Option<i32> {
    let pid: i32 = fs::read_to_string(host.pid_path())
        .ok()?
        .trim()
        .parse()
        .ok()?;
    procs::is_sshd_for(pid, &host.config_path()).then_some(pid)
}

/// Like [`running_pid`], falling back to a `/proc` scan result for a lost pid file.
fn running_pid_or_scan(
    host: &LabHost,
    scan: &std::collections::HashMap<String, i32>,
) -> Option<i32> {
    running_pid(host).or_else(|| {
        let config = host.config_path();
        scan.get(&config.display().to_string())
            .copied()
            .filter(|&pid| procs::is_sshd_for(pid, &config))
    })
}

fn port_free(port: u16) -> bool {
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

/// Makes sure `dir` exists and is writable; returns it absolute.
fn prepare_dir(dir: &Path) -> Result<PathBuf, LabError> {
    let abs = absolute(dir)?;
    if let Some(ch) = abs
        .to_string_lossy()
        .chars()
        .find(|c| matches!(c, '"' | '\'' | '%' | '\\' | '\n' | '\r') || c.is_control())
    {
        return Err(LabError::BadDir { dir: abs, ch });
    }
    let not_writable = |source| LabError::DirNotWritable {
        dir: abs.clone(),
        source,
    };
    crate::paths::create_private_dir(&abs).map_err(not_writable)?;
    let probe = abs.join(".write-test");
    fs::write(&probe, b"").map_err(not_writable)?;
    let _ = fs::remove_file(&probe);
    let abs = abs.canonicalize().map_err(not_writable)?;
    Ok(abs)
}

/// sshd (as root) refuses to start without its privilege separation directory, which only
/// the service scripts create.
fn ensure_privsep_dir() -> Result<(), LabError> {
    let dir = Path::new("/run/sshd");
    if dir.is_dir() || !nix::unistd::geteuid().is_root() {
        return Ok(());
    }
    fs::create_dir_all(dir).map_err(io_err(
        "create /run/sshd (sshd's privilege separation directory)",
    ))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).map_err(io_err("chmod /run/sshd"))
}

/// Starts the sshd of each host (daemonizing), then waits until each has written its pid
/// file (sshd writes it after it listens). On failure the ones that did start are left to
/// the caller to stop.
fn start_sshds(hosts: &[&LabHost]) -> Result<(), LabError> {
    let mut launchers = Vec::new();
    for host in hosts {
        let _ = fs::remove_file(host.pid_path());
        // Start each run's log afresh so errors read below are this run's.
        let _ = fs::write(host.log_path(), b"");
        let mut cmd = match &host.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(sshd_path());
                c
            }
            None => Command::new(sshd_path()),
        };
        let child = cmd
            .arg("-f")
            .arg(host.config_path())
            .arg("-E")
            .arg(host.log_path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| LabError::Start {
                host: host.name.clone(),
                detail: format!("cannot run {}: {e}", sshd_path().display()),
                log: host.log_path(),
            })?;
        launchers.push((host, child));
    }
    // The launched process forks the daemon and exits; a config error exits non-zero.
    let mut first_err = None;
    for (host, child) in launchers {
        let out = child.wait_with_output().map_err(io_err("wait for sshd"))?;
        if !out.status.success() && first_err.is_none() {
            let msg = String::from_utf8_lossy(&out.stderr);
            let log = fs::read_to_string(host.log_path()).unwrap_or_default();
            first_err = Some(start_error(host, &format!("{msg}\n{log}")));
        }
    }
    if let Some(e) = first_err {
        return Err(e);
    }
    let deadline =
        Instant::now() + Duration::from_secs(30) + Duration::from_millis(50) * hosts.len() as u32;
    let mut waiting: Vec<&LabHost> = hosts.to_vec();
    loop {
        let mut still = Vec::new();
        for host in waiting {
            if running_pid(host).is_some() {
                continue;
            }
            let log = fs::read_to_string(host.log_path()).unwrap_or_default();
            if log.contains("fatal") || log.contains("Bind to port") {
                return Err(start_error(host, &log));
            }
            still.push(host);
        }
        if still.is_empty() {
            return Ok(());
        }
        if Instant::now() > deadline {
            let host = still[0];
            let log = fs::read_to_string(host.log_path()).unwrap_or_default();
            let detail = if log.trim().is_empty() {
                "no pid file after waiting".to_string()
            } else {
                log
            };
            return Err(start_error(host, &detail));
        }
        waiting = still;
        thread::sleep(POLL);
    }
}

/// After a failed start: lets the daemons still starting settle (each either writes its pid
/// file or logs why not, bounded by a deadline), then kills every one that runs.
fn stop_started(dir: &Path, hosts: &[&LabHost]) {
    let deadline = Instant::now() + Duration::from_secs(3);
    let settled = |h: &LabHost| {
        running_pid(h).is_some()
            || fs::read_to_string(h.log_path())
                .is_ok_and(|l| l.contains("fatal") || l.contains("Bind to port"))
    };
    while Instant::now() < deadline && !hosts.iter().all(|h| settled(h)) {
        thread::sleep(POLL);
    }
    let scan = procs::find_listeners(&dir.join("hosts"));
    let pids: Vec<i32> = hosts
        .iter()
        .filter_map(|h| running_pid_or_scan(h, &scan))
        .collect();
    procs::kill_trees(&pids);
}

fn start_error(host: &LabHost, text: &str) -> LabError {
    if text.contains("Address already in use") {
        return LabError::PortInUse {
            port: host.port,
            host: host.name.clone(),
            first: host.port,
            last: host.port,
        };
    }
    let detail = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .find(|l| l.contains("fatal") || l.contains("error"))
        .or_else(|| text.lines().map(str::trim).find(|l| !l.is_empty()))
        .unwrap_or("unknown error")
        .to_string();
    LabError::Start {
        host: host.name.clone(),
        detail,
        log: host.log_path(),
    }
}

impl Lab {
    /// Brings up a fleet of `opts.hosts` hosts in `opts.dir`: reuses hosts already running
    /// with the same config, starts missing ones, stops ones no longer wanted. On error,
    /// everything this call started is stopped again.
    pub fn up(opts: &LabOptions) -> Result<Lab, LabError> {
        Self::up_with(opts, &ReachOptions::default())
    }

    /// [`Lab::up`] with issue 8's features: a bastion (and a second hop) in front of hosts
    /// in network namespaces, and/or hosts whose sudo asks a password. A lab that had or
    /// gets these features is always rebuilt from scratch (nothing reused).
    pub fn up_with(opts: &LabOptions, ropts: &ReachOptions) -> Result<Lab, LabError> {
        let n = opts.hosts;
        if ropts.deep > 0 && !ropts.bastion {
            return Err(LabError::DeepNeedsBastion);
        }
        if ropts.bastion && !reach::is_root() {
            return Err(LabError::NeedsRoot(
                "--bastion needs root for network namespaces (ip netns)",
            ));
        }
        if ropts.sudo_password.is_some() && !reach::is_root() {
            return Err(LabError::NeedsRoot(
                "--sudo-password needs root (it creates the user fdlab and a sudoers drop-in)",
            ));
        }
        let total = n + ropts.deep;
        if n == 0 {
            return Err(LabError::NoHosts);
        }
        if total > MAX_HOSTS {
            return Err(LabError::TooManyHosts(total));
        }
        if let Some(base) = opts.base_port {
            let last = usize::from(base) + total - 1;
            if base == 0 || last > 65535 {
                return Err(LabError::PortRange { first: base, last });
            }
        }
        let sshd = sshd_path();
        if !sshd.is_absolute() || !sshd.is_file() {
            return Err(LabError::SshdMissing(sshd));
        }
        if !Path::new(files::SFTP_SERVER).is_file() {
            return Err(LabError::SftpServerMissing);
        }
        let dir = prepare_dir(&opts.dir)?;
        let _lock = lock_dir(&dir)?;
        ensure_privsep_dir()?;

        let previous: Option<State> = fs::read_to_string(dir.join("lab.json"))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok());
        let wants_reach = ropts.bastion || ropts.sudo_password.is_some();
        if wants_reach || previous.as_ref().is_some_and(|p| p.reach.is_some()) {
            teardown(&dir, previous.as_ref().and_then(|p| p.reach.as_ref()));
        }
        let base_port = match (opts.base_port, &previous) {
            (Some(b), _) => b,
            // A bastion lab's ports were inside its namespaces: not a root-namespace range.
            (None, Some(s))
                if usize::from(s.base_port) + total <= 65536
                    && (ropts.bastion || !s.reach.as_ref().is_some_and(ReachState::bastion)) =>
            {
                s.base_port
            }
            // Namespaced hosts do not use the root namespace's ports.
            (None, _) if ropts.bastion => DEFAULT_BASE_PORT,
            _ => find_free_range(n)?,
        };
        let mut reach_state = None;
        if wants_reach {
            let mut st = if ropts.bastion {
                reach::create_network(ropts.deep)?
            } else {
                ReachState::default()
            };
            if let Some(pw) = &ropts.sudo_password {
                if let Err(e) = reach::setup_sudo(&mut st, &dir, pw) {
                    reach::remove_sudo(&st, &dir);
                    reach::remove_network(&st);
                    return Err(e);
                }
            }
            reach_state = Some(st);
        }
        let result = Self::finish_up(&dir, base_port, n, reach_state.clone());
        if result.is_err() {
            if let Some(st) = &reach_state {
                teardown(&dir, Some(st));
            }
        }
        result
    }

    fn finish_up(
        dir: &Path,
        base_port: u16,
        n: usize,
        reach_state: Option<ReachState>,
    ) -> Result<Lab, LabError> {
        let dir = dir.to_path_buf();
        let hosts = make_hosts_reach(&dir, base_port, n, reach_state.as_ref());
        let user = current_user();
        let mut summary = UpSummary::default();

        // Hosts beyond the new count (from the previous run or any older, bigger one).
        let scan = procs::find_listeners(&dir.join("hosts"));
        let mut to_kill = Vec::new();
        for extra in existing_host_dirs(&dir) {
            if hosts.iter().any(|h| h.name == extra.name) {
                continue;
            }
            if let Some(pid) = running_pid_or_scan(&extra, &scan) {
                to_kill.push(pid);
            }
            let _ = fs::remove_file(extra.pid_path());
        }

        // Keys: one client key, one host key per host.
        let mut keys = vec![(dir.join("client_key"), format!("{user}@fleetdeck-lab"))];
        for h in &hosts {
            crate::paths::create_private_dir(&h.home)
                .map_err(io_err(format!("create {}", h.home.display())))?;
            keys.push((h.host_key_path(), format!("{}@fleetdeck-lab", h.name)));
        }
        generate_keys(&keys)?;
        let client_pub = public_key(&dir.join("client_key.pub"))?;
        write_file(
            &dir.join("authorized_keys"),
            &format!("{client_pub} {user}@fleetdeck-lab\n"),
            0o600,
        )?;
        write_file(&dir.join("lab-shell"), &files::lab_shell(), 0o700)?;

        // Configs; decide which hosts to (re)start.
        let mut to_start: Vec<&LabHost> = Vec::new();
        for h in &hosts {
            let config = files::sshd_config(&dir, h);
            let old = fs::read_to_string(h.config_path()).ok();
            let running = running_pid_or_scan(h, &scan);
            match running {
                Some(pid) if old.as_deref() == Some(config.as_str()) => {
                    // Adopt a fleet whose pid file was lost.
                    if running_pid(h).is_none() {
                        write_file(&h.pid_path(), &format!("{pid}\n"), 0o600)?;
                    }
                    summary.reused += 1;
                    continue;
                }
                Some(pid) => to_kill.push(pid),
                None => {}
            }
            write_file(&h.config_path(), &config, 0o600)?;
            to_start.push(h);
        }
        procs::kill_trees(&to_kill);
        summary.stopped = to_kill.len();
        let first = hosts[0].port;
        let last = hosts[n - 1].port;
        for h in &to_start {
            if h.netns.is_none() && !port_free(h.port) {
                return Err(LabError::PortInUse {
                    port: h.port,
                    host: h.name.clone(),
                    first,
                    last,
                });
            }
        }
        if let Err(e) = start_sshds(&to_start) {
            stop_started(&dir, &to_start);
            for h in &to_start {
                let _ = fs::remove_file(h.pid_path());
            }
            return Err(match e {
                LabError::PortInUse { port, host, .. } => LabError::PortInUse {
                    port,
                    host,
                    first,
                    last,
                },
                other => other,
            });
        }
        summary.started = to_start.len();

        let lab = Lab {
            dir,
            base_port,
            user,
            hosts,
            summary,
            reach: reach_state.clone(),
        };
        lab.write_client_files()?;
        let state = State {
            base_port,
            hosts: n,
            reach: reach_state,
        };
        let json = serde_json::to_string_pretty(&state).map_err(|e| LabError::Io {
            context: "encode lab.json".into(),
            source: io::Error::other(e),
        })?;
        write_file(&lab.dir.join("lab.json"), &(json + "\n"), 0o600)?;
        Ok(lab)
    }

    /// Writes inventory.yaml, known_hosts and ssh_config for the current hosts.
    fn write_client_files(&self) -> Result<(), LabError> {
        let mut keys = Vec::with_capacity(self.hosts.len());
        for h in &self.hosts {
            keys.push((
                h.address.clone(),
                h.port,
                public_key(&h.host_key_path().with_extension("pub"))?,
            ));
        }
        write_file(&self.known_hosts_path(), &files::known_hosts(&keys), 0o600)?;
        write_file(
            &self.ssh_config_path(),
            &files::ssh_config(&self.dir, &self.user, &self.hosts),
            0o600,
        )?;
        write_file(
            &self.inventory_path(),
            &files::inventory(&self.dir, &self.user, &self.hosts),
            0o600,
        )
    }

    /// The fleet described by `dir/lab.json` (running or not).
    pub fn open(dir: &Path) -> Result<Lab, LabError> {
        let dir = absolute(dir)?;
        let dir = dir.canonicalize().unwrap_or(dir);
        let text =
            fs::read_to_string(dir.join("lab.json")).map_err(|_| LabError::NotALab(dir.clone()))?;
        let state: State = serde_json::from_str(&text).map_err(|e| LabError::Io {
            context: format!("read {}", dir.join("lab.json").display()),
            source: io::Error::other(e),
        })?;
        let hosts = make_hosts_reach(&dir, state.base_port, state.hosts, state.reach.as_ref());
        Ok(Lab {
            dir,
            base_port: state.base_port,
            user: current_user(),
            hosts,
            summary: UpSummary::default(),
            reach: state.reach,
        })
    }

    /// Stops every sshd of the lab in `dir` (and their per-connection processes). Only pids
    /// from the lab's pid files (or listeners whose command line names the lab's configs)
    /// are touched. Returns how many hosts were running.
    pub fn down(dir: &Path) -> Result<usize, LabError> {
        let abs = absolute(dir)?;
        let abs = abs.canonicalize().unwrap_or(abs);
        if !abs.join("lab.json").exists() && !abs.join("hosts").is_dir() {
            return Err(LabError::NotALab(abs));
        }
        let _lock = lock_dir(&abs)?;
        let scan = procs::find_listeners(&abs.join("hosts"));
        let hosts = existing_host_dirs(&abs);
        let pids: Vec<i32> = hosts
            .iter()
            .filter_map(|h| running_pid_or_scan(h, &scan))
            .collect();
        procs::kill_trees(&pids);
        for host in &hosts {
            let _ = fs::remove_file(host.pid_path());
        }
        // Namespaces, veths, the sudoers drop-in and the user: only what lab.json records.
        if let Some(st) = read_state(&abs).and_then(|s| s.reach) {
            reach::remove_sudo(&st, &abs);
            reach::remove_network(&st);
        }
        Ok(pids.len())
    }

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
    /// Freezes host `i` (SIGSTOP its listener): connections are accepted by the kernel but
    /// never answered.
    pub fn stop_host(&self, i: usize) {
        if let Some(pid) = self.pid(i) {
            procs::signal(pid, Signal::SIGSTOP);
            wait_for(|| procs::is_stopped(pid) || !procs::is_alive(pid));
        }
    }
    /// Thaws a host frozen by [`Lab::stop_host`].
    pub fn cont_host(&self, i: usize) {
        if let Some(pid) = self.pid(i) {
            procs::signal(pid, Signal::SIGCONT);
            wait_for(|| !procs::is_stopped(pid));
        }
    }
    /// Kills host `i`'s listener and its per-connection processes, so live sessions die.
    /// The pid file stays behind, as after a crash.
    pub fn kill_host(&self, i: usize) {
        if let Some(pid) = self.pid(i) {
            procs::kill_tree(pid);
        }
    }
    /// Starts host `i` again (no-op when it runs; a frozen host is thawed).
    pub fn start_host(&self, i: usize) -> Result<(), LabError> {
        let host = &self.hosts[i];
        if let Some(pid) = running_pid(host) {
            procs::signal(pid, Signal::SIGCONT);
            return Ok(());
        }
        if host.netns.is_none() && !port_free(host.port) {
            return Err(LabError::PortInUse {
                port: host.port,
                host: host.name.clone(),
                first: host.port,
                last: host.port,
            });
        }
        start_sshds(&[host])
    }
    /// Gives host `i` a new host key and restarts it, leaving the lab's known_hosts as it
    /// was: clients then see a changed host key (for host-key-changed tests). Returns the
    /// new `ssh-ed25519 AAAA...` key.
    pub fn replace_host_key(&self, i: usize) -> Result<String, LabError> {
        let host = &self.hosts[i];
        if let Some(pid) = running_pid(host) {
            procs::kill_tree(pid);
        }
        let key = host.host_key_path();
        let _ = fs::remove_file(&key);
        let _ = fs::remove_file(key.with_extension("pub"));
        generate_keys(&[(key.clone(), format!("{}@fleetdeck-lab", host.name))])?;
        start_sshds(&[host])?;
        public_key(&key.with_extension("pub"))
    }
    /// `(name, port, running)` for every host.
    pub fn status(&self) -> Vec<(String, u16, bool)> {
        self.hosts
            .iter()
            .map(|h| (h.name.clone(), h.port, running_pid(h).is_some()))
            .collect()
    }
    /// True when host `i`'s listener is frozen by [`Lab::stop_host`].
    pub fn is_frozen(&self, i: usize) -> bool {
        self.pid(i).is_some_and(procs::is_stopped)
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

fn read_state(dir: &Path) -> Option<State> {
    fs::read_to_string(dir.join("lab.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
}

/// Stops every sshd of the lab in `dir` and removes what `reach` records (namespaces, veths,
/// the sudoers drop-in, the user it created). The caller holds the directory lock.
fn teardown(dir: &Path, reach: Option<&ReachState>) {
    let scan = procs::find_listeners(&dir.join("hosts"));
    let hosts = existing_host_dirs(dir);
    let pids: Vec<i32> = hosts
        .iter()
        .filter_map(|h| running_pid_or_scan(h, &scan))
        .collect();
    procs::kill_trees(&pids);
    for host in &hosts {
        let _ = fs::remove_file(host.pid_path());
    }
    if let Some(st) = reach {
        reach::remove_sudo(st, dir);
        reach::remove_network(st);
    }
}

/// Polls `done` for up to a second (signals are delivered asynchronously).
fn wait_for(mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(1);
    while !done() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(1));
    }
}

/// Hosts that have a directory under `DIR/hosts`, whatever the current count (so `down`
/// also stops hosts of an older, bigger fleet).
fn existing_host_dirs(dir: &Path) -> Vec<LabHost> {
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

    #[test]
    fn inventory_lists_every_host_under_its_groups() {
        let hosts = make_hosts(Path::new("/l"), 30000, 5);
        let text = files::inventory(Path::new("/l"), "root", &hosts);
        let doc: serde_yaml::Value = serde_yaml::from_str(&text).expect("inventory is YAML");
        assert_eq!(doc["defaults"]["user"].as_str(), Some("root"));
        assert_eq!(doc["known_hosts"].as_str(), Some("/l/known_hosts"));
        let web = &doc["groups"]["prod"]["groups"]["web"]["hosts"];
        assert_eq!(web["web01"]["port"].as_u64(), Some(30000));
        assert_eq!(web["web03"]["port"].as_u64(), Some(30004));
        assert_eq!(
            doc["groups"]["prod"]["groups"]["db"]["hosts"]["db01"]["port"].as_u64(),
            Some(30002)
        );
        assert_eq!(
            doc["groups"]["staging"]["groups"]["stg-web"]["hosts"]["stg-web01"]["port"].as_u64(),
            Some(30003)
        );
    }

    #[test]
    fn one_host_inventory_has_no_empty_groups() {
        let hosts = make_hosts(Path::new("/l"), 30000, 1);
        let text = files::inventory(Path::new("/l"), "root", &hosts);
        assert!(!text.contains("staging"), "{text}");
        assert!(!text.contains("db:"), "{text}");
    }

    #[test]
    fn bastion_inventory_names_jumps_addresses_and_users() {
        let st = ReachState {
            netns: vec!["fdlab-x-1".into(), "fdlab-x-2".into()],
            root_veths: vec!["fdxr".into()],
            slot: 7,
            deep: 2,
            sudo_user: Some("fdlab".into()),
            ..ReachState::default()
        };
        let hosts = make_hosts_reach(Path::new("/l"), 30000, 2, Some(&st));
        let names: Vec<&str> = hosts.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(
            names,
            ["web01", "web02", "deep01", "deep02", "bastion", "bastion2"]
        );
        let text = files::inventory(Path::new("/l"), "root", &hosts);
        let doc: serde_yaml::Value = serde_yaml::from_str(&text).expect("inventory is YAML");
        let web01 = &doc["groups"]["prod"]["groups"]["web"]["hosts"]["web01"];
        assert_eq!(web01["address"].as_str(), Some(reach::TARGET_ADDR));
        assert_eq!(web01["jump"].as_str(), Some("bastion"));
        assert_eq!(web01["user"].as_str(), Some("fdlab"));
        let deep02 = &doc["groups"]["deep"]["hosts"]["deep02"];
        assert_eq!(deep02["address"].as_str(), Some(reach::DEEP_ADDR));
        assert_eq!(deep02["port"].as_u64(), Some(30003));
        assert_eq!(deep02["jump"].as_str(), Some("bastion2"));
        let b = &doc["groups"]["bastions"]["hosts"];
        assert_eq!(b["bastion"]["address"].as_str(), Some("169.254.7.2"));
        assert!(
            b["bastion"]["user"].is_null(),
            "bastions log in as the lab user"
        );
        assert_eq!(b["bastion2"]["address"].as_str(), Some("169.254.7.6"));
        assert_eq!(b["bastion2"]["jump"].as_str(), Some("bastion"));
        let cfg = files::sshd_config(Path::new("/l"), &hosts[0]);
        assert!(cfg.contains("ListenAddress 127.1.0.1:30000\n"), "{cfg}");
        assert!(
            !cfg.contains("ForceCommand"),
            "sudo hosts start in the user's home"
        );
        assert!(cfg.contains("AuthorizedKeysCommand /bin/cat \"/l/authorized_keys\""));
        let ssh = files::ssh_config(Path::new("/l"), "root", &hosts);
        assert!(ssh.contains("Host deep01\n  HostName 127.2.0.1\n  Port 30002\n  User fdlab\n  ProxyJump bastion2\n"), "{ssh}");
    }

    #[test]
    fn shell_quote_survives_quotes() {
        assert_eq!(files::shell_quote("a'b"), r"'a'\''b'");
    }
}
