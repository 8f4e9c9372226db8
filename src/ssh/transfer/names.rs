//! Names that are safe to write locally, temp names, and display escaping.
//!
//! Remote names are untrusted: a hostile server can list `..`, `a/b`, `/etc/passwd` or names full
//! of terminal escapes. Everything that becomes a local path component passes [`check_remote_name`]
//! (remote entries) or [`sanitize_host`] (inventory names).

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::os::unix::ffi::OsStrExt;

use rand::Rng;

/// Marker in every temp file name, so they are recognisable (and the janitor's glob is narrow).
pub const TEMP_MARKER: &str = ".fleetdeck-tmp-";

/// Longest file name most filesystems accept, in bytes.
const NAME_MAX: usize = 255;

/// Why a remote entry name is refused as a local path component; `None` when it is fine.
pub fn check_remote_name(name: &[u8]) -> Option<&'static str> {
    if name.is_empty() {
        return Some("empty name");
    }
    if name == b"." || name == b".." {
        return Some("names a directory link ('.' or '..')");
    }
    if name[0] == b'/' {
        return Some("absolute name");
    }
    if name.contains(&b'/') {
        return Some("name contains '/'");
    }
    if name.contains(&0) {
        return Some("name contains a NUL byte");
    }
    if name.len() > NAME_MAX {
        return Some("name longer than 255 bytes");
    }
    None
}

/// A host name as one local path component: [`crate::paths::host_file_name`], the mapping
/// run folders use too (no `/`, no leading dot, no control characters, and injective, so
/// `a/b` and `a_b` never share a directory).
pub fn sanitize_host(host: &str) -> String {
    crate::paths::host_file_name(host)
}

/// A fresh random token for temp names (8 lowercase alphanumerics).
pub fn token() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::thread_rng();
    (0..8)
        .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
        .collect()
}

/// The temp name for `name`: `.NAME.fleetdeck-tmp-TOKEN`, with NAME shortened (on a UTF-8
/// boundary when it is text) so the whole stays within 255 bytes.
pub fn temp_name(name: &OsStr, token: &str) -> std::ffi::OsString {
    let room = NAME_MAX - 1 - TEMP_MARKER.len() - token.len();
    let bytes = name.as_bytes();
    let mut cut = bytes.len().min(room);
    if let Ok(text) = std::str::from_utf8(bytes) {
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
    }
    let mut out = Vec::with_capacity(cut + 1 + TEMP_MARKER.len() + token.len());
    out.push(b'.');
    out.extend_from_slice(&bytes[..cut]);
    out.extend_from_slice(TEMP_MARKER.as_bytes());
    out.extend_from_slice(token.as_bytes());
    OsStr::from_bytes(&out).to_os_string()
}

/// `text` with control characters shown as `\xNN` (so names and messages cannot move the
/// operator's cursor or change colors).
pub fn escape_for_display(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            for b in c.to_string().bytes() {
                let _ = write!(out, "\\x{b:02x}");
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Whether a symlink target, seen from `depth` directories below the fetched root, stays inside
/// that root (relative, and never climbing above it).
pub fn link_stays_inside(target: &[u8], depth: usize) -> bool {
    if target.first() == Some(&b'/') || target.is_empty() {
        return false;
    }
    let mut level = depth as isize;
    for part in target.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                level -= 1;
                if level < 0 {
                    return false;
                }
            }
            _ => level += 1,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_remote_names_are_refused() {
        for bad in [
            &b""[..],
            b".",
            b"..",
            b"/etc/passwd",
            b"../../x",
            b"a/b",
            b"a\0b",
            b"/",
        ] {
            assert!(
                check_remote_name(bad).is_some(),
                "{:?} should be refused",
                String::from_utf8_lossy(bad)
            );
        }
        assert!(check_remote_name(&[b'x'; 256]).is_some());
    }

    #[test]
    fn ordinary_remote_names_pass() {
        for good in [
            &b"a"[..],
            b".hidden",
            b"...",
            b"..x",
            b"x..",
            b"name with spaces",
            b"\xff\xfe",
            b"a\\b",
        ] {
            assert_eq!(
                check_remote_name(good),
                None,
                "{:?}",
                String::from_utf8_lossy(good)
            );
        }
    }

    #[test]
    fn host_names_are_one_safe_component() {
        assert_eq!(sanitize_host("web01"), "web01");
        assert_eq!(sanitize_host("db-1.example.com"), "db-1.example.com");
        assert_eq!(sanitize_host(".."), "%2E.");
        assert_eq!(sanitize_host("."), "%2E");
        assert_eq!(sanitize_host(""), "%");
        assert_eq!(sanitize_host("../../etc"), "%2E.%2F..%2Fetc");
        assert_eq!(sanitize_host("a/b"), "a%2Fb");
        assert_eq!(sanitize_host("a_b"), "a_b");
        assert_eq!(sanitize_host("a%2Fb"), "a%252Fb");
        assert_eq!(sanitize_host("x\u{1b}[31m"), "x%1B[31m");
        assert_eq!(sanitize_host("x\u{85}"), "x%C2%85");
        assert!(!sanitize_host("a/b/../c").contains('/'));
    }

    #[test]
    fn temp_names_fit_and_are_marked() {
        let t = temp_name(OsStr::new("app.tar"), "abcd1234");
        assert_eq!(t, OsStr::new(".app.tar.fleetdeck-tmp-abcd1234"));
        let long = "é".repeat(200);
        let t = temp_name(OsStr::new(&long), "abcd1234");
        assert!(t.len() <= 255);
        assert!(t.to_str().is_some(), "cut on a char boundary");
        assert!(t
            .to_str()
            .is_some_and(|s| s.ends_with(".fleetdeck-tmp-abcd1234")));
        assert_eq!(token().len(), 8);
        assert_ne!(token(), token());
    }

    #[test]
    fn display_escapes_controls() {
        assert_eq!(escape_for_display("a\u{1b}[2Jb\n"), "a\\x1b[2Jb\\x0a");
        assert_eq!(escape_for_display("plain"), "plain");
    }

    #[test]
    fn symlink_targets_inside_or_out() {
        assert!(!link_stays_inside(b"/etc", 3));
        assert!(!link_stays_inside(b"..", 0));
        assert!(link_stays_inside(b"..", 1));
        assert!(!link_stays_inside(b"a/../../..", 1));
        assert!(link_stays_inside(b"sub/file", 0));
        assert!(!link_stays_inside(b"", 0));
    }
}
