//! An interactive login shell on a pty, on an authenticated session: the pty's output read as
//! it arrives, typed input written in order (partial writes and EAGAIN kept for the next try),
//! window changes sent, all in non-blocking mode on the thread owning the session. The loop
//! waits on the session's socket and on a wake-up fd together, so that typed input is written
//! as soon as it arrives, not at the next poll slice.

use std::io::{Read, Write};
use std::os::unix::io::RawFd;
use std::time::{Duration, Instant};

use ssh2::{BlockDirections, Channel, Session};

use super::exec::{abort, close_and_status, ExecOutcome};
use super::{SshError, Waiter, POLL_SLICE};
use crate::contract::{ErrorClass, ShellSpec};

/// Size of one read from the pty.
const READ_CHUNK: usize = 32 * 1024;
/// Reads per turn of the loop, so that input and cancel are not starved by a flood.
const READS_PER_TURN: usize = 8;

/// What the shell loop exchanges with its owner.
pub trait ShellIo {
    /// Output of the pty (stdout and stderr are one stream on a pty). May block to slow the
    /// host down: the channel is not read meanwhile, so SSH flow control holds the remote side.
    fn output(&mut self, data: &[u8]);
    /// Nothing was read this turn: a chance to pass on output held back for a slow reader.
    fn idle(&mut self);
    /// Appends up to `room` bytes of typed input to `buf`; returns a new window size, if any.
    fn input(&mut self, buf: &mut Vec<u8>, room: usize) -> Option<(u16, u16)>;
    /// Most bytes of input taken from the owner and not yet written to the channel.
    fn input_bound(&self) -> usize;
}

/// Requests the pty and starts the login shell on `ch`.
pub fn open(
    sess: &Session,
    w: &Waiter<'_>,
    ch: &mut Channel,
    spec: &ShellSpec,
) -> Result<(), SshError> {
    let size = (
        u32::from(spec.cols.max(1)),
        u32::from(spec.rows.max(1)),
        0,
        0,
    );
    w.retry(sess, "requesting a pty", || {
        ch.request_pty(&spec.term, None, Some(size))
    })?;
    w.retry(sess, "starting the shell", || ch.shell())
}

/// Runs the shell on `ch` until it exits (its exit status or signal) or `w` is cancelled (the
/// channel is closed: the pty hangs up and the shell gets SIGHUP). `wake` becomes readable
/// when `io` has input; `keepalive` is how often the session sends a keepalive meanwhile.
pub fn run(
    sess: &Session,
    w: &Waiter<'_>,
    mut ch: Channel,
    wake: RawFd,
    keepalive: Duration,
    io: &mut dyn ShellIo,
) -> ExecOutcome {
    let mut pending = Vec::new();
    let result = pump(sess, w, &mut ch, wake, keepalive, io, &mut pending);
    pending.fill(0);
    match result {
        Ok(()) => close_and_status(sess, w.fd(), &mut ch),
        Err(e) if e.class == ErrorClass::Cancelled => {
            let a = abort(sess, w.fd(), &mut ch, true);
            ExecOutcome {
                result: Err(e),
                session_ok: a.session_ok,
            }
        }
        Err(e) => ExecOutcome {
            result: Err(e),
            session_ok: false,
        },
    }
}

/// The loop: input in, window changes, output out, then wait for either side.
fn pump(
    sess: &Session,
    w: &Waiter<'_>,
    ch: &mut Channel,
    wake: RawFd,
    keepalive: Duration,
    io: &mut dyn ShellIo,
    pending: &mut Vec<u8>,
) -> Result<(), SshError> {
    let mut buf = vec![0u8; READ_CHUNK];
    let mut last_keepalive = Instant::now();
    loop {
        let room = io.input_bound().saturating_sub(pending.len());
        if let Some((cols, rows)) = io.input(pending, room) {
            w.retry(sess, "changing the window size", || {
                ch.request_pty_size(u32::from(cols.max(1)), u32::from(rows.max(1)), None, None)
            })?;
        }
        let wrote = write_pending(ch, pending)?;
        // Where a held-back write waits: the socket being writable (a half-sent packet) or
        // the host's window adjust (readable, as always).
        let write_dirs = (!pending.is_empty()).then(|| sess.block_directions());
        // Read after writing: libssh2 may have taken the host's answer off the socket while
        // writing, so the socket alone would not say it is there.
        let (read, eof) = read_output(ch, &mut buf, io)?;
        if eof {
            return Ok(());
        }
        if read {
            w.heard();
        }
        w.alive_tick(sess);
        w.check("running the shell")?;
        if last_keepalive.elapsed() >= keepalive {
            last_keepalive = Instant::now();
            // EAGAIN here only means the keepalive goes with the next write.
            let _ = sess.keepalive_send();
        }
        if !read && !wrote {
            io.idle();
            let outbound = |d: &BlockDirections| {
                matches!(d, BlockDirections::Outbound | BlockDirections::Both)
            };
            let out =
                write_dirs.as_ref().is_some_and(outbound) || outbound(&sess.block_directions());
            if wait_either(w.fd(), wake, out) {
                w.heard();
            }
        }
    }
}

/// Writes what it can of `pending`, keeping the rest (in order) for the next turn; true when
/// anything was written.
fn write_pending(ch: &mut Channel, pending: &mut Vec<u8>) -> Result<bool, SshError> {
    let mut sent = 0;
    while sent < pending.len() {
        match ch.write(&pending[sent..]) {
            Ok(0) => break,
            Ok(n) => sent += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) => {
                return Err(SshError::new(
                    ErrorClass::Protocol,
                    format!("writing to the shell: {e}"),
                ))
            }
        }
    }
    pending[..sent].fill(0);
    pending.drain(..sent);
    Ok(sent > 0)
}

/// Reads the pty until it would block; `(read anything, at end of output)`.
fn read_output(
    ch: &mut Channel,
    buf: &mut [u8],
    io: &mut dyn ShellIo,
) -> Result<(bool, bool), SshError> {
    let mut read = false;
    for _ in 0..READS_PER_TURN {
        match ch.read(buf) {
            Ok(0) => return Ok((read, true)),
            Ok(n) => {
                read = true;
                io.output(&buf[..n]);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) => {
                return Err(SshError::new(
                    ErrorClass::Protocol,
                    format!("reading the shell's output: {e}"),
                ))
            }
        }
    }
    // A pty merges stderr into stdout; read the stream anyway so its window never fills.
    let mut stderr = ch.stderr();
    for _ in 0..READS_PER_TURN {
        match stderr.read(buf) {
            Ok(n) if n > 0 => {
                read = true;
                io.output(&buf[..n]);
            }
            _ => break,
        }
    }
    Ok((read, false))
}

/// Waits at most one poll slice for the session's socket (readable, and writable when
/// libssh2 is blocked sending) or the wake-up fd; true when the socket became readable.
fn wait_either(sock: RawFd, wake: RawFd, outbound: bool) -> bool {
    let mut events = libc::POLLIN;
    if outbound {
        events |= libc::POLLOUT;
    }
    let mut fds = [
        libc::pollfd {
            fd: sock,
            events,
            revents: 0,
        },
        libc::pollfd {
            fd: wake,
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    let ms = i32::try_from(POLL_SLICE.as_millis()).unwrap_or(i32::MAX);
    // SAFETY: `fds` is a valid array of two pollfds for the duration of the call.
    #[allow(unsafe_code)]
    let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, ms) };
    n > 0 && fds[0].revents & libc::POLLIN != 0
}
