//! `up` and `down`: bringing the fleet in a directory to the asked shape (reusing what
//! already runs as asked, adopting what a crashed run left behind) and tearing it down.

use std::collections::HashMap;
use std::fs;
use std::path::Path;

use super::dir::{absolute, lock_dir, prepare_dir, write_file};
use super::error::io_err;
use super::keys::{ensure_keys, public_key};
use super::sshd::{
    ensure_privsep_dir, running_pid, running_pid_or_scan, sshd_path, start_sshds, stop_started,
    teardown,
};
use super::state::{read_state, write_state, State};
use super::topology::{choose_base_port, existing_host_dirs, make_hosts_reach, port_free};
use super::{
    current_user, files, procs, reach, Lab, LabError, LabHost, LabOptions, ReachOptions,
    ReachState, UpSummary, MAX_HOSTS,
};

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
        check_request(opts, ropts)?;
        let n = opts.hosts;
        let dir = prepare_dir(&opts.dir)?;
        let _lock = lock_dir(&dir)?;
        ensure_privsep_dir()?;

        let previous = read_state(&dir);
        let wants_reach = ropts.bastion || ropts.sudo_password.is_some();
        if wants_reach || previous.as_ref().is_some_and(|p| p.reach.is_some()) {
            teardown(&dir, previous.as_ref().and_then(|p| p.reach.as_ref()));
        }
        let base_port = choose_base_port(
            opts.base_port,
            previous.as_ref().map(|s| {
                (
                    s.base_port,
                    s.reach.as_ref().is_some_and(ReachState::bastion),
                )
            }),
            ropts.bastion,
            n,
            n + ropts.deep,
        )?;
        let reach_state = if wants_reach {
            Some(create_reach(&dir, ropts)?)
        } else {
            None
        };
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

        let scan = procs::find_listeners(&dir.join("hosts"));
        let mut to_kill = unwanted_pids(&dir, &hosts, &scan);
        write_host_files(&dir, &user, &hosts)?;
        let to_start = plan_starts(&dir, &hosts, &scan, &mut summary, &mut to_kill)?;
        procs::kill_trees(&to_kill);
        summary.stopped = to_kill.len();
        start_planned(&dir, &to_start, hosts[0].port, hosts[n - 1].port)?;
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
        write_state(&lab.dir, &state)?;
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
        // Namespaces, veths, the sudoers drop-in and the user: only what lab.json records.
        let reach = read_state(&abs).and_then(|s| s.reach);
        Ok(teardown(&abs, reach.as_ref()))
    }
}

/// Refuses, before anything is touched, what cannot work: bad counts and ports, missing
/// privileges, a missing sshd or sftp-server.
fn check_request(opts: &LabOptions, ropts: &ReachOptions) -> Result<(), LabError> {
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
    Ok(())
}

/// Creates the namespaces and the sudo user asked for; on failure removes them again.
fn create_reach(dir: &Path, ropts: &ReachOptions) -> Result<ReachState, LabError> {
    let mut st = if ropts.bastion {
        reach::create_network(ropts.deep)?
    } else {
        ReachState::default()
    };
    if let Some(pw) = &ropts.sudo_password {
        if let Err(e) = reach::setup_sudo(&mut st, dir, pw) {
            reach::remove_sudo(&st, dir);
            reach::remove_network(&st);
            return Err(e);
        }
    }
    Ok(st)
}

/// Pids of running hosts beyond the new count (from the previous run or any older, bigger
/// one). Their pid files go now, so nothing later mistakes them for fleet members.
fn unwanted_pids(dir: &Path, hosts: &[LabHost], scan: &HashMap<String, i32>) -> Vec<i32> {
    let mut pids = Vec::new();
    for extra in existing_host_dirs(dir) {
        if hosts.iter().any(|h| h.name == extra.name) {
            continue;
        }
        if let Some(pid) = running_pid_or_scan(&extra, scan) {
            pids.push(pid);
        }
        let _ = fs::remove_file(extra.pid_path());
    }
    pids
}

/// What every host reads besides its sshd_config: its home, the keys and authorized_keys.
fn write_host_files(dir: &Path, user: &str, hosts: &[LabHost]) -> Result<(), LabError> {
    for h in hosts {
        crate::paths::create_private_dir(&h.home)
            .map_err(io_err(format!("create {}", h.home.display())))?;
    }
    ensure_keys(dir, user, hosts)?;
    // Labs made before the forced command moved into sshd_config had a script for it.
    let _ = fs::remove_file(dir.join("lab-shell"));
    Ok(())
}

/// Writes each host's sshd_config and decides its fate: a host already running with the
/// same config is reused (`summary.reused`), one running with another config goes to
/// `to_kill`, and those returned are (re)started.
fn plan_starts<'a>(
    dir: &Path,
    hosts: &'a [LabHost],
    scan: &HashMap<String, i32>,
    summary: &mut UpSummary,
    to_kill: &mut Vec<i32>,
) -> Result<Vec<&'a LabHost>, LabError> {
    let mut to_start = Vec::new();
    for h in hosts {
        let config = files::sshd_config(dir, h);
        let old = fs::read_to_string(h.config_path()).ok();
        let running = running_pid_or_scan(h, scan);
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
    Ok(to_start)
}

/// Starts the planned hosts; on failure stops those that came up. A port clash is reported
/// with the fleet's whole range (`first`-`last`), which is what the operator moves.
fn start_planned(dir: &Path, to_start: &[&LabHost], first: u16, last: u16) -> Result<(), LabError> {
    for h in to_start {
        if h.netns.is_none() && !port_free(h.port) {
            return Err(LabError::PortInUse {
                port: h.port,
                host: h.name.clone(),
                first,
                last,
            });
        }
    }
    if let Err(e) = start_sshds(to_start) {
        stop_started(dir, to_start);
        for h in to_start {
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
    Ok(())
}
