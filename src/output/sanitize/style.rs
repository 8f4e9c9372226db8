//! The sanitized text model ([`StyledLine`]s of styled runs) and its rendering back into
//! plain SGR sequences, the only escapes fleetdeck ever writes on behalf of a host.

/// A colour as SGR names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AnsiColor {
    /// 0–7 normal, 8–15 bright, 16–255 the 256-colour cube and greys.
    Indexed(u8),
    Rgb(u8, u8, u8),
}

/// The SGR attributes fleetdeck keeps (blink, conceal and the like are dropped).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TextStyle {
    pub fg: Option<AnsiColor>,
    pub bg: Option<AnsiColor>,
    pub bold: bool,
    pub dim: bool,
    pub italic: bool,
    pub underline: bool,
    pub reverse: bool,
}

/// One line of sanitized text: runs of text with their style. Contains no control character.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct StyledLine {
    pub spans: Vec<(TextStyle, String)>,
}

impl StyledLine {
    /// The text without styles.
    pub fn text(&self) -> String {
        let mut out = String::with_capacity(self.spans.iter().map(|(_, t)| t.len()).sum());
        for (_, t) in &self.spans {
            out.push_str(t);
        }
        out
    }

    /// Display width in terminal columns (wide characters count 2, combining 0).
    pub fn width(&self) -> usize {
        self.spans
            .iter()
            .map(|(_, t)| unicode_width::UnicodeWidthStr::width(t.as_str()))
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.iter().all(|(_, t)| t.is_empty())
    }
}

/// The SGR sequence that sets exactly `style` from any previous state (starts with a reset).
pub fn style_to_sgr(style: &TextStyle) -> String {
    use std::fmt::Write as _;
    let mut s = String::from("\x1b[0");
    for (on, code) in [
        (style.bold, 1),
        (style.dim, 2),
        (style.italic, 3),
        (style.underline, 4),
        (style.reverse, 7),
    ] {
        if on {
            let _ = write!(s, ";{code}");
        }
    }
    for (color, base, bright, ext) in [(style.fg, 30, 90, 38), (style.bg, 40, 100, 48)] {
        match color {
            Some(AnsiColor::Indexed(n)) if n < 8 => {
                let _ = write!(s, ";{}", base + u16::from(n));
            }
            Some(AnsiColor::Indexed(n)) if n < 16 => {
                let _ = write!(s, ";{}", bright + u16::from(n) - 8);
            }
            Some(AnsiColor::Indexed(n)) => {
                let _ = write!(s, ";{ext};5;{n}");
            }
            Some(AnsiColor::Rgb(r, g, b)) => {
                let _ = write!(s, ";{ext};2;{r};{g};{b}");
            }
            None => {}
        }
    }
    s.push('m');
    s
}

/// Renders a line as text with plain SGR sequences only; ends with a reset when styled.
pub fn line_to_sgr(line: &StyledLine) -> String {
    let mut out = String::new();
    let mut current = TextStyle::default();
    for (style, text) in &line.spans {
        if *style != current {
            if *style == TextStyle::default() {
                out.push_str("\x1b[0m");
            } else {
                out.push_str(&style_to_sgr(style));
            }
            current = *style;
        }
        out.push_str(text);
    }
    if current != TextStyle::default() {
        out.push_str("\x1b[0m");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::sanitize::to_safe_sgr;
    #[test]
    fn safe_sgr_renders_styles() {
        assert_eq!(
            to_safe_sgr(b"\x1b[1;31mred\x1b[0m ok\n"),
            "\x1b[0;1;31mred\x1b[0m ok\n"
        );
        assert_eq!(
            to_safe_sgr(b"\x1b[94;48;5;100mx"),
            "\x1b[0;94;48;5;100mx\x1b[0m"
        );
        assert_eq!(
            to_safe_sgr(b"\x1b[38;2;1;2;3mx"),
            "\x1b[0;38;2;1;2;3mx\x1b[0m"
        );
        assert_eq!(style_to_sgr(&TextStyle::default()), "\x1b[0m");
    }
}
