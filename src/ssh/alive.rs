//! `ServerAliveInterval` / `ServerAliveCountMax` as OpenSSH applies them: after an interval in
//! which the server sent nothing, a keepalive that asks for a reply; when `count` of them in a
//! row went unanswered, at the next interval the host is declared dead (so after about
//! `interval × (count + 1)` of silence, as OpenSSH's client loop does it).
//!
//! "Heard" means the socket became readable while a [`super::Waiter`] polled it, or a channel
//! read returned data: libssh2 takes the reply to a keepalive off the socket without telling,
//! but the poll that follows the keepalive sees it arrive.

use std::cell::Cell;
use std::time::{Duration, Instant};

use ssh2::Session;

use super::SshError;
use crate::contract::ErrorClass;
use crate::inventory::ConnSettings;

/// The keepalive deadline of one session, checked on the thread that owns it.
#[derive(Debug)]
pub struct ServerAlive {
    interval: Duration,
    count: u32,
    /// When the server was last heard from or the last keepalive was sent.
    since: Cell<Instant>,
    unanswered: Cell<u32>,
    dead: Cell<bool>,
}

impl ServerAlive {
    pub fn new(interval: Duration, count: u32) -> Self {
        ServerAlive {
            interval,
            count,
            since: Cell::new(Instant::now()),
            unanswered: Cell::new(0),
            dead: Cell::new(false),
        }
    }

    /// The deadline `conn`'s options ask for, if any.
    pub fn for_conn(conn: &ConnSettings) -> Option<Self> {
        conn.options
            .server_alive()
            .map(|(interval, count)| Self::new(interval, count))
    }

    /// The server sent something: it is alive.
    pub fn heard(&self) {
        self.since.set(Instant::now());
        self.unanswered.set(0);
    }

    /// Before a wait: after an interval of silence, sends a keepalive, or declares the host
    /// dead when `count` keepalives in a row went unanswered.
    pub fn tick(&self, sess: &Session) {
        if self.dead.get() || self.since.get().elapsed() < self.interval {
            return;
        }
        if self.unanswered.get() >= self.count {
            self.dead.set(true);
            return;
        }
        // EAGAIN only means the keepalive goes out with the next write.
        let _ = sess.keepalive_send();
        self.unanswered.set(self.unanswered.get() + 1);
        self.since.set(Instant::now());
    }

    /// How long until [`ServerAlive::tick`] has something to do.
    pub fn next_tick(&self) -> Duration {
        self.interval.saturating_sub(self.since.get().elapsed())
    }

    /// The failure of a host declared dead while doing `what`.
    pub fn failure(&self, what: &str) -> Option<SshError> {
        self.dead.get().then(|| {
            SshError::new(
                ErrorClass::Timeout,
                format!(
                    "{what}: the host stopped answering keepalives \
                     (ServerAliveInterval {}s, ServerAliveCountMax {})",
                    self.interval.as_secs_f64(),
                    self.count
                ),
            )
        })
    }
}

/// How the session is told to send keepalives: asking for a reply when `conn` has a
/// keepalive deadline (the replies are how the host is heard), and at most every second
/// (when exactly is [`ServerAlive`]'s decision); otherwise every `engine` interval, no reply.
pub fn configure(sess: &Session, conn: &ConnSettings, engine: Duration) {
    match conn.options.server_alive() {
        Some(_) => sess.set_keepalive(true, 1),
        None => sess.set_keepalive(false, super::connect::keepalive_secs(engine)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The count as OpenSSH's client loop keeps it: `count` keepalives go out after silent
    /// intervals, the host is dead at the next one; a word from the server starts over.
    #[test]
    fn dead_after_count_unanswered_keepalives() {
        // Not connected: keepalive_send fails, which the tick ignores (as EAGAIN).
        let sess = Session::new().expect("session");
        let interval = Duration::from_millis(30);
        let a = ServerAlive::new(interval, 2);
        a.tick(&sess);
        assert_eq!(
            a.unanswered.get(),
            0,
            "nothing due before an interval passed"
        );
        std::thread::sleep(interval);
        a.tick(&sess);
        assert_eq!(a.unanswered.get(), 1, "a keepalive after a silent interval");
        a.heard();
        assert_eq!(a.unanswered.get(), 0, "an answer starts the count over");
        let start = Instant::now();
        let mut sent = 0;
        while a.failure("x").is_none() && start.elapsed() < Duration::from_secs(2) {
            let before = a.unanswered.get();
            a.tick(&sess);
            sent += usize::from(a.unanswered.get() > before);
            std::thread::sleep(Duration::from_millis(2));
        }
        let took = start.elapsed();
        assert_eq!(sent, 2, "two keepalives unanswered before the verdict");
        assert!(took >= interval * 3, "{took:?}");
        let e = a.failure("opening a channel").expect("dead");
        assert_eq!(e.class, ErrorClass::Timeout);
        assert!(
            e.message
                .starts_with("opening a channel: the host stopped answering keepalives"),
            "{}",
            e.message
        );
    }
}
