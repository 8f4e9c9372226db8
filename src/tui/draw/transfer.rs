//! The transfer dialog (`F5`): the form, then the job's progress bars.

use super::text::{line_raw, line_styled, paragraph, span, SafeLine, Titled};
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::widgets::{Block, Borders, Clear};
use ratatui::Frame;

use crate::contract::{Choice, Naming};
use crate::face::progress;
use crate::tui::app::App;
use crate::tui::transfer::{Direction, Field, Stage, TransferDialog, MAX_CANDIDATES};

use super::dialogs::centered;

/// The dialog's styles, from the theme.
struct Styles {
    text: Style,
    key: Style,
    hint: Style,
    chosen: Style,
}

/// Draws the dialog over `area`.
pub fn draw(frame: &mut Frame, app: &App, d: &TransferDialog, area: Rect) {
    let t = &app.theme;
    let st = Styles {
        text: Style::default().fg(t.colors.text),
        key: Style::default()
            .fg(t.colors.hint_key)
            .add_modifier(Modifier::BOLD),
        hint: Style::default().fg(t.colors.hint_text),
        chosen: t.cursor(),
    };
    let title = match (&d.stage, d.direction) {
        (Stage::Form, Direction::Send) => format!(" Transfer: send to {} hosts ", d.hosts.len()),
        (Stage::Form, Direction::Fetch) => {
            format!(" Transfer: fetch from {} hosts ", d.hosts.len())
        }
        (Stage::Running { done: false, .. }, _) => format!(" Transfer: {} ", d.describe()),
        (Stage::Running { done: true, .. }, _) => format!(" Transfer done: {} ", d.describe()),
    };
    let width = area.width.saturating_sub(4).min(96);
    let inner_cols = usize::from(width.saturating_sub(2));
    let lines = match &d.stage {
        Stage::Form => {
            let mut lines = form_fields(d, &st);
            lines.extend(form_footer(app, d, &st));
            lines
        }
        Stage::Running {
            started,
            progress: bars,
            done,
            ..
        } => {
            let mut lines: Vec<SafeLine> =
                progress::render(bars, *started, app.clock.now, inner_cols.max(20))
                    .into_iter()
                    .map(|l| line_styled(l, st.text))
                    .collect();
            lines.push(line_raw(""));
            let mut keys = vec![
                span("[Esc]", st.key),
                span(" hide (the job goes on) ", st.hint),
            ];
            if !done {
                keys.push(span("[Ctrl-C]", st.key));
                keys.push(span(" cancel", st.hint));
            }
            lines.push(SafeLine::from(keys));
            lines
        }
    };
    let h = (lines.len() as u16 + 2).min(area.height);
    let rect = centered(area, width, h);
    let border = Style::default()
        .fg(t.colors.dialog_border)
        .add_modifier(Modifier::BOLD);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(border)
        .safe_title(span(title, border))
        .style(t.base());
    frame.render_widget(Clear, rect);
    frame.render_widget(paragraph(lines).block(block), rect);
}

/// The form's fields, one a line, the chosen one highlighted.
fn form_fields<'a>(d: &'a TransferDialog, st: &Styles) -> Vec<SafeLine<'a>> {
    let (text, hint, chosen) = (st.text, st.hint, st.chosen);
    let label = |f: Field, name: &'static str| {
        let style = if d.field == f { chosen } else { hint };
        span(format!("{name:<12}"), style)
    };
    let field_text = |f: Field, value: &str| {
        let cursor = if d.field == f { "▏" } else { "" };
        span(format!("{value}{cursor}"), text)
    };
    let flag = |on: bool| if on { "[x]" } else { "[ ]" };
    let dir = match d.direction {
        Direction::Send => "send (local → hosts)",
        Direction::Fetch => "fetch (hosts → local directory)",
    };
    let mut lines = vec![SafeLine::from(vec![
        label(Field::Direction, "Direction"),
        span(format!("< {dir} >"), text),
    ])];
    let local_name = if d.direction == Direction::Send {
        "Local path"
    } else {
        "Local dir"
    };
    lines.push(SafeLine::from(vec![
        label(Field::Local, local_name),
        field_text(Field::Local, &crate::output::to_plain(d.local.as_bytes())),
    ]));
    if !d.candidates.is_empty() {
        // File names are untrusted: a name may hold control sequences.
        let mut shown: Vec<String> = d
            .candidates
            .iter()
            .take(MAX_CANDIDATES)
            .map(|c| crate::output::to_plain(c.as_bytes()))
            .collect();
        if d.candidates.len() > MAX_CANDIDATES {
            shown.push(format!("… +{}", d.candidates.len() - MAX_CANDIDATES));
        }
        lines.push(line_styled(format!("{:12}{}", "", shown.join("  ")), hint));
    }
    lines.push(SafeLine::from(vec![
        label(Field::Remote, "Remote path"),
        field_text(Field::Remote, &d.remote),
    ]));
    for (field, name, on) in [
        (Field::Recursive, "Recursive", d.recursive),
        (Field::KeepPerms, "Keep perms", d.keep_perms),
        (Field::Verify, "Verify", d.verify),
    ] {
        lines.push(SafeLine::from(vec![
            label(field, name),
            span(flag(on), text),
        ]));
    }
    let overwrite = if d.direction == Direction::Send {
        d.overwrite.as_str()
    } else {
        "(send only)"
    };
    lines.push(SafeLine::from(vec![
        label(Field::Overwrite, "Overwrite"),
        span(format!("< {overwrite} >"), text),
    ]));
    let naming = match (d.direction, d.naming) {
        (Direction::Send, _) => "(fetch only)",
        (Direction::Fetch, Naming::Subdir) => "DIR/<host>/…",
        (Direction::Fetch, Naming::Suffix) => "DIR/name.<host>",
    };
    lines.push(SafeLine::from(vec![
        label(Field::Naming, "Naming"),
        span(format!("< {naming} >"), text),
    ]));
    lines.extend(send_options(d, st));
    lines
}

/// The send-only `Sync` and `Resume` fields.
fn send_options<'a>(d: &TransferDialog, st: &Styles) -> [SafeLine<'a>; 2] {
    let label = |f: Field, name: &'static str| {
        let style = if d.field == f { st.chosen } else { st.hint };
        span(format!("{name:<12}"), style)
    };
    let (sync, resume) = match (d.direction, d.resume) {
        (Direction::Send, true) => (d.sync.words(), "[x]"),
        (Direction::Send, false) => (d.sync.words(), "[ ]"),
        (Direction::Fetch, _) => ("(send only)", "(send only)"),
    };
    [
        SafeLine::from(vec![
            label(Field::Sync, "Sync"),
            span(format!("< {sync} >"), st.text),
        ]),
        SafeLine::from(vec![label(Field::Resume, "Resume"), span(resume, st.text)]),
    ]
}

/// The targets, the form's error if any, and the keys.
fn form_footer<'a>(app: &App, d: &TransferDialog, st: &Styles) -> Vec<SafeLine<'a>> {
    let (text, key, hint) = (st.text, st.key, st.hint);
    let names: Vec<&str> = d.host_names.iter().map(|n| &**n).collect();
    let targets = if names.is_empty() {
        "(none selected)".to_string()
    } else {
        crate::output::compact(&names)
    };
    let mut lines = vec![
        SafeLine::from(vec![
            span(format!("{:<12}", "Targets"), hint),
            span(format!("{targets} ({} hosts)", names.len()), text),
        ]),
        line_raw(""),
    ];
    if let Some(e) = &d.error {
        lines.push(line_styled(
            crate::output::to_plain(e.as_bytes()),
            Style::default().fg(app.theme.colors.danger),
        ));
    }
    lines.push(SafeLine::from(vec![
        span("[Enter]", key),
        span(" start ", hint),
        span("[Tab]", key),
        span(" complete ", hint),
        span("[↑↓]", key),
        span(" field ", hint),
        span("[Space ←→]", key),
        span(" change ", hint),
        span("[Esc]", key),
        span(" close", hint),
    ]));
    lines
}
