//! `update`: the only place the console's state changes. It reads no clock, terminal or
//! engine; what must happen outside is returned as [`Effect`]s for the runtime to carry out.

use std::sync::Arc;

use crossterm::event::{MouseButton, MouseEvent, MouseEventKind};

use super::action::{Action, Cmd, Effect};
use super::app::{App, Focus, GatherGroup, HostState, JobView, View};
use super::dialog::{Dialog, OnYes};
use super::keys;
use super::layout::{self, areas, inner};
use super::pane::Pane;
use super::tree::Row;
use crate::engine::{
    ErrorClass, Event, ExecSpec, HostKeyAnswer, JobKind, JobSpec, LogLevel, Secret,
};
use crate::inventory::HostId;

/// The gathered view is refolded at most this often while output streams in.
pub const GATHER_INTERVAL: std::time::Duration = std::time::Duration::from_millis(300);

/// Lines the mouse wheel scrolls.
const WHEEL_LINES: usize = 3;

/// Applies one action; returns what the runtime must do.
pub fn update(app: &mut App, action: Action) -> Vec<Effect> {
    match action {
        Action::Key(key) => {
            let Some(cmd) = keys::translate(app, key) else {
                return Vec::new();
            };
            app.status = None;
            apply_cmd(app, cmd)
        }
        Action::Cmd(cmd) => apply_cmd(app, cmd),
        Action::Mouse(m) => {
            on_mouse(app, m);
            Vec::new()
        }
        Action::Paste(text) => {
            let clean: String = text.chars().filter(|c| !c.is_control()).collect();
            match &mut app.dialog {
                Some(Dialog::Secret { input, .. } | Dialog::Pattern { input, .. }) => {
                    input.push_str(&clean);
                }
                None if app.focus == Focus::Cmdline => app.cmdline.insert_str(&clean),
                Some(_) | None => {}
            }
            Vec::new()
        }
        Action::Resize(w, h) => {
            app.area = ratatui::layout::Rect::new(0, 0, w, h);
            let height = tree_height(app);
            app.tree.scroll_into_view(height);
            Vec::new()
        }
        Action::Engine(event) => {
            on_event(app, event);
            Vec::new()
        }
        Action::JobSubmitted(id) => {
            super::transfer::on_submitted(app, id);
            let mut effects = Vec::new();
            if let Some(job) = &mut app.job {
                job.id = Some(id);
                if job.cancel_requested {
                    effects.push(Effect::Cancel(id));
                }
            }
            effects
        }
        Action::SubmitFailed(message) => {
            if let Some(job) = app.job.take() {
                for h in job.hosts {
                    app.hosts[h].state = HostState::Idle;
                }
            }
            app.push_log(LogLevel::Error, None, format!("job not started: {message}"));
            app.set_status(LogLevel::Error, format!("job not started: {message}"));
            Vec::new()
        }
        Action::AskHostKey(prompt, question) => {
            app.open_dialog(Dialog::HostKey { prompt, question });
            Vec::new()
        }
        Action::AskSecret(prompt, kind, text) => {
            app.open_dialog(Dialog::Secret {
                prompt,
                kind,
                text,
                input: String::new(),
            });
            Vec::new()
        }
        Action::Tick => {
            let due = app
                .gathered_at
                .map_or(true, |t| app.clock.now.duration_since(t) >= GATHER_INTERVAL);
            if app.view == View::Gathered && app.gathered_dirty && due {
                compute_gathered(app);
            }
            Vec::new()
        }
        Action::Terminate => {
            let mut effects = answer_all_prompts(app);
            if let Some(id) = app.job.as_ref().filter(|j| !j.done).and_then(|j| j.id) {
                effects.push(Effect::Cancel(id));
            }
            app.should_quit = true;
            effects.push(Effect::Quit);
            effects
        }
    }
}

/// Applies a command (from a key, or sent directly by tests).
pub fn apply_cmd(app: &mut App, cmd: Cmd) -> Vec<Effect> {
    if cmd == Cmd::CancelJob {
        return cancel_job(app);
    }
    if app.dialog.is_some() {
        return dialog_cmd(app, cmd);
    }
    if app.tree.editing_filter {
        filter_cmd(app, cmd);
        return Vec::new();
    }
    match cmd {
        Cmd::FocusNext | Cmd::FocusPrev => {
            let i = Focus::ORDER
                .iter()
                .position(|f| *f == app.focus)
                .unwrap_or(0);
            let n = Focus::ORDER.len();
            let j = if cmd == Cmd::FocusNext {
                (i + 1) % n
            } else {
                (i + n - 1) % n
            };
            app.focus = Focus::ORDER[j];
            if app.focus != Focus::Cmdline {
                app.cmdline.end_search(false);
            }
        }
        Cmd::FocusCmdline => app.focus = Focus::Cmdline,
        Cmd::Help => app.open_dialog(Dialog::Help { scroll: 0 }),
        Cmd::Quit => return quit(app),
        Cmd::CycleTheme => {
            app.theme_index = (app.theme_index + 1) % app.themes.len().max(1);
            if let Some(t) = app.themes.get(app.theme_index) {
                app.theme = t.clone();
                app.set_status(LogLevel::Info, format!("theme: {}", app.theme.name));
            }
        }
        Cmd::CycleView => {
            app.zoom = None;
            app.view = if app.view == View::Panes {
                View::Gathered
            } else {
                View::Panes
            };
            if app.view == View::Gathered {
                compute_gathered(app);
            }
        }
        Cmd::Zoom => zoom(app),
        Cmd::FailedOnly => {
            app.failed_only = !app.failed_only;
            app.pane_cursor = 0;
            app.set_status(
                LogLevel::Info,
                if app.failed_only {
                    "showing failed hosts only (F: all)"
                } else {
                    "showing all hosts"
                },
            );
        }
        Cmd::SelectFailed => {
            if app.last_failed.is_empty() {
                app.set_status(LogLevel::Info, "no host failed in the last job");
            } else {
                let failed = app.last_failed.clone();
                app.tree.set_selection(&failed);
                app.set_status(
                    LogLevel::Info,
                    format!("selected the {} failed hosts", failed.len()),
                );
            }
        }
        Cmd::SelectAll => {
            let all = app.tree.selected_count() == app.hosts.len();
            let hosts: Vec<HostId> = if all {
                Vec::new()
            } else {
                (0..app.hosts.len()).collect()
            };
            app.tree.set_selection(&hosts);
        }
        Cmd::SelectPattern => app.open_dialog(Dialog::Pattern {
            input: String::new(),
            error: None,
        }),
        Cmd::StartFilter => {
            app.focus = Focus::Tree;
            app.tree.editing_filter = true;
        }
        Cmd::Transfer => super::transfer::open(app),
        Cmd::ToggleSudo => toggle_sudo(app),
        Cmd::HostDetails => host_details(app),
        Cmd::Escape if app.zoom.is_some() => app.zoom = None,
        _ => {
            return match app.focus {
                Focus::Tree => {
                    tree_cmd(app, cmd);
                    Vec::new()
                }
                Focus::Output => {
                    output_cmd(app, cmd);
                    Vec::new()
                }
                Focus::Log => {
                    log_cmd(app, cmd);
                    Vec::new()
                }
                Focus::Cmdline => cmdline_cmd(app, cmd),
            }
        }
    }
    Vec::new()
}

/// `S`: commands run through sudo as `settings.sudo_user`, or plainly again.
fn toggle_sudo(app: &mut App) {
    app.sudo = !app.sudo;
    let text = if app.sudo {
        format!(
            "sudo on: commands run as {} (a sudo password is asked once); S turns it off",
            app.settings.sudo_user
        )
    } else {
        "sudo off: commands run as the login user".to_string()
    };
    app.set_status(LogLevel::Info, text);
}

/// `i`: opens the details of the host under the tree cursor (or the chosen pane's host when
/// the output has focus).
fn host_details(app: &mut App) {
    let from_tree = match app.tree.rows().get(app.tree.cursor) {
        Some(Row::Host { id, .. }) => Some(*id),
        _ => None,
    };
    let host = match app.focus {
        Focus::Output => app.current_host().or(from_tree),
        _ => from_tree,
    };
    match host {
        Some(host) => app.open_dialog(Dialog::HostDetails { host, scroll: 0 }),
        None => app.set_status(
            LogLevel::Info,
            "host details: put the tree cursor on a host (not a group) and press i",
        ),
    }
}

fn quit(app: &mut App) -> Vec<Effect> {
    if app.job_running() {
        app.open_dialog(Dialog::Confirm {
            title: "Quit?".into(),
            lines: vec![
                "A job is still running.".into(),
                "Quitting cancels it on every host.".into(),
            ],
            danger: true,
            on_yes: OnYes::Quit,
        });
        return Vec::new();
    }
    app.should_quit = true;
    let mut effects = answer_all_prompts(app);
    effects.push(Effect::Quit);
    effects
}

/// Rejects every open engine question (so no worker waits forever).
fn answer_all_prompts(app: &mut App) -> Vec<Effect> {
    let mut effects = Vec::new();
    let dialogs: Vec<Dialog> = app
        .dialog
        .take()
        .into_iter()
        .chain(app.queued_dialogs.drain(..))
        .collect();
    for d in dialogs {
        match d {
            Dialog::HostKey { prompt, .. } => {
                effects.push(Effect::AnswerHostKey(prompt, HostKeyAnswer::Reject));
            }
            Dialog::Secret { prompt, .. } => effects.push(Effect::AnswerSecret(prompt, None)),
            _ => {}
        }
    }
    effects
}

fn cancel_job(app: &mut App) -> Vec<Effect> {
    match &mut app.job {
        Some(job) if !job.done => {
            if job.cancel_requested {
                app.set_status(
                    LogLevel::Warn,
                    "cancel already requested; waiting for hosts to stop",
                );
                return Vec::new();
            }
            job.cancel_requested = true;
            let id = job.id;
            app.push_log(LogLevel::Warn, None, "cancel requested".into());
            app.set_status(LogLevel::Warn, "cancelling the running job…");
            id.map(Effect::Cancel).into_iter().collect()
        }
        _ => {
            if app.focus == Focus::Cmdline && !app.cmdline.input.is_empty() {
                app.cmdline.clear();
            } else {
                app.set_status(LogLevel::Info, "no job is running (q quits)");
            }
            Vec::new()
        }
    }
}

fn zoom(app: &mut App) {
    if app.zoom.is_some() {
        app.zoom = None;
        return;
    }
    let from_tree = match (app.focus, app.tree.rows().get(app.tree.cursor)) {
        (Focus::Tree, Some(Row::Host { id, .. })) => Some(*id),
        _ => None,
    };
    let hosts = app.pane_hosts();
    let target = from_tree
        .filter(|h| hosts.contains(h))
        .or_else(|| hosts.get(app.pane_cursor).copied());
    if let Some(h) = target {
        app.zoom = Some(h);
        app.view = View::Panes;
        if let Some(i) = hosts.iter().position(|x| *x == h) {
            app.pane_cursor = i;
        }
    } else {
        app.set_status(LogLevel::Info, "nothing to zoom: run a command first");
    }
}

fn dialog_cmd(app: &mut App, cmd: Cmd) -> Vec<Effect> {
    let Some(dialog) = &mut app.dialog else {
        return Vec::new();
    };
    match dialog {
        Dialog::Transfer(_) => return super::transfer::handle(app, cmd),
        Dialog::Help { scroll } => match cmd {
            Cmd::Up => *scroll = scroll.saturating_sub(1),
            Cmd::Down => *scroll += 1,
            Cmd::PageUp => *scroll = scroll.saturating_sub(10),
            Cmd::PageDown => *scroll += 10,
            Cmd::Escape | Cmd::Submit | Cmd::Answer('q' | '?') => app.close_dialog(),
            _ => {}
        },
        Dialog::HostDetails { scroll, .. } => match cmd {
            Cmd::Up => *scroll = scroll.saturating_sub(1),
            Cmd::Down => *scroll += 1,
            Cmd::PageUp => *scroll = scroll.saturating_sub(10),
            Cmd::PageDown => *scroll += 10,
            Cmd::Escape | Cmd::Submit | Cmd::Answer('q' | 'i') => app.close_dialog(),
            _ => {}
        },
        Dialog::Notice { .. } => {
            if matches!(cmd, Cmd::Escape | Cmd::Submit | Cmd::Answer(_)) {
                app.close_dialog();
            }
        }
        Dialog::Confirm { on_yes, .. } => match cmd {
            Cmd::Submit | Cmd::Answer('y' | 'Y') => {
                let on_yes = on_yes.clone();
                app.close_dialog();
                return match on_yes {
                    OnYes::Run { command, hosts } => start_job(app, &command, hosts),
                    OnYes::Quit => {
                        let mut effects = answer_all_prompts(app);
                        if let Some(id) = app.job.as_ref().filter(|j| !j.done).and_then(|j| j.id) {
                            effects.push(Effect::Cancel(id));
                        }
                        app.should_quit = true;
                        effects.push(Effect::Quit);
                        effects
                    }
                };
            }
            Cmd::Escape | Cmd::Answer('n' | 'N' | 'q') => {
                app.close_dialog();
                app.set_status(LogLevel::Info, "not done");
            }
            _ => {}
        },
        Dialog::HostKey { prompt, question } => {
            let answer = match cmd {
                Cmd::Answer('o' | 'O' | '1') => HostKeyAnswer::AcceptOnce,
                Cmd::Answer('a' | 'A' | '2') => HostKeyAnswer::AcceptAndSave,
                Cmd::Answer('r' | 'R' | 'n' | 'N' | '3') | Cmd::Escape => HostKeyAnswer::Reject,
                _ => return Vec::new(),
            };
            let prompt = *prompt;
            let host = question.host.clone();
            let word = match answer {
                HostKeyAnswer::AcceptOnce => "accepted once",
                HostKeyAnswer::AcceptAndSave => "accepted and saved",
                HostKeyAnswer::Reject => "rejected",
            };
            app.push_log(
                LogLevel::Info,
                Some(host.clone()),
                format!("{host}: host key {word}"),
            );
            app.close_dialog();
            return vec![Effect::AnswerHostKey(prompt, answer)];
        }
        Dialog::Secret { prompt, input, .. } => match cmd {
            Cmd::Insert(c) => input.push(c),
            Cmd::Backspace => {
                input.pop();
            }
            Cmd::ClearLine => input.clear(),
            Cmd::Submit => {
                let prompt = *prompt;
                let secret = Secret::new(std::mem::take(input));
                app.close_dialog();
                return vec![Effect::AnswerSecret(prompt, Some(secret))];
            }
            Cmd::Escape => {
                let prompt = *prompt;
                app.close_dialog();
                return vec![Effect::AnswerSecret(prompt, None)];
            }
            _ => {}
        },
        Dialog::Pattern { input, error } => match cmd {
            Cmd::Insert(c) => input.push(c),
            Cmd::Backspace => {
                input.pop();
            }
            Cmd::ClearLine => input.clear(),
            Cmd::Escape => app.close_dialog(),
            Cmd::Submit => {
                let pattern = input.trim().to_string();
                match app.inventory.select(&pattern).map_err(|e| e.to_string()) {
                    Ok(hosts) => {
                        app.tree.set_selection(&hosts);
                        app.close_dialog();
                        app.set_status(
                            LogLevel::Info,
                            format!("`{pattern}` selected {} hosts", hosts.len()),
                        );
                    }
                    Err(e) => *error = Some(e),
                }
            }
            _ => {}
        },
    }
    Vec::new()
}

fn filter_cmd(app: &mut App, cmd: Cmd) {
    match cmd {
        Cmd::Insert(c) => app.tree.filter.push(c),
        Cmd::Backspace => {
            app.tree.filter.pop();
        }
        Cmd::ClearLine => app.tree.filter.clear(),
        Cmd::Submit => app.tree.editing_filter = false,
        Cmd::Escape => {
            app.tree.editing_filter = false;
            app.tree.filter.clear();
        }
        Cmd::Up => app.tree.move_by(-1),
        Cmd::Down => app.tree.move_by(1),
        _ => return,
    }
    app.tree.rebuild(&app.inventory);
    let h = tree_height(app);
    app.tree.scroll_into_view(h);
}

/// Rows the tree can show.
fn tree_height(app: &App) -> usize {
    let mut h = inner(areas(app.area).tree).height as usize;
    if app.tree.editing_filter || !app.tree.filter.is_empty() {
        h = h.saturating_sub(1);
    }
    h.max(1)
}

fn tree_cmd(app: &mut App, cmd: Cmd) {
    let page = tree_height(app) as isize;
    match cmd {
        Cmd::Up => app.tree.move_by(-1),
        Cmd::Down => app.tree.move_by(1),
        Cmd::PageUp => app.tree.move_by(-page),
        Cmd::PageDown => app.tree.move_by(page),
        Cmd::Top => app.tree.move_to(0),
        Cmd::Bottom => app.tree.move_to(usize::MAX),
        Cmd::Toggle => app.tree.toggle_cursor(),
        Cmd::Right => app.tree.expand_cursor(&app.inventory, Some(true)),
        Cmd::Left => app.tree.expand_cursor(&app.inventory, Some(false)),
        Cmd::Activate => match app.tree.rows().get(app.tree.cursor) {
            Some(Row::Group { .. }) => app.tree.expand_cursor(&app.inventory, None),
            Some(Row::Host { .. }) => app.tree.toggle_cursor(),
            None => {}
        },
        Cmd::Escape if !app.tree.filter.is_empty() => {
            app.tree.filter.clear();
            app.tree.rebuild(&app.inventory);
        }
        _ => {}
    }
    let h = tree_height(app);
    app.tree.scroll_into_view(h);
}

/// Lines of output a page holds for the current host.
fn pane_page(app: &App) -> usize {
    let out = inner(areas(app.area).output);
    if app.zoom.is_some() {
        return out.height.saturating_sub(2).max(1) as usize;
    }
    let grid = layout::grid(app, out);
    grid.panes
        .iter()
        .find(|(i, _, _)| *i == app.pane_cursor)
        .map_or(1, |(_, _, r)| r.height.saturating_sub(2).max(1) as usize)
}

fn output_cmd(app: &mut App, cmd: Cmd) {
    if app.view == View::Gathered && app.zoom.is_none() {
        let page = inner(areas(app.area).output).height.max(1) as usize;
        let s = &mut app.gathered_scroll;
        match cmd {
            Cmd::Up => *s = s.saturating_sub(1),
            Cmd::Down => *s += 1,
            Cmd::PageUp => *s = s.saturating_sub(page),
            Cmd::PageDown => *s += page,
            Cmd::Top => *s = 0,
            Cmd::Bottom => *s = usize::MAX / 2,
            _ => {}
        }
        return;
    }
    let n = app.pane_hosts().len();
    let page = pane_page(app);
    match cmd {
        Cmd::Left => app.pane_cursor = app.pane_cursor.saturating_sub(1),
        Cmd::Right => app.pane_cursor = (app.pane_cursor + 1).min(n.saturating_sub(1)),
        Cmd::Activate => zoom(app),
        _ => {
            let Some(h) = app.current_host() else {
                return;
            };
            let pane = &mut app.hosts[h].pane;
            match cmd {
                Cmd::Up => pane.scroll_up(1),
                Cmd::Down => pane.scroll_down(1),
                Cmd::PageUp => pane.scroll_up(page),
                Cmd::PageDown => pane.scroll_down(page),
                Cmd::Top => pane.scroll_up(usize::MAX / 2),
                Cmd::Bottom => pane.scroll = 0,
                _ => {}
            }
        }
    }
}

fn log_cmd(app: &mut App, cmd: Cmd) {
    let page = inner(areas(app.area).log).height.max(1) as usize;
    let total = app.log.visible().count();
    let max = total.saturating_sub(1);
    let s = &mut app.log.scroll;
    match cmd {
        Cmd::Up => *s = (*s + 1).min(max),
        Cmd::Down => *s = s.saturating_sub(1),
        Cmd::PageUp => *s = (*s + page).min(max),
        Cmd::PageDown => *s = s.saturating_sub(page),
        Cmd::Top => *s = max,
        Cmd::Bottom => *s = 0,
        Cmd::LogLevel => {
            app.log.min_level = match app.log.min_level {
                LogLevel::Info => LogLevel::Warn,
                LogLevel::Warn => LogLevel::Error,
                LogLevel::Error => LogLevel::Debug,
                LogLevel::Debug => LogLevel::Info,
            };
            app.log.scroll = 0;
        }
        Cmd::LogHost => {
            app.log.host = if app.log.host.is_some() {
                None
            } else {
                let h = app
                    .current_host()
                    .or_else(|| match app.tree.rows().get(app.tree.cursor) {
                        Some(Row::Host { id, .. }) => Some(*id),
                        _ => None,
                    });
                h.map(|h| app.hosts[h].name.clone())
            };
            app.log.scroll = 0;
        }
        _ => {}
    }
}

fn cmdline_cmd(app: &mut App, cmd: Cmd) -> Vec<Effect> {
    let c = &mut app.cmdline;
    if c.search.is_some() {
        match cmd {
            Cmd::Insert(_) | Cmd::Backspace | Cmd::HistorySearch => {}
            Cmd::Escape => {
                c.end_search(false);
                return Vec::new();
            }
            Cmd::Submit => {
                c.end_search(true);
                return Vec::new();
            }
            _ => c.end_search(true),
        }
    }
    match cmd {
        Cmd::Insert(ch) => c.insert(ch),
        Cmd::Backspace => c.backspace(),
        Cmd::Delete => c.delete(),
        Cmd::DeleteWord => c.delete_word(),
        Cmd::ClearLine => c.clear(),
        Cmd::Left => c.left(),
        Cmd::Right => c.right(),
        Cmd::Home => c.home(),
        Cmd::End => c.end(),
        Cmd::HistoryPrev => c.history_prev(),
        Cmd::HistoryNext => c.history_next(),
        Cmd::HistorySearch => c.search_older(),
        Cmd::Escape => app.focus = Focus::Tree,
        Cmd::PageUp | Cmd::PageDown => output_cmd(app, cmd),
        Cmd::Submit => return run_command(app),
        _ => {}
    }
    Vec::new()
}

/// Dangerous patterns the command matches.
pub fn dangerous_matches(app: &App, command: &str) -> Vec<String> {
    app.settings
        .dangerous
        .iter()
        .filter_map(|re| re.find(command).map(|m| m.as_str().trim().to_string()))
        .collect()
}

fn run_command(app: &mut App) -> Vec<Effect> {
    let command = app.cmdline.input.trim().to_string();
    if command.is_empty() {
        return Vec::new();
    }
    if app.job_running() {
        app.set_status(
            LogLevel::Warn,
            "a job is running: wait for it or cancel it with Ctrl-C",
        );
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
    app.cmdline.take();
    let mut effects = vec![Effect::SaveHistory(command.clone())];
    let danger = dangerous_matches(app, &command);
    let above = hosts.len() > app.settings.confirm_above;
    if danger.is_empty() && !above {
        effects.extend(start_job(app, &command, hosts));
        return effects;
    }
    let names: Vec<&str> = hosts
        .iter()
        .take(200)
        .map(|&h| app.inventory.hosts[h].name.as_str())
        .collect();
    let mut lines = vec![
        if app.sudo {
            format!(
                "Run  {command}  (through sudo as {})",
                app.settings.sudo_user
            )
        } else {
            format!("Run  {command}")
        },
        format!(
            "on {} hosts: {}",
            hosts.len(),
            crate::output::compact(&names)
        ),
    ];
    if !danger.is_empty() {
        lines.push(format!("⚠ dangerous: matches `{}`", danger.join("`, `")));
    }
    if above {
        lines.push(format!("more than {} hosts", app.settings.confirm_above));
    }
    app.open_dialog(Dialog::Confirm {
        title: "Run this command?".into(),
        lines,
        danger: !danger.is_empty(),
        on_yes: OnYes::Run { command, hosts },
    });
    effects
}

/// Builds and submits a job; resets the hosts' panes.
pub fn start_job(app: &mut App, command: &str, hosts: Vec<HostId>) -> Vec<Effect> {
    let targets = match crate::engine::resolve_targets(&app.inventory, &hosts) {
        Ok(t) => t,
        Err(e) => {
            app.set_status(LogLevel::Error, format!("cannot run: {e}"));
            app.push_log(
                LogLevel::Error,
                None,
                format!("cannot run `{command}`: {e}"),
            );
            return Vec::new();
        }
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
    let pattern = selection_pattern(app, &hosts);
    let sudo_user = app.sudo.then(|| app.settings.sudo_user.clone());
    let via = sudo_user
        .as_deref()
        .map_or(String::new(), |u| format!(" through sudo as {u}"));
    app.push_log(
        LogLevel::Info,
        None,
        format!(
            "exec \"{command}\"{via} on {} hosts ({pattern})",
            hosts.len()
        ),
    );
    app.job = Some(JobView {
        id: None,
        command: command.to_string(),
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
    app.gathered_scroll = 0;
    app.failed_only = false;
    let spec = JobSpec {
        kind: JobKind::Exec(ExecSpec {
            command: command.to_string(),
            pty: app.settings.pty,
            timeout: app.settings.command_timeout,
            sudo_user,
        }),
        targets,
        fanout: app.settings.fanout,
        pattern,
    };
    vec![Effect::Submit(spec)]
}

/// A short description of the selection for the operation log: whole groups by name.
fn selection_pattern(app: &App, hosts: &[HostId]) -> String {
    let names: Vec<&str> = hosts
        .iter()
        .map(|&h| app.inventory.hosts[h].name.as_str())
        .collect();
    if hosts.len() == app.hosts.len() && !hosts.is_empty() {
        return "all".into();
    }
    let groups: Vec<&str> = app
        .inventory
        .groups
        .iter()
        .enumerate()
        .skip(1)
        .filter(|(g, _)| {
            let under = app.tree.hosts_under(*g);
            !under.is_empty()
                && under.len() == hosts.len()
                && under.iter().all(|h| hosts.contains(h))
        })
        .map(|(_, g)| g.name.as_str())
        .collect();
    groups
        .first()
        .map_or_else(|| crate::output::compact(&names), |g| (*g).to_string())
}

fn host_of(app: &App, job: crate::engine::JobId, name: &Arc<str>) -> Option<HostId> {
    let current = app.job.as_ref()?;
    if current.id.is_some_and(|id| id != job) {
        return None;
    }
    app.by_name.get(name).copied()
}

fn on_event(app: &mut App, event: Event) {
    match event {
        Event::JobStarted {
            job,
            hosts,
            run_dir,
        } => {
            if let Some(j) = app
                .job
                .as_mut()
                .filter(|j| j.id.map_or(true, |id| id == job))
            {
                j.run_dir.clone_from(&run_dir);
            }
            let folder = run_dir.map_or_else(
                || "no run folder".to_string(),
                |d| format!("full output in {}", d.display()),
            );
            app.push_log(
                LogLevel::Info,
                None,
                format!("job {job} started on {hosts} hosts; {folder}"),
            );
        }
        Event::Connecting { job, host } => {
            if let Some(h) = host_of(app, job, &host) {
                app.hosts[h].state = HostState::Connecting;
            }
            app.push_log(
                LogLevel::Debug,
                Some(host.clone()),
                format!("{host}: connecting"),
            );
        }
        Event::Connected { job, host, reused } => {
            if let Some(h) = host_of(app, job, &host) {
                if app.hosts[h].state == HostState::Queued {
                    app.hosts[h].state = HostState::Connecting;
                }
            }
            let how = if reused {
                "session reused"
            } else {
                "connected"
            };
            app.push_log(
                LogLevel::Debug,
                Some(host.clone()),
                format!("{host}: {how}"),
            );
        }
        Event::Running { job, host } => {
            if let Some(h) = host_of(app, job, &host) {
                app.hosts[h].state = HostState::Running;
                app.hosts[h].started = Some(app.clock.now);
            }
            app.push_log(
                LogLevel::Debug,
                Some(host.clone()),
                format!("{host}: running"),
            );
        }
        Event::Output {
            job,
            host,
            stream,
            data,
        } => {
            if let Some(h) = host_of(app, job, &host) {
                app.hosts[h].pane.feed(stream, &data);
                app.gathered_dirty = true;
            }
        }
        Event::Progress {
            job,
            host,
            done,
            total,
        } => super::transfer::on_progress(app, job, &host, done, total),
        Event::Finished {
            job,
            host,
            exit,
            duration,
        } => {
            let ok = exit.success();
            super::transfer::on_host_end(app, job, &host, ok);
            let text = match &exit {
                crate::engine::ExitStatus::Code(c) => {
                    format!("{host}: exit {c} ({:.2}s)", duration.as_secs_f64())
                }
                crate::engine::ExitStatus::Signal(s) => {
                    format!("{host}: killed by SIG{s} ({:.2}s)", duration.as_secs_f64())
                }
            };
            if let Some(h) = host_of(app, job, &host) {
                let v = &mut app.hosts[h];
                v.state = if ok { HostState::Ok } else { HostState::Failed };
                v.exit = Some(exit);
                v.duration = Some(duration);
                app.gathered_dirty = true;
            }
            app.push_log(
                if ok { LogLevel::Info } else { LogLevel::Error },
                Some(host),
                text,
            );
        }
        Event::Failed {
            job,
            host,
            class,
            message,
            duration,
        } => {
            super::transfer::on_host_end(app, job, &host, false);
            if let Some(h) = host_of(app, job, &host) {
                let v = &mut app.hosts[h];
                v.state = match class {
                    ErrorClass::Unreachable | ErrorClass::Refused => HostState::Unreachable,
                    ErrorClass::Cancelled => HostState::Cancelled,
                    _ => HostState::Failed,
                };
                v.error = Some((class, message.clone()));
                v.duration = Some(duration);
                app.gathered_dirty = true;
            }
            let level = if class == ErrorClass::Cancelled {
                LogLevel::Warn
            } else {
                LogLevel::Error
            };
            app.push_log(
                level,
                Some(host.clone()),
                format!("{host}: {class}: {message}"),
            );
        }
        Event::Log { level, message } => app.push_log(level, None, message),
        Event::JobDone {
            job,
            ok,
            failed,
            duration,
        } => {
            super::transfer::on_job_done(app, job);
            let mut failed_hosts = Vec::new();
            if let Some(j) = app
                .job
                .as_mut()
                .filter(|j| j.id.map_or(true, |id| id == job))
            {
                j.done = true;
                j.duration = Some(duration);
                let hosts = j.hosts.clone();
                for h in hosts {
                    let v = &mut app.hosts[h];
                    if v.state.is_active() {
                        // The engine said it is over; whatever did not report was cancelled.
                        v.state = HostState::Cancelled;
                    }
                    if v.state.is_failure() {
                        failed_hosts.push(h);
                    }
                }
                app.last_failed = failed_hosts;
            }
            let level = if failed > 0 {
                LogLevel::Warn
            } else {
                LogLevel::Info
            };
            let text = format!(
                "job {job} done: {ok} ok, {failed} failed in {:.2}s",
                duration.as_secs_f64()
            );
            app.push_log(level, None, text.clone());
            if failed > 0 {
                app.set_status(
                    LogLevel::Warn,
                    format!("{text} — f selects the failed hosts, F shows only them"),
                );
            }
            app.gathered_dirty = true;
        }
    }
}

/// Folds the current job's outputs into groups of identical output, largest first.
pub fn compute_gathered(app: &mut App) {
    app.gathered_dirty = false;
    app.gathered_at = Some(app.clock.now);
    let Some(job) = &app.job else {
        app.gathered.clear();
        return;
    };
    // Fold by a keyed hash of what each pane holds plus how the host ended, without copying
    // the output; a pane's hash is recomputed only when its content changed.
    if app.hash_cache.len() != app.hosts.len() {
        app.hash_cache = vec![None; app.hosts.len()];
    }
    let mut keys = Vec::with_capacity(job.hosts.len());
    for &h in &job.hosts {
        let v = &app.hosts[h];
        let hash = match app.hash_cache[h] {
            Some((version, hash)) if version == v.pane.version() => hash,
            _ => {
                let hash = v.pane.content_hash(&app.hash_state);
                app.hash_cache[h] = Some((v.pane.version(), hash));
                hash
            }
        };
        let end = match (&v.exit, &v.error) {
            (_, Some((class, _))) => class.as_str().to_string(),
            (Some(crate::engine::ExitStatus::Code(c)), None) => format!("exit {c}"),
            (Some(crate::engine::ExitStatus::Signal(s)), None) => format!("SIG{s}"),
            (None, None) => v.state.word().to_string(),
        };
        keys.push((
            app.inventory.hosts[h].name.as_str(),
            (hash, v.pane.len(), end),
        ));
    }
    let folded = crate::output::fold_by(keys);
    let groups: Vec<GatherGroup> = folded
        .into_iter()
        .filter_map(|(names, _)| {
            let hosts: Vec<HostId> = names
                .iter()
                .filter_map(|n| app.inventory.host_by_name(n))
                .collect();
            Some(GatherGroup {
                rep: *hosts.first()?,
                label: crate::output::compact(&names),
                hosts,
            })
        })
        .collect();
    app.gathered = groups;
}

#[allow(clippy::many_single_char_names)]
fn on_mouse(app: &mut App, m: MouseEvent) {
    let a = areas(app.area);
    let (x, y) = (m.column, m.row);
    if let Some(Dialog::Help { scroll } | Dialog::HostDetails { scroll, .. }) = &mut app.dialog {
        match m.kind {
            MouseEventKind::ScrollDown => *scroll += WHEEL_LINES,
            MouseEventKind::ScrollUp => *scroll = scroll.saturating_sub(WHEEL_LINES),
            _ => {}
        }
        return;
    }
    if app.dialog.is_some() {
        return;
    }
    match m.kind {
        MouseEventKind::Down(MouseButton::Left) => {
            if layout::contains(a.tree, x, y) {
                app.focus = Focus::Tree;
                let body = inner(a.tree);
                if y >= body.y && y < body.y + tree_height(app) as u16 {
                    let row = app.tree.offset + (y - body.y) as usize;
                    if row < app.tree.rows().len() {
                        app.tree.move_to(row);
                        let depth = match app.tree.rows()[row] {
                            Row::Group { depth, .. } | Row::Host { depth, .. } => depth,
                        };
                        let col = (x - body.x) as usize;
                        let check_start = depth * 2 + 2;
                        if col >= check_start && col < check_start + 3 {
                            app.tree.toggle_cursor();
                        } else if col < check_start
                            && matches!(app.tree.rows()[row], Row::Group { .. })
                        {
                            app.tree.expand_cursor(&app.inventory, None);
                        }
                    }
                }
            } else if layout::contains(a.output, x, y) {
                app.focus = Focus::Output;
                let grid = layout::grid(app, inner(a.output));
                if let Some((i, _, _)) = grid
                    .panes
                    .iter()
                    .find(|(_, _, r)| layout::contains(*r, x, y))
                {
                    app.pane_cursor = *i;
                }
            } else if layout::contains(a.log, x, y) {
                app.focus = Focus::Log;
            } else if layout::contains(a.cmdline, x, y) {
                app.focus = Focus::Cmdline;
            }
        }
        MouseEventKind::ScrollUp | MouseEventKind::ScrollDown => {
            let up = m.kind == MouseEventKind::ScrollUp;
            if layout::contains(a.tree, x, y) {
                app.tree.move_by(if up {
                    -(WHEEL_LINES as isize)
                } else {
                    WHEEL_LINES as isize
                });
                let h = tree_height(app);
                app.tree.scroll_into_view(h);
            } else if layout::contains(a.output, x, y) {
                if app.view == View::Gathered && app.zoom.is_none() {
                    app.gathered_scroll = if up {
                        app.gathered_scroll.saturating_sub(WHEEL_LINES)
                    } else {
                        app.gathered_scroll + WHEEL_LINES
                    };
                    return;
                }
                let grid = layout::grid(app, inner(a.output));
                if let Some((_, h, _)) = grid
                    .panes
                    .iter()
                    .find(|(_, _, r)| layout::contains(*r, x, y))
                {
                    let pane = &mut app.hosts[*h].pane;
                    if up {
                        pane.scroll_up(WHEEL_LINES);
                    } else {
                        pane.scroll_down(WHEEL_LINES);
                    }
                }
            } else if layout::contains(a.log, x, y) {
                let max = app.log.visible().count().saturating_sub(1);
                app.log.scroll = if up {
                    (app.log.scroll + WHEEL_LINES).min(max)
                } else {
                    app.log.scroll.saturating_sub(WHEEL_LINES)
                };
            }
        }
        _ => {}
    }
}
