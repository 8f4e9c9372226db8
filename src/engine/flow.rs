//! Back-pressure between the workers and whoever reads the events, and the per-host output cap.
//!
//! The event channel carries two kinds of events. Control events (`Connecting`, `Finished`,
//! `JobDone`, log lines…) number a few per host per job, so they are never held back. Output
//! events are what a remote host can flood: the bytes of output queued between the workers and
//! the reader are bounded by [`OUTPUT_QUEUE_BYTES`]. A worker whose output finds the queue full
//! keeps it in its [`OutputSink`], coalescing consecutive chunks of a stream into one event of
//! at most [`PENDING_BYTES`]; once that is full too it stops reading the channel (so SSH flow
//! control slows the remote command) and waits for the reader, checking the job's cancel flag
//! and deadline every [`CREDIT_WAIT_SLICE`]. A cancelled job's pending output is dropped, not
//! delivered: Ctrl-C never waits for a backlog.
//!
//! Bound of what one engine holds for its readers: `OUTPUT_QUEUE_BYTES` in the channel (plus
//! one event of at most `PENDING_BYTES` past it) and `2 × PENDING_BYTES` per running host.

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

use super::{Event, JobId, Stream};
use crate::util::lock;

/// Most bytes of output events queued for the reader at once (all hosts together).
pub const OUTPUT_QUEUE_BYTES: usize = 8 * 1024 * 1024;
/// Most bytes a worker keeps per stream while the queue is full (also the largest coalesced
/// output event).
pub const PENDING_BYTES: usize = 128 * 1024;
/// How often a worker waiting for queue room checks its job's cancel flag and deadline.
pub const CREDIT_WAIT_SLICE: Duration = Duration::from_millis(20);
/// The default cap of output kept per host per job (both streams together): 1 GiB.
pub const DEFAULT_MAX_OUTPUT: u64 = 1024 * 1024 * 1024;

/// Parses a size as `--max-output` and `max_output:` take it: a number with an optional unit.
/// `K`, `M`, `G`, `T` alone are binary (1024-based, as `head -c` reads them), so are `KiB`,
/// `MiB`…; `KB`, `MB`… are decimal. Zero is refused (nothing would be kept).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let digits = t.trim_end_matches(|c: char| c.is_ascii_alphabetic() || c == ' ');
    let unit = t[digits.len()..].trim();
    let unit = if unit.len() == 1 && "kmgtKMGT".contains(unit) {
        format!("{unit}i")
    } else {
        unit.to_string()
    };
    let bytes = format!("{digits}{unit}")
        .parse::<bytesize::ByteSize>()
        .map_err(|e| format!("bad size {text:?} (like 10M, 1G or 500KB): {e}"))?
        .as_u64();
    if bytes == 0 {
        return Err(format!("bad size {text:?}: must be more than 0 bytes"));
    }
    Ok(bytes)
}

/// `bytes` as people read it: `1.0 GiB`.
pub fn human_size(bytes: u64) -> String {
    bytesize::ByteSize(bytes).display().iec().to_string()
}

/// Bytes of output events sent but not yet received.
#[derive(Default)]
pub(crate) struct Credit {
    queued: Mutex<usize>,
    freed: Condvar,
}

impl Credit {
    /// Reserves room for `n` bytes; false when the queue is full. An empty queue always takes
    /// one event, so that an event larger than the bound cannot wait forever.
    fn try_take(&self, n: usize) -> bool {
        let mut q = lock(&self.queued);
        if *q > 0 && *q + n > OUTPUT_QUEUE_BYTES {
            return false;
        }
        *q += n;
        true
    }

    /// Waits at most `slice` for room to be freed.
    fn wait(&self, slice: Duration) {
        let q = lock(&self.queued);
        if *q == 0 {
            return;
        }
        let _ = self.freed.wait_timeout(q, slice);
    }

    fn release(&self, n: usize) {
        let mut q = lock(&self.queued);
        *q = q.saturating_sub(n);
        drop(q);
        self.freed.notify_all();
    }

    /// Bytes queued right now (for tests).
    pub fn queued(&self) -> usize {
        *lock(&self.queued)
    }
}

/// The sending half: control events go straight through, output goes through an
/// [`OutputSink`].
#[derive(Clone)]
pub(crate) struct EventSender {
    tx: UnboundedSender<Event>,
    pub credit: Arc<Credit>,
}

impl EventSender {
    /// Sends a control event; a dropped receiver is not an error (nobody is watching).
    pub fn send(&self, ev: Event) {
        let _ = self.tx.send(ev);
    }

    /// Sends an output event whose bytes were already reserved.
    fn send_reserved(&self, ev: Event, n: usize) {
        if self.tx.send(ev).is_err() {
            self.credit.release(n);
        }
    }
}

/// Receives engine events, usable from tokio (`.recv().await`, `.try_recv()`) or from plain
/// threads (`.blocking_recv()`). Receiving an output event makes room for more.
pub struct EventReceiver {
    rx: UnboundedReceiver<Event>,
    credit: Arc<Credit>,
}

impl EventReceiver {
    fn took(&self, ev: Event) -> Event {
        if let Event::Output { data, .. } = &ev {
            self.credit.release(data.len());
        }
        ev
    }

    /// The next event; `None` once the engine is gone.
    pub async fn recv(&mut self) -> Option<Event> {
        let ev = self.rx.recv().await?;
        Some(self.took(ev))
    }

    /// The next event, blocking the thread (never call it from async code).
    pub fn blocking_recv(&mut self) -> Option<Event> {
        let ev = self.rx.blocking_recv()?;
        Some(self.took(ev))
    }

    /// The next event if one is waiting.
    pub fn try_recv(&mut self) -> Result<Event, TryRecvError> {
        let ev = self.rx.try_recv()?;
        Ok(self.took(ev))
    }

    /// Bytes of output events waiting in the channel.
    pub fn queued_output_bytes(&self) -> usize {
        self.credit.queued()
    }
}

/// A new event channel with its shared output bound.
pub(crate) fn channel() -> (EventSender, EventReceiver) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let credit = Arc::new(Credit::default());
    (
        EventSender {
            tx,
            credit: credit.clone(),
        },
        EventReceiver { rx, credit },
    )
}

/// One host's output in one job on its way to the events: capped at `limit` bytes kept,
/// coalesced while the reader is behind.
pub(crate) struct OutputSink<'a> {
    tx: &'a EventSender,
    job: JobId,
    host: Arc<str>,
    /// Output not yet sent, stdout then stderr.
    pending: [Vec<u8>; 2],
    limit: u64,
    /// Bytes kept (sent or pending) so far.
    kept: u64,
    /// Bytes beyond `limit`: counted, neither kept nor sent.
    pub dropped: u64,
}

/// What [`OutputSink::push`] left of a chunk after the cap.
pub(crate) struct Kept<'d> {
    pub data: &'d [u8],
    /// True on the chunk that first crossed the cap.
    pub first_cut: bool,
}

impl<'a> OutputSink<'a> {
    pub fn new(tx: &'a EventSender, job: JobId, host: Arc<str>, limit: u64) -> Self {
        OutputSink {
            tx,
            job,
            host,
            pending: [Vec::new(), Vec::new()],
            limit,
            kept: 0,
            dropped: 0,
        }
    }

    /// Applies the cap to `data`: the part to keep (in the run folder and the events).
    pub fn cap<'d>(&mut self, data: &'d [u8]) -> Kept<'d> {
        let room = self.limit.saturating_sub(self.kept);
        let keep = usize::try_from(room).unwrap_or(usize::MAX).min(data.len());
        let was_whole = self.dropped == 0;
        self.kept += keep as u64;
        self.dropped += (data.len() - keep) as u64;
        Kept {
            data: &data[..keep],
            first_cut: was_whole && self.dropped > 0,
        }
    }

    /// Queues kept output for the events. Blocks while this host's pending output is full and
    /// the queue has no room, until `stop()` says the job is over (then pending output is
    /// dropped). An empty `data` only sends what is pending, if there is room.
    pub fn push(&mut self, stream: Stream, data: &[u8], stop: &dyn Fn() -> bool) {
        if stop() {
            // Cancelled or timed out: nothing more goes to the reader.
            self.discard();
            return;
        }
        let i = usize::from(stream == Stream::Stderr);
        self.pending[i].extend_from_slice(data);
        self.try_flush();
        while self.pending[i].len() > PENDING_BYTES {
            self.tx.credit.wait(CREDIT_WAIT_SLICE);
            // Checked between the wait and the send: a cancel while waiting sends nothing more.
            if stop() {
                self.discard();
                return;
            }
            self.try_flush();
        }
    }

    /// Sends pending output while the queue has room; true when nothing is left.
    fn try_flush(&mut self) -> bool {
        for (i, stream) in [Stream::Stdout, Stream::Stderr].into_iter().enumerate() {
            while !self.pending[i].is_empty() {
                let n = self.pending[i].len().min(PENDING_BYTES);
                if !self.tx.credit.try_take(n) {
                    return false;
                }
                let rest = self.pending[i].split_off(n);
                let data = std::mem::replace(&mut self.pending[i], rest);
                self.tx.send_reserved(
                    Event::Output {
                        job: self.job,
                        host: self.host.clone(),
                        stream,
                        data,
                    },
                    n,
                );
            }
        }
        true
    }

    /// Delivers everything pending before the host's end is reported; gives up (dropping it)
    /// when `stop()` says the job is over.
    pub fn finish(&mut self, stop: &dyn Fn() -> bool) {
        loop {
            if stop() {
                self.discard();
                return;
            }
            if self.try_flush() {
                return;
            }
            self.tx.credit.wait(CREDIT_WAIT_SLICE);
        }
    }

    /// Drops pending output (the job was cancelled or timed out).
    pub fn discard(&mut self) {
        self.pending = [Vec::new(), Vec::new()];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn output(ev: &Event) -> (Stream, usize) {
        match ev {
            Event::Output { stream, data, .. } => (*stream, data.len()),
            other => panic!("not output: {other:?}"),
        }
    }

    #[test]
    fn a_slow_reader_gets_coalesced_bounded_output() {
        let (tx, mut rx) = channel();
        let mut sink = OutputSink::new(&tx, 1, "h".into(), u64::MAX);
        let chunk = vec![b'x'; 16 * 1024];
        let never = || false;
        // Fill the queue to its bound without reading.
        let mut sent = 0usize;
        while sent < OUTPUT_QUEUE_BYTES {
            sink.push(Stream::Stdout, &chunk, &never);
            sent += chunk.len();
        }
        assert!(rx.queued_output_bytes() <= OUTPUT_QUEUE_BYTES);
        // Past the bound, chunks coalesce in the sink instead of queueing.
        for _ in 0..4 {
            sink.push(Stream::Stdout, &chunk, &never);
        }
        assert_eq!(sink.pending[0].len(), 4 * chunk.len());
        assert!(rx.queued_output_bytes() <= OUTPUT_QUEUE_BYTES);
        // Reading makes room; the pending bytes go out as one event.
        let mut got = 0usize;
        while got < OUTPUT_QUEUE_BYTES {
            got += output(&rx.try_recv().expect("queued")).1;
        }
        sink.finish(&never);
        assert_eq!(
            output(&rx.try_recv().expect("coalesced")),
            (Stream::Stdout, 4 * chunk.len())
        );
        assert_eq!(rx.queued_output_bytes(), 0);
    }

    #[test]
    fn a_blocked_worker_notices_stop_and_drops_its_backlog() {
        let (tx, rx) = channel();
        let mut sink = OutputSink::new(&tx, 1, "h".into(), u64::MAX);
        let big = vec![0u8; OUTPUT_QUEUE_BYTES];
        sink.push(Stream::Stderr, &big, &|| false);
        let started = std::time::Instant::now();
        let stop = || started.elapsed() > Duration::from_millis(100);
        // Queue full, pending over its bound: this blocks until stop() says so.
        sink.push(Stream::Stderr, &vec![0u8; PENDING_BYTES + 1], &stop);
        assert!(started.elapsed() < Duration::from_secs(1));
        assert!(sink.pending.iter().all(Vec::is_empty));
        assert_eq!(rx.queued_output_bytes(), OUTPUT_QUEUE_BYTES);
    }

    #[test]
    fn sizes_parse_binary_for_single_letters() {
        assert_eq!(parse_size("10M"), Ok(10 * 1024 * 1024));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("1g"), Ok(1 << 30));
        assert_eq!(parse_size("512"), Ok(512));
        assert_eq!(parse_size("500KB"), Ok(500_000));
        assert_eq!(parse_size("2 MiB"), Ok(2 << 20));
        assert!(parse_size("0").unwrap_err().contains("more than 0"));
        let e = parse_size("ten").unwrap_err();
        assert!(e.contains("\"ten\""), "{e}");
        assert!(parse_size("10Q").is_err());
        assert_eq!(human_size(1 << 30), "1.0 GiB");
    }

    #[test]
    fn the_cap_counts_what_it_drops() {
        let (tx, _rx) = channel();
        let mut sink = OutputSink::new(&tx, 1, "h".into(), 10);
        let k = sink.cap(b"123456");
        assert_eq!((k.data, k.first_cut), (&b"123456"[..], false));
        let k = sink.cap(b"7890abc");
        assert_eq!((k.data, k.first_cut), (&b"7890"[..], true));
        let k = sink.cap(b"def");
        assert_eq!((k.data, k.first_cut), (&b""[..], false));
        assert_eq!(sink.dropped, 6);
    }
}
