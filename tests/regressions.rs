//! Hostile-input properties (issue 9), run in the normal suite on a fixed number of inputs
//! from a fixed seed (the same cases every run; `FLEETDECK_SEED` and `FLEETDECK_CASES` explore
//! further), plus regression cases kept from fuzzing (`scripts/fuzz`, the
//! cargo-fuzz targets in `fuzz/`). The same invariants as the fuzz targets:
//! - inventory reader and pattern language: errors, never panics;
//! - output sanitizer: only printable text, newline, tab and plain SGR reach the terminal;
//! - gathered folding: every host in exactly one group; `hostset::compact` expands back
//!   (through the inventory's range syntax) to the same set of names.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

use fleetdeck::inventory::range::expand_range;
use fleetdeck::inventory::{Inventory, LoadOptions};
use fleetdeck::output::hostset::compact;
use fleetdeck::output::sanitize::{line_to_sgr, to_plain, to_safe_sgr, Sanitizer};
use fleetdeck::output::{fold, fold_by};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Cases of each randomized property (`FLEETDECK_CASES` overrides).
const CASES: usize = 20_000;
/// The seed of every property unless `FLEETDECK_SEED` gives another: a run is repeatable.
const SEED: u64 = 0x5eed_f1ee_7dec;

/// A seeded generator, its seed printed so that a failure can be replayed.
fn rng(name: &str) -> StdRng {
    let seed = std::env::var("FLEETDECK_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(SEED);
    eprintln!("{name}: FLEETDECK_SEED={seed}");
    StdRng::seed_from_u64(seed)
}

/// Runs `f` on [`CASES`] generated cases; returns how many ran.
fn for_a_while(mut f: impl FnMut()) -> usize {
    let cases = std::env::var("FLEETDECK_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(CASES);
    for _ in 0..cases {
        f();
    }
    cases
}

/// Panics when `s` holds a control character other than newline/tab or an escape sequence
/// other than SGR (`ESC [ digits ; ... m`).
fn assert_terminal_safe(s: &str) {
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            assert_eq!(chars.next(), Some('['), "non-CSI escape in {s:?}");
            loop {
                match chars.next() {
                    Some('m') => break,
                    Some(d) if d.is_ascii_digit() || d == ';' || d == ':' => {}
                    other => panic!("non-SGR sequence ({other:?}) in {s:?}"),
                }
            }
        } else {
            let bad = (c < ' ' && c != '\n' && c != '\t') || ('\u{7f}'..='\u{9f}').contains(&c);
            assert!(!bad, "control U+{:04X} in {s:?}", c as u32);
        }
    }
}

/// Pieces that hostile terminal output is made of.
const TERMINAL_PIECES: &[&[u8]] = &[
    b"\x1b[",
    b"\x1b]",
    b"\x1bP",
    b"\x1b_",
    b"\x1b^",
    b"\x1bX",
    b"\x1b\\",
    b"\x07",
    b"\x08",
    b"\r",
    b"\n",
    b"\t",
    b"\x00",
    b"\x7f",
    b"\xc2\x9b",
    b"\xc2\x9d",
    b"\xc2\x90",
    b"\x9b",
    b"m",
    b";",
    b"38;5;",
    b"48;2;1;2;3",
    b"0",
    b"1",
    b"31",
    b"2J",
    b"?1049h",
    b"0;title",
    b"8;;http://x",
    b"hello",
    " é漢字🙂".as_bytes(),
    b"\xe2\x80\xae",
    b"\xf0\x9f",
    b"\xff",
];

fn hostile_bytes(rng: &mut StdRng) -> Vec<u8> {
    let mut out = Vec::new();
    for _ in 0..rng.gen_range(0..80) {
        if rng.gen_bool(0.2) {
            out.push(rng.gen());
        } else {
            out.extend_from_slice(TERMINAL_PIECES[rng.gen_range(0..TERMINAL_PIECES.len())]);
        }
    }
    out
}

#[test]
fn sanitizer_lets_only_text_and_plain_sgr_through() {
    let mut rng = rng("sanitizer");
    let n = for_a_while(|| {
        let data = hostile_bytes(&mut rng);
        let mut san = Sanitizer::new();
        let split = rng.gen_range(1..17);
        for chunk in data.chunks(split) {
            for line in san.feed(chunk) {
                assert_terminal_safe(&line.text());
                assert_terminal_safe(&line_to_sgr(&line));
            }
            assert_terminal_safe(&san.partial().text());
        }
        if let Some(line) = san.finish() {
            assert_terminal_safe(&line.text());
            assert_terminal_safe(&line_to_sgr(&line));
        }
        assert_terminal_safe(&to_safe_sgr(&data));
        let plain = to_plain(&data);
        assert!(!plain.contains('\u{1b}'), "{plain:?}");
        assert_terminal_safe(&plain);
    });
    eprintln!("sanitizer: {n} inputs");
    assert!(n > 100);
}

const YAML_PIECES: &[&str] = &[
    "\n",
    "  ",
    "    ",
    "- ",
    ": ",
    "hosts:",
    "groups:",
    "defaults:",
    "vars:",
    "children:",
    "all:",
    "known_hosts:",
    "port: ",
    "user: ",
    "address: ",
    "jump: ",
    "identity: ",
    "connect_timeout: ",
    "web[01-20]",
    "db[1:3]",
    "x[a:c]",
    "[",
    "]",
    "{",
    "}",
    ",",
    "~",
    "0",
    "65536",
    "-1",
    "99999999999999999999",
    "'",
    "\"",
    "&a",
    "*a",
    "!!str",
    "<<: *a",
    "web01",
    "prod",
    "::1",
    "[::1]:22",
    "#",
    "\t",
    "é",
    "Host *",
    "HostName x",
    "ansible_host: ",
    "ansible_port: ",
];

fn yaml_soup(rng: &mut StdRng) -> String {
    let mut s = String::new();
    for _ in 0..rng.gen_range(0..60) {
        s.push_str(YAML_PIECES[rng.gen_range(0..YAML_PIECES.len())]);
    }
    s
}

/// An empty ssh_config, so that the operator's `~/.ssh/config` does not shape the results.
fn no_ssh_config() -> LoadOptions {
    LoadOptions::default().with_ssh_config("/dev/null")
}

#[test]
fn inventory_reader_never_panics() {
    let options = no_ssh_config();
    let mut rng = rng("inventory");
    let (mut ok, mut err) = (0, 0);
    let n = for_a_while(|| {
        let text = yaml_soup(&mut rng);
        let name = if rng.gen_bool(0.1) {
            "config"
        } else {
            "fuzz.yaml"
        };
        match Inventory::load_str_with(Path::new(name), &text, &options) {
            Ok(inv) => {
                ok += 1;
                for p in ["all", "web*", "!db*", "~^w", "web[01:03]"] {
                    let _ = inv.select(p);
                }
            }
            Err(e) => {
                err += 1;
                assert!(!e.to_string().is_empty());
            }
        }
    });
    eprintln!("inventory: {n} inputs ({ok} loaded, {err} errors)");
    assert!(n > 50);
}

const PATTERN_PIECES: &[&str] = &[
    "all", "web", "db", "*", "?", "[", "]", "01", "-", ":", "!", "&", ",", "~", "^", "$", ".*",
    "(", ")", "@", "=", "role", "prod", "staging", " ", "\\", "{", "}", "1:3", "a:c", "é",
];

#[test]
fn pattern_language_never_panics() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/inventory.yaml"))
        .expect("the example inventory");
    let inv = Inventory::load_str_with(Path::new("inventory.yaml"), &text, &no_ssh_config())
        .expect("example loads");
    let mut rng = rng("pattern");
    let mut matched = 0;
    let n = for_a_while(|| {
        let mut p = String::new();
        for _ in 0..rng.gen_range(0..12) {
            p.push_str(PATTERN_PIECES[rng.gen_range(0..PATTERN_PIECES.len())]);
        }
        if let Ok(ids) = inv.select(&p) {
            assert!(ids.len() <= inv.hosts.len());
            matched += usize::from(!ids.is_empty());
        }
    });
    eprintln!("pattern: {n} patterns ({matched} matched some host)");
    assert!(n > 100);
}

fn host_name(rng: &mut StdRng) -> String {
    const PREFIXES: &[&str] = &["web", "db", "db-r", "cache1-n", "", "x.y", "a-", "é"];
    const SUFFIXES: &[&str] = &["", ".example.com", "-b", "a", "-1"];
    let mut s = PREFIXES[rng.gen_range(0..PREFIXES.len())].to_string();
    if rng.gen_bool(0.9) {
        let width = rng.gen_range(0..4);
        let n: u32 = rng.gen_range(0..130);
        let _ = write!(s, "{n:0width$}");
    }
    s.push_str(SUFFIXES[rng.gen_range(0..SUFFIXES.len())]);
    s
}

/// `compact` output expanded back through the inventory's range syntax.
fn expand_compact(set: &str) -> BTreeSet<String> {
    // Split at commas outside brackets.
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in set.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&set[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&set[start..]);
    let mut out = BTreeSet::new();
    for p in parts.into_iter().filter(|p| !p.is_empty()) {
        if p.contains('[') {
            out.extend(expand_range(p).unwrap_or_else(|e| panic!("{p:?} of {set:?}: {e}")));
        } else {
            out.insert(p.to_string());
        }
    }
    out
}

#[test]
fn folding_and_compaction_keep_every_host() {
    let mut rng = rng("fold");
    let n = for_a_while(|| {
        let hosts: usize = rng.gen_range(0..60);
        let mut seen = BTreeSet::new();
        let mut outputs = Vec::new();
        for _ in 0..hosts {
            let name = host_name(&mut rng);
            if !name.is_empty() && seen.insert(name.clone()) {
                let out = vec![b'a' + rng.gen_range(0..3u8); rng.gen_range(0..3)];
                outputs.push((name, out));
            }
        }
        let folded = fold(&outputs);
        let mut back = BTreeSet::new();
        for f in &folded {
            for h in &f.hosts {
                assert!(back.insert(h.clone()), "{h} in two groups");
            }
        }
        assert_eq!(back, seen);
        for w in folded.windows(2) {
            assert!(w[0].hosts.len() >= w[1].hosts.len(), "largest group first");
        }
        let names: Vec<&str> = outputs.iter().map(|(n, _)| n.as_str()).collect();
        let set = compact(&names);
        // Names holding characters of the range syntax cannot round-trip; the rest must.
        if names.iter().all(|n| !n.contains([',', '[', ']'])) {
            assert_eq!(expand_compact(&set), seen, "compact gave {set:?}");
        }
        let by = fold_by(outputs.iter().map(|(h, o)| (h.as_str(), o.len())));
        assert_eq!(by.iter().map(|(h, _)| h.len()).sum::<usize>(), seen.len());
    });
    eprintln!("fold: {n} host sets");
    assert!(n > 100);
}
