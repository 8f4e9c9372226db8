//! `fleetdeck push` and `fleetdeck pull`: send files to, or fetch files from, every host a
//! pattern selects. Progress bars on a terminal (none when stderr is not one), one result line
//! per host, then the same closing summary and exit status as `run`: 0 when every host
//! succeeded, 1 otherwise, 2 for bad input, 130 after Ctrl-C, 143 after SIGTERM.
//!
//! Target planning, the engine set-up and signal handling are `cli::job`'s, shared with `run`;
//! the closing summary is `run`'s own.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::cli::job::cli_engine_config;
use crate::contract::{DownloadSpec, Naming, Overwrite, SmallFiles, SyncOptions, UploadSpec};
use crate::engine::{Engine, JobKind, JobSpec, Target};
use crate::face::{plan_targets, progress, usage_error, ConnArgs};
pub use progress::human_bytes;

/// Options shared by push and pull.
#[derive(Debug, clap::Args)]
pub struct TransferOpts {
    /// Recurse into directories.
    #[arg(short = 'r', long)]
    pub recursive: bool,

    /// Keep permission bits and modification times.
    #[arg(short = 'p', long)]
    pub keep_perms: bool,

    /// Compare every file's sha256 with the remote `sha256sum` (when the host has it).
    #[arg(long)]
    pub verify: bool,

    #[command(flatten)]
    pub conn: ConnArgs,
}

/// Arguments of `fleetdeck push`.
#[derive(Debug, clap::Args)]
#[command(
    override_usage = "fleetdeck push [OPTIONS] <PATTERN> <LOCAL>... <REMOTE>",
    after_help = "A directory SRC goes to REMOTE/SRC (its contents only when written SRC/); one file \
goes to REMOTE itself unless REMOTE is a directory or ends with '/'. Files are written to a temp name \
and renamed into place, so a target is never left half-written.\n\nExamples:\n  fleetdeck push web app.tar.gz /srv/releases/\n  fleetdeck push 'prod:&web' -r -p --verify site/ /var/www/site\n  fleetdeck push web -r --sync --delete site/ /var/www/site\n  fleetdeck push db --resume backup.tar /srv/backups/"
)]
pub struct PushArgs {
    /// Target pattern (`web`, `web:db`, `prod:&web`, `all:!db`).
    #[arg(value_name = "PATTERN")]
    pub pattern: String,

    /// Local files or directories, then the remote path (relative to the login directory).
    #[arg(value_name = "PATH", num_args = 2.., required = true)]
    pub paths: Vec<String>,

    /// When the remote target exists: replace it, leave it, or replace it only when size or
    /// mtime differ.
    #[arg(long, value_parser = crate::face::choice::<Overwrite>(), default_value = "always")]
    pub overwrite: Overwrite,

    /// Send only files whose size or mtime differ from the remote copy (mtimes are kept, so
    /// a second sync sends nothing).
    #[arg(long)]
    pub sync: bool,

    /// With --sync: compare sha256 (the remote `sha256sum`) of files of equal size instead
    /// of their mtime.
    #[arg(long, requires = "sync")]
    pub checksum: bool,

    /// With --sync: delete remote files and directories inside each sent directory that the
    /// source lacks.
    #[arg(long, requires = "sync")]
    pub delete: bool,

    /// Keep the partial copy of a file when the push fails or is cancelled, and continue one
    /// left by an earlier --resume push of the same file (checked by sha256 first).
    #[arg(long)]
    pub resume: bool,

    #[command(flatten)]
    pub opts: TransferOpts,
}

/// Arguments of `fleetdeck pull`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "REMOTE may be a file, a directory (with -r) or a glob in its last component. \
Each host's files land in LOCAL_DIR/<host>/… (--naming subdir) or LOCAL_DIR/name.<host> (--naming suffix); \
nothing is ever written outside LOCAL_DIR and remote symlinks are never followed below REMOTE.\n\nExamples:\n  fleetdeck pull db /var/log/postgresql/*.log ./logs\n  fleetdeck pull web -r /etc/nginx ./configs --naming suffix"
)]
pub struct PullArgs {
    /// Target pattern (`web`, `web:db`, `prod:&web`, `all:!db`).
    #[arg(value_name = "PATTERN")]
    pub pattern: String,

    /// Remote file, directory or glob (relative to the login directory).
    #[arg(value_name = "REMOTE")]
    pub remote: String,

    /// Local directory to fetch into (created when missing).
    #[arg(value_name = "LOCAL_DIR")]
    pub local_dir: PathBuf,

    /// One subdirectory per host, or a `.<host>` suffix on each fetched name.
    #[arg(long, value_parser = crate::face::choice::<Naming>(), default_value = "subdir")]
    pub naming: Naming,

    #[command(flatten)]
    pub opts: TransferOpts,
}

/// Checks the local side of a push before any connection.
fn check_push(args: &PushArgs) -> Result<UploadSpec, String> {
    let (remote, locals) = args
        .paths
        .split_last()
        .ok_or("LOCAL and REMOTE are required")?;
    if remote.trim().is_empty() {
        return Err("the REMOTE path is empty".into());
    }
    let mut sources = Vec::new();
    for local in locals {
        let path = PathBuf::from(local);
        let md = std::fs::metadata(&path).map_err(|e| format!("{local}: {e}"))?;
        if md.is_dir() && !args.opts.recursive {
            return Err(format!(
                "{local} is a directory (use -r/--recursive to send it)"
            ));
        }
        if !md.is_dir() && !md.is_file() {
            return Err(format!("{local} is not a regular file or directory"));
        }
        sources.push(path);
    }
    if args.sync && args.overwrite != Overwrite::Always {
        return Err("--sync decides what to replace itself: drop --overwrite".into());
    }
    Ok(UploadSpec {
        sources,
        remote: remote.clone(),
        recursive: args.opts.recursive,
        keep_perms: args.opts.keep_perms,
        overwrite: args.overwrite,
        verify: args.opts.verify,
        sync: args.sync.then_some(SyncOptions {
            checksum: args.checksum,
            delete: args.delete,
        }),
        resume: args.resume,
        small_files: SmallFiles::Auto,
    })
}

fn check_pull(args: &PullArgs) -> Result<DownloadSpec, String> {
    if args.remote.trim().is_empty() {
        return Err("the REMOTE path is empty".into());
    }
    if let Ok(md) = std::fs::metadata(&args.local_dir) {
        if !md.is_dir() {
            return Err(format!(
                "{} exists and is not a directory",
                args.local_dir.display()
            ));
        }
    }
    Ok(DownloadSpec {
        remote: args.remote.clone(),
        dest: args.local_dir.clone(),
        recursive: args.opts.recursive,
        keep_perms: args.opts.keep_perms,
        naming: args.naming,
        verify: args.opts.verify,
    })
}

// By value: the dispatcher in `cli/mod.rs` hands every subcommand its arguments.
#[allow(clippy::needless_pass_by_value)]
pub fn push(inventory: Vec<PathBuf>, args: PushArgs) -> ExitCode {
    let spec = match check_push(&args) {
        Ok(s) => s,
        Err(msg) => return usage_error("push", &msg),
    };
    start(
        "push",
        inventory,
        &args.pattern,
        &args.opts,
        JobKind::Upload(spec),
    )
}

#[allow(clippy::needless_pass_by_value)]
pub fn pull(inventory: Vec<PathBuf>, args: PullArgs) -> ExitCode {
    let spec = match check_pull(&args) {
        Ok(s) => s,
        Err(msg) => return usage_error("pull", &msg),
    };
    start(
        "pull",
        inventory,
        &args.pattern,
        &args.opts,
        JobKind::Download(spec),
    )
}

/// Targets and known_hosts files for a pattern (as `run` picks them).
fn targets(
    inv_paths: &[PathBuf],
    pattern: &str,
    opts: &TransferOpts,
) -> Result<(Vec<Target>, Vec<PathBuf>), String> {
    let inv = crate::face::read_inventory(inv_paths).map_err(|e| e.to_string())?;
    let ids = inv.select(pattern).map_err(|e| e.to_string())?;
    if ids.is_empty() {
        return Err(format!(
            "pattern {pattern:?} selects no host in {}",
            crate::face::inventory_name(inv_paths)
        ));
    }
    plan_targets(&inv, &ids, &opts.conn)
}

fn start(
    verb: &str,
    inventory: Vec<PathBuf>,
    pattern: &str,
    opts: &TransferOpts,
    kind: JobKind,
) -> ExitCode {
    let inv_paths = crate::face::inventory_paths(inventory);
    let (targets, known_hosts) = match targets(&inv_paths, pattern, opts) {
        Ok(t) => t,
        Err(msg) => return usage_error(verb, &msg),
    };
    let oplog_path = crate::oplog::default_path();
    let config = cli_engine_config(&opts.conn, known_hosts);
    let (engine, events) = Engine::new(config);
    let spec = JobSpec {
        kind,
        targets,
        fanout: opts.conn.fanout,
        pattern: pattern.to_string(),
    };
    let code = execute(verb, &engine, events, spec, &oplog_path);
    engine.shutdown();
    code
}

mod view;
use view::execute;
