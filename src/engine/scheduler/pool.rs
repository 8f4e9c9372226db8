//! The pool of worker threads. A host with work gets a thread only while it has work: an idle
//! thread promised to it, the thread that just freed a fanout slot, or a new one; a thread
//! with nothing to do waits a little for the next host, then ends. So held sessions cost no
//! thread, and a warm job on many hosts starts no thread per host.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use super::Shared;
use crate::engine::worker::{self, Assignment};
use crate::util::lock;

/// How long a thread without a host waits for one before it ends (at most).
const THREAD_LINGER: Duration = Duration::from_secs(5);

enum PoolMsg {
    Run(Assignment),
    Shutdown,
}

pub(super) struct Pool {
    tx: Sender<PoolMsg>,
    rx: Receiver<PoolMsg>,
    /// Threads waiting for a host and not yet promised one.
    idle: AtomicUsize,
    joins: Mutex<Vec<JoinHandle<()>>>,
}

impl Pool {
    pub fn new() -> Pool {
        let (tx, rx) = crossbeam_channel::unbounded();
        Pool {
            tx,
            rx,
            idle: AtomicUsize::new(0),
            joins: Mutex::new(Vec::new()),
        }
    }

    /// Promises one waiting thread, if any is not promised yet.
    fn reserve(&self) -> bool {
        self.idle
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .is_ok()
    }

    /// Runs `a` on an idle thread, else on a new one. Gives `a` back when no thread can start.
    pub fn run(
        &self,
        shared: &Arc<Shared>,
        a: Assignment,
    ) -> Result<(), (std::io::Error, Assignment)> {
        if self.reserve() {
            // The pool holds its own receiver: the channel never disconnects.
            let _ = self.tx.send(PoolMsg::Run(a));
            return Ok(());
        }
        let first = Arc::new(Mutex::new(Some(a)));
        match worker::spawn(shared.clone(), first.clone()) {
            Ok(join) => {
                let mut joins = lock(&self.joins);
                joins.retain(|j| !j.is_finished());
                joins.push(join);
                Ok(())
            }
            Err(e) => match lock(&first).take() {
                Some(a) => Err((e, a)),
                None => Ok(()),
            },
        }
    }

    /// Ends every thread (after its current work) and joins them.
    pub fn stop(&self, live: usize) {
        for _ in 0..live {
            let _ = self.tx.send(PoolMsg::Shutdown);
        }
        let joins: Vec<JoinHandle<()>> = lock(&self.joins).drain(..).collect();
        for j in joins {
            let _ = j.join();
        }
    }
}

impl Shared {
    /// Called by a free worker thread: the next host it is handed, or `None` when it should
    /// end (nothing came for a while, or the engine shuts down).
    pub(crate) fn pool_wait(&self) -> Option<Assignment> {
        let linger = self
            .config
            .idle_timeout
            .clamp(Duration::from_millis(10), THREAD_LINGER);
        let pool = &self.pool;
        pool.idle.fetch_add(1, Ordering::AcqRel);
        loop {
            match pool.rx.recv_timeout(linger) {
                Ok(PoolMsg::Run(a)) => return Some(a),
                Ok(PoolMsg::Shutdown) | Err(RecvTimeoutError::Disconnected) => {
                    pool.reserve();
                    return None;
                }
                // Promised meanwhile: the host is on its way.
                Err(RecvTimeoutError::Timeout) if !pool.reserve() => {}
                Err(RecvTimeoutError::Timeout) => return None,
            }
        }
    }
}
