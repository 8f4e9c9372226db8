//! The bastion thread: the only thread that ever touches one jump host's session (SSH-NOTES:
//! one session per thread). It opens the tunnels workers ask for, pumps them all from one
//! poll, and retires once idle or when its session breaks.

use std::io::Read;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::pump::{new_tunnel, poll_all, session_socket_broken, Tunnel, PUMP_CHUNK};
use super::{Mailbox, Request, Slot, SlotState};
use crate::contract::ErrorClass;
use crate::inventory::ConnSettings;
use crate::ssh::alive::ServerAlive;
use crate::ssh::connect::Connection;
use crate::ssh::SshError;
use crate::util::lock;

/// The thread owning one jump host's session, and the state of its loop.
pub(super) struct Bastion {
    conn: Connection,
    name: String,
    mailbox: Arc<Mailbox>,
    slot: Arc<Slot>,
    wake_rx: UnixStream,
    idle: Duration,
    tunnels_opened: Arc<AtomicU64>,
    tunnels: Vec<Tunnel>,
    /// A request whose channel open returned EAGAIN: retried before any other.
    opening: Option<Request>,
    buf: Vec<u8>,
    idle_since: Instant,
    pfds: Vec<libc::pollfd>,
    /// The jump host's own keepalive deadline (its `ServerAliveInterval`), if any.
    alive: Option<ServerAlive>,
}

impl Bastion {
    pub(super) fn new(
        conn: Connection,
        name: String,
        mailbox: Arc<Mailbox>,
        slot: Arc<Slot>,
        wake_rx: UnixStream,
        idle: Duration,
        tunnels_opened: Arc<AtomicU64>,
    ) -> Self {
        Bastion {
            conn,
            name,
            mailbox,
            slot,
            wake_rx,
            idle,
            tunnels_opened,
            tunnels: Vec::new(),
            opening: None,
            buf: vec![0u8; PUMP_CHUNK],
            idle_since: Instant::now(),
            pfds: Vec::new(),
            alive: None,
        }
    }

    /// This bastion with the jump host's keepalive deadline from its settings `hop`: its
    /// session asks for replies to keepalives, and breaks when they stop coming.
    pub(super) fn watch_alive(mut self, hop: &ConnSettings) -> Self {
        self.alive = ServerAlive::for_conn(hop);
        if self.alive.is_some() {
            self.conn.sess.set_keepalive(true, 1);
        }
        self
    }

    pub(super) fn run(mut self) {
        let fatal = self.serve();
        self.finish(fatal);
    }

    /// The loop: until stopped, retired or broken (`Some` = the error that broke it).
    fn serve(&mut self) -> Option<SshError> {
        while !self.mailbox.stop.load(Ordering::Relaxed) {
            // Drain the wake-up socket.
            let mut sink = [0u8; 64];
            while matches!(self.wake_rx.read(&mut sink), Ok(n) if n > 0) {}
            let mut progress = match self.open_requested() {
                Ok(p) => p,
                Err(fatal) => return Some(fatal),
            };
            progress |= self.pump_all();
            if self.retire_if_idle() {
                return None;
            }
            if progress || self.tunnels.iter().any(Tunnel::has_buffered) {
                if let Some(a) = &self.alive {
                    a.heard();
                }
                continue;
            }
            if let Some(a) = &self.alive {
                a.tick(&self.conn.sess);
                if let Some(e) = a.failure(&format!("jump host {}", self.name)) {
                    return Some(e);
                }
            }
            if session_socket_broken(&self.conn) {
                return Some(SshError::new(
                    ErrorClass::Protocol,
                    format!("the session to jump host {} broke", self.name),
                ));
            }
            poll_all(&self.conn, &self.wake_rx, &self.tunnels, &mut self.pfds);
            let readable = self
                .pfds
                .first()
                .is_some_and(|p| p.revents & libc::POLLIN != 0);
            if let (true, Some(a)) = (readable, &self.alive) {
                a.heard();
            }
        }
        None
    }

    /// Opens the channel of the next request, if any; true when anything happened. `Err` when
    /// the session broke (the request was answered with that error).
    fn open_requested(&mut self) -> Result<bool, SshError> {
        if self.opening.is_none() {
            self.opening = lock(&self.mailbox.queue).pop_front();
        }
        let Some(req) = self.opening.take() else {
            return Ok(false);
        };
        match self
            .conn
            .sess
            .channel_direct_tcpip(&req.address, req.port, None)
        {
            Ok(ch) => {
                match new_tunnel(ch) {
                    Ok((t, far)) => {
                        self.tunnels_opened.fetch_add(1, Ordering::Relaxed);
                        self.tunnels.push(t);
                        let _ = req.reply.send(Ok(far));
                    }
                    Err(e) => {
                        let _ = req.reply.send(Err(e));
                    }
                }
                Ok(true)
            }
            Err(e) if crate::ssh::is_eagain(&e) => {
                self.opening = Some(req);
                Ok(false)
            }
            Err(e) => {
                let what = format!("opening a tunnel to {}:{}", req.address, req.port);
                let err = crate::ssh::classify(&e, &what);
                // -21 (channel failure): the jump host refused or could not connect;
                // the session is fine. Anything else: the session is broken.
                if crate::ssh::error_code(&e) != -21 {
                    let _ = req.reply.send(Err(err.clone()));
                    return Err(err);
                }
                let err = if err.class == ErrorClass::Protocol {
                    SshError::new(
                        ErrorClass::Unreachable,
                        format!("{what}: the jump host refused the tunnel ({})", e.message()),
                    )
                } else {
                    err
                };
                let _ = req.reply.send(Err(err));
                Ok(true)
            }
        }
    }

    /// Pumps every open tunnel and drops those whose close completed; true when anything moved.
    fn pump_all(&mut self) -> bool {
        let mut progress = false;
        for t in &mut self.tunnels {
            if !t.is_closing() {
                progress |= t.pump(&mut self.buf);
            }
        }
        let before = self.tunnels.len();
        self.tunnels
            .retain_mut(|t| !t.is_closing() || !t.close_step());
        progress | (self.tunnels.len() != before)
    }

    /// True when the thread retired: idle long enough and no request waiting.
    fn retire_if_idle(&mut self) -> bool {
        if !self.tunnels.is_empty() || self.opening.is_some() {
            self.idle_since = Instant::now();
            return false;
        }
        if self.idle_since.elapsed() < self.idle {
            return false;
        }
        // Retire unless a request arrived meanwhile (requests are queued under the
        // slot lock, so nobody can be between finding this mailbox and queueing).
        let mut st = lock(&self.slot.state);
        let q = lock(&self.mailbox.queue);
        if !q.is_empty() {
            return false;
        }
        self.mailbox.alive.store(false, Ordering::Relaxed);
        if matches!(&*st, SlotState::Ready(m) if Arc::ptr_eq(m, &self.mailbox)) {
            *st = SlotState::Empty;
        }
        true
    }

    /// Ending: refuses waiting requests, closes tunnels (their targets see the stream end) and
    /// disconnects.
    fn finish(mut self, fatal: Option<SshError>) {
        self.mailbox.alive.store(false, Ordering::Relaxed);
        if let Some(e) = &fatal {
            // Before the tunnels end, so that their targets find the cause.
            *lock(&self.slot.broke) = Some(e.clone());
        }
        {
            let mut st = lock(&self.slot.state);
            if matches!(&*st, SlotState::Ready(m) if Arc::ptr_eq(m, &self.mailbox)) {
                *st = SlotState::Empty;
            }
        }
        let err = fatal.unwrap_or_else(|| {
            SshError::new(
                ErrorClass::Cancelled,
                format!("the session to jump host {} is closing", self.name),
            )
        });
        if let Some(req) = self.opening.take() {
            let _ = req.reply.send(Err(err.clone()));
        }
        for req in lock(&self.mailbox.queue).drain(..) {
            let _ = req.reply.send(Err(err.clone()));
        }
        for t in &mut self.tunnels {
            t.end();
        }
        let sess = &self.conn.sess;
        let start = Instant::now();
        while !self.tunnels.is_empty() && start.elapsed() < Duration::from_secs(1) {
            self.tunnels.retain_mut(|t| !t.close_step());
            if !self.tunnels.is_empty() {
                crate::ssh::wait_socket(
                    self.conn.fd,
                    &sess.block_directions(),
                    Duration::from_millis(20),
                );
            }
        }
        // Channels go before the session they belong to.
        self.tunnels.clear();
        sess.set_timeout(1000);
        sess.set_blocking(true);
        let _ = sess.disconnect(None, "fleetdeck closing the jump session", None);
    }
}
