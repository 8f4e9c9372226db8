//! One stream of one host as `run -o gathered` and `-o json` keep it: a SHA-256 of every byte
//! (so identical outputs fold without being held), the first [`CAPTURE_PREFIX`] bytes in
//! memory, and the rest read back from the run folder when it is printed. Memory per host is
//! bounded whatever the host prints; the run folder has every byte kept (up to `--max-output`).

use std::io::Read;
use std::path::PathBuf;

use sha2::{Digest, Sha256};

use crate::output::{line_to_sgr, to_terminal_safe_json, Sanitizer, StyledLine};

/// Bytes of each stream of each host kept in memory.
pub const CAPTURE_PREFIX: usize = 64 * 1024;
/// Size of one read when a stream is read back from the run folder.
const READ_BACK_CHUNK: usize = 64 * 1024;

/// One captured stream.
#[derive(Clone, Default)]
pub struct Captured {
    /// The first bytes (all of them when `len` ≤ [`CAPTURE_PREFIX`]).
    pub prefix: Vec<u8>,
    /// Bytes received.
    pub len: u64,
    hasher: Sha256,
    /// The run folder file holding every byte of the stream.
    pub file: Option<PathBuf>,
}

impl std::fmt::Debug for Captured {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Captured")
            .field("len", &self.len)
            .field("file", &self.file)
            .finish_non_exhaustive()
    }
}

impl Captured {
    /// A stream held whole in memory.
    #[cfg(test)]
    pub fn from_bytes(bytes: &[u8]) -> Captured {
        let mut c = Captured::default();
        c.push(bytes);
        c
    }

    pub fn push(&mut self, data: &[u8]) {
        self.len += data.len() as u64;
        self.hasher.update(data);
        let room = CAPTURE_PREFIX.saturating_sub(self.prefix.len());
        self.prefix.extend_from_slice(&data[..room.min(data.len())]);
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The SHA-256 of every byte received.
    pub fn digest(&self) -> [u8; 32] {
        self.hasher.clone().finalize().into()
    }

    /// Forgets the bytes (the host's JSON line is printed); the length stays.
    pub fn release(&mut self) {
        self.prefix = Vec::new();
    }

    /// Calls `f` with every byte in order: from memory, or read back from the run folder.
    /// `Err` names what could not be shown (then `f` got only the prefix).
    pub fn each_chunk(&self, f: &mut dyn FnMut(&[u8])) -> Result<(), String> {
        if self.prefix.len() as u64 == self.len {
            f(&self.prefix);
            return Ok(());
        }
        let missing = self.len - self.prefix.len() as u64;
        let Some(path) = &self.file else {
            f(&self.prefix);
            return Err(format!(
                "only the first {CAPTURE_PREFIX} bytes are shown, {missing} more were not kept (no run folder)"
            ));
        };
        let mut file = match std::fs::File::open(path) {
            Ok(file) => file.take(self.len),
            Err(e) => {
                f(&self.prefix);
                return Err(format!(
                    "{missing} bytes not shown: cannot read {}: {e}",
                    path.display()
                ));
            }
        };
        let mut buf = vec![0u8; READ_BACK_CHUNK];
        loop {
            match file.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(n) => f(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("reading {}: {e}", path.display())),
            }
        }
    }

    /// Every line as the sanitizer gives it (the last one without its newline, if any).
    pub fn each_line(&self, f: &mut dyn FnMut(&StyledLine)) -> Result<(), String> {
        let mut s = Sanitizer::new();
        let r = self.each_chunk(&mut |chunk| s.feed_each(chunk, &mut *f));
        if let Some(line) = s.finish() {
            f(&line);
        }
        r
    }

    /// The stream as the inside of a JSON string (invalid UTF-8 as U+FFFD, terminal controls
    /// escaped), in pieces.
    pub fn each_json_piece(&self, f: &mut dyn FnMut(&str)) -> Result<(), String> {
        let mut carry: Vec<u8> = Vec::new();
        let emit = |bytes: &[u8], f: &mut dyn FnMut(&str)| {
            let text = String::from_utf8_lossy(bytes);
            let quoted = to_terminal_safe_json(text.as_ref()).unwrap_or_default();
            f(quoted.trim_start_matches('"').trim_end_matches('"'));
        };
        let r = self.each_chunk(&mut |chunk| {
            carry.extend_from_slice(chunk);
            let keep = incomplete_tail(&carry);
            let whole = carry.len() - keep;
            emit(&carry[..whole], f);
            carry.drain(..whole);
        });
        if !carry.is_empty() {
            emit(&carry, f);
        }
        r
    }
}

/// Length of an incomplete UTF-8 sequence at the end of `b` (0 when it ends whole), so that a
/// character split between two reads is decoded whole.
fn incomplete_tail(b: &[u8]) -> usize {
    for k in 1..=b.len().min(3) {
        let c = b[b.len() - k];
        if c & 0xC0 == 0x80 {
            continue;
        }
        let need = match c {
            0xF0..=0xF7 => 4,
            0xE0..=0xEF => 3,
            0xC0..=0xDF => 2,
            _ => 1,
        };
        return if need > k { k } else { 0 };
    }
    0
}

/// A sanitized line as `run` prints it: SGR colours kept when `color`, else plain text.
pub fn render_line(line: &StyledLine, color: bool) -> String {
    if color {
        line_to_sgr(line)
    } else {
        line.text()
    }
}

/// Output that could not be shown (a run folder file unreadable), said on stderr.
pub(crate) fn warn_not_shown(notes: &[String]) {
    for n in notes {
        eprintln!(
            "fleetdeck run: warning: {}",
            crate::output::to_plain(n.as_bytes()).trim_end()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from_file(bytes: &[u8]) -> (tempfile::TempDir, Captured) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("h.out");
        std::fs::write(&path, bytes).expect("write");
        let mut c = Captured {
            file: Some(path),
            ..Captured::default()
        };
        for chunk in bytes.chunks(1000) {
            c.push(chunk);
        }
        (dir, c)
    }

    #[test]
    fn keeps_a_bounded_prefix_and_reads_the_rest_back() {
        let bytes: Vec<u8> = (0..3 * CAPTURE_PREFIX).map(|i| (i % 251) as u8).collect();
        let (_dir, c) = from_file(&bytes);
        assert_eq!(c.prefix.len(), CAPTURE_PREFIX);
        assert_eq!(c.len, bytes.len() as u64);
        assert_eq!(c.digest(), <[u8; 32]>::from(Sha256::digest(&bytes)));
        let mut back = Vec::new();
        c.each_chunk(&mut |b| back.extend_from_slice(b))
            .expect("read back");
        assert_eq!(back, bytes);
    }

    #[test]
    fn a_missing_file_shows_the_prefix_and_says_so() {
        let mut c = Captured::default();
        c.push(&vec![b'a'; CAPTURE_PREFIX + 10]);
        let mut n = 0;
        let e = c.each_chunk(&mut |b| n += b.len()).expect_err("no file");
        assert_eq!(n, CAPTURE_PREFIX);
        assert!(e.contains("10 more"), "{e}");
    }

    #[test]
    fn json_pieces_decode_characters_split_between_reads() {
        // "é" = C3 A9 split by the 1000-byte chunks and by the read-back chunks.
        let mut bytes = vec![b'x'; READ_BACK_CHUNK - 1];
        bytes.extend_from_slice("é\u{1b}[2J\u{9b}".as_bytes());
        bytes.push(0xff);
        bytes.extend(std::iter::repeat(b'y').take(2 * CAPTURE_PREFIX));
        let (_dir, c) = from_file(&bytes);
        let mut json = String::from("\"");
        c.each_json_piece(&mut |p| json.push_str(p))
            .expect("pieces");
        json.push('"');
        assert!(!json.contains(['\u{1b}', '\u{9b}']));
        let back: String = serde_json::from_str(&json).expect("valid JSON");
        assert_eq!(back, String::from_utf8_lossy(&bytes));
        assert_eq!(incomplete_tail(b"a\xe2\x82"), 2);
        assert_eq!(incomplete_tail("a€".as_bytes()), 0);
    }
}
