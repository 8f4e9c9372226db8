//! Secrets (issue 9): passphrases, passwords on command lines and private key material never
//! reach the operation log, run folders, the history, events or `Debug` output; files and
//! directories fleetdeck writes are 0600 / 0700.

mod common;

use std::fmt::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use fleetdeck::engine::{
    Engine, EngineConfig, Event, ExecSpec, HostKeyAnswer, HostKeyPolicy, HostKeyQuestion, JobKind,
    JobSpec, Prompter, Secret, SecretKind, Target,
};
use fleetdeck::inventory::ConnSettings;

const PASSPHRASE: &str = "Pass-phrase-7f3a9c-never-logged";
const CLI_PASSWORD: &str = "hunter2-cli-9b1e";

/// Every regular file under `dir` (recursively).
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)
            .unwrap_or_else(|e| panic!("read {}: {e}", d.display()))
            .flatten()
        {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// Panics naming the file when any of `needles` occurs in any file under `dir`.
fn assert_absent_under(dir: &Path, needles: &[&str]) -> usize {
    let files = files_under(dir);
    for f in &files {
        let bytes = std::fs::read(f).expect("read");
        let text = String::from_utf8_lossy(&bytes);
        for n in needles {
            assert!(
                !text.contains(n),
                "{} holds a secret ({n:?}):\n{}",
                f.display(),
                text.chars().take(2000).collect::<String>()
            );
        }
    }
    files.len()
}

/// Modes of everything under `dir` (and `dir` itself): files 0600, directories 0700.
fn assert_private_tree(dir: &Path) {
    let mode = std::fs::metadata(dir).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "{} is {mode:o}", dir.display());
    for e in std::fs::read_dir(dir).expect("read dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            assert_private_tree(&p);
        } else {
            let mode = std::fs::metadata(&p).expect("meta").permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{} is {mode:o}", p.display());
        }
    }
}

/// The lines of base64 of a private key file (its actual key material).
fn key_material(key: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(key).expect("read private key");
    let lines: Vec<String> = text
        .lines()
        .filter(|l| !l.starts_with("-----") && l.len() >= 20)
        .map(str::to_string)
        .collect();
    assert!(lines.len() >= 3, "unexpected key file:\n{text}");
    lines
}

/// Generates an ed25519 key with `passphrase` and authorizes it on every lab host.
fn encrypted_key(lab: &common::TestLab, passphrase: &str) -> PathBuf {
    let key = lab.tmp().join("enc_key");
    let st = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", passphrase, "-f"])
        .arg(&key)
        .status()
        .expect("ssh-keygen");
    assert!(st.success());
    let pubkey = std::fs::read_to_string(key.with_extension("pub")).expect("pub");
    let ak = lab.dir().join("authorized_keys");
    let mut text = std::fs::read_to_string(&ak).expect("authorized_keys");
    text.push_str(&pubkey);
    std::fs::write(&ak, text).expect("write authorized_keys");
    key
}

struct Pass(AtomicUsize);

impl Prompter for Pass {
    fn host_key(&self, _: &HostKeyQuestion) -> HostKeyAnswer {
        HostKeyAnswer::Reject
    }
    fn secret(&self, kind: &SecretKind, _: &str) -> Option<Secret> {
        assert!(matches!(kind, SecretKind::Passphrase { .. }), "{kind:?}");
        self.0.fetch_add(1, Ordering::SeqCst);
        Some(Secret::new(PASSPHRASE.into()))
    }
}

/// The engine with an encrypted key, on a command line holding an `sshpass -p` password and a
/// `MYSQL_PWD=` assignment: the passphrase and the key's material appear in no event,
/// `Debug` text, run-folder file or operation-log line; the command line is recorded with
/// the passwords masked; everything written is 0600 in 0700 directories.
#[test]
fn passphrase_key_material_and_command_passwords_never_recorded() {
    let lab = common::lab(3);
    let key = encrypted_key(&lab, PASSPHRASE);
    let material = key_material(&key);
    let state = lab.tmp().join("state");
    let prompter = Arc::new(Pass(AtomicUsize::new(0)));
    let cfg = EngineConfig {
        host_key_policy: HostKeyPolicy::Strict,
        known_hosts: vec![lab.known_hosts_path()],
        idle_timeout: Duration::from_secs(60),
        keepalive: Duration::from_secs(15),
        runs_dir: Some(state.join("runs")),
        oplog: Some(state.join("oplog.jsonl")),
        prompter: prompter.clone(),
    };
    let mut debug = format!("{cfg:?}\n");
    let (engine, mut rx) = Engine::new(cfg);
    let targets: Vec<Target> = lab
        .hosts()
        .iter()
        .map(|h| Target {
            name: Arc::from(h.name.as_str()),
            conn: ConnSettings {
                address: "127.0.0.1".into(),
                port: h.port,
                user: lab.user().into(),
                identity_files: vec![key.clone()],
                jump: vec![],
                proxy_command: None,
                connect_timeout: Duration::from_secs(5),
                ..ConnSettings::default()
            },
            jump: vec![],
            become_: None,
        })
        .collect();
    // sshpass is not installed on the lab: its "not found" goes to /dev/null.
    let command = format!(
        "MYSQL_PWD={CLI_PASSWORD}x true; sshpass -p {CLI_PASSWORD} ssh root@db true 2>/dev/null; echo fine"
    );
    let spec = JobSpec {
        kind: JobKind::Exec(ExecSpec {
            command: command.clone(),
            ..ExecSpec::default()
        }),
        targets,
        fanout: 8,
        pattern: "all".into(),
    };
    let _ = writeln!(debug, "{spec:?}");
    let id = engine.submit(spec);
    let ok = loop {
        let ev = rx.blocking_recv().expect("events");
        let _ = writeln!(debug, "{ev:?}");
        if let Event::JobDone { job, ok: n, .. } = ev {
            if job == id {
                break n;
            }
        }
    };
    assert_eq!(ok, 3, "{debug}");
    assert_eq!(prompter.0.load(Ordering::SeqCst), 1);
    let _ = writeln!(debug, "{engine:?}");
    engine.shutdown();

    // The spec's own Debug holds the command as typed (it is the operator's value in
    // memory); everything else must not hold the command's passwords.
    assert!(
        !debug.contains(PASSPHRASE),
        "passphrase in Debug output:\n{debug}"
    );
    for m in &material {
        assert!(!debug.contains(m.as_str()), "key material in Debug output");
    }
    let needles: Vec<&str> = [PASSPHRASE, CLI_PASSWORD]
        .into_iter()
        .chain(material.iter().map(String::as_str))
        .collect();
    let n = assert_absent_under(&state, &needles);
    assert!(n >= 4, "expected an oplog and 3 run files, found {n}");
    let log = std::fs::read_to_string(state.join("oplog.jsonl")).expect("oplog");
    assert!(
        log.contains("sshpass -p *** ssh root@db true") && log.contains("MYSQL_PWD=*** true"),
        "the command must be recorded, masked:\n{log}"
    );
    assert_private_tree(&state);
}

/// Through the real binary: `fleetdeck run` with an `sshpass -p` command line, then
/// `fleetdeck log`: the password is in no file of the state directory, not in `log`'s
/// output or in `run`'s stderr; the state directory is 0700 with 0600 files.
#[test]
fn cli_run_and_log_never_show_the_password() {
    let lab = common::lab(2);
    let state = lab.tmp().join("state");
    let out = common::fleetdeck(lab.tmp())
        .arg("-i")
        .arg(lab.inventory_path())
        .args([
            "run",
            "all",
            "--",
            &format!("sshpass -p {CLI_PASSWORD} ssh x true 2>/dev/null; echo done"),
        ])
        .stdin(Stdio::null())
        .output()
        .expect("run fleetdeck");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("done"), "{stdout}");
    assert!(!stderr.contains(CLI_PASSWORD), "{stderr}");
    let log = common::fleetdeck(lab.tmp())
        .args(["log", "--json"])
        .output()
        .expect("fleetdeck log");
    let log_out = String::from_utf8_lossy(&log.stdout);
    let log_err = String::from_utf8_lossy(&log.stderr);
    assert!(log.status.success(), "{log_out}\n{log_err}");
    assert!(
        log_out.contains("sshpass -p ***"),
        "log must show the masked command:\n{log_out}\n{log_err}"
    );
    assert!(!log_out.contains(CLI_PASSWORD) && !log_err.contains(CLI_PASSWORD));
    let plain = common::fleetdeck(lab.tmp())
        .arg("log")
        .output()
        .expect("fleetdeck log");
    assert!(!String::from_utf8_lossy(&plain.stdout).contains(CLI_PASSWORD));
    let n = assert_absent_under(&state, &[CLI_PASSWORD]);
    assert!(n >= 3, "expected an oplog and run files, found {n}");
    assert_private_tree(&state);
}

/// The console's command history (`<state>/history`) must not keep a password typed on the
/// command line either: it is masked as in the operation log (found by this suite).
#[test]
fn history_does_not_keep_passwords() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("state/history");
    fleetdeck::tui::cmdline::append_history(&path, &format!("sshpass -p {CLI_PASSWORD} ssh x"))
        .expect("append history");
    let text = std::fs::read_to_string(&path).expect("history");
    assert!(text.contains("sshpass -p"), "{text}");
    assert!(!text.contains(CLI_PASSWORD), "{text}");
}

/// The history file is created 0600 in a 0700 directory.
#[test]
fn history_file_is_private() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let path = state.join("history");
    fleetdeck::tui::cmdline::append_history(&path, "uptime").expect("append history");
    assert_eq!(
        fleetdeck::tui::cmdline::load_history(&path),
        vec!["uptime".to_string()]
    );
    assert_private_tree(&state);
}

/// `Secret`'s `Debug` never shows the value, even nested in other values.
#[test]
fn secret_debug_is_masked() {
    let s = Secret::new(PASSPHRASE.into());
    let text = format!("{s:?} {:?} {:#?}", Some(&s), vec![s.clone()]);
    assert!(!text.contains(PASSPHRASE), "{text}");
    assert!(text.contains("***"), "{text}");
}
