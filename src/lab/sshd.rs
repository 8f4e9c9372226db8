//! The hosts' sshd daemons: which binary, starting and waiting for them, telling which
//! running process is which host's, and stopping them.

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::error::io_err;
use super::topology::existing_host_dirs;
use super::{procs, reach, LabError, LabHost, ReachState};

/// The sshd binary (Debian package `openssh-server`). sshd must be started by absolute path.
pub const SSHD: &str = "/usr/sbin/sshd";
/// Environment variable naming another sshd binary (absolute path), e.g. for tests.
pub const SSHD_ENV: &str = "FLEETDECK_SSHD";

/// The sshd to run: `$FLEETDECK_SSHD` when set, else [`SSHD`].
pub fn sshd_path() -> PathBuf {
    std::env::var_os(SSHD_ENV).map_or_else(|| PathBuf::from(SSHD), PathBuf::from)
}
/// Poll interval while waiting for sshd.
const POLL: Duration = Duration::from_millis(10);

/// The pid of the running sshd of `host`: from its pid file when the pid's command line is
/// that host's sshd, else `None`.
pub(super) fn running_pid(host: &LabHost) -> Option<i32> {
    let pid: i32 = fs::read_to_string(host.pid_path())
        .ok()?
        .trim()
        .parse()
        .ok()?;
    procs::is_sshd_for(pid, &host.config_path()).then_some(pid)
}

/// Like [`running_pid`], falling back to a `/proc` scan result for a lost pid file.
pub(super) fn running_pid_or_scan(host: &LabHost, scan: &HashMap<String, i32>) -> Option<i32> {
    running_pid(host).or_else(|| {
        let config = host.config_path();
        scan.get(&config.display().to_string())
            .copied()
            .filter(|&pid| procs::is_sshd_for(pid, &config))
    })
}

/// sshd (as root) refuses to start without its privilege separation directory, which only
/// the service scripts create.
pub(super) fn ensure_privsep_dir() -> Result<(), LabError> {
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
pub(super) fn start_sshds(hosts: &[&LabHost]) -> Result<(), LabError> {
    launch(hosts)?;
    await_pid_files(hosts)
}

/// Runs each host's sshd launcher and waits for it: the launched process forks the daemon
/// and exits, and a config error exits non-zero.
fn launch(hosts: &[&LabHost]) -> Result<(), LabError> {
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
    Ok(())
}

/// Waits until every host's daemon has written its pid file, failing on the first that logs
/// why it cannot, or when the deadline (longer for bigger fleets) passes.
fn await_pid_files(hosts: &[&LabHost]) -> Result<(), LabError> {
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
pub(super) fn stop_started(dir: &Path, hosts: &[&LabHost]) {
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

/// Stops every sshd of the lab in `dir` and removes what `reach` records (namespaces, veths,
/// the sudoers drop-in, the user it created). The caller holds the directory lock. Only pids
/// from the lab's pid files (or listeners whose command line names the lab's configs) are
/// touched. Returns how many hosts were running.
pub(super) fn teardown(dir: &Path, reach: Option<&ReachState>) -> usize {
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
    pids.len()
}
