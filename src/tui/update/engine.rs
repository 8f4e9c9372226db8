//! Engine events folded into the hosts' states, panes and the live log; the gathered view.

use std::sync::Arc;
use std::time::Duration;

use super::super::action::Effect;
use super::super::app::{App, GatherGroup, HostState};
use super::super::transfer;
use crate::engine::{ErrorClass, Event, ExitStatus, JobId, LogLevel};
use crate::inventory::HostId;

/// The engine accepted a job: remember its id (and cancel it if that was asked meanwhile).
pub(super) fn on_submitted(app: &mut App, id: JobId) -> Vec<Effect> {
    transfer::on_submitted(app, id);
    let mut effects = Vec::new();
    if let Some(job) = &mut app.job {
        job.id = Some(id);
        if job.cancel_requested {
            effects.push(Effect::Cancel(id));
        }
    }
    effects
}

pub(super) fn on_submit_failed(app: &mut App, message: &str) {
    if let Some(job) = app.job.take() {
        for h in job.hosts {
            app.hosts[h].state = HostState::Idle;
        }
    }
    app.push_log(LogLevel::Error, None, format!("job not started: {message}"));
    app.set_status(LogLevel::Error, format!("job not started: {message}"));
}

fn host_of(app: &App, job: JobId, name: &Arc<str>) -> Option<HostId> {
    let current = app.job.as_ref()?;
    if current.id.is_some_and(|id| id != job) {
        return None;
    }
    app.by_name.get(name).copied()
}

pub(super) fn on_event(app: &mut App, event: Event) {
    match event {
        Event::JobStarted {
            job,
            hosts,
            run_dir,
        } => on_job_started(app, job, hosts, run_dir),
        Event::Connecting { job, host } => {
            if let Some(h) = host_of(app, job, &host) {
                app.hosts[h].state = HostState::Connecting;
            }
            debug(app, host, "connecting");
        }
        Event::Connected { job, host, reused } => {
            if let Some(h) = host_of(app, job, &host) {
                if app.hosts[h].state == HostState::Queued {
                    app.hosts[h].state = HostState::Connecting;
                }
            }
            debug(
                app,
                host,
                if reused {
                    "session reused"
                } else {
                    "connected"
                },
            );
        }
        Event::Running { job, host } => {
            if let Some(h) = host_of(app, job, &host) {
                app.hosts[h].state = HostState::Running;
                app.hosts[h].started = Some(app.clock.now);
            }
            debug(app, host, "running");
        }
        Event::Output {
            job,
            host,
            stream,
            data,
        } => on_output(app, job, &host, stream, &data),
        Event::Truncated {
            job,
            host,
            limit,
            dropped,
        } => on_truncated(app, job, host, limit, dropped),
        Event::Progress {
            job,
            host,
            done,
            total,
        } => transfer::on_progress(app, job, &host, done, total),
        Event::Finished {
            job,
            host,
            exit,
            duration,
        } => on_finished(app, job, host, exit, duration),
        Event::Failed {
            job,
            host,
            class,
            message,
            duration,
        } => on_failed(app, job, host, class, message, duration),
        Event::Log { level, message } => app.push_log(level, None, message),
        Event::JobDone {
            job,
            ok,
            failed,
            duration,
        } => on_job_done(app, job, ok, failed, duration),
    }
}

fn debug(app: &mut App, host: Arc<str>, what: &str) {
    let text = format!("{host}: {what}");
    app.push_log(LogLevel::Debug, Some(host), text);
}

fn on_job_started(app: &mut App, job: JobId, hosts: usize, run_dir: Option<std::path::PathBuf>) {
    if let Some(j) = app
        .job
        .as_mut()
        .filter(|j| j.id.map_or(true, |id| id == job))
    {
        j.run_dir.clone_from(&run_dir);
    }
    let folder = run_dir.map_or_else(
        || "no run folder".to_string(),
        |d| format!("full output in {}", d.display()),
    );
    app.push_log(
        LogLevel::Info,
        None,
        format!("job {job} started on {hosts} hosts; {folder}"),
    );
}

fn on_output(
    app: &mut App,
    job: JobId,
    host: &Arc<str>,
    stream: crate::engine::Stream,
    data: &[u8],
) {
    // Cancelled: output still queued is dropped, not shown (the run folder has it).
    if app.job.as_ref().is_some_and(|j| j.cancel_requested) {
        return;
    }
    if super::shell::on_output(app, job, host, data) {
        return;
    }
    if let Some(h) = host_of(app, job, host) {
        app.hosts[h].pane.feed(stream, data);
        app.gathered_dirty = true;
    }
}

/// The host's output passed the job's cap: said in its pane (once) and in the live log.
fn on_truncated(app: &mut App, job: JobId, host: Arc<str>, limit: u64, dropped: u64) {
    let Some(h) = host_of(app, job, &host) else {
        return;
    };
    let first = app.hosts[h].pane.note_truncated(limit, dropped);
    app.gathered_dirty = true;
    let limit = crate::engine::human_size(limit);
    let text = if first {
        format!("{host}: output beyond {limit} (max_output) is not kept")
    } else {
        format!(
            "{host}: {} of output beyond {limit} (max_output) not kept",
            crate::engine::human_size(dropped)
        )
    };
    app.push_log(LogLevel::Warn, Some(host), text);
}

fn on_finished(app: &mut App, job: JobId, host: Arc<str>, exit: ExitStatus, duration: Duration) {
    let ok = exit.success();
    transfer::on_host_end(app, job, &host, ok);
    let text = match &exit {
        ExitStatus::Code(c) => format!("{host}: exit {c} ({:.2}s)", duration.as_secs_f64()),
        ExitStatus::Signal(s) => {
            format!("{host}: killed by SIG{s} ({:.2}s)", duration.as_secs_f64())
        }
    };
    if let Some(h) = host_of(app, job, &host) {
        let v = &mut app.hosts[h];
        v.state = if ok { HostState::Ok } else { HostState::Failed };
        v.exit = Some(exit);
        v.duration = Some(duration);
        app.gathered_dirty = true;
    }
    app.push_log(
        if ok { LogLevel::Info } else { LogLevel::Error },
        Some(host),
        text,
    );
}

fn on_failed(
    app: &mut App,
    job: JobId,
    host: Arc<str>,
    class: ErrorClass,
    message: String,
    duration: Duration,
) {
    transfer::on_host_end(app, job, &host, false);
    let text = format!("{host}: {class}: {message}");
    if let Some(h) = host_of(app, job, &host) {
        let v = &mut app.hosts[h];
        v.state = match class {
            ErrorClass::Unreachable | ErrorClass::Refused => HostState::Unreachable,
            ErrorClass::Cancelled => HostState::Cancelled,
            _ => HostState::Failed,
        };
        v.error = Some((class, message));
        v.duration = Some(duration);
        app.gathered_dirty = true;
    }
    let level = if class == ErrorClass::Cancelled {
        LogLevel::Warn
    } else {
        LogLevel::Error
    };
    app.push_log(level, Some(host), text);
}

fn on_job_done(app: &mut App, job: JobId, ok: usize, failed: usize, duration: Duration) {
    transfer::on_job_done(app, job);
    let mut failed_hosts = Vec::new();
    if let Some(j) = app
        .job
        .as_mut()
        .filter(|j| j.id.map_or(true, |id| id == job))
    {
        j.done = true;
        j.duration = Some(duration);
        let hosts = j.hosts.clone();
        for h in hosts {
            let v = &mut app.hosts[h];
            if v.state.is_active() {
                // The engine said it is over; whatever did not report was cancelled.
                v.state = HostState::Cancelled;
            }
            if v.state.is_failure() {
                failed_hosts.push(h);
            }
        }
        app.last_failed = failed_hosts;
    }
    let level = if failed > 0 {
        LogLevel::Warn
    } else {
        LogLevel::Info
    };
    let text = format!(
        "job {job} done: {ok} ok, {failed} failed in {:.2}s",
        duration.as_secs_f64()
    );
    app.push_log(level, None, text.clone());
    if failed > 0 {
        app.set_status(
            LogLevel::Warn,
            format!("{text} — f selects the failed hosts, F shows only them"),
        );
    }
    app.gathered_dirty = true;
}

/// Folds the current job's outputs into groups of identical output, largest first.
pub fn compute_gathered(app: &mut App) {
    app.gathered_dirty = false;
    app.gathered_at = Some(app.clock.now);
    let Some(job) = &app.job else {
        app.gathered.clear();
        return;
    };
    // Fold by a keyed hash of what each pane holds plus how the host ended, without copying
    // the output; a pane's hash is recomputed only when its content changed.
    if app.hash_cache.len() != app.hosts.len() {
        app.hash_cache = vec![None; app.hosts.len()];
    }
    let mut keys = Vec::with_capacity(job.hosts.len());
    for &h in &job.hosts {
        let v = &app.hosts[h];
        let hash = match app.hash_cache[h] {
            Some((version, hash)) if version == v.pane.version() => hash,
            _ => {
                let hash = v.pane.content_hash(&app.hash_state);
                app.hash_cache[h] = Some((v.pane.version(), hash));
                hash
            }
        };
        let end = match (&v.exit, &v.error) {
            (_, Some((class, _))) => class.as_str().to_string(),
            (Some(ExitStatus::Code(c)), None) => format!("exit {c}"),
            (Some(ExitStatus::Signal(s)), None) => format!("SIG{s}"),
            (None, None) => v.state.word().to_string(),
        };
        keys.push((
            app.inventory.hosts[h].name.as_str(),
            (hash, v.pane.len(), end),
        ));
    }
    let folded = crate::output::fold_by(keys);
    let groups: Vec<GatherGroup> = folded
        .into_iter()
        .filter_map(|(names, _)| {
            let hosts: Vec<HostId> = names
                .iter()
                .filter_map(|n| app.inventory.host_by_name(n))
                .collect();
            Some(GatherGroup {
                rep: *hosts.first()?,
                label: crate::output::compact(&names),
                hosts,
            })
        })
        .collect();
    app.gathered = groups;
}
