//! `i`: the host details dialog — every effective setting of one host with where it came
//! from, then the route (resolved when the dialog opened), the groups and the last error.

use super::text::{line_raw, paragraph, raw, span, SafeLine};
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::widgets::{Clear, Wrap};
use ratatui::Frame;

use crate::inventory::HostId;
use crate::tui::app::App;
use crate::tui::dialog::RouteHop;
use crate::tui::layout::inner;

use super::dialogs::{centered, frame_block, keys_line};

/// Draws the details of `host` over `area`, scrolled by `scroll` lines.
pub fn draw_host_details(
    frame: &mut Frame,
    app: &App,
    host: HostId,
    scroll: usize,
    route: &Result<Vec<RouteHop>, String>,
    area: Rect,
) {
    let Some(h) = app.inventory.hosts.get(host) else {
        return;
    };
    let rows = app.inventory.provenance(host);
    let kw = rows
        .iter()
        .map(|(k, _, _)| k.chars().count())
        .max()
        .unwrap_or(0)
        .max(7);
    let rect = centered(area, 100, area.height.saturating_sub(2));
    let inner_w = inner(rect).width as usize;
    let mut lines = setting_lines(app, &rows, kw);
    lines.push(line_raw(""));
    lines.extend(route_lines(app, route, kw));
    lines.extend(host_lines(app, host, kw));
    lines.push(line_raw(""));
    lines.push(keys_line(app, &[("↑↓", "scroll"), ("Esc/i", "close")]));
    let wrapped: usize = lines
        .iter()
        .map(|l| l.width().max(1).div_ceil(inner_w.max(1)))
        .sum();
    let rect = centered(
        area,
        100,
        (wrapped as u16 + 2).min(area.height.saturating_sub(2)),
    );
    let h_in = inner(rect).height as usize;
    let scroll = scroll.min(wrapped.saturating_sub(h_in));
    frame.render_widget(Clear, rect);
    let title = format!("Host {}", crate::output::to_plain(h.name.as_bytes()));
    let block = frame_block(app, &title, false);
    frame.render_widget(
        paragraph(lines)
            .block(block)
            .wrap(Wrap { trim: false })
            .scroll((u16::try_from(scroll).unwrap_or(u16::MAX), 0)),
        rect,
    );
}

/// Each setting and, under it, where it came from.
fn setting_lines<'a>(app: &App, rows: &[(String, String, String)], kw: usize) -> Vec<SafeLine<'a>> {
    let t = &app.theme;
    let text = Style::default().fg(t.colors.text);
    let dim = Style::default().fg(t.colors.dim);
    let key = Style::default().fg(t.colors.hint_key);
    let mut lines = Vec::new();
    for (k, v, origin) in rows {
        let v = crate::output::to_plain(v.as_bytes());
        lines.push(SafeLine::from(vec![
            span(format!(" {k:<kw$}  "), key),
            span(v, text.add_modifier(Modifier::BOLD)),
        ]));
        lines.push(SafeLine::from(vec![
            raw(" ".repeat(kw + 3)),
            span(format!("from {origin}"), dim),
        ]));
    }
    lines
}

/// The route as the engine will take it: one hop a line, first hop first.
fn route_lines<'a>(
    app: &App,
    route: &Result<Vec<RouteHop>, String>,
    kw: usize,
) -> Vec<SafeLine<'a>> {
    let t = &app.theme;
    let text = Style::default().fg(t.colors.text);
    let key = Style::default().fg(t.colors.hint_key);
    let route: Vec<String> = match route {
        Ok(hops) => hops
            .iter()
            .enumerate()
            .map(|(i, hop)| {
                let what = if i + 1 == hops.len() {
                    "target"
                } else {
                    "jump"
                };
                format!(
                    "{}. {}@{} ({}:{}) {what}",
                    i + 1,
                    hop.user,
                    hop.name,
                    hop.address,
                    hop.port
                )
            })
            .collect(),
        Err(e) => vec![format!("cannot resolve: {e}")],
    };
    route
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let label = if i == 0 { "route" } else { "" };
            SafeLine::from(vec![
                span(format!(" {label:<kw$}  "), key),
                span(crate::output::to_plain(r.as_bytes()), text),
            ])
        })
        .collect()
}

/// The host's groups and the error of its last job, if any.
fn host_lines<'a>(app: &App, host: HostId, kw: usize) -> Vec<SafeLine<'a>> {
    let t = &app.theme;
    let text = Style::default().fg(t.colors.text);
    let key = Style::default().fg(t.colors.hint_key);
    let Some(h) = app.inventory.hosts.get(host) else {
        return Vec::new();
    };
    let groups: Vec<&str> = h
        .groups
        .iter()
        .filter_map(|&g| app.inventory.groups.get(g).map(|g| g.name.as_str()))
        .collect();
    let mut lines = vec![SafeLine::from(vec![
        span(format!(" {:<kw$}  ", "groups"), key),
        span(groups.join(", "), text),
    ])];
    if let Some((class, msg)) = app.hosts.get(host).and_then(|v| v.error.as_ref()) {
        lines.push(SafeLine::from(vec![
            span(format!(" {:<kw$}  ", "last job"), key),
            span(
                format!("{}: {msg}", class.as_str()),
                Style::default().fg(t.colors.danger),
            ),
        ]));
    }
    lines
}
