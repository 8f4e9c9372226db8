//! `fleetdeck lab`.

use std::process::ExitCode;

/// Arguments of `fleetdeck lab`.
#[derive(Debug, clap::Args)]
pub struct LabArgs {}

pub fn run(_args: LabArgs) -> ExitCode {
    eprintln!("fleetdeck lab: not built yet");
    ExitCode::from(1)
}
