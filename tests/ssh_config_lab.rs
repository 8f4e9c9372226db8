//! ssh_config and `-o` options that reach the SSH code, against real lab daemons:
//! `UserKnownHostsFile`, `GlobalKnownHostsFile`, `StrictHostKeyChecking`, `HostKeyAlias`,
//! `IdentitiesOnly`, `ServerAliveInterval` / `ServerAliveCountMax`. The hosts are read from
//! an inventory with an ssh_config applied, as the faces read them, then run by the engine.

mod common;

use common::events::{collect, collect_with, JobRun};

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fleetdeck::engine::{
    Engine, EngineConfig, ErrorClass, Event, ExecSpec, ExitStatus, HostKeyPolicy, JobKind, JobSpec,
    NoPrompter, Target,
};
use fleetdeck::inventory::{Inventory, LoadOptions};

/// An engine with `policy` whose own known_hosts list is one file that does not exist: only
/// the hosts' own options can make a key known.
fn engine_knowing_nothing(lab: &common::TestLab, policy: HostKeyPolicy) -> EngineConfig {
    engine_knowing_nothing_at(lab.tmp(), policy)
}

/// Every lab host as a target of the lab's inventory (without its `known_hosts:`) with
/// `ssh_config` applied.
fn targets_with(lab: &common::TestLab, ssh_config: &str) -> (Inventory, Vec<Target>) {
    let cfg = lab.tmp().join("ssh_config_under_test");
    std::fs::write(&cfg, ssh_config).expect("write ssh_config");
    let inv = Inventory::load_with(
        &lab.inventory_without_known_hosts(),
        &LoadOptions::default().with_ssh_config(&cfg),
    )
    .expect("inventory loads");
    let ids: Vec<usize> = lab
        .hosts()
        .iter()
        .map(|h| inv.host_by_name(&h.name).expect("lab host in inventory"))
        .collect();
    let targets = fleetdeck::engine::resolve_targets(&inv, &ids).expect("targets");
    (inv, targets)
}

fn run(config: EngineConfig, command: &str, targets: Vec<Target>) -> JobRun {
    let (engine, mut rx) = Engine::new(config);
    let id = engine.submit(exec(command, targets));
    let run = collect(&mut rx, id);
    engine.shutdown();
    run
}

fn exec(command: &str, targets: Vec<Target>) -> JobSpec {
    JobSpec {
        kind: JobKind::Exec(ExecSpec {
            command: command.into(),
            ..ExecSpec::default()
        }),
        targets,
        fanout: 8,
        pattern: "ssh-config".into(),
    }
}

fn assert_ok(run: &JobRun, name: &str) {
    let h = run
        .hosts
        .get(name)
        .unwrap_or_else(|| panic!("{name}: no events"));
    assert_eq!(h.exit, Some(ExitStatus::Code(0)), "{name}: {:?}", h.failed);
}

fn failure(run: &JobRun, name: &str) -> (ErrorClass, String) {
    run.hosts
        .get(name)
        .and_then(|h| h.failed.clone())
        .unwrap_or_else(|| panic!("{name} must fail: {:?}", run.hosts.get(name)))
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

/// A strict engine that knows no key: web01's UserKnownHostsFile holds its key (connects),
/// web02's lacks it (refused, the file named in the message), db01's is new and
/// `StrictHostKeyChecking accept-new` records its key there, and a fourth host with
/// `UserKnownHostsFile none` finds its key in its GlobalKnownHostsFile.
#[test]
fn user_and_global_known_hosts_files_and_accept_new_per_host() {
    let lab = common::lab(4);
    let tmp = lab.tmp();
    let names: Vec<String> = lab.hosts().iter().map(|h| h.name.clone()).collect();
    let good = tmp.join("kh_good");
    std::fs::copy(lab.known_hosts_path(), &good).expect("copy the lab's known_hosts");
    let lacking = tmp.join("kh_lacking");
    std::fs::write(&lacking, "# nothing here\n").expect("write");
    let fresh = tmp.join("kh_fresh");
    let cfg = format!(
        "Host {}\n  UserKnownHostsFile {}\n\
         Host {}\n  UserKnownHostsFile {}\n\
         Host {}\n  UserKnownHostsFile {} {}\n  StrictHostKeyChecking accept-new\n\
         Host {}\n  UserKnownHostsFile none\n  GlobalKnownHostsFile {}\n\
         Host *\n  UserKnownHostsFile /never/read\n",
        names[0],
        good.display(),
        names[1],
        lacking.display(),
        names[2],
        fresh.display(),
        lacking.display(),
        names[3],
        good.display(),
    );
    let (inv, targets) = targets_with(&lab, &cfg);
    let rows = inv.provenance(inv.host_by_name(&names[2]).expect("host"));
    let row = rows
        .iter()
        .find(|r| r.0 == "strict_host_key_checking")
        .expect("a strict_host_key_checking row");
    assert_eq!(row.1, "accept-new", "{rows:?}");
    assert!(row.2.starts_with("ssh_config ("), "{row:?}");
    let lacking_before = read(&lacking);

    let run = run(
        engine_knowing_nothing(&lab, HostKeyPolicy::Strict),
        "echo ok",
        targets,
    );
    assert_ok(&run, &names[0]);
    let (class, msg) = failure(&run, &names[1]);
    assert_eq!(class, ErrorClass::HostKeyUnknown, "{msg}");
    assert!(msg.contains("kh_lacking"), "{msg}");
    assert_ok(&run, &names[2]);
    assert_ok(&run, &names[3]);
    let port = lab.hosts()[2].port;
    let recorded = read(&fresh);
    assert!(
        recorded.starts_with(&format!("[127.0.0.1]:{port} ssh-ed25519 ")),
        "accept-new appends to the first UserKnownHostsFile: {recorded:?}"
    );
    assert_eq!(recorded.lines().count(), 1, "{recorded}");
    assert_eq!(
        read(&lacking),
        lacking_before,
        "only the first file is written"
    );
    assert!(!tmp.join("engine_known_hosts_absent").exists());
}

/// `StrictHostKeyChecking no` connects to an unknown host (and records it), but a changed key
/// is still refused.
#[test]
fn strict_no_accepts_unknown_but_never_a_changed_key() {
    let lab = common::lab(2);
    let kh = lab.tmp().join("kh_no");
    let cfg = format!(
        "Host *\n  StrictHostKeyChecking no\n  UserKnownHostsFile {}\n",
        kh.display()
    );
    let (_, targets) = targets_with(&lab, &cfg);
    let name = lab.hosts()[0].name.clone();
    let run1 = run(
        engine_knowing_nothing(&lab, HostKeyPolicy::Strict),
        "echo ok",
        targets.clone(),
    );
    assert_ok(&run1, &name);
    assert_ok(&run1, &lab.hosts()[1].name);
    assert_eq!(read(&kh).lines().count(), 2, "{}", read(&kh));
    lab.replace_host_key(0).expect("re-key host 0");
    let run2 = run(
        engine_knowing_nothing(&lab, HostKeyPolicy::Strict),
        "echo ok",
        targets,
    );
    let (class, msg) = failure(&run2, &name);
    assert_eq!(class, ErrorClass::HostKeyChanged, "{msg}");
    assert!(msg.contains("CHANGED"), "{msg}");
    assert_ok(&run2, &lab.hosts()[1].name);
}

/// `HostKeyAlias`: a key stored under the alias (no port bracket) is found; an unknown one is
/// written under the alias, and found there next time.
#[test]
fn host_key_alias_is_the_name_looked_up_and_written() {
    let lab = common::lab(2);
    let kh = lab.tmp().join("kh_alias");
    let key0 = lab.host_public_key(0).expect("host 0 key");
    std::fs::write(&kh, format!("web-alias-0 {key0}\n")).expect("write");
    let (a, b) = (lab.hosts()[0].name.clone(), lab.hosts()[1].name.clone());
    let cfg = format!(
        "Host {a}\n  HostKeyAlias web-alias-0\n\
         Host {b}\n  HostKeyAlias web-alias-1\n  StrictHostKeyChecking accept-new\n\
         Host *\n  UserKnownHostsFile {}\n",
        kh.display()
    );
    let (_, targets) = targets_with(&lab, &cfg);
    let run1 = run(
        engine_knowing_nothing(&lab, HostKeyPolicy::Strict),
        "echo ok",
        targets,
    );
    assert_ok(&run1, &a);
    assert_ok(&run1, &b);
    let text = read(&kh);
    let written = text.lines().nth(1).unwrap_or_default();
    assert!(
        written.starts_with("web-alias-1 ssh-ed25519 "),
        "written under the alias, without [host]:port: {text}"
    );
    assert!(!text.contains("127.0.0.1"), "{text}");
    // Strict everywhere now: host 1's key is found under its alias.
    let cfg = format!(
        "Host {b}\n  HostKeyAlias web-alias-1\n  UserKnownHostsFile {}\n",
        kh.display()
    );
    let (_, targets) = targets_with(&lab, &cfg);
    let run2 = run(
        engine_knowing_nothing(&lab, HostKeyPolicy::Strict),
        "echo ok",
        targets,
    );
    assert_ok(&run2, &b);
    let (class, _) = failure(&run2, &a);
    assert_eq!(
        class,
        ErrorClass::HostKeyUnknown,
        "no alias, no file: unknown"
    );
}

/// Set in the child process of the IdentitiesOnly test: the lab directory to open.
const CHILD_LAB: &str = "FLEETDECK_TEST_IDONLY_LAB";

/// `IdentitiesOnly yes` with the agent holding the only accepted key and an IdentityFile the
/// hosts do not accept: that host fails; the other host (no IdentitiesOnly) gets in through
/// the agent. The engine half runs in a child process with `SSH_AUTH_SOCK` set (setting the
/// environment in a threaded test process races with getenv; see tests/engine_agent.rs).
#[test]
fn identities_only_does_not_use_the_agent() {
    if let Some(dir) = std::env::var_os(CHILD_LAB) {
        return identities_only_engine_half(Path::new(&dir));
    }
    let lab = common::lab(2);
    let tmp = lab.tmp();
    let sock = tmp.join("agent.sock");
    let out = Command::new("ssh-agent")
        .arg("-s")
        .arg("-a")
        .arg(&sock)
        .output()
        .expect("ssh-agent must be installed (Debian package openssh-client)");
    assert!(out.status.success(), "ssh-agent failed: {out:?}");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let pid: i32 = text
        .split(';')
        .find_map(|p| p.trim().strip_prefix("SSH_AGENT_PID="))
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no SSH_AGENT_PID in {text}"));
    let _agent = KillOnDrop(pid);
    let st = Command::new("ssh-add")
        .env("SSH_AUTH_SOCK", &sock)
        .arg("-q")
        .arg(lab.client_key_path())
        .status()
        .expect("ssh-add");
    assert!(st.success(), "ssh-add");
    let other = tmp.join("not_accepted_key");
    let st = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&other)
        .status()
        .expect("ssh-keygen");
    assert!(st.success());
    let child = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "identities_only_does_not_use_the_agent",
            "--exact",
            "--nocapture",
        ])
        .env("SSH_AUTH_SOCK", &sock)
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

struct KillOnDrop(i32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.0),
            nix::sys::signal::Signal::SIGTERM,
        );
    }
}

/// The engine half, in the child: both hosts get only the unaccepted identity file; host 0
/// has `IdentitiesOnly yes`.
fn identities_only_engine_half(dir: &Path) {
    let lab = fleetdeck::lab::Lab::open(dir).expect("open the parent's lab");
    let tmp = dir.parent().expect("the lab's temporary directory");
    let other: PathBuf = tmp.join("not_accepted_key");
    let (a, b) = (&lab.hosts()[0], &lab.hosts()[1]);
    let inventory = tmp.join("idonly.yaml");
    std::fs::write(
        &inventory,
        format!(
            "defaults:\n  user: {}\n  identity: {}\n  address: 127.0.0.1\n\
             hosts:\n  {}:\n    port: {}\n  {}:\n    port: {}\n",
            lab.user(),
            other.display(),
            a.name,
            a.port,
            b.name,
            b.port
        ),
    )
    .expect("write inventory");
    let cfg = tmp.join("idonly_ssh_config");
    std::fs::write(&cfg, format!("Host {}\n  IdentitiesOnly yes\n", a.name)).expect("write");
    let inv = Inventory::load_with(&inventory, &LoadOptions::default().with_ssh_config(&cfg))
        .expect("inventory loads");
    assert_eq!(inv.hosts[0].conn.options.identities_only, Some(true));
    let targets = fleetdeck::engine::resolve_targets(&inv, &[0, 1]).expect("targets");
    let mut config = engine_knowing_nothing_at(tmp, HostKeyPolicy::Strict);
    config.known_hosts = vec![lab.known_hosts_path()];
    let run = run(config, "echo ok", targets);
    let (class, msg) = failure(&run, &a.name);
    assert_eq!(class, ErrorClass::AuthFailed, "{msg}");
    assert!(!msg.contains("agent"), "the agent is not tried: {msg}");
    assert_ok(&run, &b.name);
}

fn engine_knowing_nothing_at(tmp: &Path, policy: HostKeyPolicy) -> EngineConfig {
    EngineConfig {
        host_key_policy: policy,
        known_hosts: vec![tmp.join("engine_known_hosts_absent")],
        idle_timeout: Duration::from_secs(60),
        keepalive: Duration::from_secs(15),
        runs_dir: None,
        oplog: None,
        prompter: Arc::new(NoPrompter),
    }
}

fn signal_all(pids: &[i32], sig: nix::sys::signal::Signal) {
    for &p in pids {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), sig);
    }
}

/// `ServerAliveInterval 1` / `ServerAliveCountMax 2` on web01, whose sshd (listener and
/// per-connection processes) is frozen while its command runs: it fails within about three
/// seconds saying it stopped answering keepalives, while web02 in the same job finishes.
#[test]
fn a_host_that_stops_answering_keepalives_is_declared_dead() {
    let lab = common::lab(2);
    let (a, b) = (lab.hosts()[0].name.clone(), lab.hosts()[1].name.clone());
    let cfg = format!("Host {a}\n  ServerAliveInterval 1\n  ServerAliveCountMax 2\n");
    let (_, targets) = targets_with(&lab, &cfg);
    let mut config = engine_knowing_nothing(&lab, HostKeyPolicy::Strict);
    config.known_hosts = vec![lab.known_hosts_path()];
    let (engine, mut rx) = Engine::new(config);
    // A quiet command on a live host stays up past several intervals: the replies count.
    let id = engine.submit(exec("sleep 4; echo quiet-but-alive", targets.clone()));
    let quiet = collect(&mut rx, id);
    assert_ok(&quiet, &a);
    let root = lab.pid(0).expect("web01 runs");
    let mut frozen_at: Option<Instant> = None;
    let mut frozen: Vec<i32> = Vec::new();
    let id = engine.submit(exec("sleep 6; echo done", targets));
    let run = collect_with(&mut rx, id, Duration::from_secs(60), |ev, _| {
        if let Event::Running { host, .. } = ev {
            if **host == *a && frozen_at.is_none() {
                frozen = vec![root];
                frozen.extend(common::descendants(root));
                signal_all(&frozen, nix::sys::signal::Signal::SIGSTOP);
                frozen_at = Some(Instant::now());
            }
        }
        if let (Event::Failed { host, .. }, Some(t)) = (ev, frozen_at) {
            if **host == *a {
                eprintln!("{a} declared dead {:?} after the freeze", t.elapsed());
                assert!(
                    t.elapsed() >= Duration::from_millis(1900)
                        && t.elapsed() <= Duration::from_millis(4500),
                    "declared dead {:?} after the freeze",
                    t.elapsed()
                );
            }
        }
    });
    signal_all(&frozen, nix::sys::signal::Signal::SIGCONT);
    assert!(frozen.len() >= 2, "no per-connection sshd under {root}");
    let (class, msg) = failure(&run, &a);
    assert_eq!(class, ErrorClass::Timeout, "{msg}");
    assert!(msg.contains("stopped answering keepalives"), "{msg}");
    assert_ok(&run, &b);
    engine.shutdown();
}

/// The same options as `-o` in `ansible_ssh_common_args`, through the command line: a strict
/// `fleetdeck run` whose `--known-hosts` file is empty reaches host `a`, whose own
/// UserKnownHostsFile gets its key under `accept-new`; `inventory --host a` shows both options
/// and where they were written. Host `b` (no options) is refused by the strict default.
#[test]
fn ansible_ssh_args_options_through_the_cli() {
    let lab = common::lab(2);
    let tmp = lab.tmp();
    let (ha, hb) = (&lab.hosts()[0], &lab.hosts()[1]);
    let own = tmp.join("kh_from_args");
    let empty = tmp.join("kh_empty");
    std::fs::write(&empty, "").expect("write");
    let inv = tmp.join("hosts");
    std::fs::write(
        &inv,
        format!(
            "[web]\na ansible_host=127.0.0.1 ansible_port={} \
             ansible_ssh_common_args='-o UserKnownHostsFile={} -o StrictHostKeyChecking=accept-new'\n\
             b ansible_host=127.0.0.1 ansible_port={}\n\
             [web:vars]\nansible_user={}\nansible_ssh_private_key_file={}\n",
            ha.port,
            own.display(),
            hb.port,
            lab.user(),
            lab.client_key_path().display()
        ),
    )
    .expect("write inventory");
    let out = common::fleetdeck(tmp)
        .args(["run", "-i"])
        .arg(&inv)
        .arg("--known-hosts")
        .arg(&empty)
        .args(["web", "--", "echo", "ran"])
        .env("FLEETDECK_SSH_CONFIG", "")
        .env_remove("SSH_AUTH_SOCK")
        .output()
        .expect("run fleetdeck");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_ne!(out.status.code(), Some(0), "b must be refused: {all}");
    assert!(
        all.lines()
            .any(|l| l.starts_with("b ") && l.contains("host-key-unknown")),
        "{all}"
    );
    assert!(
        all.lines()
            .any(|l| l.starts_with("a ") && l.contains("ran")),
        "{all}"
    );
    let recorded = read(&own);
    assert!(
        recorded.starts_with(&format!("[127.0.0.1]:{} ssh-ed25519 ", ha.port)),
        "{recorded:?}"
    );
    assert_eq!(read(&empty), "", "the --known-hosts file is not a's");
    let out = common::fleetdeck(tmp)
        .args(["inventory", "-i"])
        .arg(&inv)
        .args(["--host", "a"])
        .env("FLEETDECK_SSH_CONFIG", "")
        .output()
        .expect("run fleetdeck inventory");
    let shown = String::from_utf8_lossy(&out.stdout);
    let row = |name: &str| {
        shown
            .lines()
            .find(|l| l.trim_start().starts_with(name))
            .unwrap_or_else(|| panic!("no {name} row: {shown}"))
            .to_string()
    };
    let r = row("user_known_hosts_file");
    assert!(r.contains("kh_from_args") && r.contains("host a ("), "{r}");
    let r = row("strict_host_key_checking");
    assert!(r.contains("accept-new") && r.contains("hosts:2:"), "{r}");
    assert!(
        !shown.contains("host_key_alias"),
        "only options given are shown: {shown}"
    );
    let out = common::fleetdeck(tmp)
        .args(["inventory", "--json", "-i"])
        .arg(&inv)
        .env("FLEETDECK_SSH_CONFIG", "")
        .output()
        .expect("run fleetdeck inventory --json");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let hosts = v["hosts"].as_array().expect("hosts");
    let a = hosts.iter().find(|h| h["name"] == "a").expect("a");
    assert_eq!(
        a["ssh_options"]["strict_host_key_checking"], "accept-new",
        "{a}"
    );
    let b = hosts.iter().find(|h| h["name"] == "b").expect("b");
    assert!(b.get("ssh_options").is_none(), "{b}");
}

/// A jump host's own options apply to its own connection: web01, the jump host of web02, has
/// its key under a `HostKeyAlias` in its own `UserKnownHostsFile` (the engine's file holds only
/// web02's key), and a keepalive deadline: frozen while web02's command runs through it, the
/// jump session is declared dead and web02 fails within seconds instead of hanging, saying so.
#[test]
fn a_jump_hosts_own_options_apply_to_its_connection() {
    let lab = common::lab(2);
    let tmp = lab.tmp();
    let (h0, h1) = (&lab.hosts()[0], &lab.hosts()[1]);
    let hop_kh = tmp.join("kh_hop");
    let key0 = lab.host_public_key(0).expect("host 0 key");
    std::fs::write(&hop_kh, format!("bastion-alias {key0}\n")).expect("write");
    let target_kh = tmp.join("kh_target_only");
    let key1 = lab.host_public_key(1).expect("host 1 key");
    std::fs::write(&target_kh, format!("[127.0.0.1]:{} {key1}\n", h1.port)).expect("write");
    let inventory = tmp.join("jump.yaml");
    std::fs::write(
        &inventory,
        format!(
            "defaults:\n  user: {}\n  identity: {}\n  address: 127.0.0.1\n\
             hosts:\n  {}:\n    port: {}\n  {}:\n    port: {}\n    jump: {}\n",
            lab.user(),
            lab.client_key_path().display(),
            h0.name,
            h0.port,
            h1.name,
            h1.port,
            h0.name
        ),
    )
    .expect("write inventory");
    let cfg = tmp.join("jump_ssh_config");
    std::fs::write(
        &cfg,
        format!(
            "Host {}\n  HostKeyAlias bastion-alias\n  UserKnownHostsFile {}\n\
             \x20 ServerAliveInterval 1\n  ServerAliveCountMax 2\n",
            h0.name,
            hop_kh.display()
        ),
    )
    .expect("write ssh_config");
    let inv = Inventory::load_with(&inventory, &LoadOptions::default().with_ssh_config(&cfg))
        .expect("inventory loads");
    let id1 = inv.host_by_name(&h1.name).expect("web02");
    let targets = fleetdeck::engine::resolve_targets(&inv, &[id1]).expect("targets");
    assert_eq!(targets[0].jump.len(), 1);
    assert!(targets[0].jump[0].conn.options.host_key_alias.is_some());
    let mut config = engine_knowing_nothing(&lab, HostKeyPolicy::Strict);
    config.known_hosts = vec![target_kh];
    let (engine, mut rx) = Engine::new(config);
    let run1 = collect(&mut rx, engine.submit(exec("echo ok", targets.clone())));
    assert_ok(&run1, &h1.name);
    let root = lab.pid(0).expect("web01 runs");
    let mut frozen_at: Option<Instant> = None;
    let mut frozen: Vec<i32> = Vec::new();
    let id = engine.submit(exec("sleep 8; echo done", targets));
    let run2 = collect_with(&mut rx, id, Duration::from_secs(60), |ev, _| {
        if let (Event::Running { .. }, None) = (ev, frozen_at) {
            frozen = vec![root];
            frozen.extend(common::descendants(root));
            signal_all(&frozen, nix::sys::signal::Signal::SIGSTOP);
            frozen_at = Some(Instant::now());
        }
        if let (Event::Failed { .. }, Some(t)) = (ev, frozen_at) {
            eprintln!(
                "behind the frozen jump host: failed {:?} after",
                t.elapsed()
            );
            assert!(
                t.elapsed() <= Duration::from_millis(5500),
                "failed {:?} after the freeze",
                t.elapsed()
            );
        }
    });
    signal_all(&frozen, nix::sys::signal::Signal::SIGCONT);
    let (class, msg) = failure(&run2, &h1.name);
    assert_eq!(class, ErrorClass::Timeout, "{msg}");
    assert!(
        msg.starts_with(&format!("via jump host {}: ", h0.name))
            && msg.contains("stopped answering keepalives"),
        "the target's failure names its jump host's: {msg}"
    );
    engine.shutdown();
}
