//! The JSON faces through the real binary: C1 and bidi controls in stored values come out as
//! `\uXXXX` escapes, never raw, and the JSON still parses back to the same strings.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

/// A command and a host name carrying C1 (U+009B CSI, U+0085 NEL, U+0080, U+009F), DEL, bidi
/// overrides/isolates/marks and the line/paragraph separators.
const COMMAND: &str =
    "echo \u{9B}2J\u{85}\u{80}\u{9F}\u{7F} \u{202E}txt.exe\u{202C} \u{2066}a\u{2069}\u{2028}\u{2029}";
const HOST: &str = "web\u{9B}31m\u{200F}\u{200E}\u{061C}\u{202A}\u{202B}\u{202D}\u{2067}\u{2068}01";
/// Text that must stay as it is.
const PLAIN: &str = "café 日本";

fn oplog_lines() -> String {
    let run = "20260131T100000-1-1";
    let time = "2026-01-31T10:00:00+01:00";
    let records = [
        serde_json::json!({
            "type": "job-start", "time": time, "operator": PLAIN, "job": 1, "run": run,
            "kind": "exec", "command": COMMAND, "pattern": HOST, "hosts": [HOST],
        }),
        serde_json::json!({
            "type": "host-result", "time": time, "job": 1, "run": run, "host": HOST,
            "address": "127.0.0.1:22", "exit_code": 1, "duration_ms": 5,
            "error": { "class": "refused", "message": format!("no {HOST}") },
        }),
        serde_json::json!({
            "type": "job-end", "time": time, "job": 1, "run": run, "hosts": 1, "ok": 0,
            "nonzero": 0, "errors": 1, "cancelled": false, "duration_ms": 6,
        }),
    ];
    records.iter().fold(String::new(), |mut s, r| {
        s.push_str(&r.to_string());
        s.push('\n');
        s
    })
}

/// Fails on any raw C1 control (UTF-8 `C2 80`–`C2 9F`), DEL or bidi control / separator.
fn assert_no_raw_controls(bytes: &[u8]) {
    for w in bytes.windows(2) {
        assert!(
            !(w[0] == 0xC2 && (0x80..=0x9F).contains(&w[1])),
            "raw C1 in {:?}",
            String::from_utf8_lossy(bytes)
        );
    }
    let text = std::str::from_utf8(bytes).expect("stdout is UTF-8");
    for c in text.chars() {
        let bad = c == '\u{7F}'
            || matches!(
                c,
                '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{2028}' | '\u{2029}'
            )
            || ('\u{202A}'..='\u{202E}').contains(&c)
            || ('\u{2066}'..='\u{2069}').contains(&c);
        assert!(!bad, "raw U+{:04X} in {text:?}", c as u32);
    }
}

fn run_log_json(state: &Path) -> Vec<u8> {
    let out = Command::new(common::fleetdeck_bin())
        .args(["log", "--json"])
        .env("FLEETDECK_STATE_DIR", state)
        .env_remove("FLEETDECK_INVENTORY")
        .stdin(Stdio::null())
        .output()
        .expect("run fleetdeck log --json");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn log_json_escapes_c1_and_bidi_controls() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let state = tmp.path().join("state");
    std::fs::create_dir_all(&state).expect("state dir");
    std::fs::write(state.join("oplog.jsonl"), oplog_lines()).expect("write oplog");
    // The stored file holds them raw: the face is what must escape.
    let stored = std::fs::read(state.join("oplog.jsonl")).unwrap();
    assert!(stored.windows(2).any(|w| w == [0xC2, 0x9B]));

    let stdout = run_log_json(&state);
    assert_no_raw_controls(&stdout);
    let text = String::from_utf8(stdout).unwrap();
    assert!(text.contains("\\u009b"), "{text}");
    assert!(text.contains("\\u202e"), "{text}");
    assert!(
        text.contains(PLAIN),
        "plain non-ASCII stays as it is: {text}"
    );
    let recs: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(recs.len(), 3, "{text}");
    assert_eq!(recs[0]["command"], COMMAND);
    assert_eq!(recs[0]["pattern"], HOST);
    assert_eq!(recs[0]["hosts"][0], HOST);
    assert_eq!(recs[0]["operator"], PLAIN);
    assert_eq!(recs[1]["host"], HOST);
    assert_eq!(recs[1]["error"]["message"], format!("no {HOST}"));
    assert_eq!(recs[2]["type"], "job-end");
}

#[test]
fn inventory_json_escapes_c1_and_bidi_controls() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let inv = tmp.path().join("inventory.yaml");
    // YAML double-quoted escapes put the raw code points into the loaded values.
    std::fs::write(
        &inv,
        "all:\n  hosts:\n    web01:\n      note: \"a\\u009bb\\u202ec\\u2066d\\x85\"\n",
    )
    .expect("write inventory");
    let out = Command::new(common::fleetdeck_bin())
        .args(["inventory", "--json", "-i"])
        .arg(&inv)
        .env("FLEETDECK_SSH_CONFIG", "")
        .env_remove("FLEETDECK_INVENTORY")
        .output()
        .expect("run fleetdeck inventory --json");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_no_raw_controls(&out.stdout);
    let v: serde_json::Value = serde_json::from_str(&text).expect("--json is JSON");
    let host = v["hosts"]
        .as_array()
        .and_then(|h| h.iter().find(|h| h["name"] == "web01"))
        .unwrap_or_else(|| panic!("web01 in {text}"));
    assert_eq!(
        host["vars"]["note"], "a\u{9B}b\u{202E}c\u{2066}d\u{85}",
        "{text}"
    );
}

/// The plain `inventory --list` / `--host` faces: names and values with C1 or bidi controls
/// show them as U+FFFD, never raw.
#[test]
fn inventory_text_faces_never_print_raw_bidi_or_c1_controls() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let inv = tmp.path().join("inventory.yaml");
    std::fs::write(
        &inv,
        "all:\n  hosts:\n    \"web\\u202e01\":\n      note: \"a\\u009bb\\u2066c\"\n",
    )
    .expect("write inventory");
    for args in [
        vec!["inventory", "--list", "all"],
        vec!["inventory", "--host", "web\u{202e}01"],
    ] {
        let out = Command::new(common::fleetdeck_bin())
            .args(&args)
            .arg("-i")
            .arg(&inv)
            .env("FLEETDECK_SSH_CONFIG", "")
            .env_remove("FLEETDECK_INVENTORY")
            .output()
            .expect("run fleetdeck inventory");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_no_raw_controls(&out.stdout);
        assert!(text.contains("web\u{FFFD}01"), "{args:?}: {text}");
    }
}
