//! The current job as the console shows it: per-host state and panes, the gathered groups.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::engine::{ErrorClass, ExitStatus, JobId};
use crate::inventory::HostId;
use crate::tui::pane::Pane;

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
    /// A rolling run (`--batch …` before the command).
    pub rolling: Option<crate::contract::Rolling>,
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
