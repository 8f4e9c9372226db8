//! The console's whole state: one `App` value. `update` changes it, `draw` reads it.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Local};
use ratatui::layout::Rect;
use regex::Regex;

use super::cmdline::CmdLine;
use super::dialog::Dialog;
use super::pane::{Pane, DEFAULT_TAIL_LINES};
use super::theme::Theme;
use super::tree::Tree;
use crate::engine::{ErrorClass, ExitStatus, HostKeyPolicy, JobId, LogLevel, DEFAULT_FANOUT};
use crate::inventory::{HostId, Inventory};

/// Most live-log entries kept.
pub const LOG_CAPACITY: usize = 10_000;

/// Commands that ask for confirmation whatever the host count (regexes).
pub const DEFAULT_DANGEROUS: &[&str] = &[
    r"\brm\s+(-\S*\s+)*-\S*[rR]\S*f|\brm\s+(-\S*\s+)*-\S*f\S*[rR]|\brm\s+.*--recursive",
    r"\breboot\b",
    r"\bshutdown\b",
    r"\bhalt\b",
    r"\bpoweroff\b",
    r"\binit\s+[06]\b",
    r"\bmkfs",
    r"\bdd\b.*\bof=/dev/",
    r"\bsystemctl\s+(stop|restart|disable|poweroff|reboot|halt)\b",
    r"\bkill(all)?\s+-9\b",
    r">\s*/dev/sd",
];

/// Ask before running on more hosts than this.
pub const DEFAULT_CONFIRM_ABOVE: usize = 20;

/// Which part of the screen keys go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    Tree,
    Output,
    Log,
    Cmdline,
}

impl Focus {
    pub const ORDER: [Focus; 4] = [Focus::Tree, Focus::Output, Focus::Log, Focus::Cmdline];
}

/// What the output area shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Panes,
    Gathered,
}

/// A host's state in the current (or last) job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostState {
    Idle,
    Queued,
    Connecting,
    Running,
    Ok,
    Failed,
    Unreachable,
    Cancelled,
}

impl HostState {
    /// Symbols differ by shape, not only by color (NO_COLOR, color blindness).
    pub fn symbol(self) -> &'static str {
        match self {
            HostState::Idle => "·",
            HostState::Queued => "○",
            HostState::Connecting => "◌",
            HostState::Running => "●",
            HostState::Ok => "✓",
            HostState::Failed => "✗",
            HostState::Unreachable => "⊘",
            HostState::Cancelled => "⊖",
        }
    }

    pub fn word(self) -> &'static str {
        match self {
            HostState::Idle => "idle",
            HostState::Queued => "queued",
            HostState::Connecting => "connecting",
            HostState::Running => "running",
            HostState::Ok => "ok",
            HostState::Failed => "failed",
            HostState::Unreachable => "unreachable",
            HostState::Cancelled => "cancelled",
        }
    }

    pub fn is_active(self) -> bool {
        matches!(
            self,
            HostState::Queued | HostState::Connecting | HostState::Running
        )
    }

    pub fn is_failure(self) -> bool {
        matches!(
            self,
            HostState::Failed | HostState::Unreachable | HostState::Cancelled
        )
    }
}

/// One host as the console shows it.
#[derive(Debug)]
pub struct HostView {
    pub name: Arc<str>,
    pub state: HostState,
    pub exit: Option<ExitStatus>,
    pub error: Option<(ErrorClass, String)>,
    pub duration: Option<Duration>,
    /// When work started on the host (for a live duration).
    pub started: Option<Instant>,
    pub pane: Pane,
}

/// The current or last job.
#[derive(Debug, Clone)]
pub struct JobView {
    /// `None` between submitting and the engine's answer.
    pub id: Option<JobId>,
    pub command: String,
    pub hosts: Vec<HostId>,
    pub started: Instant,
    pub run_dir: Option<PathBuf>,
    pub done: bool,
    pub duration: Option<Duration>,
    pub cancel_requested: bool,
}

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

/// One group of hosts with identical output in the gathered view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatherGroup {
    pub hosts: Vec<HostId>,
    /// The hosts as a compact set, e.g. `web[01-24],db3`.
    pub label: String,
    /// The host whose pane shows the group's output.
    pub rep: HostId,
}

/// Settings from flags and the config file.
#[derive(Debug, Clone)]
pub struct Settings {
    pub fanout: usize,
    pub tail_lines: usize,
    pub confirm_above: usize,
    pub dangerous: Vec<Regex>,
    pub host_key_policy: HostKeyPolicy,
    pub known_hosts: Vec<PathBuf>,
    /// Allocate a pty for commands (merges stderr into stdout, but cancelling hangs up the
    /// remote process).
    pub pty: bool,
    pub command_timeout: Option<Duration>,
    /// The user `S` (sudo toggle) runs commands as.
    pub sudo_user: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            fanout: DEFAULT_FANOUT,
            tail_lines: DEFAULT_TAIL_LINES,
            confirm_above: DEFAULT_CONFIRM_ABOVE,
            dangerous: DEFAULT_DANGEROUS
                .iter()
                .map(|p| Regex::new(p).expect("built-in pattern is valid"))
                .collect(),
            host_key_policy: HostKeyPolicy::default(),
            known_hosts: Vec::new(),
            pty: false,
            command_timeout: None,
            sudo_user: "root".into(),
        }
    }
}

/// The clock as `update` sees it (set by the runtime; fixed in tests).
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    pub now: Instant,
    pub wall: DateTime<Local>,
}

impl Clock {
    pub fn real() -> Clock {
        Clock {
            now: Instant::now(),
            wall: Local::now(),
        }
    }
}

/// The whole console.
#[derive(Debug)]
pub struct App {
    pub inventory: Inventory,
    pub by_name: HashMap<Arc<str>, HostId>,
    pub tree: Tree,
    pub hosts: Vec<HostView>,
    pub focus: Focus,
    pub view: View,
    pub zoom: Option<HostId>,
    /// Index into [`App::pane_hosts`] of the chosen pane.
    pub pane_cursor: usize,
    pub failed_only: bool,
    pub gathered: Vec<GatherGroup>,
    pub gathered_dirty: bool,
    /// When the gathered view was last folded.
    pub gathered_at: Option<Instant>,
    /// Per host: (pane version, content hash) of the last fold.
    pub hash_cache: Vec<Option<(u64, u64)>>,
    /// Random hash keys, so that remote output cannot be crafted to collide.
    pub hash_state: std::collections::hash_map::RandomState,
    pub gathered_scroll: usize,
    pub cmdline: CmdLine,
    /// `S`: commands from the command line run through sudo as `settings.sudo_user`.
    pub sudo: bool,
    pub log: LogState,
    /// The open dialog; more wait in `queued_dialogs` (engine questions come in bursts).
    pub dialog: Option<Dialog>,
    pub queued_dialogs: VecDeque<Dialog>,
    pub job: Option<JobView>,
    /// Hosts that failed in the last finished job.
    pub last_failed: Vec<HostId>,
    pub theme: Theme,
    /// Themes `t` cycles through.
    pub themes: Vec<Theme>,
    pub theme_index: usize,
    pub settings: Settings,
    pub status: Option<(LogLevel, String)>,
    /// Terminal size.
    pub area: Rect,
    pub clock: Clock,
    pub should_quit: bool,
}

impl App {
    pub fn new(inventory: Inventory, settings: Settings, theme: Theme) -> App {
        let by_name = inventory
            .hosts
            .iter()
            .enumerate()
            .map(|(i, h)| (Arc::<str>::from(h.name.as_str()), i))
            .collect();
        let hosts = inventory
            .hosts
            .iter()
            .map(|h| HostView {
                name: Arc::from(h.name.as_str()),
                state: HostState::Idle,
                exit: None,
                error: None,
                duration: None,
                started: None,
                pane: Pane::new(settings.tail_lines),
            })
            .collect();
        let mono = theme.mono;
        let mut themes: Vec<Theme> = super::theme::BUILTIN
            .iter()
            .filter_map(|(name, _)| Theme::load(name).ok())
            .map(|t| if mono { t.monochrome() } else { t })
            .collect();
        let theme_index = if let Some(i) = themes.iter().position(|t| t == &theme) {
            i
        } else {
            themes.push(theme.clone());
            themes.len() - 1
        };
        App {
            tree: Tree::new(&inventory),
            inventory,
            by_name,
            hosts,
            focus: Focus::Tree,
            view: View::Panes,
            zoom: None,
            pane_cursor: 0,
            failed_only: false,
            gathered: Vec::new(),
            gathered_dirty: false,
            gathered_at: None,
            hash_cache: Vec::new(),
            hash_state: std::collections::hash_map::RandomState::new(),
            gathered_scroll: 0,
            cmdline: CmdLine::default(),
            sudo: false,
            log: LogState {
                entries: VecDeque::new(),
                scroll: 0,
                min_level: LogLevel::Info,
                host: None,
            },
            dialog: None,
            queued_dialogs: VecDeque::new(),
            job: None,
            last_failed: Vec::new(),
            theme,
            themes,
            theme_index,
            settings,
            status: None,
            area: Rect::new(0, 0, 80, 24),
            clock: Clock::real(),
            should_quit: false,
        }
    }

    /// True while a job is submitted and not done.
    pub fn job_running(&self) -> bool {
        self.job.as_ref().is_some_and(|j| !j.done)
    }

    /// The hosts whose panes the output area shows, in order.
    pub fn pane_hosts(&self) -> Vec<HostId> {
        let Some(job) = &self.job else {
            return Vec::new();
        };
        job.hosts
            .iter()
            .copied()
            .filter(|&h| !self.failed_only || self.hosts[h].state.is_failure())
            .collect()
    }

    /// The host the output keys act on: the zoomed one, else the chosen pane.
    pub fn current_host(&self) -> Option<HostId> {
        self.zoom
            .or_else(|| self.pane_hosts().get(self.pane_cursor).copied())
    }

    pub fn push_log(&mut self, level: LogLevel, host: Option<Arc<str>>, text: String) {
        if self.log.entries.len() >= LOG_CAPACITY {
            self.log.entries.pop_front();
        }
        self.log.entries.push_back(LogEntry {
            time: self.clock.wall,
            level,
            host,
            text,
        });
        if self.log.scroll > 0 {
            self.log.scroll += 1;
        }
    }

    /// Shows the last `max` records of the operation log (earlier sessions, other processes)
    /// in the live log, at their own times.
    pub fn add_oplog_records(&mut self, records: &[crate::oplog::Record], max: usize) {
        use crate::oplog::Record;
        let start = records.len().saturating_sub(max);
        for r in &records[start..] {
            let time = r.time().with_timezone(&Local);
            let (level, host, text) = match r {
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
            if self.log.entries.len() >= LOG_CAPACITY {
                self.log.entries.pop_front();
            }
            self.log.entries.push_back(LogEntry {
                time,
                level,
                host,
                text,
            });
        }
    }

    pub fn set_status(&mut self, level: LogLevel, text: impl Into<String>) {
        self.status = Some((level, text.into()));
    }

    /// Opens a dialog, or queues it behind the one already open.
    pub fn open_dialog(&mut self, dialog: Dialog) {
        if self.dialog.is_none() {
            self.dialog = Some(dialog);
        } else {
            self.queued_dialogs.push_back(dialog);
        }
    }

    /// Closes the open dialog and shows the next queued one.
    pub fn close_dialog(&mut self) {
        self.dialog = self.queued_dialogs.pop_front();
    }

    /// Counts of host states in the current job: (ok, failed, running, total).
    pub fn job_counts(&self) -> (usize, usize, usize, usize) {
        let Some(job) = &self.job else {
            return (0, 0, 0, 0);
        };
        let mut ok = 0;
        let mut failed = 0;
        let mut active = 0;
        for &h in &job.hosts {
            match self.hosts[h].state {
                HostState::Ok => ok += 1,
                s if s.is_failure() => failed += 1,
                s if s.is_active() => active += 1,
                _ => {}
            }
        }
        (ok, failed, active, job.hosts.len())
    }
}
