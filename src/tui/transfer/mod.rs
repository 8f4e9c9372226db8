//! The transfer dialog (`F5`): send local files to, or fetch remote files from, the selected
//! hosts. A form (direction, local path with Tab completion and a list of matching entries,
//! remote path, options, the targets), then per-host progress bars with rate and ETA and a
//! total bar while the job runs. Results land in the panes and the live log like any job.
//!
//! State and key handling are pure (driven by `update`): completion and the local path check
//! are effects the runtime runs off the UI thread (`files.rs`), answered by actions folded in
//! here. The job and its progress are in `job.rs`, drawing in `draw/transfer.rs`.

pub mod files;
mod job;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use crate::contract::{DownloadSpec, Naming, Overwrite, SmallFiles, SyncOptions, UploadSpec};
use crate::engine::{JobId, JobKind, LogLevel};
use crate::face::progress::HostProgress;
use crate::inventory::HostId;

use super::action::{Action, Cmd, Effect};
use super::app::App;
use super::dialog::Dialog;

pub use job::{on_host_end, on_job_done, on_progress, on_submitted};

/// Most completion candidates listed under the local path.
pub const MAX_CANDIDATES: usize = 6;

/// Send (upload) or fetch (download).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Send,
    Fetch,
}

/// The form's fields, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Direction,
    Local,
    Remote,
    Recursive,
    KeepPerms,
    Verify,
    Overwrite,
    Sync,
    Resume,
    Naming,
}

const FIELDS: [Field; 10] = [
    Field::Direction,
    Field::Local,
    Field::Remote,
    Field::Recursive,
    Field::KeepPerms,
    Field::Verify,
    Field::Overwrite,
    Field::Naming,
    Field::Sync,
    Field::Resume,
];

/// The dialog's `Sync` choice: what `push --sync [--checksum] [--delete]` would do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SyncChoice {
    #[default]
    Off,
    /// `--sync`: size and mtime.
    Mtime,
    /// `--sync --delete`.
    MtimeDelete,
    /// `--sync --checksum`.
    Checksum,
    /// `--sync --checksum --delete`.
    ChecksumDelete,
}

impl SyncChoice {
    const ALL: [SyncChoice; 5] = [
        SyncChoice::Off,
        SyncChoice::Mtime,
        SyncChoice::MtimeDelete,
        SyncChoice::Checksum,
        SyncChoice::ChecksumDelete,
    ];

    /// The words the dialog shows (the CLI's flags).
    pub fn words(self) -> &'static str {
        match self {
            SyncChoice::Off => "off",
            SyncChoice::Mtime => "--sync (size, mtime)",
            SyncChoice::MtimeDelete => "--sync --delete",
            SyncChoice::Checksum => "--sync --checksum (sha256)",
            SyncChoice::ChecksumDelete => "--sync --checksum --delete",
        }
    }

    fn options(self) -> Option<SyncOptions> {
        let (checksum, delete) = match self {
            SyncChoice::Off => return None,
            SyncChoice::Mtime => (false, false),
            SyncChoice::MtimeDelete => (false, true),
            SyncChoice::Checksum => (true, false),
            SyncChoice::ChecksumDelete => (true, true),
        };
        Some(SyncOptions { checksum, delete })
    }
}

/// Where the dialog is: filling the form, or watching the job it started.
#[derive(Debug, Clone)]
pub enum Stage {
    Form,
    Running {
        /// `None` until the engine accepted the job.
        job: Option<JobId>,
        started: Instant,
        progress: Vec<HostProgress>,
        done: bool,
    },
}

/// The dialog's state.
#[derive(Debug, Clone)]
pub struct TransferDialog {
    pub direction: Direction,
    pub field: Field,
    pub local: String,
    pub remote: String,
    pub recursive: bool,
    pub keep_perms: bool,
    pub verify: bool,
    pub overwrite: Overwrite,
    pub sync: SyncChoice,
    pub resume: bool,
    pub naming: Naming,
    pub hosts: Vec<HostId>,
    pub host_names: Vec<Arc<str>>,
    /// Local entries matching the path typed so far (shown after Tab).
    pub candidates: Vec<String>,
    pub error: Option<String>,
    /// The path check Enter asked for; its answer starts the job only if it is still this.
    pub checking: Option<PathCheck>,
    pub stage: Stage,
}

/// What the local path check looks at; echoed back with the answer, so a stale answer (the
/// form changed meanwhile) can be told apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathCheck {
    pub local: String,
    pub direction: Direction,
    pub recursive: bool,
}

impl TransferDialog {
    pub fn new(hosts: Vec<HostId>, host_names: Vec<Arc<str>>) -> TransferDialog {
        TransferDialog {
            direction: Direction::Send,
            field: Field::Local,
            local: String::new(),
            remote: String::new(),
            recursive: false,
            keep_perms: false,
            verify: false,
            overwrite: Overwrite::Always,
            sync: SyncChoice::Off,
            resume: false,
            naming: Naming::Subdir,
            hosts,
            host_names,
            candidates: Vec::new(),
            error: None,
            checking: None,
            stage: Stage::Form,
        }
    }

    fn text_field(&mut self) -> Option<&mut String> {
        match self.field {
            Field::Local => Some(&mut self.local),
            Field::Remote => Some(&mut self.remote),
            _ => None,
        }
    }

    fn move_field(&mut self, forward: bool) {
        let i = FIELDS.iter().position(|f| *f == self.field).unwrap_or(0);
        let n = FIELDS.len();
        let next = if forward {
            (i + 1) % n
        } else {
            (i + n - 1) % n
        };
        self.field = FIELDS[next];
        self.candidates.clear();
    }

    /// Changes the value of an option field (Space, ←, →).
    fn change(&mut self, forward: bool) {
        match self.field {
            Field::Direction => {
                self.direction = match self.direction {
                    Direction::Send => Direction::Fetch,
                    Direction::Fetch => Direction::Send,
                };
            }
            Field::Recursive => self.recursive = !self.recursive,
            Field::KeepPerms => self.keep_perms = !self.keep_perms,
            Field::Verify => self.verify = !self.verify,
            Field::Overwrite => {
                let all = [Overwrite::Always, Overwrite::Never, Overwrite::IfDifferent];
                let i = all.iter().position(|o| *o == self.overwrite).unwrap_or(0);
                self.overwrite = all[if forward { (i + 1) % 3 } else { (i + 2) % 3 }];
            }
            Field::Sync => {
                let all = SyncChoice::ALL;
                let i = all.iter().position(|o| *o == self.sync).unwrap_or(0);
                let n = all.len();
                self.sync = all[if forward {
                    (i + 1) % n
                } else {
                    (i + n - 1) % n
                }];
            }
            Field::Resume => self.resume = !self.resume,
            Field::Naming => {
                self.naming = match self.naming {
                    Naming::Subdir => Naming::Suffix,
                    Naming::Suffix => Naming::Subdir,
                };
            }
            Field::Local | Field::Remote => {}
        }
    }

    /// What is wrong with the form before the file system is asked, if anything.
    fn form_error(&self) -> Option<String> {
        if self.hosts.is_empty() {
            return Some("no host selected: close, select hosts (Space, s), then F5".into());
        }
        if self.local.trim().is_empty() {
            return Some("the local path is empty".into());
        }
        if self.remote.trim().is_empty() {
            return Some("the remote path is empty".into());
        }
        None
    }

    /// The local path check for the form as it is now.
    pub fn path_check(&self) -> PathCheck {
        PathCheck {
            local: self.local.clone(),
            direction: self.direction,
            recursive: self.recursive,
        }
    }

    /// The job of the form, with `local` as the checked (tilde-expanded) local path.
    pub fn job_kind(&self, local: PathBuf) -> JobKind {
        let remote = self.remote.trim().to_string();
        match self.direction {
            Direction::Send => JobKind::Upload(UploadSpec {
                sources: vec![local],
                remote,
                recursive: self.recursive,
                keep_perms: self.keep_perms,
                overwrite: if self.sync == SyncChoice::Off {
                    self.overwrite
                } else {
                    Overwrite::Always
                },
                verify: self.verify,
                sync: self.sync.options(),
                resume: self.resume,
                small_files: SmallFiles::Auto,
            }),
            Direction::Fetch => JobKind::Download(DownloadSpec {
                remote,
                dest: local,
                recursive: self.recursive,
                keep_perms: self.keep_perms,
                naming: self.naming,
                verify: self.verify,
            }),
        }
    }

    /// A one-line description for the job header and the log.
    pub fn describe(&self) -> String {
        match self.direction {
            Direction::Send => format!("send {} → {}", self.local.trim(), self.remote.trim()),
            Direction::Fetch => format!("fetch {} → {}", self.remote.trim(), self.local.trim()),
        }
    }
}

/// Opens the dialog for the hosts selected in the tree (`F5`).
pub fn open(app: &mut App) {
    let hosts = app.tree.selected_hosts();
    let names = hosts.iter().map(|&h| app.hosts[h].name.clone()).collect();
    app.open_dialog(Dialog::Transfer(Box::new(TransferDialog::new(
        hosts, names,
    ))));
    app.set_status(
        LogLevel::Info,
        "transfer: fill in the form, Enter starts, Esc closes",
    );
}

/// Handles a command while the dialog is open.
pub fn handle(app: &mut App, cmd: Cmd) -> Vec<Effect> {
    let Some(Dialog::Transfer(d)) = &mut app.dialog else {
        return Vec::new();
    };
    if let Stage::Running { .. } = d.stage {
        // The job goes on; results stay in the panes and the log. Ctrl-C cancels it.
        if matches!(cmd, Cmd::Escape | Cmd::Submit | Cmd::Answer('q')) {
            app.close_dialog();
        }
        return Vec::new();
    }
    d.error = None;
    if cmd != Cmd::Submit {
        // Whatever the key, the form is not the one Enter was pressed on any more.
        d.checking = None;
    }
    match cmd {
        Cmd::Escape => app.close_dialog(),
        Cmd::Up | Cmd::FocusPrev => d.move_field(false),
        Cmd::FocusNext if d.field == Field::Local => {
            return vec![Effect::CompleteLocal {
                input: d.local.clone(),
            }];
        }
        Cmd::Down | Cmd::FocusNext => d.move_field(true),
        Cmd::Left => d.change(false),
        Cmd::Right => d.change(true),
        Cmd::Insert(c) => {
            if let Some(text) = d.text_field() {
                text.push(c);
                d.candidates.clear();
            } else if c == ' ' {
                d.change(true);
            }
        }
        Cmd::Backspace => {
            if let Some(text) = d.text_field() {
                text.pop();
            }
        }
        Cmd::ClearLine => {
            if let Some(text) = d.text_field() {
                text.clear();
            }
        }
        Cmd::Submit => {
            if let Some(e) = d.form_error() {
                d.error = Some(e);
            } else {
                let check = d.path_check();
                d.checking = Some(check.clone());
                return vec![Effect::CheckLocalPath(check)];
            }
        }
        _ => {}
    }
    Vec::new()
}

/// Folds in what the file system answered; an answer for a form that changed meanwhile is
/// dropped.
pub fn on_answer(app: &mut App, action: Action) -> Vec<Effect> {
    let Some(Dialog::Transfer(d)) = &mut app.dialog else {
        return Vec::new();
    };
    if !matches!(d.stage, Stage::Form) {
        return Vec::new();
    }
    match action {
        Action::Completions {
            input,
            completed,
            candidates,
        } if d.field == Field::Local && d.local == input => {
            let changed = completed != d.local;
            d.local = completed;
            d.candidates = candidates;
            if !changed && d.candidates.len() <= 1 {
                d.move_field(true);
            }
        }
        Action::LocalPathChecked { check, result }
            if d.checking.as_ref() == Some(&check) && d.path_check() == check =>
        {
            d.checking = None;
            match result {
                Ok(local) => {
                    let kind = d.job_kind(local);
                    return job::start(app, kind);
                }
                Err(e) => d.error = Some(e),
            }
        }
        _ => {}
    }
    Vec::new()
}
