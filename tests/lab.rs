//! The lab fleet against real OpenSSH: `fleetdeck lab up|status|down` through the binary,
//! each host's own home for commands and SFTP, idempotence, crash recovery, the API other
//! tests use to break hosts, and bad input.

mod common;

use std::fs;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::{fleetdeck, free_base_port, lab};
use fleetdeck::lab::Lab;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `ssh -F DIR/ssh_config HOST CMD` with strict host key checking and no prompts.
fn ssh(dir: &Path, host: &str, cmd: &str) -> Output {
    Command::new("ssh")
        .arg("-F")
        .arg(dir.join("ssh_config"))
        .args([
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "ConnectTimeout=30",
        ])
        .arg(host)
        .arg(cmd)
        .stdin(Stdio::null())
        .output()
        .expect("run ssh")
}

/// Live (non-zombie) processes whose command line mentions `needle`.
fn live_processes_mentioning(needle: &str) -> Vec<(i32, String)> {
    let mut found = Vec::new();
    for entry in fs::read_dir("/proc").expect("read /proc").flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(raw) = fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let line = String::from_utf8_lossy(&raw).replace('\0', " ");
        if line.contains(needle) && is_alive(pid) {
            found.push((pid, line));
        }
    }
    found
}

/// True when `pid` exists and is not a zombie.
fn is_alive(pid: i32) -> bool {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let state = stat[stat.rfind(')').expect("stat has a command name") + 1..]
        .split_whitespace()
        .next()
        .unwrap_or("X");
    state != "Z" && state != "X"
}

fn wait_until(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !ok() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn cli_up_status_ssh_idempotent_up_and_down() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("lab");
    let dir_s = dir.to_str().expect("utf-8 temp path").to_string();
    let base = free_base_port(3);
    let up = |hosts: &str| {
        fleetdeck(tmp.path())
            .args([
                "lab",
                "up",
                "--hosts",
                hosts,
                "--dir",
                &dir_s,
                "--base-port",
            ])
            .arg(base.to_string())
            .output()
            .expect("run fleetdeck lab up")
    };

    let out = up("3");
    assert!(out.status.success(), "lab up failed: {}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("3 started"), "{stdout}");
    assert!(
        stdout.contains(&format!("fleetdeck -i {dir_s}/inventory.yaml")),
        "up must say how to open the console: {stdout}"
    );
    for file in [
        "inventory.yaml",
        "known_hosts",
        "ssh_config",
        "client_key",
        "lab.json",
    ] {
        assert!(dir.join(file).is_file(), "{file} missing");
    }
    let known = fs::read_to_string(dir.join("known_hosts")).expect("known_hosts");
    for i in 0..3 {
        assert!(
            known.contains(&format!("[127.0.0.1]:{} ssh-ed25519 ", base + i)),
            "{known}"
        );
    }
    let inventory = fs::read_to_string(dir.join("inventory.yaml")).expect("inventory");
    let doc: serde_yaml::Value = serde_yaml::from_str(&inventory).expect("inventory is YAML");
    assert_eq!(
        doc["groups"]["prod"]["groups"]["db"]["hosts"]["db01"]["port"].as_u64(),
        Some(u64::from(base + 2)),
        "{inventory}"
    );

    let status = fleetdeck(tmp.path())
        .args(["lab", "status", "--dir", &dir_s])
        .output()
        .expect("status");
    assert!(status.status.success(), "{}", text(&status.stderr));
    let status_text = text(&status.stdout);
    for name in ["web01", "web02", "db01"] {
        let line = status_text
            .lines()
            .find(|l| l.starts_with(name))
            .expect("host in status");
        assert!(line.contains("running"), "{status_text}");
    }

    // Every host answers with strict host key checking, in its own home.
    let lab = Lab::open(&dir).expect("open the lab");
    for h in lab.hosts() {
        let out = ssh(&dir, &h.name, "pwd; echo \"$HOME\"");
        assert!(
            out.status.success(),
            "ssh {} failed: {}",
            h.name,
            text(&out.stderr)
        );
        let expected = format!("{0}\n{0}\n", h.home.display());
        assert_eq!(text(&out.stdout), expected, "host {}", h.name);
    }
    let pids: Vec<i32> = (0..3).map(|i| lab.pid(i).expect("host runs")).collect();

    // A second up with the same count keeps every process.
    let again = up("3");
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert!(
        text(&again.stdout).contains("0 started, 3 already running"),
        "{}",
        text(&again.stdout)
    );
    let pids_again: Vec<i32> = (0..3).map(|i| lab.pid(i).expect("host runs")).collect();
    assert_eq!(pids, pids_again, "idempotent up must not restart hosts");

    // A live session's processes are part of what down stops.
    let mut session = Command::new("ssh")
        .arg("-F")
        .arg(dir.join("ssh_config"))
        .args(["-o", "BatchMode=yes", "web01", "sleep 60"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start ssh");
    wait_until("the session's sleep", Duration::from_secs(10), || {
        common::descendants(pids[0]).len() >= 2
    });
    let children = common::descendants(pids[0]);

    let down = fleetdeck(tmp.path())
        .args(["lab", "down", "--dir", &dir_s])
        .output()
        .expect("down");
    assert!(down.status.success(), "{}", text(&down.stderr));
    assert!(
        text(&down.stdout).contains("stopped 3 hosts"),
        "{}",
        text(&down.stdout)
    );
    for pid in pids.iter().chain(&children) {
        assert!(!is_alive(*pid), "pid {pid} still alive after down");
    }
    let ended = session.wait().expect("ssh ends");
    assert!(!ended.success(), "the session must have been cut");
    assert_eq!(
        live_processes_mentioning(&dir_s),
        vec![],
        "lab processes left after down"
    );

    let status = fleetdeck(tmp.path())
        .args(["lab", "status", "--dir", &dir_s])
        .output()
        .expect("status");
    assert_eq!(
        status.status.code(),
        Some(1),
        "status exits 1 when hosts are down"
    );
    assert!(
        text(&status.stdout).contains("0/3 hosts running"),
        "{}",
        text(&status.stdout)
    );
}

#[test]
fn sftp_relative_path_lands_in_that_hosts_home_only() {
    let lab = lab(3);
    let local = lab.tmp().join("payload.txt");
    fs::write(&local, "lab payload\n").expect("write payload");
    let batch = format!("put {} sent.txt\n", local.display());
    let mut sftp = Command::new("sftp")
        .arg("-F")
        .arg(lab.ssh_config_path())
        .args(["-o", "BatchMode=yes", "-b", "-", "db01"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run sftp");
    std::io::Write::write_all(sftp.stdin.as_mut().expect("stdin"), batch.as_bytes())
        .expect("feed sftp");
    let out = sftp.wait_with_output().expect("sftp ends");
    assert!(out.status.success(), "sftp failed: {}", text(&out.stderr));
    let db = lab.index_of("db01").expect("db01 exists");
    for i in 0..3 {
        let copy = lab.home(i).join("sent.txt");
        if i == db {
            assert_eq!(
                fs::read_to_string(&copy).expect("file in db01's home"),
                "lab payload\n"
            );
        } else {
            assert!(
                !copy.exists(),
                "{} must not have the file",
                lab.hosts()[i].name
            );
        }
    }
    // And a command on that host sees it relative to where it starts.
    let out = ssh(lab.dir(), "db01", "cat sent.txt");
    assert_eq!(text(&out.stdout), "lab payload\n", "{}", text(&out.stderr));
}

#[test]
fn crashed_fleet_is_reused_or_replaced_and_foreign_pids_are_never_touched() {
    let lab = lab(3);
    let dir_s = lab.dir().to_str().expect("utf-8").to_string();
    let (p0, p1, p2) = (
        lab.pid(0).expect("web01"),
        lab.pid(1).expect("web02"),
        lab.pid(2).expect("db01"),
    );
    // web01 crashed (pid file left behind, process gone).
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(p0),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill");
    wait_until("web01 to die", Duration::from_secs(5), || !is_alive(p0));
    // web02 lost its pid file but still runs.
    fs::remove_file(lab.hosts()[1].pid_path()).expect("remove pid file");
    // db01's pid file points at an unrelated live process (pid reuse): this test itself.
    let me = std::process::id().to_string();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(p2),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill");
    wait_until("db01 to die", Duration::from_secs(5), || !is_alive(p2));
    fs::write(lab.hosts()[2].pid_path(), format!("{me}\n")).expect("write pid file");

    let status = lab.status();
    assert_eq!(
        status.iter().map(|s| s.2).collect::<Vec<_>>(),
        [false, false, false],
        "{status:?}"
    );

    let out = fleetdeck(lab.tmp())
        .args(["lab", "up", "--hosts", "3", "--dir", &dir_s])
        .output()
        .expect("up again");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("2 started, 1 already running"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(
        lab.pid(1),
        Some(p1),
        "the running web02 is adopted, not restarted"
    );
    assert_ne!(lab.pid(0), Some(p0));
    for h in lab.hosts() {
        let out = ssh(lab.dir(), &h.name, "pwd");
        assert_eq!(
            text(&out.stdout).trim(),
            h.home.to_str().expect("utf-8"),
            "{}",
            text(&out.stderr)
        );
    }

    // down with a pid file naming this test process: the test survives, the fleet stops.
    fs::write(lab.hosts()[0].pid_path(), format!("{me}\n")).expect("write pid file");
    let stopped = Lab::down(lab.dir()).expect("down");
    assert_eq!(
        stopped, 3,
        "web01 is found by its command line even with a wrong pid file"
    );
    assert!(is_alive(std::process::id() as i32));
    assert_eq!(live_processes_mentioning(&dir_s), vec![]);
}

#[test]
fn kill_stop_and_restart_single_hosts() {
    let lab = lab(2);
    let pid = lab.pid(0).expect("web01 runs");
    let mut session = Command::new("ssh")
        .arg("-F")
        .arg(lab.ssh_config_path())
        .args(["-o", "BatchMode=yes", "web01", "sleep 60"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start ssh");
    wait_until("the session to start", Duration::from_secs(10), || {
        common::descendants(pid).len() >= 2
    });

    lab.kill_host(0);
    assert!(!is_alive(pid));
    assert_eq!(lab.pid(0), None);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = session.try_wait().expect("poll ssh") {
            assert!(!status.success(), "a killed host cuts its live sessions");
            break;
        }
        assert!(Instant::now() < deadline, "session survived kill_host");
        thread::sleep(Duration::from_millis(20));
    }
    assert!(
        !ssh(lab.dir(), "web01", "true").status.success(),
        "killed host must refuse"
    );
    assert!(
        ssh(lab.dir(), "web02", "true").status.success(),
        "other hosts are untouched"
    );

    lab.start_host(0).expect("restart web01");
    assert!(ssh(lab.dir(), "web01", "true").status.success());

    lab.stop_host(1);
    assert!(lab.is_frozen(1));
    let frozen = Command::new("ssh")
        .arg("-F")
        .arg(lab.ssh_config_path())
        .args([
            "-o",
            "BatchMode=yes",
            "-o",
            "ConnectTimeout=1",
            "web02",
            "true",
        ])
        .stdin(Stdio::null())
        .output()
        .expect("ssh");
    assert!(!frozen.status.success(), "a frozen host must not answer");
    lab.cont_host(1);
    assert!(!lab.is_frozen(1));
    let out = ssh(lab.dir(), "web02", "echo thawed");
    assert_eq!(text(&out.stdout), "thawed\n", "{}", text(&out.stderr));
}

/// Runs `fleetdeck lab up ARGS` and checks the bad-input contract: exit 2, exactly one line
/// on stderr containing `expect`, and no process of the lab dir left running.
fn assert_bad_input(tmp: &Path, dir: &str, args: &[&str], expect: &str) {
    let out = fleetdeck(tmp)
        .args(["lab", "up", "--dir", dir])
        .args(args)
        .output()
        .expect("run");
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: stderr {err}");
    assert_eq!(err.lines().count(), 1, "one line expected: {err}");
    assert!(err.contains(expect), "{err}");
    assert_eq!(
        live_processes_mentioning(dir),
        vec![],
        "{args:?} left processes"
    );
}

#[test]
fn bad_input_is_one_line_exit_2_and_leaves_nothing_running() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("lab");
    let dir_s = dir.to_str().expect("utf-8");

    assert_bad_input(
        tmp.path(),
        dir_s,
        &["--hosts", "0"],
        "--hosts must be at least 1",
    );

    // The middle port of the range is taken by another program.
    let base = free_base_port(3);
    let _taken = TcpListener::bind(("127.0.0.1", base + 1)).expect("bind a port of the range");
    assert_bad_input(
        tmp.path(),
        dir_s,
        &["--hosts", "3", "--base-port", &base.to_string()],
        &format!("port {} on 127.0.0.1 is already in use", base + 1),
    );

    // A directory that cannot be created: its parent is a file.
    let file = tmp.path().join("a-file");
    fs::write(&file, "").expect("write");
    let under_file = file.join("lab");
    assert_bad_input(
        tmp.path(),
        under_file.to_str().expect("utf-8"),
        &["--hosts", "2"],
        "is not writable",
    );
    assert_bad_input(
        tmp.path(),
        "/proc/fleetdeck-lab",
        &["--hosts", "2"],
        "is not writable",
    );

    // A port range running past 65535.
    assert_bad_input(
        tmp.path(),
        dir_s,
        &["--hosts", "3", "--base-port", "65534"],
        "65536",
    );

    // down and status of a directory without a lab.
    for action in ["down", "status"] {
        let out = fleetdeck(tmp.path())
            .args(["lab", action, "--dir"])
            .arg(tmp.path().join("nothing"))
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(2), "{action}");
        assert!(
            text(&out.stderr).contains("no lab fleet in"),
            "{}",
            text(&out.stderr)
        );
    }
}

#[test]
fn missing_sshd_names_the_package() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = fleetdeck(tmp.path())
        .env("FLEETDECK_SSHD", "/nonexistent/sbin/sshd")
        .args(["lab", "up", "--hosts", "1", "--dir"])
        .arg(tmp.path().join("lab"))
        .output()
        .expect("run");
    let err = text(&out.stderr);
    assert!(!out.status.success());
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("openssh-server") && err.contains("/nonexistent/sbin/sshd"),
        "{err}"
    );
}

#[test]
fn hundred_hosts_each_reachable_with_strict_host_key_checking() {
    const HOSTS: usize = 100;
    const PARALLEL: usize = 16;
    let started = Instant::now();
    let lab = lab(HOSTS);
    let up_time = started.elapsed();
    let dir_s = lab.dir().to_str().expect("utf-8").to_string();
    let names: Vec<String> = lab.hosts().iter().map(|h| h.name.clone()).collect();
    let mut answers = Vec::new();
    for chunk in names.chunks(PARALLEL) {
        let children: Vec<_> = chunk
            .iter()
            .map(|name| {
                let child = Command::new("ssh")
                    .arg("-F")
                    .arg(lab.ssh_config_path())
                    .args(["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes"])
                    // The client's default kex costs 60 ms of CPU per connection; this one 9.
                    .args(["-o", "KexAlgorithms=curve25519-sha256"])
                    .args([name.as_str(), "pwd"])
                    .stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("run ssh");
                (name.clone(), child)
            })
            .collect();
        for (name, child) in children {
            let out = child.wait_with_output().expect("ssh ends");
            assert!(out.status.success(), "ssh {name}: {}", text(&out.stderr));
            answers.push((name, text(&out.stdout).trim().to_string()));
        }
    }
    for (i, (name, pwd)) in answers.iter().enumerate() {
        assert_eq!(name, &lab.hosts()[i].name);
        assert_eq!(pwd, lab.hosts()[i].home.to_str().expect("utf-8"), "{name}");
    }
    let pids: Vec<i32> = (0..HOSTS).map(|i| lab.pid(i).expect("host runs")).collect();
    assert_eq!(Lab::down(lab.dir()).expect("down"), HOSTS);
    assert!(
        pids.iter().all(|&p| !is_alive(p)),
        "a listener survived down"
    );
    assert_eq!(live_processes_mentioning(&dir_s), vec![]);
    eprintln!(
        "{HOSTS} hosts: up {up_time:?}, all checked in {:?}",
        started.elapsed()
    );
}

#[test]
fn replaced_host_key_is_refused_under_strict_checking() {
    let lab = lab(2);
    let before = lab.host_public_key(0).expect("key");
    let known_before = fs::read_to_string(lab.known_hosts_path()).expect("known_hosts");
    let after = lab.replace_host_key(0).expect("replace key");
    assert_ne!(before, after);
    assert_eq!(lab.host_public_key(0).expect("key"), after);
    assert_eq!(
        fs::read_to_string(lab.known_hosts_path()).expect("known_hosts"),
        known_before,
        "known_hosts keeps the old key"
    );
    let out = ssh(lab.dir(), "web01", "true");
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("REMOTE HOST IDENTIFICATION HAS CHANGED"),
        "{}",
        text(&out.stderr)
    );
    assert!(ssh(lab.dir(), "web02", "true").status.success());
}

#[test]
fn changing_the_host_count_adjusts_the_fleet() {
    use fleetdeck::lab::{LabOptions, UpSummary};
    let lab = lab(2);
    let opts = |hosts| LabOptions {
        hosts,
        dir: lab.dir().to_path_buf(),
        base_port: Some(lab.base_port()),
    };
    let web01 = lab.pid(0).expect("web01 runs");
    let grown = Lab::up(&opts(4)).expect("grow to 4");
    assert_eq!(
        grown.up_summary(),
        UpSummary {
            started: 2,
            reused: 2,
            stopped: 0
        }
    );
    assert_eq!(grown.pid(0), Some(web01), "kept hosts keep running");
    let names: Vec<&str> = grown.hosts().iter().map(|h| h.name.as_str()).collect();
    assert_eq!(names, ["web01", "web02", "db01", "stg-web01"]);
    let gone: Vec<i32> = (1..4).map(|i| grown.pid(i).expect("runs")).collect();

    let shrunk = Lab::up(&opts(1)).expect("shrink to 1");
    assert_eq!(
        shrunk.up_summary(),
        UpSummary {
            started: 0,
            reused: 1,
            stopped: 3
        }
    );
    assert!(
        gone.iter().all(|&p| !is_alive(p)),
        "removed hosts are stopped"
    );
    assert_eq!(shrunk.pid(0), Some(web01));
    let inventory = fs::read_to_string(shrunk.inventory_path()).expect("inventory");
    assert!(
        inventory.contains("web01") && !inventory.contains("db01"),
        "{inventory}"
    );
    assert_eq!(Lab::open(lab.dir()).expect("open").hosts().len(), 1);
}

/// A lab `--dir` others can write is refused (they could swap what root's daemons read or
/// plant symlinks for its writes), and so is one below a world-writable directory without the
/// sticky bit; a lab.json that is a symlink or names another lab's (or the system's)
/// namespaces is not read back.
#[test]
fn lab_dir_writable_by_others_and_forged_state_are_refused() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().expect("tempdir");
    let open = tmp.path().join("open");
    fs::create_dir(&open).expect("mkdir");
    fs::set_permissions(&open, fs::Permissions::from_mode(0o777)).expect("chmod");
    let open_s = open.to_str().expect("utf-8");
    assert_bad_input(tmp.path(), open_s, &["--hosts", "1"], "writable by others");
    let below = open.join("lab");
    assert_bad_input(
        tmp.path(),
        below.to_str().expect("utf-8"),
        &["--hosts", "1"],
        "sticky",
    );
    assert!(!below.join("lab.json").exists(), "nothing written");
    assert!(
        fs::read_dir(&open)
            .expect("ls")
            .all(|e| e.expect("entry").file_type().is_ok_and(|t| t.is_dir())),
        "no file written in the open directory"
    );

    // lab.json as a symlink, and a lab.json naming a namespace the lab never made.
    let dir = tmp.path().join("forged");
    fs::create_dir(&dir).expect("mkdir");
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).expect("chmod");
    let real = tmp.path().join("elsewhere.json");
    fs::write(&real, r#"{"base_port":42000,"hosts":1}"#).expect("write");
    std::os::unix::fs::symlink(&real, dir.join("lab.json")).expect("symlink");
    let err = Lab::open(&dir).expect_err("symlinked lab.json");
    assert!(err.to_string().contains("lab.json"), "{err}");
    fs::remove_file(dir.join("lab.json")).expect("rm");
    fs::write(
        dir.join("lab.json"),
        r#"{"base_port":42000,"hosts":1,"reach":{"netns":["default"],"root_veths":["eth0"]}}"#,
    )
    .expect("write");
    let err = Lab::open(&dir).expect_err("forged lab.json");
    assert!(err.to_string().contains("not a lab namespace"), "{err}");
}
