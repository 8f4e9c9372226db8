//! Drawing: `draw(frame, &app)` paints the whole screen from the state and changes nothing.

mod bottom;
mod details;
pub mod dialogs;
mod diff;
mod history;
mod log;
mod output;
mod shell;
pub mod text;
mod transfer;
mod tree;

use self::text::{span, SafeSpan};
use crate::engine::ExitStatus;
use crate::inventory::HostId;
use ratatui::style::{Modifier, Style};
use ratatui::widgets::Block;
use ratatui::Frame;

use super::app::{App, HostState};
use super::layout::areas;
use super::theme::Theme;
use crate::engine::LogLevel;
use crate::output::{AnsiColor, TextStyle};

/// Paints the whole console.
pub fn draw(frame: &mut Frame, app: &App) {
    let area = frame.area();
    frame.render_widget(Block::default().style(app.theme.base()), area);
    let a = areas(area);
    tree::draw(frame, app, a.tree);
    output::draw(frame, app, a.output);
    log::draw(frame, app, a.log);
    bottom::draw_cmdline(frame, app, a.cmdline);
    bottom::draw_hints(frame, app, a.hints);
    if let Some(d) = &app.dialog {
        dialogs::draw_dialog(frame, app, d, area);
    }
}

/// The theme color of a host state.
pub fn state_style(theme: &Theme, state: HostState) -> Style {
    let c = &theme.colors;
    let color = match state {
        HostState::Idle => c.state_idle,
        HostState::Queued => c.state_queued,
        HostState::Connecting => c.state_connecting,
        HostState::Running => c.state_running,
        HostState::Ok => c.state_ok,
        HostState::Failed => c.state_failed,
        HostState::Unreachable => c.state_unreachable,
        HostState::Cancelled => c.state_cancelled,
    };
    let s = Style::default().fg(color);
    if theme.mono && state.is_failure() {
        s.add_modifier(Modifier::BOLD)
    } else {
        s
    }
}

pub fn level_style(theme: &Theme, level: LogLevel) -> Style {
    let c = &theme.colors;
    let s = Style::default().fg(match level {
        LogLevel::Debug => c.log_debug,
        LogLevel::Info => c.log_info,
        LogLevel::Warn => c.log_warn,
        LogLevel::Error => c.log_error,
    });
    if theme.mono && level >= LogLevel::Warn {
        s.add_modifier(Modifier::BOLD)
    } else {
        s
    }
}

pub fn level_word(level: LogLevel) -> &'static str {
    match level {
        LogLevel::Debug => "DEBUG",
        LogLevel::Info => "INFO ",
        LogLevel::Warn => "WARN ",
        LogLevel::Error => "ERROR",
    }
}

/// Maps a remote program's style into the theme (basic colors through the theme's palette).
pub fn remote_style(theme: &Theme, ts: &TextStyle, base: Style) -> Style {
    let mut s = base;
    if !theme.mono {
        let map = |c: AnsiColor| match c {
            AnsiColor::Indexed(i) if i < 16 => theme.ansi.get(i),
            AnsiColor::Indexed(i) => ratatui::style::Color::Indexed(i),
            AnsiColor::Rgb(r, g, b) => ratatui::style::Color::Rgb(r, g, b),
        };
        if let Some(fg) = ts.fg {
            s = s.fg(map(fg));
        }
        if let Some(bg) = ts.bg {
            s = s.bg(map(bg));
        }
    }
    let mut m = Modifier::empty();
    if ts.bold {
        m |= Modifier::BOLD;
    }
    if ts.dim {
        m |= Modifier::DIM;
    }
    if ts.italic {
        m |= Modifier::ITALIC;
    }
    if ts.underline {
        m |= Modifier::UNDERLINED;
    }
    if ts.reverse {
        m |= Modifier::REVERSED;
    }
    s.add_modifier(m)
}

/// Cuts `s` to at most `max` chars (each char takes at least one column).
pub fn cut_chars(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// `1.23s`, `2m05s`, `1h02m`.
pub fn fmt_duration(d: std::time::Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 60.0 {
        format!("{secs:.2}s")
    } else if secs < 3600.0 {
        format!("{}m{:02}s", d.as_secs() / 60, d.as_secs() % 60)
    } else {
        format!("{}h{:02}m", d.as_secs() / 3600, (d.as_secs() % 3600) / 60)
    }
}

/// A pane title's start: ` web01 ● running`, the exit status and the error class.
pub(super) fn status_spans(app: &App, host: HostId) -> Vec<SafeSpan<'static>> {
    let t = &app.theme;
    let v = &app.hosts[host];
    let mut spans = vec![
        span(
            format!(" {} ", v.name),
            Style::default()
                .fg(t.colors.text)
                .add_modifier(Modifier::BOLD),
        ),
        span(
            format!("{} {}", v.state.symbol(), v.state.word()),
            state_style(t, v.state),
        ),
    ];
    match &v.exit {
        Some(ExitStatus::Code(c)) => {
            spans.push(span(format!(" exit {c}"), state_style(t, v.state)));
        }
        Some(ExitStatus::Signal(s)) => {
            spans.push(span(format!(" SIG{s}"), state_style(t, v.state)));
        }
        None => {}
    }
    if let Some((class, _)) = &v.error {
        spans.push(span(format!(" {class}"), state_style(t, v.state)));
    }
    spans
}
