//! The output area (panes, zoom, gathered view, failed-only filter) and the live log.

use super::super::action::Cmd;
use super::super::app::{App, Focus, View};
use super::super::layout::{self, areas, inner};
use super::super::tree::Row;
use super::compute_gathered;
use crate::engine::LogLevel;

/// `z` (Enter in the output): the chosen host alone, or back to the grid.
pub(super) fn zoom(app: &mut App) {
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

/// Lines of output a page holds for the current host.
pub(super) fn pane_page(app: &App) -> usize {
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

pub(super) fn output_cmd(app: &mut App, cmd: Cmd) {
    if app.view.is_folded() && app.zoom.is_none() {
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

pub(super) fn log_cmd(app: &mut App, cmd: Cmd) {
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

/// `v`: per-host panes ↔ gathered.
pub(super) fn cycle_view(app: &mut App) {
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

/// `d`: the diff view (largest group in full, the others as diffs against it) / panes.
pub(super) fn diff_view(app: &mut App) {
    app.zoom = None;
    app.view = if app.view == View::Diff {
        View::Panes
    } else {
        View::Diff
    };
    if app.view == View::Diff {
        app.gathered_scroll = 0;
        compute_diffs(app);
    }
}

/// Most diff lines kept per group.
const MAX_DIFF_LINES: usize = 20_000;
/// Time the diff view may take to compute on the UI thread.
const DIFF_BUDGET: std::time::Duration = std::time::Duration::from_millis(150);

/// Folds the outputs again and diffs every group's output against the largest group's.
pub(super) fn compute_diffs(app: &mut App) {
    compute_gathered(app);
    let text = |app: &App, h: usize| app.hosts[h].pane.plain_text();
    let Some(base) = app.gathered.first().map(|g| text(app, g.rep)) else {
        app.diffs.clear();
        return;
    };
    // A time budget for the whole view on the UI thread: groups past it show as not diffed.
    let until = std::time::Instant::now() + DIFF_BUDGET;
    let mut diffs = Vec::with_capacity(app.gathered.len().saturating_sub(1));
    for g in &app.gathered[1..] {
        if std::time::Instant::now() >= until {
            break;
        }
        diffs.push(crate::output::diff::unified(
            &base,
            &text(app, g.rep),
            MAX_DIFF_LINES,
        ));
    }
    app.diffs = diffs;
}

/// `F`: only the failed hosts' panes, or all again.
pub(super) fn failed_only(app: &mut App) {
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
