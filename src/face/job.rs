//! What every job-running face (the console, `run`, `push`, `pull`) shares: the connection
//! options, target planning and the engine set-up, so that every face picks the same files.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use crate::contract::{HostKeyPolicy, Prompter, EXIT_USAGE};
use crate::engine::{self, EngineConfig, Target, DEFAULT_FANOUT};
use crate::inventory::{HostId, Inventory};

/// How long the console keeps idle sessions for the next command.
pub const CONSOLE_IDLE_TIMEOUT: Duration = Duration::from_secs(600);
/// SSH keepalive interval of held sessions.
const KEEPALIVE: Duration = Duration::from_secs(30);

/// Connection options of every job-running subcommand.
#[derive(Debug, Clone, clap::Args)]
pub struct ConnArgs {
    /// At most this many hosts connect or run at once.
    #[arg(short = 'f', long, default_value_t = DEFAULT_FANOUT, value_parser = parse_fanout)]
    pub fanout: usize,

    /// Connect timeout in seconds (overrides the inventory's).
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub connect_timeout: Option<Duration>,

    /// What to do with host keys not in known_hosts (a changed key is always refused).
    #[arg(long, value_parser = super::choice::<HostKeyPolicy>(), default_value = "strict")]
    pub host_key_policy: HostKeyPolicy,

    /// known_hosts files to use instead of the inventory's and ~/.ssh/known_hosts (new keys
    /// are appended to the first).
    #[arg(long, value_name = "FILE")]
    pub known_hosts: Vec<PathBuf>,

    /// Reach every selected host through these jump hosts instead of the inventory's, as
    /// `ssh -J` does: a chain `a,b` (first hop first) of inventory host names or
    /// `[user@]host[:port]`; `none` connects directly.
    #[arg(short = 'J', long = "jump", value_name = "SPEC")]
    pub jump: Option<String>,
}

/// Parses `--fanout`: 1 to 100,000.
pub fn parse_fanout(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if (1..=100_000).contains(&n) => Ok(n),
        _ => Err(format!("{s:?} is not a fanout between 1 and 100000")),
    }
}

/// Parses a positive number of seconds (fractions allowed).
pub fn parse_seconds(s: &str) -> Result<Duration, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if !(v.is_finite() && v > 0.0 && v <= 1e9) {
        return Err(format!("{s:?} must be a positive number of seconds"));
    }
    Ok(Duration::from_secs_f64(v))
}

/// Bad input: `fleetdeck VERB: message` and exit status 2.
pub fn usage_error(verb: &str, msg: &str) -> ExitCode {
    eprintln!("fleetdeck {verb}: {msg}");
    ExitCode::from(EXIT_USAGE)
}

/// The known_hosts files a face uses: the ones given on the command line, else the
/// inventory's, else `~/.ssh/known_hosts` of the passwd home (as OpenSSH reads it).
pub fn known_hosts_files(explicit: &[PathBuf], inv: &Inventory) -> Vec<PathBuf> {
    if !explicit.is_empty() {
        return explicit.to_vec();
    }
    if !inv.known_hosts.is_empty() {
        return inv.known_hosts.clone();
    }
    let home = crate::paths::passwd_home()
        .or_else(dirs::home_dir)
        .unwrap_or_default();
    vec![home.join(".ssh/known_hosts")]
}

/// Resolves the selected hosts into targets with the command line's overrides (`-J`,
/// `--connect-timeout`) applied, and picks the known_hosts files.
pub fn plan_targets(
    inv: &Inventory,
    ids: &[HostId],
    conn: &ConnArgs,
) -> Result<(Vec<Target>, Vec<PathBuf>), String> {
    let mut targets = engine::resolve_targets(inv, ids)?;
    if let Some(spec) = &conn.jump {
        engine::target::apply_jump_override(inv, &mut targets, spec)?;
    }
    if let Some(t) = conn.connect_timeout {
        for target in &mut targets {
            target.conn.connect_timeout = t;
            for hop in &mut target.jump {
                hop.conn.connect_timeout = t;
            }
        }
    }
    Ok((targets, known_hosts_files(&conn.known_hosts, inv)))
}

/// The engine settings every face uses: run folders and the operation log in the state
/// directory.
pub fn engine_config(
    host_key_policy: HostKeyPolicy,
    known_hosts: Vec<PathBuf>,
    idle_timeout: Duration,
    prompter: Arc<dyn Prompter>,
) -> EngineConfig {
    EngineConfig {
        host_key_policy,
        known_hosts,
        idle_timeout,
        keepalive: KEEPALIVE,
        runs_dir: Some(crate::paths::runs_dir()),
        oplog: Some(crate::paths::oplog_file()),
        prompter,
    }
}
