//! The console: a ratatui + crossterm full-screen face over the engine.

use std::path::PathBuf;
use std::process::ExitCode;

/// Options of the console (`fleetdeck` with no subcommand).
#[derive(Debug, Clone, clap::Args)]
pub struct ConsoleArgs {
    /// Theme name (from themes/) or path to a theme YAML file.
    #[arg(long, global = true, env = "FLEETDECK_THEME")]
    pub theme: Option<String>,
}

pub fn run_console(_inventory: Option<PathBuf>, _args: ConsoleArgs) -> ExitCode {
    eprintln!("fleetdeck console: not built yet");
    ExitCode::from(1)
}
