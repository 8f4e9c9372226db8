//! Broadcast shells in `update`: `B` opens them, keys and pastes become bytes for every
//! included host (or the zoomed one alone), the panes' sizes become the PTYs' sizes, the
//! hosts' output feeds their emulators. See `tui/shell`.

use std::sync::Arc;

use crossterm::event::KeyEvent;

use super::super::action::{Cmd, Effect};
use super::super::app::{App, Focus, View};
use super::super::layout::{areas, grid, inner};
use super::super::shell::{keys, Shells};
use crate::contract::ShellSpec;
use crate::engine::{JobId, JobKind, JobSpec, LogLevel};
use crate::inventory::HostId;

/// What the shells' `TERM` is: the emulator understands xterm's sequences and 256 colours.
pub const SHELL_TERM: &str = "xterm-256color";

/// The job's title in the output area and the log.
pub const SHELL_COMMAND: &str = "broadcast shell";

/// True when keys go to the hosts rather than to the console.
pub(super) fn takes_keys(app: &App) -> bool {
    app.dialog.is_none() && app.shell.as_ref().is_some_and(|s| s.input)
}

/// True while any shell of the current job is open (or still opening).
pub fn shells_open(app: &App) -> bool {
    app.shell.as_ref().is_some_and(|s| {
        s.hosts
            .iter()
            .any(|sh| app.hosts[sh.host].state.is_active())
    }) && app.job_running()
}

/// `B`: back to broadcast input when shells are open, else shells on the selected hosts.
pub(super) fn broadcast(app: &mut App) -> Vec<Effect> {
    if shells_open(app) {
        if let Some(s) = &mut app.shell {
            s.input = true;
        }
        app.focus = Focus::Output;
        app.set_status(LogLevel::Info, input_status(app));
        return Vec::new();
    }
    let hosts = app.tree.selected_hosts();
    if hosts.is_empty() {
        app.set_status(
            LogLevel::Warn,
            "no hosts selected: Space selects in the tree, s selects by pattern, a selects all",
        );
        return Vec::new();
    }
    if app.job_running() {
        app.set_status(
            LogLevel::Warn,
            "a job is running: wait for it or cancel it (Ctrl-C) before opening shells",
        );
        return Vec::new();
    }
    open(app, hosts)
}

/// Opens a shell job on `hosts` in broadcast input (also `fleetdeck shell PATTERN`).
pub fn open(app: &mut App, hosts: Vec<HostId>) -> Vec<Effect> {
    let targets = match crate::engine::resolve_targets(&app.inventory, &hosts) {
        Ok(t) => t,
        Err(e) => {
            app.set_status(LogLevel::Error, format!("cannot open shells: {e}"));
            app.push_log(LogLevel::Error, None, format!("cannot open shells: {e}"));
            return Vec::new();
        }
    };
    let pattern = super::command::selection_pattern(app, &hosts);
    app.push_log(
        LogLevel::Info,
        None,
        format!("shell on {} hosts ({pattern})", hosts.len()),
    );
    let named: Vec<(HostId, Arc<str>)> = hosts
        .iter()
        .map(|&h| (h, app.hosts[h].name.clone()))
        .collect();
    app.begin_job(SHELL_COMMAND.to_string(), hosts);
    app.view = View::Panes;
    app.failed_only = false;
    app.focus = Focus::Output;
    let (cols, rows) = first_pane_size(app);
    app.shell = Some(Shells::new(&named, cols, rows));
    app.set_status(LogLevel::Info, input_status(app));
    let spec = JobSpec {
        kind: JobKind::Shell(ShellSpec {
            term: SHELL_TERM.to_string(),
            cols,
            rows,
        }),
        targets,
        // The engine frees a shell's fanout slot once it is open: fanout bounds connecting.
        fanout: app.settings.fanout,
        pattern,
    };
    vec![Effect::Submit(spec)]
}

fn input_status(app: &App) -> String {
    let n = app.shell.as_ref().map_or(0, Shells::included);
    match app.zoom {
        Some(h) => format!(
            "typing to {} alone (z: all {n} included hosts) · Ctrl-] console keys",
            app.hosts[h].name
        ),
        None => format!("broadcast input to {n} hosts · Ctrl-] console keys"),
    }
}

/// The PTY size of the first pane, to open every shell with.
fn first_pane_size(app: &App) -> (u16, u16) {
    let body = inner(areas(app.area).output);
    grid(app, body)
        .panes
        .first()
        .map_or((80, 24), |&(_, _, r)| pane_size(r))
}

/// A pane's inside, (cols, rows), at least 1 x 1.
pub fn pane_size(r: ratatui::layout::Rect) -> (u16, u16) {
    let i = inner(r);
    (i.width.max(1), i.height.max(1))
}

/// A key in broadcast input: Ctrl-] leaves it, anything else is sent.
pub(super) fn on_key(app: &mut App, key: KeyEvent) -> Vec<Effect> {
    if keys::is_leave_key(key) {
        if let Some(s) = &mut app.shell {
            s.input = false;
        }
        app.set_status(
            LogLevel::Info,
            "console keys (the shells stay open) · B: broadcast input again",
        );
        return Vec::new();
    }
    send(app, |modes, _| keys::encode(key, modes))
}

/// Pasted text in broadcast input, bracketed for the hosts that asked for it.
pub(super) fn on_paste(app: &mut App, text: &str) -> Vec<Effect> {
    send(app, |_, bracketed| keys::paste(text, bracketed))
}

/// The bytes `encode` makes for each target host (its modes and bracketed paste differ):
/// the zoomed host alone, else every included one, only those whose shell is open.
fn send(app: &mut App, encode: impl Fn(keys::Modes, bool) -> Vec<u8>) -> Vec<Effect> {
    let Some(job) = app.job.as_ref().and_then(|j| j.id) else {
        return Vec::new();
    };
    let zoom = app.zoom;
    let hosts = &app.hosts;
    let Some(shells) = &mut app.shell else {
        return Vec::new();
    };
    let mut effects = Vec::new();
    for sh in &mut shells.hosts {
        let target = match zoom {
            Some(z) => sh.host == z,
            None => sh.included,
        };
        if !target || !hosts[sh.host].state.is_active() {
            continue;
        }
        let data = encode(sh.term.modes(), sh.term.screen().bracketed_paste());
        if data.is_empty() {
            continue;
        }
        sh.term.set_scrollback(0);
        effects.push(Effect::ShellInput {
            job,
            host: sh.name.clone(),
            data,
        });
    }
    effects
}

/// Output of a shell job's host into its emulator; false when `job` is not the shells' job.
pub(super) fn on_output(app: &mut App, job: JobId, host: &str, data: &[u8]) -> bool {
    let ours = app
        .job
        .as_ref()
        .is_some_and(|j| j.id.map_or(true, |id| id == job));
    let Some(shells) = app.shell.as_mut().filter(|_| ours) else {
        return false;
    };
    if let Some(sh) = shells.by_name_mut(host) {
        sh.term.feed(data);
    }
    true
}

/// Every shown pane's inside is its host's PTY size: emulators resized at once, the engine
/// told (once the job has its id) of every size it does not know yet.
pub(super) fn sync_sizes(app: &mut App) -> Vec<Effect> {
    if app.shell.is_none() {
        return Vec::new();
    }
    let body = inner(areas(app.area).output);
    let panes: Vec<(HostId, (u16, u16))> = grid(app, body)
        .panes
        .iter()
        .map(|&(_, h, r)| (h, pane_size(r)))
        .collect();
    let job = app.job.as_ref().and_then(|j| j.id);
    let Some(shells) = &mut app.shell else {
        return Vec::new();
    };
    let mut effects = Vec::new();
    for (h, (cols, rows)) in panes {
        let Some(sh) = shells.get_mut(h) else {
            continue;
        };
        if sh.term.size() != (cols, rows) {
            sh.term.resize(cols, rows);
        }
        if let Some(job) = job.filter(|_| sh.sent != (cols, rows)) {
            sh.sent = (cols, rows);
            effects.push(Effect::ShellResize {
                job,
                host: sh.name.clone(),
                cols,
                rows,
            });
        }
    }
    effects
}

/// Console keys on the output area while shells are shown: `x` excludes or includes the
/// chosen pane, ↑↓ PgUp PgDn scroll its scrollback, End back to the live screen. `None`
/// for every other command.
pub(super) fn output_cmd(app: &mut App, cmd: Cmd) -> Option<Vec<Effect>> {
    let h = app.current_host()?;
    let page = app
        .shell
        .as_ref()
        .and_then(|s| s.get(h))
        .map_or(1, |sh| usize::from(sh.term.size().1));
    let sh = app.shell.as_mut()?.get_mut(h)?;
    let back = sh.term.scrollback();
    match cmd {
        Cmd::ToggleInclude => {
            sh.included = !sh.included;
            let text = format!(
                "{}: {} broadcast input",
                sh.name,
                if sh.included {
                    "included in"
                } else {
                    "excluded from"
                }
            );
            app.set_status(LogLevel::Info, text);
        }
        Cmd::Up => sh.term.set_scrollback(back + 1),
        Cmd::Down => sh.term.set_scrollback(back.saturating_sub(1)),
        Cmd::PageUp => sh.term.set_scrollback(back + page),
        Cmd::PageDown => sh.term.set_scrollback(back.saturating_sub(page)),
        Cmd::Top => sh.term.set_scrollback(usize::MAX / 2),
        Cmd::Bottom => sh.term.set_scrollback(0),
        _ => return None,
    }
    Some(Vec::new())
}
