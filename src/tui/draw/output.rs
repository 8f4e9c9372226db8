//! The output area: per-host panes, one zoomed host, or the gathered view.

use super::text::{line_raw, line_styled, paragraph, raw, span, SafeLine, SafeSpan, Titled};
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::widgets::{Block, Borders};
use ratatui::Frame;

use super::{cut_chars, fmt_duration, remote_style, state_style};
use crate::inventory::HostId;
use crate::output::TextStyle;
use crate::tui::app::search::{Hit, Matcher};
use crate::tui::app::{App, Focus, GatherGroup, HostState, View};
use crate::tui::layout::{grid, inner};
use crate::tui::pane::LineRef;

pub fn draw(frame: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let focused = app.focus == Focus::Output && app.dialog.is_none();
    let mode = match (app.zoom, app.view) {
        (Some(_), _) => " zoom ",
        (None, View::Gathered) => " gathered ",
        (None, View::Diff) => " diff ",
        (None, View::Panes) if app.failed_only => " failed only ",
        (None, View::Panes) => " panes ",
    };
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(t.border(focused))
        .safe_title(SafeLine::from(title_spans(app)))
        .safe_title(search_title(app).unwrap_or_else(|| {
            SafeLine::from(span(mode, Style::default().fg(t.colors.dim))).right_aligned()
        }));
    frame.render_widget(block, area);
    let body = inner(area);
    if app.job.is_none() {
        draw_first_steps(frame, app, body);
    } else if app.shell.is_some() {
        super::shell::draw(frame, app, body, focused);
    } else if app.view == View::Gathered && app.zoom.is_none() {
        draw_gathered(frame, app, body);
    } else if app.view == View::Diff && app.zoom.is_none() {
        super::diff::draw(frame, app, body);
    } else {
        draw_panes(frame, app, body, focused);
    }
}

/// The search field while typing, or the search in effect: query, hit, hosts.
fn search_title(app: &App) -> Option<SafeLine<'static>> {
    let t = &app.theme;
    let s = &app.search;
    let text = if s.editing {
        format!(" /{}▏ ", s.query)
    } else if s.active() {
        format!(
            " /{} · {} of {}{} · {} hosts{} ",
            s.searched.as_deref().unwrap_or_default(),
            if s.hits.is_empty() { 0 } else { s.current + 1 },
            s.hits.len(),
            if s.truncated { "+" } else { "" },
            s.hosts.len(),
            if s.narrow { " · matching only" } else { "" }
        )
    } else {
        return None;
    };
    Some(SafeLine::from(span(text, Style::default().fg(t.colors.status))).right_aligned())
}

/// The area's title: the job's command, its host counts and duration.
fn title_spans(app: &App) -> Vec<SafeSpan<'static>> {
    let t = &app.theme;
    let mut title = vec![span(" Output", Style::default().fg(t.colors.title))];
    let Some(job) = &app.job else {
        title.push(raw(" "));
        return title;
    };
    let (ok, failed, active, total) = app.job_counts();
    title.push(span(
        format!(": {} ", cut_chars(&job.command, 40)),
        Style::default()
            .fg(t.colors.text)
            .add_modifier(Modifier::BOLD),
    ));
    title.push(span(
        format!("· {ok}/{total} ok "),
        state_style(t, HostState::Ok),
    ));
    if failed > 0 {
        title.push(span(
            format!("· {failed} failed "),
            state_style(t, HostState::Failed),
        ));
    }
    if active > 0 {
        title.push(span(
            format!("· {active} running "),
            state_style(t, HostState::Running),
        ));
    }
    if let Some(r) = job.rolling {
        // Batch progress: hosts done over the batch size (skipped hosts count as done).
        let size = r.batch.of(total).max(1);
        let n = total.div_ceil(size);
        let k = ((ok + failed) / size + 1).min(n);
        title.push(span(
            format!("· batch {k}/{n} "),
            Style::default().fg(t.colors.status),
        ));
    }
    if let Some(d) = job.duration {
        title.push(span(
            format!("· {} ", fmt_duration(d)),
            Style::default().fg(t.colors.dim),
        ));
    }
    title
}

/// Before the first job: how to run one.
fn draw_first_steps(frame: &mut Frame, app: &App, body: Rect) {
    let dim = Style::default().fg(app.theme.colors.dim);
    let lines = vec![
        line_raw(""),
        line_styled(
            " Select hosts in the tree (Space), press : and type a command;",
            dim,
        ),
        line_styled(
            " Enter runs it on the selected hosts. ? shows every key.",
            dim,
        ),
    ];
    frame.render_widget(paragraph(lines), body);
}

/// One pane per host in the grid (or the zoomed one), and a line for those that do not fit.
fn draw_panes(frame: &mut Frame, app: &App, body: Rect, focused: bool) {
    let t = &app.theme;
    let g = grid(app, body);
    if g.panes.is_empty() {
        let msg = if app.failed_only {
            " no failed host (F shows all)"
        } else {
            " no hosts"
        };
        frame.render_widget(
            paragraph(line_styled(msg, Style::default().fg(t.colors.dim))),
            body,
        );
        return;
    }
    for &(index, host, rect) in &g.panes {
        draw_pane(
            frame,
            app,
            host,
            rect,
            index == app.pane_cursor && focused,
            app.zoom.is_some(),
        );
    }
    if let Some(more) = g.more {
        let line = SafeLine::from(vec![span(
            format!(
                " … {} more hosts not shown (←/→ pages through them, v gathered, F failed only, z zoom)",
                g.hidden
            ),
            Style::default().fg(t.colors.status),
        )]);
        frame.render_widget(paragraph(line), more);
    }
}

fn pane_title(app: &App, host: HostId, zoomed: bool) -> SafeLine<'static> {
    let t = &app.theme;
    let v = &app.hosts[host];
    let mut spans = super::status_spans(app, host);
    let duration = v.duration.or_else(|| {
        v.started
            .filter(|_| v.state == HostState::Running)
            .map(|s| app.clock.now.saturating_duration_since(s))
    });
    if let Some(d) = duration {
        spans.push(span(
            format!(" · {}", fmt_duration(d)),
            Style::default().fg(t.colors.dim),
        ));
    }
    if v.pane.scroll > 0 {
        spans.push(span(
            format!(" ↑{}", v.pane.scroll),
            Style::default().fg(t.colors.status),
        ));
    }
    if zoomed && v.pane.dropped > 0 {
        let folder = app
            .job
            .as_ref()
            .and_then(|j| j.run_dir.as_ref())
            .map_or_else(|| "the run folder".to_string(), |d| d.display().to_string());
        spans.push(span(
            format!(" · {} earlier lines in {folder}", v.pane.dropped),
            Style::default().fg(t.colors.dim),
        ));
    }
    spans.push(raw(" "));
    SafeLine::from(spans)
}

#[allow(clippy::many_single_char_names)]
fn draw_pane(frame: &mut Frame, app: &App, host: HostId, rect: Rect, chosen: bool, zoomed: bool) {
    let t = &app.theme;
    let v = &app.hosts[host];
    let border = if chosen {
        t.border(true)
    } else {
        Style::default().fg(if v.state.is_failure() {
            t.colors.state_failed
        } else {
            t.colors.border
        })
    };
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(border)
        .safe_title(pane_title(app, host, zoomed));
    frame.render_widget(block, rect);
    let body = inner(rect);
    let h = body.height as usize;
    let w = body.width as usize;
    if h == 0 || w == 0 {
        return;
    }
    let partials = v.pane.partial_lines();
    let error_line = v
        .error
        .as_ref()
        .map(|(class, msg)| format!("{class}: {msg}"));
    let total = v.pane.len() + partials.len() + usize::from(error_line.is_some());
    let end = total.saturating_sub(v.pane.scroll.min(total.saturating_sub(1)));
    let start = end.saturating_sub(h);
    let mut lines = Vec::with_capacity(h);
    let stderr_style = Style::default().fg(t.colors.stderr);
    let text_style = Style::default().fg(t.colors.text);
    for i in start..end {
        let mut budget = w;
        let mut spans = Vec::new();
        if i < v.pane.len() {
            let Some(l) = v.pane.line(i) else { continue };
            let base = if l.stderr { stderr_style } else { text_style };
            let marks = search_marks(app, host, v.pane.dropped + i as u64, &l);
            for (ts, text, mark) in marked_segments(&l.spans, &marks) {
                if budget == 0 {
                    break;
                }
                let cut = cut_chars(text, budget);
                budget -= cut.chars().count();
                let style = match mark {
                    Mark::None => remote_style(t, &ts, base),
                    Mark::Hit => remote_style(t, &ts, base).add_modifier(Modifier::REVERSED),
                    Mark::Current => t.cursor().add_modifier(Modifier::BOLD),
                };
                spans.push(span(cut, style));
            }
        } else if i < v.pane.len() + partials.len() {
            let (l, stderr) = &partials[i - v.pane.len()];
            let base = if *stderr { stderr_style } else { text_style };
            for (ts, text) in &l.spans {
                if budget == 0 {
                    break;
                }
                let cut = cut_chars(text, budget).to_string();
                budget -= cut.chars().count();
                spans.push(span(cut, remote_style(t, ts, base)));
            }
        } else if let Some(e) = &error_line {
            spans.push(span(cut_chars(e, w).to_string(), state_style(t, v.state)));
        }
        lines.push(SafeLine::from(spans));
    }
    if total == 0 {
        lines.push(line_styled(
            empty_pane_text(v.state),
            Style::default().fg(t.colors.dim),
        ));
    }
    frame.render_widget(paragraph(lines), body);
}

/// What an empty pane says.
fn empty_pane_text(state: HostState) -> &'static str {
    match state {
        HostState::Queued => "waiting for a slot…",
        HostState::Connecting => "connecting…",
        HostState::Running => "running, no output yet",
        HostState::Ok | HostState::Failed => "(no output)",
        _ => "",
    }
}

/// How a piece of a pane line is marked by the search.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mark {
    None,
    Hit,
    /// A match on the current hit's line.
    Current,
}

/// The byte ranges of search matches in line `abs` of `host`, and how to mark them.
fn search_marks(app: &App, host: HostId, abs: u64, l: &LineRef<'_>) -> (Vec<(usize, usize)>, Mark) {
    let s = &app.search;
    let Some(query) = s.searched.as_deref().filter(|_| s.active()) else {
        return (Vec::new(), Mark::None);
    };
    let ranges = Matcher::new(query).find_all(&l.text());
    let current = s.current_hit() == Some(Hit { host, line: abs });
    (ranges, if current { Mark::Current } else { Mark::Hit })
}

/// The line's styled segments cut at the match boundaries, each with its mark.
fn marked_segments<'l>(
    segments: &[(TextStyle, &'l str)],
    marks: &(Vec<(usize, usize)>, Mark),
) -> Vec<(TextStyle, &'l str, Mark)> {
    let (ranges, mark) = marks;
    let mut out = Vec::with_capacity(segments.len() + 2 * ranges.len());
    let mut off = 0;
    for &(ts, text) in segments {
        let end = off + text.len();
        let mut pos = off;
        for &(a, b) in ranges.iter().filter(|r| r.0 < end && r.1 > off) {
            let (a, b) = (a.max(off), b.min(end));
            if a > pos {
                out.push((ts, &text[pos - off..a - off], Mark::None));
            }
            out.push((ts, &text[a - off..b - off], *mark));
            pos = b;
        }
        if pos < end {
            out.push((ts, &text[pos - off..], Mark::None));
        }
        off = end;
    }
    out
}

fn draw_gathered(frame: &mut Frame, app: &App, body: Rect) {
    let h = body.height as usize;
    let w = body.width as usize;
    if app.gathered.is_empty() {
        let line = line_styled(" no output yet", Style::default().fg(app.theme.colors.dim));
        frame.render_widget(paragraph(line), body);
        return;
    }
    // Each group is a header line plus its representative's lines (at least one).
    let size = |g: &GatherGroup| {
        let p = &app.hosts[g.rep].pane;
        1 + (p.len() + p.partial_lines().len()).max(1)
    };
    let total: usize = app.gathered.iter().map(size).sum();
    let mut skip = app.gathered_scroll.min(total.saturating_sub(h));
    let total_hosts: usize = app.gathered.iter().map(|g| g.hosts.len()).sum();
    let mut lines: Vec<SafeLine> = Vec::with_capacity(h);
    for (i, g) in app.gathered.iter().enumerate() {
        if lines.len() >= h {
            break;
        }
        let n = size(g);
        if skip >= n {
            skip -= n;
            continue;
        }
        if skip == 0 {
            lines.push(gather_header(app, i, g, total_hosts, w));
        } else {
            skip -= 1;
        }
        push_group_output(&mut lines, app, g, skip, h, w);
        skip = 0;
    }
    frame.render_widget(paragraph(lines), body);
}

/// A group's header rule: how many hosts, which kind of group, its state and its hosts.
pub(super) fn gather_header(
    app: &App,
    index: usize,
    g: &GatherGroup,
    total_hosts: usize,
    w: usize,
) -> SafeLine<'static> {
    let t = &app.theme;
    let style = if index == 0 {
        Style::default()
            .fg(t.colors.gathered_majority)
            .add_modifier(Modifier::BOLD)
    } else {
        Style::default()
            .fg(t.colors.gathered_outlier)
            .add_modifier(Modifier::BOLD)
    };
    let failed = g
        .hosts
        .iter()
        .filter(|&&x| app.hosts[x].state.is_failure())
        .count();
    let what = match (index, app.gathered.len() == 1) {
        (_, true) => "all identical",
        (0, false) => "largest group",
        _ => "outlier",
    };
    let state = app.hosts[g.rep].state;
    let mut header = format!(
        "── {}/{} hosts · {what}{} · {} {}: {} ",
        g.hosts.len(),
        total_hosts,
        if failed > 0 {
            format!(" · {failed} failed")
        } else {
            String::new()
        },
        state.symbol(),
        state.word(),
        g.label
    );
    let len = header.chars().count();
    if len < w {
        header.push_str(&"─".repeat(w - len));
    }
    line_styled(cut_chars(&header, w).to_string(), style)
}

/// The group's output (its representative's lines, `skip` of them scrolled away) until the
/// area (`height` lines) is full.
fn push_group_output(
    lines: &mut Vec<SafeLine<'static>>,
    app: &App,
    group: &GatherGroup,
    skip: usize,
    height: usize,
    width: usize,
) {
    let t = &app.theme;
    let p = &app.hosts[group.rep].pane;
    let partials = p.partial_lines();
    let count = p.len() + partials.len();
    if count == 0 && skip == 0 && lines.len() < height {
        lines.push(line_styled(
            "(no output)",
            Style::default().fg(t.colors.dim),
        ));
    }
    for k in skip.min(count)..count {
        if lines.len() >= height {
            break;
        }
        let text = if k < p.len() {
            p.line(k).map(|l| l.text()).unwrap_or_default()
        } else {
            partials[k - p.len()].0.text()
        };
        lines.push(line_styled(
            cut_chars(&text, width).to_string(),
            Style::default().fg(t.colors.text),
        ));
    }
}
