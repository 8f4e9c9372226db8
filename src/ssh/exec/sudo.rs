//! Running a command through sudo: the command line that makes sudo read its password from
//! stdin and print a marker as its prompt, and the filter that recognises that marker only
//! where sudo writes it: on sudo's stream (stderr, or the terminal with a pty), before the
//! command starts. The command line makes the command's wrapper print a second nonce on that
//! stream right after sudo authenticated; from then on nothing is a prompt, so a marker that
//! `ps aux` shows or a command echoes is output like any other.

use crate::contract::ExecSpec;
use crate::util::shell_quote;

/// The command line sent to the server. With `sudo_user`, sudo is told to read a password
/// from stdin (`-S`) and to print `markers.prompt` as its prompt (on stderr), and the shell it
/// starts prints `markers.ran` on stderr before it runs the command, so that prompts are
/// recognised only before that. Neither marker may contain `%` (sudo expands `%` escapes in
/// prompts) nor a `'`.
pub fn remote_command(spec: &ExecSpec, markers: &SudoMarkers) -> String {
    match &spec.sudo_user {
        Some(user) => {
            let wrapper = format!(
                "printf '%s' {} >&2; exec sh -c \"$1\"",
                shell_quote(&markers.ran)
            );
            format!(
                "sudo -S -p {} -u {} -- sh -c {} sh {}",
                shell_quote(&markers.prompt),
                shell_quote(user),
                shell_quote(&wrapper),
                shell_quote(&spec.command)
            )
        }
        None => spec.command.clone(),
    }
}

/// The two nonces of one command run through sudo: sudo's prompt, and the line the command's
/// wrapper prints once sudo let it run.
#[derive(Debug, Clone)]
pub struct SudoMarkers {
    pub prompt: String,
    pub ran: String,
}

impl SudoMarkers {
    /// Fresh markers: unlikely to appear in any output, different for every command.
    pub fn fresh() -> SudoMarkers {
        use rand::Rng;
        let mut rng = rand::thread_rng();
        let (p, r): (u64, u64) = (rng.gen(), rng.gen());
        SudoMarkers {
            prompt: format!("[fleetdeck-sudo-{p:016x}]"),
            ran: format!("[fleetdeck-ran-{r:016x}]"),
        }
    }
}

/// How a command run through sudo gets its password.
pub trait SudoPassword {
    /// The password to send when sudo prompts (`None` when the operator has none to give).
    fn password(&mut self) -> Option<crate::contract::Secret>;
    /// Called when sudo prompted again: the password given was wrong on this host.
    fn rejected(&mut self);
}

/// What one feed of sudo's stream held.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Fed {
    /// The bytes safe to pass on (markers cut out).
    pub(super) pass: Vec<u8>,
    /// How many prompts sudo printed in this feed.
    pub(super) prompts: usize,
}

/// Reads sudo's stream (it may arrive split across reads): before the `ran` marker, cuts out
/// and counts prompt markers and holds back only bytes that could start a marker; from the
/// `ran` marker on (the command runs), passes everything through unchanged.
pub(super) struct PromptFilter<'m> {
    prompt: &'m [u8],
    ran: &'m [u8],
    pending: Vec<u8>,
    running: bool,
}

impl<'m> PromptFilter<'m> {
    pub(super) fn new(markers: &'m SudoMarkers) -> Self {
        PromptFilter {
            prompt: markers.prompt.as_bytes(),
            ran: markers.ran.as_bytes(),
            pending: Vec::new(),
            running: false,
        }
    }

    /// True once sudo let the command run: no prompt can come any more.
    pub(super) fn running(&self) -> bool {
        self.running
    }

    /// Feeds `data` from sudo's stream.
    pub(super) fn feed(&mut self, data: &[u8]) -> Fed {
        if self.running {
            return Fed {
                pass: data.to_vec(),
                prompts: 0,
            };
        }
        self.pending.extend_from_slice(data);
        let mut fed = Fed {
            pass: Vec::with_capacity(self.pending.len()),
            prompts: 0,
        };
        let mut i = 0;
        loop {
            let hay = &self.pending[i..];
            let at_prompt = find(hay, self.prompt);
            let at_ran = find(hay, self.ran);
            let prompt_first = match (at_prompt, at_ran) {
                (Some(p), Some(r)) => p < r,
                (Some(_), None) => true,
                (None, _) => false,
            };
            if let (true, Some(p)) = (prompt_first, at_prompt) {
                fed.pass.extend_from_slice(&hay[..p]);
                i += p + self.prompt.len();
                fed.prompts += 1;
                continue;
            }
            if let Some(r) = at_ran {
                fed.pass.extend_from_slice(&hay[..r]);
                fed.pass.extend_from_slice(&hay[r + self.ran.len()..]);
                self.pending.clear();
                self.running = true;
                return fed;
            }
            break;
        }
        let rest = &self.pending[i..];
        let keep = held_back(rest, self.prompt).max(held_back(rest, self.ran));
        fed.pass.extend_from_slice(&rest[..rest.len() - keep]);
        self.pending = rest[rest.len() - keep..].to_vec();
        fed
    }

    /// What is left at the end of the stream.
    pub(super) fn finish(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.pending)
    }
}

/// The length of the longest suffix of `rest` that is a proper prefix of `marker`.
fn held_back(rest: &[u8], marker: &[u8]) -> usize {
    (1..marker.len().min(rest.len() + 1))
        .rev()
        .find(|&k| rest.ends_with(&marker[..k]))
        .unwrap_or(0)
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

    fn markers() -> SudoMarkers {
        SudoMarkers {
            prompt: "[M-1234]".into(),
            ran: "[R-99]".into(),
        }
    }

    fn fed(pass: &[u8], prompts: usize) -> Fed {
        Fed {
            pass: pass.to_vec(),
            prompts,
        }
    }

    #[test]
    fn prompts_split_across_reads_are_cut_until_the_command_runs() {
        let m = markers();
        let mut f = PromptFilter::new(&m);
        assert_eq!(f.feed(b"hello [M-1"), fed(b"hello ", 0));
        assert_eq!(f.feed(b"234]Sorry ["), fed(b"Sorry ", 1));
        assert_eq!(f.feed(b"x"), fed(b"[x", 0));
        assert_eq!(f.feed(b"[M-1234][M-1234]end[M"), fed(b"end", 2));
        assert!(!f.running());
        assert_eq!(f.finish(), b"[M");
    }

    #[test]
    fn after_the_ran_marker_nothing_is_a_prompt() {
        let m = markers();
        let mut f = PromptFilter::new(&m);
        // The ran marker split across reads, then output that shows the prompt marker (as
        // `ps aux` does) and the ran marker again: passed through, never counted.
        assert_eq!(f.feed(b"[M-1234][R-"), fed(b"", 1));
        assert_eq!(f.feed(b"99]out [M-1234]"), fed(b"out [M-1234]", 0));
        assert!(f.running());
        assert_eq!(f.feed(b"[R-99][M-1"), fed(b"[R-99][M-1", 0));
        assert_eq!(f.finish(), b"");
        // The ran marker before a prompt marker in one read: the prompt marker is output.
        let mut f = PromptFilter::new(&m);
        assert_eq!(f.feed(b"a[R-99]b[M-1234]"), fed(b"ab[M-1234]", 0));
    }

    #[test]
    fn sudo_command_quotes_everything() {
        let spec = ExecSpec {
            command: "echo 'a b'".into(),
            sudo_user: Some("root".into()),
            ..ExecSpec::default()
        };
        let m = SudoMarkers::fresh();
        for s in [&m.prompt, &m.ran] {
            assert!(!s.contains('%') && !s.contains('\''), "{s}");
        }
        assert_ne!(m.prompt, m.ran);
        let words = shlex::split(&remote_command(&spec, &m)).expect("one shell command");
        let wrapper = format!("printf '%s' '{}' >&2; exec sh -c \"$1\"", m.ran);
        let want = [
            "sudo",
            "-S",
            "-p",
            &m.prompt,
            "-u",
            "root",
            "--",
            "sh",
            "-c",
            &wrapper,
            "sh",
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
