//! Running a command through sudo: the command line that makes sudo read its password from
//! stdin and print a marker as its prompt, and the filter that finds that marker in the output
//! (where sudo writes it, not where `ps` output echoes it) and cuts it out.

use crate::contract::ExecSpec;
use crate::util::shell_quote;

/// The command line sent to the server. With `sudo_user`, sudo is told to read a password
/// from stdin (`-S`) and to print `marker` as its prompt (on stderr), so that the prompt can
/// be recognised, answered once and cut out of the output. `marker` must not contain `%`
/// (sudo expands `%` escapes in prompts) nor a `'`.
pub fn remote_command(spec: &ExecSpec, marker: &str) -> String {
    match &spec.sudo_user {
        Some(user) => format!(
            "sudo -S -p {} -u {} -- sh -c {}",
            shell_quote(marker),
            shell_quote(user),
            shell_quote(&spec.command)
        ),
        None => spec.command.clone(),
    }
}

/// A fresh prompt marker: unlikely to appear in any output, different for every command.
pub fn sudo_marker() -> String {
    use rand::Rng;
    let n: u64 = rand::thread_rng().gen();
    format!("[fleetdeck-sudo-{n:016x}]")
}

/// How a command run through sudo gets its password.
pub trait SudoPassword {
    /// The password to send when sudo prompts (asked at most once per engine and user; `None`
    /// when the operator has none to give).
    fn password(&mut self) -> Option<crate::contract::Secret>;
    /// Called when sudo prompted again: the password given was wrong on this host.
    fn rejected(&mut self);
}

/// Finds sudo's prompt marker in one output stream (it may arrive split across reads), cuts
/// it out, and holds back only bytes that could be the start of a marker.
pub(super) struct MarkerFilter<'m> {
    marker: &'m [u8],
    pending: Vec<u8>,
}

impl<'m> MarkerFilter<'m> {
    pub(super) fn new(marker: &'m [u8]) -> Self {
        MarkerFilter {
            marker,
            pending: Vec::new(),
        }
    }

    /// Feeds `data`; returns the bytes safe to pass on and how many markers were cut.
    pub(super) fn feed(&mut self, data: &[u8]) -> (Vec<u8>, usize) {
        self.pending.extend_from_slice(data);
        let mut out = Vec::with_capacity(self.pending.len());
        let mut found = 0;
        let m = self.marker;
        let mut i = 0;
        while let Some(pos) = find(&self.pending[i..], m) {
            out.extend_from_slice(&self.pending[i..i + pos]);
            i += pos + m.len();
            found += 1;
        }
        let rest = &self.pending[i..];
        // The longest suffix of `rest` that is a proper prefix of the marker is held back.
        let keep = (1..m.len().min(rest.len() + 1))
            .rev()
            .find(|&k| rest.ends_with(&m[..k]))
            .unwrap_or(0);
        out.extend_from_slice(&rest[..rest.len() - keep]);
        let tail = rest[rest.len() - keep..].to_vec();
        self.pending = tail;
        (out, found)
    }

    /// What is left at the end of the stream.
    pub(super) fn finish(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.pending)
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_filter_cuts_split_markers_and_keeps_the_rest() {
        let m = b"[M-1234]";
        let mut filter = MarkerFilter::new(m);
        let feed = |f: &mut MarkerFilter, data: &[u8]| f.feed(data);
        assert_eq!(feed(&mut filter, b"hello [M-1"), (b"hello ".to_vec(), 0));
        assert_eq!(feed(&mut filter, b"234]world ["), (b"world ".to_vec(), 1));
        assert_eq!(feed(&mut filter, b"x"), (b"[x".to_vec(), 0));
        assert_eq!(
            feed(&mut filter, b"[M-1234][M-1234]end[M"),
            (b"end".to_vec(), 2)
        );
        assert_eq!(filter.finish(), b"[M");
    }

    #[test]
    fn sudo_command_quotes_everything() {
        let spec = ExecSpec {
            command: "echo 'a b'".into(),
            sudo_user: Some("root".into()),
            ..ExecSpec::default()
        };
        let m = sudo_marker();
        assert!(!m.contains('%') && !m.contains('\''));
        let words = shlex::split(&remote_command(&spec, &m)).expect("one shell command");
        let want = [
            "sudo",
            "-S",
            "-p",
            &m,
            "-u",
            "root",
            "--",
            "sh",
            "-c",
            "echo 'a b'",
        ];
        assert_eq!(words, want);
        let plain = ExecSpec {
            command: "uptime".into(),
            ..ExecSpec::default()
        };
        assert_eq!(remote_command(&plain, &m), "uptime");
    }
}
