//! `/` in the output area: typing the query, finding the hits, moving through them, and
//! narrowing the panes to the hosts that match.

use super::super::action::Cmd;
use super::super::app::search::{find, Hit, Search};
use super::super::app::{App, View};
use crate::engine::LogLevel;

/// `/`: starts typing a new query (the previous one stays shown until Enter).
pub(super) fn start(app: &mut App) {
    if app.job.is_none() {
        app.set_status(LogLevel::Info, "nothing to search: run a command first");
        return;
    }
    app.search.editing = true;
    app.search.query.clear();
}

/// Keys while typing the query.
pub(super) fn edit_cmd(app: &mut App, cmd: Cmd) {
    let s = &mut app.search;
    match cmd {
        Cmd::Insert(c) => s.query.push(c),
        Cmd::Backspace => {
            s.query.pop();
        }
        Cmd::ClearLine => s.query.clear(),
        Cmd::DeleteWord => {
            let keep = s.query.trim_end().rfind(' ').map_or(0, |i| i + 1);
            s.query.truncate(keep);
        }
        Cmd::Escape => clear(app),
        Cmd::Submit => {
            let query = std::mem::take(&mut app.search.query);
            if query.is_empty() {
                clear(app);
            } else {
                run(app, &query);
                jump(app, 0);
            }
        }
        _ => {}
    }
}

/// Esc: no search any more; every pane shows again.
pub(super) fn clear(app: &mut App) {
    app.search = Search::default();
}

/// Finds the hits of `query` in the panes of the job's hosts.
fn run(app: &mut App, query: &str) {
    let Some(job) = &app.job else { return };
    let narrow = app.search.narrow;
    let panes = job.hosts.iter().map(|&h| (h, &app.hosts[h].pane));
    app.search = find(query, panes);
    app.search.narrow = narrow && !app.search.hosts.is_empty();
    let s = &app.search;
    let msg = if s.hits.is_empty() {
        format!("/{query}: no match in the kept output")
    } else {
        format!(
            "/{query}: {}{} lines on {} hosts (n/N: next/previous, m: matching only)",
            s.hits.len(),
            if s.truncated { "+" } else { "" },
            s.hosts.len()
        )
    };
    app.set_status(LogLevel::Info, msg);
}

/// Output changed since the hits were found: find them again, staying near the current one.
fn refresh(app: &mut App) {
    let Some(job) = &app.job else { return };
    let stamp = job
        .hosts
        .iter()
        .fold(0u64, |a, &h| a.wrapping_add(app.hosts[h].pane.version()));
    if stamp == app.search.stamp {
        return;
    }
    let (Some(query), current) = (app.search.searched.clone(), app.search.current_hit()) else {
        return;
    };
    let narrow = app.search.narrow;
    run(app, &query);
    app.search.narrow = narrow && !app.search.hosts.is_empty();
    if let Some(c) = current {
        app.search.current = app
            .search
            .hits
            .iter()
            .position(|h| (h.host, h.line) >= (c.host, c.line))
            .unwrap_or(0);
    }
}

/// `n` / `N`.
pub(super) fn step(app: &mut App, forward: bool) {
    refresh(app);
    let n = app.search.hits.len();
    if n == 0 {
        app.set_status(LogLevel::Info, "no search hits (/ searches again)");
        return;
    }
    let i = if forward {
        (app.search.current + 1) % n
    } else {
        (app.search.current + n - 1) % n
    };
    jump(app, i);
}

/// `m`: only the panes of matching hosts, or all again.
pub(super) fn matching_only(app: &mut App) {
    if app.search.hosts.is_empty() {
        app.set_status(LogLevel::Info, "no host matches the search");
        return;
    }
    app.search.narrow = !app.search.narrow;
    let current = app.search.current_hit();
    if let Some(h) = current {
        show(app, h);
    } else {
        app.pane_cursor = 0;
    }
}

/// Makes hit `i` the current one and shows it.
fn jump(app: &mut App, i: usize) {
    app.search.current = i;
    if let Some(hit) = app.search.current_hit() {
        show(app, hit);
    }
}

/// Chooses the hit's pane (in the grid, or zoomed if a host is zoomed) and scrolls it so the
/// line is in the middle.
fn show(app: &mut App, hit: Hit) {
    app.view = View::Panes;
    if app.zoom.is_some() {
        app.zoom = Some(hit.host);
    }
    if let Some(i) = app.pane_hosts().iter().position(|h| *h == hit.host) {
        app.pane_cursor = i;
    }
    let page = super::output::pane_page(app);
    let pane = &mut app.hosts[hit.host].pane;
    let Some(index) = hit.line.checked_sub(pane.dropped) else {
        return;
    };
    let below = (pane.len() as u64).saturating_sub(index + 1) as usize;
    pane.scroll = below.saturating_sub(page / 2);
}
