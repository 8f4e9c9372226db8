//! One host's output as the screen keeps it: a bounded tail of sanitized lines, bounded in
//! lines ([`DEFAULT_TAIL_LINES`], `tail_lines:`) and in bytes ([`MAX_PANE_BYTES`]), the oldest
//! dropped first.
//!
//! Lines are packed into blocks (one `String` of text, a `u32` end offset per line, and a
//! style run only where the style changes), so that 1,000 hosts × 10,000 lines fit in a few
//! hundred megabytes. Every byte is in the run folder anyway; the screen keeps the tail.

use std::collections::VecDeque;

use crate::engine::Stream;
use crate::output::{Sanitizer, StyledLine, TextStyle};

/// Lines per block; whole blocks are dropped from the front when the tail is full.
const BLOCK_LINES: usize = 512;
/// A block also ends once its text reaches this many bytes, so that the byte bound drops
/// little at a time.
const BLOCK_BYTES: usize = 256 * 1024;
/// Most bytes of text one pane holds (whole oldest blocks are dropped past it): 100 hosts
/// flooding at once hold at most ~230 MiB of panes.
pub const MAX_PANE_BYTES: usize = 2 * 1024 * 1024;
/// Marks a stderr line in [`Block::ends`].
const STDERR_BIT: u32 = 1 << 31;
/// Longest text kept for one line; the rest is cut (the run folder has it all).
pub const MAX_LINE_BYTES: usize = 16 * 1024;

/// The default number of lines kept per host.
pub const DEFAULT_TAIL_LINES: usize = 10_000;

#[derive(Debug, Default)]
struct Block {
    text: String,
    /// End offset of each line in `text`, with [`STDERR_BIT`] set for stderr lines.
    ends: Vec<u32>,
    /// `(offset, style)`: from `offset` on, text has `style` (until the next run).
    runs: Vec<(u32, TextStyle)>,
}

impl Block {
    fn style_at_end(&self) -> TextStyle {
        self.runs.last().map(|r| r.1).unwrap_or_default()
    }
}

/// A borrowed view of one stored line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineRef<'a> {
    pub stderr: bool,
    /// Spans of text with their style, in order.
    pub spans: Vec<(TextStyle, &'a str)>,
}

impl LineRef<'_> {
    pub fn text(&self) -> String {
        self.spans.iter().map(|(_, s)| *s).collect()
    }
}

/// The tail of one host's output plus its scroll position.
#[derive(Debug)]
pub struct Pane {
    blocks: VecDeque<Block>,
    /// Lines of `blocks[0]` that are logically dropped.
    skip: usize,
    len: usize,
    /// Lines dropped from the front since the job started.
    pub dropped: u64,
    limit: usize,
    out: Sanitizer,
    err: Sanitizer,
    /// Bytes received (both streams).
    pub bytes: u64,
    /// Lines up from the bottom; 0 follows new output.
    pub scroll: usize,
    version: u64,
    /// Text bytes of the held blocks.
    text_bytes: usize,
    /// Set once the host's output passed the job's cap: bytes not kept so far.
    pub truncated: Option<u64>,
}

impl Pane {
    pub fn new(limit: usize) -> Pane {
        Pane {
            blocks: VecDeque::new(),
            skip: 0,
            len: 0,
            dropped: 0,
            limit: limit.max(1),
            out: Sanitizer::new(),
            err: Sanitizer::new(),
            bytes: 0,
            scroll: 0,
            version: 0,
            text_bytes: 0,
            truncated: None,
        }
    }

    /// The host passed the job's output cap of `limit` bytes (`dropped` cut so far). The first
    /// time a line saying so is added to the pane; true then.
    pub fn note_truncated(&mut self, limit: u64, dropped: u64) -> bool {
        let first = self.truncated.is_none();
        self.truncated = Some(dropped);
        if first {
            let text = format!(
                "── output beyond {} (max_output) is not kept: not shown, not in the run folder ──",
                crate::engine::human_size(limit)
            );
            self.push(
                &StyledLine {
                    spans: vec![(TextStyle::default(), text)],
                },
                true,
            );
        }
        first
    }

    /// Number of complete lines held.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0 && self.partial_lines().is_empty()
    }

    /// Feeds raw remote bytes of one stream.
    pub fn feed(&mut self, stream: Stream, data: &[u8]) {
        self.bytes += data.len() as u64;
        self.version += 1;
        let lines = match stream {
            Stream::Stdout => self.out.feed(data),
            Stream::Stderr => self.err.feed(data),
        };
        let stderr = stream == Stream::Stderr;
        for line in &lines {
            self.push(line, stderr);
        }
        if self.scroll > 0 {
            // Keep the view still while the operator reads back.
            self.scroll = (self.scroll + lines.len()).min(self.len.saturating_sub(1));
        }
    }

    /// Appends one sanitized line.
    pub fn push(&mut self, line: &StyledLine, stderr: bool) {
        let needs_new = self.blocks.back().map_or(true, |b| {
            b.ends.len() >= BLOCK_LINES || b.text.len() >= BLOCK_BYTES
        });
        if needs_new {
            self.blocks.push_back(Block::default());
        }
        let block = self.blocks.back_mut().expect("a block was just ensured");
        let mut current = block.style_at_end();
        let mut budget = MAX_LINE_BYTES;
        for (style, text) in &line.spans {
            if budget == 0 {
                break;
            }
            let text = cut_at_char(text, budget);
            budget -= text.len();
            if text.is_empty() {
                continue;
            }
            if *style != current {
                block.runs.push((block.text.len() as u32, *style));
                current = *style;
            }
            block.text.push_str(text);
            self.text_bytes += text.len();
        }
        let mut end = block.text.len() as u32;
        if stderr {
            end |= STDERR_BIT;
        }
        block.ends.push(end);
        if block.ends.len() == BLOCK_LINES || block.text.len() >= BLOCK_BYTES {
            // A full block never grows again: give back the spare capacity.
            block.text.shrink_to_fit();
            block.runs.shrink_to_fit();
        }
        self.len += 1;
        self.version += 1;
        self.trim();
    }

    fn trim(&mut self) {
        while self.text_bytes > MAX_PANE_BYTES && self.blocks.len() > 1 {
            let first = self.blocks.pop_front().expect("more than one block");
            let n = first.ends.len() - self.skip;
            self.skip = 0;
            self.len -= n;
            self.dropped += n as u64;
            self.text_bytes -= first.text.len();
        }
        while self.len > self.limit {
            let excess = self.len - self.limit;
            let first_len = self.blocks[0].ends.len() - self.skip;
            if excess >= first_len && self.blocks.len() > 1 {
                if let Some(b) = self.blocks.pop_front() {
                    self.text_bytes -= b.text.len();
                }
                self.skip = 0;
                self.len -= first_len;
                self.dropped += first_len as u64;
            } else {
                let n = excess.min(first_len);
                self.skip += n;
                self.len -= n;
                self.dropped += n as u64;
                if self.skip == self.blocks[0].ends.len() && self.blocks.len() > 1 {
                    if let Some(b) = self.blocks.pop_front() {
                        self.text_bytes -= b.text.len();
                    }
                    self.skip = 0;
                }
            }
        }
    }

    /// Line `index` (0 = oldest held).
    pub fn line(&self, index: usize) -> Option<LineRef<'_>> {
        if index >= self.len {
            return None;
        }
        // Blocks end at BLOCK_LINES lines or BLOCK_BYTES bytes: walk them (a pane holds at
        // most a few dozen).
        let mut j = index + self.skip;
        let mut blocks = self.blocks.iter();
        let block = loop {
            let b = blocks.next()?;
            if j < b.ends.len() {
                break b;
            }
            j -= b.ends.len();
        };
        let start = if j == 0 {
            0
        } else {
            (block.ends[j - 1] & !STDERR_BIT) as usize
        };
        let raw_end = block.ends[j];
        let end = (raw_end & !STDERR_BIT) as usize;
        let stderr = raw_end & STDERR_BIT != 0;
        let mut spans = Vec::new();
        // The run in effect at `start`.
        let first = block.runs.partition_point(|r| r.0 as usize <= start);
        let mut style = if first == 0 {
            TextStyle::default()
        } else {
            block.runs[first - 1].1
        };
        let mut pos = start;
        for run in &block.runs[first..] {
            let at = run.0 as usize;
            if at >= end {
                break;
            }
            if at > pos {
                spans.push((style, &block.text[pos..at]));
            }
            pos = at;
            style = run.1;
        }
        if end > pos {
            spans.push((style, &block.text[pos..end]));
        }
        Some(LineRef { stderr, spans })
    }

    /// The incomplete last lines (stdout, then stderr) not yet ended by a newline.
    pub fn partial_lines(&self) -> Vec<(StyledLine, bool)> {
        let mut v = Vec::new();
        for (san, stderr) in [(&self.out, false), (&self.err, true)] {
            let p = san.partial();
            if !p.is_empty() {
                v.push((p.clone(), stderr));
            }
        }
        v
    }

    /// A hash of the held lines (text and stream of each) and the partial lines, for folding
    /// identical outputs. Keyed by `state` (random per process) so that a host cannot craft
    /// output that folds with another host's. Independent of how lines sit in blocks.
    pub fn content_hash(&self, state: &std::collections::hash_map::RandomState) -> u64 {
        use std::hash::{BuildHasher, Hasher};
        let mut h = state.build_hasher();
        let mut lens: Vec<u32> = Vec::with_capacity(self.len);
        for (bi, b) in self.blocks.iter().enumerate() {
            let first = if bi == 0 { self.skip } else { 0 };
            if first >= b.ends.len() {
                continue;
            }
            let mut prev = if first == 0 {
                0
            } else {
                b.ends[first - 1] & !STDERR_BIT
            };
            h.write(&b.text.as_bytes()[prev as usize..]);
            for &e in &b.ends[first..] {
                let end = e & !STDERR_BIT;
                lens.push((end - prev) | (e & STDERR_BIT));
                prev = end;
            }
        }
        h.write_u8(0xff);
        for l in &lens {
            h.write_u32(*l);
        }
        for (p, stderr) in self.partial_lines() {
            h.write_u8(u8::from(stderr));
            h.write(p.text().as_bytes());
        }
        h.finish()
    }

    /// Changes whenever the pane's content changes.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// All held lines as plain text (for folding identical outputs).
    pub fn plain_text(&self) -> String {
        let mut s = String::new();
        for i in 0..self.len {
            if let Some(l) = self.line(i) {
                for (_, t) in &l.spans {
                    s.push_str(t);
                }
                s.push('\n');
            }
        }
        for (p, _) in self.partial_lines() {
            for (_, t) in &p.spans {
                s.push_str(t);
            }
        }
        s
    }

    /// Approximate heap bytes held (for the memory figure).
    pub fn heap_bytes(&self) -> usize {
        self.blocks
            .iter()
            .map(|b| {
                b.text.capacity()
                    + b.ends.capacity() * 4
                    + b.runs.capacity() * std::mem::size_of::<(u32, TextStyle)>()
            })
            .sum()
    }

    /// Scrolls up by `n` lines (stops at the top).
    pub fn scroll_up(&mut self, n: usize) {
        self.scroll = (self.scroll + n).min(self.len.saturating_sub(1));
    }

    /// Scrolls down by `n` lines; reaching the bottom resumes following.
    pub fn scroll_down(&mut self, n: usize) {
        self.scroll = self.scroll.saturating_sub(n);
    }
}

fn cut_at_char(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(s: &str) -> StyledLine {
        StyledLine {
            spans: vec![(TextStyle::default(), s.to_string())],
        }
    }

    #[test]
    fn keeps_a_bounded_tail() {
        let mut p = Pane::new(1000);
        for i in 0..5000 {
            p.push(&plain(&format!("line {i}")), i % 7 == 0);
        }
        assert_eq!(p.len(), 1000);
        assert_eq!(p.dropped, 4000);
        assert_eq!(p.line(0).expect("line").text(), "line 4000");
        assert_eq!(p.line(999).expect("line").text(), "line 4999");
        assert!(p.line(1000).is_none());
        assert!(p.line(998).expect("l").stderr); // line 4998 = 7 × 714
        assert!(!p.line(997).expect("l").stderr);
    }

    #[test]
    fn styles_round_trip_across_lines() {
        let red = TextStyle {
            bold: true,
            ..TextStyle::default()
        };
        let mut p = Pane::new(10);
        p.push(
            &StyledLine {
                spans: vec![(TextStyle::default(), "a".into()), (red, "b".into())],
            },
            false,
        );
        p.push(&plain("c"), false);
        p.push(
            &StyledLine {
                spans: vec![(red, "d".into())],
            },
            true,
        );
        assert_eq!(
            p.line(0).expect("l").spans,
            vec![(TextStyle::default(), "a"), (red, "b")]
        );
        assert_eq!(
            p.line(1).expect("l").spans,
            vec![(TextStyle::default(), "c")]
        );
        let l2 = p.line(2).expect("l");
        assert_eq!(l2.spans, vec![(red, "d")]);
        assert!(l2.stderr);
    }

    #[test]
    fn bounded_in_bytes_oldest_dropped_first() {
        let mut p = Pane::new(DEFAULT_TAIL_LINES);
        let long = "x".repeat(MAX_LINE_BYTES);
        // 10,000 lines of 16 KiB (160 MiB) were held before the byte bound.
        let mut fed = 0usize;
        for i in 0..2_000 {
            p.feed(Stream::Stdout, format!("{i:05} {long}\n").as_bytes());
            fed += long.len();
            assert!(
                p.heap_bytes() <= MAX_PANE_BYTES + 2 * BLOCK_BYTES,
                "{} bytes held after {fed} fed",
                p.heap_bytes()
            );
        }
        assert!(p.len() < 2_000 && !p.is_empty());
        assert_eq!(p.dropped + p.len() as u64, 2_000);
        // The newest line is kept, the oldest ones went first.
        assert!(p
            .line(p.len() - 1)
            .expect("last")
            .text()
            .starts_with("01999 "));
        let first = p.line(0).expect("first").text();
        assert_eq!(first[..5].parse::<u64>().expect("number"), p.dropped);
        // Short lines still keep the line bound.
        let mut q = Pane::new(100);
        for i in 0..1000 {
            q.feed(Stream::Stdout, format!("{i}\n").as_bytes());
        }
        assert_eq!(q.len(), 100);
    }

    #[test]
    fn truncation_is_said_once() {
        let mut p = Pane::new(10);
        assert!(p.note_truncated(1 << 30, 5));
        assert!(!p.note_truncated(1 << 30, 500));
        assert_eq!(p.truncated, Some(500));
        assert_eq!(p.len(), 1);
        assert!(p.line(0).expect("l").text().contains("1.0 GiB"));
    }

    #[test]
    fn long_lines_are_cut() {
        let mut p = Pane::new(10);
        p.push(&plain(&"é".repeat(MAX_LINE_BYTES)), false);
        assert!(p.line(0).expect("l").text().len() <= MAX_LINE_BYTES);
    }

    #[test]
    fn scrolling_holds_position_while_output_arrives() {
        let mut p = Pane::new(100);
        p.feed(Stream::Stdout, b"1\n2\n3\n4\n");
        p.scroll_up(2);
        p.feed(Stream::Stdout, b"5\n");
        assert_eq!(p.scroll, 3);
        p.scroll_down(10);
        assert_eq!(p.scroll, 0);
    }
}
