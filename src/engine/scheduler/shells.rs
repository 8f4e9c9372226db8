//! The operator's side of shell jobs: typed input and window sizes handed to each host's
//! inbox (the worker owning the host's session writes them to its channel).

use super::Engine;
use crate::engine::shell_input::Pushed;
use crate::engine::{JobId, LogLevel};
use crate::util::lock;

impl Engine {
    /// Sends `data` (typed keys, a paste) to the pty of `host` in shell job `job`, in order.
    /// Input for a shell not open yet is queued (at most
    /// [`SHELL_INPUT_QUEUE_BYTES`](crate::engine::SHELL_INPUT_QUEUE_BYTES) per host); input
    /// past that, or for a shell that ended, is dropped and said once in the live log. The
    /// bytes themselves are never logged or recorded.
    pub fn shell_input(&self, job: JobId, host: &str, data: &[u8]) {
        let shared = self.shared();
        let Some(j) = lock(&shared.jobs).get(&job).cloned() else {
            return;
        };
        let Some(inbox) = j.shells.as_ref().and_then(|s| s.get(host)) else {
            return;
        };
        match inbox.push(data) {
            Pushed::Queued => {}
            Pushed::Dropped { bytes, first } => {
                if first {
                    shared.log(
                        LogLevel::Warn,
                        format!("{host}: shell input dropped ({bytes} bytes): the host is not taking input"),
                    );
                }
            }
            Pushed::Closed { first } => {
                if first {
                    shared.log(
                        LogLevel::Info,
                        format!("{host}: the shell has ended; input to it is dropped"),
                    );
                }
            }
        }
    }

    /// Sends a window-change of `cols` × `rows` to the pty of `host` in shell job `job` (the
    /// latest size wins when several arrive before the worker sends one).
    pub fn shell_resize(&self, job: JobId, host: &str, cols: u16, rows: u16) {
        let shared = self.shared();
        let Some(j) = lock(&shared.jobs).get(&job).cloned() else {
            return;
        };
        if let Some(inbox) = j.shells.as_ref().and_then(|s| s.get(host)) {
            inbox.resize(cols, rows);
        }
    }
}
