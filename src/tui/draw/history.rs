//! `J`: the job history dialog — the list of past jobs, one job's hosts with their results,
//! or one host's output read back from the run folder.

use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::widgets::Clear;
use ratatui::Frame;

use super::dialogs::{centered, frame_block};
use super::text::{line_styled, paragraph, span, SafeLine};
use super::{cut_chars, state_style};
use crate::tui::app::{App, HostState};
use crate::tui::history::{HistoryDialog, Level, PastJob, PastOutput};
use crate::tui::layout::inner;

pub fn draw(frame: &mut Frame, app: &App, h: &HistoryDialog, area: Rect) {
    let rect = centered(
        area,
        area.width.saturating_sub(4),
        area.height.saturating_sub(2),
    );
    let body = inner(rect);
    let (w, rows) = (body.width as usize, body.height as usize);
    let (title, lines) = match (&h.jobs, &h.level) {
        (None, _) => (
            "Job history".to_string(),
            vec![dim_line(app, " reading the operation log…")],
        ),
        (Some(Err(e)), _) => (
            "Job history".to_string(),
            vec![dim_line(app, &format!(" {e}"))],
        ),
        (Some(Ok(jobs)), Level::Jobs) => (
            format!("Job history · {} jobs, newest first", jobs.len()),
            job_lines(app, jobs, h.cursor, w, rows),
        ),
        (Some(Ok(jobs)), Level::Hosts { job }) => match jobs.get(*job) {
            Some(j) => (
                format!("{} · {}", j.time, cut_chars(&j.what, 60)),
                host_lines(app, j, h.cursor, w, rows),
            ),
            None => ("Job history".to_string(), Vec::new()),
        },
        (Some(Ok(jobs)), Level::Output { job, output }) => {
            let what = jobs.get(*job).map_or("", |j| j.what.as_str());
            match output {
                Ok(o) => (
                    format!("{} · {}", o.host, cut_chars(what, 60)),
                    output_lines(app, o, h.scroll, w, rows),
                ),
                Err(e) => (what.to_string(), vec![dim_line(app, &format!(" {e}"))]),
            }
        }
    };
    frame.render_widget(Clear, rect);
    frame.render_widget(
        paragraph(lines).block(frame_block(app, &title, false)),
        rect,
    );
}

fn dim_line(app: &App, text: &str) -> SafeLine<'static> {
    line_styled(text.to_string(), Style::default().fg(app.theme.colors.dim))
}

/// The first row to show so that `cursor` is visible in `rows` rows.
fn window(cursor: usize, rows: usize) -> usize {
    cursor.saturating_sub(rows.saturating_sub(1))
}

fn job_lines(
    app: &App,
    jobs: &[PastJob],
    cursor: usize,
    w: usize,
    rows: usize,
) -> Vec<SafeLine<'static>> {
    let t = &app.theme;
    if jobs.is_empty() {
        return vec![dim_line(app, " no job in the operation log yet")];
    }
    let start = window(cursor, rows);
    jobs.iter()
        .enumerate()
        .skip(start)
        .take(rows)
        .map(|(i, j)| {
            let failed = j.failed().len();
            let ok = j.hosts.len() - failed;
            let counts = format!("{ok}/{} ok", j.hosts.len());
            let head = format!(
                " {}  {:<8} {:<8} ",
                j.time,
                cut_chars(&j.operator, 8),
                j.kind
            );
            let used = head.chars().count() + counts.chars().count() + 2;
            let state = if failed > 0 {
                HostState::Failed
            } else {
                HostState::Ok
            };
            let mut line = SafeLine::from(vec![
                span(head, Style::default().fg(t.colors.dim)),
                span(format!("{counts:<10} "), state_style(t, state)),
                span(
                    cut_chars(&j.what, w.saturating_sub(used + 9)).to_string(),
                    Style::default().fg(t.colors.text),
                ),
            ]);
            if i == cursor {
                line = line.style(t.cursor());
            }
            line
        })
        .collect()
}

fn host_lines(
    app: &App,
    j: &PastJob,
    cursor: usize,
    w: usize,
    rows: usize,
) -> Vec<SafeLine<'static>> {
    let t = &app.theme;
    let nw = j
        .hosts
        .iter()
        .map(|h| h.name.chars().count())
        .max()
        .unwrap_or(4)
        .min(40);
    let mut lines = vec![dim_line(
        app,
        &format!(
            " by {} · pattern {} · {} hosts",
            j.operator,
            j.pattern,
            j.hosts.len()
        ),
    )];
    let start = window(cursor, rows.saturating_sub(1));
    for (i, h) in j
        .hosts
        .iter()
        .enumerate()
        .skip(start)
        .take(rows.saturating_sub(1))
    {
        let state = if h.ok {
            HostState::Ok
        } else {
            HostState::Failed
        };
        let name = format!(" {:<nw$}  ", cut_chars(&h.name, nw));
        let rest = w.saturating_sub(nw + 3);
        let mut line = SafeLine::from(vec![
            span(
                name,
                Style::default()
                    .fg(t.colors.text)
                    .add_modifier(Modifier::BOLD),
            ),
            span(
                cut_chars(&h.result, rest).to_string(),
                state_style(t, state),
            ),
        ]);
        if i == cursor {
            line = line.style(t.cursor());
        }
        lines.push(line);
    }
    lines
}

fn output_lines(
    app: &App,
    o: &PastOutput,
    scroll: usize,
    w: usize,
    rows: usize,
) -> Vec<SafeLine<'static>> {
    let t = &app.theme;
    let mut lines = Vec::new();
    if o.skipped > 0 {
        lines.push(dim_line(
            app,
            &format!(" … {} earlier bytes are in the run folder", o.skipped),
        ));
    }
    if o.lines.is_empty() {
        lines.push(dim_line(app, " (no output)"));
    }
    let room = rows.saturating_sub(lines.len());
    let start = scroll.min(o.lines.len().saturating_sub(room));
    for (stderr, text) in o.lines.iter().skip(start).take(room) {
        let color = if *stderr {
            t.colors.stderr
        } else {
            t.colors.text
        };
        lines.push(line_styled(
            cut_chars(text, w).to_string(),
            Style::default().fg(color),
        ));
    }
    lines
}
