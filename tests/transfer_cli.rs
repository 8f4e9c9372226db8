//! `fleetdeck push` / `fleetdeck pull` through the real binary, the engine and lab sshd hosts.

mod common;

use std::fs;
use std::path::Path;
use std::process::Output;

use sha2::{Digest, Sha256};

fn run(tmp: &Path, inv: &Path, args: &[&str]) -> Output {
    common::fleetdeck(tmp)
        .arg("-i")
        .arg(inv)
        .args(args)
        .output()
        .expect("run fleetdeck")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn sha256(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

#[test]
fn push_and_pull_across_the_fleet_with_summary_oplog_and_exit_status() {
    let lab = common::lab(3);
    let tmp = lab.tmp();
    let inv = lab.inventory_path();
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let src = tmp.join("app.bin");
    fs::write(&src, &data).expect("src");
    let names: Vec<String> = lab.hosts().iter().map(|h| h.name.clone()).collect();

    let out = run(
        tmp,
        &inv,
        &[
            "push",
            "all",
            src.to_str().expect("utf8"),
            "releases/",
            "--verify",
        ],
    );
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    for (i, name) in names.iter().enumerate() {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(name.as_str()))
            .unwrap_or_else(|| panic!("{name} in {stdout}"));
        assert!(
            line.contains("ok") && line.contains("1 file") && line.contains(&sha256(&data)),
            "{line}"
        );
        assert_eq!(
            fs::read(lab.home(i).join("releases/app.bin")).expect("pushed"),
            data
        );
    }
    assert!(
        stderr.contains("3 hosts in ") && stderr.contains(": 3 succeeded"),
        "{stderr}"
    );
    assert!(
        !stderr.contains('\u{1b}'),
        "no escapes when piped: {stderr:?}"
    );

    // The operation log has one record per host with direction, paths, bytes and the hash.
    let oplog = fs::read_to_string(tmp.join("state/oplog.jsonl")).expect("oplog");
    let results: Vec<serde_json::Value> = oplog
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v.get("transfer").and_then(|t| t.get("files")).is_some())
        .collect();
    assert_eq!(results.len(), 3, "{oplog}");
    for r in &results {
        let t = &r["transfer"];
        assert_eq!(t["direction"], "upload");
        assert_eq!(t["bytes"], 3_000_000);
        assert_eq!(t["sha256"][0], sha256(&data).as_str());
        assert!(
            t["remote"][0]
                .as_str()
                .is_some_and(|p| p.ends_with("releases/app.bin")),
            "{t}"
        );
    }

    // overwrite=never: every host says it left the target alone; still a success.
    fs::write(&src, b"changed").expect("src");
    let out = run(
        tmp,
        &inv,
        &[
            "push",
            "all",
            src.to_str().expect("utf8"),
            "releases/app.bin",
            "--overwrite",
            "never",
        ],
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(
        stderr.matches("exists (overwrite=never)").count(),
        3,
        "{stderr}"
    );
    assert_eq!(
        fs::read(lab.home(0).join("releases/app.bin")).expect("kept"),
        data
    );

    // Pull back with host suffixes.
    let dest = tmp.join("back");
    let out = run(
        tmp,
        &inv,
        &[
            "pull",
            "all",
            "releases/app.bin",
            dest.to_str().expect("utf8"),
            "--naming",
            "suffix",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    for name in &names {
        assert_eq!(
            fs::read(dest.join(format!("app.bin.{name}"))).expect("pulled"),
            data
        );
    }

    // One host down: it fails, the others succeed, exit status 1.
    lab.kill_host(1);
    let dest2 = tmp.join("back2");
    let out = run(
        tmp,
        &inv,
        &[
            "pull",
            "all",
            "releases/*.bin",
            dest2.to_str().expect("utf8"),
        ],
    );
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(
        out.status.code(),
        Some(1),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        stderr.contains("2 succeeded") && stderr.contains("1 unreachable"),
        "{stderr}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with(names[1].as_str()) && l.contains("FAILED")),
        "{stdout}"
    );
    assert_eq!(
        fs::read(dest2.join(&names[0]).join("app.bin")).expect("pulled"),
        data
    );
    assert!(!dest2.join(&names[1]).exists());
}

#[test]
fn bad_input_exits_2_before_connecting() {
    let lab = common::lab(1);
    let tmp = lab.tmp();
    let inv = lab.inventory_path();
    let dir = tmp.join("somedir");
    fs::create_dir_all(&dir).expect("mkdir");
    let file = tmp.join("f");
    fs::write(&file, b"x").expect("f");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["push", "all", "/no/such/file", "x"], "/no/such/file"),
        (
            vec!["push", "all", dir.to_str().expect("utf8"), "x"],
            "--recursive",
        ),
        (
            vec!["push", "nosuchhost", file.to_str().expect("utf8"), "x"],
            "unknown host or group \"nosuchhost\"",
        ),
        (
            vec![
                "push",
                "all",
                file.to_str().expect("utf8"),
                "x",
                "--overwrite",
                "sometimes",
            ],
            "sometimes",
        ),
        (
            vec!["pull", "all", "x", file.to_str().expect("utf8")],
            "not a directory",
        ),
        (vec!["pull", "all", "x", "d", "--naming", "flat"], "flat"),
    ];
    for (args, needle) in cases {
        let out = run(tmp, &inv, &args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
    assert!(!tmp.join("state/oplog.jsonl").exists(), "nothing ran");
}
