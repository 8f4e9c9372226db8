//! The pattern language on arbitrary patterns against a fixed inventory with groups,
//! ranges and variables.
#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use fleetdeck::inventory::Inventory;
use libfuzzer_sys::fuzz_target;

const INVENTORY: &str = include_str!("../inventory.yaml");

fn inventory() -> &'static Inventory {
    static INV: OnceLock<Inventory> = OnceLock::new();
    INV.get_or_init(|| {
        Inventory::load_str(Path::new("fuzz-inventory.yaml"), INVENTORY)
            .expect("the fuzz inventory loads")
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(pattern) = std::str::from_utf8(data) {
        if let Ok(ids) = inventory().select(pattern) {
            assert!(ids.len() <= inventory().hosts.len());
        }
    }
});
