//! Where fleetdeck keeps its state: `$XDG_STATE_HOME/fleetdeck` (or `~/.local/state/fleetdeck`).
//!
//! Every directory fleetdeck creates is 0700 and every file 0600, because run folders and the
//! operation log hold command output that may be sensitive.

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The state directory, honouring `FLEETDECK_STATE_DIR` (tests) then `XDG_STATE_HOME`.
pub fn state_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("FLEETDECK_STATE_DIR") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_STATE_HOME") {
        return PathBuf::from(dir).join("fleetdeck");
    }
    home_dir()
        .unwrap_or_else(|| PathBuf::from("."))
        .join(".local/state/fleetdeck")
}

/// The config directory, honouring `FLEETDECK_CONFIG_DIR` then `XDG_CONFIG_HOME`.
pub fn config_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("FLEETDECK_CONFIG_DIR") {
        return PathBuf::from(dir);
    }
    dirs::config_dir()
        .unwrap_or_else(|| PathBuf::from("."))
        .join("fleetdeck")
}

/// The operation log: `<state dir>/oplog.jsonl`.
pub fn oplog_file() -> PathBuf {
    state_dir().join("oplog.jsonl")
}

/// Where run folders go: `<state dir>/runs`.
pub fn runs_dir() -> PathBuf {
    state_dir().join("runs")
}

/// The console's command history: `<state dir>/history`.
pub fn history_file() -> PathBuf {
    state_dir().join("history")
}

/// The console's settings: `<config dir>/console.yaml`.
pub fn console_config_file() -> PathBuf {
    config_dir().join("console.yaml")
}

/// The operator's own themes: `<config dir>/themes/NAME.yaml`.
pub fn themes_dir() -> PathBuf {
    config_dir().join("themes")
}

/// The home directory (`$HOME`, else the passwd entry's).
pub fn home_dir() -> Option<PathBuf> {
    dirs::home_dir()
}

/// `~` and `~/x` expanded to the home directory; anything else as it is.
pub fn expand_tilde(text: &str) -> PathBuf {
    if text == "~" {
        return home_dir().unwrap_or_else(|| PathBuf::from("~"));
    }
    if let Some(rest) = text.strip_prefix("~/") {
        if let Some(home) = home_dir() {
            return home.join(rest);
        }
    }
    PathBuf::from(text)
}

/// The operator's home directory as OpenSSH finds it: the passwd entry, not `$HOME`
/// (SSH-NOTES: OpenSSH reads known_hosts and keys from there, and so must we).
pub fn passwd_home() -> Option<PathBuf> {
    nix::unistd::User::from_uid(nix::unistd::getuid())
        .ok()
        .flatten()
        .map(|u| u.dir)
        .or_else(home_dir)
}

/// Creates `dir` and its parents with mode 0700.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Opens `path` for appending, creating it 0600 (and its directory 0700) if needed.
pub fn open_private_append(path: &Path) -> io::Result<fs::File> {
    if let Some(parent) = path.parent() {
        create_private_dir(parent)?;
    }
    fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
}

/// Creates (truncating) `path` with mode 0600.
pub fn create_private_file(path: &Path) -> io::Result<fs::File> {
    if let Some(parent) = path.parent() {
        create_private_dir(parent)?;
    }
    fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
}
