//! The job the dialog starts and follows: hosts queued, then engine progress into per-host
//! bars, and a result line in each pane (a transfer has no output of its own).

use crate::engine::{JobId, JobKind, JobSpec, LogLevel, Stream};
use crate::face::progress::{self, HostProgress};

use super::super::action::Effect;
use super::super::app::App;
use super::super::dialog::Dialog;
use super::Stage;

/// Starts the transfer job: hosts queued, panes cleared, the dialog switches to progress.
pub(super) fn start(app: &mut App, kind: JobKind) -> Vec<Effect> {
    let Some(Dialog::Transfer(d)) = &mut app.dialog else {
        return Vec::new();
    };
    let hosts = d.hosts.clone();
    let what = d.describe();
    let targets = match crate::engine::resolve_targets(&app.inventory, &hosts) {
        Ok(t) => t,
        Err(e) => {
            d.error = Some(format!("cannot start: {e}"));
            return Vec::new();
        }
    };
    d.stage = Stage::Running {
        job: None,
        started: app.clock.now,
        progress: d
            .host_names
            .iter()
            .map(|n| HostProgress {
                name: n.to_string(),
                ..HostProgress::default()
            })
            .collect(),
        done: false,
    };
    let names: Vec<&str> = hosts.iter().map(|&h| &*app.hosts[h].name).collect();
    let pattern = crate::output::compact(&names);
    app.push_log(
        LogLevel::Info,
        None,
        format!("{what} on {} hosts ({pattern})", hosts.len()),
    );
    app.begin_job(what, hosts);
    let spec = JobSpec {
        kind,
        targets,
        fanout: app.settings.fanout,
        pattern,
    };
    vec![Effect::Submit(spec)]
}

/// The dialog's progress, when it is open and watching a job.
fn watching(app: &mut App) -> Option<(&mut Vec<HostProgress>, &mut Option<JobId>, &mut bool)> {
    match &mut app.dialog {
        Some(Dialog::Transfer(d)) => match &mut d.stage {
            Stage::Running {
                progress,
                job,
                done,
                ..
            } => Some((progress, job, done)),
            Stage::Form => None,
        },
        _ => None,
    }
}

/// The engine accepted the job the dialog started.
pub fn on_submitted(app: &mut App, id: JobId) {
    if let Some((_, job, _)) = watching(app) {
        if job.is_none() {
            *job = Some(id);
        }
    }
}

/// Engine progress for one host (called by `update` for `Event::Progress`).
pub fn on_progress(app: &mut App, job: JobId, host: &str, done: u64, total: u64) {
    let now = app.clock.now;
    if let Some((progress, Some(id), _)) = watching(app) {
        if *id == job {
            if let Some(p) = progress.iter_mut().find(|p| p.name == host) {
                p.started.get_or_insert(now);
                p.done = done;
                p.total = total;
            }
        }
    }
}

/// A host finished or failed (called by `update` for `Finished`/`Failed`). A finished
/// transfer also gets a result line in its pane (a transfer has no output of its own).
pub fn on_host_end(app: &mut App, job: JobId, host: &str, ok: bool) {
    let now = app.clock.now;
    let mut moved = None;
    if let Some((progress, Some(id), _)) = watching(app) {
        if *id == job {
            if let Some(p) = progress.iter_mut().find(|p| p.name == host) {
                p.started.get_or_insert(now);
                p.ended = Some(ok);
                if ok {
                    p.done = p.done.max(p.total);
                }
                moved = Some(p.done);
            }
        }
    }
    let Some(view) = app.job.as_ref().filter(|j| j.id == Some(job)) else {
        return;
    };
    let verb = if view.command.starts_with("send ") {
        "sent"
    } else if view.command.starts_with("fetch ") {
        "fetched"
    } else {
        return;
    };
    if !ok {
        return;
    }
    let line = match moved {
        Some(bytes) => format!("transfer ok: {verb} {}\n", progress::human_bytes(bytes)),
        None => format!("transfer ok: {verb}\n"),
    };
    if let Some(&h) = app.by_name.get(host) {
        app.hosts[h].pane.feed(Stream::Stdout, line.as_bytes());
    }
}

/// The job ended (called by `update` for `JobDone`).
pub fn on_job_done(app: &mut App, job: JobId) {
    if let Some((_, Some(id), done)) = watching(app) {
        if *id == job {
            *done = true;
        }
    }
}
