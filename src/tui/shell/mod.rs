//! Broadcast shells (`B`): one interactive login shell with a PTY on every selected host, each
//! pane a terminal emulator, what the operator types sent to every included host at once.
//!
//! The state lives here: per host a `vt100` emulator (screen, bounded scrollback, the modes
//! the host set), whether broadcast input goes to it, and the PTY size the engine was told.
//! `update/shell.rs` changes it, `draw/shell.rs` draws its cells through `draw/text.rs`, and
//! [`keys`] encodes keys as a terminal would. The emulator only ever parses: nothing a host
//! writes (titles, OSC 52, mouse modes, DCS) is written back to the operator's terminal.

pub mod keys;

use std::fmt;
use std::sync::Arc;

use crate::inventory::HostId;

/// Lines of scrollback each host's emulator keeps (the run folder keeps every byte).
pub const SCROLLBACK_LINES: usize = 500;

/// One host's terminal: the emulator of its PTY output.
pub struct Terminal {
    parser: vt100::Parser,
}

impl fmt::Debug for Terminal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (rows, cols) = self.parser.screen().size();
        write!(f, "Terminal({cols}x{rows})")
    }
}

impl Terminal {
    pub fn new(cols: u16, rows: u16) -> Terminal {
        Terminal {
            parser: vt100::Parser::new(rows.max(1), cols.max(1), SCROLLBACK_LINES),
        }
    }

    /// Feeds the host's output.
    pub fn feed(&mut self, data: &[u8]) {
        self.parser.process(data);
    }

    /// (cols, rows).
    pub fn size(&self) -> (u16, u16) {
        let (rows, cols) = self.parser.screen().size();
        (cols, rows)
    }

    pub fn resize(&mut self, cols: u16, rows: u16) {
        self.parser.set_size(rows.max(1), cols.max(1));
    }

    pub fn screen(&self) -> &vt100::Screen {
        self.parser.screen()
    }

    /// Scrolls the view `lines` back into the scrollback (0: the live screen).
    pub fn set_scrollback(&mut self, lines: usize) {
        self.parser.set_scrollback(lines);
    }

    /// How far the view is scrolled back.
    pub fn scrollback(&self) -> usize {
        self.parser.screen().scrollback()
    }

    /// The modes the key encoder follows.
    pub fn modes(&self) -> keys::Modes {
        keys::Modes {
            application_cursor: self.screen().application_cursor(),
        }
    }

    /// The screen's text, rows joined by newlines (for tests and the search).
    pub fn contents(&self) -> String {
        self.screen().contents()
    }
}

/// One host's shell.
#[derive(Debug)]
pub struct ShellHost {
    pub host: HostId,
    pub name: Arc<str>,
    pub term: Terminal,
    /// Broadcast input goes to this host (`x` in the console keys toggles it).
    pub included: bool,
    /// The PTY size the engine was last told: (cols, rows).
    pub sent: (u16, u16),
}

/// The broadcast shells of the current job.
#[derive(Debug)]
pub struct Shells {
    pub hosts: Vec<ShellHost>,
    /// Keys go to the hosts (broadcast input); `Ctrl-]` leaves it, `B` returns.
    pub input: bool,
}

impl Shells {
    /// Shells on `hosts`, every PTY `cols` x `rows` to begin with.
    pub fn new(hosts: &[(HostId, Arc<str>)], cols: u16, rows: u16) -> Shells {
        Shells {
            hosts: hosts
                .iter()
                .map(|(h, name)| ShellHost {
                    host: *h,
                    name: name.clone(),
                    term: Terminal::new(cols, rows),
                    included: true,
                    sent: (cols.max(1), rows.max(1)),
                })
                .collect(),
            input: true,
        }
    }

    pub fn get(&self, host: HostId) -> Option<&ShellHost> {
        self.hosts.iter().find(|s| s.host == host)
    }

    pub fn get_mut(&mut self, host: HostId) -> Option<&mut ShellHost> {
        self.hosts.iter_mut().find(|s| s.host == host)
    }

    pub fn by_name_mut(&mut self, name: &str) -> Option<&mut ShellHost> {
        self.hosts.iter_mut().find(|s| &*s.name == name)
    }

    /// Hosts broadcast input goes to.
    pub fn included(&self) -> usize {
        self.hosts.iter().filter(|s| s.included).count()
    }
}
