//! What the console is set to: flags over the config file over these defaults.

use std::path::PathBuf;
use std::time::Duration;

use regex::Regex;

use crate::engine::{HostKeyPolicy, DEFAULT_FANOUT};
use crate::tui::pane::DEFAULT_TAIL_LINES;

/// Commands that ask for confirmation whatever the host count (regexes).
pub const DEFAULT_DANGEROUS: &[&str] = &[
    r"\brm\s+(-\S*\s+)*-\S*[rR]\S*f|\brm\s+(-\S*\s+)*-\S*f\S*[rR]|\brm\s+.*--recursive",
    r"\breboot\b",
    r"\bshutdown\b",
    r"\bhalt\b",
    r"\bpoweroff\b",
    r"\binit\s+[06]\b",
    r"\bmkfs",
    r"\bdd\b.*\bof=/dev/",
    r"\bsystemctl\s+(stop|restart|disable|poweroff|reboot|halt)\b",
    r"\bkill(all)?\s+-9\b",
    r">\s*/dev/sd",
];

/// Ask before running on more hosts than this.
pub const DEFAULT_CONFIRM_ABOVE: usize = 20;

/// Settings from flags and the config file.
#[derive(Debug, Clone)]
pub struct Settings {
    pub fanout: usize,
    pub tail_lines: usize,
    pub confirm_above: usize,
    pub dangerous: Vec<Regex>,
    pub host_key_policy: HostKeyPolicy,
    pub known_hosts: Vec<PathBuf>,
    /// Allocate a pty for commands (merges stderr into stdout, but cancelling hangs up the
    /// remote process).
    pub pty: bool,
    pub command_timeout: Option<Duration>,
    /// The user `S` (sudo toggle) runs commands as.
    pub sudo_user: String,
    /// Output kept per host per job (`max_output:`), the rest counted and dropped.
    pub max_output: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            fanout: DEFAULT_FANOUT,
            tail_lines: DEFAULT_TAIL_LINES,
            confirm_above: DEFAULT_CONFIRM_ABOVE,
            dangerous: DEFAULT_DANGEROUS
                .iter()
                .map(|p| Regex::new(p).expect("built-in pattern is valid"))
                .collect(),
            host_key_policy: HostKeyPolicy::default(),
            max_output: crate::engine::DEFAULT_MAX_OUTPUT,
            known_hosts: Vec::new(),
            pty: false,
            command_timeout: None,
            sudo_user: "root".into(),
        }
    }
}
