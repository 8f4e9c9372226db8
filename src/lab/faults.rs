//! Per-host faults for tests and benchmarks: freeze, thaw, kill, restart and re-key one host
//! of a running fleet.

use std::fs;
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use super::keys::{generate_keys, public_key};
use super::sshd::{running_pid, start_sshds};
use super::topology::port_free;
use super::{procs, Lab, LabError};

impl Lab {
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
    /// True when host `i`'s listener is frozen by [`Lab::stop_host`].
    pub fn is_frozen(&self, i: usize) -> bool {
        self.pid(i).is_some_and(procs::is_stopped)
    }
}

/// Polls `done` for up to a second (signals are delivered asynchronously).
fn wait_for(mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(1);
    while !done() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(1));
    }
}
