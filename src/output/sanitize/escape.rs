//! The escape state machine of a [`Sanitizer`]: which decoded characters are text, which
//! start, continue or end a sequence, and what a `\r` does. Only SGR survives, as style.
//!
//! Our own rather than `vte`'s: see the parent module for why.

use unicode_width::UnicodeWidthChar;

use super::sanitizer::{is_dropped, Sanitizer};
use super::sgr::apply_sgr;

/// Longest CSI parameter string interpreted; longer sequences are dropped whole.
const MAX_CSI_PARAM_BYTES: usize = 96;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum State {
    Ground,
    /// After ESC.
    Escape,
    /// After ESC and intermediate bytes.
    EscapeIntermediate,
    /// Inside `CSI`, collecting parameters.
    Csi,
    /// Inside an OSC, DCS, SOS, PM or APC string: everything is discarded until its end.
    String,
}

impl Sanitizer {
    /// One decoded character through the escape state machine.
    // Inline: called for every non-ASCII or control byte from the decoder, another module
    // (and so possibly another codegen unit).
    #[inline]
    pub(super) fn ch(&mut self, c: char) {
        if self.pending_cr {
            self.pending_cr = false;
            if c == '\n' {
                self.state = State::Ground;
                self.newline();
                return;
            }
            // A lone carriage return: what follows overwrites the line, so drop what came
            // before it.
            self.line.spans.clear();
            self.chars = 0;
            self.col = 0;
        }
        match self.state {
            State::Ground => self.ground(c),
            State::Escape => match c {
                '[' => self.enter_csi(),
                ']' | 'P' | 'X' | '^' | '_' => self.state = State::String,
                '\x20'..='\x2F' => self.state = State::EscapeIntermediate,
                '\x30'..='\x7E' => self.state = State::Ground,
                '\x7F' => {}
                c if c < ' ' => self.control_in_sequence(c),
                c => {
                    self.state = State::Ground;
                    self.ground(c);
                }
            },
            State::EscapeIntermediate => match c {
                '\x20'..='\x2F' | '\x7F' => {}
                '\x30'..='\x7E' => self.state = State::Ground,
                c if c < ' ' => self.control_in_sequence(c),
                c => {
                    self.state = State::Ground;
                    self.ground(c);
                }
            },
            State::Csi => match c {
                '\x30'..='\x3F' => {
                    if matches!(c, '<'..='?') {
                        self.csi_private = true;
                    }
                    if self.csi.len() < MAX_CSI_PARAM_BYTES {
                        self.csi.push(c as u8);
                    } else {
                        self.csi_overflow = true;
                    }
                }
                '\x20'..='\x2F' => self.csi_private = true,
                '\x40'..='\x7E' => {
                    self.state = State::Ground;
                    if c == 'm' && !self.csi_private && !self.csi_overflow {
                        let params = std::mem::take(&mut self.csi);
                        apply_sgr(&mut self.style, &params);
                        self.csi = params;
                    }
                }
                '\x7F' => {}
                c if c < ' ' => self.control_in_sequence(c),
                c => {
                    self.state = State::Ground;
                    self.ground(c);
                }
            },
            State::String => match c {
                '\x07' | '\x18' | '\x1A' | '\u{9C}' => self.state = State::Ground,
                '\x1B' => self.state = State::Escape,
                '\n' => {
                    self.state = State::Ground;
                    self.newline();
                }
                _ => {}
            },
        }
    }

    fn enter_csi(&mut self) {
        self.state = State::Csi;
        self.csi.clear();
        self.csi_private = false;
        self.csi_overflow = false;
    }

    /// A C0 control inside an escape sequence: ESC restarts it, CAN/SUB cancel it, a newline
    /// ends it, tab and CR act, the rest are dropped.
    fn control_in_sequence(&mut self, c: char) {
        match c {
            '\x1B' => self.state = State::Escape,
            '\x18' | '\x1A' => self.state = State::Ground,
            '\n' => {
                self.state = State::Ground;
                self.newline();
            }
            '\t' => self.tab(),
            '\r' => self.pending_cr = true,
            _ => {}
        }
    }

    #[inline]
    fn ground(&mut self, c: char) {
        match c {
            ' '..='~' => self.print(c, 1),
            '\n' => self.newline(),
            '\t' => self.tab(),
            '\r' => self.pending_cr = true,
            '\x1B' => self.state = State::Escape,
            '\u{9B}' => self.enter_csi(),
            '\u{90}' | '\u{98}' | '\u{9D}' | '\u{9E}' | '\u{9F}' => self.state = State::String,
            c if is_dropped(c) => {}
            c => self.print(c, c.width().unwrap_or(0)),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::output::sanitize::sanitizer::tests::{lines, lines_whole};
    use crate::output::sanitize::{to_safe_sgr, AnsiColor, Sanitizer, StyledLine, TextStyle};
    #[test]
    fn sgr_becomes_style() {
        let out =
            lines_whole(b"\x1b[1;31mred\x1b[0m plain \x1b[38;5;200mx\x1b[48;2;1;2;3my\x1b[m\n");
        assert_eq!(out.len(), 1);
        let spans = &out[0].spans;
        assert_eq!(
            spans[0].0,
            TextStyle {
                bold: true,
                fg: Some(AnsiColor::Indexed(1)),
                ..Default::default()
            }
        );
        assert_eq!(spans[0].1, "red");
        assert_eq!(spans[1], (TextStyle::default(), " plain ".to_string()));
        assert_eq!(spans[2].0.fg, Some(AnsiColor::Indexed(200)));
        assert_eq!(spans[3].0.fg, Some(AnsiColor::Indexed(200)));
        assert_eq!(spans[3].0.bg, Some(AnsiColor::Rgb(1, 2, 3)));
        assert_eq!(spans.len(), 4);
    }

    #[test]
    fn style_carries_across_lines_and_chunks() {
        let mut s = Sanitizer::new();
        assert!(s.feed(b"\x1b[3").is_empty());
        let out = s.feed(b"2mgreen\nstill\x1b[0m\n");
        assert_eq!(out[0].spans[0].0.fg, Some(AnsiColor::Indexed(2)));
        assert_eq!(out[1].spans[0].0.fg, Some(AnsiColor::Indexed(2)));
        assert_eq!(s.style(), TextStyle::default());
    }

    #[test]
    fn hostile_sequences_are_stripped() {
        let hostile: &[u8] =
            b"\x1b]0;pwned title\x07A\x1b]2;t2\x1b\\B\x1b[2J\x1b[HC\x1bP1$qm\x1b\\D\
\x1b_apc\x1b\\E\x1b^pm\x1b\\F\x1bXsos\x1b\\G\x1b[?1049hH\x1b[5;5fI\x1b7\x1b8\x1b(0J\x1b#8K\
\x07\x08\x7f\x0cL\xc2\x9b2JM\xc2\x9d0;x\xc2\x9cN\x1b[>c\x1b[6nO\n";
        assert_eq!(lines(hostile), vec!["ABCDEFGHIJKLMNO"]);
        let sgr = to_safe_sgr(hostile);
        assert_eq!(sgr, "ABCDEFGHIJKLMNO\n");
    }

    #[test]
    fn newline_ends_unterminated_strings_and_sequences() {
        assert_eq!(lines(b"\x1b]0;never ends\nvisible\n"), vec!["", "visible"]);
        assert_eq!(lines(b"\x1bPdcs\nvisible"), vec!["", "visible"]);
        assert_eq!(lines(b"a\x1b[12\nb"), vec!["a", "b"]);
        // CAN cancels a sequence.
        assert_eq!(lines(b"\x1b[1\x18x"), vec!["x"]);
        // ESC inside a CSI restarts.
        assert_eq!(lines(b"\x1b[1\x1b[31mz"), vec!["z"]);
        // A non-ASCII character aborts an escape and is printed.
        assert_eq!(lines("\x1b[1é".as_bytes()), vec!["é"]);
    }

    #[test]
    fn private_and_overlong_csi_m_is_not_sgr() {
        let out = lines_whole(b"\x1b[>4;2mx");
        assert_eq!(out[0].spans[0].0, TextStyle::default());
        let mut long = b"\x1b[".to_vec();
        long.extend(b"1;".repeat(200));
        long.extend(b"31mx");
        let out = lines_whole(&long);
        assert_eq!(out[0].text(), "x");
        assert_eq!(out[0].spans[0].0, TextStyle::default());
    }

    #[test]
    fn carriage_return_semantics() {
        assert_eq!(lines(b"a\r\nb\r\n"), vec!["a", "b"]);
        assert_eq!(lines(b"10%\r20%\r30%\ndone"), vec!["30%", "done"]);
        // \r\n split across chunks.
        let mut s = Sanitizer::new();
        assert!(s.feed(b"x\r").is_empty());
        assert_eq!(
            s.feed(b"\ny")
                .iter()
                .map(StyledLine::text)
                .collect::<Vec<_>>(),
            vec!["x"]
        );
        assert_eq!(s.finish().map(|l| l.text()), Some("y".into()));
        // Trailing lone \r keeps the line.
        assert_eq!(lines(b"end\r"), vec!["end"]);
    }
}
