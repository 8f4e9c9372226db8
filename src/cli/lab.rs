//! `fleetdeck lab up|down|status`: a local fleet of real OpenSSH daemons.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Subcommand;

use crate::lab::{Lab, LabError, LabOptions, ReachOptions};

/// Arguments of `fleetdeck lab`.
#[derive(Debug, clap::Args)]
pub struct LabArgs {
    #[command(subcommand)]
    pub action: LabAction,
}

#[derive(Debug, Subcommand)]
pub enum LabAction {
    /// Start (or adjust) a fleet of sshd hosts on 127.0.0.1 and write its inventory.
    Up {
        /// Number of hosts.
        #[arg(long, default_value_t = 8)]
        hosts: usize,
        /// Lab directory: keys, configs, homes, inventory.yaml, known_hosts, ssh_config.
        #[arg(long, default_value = "lab", env = "FLEETDECK_LAB_DIR")]
        dir: PathBuf,
        /// First port (hosts take consecutive ports); default: the previous run's, else the
        /// first free range from 24001.
        #[arg(long)]
        base_port: Option<u16>,
        /// Put the hosts in a network namespace only a bastion host reaches (inventory:
        /// `jump: bastion`). Needs root.
        #[arg(long)]
        bastion: bool,
        /// Also start N hosts two hops away (`deep01`...: bastion, then bastion2). Needs
        /// --bastion.
        #[arg(long, default_value_t = 0, value_name = "N")]
        deep: usize,
        /// Hosts log in as the user fdlab, whose sudo asks this password (prefer the
        /// environment variable to the command line). Needs root.
        #[arg(long, env = "FLEETDECK_LAB_SUDO_PASSWORD", hide_env_values = true)]
        sudo_password: Option<String>,
    },
    /// Stop every sshd of the fleet (only the lab's own processes).
    Down {
        #[arg(long, default_value = "lab", env = "FLEETDECK_LAB_DIR")]
        dir: PathBuf,
    },
    /// Show each host, its port and whether it runs. Exit 1 when some host is down.
    Status {
        #[arg(long, default_value = "lab", env = "FLEETDECK_LAB_DIR")]
        dir: PathBuf,
    },
}

fn fail(e: &LabError) -> ExitCode {
    eprintln!("fleetdeck lab: error: {e}");
    if e.is_bad_input() {
        ExitCode::from(super::EXIT_USAGE)
    } else {
        ExitCode::FAILURE
    }
}

/// Prints a line, ignoring a closed stdout (`fleetdeck lab up | head -1`).
macro_rules! say {
    ($out:expr, $($arg:tt)*) => {{
        let _ = writeln!($out, $($arg)*);
    }};
}

pub fn run(args: LabArgs) -> ExitCode {
    let mut out = std::io::stdout().lock();
    match args.action {
        LabAction::Up {
            hosts,
            dir,
            base_port,
            bastion,
            deep,
            sudo_password,
        } => up(
            &mut out,
            &LabOptions {
                hosts,
                dir,
                base_port,
            },
            &ReachOptions {
                bastion,
                deep,
                sudo_password,
            },
        ),
        LabAction::Down { dir } => match Lab::down(&dir) {
            Ok(n) => {
                say!(out, "lab: stopped {n} hosts in {}", dir.display());
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e),
        },
        LabAction::Status { dir } => match Lab::open(&dir) {
            Ok(lab) => status(&mut out, &lab),
            Err(e) => fail(&e),
        },
    }
}

fn up(out: &mut impl Write, opts: &LabOptions, ropts: &ReachOptions) -> ExitCode {
    let started = Instant::now();
    match Lab::up_with(opts, ropts) {
        Ok(lab) => {
            print_up(out, &lab, opts.hosts, started);
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}

/// What came up and how to reach it; `targets` tells the asked hosts from the bastions and
/// deep hosts listed after them.
fn print_up(out: &mut impl Write, lab: &Lab, targets: usize, started: Instant) {
    let s = lab.up_summary();
    let first = lab.hosts().first().map_or(0, |h| h.port);
    let last = lab.hosts().get(targets - 1).map_or(0, |h| h.port);
    let addr = lab
        .hosts()
        .first()
        .map_or("127.0.0.1", |h| h.address.as_str());
    say!(out,
        "lab: {} hosts up on {addr}:{first}-{last} in {:.2}s ({} started, {} already running, {} stopped)",
        lab.hosts().len(),
        started.elapsed().as_secs_f64(),
        s.started,
        s.reused,
        s.stopped
    );
    for h in lab.hosts().iter().skip(targets) {
        if let Some(ns) = &h.netns {
            say!(
                out,
                "  {} on {}:{} in network namespace {ns}",
                h.name,
                h.address,
                h.port
            );
        }
    }
    if let Some(b) = lab.hosts().iter().find(|h| h.name == crate::lab::BASTION) {
        say!(
            out,
            "targets are reachable only through {} ({}:{}): inventory and ssh_config say so",
            b.name,
            b.address,
            b.port
        );
    }
    if let Some(h) = lab.hosts().iter().find(|h| h.login.is_some()) {
        say!(
            out,
            "hosts log in as {}, whose sudo asks the password you gave",
            h.login.as_deref().unwrap_or_default()
        );
    }
    say!(out, "lab dir: {}", lab.dir().display());
    say!(
        out,
        "open the console:  fleetdeck -i {}",
        lab.inventory_path().display()
    );
    if let Some(h) = lab.hosts().first() {
        say!(
            out,
            "or with OpenSSH:   ssh -F {} {}",
            lab.ssh_config_path().display(),
            h.name
        );
    }
    say!(
        out,
        "stop it:           fleetdeck lab down --dir {}",
        lab.dir().display()
    );
}

/// The status table; exit 1 when some host is down.
fn status(out: &mut impl Write, lab: &Lab) -> ExitCode {
    let status = lab.status();
    let width = status
        .iter()
        .map(|(n, _, _)| n.len())
        .max()
        .unwrap_or(4)
        .max(4);
    say!(
        out,
        "{:<width$}  {:>5}  STATE    PID  GROUP",
        "HOST",
        "PORT"
    );
    for (i, (name, port, running)) in status.iter().enumerate() {
        let state = if lab.is_frozen(i) {
            "frozen"
        } else if *running {
            "running"
        } else {
            "down"
        };
        let pid = lab
            .pid(i)
            .map_or_else(|| "-".to_string(), |p| p.to_string());
        say!(
            out,
            "{name:<width$}  {port:>5}  {state:<7} {pid:>5}  {}",
            lab.hosts()[i].groups.join("/")
        );
    }
    let up = status.iter().filter(|s| s.2).count();
    say!(
        out,
        "{up}/{} hosts running in {}",
        status.len(),
        lab.dir().display()
    );
    if up == status.len() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
