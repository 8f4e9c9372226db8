//! Commands while a dialog is open; opening the host details; engine questions; quitting.

use super::super::action::{Action, Cmd, Effect};
use super::super::app::{App, Focus};
use super::super::dialog::{Dialog, OnYes, RouteHop};
use super::super::tree::Row;
use super::command::start_job;
use crate::engine::{HostKeyAnswer, LogLevel, Secret, SecretKind};
use crate::inventory::HostId;

/// The engine asks something: a dialog (queued behind an open one).
pub(super) fn on_question(app: &mut App, action: Action) {
    match action {
        Action::AskHostKey(prompt, question) => {
            app.open_dialog(Dialog::HostKey { prompt, question });
        }
        Action::AskSecret(prompt, kind, text) => app.open_dialog(Dialog::Secret {
            prompt,
            kind,
            text,
            input: String::new(),
            keep: false,
        }),
        _ => {}
    }
}

/// `i`: opens the details of the host under the tree cursor (or the chosen pane's host when
/// the output has focus).
pub(super) fn host_details(app: &mut App) {
    let from_tree = match app.tree.rows().get(app.tree.cursor) {
        Some(Row::Host { id, .. }) => Some(*id),
        _ => None,
    };
    let host = match app.focus {
        Focus::Output => app.current_host().or(from_tree),
        _ => from_tree,
    };
    match host {
        Some(host) => {
            let route = route_of(app, host);
            app.open_dialog(Dialog::HostDetails {
                host,
                scroll: 0,
                route,
            });
        }
        None => app.set_status(
            LogLevel::Info,
            "host details: put the tree cursor on a host (not a group) and press i",
        ),
    }
}

/// The route as the engine will take it, first hop first; resolved once when the dialog
/// opens so that drawing never resolves (it runs every frame).
fn route_of(app: &App, host: HostId) -> Result<Vec<RouteHop>, String> {
    let targets = crate::engine::resolve_targets(&app.inventory, &[host])?;
    Ok(targets.first().map_or_else(Vec::new, |t| {
        let target = t.hop();
        t.jump
            .iter()
            .chain(std::iter::once(&target))
            .map(|hop| RouteHop {
                user: hop.conn.user.clone(),
                name: hop.name.to_string(),
                address: hop.conn.address.clone(),
                port: hop.conn.port,
            })
            .collect()
    }))
}

pub(super) fn quit(app: &mut App) -> Vec<Effect> {
    if app.job_running() {
        app.open_dialog(Dialog::Confirm {
            title: "Quit?".into(),
            lines: if super::shell::shells_open(app) {
                vec![
                    "Broadcast shells are open.".into(),
                    "Quitting hangs up every shell.".into(),
                ]
            } else {
                vec![
                    "A job is still running.".into(),
                    "Quitting cancels it on every host.".into(),
                ]
            },
            danger: true,
            on_yes: OnYes::Quit,
        });
        return Vec::new();
    }
    app.should_quit = true;
    let mut effects = answer_all_prompts(app);
    effects.push(Effect::Quit);
    effects
}

/// Leaves at once: every question rejected, the running job cancelled.
pub(super) fn quit_now(app: &mut App) -> Vec<Effect> {
    let mut effects = answer_all_prompts(app);
    if let Some(id) = app.job.as_ref().filter(|j| !j.done).and_then(|j| j.id) {
        effects.push(Effect::Cancel(id));
    }
    app.should_quit = true;
    effects.push(Effect::Quit);
    effects
}

/// Rejects every open engine question (so no worker waits forever).
fn answer_all_prompts(app: &mut App) -> Vec<Effect> {
    let mut effects = Vec::new();
    let dialogs: Vec<Dialog> = app
        .dialog
        .take()
        .into_iter()
        .chain(app.queued_dialogs.drain(..))
        .collect();
    for d in dialogs {
        match d {
            Dialog::HostKey { prompt, .. } => {
                effects.push(Effect::AnswerHostKey(prompt, HostKeyAnswer::Reject));
            }
            Dialog::Secret { prompt, .. } => effects.push(Effect::AnswerSecret(prompt, None)),
            _ => {}
        }
    }
    effects
}

pub(super) fn dialog_cmd(app: &mut App, cmd: Cmd) -> Vec<Effect> {
    let Some(dialog) = &mut app.dialog else {
        return Vec::new();
    };
    match dialog {
        Dialog::Transfer(_) => return super::super::transfer::handle(app, cmd),
        Dialog::History(_) => return super::history::history_cmd(app, cmd),
        Dialog::Help { scroll } => {
            if !scroll_cmd(scroll, cmd)
                && matches!(cmd, Cmd::Escape | Cmd::Submit | Cmd::Answer('q' | '?'))
            {
                app.close_dialog();
            }
        }
        Dialog::HostDetails { scroll, .. } => {
            if !scroll_cmd(scroll, cmd)
                && matches!(cmd, Cmd::Escape | Cmd::Submit | Cmd::Answer('q' | 'i'))
            {
                app.close_dialog();
            }
        }
        Dialog::Notice { .. } => {
            if matches!(cmd, Cmd::Escape | Cmd::Submit | Cmd::Answer(_)) {
                app.close_dialog();
            }
        }
        Dialog::Confirm { .. } => return confirm_cmd(app, cmd),
        Dialog::HostKey { .. } => return host_key_cmd(app, cmd),
        Dialog::Secret { .. } => return secret_cmd(app, cmd),
        Dialog::Pattern { .. } => pattern_cmd(app, cmd),
    }
    Vec::new()
}

/// Scrolls a dialog's text; false when `cmd` is not a scroll.
fn scroll_cmd(scroll: &mut usize, cmd: Cmd) -> bool {
    match cmd {
        Cmd::Up => *scroll = scroll.saturating_sub(1),
        Cmd::Down => *scroll += 1,
        Cmd::PageUp => *scroll = scroll.saturating_sub(10),
        Cmd::PageDown => *scroll += 10,
        _ => return false,
    }
    true
}

fn confirm_cmd(app: &mut App, cmd: Cmd) -> Vec<Effect> {
    let Some(Dialog::Confirm { on_yes, .. }) = &app.dialog else {
        return Vec::new();
    };
    match cmd {
        Cmd::Submit | Cmd::Answer('y' | 'Y') => {
            let on_yes = on_yes.clone();
            app.close_dialog();
            match on_yes {
                OnYes::Run { command, hosts } => start_job(app, &command, hosts),
                OnYes::Quit => quit_now(app),
            }
        }
        Cmd::Escape | Cmd::Answer('n' | 'N' | 'q') => {
            app.close_dialog();
            app.set_status(LogLevel::Info, "not done");
            Vec::new()
        }
        _ => Vec::new(),
    }
}

fn host_key_cmd(app: &mut App, cmd: Cmd) -> Vec<Effect> {
    let Some(Dialog::HostKey { prompt, question }) = &app.dialog else {
        return Vec::new();
    };
    let answer = match cmd {
        Cmd::Answer('o' | 'O' | '1') => HostKeyAnswer::AcceptOnce,
        Cmd::Answer('a' | 'A' | '2') => HostKeyAnswer::AcceptAndSave,
        Cmd::Answer('r' | 'R' | 'n' | 'N' | '3') | Cmd::Escape => HostKeyAnswer::Reject,
        _ => return Vec::new(),
    };
    let prompt = *prompt;
    let host = question.host.clone();
    let word = match answer {
        HostKeyAnswer::AcceptOnce => "accepted once",
        HostKeyAnswer::AcceptAndSave => "accepted and saved",
        HostKeyAnswer::Reject => "rejected",
    };
    app.push_log(
        LogLevel::Info,
        Some(host.clone()),
        format!("{host}: host key {word}"),
    );
    app.close_dialog();
    vec![Effect::AnswerHostKey(prompt, answer)]
}

fn secret_cmd(app: &mut App, cmd: Cmd) -> Vec<Effect> {
    let Some(Dialog::Secret {
        prompt,
        input,
        kind,
        keep,
        ..
    }) = &mut app.dialog
    else {
        return Vec::new();
    };
    let prompt = *prompt;
    match cmd {
        // Only a sudo password has a scope to choose: this job, or the session.
        Cmd::FocusNext | Cmd::FocusPrev if matches!(kind, SecretKind::Sudo { .. }) => {
            *keep = !*keep;
        }
        Cmd::Insert(c) => input.push(c),
        Cmd::Backspace => {
            input.pop();
        }
        Cmd::ClearLine => input.clear(),
        Cmd::Submit => {
            let value = std::mem::take(input);
            let secret = if *keep {
                Secret::for_session(value)
            } else {
                Secret::new(value)
            };
            app.close_dialog();
            return vec![Effect::AnswerSecret(prompt, Some(secret))];
        }
        Cmd::Escape => {
            app.close_dialog();
            return vec![Effect::AnswerSecret(prompt, None)];
        }
        _ => {}
    }
    Vec::new()
}

fn pattern_cmd(app: &mut App, cmd: Cmd) {
    let Some(Dialog::Pattern { input, error }) = &mut app.dialog else {
        return;
    };
    match cmd {
        Cmd::Insert(c) => input.push(c),
        Cmd::Backspace => {
            input.pop();
        }
        Cmd::ClearLine => input.clear(),
        Cmd::Escape => app.close_dialog(),
        Cmd::Submit => {
            let pattern = input.trim().to_string();
            match app.inventory.select(&pattern).map_err(|e| e.to_string()) {
                Ok(hosts) => {
                    app.tree.set_selection(&hosts);
                    app.close_dialog();
                    app.set_status(
                        LogLevel::Info,
                        format!("`{pattern}` selected {} hosts", hosts.len()),
                    );
                }
                Err(e) => *error = Some(e),
            }
        }
        _ => {}
    }
}
