//! Work on the file system, off the UI thread: the history file's own thread, and the
//! answers to file effects (completion, the transfer form's path check).

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;

use super::super::action::{Action, Effect};
use super::super::transfer::files;
use crate::engine::LogLevel;

/// How long leaving waits for the history thread to write the last commands.
pub const HISTORY_FLUSH_TIMEOUT: Duration = Duration::from_secs(2);

/// The history file's own thread: it reads the saved history first (answered as
/// `HistoryLoaded`), then appends lines in the order they were run. A slow state directory
/// (NFS home) then delays only the history, never a key.
pub(super) struct History {
    lines: mpsc::Sender<String>,
    /// Closed when the thread has written everything it was sent.
    done: mpsc::Receiver<()>,
}

impl History {
    pub(super) fn start(path: PathBuf, answers: UnboundedSender<Action>) -> History {
        let (lines, rx) = mpsc::channel::<String>();
        let (done_tx, done) = mpsc::channel::<()>();
        let log = answers.clone();
        let spawned = std::thread::Builder::new()
            .name("fleetdeck-history".into())
            .spawn(move || {
                let _done = done_tx;
                let _ = answers.send(Action::HistoryLoaded(super::super::cmdline::load_history(
                    &path,
                )));
                for line in rx {
                    if let Some(answer) = file_work(Effect::SaveHistory(line), &path) {
                        let _ = answers.send(answer);
                    }
                }
            });
        if let Err(e) = spawned {
            // The console works without history.
            let _ = log.send(Action::Log(
                LogLevel::Warn,
                format!("no command history: cannot start its thread: {e}"),
            ));
        }
        History { lines, done }
    }

    pub(super) fn send(&self, line: String) -> bool {
        self.lines.send(line).is_ok()
    }

    /// Lets the thread finish the lines it has (bounded: a hung disk must not hang leaving).
    pub(super) fn flush(self) {
        drop(self.lines);
        let _ = self.done.recv_timeout(HISTORY_FLUSH_TIMEOUT);
    }
}

/// Does one piece of file work (see [`Effect::is_file_work`]) where it is called — the
/// runtime calls it off the UI thread — and returns the action answering it, if any.
/// Other effects are not file work: `None`.
pub fn file_work(effect: Effect, history: &Path) -> Option<Action> {
    match effect {
        Effect::CompleteLocal { input } => {
            let (completed, candidates) = files::complete_local(&input);
            Some(Action::Completions {
                input,
                completed,
                candidates,
            })
        }
        Effect::CheckLocalPath(check) => {
            let result = files::check_local(&check);
            Some(Action::LocalPathChecked { check, result })
        }
        Effect::SaveHistory(line) => super::super::cmdline::append_history(history, &line)
            .err()
            .map(|e| {
                Action::Log(
                    LogLevel::Warn,
                    format!("cannot save history to {}: {e}", history.display()),
                )
            }),
        Effect::LoadJobs { oplog } => {
            Some(Action::JobsLoaded(crate::tui::history::load_jobs(&oplog)))
        }
        Effect::LoadOutput { run_dir, host } => {
            let stem = crate::engine::runfolder::host_file_stem(&host);
            let output = crate::tui::history::load_output(&run_dir, &host, &stem);
            Some(Action::OutputLoaded { run_dir, output })
        }
        _ => None,
    }
}
