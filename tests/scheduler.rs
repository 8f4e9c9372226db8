//! The scheduler's fanout queue: at most `fanout` hosts of a job connect or run at once, in
//! target order; a queued host costs no thread; cancel fails the queued hosts at once.

mod common;

use common::events::{collect_with, collect_within};

use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fleetdeck::engine::{
    Engine, EngineConfig, ErrorClass, Event, ExecSpec, HostKeyPolicy, JobKind, JobSpec, NoPrompter,
    Target,
};
use fleetdeck::inventory::ConnSettings;

fn exec(command: &str, targets: Vec<Target>, fanout: usize) -> JobSpec {
    JobSpec {
        kind: JobKind::Exec(ExecSpec {
            command: command.into(),
            ..ExecSpec::default()
        }),
        targets,
        fanout,
        pattern: "all".into(),
    }
}

/// Threads of this process in total and engine host workers among them (the other test of
/// this binary runs beside this one, so only totals minus its workers are compared).
fn threads_of_this_process() -> (usize, usize) {
    let tasks: Vec<_> = std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .flatten()
        .collect();
    let workers = tasks
        .iter()
        .filter(|t| {
            std::fs::read_to_string(t.path().join("comm"))
                .is_ok_and(|c| c.trim() == "fleetdeck-host")
        })
        .count();
    (tasks.len(), workers)
}

/// 1,000 targets on a port that accepts TCP and never speaks SSH, behind fanout 4: four
/// hosts wait in their handshakes, the other 996 wait in the queue without a thread each.
/// Cancel fails all of them at once; the queued ones say they never started.
#[test]
fn a_thousand_queued_hosts_cost_no_thread_and_cancel_fails_them_at_once() {
    let silent = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = silent.local_addr().expect("addr").port();
    let targets: Vec<Target> = (0..1000)
        .map(|i| Target {
            name: Arc::from(format!("silent{i:04}").as_str()),
            conn: ConnSettings {
                address: "127.0.0.1".into(),
                port,
                user: "nobody".into(),
                identity_files: vec![],
                jump: vec![],
                proxy_command: None,
                connect_timeout: Duration::from_secs(60),
                ..ConnSettings::default()
            },
            jump: vec![],
            become_: None,
        })
        .collect();
    let (engine, mut rx) = Engine::new(EngineConfig {
        host_key_policy: HostKeyPolicy::Strict,
        known_hosts: vec![],
        idle_timeout: Duration::from_secs(60),
        keepalive: Duration::from_secs(15),
        runs_dir: None,
        oplog: None,
        prompter: Arc::new(NoPrompter),
    });
    let before = threads_of_this_process();
    let submitted = Instant::now();
    let job = engine.submit(exec("true", targets, 4));
    assert!(
        submitted.elapsed() < Duration::from_secs(1),
        "submit of 1,000 hosts took {:?}",
        submitted.elapsed()
    );
    let mut connecting = Vec::new();
    let mut threads_seen = (0, 0);
    let mut cancelled = false;
    let engine2 = engine.clone();
    let run = collect_with(&mut rx, job, Duration::from_secs(60), |ev, _| {
        if let Event::Connecting { host, .. } = ev {
            connecting.push(host.to_string());
            if connecting.len() == 4 && !cancelled {
                // Give a fifth host a chance to start, wrongly.
                std::thread::sleep(Duration::from_millis(300));
                threads_seen = threads_of_this_process();
                assert_eq!(engine2.stats().workers, 4);
                cancelled = true;
                engine2.cancel(job);
            }
        }
    });
    assert!(cancelled, "four hosts never started connecting");
    // Workers announce concurrently: the order among the running four may vary.
    connecting.sort();
    assert_eq!(
        connecting,
        ["silent0000", "silent0001", "silent0002", "silent0003"],
        "the first four targets, and no other host started"
    );
    // The test binary's own threads come and go; this job's workers are 4 of the process's
    // host workers, and no other thread per host exists.
    let (total, workers) = threads_seen;
    assert!(
        total < before.0 + 4 + 20 && workers < 4 + 20,
        "{total} threads ({workers} host workers) with 4 hosts connecting (before: {before:?})"
    );
    assert_eq!((run.ok, run.failed), (0, 1000));
    let never_started = run
        .hosts
        .values()
        .filter(|h| {
            matches!(&h.failed, Some((ErrorClass::Cancelled, m)) if m == "cancelled before it started")
        })
        .count();
    assert_eq!(never_started, 996);
    assert!(run
        .hosts
        .values()
        .all(|h| matches!(h.failed, Some((ErrorClass::Cancelled, _)))));
    assert!(
        run.wall < Duration::from_secs(10),
        "cancel took {:?}",
        run.wall
    );
    engine.shutdown();
    assert_eq!(engine.stats().workers, 0);
    drop(silent);
}

/// 12 lab hosts behind fanout 3, each sleeping: never more than three run at once, they start
/// in target order, and every host finishes.
#[test]
fn fanout_is_respected_and_hosts_start_in_target_order() {
    let lab = common::lab(12);
    let targets: Vec<Target> = (0..12)
        .map(|i| lab.target(i, Duration::from_secs(10)))
        .collect();
    let names: Vec<String> = targets.iter().map(|t| t.name.to_string()).collect();
    let (engine, mut rx) = Engine::new(lab.engine_config());
    let job = engine.submit(exec("sleep 0.2", targets, 3));
    let mut order = Vec::new();
    let (mut running, mut most) = (0usize, 0usize);
    let run = collect_with(&mut rx, job, Duration::from_secs(120), |ev, _| match ev {
        Event::Connecting { host, .. } => {
            order.push(host.to_string());
            running += 1;
            most = most.max(running);
        }
        Event::Finished { .. } | Event::Failed { .. } => running -= 1,
        _ => {}
    });
    assert_eq!(run.ok, 12, "{:?}", run.hosts);
    // Hosts are admitted in target order; the running ones announce themselves concurrently,
    // so a host may be seen up to `fanout - 1` places from its own.
    assert_eq!(order.len(), 12);
    for (seen, host) in order.iter().enumerate() {
        let at = names.iter().position(|n| n == host).expect("a target");
        assert!(seen.abs_diff(at) < 3, "{host} seen {seen}th: {order:?}");
    }
    assert_eq!(
        most, 3,
        "at most fanout hosts at once, and all of them used"
    );
    // A second job reuses the held sessions, still three at a time.
    let job = engine.submit(exec(
        "true",
        (0..12)
            .map(|i| lab.target(i, Duration::from_secs(10)))
            .collect(),
        3,
    ));
    let run = collect_within(&mut rx, job, Duration::from_secs(60));
    assert_eq!(run.ok, 12);
    assert!(run.hosts.values().all(|h| h.reused == Some(true)));
    engine.shutdown();
}
