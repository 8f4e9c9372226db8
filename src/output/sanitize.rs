//! Turning untrusted remote bytes into lines that are safe to show.
//!
//! Remote hosts may print anything: invalid UTF-8, title-setting OSC strings, cursor moves,
//! clear-screen, DCS payloads, 8-bit C1 controls, or 10 MB without a newline. A [`Sanitizer`]
//! is a stateful decoder (a chunk may end in the middle of an escape or UTF-8 sequence) that
//! keeps the text and the SGR colours as [`TextStyle`]s and drops every other control.
//!
//! The escape parser is our own small state machine rather than `vte`: vte 0.13 buffers an
//! unterminated OSC string without bound, swallows the byte that breaks a UTF-8 sequence (so
//! `"\xc3\n"` loses its newline) and drops stray continuation bytes without a U+FFFD.
//!
//! Rules, in short:
//! - invalid UTF-8 becomes U+FFFD (maximal-subpart rule, as `String::from_utf8_lossy`);
//! - `CSI … m` (SGR) becomes style; every other CSI, OSC, DCS, SOS/PM/APC and ESC sequence is
//!   dropped, as are C0 controls except `\n` and `\t`, DEL, C1 controls and bidi overrides;
//! - a newline always ends a pending escape sequence or string, so an unterminated OSC cannot
//!   swallow the rest of the output;
//! - `\r\n` is a newline; a lone `\r` followed by more text discards the current partial line
//!   (what a terminal shows for progress bars; the run folder keeps every byte);
//! - tabs expand to 8-column stops; a line reaching [`MAX_LINE_CHARS`] is split.

use unicode_width::UnicodeWidthChar;

/// Longest line kept as one line; longer ones are split so that memory and time stay bounded.
pub const MAX_LINE_CHARS: usize = 64 * 1024;
/// Tab stops every this many columns.
pub const TAB_WIDTH: usize = 8;
/// Longest CSI parameter string interpreted; longer sequences are dropped whole.
const MAX_CSI_PARAM_BYTES: usize = 96;

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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
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

/// Stateful decoder of untrusted bytes into [`StyledLine`]s; see the module docs for the rules.
#[derive(Clone, Debug)]
pub struct Sanitizer {
    // UTF-8 decoding.
    cp: u32,
    /// Continuation bytes still expected.
    need: u8,
    /// Allowed range for the next continuation byte.
    lo: u8,
    hi: u8,
    // Escape parsing.
    state: State,
    csi: Vec<u8>,
    /// The CSI has a private marker or intermediates (so it is not a plain SGR).
    csi_private: bool,
    csi_overflow: bool,
    // Output.
    style: TextStyle,
    line: StyledLine,
    chars: usize,
    col: usize,
    pending_cr: bool,
    done: Vec<StyledLine>,
    /// Emptied lines and span strings kept for reuse by [`Sanitizer::feed_each`].
    line_pool: Vec<StyledLine>,
    string_pool: Vec<String>,
}

/// Most emptied lines / strings kept for reuse.
const POOL_LIMIT: usize = 1024;
/// Larger strings and span vectors are freed rather than kept (a 64 KiB line must not pin
/// 64 KiB in a pool).
const POOLED_CAPACITY: usize = 1024;

impl Default for Sanitizer {
    fn default() -> Self {
        Self::new()
    }
}

impl Sanitizer {
    pub fn new() -> Self {
        Sanitizer {
            cp: 0,
            need: 0,
            lo: 0x80,
            hi: 0xBF,
            state: State::Ground,
            csi: Vec::new(),
            csi_private: false,
            csi_overflow: false,
            style: TextStyle::default(),
            line: StyledLine::default(),
            chars: 0,
            col: 0,
            pending_cr: false,
            done: Vec::new(),
            line_pool: Vec::new(),
            string_pool: Vec::new(),
        }
    }

    /// Feeds a chunk; returns the lines it completed (terminated by `\n` or split for length).
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<StyledLine> {
        self.advance(bytes);
        std::mem::take(&mut self.done)
    }

    /// Like [`Sanitizer::feed`] but lends each completed line to `f` and then reuses its
    /// memory: no allocation per line once warm (the hot path of a busy stream).
    pub fn feed_each(&mut self, bytes: &[u8], mut f: impl FnMut(&StyledLine)) {
        // Small slices, so that one slice never completes more lines than the pools keep.
        for slice in bytes.chunks(POOL_LIMIT) {
            self.advance(slice);
            let mut done = std::mem::take(&mut self.done);
            for mut line in done.drain(..) {
                f(&line);
                for (_, mut text) in line.spans.drain(..) {
                    if self.string_pool.len() < POOL_LIMIT && text.capacity() <= POOLED_CAPACITY {
                        text.clear();
                        self.string_pool.push(text);
                    }
                }
                if self.line_pool.len() < POOL_LIMIT && line.spans.capacity() <= POOLED_CAPACITY {
                    self.line_pool.push(line);
                }
            }
            // Keep the (now empty) vector's capacity for the next slice.
            self.done = done;
        }
    }

    fn advance(&mut self, bytes: &[u8]) {
        let mut i = 0;
        while i < bytes.len() {
            // Fast path: a run of printable ASCII in the ground state is copied whole.
            if self.need == 0 && self.state == State::Ground && !self.pending_cr {
                let room = MAX_LINE_CHARS - self.chars;
                let run = bytes[i..]
                    .iter()
                    .take(room)
                    .take_while(|b| (b' '..=b'~').contains(b))
                    .count();
                if run > 0 {
                    self.print_ascii(&bytes[i..i + run]);
                    i += run;
                    continue;
                }
            }
            self.byte(bytes[i]);
            i += 1;
        }
    }

    fn print_ascii(&mut self, run: &[u8]) {
        let text = std::str::from_utf8(run).unwrap_or_default();
        self.span().push_str(text);
        self.chars += run.len();
        self.col += run.len();
        if self.chars >= MAX_LINE_CHARS {
            self.newline();
        }
    }

    /// The current unterminated line.
    pub fn partial(&self) -> &StyledLine {
        &self.line
    }

    /// The style that the next text will have (SGR state carries across lines).
    pub fn style(&self) -> TextStyle {
        self.style
    }

    /// Ends the stream: an incomplete UTF-8 sequence becomes U+FFFD, a pending escape sequence
    /// is dropped, and the unterminated line (if it has any text) is returned. The sanitizer
    /// can be reused afterwards; its style is reset.
    pub fn finish(&mut self) -> Option<StyledLine> {
        if self.need > 0 {
            self.need = 0;
            self.ch('\u{FFFD}');
        }
        self.state = State::Ground;
        self.pending_cr = false;
        self.style = TextStyle::default();
        self.done.clear();
        self.chars = 0;
        self.col = 0;
        let line = std::mem::take(&mut self.line);
        (!line.is_empty()).then_some(line)
    }

    #[inline]
    fn byte(&mut self, b: u8) {
        if self.need > 0 {
            if (self.lo..=self.hi).contains(&b) {
                self.cp = (self.cp << 6) | u32::from(b & 0x3F);
                self.need -= 1;
                self.lo = 0x80;
                self.hi = 0xBF;
                if self.need == 0 {
                    let c = char::from_u32(self.cp).unwrap_or('\u{FFFD}');
                    self.ch(c);
                }
                return;
            }
            // The sequence is broken: its maximal valid prefix becomes one U+FFFD and this
            // byte is decoded afresh.
            self.need = 0;
            self.lo = 0x80;
            self.hi = 0xBF;
            self.ch('\u{FFFD}');
        }
        match b {
            0x00..=0x7F => self.ch(char::from(b)),
            0xC2..=0xDF => self.start(b & 0x1F, 1, 0x80, 0xBF),
            0xE0 => self.start(0, 2, 0xA0, 0xBF),
            0xE1..=0xEC | 0xEE | 0xEF => self.start(b & 0x0F, 2, 0x80, 0xBF),
            0xED => self.start(0x0D, 2, 0x80, 0x9F),
            0xF0 => self.start(0, 3, 0x90, 0xBF),
            0xF1..=0xF3 => self.start(b & 0x07, 3, 0x80, 0xBF),
            0xF4 => self.start(4, 3, 0x80, 0x8F),
            _ => self.ch('\u{FFFD}'),
        }
    }

    #[inline]
    fn start(&mut self, bits: u8, need: u8, lo: u8, hi: u8) {
        self.cp = u32::from(bits);
        self.need = need;
        self.lo = lo;
        self.hi = hi;
    }

    /// One decoded character through the escape state machine.
    fn ch(&mut self, c: char) {
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

    #[inline]
    fn print(&mut self, c: char, width: usize) {
        self.span().push(c);
        self.chars += 1;
        self.col += width;
        if self.chars >= MAX_LINE_CHARS {
            self.newline();
        }
    }

    fn tab(&mut self) {
        let n = TAB_WIDTH - self.col % TAB_WIDTH;
        let span = self.span();
        for _ in 0..n {
            span.push(' ');
        }
        self.chars += n;
        self.col += n;
        if self.chars >= MAX_LINE_CHARS {
            self.newline();
        }
    }

    /// The text of the last span of the current line if it has the current style, else of
    /// a new span with it.
    #[inline]
    fn span(&mut self) -> &mut String {
        let same = matches!(self.line.spans.last(), Some((s, _)) if *s == self.style);
        if !same {
            let text = self.string_pool.pop().unwrap_or_default();
            self.line.spans.push((self.style, text));
        }
        match self.line.spans.last_mut() {
            Some((_, t)) => t,
            None => unreachable!("a span was just pushed"),
        }
    }

    fn newline(&mut self) {
        let fresh = self.line_pool.pop().unwrap_or_default();
        self.done.push(std::mem::replace(&mut self.line, fresh));
        self.chars = 0;
        self.col = 0;
    }
}

/// Characters never shown: C0, DEL, C1, and the bidi embedding/override/isolate controls that
/// could visually reorder a host's name and its output.
#[inline]
fn is_dropped(c: char) -> bool {
    matches!(c, '\0'..='\x1F' | '\x7F'..='\u{9F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Applies the parameters of one SGR sequence (`CSI params m`) to `style`.
fn apply_sgr(style: &mut TextStyle, params: &[u8]) {
    // Split into parameters (';') each with sub-parameters (':'); empty means 0.
    let groups: Vec<Vec<u16>> = params
        .split(|&b| b == b';')
        .map(|p| {
            p.split(|&b| b == b':')
                .map(|s| {
                    s.iter()
                        .filter(|d| d.is_ascii_digit())
                        .fold(0u16, |acc, d| {
                            acc.saturating_mul(10).saturating_add(u16::from(d - b'0'))
                        })
                })
                .collect()
        })
        .collect();
    let mut i = 0;
    while i < groups.len() {
        let g = &groups[i];
        let code = g.first().copied().unwrap_or(0);
        match code {
            0 => *style = TextStyle::default(),
            1 => style.bold = true,
            2 => style.dim = true,
            3 => style.italic = true,
            4 => style.underline = g.get(1).copied().unwrap_or(1) != 0,
            7 => style.reverse = true,
            21 | 24 => style.underline = false,
            22 => {
                style.bold = false;
                style.dim = false;
            }
            23 => style.italic = false,
            27 => style.reverse = false,
            30..=37 => style.fg = Some(AnsiColor::Indexed((code - 30) as u8)),
            39 => style.fg = None,
            40..=47 => style.bg = Some(AnsiColor::Indexed((code - 40) as u8)),
            49 => style.bg = None,
            90..=97 => style.fg = Some(AnsiColor::Indexed((code - 90 + 8) as u8)),
            100..=107 => style.bg = Some(AnsiColor::Indexed((code - 100 + 8) as u8)),
            38 | 48 => {
                let (color, used) = if g.len() > 1 {
                    (extended_color(&g[1..], true), 0)
                } else {
                    // Semicolon form: the colour's parameters are the following groups.
                    let rest: Vec<u16> = groups[i + 1..]
                        .iter()
                        .map(|x| x.first().copied().unwrap_or(0))
                        .collect();
                    let used = match rest.first() {
                        Some(5) => 2,
                        Some(2) => 4,
                        _ => rest.len(),
                    };
                    (extended_color(&rest, false), used.min(rest.len()))
                };
                if let Some(color) = color {
                    if code == 38 {
                        style.fg = Some(color);
                    } else {
                        style.bg = Some(color);
                    }
                }
                i += used;
            }
            _ => {}
        }
        i += 1;
    }
}

/// Parses `5;n` or `2;r;g;b` (`colon` also allows `2:colorspace:r:g:b`).
fn extended_color(p: &[u16], colon: bool) -> Option<AnsiColor> {
    let byte = |v: u16| u8::try_from(v).ok();
    match p.first()? {
        5 => Some(AnsiColor::Indexed(byte(*p.get(1)?)?)),
        2 => {
            let rgb = if colon && p.len() >= 5 {
                &p[2..5]
            } else {
                p.get(1..4)?
            };
            Some(AnsiColor::Rgb(byte(rgb[0])?, byte(rgb[1])?, byte(rgb[2])?))
        }
        _ => None,
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

fn render(bytes: &[u8], line_fn: impl Fn(&StyledLine) -> String) -> String {
    let mut s = Sanitizer::new();
    let mut out = String::with_capacity(bytes.len());
    for line in s.feed(bytes) {
        out.push_str(&line_fn(&line));
        out.push('\n');
    }
    if let Some(line) = s.finish() {
        out.push_str(&line_fn(&line));
    }
    out
}

/// All escapes and controls stripped, invalid UTF-8 as U+FFFD, tabs expanded. Lines end in
/// `\n` as they did in the input (an overlong line is split).
pub fn to_plain(bytes: &[u8]) -> String {
    render(bytes, StyledLine::text)
}

/// Like [`to_plain`] but keeps colours as plain SGR sequences (`ESC [ digits;… m`), each line
/// self-contained (it resets at its end).
pub fn to_safe_sgr(bytes: &[u8]) -> String {
    render(bytes, line_to_sgr)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn lines(input: &[u8]) -> Vec<String> {
        let mut s = Sanitizer::new();
        let mut out: Vec<String> = s.feed(input).iter().map(StyledLine::text).collect();
        if let Some(l) = s.finish() {
            out.push(l.text());
        }
        out
    }

    /// Feeds `input` one byte at a time: every split point at once.
    fn lines_bytewise(input: &[u8]) -> Vec<StyledLine> {
        let mut s = Sanitizer::new();
        let mut out = Vec::new();
        for b in input {
            out.extend(s.feed(std::slice::from_ref(b)));
        }
        out.extend(s.finish());
        out
    }

    fn lines_whole(input: &[u8]) -> Vec<StyledLine> {
        let mut s = Sanitizer::new();
        let mut out = s.feed(input);
        out.extend(s.finish());
        out
    }

    #[test]
    fn plain_text_and_newlines() {
        assert_eq!(lines(b"hello\nworld\n"), vec!["hello", "world"]);
        assert_eq!(lines(b"a\n\nb"), vec!["a", "", "b"]);
        assert_eq!(to_plain(b"a\nb\n"), "a\nb\n");
        assert_eq!(to_plain(b"a\nb"), "a\nb");
        assert_eq!(to_plain(b""), "");
    }

    #[test]
    fn invalid_utf8_becomes_replacement_like_std() {
        let cases: &[&[u8]] = &[
            b"\xff",
            b"a\xc3(b",
            b"\xe2\x28\xa1",
            b"\xf0\x90\x28\xbc",
            b"\xed\xa0\x80",
            b"\xc0\xaf",
            b"\x80\xbf",
            b"ok \xe2\x82\xac \xf0\x9f\x98\x80 end",
            b"\xf4\x90\x80\x80",
            b"\xe0\x80\xaf",
        ];
        for case in cases {
            assert_eq!(
                to_plain(case),
                String::from_utf8_lossy(case),
                "input {case:?}"
            );
        }
        // The byte breaking a sequence is not lost.
        assert_eq!(lines(b"a\xc3\nb"), vec!["a\u{FFFD}", "b"]);
        // Truncated sequence at the end of the stream.
        assert_eq!(to_plain(b"x\xe2\x82"), "x\u{FFFD}");
    }

    #[test]
    fn utf8_split_across_chunks() {
        let text = "héllo wörld € 😀 日本\n".as_bytes();
        for split in 0..text.len() {
            let mut s = Sanitizer::new();
            let mut out = s.feed(&text[..split]);
            out.extend(s.feed(&text[split..]));
            assert_eq!(out.len(), 1);
            assert_eq!(out[0].text(), "héllo wörld € 😀 日本");
        }
    }

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
    fn sgr_colon_forms_bright_and_resets() {
        let mut st = TextStyle::default();
        apply_sgr(&mut st, b"38:2::10:20:30");
        assert_eq!(st.fg, Some(AnsiColor::Rgb(10, 20, 30)));
        apply_sgr(&mut st, b"38:5:9;4;7;3;2");
        assert_eq!(st.fg, Some(AnsiColor::Indexed(9)));
        assert!(st.underline && st.reverse && st.italic && st.dim);
        apply_sgr(&mut st, b"24;27;23;22;39;92;104");
        assert_eq!(
            st,
            TextStyle {
                fg: Some(AnsiColor::Indexed(10)),
                bg: Some(AnsiColor::Indexed(12)),
                ..Default::default()
            }
        );
        apply_sgr(&mut st, b"");
        assert_eq!(st, TextStyle::default());
        // Out-of-range colour is ignored, not wrapped.
        apply_sgr(&mut st, b"38;5;300");
        assert_eq!(st.fg, None);
        // Truncated extended colour does not panic.
        apply_sgr(&mut st, b"38;2;1");
        apply_sgr(&mut st, b"48");
        assert_eq!(st.bg, None);
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

    #[test]
    fn tabs_expand_to_stops() {
        assert_eq!(to_plain(b"a\tb"), "a       b");
        assert_eq!(to_plain(b"\t|"), "        |");
        assert_eq!(to_plain(b"abcdefgh\t|"), "abcdefgh        |");
        // Wide characters count two columns.
        assert_eq!(to_plain("日本\t|".as_bytes()), "日本    |");
        // Escapes take no column.
        assert_eq!(to_plain(b"\x1b[31mab\x1b[0m\t|"), "ab      |");
    }

    #[test]
    fn combining_and_zero_width_kept_controls_and_bidi_dropped() {
        let s = "e\u{301} a\u{200B}b \u{202E}evil\u{2066}x\u{2069}";
        assert_eq!(to_plain(s.as_bytes()), "e\u{301} a\u{200B}b evilx");
        let line = &lines_whole("日本e\u{301}".as_bytes())[0];
        assert_eq!(line.width(), 5);
    }

    #[test]
    fn overlong_line_is_split_quickly() {
        let big = vec![b'x'; 10 * 1024 * 1024];
        let t = std::time::Instant::now();
        let mut s = Sanitizer::new();
        let mut count = 0;
        let mut max = 0;
        for chunk in big.chunks(32 * 1024) {
            for l in s.feed(chunk) {
                count += 1;
                max = max.max(l.text().len());
            }
            assert!(s.partial().text().len() < MAX_LINE_CHARS);
        }
        assert_eq!(count, big.len() / MAX_LINE_CHARS);
        assert_eq!(max, MAX_LINE_CHARS);
        assert!(
            t.elapsed() < std::time::Duration::from_secs(5),
            "took {:?}",
            t.elapsed()
        );
    }

    #[test]
    fn partial_and_finish() {
        let mut s = Sanitizer::new();
        assert!(s.feed(b"abc").is_empty());
        assert_eq!(s.partial().text(), "abc");
        assert_eq!(s.finish().map(|l| l.text()), Some("abc".into()));
        assert_eq!(s.finish(), None);
        assert!(s.feed(b"\x1b[31m").is_empty());
        assert_eq!(s.finish(), None);
    }

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

    /// Checks that `s` holds ESC only as `ESC [ digits/; m`.
    fn assert_only_plain_sgr(s: &str) {
        let b = s.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] == 0x1b {
                assert_eq!(b.get(i + 1), Some(&b'['), "ESC not followed by [ in {s:?}");
                let mut j = i + 2;
                while j < b.len() && (b[j].is_ascii_digit() || b[j] == b';') {
                    j += 1;
                }
                assert_eq!(b.get(j), Some(&b'm'), "non-SGR escape in {s:?}");
                i = j + 1;
            } else {
                i += 1;
            }
        }
    }

    fn assert_clean_text(s: &str) {
        for c in s.chars() {
            assert!(
                !is_dropped(c) || c == '\n',
                "control {c:?} (U+{:04X}) in output {s:?}",
                c as u32
            );
        }
    }

    fn random_input(rng: &mut rand::rngs::StdRng) -> Vec<u8> {
        // Biased towards the bytes that matter: ESC, brackets, controls, C1, UTF-8 leads.
        const INTERESTING: &[u8] = b"\x1b\x1b[]P_^X\\;:m0123456789\x07\x08\r\n\t\x18\x1a\x7f\x9b\x9d\x90\x9c\xc2\xe2\xf0\x80\xbf";
        let len = rng.gen_range(0..200);
        (0..len)
            .map(|_| {
                if rng.gen_bool(0.6) {
                    INTERESTING[rng.gen_range(0..INTERESTING.len())]
                } else {
                    rng.gen()
                }
            })
            .collect()
    }

    #[test]
    fn fuzz_random_bytes_never_leak_controls() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed_f1ee7);
        for _ in 0..20_000 {
            let input = random_input(&mut rng);
            let plain = to_plain(&input);
            assert_clean_text(&plain);
            assert!(!plain.contains('\x1b'));
            let sgr = to_safe_sgr(&input);
            assert_only_plain_sgr(&sgr);
            let without_sgr: String = {
                // Removing the SGR sequences leaves clean text equal to the plain rendering.
                let mut out = String::new();
                let mut it = sgr.chars().peekable();
                while let Some(c) = it.next() {
                    if c == '\x1b' {
                        for d in it.by_ref() {
                            if d == 'm' {
                                break;
                            }
                        }
                    } else {
                        out.push(c);
                    }
                }
                out
            };
            assert_eq!(without_sgr, plain);
            for line in lines_whole(&input) {
                for (_, t) in &line.spans {
                    assert!(!t.is_empty());
                    assert_clean_text(t);
                    assert!(!t.contains('\n'));
                }
            }
        }
    }

    #[test]
    fn fuzz_chunking_does_not_change_result() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(42);
        for _ in 0..3_000 {
            let input = random_input(&mut rng);
            let whole = lines_whole(&input);
            assert_eq!(lines_bytewise(&input), whole, "input {input:?}");
            // feed_each with random chunk sizes and reused memory gives the same lines.
            let mut s = Sanitizer::new();
            let mut each = Vec::new();
            let mut rest = input.as_slice();
            while !rest.is_empty() {
                let n = rng.gen_range(1..=rest.len().min(17));
                s.feed_each(&rest[..n], |l| each.push(l.clone()));
                rest = &rest[n..];
            }
            each.extend(s.finish());
            assert_eq!(each, whole, "input {input:?}");
        }
    }
}
