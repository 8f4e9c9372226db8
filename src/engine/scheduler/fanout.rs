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
}

impl Fanout {
    pub(super) fn new(max: usize, len: usize) -> Self {
        Fanout {
            max: max.max(1),
            state: Mutex::new(Slots {
                active: 0,
                next: 0,
                len,
            }),
        }
    }

    /// Takes a slot for the next queued host, if a slot is free and a host waits.
    pub(super) fn admit(&self) -> Option<usize> {
        let mut s = lock(&self.state);
        if s.active >= s.len.min(self.max) || s.next >= s.len {
            return None;
        }
        s.active += 1;
        s.next += 1;
        Some(s.next - 1)
    }

    /// A host is done with its slot.
    pub(super) fn release(&self) {
        let mut s = lock(&self.state);
        s.active = s.active.saturating_sub(1);
    }

    /// Removes every queued host (they will not run), returning their target indices.
    pub(super) fn drain(&self) -> Range<usize> {
        let mut s = lock(&self.state);
        let queued = s.next..s.len;
        s.next = s.len;
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
    fn zero_fanout_still_runs_one_host_at_a_time() {
        let f = Fanout::new(0, 2);
        assert_eq!(f.admit(), Some(0));
        assert_eq!(f.admit(), None);
        f.release();
        assert_eq!(f.admit(), Some(1));
        assert_eq!(Fanout::new(4, 0).admit(), None);
    }
}
