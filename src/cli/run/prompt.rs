//! The command line's [`Prompter`]: asks on `/dev/tty` when there is one, so that piping
//! stdout still lets the operator answer; without a terminal it never accepts an unknown key
//! and has no secrets.

use std::io::{BufRead, BufReader, Write};
use std::sync::{Arc, Mutex};

use crate::engine::{HostKeyAnswer, HostKeyQuestion, NoPrompter, Prompter, Secret, SecretKind};
use crate::output::to_plain;

/// Asks host-key questions and secrets on the controlling terminal, one question at a time.
#[derive(Debug, Default)]
pub struct TtyPrompter {
    /// Serialises questions from concurrent worker threads.
    lock: Mutex<()>,
}

/// A prompter fit for this process: [`TtyPrompter`] if `/dev/tty` opens, else [`NoPrompter`].
pub fn for_cli() -> Arc<dyn Prompter> {
    if std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .is_ok()
    {
        Arc::new(TtyPrompter::default())
    } else {
        Arc::new(NoPrompter)
    }
}

impl Prompter for TtyPrompter {
    fn host_key(&self, q: &HostKeyQuestion) -> HostKeyAnswer {
        let _guard = self
            .lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Ok(mut tty) = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/tty")
        else {
            return HostKeyAnswer::Reject;
        };
        let text = format!(
            "The authenticity of host '{} ({}:{})' can't be established.\n\
             {} key fingerprint is {}.\n\
             Accept it? [o]nce / [s]ave to known_hosts / [N]o: ",
            to_plain(q.host.as_bytes()),
            to_plain(q.address.as_bytes()),
            q.port,
            to_plain(q.key_type.as_bytes()),
            to_plain(q.fingerprint.as_bytes()),
        );
        if tty
            .write_all(text.as_bytes())
            .and_then(|()| tty.flush())
            .is_err()
        {
            return HostKeyAnswer::Reject;
        }
        let mut answer = String::new();
        if BufReader::new(&tty).read_line(&mut answer).is_err() {
            return HostKeyAnswer::Reject;
        }
        parse_answer(&answer)
    }

    fn secret(&self, _kind: &SecretKind, prompt: &str) -> Option<Secret> {
        let _guard = self
            .lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let prompt = format!(
            "{}: ",
            to_plain(prompt.as_bytes()).trim_end().trim_end_matches(':')
        );
        rpassword::prompt_password(prompt)
            .ok()
            .filter(|s| !s.is_empty())
            .map(Secret::new)
    }
}

/// `o`/`once`/`y`/`yes` accept once, `s`/`save`/`always` accept and save, anything else rejects.
fn parse_answer(answer: &str) -> HostKeyAnswer {
    match answer.trim().to_ascii_lowercase().as_str() {
        "o" | "once" | "y" | "yes" => HostKeyAnswer::AcceptOnce,
        "s" | "save" | "a" | "always" => HostKeyAnswer::AcceptAndSave,
        _ => HostKeyAnswer::Reject,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers() {
        assert_eq!(parse_answer("y\n"), HostKeyAnswer::AcceptOnce);
        assert_eq!(parse_answer(" Save \n"), HostKeyAnswer::AcceptAndSave);
        assert_eq!(parse_answer("\n"), HostKeyAnswer::Reject);
        assert_eq!(parse_answer("yes please"), HostKeyAnswer::Reject);
    }
}
