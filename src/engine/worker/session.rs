//! The session lifecycle of one worker: reusing the held session (opening a channel is its
//! liveness probe), or connecting anew (through jump hosts if any) and holding the result.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Worker;
use crate::engine::scheduler::{JobState, Shared};
use crate::engine::{ErrorClass, LogLevel, Target};
use crate::ssh::connect::{ConnectContext, Connection};
use crate::ssh::exec::open_channel;
use crate::ssh::jump::connect_via;
use crate::ssh::{SshError, Waiter};

/// An authenticated session kept between jobs.
pub(crate) struct Held {
    pub(super) conn: Connection,
    pub(super) last_used: Instant,
    pub(super) last_keepalive: Instant,
    shared: Arc<Shared>,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.shared
            .counters
            .sessions_held
            .fetch_sub(1, Ordering::Relaxed);
        let sess = &self.conn.sess;
        sess.set_timeout(1000);
        sess.set_blocking(true);
        let _ = sess.disconnect(None, "fleetdeck closing the session", None);
    }
}

/// What the keeper should do with a parked session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Due {
    Nothing,
    Keepalive,
    Close,
}

impl Held {
    /// Whether the session, unused for a while, is due a keepalive or past `idle`.
    pub(crate) fn due(&self, idle: Duration, keepalive: Duration) -> Due {
        if self.last_used.elapsed() >= idle {
            Due::Close
        } else if self.last_keepalive.elapsed() >= keepalive {
            Due::Keepalive
        } else {
            Due::Nothing
        }
    }

    /// Sends a keepalive; false when the session is dead (then drop it).
    pub(crate) fn keepalive(&mut self) -> bool {
        self.last_keepalive = Instant::now();
        let sess = &self.conn.sess;
        sess.set_blocking(true);
        let ok = sess.keepalive_send().is_ok();
        sess.set_blocking(false);
        ok
    }
}

impl Worker {
    /// Returns a channel on a held session (reused) or on a new one.
    pub(super) fn session_channel(
        &mut self,
        job: &JobState,
        target: &Target,
    ) -> Result<(bool, ssh2::Channel), SshError> {
        if let Some(ch) = self.held_channel(job, target)? {
            return Ok((true, ch));
        }
        let conn = self.connect(job, target)?;
        let w = Waiter::new(conn.fd, Some(&job.cancel)).watch_alive(&target.conn);
        w.set_deadline(Some(target.conn.connect_timeout), "connect timeout");
        let ch = open_channel(&conn.sess, &w);
        let now = Instant::now();
        self.held = Some(Held {
            conn,
            last_used: now,
            last_keepalive: now,
            shared: self.shared.clone(),
        });
        match ch {
            Ok(ch) => Ok((false, ch)),
            Err(e) => {
                if e.class != ErrorClass::Cancelled {
                    self.held = None;
                }
                Err(e)
            }
        }
    }

    /// A channel on the held session; `Ok(None)` when there is none or it proved unusable
    /// (then dropped: the caller reconnects).
    fn held_channel(
        &mut self,
        job: &JobState,
        target: &Target,
    ) -> Result<Option<ssh2::Channel>, SshError> {
        let Some(h) = &self.held else {
            return Ok(None);
        };
        let w = Waiter::new(h.conn.fd, Some(&job.cancel)).watch_alive(&target.conn);
        w.set_deadline(Some(target.conn.connect_timeout), "connect timeout");
        match open_channel(&h.conn.sess, &w) {
            Ok(ch) => Ok(Some(ch)),
            Err(e) if e.class == ErrorClass::Cancelled => Err(e),
            Err(e) if e.class == ErrorClass::Timeout => {
                // The host stopped answering (frozen): reconnecting would wait again.
                self.held = None;
                Err(e)
            }
            Err(e) => {
                self.held = None;
                self.shared.log(
                    LogLevel::Debug,
                    format!(
                        "{}: held session unusable ({}); reconnecting",
                        target.name, e.message
                    ),
                );
                Ok(None)
            }
        }
    }

    /// A transport failure of `target` explained by its jump host's session breaking, if it
    /// did (the target's own error only says its stream ended).
    pub(super) fn behind_jump(&self, target: &Target, e: SshError) -> SshError {
        if e.class != ErrorClass::Protocol || target.jump.is_empty() {
            return e;
        }
        match self.shared.jumps.broke(&target.jump) {
            Some(b) => SshError::new(b.class, format!("{}; then {}", b.message, e.message)),
            None => e,
        }
    }

    /// Opens a new authenticated session to `target`, counted as opened and held.
    fn connect(&self, job: &JobState, target: &Target) -> Result<Connection, SshError> {
        let shared = &self.shared;
        let ctx = ConnectContext {
            known_hosts: &shared.config.known_hosts,
            policy: shared.config.host_key_policy,
            prompter: shared.config.prompter.as_ref(),
            auth_cache: &shared.auth_cache,
            accepted: &shared.accepted,
            home: shared.home.clone(),
            cancel: Some(&job.cancel),
        };
        let conn = connect_via(
            &target.name,
            &target.conn,
            &target.jump,
            &ctx,
            &shared.jumps,
            job.id,
            &mut || {
                shared.counters.tcp_connects.fetch_add(1, Ordering::Relaxed);
            },
        )?;
        for note in &conn.notes {
            shared.log(LogLevel::Info, note.clone());
        }
        shared
            .counters
            .sessions_opened
            .fetch_add(1, Ordering::Relaxed);
        shared
            .counters
            .sessions_held
            .fetch_add(1, Ordering::Relaxed);
        crate::ssh::alive::configure(&conn.sess, &target.conn, shared.config.keepalive);
        Ok(conn)
    }
}
