//! Which reader a source goes to, chosen as Ansible's default plugin chain would, and the
//! small helpers every reader shares (reading a file, its directory).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::error::{InventoryError, Loc};
use super::{ini, yaml};

/// Ansible's `host_list` source: a name that is no file and holds a comma, `web1,web2,`.
pub(super) fn host_list(path: &Path) -> Option<Vec<String>> {
    let text = path.to_str()?;
    if !text.contains(',') || path.exists() {
        return None;
    }
    Some(
        text.split(',')
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .map(str::to_string)
            .collect(),
    )
}

/// A `.json` file: the only kind read as inventory-script JSON (`ansible-inventory --list`).
pub(super) fn is_json(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "json")
}

/// The directory relative paths of an inventory file start from, absolute.
pub(super) fn base_dir(path: &Path) -> PathBuf {
    let base = path.parent().unwrap_or(Path::new(""));
    let base = if base.as_os_str().is_empty() {
        Path::new(".")
    } else {
        base
    };
    std::path::absolute(base).unwrap_or_else(|_| base.to_path_buf())
}

/// How an inventory file is read, chosen as Ansible's plugin chain would: `.yaml`, `.yml`
/// and `.json` are YAML, `.ini` is INI; any other name is INI when it opens with a
/// `[section]` or is not a YAML mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Format {
    Yaml,
    Ini,
}

impl Format {
    pub(super) fn of(path: &Path, text: &str) -> Format {
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        match ext {
            "yaml" | "yml" | "json" => return Format::Yaml,
            "ini" => return Format::Ini,
            _ => {}
        }
        if ini::looks_like_ini(text) {
            return Format::Ini;
        }
        let file: Arc<Path> = Arc::from(path);
        match yaml::parse(text, &file) {
            Ok(Some(root)) if matches!(root.kind, yaml::Kind::Map(_)) => Format::Yaml,
            Ok(None) => Format::Yaml,
            _ => Format::Ini,
        }
    }
}

pub(super) fn read_inventory(path: &Path) -> Result<String, InventoryError> {
    std::fs::read_to_string(path).map_err(|e| {
        InventoryError::new(
            Loc::file_only(path),
            format!(
                "cannot read inventory {:?}: {e}",
                path.display().to_string()
            ),
        )
    })
}
