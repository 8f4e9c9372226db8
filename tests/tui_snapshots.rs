//! Whole-screen snapshots of the console (ratatui `TestBackend` + insta). The clock is fixed
//! (10:02:11 local) and run folders are fixed paths, so nothing needs filtering.
//! Review changes with `cargo insta review` (or `INSTA_UPDATE=always` and `git diff`).

#![allow(clippy::format_collect, clippy::format_push_string)]

mod tui_support;

use std::time::{Duration, Instant};

use crossterm::event::KeyCode;
use fleetdeck::engine::{ErrorClass, Event, HostKeyQuestion, SecretKind, Stream};
use fleetdeck::tui::action::Action;
use fleetdeck::tui::app::App;
use fleetdeck::tui::theme::{Theme, BUILTIN};
use fleetdeck::tui::update::update;
use ratatui::style::Color;
use tui_support::*;

/// A finished job on web (12 hosts) and db (3): most print the same, db2 differs and writes to
/// stderr, web05 exits 1, web09 is unreachable.
fn scenario(app: &mut App) {
    let spec = run(app, "prod", "uptime");
    let hosts: Vec<String> = spec
        .targets
        .iter()
        .map(|t| t.name.to_string())
        .filter(|h| h != "web09")
        .collect();
    finish_job(
        app,
        1,
        &hosts,
        |h| match h {
            "db2" => (
                b" 10:02:11 up 3 days,  load average: 4.20, 3.90, 3.10\n".to_vec(),
                b"warning: load is high\n".to_vec(),
            ),
            "web05" => (Vec::new(), b"uptime: cannot open /proc/uptime\n".to_vec()),
            _ => (
                b" 10:02:11 up 41 days,  load average: 0.08, 0.03, 0.01\n".to_vec(),
                Vec::new(),
            ),
        },
        |h| i32::from(h == "web05"),
    );
    ev(
        app,
        Event::Failed {
            job: 1,
            host: name("web09"),
            class: ErrorClass::Refused,
            message: "connection refused (127.0.0.1:2209)".into(),
            duration: Duration::from_millis(3),
        },
    );
    key(app, KeyCode::Esc);
}

fn snap(app: &App) -> String {
    screen(app)
}

#[test]
fn idle_console_200x60() {
    let app = app(200, 60);
    insta::assert_snapshot!(snap(&app));
}

#[test]
fn tree_and_panes_200x60() {
    let mut app = app(200, 60);
    scenario(&mut app);
    insta::assert_snapshot!(snap(&app));
}

#[test]
fn tree_and_panes_80x24() {
    let mut app = app(80, 24);
    scenario(&mut app);
    let s = snap(&app);
    assert!(s.contains("more hosts not shown"), "{s}");
    insta::assert_snapshot!(s);
}

#[test]
fn running_job_80x24() {
    let mut app = app(80, 24);
    run(&mut app, "db", "sleep 100");
    ev(
        &mut app,
        Event::JobStarted {
            job: 1,
            hosts: 3,
            run_dir: Some("/state/runs/r1".into()),
        },
    );
    ev(
        &mut app,
        Event::Connecting {
            job: 1,
            host: name("db1"),
        },
    );
    ev(
        &mut app,
        Event::Running {
            job: 1,
            host: name("db2"),
        },
    );
    insta::assert_snapshot!(snap(&app));
}

#[test]
fn gathered_120x40() {
    let mut app = app(120, 40);
    scenario(&mut app);
    key(&mut app, KeyCode::Char('v'));
    let s = snap(&app);
    let largest = s.find("12/15 hosts").expect("largest group shown");
    let outlier = s.find("outlier").expect("outliers shown");
    assert!(largest < outlier, "largest first:\n{s}");
    insta::assert_snapshot!(s);
}

#[test]
fn gathered_80x24() {
    let mut app = app(80, 24);
    scenario(&mut app);
    key(&mut app, KeyCode::Char('v'));
    insta::assert_snapshot!(snap(&app));
}

#[test]
fn zoom_one_host_with_dropped_lines_120x40() {
    let mut app = app(120, 40);
    app.settings.tail_lines = 50;
    run(&mut app, "db", "seq 200");
    ev(
        &mut app,
        Event::JobStarted {
            job: 1,
            hosts: 3,
            run_dir: Some("/state/runs/r1".into()),
        },
    );
    let text: String = (1..=200).map(|i| format!("line {i}\n")).collect();
    ev(
        &mut app,
        Event::Output {
            job: 1,
            host: name("db1"),
            stream: Stream::Stdout,
            data: text.into_bytes(),
        },
    );
    key(&mut app, KeyCode::Esc);
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Char('z'));
    key(&mut app, KeyCode::PageUp);
    let s = snap(&app);
    assert!(s.contains("150 earlier lines in /state/runs/r1"), "{s}");
    insta::assert_snapshot!(s);
}

#[test]
fn log_focused_200x60() {
    let mut app = app(200, 60);
    scenario(&mut app);
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Char('l'));
    insta::assert_snapshot!(snap(&app));
}

#[test]
fn help_80x24() {
    let mut app = app(80, 24);
    key(&mut app, KeyCode::Char('?'));
    insta::assert_snapshot!(snap(&app));
}

#[test]
fn help_200x60_lists_every_key() {
    let mut app = app(200, 60);
    key(&mut app, KeyCode::Char('?'));
    let s = snap(&app);
    for k in [
        "Space",
        "Ctrl-C",
        "Ctrl-R",
        "Tab",
        "F5",
        "PgUp",
        "?",
        ":",
        "Ctrl-S",
        "sudo",
        "host details",
    ] {
        assert!(s.contains(k), "help lacks {k}:\n{s}");
    }
    insta::assert_snapshot!(s);
}

#[test]
fn confirm_dangerous_dialog_120x40() {
    let mut app = app(120, 40);
    cursor_to_group(&mut app, "web");
    key(&mut app, KeyCode::Char(' '));
    key(&mut app, KeyCode::Char(':'));
    chars(&mut app, "sudo rm -rf /var/cache/app");
    key(&mut app, KeyCode::Enter);
    insta::assert_snapshot!(snap(&app));
}

#[test]
fn host_key_dialog_120x40() {
    let mut app = app(120, 40);
    update(
        &mut app,
        Action::AskHostKey(
            1,
            HostKeyQuestion {
                host: name("web01"),
                address: "127.0.0.1".into(),
                port: 2201,
                key_type: "ED25519".into(),
                fingerprint: "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU".into(),
            },
        ),
    );
    insta::assert_snapshot!(snap(&app));
}

#[test]
fn password_dialog_80x24() {
    let mut app = app(80, 24);
    update(
        &mut app,
        Action::AskSecret(
            1,
            SecretKind::Passphrase {
                key_file: "/home/ops/.ssh/id_ed25519".into(),
            },
            "Passphrase for /home/ops/.ssh/id_ed25519:".into(),
        ),
    );
    chars(&mut app, "hunter2");
    insta::assert_snapshot!(snap(&app));
}

#[test]
fn pattern_dialog_with_error_80x24() {
    let mut app = app(80, 24);
    key(&mut app, KeyCode::Char('s'));
    chars(&mut app, "wbe");
    key(&mut app, KeyCode::Enter);
    insta::assert_snapshot!(snap(&app));
}

#[test]
fn filter_80x24() {
    let mut app = app(80, 24);
    key(&mut app, KeyCode::Char('/'));
    chars(&mut app, "stg");
    insta::assert_snapshot!(snap(&app));
}

/// Colors are part of a theme's snapshot: each cell's foreground, compressed per row.
fn styled(app: &App) -> String {
    let t = render(app);
    let buf = t.backend().buffer();
    let mut out = String::new();
    for y in 0..buf.area.height {
        let mut text = String::new();
        let mut runs: Vec<(Color, Color, usize)> = Vec::new();
        for x in 0..buf.area.width {
            let c = &buf[(x, y)];
            text.push_str(c.symbol());
            match runs.last_mut() {
                Some((fg, bg, n)) if *fg == c.fg && *bg == c.bg => *n += 1,
                _ => runs.push((c.fg, c.bg, 1)),
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
        let runs: Vec<String> = runs
            .iter()
            .map(|(fg, bg, n)| format!("{n}×{fg}/{bg}"))
            .collect();
        out.push_str(&format!("    {}\n", runs.join(" ")));
    }
    out
}

#[test]
fn every_shipped_theme_80x24() {
    for (name, _) in BUILTIN {
        let theme = Theme::load(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut app = app_with(theme, 80, 24);
        scenario(&mut app);
        insta::assert_snapshot!(format!("theme_{name}"), styled(&app));
    }
}

#[test]
fn no_color_draws_without_any_color() {
    let mut app = app_with(Theme::default_theme().monochrome(), 120, 40);
    scenario(&mut app);
    // Remote programs' colors are dropped too.
    ev(
        &mut app,
        Event::Output {
            job: 1,
            host: name("web01"),
            stream: Stream::Stdout,
            data: b"\x1b[31mred\x1b[0m\n".to_vec(),
        },
    );
    let t = render(&app);
    for c in t.backend().buffer().content() {
        assert_eq!(
            (c.fg, c.bg),
            (Color::Reset, Color::Reset),
            "colored cell {c:?}"
        );
    }
}

/// A host printing escape sequences, invalid UTF-8, tabs, wide and combining characters.
pub const HOSTILE: &[u8] =
    b"\x1b]0;pwned title\x07\x1b[2J\x1b[H\x1b[10;10Hmoved\x1bP1$qm\x1b\\dcs-gone\n\
\xff\xfe bad utf8 \xc3\x28 end\n\
col1\tcol2\tcol3\n\
\xe6\xbc\xa2\xe5\xad\x97 wide | e\xcc\x81 combining |\n\
\x1b[1;32mgreen bold\x1b[0m plain \x1b[38;5;208morange\x1b[0m\n\
\x1b[?1049h\x1b[?25l\x1b]52;c;ZXZpbA==\x07clipboard-attempt\n";

#[test]
fn hostile_output_cannot_break_the_screen() {
    let mut app = app(120, 40);
    run(&mut app, "db", "cat hostile");
    ev(
        &mut app,
        Event::Output {
            job: 1,
            host: name("db1"),
            stream: Stream::Stdout,
            data: HOSTILE.to_vec(),
        },
    );
    // 10 MB without a newline, in chunks as the engine would deliver it.
    let started = Instant::now();
    let chunk = vec![b'x'; 64 * 1024];
    for _ in 0..160 {
        ev(
            &mut app,
            Event::Output {
                job: 1,
                host: name("db2"),
                stream: Stream::Stdout,
                data: chunk.clone(),
            },
        );
    }
    let fed = started.elapsed();
    let started = Instant::now();
    let t = render(&app);
    let drawn = started.elapsed();
    assert!(drawn < Duration::from_millis(500), "drawing took {drawn:?}");
    assert!(fed < Duration::from_secs(20), "feeding 10 MB took {fed:?}");
    let buf = t.backend().buffer();
    for c in buf.content() {
        assert!(
            !c.symbol().chars().any(char::is_control),
            "control char on screen: {c:?}"
        );
    }
    let s = screen(&app);
    assert!(!s.contains("pwned"), "OSC text leaked:\n{s}");
    assert!(!s.contains("ZXZpbA"), "OSC 52 payload leaked:\n{s}");
    assert!(
        s.contains("moved") && s.contains("dcs-gone") && s.contains("clipboard-attempt"),
        "{s}"
    );
    assert!(
        s.contains("col1    col2    col3"),
        "tabs expand to 8 columns:\n{s}"
    );
    assert!(
        s.contains('\u{FFFD}'),
        "invalid UTF-8 shows as U+FFFD:\n{s}"
    );
    // Every line of the output area keeps its right border in the same column.
    let areas = fleetdeck::tui::layout::areas(app.area);
    let right = areas.output.x + areas.output.width - 1;
    for y in areas.output.y + 1..areas.output.y + areas.output.height - 1 {
        assert_eq!(
            buf[(right, y)].symbol(),
            "│",
            "row {y} lost its border:\n{s}"
        );
    }
    // The green span keeps a color (mapped through the theme), the rest is plain.
    let green = app.theme.ansi.get(2);
    assert!(
        buf.content()
            .iter()
            .any(|c| c.fg == green && c.symbol() == "g"),
        "SGR color dropped"
    );
    insta::assert_snapshot!(s);
}

#[test]
fn sudo_prompt_with_a_command_80x24() {
    let mut app = app(80, 24);
    cursor_to_group(&mut app, "db");
    key(&mut app, KeyCode::Char(' '));
    chars(&mut app, "S");
    key(&mut app, KeyCode::Char(':'));
    chars(&mut app, "systemctl status nginx");
    insta::assert_snapshot!(snap(&app));
}

#[test]
fn sudo_password_dialog_80x24() {
    let mut app = app(80, 24);
    chars(&mut app, "S");
    update(
        &mut app,
        Action::AskSecret(
            1,
            SecretKind::Sudo {
                user: "fdlab".into(),
            },
            "[sudo] password for fdlab (to run as root; asked first by web01)".into(),
        ),
    );
    chars(&mut app, "hunter2");
    insta::assert_snapshot!(snap(&app));
}

#[test]
fn host_details_120x40() {
    std::fs::create_dir_all("/tmp/fleetdeck-tui-fixture").expect("fixture dir");
    std::fs::write("/tmp/fleetdeck-tui-fixture/ops_ed25519", "not a key\n").expect("fixture key");
    let inv = fleetdeck::inventory::Inventory::load_str_with(
        std::path::Path::new("/fixtures/reach.yaml"),
        r"
defaults: { user: ops, address: 127.0.0.1, identity: /tmp/fleetdeck-tui-fixture/ops_ed25519 }
groups:
  prod:
    jump: bastion2
    connect_timeout: 7
    vars: { tier: prod }
    hosts:
      web01: { address: 10.0.0.11, port: 2201, vars: { role: edge } }
  bastions:
    hosts:
      bastion: { address: 127.0.0.5, port: 2222, user: jump }
      bastion2: { address: 10.0.0.2, jump: bastion }
",
        &fleetdeck::inventory::LoadOptions::default(),
    )
    .expect("inventory");
    let mut app = App::new(
        inv,
        fleetdeck::tui::app::Settings::default(),
        Theme::default_theme(),
    );
    app.clock = clock();
    update(&mut app, Action::Resize(120, 40));
    let id = app.inventory.host_by_name("web01").expect("web01");
    let row = app
        .tree
        .rows()
        .iter()
        .position(|r| matches!(r, fleetdeck::tui::tree::Row::Host { id: h, .. } if *h == id))
        .expect("row");
    app.tree.move_to(row);
    key(&mut app, KeyCode::Char('i'));
    insta::assert_snapshot!(snap(&app));
}

/// The hint bar follows the focus: on the command line `q` types a q, so the bar offers the
/// command line's keys, not `[q] quit`.
#[test]
fn the_hint_bar_follows_the_focus() {
    let mut app = app(200, 40);
    let bar = |app: &App| screen(app).lines().last().unwrap_or_default().to_string();
    let tree = bar(&app);
    assert!(
        tree.contains("[Space] select") && tree.contains("[q] quit"),
        "{tree}"
    );
    key(&mut app, KeyCode::Char(':'));
    let cmdline = bar(&app);
    assert!(
        cmdline.contains("[Enter] run") && cmdline.contains("[Ctrl-R] search history"),
        "{cmdline}"
    );
    assert!(!cmdline.contains("[q]"), "{cmdline}");
    key(&mut app, KeyCode::Tab);
    let tree_again = bar(&app);
    assert_eq!(tree_again, tree);
    key(&mut app, KeyCode::Tab);
    let output = bar(&app);
    assert!(
        output.contains("[z] zoom") && output.contains("[v] view"),
        "{output}"
    );
    key(&mut app, KeyCode::Tab);
    let log = bar(&app);
    assert!(
        log.contains("[l] level") && log.contains("[H] host"),
        "{log}"
    );
    key(&mut app, KeyCode::Char('?'));
    let help = bar(&app);
    assert!(
        help.contains("[Esc] close") && !help.contains("[q] quit"),
        "{help}"
    );
}

/// `/` in the output area searches every pane's kept output: hits are counted, `n`/`N` move
/// between them (choosing their pane), `m` narrows the panes to matching hosts, Esc clears.
#[test]
fn search_through_the_panes() {
    let mut app = app(120, 40);
    scenario(&mut app);
    app.focus = fleetdeck::tui::app::Focus::Output;
    key(&mut app, KeyCode::Char('/'));
    assert!(app.search.editing);
    chars(&mut app, "warning");
    let s = screen(&app);
    assert!(
        s.contains("/warning▏"),
        "the field is shown while typing:\n{s}"
    );
    key(&mut app, KeyCode::Enter);
    assert!(!app.search.editing);
    assert_eq!(app.search.hits.len(), 1, "{:?}", app.search.hits);
    let db2 = host(&app, "db2");
    assert_eq!(
        app.current_host(),
        Some(db2),
        "Enter shows the first hit's pane"
    );
    let s = screen(&app);
    assert!(s.contains("/warning · 1 of 1 · 1 hosts"), "{s}");
    // The match is drawn highlighted (reversed or the cursor style) in db2's pane.
    let t = render(&app);
    let buf = t.backend().buffer();
    let marked = buf.content().iter().filter(|c| {
        c.modifier.contains(ratatui::style::Modifier::BOLD)
            && c.bg == app.theme.cursor().bg.unwrap_or(Color::Reset)
    });
    assert!(marked.count() >= "warning".len(), "the hit is highlighted");
    // Smart case: "LOAD" matches nothing, "load" every host but the unreachable one and web05.
    key(&mut app, KeyCode::Char('/'));
    chars(&mut app, "load");
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.search.hosts.len(), 13, "{:?}", app.search.hosts);
    let first = app.current_host();
    key(&mut app, KeyCode::Char('n'));
    assert_ne!(app.current_host(), first, "n goes to the next hit's pane");
    key(&mut app, KeyCode::Char('N'));
    assert_eq!(app.current_host(), first, "N goes back");
    key(&mut app, KeyCode::Char('m'));
    assert_eq!(app.pane_hosts().len(), 13, "m: only matching hosts");
    assert!(!app.pane_hosts().contains(&host(&app, "web05")));
    key(&mut app, KeyCode::Char('m'));
    assert_eq!(app.pane_hosts().len(), 15);
    key(&mut app, KeyCode::Char('/'));
    chars(&mut app, "LOAD");
    key(&mut app, KeyCode::Enter);
    assert!(app.search.hits.is_empty());
    assert!(screen(&app).contains("no match"), "{}", screen(&app));
    key(&mut app, KeyCode::Esc);
    assert!(!app.search.active());
    key(&mut app, KeyCode::Char('/'));
    chars(&mut app, "load");
    key(&mut app, KeyCode::Enter);
    key(&mut app, KeyCode::Esc);
    assert!(!app.search.active(), "Esc clears the search");
}

/// `J`: past jobs from the operation log, newest first; a job's hosts with their results; a
/// host's output read back from the run folder; `f` puts the command on the command line with
/// the job's failed hosts selected.
#[test]
fn job_history_lists_jobs_opens_output_and_reruns_on_failed_hosts() {
    let dir = tempfile::tempdir().expect("tmp");
    let run_dir = dir.path().join("runs/20261201T100000-1-1");
    std::fs::create_dir_all(&run_dir).expect("run dir");
    std::fs::write(run_dir.join("web02.out"), "disk 97% full\n").expect("out");
    std::fs::write(
        run_dir.join("web02.err"),
        "df: \x1b]52;c;eA==\x07/mnt: stale\n",
    )
    .expect("err");
    let oplog = dir.path().join("oplog.jsonl");
    let t0 = "2026-12-01T10:00:00+00:00";
    let lines = [
        format!(
            r#"{{"type":"job-start","time":"{t0}","operator":"ops","job":1,"run":"r1","kind":"exec","command":"df -h /","pattern":"web","hosts":["web01","web02","db1"],"run_dir":{run_dir:?}}}"#
        ),
        format!(
            r#"{{"type":"host-result","time":"{t0}","job":1,"run":"r1","host":"web01","exit_code":0,"duration_ms":5}}"#
        ),
        format!(
            r#"{{"type":"host-result","time":"{t0}","job":1,"run":"r1","host":"web02","exit_code":3,"duration_ms":5}}"#
        ),
        format!(
            r#"{{"type":"job-start","time":"{t0}","operator":"ops","job":2,"run":"r2","kind":"upload","pattern":"db","hosts":["db1"],"transfer":{{"direction":"upload","local":["/tmp/app.tar"],"remote":"/srv"}}}}"#
        ),
        format!(
            r#"{{"type":"host-result","time":"{t0}","job":2,"run":"r2","host":"db1","error":{{"class":"refused","message":"connection refused"}},"duration_ms":1}}"#
        ),
    ];
    std::fs::write(&oplog, lines.join("\n") + "\n").expect("oplog");
    let mut app = app(120, 40);
    app.oplog_path = Some(oplog);
    let effects = key(&mut app, KeyCode::Char('J'));
    answer(&mut app, effects);
    let s = screen(&app);
    assert!(s.contains("Job history · 2 jobs, newest first"), "{s}");
    let push = s
        .find("push /tmp/app.tar → /srv")
        .expect("the transfer job");
    let df = s.find("df -h /").expect("the command job");
    assert!(push < df, "newest first:\n{s}");
    assert!(s.contains("0/1 ok") && s.contains("1/3 ok"), "{s}");
    // f on a transfer job: only commands are re-run.
    key(&mut app, KeyCode::Char('f'));
    assert!(app.dialog.is_some());
    key(&mut app, KeyCode::Down);
    key(&mut app, KeyCode::Enter);
    let s = screen(&app);
    assert!(
        s.contains("exit 3") && s.contains("no result") && s.contains("by ops"),
        "{s}"
    );
    key(&mut app, KeyCode::Down);
    let effects = key(&mut app, KeyCode::Enter);
    assert!(
        matches!(effects.as_slice(), [fleetdeck::tui::action::Effect::LoadOutput { host, .. }] if host == "web02"),
        "{effects:?}"
    );
    answer(&mut app, effects);
    let s = screen(&app);
    assert!(
        s.contains("web02 · df -h /") && s.contains("disk 97% full"),
        "{s}"
    );
    assert!(
        s.contains("/mnt: stale") && !s.contains("]52;"),
        "stderr, sanitized:\n{s}"
    );
    key(&mut app, KeyCode::Esc);
    key(&mut app, KeyCode::Char('f'));
    assert!(app.dialog.is_none(), "f closes the dialog");
    assert_eq!(app.focus, fleetdeck::tui::app::Focus::Cmdline);
    assert_eq!(app.cmdline.input, "df -h /");
    let mut selected = app.tree.selected_hosts();
    selected.sort_unstable();
    let mut want = vec![host(&app, "web02"), host(&app, "db1")];
    want.sort_unstable();
    assert_eq!(
        selected, want,
        "the failed hosts (and the one with no result)"
    );
}

/// `d`: the largest group in full, every other group as a diff against it.
#[test]
fn diff_view_shows_outliers_as_diffs_120x40() {
    let mut app = app(120, 40);
    scenario(&mut app);
    key(&mut app, KeyCode::Char('d'));
    let s = snap(&app);
    assert!(s.contains(" diff "), "{s}");
    assert!(s.contains("largest group"), "{s}");
    assert!(
        s.contains("- 10:02:11 up 41 days"),
        "db2's diff removes the common line:\n{s}"
    );
    assert!(s.contains("+ 10:02:11 up 3 days"), "and adds its own:\n{s}");
    assert!(
        s.contains("@@ -1 +1,2 @@") && s.contains("+warning: load is high"),
        "{s}"
    );
    key(&mut app, KeyCode::Char('d'));
    assert!(snap(&app).contains(" panes "));
    key(&mut app, KeyCode::Char('d'));
    insta::assert_snapshot!(snap(&app));
}

/// Options before the command run it rolling, as `fleetdeck run --batch` does; the output
/// title shows the batch.
#[test]
fn the_command_line_takes_rolling_options_and_shows_the_batch() {
    let mut app = app(120, 40);
    cursor_to_group(&mut app, "web");
    key(&mut app, KeyCode::Char(' '));
    key(&mut app, KeyCode::Char(':'));
    chars(&mut app, "--batch 25% --max-failures 1 -- uptime");
    let effects = key(&mut app, KeyCode::Enter);
    let spec = effects
        .into_iter()
        .find_map(|e| match e {
            fleetdeck::tui::action::Effect::Submit(s) => Some(s),
            _ => None,
        })
        .expect("submitted");
    let fleetdeck::engine::JobKind::Exec(e) = &spec.kind else {
        panic!("exec")
    };
    assert_eq!(e.command, "uptime");
    let r = e.rolling.expect("rolling");
    assert_eq!(r.batch, fleetdeck::contract::Amount::Percent(25));
    assert_eq!(r.max_failures, Some(fleetdeck::contract::Amount::Count(1)));
    update(&mut app, Action::JobSubmitted(1));
    let s = screen(&app);
    assert!(
        s.contains("Output: uptime") && s.contains("batch 1/4"),
        "{s}"
    );
    let mut app = app_fresh_with_selection();
    key(&mut app, KeyCode::Char(':'));
    chars(&mut app, "--batch 2 uptime");
    key(&mut app, KeyCode::Enter);
    assert!(
        screen(&app).contains("end the options with ` -- `"),
        "{}",
        screen(&app)
    );
}

fn app_fresh_with_selection() -> App {
    let mut app = app(120, 40);
    cursor_to_group(&mut app, "db");
    key(&mut app, KeyCode::Char(' '));
    app
}
