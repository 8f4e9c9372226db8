//! SSH over libssh2: connecting, authenticating, host keys, exec channels, SFTP transfers.
//! One `ssh2::Session` is only ever touched by the thread that owns it.
//!
//! Sessions are driven in non-blocking mode: every libssh2 call that returns EAGAIN is retried
//! after polling the socket in the directions libssh2 is blocked on, in short slices, so that a
//! deadline or a cancel flag is noticed within [`POLL_SLICE`] whatever the peer does.

pub mod alive;
pub mod auth;
pub mod connect;
pub mod exec;
pub mod hostcheck;
pub mod jump;
pub mod knownhosts;
pub mod proxy;
pub mod shell;
pub mod signer;
pub mod transfer;

use std::cell::Cell;
use std::os::unix::io::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ssh2::{BlockDirections, ErrorCode, Session};

use crate::contract::ErrorClass;
use crate::inventory::ConnSettings;

/// One host to reach, in plain connection settings: a target or a jump host on the way to one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hop {
    /// Inventory name, for messages and for keying held jump sessions.
    pub name: std::sync::Arc<str>,
    pub conn: ConnSettings,
}

/// How long one poll of the socket lasts before the deadline and the cancel flag are checked.
pub const POLL_SLICE: Duration = Duration::from_millis(50);

/// `LIBSSH2_ERROR_EAGAIN`.
const LIBSSH2_ERROR_EAGAIN: i32 = -37;

/// A classified SSH failure. The message never contains a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshError {
    pub class: ErrorClass,
    pub message: String,
}

impl SshError {
    pub fn new(class: ErrorClass, message: impl Into<String>) -> Self {
        SshError {
            class,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for SshError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.class, self.message)
    }
}

impl std::error::Error for SshError {}

/// True when a libssh2 call only means "would block, call again".
pub fn is_eagain(e: &ssh2::Error) -> bool {
    e.code() == ErrorCode::Session(LIBSSH2_ERROR_EAGAIN)
}

/// The libssh2 error code of `e` (0 when it is not a session error).
pub fn error_code(e: &ssh2::Error) -> i32 {
    match e.code() {
        ErrorCode::Session(c) | ErrorCode::SFTP(c) => c,
    }
}

/// Classifies a libssh2 error that happened while doing `what`.
pub fn classify(e: &ssh2::Error, what: &str) -> SshError {
    let code = error_code(e);
    let class = match e.code() {
        // LIBSSH2_ERROR_TIMEOUT
        ErrorCode::Session(-9) => ErrorClass::Timeout,
        // AUTHENTICATION_FAILED, PUBLICKEY_UNVERIFIED
        ErrorCode::Session(-18 | -19) => ErrorClass::AuthFailed,
        _ => ErrorClass::Protocol,
    };
    let hint = match code {
        -43 => " (the peer closed the connection or does not speak SSH)",
        -13 => " (the peer disconnected)",
        -8 => " (no common key exchange or host key algorithm)",
        -21 if e.message().contains("connect failed") => {
            return SshError::new(
                ErrorClass::Unreachable,
                format!("{what}: the jump host could not connect (libssh2 error -21)"),
            )
        }
        _ => "",
    };
    SshError::new(
        class,
        format!("{what}: {}{hint} (libssh2 error {code})", e.message()),
    )
}

/// A deadline and a cancel flag that bound every wait on one session.
pub struct Waiter<'a> {
    fd: RawFd,
    deadline: Cell<Option<Instant>>,
    cancel: Option<&'a AtomicBool>,
    /// What the deadline bounds, for the timeout message (e.g. "connect timeout 10s").
    limit: Cell<&'static str>,
    limit_len: Cell<Option<Duration>>,
    /// The host's keepalive deadline (`ServerAliveInterval`), if it has one.
    alive: Option<alive::ServerAlive>,
}

impl<'a> Waiter<'a> {
    pub fn new(fd: RawFd, cancel: Option<&'a AtomicBool>) -> Self {
        Waiter {
            fd,
            deadline: Cell::new(None),
            cancel,
            limit: Cell::new(""),
            limit_len: Cell::new(None),
            alive: None,
        }
    }

    /// This waiter with `conn`'s keepalive deadline: waits send keepalives after silence, and
    /// [`Waiter::check`] fails once the host stopped answering them.
    #[must_use]
    pub fn watch_alive(mut self, conn: &ConnSettings) -> Self {
        self.alive = alive::ServerAlive::for_conn(conn);
        self
    }

    /// The host was heard from (a channel read returned data).
    pub fn heard(&self) {
        if let Some(a) = &self.alive {
            a.heard();
        }
    }

    /// Sends a keepalive if one is due (see [`alive::ServerAlive::tick`]); for loops that
    /// poll the socket themselves, with [`Waiter::heard`] when it was readable.
    pub fn alive_tick(&self, sess: &Session) {
        if let Some(a) = &self.alive {
            a.tick(sess);
        }
    }

    /// Sets (or clears) the deadline, named for messages.
    pub fn set_deadline(&self, limit: Option<Duration>, name: &'static str) {
        self.deadline.set(limit.map(|d| Instant::now() + d));
        self.limit.set(name);
        self.limit_len.set(limit);
    }

    /// Moves the deadline (if any) later by `by`: time spent waiting for the operator.
    pub fn extend(&self, by: Duration) {
        if let Some(d) = self.deadline.get() {
            self.deadline.set(Some(d + by));
        }
    }

    pub fn fd(&self) -> RawFd {
        self.fd
    }

    pub fn cancelled(&self) -> bool {
        self.cancel.is_some_and(|c| c.load(Ordering::Relaxed))
    }

    /// Time left before the deadline (`None` = no deadline).
    pub fn remaining(&self) -> Option<Duration> {
        self.deadline
            .get()
            .map(|d| d.saturating_duration_since(Instant::now()))
    }

    /// Fails when cancelled, past the deadline, or when the host stopped answering keepalives.
    pub fn check(&self, what: &str) -> Result<(), SshError> {
        if let Some(e) = self.alive.as_ref().and_then(|a| a.failure(what)) {
            return Err(e);
        }
        if self.cancelled() {
            return Err(SshError::new(
                ErrorClass::Cancelled,
                format!("{what}: cancelled"),
            ));
        }
        if self.remaining() == Some(Duration::ZERO) {
            let secs = self.limit_len.get().map_or(0.0, |d| d.as_secs_f64());
            return Err(SshError::new(
                ErrorClass::Timeout,
                format!("{what}: {} of {secs}s passed", self.limit.get()),
            ));
        }
        Ok(())
    }

    /// Waits for the socket in the directions `sess` is blocked on, one slice at most.
    pub fn wait(&self, sess: &Session) {
        let mut slice = self.remaining().map_or(POLL_SLICE, |r| r.min(POLL_SLICE));
        if let Some(a) = &self.alive {
            a.tick(sess);
            slice = slice.min(a.next_tick().max(Duration::from_millis(1)));
        }
        if wait_socket(self.fd, &sess.block_directions(), slice) {
            self.heard();
        }
    }

    /// Calls `f` until it stops returning EAGAIN, polling in between.
    pub fn retry<T>(
        &self,
        sess: &Session,
        what: &str,
        mut f: impl FnMut() -> Result<T, ssh2::Error>,
    ) -> Result<T, SshError> {
        loop {
            match f() {
                Ok(v) => return Ok(v),
                Err(e) if is_eagain(&e) => {
                    self.check(what)?;
                    self.wait(sess);
                }
                Err(e) => return Err(classify(&e, what)),
            }
        }
    }
}

/// Polls `fd` for the given directions (readable when none is given) for at most `timeout`;
/// true when it became readable.
pub fn wait_socket(fd: RawFd, dirs: &BlockDirections, timeout: Duration) -> bool {
    let events = match dirs {
        BlockDirections::Outbound => libc::POLLOUT,
        BlockDirections::Both => libc::POLLIN | libc::POLLOUT,
        BlockDirections::Inbound | BlockDirections::None => libc::POLLIN,
    };
    let mut pfd = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    // SAFETY: `pfd` is a valid pollfd for the duration of the call and nfds is 1.
    #[allow(unsafe_code)]
    let n = unsafe { libc::poll(&mut pfd, 1, ms) };
    n > 0 && pfd.revents & libc::POLLIN != 0
}
