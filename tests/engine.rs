//! The engine against a lab of real OpenSSH daemons: fan-out, exit codes, streams, session
//! reuse, failure classes, host keys, cancel, run folder and operation log.

mod common;

use common::events::{collect, collect_with, HostRun};

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fleetdeck::engine::{
    Engine, EngineConfig, ErrorClass, Event, ExecSpec, ExitStatus, HostKeyAnswer, HostKeyPolicy,
    HostKeyQuestion, JobKind, JobSpec, NoPrompter, Prompter, Secret, SecretKind, Target,
};
use fleetdeck::inventory::ConnSettings;
use fleetdeck::oplog::Record;

fn target(name: &str, port: u16, user: &str, key: &Path, connect_timeout: Duration) -> Target {
    Target {
        name: Arc::from(name),
        conn: ConnSettings {
            address: "127.0.0.1".into(),
            port,
            user: user.into(),
            identity_files: vec![key.to_path_buf()],
            jump: vec![],
            proxy_command: None,
            connect_timeout,
            ..ConnSettings::default()
        },
        jump: vec![],
        become_: None,
    }
}

fn lab_targets(lab: &common::TestLab) -> Vec<Target> {
    lab.hosts()
        .iter()
        .map(|h| {
            target(
                &h.name,
                h.port,
                lab.user(),
                &lab.client_key_path(),
                Duration::from_secs(5),
            )
        })
        .collect()
}

fn config(lab: &common::TestLab, prompter: Arc<dyn Prompter>) -> EngineConfig {
    EngineConfig {
        host_key_policy: HostKeyPolicy::Strict,
        known_hosts: vec![lab.known_hosts_path()],
        idle_timeout: Duration::from_secs(120),
        keepalive: Duration::from_secs(15),
        runs_dir: Some(lab.tmp().join("runs")),
        oplog: Some(lab.tmp().join("oplog.jsonl")),
        prompter,
    }
}

fn exec(command: &str, targets: Vec<Target>) -> JobSpec {
    JobSpec {
        kind: JobKind::Exec(ExecSpec {
            command: command.into(),
            ..ExecSpec::default()
        }),
        targets,
        fanout: 64,
        pattern: "all".into(),
    }
}

fn assert_order(name: &str, hr: &HostRun) {
    let k: Vec<&str> = hr
        .kinds
        .iter()
        .copied()
        .filter(|k| *k != "output")
        .collect();
    assert!(
        k == ["connecting", "connected", "running", "finished"] || k.last() == Some(&"failed"),
        "{name}: events out of order: {:?}",
        hr.kinds
    );
}

/// Processes running `sleep 300` whose working directory is inside `under` (a lab's homes).
fn sleepers(under: &Path) -> Vec<i32> {
    procs_in(under, b"sleep\x00300\x00")
}

/// Processes with exactly this command line (NUL-separated) whose working directory is
/// inside `under`.
fn procs_in(under: &Path, cmdline: &[u8]) -> Vec<i32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").expect("read /proc").flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(cmd) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        if cmd != cmdline {
            continue;
        }
        if std::fs::read_link(e.path().join("cwd")).is_ok_and(|c| c.starts_with(under)) {
            out.push(pid);
        }
    }
    out
}

fn read_oplog(path: &Path) -> Vec<Record> {
    std::fs::read_to_string(path)
        .expect("read the operation log")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad oplog line {l:?}: {e}")))
        .collect()
}

/// 50 hosts: per-host exit codes and stderr, event order, run folder, operation log; then a
/// second job on the same hosts reuses every session (no new TCP connection).
#[test]
fn fifty_hosts_exit_codes_streams_run_folder_oplog_and_reuse() {
    let lab = common::lab(50);
    let (engine, mut rx) = Engine::new(config(&lab, Arc::new(NoPrompter)));
    // Each host prints its own name and exits with (digits of its name) mod 7.
    let cmd = r#"n=$(basename "$(dirname "$PWD")"); echo "out $n"; echo "err $n" >&2; exit $(expr $(echo "$n" | tr -dc 0-9) % 7)"#;
    let id = engine.submit(exec(cmd, lab_targets(&lab)));
    let run = collect(&mut rx, id);
    assert_eq!(run.hosts.len(), 50);
    let mut expected_ok = 0;
    for h in lab.hosts() {
        let hr = &run.hosts[&h.name];
        assert_order(&h.name, hr);
        let digits: String = h.name.chars().filter(char::is_ascii_digit).collect();
        let code = digits.parse::<i32>().expect("digits") % 7;
        expected_ok += usize::from(code == 0);
        assert_eq!(hr.exit, Some(ExitStatus::Code(code)), "{}: {hr:?}", h.name);
        assert_eq!(
            hr.stdout,
            format!("out {}\n", h.name).as_bytes(),
            "{}",
            h.name
        );
        assert_eq!(
            hr.stderr,
            format!("err {}\n", h.name).as_bytes(),
            "{}",
            h.name
        );
        assert_eq!(hr.reused, Some(false));
        let dir = run.run_dir.as_ref().expect("run dir");
        assert_eq!(
            std::fs::read(dir.join(format!("{}.out", h.name))).expect("out file"),
            hr.stdout
        );
        assert_eq!(
            std::fs::read(dir.join(format!("{}.err", h.name))).expect("err file"),
            hr.stderr
        );
    }
    assert_eq!((run.ok, run.failed), (expected_ok, 50 - expected_ok));
    let stats = engine.stats();
    assert_eq!(stats.tcp_connects_total, 50);
    assert_eq!(stats.sessions_held, 50);

    // Second job: every session reused, no TCP connect.
    let t0 = Instant::now();
    let id2 = engine.submit(exec("true", lab_targets(&lab)));
    let run2 = collect(&mut rx, id2);
    let warm = t0.elapsed();
    assert_eq!(run2.ok, 50, "{:?}", run2.hosts);
    assert!(run2.hosts.values().all(|h| h.reused == Some(true)));
    assert_eq!(
        engine.stats().tcp_connects_total,
        50,
        "the second job opened TCP connections"
    );
    eprintln!("50 hosts: cold {:?}, warm {:?}", run.wall, warm);

    // The operation log: start, one result per host, end, for both jobs.
    let recs = read_oplog(&lab.tmp().join("oplog.jsonl"));
    assert_eq!(recs.len(), 2 * 52);
    let Record::JobStart(start) = &recs[0] else {
        panic!("first record {:?}", recs[0])
    };
    assert_eq!(start.kind, "exec");
    assert_eq!(start.command.as_deref(), Some(cmd));
    assert_eq!(start.hosts.len(), 50);
    assert_eq!(start.job, id);
    assert!(start.time.to_rfc3339().contains('T'));
    let results: Vec<_> = recs
        .iter()
        .filter_map(|r| match r {
            Record::HostResult(h) if h.job == id => Some(h),
            _ => None,
        })
        .collect();
    assert_eq!(results.len(), 50);
    for r in results {
        let digits: String = r.host.chars().filter(char::is_ascii_digit).collect();
        assert_eq!(
            r.exit_code,
            Some(digits.parse::<i32>().expect("digits") % 7)
        );
        assert_eq!(r.bytes_out, (r.host.len() + 5) as u64);
        assert_eq!(r.bytes_err, (r.host.len() + 5) as u64);
        assert!(r.error.is_none());
    }
    let Record::JobEnd(end) = recs
        .iter()
        .rfind(|r| matches!(r, Record::JobEnd(e) if e.job == id))
        .expect("end")
    else {
        unreachable!()
    };
    assert_eq!(
        (end.ok, end.nonzero, end.errors),
        (expected_ok, 50 - expected_ok, 0)
    );
    engine.shutdown();
    assert_eq!(engine.stats().sessions_held, 0);
    assert_eq!(engine.stats().workers, 0);
}

/// 2 MB of stdout and 8 MB of stderr written at the same time arrive whole, in the events
/// and in the run folder.
#[test]
fn big_stdout_and_stderr_arrive_whole() {
    let lab = common::lab(1);
    let (engine, mut rx) = Engine::new(config(&lab, Arc::new(NoPrompter)));
    let cmd = "(yes 0123456789abcdef | head -c 2000000) & (yes ABCDEFGHIJKLMNOPQRSTUVWXYZ | head -c 8000000 >&2) & wait";
    let id = engine.submit(exec(cmd, lab_targets(&lab)));
    let run = collect(&mut rx, id);
    let hr = &run.hosts["web01"];
    assert_eq!(hr.exit, Some(ExitStatus::Code(0)), "{:?}", hr.failed);
    let want_out: Vec<u8> = b"0123456789abcdef\n"
        .iter()
        .copied()
        .cycle()
        .take(2_000_000)
        .collect();
    let want_err: Vec<u8> = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ\n"
        .iter()
        .copied()
        .cycle()
        .take(8_000_000)
        .collect();
    assert!(
        hr.stdout == want_out,
        "stdout differs: {} bytes",
        hr.stdout.len()
    );
    assert!(
        hr.stderr == want_err,
        "stderr differs: {} bytes",
        hr.stderr.len()
    );
    let dir = run.run_dir.expect("run dir");
    assert!(std::fs::read(dir.join("web01.out")).expect("out") == want_out);
    assert!(std::fs::read(dir.join("web01.err")).expect("err") == want_err);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(dir.join("web01.err"))
            .expect("meta")
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    assert_eq!(
        std::fs::metadata(&dir).expect("meta").permissions().mode() & 0o777,
        0o700
    );
}

/// A frozen host (SIGSTOPped sshd) and a refused port among live hosts: the live ones finish
/// in their normal time, the bad ones fail with the right class within the connect timeout.
#[test]
fn frozen_and_refused_hosts_do_not_delay_the_others() {
    let lab = common::lab(6);
    lab.stop_host(0);
    let (engine, mut rx) = Engine::new(config(&lab, Arc::new(NoPrompter)));
    let timeout = Duration::from_secs(2);
    let mut targets: Vec<Target> = lab
        .hosts()
        .iter()
        .map(|h| target(&h.name, h.port, lab.user(), &lab.client_key_path(), timeout))
        .collect();
    let closed_port = common::free_base_port(1);
    targets.push(target(
        "closed",
        closed_port,
        lab.user(),
        &lab.client_key_path(),
        timeout,
    ));
    let mut nowhere = target("nowhere", 22, lab.user(), &lab.client_key_path(), timeout);
    nowhere.conn.address = "nowhere.invalid".into();
    targets.push(nowhere);
    // A peer that is not an SSH server: answers like a web server and hangs up.
    let web = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let web_port = web.local_addr().expect("addr").port();
    let web_thread = std::thread::spawn(move || {
        use std::io::Write as _;
        if let Ok((mut s, _)) = web.accept() {
            let _ = s.write_all(b"HTTP/1.0 400 Bad Request\r\n\r\n");
        }
    });
    targets.push(target(
        "web-server",
        web_port,
        lab.user(),
        &lab.client_key_path(),
        timeout,
    ));
    let id = engine.submit(exec("echo alive", targets));
    let run = collect(&mut rx, id);
    lab.cont_host(0);
    let frozen = &run.hosts["web01"];
    let (class, msg) = frozen.failed.clone().expect("frozen host must fail");
    assert_eq!(class, ErrorClass::Timeout, "{msg}");
    assert!(
        frozen.duration >= timeout && frozen.duration < timeout + Duration::from_secs(2),
        "{:?}",
        frozen.duration
    );
    let closed = &run.hosts["closed"];
    assert_eq!(
        closed.failed.as_ref().map(|f| f.0),
        Some(ErrorClass::Refused),
        "{closed:?}"
    );
    // Nothing waits for the frozen host: every other host ends well before its timeout.
    assert!(closed.at < timeout / 2, "{:?}", closed.at);
    for h in &lab.hosts()[1..] {
        let hr = &run.hosts[&h.name];
        assert_eq!(hr.exit, Some(ExitStatus::Code(0)), "{}: {hr:?}", h.name);
        assert!(
            hr.at < timeout / 2,
            "{} finished only after {:?}",
            h.name,
            hr.at
        );
    }
    let nowhere = &run.hosts["nowhere"];
    assert_eq!(
        nowhere.failed.as_ref().map(|f| f.0),
        Some(ErrorClass::Unreachable),
        "{nowhere:?}"
    );
    let web = &run.hosts["web-server"];
    assert_eq!(
        web.failed.as_ref().map(|f| f.0),
        Some(ErrorClass::Protocol),
        "{web:?}"
    );
    web_thread.join().expect("web thread");
    assert_eq!((run.ok, run.failed), (5, 4));
}

/// Wrong client key, changed host key (refused, nothing run, file:line named), unknown key
/// under strict; accept-new appends to known_hosts without rewriting it.
#[test]
fn auth_and_host_key_failures_are_classified() {
    let lab = common::lab(3);
    let tmp = lab.tmp();
    let wrong_key = tmp.join("wrong_key");
    let st = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&wrong_key)
        .status()
        .expect("ssh-keygen");
    assert!(st.success());
    let hosts = lab.hosts();
    // known_hosts: host 0 and 2 as the lab has them, host 1 with another key on line 3.
    let kh = tmp.join("known_hosts_changed");
    let lab_kh = std::fs::read_to_string(lab.known_hosts_path()).expect("lab known_hosts");
    let line_for = |port: u16| {
        lab_kh
            .lines()
            .find(|l| l.starts_with(&format!("[127.0.0.1]:{port} ")))
            .expect("lab known_hosts line")
            .to_string()
    };
    let wrong_pub = std::fs::read_to_string(wrong_key.with_extension("pub")).expect("pub");
    let fake = wrong_pub
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    std::fs::write(
        &kh,
        format!(
            "# fleet keys\n{}\n[127.0.0.1]:{} {fake}\n{}\n",
            line_for(hosts[0].port),
            hosts[1].port,
            line_for(hosts[2].port)
        ),
    )
    .expect("write known_hosts");
    let mut cfg = config(&lab, Arc::new(NoPrompter));
    cfg.known_hosts = vec![kh.clone()];
    let (engine, mut rx) = Engine::new(cfg);
    let t = Duration::from_secs(5);
    let targets = vec![
        target(&hosts[0].name, hosts[0].port, lab.user(), &wrong_key, t),
        target(
            &hosts[1].name,
            hosts[1].port,
            lab.user(),
            &lab.client_key_path(),
            t,
        ),
    ];
    let id = engine.submit(exec("touch ran-here", targets));
    let run = collect(&mut rx, id);
    let wrong = run.hosts[&hosts[0].name]
        .failed
        .clone()
        .expect("wrong key must fail");
    assert_eq!(wrong.0, ErrorClass::AuthFailed, "{}", wrong.1);
    assert!(wrong.1.contains("wrong_key"), "{}", wrong.1);
    let changed = &run.hosts[&hosts[1].name];
    let (class, msg) = changed.failed.clone().expect("changed key must fail");
    assert_eq!(class, ErrorClass::HostKeyChanged, "{msg}");
    assert!(
        msg.contains(&format!("{}:3", kh.display())),
        "message must name file:line: {msg}"
    );
    assert!(!changed.kinds.contains(&"running"));
    assert!(
        !lab.home(1).join("ran-here").exists(),
        "a command ran on a host whose key changed"
    );
    engine.shutdown();

    // Unknown key under strict: an empty known_hosts file.
    let empty = tmp.join("known_hosts_empty");
    std::fs::write(&empty, "# nothing yet\n").expect("write");
    let mut cfg = config(&lab, Arc::new(NoPrompter));
    cfg.known_hosts = vec![empty.clone()];
    let (engine, mut rx) = Engine::new(cfg.clone());
    let id = engine.submit(exec("touch ran-here", lab_targets(&lab)[2..].to_vec()));
    let run = collect(&mut rx, id);
    let (class, msg) = run.hosts[&hosts[2].name]
        .failed
        .clone()
        .expect("unknown key must fail");
    assert_eq!(class, ErrorClass::HostKeyUnknown, "{msg}");
    assert!(msg.contains("SHA256:"), "{msg}");
    assert!(!lab.home(2).join("ran-here").exists());
    engine.shutdown();

    // accept-new: the key is appended, the comment stays, and the command runs.
    cfg.host_key_policy = HostKeyPolicy::AcceptNew;
    let (engine, mut rx) = Engine::new(cfg);
    let id = engine.submit(exec("touch ran-here", lab_targets(&lab)[2..].to_vec()));
    let run = collect(&mut rx, id);
    assert_eq!(run.ok, 1, "{:?}", run.hosts);
    let text = std::fs::read_to_string(&empty).expect("read");
    assert!(text.starts_with("# nothing yet\n[127.0.0.1]:"), "{text}");
    assert_eq!(text.lines().count(), 2);
    let key = lab.host_public_key(2).expect("host key");
    assert!(
        text.contains(key.split_whitespace().nth(1).expect("b64")),
        "{text}\n{key}"
    );
    assert!(lab.home(2).join("ran-here").exists());
}

/// The fingerprint shown to the operator is the one `ssh-keygen -l` prints.
#[test]
fn ask_policy_shows_the_openssh_fingerprint() {
    struct Asker(std::sync::Mutex<Vec<HostKeyQuestion>>);
    impl Prompter for Asker {
        fn host_key(&self, q: &HostKeyQuestion) -> HostKeyAnswer {
            self.0.lock().expect("lock").push(q.clone());
            HostKeyAnswer::AcceptOnce
        }
        fn secret(&self, _: &SecretKind, _: &str) -> Option<Secret> {
            None
        }
    }
    let lab = common::lab(1);
    let asker = Arc::new(Asker(std::sync::Mutex::new(Vec::new())));
    let mut cfg = config(&lab, asker.clone());
    cfg.known_hosts = vec![lab.tmp().join("kh-none")];
    cfg.host_key_policy = HostKeyPolicy::Ask;
    let (engine, mut rx) = Engine::new(cfg);
    let run = collect(&mut rx, engine.submit(exec("true", lab_targets(&lab))));
    assert_eq!(run.ok, 1, "{:?}", run.hosts);
    let qs = asker.0.lock().expect("lock").clone();
    assert_eq!(qs.len(), 1);
    let out = std::process::Command::new("ssh-keygen")
        .arg("-lf")
        .arg(lab.hosts()[0].host_key_path().with_extension("pub"))
        .output()
        .expect("ssh-keygen -l");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&qs[0].fingerprint),
        "{text} vs {}",
        qs[0].fingerprint
    );
    assert_eq!(qs[0].key_type, "ED25519");
    assert!(
        !lab.tmp().join("kh-none").exists(),
        "accept-once must not write known_hosts"
    );
}

/// Cancel of `sleep 300` on 20 hosts (no pty, as the command line runs it): JobDone arrives,
/// no `sleep 300` is left on any lab host, and the next command runs on the same sessions.
#[test]
fn cancel_stops_remote_processes_and_keeps_sessions() {
    let lab = common::lab(20);
    let (engine, mut rx) = Engine::new(config(&lab, Arc::new(NoPrompter)));
    let id = engine.submit(exec("sleep 300", lab_targets(&lab)));
    let canceller = engine.clone();
    let mut running = 0;
    let mut seen = 0;
    let deadline = Instant::now() + Duration::from_secs(20);
    let run = collect_with(&mut rx, id, common::events::JOB_LIMIT, |ev, _| {
        if matches!(ev, Event::Running { .. }) {
            running += 1;
            if running == 20 {
                // Wait until every remote sleep has started, then cancel.
                while sleepers(lab.tmp()).len() < 20 && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(20));
                }
                seen = sleepers(lab.tmp()).len();
                canceller.cancel(id);
            }
        }
    });
    assert_eq!(seen, 20, "not every sleep started");
    assert!(
        run.wall < Duration::from_secs(15),
        "cancel took {:?}",
        run.wall
    );
    for (name, hr) in &run.hosts {
        assert_eq!(
            hr.failed.as_ref().map(|f| f.0),
            Some(ErrorClass::Cancelled),
            "{name}: {hr:?}"
        );
    }
    let gone = Instant::now() + Duration::from_secs(3);
    while !sleepers(lab.tmp()).is_empty() && Instant::now() < gone {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        sleepers(lab.tmp()),
        Vec::<i32>::new(),
        "sleep 300 still runs after cancel"
    );
    let connects = engine.stats().tcp_connects_total;
    let run = collect(&mut rx, engine.submit(exec("echo next", lab_targets(&lab))));
    assert_eq!(run.ok, 20, "{:?}", run.hosts);
    assert!(
        run.hosts
            .values()
            .all(|h| h.reused == Some(true) && h.stdout == b"next\n"),
        "{:?}",
        run.all_events
    );
    assert_eq!(engine.stats().tcp_connects_total, connects);
}

/// A per-command deadline fails the host as `timeout` and leaves the session usable;
/// a session whose server died is replaced transparently; idle sessions are closed.
#[test]
fn command_timeout_dead_session_and_idle_close() {
    let lab = common::lab(2);
    let mut cfg = config(&lab, Arc::new(NoPrompter));
    cfg.idle_timeout = Duration::from_secs(2);
    let (engine, mut rx) = Engine::new(cfg);
    let mut spec = exec("sleep 5", lab_targets(&lab));
    if let JobKind::Exec(e) = &mut spec.kind {
        e.timeout = Some(Duration::from_millis(400));
        e.pty = true;
    }
    let run = collect(&mut rx, engine.submit(spec));
    for hr in run.hosts.values() {
        let (class, msg) = hr.failed.clone().expect("must time out");
        assert_eq!(class, ErrorClass::Timeout, "{msg}");
        assert!(hr.duration < Duration::from_secs(3), "{:?}", hr.duration);
    }
    let run = collect(&mut rx, engine.submit(exec("echo ok", lab_targets(&lab))));
    assert_eq!(run.ok, 2);
    assert!(run.hosts.values().all(|h| h.reused == Some(true)));

    // Kill host 0's sshd and its sessions, start it again: the next job reconnects.
    lab.kill_host(0);
    lab.start_host(0).expect("restart host");
    let run = collect(&mut rx, engine.submit(exec("echo ok", lab_targets(&lab))));
    assert_eq!(run.ok, 2, "{:?}", run.hosts);
    assert_eq!(run.hosts["web01"].reused, Some(false));
    assert_eq!(run.hosts["web02"].reused, Some(true));
    assert_eq!(engine.stats().tcp_connects_total, 3);

    // Idle sessions close after idle_timeout (polled under a deadline, not slept for).
    let deadline = Instant::now() + Duration::from_secs(15);
    while engine.stats().sessions_held > 0 || engine.stats().workers > 0 {
        assert!(
            Instant::now() < deadline,
            "idle sessions still held: {:?}",
            engine.stats()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let run = collect(&mut rx, engine.submit(exec("true", lab_targets(&lab))));
    assert_eq!(run.ok, 2);
    assert!(run.hosts.values().all(|h| h.reused == Some(false)));
}

/// An encrypted key: the passphrase is asked once for all hosts and appears in no event,
/// run file or operation log record.
#[test]
fn passphrase_asked_once_and_never_recorded() {
    const PASS: &str = "hunter2-very-secret";
    struct Pass(AtomicUsize);
    impl Prompter for Pass {
        fn host_key(&self, _: &HostKeyQuestion) -> HostKeyAnswer {
            HostKeyAnswer::Reject
        }
        fn secret(&self, kind: &SecretKind, _: &str) -> Option<Secret> {
            assert!(matches!(kind, SecretKind::Passphrase { .. }), "{kind:?}");
            self.0.fetch_add(1, Ordering::SeqCst);
            Some(Secret::new(PASS.into()))
        }
    }
    let lab = common::lab(4);
    let key = lab.tmp().join("enc_key");
    let st = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", PASS, "-f"])
        .arg(&key)
        .status()
        .expect("ssh-keygen");
    assert!(st.success());
    // Authorize it on the lab (its authorized_keys file is shared by every lab host).
    let pubkey = std::fs::read_to_string(key.with_extension("pub")).expect("pub");
    let ak = lab.dir().join("authorized_keys");
    let mut text = std::fs::read_to_string(&ak).expect("authorized_keys");
    text.push_str(&pubkey);
    std::fs::write(&ak, text).expect("write authorized_keys");
    let prompter = Arc::new(Pass(AtomicUsize::new(0)));
    let (engine, mut rx) = Engine::new(config(&lab, prompter.clone()));
    let targets: Vec<Target> = lab
        .hosts()
        .iter()
        .map(|h| target(&h.name, h.port, lab.user(), &key, Duration::from_secs(5)))
        .collect();
    let run = collect(&mut rx, engine.submit(exec("echo in", targets)));
    assert_eq!(run.ok, 4, "{:?}", run.hosts);
    assert_eq!(
        prompter.0.load(Ordering::SeqCst),
        1,
        "passphrase must be asked once"
    );
    assert!(!run.all_events.contains(PASS));
    let log = std::fs::read_to_string(lab.tmp().join("oplog.jsonl")).expect("oplog");
    assert!(!log.contains(PASS));
    for f in std::fs::read_dir(run.run_dir.expect("run dir"))
        .expect("ls")
        .flatten()
    {
        assert!(!String::from_utf8_lossy(&std::fs::read(f.path()).expect("read")).contains(PASS));
    }
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(lab.tmp().join("oplog.jsonl"))
        .expect("meta")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

/// With a pty, closing the channel hangs the command up (SIGHUP); the job ends at once and
/// the sessions stay usable.
#[test]
fn cancel_with_pty_hangs_up_and_keeps_sessions() {
    let lab = common::lab(3);
    let (engine, mut rx) = Engine::new(config(&lab, Arc::new(NoPrompter)));
    let mut spec = exec("sleep 299; echo never", lab_targets(&lab));
    if let JobKind::Exec(e) = &mut spec.kind {
        e.pty = true;
    }
    let id = engine.submit(spec);
    let canceller = engine.clone();
    let mut running = 0;
    let mut cancelled_at = None;
    let run = collect_with(&mut rx, id, common::events::JOB_LIMIT, |ev, _| {
        if matches!(ev, Event::Running { .. }) {
            running += 1;
            if running == 3 {
                std::thread::sleep(Duration::from_millis(200));
                cancelled_at = Some(Instant::now());
                canceller.cancel(id);
            }
        }
    });
    let took = cancelled_at.expect("cancelled").elapsed();
    assert!(
        took < Duration::from_secs(4),
        "JobDone came {took:?} after the cancel"
    );
    for hr in run.hosts.values() {
        let (class, msg) = hr.failed.clone().expect("cancelled");
        assert_eq!(class, ErrorClass::Cancelled);
        assert!(!msg.contains("may still be running"), "{msg}");
        assert!(hr.stdout.is_empty(), "the command went on after the cancel");
    }
    let gone = Instant::now() + Duration::from_secs(3);
    while !procs_in(lab.tmp(), b"sleep\x00299\x00").is_empty() && Instant::now() < gone {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(procs_in(lab.tmp(), b"sleep\x00299\x00"), Vec::<i32>::new());
    let run = collect(&mut rx, engine.submit(exec("echo next", lab_targets(&lab))));
    assert_eq!(run.ok, 3, "{:?}", run.hosts);
    assert!(run.hosts.values().all(|h| h.reused == Some(true)));
}

/// known_hosts hashed by `ssh-keygen -H`, after a line that does not parse: still matched.
#[test]
fn hashed_known_hosts_after_a_bad_line_are_understood() {
    let lab = common::lab(1);
    let kh = lab.tmp().join("kh_hashed");
    std::fs::copy(lab.known_hosts_path(), &kh).expect("copy");
    let st = std::process::Command::new("ssh-keygen")
        .arg("-q")
        .arg("-H")
        .arg("-f")
        .arg(&kh)
        .status()
        .expect("ssh-keygen -H");
    assert!(st.success());
    let hashed = std::fs::read_to_string(&kh).expect("read");
    assert!(
        hashed.contains("|1|") && !hashed.contains("127.0.0.1"),
        "{hashed}"
    );
    std::fs::write(
        &kh,
        format!("this line is not a known_hosts entry\n{hashed}"),
    )
    .expect("write");
    let mut cfg = config(&lab, Arc::new(NoPrompter));
    cfg.known_hosts = vec![kh];
    let (engine, mut rx) = Engine::new(cfg);
    let run = collect(&mut rx, engine.submit(exec("true", lab_targets(&lab))));
    assert_eq!(run.ok, 1, "{:?}", run.hosts);
}

/// Jump hosts: one and two hops through lab hosts (each hop's host key checked and
/// authenticated), sessions kept through the tunnels; a closed port behind a jump host fails
/// naming the jump host.
#[test]
fn jump_hosts_tunnel_and_sessions_stay_held() {
    let lab = common::lab(3);
    let (engine, mut rx) = Engine::new(config(&lab, Arc::new(NoPrompter)));
    let t = lab_targets(&lab);
    let mut via_one = t[1].clone();
    via_one.jump = vec![t[0].hop()];
    let mut via_two = t[2].clone();
    via_two.jump = vec![t[0].hop(), t[1].hop()];
    let mut closed = target(
        "closed",
        common::free_base_port(1),
        lab.user(),
        &lab.client_key_path(),
        Duration::from_secs(3),
    );
    closed.jump = vec![t[0].hop()];
    let cmd = r#"basename "$(dirname "$PWD")""#;
    let targets = vec![via_one, via_two, closed];
    let run = collect(&mut rx, engine.submit(exec(cmd, targets.clone())));
    for (i, name) in [(1, "web02"), (2, "db01")] {
        let h = &lab.hosts()[i];
        assert_eq!(h.name, name);
        let hr = &run.hosts[name];
        assert_eq!(hr.exit, Some(ExitStatus::Code(0)), "{name}: {hr:?}");
        assert_eq!(hr.stdout, format!("{name}\n").as_bytes());
    }
    let (class, msg) = run.hosts["closed"]
        .failed
        .clone()
        .expect("closed port must fail");
    assert!(msg.contains("via jump host web01"), "{class}: {msg}");
    assert_eq!(class, ErrorClass::Unreachable, "{msg}");
    // Only the first hop makes a TCP connection, shared by every target behind it: one
    // session to web01, one to web02 (through web01), and tunnels to web02 (twice: as a target
    // and as the second hop) and db01 (the closed port's tunnel was refused).
    let s = engine.stats();
    assert_eq!(s.tcp_connects_total, 1, "{s:?}");
    assert_eq!(s.jump_sessions_opened_total, 2, "{s:?}");
    assert_eq!(s.tunnels_opened_total, 3, "{s:?}");
    let run = collect(&mut rx, engine.submit(exec(cmd, targets[..2].to_vec())));
    assert_eq!(run.ok, 2, "{:?}", run.hosts);
    assert!(run.hosts.values().all(|h| h.reused == Some(true)));
    assert_eq!(engine.stats().tcp_connects_total, 1);
    let t0 = Instant::now();
    engine.shutdown();
    assert!(
        t0.elapsed() < Duration::from_secs(2),
        "shutdown took {:?}",
        t0.elapsed()
    );
}
