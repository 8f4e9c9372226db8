//! The scale part of the fleet benchmark (issue 14): a big, half-hashed known_hosts like a
//! Debian operator's, the curve of client CPU per host at 10/100/600/2,000 hosts, 10,000
//! targets of which all but the lab's refuse, and warm commands on 100 and on every held
//! session. Included by `fleet.rs`; its figures go into the same markdown.

use std::fmt::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use fleetdeck::engine::{
    Engine, EngineConfig, ErrorClass, Event, EventReceiver, ExecSpec, HostKeyPolicy, JobKind,
    JobSpec, NoPrompter, Target,
};
use hmac::{Hmac, Mac};
use sha1::Sha1;

/// Host counts of the CPU-per-host curve (those up to the lab's size are run).
pub const CURVE: [usize; 4] = [10, 100, 600, 2000];

/// Writes `lines` known_hosts lines for hosts that are not in the lab, every other one hashed
/// (`|1|salt|hmac`, as `HashKnownHosts yes` writes them), then the lab's own entries from
/// `lab_known_hosts` last, so that every lookup has the whole file to consider.
pub fn big_known_hosts(path: &Path, lines: usize, lab_known_hosts: &Path) {
    let mut text = String::with_capacity(lines * 120);
    let _ = writeln!(text, "# {lines} generated lines, half of them hashed");
    for i in 0..lines {
        let host = format!("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255);
        let mut key = b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20".to_vec();
        key.extend((0..32u8).map(|b| b.wrapping_mul(7).wrapping_add(i as u8)));
        let key = STANDARD.encode(key);
        if i % 2 == 0 {
            let salt: Vec<u8> = (0..20u8).map(|b| b ^ (i as u8)).collect();
            let mut mac = Hmac::<Sha1>::new_from_slice(&salt).expect("any key length");
            mac.update(host.as_bytes());
            let _ = writeln!(
                text,
                "|1|{}|{} ssh-ed25519 {key}",
                STANDARD.encode(&salt),
                STANDARD.encode(mac.finalize().into_bytes())
            );
        } else {
            let _ = writeln!(text, "{host} ssh-ed25519 {key}");
        }
    }
    text.push_str(&std::fs::read_to_string(lab_known_hosts).expect("lab known_hosts"));
    std::fs::write(path, text).expect("write big known_hosts");
}

fn config(known_hosts: Vec<PathBuf>) -> EngineConfig {
    EngineConfig {
        host_key_policy: HostKeyPolicy::Strict,
        known_hosts,
        idle_timeout: Duration::from_secs(600),
        keepalive: Duration::from_secs(30),
        runs_dir: None,
        oplog: None,
        prompter: Arc::new(NoPrompter),
    }
}

/// Runs `command` on `targets` at `fanout`; returns wall time, hosts ok and hosts refused.
fn job(
    engine: &Engine,
    rx: &mut EventReceiver,
    targets: &[Target],
    command: &str,
    fanout: usize,
) -> (Duration, usize, usize) {
    let t0 = Instant::now();
    let id = engine.submit(JobSpec {
        kind: JobKind::Exec(ExecSpec {
            command: command.to_string(),
            ..ExecSpec::default()
        }),
        targets: targets.to_vec(),
        fanout,
        pattern: "bench".into(),
    });
    let mut refused = 0;
    loop {
        match rx.blocking_recv() {
            Some(Event::Failed {
                job,
                class: ErrorClass::Refused,
                ..
            }) if job == id => refused += 1,
            Some(Event::JobDone { job, ok, .. }) if job == id => {
                return (t0.elapsed(), ok, refused)
            }
            Some(_) => {}
            None => panic!("engine event channel closed"),
        }
    }
}

/// 10,000 targets: the lab's hosts first, then as many refusing ones (closed ports) as make
/// 10,000, at fanout 64 in a fresh engine. Wall time and this process's CPU.
pub fn refused(
    md: &mut String,
    targets: &[Target],
    known_hosts: Vec<PathBuf>,
    cpu: fn() -> Duration,
) {
    let mut closed = Vec::new();
    for _ in 0..16 {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        closed.push(l.local_addr().expect("addr").port());
    }
    let mut all: Vec<Target> = targets.iter().take(100).cloned().collect();
    let live = all.len();
    let template = all[0].clone();
    for i in live..10_000 {
        let mut t = template.clone();
        t.name = Arc::from(format!("refused{i:05}").as_str());
        t.conn.port = closed[i % closed.len()];
        all.push(t);
    }
    let (engine, mut rx) = Engine::new(config(known_hosts));
    let cpu0 = cpu();
    let (wall, ok, refused) = job(&engine, &mut rx, &all, "true", 64);
    let used = cpu().saturating_sub(cpu0);
    engine.shutdown();
    let _ = writeln!(
        md,
        "| 10,000 targets, {} refuse, fanout 64 (target ≤ 3 s wall, ≤ 2 s CPU) | {:.2} s wall, {:.2} s CPU ({ok} ok, {refused} refused) |",
        10_000 - live,
        wall.as_secs_f64(),
        used.as_secs_f64()
    );
}

/// Warm `true` on the first 100 held sessions and on all of them (median of `runs`), with
/// the machine's CPU floor over those runs (busy time of every process, the lab's sshds and
/// the shells they start included, ÷ cores) and this process's share of it: a warm command
/// costs the hosts a fork of sshd and a shell each, which on a lab sharing the client's cores
/// bounds the wall time from below whatever the client does.
pub fn warm(
    md: &mut String,
    engine: &Engine,
    rx: &mut EventReceiver,
    targets: &[Target],
    runs: usize,
    cpu: fn() -> Duration,
) {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get) as f64;
    for n in [100.min(targets.len()), targets.len()] {
        let runs = runs.max(3);
        let (busy0, cpu0) = (machine_busy(), cpu());
        let mut walls: Vec<Duration> = (0..runs)
            .map(|_| job(engine, rx, &targets[..n], "true", n).0)
            .collect();
        let per_run = |d: Duration| d.as_secs_f64() / runs as f64;
        let floor = per_run(machine_busy().saturating_sub(busy0)) / cores;
        let own = per_run(cpu().saturating_sub(cpu0));
        walls.sort();
        let target = if n <= 100 {
            "< 150 ms"
        } else {
            "< 1.5 s at 2,000"
        };
        let _ = writeln!(
            md,
            "| warm `true` on {n} held sessions, fanout {n} (median; target {target}) | {:.3} s (machine CPU floor {floor:.3} s, of which fleetdeck {:.3} s ÷ {cores} cores) |",
            walls[walls.len() / 2].as_secs_f64(),
            own / cores
        );
        if n == targets.len() {
            break;
        }
    }
}

/// Busy CPU time of the whole machine since boot (every core, /proc/stat), to compare a run's
/// wall time with its CPU floor: the work of fleetdeck and of the lab's sshds spread over
/// every core.
pub fn machine_busy() -> Duration {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: u64 = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .enumerate()
        // user nice system idle iowait irq softirq steal: all but idle and iowait
        .filter(|(i, _)| *i != 3 && *i != 4 && *i < 8)
        .filter_map(|(_, v)| v.parse::<u64>().ok())
        .sum();
    Duration::from_millis(ticks * 10)
}

/// parallel-ssh over warm OpenSSH ControlMaster sockets (the kept-session peer): a first run
/// opens the masters, then `runs` timed runs of `true` go through them. Returns the median wall.
pub fn pssh_controlmaster(
    hostfile: &Path,
    ssh_config: &Path,
    cm_dir: &Path,
    fanout: usize,
    runs: usize,
) -> Option<Duration> {
    std::fs::create_dir_all(cm_dir).ok()?;
    let ssh_x = format!(
        "-F {} -o ControlMaster=auto -o ControlPersist=900 -o ControlPath={}/%C",
        ssh_config.display(),
        cm_dir.display()
    );
    let run = |fanout: usize| {
        let t0 = Instant::now();
        let ok = std::process::Command::new("parallel-ssh")
            .arg("-h")
            .arg(hostfile)
            .args(["-p", &fanout.to_string(), "-t", "0", "-x", &ssh_x, "true"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| t0.elapsed())
    };
    // The masters are opened at fanout 64 (thousands of handshakes at once would only thrash).
    let primed = run(fanout.min(64));
    let mut walls: Vec<Duration> = (0..runs.max(3)).filter_map(|_| run(fanout)).collect();
    walls.sort();
    primed?;
    walls.get(walls.len() / 2).copied()
}

/// Ends the ControlMaster processes [`pssh_controlmaster`] left behind.
pub fn stop_controlmasters(cm_dir: &Path) {
    let _ = std::process::Command::new("pkill")
        .arg("-f")
        .arg(format!("ControlPath={}", cm_dir.display()))
        .status();
    let _ = std::fs::remove_dir_all(cm_dir);
}
