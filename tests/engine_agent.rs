//! ssh-agent authentication: every identity of the agent is tried, not only the first.
//!
//! libssh2 finds the agent through `SSH_AUTH_SOCK` only, and setting the environment inside
//! a multi-threaded test process races with getenv: the test starts the agent and the lab,
//! then runs its engine half in a child process of this same test binary, with
//! `SSH_AUTH_SOCK` set on the child's command line.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use fleetdeck::engine::{
    Engine, EngineConfig, Event, ExecSpec, ExitStatus, HostKeyPolicy, JobKind, JobSpec, NoPrompter,
    Target,
};
use fleetdeck::inventory::ConnSettings;

/// An ssh-agent on a socket in `dir`, killed (by pid) on drop.
struct Agent {
    pid: i32,
    sock: std::path::PathBuf,
}

/// Set in the child process: the lab directory to open.
const CHILD_LAB: &str = "FLEETDECK_TEST_AGENT_LAB";

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.pid),
            nix::sys::signal::Signal::SIGTERM,
        );
    }
}

fn start_agent(dir: &Path) -> Agent {
    let sock = dir.join("agent.sock");
    let out = Command::new("ssh-agent")
        .arg("-s")
        .arg("-a")
        .arg(&sock)
        .output()
        .expect("ssh-agent must be installed (Debian package openssh-client)");
    assert!(out.status.success(), "ssh-agent failed: {out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let pid = text
        .split(';')
        .find_map(|p| p.trim().strip_prefix("SSH_AGENT_PID="))
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no SSH_AGENT_PID in {text}"));
    Agent { pid, sock }
}

fn ssh_add(agent: &Agent, key: &Path) {
    let st = Command::new("ssh-add")
        .env("SSH_AUTH_SOCK", &agent.sock)
        .arg("-q")
        .arg(key)
        .status()
        .expect("ssh-add");
    assert!(st.success(), "ssh-add {}", key.display());
}

#[test]
fn agent_identities_are_all_tried() {
    if let Some(dir) = std::env::var_os(CHILD_LAB) {
        let lab = fleetdeck::lab::Lab::open(Path::new(&dir)).expect("open the parent's lab");
        return engine_authenticates_through_the_agent(&lab);
    }
    let lab = common::lab(2);
    let tmp = lab.tmp();
    let agent = start_agent(tmp);
    // First an identity the lab does not accept, then the lab's client key.
    let other = tmp.join("other_key");
    let st = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&other)
        .status()
        .expect("ssh-keygen");
    assert!(st.success());
    ssh_add(&agent, &other);
    ssh_add(&agent, &lab.client_key_path());
    let listed = Command::new("ssh-add")
        .env("SSH_AUTH_SOCK", &agent.sock)
        .arg("-L")
        .output()
        .expect("ssh-add -L");
    let listed = String::from_utf8_lossy(&listed.stdout).to_string();
    let other_pub = std::fs::read_to_string(other.with_extension("pub")).expect("pub");
    let first = listed.lines().next().unwrap_or_default();
    assert!(
        other_pub.contains(first.split_whitespace().nth(1).unwrap_or("?")),
        "the agent must list the unaccepted key first: {listed}"
    );
    let child = Command::new(std::env::current_exe().expect("test binary"))
        .args(["agent_identities_are_all_tried", "--exact", "--nocapture"])
        .env("SSH_AUTH_SOCK", &agent.sock)
        .env(CHILD_LAB, lab.dir())
        .output()
        .expect("run the engine half");
    assert!(
        child.status.success() && String::from_utf8_lossy(&child.stdout).contains("1 passed"),
        "engine half failed: {}\n{}",
        String::from_utf8_lossy(&child.stdout),
        String::from_utf8_lossy(&child.stderr)
    );
}

/// The engine half, in the child: both hosts authenticate with no identity file.
fn engine_authenticates_through_the_agent(lab: &fleetdeck::lab::Lab) {
    let (engine, mut rx) = Engine::new(EngineConfig {
        host_key_policy: HostKeyPolicy::Strict,
        known_hosts: vec![lab.known_hosts_path()],
        idle_timeout: Duration::from_secs(60),
        keepalive: Duration::from_secs(15),
        runs_dir: None,
        oplog: None,
        prompter: Arc::new(NoPrompter),
    });
    let targets: Vec<Target> = lab
        .hosts()
        .iter()
        .map(|h| Target {
            name: Arc::from(h.name.as_str()),
            conn: ConnSettings {
                address: "127.0.0.1".into(),
                port: h.port,
                user: lab.user().into(),
                // No identity file: only the agent can authenticate.
                identity_files: vec![],
                jump: vec![],
                proxy_command: None,
                connect_timeout: Duration::from_secs(5),
                ..ConnSettings::default()
            },
            jump: vec![],
            become_: None,
        })
        .collect();
    let id = engine.submit(JobSpec {
        kind: JobKind::Exec(ExecSpec {
            command: "echo via-agent".into(),
            ..ExecSpec::default()
        }),
        targets,
        fanout: 8,
        pattern: "all".into(),
    });
    let mut finished = 0;
    loop {
        match rx.blocking_recv().expect("events") {
            Event::Finished { exit, host, .. } => {
                assert_eq!(exit, ExitStatus::Code(0), "{host}");
                finished += 1;
            }
            Event::Failed {
                host,
                class,
                message,
                ..
            } => {
                panic!("{host}: {class}: {message}")
            }
            Event::JobDone { job, .. } if job == id => break,
            _ => {}
        }
    }
    assert_eq!(finished, 2);
}
