//! Broadcast shells: each pane is its host's emulator screen, drawn cell by cell through
//! `text::cell` (so no byte a host wrote reaches the terminal but as a cleaned cell), with
//! the host's state, broadcast inclusion and exit status in its title.

use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::widgets::{Block, Borders};
use ratatui::Frame;

use super::text::{cell, line_styled, paragraph, raw, span, SafeLine, SafeSpan, Titled};
use super::{remote_style, state_style};
use crate::inventory::HostId;
use crate::output::{AnsiColor, TextStyle};
use crate::tui::app::App;
use crate::tui::layout::{grid, inner};
use crate::tui::shell::ShellHost;

/// The shells' panes in the grid (or the zoomed one).
pub fn draw(frame: &mut Frame, app: &App, body: Rect, focused: bool) {
    let t = &app.theme;
    let Some(shells) = &app.shell else {
        return;
    };
    let g = grid(app, body);
    for &(index, host, rect) in &g.panes {
        let Some(sh) = shells.get(host) else {
            continue;
        };
        let chosen = index == app.pane_cursor && (focused || shells.input);
        draw_pane(frame, app, sh, rect, chosen);
    }
    if let Some(more) = g.more {
        let line = line_styled(
            format!(
                " … {} more shells not shown (←/→ pages through them, z zoom)",
                g.hidden
            ),
            Style::default().fg(t.colors.status),
        );
        frame.render_widget(paragraph(line), more);
    }
}

fn draw_pane(frame: &mut Frame, app: &App, sh: &ShellHost, rect: Rect, chosen: bool) {
    let t = &app.theme;
    let v = &app.hosts[sh.host];
    let border = if chosen {
        t.border(true)
    } else if !sh.included {
        Style::default().fg(t.colors.dim)
    } else {
        Style::default().fg(t.colors.border)
    };
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(border)
        .safe_title(title(app, sh.host, sh));
    frame.render_widget(block, rect);
    let body = inner(rect);
    if body.width == 0 || body.height == 0 {
        return;
    }
    let screen = sh.term.screen();
    let show_cursor = chosen && !screen.hide_cursor() && sh.term.scrollback() == 0;
    let cursor = show_cursor.then(|| screen.cursor_position());
    let base = Style::default().fg(t.colors.text);
    let (cols, rows) = sh.term.size();
    let mut lines = Vec::with_capacity(usize::from(rows.min(body.height)));
    for row in 0..rows.min(body.height) {
        lines.push(row_line(
            app,
            screen,
            row,
            cols.min(body.width),
            base,
            cursor,
        ));
    }
    if let (Some(e), true) = (&v.error, lines.len() < usize::from(body.height)) {
        lines.push(line_styled(
            format!("{}: {}", e.0, e.1),
            state_style(t, v.state),
        ));
    }
    frame.render_widget(paragraph(lines), body);
}

/// One screen row as runs of equally styled cells.
fn row_line(
    app: &App,
    screen: &vt100::Screen,
    row: u16,
    cols: u16,
    base: Style,
    cursor: Option<(u16, u16)>,
) -> SafeLine<'static> {
    let mut spans: Vec<SafeSpan<'static>> = Vec::new();
    let mut run = String::new();
    let mut run_style = base;
    // Cells of a row mostly share attributes: the theme mapping runs once per change.
    let mut last: Option<(Attrs, Style)> = None;
    for col in 0..cols {
        let Some(c) = screen.cell(row, col) else {
            break;
        };
        if c.is_wide_continuation() {
            continue;
        }
        let attrs = attrs(c);
        let mut style = match last {
            Some((a, s)) if a == attrs => s,
            _ => {
                let s = cell_style(app, c, base);
                last = Some((attrs, s));
                s
            }
        };
        if cursor == Some((row, col)) {
            style = style.add_modifier(Modifier::REVERSED);
        }
        if style != run_style && !run.is_empty() {
            spans.push(span(std::mem::take(&mut run), run_style));
        }
        run_style = style;
        if c.has_contents() {
            run.push_str(cell(&c.contents()).as_str());
        } else {
            run.push(' ');
        }
    }
    if !run.is_empty() {
        spans.push(span(run, run_style));
    }
    SafeLine::from(spans)
}

/// A cell's attributes as the emulator keeps them.
type Attrs = (vt100::Color, vt100::Color, bool, bool, bool, bool);

fn attrs(c: &vt100::Cell) -> Attrs {
    (
        c.fgcolor(),
        c.bgcolor(),
        c.bold(),
        c.italic(),
        c.underline(),
        c.inverse(),
    )
}

fn cell_style(app: &App, c: &vt100::Cell, base: Style) -> Style {
    let color = |c: vt100::Color| match c {
        vt100::Color::Default => None,
        vt100::Color::Idx(i) => Some(AnsiColor::Indexed(i)),
        vt100::Color::Rgb(r, g, b) => Some(AnsiColor::Rgb(r, g, b)),
    };
    let ts = TextStyle {
        fg: color(c.fgcolor()),
        bg: color(c.bgcolor()),
        bold: c.bold(),
        dim: false,
        italic: c.italic(),
        underline: c.underline(),
        reverse: c.inverse(),
    };
    remote_style(&app.theme, &ts, base)
}

/// ` web01 ● running · broadcast ` / `· excluded` / `✗ exit 1`, and the scrollback offset.
fn title(app: &App, host: HostId, sh: &ShellHost) -> SafeLine<'static> {
    let t = &app.theme;
    let v = &app.hosts[host];
    let mut spans = super::status_spans(app, host);
    if v.state.is_active() {
        let (word, style) = if sh.included {
            ("broadcast", Style::default().fg(t.colors.status))
        } else {
            (
                "excluded",
                Style::default()
                    .fg(t.colors.dim)
                    .add_modifier(Modifier::BOLD),
            )
        };
        spans.push(span(format!(" · {word}"), style));
    }
    if sh.term.scrollback() > 0 {
        spans.push(span(
            format!(" ↑{}", sh.term.scrollback()),
            Style::default().fg(t.colors.status),
        ));
    }
    spans.push(raw(" "));
    SafeLine::from(spans)
}
