//! `DIR/lab.json`: what an `up` records so a later `up`, `status` or `down` derives the same
//! fleet, and removes exactly the namespaces and users that run created.

use std::fs;
use std::io;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::dir::{absolute, write_file};
use super::topology::make_hosts_reach;
use super::{current_user, Lab, LabError, ReachState, UpSummary};

/// State kept in `DIR/lab.json`.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct State {
    pub(super) base_port: u16,
    pub(super) hosts: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) reach: Option<ReachState>,
}

/// The state in `dir`, if it holds a readable one (a missing or damaged file is no state).
pub(super) fn read_state(dir: &Path) -> Option<State> {
    fs::read_to_string(dir.join("lab.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
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
}
