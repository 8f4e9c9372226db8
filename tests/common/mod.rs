//! Test harness shared by the integration tests: a lab fleet of real OpenSSH daemons in a
//! temporary directory, on ports no other test binary running in parallel uses, stopped when
//! the value is dropped. Tests fail loudly (never skip) when sshd cannot start.
#![allow(dead_code)]

pub mod events;
pub mod tmux;

use std::net::TcpListener;
use std::ops::Deref;
use std::path::{Path, PathBuf};

use fleetdeck::lab::{Lab, LabError, LabOptions, ReachOptions};
use rand::Rng;

/// Ports tried by tests: below Linux's ephemeral range (32768-60999), so client sockets of
/// the tests themselves never sit on a lab port, and above most well-known services.
const TEST_PORTS: std::ops::Range<usize> = 10_000..32_000;
/// How many random ranges to try before giving up.
const ATTEMPTS: usize = 30;

/// A lab fleet in its own temporary directory; `Lab::down` runs on drop.
pub struct TestLab {
    lab: Lab,
    // Removed after `Drop::drop` has stopped the fleet.
    tmp: tempfile::TempDir,
}

impl Deref for TestLab {
    type Target = Lab;
    fn deref(&self) -> &Lab {
        &self.lab
    }
}

impl TestLab {
    /// A blocking, authenticated libssh2 session to host `i` (for tests of `ssh::` pieces).
    pub fn session(&self, i: usize) -> ssh2::Session {
        let tcp = std::net::TcpStream::connect(("127.0.0.1", self.hosts()[i].port))
            .expect("connect to lab host");
        tcp.set_nodelay(true).expect("nodelay");
        let mut sess = ssh2::Session::new().expect("new session");
        sess.set_tcp_stream(tcp);
        sess.set_timeout(30_000);
        sess.handshake().expect("handshake");
        sess.userauth_pubkey_file(self.user(), None, &self.client_key_path(), None)
            .expect("pubkey auth");
        sess.set_blocking(true);
        sess
    }

    /// An engine config for this lab: strict host keys from its known_hosts, no run folders,
    /// no operation log, nobody to ask.
    pub fn engine_config(&self) -> fleetdeck::engine::EngineConfig {
        fleetdeck::engine::EngineConfig {
            host_key_policy: fleetdeck::engine::HostKeyPolicy::Strict,
            known_hosts: vec![self.known_hosts_path()],
            idle_timeout: std::time::Duration::from_secs(60),
            keepalive: std::time::Duration::from_secs(15),
            runs_dir: None,
            oplog: None,
            prompter: std::sync::Arc::new(fleetdeck::engine::NoPrompter),
        }
    }

    /// The lab itself (also reachable through `Deref`).
    pub fn lab(&self) -> &Lab {
        &self.lab
    }
    /// The temporary directory holding the lab (the lab dir is `tmp/lab`); tests may put
    /// their own files (state dirs, local files to push) beside it.
    pub fn tmp(&self) -> &Path {
        self.tmp.path()
    }
    /// A copy of the lab's inventory without its `known_hosts:` line (in `tmp`), for tests of
    /// unknown host keys: the inventory's known_hosts files are read besides `--known-hosts`.
    pub fn inventory_without_known_hosts(&self) -> PathBuf {
        let text = std::fs::read_to_string(self.lab.inventory_path()).expect("lab inventory");
        let kept: String = text
            .lines()
            .filter(|l| !l.starts_with("known_hosts:"))
            .flat_map(|l| [l, "\n"])
            .collect();
        let path = self.tmp().join("inventory_without_known_hosts.yaml");
        std::fs::write(&path, kept).expect("write inventory copy");
        path
    }
    /// Host `i` as a direct engine target with the lab's client key.
    pub fn target(
        &self,
        i: usize,
        connect_timeout: std::time::Duration,
    ) -> fleetdeck::engine::Target {
        let h = &self.lab.hosts()[i];
        fleetdeck::engine::Target {
            name: std::sync::Arc::from(h.name.as_str()),
            conn: fleetdeck::inventory::ConnSettings {
                address: "127.0.0.1".into(),
                port: h.port,
                user: self.lab.user().into(),
                identity_files: vec![self.lab.client_key_path()],
                jump: vec![],
                proxy_command: None,
                connect_timeout,
                ..fleetdeck::inventory::ConnSettings::default()
            },
            jump: vec![],
            become_: None,
        }
    }
    /// Host `i`'s home directory (where its commands start and relative SFTP paths land).
    pub fn home(&self, i: usize) -> &Path {
        &self.lab.hosts()[i].home
    }
}

impl Drop for TestLab {
    fn drop(&mut self) {
        let _ = Lab::down(self.lab.dir());
    }
}

/// True when every port of `base..base+n` can be bound on 127.0.0.1 right now.
pub fn ports_free(base: u16, n: usize) -> bool {
    (0..n).all(|i| TcpListener::bind(("127.0.0.1", base + i as u16)).is_ok())
}

/// A random base port with `n` free ports after it (probe-bound; another process may still
/// take one before sshd binds it, which `lab` handles by retrying).
pub fn free_base_port(n: usize) -> u16 {
    let mut rng = rand::thread_rng();
    for _ in 0..1000 {
        let base = rng.gen_range(TEST_PORTS.start..TEST_PORTS.end - n) as u16;
        if ports_free(base, n) {
            return base;
        }
    }
    panic!("no free range of {n} ports on 127.0.0.1 in {TEST_PORTS:?}");
}

/// Prefix of the temporary directories of test labs.
const TMP_PREFIX: &str = "fleetdeck-test-";
/// File in a test lab's temporary directory naming the test process that owns it.
const OWNER_FILE: &str = "owner";

/// `pid start-time` of a process (start time tells a reused pid apart).
fn process_identity(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    // Field 22 of stat is the start time; `rest` starts at field 3.
    let start = rest.split_whitespace().nth(19)?;
    Some(format!("{pid} {start}"))
}

/// Stops and removes test labs whose test process is gone (killed or crashed before its
/// `Drop` ran), so aborted runs do not leave sshd processes behind. Runs once per process.
fn reap_abandoned_labs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if !entry.file_name().to_string_lossy().starts_with(TMP_PREFIX) {
                continue;
            }
            let Ok(owner) = std::fs::read_to_string(path.join(OWNER_FILE)) else {
                continue;
            };
            let owner = owner.trim();
            let pid: Option<u32> = owner.split(' ').next().and_then(|p| p.parse().ok());
            let alive = pid.and_then(process_identity).is_some_and(|id| id == owner);
            if !alive {
                let _ = Lab::down(&path.join("lab"));
                let _ = std::fs::remove_dir_all(&path);
            }
        }
    });
}

/// Starts a lab of `n` hosts in a fresh temporary directory on free random ports. Panics
/// with a clear message if sshd cannot start (tests never skip).
pub fn lab(n: usize) -> TestLab {
    lab_with(n, &ReachOptions::default())
}

/// Like [`lab`], with issue 8's features (bastion, deep hosts, sudo password). Those need
/// root: the test fails loudly when it cannot set them up.
pub fn lab_with(n: usize, reach: &ReachOptions) -> TestLab {
    reap_abandoned_labs();
    let tmp = tempfile::Builder::new()
        .prefix(TMP_PREFIX)
        .tempdir()
        .expect("create a temporary directory for the lab");
    let me = process_identity(std::process::id()).expect("read /proc/self/stat");
    std::fs::write(tmp.path().join(OWNER_FILE), me).expect("write the lab's owner file");
    let dir = tmp.path().join("lab");
    let mut last_err = None;
    for _ in 0..ATTEMPTS {
        let base = free_base_port(n);
        match Lab::up_with(
            &LabOptions {
                hosts: n,
                dir: dir.clone(),
                base_port: Some(base),
            },
            reach,
        ) {
            Ok(lab) => return TestLab { lab, tmp },
            Err(e @ LabError::PortInUse { .. }) => last_err = Some(e),
            Err(e) => {
                let _ = Lab::down(&dir);
                panic!(
                    "could not start a lab of {n} sshd hosts in {}: {e}\n\
                     (integration tests need OpenSSH's sshd: run scripts/setup, which installs \
                     the Debian package openssh-server)",
                    dir.display()
                )
            }
        }
    }
    let _ = Lab::down(&dir);
    panic!(
        "could not start a lab of {n} sshd hosts: ports kept colliding after {ATTEMPTS} tries: {}",
        last_err.map_or_else(String::new, |e| e.to_string())
    );
}

/// The fleetdeck binary built for these tests.
pub fn fleetdeck_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_fleetdeck"))
}

/// A `Command` for the fleetdeck binary with state and config dirs inside `tmp`, so tests
/// never touch the operator's own files.
pub fn fleetdeck(tmp: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(fleetdeck_bin());
    cmd.env("FLEETDECK_STATE_DIR", tmp.join("state"))
        .env("FLEETDECK_CONFIG_DIR", tmp.join("config"))
        .env_remove("FLEETDECK_INVENTORY")
        .env_remove("FLEETDECK_LAB_DIR");
    cmd
}

/// Every live (non-zombie) descendant of `root`, children first found first.
pub fn descendants(root: i32) -> Vec<i32> {
    fleetdeck::lab::descendants(root).into_iter().collect()
}
