//! The tree: moving, expanding, selecting, the name filter.

use super::super::action::Cmd;
use super::super::app::App;
use super::super::layout::{areas, inner};
use super::super::tree::Row;
use crate::engine::LogLevel;
use crate::inventory::HostId;

pub(super) fn filter_cmd(app: &mut App, cmd: Cmd) {
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
pub(super) fn tree_height(app: &App) -> usize {
    let mut h = inner(areas(app.area).tree).height as usize;
    if app.tree.editing_filter || !app.tree.filter.is_empty() {
        h = h.saturating_sub(1);
    }
    h.max(1)
}

pub(super) fn tree_cmd(app: &mut App, cmd: Cmd) {
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

/// `f`: the hosts that failed in the last job.
pub(super) fn select_failed(app: &mut App) {
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

/// `a`: every host, or none if all are selected.
pub(super) fn select_all(app: &mut App) {
    let all = app.tree.selected_count() == app.hosts.len();
    let hosts: Vec<HostId> = if all {
        Vec::new()
    } else {
        (0..app.hosts.len()).collect()
    };
    app.tree.set_selection(&hosts);
}
