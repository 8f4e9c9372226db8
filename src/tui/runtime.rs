//! The loop: terminal events, engine events, engine questions, signals and a render tick, all
//! turned into actions for `update`; effects carried out here; drawing only when something
//! changed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crossterm::event::{Event as TermEvent, EventStream};
use futures::StreamExt;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

use super::action::{Action, Effect, PromptId};
use super::app::{App, Clock};
use super::draw::draw;
use super::term::TerminalGuard;
use super::update::update;
use crate::engine::{
    Engine, EventReceiver, HostKeyAnswer, HostKeyQuestion, LogLevel, Prompter, Secret, SecretKind,
};

/// How often the screen may be redrawn (only when something changed).
pub const RENDER_INTERVAL: Duration = Duration::from_millis(16);
/// While a job runs, redraw at least this often (live durations).
pub const LIVE_REDRAW_INTERVAL: Duration = Duration::from_millis(250);
/// Engine events handled per wake-up before keys and drawing get their turn.
const MAX_EVENTS_PER_BATCH: usize = 4_096;
/// Time spent on one batch of engine events before yielding.
const MAX_BATCH_TIME: Duration = Duration::from_millis(8);

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

/// Runs the console until the operator quits or a signal arrives.
pub async fn run(
    mut app: App,
    guard: &mut TerminalGuard,
    engine: &Engine,
    mut engine_rx: EventReceiver,
    mut prompts: UnboundedReceiver<PromptRequest>,
) -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sighup = signal(SignalKind::hangup())?;
    let mut term_events = EventStream::new();
    let mut tick = tokio::time::interval(RENDER_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut replies: HashMap<PromptId, Reply> = HashMap::new();
    let next_prompt = AtomicU64::new(1);
    let history_path = super::cmdline::history_path();

    let size = guard.terminal.size()?;
    app.clock = Clock::real();
    update(&mut app, Action::Resize(size.width, size.height));
    let mut dirty = true;
    let mut last_draw = Instant::now();

    loop {
        let mut actions: Vec<Action> = Vec::new();
        tokio::select! {
            biased;
            _ = tick.tick() => {
                app.clock = Clock::real();
                let folded = app.gathered_at;
                update(&mut app, Action::Tick);
                if app.gathered_at != folded {
                    dirty = true;
                }
                let live = app.job_running() && last_draw.elapsed() >= LIVE_REDRAW_INTERVAL;
                if dirty || live {
                    guard.terminal.draw(|f| draw(f, &app))?;
                    last_draw = Instant::now();
                    dirty = false;
                }
            }
            _ = sigterm.recv() => actions.push(Action::Terminate),
            _ = sighup.recv() => actions.push(Action::Terminate),
            ev = term_events.next() => match ev {
                Some(Ok(TermEvent::Key(k))) => actions.push(Action::Key(k)),
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
            Some(req) = prompts.recv() => {
                let id = next_prompt.fetch_add(1, Ordering::Relaxed);
                match req {
                    PromptRequest::HostKey(q, tx) => {
                        replies.insert(id, Reply::HostKey(tx));
                        actions.push(Action::AskHostKey(id, q));
                    }
                    PromptRequest::Secret(kind, text, tx) => {
                        replies.insert(id, Reply::Secret(tx));
                        actions.push(Action::AskSecret(id, kind, text));
                    }
                }
            }
            Some(ev) = engine_rx.recv() => {
                // Take a batch, bounded in count and time, so keys and drawing keep their turn
                // while hosts stream output as fast as they can.
                let started = Instant::now();
                app.clock = Clock::real();
                let effects = update(&mut app, Action::Engine(ev));
                run_effects(&mut app, effects, engine, &mut replies, &history_path);
                let mut n = 1;
                while n < MAX_EVENTS_PER_BATCH && started.elapsed() < MAX_BATCH_TIME {
                    match engine_rx.try_recv() {
                        Ok(ev) => {
                            let effects = update(&mut app, Action::Engine(ev));
                            run_effects(&mut app, effects, engine, &mut replies, &history_path);
                            n += 1;
                        }
                        Err(_) => break,
                    }
                }
                dirty = true;
            }
        }
        for action in actions {
            let effects = update(&mut app, action);
            dirty = true;
            run_effects(&mut app, effects, engine, &mut replies, &history_path);
        }
        if app.should_quit {
            break;
        }
    }
    // Nobody will answer any more: unblock waiting workers.
    for (_, reply) in replies.drain() {
        match reply {
            Reply::HostKey(tx) => {
                let _ = tx.send(HostKeyAnswer::Reject);
            }
            Reply::Secret(tx) => {
                let _ = tx.send(None);
            }
        }
    }
    Ok(())
}

fn run_effects(
    app: &mut App,
    effects: Vec<Effect>,
    engine: &Engine,
    replies: &mut HashMap<PromptId, Reply>,
    history_path: &std::path::Path,
) {
    for effect in effects {
        match effect {
            Effect::Submit(spec) => {
                let id = engine.submit(spec);
                let more = update(app, Action::JobSubmitted(id));
                run_effects(app, more, engine, replies, history_path);
            }
            Effect::Cancel(id) => engine.cancel(id),
            Effect::AnswerHostKey(id, answer) => {
                if let Some(Reply::HostKey(tx)) = replies.remove(&id) {
                    let _ = tx.send(answer);
                }
            }
            Effect::AnswerSecret(id, secret) => {
                if let Some(Reply::Secret(tx)) = replies.remove(&id) {
                    let _ = tx.send(secret);
                }
            }
            Effect::SaveHistory(line) => {
                if let Err(e) = super::cmdline::append_history(history_path, &line) {
                    app.push_log(
                        LogLevel::Warn,
                        None,
                        format!("cannot save history to {}: {e}", history_path.display()),
                    );
                }
            }
            Effect::Quit => app.should_quit = true,
        }
    }
}
