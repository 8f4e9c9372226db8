//! Dialogs: windows over the screen that take every key until closed.
//!
//! ## Adding a dialog (e.g. the transfer dialog behind `F5`)
//! 1. Add a variant to [`Dialog`] holding the dialog's own state (put a large state struct in
//!    its own module, e.g. `src/tui/transfer/`, and keep the variant `Transfer(TransferDialog)`).
//! 2. Say whether it takes text in [`Dialog::takes_text`] (then printable keys arrive as
//!    `Cmd::Insert`, otherwise as `Cmd::Answer`).
//! 3. Handle its commands in `update/dialogs.rs` (`dialog_cmd`; return effects such as
//!    `Effect::Submit`; call `app.close_dialog()` when done). Anything that needs the file
//!    system is an effect answered by an action (see the transfer dialog's completion).
//! 4. Draw it from `draw::dialogs::draw_dialog` (use `draw::dialogs::centered` for the frame; a
//!    large dialog gets its own file, e.g. `draw/transfer.rs`).
//! 5. Open it from `update::global_cmd` (the `Cmd::Transfer` arm is where `F5` lands) and list
//!    its keys in `keys::HELP` so `?` shows them.

use crate::engine::{HostKeyQuestion, SecretKind};
use crate::inventory::HostId;

use super::action::PromptId;

/// What a confirmation leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OnYes {
    Run { command: String, hosts: Vec<HostId> },
    Quit,
}

/// One hop of a host's route (jump hosts first, the target last), for the host details.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteHop {
    pub user: String,
    pub name: String,
    pub address: String,
    pub port: u16,
}

/// An open dialog and its state.
#[derive(Debug, Clone)]
pub enum Dialog {
    Help {
        scroll: usize,
    },
    Confirm {
        title: String,
        lines: Vec<String>,
        danger: bool,
        on_yes: OnYes,
    },
    /// The engine met an unknown host key (policy `ask`).
    HostKey {
        prompt: PromptId,
        question: HostKeyQuestion,
    },
    /// The engine needs a password or passphrase; `input` is shown masked and never stored.
    Secret {
        prompt: PromptId,
        kind: SecretKind,
        text: String,
        input: String,
        /// A sudo password kept for the session (Tab toggles) instead of this job only.
        keep: bool,
    },
    /// `s`: select hosts by an inventory pattern.
    Pattern {
        input: String,
        error: Option<String>,
    },
    /// `J`: past jobs from the operation log (state in `tui/history.rs`).
    History(Box<super::history::HistoryDialog>),
    /// `F5`: send or fetch files (state in `tui/transfer/`).
    Transfer(Box<super::transfer::TransferDialog>),
    /// `i`: a host's effective connection settings and where each came from.
    HostDetails {
        host: HostId,
        scroll: usize,
        /// Resolved when the dialog opens: drawing must not resolve targets every frame.
        route: Result<Vec<RouteHop>, String>,
    },
    /// A message to acknowledge.
    Notice {
        title: String,
        text: String,
    },
}

impl Dialog {
    /// True when printable keys are text for the dialog (not answers).
    pub fn takes_text(&self) -> bool {
        matches!(
            self,
            Dialog::Secret { .. } | Dialog::Pattern { .. } | Dialog::Transfer(_)
        )
    }
}
