//! The command line and the key hint / status bar.

use super::text::{paragraph, raw, span, SafeLine};
use ratatui::layout::{Position, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::Frame;

use super::{cut_chars, level_style};
use crate::tui::app::{App, Focus};

pub fn draw_cmdline(frame: &mut Frame, app: &App, area: Rect) {
    if area.height == 0 {
        return;
    }
    let t = &app.theme;
    let focused = app.focus == Focus::Cmdline && app.dialog.is_none();
    let c = &app.cmdline;
    let selected = app.tree.selected_count();
    let right = format!(" {selected} selected ");
    let width = area.width as usize;
    // Through sudo the prompt says so, in the warning color, focused or not (NO_COLOR: the
    // word itself shows it).
    let prompt = if app.sudo { " sudo > " } else { " > " };
    let pw = prompt.chars().count();
    let avail = width.saturating_sub(right.len() + pw);
    let prompt_style = if app.sudo {
        Style::default()
            .fg(t.colors.log_warn)
            .add_modifier(Modifier::BOLD)
    } else if focused {
        Style::default()
            .fg(t.colors.prompt)
            .add_modifier(Modifier::BOLD)
    } else {
        Style::default().fg(t.colors.dim)
    };
    let mut spans = vec![span(prompt, prompt_style)];
    let cursor_col;
    if let Some(s) = &c.search {
        let label = format!("(history search) `{}': ", s.query);
        let found = c.search_match().unwrap_or("");
        cursor_col = pw + label.chars().count().min(avail);
        spans.push(span(label, Style::default().fg(t.colors.status)));
        spans.push(span(
            cut_chars(found, avail).to_string(),
            Style::default().fg(t.colors.text),
        ));
    } else {
        // Keep the cursor in view on long lines.
        let start = c.cursor.saturating_sub(avail.saturating_sub(1));
        let shown: String = c.input.chars().skip(start).take(avail).collect();
        cursor_col = pw + c.cursor - start;
        if c.input.is_empty() && !focused {
            spans.push(span(
                if app.sudo {
                    ": command to run through sudo on the selected hosts (S: off)"
                } else {
                    ": command to run on the selected hosts"
                },
                Style::default().fg(t.colors.dim),
            ));
        } else {
            spans.push(span(shown, Style::default().fg(t.colors.text)));
        }
    }
    let left = SafeLine::from(spans);
    let lw = left.width();
    let mut line = left;
    if lw + right.len() <= width {
        line.push(raw(" ".repeat(width - lw - right.len())));
        line.push(span(right, Style::default().fg(t.colors.count)));
    }
    frame.render_widget(paragraph(line), area);
    if focused {
        frame.set_cursor_position(Position::new(
            area.x + cursor_col.min(width.saturating_sub(1)) as u16,
            area.y,
        ));
    }
}

pub fn draw_hints(frame: &mut Frame, app: &App, area: Rect) {
    if area.height == 0 {
        return;
    }
    let t = &app.theme;
    let line = if let Some((level, msg)) = &app.status {
        SafeLine::from(span(
            format!(" {msg}"),
            level_style(t, *level).add_modifier(Modifier::BOLD),
        ))
    } else {
        let hints = crate::tui::keys::hints(app);
        let mut spans = Vec::new();
        let mut used = 0;
        for (k, what) in hints {
            let (key, text) = (format!(" [{k}]"), format!(" {what}"));
            used += key.chars().count() + text.chars().count();
            if used > area.width as usize {
                break;
            }
            spans.push(span(key, Style::default().fg(t.colors.hint_key)));
            spans.push(span(text, Style::default().fg(t.colors.hint_text)));
        }
        SafeLine::from(spans)
    };
    frame.render_widget(paragraph(line), area);
}
