//! The group tree.

use super::text::{line_styled, paragraph, raw, span, SafeLine, SafeSpan, Titled};
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::widgets::{Block, Borders};
use ratatui::Frame;

use super::state_style;
use crate::inventory::{GroupId, HostId};
use crate::tui::app::{App, Focus};
use crate::tui::layout::inner;
use crate::tui::tree::{Check, Row};

pub fn draw(frame: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let focused = app.focus == Focus::Tree && app.dialog.is_none();
    let title = format!(
        " Hosts {}/{} selected ",
        app.tree.selected_count(),
        app.hosts.len()
    );
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(t.border(focused))
        .safe_title(span(title, Style::default().fg(t.colors.title)));
    frame.render_widget(block, area);
    let body = inner(area);
    let filter_shown = app.tree.editing_filter || !app.tree.filter.is_empty();
    let rows_h = if filter_shown {
        body.height.saturating_sub(1)
    } else {
        body.height
    } as usize;
    let lines = row_lines(app, focused, rows_h, body.width as usize);
    frame.render_widget(
        paragraph(lines),
        Rect::new(body.x, body.y, body.width, rows_h as u16),
    );
    if filter_shown && body.height > 0 {
        draw_filter(
            frame,
            app,
            Rect::new(body.x, body.y + body.height - 1, body.width, 1),
        );
    }
}

/// The visible window of the tree's rows (`rows_h` high), or why there are none.
fn row_lines(app: &App, focused: bool, rows_h: usize, width: usize) -> Vec<SafeLine<'static>> {
    let t = &app.theme;
    let rows = app.tree.rows();
    let mut lines = Vec::with_capacity(rows_h);
    if rows.is_empty() {
        let msg = if app.inventory.hosts.is_empty() {
            "no hosts in the inventory"
        } else {
            "no match"
        };
        lines.push(line_styled(msg, Style::default().fg(t.colors.dim)));
    }
    let offset = app.tree.offset.min(rows.len().saturating_sub(rows_h));
    for (i, row) in rows.iter().enumerate().skip(offset).take(rows_h) {
        let spans = match *row {
            Row::Group { id, depth } => group_spans(app, id, depth),
            Row::Host { id, depth } => host_spans(app, id, depth),
        };
        let mut line = SafeLine::from(spans);
        if i == app.tree.cursor {
            let style = if focused {
                t.cursor()
            } else {
                Style::default().add_modifier(Modifier::UNDERLINED)
            };
            line = line.style(style);
            // Fill the row so the cursor bar spans the width.
            let w = line.width();
            if w < width {
                line.push(raw(" ".repeat(width - w)));
            }
        }
        lines.push(line);
    }
    lines
}

/// A group row: fold arrow, tri-state check, name, (selected/total) hosts under it.
fn group_spans(app: &App, id: GroupId, depth: usize) -> Vec<SafeSpan<'static>> {
    let t = &app.theme;
    let open = app.tree.expanded[id] || !app.tree.filter.is_empty();
    let check = app.tree.check(id);
    let cstyle = if check == Check::None {
        Style::default().fg(t.colors.dim)
    } else {
        Style::default().fg(t.colors.checkbox)
    };
    let total = app.tree.hosts_under(id).len();
    let sel = app.tree.selected_under(id);
    let count = if sel == 0 {
        format!(" ({total})")
    } else {
        format!(" ({sel}/{total})")
    };
    vec![
        raw("  ".repeat(depth)),
        span(
            if open { "▾ " } else { "▸ " },
            Style::default().fg(t.colors.dim),
        ),
        span(check.symbol(), cstyle),
        raw(" "),
        span(
            app.inventory.groups[id].name.clone(),
            Style::default()
                .fg(t.colors.group)
                .add_modifier(Modifier::BOLD),
        ),
        span(count, Style::default().fg(t.colors.count)),
    ]
}

/// A host row: check box, name, state symbol.
fn host_spans(app: &App, id: HostId, depth: usize) -> Vec<SafeSpan<'static>> {
    let t = &app.theme;
    let sel = app.tree.selected[id];
    let st = app.hosts[id].state;
    vec![
        raw("  ".repeat(depth)),
        raw("  "),
        span(
            if sel { "[x]" } else { "[ ]" },
            Style::default().fg(if sel { t.colors.checkbox } else { t.colors.dim }),
        ),
        raw(" "),
        span(
            app.inventory.hosts[id].name.clone(),
            Style::default().fg(t.colors.text),
        ),
        raw(" "),
        span(st.symbol(), state_style(t, st)),
    ]
}

/// The name filter under the rows, with a caret while it is edited.
fn draw_filter(frame: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let caret = if app.tree.editing_filter { "▏" } else { "" };
    let line = SafeLine::from(vec![
        span("/", Style::default().fg(t.colors.prompt)),
        span(
            format!("{}{caret}", app.tree.filter),
            Style::default().fg(t.colors.text),
        ),
    ]);
    frame.render_widget(paragraph(line), area);
}
