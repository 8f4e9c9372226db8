//! Engine figures against a lab fleet (not timed assertions: run by hand with
//! `cargo test --release --test engine_perf -- --ignored --nocapture`):
//! cold `true` on 10 and 100 hosts, warm `true` on 100 held sessions, `seq 1 20000` on 100,
//! the engine's CPU per new connection and its memory per held session.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use fleetdeck::engine::{
    Engine, EngineConfig, Event, EventReceiver, ExecSpec, HostKeyPolicy, JobId, JobKind, JobSpec,
    NoPrompter, Target,
};

fn wait_done(rx: &mut EventReceiver, job: JobId) -> (usize, usize) {
    loop {
        match rx.blocking_recv().expect("events") {
            Event::JobDone {
                job: j, ok, failed, ..
            } if j == job => return (ok, failed),
            _ => {}
        }
    }
}

fn targets(lab: &common::TestLab, n: usize) -> Vec<Target> {
    (0..n)
        .map(|i| lab.target(i, Duration::from_secs(10)))
        .collect()
}

fn engine(lab: &common::TestLab) -> (Engine, EventReceiver) {
    Engine::new(EngineConfig {
        host_key_policy: HostKeyPolicy::Strict,
        known_hosts: vec![lab.known_hosts_path()],
        idle_timeout: Duration::from_secs(300),
        keepalive: Duration::from_secs(30),
        runs_dir: Some(lab.tmp().join("runs")),
        oplog: Some(lab.tmp().join("oplog.jsonl")),
        prompter: Arc::new(NoPrompter),
    })
}

fn job(command: &str, targets: Vec<Target>) -> JobSpec {
    JobSpec {
        kind: JobKind::Exec(ExecSpec {
            command: command.into(),
            ..ExecSpec::default()
        }),
        fanout: targets.len().max(1),
        targets,
        pattern: "perf".into(),
    }
}

fn timed(e: &Engine, rx: &mut EventReceiver, spec: JobSpec) -> Duration {
    let n = spec.targets.len();
    let t = Instant::now();
    let id = e.submit(spec);
    let (ok, failed) = wait_done(rx, id);
    let d = t.elapsed();
    assert_eq!((ok, failed), (n, 0));
    d
}

fn cpu_time() -> Duration {
    let mut ru = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given.
    #[allow(unsafe_code)]
    let ru = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, ru.as_mut_ptr());
        ru.assume_init()
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").expect("status");
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("VmRSS")
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[test]
#[ignore = "measurement, run by hand"]
fn engine_figures() {
    let hosts: usize = std::env::var("FLEETDECK_PERF_HOSTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let lab = common::lab(hosts);
    // Warm up the sshds' page cache.
    {
        let (e, mut rx) = engine(&lab);
        timed(&e, &mut rx, job("true", targets(&lab, hosts)));
    }
    let mut cold10 = Vec::new();
    for _ in 0..5 {
        let (e, mut rx) = engine(&lab);
        cold10.push(timed(&e, &mut rx, job("true", targets(&lab, 10))));
    }
    let mut cold = Vec::new();
    let mut warm = Vec::new();
    let mut seq = Vec::new();
    let mut cpu_per_conn = Vec::new();
    let mut rss_per_session = Vec::new();
    let mut warm_cpu = Vec::new();
    for _ in 0..3 {
        let rss0 = rss_kib();
        let (e, mut rx) = engine(&lab);
        let cpu0 = cpu_time();
        cold.push(timed(&e, &mut rx, job("true", targets(&lab, hosts))));
        cpu_per_conn.push(cpu_time().saturating_sub(cpu0) / hosts as u32);
        assert_eq!(e.stats().sessions_held, hosts);
        rss_per_session.push((rss_kib().saturating_sub(rss0)) as f64 / hosts as f64);
        let cpu1 = cpu_time();
        warm.push(timed(&e, &mut rx, job("true", targets(&lab, hosts))));
        warm_cpu.push(cpu_time().saturating_sub(cpu1));
        seq.push(timed(&e, &mut rx, job("seq 1 20000", targets(&lab, hosts))));
        assert_eq!(e.stats().tcp_connects_total, hosts as u64);
        e.shutdown();
    }
    let mut seq_cold = Vec::new();
    for _ in 0..3 {
        let (e, mut rx) = engine(&lab);
        seq_cold.push(timed(&e, &mut rx, job("seq 1 20000", targets(&lab, hosts))));
    }
    eprintln!(
        "cold true, 10 hosts: median {:?} of {cold10:?}",
        median(cold10.clone())
    );
    eprintln!(
        "cold true, {hosts} hosts: median {:?} of {cold:?}",
        median(cold.clone())
    );
    eprintln!(
        "warm true, {hosts} hosts: median {:?} of {warm:?}",
        median(warm.clone())
    );
    eprintln!(
        "warm seq 1 20000, {hosts} hosts: median {:?} of {seq:?}",
        median(seq.clone())
    );
    eprintln!(
        "cold seq 1 20000, {hosts} hosts: median {:?} of {seq_cold:?}",
        median(seq_cold.clone())
    );
    eprintln!("engine CPU for a warm job on {hosts} hosts: {warm_cpu:?}");
    eprintln!("engine CPU per new connection: {cpu_per_conn:?}");
    eprintln!("engine RSS per held session (KiB): {rss_per_session:?}");
}
