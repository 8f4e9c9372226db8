//! Small helpers every module may use, one of each: a leaf like `contract`, importing nothing
//! of the crate.

use std::sync::{Mutex, MutexGuard};

/// Locks `m`, ignoring poisoning: a worker that panicked while holding a lock fails its own
/// host (the engine catches the panic); the data it guarded stays usable for everyone else.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Quotes `s` as one word for a POSIX shell (the remote login shell, sudo's `sh -c`).
///
/// A NUL cannot be passed through a shell word at all; it is dropped, as the remote side
/// would cut the word there anyway.
pub fn shell_quote(s: &str) -> String {
    match shlex::try_quote(s) {
        Ok(q) => q.into_owned(),
        Err(_) => shell_quote(&s.replace('\0', "")),
    }
}

/// True when `NO_COLOR` is set to a non-empty value (<https://no-color.org>): faces then use
/// no colors, only emphasis.
pub fn no_color() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

/// OpenSSH's `match_pattern`: `*` any run of bytes, `?` one byte, nothing else special — how
/// ssh_config `Host` lines and known_hosts host fields match (brackets are literal there, as
/// in `[127.0.0.1]:2222`, so a general glob crate would misread them).
pub fn ssh_wildcard(pattern: &str, text: &str) -> bool {
    let (p, s) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut si) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while si < s.len() {
        if pi < p.len() && (p[pi] == b'?' || p[pi] == s[si]) {
            pi += 1;
            si += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some(pi);
            mark = si;
            pi += 1;
        } else if let Some(st) = star {
            pi = st + 1;
            mark += 1;
            si = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == b'*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_wildcard_table() {
        let cases = [
            ("*", "anything", true),
            ("web*", "web01", true),
            ("web*", "db01", false),
            ("*.example.com", "a.example.com", true),
            ("*.example.com", "example.com", false),
            ("db?", "db1", true),
            ("db?", "db10", false),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
            ("[127.0.0.1]:22*", "[127.0.0.1]:2222", true),
            ("[ab]", "a", false),
        ];
        for (p, s, want) in cases {
            assert_eq!(ssh_wildcard(p, s), want, "{p} {s}");
        }
    }

    #[test]
    fn shell_quote_round_trips_through_a_shell_parser() {
        for s in [
            "plain",
            "a b",
            "it's",
            "$(rm -rf /)",
            "`x`",
            "a\"b",
            "",
            "ünï",
            "*?[]",
        ] {
            let q = shell_quote(s);
            assert_eq!(shlex::split(&q), Some(vec![s.to_string()]), "{s:?} -> {q}");
        }
        assert_eq!(shell_quote("a\0b"), "ab");
    }

    #[test]
    fn lock_survives_a_poisoned_mutex() {
        let m = std::sync::Arc::new(Mutex::new(1));
        let m2 = m.clone();
        let _ = std::thread::spawn(move || {
            let _g = m2.lock().unwrap();
            panic!("poison it");
        })
        .join();
        assert!(m.is_poisoned());
        *lock(&m) += 1;
        assert_eq!(*lock(&m), 2);
    }
}
