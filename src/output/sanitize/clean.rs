//! [`Clean`]: one line of text that is safe to put on a terminal, whatever it was built from.
//!
//! Host names, variables, file names, error messages that quote a server, theme names and
//! replayed log lines all reach the console's widgets, and ratatui writes a cell's text to
//! the terminal as it is. Every widget of the console takes its text as `Clean` (through
//! `tui::draw::text`), and the only way to make a `Clean` is through [`Clean::new`] and the
//! `From` conversions, which all run the same filter: a control character (C0 but tab, DEL,
//! C1), a bidi override or isolate, a bidi mark or a line/paragraph separator becomes U+FFFD,
//! so the operator sees that something was there; a tab becomes a space, a newline a `⏎`
//! (a `Clean` is one line: a widget's layout, not the text, decides where lines break).
//! Strings that need no change are kept as they are, without a copy.

use std::borrow::Cow;
use std::fmt;

/// Shown in place of a character that must not reach the terminal.
pub const REPLACEMENT: char = '\u{FFFD}';
/// Shown in place of a newline inside one line of text.
pub const NEWLINE_MARK: char = '⏎';

/// One line of text without terminal controls. See the module docs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Clean<'a>(Cow<'a, str>);

/// What may never be written to a terminal as text: C0 controls, DEL and C1 controls, bidi
/// overrides/isolates/marks and the Unicode line and paragraph separators.
pub fn is_unsafe_char(c: char) -> bool {
    matches!(
        c,
        '\0'..='\x1F'
            | '\x7F'..='\u{9F}'
            | '\u{061C}'
            | '\u{200E}'
            | '\u{200F}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2066}'..='\u{2069}'
    )
}

fn replace(c: char) -> char {
    match c {
        '\t' => ' ',
        '\n' => NEWLINE_MARK,
        c if is_unsafe_char(c) => REPLACEMENT,
        c => c,
    }
}

fn cleaned(s: &str) -> String {
    s.chars().map(replace).collect()
}

impl<'a> Clean<'a> {
    /// Cleans any string (borrowed when it needs no change): see the module docs.
    pub fn new(s: &'a str) -> Clean<'a> {
        if s.chars().any(is_unsafe_char) {
            Clean(Cow::Owned(cleaned(s)))
        } else {
            Clean(Cow::Borrowed(s))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The text, to hand to a widget.
    pub fn into_cow(self) -> Cow<'a, str> {
        self.0
    }
}

impl Clean<'static> {
    /// Untrusted bytes: invalid UTF-8 as U+FFFD, then cleaned.
    pub fn from_bytes(b: &[u8]) -> Clean<'static> {
        Clean::from(String::from_utf8_lossy(b).into_owned())
    }
}

impl<'a> From<&'a str> for Clean<'a> {
    fn from(s: &'a str) -> Clean<'a> {
        Clean::new(s)
    }
}

impl<'a> From<&'a String> for Clean<'a> {
    fn from(s: &'a String) -> Clean<'a> {
        Clean::new(s)
    }
}

impl From<String> for Clean<'static> {
    fn from(s: String) -> Clean<'static> {
        if s.chars().any(is_unsafe_char) {
            Clean(Cow::Owned(cleaned(&s)))
        } else {
            Clean(Cow::Owned(s))
        }
    }
}

impl<'a> From<Cow<'a, str>> for Clean<'a> {
    fn from(s: Cow<'a, str>) -> Clean<'a> {
        match s {
            Cow::Borrowed(b) => Clean::new(b),
            Cow::Owned(o) => Clean::from(o),
        }
    }
}

impl From<char> for Clean<'static> {
    fn from(c: char) -> Clean<'static> {
        Clean(Cow::Owned(replace(c).to_string()))
    }
}

impl fmt::Display for Clean<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Clean<'_> {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_become_visible_replacements() {
        let osc52 = "a\x1b]52;c;aGVsbG8=\x07b.txt";
        let c = Clean::new(osc52);
        assert_eq!(c.as_str(), "a\u{FFFD}]52;c;aGVsbG8=\u{FFFD}b.txt");
        assert_eq!(
            Clean::from("x\u{9b}31m\u{202e}y").as_str(),
            "x\u{FFFD}31m\u{FFFD}y"
        );
        assert_eq!(Clean::from("a\tb\nc\r").as_str(), "a b⏎c\u{FFFD}");
        assert_eq!(
            Clean::from_bytes(b"\xff\x1b[2J").as_str(),
            "\u{FFFD}\u{FFFD}[2J"
        );
    }

    #[test]
    fn clean_text_is_kept_as_it_is() {
        let s = "web01 · 12 ms ✓ ⏎ 東京";
        assert_eq!(Clean::new(s).as_str(), s);
        assert!(matches!(Clean::new("plain").into_cow(), Cow::Borrowed(_)));
        assert_eq!(Clean::new("ab\x1bc").as_str(), "ab\u{FFFD}c");
    }

    #[test]
    fn every_char_of_the_output_is_safe() {
        for cp in (0u32..0x3000).chain([0xFEFF, 0x1F600]) {
            let Some(ch) = char::from_u32(cp) else {
                continue;
            };
            let c = Clean::from(format!("<{ch}>"));
            assert!(!c.as_str().chars().any(is_unsafe_char), "U+{cp:04X} passed");
        }
    }
}
