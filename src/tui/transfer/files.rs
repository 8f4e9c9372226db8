//! What the dialog needs from the local file system: Tab completion and the form's path
//! check. The runtime runs these off the UI thread (a slow network directory must not freeze
//! the screen); `update` only sends the request and folds in the answer.

use std::path::PathBuf;

use crate::inventory::expand_tilde;

use super::{Direction, PathCheck};

/// Completes the last component of a local path: the longest common prefix of the matching
/// entries (with `/` after a lone directory), and the matching names (directories end with
/// `/`). Hidden entries only when the typed name starts with `.`.
pub fn complete_local(input: &str) -> (String, Vec<String>) {
    let (dir_part, name) = match input.rfind('/') {
        Some(i) => (&input[..=i], &input[i + 1..]),
        None => ("", input),
    };
    let dir = if dir_part.is_empty() {
        PathBuf::from(".")
    } else {
        expand_tilde(dir_part)
    };
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return (input.to_string(), Vec::new());
    };
    let mut matches: Vec<String> = entries
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().into_string().ok()?;
            if !n.starts_with(name) || (n.starts_with('.') && !name.starts_with('.')) {
                return None;
            }
            let is_dir = std::fs::metadata(e.path()).is_ok_and(|m| m.is_dir());
            Some(if is_dir { format!("{n}/") } else { n })
        })
        .collect();
    matches.sort();
    let Some(first) = matches.first() else {
        return (input.to_string(), Vec::new());
    };
    let mut common = first.clone();
    for m in &matches[1..] {
        let len = common
            .chars()
            .zip(m.chars())
            .take_while(|(a, b)| a == b)
            .map(|(a, _)| a.len_utf8())
            .sum();
        common.truncate(len);
    }
    if matches.len() > 1 {
        common = common.trim_end_matches('/').to_string();
        if common.len() < name.len() {
            common = name.to_string();
        }
    }
    (format!("{dir_part}{common}"), matches)
}

/// The form's local path as the job will use it (tilde expanded), or what is wrong with it.
pub fn check_local(check: &PathCheck) -> Result<PathBuf, String> {
    let local = expand_tilde(check.local.trim());
    match check.direction {
        Direction::Send => {
            let md = std::fs::metadata(&local).map_err(|e| format!("{}: {e}", local.display()))?;
            if md.is_dir() && !check.recursive {
                return Err(format!(
                    "{} is a directory: turn on recursive",
                    local.display()
                ));
            }
        }
        Direction::Fetch => {
            if local.exists() && !local.is_dir() {
                return Err(format!("{} is not a directory", local.display()));
            }
        }
    }
    Ok(local)
}
