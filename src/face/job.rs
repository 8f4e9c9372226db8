//! What every job-running face (the console, `run`, `push`, `pull`) shares: the connection
//! options, target planning and the engine set-up, so that every face picks the same files.

use std::path::{Path, PathBuf};
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

    /// known_hosts file to use instead of ~/.ssh/known_hosts, as ssh's UserKnownHostsFile (new
    /// keys are appended to the first); /etc/ssh/ssh_known_hosts and the inventory's are still read.
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

pub use crate::paths::GLOBAL_KNOWN_HOSTS;

/// The known_hosts files a face uses, as OpenSSH reads them: the user file
/// (`~/.ssh/known_hosts` of the passwd home, or the `--known-hosts` files instead), then
/// [`GLOBAL_KNOWN_HOSTS`], then the inventory's `known_hosts:` files. See
/// [`known_hosts_order`] for the rules.
pub fn known_hosts_files(explicit: &[PathBuf], inv: &Inventory) -> Vec<PathBuf> {
    let home = crate::paths::passwd_home().unwrap_or_default();
    known_hosts_order(
        explicit,
        &home.join(".ssh/known_hosts"),
        Path::new(GLOBAL_KNOWN_HOSTS),
        &inv.known_hosts,
    )
}

/// Every known_hosts file to consult, **the first being the only one new keys are appended
/// to** (what `EngineConfig::known_hosts` and `ssh::connect` expect):
/// - the user file comes first: the `explicit` (`--known-hosts`) files when given, which
///   replace `user_file` as `UserKnownHostsFile` does (the first of them is written), else
///   `user_file`;
/// - `global` and the `inventory` files follow: always read, never written;
/// - a file named twice is read once, at its first place (so an inventory naming the global or
///   the user file changes nothing). Missing files are skipped when read.
pub fn known_hosts_order(
    explicit: &[PathBuf],
    user_file: &Path,
    global: &Path,
    inventory: &[PathBuf],
) -> Vec<PathBuf> {
    let user = if explicit.is_empty() {
        vec![user_file.to_path_buf()]
    } else {
        explicit.to_vec()
    };
    let mut files: Vec<PathBuf> = Vec::new();
    let rest = std::iter::once(global.to_path_buf()).chain(inventory.iter().cloned());
    for f in user.into_iter().chain(rest) {
        if !files.contains(&f) {
            files.push(f);
        }
    }
    files
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

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> PathBuf {
        PathBuf::from(s)
    }

    #[test]
    fn user_and_global_files_are_always_read_and_the_inventorys_add_to_them() {
        let user = p("/home/u/.ssh/known_hosts");
        let global = p("/g/ssh_known_hosts");
        assert_eq!(
            known_hosts_order(&[], &user, &global, &[]),
            vec![user.clone(), global.clone()]
        );
        assert_eq!(
            known_hosts_order(&[], &user, &global, &[p("/inv/kh"), p("/inv/kh2")]),
            vec![user, global, p("/inv/kh"), p("/inv/kh2")],
            "the user file stays first: the only one written"
        );
    }

    #[test]
    fn command_line_files_replace_the_user_file_only() {
        let user = p("/home/u/.ssh/known_hosts");
        let global = p("/g/ssh_known_hosts");
        let files = known_hosts_order(&[p("/cli/a"), p("/cli/b")], &user, &global, &[p("/inv/kh")]);
        assert_eq!(files, vec![p("/cli/a"), p("/cli/b"), global, p("/inv/kh")]);
        assert!(!files.contains(&user));
    }

    #[test]
    fn a_file_named_twice_is_read_once_at_its_first_place() {
        let user = p("/home/u/.ssh/known_hosts");
        let global = p("/g/ssh_known_hosts");
        let inv = [global.clone(), user.clone(), p("/inv/kh"), p("/inv/kh")];
        assert_eq!(
            known_hosts_order(&[], &user, &global, &inv),
            vec![user, global, p("/inv/kh")]
        );
    }

    #[test]
    fn the_real_global_file_is_opensshs() {
        let inv = Inventory::default();
        let files = known_hosts_files(&[p("/cli/kh")], &inv);
        assert_eq!(files, vec![p("/cli/kh"), p(GLOBAL_KNOWN_HOSTS)]);
    }
}
