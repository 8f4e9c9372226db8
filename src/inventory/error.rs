//! Errors of the inventory: each names the file, line and column and quotes the bad value, on
//! one line, so a terminal, a log and a test can all read it.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A place in a file: 1-based line and column. Line 0 means "the file as a whole".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loc {
    pub file: Arc<Path>,
    pub line: usize,
    pub col: usize,
}

impl Loc {
    pub fn new(file: &Arc<Path>, line: usize, col: usize) -> Self {
        Self {
            file: Arc::clone(file),
            line,
            col,
        }
    }

    /// The whole file, when no position applies (unreadable file).
    pub fn file_only(file: &Path) -> Self {
        Self {
            file: Arc::from(file),
            line: 0,
            col: 0,
        }
    }
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.file.display())
        } else {
            write!(f, "{}:{}:{}", self.file.display(), self.line, self.col)
        }
    }
}

/// Why an inventory could not be loaded. Displays as one line:
/// `FILE:LINE:COL: message (hint)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryError {
    pub loc: Loc,
    pub message: String,
    /// A suggestion such as `did you mean "port"?`.
    pub hint: Option<String>,
}

impl InventoryError {
    pub fn new(loc: Loc, message: impl Into<String>) -> Self {
        Self {
            loc,
            message: message.into(),
            hint: None,
        }
    }

    #[must_use]
    pub fn with_hint(mut self, hint: Option<String>) -> Self {
        self.hint = hint;
        self
    }

    /// The file the error is in.
    pub fn file(&self) -> PathBuf {
        self.loc.file.to_path_buf()
    }
}

impl fmt::Display for InventoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Messages may quote user text; keep the whole error on one line whatever it holds.
        let message = self.message.replace(['\n', '\r'], " ");
        write!(f, "{}: {message}", self.loc)?;
        if let Some(hint) = &self.hint {
            write!(f, " ({})", hint.replace(['\n', '\r'], " "))?;
        }
        Ok(())
    }
}

impl std::error::Error for InventoryError {}

/// A host range that cannot be expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeError {
    /// `[5-1]`: the range goes backwards.
    Backwards { pattern: String, range: String },
    /// More hosts than [`crate::inventory::MAX_RANGE_HOSTS`].
    TooMany {
        pattern: String,
        count: u128,
        limit: usize,
    },
    /// `[`, `]` unbalanced, empty bounds, letters mixed with numbers, zero step…
    Malformed { pattern: String, reason: String },
}

impl fmt::Display for RangeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RangeError::Backwards { pattern, range } => write!(
                f,
                "range [{range}] in {pattern:?} goes backwards (the start is after the end)"
            ),
            RangeError::TooMany {
                pattern,
                count,
                limit,
            } => write!(
                f,
                "range {pattern:?} expands to {count} hosts, more than the limit of {limit}"
            ),
            RangeError::Malformed { pattern, reason } => {
                write!(f, "bad host range {pattern:?}: {reason}")
            }
        }
    }
}

impl std::error::Error for RangeError {}

/// A target pattern that selects nothing sensible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatternError {
    Empty,
    /// A plain name that is neither a host nor a group.
    Unknown {
        name: String,
        hint: Option<String>,
    },
    /// A glob or regular expression that matches no host and no group.
    NoMatch {
        pattern: String,
    },
    BadRegex {
        pattern: String,
        reason: String,
    },
    BadRange(RangeError),
    /// `web[7]` on a group with fewer hosts.
    Subscript {
        pattern: String,
        hosts: usize,
    },
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PatternError::Empty => write!(f, "empty target pattern"),
            PatternError::Unknown { name, hint } => {
                write!(f, "unknown host or group {name:?}")?;
                if let Some(h) = hint {
                    write!(f, " ({h})")?;
                }
                Ok(())
            }
            PatternError::NoMatch { pattern } => {
                write!(f, "pattern {pattern:?} matches no host or group")
            }
            PatternError::BadRegex { pattern, reason } => {
                let reason = reason.lines().last().unwrap_or("").trim();
                write!(f, "bad regular expression {pattern:?}: {reason}")
            }
            PatternError::BadRange(e) => write!(f, "{e}"),
            PatternError::Subscript { pattern, hosts } => write!(
                f,
                "subscript in {pattern:?} is out of range: the group has {hosts} hosts"
            ),
        }
    }
}

impl std::error::Error for PatternError {}

/// `did you mean "x"?` for the nearest candidate, if one is close enough: a typo or two
/// (transpositions count as one), or a very similar spelling.
pub fn suggest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let w = word.to_lowercase();
    let allowed = (w.chars().count() / 3).clamp(1, 3);
    let mut best: Option<(usize, f64, &str)> = None;
    for c in candidates {
        let cl = c.to_lowercase();
        let d = strsim::damerau_levenshtein(&w, &cl);
        let jw = strsim::jaro_winkler(&w, &cl);
        if d == 0 || (d > allowed && jw < 0.9) {
            continue;
        }
        let better = best.map_or(true, |(bd, bjw, _)| d < bd || (d == bd && jw > bjw));
        if better {
            best = Some((d, jw, c));
        }
    }
    best.map(|(_, _, c)| format!("did you mean {c:?}?"))
}
