//! `fleetdeck shell PATTERN`: the console opened in broadcast mode, an interactive login shell
//! on a pty on every host the pattern selects (what `B` opens on the selected hosts).

use std::path::PathBuf;
use std::process::ExitCode;

use crate::contract::EXIT_USAGE;
use crate::face;

#[derive(Debug, clap::Args)]
pub struct ShellArgs {
    /// Hosts to open shells on: a target pattern (`web`, `prod:&web`, `all:!db`).
    pub pattern: String,

    #[command(flatten)]
    pub console: crate::tui::ConsoleArgs,
}

/// Checks the pattern against the inventory (exit 2 when it selects nothing), then opens the
/// console with broadcast shells on the selected hosts.
pub fn run(inventory: Vec<PathBuf>, args: ShellArgs) -> ExitCode {
    let paths = face::inventory_paths(inventory.clone());
    let inv = match face::load_inventory(&paths) {
        Ok(inv) => inv,
        Err(code) => return code,
    };
    match inv.select(&args.pattern) {
        Ok(ids) if !ids.is_empty() => {}
        Ok(_) => {
            eprintln!(
                "fleetdeck shell: pattern {:?} selects no host in {}",
                args.pattern,
                face::inventory_name(&paths)
            );
            return ExitCode::from(EXIT_USAGE);
        }
        Err(e) => {
            eprintln!("fleetdeck shell: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    }
    let mut console = args.console;
    console.start_shell = Some(args.pattern);
    crate::tui::run_console(inventory, console)
}
