//! `fleetdeck push` and `fleetdeck pull`.

use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `fleetdeck push`.
#[derive(Debug, clap::Args)]
pub struct PushArgs {}

/// Arguments of `fleetdeck pull`.
#[derive(Debug, clap::Args)]
pub struct PullArgs {}

pub fn push(_inventory: Option<PathBuf>, _args: PushArgs) -> ExitCode {
    eprintln!("fleetdeck push: not built yet");
    ExitCode::from(1)
}

pub fn pull(_inventory: Option<PathBuf>, _args: PullArgs) -> ExitCode {
    eprintln!("fleetdeck pull: not built yet");
    ExitCode::from(1)
}
