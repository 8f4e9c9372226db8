//! The one door from strings to the console's widgets.
//!
//! ratatui writes a cell's text to the terminal as it is, so a host name, a file name or an
//! error message holding `ESC ] 52 ; …` would write to the operator's clipboard. Every piece
//! of text the console draws is a [`SafeSpan`] or a [`SafeLine`], which can only be made here,
//! from [`Clean`] text — and every way of making a `Clean` (from `&str`, `String`, `Cow`,
//! bytes) runs the filter. Widgets get their text only through [`paragraph`] and
//! [`Titled::safe_title`]. `tests/architecture.rs` fails on any other use of ratatui's text
//! constructors (`Span::…`, `Line::…`, `Paragraph::new`, `.title(…)`, strings as widgets) in
//! `src/tui`, so the type is the only way to the screen.

use ratatui::style::Style;
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Block, Paragraph};

use crate::output::Clean;

/// A run of text in one style, without terminal controls.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SafeSpan<'a>(Span<'a>);

/// One line of [`SafeSpan`]s.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SafeLine<'a>(Line<'a>);

/// `text` (cleaned) in `style`.
pub fn span<'a>(text: impl Into<Clean<'a>>, style: Style) -> SafeSpan<'a> {
    SafeSpan(Span::styled(text.into().into_cow(), style))
}

/// `text` (cleaned) in the surrounding style.
pub fn raw<'a>(text: impl Into<Clean<'a>>) -> SafeSpan<'a> {
    SafeSpan(Span::raw(text.into().into_cow()))
}

/// A line of one span in `style`.
pub fn line_styled<'a>(text: impl Into<Clean<'a>>, style: Style) -> SafeLine<'a> {
    SafeLine(Line::styled(text.into().into_cow(), style))
}

/// A line of one span in the surrounding style.
pub fn line_raw<'a>(text: impl Into<Clean<'a>>) -> SafeLine<'a> {
    SafeLine(Line::raw(text.into().into_cow()))
}

/// One terminal cell's contents (a host's emulator screen), cleaned to exactly one cell: an
/// empty cell is a space, and a cell holding any control or bidi character (U+202E…) is a
/// U+FFFD, so a hostile cell can neither reach the terminal nor shift the row.
pub fn cell(contents: &str) -> Clean<'_> {
    if contents.is_empty() {
        Clean::new(" ")
    } else if contents.chars().any(crate::output::is_unsafe_char) {
        Clean::new("\u{FFFD}")
    } else {
        Clean::new(contents)
    }
}

impl SafeSpan<'_> {
    /// Columns it takes.
    pub fn width(&self) -> usize {
        self.0.width()
    }
}

impl<'a> SafeLine<'a> {
    /// Columns it takes.
    pub fn width(&self) -> usize {
        self.0.width()
    }

    pub fn push(&mut self, s: SafeSpan<'a>) {
        self.0.spans.push(s.0);
    }

    #[must_use]
    pub fn right_aligned(self) -> Self {
        SafeLine(self.0.right_aligned())
    }

    /// The style of the whole line (under its spans' own styles).
    #[must_use]
    pub fn style(self, style: Style) -> Self {
        SafeLine(self.0.style(style))
    }
}

impl<'a> From<Vec<SafeSpan<'a>>> for SafeLine<'a> {
    fn from(spans: Vec<SafeSpan<'a>>) -> Self {
        SafeLine(Line::from(
            spans.into_iter().map(|s| s.0).collect::<Vec<_>>(),
        ))
    }
}

impl<'a> From<SafeSpan<'a>> for SafeLine<'a> {
    fn from(s: SafeSpan<'a>) -> Self {
        SafeLine(Line::from(s.0))
    }
}

/// What a paragraph can be made of: one safe line or many.
pub trait SafeLines<'a> {
    fn into_text(self) -> Text<'a>;
}

impl<'a> SafeLines<'a> for SafeLine<'a> {
    fn into_text(self) -> Text<'a> {
        Text::from(self.0)
    }
}

impl<'a> SafeLines<'a> for Vec<SafeLine<'a>> {
    fn into_text(self) -> Text<'a> {
        Text::from(self.into_iter().map(|l| l.0).collect::<Vec<_>>())
    }
}

/// A paragraph of safe lines.
pub fn paragraph<'a>(lines: impl SafeLines<'a>) -> Paragraph<'a> {
    Paragraph::new(lines.into_text())
}

/// A block's title, from safe text only.
pub trait Titled<'a> {
    #[must_use]
    fn safe_title(self, title: impl Into<SafeLine<'a>>) -> Self;
}

impl<'a> Titled<'a> for Block<'a> {
    fn safe_title(self, title: impl Into<SafeLine<'a>>) -> Self {
        self.title(title.into().0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_constructor_cleans() {
        let evil = "a\x1b]52;c;eA==\x07b\u{202e}";
        let want = "a\u{FFFD}]52;c;eA==\u{FFFD}b\u{FFFD}";
        assert_eq!(span(evil, Style::default()).0.content, want);
        assert_eq!(raw(evil.to_string()).0.content, want);
        assert_eq!(line_raw(evil).0.spans[0].content, want);
        assert_eq!(line_styled(evil, Style::default()).0.spans[0].content, want);
        assert_eq!(cell("\u{202e}").as_str(), "\u{FFFD}");
        assert_eq!(cell("e\u{301}").as_str(), "e\u{301}");
        assert_eq!(cell("").as_str(), " ");
        let l = SafeLine::from(vec![raw("ok "), raw(evil)]);
        assert_eq!(l.width(), 3 + want.chars().count());
    }
}
