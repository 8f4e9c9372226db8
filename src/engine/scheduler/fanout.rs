//! The fanout limit: a counting semaphore per job, so that at most `fanout` of its hosts
//! connect or run at once while every host still has its own worker thread.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use crate::util::lock;

/// A counting semaphore bounding how many hosts of one job connect or run at once.
pub(crate) struct Fanout {
    max: usize,
    used: Mutex<usize>,
    cv: Condvar,
}

/// Releases a fanout slot when dropped.
pub(crate) struct Permit<'a>(&'a Fanout);

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        *lock(&self.0.used) -= 1;
        self.0.cv.notify_one();
    }
}

impl Fanout {
    pub(super) fn new(max: usize) -> Self {
        Fanout {
            max: max.max(1),
            used: Mutex::new(0),
            cv: Condvar::new(),
        }
    }

    /// Waits for a slot; `None` when `cancel` is set first.
    pub fn acquire<'a>(&'a self, cancel: &AtomicBool) -> Option<Permit<'a>> {
        let mut used = lock(&self.used);
        loop {
            if cancel.load(Ordering::Relaxed) {
                return None;
            }
            if *used < self.max {
                *used += 1;
                return Some(Permit(self));
            }
            used = self
                .cv
                .wait_timeout(used, Duration::from_millis(50))
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
    }

    /// Wakes every waiter, so that a cancel is seen at once rather than at the next poll.
    pub(super) fn wake_all(&self) {
        self.cv.notify_all();
    }
}
