//! `fleetdeck inventory`.

use std::process::ExitCode;

/// Arguments of `fleetdeck inventory`.
#[derive(Debug, clap::Args)]
pub struct InventoryArgs {}

pub fn run(_inventory: Option<std::path::PathBuf>, _args: InventoryArgs) -> ExitCode {
    eprintln!("fleetdeck inventory: not built yet");
    ExitCode::from(1)
}
