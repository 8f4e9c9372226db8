//! Loading 10,000 hosts in 2,000 nested groups and resolving a pattern over them.
//! Target: load + resolve under 100 ms.

use std::fmt::Write as _;
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use fleetdeck::inventory::Inventory;

const HOSTS: usize = 10_000;
const PATTERN: &str = "region3:region7:&~h[0-9]*1$:!region3-zone2";

/// 20 regions × 10 zones × 9 racks = 2,020 groups, three levels deep, with settings and vars
/// at every level and 10,000 hosts spread over the racks.
fn fleet_yaml() -> String {
    let mut s =
        String::from("defaults:\n  user: root\n  port: 22\n  vars: { env: bench }\ngroups:\n");
    let racks = 20 * 10 * 9;
    let mut host = 0;
    for r in 0..20 {
        let _ = writeln!(
            s,
            "  region{r}:\n    user: ops{r}\n    vars: {{ region: r{r} }}\n    groups:"
        );
        for z in 0..10 {
            let _ = writeln!(
                s,
                "      region{r}-zone{z}:\n        connect_timeout: 5\n        groups:"
            );
            for k in 0..9 {
                let rack = (r * 10 + z) * 9 + k;
                let _ = writeln!(s, "          region{r}-zone{z}-rack{k}:\n            vars: {{ rack: \"{k}\" }}\n            hosts:");
                let end = (rack + 1) * HOSTS / racks;
                while host < end {
                    let _ = writeln!(
                        s,
                        "              h{host:05}: {{ address: 10.{}.{}.{}, port: {} }}",
                        host / 65536,
                        (host / 256) % 256,
                        host % 256,
                        2000 + host % 1000
                    );
                    host += 1;
                }
            }
        }
    }
    s
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("fleet.yaml");
    std::fs::write(&path, fleet_yaml()).expect("write the fleet");
    let inv = Inventory::load_with_ssh_config(&path, None).expect("the fleet loads");
    assert_eq!(inv.hosts.len(), HOSTS);
    assert_eq!(inv.groups.len(), 2_021);
    let selected = inv.select(PATTERN).expect("the pattern resolves");
    assert!(!selected.is_empty());

    c.bench_function("inventory load 10k hosts / 2k groups + select", |b| {
        b.iter(|| {
            let inv = Inventory::load_with_ssh_config(black_box(&path), None).expect("loads");
            black_box(inv.select(PATTERN).expect("selects").len())
        });
    });
    c.bench_function("inventory select over 10k hosts", |b| {
        b.iter(|| black_box(inv.select(black_box(PATTERN)).expect("selects").len()));
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
