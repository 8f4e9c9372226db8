//! The transfer dialog (`F5`): driven through `update` with keys and engine events and drawn
//! into a `TestBackend`, then end to end in tmux against lab hosts.

mod common;

use common::tmux::{console_command, Tmux};
#[path = "tui_support/mod.rs"]
mod tui_support;

use std::fs;
use std::path::Path;
use std::time::Duration;

use crossterm::event::KeyCode;
use fleetdeck::engine::{Event, ExitStatus, JobKind};
use fleetdeck::ssh::transfer::{Naming, Overwrite};
use fleetdeck::tui::action::{Action, Effect};
use fleetdeck::tui::dialog::Dialog;
use fleetdeck::tui::update::update;
use tui_support::{app, chars, cursor_to_group, ev, key, key_answered, name, screen};

fn submitted(effects: Vec<Effect>) -> Option<fleetdeck::engine::JobSpec> {
    effects.into_iter().find_map(|e| match e {
        Effect::Submit(s) => Some(s),
        _ => None,
    })
}

#[test]
fn dialog_sends_to_the_selected_group_and_shows_bars_to_the_end() {
    let dir = tempfile::tempdir().expect("tmp");
    fs::write(dir.path().join("release-1.tar"), b"x").expect("file");
    fs::write(dir.path().join("readme"), b"y").expect("file");
    let mut app = app(120, 40);
    cursor_to_group(&mut app, "web");
    key(&mut app, KeyCode::Char(' '));
    key(&mut app, KeyCode::F(5));
    assert!(matches!(app.dialog, Some(Dialog::Transfer(_))));
    let s = screen(&app);
    assert!(s.contains("Transfer: send to 12 hosts"), "{s}");
    assert!(s.contains("web[01-12] (12 hosts)"), "{s}");

    // Local path with Tab completion: `rel` completes to the one matching file.
    chars(&mut app, &format!("{}/rel", dir.path().display()));
    key_answered(&mut app, KeyCode::Tab);
    let s = screen(&app);
    assert!(s.contains("release-1.tar"), "{s}");
    // Enter with an empty remote path says so and stays in the form.
    assert!(submitted(key_answered(&mut app, KeyCode::Enter)).is_none());
    assert!(screen(&app).contains("the remote path is empty"));
    key(&mut app, KeyCode::Down);
    chars(&mut app, "/srv/releases/");
    // Options: verify on, overwrite cycled to `never`.
    key(&mut app, KeyCode::Down);
    key(&mut app, KeyCode::Down);
    key(&mut app, KeyCode::Down);
    key(&mut app, KeyCode::Char(' '));
    key(&mut app, KeyCode::Down);
    key(&mut app, KeyCode::Right);
    let spec = submitted(key_answered(&mut app, KeyCode::Enter)).expect("Enter starts the job");
    let JobKind::Upload(up) = &spec.kind else {
        panic!("an upload: {:?}", spec.kind);
    };
    assert_eq!(up.sources, vec![dir.path().join("release-1.tar")]);
    assert_eq!(up.remote, "/srv/releases/");
    assert!(up.verify && !up.recursive && !up.keep_perms);
    assert_eq!(up.overwrite, Overwrite::Never);
    assert_eq!(spec.targets.len(), 12);

    // Progress bars while it runs, then every bar done.
    update(&mut app, Action::JobSubmitted(7));
    ev(
        &mut app,
        Event::JobStarted {
            job: 7,
            hosts: 12,
            run_dir: None,
        },
    );
    for i in 1..=12 {
        ev(
            &mut app,
            Event::Running {
                job: 7,
                host: name(&format!("web{i:02}")),
            },
        );
        ev(
            &mut app,
            Event::Progress {
                job: 7,
                host: name(&format!("web{i:02}")),
                done: 50,
                total: 100,
            },
        );
    }
    let s = screen(&app);
    assert!(s.contains(" 50%") && s.contains("total"), "{s}");
    assert!(s.contains("[Ctrl-C] cancel"), "{s}");
    for i in 1..=12 {
        let host = name(&format!("web{i:02}"));
        ev(
            &mut app,
            Event::Progress {
                job: 7,
                host: host.clone(),
                done: 100,
                total: 100,
            },
        );
        ev(
            &mut app,
            Event::Finished {
                job: 7,
                host,
                exit: ExitStatus::Code(0),
                duration: Duration::from_millis(5),
            },
        );
    }
    ev(
        &mut app,
        Event::JobDone {
            job: 7,
            ok: 12,
            failed: 0,
            duration: Duration::from_millis(9),
        },
    );
    let s = screen(&app);
    assert!(s.contains("Transfer done: send"), "{s}");
    assert!(s.contains("100%") && s.contains("12/12 hosts"), "{s}");
    assert!(!s.contains("[Ctrl-C] cancel"), "{s}");
    // Esc hides the dialog; each pane has the host's result line.
    key(&mut app, KeyCode::Esc);
    assert!(app.dialog.is_none());
    let web03 = tui_support::host(&app, "web03");
    assert_eq!(
        app.hosts[web03].pane.plain_text().trim(),
        "transfer ok: sent 100 B"
    );
}

#[test]
fn dialog_fetch_options_and_refusals() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut app = app(120, 40);
    // No host selected: the form says so instead of starting.
    key(&mut app, KeyCode::F(5));
    chars(&mut app, &dir.path().display().to_string());
    key(&mut app, KeyCode::Down);
    chars(&mut app, "x");
    assert!(submitted(key_answered(&mut app, KeyCode::Enter)).is_none());
    assert!(
        screen(&app).contains("no host selected"),
        "{}",
        screen(&app)
    );
    key(&mut app, KeyCode::Esc);
    assert!(app.dialog.is_none());

    cursor_to_group(&mut app, "db");
    key(&mut app, KeyCode::Char(' '));
    key(&mut app, KeyCode::F(5));
    // Direction: fetch (Up to the first field, Space flips it).
    key(&mut app, KeyCode::Up);
    key(&mut app, KeyCode::Char(' '));
    assert!(screen(&app).contains("Transfer: fetch from 3 hosts"));
    key(&mut app, KeyCode::Down);
    chars(&mut app, &dir.path().join("logs").display().to_string());
    key(&mut app, KeyCode::Down);
    chars(&mut app, "/var/log/*.log");
    for _ in 0..5 {
        key(&mut app, KeyCode::Down);
    }
    key(&mut app, KeyCode::Char(' '));
    assert!(screen(&app).contains("DIR/name.<host>"));
    let spec = submitted(key_answered(&mut app, KeyCode::Enter)).expect("fetch starts");
    let JobKind::Download(down) = &spec.kind else {
        panic!("a download");
    };
    assert_eq!(down.remote, "/var/log/*.log");
    assert_eq!(down.dest, dir.path().join("logs"));
    assert_eq!(down.naming, Naming::Suffix);

    // A directory to send without recursive is refused in the form.
    let mut app2 = tui_support::app(120, 40);
    cursor_to_group(&mut app2, "db");
    key(&mut app2, KeyCode::Char(' '));
    key(&mut app2, KeyCode::F(5));
    chars(&mut app2, &dir.path().display().to_string());
    key(&mut app2, KeyCode::Down);
    chars(&mut app2, "dst");
    assert!(submitted(key_answered(&mut app2, KeyCode::Enter)).is_none());
    assert!(
        screen(&app2).contains("turn on recursive"),
        "{}",
        screen(&app2)
    );
}

fn transfer(app: &fleetdeck::tui::app::App) -> &fleetdeck::tui::transfer::TransferDialog {
    match &app.dialog {
        Some(Dialog::Transfer(d)) => d,
        other => panic!("the transfer dialog is open: {other:?}"),
    }
}

#[test]
fn tab_asks_the_runtime_and_folds_in_its_answer() {
    let dir = tempfile::tempdir().expect("tmp");
    fs::write(dir.path().join("release-1.tar"), b"x").expect("file");
    let mut app = app(120, 40);
    key(&mut app, KeyCode::F(5));
    let typed = format!("{}/rel", dir.path().display());
    chars(&mut app, &typed);
    // `update` lists no directory: Tab is a request, the form is unchanged until the answer.
    let effects = key(&mut app, KeyCode::Tab);
    let [Effect::CompleteLocal { input }] = effects.as_slice() else {
        panic!("Tab asks for completion: {effects:?}");
    };
    assert_eq!(input, &typed);
    assert_eq!(transfer(&app).local, typed);
    let reply = fleetdeck::tui::runtime::file_work(effects[0].clone(), Path::new("/nonexistent"))
        .expect("answered");
    assert!(update(&mut app, reply).is_empty());
    assert_eq!(
        transfer(&app).local,
        format!("{}/release-1.tar", dir.path().display())
    );
}

#[test]
fn a_completion_for_text_changed_meanwhile_is_ignored() {
    let dir = tempfile::tempdir().expect("tmp");
    fs::write(dir.path().join("release-1.tar"), b"x").expect("file");
    fs::write(dir.path().join("release-2.tar"), b"x").expect("file");
    let mut app = app(120, 40);
    key(&mut app, KeyCode::F(5));
    chars(&mut app, &format!("{}/rel", dir.path().display()));
    let effects = key(&mut app, KeyCode::Tab);
    // The operator types on before the (slow) directory answers.
    chars(&mut app, "e");
    let reply = fleetdeck::tui::runtime::file_work(effects[0].clone(), Path::new("/nonexistent"))
        .expect("answered");
    let Action::Completions { candidates, .. } = &reply else {
        panic!("completions: {reply:?}");
    };
    assert_eq!(candidates.len(), 2, "the answer itself has matches");
    update(&mut app, reply);
    let d = transfer(&app);
    assert_eq!(d.local, format!("{}/rele", dir.path().display()));
    assert!(d.candidates.is_empty(), "{:?}", d.candidates);
    // Moving to another field also makes the answer stale.
    let effects = key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Down);
    let reply = fleetdeck::tui::runtime::file_work(effects[0].clone(), Path::new("/nonexistent"))
        .expect("answered");
    update(&mut app, reply);
    assert_eq!(
        transfer(&app).local,
        format!("{}/rele", dir.path().display())
    );
}

#[test]
fn enter_checks_the_local_path_off_the_ui_thread_and_a_stale_check_starts_nothing() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut app = app(120, 40);
    cursor_to_group(&mut app, "db");
    key(&mut app, KeyCode::Char(' '));
    key(&mut app, KeyCode::F(5));
    chars(&mut app, &dir.path().display().to_string());
    key(&mut app, KeyCode::Down);
    chars(&mut app, "dst");
    // Enter asks for the check; nothing is submitted before the answer.
    let effects = key(&mut app, KeyCode::Enter);
    let [Effect::CheckLocalPath(check)] = effects.as_slice() else {
        panic!("Enter asks for the path check: {effects:?}");
    };
    assert_eq!(check.local, dir.path().display().to_string());
    let refused = fleetdeck::tui::runtime::file_work(effects[0].clone(), Path::new("/nonexistent"))
        .expect("answered");
    // Recursive turned on before the answer: the answer (a refusal) is for another form.
    key(&mut app, KeyCode::Down);
    key(&mut app, KeyCode::Char(' '));
    assert!(transfer(&app).recursive);
    assert!(submitted(update(&mut app, refused)).is_none());
    assert!(
        !screen(&app).contains("turn on recursive"),
        "{}",
        screen(&app)
    );
    assert!(matches!(
        transfer(&app).stage,
        fleetdeck::tui::transfer::Stage::Form
    ));
    // Enter again: checked for the form as it is, the job starts.
    let spec = submitted(key_answered(&mut app, KeyCode::Enter)).expect("starts");
    let JobKind::Upload(up) = &spec.kind else {
        panic!("an upload");
    };
    assert!(up.recursive);
    assert_eq!(up.sources, vec![dir.path().to_path_buf()]);
}

#[test]
fn the_path_check_expands_the_tilde() {
    use fleetdeck::tui::transfer::{files, Direction, PathCheck};
    let home = dirs::home_dir().expect("a home directory");
    let check = PathCheck {
        local: "~/fleetdeck-no-such-dir/".into(),
        direction: Direction::Fetch,
        recursive: false,
    };
    assert_eq!(
        files::check_local(&check),
        Ok(home.join("fleetdeck-no-such-dir/"))
    );
}

#[test]
fn dialog_end_to_end_in_tmux_sends_a_file_to_a_group() {
    let lab = common::lab(4);
    let tmp = lab.tmp().to_path_buf();
    let payload: Vec<u8> = (0..20_000_000u32).map(|i| (i % 253) as u8).collect();
    fs::write(tmp.join("payload.bin"), &payload).expect("payload");
    let tmux = Tmux::with_size("transfer", 150, 45);
    tmux.start(&console_command(&lab, &tmp));
    tmux.wait_for("the console", Duration::from_secs(15), |s| {
        s.contains("Hosts 0/4 selected")
    });
    let group = lab.hosts()[0].groups[0].clone();
    let members: Vec<usize> = (0..4)
        .filter(|&i| lab.hosts()[i].groups.first() == Some(&group))
        .collect();
    let n = members.len();

    // Select the first group, open the dialog, choose the file with Tab completion.
    tmux.keys(&["Space"]);
    tmux.wait_for("the selection", Duration::from_secs(5), |s| {
        s.contains(&format!("Hosts {n}/4 selected"))
    });
    tmux.keys(&["F5"]);
    tmux.wait_for("the dialog", Duration::from_secs(5), |s| {
        s.contains(&format!("Transfer: send to {n} hosts"))
    });
    tmux.text(&format!("{}/payl", tmp.display()));
    tmux.keys(&["Tab"]);
    tmux.wait_for("the completed path", Duration::from_secs(5), |s| {
        s.contains("payload.bin")
    });
    tmux.keys(&["Down"]);
    tmux.text("incoming/");
    tmux.keys(&["Down", "Down", "Down", "Space"]);
    tmux.keys(&["Enter"]);
    let s = tmux.wait_for("every bar done", Duration::from_secs(60), |s| {
        s.contains("Transfer done") && s.contains(&format!("{n}/{n} hosts"))
    });
    assert!(s.contains("100%"), "{s}");
    assert!(!s.contains("FAILED"), "{s}");
    for &i in &members {
        assert_eq!(
            fs::read(lab.home(i).join("incoming/payload.bin")).expect("sent"),
            payload
        );
    }
    for i in (0..4).filter(|i| !members.contains(i)) {
        assert!(
            !lab.home(i).join("incoming").exists(),
            "unselected host untouched"
        );
    }
    // Esc hides the dialog; the panes show the hosts ok and the log has the job.
    tmux.keys(&["Escape"]);
    let s = tmux.wait_for("the panes", Duration::from_secs(5), |s| {
        !s.contains("Transfer done")
    });
    assert!(
        s.contains("send ") && s.contains("transfer ok: sent 19.1 MiB"),
        "{s}"
    );
    tmux.keys(&["q"]);
}

#[test]
fn dialog_sync_and_resume_options_become_the_push_flags() {
    let dir = tempfile::tempdir().expect("tmp");
    fs::create_dir(dir.path().join("site")).expect("dir");
    fs::write(dir.path().join("site/index.html"), b"x").expect("file");
    let mut app = app(120, 40);
    cursor_to_group(&mut app, "web");
    key(&mut app, KeyCode::Char(' '));
    key(&mut app, KeyCode::F(5));
    chars(&mut app, &dir.path().join("site").display().to_string());
    key(&mut app, KeyCode::Down);
    chars(&mut app, "/var/www/");
    key(&mut app, KeyCode::Down);
    key(&mut app, KeyCode::Char(' ')); // recursive
    let s = screen(&app);
    assert!(s.contains("Sync") && s.contains("< off >"), "{s}");
    // Down to Sync (past keep perms, verify, overwrite, naming), two steps: --sync --delete.
    for _ in 0..5 {
        key(&mut app, KeyCode::Down);
    }
    key(&mut app, KeyCode::Right);
    key(&mut app, KeyCode::Right);
    assert!(
        screen(&app).contains("< --sync --delete >"),
        "{}",
        screen(&app)
    );
    key(&mut app, KeyCode::Down);
    key(&mut app, KeyCode::Char(' ')); // resume
    let spec = submitted(key_answered(&mut app, KeyCode::Enter)).expect("the push starts");
    let JobKind::Upload(upload) = &spec.kind else {
        panic!("an upload");
    };
    let sync = upload.sync.expect("sync asked");
    assert!(sync.delete && !sync.checksum, "{sync:?}");
    assert!(upload.resume && upload.recursive);
    assert_eq!(upload.overwrite, Overwrite::Always);
}
