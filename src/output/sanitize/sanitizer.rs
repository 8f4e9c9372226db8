//! The [`Sanitizer`] itself: UTF-8 decoding (maximal-subpart U+FFFD), line building (tabs,
//! columns, the length split) and the memory reuse of its hot path. What each character
//! means is the escape state machine's business.

use super::escape::State;
use super::style::{StyledLine, TextStyle};
use super::{MAX_LINE_CHARS, TAB_WIDTH};

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
    pub(super) state: State,
    pub(super) csi: Vec<u8>,
    /// The CSI has a private marker or intermediates (so it is not a plain SGR).
    pub(super) csi_private: bool,
    pub(super) csi_overflow: bool,
    // Output.
    pub(super) style: TextStyle,
    pub(super) line: StyledLine,
    pub(super) chars: usize,
    pub(super) col: usize,
    pub(super) pending_cr: bool,
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

    #[inline]
    pub(super) fn print(&mut self, c: char, width: usize) {
        self.span().push(c);
        self.chars += 1;
        self.col += width;
        if self.chars >= MAX_LINE_CHARS {
            self.newline();
        }
    }

    pub(super) fn tab(&mut self) {
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

    pub(super) fn newline(&mut self) {
        let fresh = self.line_pool.pop().unwrap_or_default();
        self.done.push(std::mem::replace(&mut self.line, fresh));
        self.chars = 0;
        self.col = 0;
    }
}

/// Characters never shown: C0, DEL, C1, and the bidi embedding/override/isolate controls that
/// could visually reorder a host's name and its output.
#[inline]
pub(super) fn is_dropped(c: char) -> bool {
    super::clean::is_unsafe_char(c)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::output::sanitize::to_plain;

    pub(crate) fn lines(input: &[u8]) -> Vec<String> {
        let mut s = Sanitizer::new();
        let mut out: Vec<String> = s.feed(input).iter().map(StyledLine::text).collect();
        if let Some(l) = s.finish() {
            out.push(l.text());
        }
        out
    }

    /// Feeds `input` one byte at a time: every split point at once.
    pub(crate) fn lines_bytewise(input: &[u8]) -> Vec<StyledLine> {
        let mut s = Sanitizer::new();
        let mut out = Vec::new();
        for b in input {
            out.extend(s.feed(std::slice::from_ref(b)));
        }
        out.extend(s.finish());
        out
    }

    pub(crate) fn lines_whole(input: &[u8]) -> Vec<StyledLine> {
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
}
