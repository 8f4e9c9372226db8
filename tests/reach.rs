//! Issue 8 through the real binary: commands and transfers through one and two jump hosts
//! to lab hosts that cannot be reached directly, and a wrong bastion host key refusing
//! everything behind it. The lab puts targets in network namespaces (needs root).

mod common;

use std::net::{SocketAddr, TcpStream};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{fleetdeck, lab_with, TestLab};
use fleetdeck::lab::{ReachOptions, BASTION};

fn bastion_lab(targets: usize, deep: usize) -> TestLab {
    lab_with(
        targets,
        &ReachOptions {
            bastion: true,
            deep,
            sudo_password: None,
        },
    )
}

/// Runs the binary with `args` against the lab's inventory: (status, stdout, stderr).
fn run(lab: &TestLab, args: &[&str]) -> (i32, String, String) {
    let out = fleetdeck(lab.tmp())
        .arg("-i")
        .arg(lab.inventory_path())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run fleetdeck");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn json_rows(out: &str) -> Vec<serde_json::Value> {
    out.lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect()
}

fn row<'a>(rows: &'a [serde_json::Value], host: &str) -> &'a serde_json::Value {
    rows.iter()
        .find(|r| r["host"] == host)
        .unwrap_or_else(|| panic!("no row for {host}: {rows:?}"))
}

fn directly_reachable(lab: &TestLab, name: &str) -> bool {
    let h = lab.host(name).expect("lab host");
    let sa: SocketAddr = format!("{}:{}", h.address, h.port).parse().expect("addr");
    TcpStream::connect_timeout(&sa, Duration::from_secs(2)).is_ok()
}

#[test]
fn commands_and_transfers_through_one_and_two_hops() {
    let lab = bastion_lab(4, 2);
    let t = Instant::now();
    let behind = ["web01", "web02", "db01", "stg-web01", "deep01", "deep02"];
    for name in behind {
        assert!(!directly_reachable(&lab, name), "{name} answers directly");
    }

    // One command on the targets behind one hop (prod, staging) and two hops (deep).
    let (code, out, err) = run(
        &lab,
        &[
            "run",
            "-o",
            "json",
            "all:!bastions",
            "--",
            "pwd;",
            "echo $SSH_CONNECTION",
        ],
    );
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    let rows = json_rows(&out);
    assert_eq!(rows.len(), behind.len(), "{out}");
    for name in behind {
        let h = lab.host(name).expect("lab host");
        let r = row(&rows, name);
        assert_eq!(r["exit_code"], 0, "{r}");
        let stdout = r["stdout"].as_str().expect("stdout");
        let mut lines = stdout.lines();
        assert_eq!(lines.next(), Some(h.home.display().to_string().as_str()));
        // sshd saw the connection arrive on the namespace's loopback address: it came
        // out of the jump host's namespace, not from the test process.
        let conn = lines.next().expect("SSH_CONNECTION line");
        assert!(
            conn.ends_with(&format!("{} {}", h.address, h.port)),
            "{name}: {conn}"
        );
        assert!(conn.starts_with("127."), "{name}: {conn}");
        assert_eq!(r["address"], format!("{}:{}", h.address, h.port));
    }

    // Transfers: push a file to every host behind the bastions, then pull it back.
    let local = lab.tmp().join("payload.txt");
    std::fs::write(&local, "through the bastion\n").expect("write payload");
    let (code, out, err) = run(
        &lab,
        &[
            "push",
            "all:!bastions",
            local.to_str().expect("utf-8 path"),
            "payload.txt",
        ],
    );
    assert_eq!(code, 0, "push\nstdout:\n{out}\nstderr:\n{err}");
    for name in behind {
        let home = &lab.host(name).expect("lab host").home;
        assert_eq!(
            std::fs::read_to_string(home.join("payload.txt")).expect("pushed file"),
            "through the bastion\n",
            "{name}"
        );
        std::fs::write(home.join("back.txt"), format!("from {name}\n")).expect("write back");
    }
    let dest = lab.tmp().join("pulled");
    std::fs::create_dir_all(&dest).expect("mkdir");
    let (code, out, err) = run(
        &lab,
        &[
            "pull",
            "deep:web01",
            "back.txt",
            dest.to_str().expect("utf-8 path"),
        ],
    );
    assert_eq!(code, 0, "pull\nstdout:\n{out}\nstderr:\n{err}");
    let mut found = 0;
    for entry in walk(&dest) {
        let text = std::fs::read_to_string(&entry).expect("pulled file");
        assert!(text.starts_with("from "), "{}: {text}", entry.display());
        found += 1;
    }
    assert_eq!(found, 3, "one file from each of deep01, deep02, web01");
    eprintln!("one- and two-hop run, push, pull took {:?}", t.elapsed());
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).expect("read dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn changed_bastion_host_key_refuses_everything_behind_it() {
    let lab = bastion_lab(2, 1);
    let (code, _, err) = run(&lab, &["run", "all", "--", "true"]);
    assert_eq!(code, 0, "before the key change: {err}");

    let i = lab.index_of(BASTION).expect("bastion");
    lab.replace_host_key(i).expect("new bastion host key");
    let (code, out, err) = run(
        &lab,
        &["run", "-o", "json", "all", "--", "touch ran-anyway"],
    );
    assert_ne!(code, 0, "{out}\n{err}");
    let rows = json_rows(&out);
    assert_eq!(rows.len(), lab.hosts().len(), "{out}");
    for r in &rows {
        let name = r["host"].as_str().expect("host");
        assert_eq!(r["error"]["class"], "host-key-changed", "{name}: {r}");
        assert_eq!(r["exit_code"], serde_json::Value::Null, "{name}: {r}");
        if name != BASTION {
            let msg = r["error"]["message"].as_str().expect("message");
            assert!(msg.contains("via jump host bastion"), "{name}: {msg}");
        }
    }
    // Nothing ran anywhere behind it.
    for h in lab.hosts() {
        assert!(
            !h.home.join("ran-anyway").exists(),
            "{} ran the command",
            h.name
        );
    }
}

/// The sudo password of the lab's sudo hosts (also used by `tests/lab_reach.rs`, so labs of
/// both files may run at once).
const SUDO_PW: &str = "lab-pw-8";

/// What a run with a terminal gave: exit status, stdout, stderr, what it wrote on the
/// terminal, how long it took.
struct TtyRun {
    code: i32,
    out: String,
    err: String,
    tty: String,
    took: Duration,
}

/// Runs the binary with a pseudo-terminal as its controlling terminal (stdin null, stdout
/// and stderr piped), typing `answer` when it asks for a password.
#[allow(unsafe_code)]
fn run_with_tty(lab: &TestLab, args: &[&str], answer: &str) -> TtyRun {
    use std::io::Read as _;
    use std::os::fd::{FromRawFd as _, OwnedFd};
    use std::os::unix::process::CommandExt as _;

    let (mut master, mut slave) = (-1, -1);
    // SAFETY: openpty writes two descriptors into the given integers; the other arguments
    // may be null.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors were just opened by openpty and are owned here.
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    let (m, s) = (
        std::os::fd::AsRawFd::as_raw_fd(&master),
        std::os::fd::AsRawFd::as_raw_fd(&slave),
    );
    let mut cmd = fleetdeck(lab.tmp());
    cmd.arg("-i")
        .arg(lab.inventory_path())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            libc::close(m);
            if libc::setsid() < 0 || libc::ioctl(s, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            libc::close(s);
            Ok(())
        });
    }
    let started = Instant::now();
    let mut child = cmd.spawn().expect("run fleetdeck");
    drop(slave);
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let out_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    // SAFETY: `m` is a valid descriptor owned by `master` for this whole loop.
    unsafe {
        libc::fcntl(
            m,
            libc::F_SETFL,
            libc::fcntl(m, libc::F_GETFL) | libc::O_NONBLOCK,
        );
    }
    let mut tty_file = std::fs::File::from(master);
    let mut tty = Vec::new();
    let mut answered = false;
    let mut buf = [0u8; 4096];
    let code = loop {
        match tty_file.read(&mut buf) {
            Ok(n) if n > 0 => tty.extend_from_slice(&buf[..n]),
            _ => {}
        }
        let text = String::from_utf8_lossy(&tty);
        if !answered && text.contains("password for") {
            // Let the prompt turn echo off before typing.
            std::thread::sleep(Duration::from_millis(300));
            std::io::Write::write_all(&mut tty_file, format!("{answer}\n").as_bytes())
                .expect("type the password");
            answered = true;
        }
        if let Some(status) = child.try_wait().expect("wait") {
            break status.code().unwrap_or(-1);
        }
        if started.elapsed() > Duration::from_secs(90) {
            let _ = child.kill();
            panic!("fleetdeck did not finish; terminal so far:\n{text}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let took = started.elapsed();
    if let Ok(n) = tty_file.read(&mut buf) {
        tty.extend_from_slice(&buf[..n]);
    }
    TtyRun {
        code,
        out: out_t.join().expect("stdout reader"),
        err: err_t.join().expect("stderr reader"),
        tty: String::from_utf8_lossy(&tty).into_owned(),
        took,
    }
}

/// Files under `dir` holding `needle`.
fn files_holding(dir: &std::path::Path, needle: &str) -> Vec<std::path::PathBuf> {
    if !dir.exists() {
        return Vec::new();
    }
    walk(dir)
        .into_iter()
        .filter(|p| {
            std::fs::read(p).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle.as_bytes()))
        })
        .collect()
}

#[test]
fn sudo_password_asked_once_for_twenty_hosts_behind_the_bastion() {
    let lab = lab_with(
        20,
        &ReachOptions {
            bastion: true,
            deep: 0,
            sudo_password: Some(SUDO_PW.into()),
        },
    );
    let targets = "all:!bastions";

    let r = run_with_tty(
        &lab,
        &[
            "run",
            "--sudo",
            "-o",
            "json",
            targets,
            "--",
            "id -u; id -un",
        ],
        SUDO_PW,
    );
    assert_eq!(
        r.code, 0,
        "stdout:\n{}\nstderr:\n{}\ntty:\n{}",
        r.out, r.err, r.tty
    );
    assert_eq!(
        r.tty.matches("password for").count(),
        1,
        "asked once:\n{}",
        r.tty
    );
    let rows = json_rows(&r.out);
    assert_eq!(rows.len(), 20, "{}", r.out);
    for row in &rows {
        assert_eq!(row["stdout"], "0\nroot\n", "{row}");
        assert_eq!(row["exit_code"], 0, "{row}");
    }
    eprintln!("sudo on 20 hosts behind the bastion: {:?}", r.took);

    // A wrong password: asked once, every host auth-failed, quickly (sudo's own delay after
    // a wrong password is 2 s).
    let r2 = run_with_tty(
        &lab,
        &[
            "run",
            "--sudo",
            "-o",
            "json",
            targets,
            "--",
            "touch sudo-ran",
        ],
        "not-the-password",
    );
    assert_ne!(r2.code, 0, "{}", r2.out);
    assert_eq!(r2.tty.matches("password for").count(), 1, "{}", r2.tty);
    let rows = json_rows(&r2.out);
    assert_eq!(rows.len(), 20, "{}", r2.out);
    for row in &rows {
        assert_eq!(row["error"]["class"], "auth-failed", "{row}");
    }
    assert!(
        r2.took < Duration::from_secs(20),
        "a wrong password must fail fast, took {:?}",
        r2.took
    );
    eprintln!("wrong sudo password on 20 hosts: {:?}", r2.took);
    let home = std::path::Path::new("/var/lib").join(fleetdeck::lab::reach::SUDO_USER);
    assert!(
        !home.join("sudo-ran").exists(),
        "the command ran with a wrong password"
    );

    // Never echoed, printed or stored.
    for (what, text) in [
        ("stdout", &r.out),
        ("stderr", &r.err),
        ("terminal", &r.tty),
        ("stdout", &r2.out),
        ("stderr", &r2.err),
        ("terminal", &r2.tty),
    ] {
        assert!(!text.contains(SUDO_PW), "password in {what}:\n{text}");
        assert!(
            !text.contains("not-the-password"),
            "password in {what}:\n{text}"
        );
    }
    for dir in [
        lab.tmp().join("state"),
        lab.tmp().join("config"),
        lab.dir().to_path_buf(),
    ] {
        for needle in [SUDO_PW, "not-the-password"] {
            let found = files_holding(&dir, needle);
            assert!(found.is_empty(), "password in {found:?}");
        }
    }
}

/// Runs the binary with `args` against the inventory file `inventory`.
fn run_inv(lab: &TestLab, inventory: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let out = fleetdeck(lab.tmp())
        .arg("-i")
        .arg(inventory)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run fleetdeck");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn dash_j_reaches_hosts_the_inventory_gives_no_jump_for() {
    let lab = bastion_lab(1, 1);
    // The same fleet with every `jump:` taken out of the inventory.
    let text = std::fs::read_to_string(lab.inventory_path()).expect("lab inventory");
    let no_jump = regex::Regex::new(r",\s*jump:\s*[^,}]+")
        .expect("regex")
        .replace_all(&text, "")
        .into_owned();
    assert!(
        text.contains("jump:") && !no_jump.contains("jump:"),
        "{no_jump}"
    );
    let inv = lab.tmp().join("no-jump.yaml");
    std::fs::write(&inv, &no_jump).expect("write inventory");
    let (web01, deep01) = (
        lab.host("web01").expect("web01"),
        lab.host("deep01").expect("deep01"),
    );
    let echo = ["--", "echo $SSH_CONNECTION"];

    // Without -J the target is out of reach.
    let mut args = vec!["run", "-o", "json", "--connect-timeout", "2", "web01"];
    args.extend(echo);
    let (code, out, err) = run_inv(&lab, &inv, &args);
    assert_eq!(code, 1, "stdout:\n{out}\nstderr:\n{err}");
    assert!(
        row(&json_rows(&out), "web01")["error"]["class"].is_string(),
        "{out}"
    );

    // -J bastion: one hop, the connection arrives from the bastion's namespace.
    let mut args = vec!["run", "-o", "json", "-J", BASTION, "web01"];
    args.extend(echo);
    let (code, out, err) = run_inv(&lab, &inv, &args);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    let r = row(&json_rows(&out), "web01").clone();
    let conn = r["stdout"].as_str().expect("stdout").trim().to_string();
    assert!(conn.starts_with("127."), "{conn}");
    assert!(
        conn.ends_with(&format!("{} {}", web01.address, web01.port)),
        "{conn}"
    );

    // --jump a,b: two hops (bastion2 has no jump of its own in this inventory either).
    let chain = format!("{BASTION},bastion2");
    let mut args = vec!["run", "-o", "json", "--jump", &chain, "deep01"];
    args.extend(echo);
    let (code, out, err) = run_inv(&lab, &inv, &args);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    let r = row(&json_rows(&out), "deep01").clone();
    let conn = r["stdout"].as_str().expect("stdout").trim().to_string();
    assert!(
        conn.ends_with(&format!("{} {}", deep01.address, deep01.port)),
        "{conn}"
    );

    // -J none overrides the lab's own inventory: web01 is out of reach again.
    let (code, out, _) = run(
        &lab,
        &[
            "run",
            "-o",
            "json",
            "--connect-timeout",
            "2",
            "-J",
            "none",
            "web01",
            "--",
            "true",
        ],
    );
    assert_eq!(code, 1, "{out}");

    // A bad spec: exit 2, naming it, before any connection.
    for bad in ["bastion:0", "bastion,,bastion2", "ops@"] {
        let (code, out, err) = run_inv(&lab, &inv, &["run", "-J", bad, "web01", "--", "true"]);
        assert_eq!(code, 2, "{bad}: stdout:\n{out}\nstderr:\n{err}");
        assert!(err.contains(&format!("-J {bad:?}")), "{bad}: {err}");
        assert!(out.is_empty(), "{bad}: {out}");
    }
}

/// `run --sudo -- ps aux`: `ps` shows sudo's prompt marker in its output, which is not taken
/// for a second prompt (issue 13): every host succeeds with the right password, asked once;
/// a command printing the marker on stderr too; a wrong password is still reported as one.
#[test]
fn run_sudo_ps_aux_is_not_a_second_prompt() {
    let lab = lab_with(
        3,
        &ReachOptions {
            sudo_password: Some(SUDO_PW.into()),
            ..ReachOptions::default()
        },
    );
    for command in ["ps aux", "ps -o args= -p $PPID >&2; id -un"] {
        let r = run_with_tty(
            &lab,
            &["run", "--sudo", "-o", "json", "all", "--", command],
            SUDO_PW,
        );
        assert_eq!(
            r.code, 0,
            "{command}: stdout:\n{}\nstderr:\n{}\ntty:\n{}",
            r.out, r.err, r.tty
        );
        assert_eq!(r.tty.matches("password for").count(), 1, "{}", r.tty);
        let rows = json_rows(&r.out);
        assert_eq!(rows.len(), 3, "{}", r.out);
        for row in &rows {
            assert_eq!(row["exit_code"], 0, "{command}: {row}");
            let both = format!("{}{}", row["stdout"], row["stderr"]);
            assert!(both.contains("fleetdeck-sudo-"), "{command}: {row}");
        }
    }
    let r = run_with_tty(
        &lab,
        &["run", "--sudo", "-o", "json", "all", "--", "ps aux"],
        "not-the-password",
    );
    assert_ne!(r.code, 0, "{}", r.out);
    for row in &json_rows(&r.out) {
        assert_eq!(row["error"]["class"], "auth-failed", "{row}");
        let msg = row["error"]["message"].as_str().unwrap_or_default();
        assert!(msg.contains("wrong sudo password"), "{row}");
    }
    assert!(!r.out.contains(SUDO_PW) && !r.err.contains(SUDO_PW));
}
