//! Opening an authenticated session: TCP (with nodelay), handshake, host key check, auth.
//! Everything is bounded by the host's connect timeout and the cancel flag.

use std::collections::HashSet;
use std::io;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::os::unix::io::{AsRawFd, RawFd};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ssh2::{MethodType, Session};

use super::auth::{authenticate, AuthCache, AuthContext};
use super::hostcheck::HostCheck;
use super::knownhosts::{self, HostKeyStatus};
use super::{SshError, Waiter};
use crate::contract::{ErrorClass, HostKeyAnswer, HostKeyPolicy, HostKeyQuestion, Prompter};
use crate::inventory::ConnSettings;
use crate::util::lock;

/// Keys the operator accepted for this process only: `(host, port, key blob)`.
pub type AcceptedKeys = Mutex<HashSet<(String, u16, Vec<u8>)>>;

/// What a connection needs besides the target.
pub struct ConnectContext<'a> {
    pub known_hosts: &'a [PathBuf],
    pub policy: HostKeyPolicy,
    pub prompter: &'a dyn Prompter,
    pub auth_cache: &'a AuthCache,
    pub accepted: &'a AcceptedKeys,
    pub home: Option<PathBuf>,
    pub cancel: Option<&'a AtomicBool>,
}

/// An authenticated session and its socket, left in non-blocking mode.
pub struct Connection {
    pub sess: Session,
    pub fd: RawFd,
    /// Things worth telling the operator (e.g. a host key was added), never secrets.
    pub notes: Vec<String>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("fd", &self.fd)
            .finish_non_exhaustive()
    }
}

/// Classifies a failed TCP connect.
pub fn classify_io(e: &io::Error, addr: &str) -> SshError {
    let class = match e.kind() {
        io::ErrorKind::ConnectionRefused => ErrorClass::Refused,
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => ErrorClass::Timeout,
        _ => ErrorClass::Unreachable,
    };
    let what = match class {
        ErrorClass::Refused => "connection refused",
        ErrorClass::Timeout => "TCP connect timed out",
        _ => "cannot connect",
    };
    SshError::new(class, format!("{what}: {addr}: {e}"))
}

fn display_addr(address: &str, port: u16) -> String {
    if address.contains(':') {
        format!("[{address}]:{port}")
    } else {
        format!("{address}:{port}")
    }
}

/// Opens a TCP connection to the first address of `conn` that answers, within `deadline`.
/// `on_attempt` is called for every connect attempt (for statistics).
pub fn tcp_connect(
    conn: &ConnSettings,
    deadline: Instant,
    on_attempt: &mut dyn FnMut(),
) -> Result<TcpStream, SshError> {
    let shown = display_addr(&conn.address, conn.port);
    let addrs: Vec<SocketAddr> = (conn.address.as_str(), conn.port)
        .to_socket_addrs()
        .map_err(|e| {
            SshError::new(
                ErrorClass::Unreachable,
                format!("cannot resolve {shown}: {e}"),
            )
        })?
        .collect();
    if addrs.is_empty() {
        return Err(SshError::new(
            ErrorClass::Unreachable,
            format!("{shown} resolves to no address"),
        ));
    }
    let mut last = None;
    for addr in addrs {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        on_attempt();
        match TcpStream::connect_timeout(&addr, left) {
            Ok(s) => {
                s.set_nodelay(true).map_err(|e| {
                    SshError::new(ErrorClass::Protocol, format!("{shown}: set_nodelay: {e}"))
                })?;
                return Ok(s);
            }
            Err(e) => last = Some(classify_io(&e, &shown)),
        }
    }
    Err(last.unwrap_or_else(|| {
        SshError::new(
            ErrorClass::Timeout,
            format!(
                "{shown}: connect timeout of {}s passed",
                conn.connect_timeout.as_secs_f64()
            ),
        )
    }))
}

/// Connects, verifies the host key and authenticates. `host` is the inventory name. A host
/// with a `ProxyCommand` is reached over that command's stdio ([`super::proxy`]).
pub fn connect(
    host: &str,
    conn: &ConnSettings,
    ctx: &ConnectContext<'_>,
    on_attempt: &mut dyn FnMut(),
) -> Result<Connection, SshError> {
    if let Some(line) = &conn.proxy_command {
        on_attempt();
        return super::proxy::connect(host, conn, line, ctx);
    }
    let deadline = Instant::now() + conn.connect_timeout;
    let tcp = tcp_connect(conn, deadline, on_attempt)?;
    let fd = tcp.as_raw_fd();
    connect_stream(host, conn, tcp, fd, deadline, ctx)
}

/// Runs SSH over an already connected byte stream (a TCP socket, or one end of a socketpair
/// fed by a jump host's `direct-tcpip` channel): handshake, host key, auth.
pub fn connect_stream<S: AsRawFd + 'static>(
    host: &str,
    conn: &ConnSettings,
    stream: S,
    fd: RawFd,
    deadline: Instant,
    ctx: &ConnectContext<'_>,
) -> Result<Connection, SshError> {
    let tcp = stream;
    let mut sess = Session::new().map_err(|e| {
        SshError::new(
            ErrorClass::Protocol,
            format!("cannot create a session: {e}"),
        )
    })?;
    sess.set_tcp_stream(tcp);
    sess.set_blocking(false);
    // Blocking calls made later (transfers, closing) are bounded by this.
    sess.set_timeout(
        u32::try_from(conn.connect_timeout.as_millis())
            .unwrap_or(u32::MAX)
            .max(1),
    );

    let check = HostCheck::for_host(conn, ctx.known_hosts, ctx.policy);
    let known = knownhosts::Known::lookup(&check.files, &check.name, check.port);
    let pref = knownhosts::hostkey_preference(&known.entries);
    let _ = sess.method_pref(MethodType::HostKey, &pref);

    let w = Waiter::new(fd, ctx.cancel);
    w.set_deadline(
        Some(deadline.saturating_duration_since(Instant::now())),
        "connect timeout",
    );
    let shown = display_addr(&conn.address, conn.port);
    // `Session` is a shared handle: the clone drives the handshake of the same session.
    let mut hs = sess.clone();
    w.retry(&sess, &format!("SSH handshake with {shown}"), || {
        hs.handshake()
    })?;
    drop(hs);

    let mut notes = Vec::new();
    let asked_at = Instant::now();
    verify_host_key(&sess, (host, conn), &known, &check, ctx, &mut notes)?;
    if check.policy == HostKeyPolicy::Ask {
        // Time the operator spent answering does not count against the connection.
        let left = deadline.saturating_duration_since(asked_at);
        w.set_deadline(
            Some(left.max(Duration::from_millis(500))),
            "connect timeout",
        );
    }

    let auth = AuthContext {
        prompter: ctx.prompter,
        cache: ctx.auth_cache,
        home: ctx.home.clone(),
        host,
    };
    authenticate(&sess, &w, conn, &auth)?;
    Ok(Connection { sess, fd, notes })
}

/// The server's host key, in the forms messages use.
struct ShownKey {
    blob: Vec<u8>,
    /// `ed25519`, `rsa`, …
    short: String,
    fp: String,
    /// `host` or `[host]:port`, as known_hosts writes it.
    token: String,
}

/// Checks the server's host key against known_hosts, then against the policy when unknown.
fn verify_host_key(
    sess: &Session,
    (host, conn): (&str, &ConnSettings),
    known: &knownhosts::Known,
    check: &HostCheck<'_>,
    ctx: &ConnectContext<'_>,
    notes: &mut Vec<String>,
) -> Result<(), SshError> {
    let Some((blob, _)) = sess.host_key() else {
        return Err(SshError::new(
            ErrorClass::Protocol,
            "the server sent no host key",
        ));
    };
    let blob = blob.to_vec();
    let key_type = knownhosts::blob_key_type(&blob).unwrap_or_else(|| "unknown".into());
    let key = ShownKey {
        fp: knownhosts::fingerprint_sha256(&blob),
        token: knownhosts::host_token(&check.name, check.port),
        short: knownhosts::short_type(&key_type),
        blob,
    };
    let ShownKey {
        short, fp, token, ..
    } = &key;
    match known.check(&check.files, &check.name, check.port, &key.blob) {
        HostKeyStatus::Match => Ok(()),
        HostKeyStatus::Changed { file, line } => Err(SshError::new(
            ErrorClass::HostKeyChanged,
            format!(
                "host key for {token} has CHANGED (now {short} {fp}); the key on record is at {}:{line}. \
                 Refusing to connect: this may be an attack. Remove that line if the change is expected.",
                file.display()
            ),
        )),
        HostKeyStatus::Revoked { file, line } => Err(SshError::new(
            ErrorClass::HostKeyChanged,
            format!("host key for {token} ({short} {fp}) is marked @revoked at {}:{line}", file.display()),
        )),
        HostKeyStatus::CertAuthority { file, line } => Err(SshError::new(
            ErrorClass::HostKeyUnknown,
            knownhosts::cert_authority_message(&key.token, &file, line),
        )),
        HostKeyStatus::Unknown => unknown_host_key((host, conn), check, ctx, &key, notes),
    }
}

/// A key known_hosts does not have: accepted earlier in this process, or as the policy (and
/// maybe the operator) decides.
fn unknown_host_key(
    (host, conn): (&str, &ConnSettings),
    check: &HostCheck<'_>,
    ctx: &ConnectContext<'_>,
    key: &ShownKey,
    notes: &mut Vec<String>,
) -> Result<(), SshError> {
    let ShownKey {
        short, fp, token, ..
    } = key;
    let accepted_key = (conn.address.clone(), conn.port, key.blob.clone());
    if lock(ctx.accepted).contains(&accepted_key) {
        return Ok(());
    }
    let remember = || {
        lock(ctx.accepted).insert(accepted_key.clone());
    };
    match check.policy {
        HostKeyPolicy::AcceptNew => {
            save_host_key(host, check, key, notes)?;
            remember();
            Ok(())
        }
        HostKeyPolicy::Ask => {
            let q = HostKeyQuestion {
                host: Arc::from(host),
                address: conn.address.clone(),
                port: conn.port,
                key_type: short.clone(),
                fingerprint: fp.clone(),
            };
            match ctx.prompter.host_key(&q) {
                HostKeyAnswer::AcceptOnce => {
                    remember();
                    Ok(())
                }
                HostKeyAnswer::AcceptAndSave => {
                    save_host_key(host, check, key, notes)?;
                    remember();
                    Ok(())
                }
                HostKeyAnswer::Reject => Err(SshError::new(
                    ErrorClass::HostKeyUnknown,
                    format!("host key for {token} ({short} {fp}) was rejected by the operator"),
                )),
            }
        }
        HostKeyPolicy::Strict => {
            let files: Vec<String> = check
                .files
                .iter()
                .map(|f| f.display().to_string())
                .collect();
            let why = if conn.options.strict_host_key_checking.is_some() {
                "the host's StrictHostKeyChecking is yes"
            } else {
                "policy is strict (use accept-new or ask to trust it)"
            };
            Err(SshError::new(
                ErrorClass::HostKeyUnknown,
                format!(
                    "host key for {token} ({short} {fp}) is not in known_hosts ({}); {why}",
                    if files.is_empty() {
                        "no files given".to_string()
                    } else {
                        files.join(", ")
                    }
                ),
            ))
        }
    }
}

/// Appends the key to the host's user known_hosts file (if any), noting it for the operator.
fn save_host_key(
    host: &str,
    check: &HostCheck<'_>,
    key: &ShownKey,
    notes: &mut Vec<String>,
) -> Result<(), SshError> {
    let ShownKey {
        short, fp, token, ..
    } = key;
    let Some(file) = &check.write else {
        notes.push(format!(
            "{host}: {short} host key {fp} for {token} trusted for this run only \
             (no user known_hosts file to record it in)"
        ));
        return Ok(());
    };
    knownhosts::append(file, &check.name, check.port, &key.blob).map_err(|e| {
        SshError::new(
            ErrorClass::HostKeyUnknown,
            format!(
                "cannot record the host key of {token} in {}: {e}",
                file.display()
            ),
        )
    })?;
    notes.push(format!(
        "{host}: added {short} host key {fp} for {token} to {}",
        file.display()
    ));
    Ok(())
}

/// Interval for `Session::set_keepalive`, in whole seconds (at least 1).
pub fn keepalive_secs(d: Duration) -> u32 {
    u32::try_from(d.as_secs()).unwrap_or(u32::MAX).max(1)
}
