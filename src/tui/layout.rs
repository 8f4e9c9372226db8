//! Where everything goes on screen. Pure functions of the terminal size and the state, used by
//! `draw` to paint and by `update` to map mouse clicks.

use ratatui::layout::Rect;

use super::app::App;
use crate::inventory::HostId;

/// The smallest pane in the grid (borders included).
pub const MIN_PANE_WIDTH: u16 = 32;
pub const MIN_PANE_HEIGHT: u16 = 4;

/// The screen's regions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Areas {
    pub tree: Rect,
    pub output: Rect,
    pub log: Rect,
    pub cmdline: Rect,
    pub hints: Rect,
}

pub fn areas(area: Rect) -> Areas {
    let bottom = 2.min(area.height);
    let main_h = area.height - bottom;
    let tree_w = if area.width < 60 {
        (area.width / 3).max(12).min(area.width)
    } else {
        (area.width * 22 / 100).clamp(24, 40)
    };
    let right_w = area.width - tree_w;
    let log_h = (main_h / 3).clamp(4.min(main_h), 16);
    let out_h = main_h - log_h;
    Areas {
        tree: Rect::new(area.x, area.y, tree_w, main_h),
        output: Rect::new(area.x + tree_w, area.y, right_w, out_h),
        log: Rect::new(area.x + tree_w, area.y + out_h, right_w, log_h),
        cmdline: Rect::new(area.x, area.y + main_h, area.width, bottom.min(1)),
        hints: Rect::new(
            area.x,
            area.y + main_h + 1,
            area.width,
            bottom.saturating_sub(1),
        ),
    }
}

/// The inside of a bordered block.
pub fn inner(r: Rect) -> Rect {
    Rect::new(
        r.x.saturating_add(1),
        r.y.saturating_add(1),
        r.width.saturating_sub(2),
        r.height.saturating_sub(2),
    )
}

/// The panes in view: which host goes where, and how many are not shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grid {
    pub panes: Vec<(usize, HostId, Rect)>,
    pub hidden: usize,
    /// The line saying how many are hidden, if any.
    pub more: Option<Rect>,
}

/// Lays out the output area's panes (the output area without its border).
pub fn grid(app: &App, body: Rect) -> Grid {
    let hosts = app.pane_hosts();
    if let Some(z) = app.zoom {
        let index = hosts.iter().position(|h| *h == z).unwrap_or(0);
        return Grid {
            panes: vec![(index, z, body)],
            hidden: 0,
            more: None,
        };
    }
    if app.view.is_folded() || hosts.is_empty() || body.width == 0 || body.height == 0 {
        return Grid {
            panes: Vec::new(),
            hidden: 0,
            more: None,
        };
    }
    let n = hosts.len();
    let fit = |h: u16| {
        let cols = (body.width / MIN_PANE_WIDTH).max(1) as usize;
        let rows = (h / MIN_PANE_HEIGHT).max(1) as usize;
        (cols, rows)
    };
    let (mut max_cols, mut max_rows) = fit(body.height);
    let mut height = body.height;
    let mut more = None;
    if n > max_cols * max_rows {
        height = body.height.saturating_sub(1);
        (max_cols, max_rows) = fit(height);
        more = Some(Rect::new(body.x, body.y + height, body.width, 1));
    }
    let capacity = max_cols * max_rows;
    let shown = n.min(capacity);
    let rows = max_rows.min(shown).max(1);
    let cols = shown.div_ceil(rows).min(max_cols).max(1);
    let rows = shown.div_ceil(cols).max(1);
    let first = (app.pane_cursor.min(n - 1) / capacity) * capacity;
    let shown_hosts = &hosts[first..(first + capacity).min(n)];
    let mut panes = Vec::with_capacity(shown_hosts.len());
    for (k, &h) in shown_hosts.iter().enumerate() {
        let r = k / cols;
        let c = k % cols;
        let x0 = body.x + (body.width as usize * c / cols) as u16;
        let x1 = body.x + (body.width as usize * (c + 1) / cols) as u16;
        let y0 = body.y + (height as usize * r / rows) as u16;
        let y1 = body.y + (height as usize * (r + 1) / rows) as u16;
        panes.push((first + k, h, Rect::new(x0, y0, x1 - x0, y1 - y0)));
    }
    Grid {
        hidden: n - panes.len(),
        panes,
        more,
    }
}

/// True when `(x, y)` lies in `r`.
pub fn contains(r: Rect, x: u16, y: u16) -> bool {
    x >= r.x && x < r.x + r.width && y >= r.y && y < r.y + r.height
}
