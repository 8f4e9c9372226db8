//! What every face (the console and the command line) shares, so neither imports the other:
//! where the inventory is and how a bad one ends the process, connection options and the
//! engine set-up ([`job`]), transfer progress bars ([`progress`]), and turning the contract's
//! [`Choice`] values into command-line arguments.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};

use crate::contract::{Choice, EXIT_USAGE};
use crate::inventory::Inventory;

mod job;
pub mod progress;

pub use job::{
    engine_config, known_hosts_files, known_hosts_order, parse_fanout, parse_seconds, plan_targets,
    usage_error, ConnArgs, CONSOLE_IDLE_TIMEOUT, GLOBAL_KNOWN_HOSTS,
};

/// The inventory to use when `-i` is not given: `./inventory.yaml`.
pub fn inventory_path(cli_value: Option<PathBuf>) -> PathBuf {
    cli_value.unwrap_or_else(|| PathBuf::from("inventory.yaml"))
}

/// Loads the inventory, or prints its error (`FILE:LINE:COL: …`) and gives exit status 2.
pub fn load_inventory(path: &Path) -> Result<Inventory, ExitCode> {
    let inv = Inventory::load(path).map_err(|e| {
        eprintln!("fleetdeck: {e}");
        ExitCode::from(EXIT_USAGE)
    })?;
    for w in &inv.warnings {
        eprintln!("fleetdeck: warning: {w}");
    }
    Ok(inv)
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
