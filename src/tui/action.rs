//! What can happen to the console (`Action`), what the operator means by a key (`Cmd`), and
//! what the runtime must do about it (`Effect`). `update` turns actions into state changes and
//! effects without touching the terminal, the engine or the file system, so it can be tested
//! directly; what the file system answers comes back as an action.

use std::path::PathBuf;

use crossterm::event::{KeyEvent, MouseEvent};

use super::transfer::PathCheck;
use crate::engine::{
    Event, HostKeyAnswer, HostKeyQuestion, JobId, JobSpec, LogLevel, Secret, SecretKind,
};

/// Identifies one question the engine asked through the prompter.
pub type PromptId = u64;

/// Everything `update` reacts to.
#[derive(Debug, Clone)]
pub enum Action {
    Key(KeyEvent),
    Mouse(MouseEvent),
    Paste(String),
    /// The terminal size, in cells.
    Resize(u16, u16),
    /// An engine event.
    Engine(Event),
    /// The engine accepted a job and gave it this id.
    JobSubmitted(JobId),
    /// The job could not be submitted.
    SubmitFailed(String),
    /// The engine asks about an unknown host key.
    AskHostKey(PromptId, HostKeyQuestion),
    /// The engine asks for a password or passphrase.
    AskSecret(PromptId, SecretKind, String),
    /// The local entries completing `input` (answers [`Effect::CompleteLocal`]); ignored when
    /// the field no longer holds `input`.
    Completions {
        input: String,
        completed: String,
        candidates: Vec<String>,
    },
    /// The transfer form's local path as the file system sees it (answers
    /// [`Effect::CheckLocalPath`]): the path to use, tilde expanded, or what is wrong with it.
    /// Ignored when the form changed meanwhile.
    LocalPathChecked {
        check: PathCheck,
        result: Result<PathBuf, String>,
    },
    /// The past jobs (answers [`Effect::LoadJobs`]).
    JobsLoaded(Result<Vec<super::history::PastJob>, String>),
    /// A host's output read back (answers [`Effect::LoadOutput`]); ignored when the history
    /// dialog no longer shows that job.
    OutputLoaded {
        run_dir: std::path::PathBuf,
        output: Result<super::history::PastOutput, String>,
    },
    /// The saved history, read off the UI thread at start (older than anything typed since).
    HistoryLoaded(Vec<String>),
    /// A line for the live log from outside `update` (a panic on another thread, a history
    /// file that cannot be written).
    Log(LogLevel, String),
    /// Time passes (clock for durations; recomputes the gathered view when needed).
    Tick,
    /// SIGTERM or SIGHUP: leave now, cancelling any job.
    Terminate,
    /// A semantic command (what keys translate to; tests can send these directly).
    Cmd(Cmd),
}

/// What the operator means, independent of which key said it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmd {
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    Left,
    Right,
    /// Space in the tree.
    Toggle,
    /// Enter outside the command line.
    Activate,
    FocusNext,
    FocusPrev,
    FocusCmdline,
    Help,
    Quit,
    /// Ctrl-C.
    CancelJob,
    /// `/`.
    /// `/` in the output area: type a search through every pane's kept output.
    StartSearch,
    /// `n` / `N`: the next / previous search hit.
    SearchNext,
    SearchPrev,
    /// `m`: only the panes of hosts whose output matches the search / all again.
    MatchingOnly,
    StartFilter,
    /// `s`: select hosts by pattern.
    SelectPattern,
    /// `f`: select the hosts that failed in the last job.
    SelectFailed,
    /// `a`: select all hosts, or none if all are selected.
    SelectAll,
    /// `v`: panes ↔ gathered.
    CycleView,
    /// `d`: the diff view / panes.
    DiffView,
    /// `z`: zoom the chosen host / back to the grid.
    Zoom,
    /// `F`: show only failed hosts' panes.
    FailedOnly,
    /// `t`: next theme.
    CycleTheme,
    /// `l` in the log: next minimum level.
    LogLevel,
    /// `H` in the log: only the chosen host / every host.
    LogHost,
    /// `F5`: the transfer dialog (reserved; see `dialog.rs`).
    Transfer,
    /// `S` (Ctrl-S on the command line): run commands through sudo / plainly.
    ToggleSudo,
    /// `i`: the connection settings of the host under the cursor, and where each came from.
    HostDetails,
    /// `J`: the job history (past jobs from the operation log).
    JobHistory,
    /// `B`: broadcast shells on the selected hosts, or back to broadcast input.
    Broadcast,
    /// `x` on a shell pane: exclude it from broadcast input / include it again.
    ToggleInclude,
    /// Text editing (command line, filter, dialogs).
    Insert(char),
    Backspace,
    Delete,
    DeleteWord,
    ClearLine,
    Home,
    End,
    HistoryPrev,
    HistoryNext,
    HistorySearch,
    /// Enter in a text field.
    Submit,
    /// Esc.
    Escape,
    /// Answers in dialogs (`y`/`n`/`a`…).
    Answer(char),
}

/// What the runtime must do after an update.
#[derive(Debug, Clone)]
pub enum Effect {
    Submit(JobSpec),
    Cancel(JobId),
    AnswerHostKey(PromptId, HostKeyAnswer),
    AnswerSecret(PromptId, Option<Secret>),
    /// List the local entries completing `input` (answered by [`Action::Completions`]).
    CompleteLocal {
        input: String,
    },
    /// Check the transfer form's local path (answered by [`Action::LocalPathChecked`]).
    CheckLocalPath(PathCheck),
    /// Append a command to the history file.
    SaveHistory(String),
    /// Read the past jobs of the operation log (answered by [`Action::JobsLoaded`]).
    LoadJobs {
        oplog: std::path::PathBuf,
    },
    /// Read back a host's output from a run folder (answered by [`Action::OutputLoaded`]).
    LoadOutput {
        run_dir: std::path::PathBuf,
        host: String,
    },
    /// Bytes for a broadcast shell's PTY (`Engine::shell_input`).
    ShellInput {
        job: JobId,
        host: std::sync::Arc<str>,
        data: Vec<u8>,
    },
    /// A shell pane's new size (`Engine::shell_resize`: the PTY's window change).
    ShellResize {
        job: JobId,
        host: std::sync::Arc<str>,
        cols: u16,
        rows: u16,
    },
    Quit,
}

impl Effect {
    /// True for work on the file system, which the runtime runs off the UI thread (a slow
    /// network directory must not freeze the screen).
    pub fn is_file_work(&self) -> bool {
        matches!(
            self,
            Effect::CompleteLocal { .. }
                | Effect::CheckLocalPath(_)
                | Effect::SaveHistory(_)
                | Effect::LoadJobs { .. }
                | Effect::LoadOutput { .. }
        )
    }
}
