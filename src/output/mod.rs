//! Untrusted remote output made safe to show, and folding of identical outputs.
//!
//! Pure functions, no terminal code; shared by the command line and the console.
//! - [`sanitize`]: bytes → [`StyledLine`]s (SGR kept as style, every other control dropped);
//! - [`Clean`]: one line of any string made safe for a terminal (what every console widget takes);
//! - [`diff`]: unified diffs of one output against another (`-o diff`, the console's diff view);
//! - [`hostset`]: host names → compact sets like `web[01-12],db3`;
//! - [`gather`]: identical outputs folded, largest group first;
//! - [`json`]: JSON that escapes terminal controls (C1, bidi, DEL) and still parses back.

pub mod diff;
pub mod gather;
pub mod hostset;
pub mod json;
pub mod sanitize;

pub use gather::{fold, fold_by, Folded};
pub use hostset::{compact, natural_cmp};
pub use json::{to_terminal_safe_json, to_terminal_safe_json_pretty};
pub use sanitize::{
    is_unsafe_char, line_to_sgr, style_to_sgr, to_plain, to_safe_sgr, AnsiColor, Clean, Sanitizer,
    StyledLine, TextStyle, MAX_LINE_CHARS, TAB_WIDTH,
};
