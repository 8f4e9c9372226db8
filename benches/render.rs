//! Console drawing speed and memory: a frame with 500 hosts × 10,000 lines each (target: under
//! 10 ms), the same at 2,000 hosts (frames, a key, the diff view, a search), and the memory
//! held for 1,000 hosts × 10,000 lines (target: under 300 MB).
//!
//! `cargo bench --bench render` prints criterion's figures and, first, the memory figure.

use std::fmt::Write as _;
use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use fleetdeck::engine::{Event, ExitStatus, Stream};
use fleetdeck::inventory::Inventory;
use fleetdeck::tui::action::{Action, Cmd};
use fleetdeck::tui::app::{App, Settings};
use fleetdeck::tui::draw::draw;
use fleetdeck::tui::theme::Theme;
use fleetdeck::tui::update::{compute_gathered, start_job, update};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

const LINES: usize = 10_000;
/// Lines per `Output` event, as the engine delivers chunks.
const LINES_PER_CHUNK: usize = 200;

/// An app whose last job ran on `hosts` hosts, each having printed `LINES` lines (average
/// 22 bytes: `h0042 001234 load 0.34`), a few of them different so the gathered view has
/// outliers.
fn loaded_app(hosts: usize, w: u16, h: u16) -> App {
    let yaml = format!(
        "defaults: {{ address: 127.0.0.1 }}\ngroups:\n  fleet:\n    hosts: {{ \"h[0001-{hosts:04}]\": ~ }}\n"
    );
    let inv = Inventory::load_str_with(
        Path::new("/bench/inventory.yaml"),
        &yaml,
        &fleetdeck::inventory::LoadOptions::default(),
    )
    .expect("inventory");
    let mut app = App::new(inv, Settings::default(), Theme::default_theme());
    update(&mut app, Action::Resize(w, h));
    let all: Vec<usize> = (0..hosts).collect();
    start_job(&mut app, "tail -n 10000 /var/log/app.log", all);
    update(&mut app, Action::JobSubmitted(1));
    let names: Vec<Arc<str>> = app.hosts.iter().map(|v| v.name.clone()).collect();
    for (i, host) in names.iter().enumerate() {
        let mut chunk = String::new();
        for l in 0..LINES {
            let odd = i % 50 == 7 && l == LINES - 1;
            let _ = writeln!(
                chunk,
                "{host} {l:06} load 0.{:02}{}",
                l % 100,
                if odd { " ERROR" } else { "" }
            );
            if (l + 1) % LINES_PER_CHUNK == 0 {
                let data = std::mem::take(&mut chunk).into_bytes();
                update(
                    &mut app,
                    Action::Engine(Event::Output {
                        job: 1,
                        host: host.clone(),
                        stream: Stream::Stdout,
                        data,
                    }),
                );
            }
        }
        update(
            &mut app,
            Action::Engine(Event::Finished {
                job: 1,
                host: host.clone(),
                exit: ExitStatus::Code(0),
                duration: Duration::from_millis(200),
            }),
        );
    }
    app
}

fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("statm");
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("rss");
    pages * 4096
}

/// Prints the memory figure for 1,000 hosts × 10,000 lines.
fn memory_figure() {
    let before = rss_bytes();
    let started = Instant::now();
    let app = loaded_app(1_000, 200, 60);
    let took = started.elapsed();
    let after = rss_bytes();
    let held: usize = app.hosts.iter().map(|h| h.pane.heap_bytes()).sum();
    let lines: usize = app.hosts.iter().map(|h| h.pane.len()).sum();
    println!(
        "memory: 1000 hosts x {LINES} lines ({lines} lines held): process RSS {:.1} MB \
         (grew {:.1} MB; pane buffers {:.1} MB); ingest took {:.2}s",
        after as f64 / 1e6,
        (after - before) as f64 / 1e6,
        held as f64 / 1e6,
        took.as_secs_f64()
    );
    black_box(app);
}

fn frame(c: &mut Criterion) {
    let mut group = c.benchmark_group("frame_500x10000");
    group.sample_size(30);
    for (w, h) in [(200u16, 60u16), (300, 100), (80, 24)] {
        let mut app = loaded_app(500, w, h);
        let mut term = Terminal::new(TestBackend::new(w, h)).expect("terminal");
        group.bench_function(format!("panes_{w}x{h}"), |b| {
            b.iter(|| {
                term.draw(|f| draw(f, &app)).expect("draw");
            });
        });
        update(&mut app, Action::Cmd(Cmd::Zoom));
        group.bench_function(format!("zoom_{w}x{h}"), |b| {
            b.iter(|| {
                term.draw(|f| draw(f, &app)).expect("draw");
            });
        });
        update(&mut app, Action::Cmd(Cmd::Zoom));
        update(
            &mut app,
            Action::Key(KeyEvent::new(KeyCode::Char('v'), KeyModifiers::NONE)),
        );
        group.bench_function(format!("gathered_{w}x{h}"), |b| {
            b.iter(|| {
                term.draw(|f| draw(f, &app)).expect("draw");
            });
        });
        if w == 200 {
            group.bench_function("fold_500_hosts_cold", |b| {
                b.iter(|| {
                    app.hash_cache.clear();
                    compute_gathered(&mut app);
                });
            });
            group.bench_function("fold_500_hosts_cached", |b| {
                b.iter(|| compute_gathered(&mut app));
            });
            group.bench_function("update_one_output_chunk", |b| {
                let host: Arc<str> = app.hosts[3].name.clone();
                let data: Vec<u8> = (0..LINES_PER_CHUNK)
                    .flat_map(|i| format!("more {i}\n").into_bytes())
                    .collect();
                b.iter(|| {
                    update(
                        &mut app,
                        Action::Engine(Event::Output {
                            job: 1,
                            host: host.clone(),
                            stream: Stream::Stdout,
                            data: data.clone(),
                        }),
                    )
                });
            });
        }
    }
    group.finish();
}

/// The console at 2,000 hosts (issue 14's size): a frame of panes, gathered and diff views, a
/// key moving the tree cursor, and a search through every pane (on Enter, not per frame).
fn frame_2000(c: &mut Criterion) {
    let mut group = c.benchmark_group("frame_2000x10000");
    group.sample_size(10);
    let (w, h) = (200u16, 60u16);
    let mut app = loaded_app(2_000, w, h);
    let mut term = Terminal::new(TestBackend::new(w, h)).expect("terminal");
    group.bench_function("panes_200x60", |b| {
        b.iter(|| {
            term.draw(|f| draw(f, &app)).expect("draw");
        });
    });
    group.bench_function("key_down_and_frame", |b| {
        b.iter(|| {
            update(
                &mut app,
                Action::Key(KeyEvent::new(KeyCode::Down, KeyModifiers::NONE)),
            );
            term.draw(|f| draw(f, &app)).expect("draw");
        });
    });
    let key = |app: &mut App, c: char| {
        update(
            app,
            Action::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)),
        );
    };
    key(&mut app, 'v');
    group.bench_function("gathered_200x60", |b| {
        b.iter(|| {
            term.draw(|f| draw(f, &app)).expect("draw");
        });
    });
    key(&mut app, 'v');
    key(&mut app, 'd');
    group.bench_function("diff_200x60", |b| {
        b.iter(|| {
            term.draw(|f| draw(f, &app)).expect("draw");
        });
    });
    key(&mut app, 'd');
    app.focus = fleetdeck::tui::app::Focus::Output;
    group.bench_function("search_20M_lines", |b| {
        b.iter(|| {
            key(&mut app, '/');
            for c in "ERROR".chars() {
                update(
                    &mut app,
                    Action::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::SHIFT)),
                );
            }
            update(
                &mut app,
                Action::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)),
            );
        });
    });
    group.finish();
}

criterion_group!(benches, frame, frame_2000);

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not (then only criterion's
    // quick test mode runs).
    if std::env::args().any(|a| a == "--bench") {
        memory_figure();
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
