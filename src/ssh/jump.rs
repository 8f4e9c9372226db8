//! Jump hosts: reaching a target through `direct-tcpip` channels of other SSH sessions.
//!
//! Each hop's session is connected (over TCP, or over the previous hop's tunnel), opens a
//! `direct-tcpip` channel to the next address, and is then handed to a pump thread of its own
//! that copies bytes between that channel and one end of a Unix socketpair. The next session
//! runs over the other end as if it were a TCP socket. A session is never touched by two
//! threads: it moves to its pump thread once its channel is open.

use std::io::{Read, Write};
use std::os::unix::io::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ssh2::Channel;

use super::connect::{connect, connect_stream, ConnectContext, Connection};
use super::{SshError, Waiter, POLL_SLICE};
use crate::engine::Target;
use crate::inventory::ConnSettings;

/// Size of the pump's copy buffers.
const PUMP_CHUNK: usize = 32 * 1024;

/// The pump threads keeping a tunnelled session's hops open. Dropping it stops them.
#[derive(Default)]
pub struct JumpChain {
    hops: Vec<(Arc<AtomicBool>, Option<JoinHandle<()>>)>,
}

impl std::fmt::Debug for JumpChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "JumpChain({} hops)", self.hops.len())
    }
}

impl Drop for JumpChain {
    fn drop(&mut self) {
        // Innermost hop first: it runs over the outer ones.
        for (stop, _) in self.hops.iter().rev() {
            stop.store(true, Ordering::Relaxed);
        }
        for (_, join) in self.hops.iter_mut().rev() {
            if let Some(j) = join.take() {
                let _ = j.join();
            }
        }
    }
}

fn via(mut e: SshError, hop: &Target) -> SshError {
    e.message = format!("via jump host {}: {}", hop.name, e.message);
    e
}

/// Connects to `conn` through `jumps` (first hop first): every hop authenticated and checked
/// against known_hosts like any host. Returns the session to `conn` and the chain holding
/// the tunnels open. `on_attempt` counts the first hop's TCP connects.
pub fn connect_via(
    host: &str,
    conn: &ConnSettings,
    jumps: &[Target],
    ctx: &ConnectContext<'_>,
    on_attempt: &mut dyn FnMut(),
) -> Result<(Connection, JumpChain), SshError> {
    let mut chain = JumpChain::default();
    let Some(first) = jumps.first() else {
        return Ok((connect(host, conn, ctx, on_attempt)?, chain));
    };
    let mut hop_conn =
        connect(&first.name, &first.conn, ctx, on_attempt).map_err(|e| via(e, first))?;
    for (i, hop) in jumps.iter().enumerate() {
        let (next_name, next): (&str, &ConnSettings) = match jumps.get(i + 1) {
            Some(t) => (&t.name, &t.conn),
            None => (host, conn),
        };
        let w = Waiter::new(hop_conn.fd, ctx.cancel);
        w.set_deadline(Some(next.connect_timeout), "connect timeout");
        let what = format!("opening a tunnel to {}:{}", next.address, next.port);
        let channel = w
            .retry(&hop_conn.sess, &what, || {
                hop_conn
                    .sess
                    .channel_direct_tcpip(&next.address, next.port, None)
            })
            .map_err(|e| via(e, hop))?;
        let (near, far) = UnixStream::pair().map_err(|e| {
            SshError::new(
                crate::engine::ErrorClass::Protocol,
                format!("socketpair: {e}"),
            )
        })?;
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let join = std::thread::Builder::new()
            .name("fleetdeck-jump".into())
            .stack_size(256 * 1024)
            .spawn(move || pump(hop_conn, channel, far, &stop2))
            .map_err(|e| {
                SshError::new(
                    crate::engine::ErrorClass::Protocol,
                    format!("cannot start a tunnel thread: {e}"),
                )
            })?;
        chain.hops.push((stop, Some(join)));
        let fd = near.as_raw_fd();
        let deadline = Instant::now() + next.connect_timeout;
        let c = connect_stream(next_name, next, near, fd, deadline, ctx);
        match jumps.get(i + 1) {
            Some(t) => hop_conn = c.map_err(|e| via(e, t))?,
            None => return Ok((c?, chain)),
        }
    }
    unreachable!("the loop returns at the last hop")
}

/// Copies bytes both ways between `ch` (on `conn`) and `sock` until either side ends or
/// `stop` is set; then closes the channel and the session.
fn pump(conn: Connection, mut ch: Channel, sock: UnixStream, stop: &AtomicBool) {
    let sess = &conn.sess;
    if sock.set_nonblocking(true).is_err() {
        return;
    }
    let mut sock = sock;
    let mut buf = vec![0u8; PUMP_CHUNK];
    let mut down: Vec<u8> = Vec::new(); // channel -> socket
    let mut up: Vec<u8> = Vec::new(); // socket -> channel
    let mut ch_eof = false;
    let mut sock_eof = false;
    let would_block = |e: &std::io::Error| e.kind() == std::io::ErrorKind::WouldBlock;
    while !stop.load(Ordering::Relaxed) {
        let mut progress = false;
        if down.is_empty() && !ch_eof {
            match ch.read(&mut buf) {
                Ok(0) => {
                    ch_eof = true;
                    let _ = sock.shutdown(std::net::Shutdown::Write);
                }
                Ok(n) => {
                    down.extend_from_slice(&buf[..n]);
                    progress = true;
                }
                Err(e) if would_block(&e) => {}
                Err(_) => break,
            }
        }
        if !down.is_empty() {
            match sock.write(&down) {
                Ok(n) => {
                    down.drain(..n);
                    progress = true;
                }
                Err(e) if would_block(&e) => {}
                Err(_) => break,
            }
        }
        if up.is_empty() && !sock_eof {
            match sock.read(&mut buf) {
                Ok(0) => sock_eof = true,
                Ok(n) => {
                    up.extend_from_slice(&buf[..n]);
                    progress = true;
                }
                Err(e) if would_block(&e) => {}
                Err(_) => break,
            }
        }
        if !up.is_empty() {
            match ch.write(&up) {
                Ok(n) => {
                    up.drain(..n);
                    progress = true;
                }
                Err(e) if would_block(&e) => {}
                Err(_) => break,
            }
        }
        if (sock_eof && up.is_empty()) || (ch_eof && down.is_empty()) {
            break;
        }
        if !progress {
            wait_two(&conn, &sock, !down.is_empty(), POLL_SLICE);
        }
    }
    let w = Waiter::new(conn.fd, None);
    w.set_deadline(Some(Duration::from_secs(1)), "tunnel close");
    let _ = w.retry(sess, "closing the tunnel", || ch.close());
    drop(ch);
    sess.set_timeout(1000);
    sess.set_blocking(true);
    let _ = sess.disconnect(None, "fleetdeck closing the tunnel", None);
    // The session (and its socket) end with this thread.
    drop(conn);
}

/// Polls the hop session's socket (in libssh2's directions) and the socketpair end.
fn wait_two(conn: &Connection, sock: &UnixStream, want_write: bool, timeout: Duration) {
    let dirs = conn.sess.block_directions();
    let sess_events = match dirs {
        ssh2::BlockDirections::Outbound => libc::POLLOUT,
        ssh2::BlockDirections::Both => libc::POLLIN | libc::POLLOUT,
        _ => libc::POLLIN,
    };
    let mut fds = [
        libc::pollfd {
            fd: conn.fd,
            events: sess_events,
            revents: 0,
        },
        libc::pollfd {
            fd: sock.as_raw_fd(),
            events: libc::POLLIN | if want_write { libc::POLLOUT } else { 0 },
            revents: 0,
        },
    ];
    let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    // SAFETY: `fds` is a valid array of two pollfds for the duration of the call.
    #[allow(unsafe_code)]
    unsafe {
        libc::poll(fds.as_mut_ptr(), 2, ms);
    }
}
