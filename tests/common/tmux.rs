//! The console as a real program in a real terminal: a tmux server of the test's own,
//! driven with `send-keys` and read with `capture-pane`.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// The size of a [`Tmux::new`] terminal.
pub const WIDTH: u16 = 160;
pub const HEIGHT: u16 = 48;

/// A tmux server of our own (its own socket), killed on drop.
pub struct Tmux {
    socket: String,
    width: u16,
    height: u16,
}

impl Tmux {
    /// A [`WIDTH`]×[`HEIGHT`] terminal.
    pub fn new(tag: &str) -> Tmux {
        Tmux::with_size(tag, WIDTH, HEIGHT)
    }

    pub fn with_size(tag: &str, width: u16, height: u16) -> Tmux {
        let out = Command::new("tmux")
            .arg("-V")
            .output()
            .expect("tmux is needed for the console's end-to-end tests (Debian package `tmux`)");
        assert!(out.status.success(), "tmux -V failed");
        Tmux {
            socket: format!("fd-e2e-{tag}-{}", std::process::id()),
            width,
            height,
        }
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new("tmux");
        c.arg("-L").arg(&self.socket).arg("-f").arg("/dev/null");
        c
    }

    pub fn run(&self, args: &[&str]) -> String {
        let out = self.cmd().args(args).output().expect("run tmux");
        assert!(
            out.status.success(),
            "tmux {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn start(&self, shell_command: &str) {
        self.run(&[
            "new-session",
            "-d",
            "-s",
            "main",
            "-x",
            &self.width.to_string(),
            "-y",
            &self.height.to_string(),
            shell_command,
        ]);
        // A host must not be able to rename the window through its output.
        self.run(&["set-option", "-t", "main", "-g", "allow-rename", "on"]);
    }

    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "main"];
        args.extend_from_slice(keys);
        self.run(&args);
    }

    pub fn text(&self, text: &str) {
        self.run(&["send-keys", "-t", "main", "-l", text]);
    }

    pub fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "main"])
    }

    pub fn display(&self, format: &str) -> String {
        self.run(&["display-message", "-p", "-t", "main", format])
            .trim()
            .to_string()
    }

    /// Polls the screen until `pred` holds; panics with the last screen after `timeout`.
    pub fn wait_for(&self, what: &str, timeout: Duration, pred: impl Fn(&str) -> bool) -> String {
        self.wait_polling(what, timeout, Duration::from_millis(25), pred)
    }

    /// [`Tmux::wait_for`] with polls `poll` apart (latency measurements poll more often).
    pub fn wait_polling(
        &self,
        what: &str,
        timeout: Duration,
        poll: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let s = self.screen();
            if pred(&s) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; screen:\n{s}"
            );
            std::thread::sleep(poll);
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd().arg("kill-server").output();
    }
}

/// The console on the lab's inventory with state and config in `tmp`, as a tmux shell
/// command that reports the exit status and keeps the pane open.
pub fn console_command(lab: &super::TestLab, tmp: &Path) -> String {
    format!(
        "env FLEETDECK_STATE_DIR={state} FLEETDECK_CONFIG_DIR={config} FLEETDECK_SSH_CONFIG= \
         TERM=xterm-256color {bin} -i {inv}; echo FLEETDECK-EXITED-$?; sleep 600",
        state = tmp.join("state").display(),
        config = tmp.join("config").display(),
        bin = std::env::var("FLEETDECK_E2E_BIN")
            .map_or_else(|_| super::fleetdeck_bin(), std::path::PathBuf::from)
            .display(),
        inv = lab.inventory_path().display(),
    )
}
