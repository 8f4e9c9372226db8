//! `-o diff`: the largest group of identical outputs in full once, then every other group,
//! headed by its compact host set, as a unified diff against it (beyond clush's `--diff`,
//! which compares against one node, and bssh's two-node diff).

use std::fmt::Write as _;
use std::io::Write;

use super::capture::render_line;
use super::render::{fold_reports, group_header, HostReport};
use crate::output::diff::{unified, DiffKind};

/// Larger outputs (per group, both streams) are not diffed: their blocks say so.
pub const MAX_DIFF_INPUT: u64 = 16 << 20;
/// Most diff lines printed per group.
const MAX_DIFF_LINES: usize = 10_000;

/// A host's output as text (stderr lines marked `! `), or `None` when it is too long.
fn text_of(r: &HostReport, notes: &mut Vec<String>) -> Option<String> {
    if r.stdout.len + r.stderr.len > MAX_DIFF_INPUT {
        return None;
    }
    let mut s = String::new();
    let res = r.stdout.each_line(&mut |l| {
        let _ = writeln!(s, "{}", render_line(l, false));
    });
    notes.extend(res.err().map(|e| format!("{} stdout: {e}", r.name)));
    let res = r.stderr.each_line(&mut |l| {
        let _ = writeln!(s, "! {}", render_line(l, false));
    });
    notes.extend(res.err().map(|e| format!("{} stderr: {e}", r.name)));
    Some(s)
}

/// Prints the diff view; returns what could not be shown, for warnings.
pub fn print(out: &mut dyn Write, reports: &[HostReport], color: bool) -> Vec<String> {
    let mut notes = Vec::new();
    let groups = fold_reports(reports);
    let rep = |hosts: &[String]| reports.iter().find(|r| r.name == hosts[0]);
    let Some((first_hosts, first_end)) = groups.first() else {
        return notes;
    };
    let base_set = crate::output::compact(first_hosts);
    group_header(out, first_hosts, first_end, " · largest group", color);
    let base = rep(first_hosts).and_then(|r| text_of(r, &mut notes));
    match &base {
        Some(text) => {
            let _ = out.write_all(text.as_bytes());
        }
        None => {
            let _ = writeln!(
                out,
                "(longer than {} MiB: see the run folder)",
                MAX_DIFF_INPUT >> 20
            );
        }
    }
    for (hosts, end) in &groups[1..] {
        group_header(
            out,
            hosts,
            end,
            &format!(" · diff against {base_set}"),
            color,
        );
        let other = rep(hosts).and_then(|r| text_of(r, &mut notes));
        let (Some(a), Some(b)) = (&base, &other) else {
            let _ = writeln!(
                out,
                "(longer than {} MiB: not diffed; see the run folder)",
                MAX_DIFF_INPUT >> 20
            );
            continue;
        };
        let lines = unified(a, b, MAX_DIFF_LINES);
        if lines.is_empty() {
            let _ = writeln!(out, "(the same output; it ended differently)");
        }
        for l in lines {
            let (on, off) = match (color, l.kind) {
                (true, DiffKind::Added) => ("\x1b[32m", "\x1b[0m"),
                (true, DiffKind::Removed) => ("\x1b[31m", "\x1b[0m"),
                (true, DiffKind::Hunk | DiffKind::Cut) => ("\x1b[2m", "\x1b[0m"),
                _ => ("", ""),
            };
            let _ = writeln!(out, "{on}{}{off}", l.unified());
        }
    }
    notes
}
