//! `fleetdeck log`.

use std::process::ExitCode;

/// Arguments of `fleetdeck log`.
#[derive(Debug, clap::Args)]
pub struct LogArgs {}

pub fn run(_args: LogArgs) -> ExitCode {
    eprintln!("fleetdeck log: not built yet");
    ExitCode::from(1)
}
