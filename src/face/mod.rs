//! What every face (the console and the command line) shares, so neither imports the other:
//! where the inventory is and how a bad one ends the process, connection options and the
//! engine set-up ([`job`]), transfer progress bars ([`progress`]), and turning the contract's
//! [`Choice`] values into command-line arguments.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};

use crate::contract::{Choice, EXIT_USAGE};
use crate::inventory::{Inventory, InventoryError, LoadOptions};
use crate::output::Clean;

mod job;
pub mod progress;

pub use job::{
    engine_config, known_hosts_files, known_hosts_order, parse_fanout, parse_seconds, plan_targets,
    usage_error, ConnArgs, CONSOLE_IDLE_TIMEOUT, GLOBAL_KNOWN_HOSTS,
};

/// The inventories to use: every `-i` in order, or `./inventory.yaml` when none is given.
pub fn inventory_paths(cli_values: Vec<PathBuf>) -> Vec<PathBuf> {
    if cli_values.is_empty() {
        vec![PathBuf::from("inventory.yaml")]
    } else {
        cli_values
    }
}

/// The sources as messages name them: `a.yaml`, or `a.ini + b/` for several.
pub fn inventory_name(paths: &[PathBuf]) -> String {
    let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    names.join(" + ")
}

/// Reads the inventory from every source, merged as Ansible merges several `-i`, with the
/// operator's ssh_config applied; its warnings are printed on stderr.
pub fn read_inventory(paths: &[PathBuf]) -> Result<Inventory, InventoryError> {
    let inv = Inventory::load_sources(paths, &LoadOptions::from_env())?;
    for w in &inv.warnings {
        eprintln!("fleetdeck: warning: {}", clean_lines(&w.to_string()));
    }
    Ok(inv)
}

/// Inventory text (values from the file) made safe for the terminal, line by line.
fn clean_lines(s: &str) -> String {
    s.lines()
        .map(|l| Clean::new(l).as_str().to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// [`read_inventory`], or prints its error (`FILE:LINE:COL: …`) and gives exit status 2.
pub fn load_inventory(paths: &[PathBuf]) -> Result<Inventory, ExitCode> {
    read_inventory(paths).map_err(|e| {
        eprintln!("fleetdeck: {}", clean_lines(&e.to_string()));
        ExitCode::from(EXIT_USAGE)
    })
}

/// A clap value parser for a [`Choice`]: its words as the possible values, with their help.
pub fn choice<T: Choice + Clone + Send + Sync>() -> impl TypedValueParser<Value = T> {
    let values = T::ALL.iter().map(|v| {
        let value = PossibleValue::new(v.as_str());
        if v.help().is_empty() {
            value
        } else {
            value.help(v.help())
        }
    });
    PossibleValuesParser::new(values).map(|word| {
        // PossibleValuesParser only lets the listed words through.
        T::from_word(&word).unwrap_or(T::ALL[0])
    })
}
