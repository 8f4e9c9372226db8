//! `fleetdeck inventory [-i FILE] [--graph | --list PATTERN | --host H | --json]`: shows the
//! inventory as fleetdeck resolved it. Bad input exits 2 with one line naming file:line:col.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::inventory::{GroupId, Inventory};

/// Arguments of `fleetdeck inventory`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("view").args(["graph", "list", "host", "json"])))]
pub struct InventoryArgs {
    /// Draw the group tree with host counts (the default).
    #[arg(long)]
    pub graph: bool,
    /// Print the names of the hosts a target pattern selects, one per line.
    #[arg(long, value_name = "PATTERN")]
    pub list: Option<String>,
    /// Show a host's effective settings and where each came from.
    #[arg(long, value_name = "HOST")]
    pub host: Option<String>,
    /// Print the whole resolved inventory as JSON.
    #[arg(long)]
    pub json: bool,
}

#[allow(clippy::needless_pass_by_value)] // the dispatcher hands the arguments over
pub fn run(inventory: Vec<PathBuf>, args: InventoryArgs) -> ExitCode {
    let sources = crate::face::inventory_paths(inventory);
    let path = sources[0].clone();
    let options = crate::inventory::LoadOptions::from_env();
    let inv = match Inventory::load_sources(&sources, &options) {
        Ok(inv) => inv,
        Err(e) => {
            eprintln!("fleetdeck: {e}");
            return ExitCode::from(crate::cli::EXIT_USAGE);
        }
    };
    for w in &inv.warnings {
        eprintln!("fleetdeck: warning: {w}");
    }
    let out = if let Some(pattern) = &args.list {
        match inv.select(pattern) {
            Ok(ids) => ids.iter().fold(String::new(), |mut s, &h| {
                let _ = writeln!(s, "{}", safe(&inv.hosts[h].name));
                s
            }),
            Err(e) => {
                eprintln!("fleetdeck: {}: {e}", path.display());
                return ExitCode::from(crate::cli::EXIT_USAGE);
            }
        }
    } else if let Some(host) = &args.host {
        let Some(h) = inv.host_by_name(host) else {
            let hint =
                crate::inventory::error::suggest(host, inv.hosts.iter().map(|h| h.name.as_str()));
            eprintln!(
                "fleetdeck: {}: unknown host {host:?}{}",
                path.display(),
                hint.map(|h| format!(" ({h})")).unwrap_or_default()
            );
            return ExitCode::from(crate::cli::EXIT_USAGE);
        };
        host_view(&inv, h)
    } else if args.json {
        let mut s = crate::output::to_terminal_safe_json_pretty(&to_json(&inv)).unwrap_or_default();
        s.push('\n');
        s
    } else {
        graph(&inv)
    };
    let mut stdout = std::io::stdout().lock();
    // A closed pipe (`| head`) is not an error worth a message.
    let _ = stdout.write_all(out.as_bytes());
    let _ = stdout.flush();
    ExitCode::SUCCESS
}

/// Names come from a file the operator may not have written: never pass control characters
/// (C0, C1, DEL) nor bidi controls; each shows as U+FFFD, as in the console.
fn safe(s: &str) -> String {
    crate::output::Clean::new(s).as_str().to_string()
}

fn host_view(inv: &Inventory, h: usize) -> String {
    let rows = inv.provenance(h);
    let w0 = rows.iter().map(|r| r.0.chars().count()).max().unwrap_or(0);
    let w1 = rows
        .iter()
        .map(|r| safe(&r.1).chars().count())
        .max()
        .unwrap_or(0)
        .min(48);
    let mut s = String::new();
    let groups: Vec<&str> = inv.hosts[h]
        .groups
        .iter()
        .map(|&g| inv.groups[g].name.as_str())
        .collect();
    let _ = writeln!(
        s,
        "{}  (groups: {})",
        safe(&inv.hosts[h].name),
        safe(&groups.join(", "))
    );
    for (k, v, o) in rows {
        let _ = writeln!(s, "  {k:<w0$}  {:<w1$}  {}", safe(&v), safe(&o));
    }
    s
}

fn graph(inv: &Inventory) -> String {
    let mut s = String::new();
    if inv.groups.is_empty() {
        return s;
    }
    let _ = writeln!(s, "all ({})", inv.hosts_under(0).len());
    let mut on_path = vec![false; inv.groups.len()];
    on_path[0] = true;
    draw_group(inv, 0, "", &mut on_path, &mut s);
    s
}

fn draw_group(inv: &Inventory, g: GroupId, prefix: &str, on_path: &mut [bool], s: &mut String) {
    let grp = &inv.groups[g];
    let count = grp.children.len() + grp.includes.len() + grp.hosts.len();
    let mut i = 0;
    let mut branch = |s: &mut String| -> (String, String) {
        i += 1;
        let last = i == count;
        let _ = write!(s, "{prefix}{}", if last { "└── " } else { "├── " });
        (
            format!("{prefix}{}", if last { "    " } else { "│   " }),
            String::new(),
        )
    };
    for &c in &grp.children {
        let (child_prefix, _) = branch(s);
        let _ = writeln!(
            s,
            "{} ({})",
            safe(&inv.groups[c].name),
            inv.hosts_under(c).len()
        );
        if !on_path[c] {
            on_path[c] = true;
            draw_group(inv, c, &child_prefix, on_path, s);
            on_path[c] = false;
        }
    }
    for &c in &grp.includes {
        branch(s);
        let _ = writeln!(
            s,
            "+ {} ({}) [included]",
            safe(&inv.groups[c].name),
            inv.hosts_under(c).len()
        );
    }
    for &h in &grp.hosts {
        branch(s);
        let _ = writeln!(s, "{}", safe(&inv.hosts[h].name));
    }
}

fn to_json(inv: &Inventory) -> serde_json::Value {
    use serde_json::json;
    let groups: Vec<_> = inv
        .groups
        .iter()
        .enumerate()
        .map(|(g, grp)| {
            json!({
                "name": grp.name,
                "children": grp.children.iter().map(|&c| &inv.groups[c].name).collect::<Vec<_>>(),
                "includes": grp.includes.iter().map(|&c| &inv.groups[c].name).collect::<Vec<_>>(),
                "hosts": grp.hosts.iter().map(|&h| &inv.hosts[h].name).collect::<Vec<_>>(),
                "host_count": inv.hosts_under(g).len(),
            })
        })
        .collect();
    let hosts: Vec<_> = inv
        .hosts
        .iter()
        .map(|h| {
            let mut v = json!({
                "name": h.name,
                "address": h.conn.address,
                "port": h.conn.port,
                "user": h.conn.user,
                "identity_files": h.conn.identity_files,
                "jump": h.conn.jump,
                "proxy_command": h.conn.proxy_command,
                "connect_timeout_secs": h.conn.connect_timeout.as_secs_f64(),
                "vars": crate::inventory::vars::shown_all(&h.vars),
                "groups": h.groups.iter().map(|&g| &inv.groups[g].name).collect::<Vec<_>>(),
            });
            // Only the options a host has, as `inventory --host` shows them.
            let options = h.conn.options.rows();
            if !options.is_empty() {
                v["ssh_options"] = options
                    .into_iter()
                    .map(|(_, name, shown)| (name.to_string(), json!(shown)))
                    .collect::<serde_json::Map<_, _>>()
                    .into();
            }
            v
        })
        .collect();
    json!({
        "source": inv.source,
        "known_hosts": inv.known_hosts,
        "groups": groups,
        "hosts": hosts,
    })
}
