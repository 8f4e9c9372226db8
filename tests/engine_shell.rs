//! Shell jobs (issue 15) against a lab of real OpenSSH daemons: login shells on a pty, typed
//! input per host, exit statuses, window changes, cancel (sessions kept), more hosts than
//! fanout, the operation log and run folder (typed input never in them), key-to-echo latency;
//! and the `fleetdeck shell` command line.

mod common;

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fleetdeck::engine::{
    Engine, ErrorClass, Event, EventReceiver, ExitStatus, JobId, JobKind, JobSpec, ShellSpec,
    Stream, Target,
};

const LIMIT: Duration = Duration::from_secs(120);

fn targets(lab: &common::TestLab) -> Vec<Target> {
    (0..lab.hosts().len())
        .map(|i| lab.target(i, Duration::from_secs(20)))
        .collect()
}

fn shell_job(targets: Vec<Target>, fanout: usize) -> JobSpec {
    JobSpec {
        kind: JobKind::Shell(ShellSpec {
            term: "xterm".into(),
            cols: 80,
            rows: 24,
        }),
        targets,
        fanout,
        pattern: "all".into(),
    }
}

fn with_records(lab: &common::TestLab) -> fleetdeck::engine::EngineConfig {
    let mut config = lab.engine_config();
    config.runs_dir = Some(lab.tmp().join("runs"));
    config.oplog = Some(lab.tmp().join("oplog.jsonl"));
    config
}

/// What one job's events said so far, host by host.
#[derive(Default)]
struct Seen {
    out: HashMap<String, Vec<u8>>,
    running: HashSet<String>,
    reused: HashMap<String, bool>,
    exit: HashMap<String, ExitStatus>,
    failed: HashMap<String, ErrorClass>,
    run_dir: Option<PathBuf>,
    done: bool,
    /// Debug text of every event, to look for typed input.
    all: String,
}

impl Seen {
    fn out(&self, host: &str) -> String {
        String::from_utf8_lossy(self.out.get(host).map_or(&[][..], Vec::as_slice)).into_owned()
    }
}

/// Reads the events of `job` until `cond` holds (fails the test after `limit`).
fn wait(
    rx: &mut EventReceiver,
    job: JobId,
    seen: &mut Seen,
    what: &str,
    mut cond: impl FnMut(&Seen) -> bool,
) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("tokio runtime");
    let start = Instant::now();
    while !cond(seen) {
        let left = LIMIT.saturating_sub(start.elapsed());
        let ev = rt
            .block_on(async { tokio::time::timeout(left, rx.recv()).await })
            .unwrap_or_else(|_| {
                let outs: Vec<String> = seen.out.keys().map(|h| seen.out(h)).collect();
                panic!(
                    "{what}: not after {LIMIT:?}; running {:?}, exits {:?}, failed {:?}, output {outs:?}",
                    seen.running, seen.exit, seen.failed
                )
            })
            .expect("engine gone");
        note(seen, job, ev);
    }
}

fn note(seen: &mut Seen, job: JobId, ev: Event) {
    let _ = writeln!(seen.all, "{ev:?}");
    match ev {
        Event::JobStarted {
            job: j, run_dir, ..
        } if j == job => seen.run_dir = run_dir,
        Event::Connected {
            job: j,
            host,
            reused,
        } if j == job => {
            seen.reused.insert(host.to_string(), reused);
        }
        Event::Running { job: j, host } if j == job => {
            seen.running.insert(host.to_string());
        }
        Event::Output {
            job: j,
            host,
            stream,
            data,
        } if j == job => {
            assert_eq!(stream, Stream::Stdout, "a pty has one stream");
            seen.out.entry(host.to_string()).or_default().extend(data);
        }
        Event::Finished {
            job: j, host, exit, ..
        } if j == job => {
            seen.exit.insert(host.to_string(), exit);
        }
        Event::Failed {
            job: j,
            host,
            class,
            ..
        } if j == job => {
            seen.failed.insert(host.to_string(), class);
        }
        Event::JobDone { job: j, .. } if j == job => seen.done = true,
        _ => {}
    }
}

#[test]
fn three_shells_run_what_is_typed_and_end_with_its_exit_status() {
    let lab = common::lab(3);
    let (engine, mut rx) = Engine::new(with_records(&lab));
    let ts = targets(&lab);
    let names: Vec<String> = ts.iter().map(|t| t.name.to_string()).collect();
    let job = engine.submit(shell_job(ts, 64));
    // Typed before any shell is open: queued, then written once it is.
    for h in &names {
        engine.shell_input(job, h, b"echo $((6*7)); exit 3\r");
    }
    let mut seen = Seen::default();
    wait(&mut rx, job, &mut seen, "every shell ends", |s| s.done);
    for h in &names {
        assert!(seen.running.contains(h), "{h} had its shell open");
        assert_eq!(seen.reused.get(h), Some(&false), "{h}: a new session");
        assert!(
            seen.out(h).contains("\r42\r\n"),
            "{h} answered 42: {:?}",
            seen.out(h)
        );
        assert_eq!(seen.exit.get(h), Some(&ExitStatus::Code(3)), "{h}");
    }
    // The run folder holds each host's output stream.
    let run_dir = seen.run_dir.clone().expect("a run folder");
    for h in &names {
        let text = std::fs::read_to_string(run_dir.join(format!("{h}.out"))).expect("host.out");
        assert!(text.contains("\r42\r\n"), "{h}.out: {text:?}");
    }
    // The operation log: a shell job-start with operator and hosts, per host its result.
    let log = fleetdeck::oplog::read::read_path(&lab.tmp().join("oplog.jsonl")).expect("oplog");
    let start = log
        .records
        .iter()
        .find_map(|r| match r {
            fleetdeck::oplog::Record::JobStart(s) if s.job == job => Some(s),
            _ => None,
        })
        .expect("job-start record");
    assert_eq!(start.kind, "shell");
    assert!(!start.operator.is_empty());
    assert_eq!(start.hosts, names);
    assert_eq!(start.command, None, "nothing typed is recorded");
    let results: Vec<&fleetdeck::oplog::HostResult> = log
        .records
        .iter()
        .filter_map(|r| match r {
            fleetdeck::oplog::Record::HostResult(h) if h.job == job => Some(h),
            _ => None,
        })
        .collect();
    assert_eq!(results.len(), 3);
    for r in results {
        assert_eq!(r.exit_code, Some(3), "{}", r.host);
        assert!(r.bytes_out >= 4, "{}: bytes out {}", r.host, r.bytes_out);
        let started = r.started.expect("the session's start");
        assert!(started <= r.time, "start before end");
    }
}

#[test]
fn resize_sends_window_change_and_input_reaches_only_its_host() {
    let lab = common::lab(2);
    let (engine, mut rx) = Engine::new(lab.engine_config());
    let ts = targets(&lab);
    let (a, b) = (ts[0].name.to_string(), ts[1].name.to_string());
    let job = engine.submit(shell_job(ts, 64));
    let mut seen = Seen::default();
    wait(&mut rx, job, &mut seen, "both shells open", |s| {
        s.running.len() == 2
    });
    engine.shell_input(job, &a, b"stty size; echo SIZE_$((1+1))_SHOWN\r");
    wait(&mut rx, job, &mut seen, "first size", |s| {
        s.out(&a).contains("SIZE_2_SHOWN")
    });
    assert!(
        seen.out(&a).contains("24 80"),
        "the pty's first size: {:?}",
        seen.out(&a)
    );
    engine.shell_resize(job, &a, 100, 37);
    engine.shell_input(job, &a, b"stty size; echo ONLY_$((40+2)); exit\r");
    engine.shell_input(job, &b, b"exit 5\r");
    wait(&mut rx, job, &mut seen, "both shells end", |s| s.done);
    let out_a = seen.out(&a);
    assert!(out_a.contains("37 100"), "the new size: {out_a:?}");
    assert!(out_a.contains("ONLY_42"), "{out_a:?}");
    assert_eq!(seen.exit.get(&a), Some(&ExitStatus::Code(0)));
    let out_b = seen.out(&b);
    assert!(
        !out_b.contains("ONLY") && !out_b.contains("SIZE"),
        "{b} got another host's input: {out_b:?}"
    );
    assert_eq!(seen.exit.get(&b), Some(&ExitStatus::Code(5)));
    // Input for a shell that ended is dropped, with one line in the live log.
    engine.shell_input(job, &b, b"echo late\r");
}

#[test]
fn cancel_hangs_every_shell_up_and_the_sessions_are_reused() {
    let lab = common::lab(3);
    let (engine, mut rx) = Engine::new(lab.engine_config());
    let ts = targets(&lab);
    let names: Vec<String> = ts.iter().map(|t| t.name.to_string()).collect();
    let job = engine.submit(shell_job(ts.clone(), 64));
    for h in &names {
        engine.shell_input(job, h, b"echo $$ > shell.pid; echo PID_$((1))_KEPT\r");
    }
    let mut seen = Seen::default();
    wait(&mut rx, job, &mut seen, "pids written", |s| {
        names.iter().all(|h| s.out(h).contains("PID_1_KEPT"))
    });
    engine.cancel(job);
    wait(&mut rx, job, &mut seen, "cancelled", |s| s.done);
    for h in &names {
        assert_eq!(seen.failed.get(h), Some(&ErrorClass::Cancelled), "{h}");
    }
    assert_eq!(engine.stats().sessions_held, 3, "sessions kept");
    // The shells are gone on the hosts (hung up), and the next job reuses the sessions.
    let check = engine.submit(JobSpec {
        kind: JobKind::Exec(fleetdeck::engine::ExecSpec {
            command: "for i in 1 2 3 4 5 6 7 8 9 10; do kill -0 $(cat shell.pid) 2>/dev/null || exit 0; sleep 0.2; done; exit 1".into(),
            ..Default::default()
        }),
        targets: ts,
        fanout: 64,
        pattern: "all".into(),
    });
    let mut after = Seen::default();
    wait(&mut rx, check, &mut after, "exec after cancel", |s| s.done);
    for h in &names {
        assert_eq!(after.reused.get(h), Some(&true), "{h} reused its session");
        assert_eq!(
            after.exit.get(h),
            Some(&ExitStatus::Code(0)),
            "{h}: the shell was hung up"
        );
    }
    assert_eq!(engine.stats().sessions_opened_total, 3);
}

#[test]
fn typed_input_with_echo_off_reaches_neither_log_nor_run_folder() {
    let lab = common::lab(2);
    let (engine, mut rx) = Engine::new(with_records(&lab));
    let ts = targets(&lab);
    let names: Vec<String> = ts.iter().map(|t| t.name.to_string()).collect();
    let job = engine.submit(shell_job(ts, 64));
    for h in &names {
        engine.shell_input(
            job,
            h,
            b"stty -echo; echo READY_$((2+3)); read -r x; echo GOT_${#x}; exit\r",
        );
    }
    let mut seen = Seen::default();
    wait(&mut rx, job, &mut seen, "echo off", |s| {
        names.iter().all(|h| s.out(h).contains("READY_5"))
    });
    let secret = "hunter2-s3cr3t-XYZ";
    for h in &names {
        engine.shell_input(job, h, format!("{secret}\r").as_bytes());
    }
    wait(&mut rx, job, &mut seen, "shells end", |s| s.done);
    for h in &names {
        assert!(
            seen.out(h).contains(&format!("GOT_{}", secret.len())),
            "{h} read it: {:?}",
            seen.out(h)
        );
        assert_eq!(seen.exit.get(h), Some(&ExitStatus::Code(0)));
    }
    assert!(!seen.all.contains(secret), "typed secret in an event");
    let oplog = std::fs::read_to_string(lab.tmp().join("oplog.jsonl")).expect("oplog");
    assert!(oplog.contains("\"kind\":\"shell\""), "{oplog}");
    assert!(!oplog.contains(secret), "typed secret in the oplog");
    let run_dir = seen.run_dir.expect("run folder");
    let mut files = 0;
    for entry in std::fs::read_dir(&run_dir).expect("run folder") {
        let text = std::fs::read(entry.expect("entry").path()).expect("read");
        files += 1;
        assert!(
            !String::from_utf8_lossy(&text).contains(secret),
            "typed secret in the run folder"
        );
    }
    assert!(files >= names.len(), "every host's output was kept");
}

#[test]
fn a_hundred_hosts_at_fanout_8_all_get_shells_and_keys_echo_fast() {
    let lab = common::lab(100);
    let (engine, mut rx) = Engine::new(lab.engine_config());
    let ts = targets(&lab);
    let names: Vec<Arc<str>> = ts.iter().map(|t| t.name.clone()).collect();
    let opened = Instant::now();
    let job = engine.submit(shell_job(ts, 8));
    let mut seen = Seen::default();
    // Every shell stays open: none would exit before all 100 are open.
    wait(&mut rx, job, &mut seen, "100 shells open", |s| {
        s.running.len() == 100
    });
    let open_wall = opened.elapsed();
    // Wait for every prompt (output settles), then time a key to its echo on every host.
    wait(&mut rx, job, &mut seen, "prompts", |s| {
        names.iter().all(|h| !s.out(h).is_empty())
    });
    std::thread::sleep(Duration::from_millis(500));
    while rx.try_recv().is_ok() {}
    let mut lat = Vec::new();
    for round in 0..5 {
        let key = [b'a' + round];
        let before: HashMap<String, usize> = names
            .iter()
            .map(|h| {
                (
                    h.to_string(),
                    seen.out(h).matches(char::from(key[0])).count(),
                )
            })
            .collect();
        let sent = Instant::now();
        for h in &names {
            engine.shell_input(job, h, &key);
        }
        let mut echoed: HashMap<String, Duration> = HashMap::new();
        wait(&mut rx, job, &mut seen, "echo", |s| {
            for h in &names {
                if !echoed.contains_key(&**h)
                    && s.out(h).matches(char::from(key[0])).count() > before[&**h]
                {
                    echoed.insert(h.to_string(), sent.elapsed());
                }
            }
            echoed.len() == names.len()
        });
        lat.extend(echoed.into_values());
    }
    lat.sort();
    let p50 = lat[lat.len() / 2];
    let p95 = lat[lat.len() * 95 / 100];
    let max = lat[lat.len() - 1];
    eprintln!(
        "100 shells open (fanout 8) in {open_wall:?}; key to echo over 100 hosts: p50 {p50:?}, p95 {p95:?}, max {max:?}"
    );
    for h in &names {
        engine.shell_input(job, h, b"\x15exit 7\r");
    }
    wait(&mut rx, job, &mut seen, "100 shells end", |s| s.done);
    for h in &names {
        assert_eq!(seen.exit.get(&**h), Some(&ExitStatus::Code(7)), "{h}");
    }
    assert!(
        p50 < Duration::from_millis(100),
        "key to echo p50 {p50:?} (target < 50 ms)"
    );
}

#[test]
fn the_shell_command_line_explains_itself_and_refuses_a_pattern_selecting_nothing() {
    let tmp = tempfile::tempdir().expect("tmp");
    let help = common::fleetdeck(tmp.path())
        .args(["shell", "--help"])
        .output()
        .expect("run fleetdeck");
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(text.contains("PATTERN"), "{text}");
    assert!(text.contains("shell"), "{text}");
    let inv = tmp.path().join("inventory.yaml");
    std::fs::write(&inv, "all:\n  hosts:\n    web01:\n    web02:\n").expect("write inventory");
    let go = |pattern: &str| {
        let out = common::fleetdeck(tmp.path())
            .arg("-i")
            .arg(&inv)
            .args(["shell", pattern])
            .output()
            .expect("run fleetdeck");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, err) = go("nomatch");
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("fleetdeck shell: unknown host or group \"nomatch\""),
        "a clear message: {err}"
    );
    // A valid pattern whose intersection is empty.
    let (code, err) = go("web01:&web02");
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("pattern \"web01:&web02\" selects no host in"),
        "a clear message: {err}"
    );
}
