//! Questions the engine cannot decide (unknown host keys, secrets) and the policy that
//! decides whether to ask. Faces answer them: a tty prompt on the command line, a dialog in
//! the console.

use std::path::PathBuf;
use std::sync::Arc;

use super::Choice;

/// How unknown host keys are treated. A changed key is refused under every policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HostKeyPolicy {
    /// Refuse unknown keys.
    #[default]
    Strict,
    /// Accept and record unknown keys.
    AcceptNew,
    /// Ask the operator (a dialog in the console, a prompt on a terminal).
    Ask,
}

/// A question about an unknown host key.
#[derive(Debug, Clone)]
pub struct HostKeyQuestion {
    pub host: Arc<str>,
    pub address: String,
    pub port: u16,
    /// Key type as OpenSSH names it, e.g. `ED25519`.
    pub key_type: String,
    /// As OpenSSH prints it: `SHA256:base64-without-padding`.
    pub fingerprint: String,
}

/// The operator's answer about an unknown host key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostKeyAnswer {
    AcceptOnce,
    AcceptAndSave,
    Reject,
}

/// What kind of secret is asked for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SecretKind {
    /// Login password for `user@host` (asked once per user).
    Password { user: String },
    /// Passphrase of an identity file.
    Passphrase { key_file: PathBuf },
    /// sudo password of login user `user`: asked when sudo first prompts, at most once per
    /// job for that user, kept in memory for that job only unless the answer is
    /// [`Secret::for_session`]. A host whose key was first trusted in this session is asked
    /// about by name, never handed a password given for others.
    Sudo { user: String },
}

/// Asks the operator things the engine cannot decide. Called from worker threads; blocks until
/// answered. Faces implement it (a tty prompt on the command line, a dialog in the console).
pub trait Prompter: Send + Sync {
    fn host_key(&self, question: &HostKeyQuestion) -> HostKeyAnswer;
    /// Returns `None` when the operator declines or no terminal can ask.
    fn secret(&self, kind: &SecretKind, prompt: &str) -> Option<Secret>;
}

/// A secret kept only in memory; its `Debug` never shows the value. The operator may ask for
/// it to be kept for the rest of the session ([`Secret::for_session`]); otherwise a sudo
/// password lasts one job.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret {
    value: String,
    keep_for_session: bool,
}

impl Secret {
    /// A secret for the job that asked for it.
    pub fn new(value: String) -> Self {
        Secret {
            value,
            keep_for_session: false,
        }
    }
    /// A secret the operator chose to keep for the rest of the session (later jobs too).
    pub fn for_session(value: String) -> Self {
        Secret {
            value,
            keep_for_session: true,
        }
    }
    pub fn expose(&self) -> &str {
        &self.value
    }
    /// True when the operator chose to keep it for the session.
    pub fn keep_for_session(&self) -> bool {
        self.keep_for_session
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// A prompter that never asks: rejects unknown keys and has no secrets (for scripts and tests).
#[derive(Debug, Default)]
pub struct NoPrompter;

impl Prompter for NoPrompter {
    fn host_key(&self, _question: &HostKeyQuestion) -> HostKeyAnswer {
        HostKeyAnswer::Reject
    }
    fn secret(&self, _kind: &SecretKind, _prompt: &str) -> Option<Secret> {
        None
    }
}

impl Choice for HostKeyPolicy {
    const ALL: &'static [Self] = &[
        HostKeyPolicy::Strict,
        HostKeyPolicy::AcceptNew,
        HostKeyPolicy::Ask,
    ];
    fn as_str(self) -> &'static str {
        match self {
            HostKeyPolicy::Strict => "strict",
            HostKeyPolicy::AcceptNew => "accept-new",
            HostKeyPolicy::Ask => "ask",
        }
    }
    fn help(self) -> &'static str {
        match self {
            HostKeyPolicy::Strict => "Refuse unknown keys",
            HostKeyPolicy::AcceptNew => "Accept and record unknown keys",
            HostKeyPolicy::Ask => {
                "Ask the operator (a dialog in the console, a prompt on a terminal)"
            }
        }
    }
}
