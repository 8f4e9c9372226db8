//! The fanout limit as a queue: a job's hosts wait as a cursor over its targets, and at most
//! `fanout` of them are handed to workers at once. A waiting host costs nothing (no thread,
//! no wake-up); submitting costs O(1) per host; a finished host hands its slot to the next.

use std::ops::Range;
use std::sync::Mutex;

use crate::util::lock;

/// The hosts of one job that run now (at most `max`) and the cursor of those still waiting.
pub(crate) struct Fanout {
    max: usize,
    state: Mutex<Slots>,
}

struct Slots {
    /// Hosts handed to a worker and not yet done.
    active: usize,
    /// The next target index to hand out; targets from here on are queued.
    next: usize,
    /// The number of targets.
    len: usize,
    /// Rolling runs: hosts from here on wait for the next batch (`len` otherwise).
    batch_end: usize,
}

impl Fanout {
    pub(super) fn new(max: usize, len: usize) -> Self {
        Fanout::batched(max, len, len)
    }

    /// A rolling run: only the first `batch` targets may run until [`Fanout::next_batch`].
    pub(super) fn batched(max: usize, len: usize, batch: usize) -> Self {
        Fanout {
            max: max.max(1),
            state: Mutex::new(Slots {
                active: 0,
                next: 0,
                len,
                batch_end: batch.clamp(1, len.max(1)).min(len),
            }),
        }
    }

    /// True when the current batch is over (nothing runs, nothing of it waits) and hosts of a
    /// later batch wait.
    #[cfg(test)]
    pub(super) fn between_batches(&self) -> bool {
        let s = lock(&self.state);
        s.active == 0 && s.next == s.batch_end && s.next < s.len
    }

    /// Opens the next `batch` targets; false when none was waiting.
    pub(super) fn next_batch(&self, batch: usize) -> bool {
        let mut s = lock(&self.state);
        if s.next != s.batch_end || s.next >= s.len {
            return false;
        }
        s.batch_end = (s.batch_end + batch.max(1)).min(s.len);
        true
    }

    /// Takes a slot for the next queued host, if a slot is free and a host waits.
    pub(super) fn admit(&self) -> Option<usize> {
        let mut s = lock(&self.state);
        if s.active >= s.len.min(self.max) || s.next >= s.batch_end {
            return None;
        }
        s.active += 1;
        s.next += 1;
        Some(s.next - 1)
    }

    /// A host is done with its slot. True for the one release that ended a batch of a
    /// rolling run while hosts of a later batch wait (see [`Fanout::between_batches`]).
    pub(super) fn release(&self) -> bool {
        let mut s = lock(&self.state);
        let was = s.active;
        s.active = s.active.saturating_sub(1);
        was == 1 && s.active == 0 && s.next == s.batch_end && s.next < s.len
    }

    /// Removes every queued host (they will not run), returning their target indices.
    pub(super) fn drain(&self) -> Range<usize> {
        let mut s = lock(&self.state);
        let queued = s.next..s.len;
        s.next = s.len;
        s.batch_end = s.len;
        queued
    }

    /// `(running, queued)` hosts.
    #[cfg(test)]
    pub(super) fn counts(&self) -> (usize, usize) {
        let s = lock(&self.state);
        (s.active, s.len - s.next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_fanout_hosts_run_and_the_queue_keeps_target_order() {
        let f = Fanout::new(3, 10);
        let first: Vec<usize> = std::iter::from_fn(|| f.admit()).collect();
        assert_eq!(first, [0, 1, 2]);
        assert_eq!(f.counts(), (3, 7));
        assert_eq!(f.admit(), None, "no fourth slot");
        f.release();
        assert_eq!(f.admit(), Some(3));
        assert_eq!(f.admit(), None);
        f.release();
        f.release();
        assert_eq!(f.admit(), Some(4));
        assert_eq!(f.admit(), Some(5));
        assert_eq!(f.counts(), (3, 4));
    }

    #[test]
    fn draining_takes_every_queued_host_once() {
        let f = Fanout::new(2, 5);
        assert_eq!((f.admit(), f.admit()), (Some(0), Some(1)));
        assert_eq!(f.drain(), 2..5);
        assert_eq!(f.drain(), 5..5, "a second cancel finds nothing queued");
        f.release();
        assert_eq!(f.admit(), None, "drained hosts never run");
        assert_eq!(f.counts(), (1, 0));
    }

    #[test]
    fn batches_wait_for_the_previous_one_to_end() {
        let f = Fanout::batched(10, 5, 2);
        assert_eq!((f.admit(), f.admit(), f.admit()), (Some(0), Some(1), None));
        f.release();
        assert!(!f.between_batches(), "one host of the batch still runs");
        f.release();
        assert!(f.between_batches());
        assert!(f.next_batch(2));
        assert!(!f.next_batch(2), "opened once");
        assert_eq!((f.admit(), f.admit(), f.admit()), (Some(2), Some(3), None));
        f.release();
        f.release();
        assert!(f.next_batch(2));
        assert_eq!((f.admit(), f.admit()), (Some(4), None));
        f.release();
        assert!(!f.between_batches(), "nothing waits");
        assert_eq!(Fanout::batched(4, 3, 2).drain(), 0..3);
    }

    #[test]
    fn zero_fanout_still_runs_one_host_at_a_time() {
        let f = Fanout::new(0, 2);
        assert_eq!(f.admit(), Some(0));
        assert_eq!(f.admit(), None);
        f.release();
        assert_eq!(f.admit(), Some(1));
        assert_eq!(Fanout::new(4, 0).admit(), None);
    }
}
