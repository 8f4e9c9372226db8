//! `fleetdeck run`.

use std::process::ExitCode;

/// Arguments of `fleetdeck run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {}

pub fn run(_inventory: Option<std::path::PathBuf>, _args: RunArgs) -> ExitCode {
    eprintln!("fleetdeck run: not built yet");
    ExitCode::from(1)
}
