//! The console under a flood (issue 13): 100 hosts each printing up to 10 MB/s for a minute,
//! the console's peak RSS and key latency measured. A measurement for RELIABILITY.md, run by
//! hand: `cargo test --test flood_console -- --ignored --nocapture`.

mod common;

use common::tmux::{console_command, Tmux};

use std::process::Command;
use std::time::{Duration, Instant};

/// `VmHWM` (peak RSS) and `VmRSS` of `pid`, in bytes.
fn memory(pid: i32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kb| kb * 1024)
    };
    Some((field("VmHWM:")?, field("VmRSS:")?))
}

/// The fleetdeck process under the tmux pane's shell.
fn console_pid(tmux: &Tmux) -> i32 {
    let shell: i32 = tmux.display("#{pane_pid}").parse().expect("pane pid");
    common::descendants(shell)
        .into_iter()
        .find(|p| {
            std::fs::read_to_string(format!("/proc/{p}/comm"))
                .is_ok_and(|c| c.trim() == "fleetdeck")
        })
        .expect("the console process")
}

#[test]
#[ignore = "measurement for RELIABILITY.md: 100 hosts x 10 MB/s x 60 s (~2 min)"]
fn console_stays_bounded_and_responsive_under_a_hundred_host_flood() {
    let hosts: usize = std::env::var("FLEETDECK_FLOOD_HOSTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let seconds: u64 = std::env::var("FLEETDECK_FLOOD_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    let lab = common::lab(hosts);
    let tmp = lab.tmp().to_path_buf();
    for i in 0..hosts {
        let pid = lab.pid(i).expect("sshd pid");
        let _ = Command::new("renice")
            .args(["-n", "19", "-p", &pid.to_string()])
            .output();
    }
    let tmux = Tmux::new("flood");
    let trace = tmp.join("key-trace.txt");
    // FLEETDECK_FLOOD_FANOUT=N: the console's fanout (default 64: with more hosts, only that
    // many stream at once).
    let fanout =
        std::env::var("FLEETDECK_FLOOD_FANOUT").map_or(String::new(), |n| format!(" --fanout {n}"));
    tmux.start(
        &console_command(&lab, &tmp)
            .replace(
                "env ",
                &format!("env FLEETDECK_TRACE_KEYS={} ", trace.display()),
            )
            .replacen(" -i ", &format!("{fanout} -i "), 1),
    );
    tmux.wait_for("the console", Duration::from_secs(60), |s| {
        s.contains(&format!("Hosts 0/{hosts} selected"))
    });
    let pid = console_pid(&tmux);
    tmux.text("a");
    tmux.wait_for("all selected", Duration::from_secs(5), |s| {
        s.contains(&format!("Hosts {hosts}/{hosts} selected"))
    });
    // At most 10 MB/s per host: 1 MB of 100-byte lines every 0.1 s, for `seconds`. With
    // FLEETDECK_FLOOD_COMMAND=CMD, that command instead (e.g. `vmstat 1`: a line a second per
    // host, what watching a fleet looks like), for `seconds` too.
    let command = match std::env::var("FLEETDECK_FLOOD_COMMAND") {
        Ok(cmd) => format!(":timeout {seconds} {cmd}"),
        Err(_) => format!(
            ":timeout {seconds} sh -c 'while :; do yes 0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789 | head -c 1000000; sleep 0.1; done'"
        ),
    };
    tmux.text(&command);
    tmux.keys(&["Enter"]);
    let started = Instant::now();
    let s = tmux.wait_for(
        "the confirmation or the job",
        Duration::from_secs(10),
        |s| s.contains("Run this command?") || s.contains(" running "),
    );
    // Above the console's confirmation limit (20 hosts) it asks first.
    let confirmed = s.contains("Run this command?");
    if confirmed {
        tmux.text("y");
    }
    tmux.wait_for("output streaming", Duration::from_secs(60), |s| {
        s.contains(" running ")
    });
    let typed_before = command.chars().count() + 1 + usize::from(confirmed);
    let mut latencies = Vec::new();
    let mut typed = String::new();
    let mut peak_seen = 0u64;
    while started.elapsed() < Duration::from_secs(seconds.saturating_sub(5)) {
        std::thread::sleep(Duration::from_secs(2));
        if let Some((hwm, _)) = memory(pid) {
            peak_seen = peak_seen.max(hwm);
        }
        typed.push('x');
        let want = format!("> {typed} ");
        let sent = Instant::now();
        tmux.text("x");
        tmux.wait_for("the typed key", Duration::from_secs(30), |s| {
            s.contains(&want)
        });
        latencies.push(sent.elapsed());
    }
    let (hwm, rss) = memory(pid).expect("console alive");
    let peak = hwm.max(peak_seen);
    tmux.keys(&["C-c"]);
    tmux.keys(&["C-u"]);
    let cancelled = Instant::now();
    tmux.wait_for("the job's end", Duration::from_secs(60), |s| {
        s.contains("job 1 done")
    });
    let cancel_took = cancelled.elapsed();
    let kept: u64 = std::fs::read_dir(tmp.join("state").join("runs"))
        .expect("runs")
        .flat_map(|d| std::fs::read_dir(d.expect("run").path()).expect("run folder"))
        .map(|f| f.expect("file").metadata().expect("meta").len())
        .sum();
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    let trace_text = std::fs::read_to_string(&trace).expect("key trace");
    let mut inside: Vec<u64> = trace_text
        .lines()
        .filter_map(|l| l.parse().ok())
        .skip(typed_before)
        .collect();
    inside.sort_unstable();
    println!(
        "console flood: {hosts} hosts, {:.1} MB/s in all ({:.2} MB/s per host) over {elapsed:.0} s; \
         peak RSS {:.1} MiB (RSS at the end {:.1} MiB); tmux key round trip median {:?} max {:?} \
         ({} keys); key arrival to frame median {} µs max {} µs; Ctrl-C to `job done` seen {cancel_took:?}",
        kept as f64 / elapsed / 1e6,
        kept as f64 / elapsed / 1e6 / hosts as f64,
        peak as f64 / f64::from(1 << 20),
        rss as f64 / f64::from(1 << 20),
        latencies[latencies.len() / 2],
        latencies[latencies.len() - 1],
        latencies.len(),
        inside.get(inside.len() / 2).copied().unwrap_or_default(),
        inside.last().copied().unwrap_or_default(),
    );
    assert!(peak < 300 << 20, "console peak RSS {peak} bytes");
    let median = inside.get(inside.len() / 2).copied().unwrap_or(u64::MAX);
    assert!(median < 100_000, "median key-to-frame {median} µs");
    tmux.keys(&["Escape"]);
    tmux.wait_for("focus on the tree", Duration::from_secs(10), |s| {
        s.contains(": command to run on the selected hosts")
    });
    tmux.text("q");
    tmux.wait_for("the exit", Duration::from_secs(30), |s| {
        s.contains("FLEETDECK-EXITED-0")
    });
}
