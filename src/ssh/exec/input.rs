//! The command's stdin (`run --stdin`, `--script`): the given bytes, written as the channel's
//! window allows, then EOF.

use ssh2::{Channel, Session};

use crate::contract::{ErrorClass, ExecSpec};
use crate::ssh::{SshError, Waiter};

/// The bytes the command reads on stdin, written as the channel's window allows, then EOF.
pub(super) struct Input {
    data: Option<std::sync::Arc<[u8]>>,
    sent: usize,
    /// EOF is still to be sent.
    eof: bool,
}

impl Input {
    /// What `spec`'s command reads. Without sudo and stdin, `start_command` ended stdin
    /// already; with a pty it stays open.
    pub(super) fn for_spec(spec: &ExecSpec) -> Input {
        Input {
            data: spec.stdin.clone(),
            sent: 0,
            eof: !spec.pty && (spec.stdin.is_some() || spec.sudo_user.is_some()),
        }
    }

    /// Writes what the window takes; true when something was written.
    pub(super) fn feed(
        &mut self,
        sess: &Session,
        w: &Waiter<'_>,
        ch: &mut Channel,
    ) -> Result<bool, SshError> {
        let mut progressed = false;
        if let Some(data) = &self.data {
            while self.sent < data.len() {
                match std::io::Write::write(ch, &data[self.sent..]) {
                    Ok(0) => break,
                    Ok(n) => {
                        self.sent += n;
                        progressed = true;
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(_) => {
                        // The command ended or closed its stdin: the rest is not wanted, as
                        // with a pipe; its exit status tells how it went.
                        self.data = None;
                        self.eof = false;
                        return Ok(progressed);
                    }
                }
            }
            if self.sent < data.len() {
                return Ok(progressed);
            }
        }
        if self.eof {
            self.eof = false;
            progressed = true;
            if let Err(e) = w.retry(sess, "ending stdin", || ch.send_eof()) {
                if matches!(e.class, ErrorClass::Cancelled | ErrorClass::Timeout) {
                    return Err(e);
                }
            }
        }
        Ok(progressed)
    }
}
