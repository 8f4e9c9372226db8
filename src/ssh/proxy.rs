//! `ProxyCommand`: SSH over the stdin and stdout of a local command, as OpenSSH runs it.
//!
//! The line (its `%h %p %r %n %u %d %%` tokens expanded with the hop's final address, port
//! and user, `%n` its inventory name) runs as `$SHELL -c "exec LINE"` (`/bin/sh` when
//! `SHELL` is unset), in a process group of its own so that Ctrl-C on the terminal does not
//! reach it and everything it starts can be ended together. Its stdin and stdout are one end
//! of a `UnixStream::pair()`; the session handshakes over the other end, like a TCP socket
//! (no relay thread). Its stderr is drained by a small thread into a tail of the last
//! [`STDERR_TAIL`] bytes, shown (through [`Clean`]) when connecting fails.
//!
//! The session owns the stream: when it is dropped, the command's process group is sent
//! SIGTERM, then SIGKILL, and the command is reaped — no zombie, no fd left. If the command
//! exits before the handshake is done, the error says so with its status and stderr tail.

use std::io::Read;
use std::os::fd::OwnedFd;
use std::os::unix::io::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStderr, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::sys::wait::{waitid, Id, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::connect::{connect_stream, ConnectContext, Connection};
use super::SshError;
use crate::contract::ErrorClass;
use crate::inventory::{expand_tokens, ConnSettings, Tokens};
use crate::output::Clean;
use crate::util::lock;

/// How much of the command's stderr is kept: its last bytes.
pub const STDERR_TAIL: usize = 4096;
/// How long a failed handshake waits for the command's exit status and last stderr.
const EXIT_GRACE: Duration = Duration::from_millis(300);
/// How long the command has to end on SIGTERM before SIGKILL.
const TERM_GRACE: Duration = Duration::from_millis(20);
/// Stack of a stderr drain thread (it only copies into the tail).
const DRAIN_STACK: usize = 64 * 1024;

/// The stream a session runs over: our end of the socketpair, and the command behind it.
pub struct ProxyStream {
    // Declared first: dropped (closed) before the command is ended.
    sock: UnixStream,
    _proxy: Arc<Proxy>,
}

impl AsRawFd for ProxyStream {
    fn as_raw_fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }
}

/// The last bytes of the command's stderr, and whether it reached end of file.
#[derive(Default)]
struct Tail {
    bytes: Vec<u8>,
    done: bool,
}

/// A running ProxyCommand; ended (process group) and reaped when the last owner drops it.
pub struct Proxy {
    child: Child,
    pid: Pid,
    tail: Arc<(Mutex<Tail>, Condvar)>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        // The child is not reaped yet, so its pid (the group's id) cannot have been reused.
        if exit_status(self.pid).is_none() {
            let _ = killpg(self.pid, Signal::SIGTERM);
            let until = Instant::now() + TERM_GRACE;
            while exit_status(self.pid).is_none() && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        // Whatever else of the group is left (a backgrounded reader, say), and the command
        // itself should it have left its group.
        let _ = killpg(self.pid, Signal::SIGKILL);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How the command ended, without reaping it (`None` while it runs).
fn exit_status(pid: Pid) -> Option<WaitStatus> {
    let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
    match waitid(Id::Pid(pid), flags) {
        Ok(WaitStatus::StillAlive) | Err(_) => None,
        Ok(status) => Some(status),
    }
}

/// Expands the tokens of `line` for the hop `name` with settings `conn`.
pub fn expand(line: &str, name: &str, conn: &ConnSettings) -> String {
    let local = crate::inventory::default_user();
    expand_tokens(
        line,
        &Tokens {
            host: &conn.address,
            original: name,
            port: conn.port,
            user: &conn.user,
            local_user: &local,
        },
    )
}

/// Starts `line` (already expanded) as OpenSSH does; returns the stream to handshake over.
pub fn spawn(line: &str) -> Result<(ProxyStream, Arc<Proxy>), SshError> {
    let fail = |what: &str, e: std::io::Error| {
        SshError::new(
            ErrorClass::Unreachable,
            format!("cannot start the ProxyCommand: {what}: {e}"),
        )
    };
    let shell = std::env::var_os("SHELL")
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "/bin/sh".into());
    let (ours, theirs) = UnixStream::pair().map_err(|e| fail("socketpair", e))?;
    let theirs_out = theirs.try_clone().map_err(|e| fail("socketpair", e))?;
    let mut child = Command::new(&shell)
        .arg("-c")
        .arg(format!("exec {line}"))
        .stdin(Stdio::from(OwnedFd::from(theirs)))
        .stdout(Stdio::from(OwnedFd::from(theirs_out)))
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|e| fail(&format!("shell {}", shell.to_string_lossy()), e))?;
    let pid = Pid::from_raw(child.id() as i32);
    let tail = Arc::new((Mutex::new(Tail::default()), Condvar::new()));
    if let Some(err) = child.stderr.take() {
        let t = tail.clone();
        let started = std::thread::Builder::new()
            .name("fleetdeck-proxy-err".into())
            .stack_size(DRAIN_STACK)
            .spawn(move || drain(err, &t));
        if started.is_err() {
            lock(&tail.0).done = true;
        }
    } else {
        lock(&tail.0).done = true;
    }
    let proxy = Arc::new(Proxy { child, pid, tail });
    Ok((
        ProxyStream {
            sock: ours,
            _proxy: proxy.clone(),
        },
        proxy,
    ))
}

/// Copies the command's stderr into the tail until end of file (the whole group gone).
fn drain(mut err: ChildStderr, tail: &(Mutex<Tail>, Condvar)) {
    let mut buf = [0u8; 1024];
    loop {
        match err.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let mut t = lock(&tail.0);
                t.bytes.extend_from_slice(&buf[..n]);
                let over = t.bytes.len().saturating_sub(STDERR_TAIL);
                t.bytes.drain(..over);
            }
        }
    }
    lock(&tail.0).done = true;
    tail.1.notify_all();
}

impl Proxy {
    /// The stderr tail as one safe line, once the command's stderr ended or `until` passed.
    fn stderr_line(&self, until: Instant) -> String {
        let (m, cv) = &*self.tail;
        let mut t = lock(m);
        while !t.done {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            t = cv
                .wait_timeout(t, left)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
        let text = String::from_utf8_lossy(&t.bytes);
        Clean::from(text.trim().to_string()).as_str().to_string()
    }

    /// Tells what became of the command when connecting over it failed with `e`: its exit
    /// status and stderr replace the session's error (a closed socket says nothing), a
    /// command still running adds its stderr to it.
    pub fn explain(&self, e: SshError, host: &str) -> SshError {
        if matches!(
            e.class,
            ErrorClass::Cancelled
                | ErrorClass::AuthFailed
                | ErrorClass::HostKeyChanged
                | ErrorClass::HostKeyUnknown
        ) {
            return e;
        }
        let grace = if e.class == ErrorClass::Timeout {
            Duration::ZERO
        } else {
            EXIT_GRACE
        };
        let until = Instant::now() + grace;
        let mut status = exit_status(self.pid);
        while status.is_none() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(5));
            status = exit_status(self.pid);
        }
        let ended = match status {
            Some(WaitStatus::Exited(_, code)) => format!("exited with status {code}"),
            Some(WaitStatus::Signaled(_, sig, _)) => format!("was killed by signal {sig}"),
            _ => {
                let err = self.stderr_line(Instant::now());
                let message = if err.is_empty() {
                    format!("{} (its ProxyCommand still runs)", e.message)
                } else {
                    format!("{} (its ProxyCommand still runs; stderr: {err})", e.message)
                };
                return SshError::new(e.class, message);
            }
        };
        let err = self.stderr_line(Instant::now() + EXIT_GRACE);
        let err = if err.is_empty() {
            "(no stderr)".to_string()
        } else {
            err
        };
        SshError::new(
            ErrorClass::Unreachable,
            format!(
                "ProxyCommand {ended}: {err}; check that the command, run by hand, connects \
                 its stdin and stdout to the host's SSH port (see `fleetdeck inventory \
                 --host {host}`)"
            ),
        )
    }
}

/// Connects to `conn` over its ProxyCommand `line`: every wait bounded by the connect
/// timeout, the command ended when the returned session (or the error) is dropped.
pub fn connect(
    host: &str,
    conn: &ConnSettings,
    line: &str,
    ctx: &ConnectContext<'_>,
) -> Result<Connection, SshError> {
    let deadline = Instant::now() + conn.connect_timeout;
    let (stream, proxy) = spawn(&expand(line, host, conn))?;
    let fd = stream.as_raw_fd();
    connect_stream(host, conn, stream, fd, deadline, ctx).map_err(|e| proxy.explain(e, host))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_expand_with_the_final_settings() {
        let conn = ConnSettings {
            address: "10.0.0.7".into(),
            port: 2222,
            user: "ops".into(),
            ..ConnSettings::default()
        };
        assert_eq!(
            expand("nc -x gw %h %p # %r@%n 100%%", "web1", &conn),
            "nc -x gw 10.0.0.7 2222 # ops@web1 100%"
        );
    }

    #[test]
    fn a_command_that_exits_is_explained_with_its_status_and_clean_stderr() {
        let (stream, proxy) =
            spawn("sh -c 'printf \"no route\\033[31m to gw\\n\" >&2; exit 3'").expect("spawn");
        let e = SshError::new(ErrorClass::Protocol, "SSH handshake: peer closed");
        let e = proxy.explain(e, "web1");
        assert_eq!(e.class, ErrorClass::Unreachable);
        assert!(
            e.message
                .starts_with("ProxyCommand exited with status 3: no route\u{FFFD}[31m to gw"),
            "{}",
            e.message
        );
        assert!(!e.message.contains('\x1b'), "{}", e.message);
        drop(stream);
        drop(proxy);
    }

    #[test]
    fn the_stderr_tail_is_bounded_and_the_group_is_reaped() {
        // Writes 20 KiB to stderr, then waits on a child of its own (same group).
        let (stream, proxy) =
            spawn("sh -c 'head -c 20000 /dev/zero | tr \"\\0\" x >&2; sleep 30 & wait'")
                .expect("spawn");
        let pid = proxy.pid;
        let line = proxy.stderr_line(Instant::now() + Duration::from_millis(300));
        assert!(
            line.len() <= STDERR_TAIL && line.len() > 1000,
            "{}",
            line.len()
        );
        assert!(
            group_members(pid.as_raw()).len() >= 2,
            "the shell and its sleep"
        );
        drop(stream);
        drop(proxy);
        // Reaped: the pid is no child of ours any more; nothing of its group runs.
        assert!(waitid(Id::Pid(pid), WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG).is_err());
        let until = Instant::now() + Duration::from_secs(2);
        while !group_members(pid.as_raw()).is_empty() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(group_members(pid.as_raw()), Vec::<i32>::new());
    }

    #[test]
    fn spawning_and_dropping_leaves_no_descriptor() {
        let count = || std::fs::read_dir("/proc/self/fd").expect("fds").count();
        let before = count();
        for _ in 0..40 {
            let (stream, proxy) = spawn("cat").expect("spawn");
            drop(stream);
            drop(proxy);
        }
        // Other tests open files meanwhile: a leak would be 40 or more.
        let after = count();
        assert!(after < before + 20, "{before} fds before, {after} after");
    }

    /// Live (not zombie) processes of process group `pgid`.
    fn group_members(pgid: i32) -> Vec<i32> {
        let mut out = Vec::new();
        for e in std::fs::read_dir("/proc").expect("/proc").flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
                continue;
            };
            // After the `(comm)`: state, ppid, pgrp.
            let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
            let f: Vec<&str> = rest.split_whitespace().collect();
            if f.len() > 2 && f[0] != "Z" && f[2] == pgid.to_string() {
                out.push(pid);
            }
        }
        out
    }
}
