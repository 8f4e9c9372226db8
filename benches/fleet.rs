//! Side-by-side benchmark: fleetdeck against its peers (parallel-ssh, clush, pdsh, scp,
//! parallel-scp) on one local lab fleet, in one run, alternating tools and reporting medians
//! and ratios. Not a timed test: run it by hand (`scripts/bench`), read BENCHMARKS.md.
//!
//! `cargo bench --bench fleet -- [--hosts N] [--runs R] [--quick] [--no-transfer]
//! [--known-hosts-lines L] [--big-mb MB] [--transfer-only] [--broadcast-only]` (L generated known_hosts lines, half hashed, read by every
//! fleetdeck run and the in-process engine; 0 for the lab's file alone)

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fleetdeck::engine::{
    resolve_targets, Engine, EngineConfig, Event, ExecSpec, HostKeyPolicy, JobKind, JobSpec,
    NoPrompter,
};
use fleetdeck::inventory::Inventory;
use fleetdeck::lab::{Lab, LabOptions};
use nix::sys::resource::{getrusage, UsageWho};

#[path = "fleet_scale.rs"]
mod scale;

#[path = "fleet_broadcast.rs"]
mod broadcast;

struct Opts {
    hosts: usize,
    runs: usize,
    transfer: bool,
    big_mb: usize,
    known_hosts_lines: usize,
    /// Only the transfer cases (`--transfer-only`).
    transfer_only: bool,
    /// Only the broadcast case (`--broadcast-only`).
    broadcast_only: bool,
}

fn parse_opts() -> Opts {
    let mut o = Opts {
        hosts: 100,
        runs: 5,
        transfer: true,
        big_mb: 300,
        known_hosts_lines: 5000,
        transfer_only: false,
        broadcast_only: false,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--hosts" => {
                i += 1;
                o.hosts = args[i].parse().expect("--hosts N");
            }
            "--runs" => {
                i += 1;
                o.runs = args[i].parse().expect("--runs R");
            }
            "--big-mb" => {
                i += 1;
                o.big_mb = args[i].parse().expect("--big-mb MB");
            }
            "--quick" => {
                o.runs = 3;
                o.big_mb = 100;
            }
            "--no-transfer" => o.transfer = false,
            "--transfer-only" => o.transfer_only = true,
            "--broadcast-only" => o.broadcast_only = true,
            "--known-hosts-lines" => {
                i += 1;
                o.known_hosts_lines = args[i].parse().expect("--known-hosts-lines L");
            }
            _ => {} // cargo passes --bench
        }
        i += 1;
    }
    o
}

/// Wall time and CPU of waited-for children for one command.
#[derive(Clone, Copy)]
struct Sample {
    wall: Duration,
    cpu: Duration,
    ok: bool,
}

fn children_cpu() -> Duration {
    let u = getrusage(UsageWho::RUSAGE_CHILDREN).expect("getrusage");
    tv(u.user_time()) + tv(u.system_time())
}

fn self_cpu() -> Duration {
    let u = getrusage(UsageWho::RUSAGE_SELF).expect("getrusage");
    tv(u.user_time()) + tv(u.system_time())
}

fn tv(t: nix::sys::time::TimeVal) -> Duration {
    Duration::from_secs(t.tv_sec() as u64) + Duration::from_micros(t.tv_usec() as u64)
}

fn run_cmd(cmd: &mut Command) -> Sample {
    let cpu0 = children_cpu();
    let t0 = Instant::now();
    let status = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .stdin(Stdio::null())
        .status()
        .expect("spawn benchmark command");
    Sample {
        wall: t0.elapsed(),
        cpu: children_cpu().saturating_sub(cpu0),
        ok: status.success(),
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// One command line to time: a program, its arguments and environment, and a path to remove
/// before each run (so that a fetch always starts from nothing).
struct Tool {
    name: String,
    program: PathBuf,
    args: Vec<std::ffi::OsString>,
    env: Vec<(&'static str, std::ffi::OsString)>,
    clean: Option<PathBuf>,
    /// Run before each timed run (not timed): reset what the command finds.
    before: Option<Box<dyn Fn()>>,
    /// Run after each timed run (not timed): whether the command really did its work.
    check: Option<Box<dyn Fn() -> bool>>,
}

impl Tool {
    fn new(name: impl Into<String>, program: impl Into<PathBuf>) -> Tool {
        Tool {
            name: name.into(),
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
            clean: None,
            before: None,
            check: None,
        }
    }

    /// fleetdeck with its state in `state`, no ssh_config, and `-i inventory` after `sub`.
    fn fleetdeck(name: impl Into<String>, bin: &Path, state: &Path, sub: &str, inv: &Path) -> Tool {
        Tool::new(name, bin)
            .env("FLEETDECK_STATE_DIR", state)
            .env("FLEETDECK_SSH_CONFIG", "")
            .args([sub, "-i"])
            .arg(inv)
    }

    fn arg(mut self, a: impl AsRef<std::ffi::OsStr>) -> Tool {
        self.args.push(a.as_ref().to_os_string());
        self
    }

    fn args<I: IntoIterator<Item = S>, S: AsRef<std::ffi::OsStr>>(mut self, a: I) -> Tool {
        self.args
            .extend(a.into_iter().map(|x| x.as_ref().to_os_string()));
        self
    }

    fn env(mut self, k: &'static str, v: impl AsRef<std::ffi::OsStr>) -> Tool {
        self.env.push((k, v.as_ref().to_os_string()));
        self
    }

    fn clean(mut self, p: PathBuf) -> Tool {
        self.clean = Some(p);
        self
    }

    fn before(mut self, f: impl Fn() + 'static) -> Tool {
        self.before = Some(Box::new(f));
        self
    }

    fn check(mut self, f: impl Fn() -> bool + 'static) -> Tool {
        self.check = Some(Box::new(f));
        self
    }

    fn command(&self) -> Command {
        if let Some(f) = &self.before {
            f();
        }
        if let Some(p) = &self.clean {
            let _ = std::fs::remove_dir_all(p);
            let _ = std::fs::remove_file(p);
        }
        let mut c = Command::new(&self.program);
        c.args(&self.args);
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }
}

struct Row {
    name: String,
    wall: Duration,
    cpu: Duration,
    failures: usize,
}

/// Runs every tool `runs` times, alternating, and returns medians.
fn compare(runs: usize, tools: &[Tool]) -> Vec<Row> {
    let mut walls: Vec<Vec<Duration>> = vec![Vec::new(); tools.len()];
    let mut cpus: Vec<Vec<Duration>> = vec![Vec::new(); tools.len()];
    let mut fails = vec![0usize; tools.len()];
    for _ in 0..runs {
        for (i, t) in tools.iter().enumerate() {
            let s = run_cmd(&mut t.command());
            walls[i].push(s.wall);
            cpus[i].push(s.cpu);
            let did_it = t.check.as_ref().map_or(true, |c| c());
            if !s.ok || !did_it {
                fails[i] += 1;
            }
        }
    }
    tools
        .iter()
        .enumerate()
        .map(|(i, t)| Row {
            name: t.name.clone(),
            wall: median(walls[i].clone()),
            cpu: median(cpus[i].clone()),
            failures: fails[i],
        })
        .collect()
}

fn table(out: &mut String, title: &str, rows: &[Row]) {
    let base = rows[0].wall.as_secs_f64();
    let _ = writeln!(out, "\n### {title}\n");
    let _ = writeln!(
        out,
        "| tool | median wall | median CPU (all processes) | peer ÷ fleetdeck | failed runs |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|");
    for r in rows {
        let _ = writeln!(
            out,
            "| {} | {:.3} s | {:.3} s | {:.2}× | {} |",
            r.name,
            r.wall.as_secs_f64(),
            r.cpu.as_secs_f64(),
            r.wall.as_secs_f64() / base,
            r.failures
        );
    }
    print!(
        "{}",
        out.rsplit("\n### ")
            .next()
            .map(|s| format!("\n### {s}"))
            .unwrap_or_default()
    );
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// Runs `command` on every target in-process and waits for `JobDone`.
fn engine_job(
    engine: &Engine,
    rx: &mut fleetdeck::engine::EventReceiver,
    targets: &[fleetdeck::engine::Target],
    command: &str,
    fanout: usize,
) -> (Duration, usize) {
    let t0 = Instant::now();
    let job = engine.submit(JobSpec {
        kind: JobKind::Exec(ExecSpec {
            command: command.to_string(),
            ..ExecSpec::default()
        }),
        targets: targets.to_vec(),
        fanout,
        pattern: "bench".into(),
    });
    loop {
        match rx.blocking_recv() {
            Some(Event::JobDone { job: j, ok, .. }) if j == job => return (t0.elapsed(), ok),
            Some(_) => {}
            None => panic!("engine event channel closed"),
        }
    }
}

fn main() {
    let o = parse_opts();
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_fleetdeck"));
    let tmp = tempfile::Builder::new()
        .prefix("fleetdeck-bench-")
        .tempdir()
        .expect("tempdir");
    let dir = tmp.path().join("lab");
    let t0 = Instant::now();
    let lab = Lab::up(&LabOptions {
        hosts: o.hosts,
        dir: dir.clone(),
        base_port: None,
    })
    .unwrap_or_else(|e| panic!("cannot start the lab: {e}"));
    eprintln!(
        "lab of {} hosts up in {:.1} s",
        o.hosts,
        t0.elapsed().as_secs_f64()
    );
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        bench(&o, &bin, &lab, tmp.path());
    }));
    let _ = Lab::down(&dir);
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

fn bench(o: &Opts, bin: &Path, lab: &Lab, tmp: &Path) {
    let state = tmp.join("state");
    let inv_path = lab.inventory_path();
    let cfg = lab.ssh_config_path();
    let names: Vec<String> = lab.hosts().iter().map(|h| h.name.clone()).collect();
    let mut md = String::new();
    // The operator's known_hosts (`--known-hosts`), big and half hashed, besides the lab's.
    let big_kh = tmp.join("known_hosts_big");
    let kh_args: Vec<String> = if o.known_hosts_lines > 0 {
        scale::big_known_hosts(&big_kh, o.known_hosts_lines, &lab.known_hosts_path());
        vec!["--known-hosts".into(), big_kh.display().to_string()]
    } else {
        Vec::new()
    };
    let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    let _ = writeln!(
        md,
        "## Run of {} on {} cores ({cpu_model}), {} lab hosts, {} alternated runs per tool, \
         known_hosts of {} generated lines (half hashed) + the lab's\n",
        chrono::Local::now().format("%Y-%m-%d %H:%M %Z"),
        std::thread::available_parallelism().map_or(0, std::num::NonZero::get),
        o.hosts,
        o.runs,
        o.known_hosts_lines
    );
    if o.transfer_only {
        transfers(o, bin, lab, tmp, &mut md);
        write_report(tmp, &md);
        return;
    }
    if o.broadcast_only {
        broadcast::broadcast(bin, lab, tmp, o.runs, &mut md);
        write_report(tmp, &md);
        return;
    }
    cpu_curve(o, bin, &state, &inv_path, &names, &kh_args, &mut md);

    // Past 100 hosts, every tool runs at fanout 64 (what operators use on big fleets), once,
    // and only parallel-ssh is the peer (clush and pdsh take minutes each there).
    let mut sizes = vec![10usize.min(o.hosts), 100.min(o.hosts), o.hosts];
    sizes.dedup();
    for n in sizes {
        let big = n > 100;
        let subset = &names[..n];
        let hostfile = tmp.join(format!("hosts{n}"));
        std::fs::write(&hostfile, subset.join("\n") + "\n").expect("write hosts file");
        let list = subset.join(",");
        for (label, command) in [("true", "true"), ("seq 1 20000", "seq 1 20000")] {
            if n != 100.min(o.hosts) && command != "true" {
                continue;
            }
            let fanout = if big { "64".to_string() } else { n.to_string() };
            let ssh_f = format!("-F {}", cfg.display());
            let mut tools = vec![Tool::fleetdeck(
                format!("fleetdeck run --fanout {fanout}"),
                bin,
                &state,
                "run",
                &inv_path,
            )
            .arg(&list)
            .args(&kh_args)
            .args(["--fanout", &fanout, "--output", "inline", "--", command])];
            if have("parallel-ssh") {
                tools.push(
                    Tool::new(format!("parallel-ssh -p {fanout}"), "parallel-ssh")
                        .arg("-h")
                        .arg(&hostfile)
                        .args(["-p", &fanout, "-t", "0", "-x", &ssh_f, "-i", command]),
                );
            }
            if have("clush") && !big {
                tools.push(
                    Tool::new(format!("clush -f {n}"), "clush")
                        .args(["-f", &fanout, "-w", &list, "-o", &ssh_f, command]),
                );
            }
            if have("pdsh") && !big {
                tools.push(
                    Tool::new(format!("pdsh -f {n}"), "pdsh")
                        .env("PDSH_RCMD_TYPE", "ssh")
                        .env("PDSH_SSH_ARGS_APPEND", &ssh_f)
                        .args(["-f", &fanout, "-w", &list, command]),
                );
            }
            let busy0 = scale::machine_busy();
            let rows = compare(if big { 1 } else { o.runs }, &tools);
            let busy = scale::machine_busy().saturating_sub(busy0);
            table(
                &mut md,
                &format!("Cold `{label}` on {n} hosts, fanout {fanout} (new process each run)"),
                &rows,
            );
            if big {
                // One run of each tool: fleetdeck's share of the machine's busy time is its
                // own CPU plus the sshds' for the same hosts; the floor is that over the cores.
                let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
                let _ = writeln!(
                    md,
                    "\nmachine busy during both runs: {:.1} s on {cores} cores",
                    busy.as_secs_f64()
                );
            }
            if label == "true" {
                let per_conn = rows[0].cpu.as_secs_f64() * 1000.0 / n as f64;
                let _ = writeln!(
                    md,
                    "\nfleetdeck process CPU per new connection (whole CLI process ÷ hosts): {per_conn:.2} ms"
                );
            }
        }
    }

    // Warm: kept sessions, in-process, through the engine API the console uses.
    let inv = Inventory::load(&inv_path).expect("load lab inventory");
    let ids: Vec<usize> = (0..inv.hosts.len()).collect();
    let targets = resolve_targets(&inv, &ids).expect("targets");
    let mut known_hosts = inv.known_hosts.clone();
    if o.known_hosts_lines > 0 {
        known_hosts.insert(0, big_kh.clone());
    }
    let (engine, mut rx) = Engine::new(EngineConfig {
        host_key_policy: HostKeyPolicy::Strict,
        known_hosts: known_hosts.clone(),
        idle_timeout: Duration::from_secs(600),
        keepalive: Duration::from_secs(30),
        runs_dir: None,
        oplog: None,
        prompter: Arc::new(NoPrompter),
    });
    let rss0 = rss_kib();
    let cpu0 = self_cpu();
    let (cold, ok) = engine_job(&engine, &mut rx, &targets, "true", 64);
    let cpu_cold = self_cpu().saturating_sub(cpu0);
    assert_eq!(ok, targets.len(), "every lab host must succeed");
    // Held sessions cost no thread: measured once the job's threads have ended.
    std::thread::sleep(Duration::from_secs(6));
    let rss1 = rss_kib();
    let mut warm = Vec::new();
    let mut warm_seq = Vec::new();
    for _ in 0..o.runs.max(3) {
        let n = targets.len();
        warm.push(engine_job(&engine, &mut rx, &targets, "true", n).0);
        warm_seq.push(engine_job(&engine, &mut rx, &targets, "seq 1 20000", n).0);
    }
    let stats = engine.stats();
    let mut scale_rows = String::new();
    scale::warm(
        &mut scale_rows,
        &engine,
        &mut rx,
        &targets,
        o.runs,
        self_cpu,
    );
    for n in [100.min(names.len()), names.len()] {
        let hostfile = tmp.join(format!("hosts{n}"));
        std::fs::write(&hostfile, names[..n].join("\n") + "\n").expect("write hosts file");
        let cm = tmp.join("cm");
        let peer = scale::pssh_controlmaster(&hostfile, &cfg, &cm, n, o.runs);
        scale::stop_controlmasters(&cm);
        let _ = writeln!(
            scale_rows,
            "| parallel-ssh -p {n} over warm ControlMaster sockets, `true` on {n} hosts (median) | {} |",
            peer.map_or("failed".to_string(), |d| format!("{:.3} s", d.as_secs_f64()))
        );
        if n == names.len() {
            break;
        }
    }
    let threads = std::fs::read_dir("/proc/self/task").map_or(0, Iterator::count);
    let _ = writeln!(
        scale_rows,
        "| threads of the process with {} sessions held | {threads} |",
        engine.stats().sessions_held
    );
    let _ = writeln!(
        md,
        "\n### In-process engine (what the console does), {} hosts\n",
        targets.len()
    );
    let _ = writeln!(md, "| measure | value |\n|---|---|");
    let _ = writeln!(
        md,
        "| first job `true` (cold, connects every host) | {:.3} s |",
        cold.as_secs_f64()
    );
    let _ = writeln!(
        md,
        "| engine CPU per new connection | {:.2} ms |",
        cpu_cold.as_secs_f64() * 1000.0 / targets.len() as f64
    );
    let _ = writeln!(
        md,
        "| RSS per held session | {} KiB |",
        rss1.saturating_sub(rss0) / targets.len() as u64
    );
    let _ = writeln!(
        md,
        "| warm `true` through kept sessions (median) | {:.3} s |",
        median(warm).as_secs_f64()
    );
    let _ = writeln!(
        md,
        "| warm `seq 1 20000` through kept sessions (median) | {:.3} s |",
        median(warm_seq).as_secs_f64()
    );
    let _ = writeln!(
        md,
        "| TCP connections made in all these jobs | {} |",
        stats.tcp_connects_total
    );
    md.push_str(&scale_rows);
    engine.shutdown();
    scale::refused(&mut md, &targets, known_hosts, self_cpu);
    print!(
        "{}",
        md.rsplit("\n### ")
            .next()
            .map(|s| format!("\n### {s}"))
            .unwrap_or_default()
    );

    broadcast::broadcast(bin, lab, tmp, o.runs, &mut md);
    if o.transfer {
        transfers(o, bin, lab, tmp, &mut md);
    }
    write_report(tmp, &md);
}

/// The whole report, in markdown, on stdout and beside the run's temp dir.
fn write_report(tmp: &Path, md: &str) {
    let out = tmp
        .parent()
        .unwrap_or(tmp)
        .join("fleetdeck-bench-latest.md");
    let _ = std::fs::write(&out, md);
    println!("\n\n==== markdown ====\n{md}");
}

/// fleetdeck's CPU per host for cold `true` at fanout 64, at each size of [`scale::CURVE`] the
/// lab has, with the big known_hosts: the figure must not grow with the fleet.
fn cpu_curve(
    o: &Opts,
    bin: &Path,
    state: &Path,
    inv: &Path,
    names: &[String],
    kh_args: &[String],
    md: &mut String,
) {
    let _ = writeln!(
        md,
        "\n### fleetdeck CPU per host, cold `true`, fanout 64 (target ≤ 2.5 ms at 600 and 2,000)\n"
    );
    let _ = writeln!(
        md,
        "| hosts | wall | CPU | CPU per host | machine CPU floor (busy ÷ cores) | wall ÷ floor |\n|---|---|---|---|---|---|"
    );
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get) as f64;
    for n in scale::CURVE.into_iter().filter(|&n| n <= names.len()) {
        let tool = Tool::fleetdeck(format!("fleetdeck {n}"), bin, state, "run", inv)
            .arg(names[..n].join(","))
            .args(kh_args)
            .args(["--fanout", "64", "--output", "inline", "--", "true"]);
        let runs = if n > 100 { 1 } else { o.runs };
        let busy0 = scale::machine_busy();
        let rows = compare(runs, &[tool]);
        let floor = scale::machine_busy().saturating_sub(busy0).as_secs_f64() / runs as f64 / cores;
        let _ = writeln!(
            md,
            "| {n} | {:.2} s | {:.2} s | {:.2} ms | {floor:.2} s | {:.2} |",
            rows[0].wall.as_secs_f64(),
            rows[0].cpu.as_secs_f64(),
            rows[0].cpu.as_secs_f64() * 1000.0 / n as f64,
            rows[0].wall.as_secs_f64() / floor.max(1e-9)
        );
    }
}

fn make_file(path: &Path, mb: usize) {
    use std::io::Write;
    let mut f = std::fs::File::create(path).expect("create bench file");
    let mut block = vec![0u8; 1 << 20];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..mb {
        for b in block.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            b.copy_from_slice(&x.to_le_bytes()[..b.len()]);
        }
        f.write_all(&block).expect("write bench file");
    }
}

/// Whether every path is a file of `size` bytes.
fn sizes_ok(paths: &[PathBuf], size: u64) -> bool {
    paths
        .iter()
        .all(|p| std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.len() == size))
}

/// Removes every path (files or trees), for runs that must start from nothing.
fn remove_all(paths: &[PathBuf]) {
    for p in paths {
        let _ = std::fs::remove_dir_all(p);
        let _ = std::fs::remove_file(p);
    }
}

/// The tree of the small-file cases: `TREE_DIRS` directories of `TREE_FILES / TREE_DIRS`
/// files of `TREE_SIZE` bytes each, all different.
const TREE_DIRS: usize = 10;
const TREE_FILES: usize = 1000;
const TREE_SIZE: usize = 4096;

fn tree_names() -> impl Iterator<Item = PathBuf> {
    (0..TREE_FILES).map(|i| {
        PathBuf::from(format!("d{:02}", i % TREE_DIRS)).join(format!("f{:04}", i / TREE_DIRS))
    })
}

fn make_tree(root: &Path) {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    for name in tree_names() {
        let path = root.join(name);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("tree dir");
        let data: Vec<u8> = (0..TREE_SIZE / 8)
            .flat_map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x.to_le_bytes()
            })
            .collect();
        std::fs::write(path, data).expect("tree file");
    }
}

/// Whether every host's copy of the tree is complete.
fn tree_ok(roots: &[PathBuf]) -> bool {
    roots.iter().all(|root| {
        let files: Vec<PathBuf> = tree_names().map(|n| root.join(n)).collect();
        sizes_ok(&files, TREE_SIZE as u64)
    })
}

/// The hosts `names` of the lab: a comma list, and each one's home.
fn hosts_of(lab: &Lab, n: usize) -> (String, Vec<PathBuf>) {
    let hosts = &lab.hosts()[..n.min(lab.hosts().len())];
    let list: Vec<&str> = hosts.iter().map(|h| h.name.as_str()).collect();
    (
        list.join(","),
        hosts.iter().map(|h| h.home.clone()).collect(),
    )
}

fn in_homes(homes: &[PathBuf], rel: &str) -> Vec<PathBuf> {
    homes.iter().map(|h| h.join(rel)).collect()
}

fn transfers(o: &Opts, bin: &Path, lab: &Lab, tmp: &Path, md: &mut String) {
    small_files(o, bin, lab, tmp, md);
    sync_case(o, bin, lab, tmp, md);
    many_hosts(o, bin, lab, tmp, md);
    one_host(o, bin, lab, tmp, md);
}

/// 1,000 files of 4 KiB to 10 hosts, against `clush --copy` (scp -r), into nothing and over
/// an existing copy.
fn small_files(o: &Opts, bin: &Path, lab: &Lab, tmp: &Path, md: &mut String) {
    let ssh_f = format!("-F {}", lab.ssh_config_path().display());
    let n = 10.min(lab.hosts().len());
    let (list, homes) = hosts_of(lab, n);
    let fanout = n.to_string();
    let src = tmp.join("small").join("tree");
    make_tree(&src);
    let roots = in_homes(&homes, "tree");
    for fresh in [true, false] {
        let mut tools = vec![Tool::fleetdeck(
            format!("fleetdeck push -r --fanout {n}"),
            bin,
            &tmp.join("state"),
            "push",
            &lab.inventory_path(),
        )
        .arg(&list)
        .arg(&src)
        .args([".", "-r", "--fanout", &fanout])];
        if have("clush") {
            tools.push(
                Tool::new(format!("clush -f {n} --copy"), "clush")
                    .args(["-f", &fanout, "-w", &list, "-o", &ssh_f, "--copy"])
                    .arg(&src)
                    .args(["--dest", "."]),
            );
        }
        let tools: Vec<Tool> = tools
            .into_iter()
            .map(|t| {
                let (clean, check) = (roots.clone(), roots.clone());
                let t = t.check(move || tree_ok(&check));
                if fresh {
                    t.before(move || remove_all(&clean))
                } else {
                    t
                }
            })
            .collect();
        if !fresh {
            // Every tool replaces a complete copy.
            let _ = run_cmd(&mut tools[0].command());
        }
        let rows = compare(o.runs, &tools);
        let how = if fresh {
            "new"
        } else {
            "replacing an existing copy"
        };
        table(
            md,
            &format!(
                "{TREE_FILES} files of {} KiB to {n} hosts ({how})",
                TREE_SIZE / 1024
            ),
            &rows,
        );
    }
}

/// `push --sync` of the 1,000-file tree with 10 files changed, to 20 hosts (target < 2 s).
fn sync_case(o: &Opts, bin: &Path, lab: &Lab, tmp: &Path, md: &mut String) {
    let n = 20.min(lab.hosts().len());
    let (list, homes) = hosts_of(lab, n);
    let fanout = n.to_string();
    let src = tmp.join("sync").join("tree");
    make_tree(&src);
    let roots = in_homes(&homes, "tree");
    let tool = Tool::fleetdeck(
        format!("fleetdeck push --sync --fanout {n}"),
        bin,
        &tmp.join("state"),
        "push",
        &lab.inventory_path(),
    )
    .arg(&list)
    .arg(&src)
    .args([".", "-r", "--sync", "--fanout", &fanout]);
    let s = run_cmd(&mut tool.command());
    assert!(s.ok && tree_ok(&roots), "the first sync must send the tree");
    let round = std::rc::Rc::new(std::cell::Cell::new(0u8));
    let (changed, src2) = (round.clone(), src.clone());
    let changed_names: Vec<PathBuf> = tree_names().step_by(TREE_FILES / 10).collect();
    let names2 = changed_names.clone();
    let tool = tool
        .before(move || {
            // 10 files rewritten (same size, new bytes and mtime) before each run.
            changed.set(changed.get().wrapping_add(1));
            for name in &names2 {
                let data = vec![changed.get(); TREE_SIZE];
                std::fs::write(src2.join(name), data).expect("change a file");
            }
        })
        .check(move || {
            tree_ok(&roots)
                && roots.iter().all(|r| {
                    changed_names
                        .iter()
                        .all(|name| std::fs::read(r.join(name)).is_ok_and(|d| d[0] == round.get()))
                })
        });
    let rows = compare(o.runs, &[tool]);
    table(
        md,
        &format!("`push --sync`: {TREE_FILES} files, 10 changed, {n} hosts (target < 2 s)"),
        &rows,
    );
}

/// 100 MB to 20 hosts, against parallel-scp and `clush --copy`.
fn many_hosts(o: &Opts, bin: &Path, lab: &Lab, tmp: &Path, md: &mut String) {
    let ssh_f = format!("-F {}", lab.ssh_config_path().display());
    let n = 20.min(lab.hosts().len());
    let (list, homes) = hosts_of(lab, n);
    let fanout = n.to_string();
    let hostfile = tmp.join("hosts-xfer");
    std::fs::write(&hostfile, list.replace(',', "\n") + "\n").expect("hosts file");
    let file100 = tmp.join("payload100");
    make_file(&file100, 100);

    let mut tools = vec![Tool::fleetdeck(
        format!("fleetdeck push --fanout {n}"),
        bin,
        &tmp.join("state"),
        "push",
        &lab.inventory_path(),
    )
    .arg(&list)
    .arg(&file100)
    .args(["payload100", "--fanout", &fanout])];
    if have("parallel-scp") {
        tools.push(
            Tool::new(format!("parallel-scp -p {n}"), "parallel-scp")
                .arg("-h")
                .arg(&hostfile)
                .args(["-p", &fanout, "-t", "0", "-x", &ssh_f])
                .arg(&file100)
                .arg("payload100"),
        );
    }
    if have("clush") {
        tools.push(
            Tool::new(format!("clush -f {n} --copy"), "clush")
                .args(["-f", &fanout, "-w", &list, "-o", &ssh_f, "--copy"])
                .arg(&file100)
                .args(["--dest", "payload100"]),
        );
    }
    let dests = in_homes(&homes, "payload100");
    let tools: Vec<Tool> = tools
        .into_iter()
        .map(|t| {
            let (clean, check) = (dests.clone(), dests.clone());
            t.before(move || remove_all(&clean))
                .check(move || sizes_ok(&check, 100 << 20))
        })
        .collect();
    let rows = compare(o.runs.min(3), &tools);
    table(md, &format!("100 MB file to {n} hosts (new)"), &rows);
}

/// One host, one big file, both directions, against OpenSSH scp.
fn one_host(o: &Opts, bin: &Path, lab: &Lab, tmp: &Path, md: &mut String) {
    let inv = lab.inventory_path();
    let state = tmp.join("state");
    let big = tmp.join("payload-big");
    make_file(&big, o.big_mb);
    let size = (o.big_mb as u64) << 20;
    let host = lab.hosts()[0].name.as_str();
    let remote = vec![lab.hosts()[0].home.join("payload-big")];
    let cfg = lab.ssh_config_path();
    let (clean, check) = (remote.clone(), remote.clone());
    let tools: Vec<Tool> = [
        Tool::fleetdeck("fleetdeck push (1 host)", bin, &state, "push", &inv)
            .arg(host)
            .arg(&big)
            .arg("payload-big"),
        Tool::new("scp (upload)", "scp")
            .arg("-q")
            .arg("-F")
            .arg(&cfg)
            .arg(&big)
            .arg(format!("{host}:payload-big")),
    ]
    .into_iter()
    .map(|t| {
        let (clean, check) = (clean.clone(), check.clone());
        t.before(move || remove_all(&clean))
            .check(move || sizes_ok(&check, size))
    })
    .collect();
    let rows = compare(o.runs.min(3), &tools);
    table(
        md,
        &format!("{} MB to one host (upload, new)", o.big_mb),
        &rows,
    );
    mbps(md, o.big_mb, &rows);

    let back = tmp.join("back");
    let back_scp = tmp.join("back-scp");
    let (got, got_scp) = (
        vec![back.join(host).join("payload-big")],
        vec![back_scp.clone()],
    );
    let tools = [
        Tool::fleetdeck("fleetdeck pull (1 host)", bin, &state, "pull", &inv)
            .arg(host)
            .arg("payload-big")
            .arg(&back)
            .clean(back.clone())
            .check(move || sizes_ok(&got, size)),
        Tool::new("scp (download)", "scp")
            .arg("-q")
            .arg("-F")
            .arg(&cfg)
            .arg(format!("{host}:payload-big"))
            .arg(&back_scp)
            .clean(back_scp.clone())
            .check(move || sizes_ok(&got_scp, size)),
    ];
    let rows = compare(o.runs.min(3), &tools);
    table(
        md,
        &format!("{} MB from one host (download)", o.big_mb),
        &rows,
    );
    mbps(md, o.big_mb, &rows);
}

fn mbps(md: &mut String, mb: usize, rows: &[Row]) {
    let a = mb as f64 / rows[0].wall.as_secs_f64();
    let b = mb as f64 / rows[1].wall.as_secs_f64();
    let _ = writeln!(
        md,
        "\nThroughput: fleetdeck {a:.0} MB/s, scp {b:.0} MB/s → fleetdeck at {:.0}% of scp",
        100.0 * a / b
    );
    println!("{}", md.lines().last().unwrap_or(""));
}
