//! `d`: the diff view — the largest group of identical outputs in full, then every other
//! group headed by its hosts and shown as a unified diff against the largest one.

use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::Frame;

use super::cut_chars;
use super::output::gather_header;
use super::text::{line_styled, paragraph, SafeLine};
use crate::output::diff::{DiffKind, DiffLine};
use crate::tui::app::App;

/// One line of the view before it is styled.
enum Row<'a> {
    Header(usize),
    Output(String),
    Diff(&'a DiffLine),
    Same,
    /// Groups left out: the diff view's time budget ran out.
    NotDiffed(usize),
}

pub fn draw(frame: &mut Frame, app: &App, body: Rect) {
    let (h, w) = (body.height as usize, body.width as usize);
    if app.gathered.is_empty() {
        let dim = Style::default().fg(app.theme.colors.dim);
        frame.render_widget(paragraph(line_styled(" no output yet", dim)), body);
        return;
    }
    let rows = rows(app);
    let skip = app.gathered_scroll.min(rows.len().saturating_sub(h));
    let total_hosts: usize = app.gathered.iter().map(|g| g.hosts.len()).sum();
    let lines: Vec<SafeLine> = rows
        .iter()
        .skip(skip)
        .take(h)
        .map(|r| styled(app, r, total_hosts, w))
        .collect();
    frame.render_widget(paragraph(lines), body);
}

/// Every line of the view: the first group's header and output, then each other group's
/// header and diff.
fn rows(app: &App) -> Vec<Row<'_>> {
    let mut rows = vec![Row::Header(0)];
    let base = &app.hosts[app.gathered[0].rep].pane;
    rows.extend(
        (0..base.len())
            .filter_map(|i| base.line(i))
            .map(|l| Row::Output(l.text())),
    );
    for (i, diff) in app.diffs.iter().enumerate() {
        rows.push(Row::Header(i + 1));
        if diff.is_empty() {
            // Same text, different end (exit status or error).
            rows.push(Row::Same);
        }
        rows.extend(diff.iter().map(Row::Diff));
    }
    let left = app.gathered.len().saturating_sub(1 + app.diffs.len());
    if left > 0 {
        rows.push(Row::NotDiffed(left));
    }
    rows
}

fn styled(app: &App, row: &Row<'_>, total_hosts: usize, w: usize) -> SafeLine<'static> {
    let c = &app.theme.colors;
    match row {
        Row::Header(i) => gather_header(app, *i, &app.gathered[*i], total_hosts, w),
        Row::Output(text) => {
            line_styled(cut_chars(text, w).to_string(), Style::default().fg(c.text))
        }
        Row::NotDiffed(n) => line_styled(
            format!(" … {n} more groups not diffed (too many different outputs; v shows them all)"),
            Style::default().fg(c.status),
        ),
        Row::Same => line_styled(
            " (the same output as the largest group; it ended differently)",
            Style::default().fg(c.dim),
        ),
        Row::Diff(d) => {
            let color = match d.kind {
                DiffKind::Added => c.state_ok,
                DiffKind::Removed => c.state_failed,
                DiffKind::Hunk | DiffKind::Cut => c.dim,
                DiffKind::Context => c.text,
            };
            line_styled(
                cut_chars(&d.unified(), w).to_string(),
                Style::default().fg(color),
            )
        }
    }
}
