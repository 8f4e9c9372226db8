//! `DIR/lab.json`: what an `up` records so a later `up`, `status` or `down` derives the same
//! fleet, and removes exactly the namespaces and users that run created.

use std::fs;
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::dir::{absolute, write_file};
use super::reach::SUDO_USER;
use super::topology::make_hosts_reach;
use super::{current_user, Lab, LabError, ReachState, UpSummary, MAX_HOSTS};

/// State kept in `DIR/lab.json`.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct State {
    pub(super) base_port: u16,
    pub(super) hosts: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) reach: Option<ReachState>,
}

/// The state in `dir`, if it holds a readable one (a missing, damaged or implausible file, or
/// one in a directory others could have written, is no state).
pub(super) fn read_state(dir: &Path) -> Option<State> {
    load_state(dir).ok()
}

/// Reads `dir/lab.json` from a directory only we can write, never through a symlink, and
/// checks that it describes what an `up` could have written: `down` acts on it as root
/// (stopping processes, deleting namespaces, links and a user), so nothing else may pass.
fn load_state(dir: &Path) -> Result<State, String> {
    crate::paths::check_private_dir(dir).map_err(|e| e.to_string())?;
    let path = dir.join("lab.json");
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let md = file.metadata().map_err(|e| e.to_string())?;
    if !md.is_file() || md.len() > MAX_STATE_BYTES {
        return Err(format!(
            "{}: not a regular file of at most {MAX_STATE_BYTES} bytes",
            path.display()
        ));
    }
    let state: State =
        serde_json::from_reader(io::BufReader::new(file)).map_err(|e| e.to_string())?;
    validate(&state).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(state)
}

/// The largest lab.json read back (a real one is a few hundred bytes).
const MAX_STATE_BYTES: u64 = 64 * 1024;

/// What an `up` could have written: host counts and ports in range, and only the lab's own
/// namespace, link and user names.
fn validate(st: &State) -> Result<(), String> {
    let deep = st.reach.as_ref().map_or(0, |r| r.deep);
    let total = st.hosts.saturating_add(deep);
    if st.hosts == 0 || total > MAX_HOSTS {
        return Err(format!("{total} hosts (1 to {MAX_HOSTS} allowed)"));
    }
    let last = usize::from(st.base_port) + total - 1;
    if st.base_port == 0 || last > 65535 {
        return Err(format!("ports {}-{last} out of range", st.base_port));
    }
    let Some(r) = &st.reach else { return Ok(()) };
    let hex6 = |s: &str| s.len() == 6 && s.bytes().all(|b| b.is_ascii_hexdigit());
    for ns in &r.netns {
        let ok = ns
            .strip_prefix("fdlab-")
            .and_then(|rest| rest.strip_suffix("-1").or_else(|| rest.strip_suffix("-2")))
            .is_some_and(hex6);
        if !ok {
            return Err(format!("{ns:?} is not a lab namespace name"));
        }
    }
    for veth in &r.root_veths {
        let ok = veth
            .strip_prefix("fd")
            .and_then(|rest| rest.strip_suffix(|c: char| c.is_ascii_lowercase()))
            .is_some_and(hex6);
        if !ok {
            return Err(format!("{veth:?} is not a lab link name"));
        }
    }
    if r.netns.len() > 2 || r.root_veths.len() > 2 {
        return Err("more namespaces or links than a lab creates".into());
    }
    if !r.netns.is_empty() && (r.slot == 0 || r.slot > 250 || r.slot == 169) {
        return Err(format!("link slot {} out of range", r.slot));
    }
    if r.sudo_user.as_deref().is_some_and(|u| u != SUDO_USER) {
        return Err(format!("sudo user {:?} is not {SUDO_USER}", r.sudo_user));
    }
    if (r.created_user || r.sudoers) && r.sudo_user.is_none() {
        return Err("sudo clean-up recorded without a sudo user".into());
    }
    Ok(())
}

pub(super) fn write_state(dir: &Path, state: &State) -> Result<(), LabError> {
    let json = serde_json::to_string_pretty(state).map_err(|e| LabError::Io {
        context: "encode lab.json".into(),
        source: io::Error::other(e),
    })?;
    write_file(&dir.join("lab.json"), &(json + "\n"), 0o600)
}

impl Lab {
    /// The fleet described by `dir/lab.json` (running or not).
    pub fn open(dir: &Path) -> Result<Lab, LabError> {
        let dir = absolute(dir)?;
        let dir = dir.canonicalize().unwrap_or(dir);
        if !dir.join("lab.json").exists() {
            return Err(LabError::NotALab(dir));
        }
        let state = load_state(&dir).map_err(|e| LabError::Io {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(json: &str) -> Result<(), String> {
        let st: State = serde_json::from_str(json).map_err(|e| e.to_string())?;
        validate(&st)
    }

    #[test]
    fn only_what_an_up_writes_passes() {
        assert_eq!(state(r#"{"base_port":42000,"hosts":3}"#), Ok(()));
        let good = r#"{"base_port":42000,"hosts":3,"reach":{"netns":["fdlab-0a1b2c-1"],
            "root_veths":["fd0a1b2cr"],"slot":7,"sudo_user":"fdlab","created_user":true}}"#;
        assert_eq!(state(good), Ok(()));
        for bad in [
            r#"{"base_port":42000,"hosts":0}"#,
            r#"{"base_port":65000,"hosts":1000}"#,
            r#"{"base_port":42000,"hosts":1,"reach":{"netns":["../../etc"]}}"#,
            r#"{"base_port":42000,"hosts":1,"reach":{"netns":["fdlab-0a1b2c-1"],"slot":169}}"#,
            r#"{"base_port":42000,"hosts":1,"reach":{"root_veths":["eth0"]}}"#,
            r#"{"base_port":42000,"hosts":1,"reach":{"sudo_user":"root","created_user":true}}"#,
            r#"{"base_port":42000,"hosts":1,"reach":{"created_user":true}}"#,
        ] {
            assert!(state(bad).is_err(), "{bad}");
        }
    }
}
