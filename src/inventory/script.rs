//! Dynamic inventory scripts and the JSON they print, as Ansible's `script` plugin reads
//! them: an executable is run with `--list`; its JSON names groups (a list of hosts, or a
//! mapping of `hosts`, `children` and `vars`) and `_meta.hostvars`; without `_meta`, the
//! script is asked `--host NAME` for each host. The same JSON in a file (what
//! `ansible-inventory --list` prints) is read alike.
//!
//! A script runs at most [`LoadOptions::script_timeout`](super::LoadOptions) in all, with its
//! output bounded ([`MAX_OUTPUT`]); one that fails, times out or prints something else than
//! that JSON is an error naming the script (and, for bad JSON, the line and column in its
//! output).

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::ansible::{merge, vars_settings};
use super::error::{InventoryError, Loc};
use super::parse::{key_text, Ctx};
use super::resolve::Raw;
use super::yaml::{self, Kind, Node};

/// The most a script may print on stdout (and, kept for its error, on stderr).
pub const MAX_OUTPUT: usize = 64 << 20;

/// Whether `path` is a file Ansible would run as an inventory script.
pub fn is_script(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Whether a parsed JSON/YAML document is inventory-script JSON rather than Ansible YAML: it
/// has `_meta`, or a group given as a list, or a group's `hosts`/`children` as a list.
pub fn looks_like_script_json(root: &Node) -> bool {
    let Kind::Map(top) = &root.kind else {
        return false;
    };
    top.iter().any(|(k, v)| {
        k.as_str() == Some("_meta")
            || matches!(v.kind, Kind::Seq(_))
            || matches!(&v.kind, Kind::Map(e) if e.iter().any(|(k, v)| {
                matches!(k.as_str(), Some("hosts" | "children")) && matches!(v.kind, Kind::Seq(_))
            }))
    })
}

/// Runs the script and adds what it lists to `raw`.
pub fn run_into(
    script: &Path,
    timeout: Duration,
    base: &Path,
    raw: &mut Raw,
) -> Result<(), InventoryError> {
    let deadline = Instant::now() + timeout;
    let out = run(script, &["--list"], deadline, timeout)?;
    let file: Arc<Path> = Arc::from(Path::new(&format!("{} --list", script.display())));
    let ctx = Ctx {
        file,
        base: base.to_path_buf(),
    };
    let Some(root) = yaml::parse(&out, &ctx.file)? else {
        return Err(InventoryError::new(
            Loc::file_only(script),
            "inventory script printed nothing for --list",
        ));
    };
    let has_meta = read_json(&ctx, &root, raw)?;
    if has_meta {
        return Ok(());
    }
    // No `_meta`: Ansible asks for each host's vars.
    let names: Vec<String> = raw.hosts.iter().map(|h| h.name.clone()).collect();
    for name in names {
        let out = run(script, &["--host", &name], deadline, timeout)?;
        let hctx = Ctx {
            file: Arc::from(Path::new(&format!("{} --host {name}", script.display()))),
            base: base.to_path_buf(),
        };
        if let Some(vars) = yaml::parse(&out, &hctx.file)? {
            let s = vars_settings(&hctx, &vars, &format!("vars of host {name:?}"))?;
            raw.add_host(0, &name, s)?;
        }
    }
    Ok(())
}

/// Adds inventory-script JSON to `raw`; true if it had `_meta.hostvars`.
pub fn read_json(ctx: &Ctx, root: &Node, raw: &mut Raw) -> Result<bool, InventoryError> {
    let top = super::parse::entries(ctx, root, "inventory script output")?;
    let mut has_meta = false;
    for (k, v) in top {
        let name = key_text(ctx, k)?;
        if name == "_meta" {
            has_meta = true;
            continue;
        }
        let g = raw.group(name);
        if raw.groups[g].at.is_none() {
            raw.groups[g].at = Some(k.loc(&ctx.file));
        }
        read_group(ctx, raw, g, v)?;
    }
    if let Some((_, meta)) = top.iter().find(|(k, _)| k.as_str() == Some("_meta")) {
        read_meta(ctx, raw, meta)?;
    }
    Ok(has_meta)
}

fn read_group(ctx: &Ctx, raw: &mut Raw, g: usize, v: &Node) -> Result<(), InventoryError> {
    let name = raw.groups[g].name.clone();
    let (hosts, children, vars) = match &v.kind {
        Kind::Seq(_) => (Some(v), None, None),
        Kind::Map(e) => {
            let get = |key: &str| {
                e.iter()
                    .find(|(k, _)| k.as_str() == Some(key))
                    .map(|x| &x.1)
            };
            (get("hosts"), get("children"), get("vars"))
        }
        _ if v.is_null() => (None, None, None),
        Kind::Scalar { .. } => {
            return Err(ctx.err(
                v,
                format!(
                    "group {name:?} must be a list of hosts or a mapping, found {}",
                    v.describe()
                ),
            ))
        }
    };
    for h in list(ctx, hosts, &format!("hosts of group {name:?}"))? {
        raw.add_host(g, key_text(ctx, h)?, super::resolve::Settings::default())?;
    }
    for c in list(ctx, children, &format!("children of group {name:?}"))? {
        let child = raw.group(key_text(ctx, c)?);
        raw.add_child(g, child, Some(c.loc(&ctx.file)));
    }
    if let Some(vars) = vars {
        let s = vars_settings(ctx, vars, &format!("vars of group {name:?}"))?;
        merge(&mut raw.groups[g].settings, s);
    }
    Ok(())
}

fn list<'a>(ctx: &Ctx, node: Option<&'a Node>, what: &str) -> Result<&'a [Node], InventoryError> {
    match node.map(|n| (n, &n.kind)) {
        None => Ok(&[]),
        Some((_, Kind::Seq(items))) => Ok(items),
        Some((n, _)) if n.is_null() => Ok(&[]),
        Some((n, _)) => Err(ctx.err(n, format!("{what} must be a list, found {}", n.describe()))),
    }
}

fn read_meta(ctx: &Ctx, raw: &mut Raw, meta: &Node) -> Result<(), InventoryError> {
    let entries = super::parse::entries(ctx, meta, "_meta")?;
    let Some((_, hostvars)) = entries.iter().find(|(k, _)| k.as_str() == Some("hostvars")) else {
        return Ok(());
    };
    for (hk, hv) in super::parse::entries(ctx, hostvars, "_meta.hostvars")? {
        let name = key_text(ctx, hk)?;
        // Vars of a host no group lists are dropped, as Ansible drops them.
        if raw.host_ix.contains_key(name) {
            let s = vars_settings(ctx, hv, &format!("hostvars of {name:?}"))?;
            raw.add_host(0, name, s)?;
        }
    }
    Ok(())
}

/// Runs `script args…` until `deadline`; its stdout as text.
fn run(
    script: &Path,
    args: &[&str],
    deadline: Instant,
    timeout: Duration,
) -> Result<String, InventoryError> {
    let here = || Loc::file_only(script);
    let what = format!("inventory script {} {}", script.display(), args.join(" "));
    let mut child = Command::new(script)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| InventoryError::new(here(), format!("cannot run {what}: {e}")))?;
    let reader = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(r) = r {
                // Bounded: what is past the limit is read and dropped.
                let mut r = r.take(MAX_OUTPUT as u64 + 1);
                let _ = r.read_to_end(&mut buf);
            }
            buf
        })
    };
    let out = reader(
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let err = reader(
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(InventoryError::new(
                    here(),
                    format!(
                        "{what} did not finish within {}s; stopped it",
                        timeout.as_secs_f64()
                    ),
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return Err(InventoryError::new(here(), format!("{what}: {e}"))),
        }
    };
    let out = out.join().unwrap_or_default();
    let err = err.join().unwrap_or_default();
    if !status.success() {
        let first = String::from_utf8_lossy(&err);
        let first = first
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim();
        let first: String = first.chars().take(200).collect();
        return Err(InventoryError::new(
            here(),
            format!("{what} failed ({status}): {first}"),
        ));
    }
    if out.len() > MAX_OUTPUT {
        return Err(InventoryError::new(
            here(),
            format!("{what} printed more than {} MiB", MAX_OUTPUT >> 20),
        ));
    }
    String::from_utf8(out)
        .map_err(|_| InventoryError::new(here(), format!("{what} printed text that is not UTF-8")))
}
