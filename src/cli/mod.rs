//! The command line: clap definitions and dispatch. Each subcommand's arguments and handler
//! live in its own file; `fleetdeck` with no subcommand opens the console.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub mod inventory;
pub mod job;
pub mod lab;
pub mod log;
pub mod run;
pub mod shell;
pub mod transfer;

pub use crate::contract::EXIT_USAGE;

#[derive(Debug, Parser)]
#[command(
    name = "fleetdeck",
    version,
    about = "A terminal operations console for fleets of hosts over SSH"
)]
pub struct Cli {
    /// Inventory: fleetdeck YAML, an Ansible inventory (INI, YAML, a directory, a dynamic
    /// script, `ansible-inventory --list` JSON, a host list `a,b,`) or an ssh_config.
    /// Several are merged as Ansible merges them.
    #[arg(
        short = 'i',
        long = "inventory",
        global = true,
        env = "FLEETDECK_INVENTORY",
        action = clap::ArgAction::Append
    )]
    pub inventory: Vec<PathBuf>,

    #[command(flatten)]
    pub console: crate::tui::ConsoleArgs,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start, stop or inspect a local fleet of real OpenSSH daemons.
    Lab(lab::LabArgs),
    /// Show the inventory: tree, selected hosts, effective settings.
    Inventory(inventory::InventoryArgs),
    /// Run a command on every host a pattern selects.
    Run(run::RunArgs),
    /// Send local files to every host a pattern selects.
    Push(transfer::PushArgs),
    /// Fetch remote files from every host a pattern selects.
    Pull(transfer::PullArgs),
    /// Print the operation log.
    Log(log::LogArgs),
    /// Open the console with an interactive shell on every host a pattern selects, typed
    /// input broadcast to all of them.
    Shell(shell::ShellArgs),
}

/// Parses arguments and runs the chosen face.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Inventory(args)) = cli.command {
        return inventory::run(cli.inventory, args);
    }
    let inventory = cli.inventory;
    match cli.command {
        None => crate::tui::run_console(inventory, cli.console),
        Some(Command::Lab(args)) => lab::run(args),
        Some(Command::Inventory(_)) => unreachable!("handled above"),
        Some(Command::Run(args)) => run::run(inventory, args),
        Some(Command::Push(args)) => transfer::push(inventory, args),
        Some(Command::Pull(args)) => transfer::pull(inventory, args),
        Some(Command::Log(args)) => log::run(args),
        Some(Command::Shell(args)) => shell::run(inventory, args),
    }
}
