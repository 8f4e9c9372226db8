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

#[cfg(test)]
mod tests {
    use super::*;

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
