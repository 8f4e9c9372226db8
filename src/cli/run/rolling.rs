//! `--batch`, `--max-failures`, `--pause`: a rolling run (issue 16), as the engine runs it.

use std::time::Duration;

use crate::contract::{Amount, Rolling};
use crate::face::parse_seconds;

/// The rolling-run options of `fleetdeck run`.
#[derive(Debug, Clone, clap::Args)]
pub struct RollArgs {
    /// Run the hosts in batches of N (or N% of them), in the order `fleetdeck inventory --list
    /// PATTERN` prints them; a batch starts when the previous one has ended.
    #[arg(long, value_name = "N|N%", value_parser = Amount::parse)]
    pub batch: Option<Amount>,

    /// With --batch: once more than N (or N%) hosts have failed, hold every later batch back
    /// (its hosts are reported as `skipped`, the exit status is 1).
    #[arg(long, value_name = "N|N%", value_parser = Amount::parse, requires = "batch")]
    pub max_failures: Option<Amount>,

    /// With --batch: wait this long between batches.
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds, requires = "batch")]
    pub pause: Option<Duration>,
}

impl RollArgs {
    /// The engine's rolling spec, or `None` without --batch.
    pub fn spec(&self) -> Result<Option<Rolling>, String> {
        let Some(batch) = self.batch else {
            return Ok(None);
        };
        if batch == Amount::Count(0) {
            return Err("--batch 0: a batch needs at least one host".into());
        }
        Ok(Some(Rolling {
            batch,
            max_failures: self.max_failures,
            pause: self.pause.unwrap_or_default(),
        }))
    }
}
