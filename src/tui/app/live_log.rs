//! The live log: bounded entries, the view's filters, earlier operations from the oplog.

use std::collections::VecDeque;
use std::sync::Arc;

use chrono::{DateTime, Local};

use crate::engine::LogLevel;
use crate::oplog::Record;

/// Most live-log entries kept.
pub const LOG_CAPACITY: usize = 10_000;

/// One line of the live log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    pub time: DateTime<Local>,
    pub level: LogLevel,
    pub host: Option<Arc<str>>,
    pub text: String,
}

/// The live log and how it is viewed.
#[derive(Debug, Clone)]
pub struct LogState {
    pub entries: VecDeque<LogEntry>,
    /// Lines up from the bottom; 0 follows.
    pub scroll: usize,
    pub min_level: LogLevel,
    pub host: Option<Arc<str>>,
}

impl LogState {
    /// An empty log that follows new entries and shows `info` and above.
    pub fn new() -> LogState {
        LogState {
            entries: VecDeque::new(),
            scroll: 0,
            min_level: LogLevel::Info,
            host: None,
        }
    }

    /// Appends an entry, dropping the oldest beyond [`LOG_CAPACITY`]; the scroll position is
    /// the caller's business.
    pub fn push(&mut self, entry: LogEntry) {
        if self.entries.len() >= LOG_CAPACITY {
            self.entries.pop_front();
        }
        self.entries.push_back(entry);
    }

    pub fn visible(&self) -> impl DoubleEndedIterator<Item = &LogEntry> + '_ {
        self.entries.iter().filter(move |e| {
            e.level >= self.min_level
                && self
                    .host
                    .as_ref()
                    .map_or(true, |h| e.host.as_ref() == Some(h))
        })
    }
}

impl Default for LogState {
    fn default() -> Self {
        LogState::new()
    }
}

/// A record of the operation log as a live-log entry at its own time.
pub fn oplog_entry(record: &Record) -> LogEntry {
    let (level, host, text) = match record {
        Record::JobStart(j) => (
            LogLevel::Info,
            None,
            format!(
                "[oplog] {} {} by {} on {} hosts ({})",
                j.kind,
                j.command
                    .as_deref()
                    .map_or(String::new(), |c| format!("\"{c}\"")),
                j.operator,
                j.hosts.len(),
                j.pattern
            ),
        ),
        Record::HostResult(h) => {
            let host: Arc<str> = Arc::from(h.host.as_str());
            if let Some(e) = &h.error {
                (
                    LogLevel::Error,
                    Some(host),
                    format!("[oplog] {}: {}: {}", h.host, e.class, e.message),
                )
            } else if h.succeeded() {
                (
                    LogLevel::Debug,
                    Some(host),
                    format!("[oplog] {}: ok", h.host),
                )
            } else {
                let how = h.exit_code.map_or_else(
                    || format!("SIG{}", h.signal.as_deref().unwrap_or("?")),
                    |c| format!("exit {c}"),
                );
                (
                    LogLevel::Error,
                    Some(host),
                    format!("[oplog] {}: {how}", h.host),
                )
            }
        }
        Record::JobEnd(e) => (
            if e.ok == e.hosts {
                LogLevel::Info
            } else {
                LogLevel::Warn
            },
            None,
            format!(
                "[oplog] job {} done: {} ok, {} non-zero, {} errors{}",
                e.job,
                e.ok,
                e.nonzero,
                e.errors,
                if e.cancelled { " (cancelled)" } else { "" }
            ),
        ),
    };
    LogEntry {
        time: record.time().with_timezone(&Local),
        level,
        host,
        text,
    }
}
