//! Helpers for the console's tests: a fixed inventory, a fixed clock, keys, engine events and
//! rendering into a `TestBackend`.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::TimeZone;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use fleetdeck::engine::{Event, ExitStatus, JobId, JobSpec, Stream};
use fleetdeck::inventory::Inventory;
use fleetdeck::tui::action::{Action, Effect};
use fleetdeck::tui::app::{App, Clock, Settings};
use fleetdeck::tui::draw::draw;
use fleetdeck::tui::theme::Theme;
use fleetdeck::tui::update::update;
use ratatui::backend::TestBackend;
use ratatui::Terminal;

pub const INVENTORY: &str = r#"
defaults: { user: ops, address: 127.0.0.1 }
groups:
  prod:
    groups:
      web: { hosts: { "web[01-12]": ~ } }
      db: { hosts: { "db[1-3]": ~ } }
  staging:
    hosts: { stg1: ~, stg2: ~ }
hosts: { lone: ~ }
"#;

pub fn inventory() -> Inventory {
    Inventory::load_str_with(
        Path::new("/fixtures/inventory.yaml"),
        INVENTORY,
        &fleetdeck::inventory::LoadOptions::default(),
    )
    .expect("fixture inventory")
}

/// A fixed clock: 2026-01-02 10:02:11 local time.
pub fn clock() -> Clock {
    Clock {
        now: Instant::now(),
        wall: chrono::Local
            .with_ymd_and_hms(2026, 1, 2, 10, 2, 11)
            .single()
            .expect("valid time"),
    }
}

pub fn app_with(theme: Theme, w: u16, h: u16) -> App {
    let mut app = App::new(inventory(), Settings::default(), theme);
    app.clock = clock();
    update(&mut app, Action::Resize(w, h));
    app
}

pub fn app(w: u16, h: u16) -> App {
    app_with(Theme::default_theme(), w, h)
}

pub fn key(app: &mut App, code: KeyCode) -> Vec<Effect> {
    update(app, Action::Key(KeyEvent::new(code, KeyModifiers::NONE)))
}

pub fn ctrl(app: &mut App, c: char) -> Vec<Effect> {
    update(
        app,
        Action::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)),
    )
}

pub fn chars(app: &mut App, s: &str) -> Vec<Effect> {
    let mut effects = Vec::new();
    for c in s.chars() {
        let m = if c.is_ascii_uppercase() {
            KeyModifiers::SHIFT
        } else {
            KeyModifiers::NONE
        };
        effects.extend(update(app, Action::Key(KeyEvent::new(KeyCode::Char(c), m))));
    }
    effects
}

pub fn host(app: &App, name: &str) -> usize {
    app.inventory.host_by_name(name).expect("host in fixture")
}

/// Moves the tree cursor to the row of group `name`.
pub fn cursor_to_group(app: &mut App, name: &str) {
    let g = app.inventory.group_by_name(name).expect("group");
    let row = app
        .tree
        .rows()
        .iter()
        .position(|r| matches!(r, fleetdeck::tui::tree::Row::Group { id, .. } if *id == g))
        .expect("group row visible");
    app.tree.move_to(row);
}

/// Selects a group with Space, types `command` on the command line and presses Enter.
/// Returns the submitted spec (panics if none).
pub fn run(app: &mut App, group: &str, command: &str) -> JobSpec {
    cursor_to_group(app, group);
    key(app, KeyCode::Char(' '));
    key(app, KeyCode::Char(':'));
    chars(app, command);
    let effects = key(app, KeyCode::Enter);
    let spec = effects
        .into_iter()
        .find_map(|e| match e {
            Effect::Submit(s) => Some(s),
            _ => None,
        })
        .expect("Enter submits a job");
    update(app, Action::JobSubmitted(1));
    spec
}

/// Carries out the file work among `effects` as the runtime does (here on the test's thread)
/// and folds each answer in; returns the other effects, with those the answers led to.
pub fn answer(app: &mut App, effects: Vec<Effect>) -> Vec<Effect> {
    let mut rest = Vec::new();
    let mut queue: std::collections::VecDeque<Effect> = effects.into();
    while let Some(e) = queue.pop_front() {
        // History lines stay effects: tests look at them instead of writing a file.
        if e.is_file_work() && !matches!(e, Effect::SaveHistory(_)) {
            let reply = fleetdeck::tui::runtime::file_work(e, Path::new("/nonexistent/history"))
                .expect("file work is answered");
            queue.extend(update(app, reply));
        } else {
            rest.push(e);
        }
    }
    rest
}

/// A key, with its file work answered (Tab completion, the transfer form's path check).
pub fn key_answered(app: &mut App, code: KeyCode) -> Vec<Effect> {
    let effects = key(app, code);
    answer(app, effects)
}

pub fn ev(app: &mut App, e: Event) {
    update(app, Action::Engine(e));
}

pub fn name(s: &str) -> Arc<str> {
    Arc::from(s)
}

/// Feeds a whole job's life for `hosts`: each prints `out(host)` and exits with `exit(host)`.
pub fn finish_job(
    app: &mut App,
    job: JobId,
    hosts: &[String],
    out: impl Fn(&str) -> (Vec<u8>, Vec<u8>),
    exit: impl Fn(&str) -> i32,
) {
    ev(
        app,
        Event::JobStarted {
            job,
            hosts: hosts.len(),
            run_dir: Some("/state/runs/20260102T100211-1".into()),
        },
    );
    let mut ok = 0;
    for h in hosts {
        ev(app, Event::Connecting { job, host: name(h) });
        ev(
            app,
            Event::Connected {
                job,
                host: name(h),
                reused: false,
            },
        );
        ev(app, Event::Running { job, host: name(h) });
        let (o, e) = out(h);
        if !o.is_empty() {
            ev(
                app,
                Event::Output {
                    job,
                    host: name(h),
                    stream: Stream::Stdout,
                    data: o,
                },
            );
        }
        if !e.is_empty() {
            ev(
                app,
                Event::Output {
                    job,
                    host: name(h),
                    stream: Stream::Stderr,
                    data: e,
                },
            );
        }
        let code = exit(h);
        if code == 0 {
            ok += 1;
        }
        ev(
            app,
            Event::Finished {
                job,
                host: name(h),
                exit: ExitStatus::Code(code),
                duration: Duration::from_millis(210),
            },
        );
    }
    ev(
        app,
        Event::JobDone {
            job,
            ok,
            failed: hosts.len() - ok,
            duration: Duration::from_millis(420),
        },
    );
}

pub fn render(app: &App) -> Terminal<TestBackend> {
    let mut t = Terminal::new(TestBackend::new(app.area.width, app.area.height)).expect("terminal");
    t.draw(|f| draw(f, app)).expect("draw");
    t
}

/// The screen as text lines.
pub fn screen(app: &App) -> String {
    let t = render(app);
    let buf = t.backend().buffer();
    let mut out = String::new();
    for y in 0..buf.area.height {
        let mut line = String::new();
        for x in 0..buf.area.width {
            line.push_str(buf[(x, y)].symbol());
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}
