//! What a run leaves for the next one: `hosts.succeeded` / `hosts.failed` in the run folder,
//! and `--failed-from` taking `last` (the last command, not a transfer) or a run id.

mod common;

use std::path::Path;
use std::process::Stdio;

use common::{fleetdeck_bin, lab, TestLab};

fn go(lab: &TestLab, state: &Path, args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(fleetdeck_bin())
        .env("FLEETDECK_STATE_DIR", state)
        .env("FLEETDECK_CONFIG_DIR", state.join("config"))
        .env_remove("FLEETDECK_INVENTORY")
        .arg("-i")
        .arg(lab.inventory_path())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("fleetdeck");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// (run id, run folder) of every job in the operation log, oldest first.
fn runs(lab: &TestLab, state: &Path) -> Vec<(String, Option<String>, String)> {
    let (code, out, err) = go(lab, state, &["log", "--json"]);
    assert_eq!(code, 0, "{err}");
    out.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["type"] == "job-start")
        .map(|v| {
            (
                v["run"].as_str().unwrap_or_default().to_string(),
                v["run_dir"].as_str().map(str::to_string),
                v["kind"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[test]
fn run_folders_list_the_hosts_and_failed_from_takes_last_or_a_run_id() {
    let lab = lab(3);
    let state = tempfile::tempdir().expect("state");
    let state = state.path();
    let names: Vec<String> = lab.hosts().iter().map(|h| h.name.clone()).collect();
    let bad_port = lab.hosts()[1].port;
    let cmd = format!("[ ${{SSH_CONNECTION##* }} != {bad_port} ]");
    let (code, out, err) = go(&lab, state, &["run", "all", "--", &cmd]);
    assert_eq!(code, 1, "{out}{err}");
    let first = runs(&lab, state);
    let (run1, dir1, _) = first.last().cloned().expect("a run");
    let dir1 = dir1.expect("run folder");
    let ok = std::fs::read_to_string(Path::new(&dir1).join("hosts.succeeded")).expect("succeeded");
    let failed = std::fs::read_to_string(Path::new(&dir1).join("hosts.failed")).expect("failed");
    assert_eq!(failed, format!("{}\n", names[1]));
    assert_eq!(ok, format!("{}\n{}\n", names[0], names[2]));
    // A transfer in between: `last` still means the last command.
    let src = lab.tmp().join("history-push.txt");
    std::fs::write(&src, "x").expect("file");
    let (code, out, err) = go(
        &lab,
        state,
        &["push", "all", &src.to_string_lossy(), "/tmp/"],
    );
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = go(
        &lab,
        state,
        &["run", "--failed-from", "last", "--", "echo again"],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        out.matches("again").count(),
        1,
        "only the failed host:\n{out}"
    );
    assert!(out.contains(&names[1]), "{out}");
    // The first run by its id (the re-run above succeeded, so `last` has nothing left).
    let (code, _, err) = go(&lab, state, &["run", "--failed-from", "last", "--", "true"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("nothing to re-run"), "{err}");
    let (code, out, err) = go(
        &lab,
        state,
        &["run", "--failed-from", &run1, "--", "echo by-id"],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(out.matches("by-id").count(), 1, "{out}");
    let (code, _, err) = go(
        &lab,
        state,
        &["run", "--failed-from", "20000101T000000-1-1", "--", "true"],
    );
    assert_eq!(code, 2);
    assert!(
        err.contains("no such run") && err.contains("fleetdeck log"),
        "{err}"
    );
}

/// Rolling runs: batches in target order, a failure threshold holding later batches back
/// (`skipped` in JSON, the summary and the operation log; exit 1), and a pause between batches.
#[test]
fn rolling_batches_hold_back_after_too_many_failures_and_pause_between() {
    let lab = lab(6);
    let state = tempfile::tempdir().expect("state");
    let state = state.path();
    let (code, order, _) = go(&lab, state, &["inventory", "--list", "all"]);
    assert_eq!(code, 0);
    let order: Vec<String> = order.split_whitespace().map(str::to_string).collect();
    assert_eq!(order.len(), 6, "{order:?}");
    // The first batch (2 hosts) fails on both: more than --max-failures 1.
    let ports: Vec<String> = order
        .iter()
        .take(2)
        .map(|n| {
            lab.hosts()
                .iter()
                .find(|h| &h.name == n)
                .expect("host")
                .port
                .to_string()
        })
        .collect();
    let cmd = format!(
        "p=${{SSH_CONNECTION##* }}; [ $p != {} ] && [ $p != {} ]",
        ports[0], ports[1]
    );
    let (code, out, err) = go(
        &lab,
        state,
        &[
            "run",
            "all",
            "--batch",
            "2",
            "--max-failures",
            "1",
            "-o",
            "json",
            "--",
            &cmd,
        ],
    );
    assert_eq!(code, 1, "{out}{err}");
    let rows: Vec<serde_json::Value> = out
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let class_of = |h: &str| {
        rows.iter()
            .find(|r| r["host"] == h)
            .map(|r| r["error"]["class"].as_str().unwrap_or("none").to_string())
            .unwrap_or_default()
    };
    for h in &order[2..] {
        assert_eq!(class_of(h), "skipped", "{h} held back:\n{out}");
    }
    assert!(err.contains("skipped"), "the summary names them:\n{err}");
    let (_, log, _) = go(&lab, state, &["log", "--json"]);
    assert_eq!(log.matches("\"class\":\"skipped\"").count(), 4, "{log}");
    // Within the threshold every batch runs; the pause spaces them.
    let started = std::time::Instant::now();
    let (code, out, err) = go(
        &lab,
        state,
        &["run", "all", "--batch", "50%", "--pause", "1", "--", "true"],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(1),
        "the pause"
    );
    let (code, _, err) = go(
        &lab,
        state,
        &["run", "all", "--max-failures", "1", "--", "true"],
    );
    assert_eq!(code, 2, "--max-failures needs --batch: {err}");
}
