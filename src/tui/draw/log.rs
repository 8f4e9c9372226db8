//! The live log.

use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};
use ratatui::Frame;

use super::{cut_chars, level_style, level_word};
use crate::tui::app::{App, Focus};
use crate::tui::layout::inner;

pub fn draw(frame: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let focused = app.focus == Focus::Log && app.dialog.is_none();
    let mut title = vec![
        Span::styled(" Log ", Style::default().fg(t.colors.title)),
        Span::styled(
            format!("≥ {} ", level_word(app.log.min_level).trim().to_lowercase()),
            Style::default().fg(t.colors.dim),
        ),
    ];
    if let Some(h) = &app.log.host {
        title.push(Span::styled(
            format!("· {h} "),
            Style::default().fg(t.colors.dim),
        ));
    }
    if app.log.scroll > 0 {
        title.push(Span::styled(
            format!("· ↑{} ", app.log.scroll),
            Style::default().fg(t.colors.status),
        ));
    }
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(t.border(focused))
        .title(Line::from(title));
    frame.render_widget(block, area);
    let body = inner(area);
    let h = body.height as usize;
    let w = body.width as usize;
    let visible: Vec<_> = app
        .log
        .visible()
        .rev()
        .skip(app.log.scroll)
        .take(h)
        .collect();
    let lines: Vec<Line> = visible
        .into_iter()
        .rev()
        .map(|e| {
            let time = e.time.format("%H:%M:%S ").to_string();
            let used = time.len() + 6;
            let style = level_style(t, e.level);
            Line::from(vec![
                Span::styled(time, Style::default().fg(t.colors.log_time)),
                Span::styled(format!("{} ", level_word(e.level)), style),
                Span::styled(
                    cut_chars(&e.text, w.saturating_sub(used)).to_string(),
                    if e.level >= crate::engine::LogLevel::Warn {
                        style
                    } else {
                        Style::default().fg(t.colors.text)
                    },
                ),
            ])
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), body);
}
