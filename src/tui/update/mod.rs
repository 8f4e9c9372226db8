//! `update`: the only place the console's state changes. It reads no clock, terminal, engine,
//! file system or environment; what must happen outside is returned as [`Effect`]s for the
//! runtime to carry out, and what the outside answers comes back as an [`Action`].
//!
//! One file per concern: `engine` (engine events, gathering), `command` (the command line and
//! jobs), `tree` (tree, filter, selection), `dialogs`, `mouse`, `output` (panes, zoom, log), `search`
//! (`/` through the panes' output).

mod command;
mod dialogs;
mod engine;
mod history;
mod mouse;
mod output;
mod search;
mod shell;
mod tree;

use super::action::{Action, Cmd, Effect};
use super::app::{App, Focus, View};
use super::dialog::Dialog;
use super::keys;
use crate::engine::LogLevel;

pub use command::{dangerous_matches, start_job};
pub use engine::compute_gathered;
pub use shell::{open as open_shells, shells_open, SHELL_COMMAND, SHELL_TERM};

/// The gathered view is refolded at most this often while output streams in.
pub const GATHER_INTERVAL: std::time::Duration = std::time::Duration::from_millis(300);

/// Lines the mouse wheel scrolls.
const WHEEL_LINES: usize = 3;

/// Applies one action; returns what the runtime must do.
pub fn update(app: &mut App, action: Action) -> Vec<Effect> {
    let mut effects = apply(app, action);
    // Broadcast shells: a pane's size is its PTY's (resize, zoom, panes coming and going).
    effects.extend(shell::sync_sizes(app));
    effects
}

fn apply(app: &mut App, action: Action) -> Vec<Effect> {
    match action {
        Action::Key(key) if shell::takes_keys(app) => shell::on_key(app, key),
        Action::Paste(text) if shell::takes_keys(app) => shell::on_paste(app, &text),
        Action::Key(key) => {
            let Some(cmd) = keys::translate(app, key) else {
                return Vec::new();
            };
            app.status = None;
            apply_cmd(app, cmd)
        }
        Action::Cmd(cmd) => apply_cmd(app, cmd),
        Action::Mouse(m) => {
            mouse::on_mouse(app, m);
            Vec::new()
        }
        Action::Paste(text) => {
            on_paste(app, &text);
            Vec::new()
        }
        Action::Resize(w, h) => {
            app.area = ratatui::layout::Rect::new(0, 0, w, h);
            let height = tree::tree_height(app);
            app.tree.scroll_into_view(height);
            Vec::new()
        }
        Action::Engine(event) => {
            engine::on_event(app, event);
            Vec::new()
        }
        Action::JobSubmitted(id) => engine::on_submitted(app, id),
        Action::SubmitFailed(message) => {
            engine::on_submit_failed(app, &message);
            Vec::new()
        }
        Action::AskHostKey(..) | Action::AskSecret(..) => {
            dialogs::on_question(app, action);
            Vec::new()
        }
        Action::Completions { .. } | Action::LocalPathChecked { .. } => {
            super::transfer::on_answer(app, action)
        }
        Action::JobsLoaded(jobs) => {
            history::on_jobs(app, jobs);
            Vec::new()
        }
        Action::OutputLoaded { run_dir, output } => {
            history::on_output(app, &run_dir, output);
            Vec::new()
        }
        Action::HistoryLoaded(older) => {
            app.cmdline.add_older_history(older);
            Vec::new()
        }
        Action::Log(level, text) => {
            app.push_log(level, None, text);
            Vec::new()
        }
        Action::Tick => {
            on_tick(app);
            Vec::new()
        }
        Action::Terminate => dialogs::quit_now(app),
    }
}

fn on_paste(app: &mut App, text: &str) {
    let clean: String = text.chars().filter(|c| !c.is_control()).collect();
    match &mut app.dialog {
        Some(Dialog::Secret { input, .. } | Dialog::Pattern { input, .. }) => {
            input.push_str(&clean);
        }
        None if app.focus == Focus::Cmdline => app.cmdline.insert_str(&clean),
        Some(_) | None => {}
    }
}

fn on_tick(app: &mut App) {
    let due = app
        .gathered_at
        .map_or(true, |t| app.clock.now.duration_since(t) >= GATHER_INTERVAL);
    if app.view.is_folded() && app.gathered_dirty && due {
        if app.view == View::Diff {
            output::compute_diffs(app);
        } else {
            compute_gathered(app);
        }
    }
}

/// Applies a command (from a key, or sent directly by tests).
pub fn apply_cmd(app: &mut App, cmd: Cmd) -> Vec<Effect> {
    if cmd == Cmd::CancelJob {
        return command::cancel_job(app);
    }
    if app.dialog.is_some() {
        return dialogs::dialog_cmd(app, cmd);
    }
    if app.tree.editing_filter {
        tree::filter_cmd(app, cmd);
        return Vec::new();
    }
    if app.search.editing {
        search::edit_cmd(app, cmd);
        return Vec::new();
    }
    if let Some(effects) = global_cmd(app, cmd) {
        return effects;
    }
    if app.focus == Focus::Output && app.shell.is_some() {
        if let Some(effects) = shell::output_cmd(app, cmd) {
            return effects;
        }
    }
    match app.focus {
        Focus::Tree => tree::tree_cmd(app, cmd),
        Focus::Output => output::output_cmd(app, cmd),
        Focus::Log => output::log_cmd(app, cmd),
        Focus::Cmdline => return command::cmdline_cmd(app, cmd),
    }
    Vec::new()
}

/// Commands that mean the same whatever has focus; `None` when `cmd` is not one of them.
fn global_cmd(app: &mut App, cmd: Cmd) -> Option<Vec<Effect>> {
    match cmd {
        Cmd::FocusNext | Cmd::FocusPrev => cycle_focus(app, cmd == Cmd::FocusNext),
        Cmd::FocusCmdline => app.focus = Focus::Cmdline,
        Cmd::Help => app.open_dialog(Dialog::Help { scroll: 0 }),
        Cmd::Quit => return Some(dialogs::quit(app)),
        Cmd::CycleTheme => cycle_theme(app),
        Cmd::CycleView | Cmd::DiffView if app.shell.is_some() => {
            app.set_status(LogLevel::Info, "shells are shown as panes only");
        }
        Cmd::CycleView => output::cycle_view(app),
        Cmd::DiffView => output::diff_view(app),
        Cmd::Zoom => output::zoom(app),
        Cmd::FailedOnly => output::failed_only(app),
        Cmd::SelectFailed => tree::select_failed(app),
        Cmd::SelectAll => tree::select_all(app),
        Cmd::SelectPattern => app.open_dialog(Dialog::Pattern {
            input: String::new(),
            error: None,
        }),
        Cmd::StartFilter => {
            app.focus = Focus::Tree;
            app.tree.editing_filter = true;
        }
        Cmd::Transfer => super::transfer::open(app),
        Cmd::ToggleSudo => command::toggle_sudo(app),
        Cmd::HostDetails => dialogs::host_details(app),
        Cmd::JobHistory => return Some(history::open(app)),
        Cmd::Broadcast => return Some(shell::broadcast(app)),
        Cmd::Escape if app.zoom.is_some() => app.zoom = None,
        Cmd::Escape if app.search.active() => search::clear(app),
        Cmd::StartSearch => search::start(app),
        Cmd::SearchNext => search::step(app, true),
        Cmd::SearchPrev => search::step(app, false),
        Cmd::MatchingOnly => search::matching_only(app),
        _ => return None,
    }
    Some(Vec::new())
}

fn cycle_focus(app: &mut App, forward: bool) {
    let i = Focus::ORDER
        .iter()
        .position(|f| *f == app.focus)
        .unwrap_or(0);
    let n = Focus::ORDER.len();
    let j = if forward {
        (i + 1) % n
    } else {
        (i + n - 1) % n
    };
    app.focus = Focus::ORDER[j];
    if app.focus != Focus::Cmdline {
        app.cmdline.end_search(false);
    }
}

fn cycle_theme(app: &mut App) {
    app.theme_index = (app.theme_index + 1) % app.themes.len().max(1);
    if let Some(t) = app.themes.get(app.theme_index) {
        app.theme = t.clone();
        app.set_status(LogLevel::Info, format!("theme: {}", app.theme.name));
    }
}
