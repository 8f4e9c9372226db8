//! `J`: the job history dialog — opening it (the runtime reads the operation log), moving
//! through jobs, hosts and a host's output (read back from the run folder), and re-running a
//! command on its failed hosts or on all: the hosts are selected and the command is put on the
//! command line, so that Enter (with its usual confirmations) runs it.

use std::fmt::Write as _;
use std::path::Path;

use super::super::action::{Cmd, Effect};
use super::super::app::{App, Focus};
use super::super::dialog::Dialog;
use super::super::history::{HistoryDialog, Level, PastJob, PastOutput};
use crate::engine::LogLevel;

/// Lines a page of the history dialog scrolls.
const PAGE: usize = 10;

pub(super) fn open(app: &mut App) -> Vec<Effect> {
    let Some(oplog) = app.oplog_path.clone() else {
        app.set_status(
            LogLevel::Warn,
            "no operation log to read the job history from",
        );
        return Vec::new();
    };
    app.open_dialog(Dialog::History(Box::default()));
    vec![Effect::LoadJobs { oplog }]
}

fn dialog(app: &mut App) -> Option<&mut HistoryDialog> {
    match &mut app.dialog {
        Some(Dialog::History(h)) => Some(h),
        _ => None,
    }
}

pub(super) fn on_jobs(app: &mut App, jobs: Result<Vec<PastJob>, String>) {
    if let Some(h) = dialog(app) {
        h.jobs = Some(jobs);
        h.cursor = 0;
        h.level = Level::Jobs;
    }
}

pub(super) fn on_output(app: &mut App, run_dir: &Path, output: Result<PastOutput, String>) {
    let Some(h) = dialog(app) else { return };
    let Level::Hosts { job } = h.level else {
        return;
    };
    if h.job_list().get(job).and_then(|j| j.run_dir.as_deref()) != Some(run_dir) {
        return;
    }
    h.level = Level::Output { job, output };
    h.scroll = 0;
}

fn move_cursor(cursor: &mut usize, len: usize, cmd: Cmd) {
    let last = len.saturating_sub(1);
    *cursor = match cmd {
        Cmd::Up => cursor.saturating_sub(1),
        Cmd::Down => (*cursor + 1).min(last),
        Cmd::PageUp => cursor.saturating_sub(PAGE),
        Cmd::PageDown => (*cursor + PAGE).min(last),
        Cmd::Top => 0,
        Cmd::Bottom => last,
        _ => *cursor,
    };
}

pub(super) fn history_cmd(app: &mut App, cmd: Cmd) -> Vec<Effect> {
    let Some(h) = dialog(app) else {
        return Vec::new();
    };
    match (h.level.clone(), cmd) {
        (Level::Jobs, Cmd::Escape | Cmd::Answer('q' | 'J')) => app.close_dialog(),
        (Level::Jobs, Cmd::Submit) if !h.job_list().is_empty() => {
            h.job_cursor = h.cursor;
            h.level = Level::Hosts { job: h.cursor };
            h.cursor = 0;
        }
        (Level::Hosts { .. }, Cmd::Escape) => {
            h.level = Level::Jobs;
            h.cursor = h.job_cursor;
        }
        (Level::Hosts { job }, Cmd::Submit) => return open_output(app, job),
        (Level::Output { job, .. }, Cmd::Escape) => {
            h.level = Level::Hosts { job };
            h.scroll = 0;
        }
        (Level::Output { .. }, Cmd::Up | Cmd::PageUp | Cmd::Top) => {
            let n = if cmd == Cmd::Up { 1 } else { PAGE };
            h.scroll = if cmd == Cmd::Top {
                0
            } else {
                h.scroll.saturating_sub(n)
            };
        }
        (Level::Output { .. }, Cmd::Down | Cmd::PageDown | Cmd::Bottom) => {
            let n = if cmd == Cmd::Down { 1 } else { PAGE };
            h.scroll = if cmd == Cmd::Bottom {
                usize::MAX / 2
            } else {
                h.scroll + n
            };
        }
        (Level::Jobs | Level::Hosts { .. }, Cmd::Answer(c @ ('f' | 'r'))) => rerun(app, c == 'f'),
        (Level::Jobs, _) => {
            let n = h.job_list().len();
            move_cursor(&mut h.cursor, n, cmd);
        }
        (Level::Hosts { job }, _) => {
            let n = h.job_list().get(job).map_or(0, |j| j.hosts.len());
            move_cursor(&mut h.cursor, n, cmd);
        }
        (Level::Output { .. }, _) => {}
    }
    Vec::new()
}

/// Enter on a host: read its output back from the job's run folder.
fn open_output(app: &mut App, job: usize) -> Vec<Effect> {
    let Some(h) = dialog(app) else {
        return Vec::new();
    };
    let Some(j) = h.job_list().get(job) else {
        return Vec::new();
    };
    let Some(host) = j.hosts.get(h.cursor).map(|x| x.name.clone()) else {
        return Vec::new();
    };
    if let Some(run_dir) = j.run_dir.clone() {
        return vec![Effect::LoadOutput { run_dir, host }];
    }
    h.level = Level::Output {
        job,
        output: Err("this job kept no run folder".into()),
    };
    Vec::new()
}

/// `f` / `r`: the job's command on its failed hosts / all its hosts, ready on the command line.
fn rerun(app: &mut App, failed_only: bool) {
    let Some(job) = dialog(app).and_then(|h| h.current_job().cloned()) else {
        return;
    };
    let Some(command) = job.command.clone() else {
        app.set_status(
            LogLevel::Warn,
            "only commands can be re-run from the history (use F5 for transfers)",
        );
        return;
    };
    let names: Vec<&str> = if failed_only {
        job.failed()
    } else {
        job.hosts.iter().map(|h| h.name.as_str()).collect()
    };
    if names.is_empty() {
        app.set_status(LogLevel::Info, "no host failed in that job");
        return;
    }
    let hosts: Vec<_> = names
        .iter()
        .filter_map(|n| app.inventory.host_by_name(n))
        .collect();
    let gone = names.len() - hosts.len();
    app.close_dialog();
    app.tree.set_selection(&hosts);
    app.cmdline.clear();
    app.cmdline.insert_str(&command);
    app.focus = Focus::Cmdline;
    let mut msg = format!(
        "{} {} hosts selected; Enter runs the command again",
        hosts.len(),
        if failed_only { "failed" } else { "" }
    );
    if gone > 0 {
        let _ = write!(msg, " ({gone} no longer in the inventory)");
    }
    app.set_status(LogLevel::Info, msg.replace("  ", " "));
}
