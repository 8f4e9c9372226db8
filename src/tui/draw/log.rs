//! The live log.

use super::text::{paragraph, span, SafeLine, Titled};
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::widgets::{Block, Borders};
use ratatui::Frame;

use super::{cut_chars, level_style, level_word};
use crate::tui::app::{App, Focus};
use crate::tui::layout::inner;

pub fn draw(frame: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let focused = app.focus == Focus::Log && app.dialog.is_none();
    let mut title = vec![
        span(" Log ", Style::default().fg(t.colors.title)),
        span(
            format!("≥ {} ", level_word(app.log.min_level).trim().to_lowercase()),
            Style::default().fg(t.colors.dim),
        ),
    ];
    if let Some(h) = &app.log.host {
        title.push(span(format!("· {h} "), Style::default().fg(t.colors.dim)));
    }
    if app.log.scroll > 0 {
        title.push(span(
            format!("· ↑{} ", app.log.scroll),
            Style::default().fg(t.colors.status),
        ));
    }
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(t.border(focused))
        .safe_title(SafeLine::from(title));
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
    let lines: Vec<SafeLine> = visible
        .into_iter()
        .rev()
        .map(|e| {
            let time = e.time.format("%H:%M:%S ").to_string();
            let used = time.len() + 6;
            let style = level_style(t, e.level);
            SafeLine::from(vec![
                span(time, Style::default().fg(t.colors.log_time)),
                span(format!("{} ", level_word(e.level)), style),
                span(
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
    frame.render_widget(paragraph(lines), body);
}
