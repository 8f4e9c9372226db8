//! Broadcast shells at 50 hosts running `top` (targets: a frame under 10 ms, key to screen
//! under 50 ms). The panes are fed a recorded `top` session (`benches/data/top.pty`: `top
//! -d 0.3` in an 80x24 xterm-256color PTY), one refresh per host per step.
//!
//! `cargo bench --bench shell` prints criterion's figures: `frame` draws the whole console
//! with 50 live `top` panes; `key_to_screen` is one key through `update` (bytes for 50 hosts),
//! each host's echo and a `top` refresh fed back, and the frame that shows them.

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use fleetdeck::engine::{Event, Stream};
use fleetdeck::inventory::Inventory;
use fleetdeck::tui::action::{Action, Effect};
use fleetdeck::tui::app::{App, Settings};
use fleetdeck::tui::draw::draw;
use fleetdeck::tui::theme::Theme;
use fleetdeck::tui::update::{open_shells, update};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

const HOSTS: usize = 50;
const TOP: &[u8] = include_bytes!("data/top.pty");

/// The recorded session cut at each screen clear-and-home (`ESC [ H`), one refresh a piece.
fn refreshes() -> Vec<&'static [u8]> {
    let mut cuts = vec![0];
    for i in 1..TOP.len().saturating_sub(2) {
        if &TOP[i..i + 3] == b"\x1b[H" {
            cuts.push(i);
        }
    }
    cuts.push(TOP.len());
    cuts.windows(2).map(|w| &TOP[w[0]..w[1]]).collect()
}

fn shells_app(w: u16, h: u16) -> (App, Vec<Arc<str>>) {
    let yaml = format!(
        "defaults: {{ address: 127.0.0.1 }}\ngroups:\n  fleet:\n    hosts: {{ \"h[01-{HOSTS:02}]\": ~ }}\n"
    );
    let inv = Inventory::load_str_with(
        Path::new("/bench/inventory.yaml"),
        &yaml,
        &fleetdeck::inventory::LoadOptions::default(),
    )
    .expect("inventory");
    let mut app = App::new(inv, Settings::default(), Theme::default_theme());
    update(&mut app, Action::Resize(w, h));
    open_shells(&mut app, (0..HOSTS).collect());
    update(&mut app, Action::JobSubmitted(1));
    let names: Vec<Arc<str>> = app.hosts.iter().map(|v| v.name.clone()).collect();
    for n in &names {
        update(
            &mut app,
            Action::Engine(Event::Running {
                job: 1,
                host: n.clone(),
            }),
        );
        feed(&mut app, n, TOP);
    }
    (app, names)
}

fn feed(app: &mut App, host: &Arc<str>, data: &[u8]) {
    update(
        app,
        Action::Engine(Event::Output {
            job: 1,
            host: host.clone(),
            stream: Stream::Stdout,
            data: data.to_vec(),
        }),
    );
}

fn frame(c: &mut Criterion) {
    for (w, h) in [(240u16, 70u16), (160, 50)] {
        let (app, _) = shells_app(w, h);
        let mut term = Terminal::new(TestBackend::new(w, h)).expect("terminal");
        c.bench_function(&format!("shell_frame_50_top_{w}x{h}"), |b| {
            b.iter(|| {
                term.draw(|f| draw(f, black_box(&app))).expect("draw");
            });
        });
    }
}

fn key_to_screen(c: &mut Criterion) {
    let (mut app, names) = shells_app(240, 70);
    let pieces = refreshes();
    let mut term = Terminal::new(TestBackend::new(240, 70)).expect("terminal");
    let mut i = 0;
    c.bench_function("shell_key_to_screen_50_top", |b| {
        b.iter(|| {
            let effects = update(
                &mut app,
                Action::Key(KeyEvent::new(KeyCode::Char('k'), KeyModifiers::NONE)),
            );
            let sent = effects
                .iter()
                .filter(|e| matches!(e, Effect::ShellInput { .. }))
                .count();
            assert_eq!(sent, HOSTS);
            i = (i + 1) % pieces.len();
            for n in &names {
                feed(&mut app, n, pieces[i]);
            }
            term.draw(|f| draw(f, &app)).expect("draw");
        });
    });
}

criterion_group!(benches, frame, key_to_screen);
criterion_main!(benches);
