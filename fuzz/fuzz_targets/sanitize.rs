//! The output sanitizer on arbitrary remote output, fed in arbitrary chunks: what reaches
//! the terminal holds nothing but printable text, newlines and plain SGR (`ESC [ digits;... m`).
#![no_main]

use fleetdeck::output::sanitize::{line_to_sgr, to_safe_sgr, Sanitizer};
use libfuzzer_sys::fuzz_target;

/// Panics when `s` holds a control character other than newline/tab or an escape sequence
/// other than SGR.
fn assert_terminal_safe(s: &str) {
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            assert_eq!(chars.next(), Some('['), "non-CSI escape in {s:?}");
            loop {
                match chars.next() {
                    Some('m') => break,
                    Some(d) if d.is_ascii_digit() || d == ';' || d == ':' => {}
                    other => panic!("non-SGR sequence ({other:?}) in {s:?}"),
                }
            }
        } else {
            let bad = (c < ' ' && c != '\n' && c != '\t') || ('\u{7f}'..='\u{9f}').contains(&c);
            assert!(!bad, "control U+{:04X} in {s:?}", c as u32);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let split = data.first().map_or(1, |&b| usize::from(b % 16) + 1);
    let mut san = Sanitizer::new();
    for chunk in data.chunks(split) {
        for line in san.feed(chunk) {
            assert_terminal_safe(&line.text());
            assert_terminal_safe(&line_to_sgr(&line));
        }
    }
    if let Some(line) = san.finish() {
        assert_terminal_safe(&line.text());
        assert_terminal_safe(&line_to_sgr(&line));
    }
    assert_terminal_safe(&to_safe_sgr(data));
});
