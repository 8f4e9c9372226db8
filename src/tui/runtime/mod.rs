//! The loop: terminal events, engine events, engine questions, signals and a render tick, all
//! turned into actions for `update`; effects carried out here; drawing only when something
//! changed.

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crossterm::event::{Event as TermEvent, EventStream};
use futures::StreamExt;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

use super::action::{Action, Effect, PromptId};
use super::app::{App, Clock};
use super::term::TerminalGuard;
use super::update::update;

mod redraw;
mod work;

use redraw::{Echo, Redraw};
pub use redraw::{
    ECHO_WAIT, ECHO_WINDOW, LIVE_REDRAW_INTERVAL, MIN_KEY_REDRAW_GAP, OUTPUT_REDRAW_INTERVAL,
    RENDER_INTERVAL,
};

use crate::engine::{
    Engine, Event, EventReceiver, HostKeyAnswer, HostKeyQuestion, LogLevel, Prompter, Secret,
    SecretKind,
};
use work::History;
pub use work::{file_work, HISTORY_FLUSH_TIMEOUT};

/// Engine events handled per wake-up before keys and drawing get their turn.
const MAX_EVENTS_PER_BATCH: usize = 4_096;
/// Time spent on one batch of engine events before yielding.
const MAX_BATCH_TIME: Duration = Duration::from_millis(5);
/// Larger outputs are sanitized in slices of this size, one slice per step.
const MAX_SLICE_BYTES: usize = 16 * 1024;

/// A question from a worker thread, with where to send the answer.
pub enum PromptRequest {
    HostKey(HostKeyQuestion, mpsc::Sender<HostKeyAnswer>),
    Secret(SecretKind, String, mpsc::Sender<Option<Secret>>),
}

/// The console's [`Prompter`]: worker threads block on a reply channel while the UI loop shows
/// a dialog. If the console is gone, questions are answered "no".
pub struct ConsolePrompter {
    tx: UnboundedSender<PromptRequest>,
}

impl ConsolePrompter {
    pub fn new() -> (ConsolePrompter, UnboundedReceiver<PromptRequest>) {
        let (tx, rx) = unbounded_channel();
        (ConsolePrompter { tx }, rx)
    }
}

impl Prompter for ConsolePrompter {
    fn host_key(&self, question: &HostKeyQuestion) -> HostKeyAnswer {
        let (tx, rx) = mpsc::channel();
        if self
            .tx
            .send(PromptRequest::HostKey(question.clone(), tx))
            .is_err()
        {
            return HostKeyAnswer::Reject;
        }
        rx.recv().unwrap_or(HostKeyAnswer::Reject)
    }

    fn secret(&self, kind: &SecretKind, prompt: &str) -> Option<Secret> {
        let (tx, rx) = mpsc::channel();
        self.tx
            .send(PromptRequest::Secret(kind.clone(), prompt.to_string(), tx))
            .ok()?;
        rx.recv().ok().flatten()
    }
}

enum Reply {
    HostKey(mpsc::Sender<HostKeyAnswer>),
    Secret(mpsc::Sender<Option<Secret>>),
}

/// What the loop carries out besides `update`: the engine, pending answers, file work.
struct Io<'a> {
    engine: &'a Engine,
    replies: HashMap<PromptId, Reply>,
    /// Answers from work done off the UI thread (job ids, completions, path checks, history).
    answers: UnboundedSender<Action>,
    /// Lines for the history thread to append, in order.
    history: History,
}

/// Where the loop's input comes from besides the engine's events.
struct Sources {
    sigterm: tokio::signal::unix::Signal,
    sighup: tokio::signal::unix::Signal,
    term_events: EventStream,
    tick: tokio::time::Interval,
    prompts: UnboundedReceiver<PromptRequest>,
    answers: UnboundedReceiver<Action>,
    next_prompt: PromptId,
    engine_rx: EventReceiver,
    /// Engine events not handled yet (large outputs are handled in slices).
    pending: VecDeque<Event>,
}

/// Runs the console until the operator quits or a signal arrives.
pub async fn run(
    mut app: App,
    guard: &mut TerminalGuard,
    engine: &Engine,
    engine_rx: EventReceiver,
    prompts: UnboundedReceiver<PromptRequest>,
) -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut tick = tokio::time::interval(RENDER_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let (answers_tx, answers_rx) = unbounded_channel();
    let mut src = Sources {
        sigterm: signal(SignalKind::terminate())?,
        sighup: signal(SignalKind::hangup())?,
        term_events: EventStream::new(),
        tick,
        prompts,
        answers: answers_rx,
        next_prompt: 1,
        engine_rx,
        pending: VecDeque::new(),
    };
    let mut io = Io {
        engine,
        replies: HashMap::new(),
        history: History::start(super::cmdline::history_path(), answers_tx.clone()),
        answers: answers_tx,
    };
    let mut redraw = Redraw::new();
    let size = guard.terminal.size()?;
    app.clock = Clock::real();
    update(&mut app, Action::Resize(size.width, size.height));
    if std::mem::take(&mut app.start_broadcast) {
        let effects = update(&mut app, Action::Cmd(super::action::Cmd::Broadcast));
        run_effects(&mut app, effects, &mut io);
    }
    loop {
        let actions = next_actions(&mut app, &mut src, &mut io, guard, &mut redraw).await?;
        for action in actions {
            let effects = update(&mut app, action);
            redraw.urgent = true;
            redraw.note_shell_input(&effects);
            run_effects(&mut app, effects, &mut io);
        }
        if app.should_quit {
            break;
        }
        redraw.maybe_draw(&mut app, guard)?;
        if !src.pending.is_empty() {
            // Let the runtime poll timers, signals and the terminal between batches.
            tokio::task::yield_now().await;
        }
    }
    // Nobody will answer any more: unblock waiting workers.
    for (_, reply) in io.replies.drain() {
        match reply {
            Reply::HostKey(tx) => {
                let _ = tx.send(HostKeyAnswer::Reject);
            }
            Reply::Secret(tx) => {
                let _ = tx.send(None);
            }
        }
    }
    io.history.flush();
    Ok(())
}

/// Waits for the next input and turns it into actions; engine events are folded in here, in
/// batches (see [`ingest`]).
async fn next_actions(
    app: &mut App,
    src: &mut Sources,
    io: &mut Io<'_>,
    guard: &mut TerminalGuard,
    redraw: &mut Redraw,
) -> std::io::Result<Vec<Action>> {
    let mut actions: Vec<Action> = Vec::new();
    let soon = redraw.due();
    tokio::select! {
        biased;
        // The tick only wakes the loop up; drawing is decided after every step, because
        // while engine events keep a branch ready the runtime's timers may not fire for a
        // long time.
        _ = src.tick.tick() => {}
        // A frame the operator waits for, held back only by the gap between frames.
        () = tokio::time::sleep_until(soon.unwrap_or_else(Instant::now).into()), if soon.is_some() => {}
        _ = src.sigterm.recv() => actions.push(Action::Terminate),
        _ = src.sighup.recv() => actions.push(Action::Terminate),
        ev = src.term_events.next() => match ev {
            Some(Ok(TermEvent::Key(k))) => {
                if redraw.key_trace.is_some() {
                    redraw.keys_waiting.push(Instant::now());
                }
                actions.push(Action::Key(k));
            }
            Some(Ok(TermEvent::Mouse(m))) => actions.push(Action::Mouse(m)),
            Some(Ok(TermEvent::Paste(s))) => actions.push(Action::Paste(s)),
            Some(Ok(TermEvent::Resize(w, h))) => {
                guard.terminal.autoresize()?;
                actions.push(Action::Resize(w, h));
            }
            Some(Ok(_)) => {}
            // The terminal is gone: leave as if told to.
            Some(Err(_)) | None => actions.push(Action::Terminate),
        },
        Some(req) = src.prompts.recv() => {
            let id = src.next_prompt;
            src.next_prompt += 1;
            actions.push(io.ask(id, req));
        }
        Some(answer) = src.answers.recv() => actions.push(answer),
        Some(line) = guard.panics.recv() => actions.push(Action::Log(LogLevel::Error, line)),
        Some(ev) = src.engine_rx.recv(), if src.pending.is_empty() => {
            src.pending.push_back(ev);
            let took = ingest(app, &mut src.pending, &mut src.engine_rx, io, &mut redraw.echo);
            redraw.note_ingest(took);
        }
        () = std::future::ready(()), if !src.pending.is_empty() => {
            let took = ingest(app, &mut src.pending, &mut src.engine_rx, io, &mut redraw.echo);
            redraw.note_ingest(took);
        }
    }
    Ok(actions)
}

impl Io<'_> {
    /// Keeps where a question's answer goes and shows the question.
    fn ask(&mut self, id: PromptId, req: PromptRequest) -> Action {
        match req {
            PromptRequest::HostKey(q, tx) => {
                self.replies.insert(id, Reply::HostKey(tx));
                Action::AskHostKey(id, q)
            }
            PromptRequest::Secret(kind, text, tx) => {
                self.replies.insert(id, Reply::Secret(tx));
                Action::AskSecret(id, kind, text)
            }
        }
    }
}

/// Handles engine events for at most [`MAX_BATCH_TIME`], slicing large outputs, so that keys
/// and drawing keep their turn while hosts stream output as fast as they can.
fn ingest(
    app: &mut App,
    pending: &mut VecDeque<Event>,
    rx: &mut EventReceiver,
    io: &mut Io,
    echo: &mut Option<Echo>,
) -> Duration {
    let started = Instant::now();
    app.clock = Clock::real();
    let mut n = 0;
    while n < MAX_EVENTS_PER_BATCH && started.elapsed() < MAX_BATCH_TIME {
        let ev = match pending.pop_front() {
            Some(ev) => ev,
            None => match rx.try_recv() {
                Ok(ev) => ev,
                Err(_) => break,
            },
        };
        let ev = match ev {
            Event::Output {
                job,
                host,
                stream,
                mut data,
            } if data.len() > MAX_SLICE_BYTES => {
                let rest = data.split_off(MAX_SLICE_BYTES);
                pending.push_front(Event::Output {
                    job,
                    host: host.clone(),
                    stream,
                    data: rest,
                });
                Event::Output {
                    job,
                    host,
                    stream,
                    data,
                }
            }
            ev => ev,
        };
        if let (Some(e), Event::Output { host, .. }) = (echo.as_mut(), &ev) {
            e.output(host);
        }
        let effects = update(app, Action::Engine(ev));
        run_effects(app, effects, io);
        n += 1;
    }
    started.elapsed()
}

fn run_effects(app: &mut App, effects: Vec<Effect>, io: &mut Io) {
    for effect in effects {
        match effect {
            Effect::Submit(spec) => {
                // Starting a job on many hosts takes a while: do it off the UI thread; the id
                // comes back as `JobSubmitted` (events of the job may arrive before it, which
                // `update` accepts while the id is unknown).
                let engine = io.engine.clone();
                let tx = io.answers.clone();
                tokio::task::spawn_blocking(move || {
                    lower_this_thread_priority();
                    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        engine.submit(spec)
                    }));
                    let _ = tx.send(match result {
                        Ok(id) => Action::JobSubmitted(id),
                        Err(_) => Action::SubmitFailed("the engine failed to start the job".into()),
                    });
                });
            }
            Effect::Cancel(id) => io.engine.cancel(id),
            Effect::AnswerHostKey(id, answer) => {
                if let Some(Reply::HostKey(tx)) = io.replies.remove(&id) {
                    let _ = tx.send(answer);
                }
            }
            Effect::AnswerSecret(id, secret) => {
                if let Some(Reply::Secret(tx)) = io.replies.remove(&id) {
                    let _ = tx.send(secret);
                }
            }
            Effect::SaveHistory(line) => {
                if !io.history.send(line) {
                    app.push_log(
                        LogLevel::Warn,
                        None,
                        "history not saved: its thread is gone".into(),
                    );
                }
            }
            work @ (Effect::CompleteLocal { .. }
            | Effect::CheckLocalPath(_)
            | Effect::LoadJobs { .. }
            | Effect::LoadOutput { .. }) => {
                // A slow or hung directory (NFS) must not freeze the screen.
                let tx = io.answers.clone();
                tokio::task::spawn_blocking(move || {
                    if let Some(answer) = file_work(work, Path::new("")) {
                        let _ = tx.send(answer);
                    }
                });
            }
            Effect::ShellInput { job, host, data } => io.engine.shell_input(job, &host, &data),
            Effect::ShellResize {
                job,
                host,
                cols,
                rows,
            } => io.engine.shell_resize(job, &host, cols, rows),
            Effect::Quit => app.should_quit = true,
        }
    }
}

/// Nice value of the threads that submit jobs, and so of the engine's worker threads they
/// start (Linux threads inherit it). With 100 hosts streaming as fast as they can, 100 busy
/// workers at the UI thread's priority leave it a sliver of the CPU and keys wait seconds;
/// niced workers still get every idle cycle, and the operator's keys come first.
pub const WORKER_NICE: i32 = 19;

#[allow(unsafe_code)]
fn lower_this_thread_priority() {
    // SAFETY: plain syscalls on this thread's own id; no memory is shared with them.
    unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, WORKER_NICE);
    }
}
