//! `ProxyCommand` against real lab sshd hosts: SSH over a local command's stdio (bash's
//! `/dev/tcp`, since neither nc nor socat is installed), per-host failures with the command's
//! status and sanitized stderr, a stalled command bounded by the connect timeout, no process
//! left behind, and a push over it.

mod common;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::events::collect;
use fleetdeck::engine::{
    Engine, ErrorClass, ExecSpec, ExitStatus, JobKind, JobSpec, ShellSpec, Target,
};

/// A ProxyCommand that speaks to `%h:%p` through bash's `/dev/tcp`, its processes marked by
/// `mark` in their environment (which survives the `exec`s, unlike a command line).
fn relay(mark: &str) -> String {
    format!(
        "env FLEETDECK_PROXY_MARK={mark} bash -c 'exec 3<>/dev/tcp/%h/%p; cat <&3 & exec cat >&3'"
    )
}

/// Fails after writing an escape sequence to stderr.
const FAILING: &str = "sh -c 'printf \"gw refused\\033[2J\\033]0;owned\\007 us\\n\" >&2; exit 3'";

/// An ssh_config giving each `(host, ProxyCommand)` its command.
fn ssh_config(dir: &Path, entries: &[(&str, &str)]) -> PathBuf {
    let mut text = String::new();
    for (h, cmd) in entries {
        let _ = write!(text, "Host {h}\n  ProxyCommand {cmd}\n");
    }
    let path = dir.join("proxy_ssh_config");
    std::fs::write(&path, text).expect("write ssh_config");
    path
}

/// Live processes carrying `FLEETDECK_PROXY_MARK=mark` in their environment.
fn marked(mark: &str) -> Vec<i32> {
    let needle = format!("FLEETDECK_PROXY_MARK={mark}\0");
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").expect("read /proc").flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let live = std::fs::read_to_string(e.path().join("stat"))
            .ok()
            .and_then(|s| s.rsplit_once(')').map(|(_, r)| r.trim_start().to_string()))
            .is_some_and(|r| !r.starts_with('Z'));
        let env = std::fs::read(e.path().join("environ")).unwrap_or_default();
        if live && env.windows(needle.len()).any(|w| w == needle.as_bytes()) {
            out.push(pid);
        }
    }
    out
}

/// Zombie children of this test process that were proxy processes (`sh`, `bash`, `cat`,
/// `env`, `sleep`, `false`): a command ended but never reaped.
fn proxy_zombies() -> Vec<String> {
    let me = std::process::id().to_string();
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").expect("read /proc").flatten() {
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        let Some((head, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let comm = head.split_once('(').map_or("", |(_, c)| c);
        let f: Vec<&str> = rest.split_whitespace().collect();
        if f.len() > 1
            && f[0] == "Z"
            && f[1] == me
            && ["sh", "bash", "cat", "env", "sleep", "false"].contains(&comm)
        {
            out.push(format!("{comm} {}", e.file_name().to_string_lossy()));
        }
    }
    out
}

/// The open descriptors of process `pid` (or `self`) and what each points to.
fn open_files(pid: &str) -> Vec<(i32, String)> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("read the fds")
        .flatten()
        .filter_map(|e| {
            let fd = e.file_name().to_string_lossy().parse().ok()?;
            let to = std::fs::read_link(e.path()).ok()?;
            Some((fd, to.to_string_lossy().into_owned()))
        })
        .collect()
}

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn run_over_proxy_commands_with_clear_failures_per_host() {
    let lab = common::lab(4);
    let names: Vec<&str> = lab.hosts().iter().map(|h| h.name.as_str()).collect();
    let mark = format!("cli-{}", std::process::id());
    let good = relay(&mark);
    let cfg = ssh_config(
        lab.tmp(),
        &[
            (names[0], &good),
            (names[1], &good),
            (names[2], FAILING),
            (names[3], "false"),
        ],
    );
    let out = common::fleetdeck(lab.tmp())
        .arg("run")
        .arg("-i")
        .arg(lab.inventory_path())
        .args(["all", "--", "echo", "ran-on-$PWD"])
        .env("FLEETDECK_SSH_CONFIG", &cfg)
        .env_remove("SSH_AUTH_SOCK")
        .output()
        .expect("run fleetdeck");
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "two hosts failed: {all}");
    for (i, name) in names.iter().enumerate().take(2) {
        let want = format!("ran-on-{}", lab.home(i).display());
        assert!(
            all.lines().any(|l| l
                .split_once(" | ")
                .is_some_and(|(n, o)| n.trim_end() == *name && o == want)),
            "{name} ran over its ProxyCommand, in its home: {all}"
        );
    }
    let failed = |name: &str| {
        all.lines()
            .find(|l| l.starts_with(&format!("{name} ")) && l.contains("ProxyCommand exited"))
            .unwrap_or_else(|| panic!("{name}'s failure line: {all}"))
            .to_string()
    };
    let line = failed(names[2]);
    assert!(
        line.contains("ProxyCommand exited with status 3: gw refused"),
        "{line}"
    );
    assert!(line.contains(" us"), "{line}");
    let line = failed(names[3]);
    assert!(
        line.contains("ProxyCommand exited with status 1: (no stderr)"),
        "{line}"
    );
    assert!(
        line.contains(&format!("fleetdeck inventory --host {}", names[3])),
        "says what to do: {line}"
    );
    assert!(!all.contains('\x1b') && !all.contains('\x07'), "{all:?}");
    // The CLI ended: its proxy commands with it.
    assert_eq!(marked(&mark), Vec::<i32>::new(), "proxy processes left");

    // `inventory --host` shows the command and where it was written.
    let out = common::fleetdeck(lab.tmp())
        .args(["inventory", "-i"])
        .arg(lab.inventory_path())
        .args(["--host", names[0]])
        .env("FLEETDECK_SSH_CONFIG", &cfg)
        .output()
        .expect("run fleetdeck inventory");
    let shown = text(&out);
    let row = shown
        .lines()
        .find(|l| l.trim_start().starts_with("proxy_command"))
        .unwrap_or_else(|| panic!("a proxy_command row: {shown}"));
    assert!(row.contains("/dev/tcp/%h/%p"), "{row}");
    assert!(
        row.contains(&format!("ssh_config ({}:2:3)", cfg.display())),
        "{row}"
    );
}

/// Host `i` as a target reached over `cmd`.
fn proxied(lab: &common::TestLab, i: usize, cmd: &str, timeout: Duration) -> Target {
    let mut t = lab.target(i, timeout);
    t.conn.proxy_command = Some(cmd.to_string());
    t
}

#[test]
fn the_engine_ends_and_reaps_every_proxy_and_a_stalled_one_times_out_alone() {
    let lab = common::lab(3);
    let mark = format!("engine-{}", std::process::id());
    let t = Duration::from_secs(3);
    let targets = vec![
        proxied(&lab, 0, &relay(&mark), t),
        proxied(&lab, 1, FAILING, t),
        // Never speaks: only the connect timeout ends it.
        proxied(
            &lab,
            2,
            &format!("env FLEETDECK_PROXY_MARK={mark} sleep 60"),
            t,
        ),
    ];
    let names: Vec<String> = targets.iter().map(|t| t.name.to_string()).collect();
    let (engine, mut rx) = Engine::new(lab.engine_config());
    let started = Instant::now();
    let id = engine.submit(JobSpec {
        kind: JobKind::Exec(ExecSpec {
            command: "echo over-proxy".into(),
            ..ExecSpec::default()
        }),
        targets,
        fanout: 8,
        pattern: "all".into(),
    });
    let run = collect(&mut rx, id);
    let ok = &run.hosts[&names[0]];
    assert_eq!(ok.exit, Some(ExitStatus::Code(0)), "{ok:?}");
    assert_eq!(ok.stdout, b"over-proxy\n");
    assert!(
        ok.at < t,
        "the good host waited for the stalled one: {:?}",
        ok.at
    );

    let (class, msg) = run.hosts[&names[1]].failed.clone().expect("failed");
    assert_eq!(class, ErrorClass::Unreachable, "{msg}");
    assert!(
        msg.starts_with("ProxyCommand exited with status 3: gw refused\u{FFFD}[2J"),
        "{msg}"
    );
    assert!(
        !msg.contains('\x1b') && !msg.contains('\x07'),
        "the engine's message is sanitized itself: {msg:?}"
    );

    let (class, msg) = run.hosts[&names[2]].failed.clone().expect("failed");
    assert_eq!(class, ErrorClass::Timeout, "{msg}");
    assert!(
        msg.contains("connect timeout") && msg.ends_with("(its ProxyCommand still runs)"),
        "{msg}"
    );
    assert!(started.elapsed() < Duration::from_secs(20));

    // The good host's session is held, and its proxy runs; the stalled one was ended.
    let live = marked(&mark);
    assert!(
        !live.is_empty() && live.len() <= 2,
        "the held session's proxy (cat and cat): {live:?}"
    );
    // None of fleetdeck's sockets (sessions to sshd, other socketpairs) leaked into it.
    // Pipes are not compared: its stderr is one, and cargo's jobserver pipe is inherited by
    // this whole process tree.
    let ours: Vec<String> = open_files("self")
        .into_iter()
        .filter(|(_, f)| f.starts_with("socket:"))
        .map(|(_, f)| f)
        .collect();
    assert!(
        !ours.is_empty(),
        "the held session's end of its socketpair at least"
    );
    for pid in &live {
        let files = open_files(&pid.to_string());
        assert!(files.len() >= 3, "{pid}: {files:?}");
        let leaked: Vec<&(i32, String)> = files.iter().filter(|(_, f)| ours.contains(f)).collect();
        assert!(leaked.is_empty(), "{pid} holds fleetdeck's {leaked:?}");
    }
    engine.shutdown();
    drop(engine);
    let until = Instant::now() + Duration::from_secs(5);
    while !marked(&mark).is_empty() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(marked(&mark), Vec::<i32>::new(), "proxy processes left");
    assert_eq!(proxy_zombies(), Vec::<String>::new(), "unreaped proxies");
}

#[test]
fn push_over_a_proxy_command() {
    let lab = common::lab(1);
    let name = lab.hosts()[0].name.clone();
    let mark = format!("push-{}", std::process::id());
    let cfg = ssh_config(lab.tmp(), &[(&name, &relay(&mark))]);
    let src = lab.tmp().join("notes.txt");
    std::fs::write(&src, "over the proxy\n").expect("write source");
    let out = common::fleetdeck(lab.tmp())
        .arg("-i")
        .arg(lab.inventory_path())
        .args(["push", "all"])
        .arg(&src)
        .arg("pushed/")
        .env("FLEETDECK_SSH_CONFIG", &cfg)
        .env_remove("SSH_AUTH_SOCK")
        .output()
        .expect("run fleetdeck push");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let landed = lab.home(0).join("pushed/notes.txt");
    assert_eq!(
        std::fs::read_to_string(&landed).expect("the pushed file"),
        "over the proxy\n"
    );
    assert_eq!(marked(&mark), Vec::<i32>::new(), "proxy processes left");
}

#[test]
fn a_first_jump_host_is_reached_over_its_proxy_command() {
    let lab = common::lab(2);
    let mark = format!("jump-{}", std::process::id());
    let bastion = proxied(&lab, 0, &relay(&mark), Duration::from_secs(10));
    let mut target = lab.target(1, Duration::from_secs(10));
    target.jump = vec![bastion.hop()];
    let name = target.name.to_string();
    let (engine, mut rx) = Engine::new(lab.engine_config());
    let id = engine.submit(JobSpec {
        kind: JobKind::Exec(ExecSpec {
            command: "echo behind-the-bastion".into(),
            ..ExecSpec::default()
        }),
        targets: vec![target],
        fanout: 8,
        pattern: "all".into(),
    });
    let run = collect(&mut rx, id);
    let hr = &run.hosts[&name];
    assert_eq!(hr.exit, Some(ExitStatus::Code(0)), "{hr:?}");
    assert_eq!(hr.stdout, b"behind-the-bastion\n");
    assert_eq!(engine.stats().jump_sessions_opened_total, 1);
    assert!(
        !marked(&mark).is_empty(),
        "the bastion's session runs over its proxy"
    );
    engine.shutdown();
    drop(engine);
    let until = Instant::now() + Duration::from_secs(5);
    while !marked(&mark).is_empty() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(marked(&mark), Vec::<i32>::new(), "proxy processes left");
}

#[test]
fn a_shell_over_a_proxy_command() {
    let lab = common::lab(1);
    let mark = format!("shell-{}", std::process::id());
    let target = proxied(&lab, 0, &relay(&mark), Duration::from_secs(10));
    let name = target.name.to_string();
    let (engine, mut rx) = Engine::new(lab.engine_config());
    let id = engine.submit(JobSpec {
        kind: JobKind::Shell(ShellSpec {
            term: "xterm".into(),
            cols: 80,
            rows: 24,
        }),
        targets: vec![target],
        fanout: 8,
        pattern: "all".into(),
    });
    // Typed before the shell is open: queued, then written once it is.
    engine.shell_input(id, &name, b"echo $((6*7)); exit 3\r");
    let run = collect(&mut rx, id);
    let hr = &run.hosts[&name];
    assert_eq!(hr.exit, Some(ExitStatus::Code(3)), "{hr:?}");
    let out = String::from_utf8_lossy(&hr.stdout);
    assert!(out.contains("\r42\r\n"), "{out:?}");
    engine.shutdown();
    drop(engine);
    let until = Instant::now() + Duration::from_secs(5);
    while !marked(&mark).is_empty() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(marked(&mark), Vec::<i32>::new(), "proxy processes left");
}
