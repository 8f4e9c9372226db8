//! Transfer throughput against OpenSSH peers in the same run (ignored by default: slow, and
//! meaningful only in release mode):
//!
//! ```text
//! cargo test --release --test transfer_bench -- --ignored --nocapture --test-threads 1
//! ```
//!
//! - `one_host_500mb_vs_scp`: one 500 MB file up and down, fleetdeck's SFTP core vs `scp`,
//!   best of 2 each; peak RSS of this process before and after (memory must stay flat).
//! - `twenty_hosts_100mb_vs_parallel_scp_and_clush`: `fleetdeck push` vs `parallel-scp -p 20`
//!   vs `clush --copy` (fanout 20), one 100 MB file to 20 lab hosts.

mod common;

use std::fs;
use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use fleetdeck::ssh::transfer::{download, upload, DownloadSpec, UploadSpec};
use rand::RngCore;

const MB: u64 = 1024 * 1024;

fn session(lab: &common::TestLab, i: usize) -> ssh2::Session {
    let tcp = TcpStream::connect(("127.0.0.1", lab.hosts()[i].port)).expect("connect");
    tcp.set_nodelay(true).expect("nodelay");
    let mut sess = ssh2::Session::new().expect("session");
    if let Ok(macs) = std::env::var("BENCH_MACS") {
        sess.method_pref(ssh2::MethodType::MacCs, &macs)
            .expect("mac pref");
        sess.method_pref(ssh2::MethodType::MacSc, &macs)
            .expect("mac pref");
    }
    if let Ok(ciphers) = std::env::var("BENCH_CIPHERS") {
        sess.method_pref(ssh2::MethodType::CryptCs, &ciphers)
            .expect("cipher pref");
        sess.method_pref(ssh2::MethodType::CryptSc, &ciphers)
            .expect("cipher pref");
    }
    sess.set_tcp_stream(tcp);
    sess.set_timeout(60_000);
    sess.handshake().expect("handshake");
    sess.userauth_pubkey_file(lab.user(), None, &lab.client_key_path(), None)
        .expect("auth");
    eprintln!(
        "cipher {:?}, mac {:?}",
        sess.methods(ssh2::MethodType::CryptCs),
        sess.methods(ssh2::MethodType::MacCs)
    );
    sess
}

/// Writes `size` bytes of random data in 1 MiB blocks (never holding the file in memory).
fn big_file(path: &Path, size: u64) {
    let mut f = std::io::BufWriter::new(fs::File::create(path).expect("create"));
    let mut block = vec![0u8; MB as usize];
    for _ in 0..size / MB {
        rand::thread_rng().fill_bytes(&mut block);
        f.write_all(&block).expect("write");
    }
    f.flush().expect("flush");
}

fn peak_rss_kib() -> u64 {
    let status = fs::read_to_string("/proc/self/status").expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM")
}

/// (own, reaped children) CPU time of this process, from /proc/self/stat (clock ticks of 10 ms).
fn cpu() -> (Duration, Duration) {
    let stat = fs::read_to_string("/proc/self/stat").expect("stat");
    let rest = &stat[stat.rfind(')').expect("comm") + 2..];
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    // Fields 14-17 of stat(5) are utime, stime, cutime, cstime; `rest` starts at field 3.
    let tick = |n: u64| Duration::from_millis(n * 10);
    (tick(f[11] + f[12]), tick(f[13] + f[14]))
}

fn timed(f: impl FnOnce()) -> Duration {
    let t = Instant::now();
    f();
    t.elapsed()
}

fn mbps(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / MB as f64 / d.as_secs_f64()
}

fn scp(lab: &common::TestLab, from: &str, to: &str) {
    let status = Command::new("scp")
        .arg("-q")
        .arg("-F")
        .arg(lab.ssh_config_path())
        .args([from, to])
        .status()
        .expect("run scp");
    assert!(status.success(), "scp {from} {to}");
}

#[test]
#[ignore = "benchmark: run in release mode with --ignored --nocapture"]
fn one_host_500mb_vs_scp() {
    let lab = common::lab(1);
    let name = lab.hosts()[0].name.clone();
    let size = 500 * MB;
    let src = lab.tmp().join("big.bin");
    big_file(&src, size);
    let small = lab.tmp().join("small.bin");
    big_file(&small, 50 * MB);
    let sess = session(&lab, 0);
    let cancel = AtomicBool::new(false);
    let send = |path: &Path, remote: &str| {
        let spec = UploadSpec {
            sources: vec![path.to_path_buf()],
            remote: remote.into(),
            ..UploadSpec::default()
        };
        upload(&sess, &spec, &cancel, &mut |_, _| {}).expect("upload");
    };
    let fetch = |remote: &str, dest: &Path| {
        let spec = DownloadSpec {
            remote: remote.into(),
            dest: dest.to_path_buf(),
            ..DownloadSpec::default()
        };
        download(&sess, &name, &spec, &cancel, &mut |_, _| {}).expect("download");
    };

    // Memory: peak RSS after a 50 MB round trip, then after 500 MB ones.
    send(&small, "small.bin");
    fetch("small.bin", &lab.tmp().join("d-small"));
    let rss_small = peak_rss_kib();

    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let up_scp = format!("{name}:big-scp.bin");
    let mut best = [Duration::MAX; 4];
    // Client CPU per run: fleetdeck's is this process's, scp's its (reaped) child's.
    let mut cpu_used = [Duration::ZERO; 4];
    for round in 0..rounds {
        let c0 = cpu();
        best[0] = best[0].min(timed(|| send(&src, "big.bin")));
        let c1 = cpu();
        best[1] = best[1].min(timed(|| {
            scp(&lab, src.to_str().expect("utf8"), &up_scp);
        }));
        let c2 = cpu();
        let d1 = lab.tmp().join(format!("d{round}"));
        best[2] = best[2].min(timed(|| fetch("big.bin", &d1)));
        let c3 = cpu();
        let d2 = lab.tmp().join(format!("s{round}.bin"));
        best[3] = best[3].min(timed(|| {
            scp(&lab, &up_scp, d2.to_str().expect("utf8"));
        }));
        let c4 = cpu();
        cpu_used[0] += c1.0.saturating_sub(c0.0);
        cpu_used[1] += c2.1.saturating_sub(c1.1);
        cpu_used[2] += c3.0.saturating_sub(c2.0);
        cpu_used[3] += c4.1.saturating_sub(c3.1);
        fs::remove_dir_all(&d1).ok();
        fs::remove_file(&d2).ok();
    }
    let cpu_ms = cpu_used.map(|d| d.as_millis() / rounds as u128);
    println!(
        "client CPU per 500 MB (ms): fleetdeck up {}, scp up {}, fleetdeck down {}, scp down {}",
        cpu_ms[0], cpu_ms[1], cpu_ms[2], cpu_ms[3]
    );
    let rss_big = peak_rss_kib();
    let [fd_up, scp_up, fd_down, scp_down] = best.map(|d| mbps(size, d));
    println!("one host, 500 MB, best of {rounds}:");
    println!(
        "  up:   fleetdeck {fd_up:.0} MB/s, scp {scp_up:.0} MB/s, ratio {:.2}",
        fd_up / scp_up
    );
    println!(
        "  down: fleetdeck {fd_down:.0} MB/s, scp {scp_down:.0} MB/s, ratio {:.2}",
        fd_down / scp_down
    );
    println!(
        "  peak RSS of the test process: {rss_small} KiB after 50 MB, {rss_big} KiB after 500 MB"
    );
    assert!(
        rss_big < rss_small + 16 * 1024,
        "memory grows with file size: {rss_small} -> {rss_big} KiB"
    );
}

#[test]
#[ignore = "benchmark: run in release mode with --ignored --nocapture"]
fn twenty_hosts_100mb_vs_parallel_scp_and_clush() {
    let lab = common::lab(20);
    let tmp = lab.tmp();
    let src = tmp.join("payload.bin");
    big_file(&src, 100 * MB);
    let names: Vec<String> = lab.hosts().iter().map(|h| h.name.clone()).collect();
    let hosts_file = tmp.join("hosts.txt");
    fs::write(&hosts_file, names.join("\n") + "\n").expect("hosts");
    let cfg = lab.ssh_config_path();
    let src_s = src.to_str().expect("utf8");

    let mut results = Vec::new();
    for round in 0..2 {
        let d = timed(|| {
            let out = common::fleetdeck(tmp)
                .arg("-i")
                .arg(lab.inventory_path())
                .args(["push", "all", src_s, &format!("fd{round}.bin"), "-f", "20"])
                .output()
                .expect("fleetdeck push");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        });
        results.push(("fleetdeck push", d));
        let d = timed(|| {
            let status = Command::new("parallel-scp")
                .args(["-p", "20", "-h"])
                .arg(&hosts_file)
                .arg("-x")
                .arg(format!("-F {}", cfg.display()))
                .args([src_s, &format!("pscp{round}.bin")])
                .stdout(std::process::Stdio::null())
                .status()
                .expect("parallel-scp");
            assert!(status.success(), "parallel-scp");
        });
        results.push(("parallel-scp -p 20", d));
        let d = timed(|| {
            let status = Command::new("clush")
                .args(["-f", "20", "-w", &names.join(","), "-o"])
                .arg(format!("-F {}", cfg.display()))
                .args([
                    "--copy",
                    src_s,
                    "--dest",
                    &format!("{}/clush{round}.bin", "."),
                    "-q",
                ])
                .stdout(std::process::Stdio::null())
                .status()
                .expect("clush");
            assert!(status.success(), "clush");
        });
        results.push(("clush --copy -f 20", d));
    }
    for i in 0..20 {
        assert_eq!(
            fs::metadata(lab.home(i).join("fd1.bin"))
                .expect("pushed")
                .len(),
            100 * MB
        );
        assert_eq!(
            fs::metadata(lab.home(i).join("pscp1.bin"))
                .expect("pushed")
                .len(),
            100 * MB
        );
        assert_eq!(
            fs::metadata(lab.home(i).join("clush1.bin"))
                .expect("pushed")
                .len(),
            100 * MB
        );
    }
    println!("20 hosts x 100 MB (2000 MB total), best of 2:");
    for tool in ["fleetdeck push", "parallel-scp -p 20", "clush --copy -f 20"] {
        let best = results
            .iter()
            .filter(|(t, _)| *t == tool)
            .map(|(_, d)| *d)
            .min()
            .expect("timed");
        println!(
            "  {tool:<20} {:6.2}s  {:5.0} MB/s aggregate",
            best.as_secs_f64(),
            mbps(2000 * MB, best)
        );
    }
}

#[test]
#[ignore = "experiment: raw exec-channel read vs SFTP read, client CPU"]
fn experiment_exec_cat_vs_sftp_read() {
    use std::io::Read;
    let lab = common::lab(1);
    let src = lab.home(0).join("big.bin");
    big_file(&src, 500 * MB);
    let sess = session(&lab, 0);
    let mut buf = vec![0u8; 2 * MB as usize];
    for round in 0..2 {
        let c0 = cpu();
        let t = Instant::now();
        let sftp = sess.sftp().expect("sftp");
        let mut f = sftp.open(Path::new("big.bin")).expect("open");
        let mut out = fs::File::create(lab.tmp().join("a.bin")).expect("create");
        loop {
            let n = f.read(&mut buf).expect("read");
            if n == 0 {
                break;
            }
            out.write_all(&buf[..n]).expect("write");
        }
        let sftp_t = t.elapsed();
        let c1 = cpu();
        let t = Instant::now();
        let mut ch = sess.channel_session().expect("channel");
        ch.exec("exec cat big.bin").expect("exec");
        let mut out = fs::File::create(lab.tmp().join("b.bin")).expect("create");
        loop {
            let n = ch.read(&mut buf).expect("read");
            if n == 0 {
                break;
            }
            out.write_all(&buf[..n]).expect("write");
        }
        ch.wait_close().expect("close");
        let cat_t = t.elapsed();
        let c2 = cpu();
        println!(
            "round {round}: sftp {:.0} MB/s cpu {} ms; exec cat {:.0} MB/s cpu {} ms",
            mbps(500 * MB, sftp_t),
            c1.0.saturating_sub(c0.0).as_millis(),
            mbps(500 * MB, cat_t),
            c2.0.saturating_sub(c1.0).as_millis()
        );
    }
}
