//! The transfer dialog (`F5`): send local files to, or fetch remote files from, the selected
//! hosts. A form (direction, local path with Tab completion and a list of matching entries,
//! remote path, options, the targets), then per-host progress bars with rate and ETA and a
//! total bar while the job runs. Results land in the panes and the live log like any job.
//!
//! State and key handling are pure (driven by `update`), drawing only reads.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use ratatui::Frame;

use crate::contract::{Choice, DownloadSpec, Naming, Overwrite, UploadSpec};
use crate::engine::{JobId, JobKind, JobSpec, LogLevel, Stream};
use crate::face::progress::{self, HostProgress};
use crate::inventory::HostId;

use super::action::{Cmd, Effect};
use super::app::{App, HostState, JobView};
use super::dialog::Dialog;
use super::pane::Pane;

/// Most completion candidates listed under the local path.
const MAX_CANDIDATES: usize = 6;

/// Send (upload) or fetch (download).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Send,
    Fetch,
}

/// The form's fields, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Direction,
    Local,
    Remote,
    Recursive,
    KeepPerms,
    Verify,
    Overwrite,
    Naming,
}

const FIELDS: [Field; 8] = [
    Field::Direction,
    Field::Local,
    Field::Remote,
    Field::Recursive,
    Field::KeepPerms,
    Field::Verify,
    Field::Overwrite,
    Field::Naming,
];

/// Where the dialog is: filling the form, or watching the job it started.
#[derive(Debug, Clone)]
pub enum Stage {
    Form,
    Running {
        /// `None` until the engine accepted the job.
        job: Option<JobId>,
        started: Instant,
        progress: Vec<HostProgress>,
        done: bool,
    },
}

/// The dialog's state.
#[derive(Debug, Clone)]
pub struct TransferDialog {
    pub direction: Direction,
    pub field: Field,
    pub local: String,
    pub remote: String,
    pub recursive: bool,
    pub keep_perms: bool,
    pub verify: bool,
    pub overwrite: Overwrite,
    pub naming: Naming,
    pub hosts: Vec<HostId>,
    pub host_names: Vec<Arc<str>>,
    /// Local entries matching the path typed so far (shown after Tab).
    pub candidates: Vec<String>,
    pub error: Option<String>,
    pub stage: Stage,
}

impl TransferDialog {
    pub fn new(hosts: Vec<HostId>, host_names: Vec<Arc<str>>) -> TransferDialog {
        TransferDialog {
            direction: Direction::Send,
            field: Field::Local,
            local: String::new(),
            remote: String::new(),
            recursive: false,
            keep_perms: false,
            verify: false,
            overwrite: Overwrite::Always,
            naming: Naming::Subdir,
            hosts,
            host_names,
            candidates: Vec::new(),
            error: None,
            stage: Stage::Form,
        }
    }

    fn text_field(&mut self) -> Option<&mut String> {
        match self.field {
            Field::Local => Some(&mut self.local),
            Field::Remote => Some(&mut self.remote),
            _ => None,
        }
    }

    fn move_field(&mut self, forward: bool) {
        let i = FIELDS.iter().position(|f| *f == self.field).unwrap_or(0);
        let n = FIELDS.len();
        let next = if forward {
            (i + 1) % n
        } else {
            (i + n - 1) % n
        };
        self.field = FIELDS[next];
        self.candidates.clear();
    }

    /// Changes the value of an option field (Space, ←, →).
    fn change(&mut self, forward: bool) {
        match self.field {
            Field::Direction => {
                self.direction = match self.direction {
                    Direction::Send => Direction::Fetch,
                    Direction::Fetch => Direction::Send,
                };
            }
            Field::Recursive => self.recursive = !self.recursive,
            Field::KeepPerms => self.keep_perms = !self.keep_perms,
            Field::Verify => self.verify = !self.verify,
            Field::Overwrite => {
                let all = [Overwrite::Always, Overwrite::Never, Overwrite::IfDifferent];
                let i = all.iter().position(|o| *o == self.overwrite).unwrap_or(0);
                self.overwrite = all[if forward { (i + 1) % 3 } else { (i + 2) % 3 }];
            }
            Field::Naming => {
                self.naming = match self.naming {
                    Naming::Subdir => Naming::Suffix,
                    Naming::Suffix => Naming::Subdir,
                };
            }
            Field::Local | Field::Remote => {}
        }
    }

    /// Builds the job from the form, or says what is wrong.
    pub fn job_kind(&self) -> Result<JobKind, String> {
        if self.hosts.is_empty() {
            return Err("no host selected: close, select hosts (Space, s), then F5".into());
        }
        let local = expand_home(self.local.trim());
        let remote = self.remote.trim().to_string();
        if self.local.trim().is_empty() {
            return Err("the local path is empty".into());
        }
        if remote.is_empty() {
            return Err("the remote path is empty".into());
        }
        match self.direction {
            Direction::Send => {
                let md =
                    std::fs::metadata(&local).map_err(|e| format!("{}: {e}", local.display()))?;
                if md.is_dir() && !self.recursive {
                    return Err(format!(
                        "{} is a directory: turn on recursive",
                        local.display()
                    ));
                }
                Ok(JobKind::Upload(UploadSpec {
                    sources: vec![local],
                    remote,
                    recursive: self.recursive,
                    keep_perms: self.keep_perms,
                    overwrite: self.overwrite,
                    verify: self.verify,
                }))
            }
            Direction::Fetch => {
                if local.exists() && !local.is_dir() {
                    return Err(format!("{} is not a directory", local.display()));
                }
                Ok(JobKind::Download(DownloadSpec {
                    remote,
                    dest: local,
                    recursive: self.recursive,
                    keep_perms: self.keep_perms,
                    naming: self.naming,
                    verify: self.verify,
                }))
            }
        }
    }

    /// A one-line description for the job header and the log.
    pub fn describe(&self) -> String {
        match self.direction {
            Direction::Send => format!("send {} → {}", self.local.trim(), self.remote.trim()),
            Direction::Fetch => format!("fetch {} → {}", self.remote.trim(), self.local.trim()),
        }
    }
}

/// `~/x` → `$HOME/x`.
fn expand_home(path: &str) -> PathBuf {
    if path == "~" {
        return dirs::home_dir().unwrap_or_default();
    }
    if let Some(rest) = path.strip_prefix("~/") {
        if let Some(home) = dirs::home_dir() {
            return home.join(rest);
        }
    }
    PathBuf::from(path)
}

/// Completes the last component of a local path: the longest common prefix of the matching
/// entries (with `/` after a lone directory), and the matching names (directories end with
/// `/`). Hidden entries only when the typed name starts with `.`.
pub fn complete_local(input: &str) -> (String, Vec<String>) {
    let (dir_part, name) = match input.rfind('/') {
        Some(i) => (&input[..=i], &input[i + 1..]),
        None => ("", input),
    };
    let dir = if dir_part.is_empty() {
        PathBuf::from(".")
    } else {
        expand_home(dir_part)
    };
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return (input.to_string(), Vec::new());
    };
    let mut matches: Vec<String> = entries
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().into_string().ok()?;
            if !n.starts_with(name) || (n.starts_with('.') && !name.starts_with('.')) {
                return None;
            }
            let is_dir = std::fs::metadata(e.path()).is_ok_and(|m| m.is_dir());
            Some(if is_dir { format!("{n}/") } else { n })
        })
        .collect();
    matches.sort();
    let Some(first) = matches.first() else {
        return (input.to_string(), Vec::new());
    };
    let mut common = first.clone();
    for m in &matches[1..] {
        let len = common
            .chars()
            .zip(m.chars())
            .take_while(|(a, b)| a == b)
            .map(|(a, _)| a.len_utf8())
            .sum();
        common.truncate(len);
    }
    if matches.len() > 1 {
        common = common.trim_end_matches('/').to_string();
        if common.len() < name.len() {
            common = name.to_string();
        }
    }
    (format!("{dir_part}{common}"), matches)
}

/// Opens the dialog for the hosts selected in the tree (`F5`).
pub fn open(app: &mut App) {
    let hosts = app.tree.selected_hosts();
    let names = hosts.iter().map(|&h| app.hosts[h].name.clone()).collect();
    app.open_dialog(Dialog::Transfer(Box::new(TransferDialog::new(
        hosts, names,
    ))));
    app.set_status(
        LogLevel::Info,
        "transfer: fill in the form, Enter starts, Esc closes",
    );
}

/// Handles a command while the dialog is open.
pub fn handle(app: &mut App, cmd: Cmd) -> Vec<Effect> {
    let Some(Dialog::Transfer(d)) = &mut app.dialog else {
        return Vec::new();
    };
    if let Stage::Running { .. } = d.stage {
        // The job goes on; results stay in the panes and the log. Ctrl-C cancels it.
        if matches!(cmd, Cmd::Escape | Cmd::Submit | Cmd::Answer('q')) {
            app.close_dialog();
        }
        return Vec::new();
    }
    d.error = None;
    match cmd {
        Cmd::Escape => app.close_dialog(),
        Cmd::Up | Cmd::FocusPrev => d.move_field(false),
        Cmd::Down => d.move_field(true),
        Cmd::FocusNext => {
            if d.field == Field::Local {
                let (completed, candidates) = complete_local(&d.local);
                let changed = completed != d.local;
                d.local = completed;
                d.candidates = candidates;
                if !changed && d.candidates.len() <= 1 {
                    d.move_field(true);
                }
            } else {
                d.move_field(true);
            }
        }
        Cmd::Left => d.change(false),
        Cmd::Right => d.change(true),
        Cmd::Insert(c) => {
            if let Some(text) = d.text_field() {
                text.push(c);
                d.candidates.clear();
            } else if c == ' ' {
                d.change(true);
            }
        }
        Cmd::Backspace => {
            if let Some(text) = d.text_field() {
                text.pop();
            }
        }
        Cmd::ClearLine => {
            if let Some(text) = d.text_field() {
                text.clear();
            }
        }
        Cmd::Submit => match d.job_kind() {
            Ok(kind) => return start(app, kind),
            Err(e) => d.error = Some(e),
        },
        _ => {}
    }
    Vec::new()
}

/// Starts the transfer job: hosts queued, panes cleared, the dialog switches to progress.
fn start(app: &mut App, kind: JobKind) -> Vec<Effect> {
    let Some(Dialog::Transfer(d)) = &mut app.dialog else {
        return Vec::new();
    };
    let hosts = d.hosts.clone();
    let what = d.describe();
    let targets = match crate::engine::resolve_targets(&app.inventory, &hosts) {
        Ok(t) => t,
        Err(e) => {
            d.error = Some(format!("cannot start: {e}"));
            return Vec::new();
        }
    };
    d.stage = Stage::Running {
        job: None,
        started: app.clock.now,
        progress: d
            .host_names
            .iter()
            .map(|n| HostProgress {
                name: n.to_string(),
                ..HostProgress::default()
            })
            .collect(),
        done: false,
    };
    for &h in &hosts {
        let v = &mut app.hosts[h];
        v.state = HostState::Queued;
        v.exit = None;
        v.error = None;
        v.duration = None;
        v.started = None;
        v.pane = Pane::new(app.settings.tail_lines);
    }
    let names: Vec<&str> = hosts.iter().map(|&h| &*app.hosts[h].name).collect();
    let pattern = crate::output::compact(&names);
    app.push_log(
        LogLevel::Info,
        None,
        format!("{what} on {} hosts ({pattern})", hosts.len()),
    );
    app.job = Some(JobView {
        id: None,
        command: what,
        hosts,
        started: app.clock.now,
        run_dir: None,
        done: false,
        duration: None,
        cancel_requested: false,
    });
    app.pane_cursor = 0;
    app.zoom = None;
    app.gathered.clear();
    app.gathered_dirty = true;
    let spec = JobSpec {
        kind,
        targets,
        fanout: app.settings.fanout,
        pattern,
    };
    vec![Effect::Submit(spec)]
}

/// The dialog's progress, when it is open and watching a job.
fn watching(app: &mut App) -> Option<(&mut Vec<HostProgress>, &mut Option<JobId>, &mut bool)> {
    match &mut app.dialog {
        Some(Dialog::Transfer(d)) => match &mut d.stage {
            Stage::Running {
                progress,
                job,
                done,
                ..
            } => Some((progress, job, done)),
            Stage::Form => None,
        },
        _ => None,
    }
}

/// The engine accepted the job the dialog started.
pub fn on_submitted(app: &mut App, id: JobId) {
    if let Some((_, job, _)) = watching(app) {
        if job.is_none() {
            *job = Some(id);
        }
    }
}

/// Engine progress for one host (called by `update` for `Event::Progress`).
pub fn on_progress(app: &mut App, job: JobId, host: &str, done: u64, total: u64) {
    let now = app.clock.now;
    if let Some((progress, Some(id), _)) = watching(app) {
        if *id == job {
            if let Some(p) = progress.iter_mut().find(|p| p.name == host) {
                p.started.get_or_insert(now);
                p.done = done;
                p.total = total;
            }
        }
    }
}

/// A host finished or failed (called by `update` for `Finished`/`Failed`). A finished
/// transfer also gets a result line in its pane (a transfer has no output of its own).
pub fn on_host_end(app: &mut App, job: JobId, host: &str, ok: bool) {
    let now = app.clock.now;
    let mut moved = None;
    if let Some((progress, Some(id), _)) = watching(app) {
        if *id == job {
            if let Some(p) = progress.iter_mut().find(|p| p.name == host) {
                p.started.get_or_insert(now);
                p.ended = Some(ok);
                if ok {
                    p.done = p.done.max(p.total);
                }
                moved = Some(p.done);
            }
        }
    }
    let Some(view) = app.job.as_ref().filter(|j| j.id == Some(job)) else {
        return;
    };
    let verb = if view.command.starts_with("send ") {
        "sent"
    } else if view.command.starts_with("fetch ") {
        "fetched"
    } else {
        return;
    };
    if !ok {
        return;
    }
    let line = match moved {
        Some(bytes) => format!("transfer ok: {verb} {}\n", progress::human_bytes(bytes)),
        None => format!("transfer ok: {verb}\n"),
    };
    if let Some(&h) = app.by_name.get(host) {
        app.hosts[h].pane.feed(Stream::Stdout, line.as_bytes());
    }
}

/// The job ended (called by `update` for `JobDone`).
pub fn on_job_done(app: &mut App, job: JobId) {
    if let Some((_, Some(id), done)) = watching(app) {
        if *id == job {
            *done = true;
        }
    }
}

fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

/// Draws the dialog over `area`.
pub fn draw(frame: &mut Frame, app: &App, d: &TransferDialog, area: Rect) {
    let t = &app.theme;
    let text = Style::default().fg(t.colors.text);
    let key = Style::default()
        .fg(t.colors.hint_key)
        .add_modifier(Modifier::BOLD);
    let hint = Style::default().fg(t.colors.hint_text);
    let chosen = t.cursor();
    let mut lines: Vec<Line> = Vec::new();
    let title = match (&d.stage, d.direction) {
        (Stage::Form, Direction::Send) => format!(" Transfer: send to {} hosts ", d.hosts.len()),
        (Stage::Form, Direction::Fetch) => {
            format!(" Transfer: fetch from {} hosts ", d.hosts.len())
        }
        (Stage::Running { done: false, .. }, _) => format!(" Transfer: {} ", d.describe()),
        (Stage::Running { done: true, .. }, _) => format!(" Transfer done: {} ", d.describe()),
    };
    let width = area.width.saturating_sub(4).min(96);
    let inner_cols = usize::from(width.saturating_sub(2));
    match &d.stage {
        Stage::Form => {
            let label = |f: Field, name: &'static str| {
                let style = if d.field == f { chosen } else { hint };
                Span::styled(format!("{name:<12}"), style)
            };
            let field_text = |f: Field, value: &str| {
                let cursor = if d.field == f { "▏" } else { "" };
                Span::styled(format!("{value}{cursor}"), text)
            };
            let flag = |on: bool| if on { "[x]" } else { "[ ]" };
            let dir = match d.direction {
                Direction::Send => "send (local → hosts)",
                Direction::Fetch => "fetch (hosts → local directory)",
            };
            lines.push(Line::from(vec![
                label(Field::Direction, "Direction"),
                Span::styled(format!("< {dir} >"), text),
            ]));
            let local_name = if d.direction == Direction::Send {
                "Local path"
            } else {
                "Local dir"
            };
            lines.push(Line::from(vec![
                label(Field::Local, local_name),
                field_text(Field::Local, &d.local),
            ]));
            if !d.candidates.is_empty() {
                let mut shown: Vec<String> =
                    d.candidates.iter().take(MAX_CANDIDATES).cloned().collect();
                if d.candidates.len() > MAX_CANDIDATES {
                    shown.push(format!("… +{}", d.candidates.len() - MAX_CANDIDATES));
                }
                lines.push(Line::styled(format!("{:12}{}", "", shown.join("  ")), hint));
            }
            lines.push(Line::from(vec![
                label(Field::Remote, "Remote path"),
                field_text(Field::Remote, &d.remote),
            ]));
            lines.push(Line::from(vec![
                label(Field::Recursive, "Recursive"),
                Span::styled(flag(d.recursive), text),
            ]));
            lines.push(Line::from(vec![
                label(Field::KeepPerms, "Keep perms"),
                Span::styled(flag(d.keep_perms), text),
            ]));
            lines.push(Line::from(vec![
                label(Field::Verify, "Verify"),
                Span::styled(flag(d.verify), text),
            ]));
            let overwrite = if d.direction == Direction::Send {
                d.overwrite.as_str()
            } else {
                "(send only)"
            };
            lines.push(Line::from(vec![
                label(Field::Overwrite, "Overwrite"),
                Span::styled(format!("< {overwrite} >"), text),
            ]));
            let naming = match (d.direction, d.naming) {
                (Direction::Send, _) => "(fetch only)",
                (Direction::Fetch, Naming::Subdir) => "DIR/<host>/…",
                (Direction::Fetch, Naming::Suffix) => "DIR/name.<host>",
            };
            lines.push(Line::from(vec![
                label(Field::Naming, "Naming"),
                Span::styled(format!("< {naming} >"), text),
            ]));
            let names: Vec<&str> = d.host_names.iter().map(|n| &**n).collect();
            let targets = if names.is_empty() {
                "(none selected)".to_string()
            } else {
                crate::output::compact(&names)
            };
            lines.push(Line::from(vec![
                Span::styled(format!("{:<12}", "Targets"), hint),
                Span::styled(format!("{targets} ({} hosts)", names.len()), text),
            ]));
            lines.push(Line::raw(""));
            if let Some(e) = &d.error {
                lines.push(Line::styled(
                    crate::output::to_plain(e.as_bytes()),
                    Style::default().fg(t.colors.danger),
                ));
            }
            lines.push(Line::from(vec![
                Span::styled("[Enter]", key),
                Span::styled(" start ", hint),
                Span::styled("[Tab]", key),
                Span::styled(" complete ", hint),
                Span::styled("[↑↓]", key),
                Span::styled(" field ", hint),
                Span::styled("[Space ←→]", key),
                Span::styled(" change ", hint),
                Span::styled("[Esc]", key),
                Span::styled(" close", hint),
            ]));
        }
        Stage::Running {
            started,
            progress: bars,
            done,
            ..
        } => {
            for l in progress::render(bars, *started, app.clock.now, inner_cols.max(20)) {
                lines.push(Line::styled(l, text));
            }
            lines.push(Line::raw(""));
            let mut keys = vec![
                Span::styled("[Esc]", key),
                Span::styled(" hide (the job goes on) ", hint),
            ];
            if !done {
                keys.push(Span::styled("[Ctrl-C]", key));
                keys.push(Span::styled(" cancel", hint));
            }
            lines.push(Line::from(keys));
        }
    }
    let h = (lines.len() as u16 + 2).min(area.height);
    let rect = centered(area, width, h);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(
            Style::default()
                .fg(t.colors.dialog_border)
                .add_modifier(Modifier::BOLD),
        )
        .title(Span::styled(
            title,
            Style::default()
                .fg(t.colors.dialog_border)
                .add_modifier(Modifier::BOLD),
        ))
        .style(t.base());
    frame.render_widget(Clear, rect);
    frame.render_widget(Paragraph::new(lines).block(block), rect);
}
