//! The engine's side of issue 8 against real lab hosts: sudo with one password (asked once for
//! many hosts, a wrong one failing fast everywhere as auth-failed, never recorded), and jump
//! hosts shared per bastion (one session to the bastion for every target behind it; a wrong
//! bastion host key refuses every target).

mod common;

use common::events::{collect, JobRun};

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fleetdeck::engine::{
    Engine, EngineConfig, ErrorClass, ExecSpec, HostKeyAnswer, HostKeyPolicy, HostKeyQuestion,
    JobKind, JobSpec, NoPrompter, Prompter, Secret, SecretKind, Target,
};
use fleetdeck::inventory::ConnSettings;
use fleetdeck::lab::ReachOptions;

/// The lab's sudo password: the same as `tests/reach.rs` and `tests/lab_reach.rs` use, since the
/// lab user (and its password) is shared by labs running at once.
const SUDO_PW: &str = "lab-pw-8";
const WRONG_PW: &str = "Wrong-Pw-77aa";

/// Every lab host as an engine target, jump hosts resolved to the lab's bastions.
fn lab_targets(lab: &common::TestLab) -> HashMap<String, Target> {
    let key = lab.client_key_path();
    let plain = |h: &fleetdeck::lab::LabHost| Target {
        name: Arc::from(h.name.as_str()),
        conn: ConnSettings {
            address: h.address.clone(),
            port: h.port,
            user: h.login.clone().unwrap_or_else(|| lab.user().to_string()),
            identity_files: vec![key.clone()],
            jump: vec![],
            proxy_command: None,
            connect_timeout: Duration::from_secs(20),
            ..ConnSettings::default()
        },
        jump: vec![],
        become_: None,
    };
    let by_name: HashMap<&str, &fleetdeck::lab::LabHost> =
        lab.hosts().iter().map(|h| (h.name.as_str(), h)).collect();
    // A jump host's own jump hosts come first (bastion2 is reached through bastion).
    fn chain<'a>(
        h: &'a fleetdeck::lab::LabHost,
        by_name: &HashMap<&str, &'a fleetdeck::lab::LabHost>,
        out: &mut Vec<&'a fleetdeck::lab::LabHost>,
    ) {
        for j in &h.jump {
            let jh = by_name.get(j.as_str()).expect("jump host is a lab host");
            chain(jh, by_name, out);
            out.push(jh);
        }
    }
    lab.hosts()
        .iter()
        .map(|h| {
            let mut t = plain(h);
            let mut hops = Vec::new();
            chain(h, &by_name, &mut hops);
            t.jump = hops.into_iter().map(plain).map(|h| h.hop()).collect();
            (h.name.clone(), t)
        })
        .collect()
}

fn config(lab: &common::TestLab, known_hosts: &Path, prompter: Arc<dyn Prompter>) -> EngineConfig {
    EngineConfig {
        host_key_policy: HostKeyPolicy::Strict,
        known_hosts: vec![known_hosts.to_path_buf()],
        idle_timeout: Duration::from_secs(120),
        keepalive: Duration::from_secs(15),
        runs_dir: Some(lab.tmp().join("runs")),
        oplog: Some(lab.tmp().join("oplog.jsonl")),
        prompter,
    }
}

fn exec(command: &str, sudo: Option<&str>, pty: bool, targets: Vec<Target>) -> JobSpec {
    JobSpec {
        kind: JobKind::Exec(ExecSpec {
            command: command.into(),
            pty,
            timeout: Some(Duration::from_secs(60)),
            sudo_user: sudo.map(str::to_string),
            no_become: false,
            stdin: None,
            rolling: None,
        }),
        targets,
        fanout: 64,
        pattern: "all".into(),
    }
}

/// Answers every sudo question with one password (kept for the session when `keep`) and
/// counts the questions.
struct SudoPrompter {
    password: String,
    keep: bool,
    asked: AtomicUsize,
    kinds: std::sync::Mutex<Vec<SecretKind>>,
    prompts: std::sync::Mutex<Vec<String>>,
}

impl SudoPrompter {
    fn new(password: &str) -> Arc<Self> {
        Self::with_keep(password, false)
    }
    fn with_keep(password: &str, keep: bool) -> Arc<Self> {
        Arc::new(SudoPrompter {
            password: password.into(),
            keep,
            asked: AtomicUsize::new(0),
            kinds: std::sync::Mutex::new(Vec::new()),
            prompts: std::sync::Mutex::new(Vec::new()),
        })
    }
    fn asked(&self) -> usize {
        self.asked.load(Ordering::SeqCst)
    }
}

impl Prompter for SudoPrompter {
    fn host_key(&self, _q: &HostKeyQuestion) -> HostKeyAnswer {
        HostKeyAnswer::Reject
    }
    fn secret(&self, kind: &SecretKind, prompt: &str) -> Option<Secret> {
        self.asked.fetch_add(1, Ordering::SeqCst);
        self.kinds.lock().expect("lock").push(kind.clone());
        self.prompts.lock().expect("lock").push(prompt.to_string());
        let pw = self.password.clone();
        matches!(kind, SecretKind::Sudo { .. }).then(|| {
            if self.keep {
                Secret::for_session(pw)
            } else {
                Secret::new(pw)
            }
        })
    }
}

/// Every file under `dir`, read whole.
fn files_text(dir: &Path, out: &mut Vec<u8>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            files_text(&p, out);
        } else if let Ok(b) = std::fs::read(&p) {
            out.extend_from_slice(&b);
        }
    }
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

fn assert_no_secret(lab: &common::TestLab, run: &JobRun, secret: &str) {
    assert!(!run.all_events.contains(secret), "a password in the events");
    for (name, hr) in &run.hosts {
        assert!(!contains(&hr.stdout, secret), "{name}: password in stdout");
        assert!(!contains(&hr.stderr, secret), "{name}: password in stderr");
        // sudo's prompt marker is cut out of the output.
        for s in [&hr.stdout, &hr.stderr] {
            assert!(
                !contains(s, "fleetdeck-sudo"),
                "{name}: marker in output: {s:?}"
            );
        }
    }
    let mut all = Vec::new();
    files_text(&lab.tmp().join("runs"), &mut all);
    files_text(&lab.tmp().join("oplog.jsonl"), &mut all);
    if let Ok(b) = std::fs::read(lab.tmp().join("oplog.jsonl")) {
        all.extend_from_slice(&b);
    }
    assert!(!all.is_empty(), "the run folder and oplog were written");
    assert!(
        !contains(&all, secret),
        "a password in the run folder or oplog"
    );
}

/// 20 hosts whose login user's sudo asks a password: asked once for all of them (and not
/// again in the next job when the operator kept it for the session), output intact without
/// sudo's prompt; with a pty, the password is not echoed back; a wrong password fails every
/// host fast with auth-failed.
#[test]
fn sudo_password_asked_once_wrong_one_fails_fast() {
    const N: usize = 20;
    let lab = common::lab_with(
        N,
        &ReachOptions {
            sudo_password: Some(SUDO_PW.into()),
            ..ReachOptions::default()
        },
    );
    let targets: Vec<Target> = {
        let mut m = lab_targets(&lab);
        lab.hosts()
            .iter()
            .map(|h| m.remove(&h.name).expect("target"))
            .collect()
    };
    assert_eq!(targets.len(), N);
    assert!(
        targets.iter().all(|t| t.conn.user == "fdlab"),
        "sudo lab hosts log in as fdlab: {:?}",
        targets.iter().map(|t| &t.conn.user).collect::<Vec<_>>()
    );
    let prompter = SudoPrompter::with_keep(SUDO_PW, true);
    let (engine, mut rx) = Engine::new(config(&lab, &lab.known_hosts_path(), prompter.clone()));

    // Without sudo: nothing is asked, the login user is fdlab.
    let run = collect(
        &mut rx,
        engine.submit(exec("id -un", None, false, targets.clone())),
    );
    assert_eq!(run.ok, N, "{:?}", run.hosts);
    assert!(run.hosts.values().all(|h| h.stdout == b"fdlab\n"));
    assert_eq!(prompter.asked.load(Ordering::SeqCst), 0);

    // Through sudo: asked once for the 20 hosts.
    let cmd = "id -un; echo to-stderr >&2; printf 'no newline'";
    let run = collect(
        &mut rx,
        engine.submit(exec(cmd, Some("root"), false, targets.clone())),
    );
    assert_eq!(run.ok, N, "{:?}", run.hosts);
    for (name, hr) in &run.hosts {
        assert_eq!(hr.stdout, b"root\nno newline", "{name}: {hr:?}");
        assert_eq!(hr.stderr, b"to-stderr\n", "{name}: {hr:?}");
    }
    assert_eq!(prompter.asked.load(Ordering::SeqCst), 1);
    eprintln!(
        "sudo with a password on {N} hosts (sessions held, PAM checks the password on each): {:?}",
        run.wall
    );
    assert_eq!(
        prompter.kinds.lock().expect("lock")[0],
        SecretKind::Sudo {
            user: "fdlab".into()
        }
    );
    assert_no_secret(&lab, &run, SUDO_PW);

    // Next job (sudo asks again on every host: timestamp_timeout=0): not asked again (kept for
    // the session). As
    // another user, and with a pty (where sudo's prompt and the terminal share stdout).
    let run = collect(
        &mut rx,
        engine.submit(exec("id -un", Some("fdlab"), true, targets.clone())),
    );
    assert_eq!(run.ok, N, "{:?}", run.hosts);
    for (name, hr) in &run.hosts {
        let out = String::from_utf8_lossy(&hr.stdout);
        assert_eq!(out.trim(), "fdlab", "{name}: {out:?}");
    }
    let run2 = collect(
        &mut rx,
        engine.submit(exec("id -un", Some("root"), true, targets.clone())),
    );
    assert_eq!(run2.ok, N, "{:?}", run2.hosts);
    for (name, hr) in &run2.hosts {
        let out = String::from_utf8_lossy(&hr.stdout);
        assert_eq!(out.trim(), "root", "{name}: {out:?}");
    }
    assert_eq!(prompter.asked.load(Ordering::SeqCst), 1);
    assert_eq!(engine.stats().sudo_prompts_total, 1);
    assert_no_secret(&lab, &run, SUDO_PW);
    assert_no_secret(&lab, &run2, SUDO_PW);
    engine.shutdown();

    // A wrong password: every host fails as auth-failed, fast (sudo's own delay after a
    // wrong password is ~2 s), asked once; nothing ran as root.
    let wrong = SudoPrompter::new(WRONG_PW);
    let (engine, mut rx) = Engine::new(config(&lab, &lab.known_hosts_path(), wrong.clone()));
    let run = collect(
        &mut rx,
        engine.submit(exec(
            "touch /tmp/fleetdeck-engine-reach-ran",
            Some("root"),
            false,
            targets.clone(),
        )),
    );
    assert_eq!(run.ok, 0);
    assert_eq!(run.hosts.len(), N);
    for (name, hr) in &run.hosts {
        let (class, msg) = hr
            .failed
            .clone()
            .unwrap_or_else(|| panic!("{name}: {hr:?}"));
        assert_eq!(class, ErrorClass::AuthFailed, "{name}: {msg}");
        assert!(
            msg.contains("sudo") && msg.contains("wrong"),
            "{name}: {msg}"
        );
    }
    assert!(run.wall < Duration::from_secs(20), "took {:?}", run.wall);
    eprintln!(
        "wrong sudo password on {N} hosts: all auth-failed in {:?}",
        run.wall
    );
    assert_eq!(wrong.asked.load(Ordering::SeqCst), 1);
    assert!(!Path::new("/tmp/fleetdeck-engine-reach-ran").exists());
    assert_no_secret(&lab, &run, WRONG_PW);
    // The sessions survived the refusal, and the next job asks again (the last answer was
    // wrong); still wrong, still refused.
    let run = collect(
        &mut rx,
        engine.submit(exec("true", Some("root"), false, targets[..3].to_vec())),
    );
    assert_eq!(wrong.asked.load(Ordering::SeqCst), 2);
    assert!(run
        .hosts
        .values()
        .all(|h| matches!(h.failed, Some((ErrorClass::AuthFailed, _)))));
    // No password given at all: auth-failed too, not a hang.
    engine.shutdown();
    let (engine, mut rx) = Engine::new(config(&lab, &lab.known_hosts_path(), Arc::new(NoPrompter)));
    let run = collect(
        &mut rx,
        engine.submit(exec("true", Some("root"), false, targets[..3].to_vec())),
    );
    for (name, hr) in &run.hosts {
        let (class, msg) = hr
            .failed
            .clone()
            .unwrap_or_else(|| panic!("{name}: {hr:?}"));
        assert_eq!(class, ErrorClass::AuthFailed, "{name}: {msg}");
        assert!(msg.contains("none was given"), "{name}: {msg}");
    }
    engine.shutdown();
}

/// The hosts of a sudo lab as targets, in the lab's order.
fn sudo_targets(lab: &common::TestLab) -> Vec<Target> {
    let mut m = lab_targets(lab);
    lab.hosts()
        .iter()
        .map(|h| m.remove(&h.name).expect("target"))
        .collect()
}

/// sudo's prompt marker counts only where sudo writes it, before the command runs: `ps aux`
/// (which shows the marker in sudo's command line) and a command that prints the marker on
/// stderr run fine with the right password, with and without a pty; a wrong one still fails
/// as a wrong sudo password. The password lasts one job unless kept for the session, and a
/// host whose key was first trusted in this session is asked about by name.
#[test]
fn sudo_prompt_only_where_sudo_writes_it_password_per_job() {
    const N: usize = 3;
    let lab = common::lab_with(
        N,
        &ReachOptions {
            sudo_password: Some(SUDO_PW.into()),
            ..ReachOptions::default()
        },
    );
    let targets = sudo_targets(&lab);
    let prompter = SudoPrompter::new(SUDO_PW);
    let (engine, mut rx) = Engine::new(config(&lab, &lab.known_hosts_path(), prompter.clone()));
    for pty in [false, true] {
        let run = collect(
            &mut rx,
            engine.submit(exec("ps aux", Some("root"), pty, targets.clone())),
        );
        assert_eq!(run.ok, N, "pty {pty}: {:?}", run.hosts);
        for (name, hr) in &run.hosts {
            assert!(
                contains(&hr.stdout, "fleetdeck-sudo-"),
                "{name}: ps shows sudo's command line with the marker: {:?}",
                String::from_utf8_lossy(&hr.stdout)
            );
        }
    }
    // The marker on stderr (sudo's stream) and stdout, printed by the command itself.
    let echo = "m=$(ps -o args= -p $PPID); echo \"$m\" >&2; echo \"$m\"; id -un";
    let run = collect(
        &mut rx,
        engine.submit(exec(echo, Some("root"), false, targets.clone())),
    );
    assert_eq!(run.ok, N, "{:?}", run.hosts);
    for (name, hr) in &run.hosts {
        assert!(contains(&hr.stderr, "fleetdeck-sudo-"), "{name}: {hr:?}");
        assert!(hr.stdout.ends_with(b"root\n"), "{name}: {hr:?}");
    }
    // Three jobs, three questions: the password was kept for each job only.
    assert_eq!(prompter.asked(), 3);
    engine.shutdown();

    // A wrong password is still a wrong password.
    let wrong = SudoPrompter::new(WRONG_PW);
    let (engine, mut rx) = Engine::new(config(&lab, &lab.known_hosts_path(), wrong.clone()));
    let run = collect(
        &mut rx,
        engine.submit(exec("ps aux", Some("root"), false, targets.clone())),
    );
    assert_eq!(run.ok, 0);
    for (name, hr) in &run.hosts {
        let (class, msg) = hr
            .failed
            .clone()
            .unwrap_or_else(|| panic!("{name}: {hr:?}"));
        assert_eq!(class, ErrorClass::AuthFailed, "{name}: {msg}");
        assert!(msg.contains("wrong sudo password"), "{name}: {msg}");
    }
    engine.shutdown();

    // Keys first trusted in this session (accept-new into an empty known_hosts): every host
    // is asked by name, even with an answer kept for the session; a later job reuses each
    // host's own answer.
    let kh = lab.tmp().join("fresh_known_hosts");
    std::fs::write(&kh, "").expect("empty known_hosts");
    let kept = SudoPrompter::with_keep(SUDO_PW, true);
    let (engine, mut rx) = Engine::new(EngineConfig {
        host_key_policy: HostKeyPolicy::AcceptNew,
        ..config(&lab, &kh, kept.clone())
    });
    for _ in 0..2 {
        let run = collect(
            &mut rx,
            engine.submit(exec("id -un", Some("root"), false, targets.clone())),
        );
        assert_eq!(run.ok, N, "{:?}", run.hosts);
    }
    assert_eq!(kept.asked(), N, "one question per newly trusted host");
    let prompts = kept.prompts.lock().expect("lock").clone();
    for t in &targets {
        let named = format!("on {} ", t.name);
        assert!(
            prompts
                .iter()
                .any(|p| p.contains(&named) && p.contains("first trusted")),
            "{} not asked by name: {prompts:?}",
            t.name
        );
    }
    engine.shutdown();
    // Known from known_hosts now: one question for all, kept for the session.
    let kept = SudoPrompter::with_keep(SUDO_PW, true);
    let (engine, mut rx) = Engine::new(config(&lab, &kh, kept.clone()));
    for _ in 0..2 {
        let run = collect(
            &mut rx,
            engine.submit(exec("true", Some("root"), false, targets.clone())),
        );
        assert_eq!(run.ok, N, "{:?}", run.hosts);
    }
    assert_eq!(kept.asked(), 1);
    engine.shutdown();
}

/// Established TCP connections from this process's namespace to `addr:port`.
fn established_to(addr: &str, port: u16) -> usize {
    let out = std::process::Command::new("ss")
        .args([
            "-tnH",
            "state",
            "established",
            "dst",
            &format!("{addr}:{port}"),
        ])
        .output()
        .expect("run ss");
    String::from_utf8_lossy(&out.stdout).lines().count()
}

/// Targets behind one bastion (and two hops behind bastion then bastion2) all run through
/// one session to the bastion: one TCP connection, one jump session per hop. sudo on hosts
/// that need no password asks nothing.
#[test]
fn one_bastion_session_for_every_target_behind_it() {
    let lab = common::lab_with(
        12,
        &ReachOptions {
            bastion: true,
            deep: 2,
            sudo_password: None,
        },
    );
    let all = lab_targets(&lab);
    let bastion = &all["bastion"];
    let behind: Vec<Target> = all
        .values()
        .filter(|t| !t.jump.is_empty())
        .cloned()
        .collect();
    assert!(behind.len() >= 14, "{:?}", all.keys());
    assert!(behind.iter().any(|t| t.jump.len() == 2), "deep hosts");
    let prompter = SudoPrompter::new(SUDO_PW);
    let (engine, mut rx) = Engine::new(config(&lab, &lab.known_hosts_path(), prompter.clone()));
    let cmd = r#"echo "$SSH_CONNECTION""#;
    let run = collect(
        &mut rx,
        engine.submit(exec(cmd, None, false, behind.clone())),
    );
    assert_eq!(run.ok, behind.len(), "{:?}", run.hosts);
    for t in &behind {
        let out = String::from_utf8_lossy(&run.hosts[&*t.name].stdout).to_string();
        assert!(
            out.trim_end()
                .ends_with(&format!("{} {}", t.conn.address, t.conn.port)),
            "{}: {out}",
            t.name
        );
    }
    let s = engine.stats();
    assert_eq!(s.tcp_connects_total, 1, "{s:?}");
    assert_eq!(
        s.jump_sessions_opened_total, 2,
        "bastion and bastion2: {s:?}"
    );
    assert_eq!(s.sessions_opened_total, behind.len() as u64, "{s:?}");
    assert_eq!(
        established_to(&bastion.conn.address, bastion.conn.port),
        1,
        "one TCP connection to the bastion"
    );

    // Again, through sudo (root needs no password): sessions reused, nothing asked.
    let run = collect(
        &mut rx,
        engine.submit(exec("id -un", Some("root"), false, behind.clone())),
    );
    assert_eq!(run.ok, behind.len(), "{:?}", run.hosts);
    assert!(run.hosts.values().all(|h| h.stdout == b"root\n"));
    assert_eq!(prompter.asked.load(Ordering::SeqCst), 0);
    let s = engine.stats();
    assert_eq!(s.tcp_connects_total, 1, "{s:?}");
    assert_eq!(s.jump_sessions_opened_total, 2, "{s:?}");

    // Megabytes from every target at once through the one bastion session: every byte
    // arrives, in order.
    let run = collect(
        &mut rx,
        engine.submit(exec(
            "seq 1 300000; seq 1 50000 >&2",
            None,
            false,
            behind.clone(),
        )),
    );
    assert_eq!(run.ok, behind.len(), "{:?}", run.hosts);
    let seq = |n: u32| {
        let mut s = String::new();
        for i in 1..=n {
            let _ = writeln!(s, "{i}");
        }
        s
    };
    let (want, want_err) = (seq(300_000), seq(50_000));
    for (name, hr) in &run.hosts {
        assert!(
            hr.stdout == want.as_bytes(),
            "{name}: {} bytes",
            hr.stdout.len()
        );
        assert!(
            hr.stderr == want_err.as_bytes(),
            "{name}: {} bytes",
            hr.stderr.len()
        );
    }
    assert_eq!(engine.stats().jump_sessions_opened_total, 2);
    engine.shutdown();
    assert_eq!(established_to(&bastion.conn.address, bastion.conn.port), 0);
}

/// The bastion session closes once the sessions through it have gone idle, and the next job
/// opens a fresh one.
#[test]
fn idle_bastion_session_closes_and_reopens() {
    let lab = common::lab_with(
        2,
        &ReachOptions {
            bastion: true,
            deep: 0,
            sudo_password: None,
        },
    );
    let all = lab_targets(&lab);
    let bastion = all["bastion"].clone();
    let behind: Vec<Target> = all
        .values()
        .filter(|t| !t.jump.is_empty())
        .cloned()
        .collect();
    let mut cfg = config(&lab, &lab.known_hosts_path(), Arc::new(NoPrompter));
    cfg.idle_timeout = Duration::from_millis(600);
    let (engine, mut rx) = Engine::new(cfg);
    let run = collect(
        &mut rx,
        engine.submit(exec("true", None, false, behind.clone())),
    );
    assert_eq!(run.ok, behind.len(), "{:?}", run.hosts);
    assert_eq!(established_to(&bastion.conn.address, bastion.conn.port), 1);
    // Target sessions close after 0.6 s idle, the bastion's 0.6 s after its last tunnel.
    let t0 = Instant::now();
    while established_to(&bastion.conn.address, bastion.conn.port) > 0 {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "the bastion session stayed open"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(engine.stats().sessions_held, 0);
    let run = collect(
        &mut rx,
        engine.submit(exec("true", None, false, behind.clone())),
    );
    assert_eq!(run.ok, behind.len(), "{:?}", run.hosts);
    let s = engine.stats();
    assert_eq!(
        (s.tcp_connects_total, s.jump_sessions_opened_total),
        (2, 2),
        "{s:?}"
    );
    engine.shutdown();
}

/// A bastion whose key differs from the one on record refuses every target behind it, each
/// as host-key-changed naming the bastion, with one connection attempt for the whole job.
#[test]
fn wrong_bastion_host_key_refuses_every_target() {
    let lab = common::lab_with(
        6,
        &ReachOptions {
            bastion: true,
            deep: 1,
            sudo_password: None,
        },
    );
    let all = lab_targets(&lab);
    let bastion = all["bastion"].clone();
    // A known_hosts where the bastion's line carries another host's key.
    let text = std::fs::read_to_string(lab.known_hosts_path()).expect("read known_hosts");
    let token = format!("[{}]:{}", bastion.conn.address, bastion.conn.port);
    let other_key = text
        .lines()
        .find(|l| !l.starts_with(&token) && !l.starts_with('#') && !l.trim().is_empty())
        .and_then(|l| l.split_once(' ').map(|(_, k)| k.to_string()))
        .expect("another host's key");
    let mut changed = String::new();
    let mut replaced = 0;
    for l in text.lines() {
        if l.starts_with(&format!("{token} ")) {
            let _ = writeln!(changed, "{token} {other_key}");
            replaced += 1;
        } else {
            let _ = writeln!(changed, "{l}");
        }
    }
    assert_eq!(replaced, 1, "one line for {token} in:\n{text}");
    let kh = lab.tmp().join("known_hosts_changed");
    std::fs::write(&kh, changed).expect("write known_hosts");

    let behind: Vec<Target> = all
        .values()
        .filter(|t| !t.jump.is_empty())
        .cloned()
        .collect();
    let (engine, mut rx) = Engine::new(config(&lab, &kh, Arc::new(NoPrompter)));
    let mut targets = behind.clone();
    targets.push(bastion);
    let run = collect(
        &mut rx,
        engine.submit(exec("touch ran-anyway", None, false, targets.clone())),
    );
    assert_eq!(run.ok, 0);
    assert_eq!(run.hosts.len(), targets.len());
    for (name, hr) in &run.hosts {
        let (class, msg) = hr
            .failed
            .clone()
            .unwrap_or_else(|| panic!("{name}: {hr:?}"));
        assert_eq!(class, ErrorClass::HostKeyChanged, "{name}: {msg}");
        assert!(msg.contains("CHANGED"), "{name}: {msg}");
        if name != "bastion" {
            assert!(msg.contains("via jump host bastion"), "{name}: {msg}");
        }
    }
    let s = engine.stats();
    // One attempt for the targets behind it (shared), one for the bastion as a target.
    assert_eq!(s.tcp_connects_total, 2, "{s:?}");
    assert_eq!(s.jump_sessions_opened_total, 0, "{s:?}");
    for h in lab.hosts() {
        assert!(!h.home.join("ran-anyway").exists(), "{} ran it", h.name);
    }
    engine.shutdown();
}

/// This process's resident memory (KiB).
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Total RSS (KiB) of every `ssh` client process right now.
fn ssh_clients_rss_kib() -> u64 {
    let out = std::process::Command::new("ps")
        .args(["-C", "ssh", "-o", "rss="])
        .output()
        .expect("run ps");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().parse::<u64>().ok())
        .sum()
}

/// Measurement (run by hand: `cargo test --release --test engine_reach -- --ignored
/// --nocapture`): `true` on 200 targets behind one bastion (plain lab hosts reached through
/// another lab host), fanout 64, fleetdeck vs `parallel-ssh -x "-J bastion"` in the same run.
#[test]
#[ignore = "measurement, run by hand"]
fn bastion_200_targets_figures() {
    let n: usize = std::env::var("FLEETDECK_PERF_HOSTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let lab = common::lab(n + 1);
    let key = lab.client_key_path();
    let t = |h: &fleetdeck::lab::LabHost| Target {
        name: Arc::from(h.name.as_str()),
        conn: ConnSettings {
            address: "127.0.0.1".into(),
            port: h.port,
            user: lab.user().into(),
            identity_files: vec![key.clone()],
            jump: vec![],
            proxy_command: None,
            connect_timeout: Duration::from_secs(60),
            ..ConnSettings::default()
        },
        jump: vec![],
        become_: None,
    };
    let bastion = t(&lab.hosts()[0]);
    let targets: Vec<Target> = lab.hosts()[1..]
        .iter()
        .map(|h| {
            let mut x = t(h);
            x.jump = vec![bastion.hop()];
            x
        })
        .collect();
    let job = |cmd: &str| JobSpec {
        kind: JobKind::Exec(ExecSpec {
            command: cmd.into(),
            ..ExecSpec::default()
        }),
        targets: targets.clone(),
        fanout: 64,
        pattern: "all".into(),
    };
    let mut cold = Vec::new();
    let mut warm = Vec::new();
    let mut rss = Vec::new();
    for _ in 0..3 {
        let rss0 = rss_kib();
        let mut cfg = config(&lab, &lab.known_hosts_path(), Arc::new(NoPrompter));
        cfg.runs_dir = None;
        cfg.oplog = None;
        let (engine, mut rx) = Engine::new(cfg);
        let run = collect(&mut rx, engine.submit(job("true")));
        assert_eq!(
            run.ok,
            n,
            "{:?}",
            run.hosts.values().find(|h| h.failed.is_some())
        );
        cold.push(run.wall);
        rss.push(rss_kib().saturating_sub(rss0));
        let run = collect(&mut rx, engine.submit(job("true")));
        assert_eq!(run.ok, n);
        warm.push(run.wall);
        let s = engine.stats();
        assert_eq!((s.tcp_connects_total, s.jump_sessions_opened_total), (1, 1));
        engine.shutdown();
    }
    // parallel-ssh driving OpenSSH's ssh -J (one ssh to the bastion per target).
    let cfg = lab.tmp().join("pssh_config");
    std::fs::write(
        &cfg,
        format!(
            "Host *\n  User {}\n  IdentityFile {}\n  IdentitiesOnly yes\n  UserKnownHostsFile {}\n  \
             StrictHostKeyChecking yes\n  ControlMaster no\n  BatchMode yes\n",
            lab.user(),
            key.display(),
            lab.known_hosts_path().display()
        ),
    )
    .expect("write ssh config");
    let hosts_file = lab.tmp().join("pssh_hosts");
    let mut hl = String::new();
    for h in &lab.hosts()[1..] {
        let _ = writeln!(hl, "127.0.0.1:{}", h.port);
    }
    std::fs::write(&hosts_file, hl).expect("write hosts");
    let mut pssh = Vec::new();
    let mut pssh_rss = Vec::new();
    for _ in 0..3 {
        let start = Instant::now();
        let mut child = std::process::Command::new("parallel-ssh")
            .arg("-h")
            .arg(&hosts_file)
            .args(["-p", "64", "-t", "120", "-x"])
            .arg(format!(
                "-F {} -J 127.0.0.1:{}",
                cfg.display(),
                bastion.conn.port
            ))
            .arg("true")
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("run parallel-ssh");
        let mut peak = 0;
        while child.try_wait().expect("wait").is_none() {
            peak = peak.max(ssh_clients_rss_kib());
            std::thread::sleep(Duration::from_millis(50));
        }
        let out = child.wait_with_output().expect("pssh output");
        pssh.push(start.elapsed());
        pssh_rss.push(peak);
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            text.lines().filter(|l| l.contains("[SUCCESS]")).count(),
            n,
            "{text}"
        );
    }
    eprintln!("{n} targets behind one bastion, `true`, fanout 64:");
    eprintln!("  fleetdeck cold (1 bastion session + {n} tunnels): {cold:?}");
    eprintln!("  fleetdeck warm (held sessions): {warm:?}");
    eprintln!("  fleetdeck RSS growth with {n} held sessions (KiB): {rss:?}");
    eprintln!("  parallel-ssh -p 64 -x '-J bastion': {pssh:?}");
    eprintln!("  parallel-ssh: peak total RSS of ssh clients (KiB, sampled): {pssh_rss:?}");
}

/// The bastion's connection dies under held sessions (its sshd connection process is
/// killed): the next job notices, reconnects through a fresh bastion session, and succeeds.
#[test]
fn dead_bastion_session_is_replaced() {
    let lab = common::lab_with(
        3,
        &ReachOptions {
            bastion: true,
            deep: 0,
            sudo_password: None,
        },
    );
    let all = lab_targets(&lab);
    let bastion = all["bastion"].clone();
    let behind: Vec<Target> = all
        .values()
        .filter(|t| !t.jump.is_empty())
        .cloned()
        .collect();
    let (engine, mut rx) = Engine::new(config(&lab, &lab.known_hosts_path(), Arc::new(NoPrompter)));
    let run = collect(
        &mut rx,
        engine.submit(exec("true", None, false, behind.clone())),
    );
    assert_eq!(run.ok, behind.len(), "{:?}", run.hosts);
    // Kill the bastion's per-connection sshd processes (children of its listener).
    let listener = lab
        .pid(lab.index_of("bastion").expect("bastion"))
        .expect("bastion pid");
    let out = std::process::Command::new("pgrep")
        .args(["-P", &listener.to_string()])
        .output()
        .expect("pgrep");
    let children: Vec<i32> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    assert_eq!(
        children.len(),
        1,
        "one connection to the bastion: {children:?}"
    );
    for c in &children {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(*c), nix::sys::signal::SIGKILL);
    }
    let t0 = Instant::now();
    while established_to(&bastion.conn.address, bastion.conn.port) > 0 {
        assert!(t0.elapsed() < Duration::from_secs(5), "connection still up");
        std::thread::sleep(Duration::from_millis(50));
    }
    let run = collect(
        &mut rx,
        engine.submit(exec("true", None, false, behind.clone())),
    );
    assert_eq!(run.ok, behind.len(), "{:?}", run.hosts);
    assert!(run.wall < Duration::from_secs(10), "took {:?}", run.wall);
    let s = engine.stats();
    assert_eq!(s.jump_sessions_opened_total, 2, "{s:?}");
    engine.shutdown();
}
