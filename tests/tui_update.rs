//! The console's key handling and event handling, driven through the pure `update` function
//! (no terminal, no engine).

#![allow(clippy::format_collect, clippy::format_push_string)]

mod tui_support;

use std::time::Duration;

use crossterm::event::{KeyCode, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use fleetdeck::engine::{
    ErrorClass, Event, HostKeyAnswer, HostKeyQuestion, JobKind, LogLevel, SecretKind, Stream,
};
use fleetdeck::tui::action::{Action, Effect};
use fleetdeck::tui::app::{Focus, HostState, View};
use fleetdeck::tui::dialog::{Dialog, OnYes};
use fleetdeck::tui::tree::{Check, Row};
use fleetdeck::tui::update::update;
use tui_support::*;

fn has_quit(effects: &[Effect]) -> bool {
    effects.iter().any(|e| matches!(e, Effect::Quit))
}

fn submitted(effects: &[Effect]) -> Option<&fleetdeck::engine::JobSpec> {
    effects.iter().find_map(|e| match e {
        Effect::Submit(s) => Some(s),
        _ => None,
    })
}

#[test]
fn arrows_and_jk_move_the_tree_cursor() {
    let mut app = app(100, 30);
    assert_eq!(app.tree.cursor, 0);
    key(&mut app, KeyCode::Down);
    key(&mut app, KeyCode::Char('j'));
    assert_eq!(app.tree.cursor, 2);
    key(&mut app, KeyCode::Char('k'));
    assert_eq!(app.tree.cursor, 1);
    key(&mut app, KeyCode::Up);
    key(&mut app, KeyCode::Up);
    assert_eq!(app.tree.cursor, 0, "stops at the top");
    key(&mut app, KeyCode::End);
    assert_eq!(app.tree.cursor, app.tree.rows().len() - 1);
}

#[test]
fn space_toggles_hosts_and_groups_with_tri_state() {
    let mut app = app(100, 30);
    let prod = app.inventory.group_by_name("prod").expect("prod");
    let web = app.inventory.group_by_name("web").expect("web");
    // Select one host of web: web and prod become partial.
    let web01 = host(&app, "web01");
    let row = app
        .tree
        .rows()
        .iter()
        .position(|r| matches!(r, Row::Host { id, .. } if *id == web01))
        .expect("web01 row");
    app.tree.move_to(row);
    key(&mut app, KeyCode::Char(' '));
    assert!(app.tree.selected[web01]);
    assert_eq!(app.tree.check(web), Check::Partial);
    assert_eq!(app.tree.check(prod), Check::Partial);
    // Space on web selects all 12; prod (15 hosts) is still partial.
    cursor_to_group(&mut app, "web");
    key(&mut app, KeyCode::Char(' '));
    assert_eq!(app.tree.check(web), Check::All);
    assert_eq!(app.tree.selected_count(), 12);
    assert_eq!(app.tree.check(prod), Check::Partial);
    // Space on prod selects 15; again unselects all.
    cursor_to_group(&mut app, "prod");
    key(&mut app, KeyCode::Char(' '));
    assert_eq!(app.tree.selected_count(), 15);
    assert_eq!(app.tree.check(prod), Check::All);
    key(&mut app, KeyCode::Char(' '));
    assert_eq!(app.tree.selected_count(), 0);
    assert_eq!(app.tree.check(web), Check::None);
}

#[test]
fn collapse_and_expand_groups() {
    let mut app = app(100, 30);
    let before = app.tree.rows().len();
    cursor_to_group(&mut app, "web");
    key(&mut app, KeyCode::Left);
    assert_eq!(app.tree.rows().len(), before - 12, "web's 12 hosts hidden");
    key(&mut app, KeyCode::Right);
    assert_eq!(app.tree.rows().len(), before);
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.tree.rows().len(), before - 12, "Enter toggles a group");
}

#[test]
fn colon_focuses_command_line_and_enter_runs_on_selected_hosts() {
    let mut app = app(120, 40);
    cursor_to_group(&mut app, "db");
    key(&mut app, KeyCode::Char(' '));
    key(&mut app, KeyCode::Char(':'));
    assert_eq!(app.focus, Focus::Cmdline);
    // Keys that are commands elsewhere are text here.
    chars(&mut app, "uptime; q");
    assert_eq!(app.cmdline.input, "uptime; q");
    assert!(!app.should_quit);
    let effects = key(&mut app, KeyCode::Enter);
    let spec = submitted(&effects).expect("submitted");
    let names: Vec<&str> = spec.targets.iter().map(|t| &*t.name).collect();
    assert_eq!(names, ["db1", "db2", "db3"]);
    match &spec.kind {
        JobKind::Exec(e) => assert_eq!(e.command, "uptime; q"),
        other => panic!("not exec: {other:?}"),
    }
    assert_eq!(spec.pattern, "db");
    assert!(effects
        .iter()
        .any(|e| matches!(e, Effect::SaveHistory(s) if s == "uptime; q")));
    assert!(app.cmdline.input.is_empty());
    assert!(app.job_running());
    for h in ["db1", "db2", "db3"] {
        assert_eq!(app.hosts[host(&app, h)].state, HostState::Queued);
    }
}

#[test]
fn enter_without_selection_explains_instead_of_running() {
    let mut app = app(120, 40);
    key(&mut app, KeyCode::Char(':'));
    chars(&mut app, "uptime");
    let effects = key(&mut app, KeyCode::Enter);
    assert!(submitted(&effects).is_none());
    let (_, msg) = app.status.clone().expect("status");
    assert!(msg.contains("no hosts selected"), "{msg}");
    assert_eq!(app.cmdline.input, "uptime", "the line is kept");
}

#[test]
fn tab_cycles_focus_and_esc_leaves_the_command_line() {
    let mut app = app(120, 40);
    let mut seen = vec![app.focus];
    for _ in 0..4 {
        key(&mut app, KeyCode::Tab);
        seen.push(app.focus);
    }
    assert_eq!(
        seen,
        [
            Focus::Tree,
            Focus::Output,
            Focus::Log,
            Focus::Cmdline,
            Focus::Tree
        ]
    );
    key(&mut app, KeyCode::BackTab);
    assert_eq!(app.focus, Focus::Cmdline);
    key(&mut app, KeyCode::Esc);
    assert_eq!(app.focus, Focus::Tree);
}

#[test]
fn question_mark_opens_help_and_esc_closes_it() {
    let mut app = app(120, 40);
    key(&mut app, KeyCode::Char('?'));
    assert!(matches!(app.dialog, Some(Dialog::Help { .. })));
    // Keys do not leak to the tree while help is open.
    key(&mut app, KeyCode::Char(' '));
    assert_eq!(app.tree.selected_count(), 0);
    key(&mut app, KeyCode::Esc);
    assert!(app.dialog.is_none());
}

#[test]
fn q_quits_at_once_when_idle_and_asks_while_a_job_runs() {
    let mut idle = app(120, 40);
    assert!(has_quit(&key(&mut idle, KeyCode::Char('q'))));

    let mut app = app(120, 40);
    run(&mut app, "db", "sleep 100");
    // On the command line `q` is text; Esc leaves it.
    key(&mut app, KeyCode::Char('q'));
    assert_eq!(app.cmdline.input, "q");
    key(&mut app, KeyCode::Esc);
    let effects = key(&mut app, KeyCode::Char('q'));
    assert!(!has_quit(&effects));
    assert!(matches!(
        app.dialog,
        Some(Dialog::Confirm {
            on_yes: OnYes::Quit,
            ..
        })
    ));
    // n keeps running.
    key(&mut app, KeyCode::Char('n'));
    assert!(app.dialog.is_none() && !app.should_quit);
    key(&mut app, KeyCode::Char('q'));
    let effects = key(&mut app, KeyCode::Char('y'));
    assert!(has_quit(&effects));
    assert!(
        effects.iter().any(|e| matches!(e, Effect::Cancel(1))),
        "quitting cancels the job"
    );
}

#[test]
fn ctrl_c_cancels_the_running_job_once() {
    let mut app = app(120, 40);
    run(&mut app, "db", "sleep 100");
    // Focus is on the command line; Ctrl-C still cancels the job.
    assert_eq!(app.focus, Focus::Cmdline);
    let effects = ctrl(&mut app, 'c');
    assert!(
        matches!(effects.as_slice(), [Effect::Cancel(1)]),
        "{effects:?}"
    );
    assert!(
        ctrl(&mut app, 'c').is_empty(),
        "a second Ctrl-C sends nothing more"
    );
    // The engine reports the cancellation.
    for h in ["db1", "db2", "db3"] {
        ev(
            &mut app,
            Event::Failed {
                job: 1,
                host: name(h),
                class: ErrorClass::Cancelled,
                message: "cancelled by the operator".into(),
                duration: Duration::from_secs(1),
            },
        );
    }
    ev(
        &mut app,
        Event::JobDone {
            job: 1,
            ok: 0,
            failed: 3,
            duration: Duration::from_secs(1),
        },
    );
    assert!(!app.job_running());
    assert_eq!(app.hosts[host(&app, "db2")].state, HostState::Cancelled);
    // Without a job, Ctrl-C does not quit and sends nothing.
    let effects = ctrl(&mut app, 'c');
    assert!(effects.is_empty());
}

#[test]
fn cancel_before_the_engine_answers_is_sent_when_it_does() {
    let mut app = app(120, 40);
    cursor_to_group(&mut app, "db");
    key(&mut app, KeyCode::Char(' '));
    key(&mut app, KeyCode::Char(':'));
    chars(&mut app, "sleep 100");
    key(&mut app, KeyCode::Enter);
    assert!(ctrl(&mut app, 'c').is_empty(), "no id yet");
    let effects = update(&mut app, Action::JobSubmitted(7));
    assert!(matches!(effects.as_slice(), [Effect::Cancel(7)]));
}

#[test]
fn confirmation_above_the_host_limit() {
    let mut app = app(120, 40);
    app.settings.confirm_above = 5;
    cursor_to_group(&mut app, "prod");
    key(&mut app, KeyCode::Char(' '));
    key(&mut app, KeyCode::Char(':'));
    chars(&mut app, "uptime");
    let effects = key(&mut app, KeyCode::Enter);
    assert!(submitted(&effects).is_none());
    let Some(Dialog::Confirm { lines, danger, .. }) = &app.dialog else {
        panic!("no confirmation: {:?}", app.dialog);
    };
    assert!(!danger);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("15 hosts") && l.contains("web[01-12]")),
        "{lines:?}"
    );
    key(&mut app, KeyCode::Esc);
    assert!(app.job.is_none(), "Esc runs nothing");
    key(&mut app, KeyCode::Up); // history brings it back
    assert_eq!(app.cmdline.input, "uptime");
    key(&mut app, KeyCode::Enter);
    let effects = key(&mut app, KeyCode::Char('y'));
    assert_eq!(
        submitted(&effects).expect("runs after yes").targets.len(),
        15
    );
}

#[test]
fn dangerous_commands_ask_even_on_one_host() {
    for (cmd, dangerous) in [
        ("rm -rf /var/tmp/x", true),
        ("sudo rm -fr /", true),
        ("reboot", true),
        ("shutdown -h now", true),
        ("systemctl restart nginx", true),
        ("rm -f /tmp/one-file", false),
        ("echo rebooting-soon", false),
    ] {
        let mut app = app(120, 40);
        let lone = host(&app, "lone");
        app.tree.set_selection(&[lone]);
        key(&mut app, KeyCode::Char(':'));
        chars(&mut app, cmd);
        let effects = key(&mut app, KeyCode::Enter);
        if dangerous {
            assert!(submitted(&effects).is_none(), "{cmd} ran without asking");
            assert!(
                matches!(app.dialog, Some(Dialog::Confirm { danger: true, .. })),
                "{cmd}"
            );
        } else {
            assert!(submitted(&effects).is_some(), "{cmd} asked");
        }
    }
}

#[test]
fn history_arrows_and_ctrl_r() {
    let mut app = app(120, 40);
    app.cmdline = fleetdeck::tui::cmdline::CmdLine::with_history(vec![
        "uptime".into(),
        "df -h".into(),
        "uname -a".into(),
    ]);
    key(&mut app, KeyCode::Char(':'));
    key(&mut app, KeyCode::Up);
    assert_eq!(app.cmdline.input, "uname -a");
    key(&mut app, KeyCode::Up);
    assert_eq!(app.cmdline.input, "df -h");
    key(&mut app, KeyCode::Down);
    key(&mut app, KeyCode::Down);
    assert_eq!(app.cmdline.input, "");
    ctrl(&mut app, 'r');
    chars(&mut app, "up");
    assert_eq!(app.cmdline.search_match(), Some("uptime"));
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.cmdline.input, "uptime", "Enter takes the match");
    assert!(app.cmdline.search.is_none());
}

#[test]
fn slash_filters_the_tree() {
    let mut app = app(120, 40);
    key(&mut app, KeyCode::Char('/'));
    chars(&mut app, "db");
    let names: Vec<String> = app
        .tree
        .rows()
        .iter()
        .map(|r| match *r {
            Row::Group { id, .. } => app.inventory.groups[id].name.clone(),
            Row::Host { id, .. } => app.inventory.hosts[id].name.clone(),
        })
        .collect();
    assert_eq!(names, ["prod", "db", "db1", "db2", "db3"]);
    // Keys are text while typing the filter: `q` does not quit.
    assert!(!has_quit(&chars(&mut app, "q")));
    key(&mut app, KeyCode::Backspace);
    key(&mut app, KeyCode::Enter);
    assert!(!app.tree.editing_filter);
    assert_eq!(app.tree.filter, "db");
    key(&mut app, KeyCode::Esc);
    assert!(app.tree.filter.is_empty());
    assert!(app.tree.rows().len() > 5);
}

#[test]
fn select_by_pattern_and_bad_pattern() {
    let mut app = app(120, 40);
    key(&mut app, KeyCode::Char('s'));
    chars(&mut app, "prod:!web");
    key(&mut app, KeyCode::Enter);
    assert!(app.dialog.is_none());
    let sel: Vec<String> = app
        .tree
        .selected_hosts()
        .iter()
        .map(|&h| app.inventory.hosts[h].name.clone())
        .collect();
    assert_eq!(sel, ["db1", "db2", "db3"]);
    key(&mut app, KeyCode::Char('s'));
    chars(&mut app, "nosuchgroup");
    key(&mut app, KeyCode::Enter);
    let Some(Dialog::Pattern { error: Some(e), .. }) = &app.dialog else {
        panic!("no error shown: {:?}", app.dialog);
    };
    assert!(e.contains("nosuchgroup"), "{e}");
    key(&mut app, KeyCode::Esc);
    assert_eq!(app.tree.selected_count(), 3, "selection unchanged");
}

#[test]
fn f_reselects_the_hosts_that_failed() {
    let mut app = app(120, 40);
    let spec = run(&mut app, "web", "check");
    let hosts: Vec<String> = spec.targets.iter().map(|t| t.name.to_string()).collect();
    finish_job(
        &mut app,
        1,
        &hosts,
        |h| (format!("{h}\n").into_bytes(), Vec::new()),
        |h| i32::from(h == "web03" || h == "web07"),
    );
    ev(
        &mut app,
        Event::Failed {
            job: 1,
            host: name("web09"),
            class: ErrorClass::Refused,
            message: "connection refused".into(),
            duration: Duration::ZERO,
        },
    );
    assert_eq!(app.hosts[host(&app, "web09")].state, HostState::Unreachable);
    // Last job's failures come from JobDone; the late Failed event above came after it, so
    // re-run to have a clean record.
    ev(
        &mut app,
        Event::JobDone {
            job: 1,
            ok: 9,
            failed: 3,
            duration: Duration::from_secs(1),
        },
    );
    key(&mut app, KeyCode::Esc);
    key(&mut app, KeyCode::Char('f'));
    let sel: Vec<String> = app
        .tree
        .selected_hosts()
        .iter()
        .map(|&h| app.inventory.hosts[h].name.clone())
        .collect();
    assert_eq!(sel, ["web03", "web07", "web09"]);
}

#[test]
fn engine_events_drive_host_states() {
    let mut app = app(120, 40);
    run(&mut app, "db", "uptime");
    let db1 = host(&app, "db1");
    ev(
        &mut app,
        Event::Connecting {
            job: 1,
            host: name("db1"),
        },
    );
    assert_eq!(app.hosts[db1].state, HostState::Connecting);
    ev(
        &mut app,
        Event::Running {
            job: 1,
            host: name("db1"),
        },
    );
    assert_eq!(app.hosts[db1].state, HostState::Running);
    // Events of another job do not touch the current one.
    ev(
        &mut app,
        Event::Connecting {
            job: 99,
            host: name("db1"),
        },
    );
    assert_eq!(app.hosts[db1].state, HostState::Running);
    ev(
        &mut app,
        Event::Finished {
            job: 1,
            host: name("db1"),
            exit: fleetdeck::engine::ExitStatus::Code(3),
            duration: Duration::from_millis(50),
        },
    );
    assert_eq!(app.hosts[db1].state, HostState::Failed);
    ev(
        &mut app,
        Event::Failed {
            job: 1,
            host: name("db2"),
            class: ErrorClass::AuthFailed,
            message: "no key accepted".into(),
            duration: Duration::ZERO,
        },
    );
    assert_eq!(app.hosts[host(&app, "db2")].state, HostState::Failed);
    ev(
        &mut app,
        Event::JobDone {
            job: 1,
            ok: 0,
            failed: 2,
            duration: Duration::from_secs(1),
        },
    );
    // db3 never reported: it is not left "queued".
    assert_eq!(app.hosts[host(&app, "db3")].state, HostState::Cancelled);
    let errors: Vec<&str> = app
        .log
        .entries
        .iter()
        .filter(|e| e.level == LogLevel::Error)
        .map(|e| e.text.as_str())
        .collect();
    assert!(
        errors.iter().any(|t| t.contains("db1: exit 3")),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|t| t.contains("db2: auth-failed: no key accepted")),
        "{errors:?}"
    );
}

#[test]
fn panes_scroll_and_follow() {
    let mut app = app(120, 40);
    run(&mut app, "db", "seq");
    let text: String = (1..=100).map(|i| format!("{i}\n")).collect();
    ev(
        &mut app,
        Event::Output {
            job: 1,
            host: name("db1"),
            stream: Stream::Stdout,
            data: text.into_bytes(),
        },
    );
    key(&mut app, KeyCode::Esc); // leave the command line
    key(&mut app, KeyCode::Tab); // tree -> output
    assert_eq!(app.focus, Focus::Output);
    key(&mut app, KeyCode::Up);
    key(&mut app, KeyCode::Char('k'));
    let db1 = host(&app, "db1");
    assert_eq!(app.hosts[db1].pane.scroll, 2);
    // New output does not move what the operator is reading.
    ev(
        &mut app,
        Event::Output {
            job: 1,
            host: name("db1"),
            stream: Stream::Stdout,
            data: b"101\n".to_vec(),
        },
    );
    assert_eq!(app.hosts[db1].pane.scroll, 3);
    key(&mut app, KeyCode::PageUp);
    assert!(app.hosts[db1].pane.scroll > 3);
    key(&mut app, KeyCode::End);
    assert_eq!(app.hosts[db1].pane.scroll, 0, "End follows again");
    // → chooses the next pane.
    key(&mut app, KeyCode::Right);
    assert_eq!(app.current_host(), Some(host(&app, "db2")));
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.zoom, Some(host(&app, "db2")));
    key(&mut app, KeyCode::Char('z'));
    assert_eq!(app.zoom, None);
}

#[test]
fn tail_is_bounded_by_the_setting() {
    let mut app = app(120, 40);
    app.settings.tail_lines = 100;
    run(&mut app, "db", "seq 1000");
    let text: String = (1..=1000).map(|i| format!("{i}\n")).collect();
    ev(
        &mut app,
        Event::Output {
            job: 1,
            host: name("db1"),
            stream: Stream::Stdout,
            data: text.into_bytes(),
        },
    );
    let pane = &app.hosts[host(&app, "db1")].pane;
    assert_eq!(pane.len(), 100);
    assert_eq!(pane.dropped, 900);
    assert_eq!(pane.line(0).expect("line").text(), "901");
}

#[test]
fn gathered_view_folds_identical_outputs_largest_first() {
    let mut app = app(120, 40);
    let spec = run(&mut app, "prod", "cat /etc/os-release");
    let hosts: Vec<String> = spec.targets.iter().map(|t| t.name.to_string()).collect();
    finish_job(
        &mut app,
        1,
        &hosts,
        |h| {
            let v = if h == "db2" {
                "bookworm"
            } else if h.starts_with("db") {
                "bullseye"
            } else {
                "trixie"
            };
            (format!("{v}\n").into_bytes(), Vec::new())
        },
        |_| 0,
    );
    key(&mut app, KeyCode::Esc);
    key(&mut app, KeyCode::Char('v'));
    assert_eq!(app.view, View::Gathered);
    let labels: Vec<(&str, usize)> = app
        .gathered
        .iter()
        .map(|g| (g.label.as_str(), g.hosts.len()))
        .collect();
    assert_eq!(labels, [("web[01-12]", 12), ("db[1,3]", 2), ("db2", 1)]);
    key(&mut app, KeyCode::Char('v'));
    assert_eq!(app.view, View::Panes);
}

#[test]
fn t_cycles_themes_live() {
    let mut app = app(120, 40);
    let first = app.theme.name.clone();
    let mut names = vec![first.clone()];
    for _ in 0..4 {
        key(&mut app, KeyCode::Char('t'));
        names.push(app.theme.name.clone());
    }
    assert_eq!(
        names,
        ["dark", "light", "high-contrast", "colorblind", "dark"]
    );
}

#[test]
fn host_key_dialog_answers_the_engine() {
    let mut app = app(120, 40);
    let q = HostKeyQuestion {
        host: name("web01"),
        address: "127.0.0.1".into(),
        port: 2201,
        key_type: "ED25519".into(),
        fingerprint: "SHA256:abc".into(),
    };
    update(&mut app, Action::AskHostKey(5, q.clone()));
    update(&mut app, Action::AskHostKey(6, q));
    // The first is shown, the second waits; keys go to the dialog.
    let effects = key(&mut app, KeyCode::Char('a'));
    assert!(matches!(
        effects.as_slice(),
        [Effect::AnswerHostKey(5, HostKeyAnswer::AcceptAndSave)]
    ));
    assert!(matches!(
        app.dialog,
        Some(Dialog::HostKey { prompt: 6, .. })
    ));
    let effects = key(&mut app, KeyCode::Char('o'));
    assert!(matches!(
        effects.as_slice(),
        [Effect::AnswerHostKey(6, HostKeyAnswer::AcceptOnce)]
    ));
    update(
        &mut app,
        Action::AskHostKey(
            7,
            HostKeyQuestion {
                host: name("web02"),
                address: "127.0.0.1".into(),
                port: 2202,
                key_type: "ED25519".into(),
                fingerprint: "SHA256:def".into(),
            },
        ),
    );
    let effects = key(&mut app, KeyCode::Esc);
    assert!(matches!(
        effects.as_slice(),
        [Effect::AnswerHostKey(7, HostKeyAnswer::Reject)]
    ));
    assert!(app.dialog.is_none());
}

#[test]
fn password_dialog_is_masked_and_answers_once() {
    let mut app = app(120, 40);
    update(
        &mut app,
        Action::AskSecret(
            9,
            SecretKind::Password { user: "ops".into() },
            "Password for ops@web01:".into(),
        ),
    );
    chars(&mut app, "s3cr3t-q");
    assert!(!app.should_quit, "q is text in the password field");
    let shown = screen(&app);
    assert!(
        !shown.contains("s3cr3t"),
        "the secret is on screen:\n{shown}"
    );
    assert!(shown.contains("••••••••"), "{shown}");
    let effects = key(&mut app, KeyCode::Enter);
    match effects.as_slice() {
        [Effect::AnswerSecret(9, Some(s))] => assert_eq!(s.expose(), "s3cr3t-q"),
        other => panic!("{other:?}"),
    }
    assert!(app.dialog.is_none());
    assert!(
        !format!("{app:?}").contains("s3cr3t"),
        "the secret stays in the App"
    );
}

#[test]
fn quitting_rejects_pending_engine_questions() {
    let mut app = app(120, 40);
    update(
        &mut app,
        Action::AskSecret(1, SecretKind::Password { user: "u".into() }, "pw".into()),
    );
    update(
        &mut app,
        Action::AskHostKey(
            2,
            HostKeyQuestion {
                host: name("web01"),
                address: "a".into(),
                port: 22,
                key_type: "ED25519".into(),
                fingerprint: "SHA256:x".into(),
            },
        ),
    );
    let effects = update(&mut app, Action::Terminate);
    assert!(effects
        .iter()
        .any(|e| matches!(e, Effect::AnswerSecret(1, None))));
    assert!(effects
        .iter()
        .any(|e| matches!(e, Effect::AnswerHostKey(2, HostKeyAnswer::Reject))));
    assert!(has_quit(&effects));
}

#[test]
fn mouse_click_focuses_and_selects_and_wheel_scrolls() {
    let mut app = app(120, 40);
    let areas = fleetdeck::tui::layout::areas(app.area);
    // Click the checkbox of the first row (prod): selects the group.
    let click = |x, y| {
        Action::Mouse(MouseEvent {
            kind: MouseEventKind::Down(MouseButton::Left),
            column: x,
            row: y,
            modifiers: KeyModifiers::NONE,
        })
    };
    update(&mut app, click(areas.tree.x + 1 + 2, areas.tree.y + 1));
    assert_eq!(app.tree.selected_count(), 15);
    // Click the log: focus moves there.
    update(&mut app, click(areas.log.x + 3, areas.log.y + 2));
    assert_eq!(app.focus, Focus::Log);
    // Click the third row's name: cursor moves, no toggle.
    update(&mut app, click(areas.tree.x + 12, areas.tree.y + 3));
    assert_eq!(app.focus, Focus::Tree);
    assert_eq!(app.tree.cursor, 2);
    assert_eq!(app.tree.selected_count(), 15);
    // Wheel over a pane scrolls it.
    key(&mut app, KeyCode::Char(':'));
    chars(&mut app, "seq 100");
    key(&mut app, KeyCode::Enter);
    let effects = key(&mut app, KeyCode::Char('y'));
    assert!(submitted(&effects).is_some() || app.job.is_some());
    update(&mut app, Action::JobSubmitted(1));
    let text: String = (1..=100).map(|i| format!("{i}\n")).collect();
    ev(
        &mut app,
        Event::Output {
            job: 1,
            host: name("web01"),
            stream: Stream::Stdout,
            data: text.into_bytes(),
        },
    );
    let grid = fleetdeck::tui::layout::grid(&app, fleetdeck::tui::layout::inner(areas.output));
    let (_, h, r) = grid.panes[0];
    update(
        &mut app,
        Action::Mouse(MouseEvent {
            kind: MouseEventKind::ScrollUp,
            column: r.x + 2,
            row: r.y + 2,
            modifiers: KeyModifiers::NONE,
        }),
    );
    assert_eq!(app.hosts[h].pane.scroll, 3);
}

#[test]
fn log_filters_by_level_and_host() {
    let mut app = app(120, 40);
    run(&mut app, "db", "x");
    ev(
        &mut app,
        Event::Log {
            level: LogLevel::Debug,
            message: "debug detail".into(),
        },
    );
    ev(
        &mut app,
        Event::Failed {
            job: 1,
            host: name("db1"),
            class: ErrorClass::Timeout,
            message: "connect timed out".into(),
            duration: Duration::ZERO,
        },
    );
    ev(
        &mut app,
        Event::Failed {
            job: 1,
            host: name("db2"),
            class: ErrorClass::Timeout,
            message: "connect timed out".into(),
            duration: Duration::ZERO,
        },
    );
    let visible = |app: &fleetdeck::tui::app::App| {
        app.log
            .visible()
            .map(|e| e.text.clone())
            .collect::<Vec<_>>()
    };
    assert!(
        !visible(&app).iter().any(|t| t.contains("debug detail")),
        "debug hidden by default"
    );
    key(&mut app, KeyCode::Esc);
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Tab);
    assert_eq!(app.focus, Focus::Log);
    key(&mut app, KeyCode::Char('l'));
    assert_eq!(app.log.min_level, LogLevel::Warn);
    key(&mut app, KeyCode::Char('l'));
    assert_eq!(app.log.min_level, LogLevel::Error);
    assert!(visible(&app).iter().all(|t| t.contains("timeout")));
    // H: only the chosen host (the first pane, db1).
    key(&mut app, KeyCode::Char('H'));
    assert_eq!(visible(&app), ["db1: timeout: connect timed out"]);
    key(&mut app, KeyCode::Char('H'));
    assert_eq!(visible(&app).len(), 2);
    key(&mut app, KeyCode::Char('l'));
    assert!(visible(&app).iter().any(|t| t.contains("debug detail")));
}

#[test]
fn a_second_command_waits_for_the_first() {
    let mut app = app(120, 40);
    run(&mut app, "db", "sleep 100");
    chars(&mut app, "uptime");
    let effects = key(&mut app, KeyCode::Enter);
    assert!(submitted(&effects).is_none());
    assert!(app
        .status
        .as_ref()
        .is_some_and(|(_, m)| m.contains("Ctrl-C")));
}

#[test]
fn f5_is_reserved_for_transfers() {
    let mut app = app(120, 40);
    key(&mut app, KeyCode::F(5));
    assert!(app
        .status
        .as_ref()
        .is_some_and(|(_, m)| m.contains("transfer")));
}

#[test]
fn operation_log_records_appear_in_the_live_log() {
    let mut app = app(120, 40);
    let text = r#"{"type":"job-start","time":"2026-01-01T09:00:00+00:00","operator":"ops","job":1,"run":"r1","kind":"exec","command":"uptime","pattern":"web","hosts":["web01","web02"]}
{"type":"host-result","time":"2026-01-01T09:00:01+00:00","job":1,"run":"r1","host":"web01","duration_ms":5}
{"type":"host-result","time":"2026-01-01T09:00:01+00:00","job":1,"run":"r1","host":"web02","duration_ms":5,"error":{"class":"auth-failed","message":"no key accepted"}}
{"type":"job-end","time":"2026-01-01T09:00:02+00:00","job":1,"run":"r1","hosts":2,"ok":1,"nonzero":0,"errors":1,"cancelled":false,"duration_ms":2000}
"#;
    let contents = fleetdeck::oplog::read::read_from(text.as_bytes(), "oplog.jsonl").expect("read");
    assert!(contents.warnings.is_empty(), "{:?}", contents.warnings);
    app.add_oplog_records(&contents.records, 200);
    let shown: Vec<String> = app.log.visible().map(|e| e.text.clone()).collect();
    assert_eq!(
        shown,
        [
            "[oplog] exec \"uptime\" by ops on 2 hosts (web)",
            "[oplog] web02: auth-failed: no key accepted",
            "[oplog] job 1 done: 1 ok, 0 non-zero, 1 errors",
        ]
    );
    // Their own times, in local time.
    let first = app.log.entries.front().expect("entry");
    assert_eq!(
        first.time.with_timezone(&chrono::Utc).to_rfc3339(),
        "2026-01-01T09:00:00+00:00"
    );
    // Filtering by host works on them too.
    app.log.host = Some(name("web02"));
    assert_eq!(app.log.visible().count(), 1);
}

/// A fleet behind a bastion, with settings from groups, hosts and defaults (issue 8).
const REACH_INVENTORY: &str = r"
defaults: { user: ops, address: 127.0.0.1, identity: /tmp/fleetdeck-tui-fixture/ops_ed25519 }
groups:
  prod:
    jump: bastion
    connect_timeout: 7
    vars: { tier: prod }
    hosts:
      web01: { address: 10.0.0.11, port: 2201 }
      web02: { address: 10.0.0.12, user: deploy, vars: { role: edge } }
  bastions:
    hosts:
      bastion: { address: 127.0.0.5, port: 2222, user: jump }
";

fn reach_app(w: u16, h: u16) -> fleetdeck::tui::app::App {
    // The inventory checks that identity files exist; a fixed path keeps snapshots stable.
    std::fs::create_dir_all("/tmp/fleetdeck-tui-fixture").expect("fixture dir");
    std::fs::write("/tmp/fleetdeck-tui-fixture/ops_ed25519", "not a key\n").expect("fixture key");
    let inv = fleetdeck::inventory::Inventory::load_str_with(
        std::path::Path::new("/fixtures/reach.yaml"),
        REACH_INVENTORY,
        &fleetdeck::inventory::LoadOptions::default(),
    )
    .expect("reach inventory");
    let mut app = fleetdeck::tui::app::App::new(
        inv,
        fleetdeck::tui::app::Settings::default(),
        fleetdeck::tui::theme::Theme::default_theme(),
    );
    app.clock = clock();
    update(&mut app, Action::Resize(w, h));
    app
}

fn cursor_to_host(app: &mut fleetdeck::tui::app::App, name: &str) -> usize {
    let id = host(app, name);
    let row = app
        .tree
        .rows()
        .iter()
        .position(|r| matches!(r, Row::Host { id: h, .. } if *h == id))
        .expect("host row visible");
    app.tree.move_to(row);
    id
}

fn sudo_user(spec: &fleetdeck::engine::JobSpec) -> Option<String> {
    match &spec.kind {
        JobKind::Exec(e) => e.sudo_user.clone(),
        other => panic!("not exec: {other:?}"),
    }
}

#[test]
fn s_toggles_sudo_for_the_command_line_and_the_job_runs_through_it() {
    let mut app = app(120, 40);
    assert!(!app.sudo);
    // Off by default: the job runs plainly.
    let spec = run(&mut app, "db", "id -u");
    assert_eq!(sudo_user(&spec), None);
    finish_job(
        &mut app,
        1,
        &["db1".into(), "db2".into(), "db3".into()],
        |_| (b"1000\n".to_vec(), Vec::new()),
        |_| 0,
    );
    key(&mut app, KeyCode::Esc);
    // S (outside text) turns it on; the prompt and the status say so.
    chars(&mut app, "S");
    assert!(app.sudo);
    let shown = screen(&app);
    assert!(shown.contains(" sudo > "), "{shown}");
    assert!(shown.contains("sudo on: commands run as root"), "{shown}");
    key(&mut app, KeyCode::Char(':'));
    chars(&mut app, "id -u");
    let effects = key(&mut app, KeyCode::Enter);
    let spec = submitted(&effects).expect("submitted");
    assert_eq!(sudo_user(spec).as_deref(), Some("root"));
    assert!(
        app.log
            .entries
            .iter()
            .any(|e| e.text.contains("through sudo as root")),
        "the live log says the job runs through sudo"
    );
    finish_job(
        &mut app,
        2,
        &["db1".into(), "db2".into(), "db3".into()],
        |_| (b"0\n".to_vec(), Vec::new()),
        |_| 0,
    );
    // On the command line S is text; Ctrl-S toggles instead.
    key(&mut app, KeyCode::Esc);
    key(&mut app, KeyCode::Char(':'));
    chars(&mut app, "echo S");
    assert_eq!(app.cmdline.input, "echo S");
    assert!(app.sudo);
    ctrl(&mut app, 's');
    assert!(!app.sudo);
    assert_eq!(app.cmdline.input, "echo S", "Ctrl-S is not text");
    assert!(!screen(&app).contains("sudo >"));
    let effects = key(&mut app, KeyCode::Enter);
    assert_eq!(sudo_user(submitted(&effects).expect("submitted")), None);
}

#[test]
fn sudo_toggle_uses_the_configured_user_and_the_confirmation_says_so() {
    let mut app = app(120, 40);
    app.settings.sudo_user = "postgres".into();
    chars(&mut app, "S");
    cursor_to_group(&mut app, "db");
    key(&mut app, KeyCode::Char(' '));
    key(&mut app, KeyCode::Char(':'));
    chars(&mut app, "systemctl restart app");
    let effects = key(&mut app, KeyCode::Enter);
    assert!(submitted(&effects).is_none(), "dangerous: asks first");
    match &app.dialog {
        Some(Dialog::Confirm { lines, .. }) => {
            assert!(lines[0].contains("through sudo as postgres"), "{lines:?}");
        }
        other => panic!("{other:?}"),
    }
    let effects = key(&mut app, KeyCode::Char('y'));
    let spec = submitted(&effects).expect("submitted");
    assert_eq!(sudo_user(spec).as_deref(), Some("postgres"));
}

#[test]
fn sudo_password_dialog_names_the_user_and_is_masked() {
    let mut app = app(120, 40);
    update(
        &mut app,
        Action::AskSecret(
            4,
            SecretKind::Sudo {
                user: "fdlab".into(),
            },
            "[sudo] password for fdlab (to run as root; asked first by web01)".into(),
        ),
    );
    chars(&mut app, "pw-S-q");
    assert!(!app.sudo, "S is text in the password field");
    assert!(!app.should_quit);
    let shown = screen(&app);
    assert!(shown.contains("sudo password for fdlab"), "{shown}");
    assert!(shown.contains("asked first by web01"), "{shown}");
    assert!(!shown.contains("pw-S-q"), "{shown}");
    assert!(shown.contains("••••••"), "{shown}");
    let effects = key(&mut app, KeyCode::Enter);
    match effects.as_slice() {
        [Effect::AnswerSecret(4, Some(s))] => assert_eq!(s.expose(), "pw-S-q"),
        other => panic!("{other:?}"),
    }
}

/// The sudo password dialog keeps the answer for this job unless Tab chose the session.
#[test]
fn sudo_dialog_tab_keeps_the_password_for_the_session() {
    let ask = |app: &mut fleetdeck::tui::app::App, id| {
        update(
            app,
            Action::AskSecret(
                id,
                SecretKind::Sudo {
                    user: "fdlab".into(),
                },
                "[sudo] password for fdlab (to run as root; asked first by web01)".into(),
            ),
        );
    };
    let mut app = app(120, 40);
    ask(&mut app, 5);
    assert!(
        screen(&app).contains("[ ] keep for this session"),
        "{}",
        screen(&app)
    );
    chars(&mut app, "pw");
    match key(&mut app, KeyCode::Enter).as_slice() {
        [Effect::AnswerSecret(5, Some(s))] => assert!(!s.keep_for_session()),
        other => panic!("{other:?}"),
    }
    ask(&mut app, 6);
    chars(&mut app, "pw");
    key(&mut app, KeyCode::Tab);
    assert!(
        screen(&app).contains("[x] keep for this session"),
        "{}",
        screen(&app)
    );
    match key(&mut app, KeyCode::Enter).as_slice() {
        [Effect::AnswerSecret(6, Some(s))] => {
            assert!(s.keep_for_session());
            assert_eq!(s.expose(), "pw");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn i_shows_a_hosts_settings_and_where_each_came_from() {
    let mut app = reach_app(140, 45);
    let web01 = cursor_to_host(&mut app, "web01");
    key(&mut app, KeyCode::Char('i'));
    assert!(
        matches!(app.dialog, Some(Dialog::HostDetails { host, .. }) if host == web01),
        "{:?}",
        app.dialog
    );
    let shown = screen(&app);
    for want in [
        "Host web01",
        "address",
        "10.0.0.11",
        "2201",
        "/tmp/fleetdeck-tui-fixture/ops_ed25519",
        "jump",
        "bastion",
        "connect_timeout",
        "7s",
        "vars.tier",
        "from group prod (/fixtures/reach.yaml:",
        "from host web01 (/fixtures/reach.yaml:",
        "from defaults (/fixtures/reach.yaml:",
        "route            1. jump@bastion (127.0.0.5:2222) jump",
        "2. ops@web01 (10.0.0.11:2201) target",
    ] {
        assert!(shown.contains(want), "missing {want:?}:\n{shown}");
    }
    // Keys belong to the dialog: q closes it, it does not quit.
    key(&mut app, KeyCode::Char('q'));
    assert!(app.dialog.is_none());
    assert!(!app.should_quit);
    // Another host: its own user and vars, its origin on the host line.
    cursor_to_host(&mut app, "web02");
    key(&mut app, KeyCode::Char('i'));
    let shown = screen(&app);
    assert!(shown.contains("deploy"), "{shown}");
    assert!(shown.contains("vars.role"), "{shown}");
    key(&mut app, KeyCode::Esc);
    assert!(app.dialog.is_none());
    // On a group row it explains instead.
    cursor_to_group(&mut app, "prod");
    key(&mut app, KeyCode::Char('i'));
    assert!(app.dialog.is_none());
    let (_, msg) = app.status.clone().expect("status");
    assert!(msg.contains("on a host"), "{msg}");
}

#[test]
fn i_in_the_output_shows_the_chosen_panes_host() {
    let mut app = app(120, 40);
    run(&mut app, "db", "true");
    key(&mut app, KeyCode::Esc);
    key(&mut app, KeyCode::Tab);
    assert_eq!(app.focus, Focus::Output);
    key(&mut app, KeyCode::Char('l'));
    key(&mut app, KeyCode::Char('i'));
    let db2 = host(&app, "db2");
    assert!(
        matches!(app.dialog, Some(Dialog::HostDetails { host, .. }) if host == db2),
        "{:?}",
        app.dialog
    );
}

#[test]
fn the_details_route_is_resolved_when_the_dialog_opens_and_drawing_only_reads_it() {
    use fleetdeck::tui::dialog::RouteHop;
    let mut app = reach_app(140, 45);
    cursor_to_host(&mut app, "web01");
    key(&mut app, KeyCode::Char('i'));
    let Some(Dialog::HostDetails { route, .. }) = &app.dialog else {
        panic!("details open: {:?}", app.dialog);
    };
    let hops = route.as_ref().expect("route resolved");
    assert_eq!(
        hops.iter().map(|h| h.name.as_str()).collect::<Vec<_>>(),
        ["bastion", "web01"]
    );
    // Whatever the dialog holds is what is drawn: the state, not the inventory, says the route.
    if let Some(Dialog::HostDetails { route, .. }) = &mut app.dialog {
        *route = Ok(vec![RouteHop {
            user: "u".into(),
            name: "elsewhere".into(),
            address: "192.0.2.9".into(),
            port: 2022,
        }]);
    }
    let shown = screen(&app);
    assert!(
        shown.contains("1. u@elsewhere (192.0.2.9:2022) target"),
        "{shown}"
    );
    if let Some(Dialog::HostDetails { route, .. }) = &mut app.dialog {
        *route = Err("no such jump host `nowhere`".into());
    }
    let shown = screen(&app);
    assert!(
        shown.contains("cannot resolve: no such jump host"),
        "{shown}"
    );
}

#[test]
fn saved_history_arrives_as_an_action_before_what_was_typed_meanwhile() {
    let mut app = app(100, 30);
    run(&mut app, "db", "uptime");
    update(
        &mut app,
        Action::HistoryLoaded(vec!["df -h".into(), "w".into()]),
    );
    assert_eq!(app.cmdline.history, vec!["df -h", "w", "uptime"]);
    key(&mut app, KeyCode::Up);
    key(&mut app, KeyCode::Up);
    assert_eq!(app.cmdline.input, "w");
}

#[test]
fn a_history_file_that_cannot_be_written_is_said_in_the_log() {
    let dir = tempfile::tempdir().expect("tmp");
    // A file where the state directory should be: the history cannot be created under it.
    let blocker = dir.path().join("state");
    std::fs::write(&blocker, b"").expect("file");
    let reply = fleetdeck::tui::runtime::file_work(
        Effect::SaveHistory("uptime".into()),
        &blocker.join("history"),
    )
    .expect("a failure is answered");
    let mut app = app(100, 30);
    update(&mut app, reply);
    let last = app.log.entries.back().expect("a log line");
    assert_eq!(last.level, LogLevel::Warn);
    assert!(last.text.contains("cannot save history"), "{}", last.text);
    // A panic report of another thread lands in the log the same way.
    update(
        &mut app,
        Action::Log(LogLevel::Error, "panic in thread 'w': boom".into()),
    );
    let last = app.log.entries.back().expect("a log line");
    assert_eq!(
        (last.level, last.text.as_str()),
        (LogLevel::Error, "panic in thread 'w': boom")
    );
}

/// The console applies the inventory's `ansible_become` as `run` does (the live log says on
/// how many hosts), and `--no-become -- COMMAND` turns it off for that command.
#[test]
fn inventory_become_and_no_become_on_the_command_line() {
    let inv = fleetdeck::inventory::Inventory::load_str_with(
        std::path::Path::new("/fixtures/hosts.ini"),
        "[admins]\na1 ansible_host=127.0.0.1\n[others]\no1 ansible_host=127.0.0.1\n\
         [admins:vars]\nansible_become=true\nansible_become_user=pg\n",
        &fleetdeck::inventory::LoadOptions::default(),
    )
    .expect("inventory");
    let mut app = fleetdeck::tui::app::App::new(
        inv,
        fleetdeck::tui::app::Settings::default(),
        fleetdeck::tui::theme::Theme::default_theme(),
    );
    update(&mut app, Action::Resize(120, 40));
    for g in ["admins", "others"] {
        cursor_to_group(&mut app, g);
        key(&mut app, KeyCode::Char(' '));
    }
    let run = |app: &mut fleetdeck::tui::app::App, line: &str| {
        key(app, KeyCode::Esc);
        key(app, KeyCode::Char(':'));
        chars(app, line);
        let effects = key(app, KeyCode::Enter);
        let spec = submitted(&effects).expect("submitted").clone();
        let JobKind::Exec(e) = &spec.kind else {
            panic!("not exec: {spec:?}")
        };
        let become_users: Vec<Option<String>> = spec
            .targets
            .iter()
            .map(|t| {
                t.become_
                    .as_ref()
                    .filter(|b| b.enabled)
                    .map(|b| b.user.clone())
            })
            .collect();
        (e.clone(), become_users)
    };
    let (e, users) = run(&mut app, "id -un");
    assert_eq!((e.command.as_str(), e.no_become), ("id -un", false));
    assert_eq!(users, vec![Some("pg".to_string()), None]);
    assert!(
        app.log.entries.iter().any(|l| l
            .text
            .contains("the inventory's ansible_become on 1 of them")),
        "{:?}",
        app.log.entries.iter().map(|l| &l.text).collect::<Vec<_>>()
    );
    finish_job(
        &mut app,
        1,
        &["a1".into(), "o1".into()],
        |_| (b"x\n".to_vec(), Vec::new()),
        |_| 0,
    );
    let (e, _) = run(&mut app, "--no-become -- id -un");
    assert_eq!((e.command.as_str(), e.no_become), ("id -un", true));
}
