//! Keys → commands, depending on what has focus. The help screen lists the same table.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::action::Cmd;
use super::app::{App, Focus};
use super::dialog::Dialog;

/// Every key, for the help screen: (keys, what they do).
pub const HELP: &[(&str, &[(&str, &str)])] = &[
    (
        "Everywhere",
        &[
            (
                "Tab / Shift-Tab",
                "cycle focus: tree → output → log → command line",
            ),
            (":", "focus the command line"),
            ("?", "this help"),
            ("q", "quit (asks first if a job is running)"),
            ("Ctrl-C", "cancel the running job"),
            ("t", "next theme"),
            (
                "v",
                "output: per-host panes ↔ gathered (identical outputs folded)",
            ),
            (
                "d",
                "output: diff view (largest group in full, the others as diffs) / panes",
            ),
            ("z", "zoom the chosen host / back"),
            ("F", "show only failed hosts' panes"),
            ("f", "select the hosts that failed in the last job"),
            ("s", "select hosts by pattern (web:db, prod:&web, all:!db)"),
            ("a", "select all hosts / none"),
            ("/", "filter the tree by name (in the output: search panes)"),
            ("F5", "file send / fetch dialog"),
            ("S", "sudo on/off for commands (prompt `sudo >`)"),
            ("i", "host details: settings, jump chain, origins"),
            (
                "J",
                "job history: past jobs, their output, re-run on failed/all",
            ),
            ("mouse", "click focuses and selects, wheel scrolls"),
        ],
    ),
    (
        "Tree",
        &[
            ("↑ ↓ / j k", "move"),
            ("Space", "select/unselect the host or the whole group"),
            ("→ / l / Enter", "expand group"),
            ("← / h", "collapse group / go to parent"),
            ("PgUp PgDn Home End", "move by page / to the ends"),
        ],
    ),
    (
        "Output",
        &[
            ("↑ ↓ / j k", "scroll the chosen pane"),
            ("PgUp PgDn", "scroll a page"),
            ("End / G", "follow new output again"),
            ("Home / g", "top of the kept tail"),
            ("← → / h l", "choose another pane"),
            ("Enter", "zoom the chosen pane"),
            (
                "/",
                "search every pane's kept output (Enter: find; Esc: clear)",
            ),
            ("n / N", "next / previous hit (shows its pane and line)"),
            ("m", "only the panes of hosts whose output matches / all"),
        ],
    ),
    (
        "Log",
        &[
            ("↑ ↓ PgUp PgDn", "scroll"),
            ("End", "follow"),
            ("l", "minimum level: info → warn → error → debug"),
            ("H", "only the chosen host / all hosts"),
        ],
    ),
    (
        "Command line",
        &[
            (
                "Enter",
                "run on the selected hosts (asks above the host limit or if dangerous)",
            ),
            ("↑ ↓", "history"),
            (
                "Ctrl-R",
                "search history (again: older match; Enter takes it)",
            ),
            ("Ctrl-U / Ctrl-W", "clear line / delete word"),
            ("Ctrl-S", "sudo on/off (like S elsewhere)"),
            (
                "--batch N -- CMD",
                "rolling run (--max-failures N, --pause S before the --)",
            ),
            (
                "--no-become -- CMD",
                "ignore the inventory's ansible_become* for this command",
            ),
            ("Esc", "back to the tree"),
        ],
    ),
    (
        "Dialogs",
        &[
            ("y / Enter", "confirm"),
            ("n / Esc", "cancel"),
            (
                "o / a / r",
                "host key: accept once / accept and save / reject",
            ),
        ],
    ),
    (
        "Broadcast shells",
        &[
            (
                "B",
                "open a shell on every selected host; keys go to every included host",
            ),
            (
                "Ctrl-]",
                "leave broadcast input: console keys again, the shells stay open",
            ),
            (
                "x",
                "exclude the chosen pane from broadcast input / include it",
            ),
            ("z / Enter", "zoom one host; B then types to it alone"),
            (
                "↑ ↓ PgUp PgDn",
                "scroll the chosen shell's scrollback (End: live)",
            ),
            ("q", "quit (asks first; yes hangs up every shell)"),
        ],
    ),
];

/// The key hint bar: the keys that work where the focus is now (a subset of [`HELP`]), most
/// useful first; the bar shows as many as fit.
pub fn hints(app: &App) -> Vec<(&'static str, &'static str)> {
    let mut h: Vec<(&str, &str)> = Vec::new();
    if let Some(d) = &app.dialog {
        h.extend(dialog_hints(d));
        return h;
    }
    if let Some(shell) = broadcast_hints(app) {
        return shell;
    }
    if app.job_running() {
        h.push(("Ctrl-C", "cancel job"));
    }
    if app.tree.editing_filter {
        h.extend([
            ("Enter", "keep filter"),
            ("Esc", "clear filter"),
            ("↑↓", "move"),
        ]);
        return h;
    }
    match app.focus {
        Focus::Cmdline => h.extend([
            ("Enter", "run"),
            ("Esc", "back to tree"),
            ("↑↓", "history"),
            ("Ctrl-R", "search history"),
            ("Ctrl-S", "sudo"),
            ("Tab", "focus"),
            ("F5", "transfer"),
        ]),
        Focus::Tree => h.extend(TREE_HINTS),
        Focus::Output if app.search.active() => h.extend([
            ("n/N", "next/previous hit"),
            ("m", "matching only"),
            ("/", "search"),
            ("Esc", "clear search"),
            ("z", "zoom"),
            ("Tab", "focus"),
            ("?", "help"),
        ]),
        Focus::Output if app.shell.is_some() => h.extend(SHELL_HINTS),
        Focus::Output => h.extend([
            ("←→", "pane"),
            ("?", "help"),
            ("/", "search"),
            ("↑↓ PgUp/PgDn", "scroll"),
            ("z", "zoom"),
            ("v", "view"),
            ("d", "diff"),
            ("F", "failed only"),
            ("f", "select failed"),
            (":", "command"),
            ("Tab", "focus"),
            ("q", "quit"),
        ]),
        Focus::Log => h.extend([
            ("↑↓ PgUp/PgDn", "scroll"),
            ("End", "follow"),
            ("?", "help"),
            ("l", "level"),
            ("H", "host"),
            (":", "command"),
            ("Tab", "focus"),
            ("q", "quit"),
        ]),
    }
    h
}

/// The tree's hints.
const TREE_HINTS: [(&str, &str); 12] = [
    ("Space", "select"),
    (":", "command"),
    ("?", "help"),
    ("→/←", "expand/collapse"),
    ("a", "all"),
    ("s", "pattern"),
    ("/", "filter"),
    ("i", "details"),
    ("B", "shells"),
    ("F5", "transfer"),
    ("Tab", "focus"),
    ("q", "quit"),
];

/// The output area's hints while broadcast shells are shown (console keys).
const SHELL_HINTS: [(&str, &str); 8] = [
    ("B", "broadcast input"),
    ("←→", "pane"),
    ("x", "exclude/include"),
    ("z", "zoom: type to one"),
    ("↑↓ PgUp/PgDn", "scrollback"),
    ("?", "help"),
    ("Tab", "focus"),
    ("q", "quit"),
];

/// In broadcast input every key goes to the hosts: the hint says where, and the way out.
fn broadcast_hints(app: &App) -> Option<Vec<(&'static str, &'static str)>> {
    let s = app
        .shell
        .as_ref()
        .filter(|s| s.input && app.dialog.is_none())?;
    let to = if app.zoom.is_some() {
        "keys go to the zoomed host alone"
    } else if s.included() == s.hosts.len() {
        "keys go to every host"
    } else {
        "keys go to the included hosts"
    };
    Some(vec![("Ctrl-]", "console keys"), ("broadcast", to)])
}

fn dialog_hints(d: &Dialog) -> &'static [(&'static str, &'static str)] {
    match d {
        Dialog::Help { .. } | Dialog::HostDetails { .. } => {
            &[("↑↓ PgUp/PgDn", "scroll"), ("Esc", "close")]
        }
        Dialog::Notice { .. } => &[("Enter/Esc", "close")],
        Dialog::Confirm { .. } => &[("y/Enter", "confirm"), ("n/Esc", "cancel")],
        Dialog::HostKey { .. } => &[
            ("o", "accept once"),
            ("a", "accept and save"),
            ("r/Esc", "reject"),
        ],
        Dialog::Secret {
            kind: crate::contract::SecretKind::Sudo { .. },
            ..
        } => &[
            ("Enter", "send"),
            ("Tab", "keep for this session"),
            ("Esc", "decline"),
        ],
        Dialog::Secret { .. } => &[("Enter", "send"), ("Esc", "decline"), ("Ctrl-U", "clear")],
        Dialog::Pattern { .. } => &[("Enter", "select"), ("Esc", "cancel"), ("Ctrl-U", "clear")],
        Dialog::History(h) => match h.level {
            crate::tui::history::Level::Jobs => &[
                ("↑↓", "job"),
                ("Enter", "hosts"),
                ("f", "re-run on failed"),
                ("r", "re-run on all"),
                ("Esc", "close"),
            ],
            crate::tui::history::Level::Hosts { .. } => &[
                ("↑↓", "host"),
                ("Enter", "output"),
                ("f/r", "re-run failed/all"),
                ("Esc", "back"),
            ],
            crate::tui::history::Level::Output { .. } => {
                &[("↑↓ PgUp/PgDn", "scroll"), ("Esc", "back")]
            }
        },
        Dialog::Transfer(_) => &[
            ("Tab", "complete/next field"),
            ("↑↓", "field"),
            ("Enter", "start"),
            ("Esc", "close"),
        ],
    }
}

/// Translates a key for the current state, or `None` when it means nothing here.
pub fn translate(app: &App, key: KeyEvent) -> Option<Cmd> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    if ctrl && key.code == KeyCode::Char('c') {
        return Some(Cmd::CancelJob);
    }
    if let Some(dialog) = &app.dialog {
        return dialog_key(key, ctrl, dialog.takes_text());
    }
    if app.tree.editing_filter {
        return text_key(key, ctrl).or(match key.code {
            KeyCode::Up => Some(Cmd::Up),
            KeyCode::Down => Some(Cmd::Down),
            _ => None,
        });
    }
    if app.search.editing {
        return text_key(key, ctrl);
    }
    if app.focus == Focus::Cmdline {
        return cmdline_key(key, ctrl);
    }
    if app.focus == Focus::Output {
        if let Some(cmd) = output_key(key, app.search.active(), app.shell.is_some()) {
            return Some(cmd);
        }
    }
    global_key(key).or_else(|| nav_key(key, app.focus))
}

/// Keys of an open dialog; characters are text when it has a text field, else answers.
fn dialog_key(key: KeyEvent, ctrl: bool, takes_text: bool) -> Option<Cmd> {
    Some(match key.code {
        KeyCode::Esc => Cmd::Escape,
        KeyCode::Enter => Cmd::Submit,
        KeyCode::Backspace => Cmd::Backspace,
        KeyCode::Up => Cmd::Up,
        KeyCode::Down => Cmd::Down,
        KeyCode::PageUp => Cmd::PageUp,
        KeyCode::PageDown => Cmd::PageDown,
        KeyCode::Char('u') if ctrl => Cmd::ClearLine,
        KeyCode::Tab => Cmd::FocusNext,
        KeyCode::BackTab => Cmd::FocusPrev,
        KeyCode::Left => Cmd::Left,
        KeyCode::Right => Cmd::Right,
        KeyCode::Char(c) if takes_text => Cmd::Insert(c),
        KeyCode::Char(c) => Cmd::Answer(c),
        _ => return None,
    })
}

/// Keys of the focused command line: history and a few globals, else text editing.
fn cmdline_key(key: KeyEvent, ctrl: bool) -> Option<Cmd> {
    match key.code {
        KeyCode::Tab => Some(Cmd::FocusNext),
        KeyCode::BackTab => Some(Cmd::FocusPrev),
        KeyCode::Up => Some(Cmd::HistoryPrev),
        KeyCode::Down => Some(Cmd::HistoryNext),
        KeyCode::Char('r') if ctrl => Some(Cmd::HistorySearch),
        KeyCode::Char('s') if ctrl => Some(Cmd::ToggleSudo),
        KeyCode::F(5) => Some(Cmd::Transfer),
        KeyCode::PageUp => Some(Cmd::PageUp),
        KeyCode::PageDown => Some(Cmd::PageDown),
        _ => text_key(key, ctrl),
    }
}

/// Keys that mean the same whatever has focus (outside the command line and dialogs).
fn global_key(key: KeyEvent) -> Option<Cmd> {
    match key.code {
        KeyCode::Tab => Some(Cmd::FocusNext),
        KeyCode::BackTab => Some(Cmd::FocusPrev),
        KeyCode::Char(':') => Some(Cmd::FocusCmdline),
        KeyCode::Char('?') => Some(Cmd::Help),
        KeyCode::Char('q') => Some(Cmd::Quit),
        KeyCode::Char('t') => Some(Cmd::CycleTheme),
        KeyCode::Char('v') => Some(Cmd::CycleView),
        KeyCode::Char('d') => Some(Cmd::DiffView),
        KeyCode::Char('z') => Some(Cmd::Zoom),
        KeyCode::Char('F') => Some(Cmd::FailedOnly),
        KeyCode::Char('f') => Some(Cmd::SelectFailed),
        KeyCode::Char('s') => Some(Cmd::SelectPattern),
        KeyCode::Char('a') => Some(Cmd::SelectAll),
        KeyCode::Char('/') => Some(Cmd::StartFilter),
        KeyCode::F(5) => Some(Cmd::Transfer),
        KeyCode::Char('S') => Some(Cmd::ToggleSudo),
        KeyCode::Char('i') => Some(Cmd::HostDetails),
        KeyCode::Char('J') => Some(Cmd::JobHistory),
        KeyCode::Char('B') => Some(Cmd::Broadcast),
        KeyCode::Esc => Some(Cmd::Escape),
        _ => None,
    }
}

/// Keys of the focused output area that differ from elsewhere: `/` searches the panes.
fn output_key(key: KeyEvent, searching: bool, shells: bool) -> Option<Cmd> {
    match key.code {
        KeyCode::Char('x') if shells => Some(Cmd::ToggleInclude),
        KeyCode::Char('/') => Some(Cmd::StartSearch),
        KeyCode::Char('n') if searching => Some(Cmd::SearchNext),
        KeyCode::Char('N') if searching => Some(Cmd::SearchPrev),
        KeyCode::Char('m') if searching => Some(Cmd::MatchingOnly),
        _ => None,
    }
}

/// Moving and acting in the focused tree, output or log.
fn nav_key(key: KeyEvent, focus: Focus) -> Option<Cmd> {
    Some(match key.code {
        KeyCode::Up | KeyCode::Char('k') => Cmd::Up,
        KeyCode::Down | KeyCode::Char('j') => Cmd::Down,
        KeyCode::Left | KeyCode::Char('h') => Cmd::Left,
        KeyCode::Right | KeyCode::Char('l') if focus != Focus::Log => Cmd::Right,
        KeyCode::PageUp => Cmd::PageUp,
        KeyCode::PageDown => Cmd::PageDown,
        KeyCode::Home | KeyCode::Char('g') => Cmd::Top,
        KeyCode::End | KeyCode::Char('G') => Cmd::Bottom,
        KeyCode::Char(' ') if focus == Focus::Tree => Cmd::Toggle,
        KeyCode::Enter => Cmd::Activate,
        KeyCode::Char('l') if focus == Focus::Log => Cmd::LogLevel,
        KeyCode::Char('H') if focus == Focus::Log => Cmd::LogHost,
        _ => return None,
    })
}

/// Keys of a one-line text field.
fn text_key(key: KeyEvent, ctrl: bool) -> Option<Cmd> {
    Some(match key.code {
        KeyCode::Enter => Cmd::Submit,
        KeyCode::Esc => Cmd::Escape,
        KeyCode::Backspace => Cmd::Backspace,
        KeyCode::Delete => Cmd::Delete,
        KeyCode::Left => Cmd::Left,
        KeyCode::Right => Cmd::Right,
        KeyCode::Home => Cmd::Home,
        KeyCode::End => Cmd::End,
        KeyCode::Char('a') if ctrl => Cmd::Home,
        KeyCode::Char('e') if ctrl => Cmd::End,
        KeyCode::Char('u') if ctrl => Cmd::ClearLine,
        KeyCode::Char('w') if ctrl => Cmd::DeleteWord,
        KeyCode::Char(_) if ctrl => return None,
        KeyCode::Char(c) => Cmd::Insert(c),
        _ => return None,
    })
}
