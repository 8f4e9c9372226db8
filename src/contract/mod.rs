//! The words every module shares: jobs and their outcomes, the questions the engine asks the
//! operator, transfer specs, exit statuses.
//!
//! A leaf: it imports nothing of the crate, so that `ssh`, `oplog`, `engine` and the faces can
//! all speak it without depending on each other (the architecture test in `tests/architecture.rs`
//! keeps it so). Types here carry no clap derives; faces turn [`Choice`] values into arguments.

mod job;
mod prompt;
mod transfer;

pub use job::{
    Amount, ErrorClass, ExecSpec, ExitStatus, JobId, LogLevel, Rolling, ShellSpec, Stream,
    EXIT_INTERRUPTED, EXIT_TERMINATED, EXIT_USAGE,
};
pub use prompt::{
    HostKeyAnswer, HostKeyPolicy, HostKeyQuestion, NoPrompter, Prompter, Secret, SecretKind,
};
pub use transfer::{DownloadSpec, Naming, Overwrite, SmallFiles, SyncOptions, UploadSpec};

/// A closed set of named values an operator picks from (on the command line, in a dialog, in
/// a config file): one word each, the same word in every face.
pub trait Choice: Copy + Sized + 'static {
    /// Every value, in the order they are offered.
    const ALL: &'static [Self];
    /// The word for this value.
    fn as_str(self) -> &'static str;
    /// One line of help for this value (empty when the word says it all).
    fn help(self) -> &'static str;
    /// The value named `word`, if any.
    fn from_word(word: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|v| v.as_str() == word)
    }
}
