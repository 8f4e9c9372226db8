//! The channel pump: each tunnel is a `direct-tcpip` channel copied to and from one end of a
//! Unix socketpair, both sides non-blocking, so that one bastion thread can drive every tunnel
//! of its session from a single poll.

use std::io::{Read, Write};
use std::os::unix::io::AsRawFd;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use ssh2::Channel;

use crate::contract::ErrorClass;
use crate::ssh::connect::Connection;
use crate::ssh::{SshError, POLL_SLICE};

/// Size of the pump's copy buffers (per read; one buffer per bastion thread).
pub(super) const PUMP_CHUNK: usize = 32 * 1024;
/// How long a tunnel's channel close may take before it is dropped anyway.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// One `direct-tcpip` channel and the socketpair end it is pumped to.
pub(super) struct Tunnel {
    ch: Channel,
    sock: UnixStream,
    /// channel -> socket
    down: Vec<u8>,
    /// socket -> channel
    up: Vec<u8>,
    ch_eof: bool,
    sock_eof: bool,
    /// Set when the tunnel is over: the channel is being closed.
    closing: Option<Instant>,
}

impl Tunnel {
    /// Moves what it can both ways; true when anything moved.
    pub(super) fn pump(&mut self, buf: &mut [u8]) -> bool {
        let would_block = |e: &std::io::Error| e.kind() == std::io::ErrorKind::WouldBlock;
        let mut progress = false;
        if self.down.is_empty() && !self.ch_eof {
            match self.ch.read(buf) {
                Ok(0) => {
                    self.ch_eof = true;
                    let _ = self.sock.shutdown(std::net::Shutdown::Write);
                    progress = true;
                }
                Ok(n) => {
                    self.down.extend_from_slice(&buf[..n]);
                    progress = true;
                }
                Err(e) if would_block(&e) => {}
                Err(_) => return self.end(),
            }
        }
        if !self.down.is_empty() {
            match self.sock.write(&self.down) {
                Ok(n) => {
                    self.down.drain(..n);
                    progress = true;
                }
                Err(e) if would_block(&e) => {}
                Err(_) => return self.end(),
            }
        }
        if self.up.is_empty() && !self.sock_eof {
            match self.sock.read(buf) {
                Ok(0) => {
                    self.sock_eof = true;
                    progress = true;
                }
                Ok(n) => {
                    self.up.extend_from_slice(&buf[..n]);
                    progress = true;
                }
                Err(e) if would_block(&e) => {}
                Err(_) => return self.end(),
            }
        }
        if !self.up.is_empty() {
            // A partly sent packet must be finished with the same call before any other
            // channel can send: libssh2 answers EAGAIN to the others until then, and this
            // retry (same channel, same state) completes it.
            match self.ch.write(&self.up) {
                Ok(n) => {
                    self.up.drain(..n);
                    progress = true;
                }
                Err(e) if would_block(&e) => {}
                Err(_) => return self.end(),
            }
        }
        if (self.sock_eof && self.up.is_empty()) || (self.ch_eof && self.down.is_empty()) {
            return self.end();
        }
        progress
    }

    pub(super) fn end(&mut self) -> bool {
        if self.closing.is_none() {
            self.closing = Some(Instant::now());
            let _ = self.sock.shutdown(std::net::Shutdown::Both);
        }
        true
    }

    /// True once the tunnel is over and its channel is being closed.
    pub(super) fn is_closing(&self) -> bool {
        self.closing.is_some()
    }

    /// Drives the channel close; true when the tunnel can be dropped.
    pub(super) fn close_step(&mut self) -> bool {
        match self.ch.close() {
            Err(e) if crate::ssh::is_eagain(&e) => {
                self.closing.is_some_and(|t| t.elapsed() > CLOSE_WAIT)
            }
            _ => true,
        }
    }

    /// libssh2 already holds data (or the end) for this channel: no need to poll for it.
    pub(super) fn has_buffered(&self) -> bool {
        self.closing.is_none()
            && self.down.is_empty()
            && !self.ch_eof
            && (self.ch.read_window().available > 0 || self.ch.eof())
    }
}

pub(super) fn new_tunnel(ch: Channel) -> Result<(Tunnel, UnixStream), SshError> {
    let (near, far) = UnixStream::pair()
        .map_err(|e| SshError::new(ErrorClass::Protocol, format!("socketpair: {e}")))?;
    near.set_nonblocking(true)
        .map_err(|e| SshError::new(ErrorClass::Protocol, format!("socketpair: {e}")))?;
    Ok((
        Tunnel {
            ch,
            sock: near,
            down: Vec::new(),
            up: Vec::new(),
            ch_eof: false,
            sock_eof: false,
            closing: None,
        },
        far,
    ))
}

/// True when the jump session's socket reports an error or hang-up.
pub(super) fn session_socket_broken(conn: &Connection) -> bool {
    let mut pfd = libc::pollfd {
        fd: conn.fd,
        events: 0,
        revents: 0,
    };
    // SAFETY: `pfd` is a valid pollfd for the duration of the call and nfds is 1.
    #[allow(unsafe_code)]
    let n = unsafe { libc::poll(&mut pfd, 1, 0) };
    n > 0 && (pfd.revents & (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL)) != 0
}

/// Polls the session socket (in libssh2's directions), the wake-up socket and every tunnel's
/// socketpair end, for one slice at most.
pub(super) fn poll_all(
    conn: &Connection,
    wake: &UnixStream,
    tunnels: &[Tunnel],
    pfds: &mut Vec<libc::pollfd>,
) {
    let sess_events = match conn.sess.block_directions() {
        ssh2::BlockDirections::Outbound => libc::POLLOUT,
        ssh2::BlockDirections::Both => libc::POLLIN | libc::POLLOUT,
        _ => libc::POLLIN,
    };
    pfds.clear();
    pfds.push(libc::pollfd {
        fd: conn.fd,
        events: sess_events,
        revents: 0,
    });
    pfds.push(libc::pollfd {
        fd: wake.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    });
    for t in tunnels {
        let mut events = 0;
        if t.up.is_empty() && !t.sock_eof && t.closing.is_none() {
            events |= libc::POLLIN;
        }
        if !t.down.is_empty() && t.closing.is_none() {
            events |= libc::POLLOUT;
        }
        pfds.push(libc::pollfd {
            fd: t.sock.as_raw_fd(),
            events,
            revents: 0,
        });
    }
    let ms = i32::try_from(POLL_SLICE.as_millis()).unwrap_or(i32::MAX);
    let n = libc::nfds_t::try_from(pfds.len()).unwrap_or(libc::nfds_t::MAX);
    // SAFETY: `pfds` is a valid array of `n` pollfds for the duration of the call.
    #[allow(unsafe_code)]
    unsafe {
        libc::poll(pfds.as_mut_ptr(), n, ms);
    }
}
