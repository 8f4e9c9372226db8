//! Running one command on an authenticated session: stdout and stderr read as they arrive in
//! non-blocking mode (no deadlock whatever either stream writes), a deadline and a cancel flag
//! checked every poll slice, and on abort the channel closed (with a pty, sshd's hang-up sends
//! SIGHUP to the command's process group).

use std::io::Read;
use std::time::Duration;

use ssh2::{Channel, Session};

mod input;
mod stop;
mod sudo;

use self::input::Input;
pub use self::stop::{abort, kill_other_sessions, Aborted, KILL_SCRIPT};
use self::sudo::PromptFilter;
pub use self::sudo::{remote_command, SudoMarkers, SudoPassword};
use super::{SshError, Waiter};
use crate::contract::{ErrorClass, ExecSpec, ExitStatus, Stream};

/// What `run` calls: `on_output` with every chunk, `on_stop` at a cancel or timeout.
pub type Callbacks<'a> = (
    &'a mut dyn FnMut(Stream, &[u8]),
    &'a mut dyn FnMut(&SshError),
);

/// Said when a cancelled command could not be stopped.
pub const MAY_STILL_RUN: &str =
    "the remote command may still be running (without a pty, closing the channel does not stop it)";

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

/// Runs `spec` on the already opened channel `ch`, calling `on_output` for every chunk (and
/// with an empty chunk whenever the channel has nothing to read). `on_output` may block to
/// slow the command down: the channel is not read meanwhile, so SSH flow control holds the
/// remote side.
/// `w` carries the command deadline and the cancel flag. With `spec.sudo_user`, `sudo` answers
/// sudo's password prompt (a wrong password fails with [`ErrorClass::AuthFailed`]; the
/// password never reaches `on_output`). `on_stop` is called when the command is cancelled or
/// timed out, before it is stopped on the remote side (which may take seconds).
pub fn run(
    sess: &Session,
    w: &Waiter<'_>,
    mut ch: Channel,
    spec: &ExecSpec,
    sudo: Option<&mut dyn SudoPassword>,
    (on_output, on_stop): Callbacks<'_>,
) -> ExecOutcome {
    let started = run_inner(sess, w, &mut ch, spec, sudo, on_output);
    match started {
        Ok(()) => close_and_status(sess, w.fd(), &mut ch),
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
            // The caller may report the host now; stopping the command comes after.
            on_stop(&e);
            // Closing the channel hangs a pty up; without one, sshd then closes the command's
            // output, so a command that writes (a flood) dies of SIGPIPE. One that stays quiet
            // is ended from a second channel (sshd accepts no `signal` for forced commands).
            let mut a = abort(sess, w.fd(), &mut ch, spec.pty);
            if !a.stopped && a.session_ok && !spec.pty && kill_other_sessions(sess, w.fd()) {
                a = abort(sess, w.fd(), &mut ch, true);
            }
            if !a.stopped {
                e.message.push_str("; ");
                e.message.push_str(MAY_STILL_RUN);
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

/// Closes the channel of a command that ended (its output at EOF) and reads how it ended:
/// the signal it died of, else its exit code.
pub fn close_and_status(
    sess: &Session,
    fd: std::os::unix::io::RawFd,
    ch: &mut Channel,
) -> ExecOutcome {
    if !close_channel(sess, fd, ch) {
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

fn run_inner(
    sess: &Session,
    w: &Waiter<'_>,
    ch: &mut Channel,
    spec: &ExecSpec,
    mut sudo: Option<&mut dyn SudoPassword>,
    on_output: &mut dyn FnMut(Stream, &[u8]),
) -> Result<(), SshError> {
    let markers = SudoMarkers::fresh();
    start_command(sess, w, ch, spec, &markers)?;
    let sudo_user = spec.sudo_user.as_deref().unwrap_or("root");
    // sudo writes its prompt on stderr, which is the terminal (stdout) with a pty: only that
    // stream is read for prompts, and only until the command runs.
    let sudo_stream = if spec.pty {
        Stream::Stdout
    } else {
        Stream::Stderr
    };
    let mut filter = spec.sudo_user.as_ref().map(|_| PromptFilter::new(&markers));
    let mut prompts = 0usize;
    let mut buf = vec![0u8; READ_CHUNK];
    let mut out_eof = false;
    let mut err_eof = false;
    let mut input = Input::for_spec(spec);
    loop {
        let mut progressed = false;
        let mut found = 0usize;
        {
            let mut sink = |stream: Stream, data: &[u8]| match filter.as_mut() {
                Some(f) if stream == sudo_stream && !f.running() => {
                    let fed = f.feed(data);
                    found += fed.prompts;
                    if !fed.pass.is_empty() {
                        on_output(stream, &fed.pass);
                    }
                }
                _ => on_output(stream, data),
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
            answer_prompt(sess, w, ch, sudo.as_deref_mut(), prompts, sudo_user)?;
        }
        // The command's stdin, once it is the command's (after sudo ran it): the given bytes,
        // then EOF.
        if filter.as_ref().map_or(true, PromptFilter::running) {
            progressed |= input.feed(sess, w, ch)?;
        }
        if out_eof && err_eof {
            if let Some(f) = filter.as_mut() {
                let rest = f.finish();
                if !rest.is_empty() {
                    on_output(sudo_stream, &rest);
                }
            }
            return Ok(());
        }
        w.check("running the command")?;
        if progressed {
            w.heard();
        } else {
            // An empty chunk: the reader may take what it was given but could not yet pass on.
            on_output(Stream::Stdout, &[]);
            w.wait(sess);
        }
    }
}

/// Requests the pty (if any), starts the command, and ends its stdin when nothing will be
/// written to it.
fn start_command(
    sess: &Session,
    w: &Waiter<'_>,
    ch: &mut Channel,
    spec: &ExecSpec,
    markers: &SudoMarkers,
) -> Result<(), SshError> {
    if spec.pty {
        w.retry(sess, "requesting a pty", || {
            ch.request_pty("xterm", None, Some((200, 50, 0, 0)))
        })?;
    }
    let command = remote_command(spec, markers);
    w.retry(sess, "starting the command", || ch.exec(&command))?;
    if spec.sudo_user.is_none() && !spec.pty && spec.stdin.is_none() {
        // Nothing is ever written to the command's stdin: end it at once, as `ssh -n` does,
        // so that a command reading stdin sees EOF instead of waiting forever.
        w.retry(sess, "ending stdin", || ch.send_eof())?;
    }
    Ok(())
}

/// Answers sudo's `prompts`-th prompt: the first with the password, a second one means the
/// password was wrong.
fn answer_prompt(
    sess: &Session,
    w: &Waiter<'_>,
    ch: &mut Channel,
    mut sudo: Option<&mut (dyn SudoPassword + '_)>,
    prompts: usize,
    sudo_user: &str,
) -> Result<(), SshError> {
    if prompts > 1 {
        if let Some(s) = sudo.as_mut() {
            s.rejected();
        }
        return Err(SshError::new(
            ErrorClass::AuthFailed,
            format!("sudo rejected the password (to run as {sudo_user}): wrong sudo password"),
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
    send_secret_line(sess, w, ch, password.expose().as_bytes())
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
