//! Transfer progress on a terminal: one bar per host (the busiest first, at most
//! [`MAX_BARS`]), a total bar, rate and ETA. Pure string building; the caller redraws.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use unicode_width::UnicodeWidthStr;

/// Most host bars drawn at once; the rest are counted in one line.
pub const MAX_BARS: usize = 12;
/// Redraw at most this often.
pub const REDRAW_INTERVAL: Duration = Duration::from_millis(100);

/// Where one host stands.
#[derive(Debug, Clone, Default)]
pub struct HostProgress {
    pub name: String,
    pub done: u64,
    pub total: u64,
    pub started: Option<Instant>,
    /// `Some(true)` succeeded, `Some(false)` failed.
    pub ended: Option<bool>,
}

impl HostProgress {
    fn rate(&self, now: Instant) -> Option<f64> {
        let secs = now.duration_since(self.started?).as_secs_f64();
        (secs > 0.05 && self.done > 0).then(|| self.done as f64 / secs)
    }
}

/// `12.3 MiB` style sizes.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

fn eta(remaining: u64, rate: f64) -> String {
    if rate <= 0.0 {
        return "--".into();
    }
    let secs = (remaining as f64 / rate).ceil() as u64;
    if secs >= 3600 {
        format!("{}h{:02}m", secs / 3600, secs % 3600 / 60)
    } else if secs >= 60 {
        format!("{}m{:02}s", secs / 60, secs % 60)
    } else {
        format!("{secs}s")
    }
}

fn bar(done: u64, total: u64, width: usize) -> String {
    let filled = if total == 0 {
        width
    } else {
        ((done.min(total) as f64 / total as f64) * width as f64) as usize
    };
    format!("[{}{}]", "#".repeat(filled), "-".repeat(width - filled))
}

fn percent(done: u64, total: u64) -> u64 {
    (done.min(total) * 100).checked_div(total).unwrap_or(100)
}

/// The lines to draw (no trailing newlines), at most `MAX_BARS + 2`, each at most `cols` wide.
pub fn render(hosts: &[HostProgress], started: Instant, now: Instant, cols: usize) -> Vec<String> {
    let name_width = hosts
        .iter()
        .map(|h| h.name.width())
        .max()
        .unwrap_or(4)
        .clamp(5, 24);
    let bar_width = cols.saturating_sub(name_width + 44).clamp(10, 40);
    let mut lines = Vec::new();
    // Running hosts first (most recently active), then finished ones.
    let mut order: Vec<&HostProgress> = hosts.iter().filter(|h| h.started.is_some()).collect();
    order.sort_by_key(|h| {
        (
            h.ended.is_some(),
            std::cmp::Reverse(h.total.saturating_sub(h.done)),
        )
    });
    for h in order.iter().take(MAX_BARS) {
        let mut name = h.name.clone();
        if name.width() > name_width {
            name = name.chars().take(name_width - 1).collect::<String>() + "…";
        }
        let state = match h.ended {
            Some(true) => "done".to_string(),
            Some(false) => "FAILED".to_string(),
            None => h.rate(now).map_or_else(String::new, |r| {
                format!(
                    "{}/s ETA {}",
                    human_bytes(r as u64),
                    eta(h.total.saturating_sub(h.done), r)
                )
            }),
        };
        let pad = name_width.saturating_sub(name.width());
        let line = format!(
            "{name}{:pad$} {} {:>3}% {:>10} {state}",
            "",
            bar(h.done, h.total, bar_width),
            percent(h.done, h.total),
            human_bytes(h.done),
        );
        lines.push(truncate(&line, cols));
    }
    let waiting = hosts.iter().filter(|h| h.started.is_none()).count();
    let hidden = order.len().saturating_sub(MAX_BARS);
    if waiting + hidden > 0 {
        lines.push(truncate(
            &format!("… {hidden} more in progress, {waiting} waiting"),
            cols,
        ));
    }
    let done: u64 = hosts.iter().map(|h| h.done).sum();
    let total: u64 = hosts.iter().map(|h| h.total.max(h.done)).sum();
    let finished = hosts.iter().filter(|h| h.ended.is_some()).count();
    let secs = now.duration_since(started).as_secs_f64();
    let rate = if secs > 0.05 { done as f64 / secs } else { 0.0 };
    let mut total_line = String::new();
    let _ = write!(
        total_line,
        "{:name_width$} {} {:>3}% {:>10} {}/s ETA {}  {finished}/{} hosts",
        "total",
        bar(done, total, bar_width),
        percent(done, total),
        human_bytes(done),
        human_bytes(rate as u64),
        eta(total.saturating_sub(done), rate),
        hosts.len(),
    );
    lines.push(truncate(&total_line, cols));
    lines
}

fn truncate(line: &str, cols: usize) -> String {
    if line.width() <= cols {
        return line.to_string();
    }
    let mut out = String::new();
    for c in line.chars() {
        if out.width() + 1 >= cols {
            break;
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(50 * 1024 * 1024), "50.0 MiB");
        assert_eq!(human_bytes(1536), "1.5 KiB");
    }

    #[test]
    fn bars_and_total() {
        let t0 = Instant::now();
        let now = t0 + Duration::from_secs(2);
        let hosts = vec![
            HostProgress {
                name: "web01".into(),
                done: 50,
                total: 100,
                started: Some(t0),
                ended: None,
            },
            HostProgress {
                name: "web02".into(),
                done: 100,
                total: 100,
                started: Some(t0),
                ended: Some(true),
            },
            HostProgress {
                name: "web03".into(),
                done: 0,
                total: 0,
                started: None,
                ended: None,
            },
        ];
        let lines = render(&hosts, t0, now, 100);
        assert_eq!(lines.len(), 4, "{lines:#?}");
        assert!(
            lines[0].starts_with("web01")
                && lines[0].contains(" 50%")
                && lines[0].contains("ETA 2s"),
            "{}",
            lines[0]
        );
        assert!(
            lines[1].contains("100%") && lines[1].ends_with("done"),
            "{}",
            lines[1]
        );
        assert!(lines[2].contains("1 waiting"));
        assert!(
            lines[3].starts_with("total")
                && lines[3].contains(" 75%")
                && lines[3].contains("1/3 hosts"),
            "{}",
            lines[3]
        );
        for l in &lines {
            assert!(l.width() <= 100);
        }
        let narrow = render(&hosts, t0, now, 40);
        assert!(narrow.iter().all(|l| l.width() <= 40), "{narrow:#?}");
    }

    #[test]
    fn many_hosts_are_capped() {
        let t0 = Instant::now();
        let hosts: Vec<HostProgress> = (0..50)
            .map(|i| HostProgress {
                name: format!("h{i}"),
                done: 1,
                total: 10,
                started: Some(t0),
                ended: None,
            })
            .collect();
        let lines = render(&hosts, t0, t0 + Duration::from_secs(1), 80);
        assert_eq!(lines.len(), MAX_BARS + 2);
        assert!(lines[MAX_BARS].contains("38 more in progress"));
    }
}
