//! The console: a ratatui + crossterm full-screen face over the engine.
//!
//! State is one [`app::App`]; terminal input, engine events and engine questions become
//! [`action::Action`]s; [`update::update`] changes the state and returns [`action::Effect`]s
//! that [`runtime`] carries out (submit, cancel, answer, save history); [`draw::draw`] paints
//! the state and changes nothing.

pub mod action;
pub mod app;
pub mod cmdline;
pub mod config;
pub mod dialog;
pub mod draw;
pub mod history;
pub mod keys;
pub mod layout;
pub mod pane;
pub mod run_options;
pub mod runtime;
pub mod shell;
pub mod term;
pub mod theme;
pub mod transfer;
pub mod tree;
pub mod update;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use crate::contract::{HostKeyPolicy, LogLevel, EXIT_USAGE};
use crate::engine::Engine;
use crate::face;

/// Records of the operation log shown in the live log at start.
pub const OPLOG_RECORDS_SHOWN: usize = 200;

/// Options of the console (`fleetdeck` with no subcommand).
#[derive(Debug, Clone, clap::Args)]
pub struct ConsoleArgs {
    /// Theme name (dark, light, high-contrast, colorblind) or path to a theme YAML file.
    #[arg(long, env = "FLEETDECK_THEME")]
    pub theme: Option<String>,

    /// Console: at most this many hosts connect or run at once.
    #[arg(long, value_name = "N")]
    pub fanout: Option<usize>,

    /// Console: what to do with unknown host keys [default in the console: ask, a dialog
    /// showing the fingerprint].
    #[arg(long, value_parser = face::choice::<HostKeyPolicy>())]
    pub host_key_policy: Option<HostKeyPolicy>,

    /// Console: known_hosts file to use instead of ~/.ssh/known_hosts (the global and the
    /// inventory's are still read).
    #[arg(long, value_name = "FILE")]
    pub known_hosts: Vec<PathBuf>,

    /// Console: lines of output kept on screen per host (the run folder keeps everything).
    #[arg(long, value_name = "N")]
    pub tail_lines: Option<usize>,

    /// Console: ask before running a command on more than N hosts.
    #[arg(long, value_name = "N")]
    pub confirm_above: Option<usize>,

    /// `fleetdeck shell PATTERN`: select the hosts of this pattern at start and open
    /// broadcast shells on them (as `B` does); `None` for the plain console.
    #[arg(skip)]
    pub start_shell: Option<String>,
}

/// Opens the console on an inventory. Exit status 2 for bad input (inventory, config, flags).
#[allow(clippy::needless_pass_by_value)] // the signature `cli` calls
pub fn run_console(inventory: Vec<PathBuf>, args: ConsoleArgs) -> ExitCode {
    // `fleetdeck shell PATTERN` (`start_shell`): broadcast shells on those hosts at start.
    run_console_with(inventory, &args, args.start_shell.as_deref())
}

fn run_console_with(inventory: Vec<PathBuf>, args: &ConsoleArgs, shell: Option<&str>) -> ExitCode {
    let paths = face::inventory_paths(inventory);
    let inv = match face::load_inventory(&paths) {
        Ok(inv) => inv,
        Err(code) => return code,
    };
    let shell_hosts = match shell.map(|p| shell_targets(&inv, p)).transpose() {
        Ok(h) => h,
        Err(code) => return code,
    };
    let (cfg, mut settings) = match load_config() {
        Ok(c) => c,
        Err(code) => return code,
    };
    if let Err(code) = apply_flags(&mut settings, args, &inv) {
        return code;
    }
    let theme_spec = args.theme.clone().or_else(|| cfg.theme.clone());
    let mut app = build_app(inv, settings.clone(), theme_spec.as_deref(), &paths);
    if let Some(hosts) = shell_hosts {
        app.tree.set_selection(&hosts);
        app.start_broadcast = true;
    }
    let (prompter, prompts) = runtime::ConsolePrompter::new();
    let (engine, events) = Engine::new(face::engine_config(
        settings.host_key_policy,
        settings.known_hosts.clone(),
        face::CONSOLE_IDLE_TIMEOUT,
        Arc::new(prompter),
    ));
    engine.set_max_output(settings.max_output);
    run_loop(app, &engine, events, prompts)
}

/// The hosts `fleetdeck shell PATTERN` opens shells on; exit 2 for a bad or empty pattern.
fn shell_targets(
    inv: &crate::inventory::Inventory,
    pattern: &str,
) -> Result<Vec<crate::inventory::HostId>, ExitCode> {
    match inv.select(pattern) {
        Ok(hosts) if !hosts.is_empty() => Ok(hosts),
        Ok(_) => {
            eprintln!("fleetdeck: pattern {pattern:?} matches no host");
            Err(ExitCode::from(EXIT_USAGE))
        }
        Err(e) => {
            eprintln!("fleetdeck: {e}");
            Err(ExitCode::from(EXIT_USAGE))
        }
    }
}

/// The console's config file and the settings it gives (before flags).
fn load_config() -> Result<(config::ConsoleConfig, app::Settings), ExitCode> {
    let config_path = config::config_path();
    let cfg = config::ConsoleConfig::load(&config_path).map_err(|e| {
        eprintln!("fleetdeck: {e}");
        ExitCode::from(EXIT_USAGE)
    })?;
    let settings = cfg.settings().map_err(|e| {
        eprintln!("fleetdeck: {}: {e}", config_path.display());
        ExitCode::from(EXIT_USAGE)
    })?;
    Ok((cfg, settings))
}

/// Command-line flags over the config file's settings.
fn apply_flags(
    settings: &mut app::Settings,
    args: &ConsoleArgs,
    inv: &crate::inventory::Inventory,
) -> Result<(), ExitCode> {
    let at_least_one = |flag: &str, n: usize| {
        if n == 0 {
            eprintln!("fleetdeck: --{flag} must be at least 1 (got 0)");
            Err(ExitCode::from(EXIT_USAGE))
        } else {
            Ok(n)
        }
    };
    if let Some(n) = args.fanout {
        settings.fanout = at_least_one("fanout", n)?;
    }
    if let Some(n) = args.tail_lines {
        settings.tail_lines = at_least_one("tail-lines", n)?;
    }
    if let Some(n) = args.confirm_above {
        settings.confirm_above = n;
    }
    // The console can ask, so unknown keys are shown with their fingerprint by default.
    settings.host_key_policy = args.host_key_policy.unwrap_or(HostKeyPolicy::Ask);
    settings.known_hosts = face::known_hosts_files(&args.known_hosts, inv);
    Ok(())
}

/// The console's state at start: theme, command history, earlier operations in the log.
fn build_app(
    inv: crate::inventory::Inventory,
    settings: app::Settings,
    theme_spec: Option<&str>,
    inventory_paths: &[PathBuf],
) -> app::App {
    let (theme, theme_warning) = theme::Theme::load_or_default(theme_spec);
    let theme = theme.respecting_no_color();
    let mut app = app::App::new(inv, settings, theme);
    let oplog = crate::paths::oplog_file();
    show_oplog(&mut app, &oplog);
    app.oplog_path = Some(oplog);
    if let Some(w) = theme_warning {
        app.push_log(LogLevel::Warn, None, w.clone());
        app.set_status(LogLevel::Warn, w);
    }
    app.push_log(
        LogLevel::Info,
        None,
        format!(
            "inventory {}: {} hosts",
            face::inventory_name(inventory_paths),
            app.hosts.len()
        ),
    );
    app
}

/// Earlier operations (this and other sessions) from the operation log, in the live log.
fn show_oplog(app: &mut app::App, oplog_path: &std::path::Path) {
    match crate::oplog::read::read_path(oplog_path) {
        Ok(contents) => {
            app.add_oplog_records(&contents.records, OPLOG_RECORDS_SHOWN);
            for w in contents.warnings.iter().take(3) {
                app.push_log(LogLevel::Warn, None, w.clone());
            }
        }
        Err(e) => app.push_log(
            LogLevel::Warn,
            None,
            format!(
                "cannot read the operation log {}: {e}",
                oplog_path.display()
            ),
        ),
    }
}

/// Runs the console on the terminal until it quits, then stops the engine.
fn run_loop(
    app: app::App,
    engine: &Engine,
    events: crate::engine::EventReceiver,
    prompts: tokio::sync::mpsc::UnboundedReceiver<runtime::PromptRequest>,
) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("fleetdeck: cannot start the event loop: {e}");
            return ExitCode::from(1);
        }
    };
    let result = rt.block_on(async {
        let mut guard = term::TerminalGuard::new()?;
        let r = runtime::run(app, &mut guard, engine, events, prompts).await;
        drop(guard);
        r
    });
    // The terminal is already restored; closing sessions may take a moment.
    engine.cancel_all();
    engine.shutdown();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fleetdeck: terminal error: {e}");
            ExitCode::from(1)
        }
    }
}
