//! `fleetdeck run` and `fleetdeck log` through the real binary against a lab of real sshd.

mod common;

use std::io::BufRead;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use common::{fleetdeck, lab, TestLab};

/// Runs the binary with `args` against the lab's inventory; returns (status, stdout, stderr).
fn run(lab: &TestLab, args: &[&str]) -> (i32, String, String) {
    run_on(lab, &lab.inventory_path(), args)
}

/// Runs the binary with `args` against the inventory `inv`; returns (status, stdout, stderr).
fn run_on(lab: &TestLab, inv: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let out: Output = fleetdeck(lab.tmp())
        .arg("-i")
        .arg(inv)
        .args(args)
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .output()
        .expect("run fleetdeck");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn write_script(lab: &TestLab, host: &str, body: &str) {
    let i = lab.index_of(host).expect("lab host");
    std::fs::write(lab.home(i).join("script.sh"), body).expect("write script");
}

/// No ESC, BEL, other C0 (except newline) or C1 control anywhere.
fn assert_no_controls(what: &str, s: &str) {
    for c in s.chars() {
        let bad = (c < ' ' && c != '\n') || ('\u{7f}'..='\u{9f}').contains(&c);
        assert!(!bad, "{what} holds control U+{:04X}:\n{s:?}", c as u32);
    }
}

const HOSTILE: &str = r"printf '\033]0;PWNED\007title\033[2J\033[Hclear\033P1$qm\033\\dcs\302\2332Jc1\033]8;;http://x\033\\link\033_apc\033\\\007\010end\n'";

/// Six hosts: four identical, one failing with stderr, one printing hostile escapes.
fn six_host_lab() -> TestLab {
    let lab = lab(6);
    let names: Vec<String> = lab.hosts().iter().map(|h| h.name.clone()).collect();
    assert_eq!(
        names,
        ["web01", "web02", "db01", "stg-web01", "web03", "web04"]
    );
    for h in ["web01", "web02", "web03", "web04"] {
        write_script(&lab, h, "echo same output\necho line2\n");
    }
    write_script(&lab, "db01", "echo db says hi\necho oops >&2\nexit 3\n");
    write_script(&lab, "stg-web01", &format!("{HOSTILE}\n"));
    lab
}

#[test]
fn inline_gathered_json_outputs_exit_status_and_summary() {
    let lab = six_host_lab();
    let t = Instant::now();

    // Inline.
    let (code, out, err) = run(&lab, &["run", "all", "--", "sh", "script.sh"]);
    assert_eq!(code, 1, "one host exits 3\nstdout:\n{out}\nstderr:\n{err}");
    for h in ["web01", "web02", "web03", "web04"] {
        assert!(
            out.contains(&format!("{h:<9} | same output\n{h:<9} | line2\n"))
                || (out.contains(&format!("{h:<9} | same output\n"))
                    && out.contains(&format!("{h:<9} | line2\n"))),
            "inline lines of {h}:\n{out}"
        );
    }
    assert!(out.contains("db01      | db says hi\n"), "{out}");
    assert!(
        err.contains("db01      ! oops\n"),
        "stderr line marked:\n{err}"
    );
    assert!(err.contains("db01      ✗ exit 3\n"), "{err}");
    assert!(
        out.contains("stg-web01 | titlecleardcsc1linkend\n"),
        "hostile text kept, escapes gone:\n{out:?}"
    );
    assert!(!out.contains("PWNED") && !out.contains("2J"), "{out:?}");
    assert_no_controls("inline stdout", &out);
    assert_no_controls("inline stderr", &err);
    assert!(
        err.contains("  succeeded  stg-web01,web[01-04]\n"),
        "summary:\n{err}"
    );
    assert!(err.contains("  failed     db01\n"), "summary:\n{err}");
    assert!(err.contains("6 hosts in "), "{err}");

    // Gathered.
    let (code, out, err) = run(
        &lab,
        &[
            "run",
            "all",
            "--output",
            "gathered",
            "--",
            "sh",
            "script.sh",
        ],
    );
    assert_eq!(code, 1, "{err}");
    let web =
        "--------------------\nweb[01-04] (4 hosts)\n--------------------\nsame output\nline2\n";
    assert!(out.starts_with(web), "largest group first:\n{out}");
    assert!(
        out.contains("db01 (1 host) · exit 3\n----------------------\ndb says hi\n! oops\n"),
        "{out}"
    );
    assert!(
        out.contains("stg-web01 (1 host)\n------------------\ntitlecleardcsc1linkend\n"),
        "{out}"
    );
    assert_eq!(out.matches("(1 host)").count(), 2, "{out}");
    assert_no_controls("gathered stdout", &out);

    // JSON.
    let (code, out, err) = run(&lab, &["run", "all", "-o", "json", "--", "sh", "script.sh"]);
    assert_eq!(code, 1, "{err}");
    assert!(!out.contains('\x1b'), "JSON escapes control characters");
    let rows: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(rows.len(), 6, "{out}");
    let row = |h: &str| {
        rows.iter()
            .find(|r| r["host"] == h)
            .unwrap_or_else(|| panic!("no row for {h}"))
    };
    let db = row("db01");
    assert_eq!(db["exit_code"], 3);
    assert_eq!(db["stdout"], "db says hi\n");
    assert_eq!(db["stderr"], "oops\n");
    assert_eq!(db["error"], serde_json::Value::Null);
    assert_eq!(db["signal"], serde_json::Value::Null);
    let port = lab.hosts()[lab.index_of("db01").unwrap()].port;
    assert_eq!(db["address"], format!("127.0.0.1:{port}"));
    assert!(db["duration_ms"].as_u64().is_some());
    assert_eq!(row("web03")["stdout"], "same output\nline2\n");
    assert_eq!(row("web03")["exit_code"], 0);
    let hostile = row("stg-web01")["stdout"].as_str().unwrap();
    assert!(
        hostile.starts_with("\x1b]0;PWNED\x07title"),
        "JSON keeps the bytes: {hostile:?}"
    );
    eprintln!("three runs on 6 hosts took {:?}", t.elapsed());
}

#[test]
fn unreachable_failed_from_last_and_log() {
    let lab = lab(4); // web01 web02 db01 stg-web01
    let web02 = lab.home(lab.index_of("web02").unwrap()).join("fail");
    std::fs::write(&web02, "").unwrap();
    let db = lab.index_of("db01").unwrap();
    lab.kill_host(db);

    let (code, out, err) = run(
        &lab,
        &[
            "run",
            "all",
            "--connect-timeout",
            "5",
            "--",
            "test ! -e fail && echo fine",
        ],
    );
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(err.contains("  unreachable  db01\n"), "{err}");
    assert!(err.contains("  failed       web02\n"), "{err}");
    assert!(err.contains("  succeeded    stg-web01,web01\n"), "{err}");
    assert!(
        err.contains("db01      ✗ refused: "),
        "per-host error line:\n{err}"
    );

    // Fix both and re-run on the failed ones only.
    lab.start_host(db).expect("restart db01");
    std::fs::remove_file(&web02).unwrap();
    let (code, out, err) = run(&lab, &["run", "--failed-from", "last", "--", "echo rerun"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let mut hosts: Vec<&str> = out.lines().map(|l| l.split(' ').next().unwrap()).collect();
    hosts.sort_unstable();
    assert_eq!(hosts, ["db01", "web02"], "{out}");
    assert!(err.contains("  succeeded  db01,web02\n"), "{err}");

    // Nothing left to re-run.
    let (code, _, err) = run(&lab, &["run", "--failed-from", "last", "--", "echo again"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("nothing to re-run"), "{err}");

    // The log, readably.
    let (code, out, err) = run(&lab, &["log"]);
    assert_eq!(code, 0, "{err}");
    let starts: Vec<&str> = out.lines().filter(|l| l.contains("  exec  ")).collect();
    assert_eq!(starts.len(), 2, "two jobs:\n{out}");
    assert!(
        starts[0].contains("test ! -e fail && echo fine  on all (4 hosts) by "),
        "{out}"
    );
    assert!(
        starts[1].contains("echo rerun  on db01,web02 (2 hosts)"),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.contains("db01") && l.contains("FAILED") && l.contains("refused: ")),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.contains("web02") && l.contains("FAILED") && l.contains("exit 1")),
        "{out}"
    );
    assert!(out.contains("done: 2 ok, 1 non-zero, 1 error in"), "{out}");

    let (_, out, _) = run(&lab, &["log", "--failed"]);
    assert_eq!(
        out.lines().filter(|l| l.contains("  exec  ")).count(),
        1,
        "{out}"
    );
    assert!(
        out.contains("web02") && out.contains("db01") && !out.contains(" web01 "),
        "{out}"
    );
    let (_, out, _) = run(&lab, &["log", "--host", "web01"]);
    assert_eq!(
        out.lines().filter(|l| l.contains("  exec  ")).count(),
        1,
        "{out}"
    );
    let (_, out, _) = run(&lab, &["log", "--since", "2999-01-01T00:00:00Z"]);
    assert!(out.is_empty(), "{out}");
    let (_, out, _) = run(&lab, &["log", "--since", "1h", "--json"]);
    let recs: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(recs.iter().filter(|r| r["type"] == "job-start").count(), 2);
    assert_eq!(
        recs.iter().filter(|r| r["type"] == "host-result").count(),
        6
    );
    assert_eq!(recs.iter().filter(|r| r["type"] == "job-end").count(), 2);

    // A torn last line is skipped with a warning.
    let oplog = lab.tmp().join("state/oplog.jsonl");
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&oplog)
        .unwrap();
    std::io::Write::write_all(&mut f, br#"{"type":"job-start","time":"20"#).unwrap();
    let (code, out, err) = run(&lab, &["log"]);
    assert_eq!(code, 0);
    assert_eq!(out.lines().filter(|l| l.contains("  exec  ")).count(), 2);
    assert!(
        err.contains("oplog.jsonl:") && err.contains("torn last line"),
        "{err}"
    );
    let (_, _, err) = run(&lab, &["log", "--since", "yesterday"]);
    assert!(err.contains("\"yesterday\" is not a time"), "{err}");
}

#[test]
fn host_keys_and_timeout() {
    let lab = lab(2); // web01 web02
    let empty = lab.tmp().join("empty_known_hosts");
    std::fs::write(&empty, "").unwrap();
    let empty_s = empty.to_str().unwrap();
    // The lab inventory's known_hosts file would be read besides `--known-hosts`.
    let inv = lab.inventory_without_known_hosts();
    let (code, out, err) = run_on(
        &lab,
        &inv,
        &["run", "all", "--known-hosts", empty_s, "--", "echo hi"],
    );
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(out.is_empty(), "nothing ran: {out}");
    assert!(err.contains("  host-key-unknown  web[01-02]\n"), "{err}");

    // `ask` without a terminal cannot ask: unknown keys are refused.
    let (code, _, err) = run_on(
        &lab,
        &inv,
        &[
            "run",
            "all",
            "--host-key-policy",
            "ask",
            "--known-hosts",
            empty_s,
            "--",
            "echo hi",
        ],
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("  host-key-unknown  web[01-02]\n"), "{err}");

    // On a terminal (util-linux `script` gives one) `ask` asks on /dev/tty: accept once for
    // one host, save for the other.
    let cmd = format!(
        "{} -i {} run all --host-key-policy ask --known-hosts {empty_s} -- echo hi",
        common::fleetdeck_bin().display(),
        inv.display()
    );
    let mut child = std::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env("FLEETDECK_STATE_DIR", lab.tmp().join("state"))
        .env("FLEETDECK_CONFIG_DIR", lab.tmp().join("config"))
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run util-linux `script` (Debian package bsdutils)");
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), b"o\ns\n").unwrap();
    let status = wait_timeout(&mut child, Duration::from_secs(20));
    let mut tty = String::new();
    std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut tty).unwrap();
    assert_eq!(status, Some(0), "terminal:\n{tty}");
    assert_eq!(tty.matches("can't be established").count(), 2, "{tty}");
    assert!(tty.contains("ED25519 key fingerprint is SHA256:"), "{tty}");
    assert!(
        tty.contains("web01 | hi") && tty.contains("web02 | hi"),
        "{tty}"
    );
    assert_eq!(
        std::fs::read_to_string(&empty).unwrap().lines().count(),
        1,
        "one key saved"
    );
    std::fs::write(&empty, "").unwrap();

    let kh = lab.tmp().join("new_known_hosts");
    let kh_s = kh.to_str().unwrap();
    let (code, out, err) = run_on(
        &lab,
        &inv,
        &[
            "run",
            "all",
            "--host-key-policy",
            "accept-new",
            "--known-hosts",
            kh_s,
            "--",
            "echo hi",
        ],
    );
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(
        std::fs::read_to_string(&kh).unwrap().lines().count(),
        2,
        "keys recorded"
    );

    let t = Instant::now();
    let (code, out, err) = run(
        &lab,
        &[
            "run",
            "web01",
            "--timeout",
            "1",
            "--",
            "echo before; sleep 30",
        ],
    );
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        t.elapsed() < Duration::from_secs(15),
        "took {:?}",
        t.elapsed()
    );
    assert!(out.contains("web01 | before"), "{out}");
    assert!(err.contains("  timed-out  web01\n"), "{err}");
}

#[test]
fn ctrl_c_cancels_and_exits_130() {
    let lab = lab(2);
    let mut child = fleetdeck(lab.tmp())
        .arg("-i")
        .arg(lab.inventory_path())
        .args(["run", "all", "--", "echo started; sleep 300"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn fleetdeck");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut started = 0;
    while started < 2 {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("hosts start");
        if line.ends_with("| started") {
            started += 1;
        }
    }
    let t = Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let status = wait_timeout(&mut child, Duration::from_secs(15));
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert_eq!(status, Some(130), "stderr:\n{err}");
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "cancel took {:?}",
        t.elapsed()
    );
    assert!(err.contains("cancelled: 2 hosts in"), "{err}");
    assert!(err.contains("cancelled  web[01-02]"), "{err}");
}

fn wait_timeout(child: &mut std::process::Child, limit: Duration) -> Option<i32> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(s) = child.try_wait().expect("poll the child") {
            return s.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn bad_input_exits_2() {
    let tmp = tempfile::tempdir().unwrap();
    let inv = tmp.path().join("inventory.yaml");
    std::fs::write(&inv, "hosts:\n  a1: { address: 127.0.0.1, port: 9 }\n").unwrap();
    let go = |args: &[&str]| {
        let out = fleetdeck(tmp.path())
            .arg("-i")
            .arg(&inv)
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, err) = go(&["run", "nomatch", "--", "true"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("nomatch"), "{err}");
    let (code, err) = go(&["run", "a1", "--timeout=-3", "--", "true"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("\"-3\" must be a positive number of seconds"),
        "{err}"
    );
    let (code, err) = go(&["run", "a1", "--connect-timeout", "soon", "--", "true"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("\"soon\" is not a number of seconds"), "{err}");
    let (code, err) = go(&["run", "a1"]);
    assert_eq!(code, Some(2), "missing command: {err}");
    let (code, err) = go(&["run", "a1", "--fanout", "0", "--", "true"]);
    assert_eq!(code, Some(2), "{err}");
    let (code, err) = go(&["run", "--failed-from", "last", "--", "true"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("no command in the operation log"), "{err}");
    let missing = tmp.path().join("nope.yaml");
    let out = fleetdeck(tmp.path())
        .arg("-i")
        .arg(&missing)
        .args(["run", "all", "--", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope.yaml"));
}

#[test]
fn ten_megabytes_without_newline_invalid_utf8_and_tabs() {
    let lab = lab(1);
    write_script(
        &lab,
        "web01",
        "head -c 10485760 /dev/zero | tr '\\0' x; printf '\\377\\tend\\n'; printf 'a\\tb\\033[31mred\\n' >&2\n",
    );
    let t = Instant::now();
    let (code, out, err) = run(&lab, &["run", "all", "--", "sh", "script.sh"]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    let max = fleetdeck::output::MAX_LINE_CHARS;
    assert_eq!(
        lines.len(),
        10 * 1024 * 1024 / max + 1,
        "long line split into bounded lines"
    );
    for l in &lines[..lines.len() - 1] {
        assert_eq!(l.len(), "web01 | ".len() + max);
    }
    assert_eq!(lines.last().copied(), Some("web01 | \u{FFFD}       end"));
    assert!(err.contains("web01 ! a       bred\n"), "{err:?}");
    assert_no_controls("stdout", &out);
    assert_no_controls("stderr", &err);
    eprintln!("10 MB line through inline output in {:?}", t.elapsed());
}

/// `run --help` offers `--no-become` beside `--sudo`, saying what it turns off.
#[test]
fn run_help_offers_no_become() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = fleetdeck(tmp.path())
        .args(["run", "--help"])
        .stdin(Stdio::null())
        .output()
        .expect("run fleetdeck");
    assert!(out.status.success(), "{out:?}");
    let help = String::from_utf8_lossy(&out.stdout);
    let line = help
        .lines()
        .position(|l| l.trim_start().starts_with("--no-become"))
        .unwrap_or_else(|| panic!("--no-become in run --help:\n{help}"));
    let text: String = help.lines().skip(line).take(3).collect();
    assert!(text.contains("ansible_become"), "{text}");
    assert!(help.contains("--sudo"), "{help}");
}
