//! The command line (editing, history, Enter) and the exec jobs it starts; cancelling.

use super::super::action::{Cmd, Effect};
use super::super::app::{App, Focus};
use super::super::dialog::{Dialog, OnYes};
use super::output::output_cmd;
use crate::engine::{ExecSpec, JobKind, JobSpec, LogLevel};
use crate::inventory::HostId;

/// `S`: commands run through sudo as `settings.sudo_user`, or plainly again.
pub(super) fn toggle_sudo(app: &mut App) {
    app.sudo = !app.sudo;
    let text = if app.sudo {
        format!(
            "sudo on: commands run as {} (a sudo password is asked once); S turns it off",
            app.settings.sudo_user
        )
    } else {
        "sudo off: commands run as the login user".to_string()
    };
    app.set_status(LogLevel::Info, text);
}

pub(super) fn cancel_job(app: &mut App) -> Vec<Effect> {
    match &mut app.job {
        Some(job) if !job.done => {
            if job.cancel_requested {
                app.set_status(
                    LogLevel::Warn,
                    "cancel already requested; waiting for hosts to stop",
                );
                return Vec::new();
            }
            job.cancel_requested = true;
            let id = job.id;
            app.push_log(LogLevel::Warn, None, "cancel requested".into());
            app.set_status(LogLevel::Warn, "cancelling the running job…");
            id.map(Effect::Cancel).into_iter().collect()
        }
        _ => {
            if app.focus == Focus::Cmdline && !app.cmdline.input.is_empty() {
                app.cmdline.clear();
            } else {
                app.set_status(LogLevel::Info, "no job is running (q quits)");
            }
            Vec::new()
        }
    }
}

pub(super) fn cmdline_cmd(app: &mut App, cmd: Cmd) -> Vec<Effect> {
    let c = &mut app.cmdline;
    if c.search.is_some() {
        match cmd {
            Cmd::Insert(_) | Cmd::Backspace | Cmd::HistorySearch => {}
            Cmd::Escape => {
                c.end_search(false);
                return Vec::new();
            }
            Cmd::Submit => {
                c.end_search(true);
                return Vec::new();
            }
            _ => c.end_search(true),
        }
    }
    match cmd {
        Cmd::Insert(ch) => c.insert(ch),
        Cmd::Backspace => c.backspace(),
        Cmd::Delete => c.delete(),
        Cmd::DeleteWord => c.delete_word(),
        Cmd::ClearLine => c.clear(),
        Cmd::Left => c.left(),
        Cmd::Right => c.right(),
        Cmd::Home => c.home(),
        Cmd::End => c.end(),
        Cmd::HistoryPrev => c.history_prev(),
        Cmd::HistoryNext => c.history_next(),
        Cmd::HistorySearch => c.search_older(),
        Cmd::Escape => app.focus = Focus::Tree,
        Cmd::PageUp | Cmd::PageDown => output_cmd(app, cmd),
        Cmd::Submit => return run_command(app),
        _ => {}
    }
    Vec::new()
}

/// Dangerous patterns the command matches.
pub fn dangerous_matches(app: &App, command: &str) -> Vec<String> {
    app.settings
        .dangerous
        .iter()
        .filter_map(|re| re.find(command).map(|m| m.as_str().trim().to_string()))
        .collect()
}

fn run_command(app: &mut App) -> Vec<Effect> {
    let command = app.cmdline.input.trim().to_string();
    if command.is_empty() {
        return Vec::new();
    }
    if app.job_running() {
        app.set_status(
            LogLevel::Warn,
            "a job is running: wait for it or cancel it with Ctrl-C",
        );
        return Vec::new();
    }
    let hosts = app.tree.selected_hosts();
    if hosts.is_empty() {
        app.set_status(
            LogLevel::Warn,
            "no hosts selected: Space selects in the tree, s selects by pattern, a selects all",
        );
        return Vec::new();
    }
    app.cmdline.take();
    let mut effects = vec![Effect::SaveHistory(command.clone())];
    let danger = dangerous_matches(app, &command);
    let above = hosts.len() > app.settings.confirm_above;
    if danger.is_empty() && !above {
        effects.extend(start_job(app, &command, hosts));
        return effects;
    }
    let names: Vec<&str> = hosts
        .iter()
        .take(200)
        .map(|&h| app.inventory.hosts[h].name.as_str())
        .collect();
    let mut lines = vec![
        if app.sudo {
            format!(
                "Run  {command}  (through sudo as {})",
                app.settings.sudo_user
            )
        } else {
            format!("Run  {command}")
        },
        format!(
            "on {} hosts: {}",
            hosts.len(),
            crate::output::compact(&names)
        ),
    ];
    if !danger.is_empty() {
        lines.push(format!("⚠ dangerous: matches `{}`", danger.join("`, `")));
    }
    if above {
        lines.push(format!("more than {} hosts", app.settings.confirm_above));
    }
    app.open_dialog(Dialog::Confirm {
        title: "Run this command?".into(),
        lines,
        danger: !danger.is_empty(),
        on_yes: OnYes::Run { command, hosts },
    });
    effects
}

/// Builds and submits a job; resets the hosts' panes.
pub fn start_job(app: &mut App, line: &str, hosts: Vec<HostId>) -> Vec<Effect> {
    let (options, command) = match crate::tui::run_options::split(line) {
        Ok(x) => x,
        Err(e) => {
            app.set_status(LogLevel::Error, format!("cannot run: {e}"));
            return Vec::new();
        }
    };
    let targets = match crate::engine::resolve_targets(&app.inventory, &hosts) {
        Ok(t) => t,
        Err(e) => {
            app.set_status(LogLevel::Error, format!("cannot run: {e}"));
            app.push_log(
                LogLevel::Error,
                None,
                format!("cannot run `{command}`: {e}"),
            );
            return Vec::new();
        }
    };
    let pattern = selection_pattern(app, &hosts);
    let sudo_user = app.sudo.then(|| app.settings.sudo_user.clone());
    let inventory_become = targets
        .iter()
        .filter(|t| t.become_.as_ref().is_some_and(|b| b.enabled))
        .count();
    let via = match (sudo_user.as_deref(), options.no_become) {
        (Some(u), _) => format!(" through sudo as {u}"),
        (None, true) => " without the inventory's become (--no-become)".to_string(),
        (None, false) if inventory_become > 0 => {
            format!(" (the inventory's ansible_become on {inventory_become} of them)")
        }
        (None, false) => String::new(),
    };
    app.push_log(
        LogLevel::Info,
        None,
        format!(
            "exec \"{command}\"{via} on {} hosts ({pattern})",
            hosts.len()
        ),
    );
    let rolling = options.rolling;
    app.begin_job(command.to_string(), hosts);
    if let Some(j) = app.job.as_mut() {
        j.rolling = rolling;
    }
    app.gathered_scroll = 0;
    app.failed_only = false;
    let spec = JobSpec {
        kind: JobKind::Exec(ExecSpec {
            command: command.to_string(),
            pty: app.settings.pty,
            timeout: app.settings.command_timeout,
            sudo_user,
            no_become: options.no_become,
            stdin: None,
            rolling,
        }),
        targets,
        fanout: app.settings.fanout,
        pattern,
    };
    vec![Effect::Submit(spec)]
}

/// A short description of the selection for the operation log: whole groups by name.
pub(super) fn selection_pattern(app: &App, hosts: &[HostId]) -> String {
    let names: Vec<&str> = hosts
        .iter()
        .map(|&h| app.inventory.hosts[h].name.as_str())
        .collect();
    if hosts.len() == app.hosts.len() && !hosts.is_empty() {
        return "all".into();
    }
    let groups: Vec<&str> = app
        .inventory
        .groups
        .iter()
        .enumerate()
        .skip(1)
        .filter(|(g, _)| {
            let under = app.tree.hosts_under(*g);
            !under.is_empty()
                && under.len() == hosts.len()
                && under.iter().all(|h| hosts.contains(h))
        })
        .map(|(_, g)| g.name.as_str())
        .collect();
    groups
        .first()
        .map_or_else(|| crate::output::compact(&names), |g| (*g).to_string())
}
