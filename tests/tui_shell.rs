//! Broadcast shells (`B`) through the pure `update` and `draw`: a scripted PTY stream becomes
//! cells, keys become bytes for the included hosts, Ctrl-] and B, exit status, quit.

mod tui_support;

use std::sync::Arc;
use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use fleetdeck::engine::{Event, ExitStatus, JobKind, Stream};
use fleetdeck::tui::action::{Action, Cmd, Effect};
use fleetdeck::tui::app::{App, Focus};
use fleetdeck::tui::dialog::Dialog;
use fleetdeck::tui::update::update;
use ratatui::style::{Color, Modifier};
use tui_support::*;

const JOB: u64 = 7;

/// Selects group `group`, presses B, accepts the job as `JOB` and starts every host's shell.
fn open_shells(app: &mut App, group: &str) -> Vec<String> {
    cursor_to_group(app, group);
    key(app, KeyCode::Char(' '));
    let effects = key(app, KeyCode::Char('B'));
    let spec = effects
        .iter()
        .find_map(|e| match e {
            Effect::Submit(s) => Some(s.clone()),
            _ => None,
        })
        .expect("B submits a shell job");
    let JobKind::Shell(shell) = &spec.kind else {
        panic!("not a shell job: {:?}", spec.kind);
    };
    assert_eq!(shell.term, "xterm-256color");
    assert!(shell.cols > 10 && shell.rows > 1, "{shell:?}");
    update(app, Action::JobSubmitted(JOB));
    let names: Vec<String> = spec.targets.iter().map(|t| t.name.to_string()).collect();
    for h in &names {
        ev(
            app,
            Event::Connecting {
                job: JOB,
                host: name(h),
            },
        );
        ev(
            app,
            Event::Running {
                job: JOB,
                host: name(h),
            },
        );
    }
    names
}

fn out(app: &mut App, host: &str, data: &[u8]) {
    ev(
        app,
        Event::Output {
            job: JOB,
            host: name(host),
            stream: Stream::Stdout,
            data: data.to_vec(),
        },
    );
}

/// Which hosts got which bytes.
fn inputs(effects: &[Effect]) -> Vec<(String, Vec<u8>)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::ShellInput { job, host, data } => {
                assert_eq!(*job, JOB);
                Some((host.to_string(), data.clone()))
            }
            _ => None,
        })
        .collect()
}

fn press(app: &mut App, code: KeyCode, m: KeyModifiers) -> Vec<Effect> {
    update(app, Action::Key(KeyEvent::new(code, m)))
}

#[test]
fn b_opens_a_shell_per_selected_host_in_broadcast_input() {
    let mut app = app(160, 50);
    let hosts = open_shells(&mut app, "db");
    assert_eq!(hosts, ["db1", "db2", "db3"]);
    let shells = app.shell.as_ref().expect("shells");
    assert!(shells.input);
    assert_eq!(app.focus, Focus::Output);
    // Every PTY is its pane's inside: the engine is told the sizes that differ from the spec.
    let effects = update(&mut app, Action::Tick);
    assert!(effects.is_empty(), "sizes already known: {effects:?}");
    let s = screen(&app);
    for h in &hosts {
        assert!(s.contains(&format!(" {h} ● running · broadcast")), "{s}");
    }
    assert!(s.contains("Ctrl-] console keys"), "{s}");
}

#[test]
fn a_scripted_pty_stream_becomes_cells_with_cursor_moves_and_colours() {
    let mut app = app(160, 50);
    open_shells(&mut app, "db");
    // Clear, text at row 3 col 5 in red, then bold green at row 1 col 1, then an overwrite.
    out(
        &mut app,
        "db2",
        b"\x1b[2J\x1b[3;5H\x1b[31mred\x1b[0m\x1b[1;1H\x1b[1;32mgreen\x1b[0m\rG",
    );
    let shells = app.shell.as_ref().expect("shells");
    let db2 = shells.get(host(&app, "db2")).expect("db2");
    let screen_text = db2.term.contents();
    let rows: Vec<&str> = screen_text.lines().collect();
    assert_eq!(rows[0], "Green");
    assert_eq!(rows[2], "    red");
    // Drawn: find the pane's cells in the buffer.
    let t = render(&app);
    let buf = t.backend().buffer();
    let (mut red, mut green) = (None, None);
    for y in 0..buf.area.height {
        let line: String = (0..buf.area.width).map(|x| buf[(x, y)].symbol()).collect();
        if let Some(i) = line.find("    red") {
            let x = line[..i].chars().count() as u16 + 4;
            red = Some(buf[(x, y)].clone());
        }
        if let Some(i) = line.find("Green") {
            let x = line[..i].chars().count() as u16 + 1;
            green = Some(buf[(x, y)].clone());
        }
    }
    let red = red.expect("red text drawn");
    let green = green.expect("green text drawn");
    assert_eq!(red.symbol(), "r");
    assert_eq!(red.fg, app.theme.ansi.get(1));
    assert_eq!(green.symbol(), "r");
    assert_eq!(green.fg, app.theme.ansi.get(2));
    assert!(green.modifier.contains(Modifier::BOLD));
    assert_ne!(red.fg, Color::Reset);
}

#[test]
fn keys_go_to_every_included_host_and_none_to_an_excluded_one() {
    let mut app = app(160, 50);
    open_shells(&mut app, "db");
    let got = inputs(&chars(&mut app, "ls"));
    let to = |h: &str, d: &[u8]| (h.to_string(), d.to_vec());
    assert_eq!(
        got,
        [
            to("db1", b"l"),
            to("db2", b"l"),
            to("db3", b"l"),
            to("db1", b"s"),
            to("db2", b"s"),
            to("db3", b"s")
        ]
    );
    // Ctrl-C is the hosts' now, not the console's cancel.
    let got = inputs(&ctrl(&mut app, 'c'));
    assert_eq!(got.len(), 3);
    assert!(got.iter().all(|(_, d)| d == b"\x03"));
    // The host that set application-cursor mode gets ESC O A; the others ESC [ A.
    out(&mut app, "db3", b"\x1b[?1h");
    let got = inputs(&key(&mut app, KeyCode::Up));
    assert_eq!(
        got,
        [
            to("db1", b"\x1b[A"),
            to("db2", b"\x1b[A"),
            to("db3", b"\x1bOA")
        ]
    );
    // Ctrl-]: console keys; choose db2, x excludes it, B back to broadcast input.
    let left = ctrl(&mut app, ']');
    assert!(inputs(&left).is_empty());
    assert!(!app.shell.as_ref().expect("shells").input);
    key(&mut app, KeyCode::Right);
    let effects = key(&mut app, KeyCode::Char('x'));
    assert!(inputs(&effects).is_empty());
    assert!(screen(&app).contains(" db2 ● running · excluded"));
    key(&mut app, KeyCode::Char('B'));
    assert!(app.shell.as_ref().expect("shells").input);
    let got = inputs(&press(&mut app, KeyCode::F(5), KeyModifiers::NONE));
    assert_eq!(got, [to("db1", b"\x1b[15~"), to("db3", b"\x1b[15~")]);
    // Pasted text is bracketed only for the host that enabled it.
    out(&mut app, "db1", b"\x1b[?2004h");
    let got = inputs(&update(&mut app, Action::Paste("echo hi\n".into())));
    assert_eq!(
        got,
        [
            to("db1", b"\x1b[200~echo hi\r\x1b[201~"),
            to("db3", b"echo hi\r")
        ]
    );
}

#[test]
fn zoom_types_to_one_host_alone_and_resizes_its_pty() {
    let mut app = app(160, 50);
    open_shells(&mut app, "db");
    ctrl(&mut app, ']');
    key(&mut app, KeyCode::Right);
    key(&mut app, KeyCode::Right);
    let effects = key(&mut app, KeyCode::Char('z'));
    let resized: Vec<(String, u16, u16)> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::ShellResize {
                host, cols, rows, ..
            } => Some((host.to_string(), *cols, *rows)),
            _ => None,
        })
        .collect();
    assert_eq!(resized.len(), 1, "{effects:?}");
    assert_eq!(resized[0].0, "db3");
    let db3 = app.shell.as_ref().and_then(|s| s.get(host(&app, "db3")));
    assert_eq!(db3.expect("db3").term.size(), (resized[0].1, resized[0].2));
    key(&mut app, KeyCode::Char('B'));
    let got = inputs(&chars(&mut app, "q"));
    assert_eq!(got, [("db3".to_string(), b"q".to_vec())]);
    // A terminal resize is a window change for the zoomed PTY.
    let effects = update(&mut app, Action::Resize(120, 40));
    assert!(effects
        .iter()
        .any(|e| matches!(e, Effect::ShellResize { host, .. } if &**host == "db3")));
}

#[test]
fn an_exited_shell_shows_its_status_and_gets_no_more_keys() {
    let mut app = app(160, 50);
    open_shells(&mut app, "db");
    ev(
        &mut app,
        Event::Finished {
            job: JOB,
            host: name("db2"),
            exit: ExitStatus::Code(3),
            duration: Duration::from_secs(1),
        },
    );
    let s = screen(&app);
    assert!(s.contains(" db2 ✗ failed exit 3 "), "{s}");
    let got = inputs(&chars(&mut app, "a"));
    let hosts: Vec<&str> = got.iter().map(|(h, _)| h.as_str()).collect();
    assert_eq!(hosts, ["db1", "db3"]);
}

#[test]
fn q_with_shells_open_asks_and_yes_hangs_up() {
    let mut app = app(160, 50);
    open_shells(&mut app, "db");
    // In broadcast input q is a key for the hosts.
    assert_eq!(inputs(&chars(&mut app, "q")).len(), 3);
    assert!(app.dialog.is_none());
    ctrl(&mut app, ']');
    let effects = key(&mut app, KeyCode::Char('q'));
    assert!(!effects.iter().any(|e| matches!(e, Effect::Quit)));
    let Some(Dialog::Confirm { lines, .. }) = &app.dialog else {
        panic!("q asks first: {:?}", app.dialog);
    };
    assert!(
        lines.iter().any(|l| l.contains("shells are open")),
        "{lines:?}"
    );
    let effects = key(&mut app, KeyCode::Char('y'));
    assert!(effects.iter().any(|e| matches!(e, Effect::Cancel(JOB))));
    assert!(effects.iter().any(|e| matches!(e, Effect::Quit)));
}

#[test]
fn hostile_pty_bytes_never_reach_the_screen_raw() {
    let mut app = app(160, 50);
    open_shells(&mut app, "db");
    out(
        &mut app,
        "db1",
        b"\x1b]52;c;ZXZpbA==\x07\x1b]0;evil title\x07\x1b[?1000h\x1bP+q544e\x1b\\ok \xe2\x80\xae\x1b[5;1Hbidi\xe2\x80\xaeX",
    );
    let t = render(&app);
    let buf = t.backend().buffer();
    for c in buf.content() {
        assert!(
            !c.symbol().chars().any(fleetdeck::output::is_unsafe_char),
            "unsafe cell {:?}",
            c.symbol()
        );
    }
    let s = screen(&app);
    assert!(!s.contains("evil title"), "{s}");
    assert!(!s.contains("ZXZpbA"), "{s}");
}

#[test]
fn help_and_hints_name_the_keys() {
    let mut app = app(160, 50);
    let s = screen(&app);
    assert!(s.contains("[B] shells"), "{s}");
    update(&mut app, Action::Cmd(Cmd::Help));
    let help: String = fleetdeck::tui::keys::HELP
        .iter()
        .flat_map(|(_, k)| k.iter().map(|(k, d)| format!("{k} {d}\n")))
        .collect();
    for k in ["Ctrl-]", "exclude the chosen pane", "B "] {
        assert!(help.contains(k), "{k}");
    }
    let _ = Arc::<str>::from("");
}
