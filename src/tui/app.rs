//! The console's whole state: one `App` value. `update` changes it, `draw` reads it.

//!
//! The parts live by concern in `app/`: the job and its hosts (`job`), the live log
//! (`live_log`), flags and config (`settings`); their types are re-exported here.

mod job;
mod live_log;
pub mod search;
mod settings;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Local};
use ratatui::layout::Rect;

pub use self::job::{GatherGroup, HostState, HostView, JobView};
pub use self::live_log::{LogEntry, LogState, LOG_CAPACITY};
pub use self::settings::{Settings, DEFAULT_CONFIRM_ABOVE, DEFAULT_DANGEROUS};
use super::cmdline::CmdLine;
use super::dialog::Dialog;
use super::pane::Pane;
use super::theme::Theme;
use super::tree::Tree;
use crate::engine::LogLevel;
use crate::inventory::{HostId, Inventory};

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
    /// `d`: the largest group in full, every other group as a diff against it.
    Diff,
}

impl View {
    /// Outputs folded into groups (gathered or diff), not one pane per host.
    pub fn is_folded(self) -> bool {
        matches!(self, View::Gathered | View::Diff)
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
    /// `/` in the output area: the search through every pane's kept output.
    pub search: search::Search,
    pub gathered: Vec<GatherGroup>,
    pub gathered_dirty: bool,
    /// When the gathered view was last folded.
    pub gathered_at: Option<Instant>,
    /// Per host: (pane version, content hash) of the last fold.
    pub hash_cache: Vec<Option<(u64, u64)>>,
    /// Random hash keys, so that remote output cannot be crafted to collide.
    pub hash_state: std::collections::hash_map::RandomState,
    pub gathered_scroll: usize,
    /// The diff view: per group after the first, its diff against the first (largest).
    pub diffs: Vec<Vec<crate::output::diff::DiffLine>>,
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
    /// The operation log the job history (`J`) reads; `None` in tests that give none.
    pub oplog_path: Option<std::path::PathBuf>,
    /// `B`: the broadcast shells of the current job (`None` for other jobs).
    pub shell: Option<super::shell::Shells>,
    /// `fleetdeck shell PATTERN`: the runtime opens broadcast shells on the selected hosts
    /// once it knows the terminal's size.
    pub start_broadcast: bool,
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
            search: search::Search::default(),
            gathered: Vec::new(),
            gathered_dirty: false,
            gathered_at: None,
            hash_cache: Vec::new(),
            hash_state: std::collections::hash_map::RandomState::new(),
            gathered_scroll: 0,
            diffs: Vec::new(),
            cmdline: CmdLine::default(),
            sudo: false,
            log: LogState::new(),
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
            oplog_path: None,
            shell: None,
            start_broadcast: false,
        }
    }

    /// True while a job is submitted and not done.
    /// A new job on `hosts` becomes the current one (its id comes with `JobSubmitted`): its
    /// hosts are queued with empty panes, the panes start again from the first, unzoomed, the
    /// gathered view to be folded anew.
    pub fn begin_job(&mut self, command: String, hosts: Vec<crate::inventory::HostId>) {
        for &h in &hosts {
            let v = &mut self.hosts[h];
            v.state = HostState::Queued;
            v.exit = None;
            v.error = None;
            v.duration = None;
            v.started = None;
            v.pane = super::pane::Pane::new(self.settings.tail_lines);
        }
        self.job = Some(JobView {
            id: None,
            command,
            hosts,
            started: self.clock.now,
            run_dir: None,
            done: false,
            duration: None,
            cancel_requested: false,
            rolling: None,
        });
        self.pane_cursor = 0;
        self.zoom = None;
        self.search = search::Search::default();
        self.shell = None;
        self.gathered.clear();
        self.gathered_dirty = true;
    }

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
            .filter(|h| !self.search.narrow || self.search.hosts.contains(h))
            .collect()
    }

    /// The host the output keys act on: the zoomed one, else the chosen pane.
    pub fn current_host(&self) -> Option<HostId> {
        self.zoom
            .or_else(|| self.pane_hosts().get(self.pane_cursor).copied())
    }

    pub fn push_log(&mut self, level: LogLevel, host: Option<Arc<str>>, text: String) {
        self.log.push(LogEntry {
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
        let start = records.len().saturating_sub(max);
        for r in &records[start..] {
            self.log.push(live_log::oplog_entry(r));
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
