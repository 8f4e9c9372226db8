//! fleetdeck against Ansible itself: for every inventory of tests/fixtures/ansible/corpus.txt,
//! the records scripts/ansible-fixtures took from ansible-core (`ansible PATTERN --list-hosts`
//! and `ansible-inventory --list`) are compared with what fleetdeck selects and resolves.
//! Ansible is not needed here; the script regenerates the records.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use fleetdeck::inventory::{Inventory, LoadOptions};
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn format_of(src: &Path) -> &'static str {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(src).expect("corpus entry");
    if meta.is_dir() {
        "directory"
    } else if meta.permissions().mode() & 0o111 != 0 {
        "script"
    } else if matches!(
        src.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    ) {
        "yaml"
    } else {
        "ini"
    }
}

#[derive(Default)]
struct Tally {
    patterns: (usize, usize),
    hosts: (usize, usize),
}

fn compare(record: &Value, mismatches: &mut Vec<String>) -> (String, Tally) {
    let src = record["source"].as_str().expect("source");
    let path = root().join(src);
    let inv = Inventory::load_sources(std::slice::from_ref(&path), &LoadOptions::default())
        .unwrap_or_else(|e| panic!("{src}: {e}"));
    let mut t = Tally::default();
    for (pattern, want) in record["patterns"].as_object().expect("patterns") {
        t.patterns.1 += 1;
        let got: Option<Vec<String>> = inv.select(pattern).ok().map(|ids| {
            let mut n: Vec<String> = ids.iter().map(|&h| inv.hosts[h].name.clone()).collect();
            n.sort();
            n
        });
        let want: Option<Vec<String>> = want.as_array().map(|a| {
            a.iter()
                .map(|v| v.as_str().expect("name").to_string())
                .collect()
        });
        // Ansible answers a pattern matching nothing with no hosts; fleetdeck with an error.
        let same = got == want || (want.as_deref() == Some(&[]) && got.is_none());
        if same {
            t.patterns.0 += 1;
        } else {
            mismatches.push(format!(
                "{src} {pattern}: ansible {want:?}, fleetdeck {got:?}"
            ));
        }
    }
    for (name, want) in record["hosts"].as_object().expect("hosts") {
        t.hosts.1 += 1;
        let Some(h) = inv.host_by_name(name) else {
            mismatches.push(format!("{src}: no host {name:?}"));
            continue;
        };
        let c = &inv.hosts[h].conn;
        // Without `ansible_user` Ansible leaves the user to ssh; fleetdeck's default is the
        // operator, as ssh's is.
        let user_ok = want["user"].as_str().map_or(true, |u| u == c.user);
        if want["host"] == c.address.as_str() && want["port"] == c.port && user_ok {
            t.hosts.0 += 1;
        } else {
            mismatches.push(format!(
                "{src} {name}: ansible {want}, fleetdeck {}:{} as {}",
                c.address, c.port, c.user
            ));
        }
    }
    (format_of(&path).to_string(), t)
}

#[test]
fn fleetdeck_agrees_with_ansible_core_on_the_recorded_corpus() {
    let dir = root().join("tests/fixtures/ansible/expected");
    let mut by_format: BTreeMap<String, Tally> = BTreeMap::new();
    let mut mismatches = Vec::new();
    let mut records = 0;
    for e in std::fs::read_dir(&dir).expect("expected records") {
        let text = std::fs::read_to_string(e.expect("entry").path()).expect("record");
        let record: Value = serde_json::from_str(&text).expect("record JSON");
        let (format, t) = compare(&record, &mut mismatches);
        let slot = by_format.entry(format).or_default();
        slot.patterns.0 += t.patterns.0;
        slot.patterns.1 += t.patterns.1;
        slot.hosts.0 += t.hosts.0;
        slot.hosts.1 += t.hosts.1;
        records += 1;
    }
    let corpus = std::fs::read_to_string(root().join("tests/fixtures/ansible/corpus.txt"))
        .expect("corpus list");
    let listed = corpus
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .count();
    assert_eq!(
        records, listed,
        "one record per corpus entry: run scripts/ansible-fixtures"
    );
    assert!(
        records >= 30,
        "issue 18 asks for at least 30 inventories, {records} recorded"
    );
    for (format, t) in &by_format {
        println!(
            "{format:<10} patterns {}/{}  effective host/port/user {}/{}",
            t.patterns.0, t.patterns.1, t.hosts.0, t.hosts.1
        );
    }
    assert!(
        mismatches.is_empty(),
        "disagreements with Ansible:\n{}",
        mismatches.join("\n")
    );
}
