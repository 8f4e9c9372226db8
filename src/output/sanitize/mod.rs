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
//!   dropped, as are C0 controls except `\n` and `\t`, DEL, C1 controls, bidi controls and
//!   the line/paragraph separators ([`is_unsafe_char`], the same rule as [`Clean`]'s);
//! - a newline always ends a pending escape sequence or string, so an unterminated OSC cannot
//!   swallow the rest of the output;
//! - `\r\n` is a newline; a lone `\r` followed by more text discards the current partial line
//!   (what a terminal shows for progress bars; the run folder keeps every byte);
//! - tabs expand to 8-column stops; a line reaching [`MAX_LINE_CHARS`] is split.

mod clean;
mod escape;
mod sanitizer;
mod sgr;
mod style;

pub use clean::{is_unsafe_char, Clean};
pub use sanitizer::Sanitizer;
pub use style::{line_to_sgr, style_to_sgr, AnsiColor, StyledLine, TextStyle};

/// Longest line kept as one line; longer ones are split so that memory and time stay bounded.
pub const MAX_LINE_CHARS: usize = 64 * 1024;
/// Tab stops every this many columns.
pub const TAB_WIDTH: usize = 8;

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
    use super::sanitizer::is_dropped;
    use super::sanitizer::tests::{lines_bytewise, lines_whole};
    use super::*;
    use rand::{Rng, SeedableRng};
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
