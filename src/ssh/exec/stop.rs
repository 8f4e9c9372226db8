//! Stopping a command that was cancelled or timed out: closing its channel (a pty hangs up;
//! without one a writing command dies of SIGPIPE), and for a quiet one without a pty, ending
//! its process group from a second channel.

use std::time::Duration;

use ssh2::{Channel, Session};

use super::{close_channel, drain, open_channel, CLOSE_TIMEOUT};
use crate::contract::Stream;
use crate::ssh::{SshError, Waiter};

/// Run on a second channel of the same connection to stop what the first one runs: sshd
/// starts every channel's command in a session of its own (setsid), all children of the
/// connection's sshd process. This finds that process (the parent of our own session
/// leader) and sends SIGTERM to the process group of every other child. The worker runs one
/// command at a time per connection, so that is exactly the cancelled command (plus any
/// left over from earlier cancels).
pub const KILL_SCRIPT: &str = "s=$(ps -o sid= -p $$); p=$(ps -o ppid= -p $s); \
     for c in $(pgrep -P $p); do [ $c -eq $s ] || kill -TERM -$c 2>/dev/null || kill -TERM $c; done; true";

/// How long stopping a command from a second channel may take.
const KILL_TIMEOUT: Duration = Duration::from_secs(3);

/// Runs [`KILL_SCRIPT`] on a new channel; true when it ran and exited 0.
pub fn kill_other_sessions(sess: &Session, fd: std::os::unix::io::RawFd) -> bool {
    let w = Waiter::new(fd, None);
    w.set_deadline(Some(KILL_TIMEOUT), "kill timeout");
    let Ok(mut ch) = open_channel(sess, &w) else {
        return false;
    };
    if w.retry(sess, "stopping the command", || ch.exec(KILL_SCRIPT))
        .is_err()
    {
        return false;
    }
    let mut sink = |_: Stream, _: &[u8]| {};
    let mut buf = vec![0u8; 4096];
    let (mut out_eof, mut err_eof) = (false, false);
    let mut stderr = ch.stderr();
    while !(out_eof && err_eof) {
        let mut progressed = false;
        let r = (|| -> Result<(), SshError> {
            if !out_eof {
                out_eof = drain(
                    &mut ch,
                    &mut buf,
                    Stream::Stdout,
                    &mut sink,
                    &mut progressed,
                )?;
            }
            if !err_eof {
                err_eof = drain(
                    &mut stderr,
                    &mut buf,
                    Stream::Stderr,
                    &mut sink,
                    &mut progressed,
                )?;
            }
            w.check("stopping the command")
        })();
        if r.is_err() {
            return false;
        }
        if !progressed {
            w.wait(sess);
        }
    }
    close_channel(sess, fd, &mut ch) && ch.exit_status().is_ok_and(|c| c == 0)
}

/// What stopping a command achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Aborted {
    /// The session can be used for the next command.
    pub session_ok: bool,
    /// The server confirmed the channel closed (the command is gone). Without a pty, sshd
    /// keeps a channel open while its command runs: then this is false and the command may
    /// still run.
    pub stopped: bool,
}

/// How long to wait for the channel to close when no pty hang-up can have stopped the command.
const UNSTOPPABLE_CLOSE_WAIT: Duration = Duration::from_millis(300);

/// Stops the remote command by closing its channel. With a pty, sshd hangs the terminal up
/// and the command's process group gets SIGHUP. (ssh2 0.9 does not expose libssh2's
/// `signal` channel request, and sshd refuses it for forced commands anyway.)
/// `ending` says the command is known to be ending (a pty hang-up, or killed from a second
/// channel), so the close is worth waiting for.
pub fn abort(
    sess: &Session,
    fd: std::os::unix::io::RawFd,
    ch: &mut Channel,
    ending: bool,
) -> Aborted {
    let pty = ending;
    let w = Waiter::new(fd, None);
    w.set_deadline(
        Some(if pty {
            CLOSE_TIMEOUT
        } else {
            UNSTOPPABLE_CLOSE_WAIT
        }),
        "channel close timeout",
    );
    // libssh2's close waits for the server's close: once it returns, the channel is gone.
    if w.retry(sess, "closing the channel", || ch.close()).is_err() {
        // Without a pty the close was sent but sshd keeps the channel while the command runs;
        // the session itself is fine. With a pty the close should have completed: suspect.
        return Aborted {
            session_ok: !pty,
            stopped: false,
        };
    }
    Aborted {
        session_ok: true,
        stopped: true,
    }
}
