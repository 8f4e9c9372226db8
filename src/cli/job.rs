//! What the command-line job faces (`run`, `push`, `pull`) share beyond [`crate::face`]: the
//! engine set-up of a short-lived process, and the event and signal channels.

use std::path::PathBuf;
use std::time::Duration;

use crossbeam_channel::Receiver;

use crate::engine::{self, EngineConfig, Event};
use crate::face::{engine_config, ConnArgs};

/// How long held sessions of a command-line job may stay idle (the process ends soon anyway).
const CLI_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// The engine settings of a command-line job.
pub fn cli_engine_config(conn: &ConnArgs, known_hosts: Vec<PathBuf>) -> EngineConfig {
    engine_config(
        conn.host_key_policy,
        known_hosts,
        CLI_IDLE_TIMEOUT,
        crate::cli::run::cli_prompter(),
    )
}

/// Moves engine events onto a crossbeam channel so that they can be selected together with
/// signals and redraw ticks.
pub fn forward(mut events: engine::EventReceiver) -> Receiver<Event> {
    let (tx, rx) = crossbeam_channel::unbounded();
    std::thread::Builder::new()
        .name("fleetdeck-events".into())
        .spawn(move || {
            while let Some(ev) = events.blocking_recv() {
                if tx.send(ev).is_err() {
                    break;
                }
            }
        })
        .expect("spawn the event forwarding thread");
    rx
}

/// SIGINT and SIGTERM as messages; an empty channel (and a warning) if the handlers cannot be
/// installed.
pub fn interrupts(verb: &str) -> Receiver<i32> {
    let (tx, rx) = crossbeam_channel::unbounded();
    match signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
    ]) {
        Ok(mut signals) => {
            let _ = std::thread::Builder::new()
                .name("fleetdeck-signals".into())
                .spawn(move || {
                    for sig in signals.forever() {
                        if tx.send(sig).is_err() {
                            break;
                        }
                    }
                });
        }
        Err(e) => eprintln!("fleetdeck {verb}: warning: Ctrl-C will not cancel cleanly: {e}"),
    }
    rx
}
