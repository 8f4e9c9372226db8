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
//! bastion thread of its own (keyed by the chain prefix `a>b`). The first hop is connected
//! like any host, over its `ProxyCommand` if it has one (`super::proxy`); a later hop's
//! `ProxyCommand` is not used, as OpenSSH's `-J` ignores it for the hops it chains. A jump
//! host that cannot be reached or whose key is refused fails every target behind it in that
//! job with the same class, without reconnecting once per target.

mod bastion;
mod pump;

use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::os::unix::io::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{RecvTimeoutError, Sender};

use self::bastion::Bastion;
use super::connect::{connect, connect_stream, ConnectContext, Connection};
use super::{SshError, POLL_SLICE};
use crate::contract::{ErrorClass, JobId};
use crate::inventory::ConnSettings;
use crate::ssh::Hop;
use crate::util::lock;

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
    /// Why its last bastion thread ended, when its session broke (a jump host that stopped
    /// answering keepalives): what the targets behind it, whose streams then end, fail of.
    broke: Mutex<Option<SshError>>,
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

    /// Why the session to a jump host of `jumps` broke (the first hop's cause first), if one
    /// did since it was last connected: the cause of a failure seen behind it.
    pub fn broke(&self, jumps: &[Hop]) -> Option<SshError> {
        let slots = lock(&self.slots);
        (1..=jumps.len()).find_map(|n| {
            let slot = slots.get(&hop_key(&jumps[..n]))?;
            let e = lock(&slot.broke).clone()?;
            Some(via(e, &jumps[n - 1]))
        })
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
                    broke: Mutex::new(None),
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
        let conn = match self.connect_hop(hop, before, ctx, job, on_attempt) {
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
        let mailbox = self.start_bastion(conn, hop, &slot)?;
        *lock(&slot.broke) = None;
        *state = SlotState::Ready(mailbox.clone());
        Ok(mailbox)
    }

    /// Connects to the jump host `hop`: directly when it is the first hop, else through the
    /// bastion thread of the hops `before` it.
    fn connect_hop(
        &self,
        hop: &Hop,
        before: &[Hop],
        ctx: &ConnectContext<'_>,
        job: JobId,
        on_attempt: &mut dyn FnMut(),
    ) -> Result<Connection, SshError> {
        if before.is_empty() {
            connect(&hop.name, &hop.conn, ctx, on_attempt)
        } else {
            let deadline = Instant::now() + hop.conn.connect_timeout;
            self.tunnel(before, &hop.conn, ctx, job, deadline, on_attempt)
                .and_then(|s| {
                    let fd = s.as_raw_fd();
                    connect_stream(&hop.name, &hop.conn, s, fd, deadline, ctx)
                })
        }
        .map_err(|e| via(e, hop))
    }

    /// Hands `conn` to a new bastion thread; the returned mailbox is how workers reach it.
    fn start_bastion(
        &self,
        conn: Connection,
        hop: &Hop,
        slot: &Arc<Slot>,
    ) -> Result<Arc<Mailbox>, SshError> {
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
        let bastion = Bastion::new(
            conn,
            hop.name.to_string(),
            mailbox.clone(),
            slot.clone(),
            wake_rx,
            self.idle,
            self.tunnels.clone(),
        )
        .watch_alive(&hop.conn);
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
        let mut threads = lock(&self.threads);
        threads.retain(|t| !t.is_finished());
        threads.push(join);
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
        // A bastion thread may end between being found and being asked, or while the request
        // waits (its session died or it retired): ask a fresh one once more.
        for attempt in 0..2 {
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
                    // Answered by a bastion thread that was ending (its session broke while
                    // the request waited): the error is that session's, not the target's.
                    Ok(Err(_)) if attempt == 0 && !mailbox.alive.load(Ordering::Relaxed) => break,
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
