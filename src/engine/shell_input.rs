//! What the operator types into a shell job, on its way to each host's worker: one bounded
//! inbox per host, and a wake-up socket so that the worker, polling its SSH socket, sees new
//! input at once instead of at its next poll slice.
//!
//! Input for a host whose shell is not open yet is queued, up to [`SHELL_INPUT_QUEUE_BYTES`]
//! per host; input past the bound, or for a shell that has ended, is dropped and said once in
//! the live log (by count of bytes: typed input is never logged, recorded or kept past
//! its write to the channel).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::os::unix::io::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};

use crate::engine::Target;
use crate::util::lock;

/// Most bytes of typed input waiting for one host (in its inbox; the worker holds at most as
/// much again that the channel has not taken yet).
pub const SHELL_INPUT_QUEUE_BYTES: usize = 64 * 1024;

/// The inboxes of one shell job, one per target name.
pub(crate) struct ShellInboxes {
    by_host: HashMap<Arc<str>, Inbox>,
}

impl ShellInboxes {
    pub fn new(targets: &[Target]) -> Self {
        ShellInboxes {
            by_host: targets
                .iter()
                .map(|t| (t.name.clone(), Inbox::default()))
                .collect(),
        }
    }

    pub fn get(&self, host: &str) -> Option<&Inbox> {
        self.by_host.get(host)
    }

    /// Wakes every open shell (the job was cancelled: they hang up now).
    pub fn wake_all(&self) {
        for inbox in self.by_host.values() {
            inbox.wake();
        }
    }
}

/// What became of typed input given to [`Inbox::push`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pushed {
    Queued,
    /// The inbox was full: this many bytes were dropped; `first` on the first drop since the
    /// inbox last had room (the one to log).
    Dropped {
        bytes: usize,
        first: bool,
    },
    /// The host's shell has ended; `first` on the first input dropped so.
    Closed {
        first: bool,
    },
}

/// One host's typed input and window size waiting for its worker.
#[derive(Default)]
pub(crate) struct Inbox {
    state: Mutex<InboxState>,
}

#[derive(Default)]
struct InboxState {
    input: Vec<u8>,
    resize: Option<(u16, u16)>,
    /// The worker's end reads wake-ups; this end is written. Present while the shell is open.
    wake: Option<(UnixStream, UnixStream)>,
    closed: bool,
    overflowing: bool,
    closed_said: bool,
}

impl Inbox {
    /// Queues `data` (all or nothing, so a key's escape sequence is never cut) and wakes the
    /// worker.
    pub fn push(&self, data: &[u8]) -> Pushed {
        let mut s = lock(&self.state);
        if s.closed {
            let first = !s.closed_said;
            s.closed_said = true;
            return Pushed::Closed { first };
        }
        if s.input.len() + data.len() > SHELL_INPUT_QUEUE_BYTES {
            let first = !s.overflowing;
            s.overflowing = true;
            return Pushed::Dropped {
                bytes: data.len(),
                first,
            };
        }
        s.overflowing = false;
        s.input.extend_from_slice(data);
        wake_locked(&s);
        Pushed::Queued
    }

    /// Sets the window size the worker sends next (the last one wins).
    pub fn resize(&self, cols: u16, rows: u16) {
        let mut s = lock(&self.state);
        if s.closed {
            return;
        }
        s.resize = Some((cols, rows));
        wake_locked(&s);
    }

    /// The worker's shell is open: returns the fd that becomes readable on new input.
    pub fn open(&self) -> std::io::Result<RawFd> {
        let pair = UnixStream::pair()?;
        pair.0.set_nonblocking(true)?;
        pair.1.set_nonblocking(true)?;
        let fd = pair.0.as_raw_fd();
        let mut s = lock(&self.state);
        s.wake = Some(pair);
        // Input queued before the shell opened is there to be taken: wake at once.
        wake_locked(&s);
        Ok(fd)
    }

    /// Moves up to `room` bytes of input onto `buf` (whole pushes only, in order, unless one
    /// push alone exceeds `room`) and takes a pending resize; clears the wake-ups.
    pub fn take(&self, buf: &mut Vec<u8>, room: usize) -> Option<(u16, u16)> {
        let mut s = lock(&self.state);
        if let Some((r, _)) = &mut s.wake {
            let mut sink = [0u8; 64];
            while matches!(r.read(&mut sink), Ok(n) if n > 0) {}
        }
        let n = s.input.len().min(room);
        buf.extend_from_slice(&s.input[..n]);
        s.input[..n].fill(0);
        s.input.drain(..n);
        s.resize.take()
    }

    /// The shell ended: later input is dropped, what is queued wiped.
    pub fn close(&self) {
        let mut s = lock(&self.state);
        s.closed = true;
        s.wake = None;
        s.input.fill(0);
        s.input.clear();
    }

    fn wake(&self) {
        wake_locked(&lock(&self.state));
    }
}

fn wake_locked(s: &InboxState) {
    if let Some((_, w)) = &s.wake {
        // A full socket already means "wake up": nothing lost.
        let _ = (&*w).write(&[1]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_is_queued_before_open_bounded_and_taken_in_order() {
        let inbox = Inbox::default();
        assert_eq!(inbox.push(b"ab"), Pushed::Queued);
        assert_eq!(inbox.push(b"cd"), Pushed::Queued);
        let big = vec![b'x'; SHELL_INPUT_QUEUE_BYTES];
        assert_eq!(
            inbox.push(&big),
            Pushed::Dropped {
                bytes: big.len(),
                first: true
            }
        );
        assert_eq!(
            inbox.push(&big),
            Pushed::Dropped {
                bytes: big.len(),
                first: false
            }
        );
        inbox.resize(100, 30);
        inbox.resize(120, 40);
        let fd = inbox.open().expect("socketpair");
        assert!(fd >= 0);
        let mut buf = Vec::new();
        assert_eq!(inbox.take(&mut buf, 3), Some((120, 40)));
        assert_eq!(buf, b"abc");
        assert_eq!(inbox.take(&mut buf, 100), None);
        assert_eq!(buf, b"abcd");
        inbox.close();
        assert_eq!(inbox.push(b"e"), Pushed::Closed { first: true });
        assert_eq!(inbox.push(b"e"), Pushed::Closed { first: false });
    }
}
