//! Inventory directories and the `group_vars/` and `host_vars/` next to an inventory, as
//! Ansible loads them.
//!
//! A directory's entries are read in byte order of their names, subdirectories recursively,
//! skipping hidden names, `group_vars`, `host_vars`, `vars_plugins` and the extensions
//! Ansible ignores there (`.md`, `.cfg` among them, see [`IGNORED_EXTS`]). Each file is
//! read as INI or Ansible YAML; one Ansible cannot parse is a warning, as in Ansible.
//!
//! `group_vars/NAME` and `host_vars/NAME` are a file (`NAME`, `NAME.yml`, `NAME.yaml` or
//! `NAME.json`, the first that exists) or a directory whose files are all read, in order.
//! They apply to groups and hosts the inventory has, above the inventory's own group vars.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::ansible;
use super::error::{InventoryError, Loc};
use super::ini;
use super::parse::Ctx;
use super::resolve::{Order, Raw, Settings};
use super::script;
use super::source::{is_json, Format};
use super::yaml;

/// Names ansible-core 2.19's inventory manager skips in a directory (INVENTORY_IGNORE_EXTS;
/// older releases skipped `.ini` too).
pub const IGNORED_EXTS: &[&str] = &[
    ".pyc", ".pyo", ".swp", ".bak", "~", ".rpm", ".md", ".txt", ".rst", ".orig", ".cfg", ".retry",
];
const VAR_EXTS: &[&str] = &["", ".yml", ".yaml", ".json"];

/// Reads an inventory directory into one raw inventory, its `group_vars/` and `host_vars/`
/// included.
pub fn read(dir: &Path, timeout: Duration) -> Result<Raw, InventoryError> {
    let mut raw = Raw::new(dir, Order::AnsibleName, "group all");
    let deadline = Instant::now() + timeout;
    read_tree(dir, &mut raw, deadline)?;
    ansible::finish(&mut raw);
    vars_dirs(dir, &mut raw)?;
    Ok(raw)
}

/// Several sources (`-i a -i b`) merged as Ansible merges them: read in order into one
/// inventory (a later source's vars for the same group or host win), then each source's
/// `group_vars/` and `host_vars/`, later ones over earlier ones.
pub fn read_sources(paths: &[PathBuf], timeout: Duration) -> Result<Raw, InventoryError> {
    let first = paths.first().map_or(Path::new("."), PathBuf::as_path);
    let mut raw = Raw::new(first, Order::AnsibleName, "group all");
    let deadline = Instant::now() + timeout;
    for p in paths {
        if p.is_dir() {
            read_tree(p, &mut raw, deadline)?;
        } else if script::is_script(p) {
            let left = deadline.saturating_duration_since(Instant::now());
            script::run_into(p, left, &super::source::base_dir(p), &mut raw)?;
        } else if let Some(names) = super::source::host_list(p) {
            for n in names {
                raw.add_host(0, &n, Settings::default())?;
            }
        } else {
            read_source(p, &mut raw)?;
        }
    }
    ansible::finish(&mut raw);
    for p in paths {
        let base = if p.is_dir() {
            p.clone()
        } else if p.exists() {
            super::source::base_dir(p)
        } else {
            continue;
        };
        vars_dirs(&base, &mut raw)?;
    }
    Ok(raw)
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>, InventoryError> {
    let rd = std::fs::read_dir(dir).map_err(|e| {
        InventoryError::new(
            Loc::file_only(dir),
            format!("cannot read inventory directory: {e}"),
        )
    })?;
    let mut out: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    out.sort_by(|a, b| {
        a.as_os_str()
            .as_encoded_bytes()
            .cmp(b.as_os_str().as_encoded_bytes())
    });
    Ok(out)
}

fn ignored(name: &str) -> bool {
    name.starts_with('.')
        || matches!(name, "group_vars" | "host_vars" | "vars_plugins")
        || IGNORED_EXTS.iter().any(|e| name.ends_with(e))
}

fn read_tree(dir: &Path, raw: &mut Raw, deadline: Instant) -> Result<(), InventoryError> {
    for path in sorted_entries(dir)? {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        if name.as_deref().map_or(true, ignored) {
            continue;
        }
        if path.is_dir() {
            read_tree(&path, raw, deadline)?;
        } else if script::is_script(&path) {
            // A script that fails is an error, not a warning: its hosts would go missing.
            let left = deadline.saturating_duration_since(Instant::now());
            script::run_into(&path, left, &super::source::base_dir(&path), raw)?;
        } else if let Err(e) = read_source(&path, raw) {
            raw.warnings.push(InventoryError::new(
                e.loc.clone(),
                format!("skipped, not an inventory Ansible can read: {}", e.message),
            ));
        }
    }
    Ok(())
}

/// One file of a directory, added to `raw`.
pub fn read_source(path: &Path, raw: &mut Raw) -> Result<(), InventoryError> {
    let text = super::source::read_inventory(path)?;
    let ctx = Ctx {
        file: Arc::from(path),
        base: super::source::base_dir(path),
    };
    match Format::of(path, &text) {
        Format::Ini => ini::read_into(&ctx, &text, raw),
        Format::Yaml => {
            let Some(root) = yaml::parse(&text, &ctx.file)? else {
                return Ok(()); // an empty YAML file adds nothing
            };
            if is_json(path) && script::looks_like_script_json(&root) {
                return script::read_json(&ctx, &root, raw).map(|_| ());
            }
            ansible::read_into(&ctx, &root, raw)
        }
    }
}

/// Applies `group_vars/` and `host_vars/` under `base` to the groups and hosts of `raw`.
pub fn vars_dirs(base: &Path, raw: &mut Raw) -> Result<(), InventoryError> {
    for (name, files) in var_files(&base.join("group_vars"))? {
        if let Some(&g) = raw.group_ix.get(&name) {
            let s = load_vars(base, &files)?;
            ansible::merge(&mut raw.groups[g].vars_files, s);
        }
    }
    for (name, files) in var_files(&base.join("host_vars"))? {
        if let Some(&h) = raw.host_ix.get(&name) {
            let s = load_vars(base, &files)?;
            ansible::merge(&mut raw.hosts[h].vars_files, s);
        }
    }
    Ok(())
}

/// Each name under a vars directory with its files, in the order they are read.
fn var_files(dir: &Path) -> Result<BTreeMap<String, Vec<PathBuf>>, InventoryError> {
    let mut out: BTreeMap<String, (usize, Vec<PathBuf>)> = BTreeMap::new();
    if !dir.is_dir() {
        return Ok(BTreeMap::new());
    }
    for path in sorted_entries(dir)? {
        let Some(file) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else {
            continue;
        };
        if file.starts_with('.') {
            continue;
        }
        if path.is_dir() {
            let mut files = Vec::new();
            dir_files(&path, &mut files)?;
            out.insert(file, (0, files));
            continue;
        }
        for (rank, ext) in VAR_EXTS.iter().enumerate() {
            let Some(stem) = file.strip_suffix(ext).filter(|s| !s.is_empty()) else {
                continue;
            };
            if ext.is_empty() && VAR_EXTS[1..].iter().any(|e| file.ends_with(e)) {
                continue;
            }
            let slot = out
                .entry(stem.to_string())
                .or_insert((usize::MAX, Vec::new()));
            if rank < slot.0 {
                *slot = (rank, vec![path.clone()]);
            }
        }
    }
    Ok(out.into_iter().map(|(k, (_, v))| (k, v)).collect())
}

/// Every vars file in a directory, recursively, in name order (hidden names skipped).
fn dir_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), InventoryError> {
    for path in sorted_entries(dir)? {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        if name.as_deref().map_or(true, |n| n.starts_with('.')) {
            continue;
        }
        if path.is_dir() {
            dir_files(&path, out)?;
        } else if VAR_EXTS[1..]
            .iter()
            .any(|e| name.as_deref().is_some_and(|n| n.ends_with(e)))
            || !name.as_deref().unwrap_or("").contains('.')
        {
            out.push(path);
        }
    }
    Ok(())
}

fn load_vars(base: &Path, files: &[PathBuf]) -> Result<Settings, InventoryError> {
    let mut s = Settings::default();
    for f in files {
        let text = super::source::read_inventory(f)?;
        let ctx = Ctx {
            file: Arc::from(f.as_path()),
            base: base.to_path_buf(),
        };
        let Some(root) = yaml::parse(&text, &ctx.file)? else {
            continue;
        };
        let what = format!("vars file {}", f.display());
        ansible::merge(&mut s, ansible::vars_settings(&ctx, &root, &what)?);
    }
    Ok(s)
}
