//! Running one command on an authenticated session: stdout and stderr read as they arrive in
//! non-blocking mode (no deadlock whatever either stream writes), a deadline and a cancel flag
//! checked every poll slice, and on abort the channel closed (with a pty, sshd's hang-up sends
//! SIGHUP to the command's process group).

use std::io::Read;
use std::time::Duration;

use ssh2::{Channel, Session};

use super::{SshError, Waiter};
use crate::contract::{ErrorClass, ExecSpec, ExitStatus, Stream};
use crate::util::shell_quote;

/// How long closing a channel may take after the command ended or was aborted.
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Size of one read from a channel stream.
const READ_CHUNK: usize = 64 * 1024;

/// The outcome of one command.
#[derive(Debug)]
pub struct ExecOutcome {
    pub result: Result<ExitStatus, SshError>,
    /// False when the session should not be reused (transport error or a close that hung).
    pub session_ok: bool,
}

/// Opens a session channel. On a held session this is also the liveness probe.
pub fn open_channel(sess: &Session, w: &Waiter<'_>) -> Result<Channel, SshError> {
    w.retry(sess, "opening a channel", || sess.channel_session())
}

/// Closes `ch` politely (bounded by [`CLOSE_TIMEOUT`]); false when it could not.
pub fn close_channel(sess: &Session, fd: std::os::unix::io::RawFd, ch: &mut Channel) -> bool {
    let w = Waiter::new(fd, None);
    w.set_deadline(Some(CLOSE_TIMEOUT), "channel close timeout");
    w.retry(sess, "closing the channel", || ch.close()).is_ok()
        && w.retry(sess, "waiting for the channel to close", || ch.wait_close())
            .is_ok()
}

/// The command line sent to the server. With `sudo_user`, sudo is told to read a password
/// from stdin (`-S`) and to print `marker` as its prompt (on stderr), so that the prompt can
/// be recognised, answered once and cut out of the output. `marker` must not contain `%`
/// (sudo expands `%` escapes in prompts) nor a `'`.
pub fn remote_command(spec: &ExecSpec, marker: &str) -> String {
    match &spec.sudo_user {
        Some(user) => format!(
            "sudo -S -p {} -u {} -- sh -c {}",
            shell_quote(marker),
            shell_quote(user),
            shell_quote(&spec.command)
        ),
        None => spec.command.clone(),
    }
}

/// A fresh prompt marker: unlikely to appear in any output, different for every command.
pub fn sudo_marker() -> String {
    use rand::Rng;
    let n: u64 = rand::thread_rng().gen();
    format!("[fleetdeck-sudo-{n:016x}]")
}

/// How a command run through sudo gets its password.
pub trait SudoPassword {
    /// The password to send when sudo prompts (asked at most once per engine and user; `None`
    /// when the operator has none to give).
    fn password(&mut self) -> Option<crate::contract::Secret>;
    /// Called when sudo prompted again: the password given was wrong on this host.
    fn rejected(&mut self);
}

/// Finds sudo's prompt marker in one output stream (it may arrive split across reads), cuts
/// it out, and holds back only bytes that could be the start of a marker.
struct MarkerFilter<'m> {
    marker: &'m [u8],
    pending: Vec<u8>,
}

impl<'m> MarkerFilter<'m> {
    fn new(marker: &'m [u8]) -> Self {
        MarkerFilter {
            marker,
            pending: Vec::new(),
        }
    }

    /// Feeds `data`; returns the bytes safe to pass on and how many markers were cut.
    fn feed(&mut self, data: &[u8]) -> (Vec<u8>, usize) {
        self.pending.extend_from_slice(data);
        let mut out = Vec::with_capacity(self.pending.len());
        let mut found = 0;
        let m = self.marker;
        let mut i = 0;
        while let Some(pos) = find(&self.pending[i..], m) {
            out.extend_from_slice(&self.pending[i..i + pos]);
            i += pos + m.len();
            found += 1;
        }
        let rest = &self.pending[i..];
        // The longest suffix of `rest` that is a proper prefix of the marker is held back.
        let keep = (1..m.len().min(rest.len() + 1))
            .rev()
            .find(|&k| rest.ends_with(&m[..k]))
            .unwrap_or(0);
        out.extend_from_slice(&rest[..rest.len() - keep]);
        let tail = rest[rest.len() - keep..].to_vec();
        self.pending = tail;
        (out, found)
    }

    /// What is left at the end of the stream.
    fn finish(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.pending)
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Runs `spec` on the already opened channel `ch`, calling `on_output` for every chunk.
/// `w` carries the command deadline and the cancel flag. With `spec.sudo_user`, `sudo` answers
/// sudo's password prompt (a wrong password fails with [`ErrorClass::AuthFailed`]; the
/// password never reaches `on_output`).
pub fn run(
    sess: &Session,
    w: &Waiter<'_>,
    mut ch: Channel,
    spec: &ExecSpec,
    sudo: Option<&mut dyn SudoPassword>,
    on_output: &mut dyn FnMut(Stream, &[u8]),
) -> ExecOutcome {
    let started = run_inner(sess, w, &mut ch, spec, sudo, on_output);
    match started {
        Ok(()) => {
            let closed = close_channel(sess, w.fd(), &mut ch);
            if !closed {
                return ExecOutcome {
                    result: Err(SshError::new(
                        ErrorClass::Protocol,
                        "the channel did not close after the command ended",
                    )),
                    session_ok: false,
                };
            }
            let signal = ch.exit_signal().ok().and_then(|s| s.exit_signal);
            let result = match signal {
                Some(sig) => Ok(ExitStatus::Signal(sig)),
                None => ch
                    .exit_status()
                    .map(ExitStatus::Code)
                    .map_err(|e| super::classify(&e, "reading the exit status")),
            };
            ExecOutcome {
                result,
                session_ok: true,
            }
        }
        Err(e) if e.class == ErrorClass::AuthFailed => {
            // sudo waits for another try: end its stdin (it then gives up) and close.
            let ew = Waiter::new(w.fd(), None);
            ew.set_deadline(Some(CLOSE_TIMEOUT), "channel close timeout");
            let _ = ew.retry(sess, "ending stdin", || ch.send_eof());
            let a = abort(sess, w.fd(), &mut ch, true);
            ExecOutcome {
                result: Err(e),
                session_ok: a.session_ok,
            }
        }
        Err(mut e) if matches!(e.class, ErrorClass::Cancelled | ErrorClass::Timeout) => {
            // Without a pty, sshd neither hangs up nor (for forced commands) accepts a
            // `signal` request: end the command's process group from a second channel.
            let killed = !spec.pty && kill_other_sessions(sess, w.fd());
            let a = abort(sess, w.fd(), &mut ch, spec.pty || killed);
            if !a.stopped {
                e.message.push_str(
                    "; the remote command may still be running (without a pty, closing the \
                     channel does not stop it)",
                );
            }
            ExecOutcome {
                result: Err(e),
                session_ok: a.session_ok,
            }
        }
        Err(e) => ExecOutcome {
            result: Err(e),
            session_ok: false,
        },
    }
}

/// Run on a second channel of the same connection to stop what the first one runs: sshd
/// starts every channel's command in a session of its own (setsid), all children of the
/// connection's sshd process. This finds that process (the parent of our own session
/// leader) and sends SIGTERM to the process group of every other child. The worker runs one
/// command at a time per connection, so that is exactly the cancelled command (plus any
/// left over from earlier cancels).
pub const KILL_SCRIPT: &str = "s=$(ps -o sid= -p $$); p=$(ps -o ppid= -p $s); \
     for c in $(pgrep -P $p); do [ $c -eq $s ] || kill -TERM -$c 2>/dev/null || kill -TERM $c; done; true";

/// How long stopping a command from a second channel may take.
const KILL_TIMEOUT: Duration = Duration::from_secs(3);

/// Runs [`KILL_SCRIPT`] on a new channel; true when it ran and exited 0.
pub fn kill_other_sessions(sess: &Session, fd: std::os::unix::io::RawFd) -> bool {
    let w = Waiter::new(fd, None);
    w.set_deadline(Some(KILL_TIMEOUT), "kill timeout");
    let Ok(mut ch) = open_channel(sess, &w) else {
        return false;
    };
    if w.retry(sess, "stopping the command", || ch.exec(KILL_SCRIPT))
        .is_err()
    {
        return false;
    }
    let mut sink = |_: Stream, _: &[u8]| {};
    let mut buf = vec![0u8; 4096];
    let (mut out_eof, mut err_eof) = (false, false);
    let mut stderr = ch.stderr();
    while !(out_eof && err_eof) {
        let mut progressed = false;
        let r = (|| -> Result<(), SshError> {
            if !out_eof {
                out_eof = drain(
                    &mut ch,
                    &mut buf,
                    Stream::Stdout,
                    &mut sink,
                    &mut progressed,
                )?;
            }
            if !err_eof {
                err_eof = drain(
                    &mut stderr,
                    &mut buf,
                    Stream::Stderr,
                    &mut sink,
                    &mut progressed,
                )?;
            }
            w.check("stopping the command")
        })();
        if r.is_err() {
            return false;
        }
        if !progressed {
            w.wait(sess);
        }
    }
    close_channel(sess, fd, &mut ch) && ch.exit_status().is_ok_and(|c| c == 0)
}

/// What stopping a command achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Aborted {
    /// The session can be used for the next command.
    pub session_ok: bool,
    /// The server confirmed the channel closed (the command is gone). Without a pty, sshd
    /// keeps a channel open while its command runs: then this is false and the command may
    /// still run.
    pub stopped: bool,
}

/// How long to wait for the channel to close when no pty hang-up can have stopped the command.
const UNSTOPPABLE_CLOSE_WAIT: Duration = Duration::from_millis(300);

/// Stops the remote command by closing its channel. With a pty, sshd hangs the terminal up
/// and the command's process group gets SIGHUP. (ssh2 0.9 does not expose libssh2's
/// `signal` channel request, and sshd refuses it for forced commands anyway.)
/// `ending` says the command is known to be ending (a pty hang-up, or killed from a second
/// channel), so the close is worth waiting for.
pub fn abort(
    sess: &Session,
    fd: std::os::unix::io::RawFd,
    ch: &mut Channel,
    ending: bool,
) -> Aborted {
    let pty = ending;
    let w = Waiter::new(fd, None);
    w.set_deadline(
        Some(if pty {
            CLOSE_TIMEOUT
        } else {
            UNSTOPPABLE_CLOSE_WAIT
        }),
        "channel close timeout",
    );
    // libssh2's close waits for the server's close: once it returns, the channel is gone.
    if w.retry(sess, "closing the channel", || ch.close()).is_err() {
        // Without a pty the close was sent but sshd keeps the channel while the command runs;
        // the session itself is fine. With a pty the close should have completed: suspect.
        return Aborted {
            session_ok: !pty,
            stopped: false,
        };
    }
    Aborted {
        session_ok: true,
        stopped: true,
    }
}

fn run_inner(
    sess: &Session,
    w: &Waiter<'_>,
    ch: &mut Channel,
    spec: &ExecSpec,
    mut sudo: Option<&mut dyn SudoPassword>,
    on_output: &mut dyn FnMut(Stream, &[u8]),
) -> Result<(), SshError> {
    if spec.pty {
        w.retry(sess, "requesting a pty", || {
            ch.request_pty("xterm", None, Some((200, 50, 0, 0)))
        })?;
    }
    let marker = sudo_marker();
    let command = remote_command(spec, &marker);
    w.retry(sess, "starting the command", || ch.exec(&command))?;
    if spec.sudo_user.is_none() && !spec.pty {
        // Nothing is ever written to the command's stdin: end it at once, as `ssh -n` does,
        // so that a command reading stdin sees EOF instead of waiting forever.
        w.retry(sess, "ending stdin", || ch.send_eof())?;
    }
    let sudo_user = spec.sudo_user.as_deref().unwrap_or("root");
    // With a pty sudo's prompt arrives on stdout (the terminal): both streams are filtered.
    let mut filters = spec.sudo_user.as_ref().map(|_| {
        [
            MarkerFilter::new(marker.as_bytes()),
            MarkerFilter::new(marker.as_bytes()),
        ]
    });
    let mut prompts = 0usize;
    let mut buf = vec![0u8; READ_CHUNK];
    let mut out_eof = false;
    let mut err_eof = false;
    loop {
        let mut progressed = false;
        let mut found = 0usize;
        {
            let mut sink = |stream: Stream, data: &[u8]| match filters.as_mut() {
                Some(f) => {
                    let (pass, n) = f[usize::from(stream == Stream::Stderr)].feed(data);
                    found += n;
                    if !pass.is_empty() {
                        on_output(stream, &pass);
                    }
                }
                None => on_output(stream, data),
            };
            if !out_eof {
                out_eof = drain(ch, &mut buf, Stream::Stdout, &mut sink, &mut progressed)?;
            }
            if !err_eof {
                let mut stderr = ch.stderr();
                err_eof = drain(
                    &mut stderr,
                    &mut buf,
                    Stream::Stderr,
                    &mut sink,
                    &mut progressed,
                )?;
            }
        }
        if found > 0 {
            prompts += found;
            if prompts > 1 {
                if let Some(s) = sudo.as_mut() {
                    s.rejected();
                }
                return Err(SshError::new(
                    ErrorClass::AuthFailed,
                    format!(
                        "sudo rejected the password (to run as {sudo_user}): wrong sudo password"
                    ),
                ));
            }
            let asked_at = std::time::Instant::now();
            let password = sudo.as_mut().and_then(|s| s.password());
            // Time the operator spent typing does not count against the command timeout.
            w.extend(asked_at.elapsed());
            let Some(password) = password else {
                return Err(SshError::new(
                    ErrorClass::AuthFailed,
                    format!("sudo asks for a password (to run as {sudo_user}) and none was given"),
                ));
            };
            send_secret_line(sess, w, ch, password.expose().as_bytes())?;
        }
        if out_eof && err_eof {
            if let Some(f) = filters.as_mut() {
                for (i, stream) in [Stream::Stdout, Stream::Stderr].into_iter().enumerate() {
                    let rest = f[i].finish();
                    if !rest.is_empty() {
                        on_output(stream, &rest);
                    }
                }
            }
            return Ok(());
        }
        w.check("running the command")?;
        if !progressed {
            w.wait(sess);
        }
    }
}

/// Writes `secret` and a newline to the command's stdin; the copy is wiped afterwards.
fn send_secret_line(
    sess: &Session,
    w: &Waiter<'_>,
    ch: &mut Channel,
    secret: &[u8],
) -> Result<(), SshError> {
    let mut line = Vec::with_capacity(secret.len() + 1);
    line.extend_from_slice(secret);
    line.push(b'\n');
    let mut sent = 0;
    let mut result = Ok(());
    while sent < line.len() {
        match std::io::Write::write(ch, &line[sent..]) {
            Ok(n) => sent += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if let Err(e) = w.check("sending the sudo password") {
                    result = Err(e);
                    break;
                }
                w.wait(sess);
            }
            Err(e) => {
                result = Err(SshError::new(
                    ErrorClass::Protocol,
                    format!("sending the sudo password: {}", e.kind()),
                ));
                break;
            }
        }
    }
    line.fill(0);
    result
}

/// Reads `r` until it would block; returns true at end of stream.
fn drain(
    r: &mut dyn Read,
    buf: &mut [u8],
    stream: Stream,
    on_output: &mut dyn FnMut(Stream, &[u8]),
    progressed: &mut bool,
) -> Result<bool, SshError> {
    // Bounded so that a flood on one stream cannot starve the other or the cancel check.
    for _ in 0..16 {
        match r.read(buf) {
            Ok(0) => return Ok(true),
            Ok(n) => {
                *progressed = true;
                on_output(stream, &buf[..n]);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) => {
                return Err(SshError::new(
                    ErrorClass::Protocol,
                    format!(
                        "reading {}: {e}",
                        match stream {
                            Stream::Stdout => "stdout",
                            Stream::Stderr => "stderr",
                        }
                    ),
                ))
            }
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_filter_cuts_split_markers_and_keeps_the_rest() {
        let m = b"[M-1234]";
        let mut filter = MarkerFilter::new(m);
        let feed = |f: &mut MarkerFilter, data: &[u8]| f.feed(data);
        assert_eq!(feed(&mut filter, b"hello [M-1"), (b"hello ".to_vec(), 0));
        assert_eq!(feed(&mut filter, b"234]world ["), (b"world ".to_vec(), 1));
        assert_eq!(feed(&mut filter, b"x"), (b"[x".to_vec(), 0));
        assert_eq!(
            feed(&mut filter, b"[M-1234][M-1234]end[M"),
            (b"end".to_vec(), 2)
        );
        assert_eq!(filter.finish(), b"[M");
    }

    #[test]
    fn sudo_command_quotes_everything() {
        let spec = ExecSpec {
            command: "echo 'a b'".into(),
            sudo_user: Some("root".into()),
            ..ExecSpec::default()
        };
        let m = sudo_marker();
        assert!(!m.contains('%') && !m.contains('\''));
        let words = shlex::split(&remote_command(&spec, &m)).expect("one shell command");
        let want = [
            "sudo",
            "-S",
            "-p",
            &m,
            "-u",
            "root",
            "--",
            "sh",
            "-c",
            "echo 'a b'",
        ];
        assert_eq!(words, want);
        let plain = ExecSpec {
            command: "uptime".into(),
            ..ExecSpec::default()
        };
        assert_eq!(remote_command(&plain, &m), "uptime");
    }
}
