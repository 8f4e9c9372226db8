//! The terminal: raw mode, alternate screen, mouse; and getting it back whatever happens.
//!
//! Restoring happens on normal exit (the [`TerminalGuard`] drop), on a panic of the UI thread
//! (the hook restores FIRST, then runs the previous hook so the report lands on a sane screen),
//! and on SIGTERM / SIGHUP (the runtime loop turns them into a normal exit).
//!
//! A panic on any other thread (an engine worker, a blocking task of the runtime) does not end
//! the console: the engine already fails that host, so the console stays on screen and the
//! report goes to its live log instead of being printed over the screen.

use std::io::{self, Stdout};
use std::sync::{Mutex, Once};
use std::thread::ThreadId;

use crossterm::event::{
    DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture,
};
use crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use crossterm::{cursor, execute};
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

use crate::util::lock;

pub type Term = Terminal<CrosstermBackend<Stdout>>;

/// Puts the terminal back as it was. Safe to call more than once.
pub fn restore() {
    let _ = disable_raw_mode();
    let _ = execute!(
        io::stdout(),
        DisableMouseCapture,
        DisableBracketedPaste,
        LeaveAlternateScreen,
        cursor::Show
    );
}

static HOOK: Once = Once::new();

/// The console on screen: its UI thread, and where other threads' panic reports go.
struct Watch {
    ui: ThreadId,
    generation: u64,
    log: UnboundedSender<String>,
}

static WATCH: Mutex<Option<Watch>> = Mutex::new(None);
static GENERATION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// What the hook does with one panic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    /// No console on screen: the previous hook reports it as usual.
    Report,
    /// The UI thread: the console is over; restore the terminal, then report.
    Restore,
    /// Another thread while the console runs: a line in the live log.
    Log,
}

fn route(ui: Option<ThreadId>, panicking: ThreadId) -> Route {
    match ui {
        None => Route::Report,
        Some(ui) if ui == panicking => Route::Restore,
        Some(_) => Route::Log,
    }
}

/// Restores the terminal before the UI thread's panic report is printed; other threads'
/// panics go to the console's log while it runs (see [`watch_panics`]).
pub fn install_panic_hook() {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let me = std::thread::current();
            let (ui, log) = match &*lock(&WATCH) {
                Some(w) => (Some(w.ui), Some(w.log.clone())),
                None => (None, None),
            };
            match (route(ui, me.id()), log) {
                (Route::Log, Some(log)) => {
                    let what = info
                        .payload()
                        .downcast_ref::<&str>()
                        .map(|s| (*s).to_string())
                        .or_else(|| info.payload().downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "(no message)".into());
                    let place = info
                        .location()
                        .map_or(String::new(), |l| format!(" at {}:{}", l.file(), l.line()));
                    let name = me.name().unwrap_or("unnamed");
                    let line = format!("panic in thread '{name}'{place}: {what}");
                    if log.send(line).is_err() {
                        previous(info);
                    }
                }
                (Route::Restore, _) => {
                    restore();
                    previous(info);
                }
                _ => previous(info),
            }
        }));
    });
}

/// While alive, the calling thread is the console's UI thread: its panics restore the
/// terminal, other threads' panics arrive here as log lines.
pub struct PanicWatch {
    generation: u64,
    rx: UnboundedReceiver<String>,
}

/// Starts watching panics for the console running on this thread (replacing any earlier
/// watch).
pub fn watch_panics() -> PanicWatch {
    install_panic_hook();
    let (log, rx) = unbounded_channel();
    let generation = GENERATION.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
    *lock(&WATCH) = Some(Watch {
        ui: std::thread::current().id(),
        generation,
        log,
    });
    PanicWatch { generation, rx }
}

impl PanicWatch {
    /// The next report of another thread's panic.
    pub async fn recv(&mut self) -> Option<String> {
        self.rx.recv().await
    }

    /// A report already waiting, if any.
    pub fn try_recv(&mut self) -> Option<String> {
        self.rx.try_recv().ok()
    }
}

impl Drop for PanicWatch {
    fn drop(&mut self) {
        let mut w = lock(&WATCH);
        if w.as_ref().is_some_and(|w| w.generation == self.generation) {
            *w = None;
        }
    }
}

/// Owns the terminal while the console runs; dropping it restores the terminal.
pub struct TerminalGuard {
    pub terminal: Term,
    /// Panics of other threads while the console is on screen (for the live log).
    pub panics: PanicWatch,
}

impl TerminalGuard {
    pub fn new() -> io::Result<TerminalGuard> {
        let panics = watch_panics();
        enable_raw_mode()?;
        let mut stdout = io::stdout();
        if let Err(e) = execute!(
            stdout,
            EnterAlternateScreen,
            EnableMouseCapture,
            EnableBracketedPaste
        ) {
            restore();
            return Err(e);
        }
        match Terminal::new(CrosstermBackend::new(stdout)) {
            Ok(terminal) => Ok(TerminalGuard { terminal, panics }),
            Err(e) => {
                restore();
                Err(e)
            }
        }
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn only_the_ui_threads_panic_restores_the_terminal() {
        let ui = std::thread::current().id();
        let other = std::thread::spawn(|| std::thread::current().id())
            .join()
            .expect("thread");
        assert_eq!(route(Some(ui), ui), Route::Restore);
        assert_eq!(route(Some(ui), other), Route::Log);
        assert_eq!(route(None, other), Route::Report);
    }

    #[test]
    fn a_worker_panic_goes_to_the_log_and_the_watch_ends_with_its_guard() {
        let mut watch = watch_panics();
        let joined = std::thread::Builder::new()
            .name("fd-test-worker".into())
            .spawn(|| panic!("worker fell over"))
            .expect("spawn")
            .join();
        assert!(joined.is_err(), "the worker panicked");
        // Other tests of this process may panic meanwhile: look for ours, under a deadline.
        let deadline = Instant::now() + Duration::from_secs(10);
        let line = loop {
            match watch.try_recv() {
                Some(l) if l.contains("worker fell over") => break l,
                Some(_) => {}
                None => {
                    assert!(Instant::now() < deadline, "no report of the worker's panic");
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        };
        assert!(
            line.contains("'fd-test-worker'") && line.contains("term.rs"),
            "{line}"
        );
        assert_eq!(
            route(
                lock(&WATCH).as_ref().map(|w| w.ui),
                std::thread::current().id()
            ),
            Route::Restore
        );
        drop(watch);
        assert!(lock(&WATCH).is_none(), "no console watched after the guard");
    }
}
