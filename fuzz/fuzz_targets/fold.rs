//! Gathered-view folding and host-set compaction on arbitrary host names and outputs:
//! every host lands in exactly one fold, and compaction never panics.
#![no_main]

use fleetdeck::output::{gather::fold, hostset::compact};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Records separated by 0xFF: "name 0xFE output".
    let mut outputs: Vec<(String, Vec<u8>)> = Vec::new();
    for rec in data.split(|&b| b == 0xff) {
        let mut parts = rec.splitn(2, |&b| b == 0xfe);
        let name = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
        let out = parts.next().unwrap_or_default().to_vec();
        outputs.push((name, out));
    }
    let folded = fold(&outputs);
    let total: usize = folded.iter().map(|f| f.hosts.len()).sum();
    assert_eq!(total, outputs.len());
    let names: Vec<&str> = outputs.iter().map(|(n, _)| n.as_str()).collect();
    let _ = compact(&names);
    for f in &folded {
        let _ = compact(&f.hosts);
    }
});
