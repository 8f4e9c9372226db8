//! The mouse: a click focuses (and in the tree moves, toggles or expands), the wheel scrolls
//! what is under the pointer.

use crossterm::event::{MouseButton, MouseEvent, MouseEventKind};

use super::super::app::{App, Focus};
use super::super::dialog::Dialog;
use super::super::layout::{self, areas, inner};
use super::super::tree::Row;
use super::tree::tree_height;
use super::WHEEL_LINES;

pub(super) fn on_mouse(app: &mut App, m: MouseEvent) {
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
        MouseEventKind::Down(MouseButton::Left) => on_click(app, m.column, m.row),
        MouseEventKind::ScrollUp => on_wheel(app, m.column, m.row, true),
        MouseEventKind::ScrollDown => on_wheel(app, m.column, m.row, false),
        _ => {}
    }
}

fn on_click(app: &mut App, x: u16, y: u16) {
    let a = areas(app.area);
    if layout::contains(a.tree, x, y) {
        app.focus = Focus::Tree;
        click_tree(app, x, y);
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

/// A click on a tree row moves there; on the check box it toggles, left of it a group
/// expands or collapses.
fn click_tree(app: &mut App, x: u16, y: u16) {
    let body = inner(areas(app.area).tree);
    if y < body.y || y >= body.y + tree_height(app) as u16 {
        return;
    }
    let row = app.tree.offset + (y - body.y) as usize;
    if row >= app.tree.rows().len() {
        return;
    }
    app.tree.move_to(row);
    let depth = match app.tree.rows()[row] {
        Row::Group { depth, .. } | Row::Host { depth, .. } => depth,
    };
    let col = (x - body.x) as usize;
    let check_start = depth * 2 + 2;
    if col >= check_start && col < check_start + 3 {
        app.tree.toggle_cursor();
    } else if col < check_start && matches!(app.tree.rows()[row], Row::Group { .. }) {
        app.tree.expand_cursor(&app.inventory, None);
    }
}

fn on_wheel(app: &mut App, x: u16, y: u16, up: bool) {
    let a = areas(app.area);
    if layout::contains(a.tree, x, y) {
        app.tree.move_by(if up {
            -(WHEEL_LINES as isize)
        } else {
            WHEEL_LINES as isize
        });
        let h = tree_height(app);
        app.tree.scroll_into_view(h);
    } else if layout::contains(a.output, x, y) {
        if app.view.is_folded() && app.zoom.is_none() {
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
