//! Unified diffs of one output against another (`-o diff` and the console's diff view): the
//! largest group of identical outputs is printed in full once, every other group as the lines
//! that differ from it, with a little context. Lines are compared as text; the caller passes
//! sanitized text.

use similar::{ChangeTag, TextDiff};

/// Lines of context around each change.
pub const CONTEXT: usize = 3;

/// What a line of a diff is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiffKind {
    /// `@@ -a,b +c,d @@`
    Hunk,
    Context,
    /// Only in the other output (`+`).
    Added,
    /// Only in the base output (`-`).
    Removed,
    /// The diff was cut at the line limit.
    Cut,
}

/// One line of a diff, without its `+`/`-`/` ` sign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffLine {
    pub kind: DiffKind,
    pub text: String,
}

impl DiffLine {
    /// The line as a unified diff prints it.
    pub fn unified(&self) -> String {
        match self.kind {
            DiffKind::Hunk | DiffKind::Cut => self.text.clone(),
            DiffKind::Context => format!(" {}", self.text),
            DiffKind::Added => format!("+{}", self.text),
            DiffKind::Removed => format!("-{}", self.text),
        }
    }
}

/// How long one diff may search for the smallest edit; past it the diff is coarser (whole
/// runs replaced), never wrong. Outputs that differ everywhere would otherwise cost
/// O(lines²).
pub const DIFF_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(50);

/// The unified diff turning `base` into `other`, at most `max_lines` lines (then a
/// [`DiffKind::Cut`] line saying how many more there were).
pub fn unified(base: &str, other: &str, max_lines: usize) -> Vec<DiffLine> {
    let diff = TextDiff::configure()
        .timeout(DIFF_TIMEOUT)
        .diff_lines(base, other);
    let mut out = Vec::new();
    let mut more = 0usize;
    for hunk in diff.unified_diff().context_radius(CONTEXT).iter_hunks() {
        let mut lines = vec![DiffLine {
            kind: DiffKind::Hunk,
            text: hunk.header().to_string(),
        }];
        for change in hunk.iter_changes() {
            let kind = match change.tag() {
                ChangeTag::Equal => DiffKind::Context,
                ChangeTag::Insert => DiffKind::Added,
                ChangeTag::Delete => DiffKind::Removed,
            };
            let text = change.value().trim_end_matches(['\n', '\r']).to_string();
            lines.push(DiffLine { kind, text });
        }
        for l in lines {
            if out.len() < max_lines {
                out.push(l);
            } else {
                more += 1;
            }
        }
    }
    if more > 0 {
        out.push(DiffLine {
            kind: DiffKind::Cut,
            text: format!("… {more} more diff lines"),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_line_is_a_hunk_with_context() {
        let base = "a\nb\nc\nd\ne\nf\ng\nh\n";
        let other = "a\nb\nc\nd\nE\nf\ng\nh\nextra\n";
        let d = unified(base, other, 100);
        let text: Vec<String> = d.iter().map(DiffLine::unified).collect();
        assert_eq!(
            text,
            [
                "@@ -2,7 +2,8 @@",
                " b",
                " c",
                " d",
                "-e",
                "+E",
                " f",
                " g",
                " h",
                "+extra"
            ]
        );
        assert!(unified(base, base, 100).is_empty());
    }

    #[test]
    fn the_diff_is_cut_at_the_limit() {
        let base = (0..100)
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join("\n")
            + "\n";
        let d = unified(&base, "", 10);
        assert_eq!(d.len(), 11);
        assert_eq!(d[10].kind, DiffKind::Cut);
        assert_eq!(d[10].text, "… 91 more diff lines");
    }
}
