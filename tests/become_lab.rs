//! `ansible_become*` from an Ansible inventory, applied per host by the engine, against real
//! lab hosts whose login user (`fdlab`) needs a password for sudo: a group with become runs
//! as root and the others as the login user in the same job, `--no-become` turns it off, the
//! inventory's password answers sudo without asking anyone, a wrong one fails its hosts alone
//! and is never shown nor recorded, and an unsupported method fails only the hosts that ask
//! for it.

mod common;

use common::events::{collect, JobRun};

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use fleetdeck::engine::{
    resolve_targets, Engine, EngineConfig, ErrorClass, ExecSpec, HostKeyAnswer, HostKeyPolicy,
    HostKeyQuestion, JobKind, JobSpec, Prompter, Secret, SecretKind,
};
use fleetdeck::inventory::{Inventory, LoadOptions};
use fleetdeck::lab::ReachOptions;

/// The lab's sudo password: the same as the other sudo lab tests use, since the lab user (and
/// its password) is shared by labs running at once.
const SUDO_PW: &str = "lab-pw-8";
/// A wrong password, distinctive enough to look for anywhere.
const WRONG_PW: &str = "Wrong-Become-Pw-5f3a";

/// A prompter that must never be asked: it counts the questions (the tests assert none) and
/// answers none.
#[derive(Default)]
struct NeverAsk {
    asked: AtomicUsize,
}

impl Prompter for NeverAsk {
    fn host_key(&self, _q: &HostKeyQuestion) -> HostKeyAnswer {
        self.asked.fetch_add(1, Ordering::SeqCst);
        HostKeyAnswer::Reject
    }
    fn secret(&self, _kind: &SecretKind, _prompt: &str) -> Option<Secret> {
        self.asked.fetch_add(1, Ordering::SeqCst);
        None
    }
}

/// A sudo lab of three hosts: `a1`, `a2` in group `admins` (with `admin_vars`), `o1` in
/// group `others`; an INI inventory naming them, written in the lab's temporary directory.
fn lab_and_inventory(admin_vars: &str) -> (common::TestLab, PathBuf) {
    let lab = common::lab_with(
        3,
        &ReachOptions {
            sudo_password: Some(SUDO_PW.into()),
            ..ReachOptions::default()
        },
    );
    let h = lab.hosts();
    let line = |name: &str, i: usize| {
        format!(
            "{name} ansible_host={} ansible_port={}\n",
            h[i].address, h[i].port
        )
    };
    let login = h[0]
        .login
        .clone()
        .expect("sudo lab hosts have a login user");
    assert_eq!(login, "fdlab");
    let text = format!(
        "[admins]\n{}{}[others]\n{}[admins:vars]\n{admin_vars}\n[all:vars]\nansible_user={login}\n\
         ansible_ssh_private_key_file={}\n",
        line("a1", 0),
        line("a2", 1),
        line("o1", 2),
        lab.client_key_path().display()
    );
    let path = lab.tmp().join("hosts.ini");
    std::fs::write(&path, text).expect("write inventory");
    (lab, path)
}

fn engine_config(lab: &common::TestLab, prompter: Arc<NeverAsk>) -> EngineConfig {
    EngineConfig {
        host_key_policy: HostKeyPolicy::Strict,
        known_hosts: vec![lab.known_hosts_path()],
        idle_timeout: std::time::Duration::from_secs(60),
        keepalive: std::time::Duration::from_secs(15),
        runs_dir: Some(lab.tmp().join("runs")),
        oplog: Some(oplog_path(lab)),
        prompter,
    }
}

fn oplog_path(lab: &common::TestLab) -> PathBuf {
    lab.tmp().join("oplog.jsonl")
}

/// `command` on every host of the inventory at `inv`, through the engine.
fn run(
    engine: &Engine,
    rx: &mut fleetdeck::engine::EventReceiver,
    inv: &Path,
    spec: ExecSpec,
) -> JobRun {
    let inventory = Inventory::load_with(inv, &LoadOptions::default()).expect("inventory");
    let ids: Vec<usize> = (0..inventory.hosts.len()).collect();
    let targets = resolve_targets(&inventory, &ids).expect("targets");
    let job = engine.submit(JobSpec {
        kind: JobKind::Exec(ExecSpec {
            timeout: Some(std::time::Duration::from_secs(60)),
            ..spec
        }),
        targets,
        fanout: 8,
        pattern: "all".into(),
    });
    collect(rx, job)
}

fn id_un() -> ExecSpec {
    ExecSpec {
        command: "id -un".into(),
        ..ExecSpec::default()
    }
}

fn stdout(run: &JobRun, host: &str) -> String {
    let hr = run
        .hosts
        .get(host)
        .unwrap_or_else(|| panic!("{host} reported: {:?}", run.hosts));
    String::from_utf8_lossy(&hr.stdout).into_owned()
}

/// `fleetdeck run -i INV [extra] all -- id -un` with the lab's known_hosts; its stdout and
/// stderr together, and the exit code.
fn cli(lab: &common::TestLab, inv: &Path, extra: &[&str]) -> (String, Option<i32>) {
    let out = common::fleetdeck(lab.tmp())
        .args(["run", "-i"])
        .arg(inv)
        .arg("--known-hosts")
        .arg(lab.known_hosts_path())
        .args(extra)
        .args(["all", "--", "id", "-un"])
        .env("FLEETDECK_SSH_CONFIG", "")
        .env_remove("SSH_AUTH_SOCK")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run fleetdeck");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (all, out.status.code())
}

/// A group with `ansible_become: true` and the login user's sudo password runs as root, the
/// other group as the login user, in one job, with nobody asked; `--no-become` runs as the
/// login user everywhere; `--sudo-user` wins for every host. The CLI says the same, and the
/// operation log records who decided and as whom.
#[test]
fn inventory_become_per_group_no_become_and_job_sudo() {
    let (lab, inv) = lab_and_inventory(&format!(
        "ansible_become=true\nansible_become_password={SUDO_PW}\nansible_become_flags=-H -S -n"
    ));
    let prompter = Arc::new(NeverAsk::default());
    let (engine, mut rx) = Engine::new(engine_config(&lab, prompter.clone()));

    let r = run(&engine, &mut rx, &inv, id_un());
    assert_eq!(r.ok, 3, "{:?}", r.hosts);
    assert_eq!(stdout(&r, "a1"), "root\n");
    assert_eq!(stdout(&r, "a2"), "root\n");
    assert_eq!(stdout(&r, "o1"), "fdlab\n");
    assert!(
        r.all_events
            .contains("ansible_become_flags ignored on 2 host(s)"),
        "{}",
        r.all_events
    );

    let r = run(
        &engine,
        &mut rx,
        &inv,
        ExecSpec {
            no_become: true,
            ..id_un()
        },
    );
    assert_eq!(r.ok, 3, "{:?}", r.hosts);
    for h in ["a1", "a2", "o1"] {
        assert_eq!(stdout(&r, h), "fdlab\n", "{h} with no_become");
    }

    assert_eq!(prompter.asked.load(Ordering::SeqCst), 0, "nobody asked");

    // The job's sudo wins for every host: nobody as root too; the inventory password answers
    // sudo on the admins (o1's sudo for nobody needs fdlab's password, which no one gives).
    let r = run(
        &engine,
        &mut rx,
        &inv,
        ExecSpec {
            sudo_user: Some("nobody".into()),
            ..id_un()
        },
    );
    assert_eq!(stdout(&r, "a1"), "nobody\n", "{:?}", r.hosts);
    assert_eq!(stdout(&r, "a2"), "nobody\n", "{:?}", r.hosts);
    let o1 = r.hosts["o1"].failed.clone().expect("o1 has no password");
    assert_eq!(o1.0, ErrorClass::AuthFailed);
    assert_eq!(prompter.asked.load(Ordering::SeqCst), 1, "o1 asked once");
    engine.shutdown();

    let log = std::fs::read_to_string(oplog_path(&lab)).expect("oplog");
    let starts: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .filter(|v: &serde_json::Value| v["type"] == "job-start")
        .collect();
    assert_eq!(starts.len(), 3, "{log}");
    assert_eq!(starts[0]["become"]["from"], "inventory", "{log}");
    assert_eq!(starts[0]["become"]["as"]["root"], 2, "{log}");
    assert_eq!(starts[1]["become"]["from"], "no-become", "{log}");
    assert_eq!(starts[2]["become"]["from"], "sudo", "{log}");
    assert_eq!(starts[2]["become"]["as"]["nobody"], 3, "{log}");
    let root_hosts = log
        .lines()
        .filter(|l| l.contains(r#""type":"host-result""#) && l.contains(r#""become":"root""#))
        .count();
    assert_eq!(root_hosts, 2, "{log}");
    assert!(!log.contains(SUDO_PW), "the password is never recorded");

    // The command line: the same per group, and --no-become.
    let (out, code) = cli(&lab, &inv, &[]);
    assert_eq!(code, Some(0), "{out}");
    for want in ["a1 | root", "a2 | root", "o1 | fdlab"] {
        assert!(out.lines().any(|l| l == want), "{want}: {out}");
    }
    let (out, code) = cli(&lab, &inv, &["--no-become"]);
    assert_eq!(code, Some(0), "{out}");
    for want in ["a1 | fdlab", "a2 | fdlab", "o1 | fdlab"] {
        assert!(out.lines().any(|l| l == want), "{want}: {out}");
    }
    assert!(!out.contains(SUDO_PW));
    // `fleetdeck log` says who decided and as whom.
    let log = common::fleetdeck(lab.tmp())
        .arg("log")
        .output()
        .expect("fleetdeck log");
    let log = String::from_utf8_lossy(&log.stdout);
    assert!(log.contains("sudo as root on 2 hosts (inventory)"), "{log}");
    assert!(log.contains("no become (--no-become)"), "{log}");
}

/// A wrong inventory password fails its hosts (and only them) with a message naming the
/// variable, never the password, which is in neither the output, the events nor the operation
/// log; nobody is asked instead. An unsupported method fails only the hosts that ask for it.
#[test]
fn wrong_inventory_password_and_unsupported_method_fail_their_hosts_only() {
    let (lab, inv) = lab_and_inventory(&format!(
        "ansible_become=yes\nansible_become_pass={WRONG_PW}"
    ));
    let prompter = Arc::new(NeverAsk::default());
    let (engine, mut rx) = Engine::new(engine_config(&lab, prompter.clone()));
    let r = run(&engine, &mut rx, &inv, id_un());
    assert_eq!((r.ok, r.failed), (1, 2), "{:?}", r.hosts);
    assert_eq!(stdout(&r, "o1"), "fdlab\n");
    for h in ["a1", "a2"] {
        let (class, msg) = r.hosts[h].failed.clone().expect("failed");
        assert_eq!(class, ErrorClass::AuthFailed, "{h}: {msg}");
        assert!(
            msg.contains("sudo rejected the ansible_become_password from the inventory"),
            "{h}: {msg}"
        );
    }
    assert_eq!(prompter.asked.load(Ordering::SeqCst), 0, "nobody asked");
    assert!(!r.all_events.contains(WRONG_PW), "{}", r.all_events);
    engine.shutdown();
    let log = std::fs::read_to_string(oplog_path(&lab)).expect("oplog");
    assert!(
        log.contains("sudo rejected the ansible_become_password"),
        "{log}"
    );
    assert!(!log.contains(WRONG_PW), "{log}");

    let (out, code) = cli(&lab, &inv, &[]);
    assert_ne!(code, Some(0), "{out}");
    assert!(out.lines().any(|l| l == "o1 | fdlab"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("a1 ") && l.contains("ansible_become_password")),
        "{out}"
    );
    assert!(!out.contains(WRONG_PW), "{out}");
    let state = lab.tmp().join("state");
    for f in walk(&state) {
        let bytes = std::fs::read(&f).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(WRONG_PW),
            "{} holds the password",
            f.display()
        );
    }

    // ansible_become_method su: the admins fail with the reason, o1 runs.
    let su = lab.tmp().join("su.ini");
    let text = std::fs::read_to_string(&inv).expect("inventory").replace(
        &format!("ansible_become_pass={WRONG_PW}"),
        "ansible_become_method=su",
    );
    std::fs::write(&su, text).expect("write inventory");
    let (engine, mut rx) = Engine::new(engine_config(&lab, prompter.clone()));
    let r = run(&engine, &mut rx, &su, id_un());
    assert_eq!((r.ok, r.failed), (1, 2), "{:?}", r.hosts);
    assert_eq!(stdout(&r, "o1"), "fdlab\n");
    let (_, msg) = r.hosts["a1"].failed.clone().expect("a1 failed");
    assert_eq!(
        msg,
        "become method su is not supported by fleetdeck (only sudo); use --no-become to run \
         without it"
    );
    let r = run(
        &engine,
        &mut rx,
        &su,
        ExecSpec {
            no_become: true,
            ..id_un()
        },
    );
    assert_eq!(r.ok, 3, "--no-become runs them: {:?}", r.hosts);
    engine.shutdown();
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
