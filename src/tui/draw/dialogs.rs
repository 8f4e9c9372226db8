//! Dialog windows (see `tui/dialog.rs` for how to add one).

use super::text::{line_raw, line_styled, paragraph, span, SafeLine, Titled};
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::widgets::{Block, Borders, Clear, Wrap};
use ratatui::Frame;

use crate::engine::{HostKeyQuestion, SecretKind};
use crate::tui::app::App;
use crate::tui::dialog::Dialog;
use crate::tui::keys::HELP;
use crate::tui::layout::inner;

/// A rectangle of at most `w`×`h` centered in `area`.
pub fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

pub(super) fn frame_block<'a>(app: &App, title: &'a str, danger: bool) -> Block<'a> {
    let t = &app.theme;
    let color = if danger {
        t.colors.danger
    } else {
        t.colors.dialog_border
    };
    Block::default()
        .borders(Borders::ALL)
        .border_style(Style::default().fg(color).add_modifier(Modifier::BOLD))
        .safe_title(span(
            format!(" {title} "),
            Style::default().fg(color).add_modifier(Modifier::BOLD),
        ))
        .style(t.base())
}

pub(super) fn keys_line<'a>(app: &App, keys: &[(&'a str, &'a str)]) -> SafeLine<'a> {
    let t = &app.theme;
    let mut spans = Vec::new();
    for (k, what) in keys {
        spans.push(span(
            format!(" [{k}]"),
            Style::default()
                .fg(t.colors.hint_key)
                .add_modifier(Modifier::BOLD),
        ));
        spans.push(span(
            format!(" {what}"),
            Style::default().fg(t.colors.hint_text),
        ));
    }
    SafeLine::from(spans)
}

pub fn draw_dialog(frame: &mut Frame, app: &App, dialog: &Dialog, area: Rect) {
    let (title, danger, lines, w): (String, bool, Vec<SafeLine>, u16) = match dialog {
        Dialog::Help { scroll } => {
            draw_help(frame, app, *scroll, area);
            return;
        }
        Dialog::Transfer(d) => {
            super::transfer::draw(frame, app, d, area);
            return;
        }
        Dialog::History(h) => {
            super::history::draw(frame, app, h, area);
            return;
        }
        Dialog::HostDetails {
            host,
            scroll,
            route,
        } => {
            super::details::draw_host_details(frame, app, *host, *scroll, route, area);
            return;
        }
        Dialog::Confirm {
            title,
            lines,
            danger,
            ..
        } => (title.clone(), *danger, confirm_lines(app, lines), 72),
        Dialog::HostKey { question: q, .. } => (
            "Unknown host key".to_string(),
            false,
            host_key_lines(app, q),
            76,
        ),
        Dialog::Secret {
            kind,
            text: prompt,
            input,
            keep,
            ..
        } => {
            let w = if matches!(kind, SecretKind::Sudo { .. }) {
                80
            } else {
                64
            };
            (
                secret_title(kind),
                false,
                secret_lines(app, kind, prompt, input, *keep),
                w,
            )
        }
        Dialog::Pattern { input, error } => (
            "Select by pattern".to_string(),
            false,
            pattern_lines(app, input, error.as_deref()),
            70,
        ),
        Dialog::Notice { title, text: body } => (
            title.clone(),
            false,
            vec![
                line_styled(body.clone(), Style::default().fg(app.theme.colors.text)),
                line_raw(""),
                keys_line(app, &[("Enter", "close")]),
            ],
            70,
        ),
    };
    draw_text_dialog(frame, app, &title, danger, lines, w, area);
}

/// A dialog of wrapped lines, `w` wide (at most the area) and as high as its text.
fn draw_text_dialog(
    frame: &mut Frame,
    app: &App,
    title: &str,
    danger: bool,
    lines: Vec<SafeLine>,
    w: u16,
    area: Rect,
) {
    let inner_w = w.min(area.width).saturating_sub(2).max(1) as usize;
    let wrapped: usize = lines
        .iter()
        .map(|l| l.width().max(1).div_ceil(inner_w))
        .sum();
    let rect = centered(area, w, wrapped as u16 + 2);
    frame.render_widget(Clear, rect);
    let block = frame_block(app, title, danger);
    frame.render_widget(
        paragraph(lines).block(block).wrap(Wrap { trim: false }),
        rect,
    );
}

/// A yes/no question: its lines, then the keys.
fn confirm_lines<'a>(app: &App, lines: &[String]) -> Vec<SafeLine<'a>> {
    let text = Style::default().fg(app.theme.colors.text);
    let mut v: Vec<SafeLine> = lines.iter().map(|l| line_styled(l.clone(), text)).collect();
    v.push(line_raw(""));
    v.push(keys_line(app, &[("y/Enter", "yes"), ("n/Esc", "no")]));
    v
}

/// An unknown host key: whose it is, its fingerprint, and the three answers.
fn host_key_lines<'a>(app: &App, q: &HostKeyQuestion) -> Vec<SafeLine<'a>> {
    let t = &app.theme;
    let text = Style::default().fg(t.colors.text);
    vec![
        line_styled(
            format!(
                "The host key of {} ({}:{}) is not known.",
                q.host, q.address, q.port
            ),
            text,
        ),
        line_raw(""),
        line_styled(format!("{} key fingerprint:", q.key_type), text),
        line_styled(
            format!("  {}", q.fingerprint),
            text.add_modifier(Modifier::BOLD),
        ),
        line_raw(""),
        line_styled(
            "Check it against the host before trusting it.",
            Style::default().fg(t.colors.dim),
        ),
        line_raw(""),
        keys_line(
            app,
            &[
                ("o", "accept once"),
                ("a", "accept and save"),
                ("r/Esc", "reject"),
            ],
        ),
    ]
}

fn secret_title(kind: &SecretKind) -> String {
    match kind {
        SecretKind::Password { .. } => "Password".to_string(),
        SecretKind::Passphrase { .. } => "Key passphrase".to_string(),
        SecretKind::Sudo { user } => format!("sudo password for {user}"),
    }
}

/// A password or passphrase question; the input shows as one dot per character.
fn secret_lines<'a>(
    app: &App,
    kind: &SecretKind,
    prompt: &str,
    input: &str,
    keep: bool,
) -> Vec<SafeLine<'a>> {
    let t = &app.theme;
    let text = Style::default().fg(t.colors.text);
    let mut v = vec![
        line_styled(prompt.to_string(), text),
        line_raw(""),
        SafeLine::from(vec![
            span("> ", Style::default().fg(t.colors.prompt)),
            span("•".repeat(input.chars().count()), text),
            span("▏", Style::default().fg(t.colors.prompt)),
        ]),
        line_raw(""),
        line_styled(
            "Kept in memory for this session only, never written.",
            Style::default().fg(t.colors.dim),
        ),
        keys_line(app, &[("Enter", "send"), ("Esc", "decline")]),
    ];
    if matches!(kind, SecretKind::Sudo { .. }) {
        v[4] = line_styled(
            if keep {
                "[x] keep for this session (Tab: this job only). Never written."
            } else {
                "[ ] keep for this session (Tab): kept for this job only, never written."
            },
            Style::default().fg(t.colors.dim),
        );
        v.insert(
            4,
            line_styled(
                "Asked once for the whole job; a wrong one fails as auth-failed.",
                Style::default().fg(t.colors.dim),
            ),
        );
    }
    v
}

/// `s`: the pattern being typed, examples, and why the last one did not parse.
fn pattern_lines<'a>(app: &App, input: &str, error: Option<&str>) -> Vec<SafeLine<'a>> {
    let t = &app.theme;
    let text = Style::default().fg(t.colors.text);
    let mut v = vec![
        line_styled(
            "Select the hosts a pattern matches (replaces the selection):",
            text,
        ),
        line_styled(
            "  web   web:db   prod:&web   all:!db   web[01-04]   ~regex",
            Style::default().fg(t.colors.dim),
        ),
        line_raw(""),
        SafeLine::from(vec![
            span("> ", Style::default().fg(t.colors.prompt)),
            span(input.to_string(), text),
            span("▏", Style::default().fg(t.colors.prompt)),
        ]),
    ];
    if let Some(e) = error {
        v.push(line_styled(
            e.to_string(),
            Style::default().fg(t.colors.danger),
        ));
    }
    v.push(line_raw(""));
    v.push(keys_line(app, &[("Enter", "select"), ("Esc", "cancel")]));
    v
}

fn draw_help(frame: &mut Frame, app: &App, scroll: usize, area: Rect) {
    let t = &app.theme;
    let mut lines = Vec::new();
    for (section, keys) in HELP {
        lines.push(line_styled(
            (*section).to_string(),
            Style::default()
                .fg(t.colors.title)
                .add_modifier(Modifier::BOLD),
        ));
        for (k, what) in *keys {
            lines.push(SafeLine::from(vec![
                span(format!("  {k:<20}"), Style::default().fg(t.colors.hint_key)),
                span((*what).to_string(), Style::default().fg(t.colors.text)),
            ]));
        }
        lines.push(line_raw(""));
    }
    let rect = centered(area, 90, area.height.saturating_sub(2));
    let h = inner(rect).height as usize;
    let scroll = scroll.min(lines.len().saturating_sub(h));
    frame.render_widget(Clear, rect);
    let title = "Keys  (↑↓ scroll · Esc closes)";
    let block = frame_block(app, title, false);
    let shown: Vec<SafeLine> = lines.into_iter().skip(scroll).collect();
    frame.render_widget(paragraph(shown).block(block), rect);
}
