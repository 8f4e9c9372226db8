//! The inventory reader on arbitrary text: errors are fine, panics are not; a loaded
//! inventory answers a few patterns.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(inv) = fleetdeck::inventory::Inventory::load_str(Path::new("fuzz.yaml"), &text) {
        for p in ["all", "web*", "!db*", "~^w.*", "web[01:03]", "@prod:&web"] {
            let _ = inv.select(p);
        }
    }
});
