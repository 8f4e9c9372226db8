//! Jump hosts: one SSH session per jump host (per chain prefix), shared by every target
//! behind it.
//!
//! The first worker that needs a jump host connects to it (host key checked and
//! authenticated like any host) and hands the session to a *bastion thread* of its own: the
//! only thread that touches that session from then on (SSH-NOTES: one session per thread).
//! Workers ask the bastion thread for a tunnel to `address:port`; it opens a `direct-tcpip`
//! channel and hands back one end of a Unix socketpair, whose other end it pumps to and from
//! the channel. The worker runs the target's SSH session over its end as over a TCP socket.
//! The bastion thread drives all its channels in non-blocking mode, polling the session's
//! socket, every socketpair end, and a wake-up socket for new requests.
//!
//! Chains `a,b`: the session to `b` runs over a tunnel of `a`'s bastion thread and gets a
//! bastion thread of its own (keyed by the chain prefix `a>b`). A jump host that cannot be
//! reached or whose key is refused fails every target behind it in that job with the same
//! class, without reconnecting once per target.

use std::collections::{HashMap, VecDeque};
use std::io::{Read, Write};
use std::os::unix::io::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{RecvTimeoutError, Sender};
use ssh2::Channel;

use super::connect::{connect, connect_stream, ConnectContext, Connection};
use super::{SshError, POLL_SLICE};
use crate::contract::{ErrorClass, JobId};
use crate::inventory::ConnSettings;
use crate::ssh::Hop;
use crate::util::lock;

/// Size of the pump's copy buffers (per read; one buffer per bastion thread).
const PUMP_CHUNK: usize = 32 * 1024;
/// How long a tunnel's channel close may take before it is dropped anyway.
const CLOSE_WAIT: Duration = Duration::from_secs(5);
/// Stack of a bastion thread.
const BASTION_STACK: usize = 256 * 1024;

fn via(mut e: SshError, hop: &Hop) -> SshError {
    if !e.message.starts_with("via jump host") {
        e.message = format!("via jump host {}: {}", hop.name, e.message);
    }
    e
}

fn hop_key(jumps: &[Hop]) -> String {
    jumps
        .iter()
        .map(|j| format!("{}@{}:{}", j.conn.user, j.conn.address, j.conn.port))
        .collect::<Vec<_>>()
        .join(">")
}

/// A request for a tunnel to `address:port`.
struct Request {
    address: String,
    port: u16,
    reply: Sender<Result<UnixStream, SshError>>,
}

/// What a bastion thread and its requesters share.
struct Mailbox {
    queue: Mutex<VecDeque<Request>>,
    /// Written to (one byte) to wake the bastion thread's poll.
    waker: UnixStream,
    alive: AtomicBool,
    stop: AtomicBool,
}

impl Mailbox {
    fn wake(&self) {
        let _ = (&self.waker).write(&[1]);
    }
}

enum SlotState {
    Empty,
    /// Connecting failed in job `job`: other targets of that job get the same error.
    Failed {
        err: SshError,
        job: JobId,
    },
    Ready(Arc<Mailbox>),
}

/// One jump host (chain prefix): its state, locked while it connects so that only one
/// worker connects and the others wait for the result.
struct Slot {
    state: Mutex<SlotState>,
}

/// Shared jump-host sessions of one engine.
pub struct JumpPool {
    slots: Mutex<HashMap<String, Arc<Slot>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    idle: Duration,
    jump_sessions: AtomicU64,
    tunnels: Arc<AtomicU64>,
}

impl std::fmt::Debug for JumpPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JumpPool")
            .field("jump_sessions", &self.jump_sessions)
            .field("tunnels", &self.tunnels)
            .finish_non_exhaustive()
    }
}

impl JumpPool {
    /// A pool whose jump sessions close after `idle` without tunnels.
    pub fn new(idle: Duration) -> Self {
        JumpPool {
            slots: Mutex::new(HashMap::new()),
            threads: Mutex::new(Vec::new()),
            idle: idle.max(Duration::from_millis(10)),
            jump_sessions: AtomicU64::new(0),
            tunnels: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Sessions opened to jump hosts so far.
    pub fn jump_sessions_opened(&self) -> u64 {
        self.jump_sessions.load(Ordering::Relaxed)
    }

    /// Tunnels opened through jump hosts so far.
    pub fn tunnels_opened(&self) -> u64 {
        self.tunnels.load(Ordering::Relaxed)
    }

    /// Stops every bastion thread (closing their sessions and tunnels) and joins them.
    pub fn shutdown(&self) {
        for slot in lock(&self.slots).values() {
            if let SlotState::Ready(m) = &*lock(&slot.state) {
                m.stop.store(true, Ordering::Relaxed);
                m.wake();
            }
        }
        let threads: Vec<JoinHandle<()>> = lock(&self.threads).drain(..).collect();
        for t in threads {
            let _ = t.join();
        }
    }

    /// The mailbox of the bastion thread for `jumps` (connecting it first if needed).
    fn bastion(
        &self,
        jumps: &[Hop],
        ctx: &ConnectContext<'_>,
        job: JobId,
        on_attempt: &mut dyn FnMut(),
    ) -> Result<Arc<Mailbox>, SshError> {
        let key = hop_key(jumps);
        let slot = lock(&self.slots)
            .entry(key)
            .or_insert_with(|| {
                Arc::new(Slot {
                    state: Mutex::new(SlotState::Empty),
                })
            })
            .clone();
        let mut state = lock(&slot.state);
        match &*state {
            SlotState::Ready(m) if m.alive.load(Ordering::Relaxed) => return Ok(m.clone()),
            SlotState::Failed { err, job: j } if *j == job => return Err(err.clone()),
            _ => {}
        }
        if ctx.cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
            return Err(SshError::new(ErrorClass::Cancelled, "cancelled"));
        }
        let (hop, before) = jumps
            .split_last()
            .ok_or_else(|| SshError::new(ErrorClass::Protocol, "internal: empty jump chain"))?;
        let conn = if before.is_empty() {
            connect(&hop.name, &hop.conn, ctx, on_attempt)
        } else {
            let deadline = Instant::now() + hop.conn.connect_timeout;
            self.tunnel(before, &hop.conn, ctx, job, deadline, on_attempt)
                .and_then(|s| {
                    let fd = s.as_raw_fd();
                    connect_stream(&hop.name, &hop.conn, s, fd, deadline, ctx)
                })
        }
        .map_err(|e| via(e, hop));
        let conn = match conn {
            Ok(c) => c,
            Err(e) => {
                if e.class != ErrorClass::Cancelled {
                    *state = SlotState::Failed {
                        err: e.clone(),
                        job,
                    };
                }
                return Err(e);
            }
        };
        self.jump_sessions.fetch_add(1, Ordering::Relaxed);
        let (waker, wake_rx) = UnixStream::pair()
            .map_err(|e| SshError::new(ErrorClass::Protocol, format!("socketpair: {e}")))?;
        let _ = waker.set_nonblocking(true);
        let _ = wake_rx.set_nonblocking(true);
        let mailbox = Arc::new(Mailbox {
            queue: Mutex::new(VecDeque::new()),
            waker,
            alive: AtomicBool::new(true),
            stop: AtomicBool::new(false),
        });
        let bastion = Bastion {
            conn,
            name: hop.name.to_string(),
            mailbox: mailbox.clone(),
            slot: slot.clone(),
            wake_rx,
            idle: self.idle,
            tunnels_opened: self.tunnels.clone(),
        };
        let join = std::thread::Builder::new()
            .name("fleetdeck-jump".into())
            .stack_size(BASTION_STACK)
            .spawn(move || bastion.run())
            .map_err(|e| {
                SshError::new(
                    ErrorClass::Protocol,
                    format!("cannot start a jump host thread: {e}"),
                )
            })?;
        {
            let mut threads = lock(&self.threads);
            threads.retain(|t| !t.is_finished());
            threads.push(join);
        }
        *state = SlotState::Ready(mailbox.clone());
        Ok(mailbox)
    }

    /// A byte stream to `dest` through the jump chain `jumps` (non-empty), within `deadline`.
    fn tunnel(
        &self,
        jumps: &[Hop],
        dest: &ConnSettings,
        ctx: &ConnectContext<'_>,
        job: JobId,
        deadline: Instant,
        on_attempt: &mut dyn FnMut(),
    ) -> Result<UnixStream, SshError> {
        let last = jumps
            .last()
            .ok_or_else(|| SshError::new(ErrorClass::Protocol, "internal: empty jump chain"))?;
        let what = format!("opening a tunnel to {}:{}", dest.address, dest.port);
        // A bastion thread may end between being found and being asked (its session died or
        // it retired): ask a fresh one once more.
        for _ in 0..2 {
            let mailbox = self.bastion(jumps, ctx, job, on_attempt)?;
            let (tx, rx) = crossbeam_channel::bounded(1);
            {
                let mut q = lock(&mailbox.queue);
                if !mailbox.alive.load(Ordering::Relaxed) {
                    continue;
                }
                q.push_back(Request {
                    address: dest.address.clone(),
                    port: dest.port,
                    reply: tx,
                });
            }
            mailbox.wake();
            loop {
                if ctx.cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
                    return Err(SshError::new(
                        ErrorClass::Cancelled,
                        format!("{what}: cancelled"),
                    ));
                }
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(via(
                        SshError::new(
                            ErrorClass::Timeout,
                            format!(
                                "{what}: connect timeout of {}s passed",
                                dest.connect_timeout.as_secs_f64()
                            ),
                        ),
                        last,
                    ));
                }
                match rx.recv_timeout(left.min(POLL_SLICE)) {
                    Ok(Ok(s)) => return Ok(s),
                    Ok(Err(e)) => return Err(via(e, last)),
                    Err(RecvTimeoutError::Timeout) => {}
                    // The bastion thread ended without answering: try a fresh one.
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            }
        }
        Err(via(
            SshError::new(
                ErrorClass::Protocol,
                format!("{what}: the session to the jump host ended"),
            ),
            last,
        ))
    }
}

impl Drop for JumpPool {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Connects to `conn` through `jumps` (first hop first): every hop checked against
/// known_hosts and authenticated like any host; jump sessions are shared through `pool`.
/// `on_attempt` counts TCP connects (to the target, or to a first hop that had no session).
pub fn connect_via(
    host: &str,
    conn: &ConnSettings,
    jumps: &[Hop],
    ctx: &ConnectContext<'_>,
    pool: &JumpPool,
    job: JobId,
    on_attempt: &mut dyn FnMut(),
) -> Result<Connection, SshError> {
    if jumps.is_empty() {
        return connect(host, conn, ctx, on_attempt);
    }
    let deadline = Instant::now() + conn.connect_timeout;
    let stream = pool.tunnel(jumps, conn, ctx, job, deadline, on_attempt)?;
    let fd = stream.as_raw_fd();
    connect_stream(host, conn, stream, fd, deadline, ctx)
}

/// One `direct-tcpip` channel and the socketpair end it is pumped to.
struct Tunnel {
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
    fn pump(&mut self, buf: &mut [u8]) -> bool {
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

    fn end(&mut self) -> bool {
        if self.closing.is_none() {
            self.closing = Some(Instant::now());
            let _ = self.sock.shutdown(std::net::Shutdown::Both);
        }
        true
    }

    /// Drives the channel close; true when the tunnel can be dropped.
    fn close_step(&mut self) -> bool {
        match self.ch.close() {
            Err(e) if super::is_eagain(&e) => {
                self.closing.is_some_and(|t| t.elapsed() > CLOSE_WAIT)
            }
            _ => true,
        }
    }

    /// libssh2 already holds data (or the end) for this channel: no need to poll for it.
    fn has_buffered(&self) -> bool {
        self.closing.is_none()
            && self.down.is_empty()
            && !self.ch_eof
            && (self.ch.read_window().available > 0 || self.ch.eof())
    }
}

/// The thread owning one jump host's session.
struct Bastion {
    conn: Connection,
    name: String,
    mailbox: Arc<Mailbox>,
    slot: Arc<Slot>,
    wake_rx: UnixStream,
    idle: Duration,
    tunnels_opened: Arc<AtomicU64>,
}

impl Bastion {
    fn run(self) {
        let Bastion {
            conn,
            name,
            mailbox,
            slot,
            mut wake_rx,
            idle,
            tunnels_opened,
        } = self;
        let sess = &conn.sess;
        let mut tunnels: Vec<Tunnel> = Vec::new();
        let mut opening: Option<Request> = None;
        let mut buf = vec![0u8; PUMP_CHUNK];
        let mut idle_since = Instant::now();
        let mut fatal: Option<SshError> = None;
        let mut pfds: Vec<libc::pollfd> = Vec::new();
        while !mailbox.stop.load(Ordering::Relaxed) {
            let mut progress = false;
            // Drain the wake-up socket.
            let mut sink = [0u8; 64];
            while matches!(wake_rx.read(&mut sink), Ok(n) if n > 0) {}
            if opening.is_none() {
                opening = lock(&mailbox.queue).pop_front();
            }
            if let Some(req) = opening.take() {
                match sess.channel_direct_tcpip(&req.address, req.port, None) {
                    Ok(ch) => {
                        progress = true;
                        match new_tunnel(ch) {
                            Ok((t, far)) => {
                                tunnels_opened.fetch_add(1, Ordering::Relaxed);
                                tunnels.push(t);
                                let _ = req.reply.send(Ok(far));
                            }
                            Err(e) => {
                                let _ = req.reply.send(Err(e));
                            }
                        }
                    }
                    Err(e) if super::is_eagain(&e) => opening = Some(req),
                    Err(e) => {
                        progress = true;
                        let what = format!("opening a tunnel to {}:{}", req.address, req.port);
                        let err = super::classify(&e, &what);
                        // -21 (channel failure): the jump host refused or could not connect;
                        // the session is fine. Anything else: the session is broken.
                        if super::error_code(&e) == -21 {
                            let err = if err.class == ErrorClass::Protocol {
                                SshError::new(
                                    ErrorClass::Unreachable,
                                    format!(
                                        "{what}: the jump host refused the tunnel ({})",
                                        e.message()
                                    ),
                                )
                            } else {
                                err
                            };
                            let _ = req.reply.send(Err(err));
                        } else {
                            let _ = req.reply.send(Err(err.clone()));
                            fatal = Some(err);
                            break;
                        }
                    }
                }
            }
            for t in &mut tunnels {
                if t.closing.is_none() {
                    progress |= t.pump(&mut buf);
                }
            }
            let before = tunnels.len();
            tunnels.retain_mut(|t| t.closing.is_none() || !t.close_step());
            progress |= tunnels.len() != before;
            if !tunnels.is_empty() || opening.is_some() {
                idle_since = Instant::now();
            } else if idle_since.elapsed() >= idle {
                // Retire unless a request arrived meanwhile (requests are queued under the
                // slot lock, so nobody can be between finding this mailbox and queueing).
                let mut st = lock(&slot.state);
                let q = lock(&mailbox.queue);
                if q.is_empty() {
                    mailbox.alive.store(false, Ordering::Relaxed);
                    if matches!(&*st, SlotState::Ready(m) if Arc::ptr_eq(m, &mailbox)) {
                        *st = SlotState::Empty;
                    }
                    break;
                }
            }
            if progress || tunnels.iter().any(Tunnel::has_buffered) {
                continue;
            }
            if session_socket_broken(&conn) {
                fatal = Some(SshError::new(
                    ErrorClass::Protocol,
                    format!("the session to jump host {name} broke"),
                ));
                break;
            }
            poll_all(&conn, &wake_rx, &tunnels, &mut pfds);
        }
        // Ending: refuse waiting requests, close tunnels (their targets see the stream end).
        mailbox.alive.store(false, Ordering::Relaxed);
        {
            let mut st = lock(&slot.state);
            if matches!(&*st, SlotState::Ready(m) if Arc::ptr_eq(m, &mailbox)) {
                *st = SlotState::Empty;
            }
        }
        let err = fatal.unwrap_or_else(|| {
            SshError::new(
                ErrorClass::Cancelled,
                format!("the session to jump host {name} is closing"),
            )
        });
        if let Some(req) = opening.take() {
            let _ = req.reply.send(Err(err.clone()));
        }
        for req in lock(&mailbox.queue).drain(..) {
            let _ = req.reply.send(Err(err.clone()));
        }
        for t in &mut tunnels {
            t.end();
        }
        let start = Instant::now();
        while !tunnels.is_empty() && start.elapsed() < Duration::from_secs(1) {
            tunnels.retain_mut(|t| !t.close_step());
            if !tunnels.is_empty() {
                super::wait_socket(conn.fd, &sess.block_directions(), Duration::from_millis(20));
            }
        }
        drop(tunnels);
        sess.set_timeout(1000);
        sess.set_blocking(true);
        let _ = sess.disconnect(None, "fleetdeck closing the jump session", None);
        drop(conn);
    }
}

fn new_tunnel(ch: Channel) -> Result<(Tunnel, UnixStream), SshError> {
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
fn session_socket_broken(conn: &Connection) -> bool {
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
fn poll_all(
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
