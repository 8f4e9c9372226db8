//! User authentication: ssh-agent (every identity), identity files (with passphrases asked
//! once per file), then password and keyboard-interactive (asked once per user). Secrets are
//! kept in memory only and never appear in a message.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ssh2::{KeyboardInteractivePrompt, Prompt, Session};

use super::signer::{self, Decoded, KeyCache};
use super::{SshError, Waiter};
use crate::contract::{ErrorClass, Prompter, Secret, SecretKind};
use crate::inventory::ConnSettings;
use crate::util::lock;

/// Secrets the operator gave, shared by every worker of one engine. `None` remembers that the
/// operator declined (or the secret was wrong), so nobody asks again.
#[derive(Default)]
pub struct AuthCache {
    passphrases: Mutex<HashMap<PathBuf, Option<Secret>>>,
    passwords: Mutex<HashMap<String, Option<Secret>>>,
    /// Held while asking, so that concurrent workers ask one question at a time and the others
    /// then find the answer in the cache.
    asking: Mutex<()>,
    /// Ed25519 identity files, decoded (and decrypted) once.
    keys: KeyCache,
}

impl std::fmt::Debug for AuthCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuthCache(***)")
    }
}

impl AuthCache {
    fn cached_or_ask<K: std::hash::Hash + Eq + Clone>(
        map: &Mutex<HashMap<K, Option<Secret>>>,
        asking: &Mutex<()>,
        key: &K,
        ask: impl FnOnce() -> Option<Secret>,
    ) -> Option<Secret> {
        if let Some(v) = lock(map).get(key) {
            return v.clone();
        }
        let _asking = lock(asking);
        if let Some(v) = lock(map).get(key) {
            return v.clone();
        }
        let answer = ask();
        lock(map).insert(key.clone(), answer.clone());
        answer
    }

    fn forget_passphrase(&self, key: &Path) {
        lock(&self.passphrases).insert(key.to_path_buf(), None);
    }
}

/// Everything authentication needs besides the session.
pub struct AuthContext<'a> {
    pub prompter: &'a dyn Prompter,
    pub cache: &'a AuthCache,
    /// The operator's home from the passwd database (as OpenSSH uses), for `~/.ssh/id_*`.
    pub home: Option<PathBuf>,
    /// Host name for prompts.
    pub host: &'a str,
}

/// Identity files to try: the configured ones, then the usual defaults that exist.
pub fn identity_candidates(conn: &ConnSettings, home: Option<&Path>) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    let defaults = home.into_iter().flat_map(|h| {
        ["id_ed25519", "id_ecdsa", "id_rsa"]
            .into_iter()
            .map(move |n| h.join(".ssh").join(n))
    });
    for p in conn.identity_files.iter().cloned().chain(defaults) {
        if p.is_file() && !out.contains(&p) {
            out.push(p);
        }
    }
    out
}

/// Whether a private key file is protected by a passphrase (OpenSSH or PEM format).
pub fn key_is_encrypted(path: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(path) else {
        return false;
    };
    if text.contains("ENCRYPTED") {
        return true;
    }
    let Some(body) = text
        .split("-----BEGIN OPENSSH PRIVATE KEY-----")
        .nth(1)
        .and_then(|r| r.split("-----END").next())
    else {
        return false;
    };
    let b64: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    let Ok(raw) = STANDARD.decode(b64) else {
        return false;
    };
    let magic = b"openssh-key-v1\0";
    let Some(rest) = raw.strip_prefix(magic.as_slice()) else {
        return false;
    };
    let Some(len) = rest
        .get(..4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
    else {
        return false;
    };
    rest.get(4..4 + len).is_some_and(|cipher| cipher != b"none")
}

struct Kbd<'a>(&'a str);

impl KeyboardInteractivePrompt for Kbd<'_> {
    fn prompt(&mut self, _user: &str, _instructions: &str, prompts: &[Prompt<'_>]) -> Vec<String> {
        prompts.iter().map(|_| self.0.to_string()).collect()
    }
}

fn is_auth_rejection(e: &SshError) -> bool {
    e.class == ErrorClass::AuthFailed
}

/// Authenticates `conn.user` on `sess`. Transport errors, timeouts and cancellation end it at
/// once; rejected credentials move on to the next method.
pub fn authenticate(
    sess: &Session,
    w: &Waiter<'_>,
    conn: &ConnSettings,
    ctx: &AuthContext<'_>,
) -> Result<(), SshError> {
    let user = conn.user.as_str();
    let methods = w.retry(sess, "asking the server's auth methods", || {
        sess.auth_methods(user).map(str::to_owned)
    });
    let methods = match methods {
        Ok(m) => m,
        Err(e) if sess.authenticated() => {
            let _ = e;
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    if sess.authenticated() {
        return Ok(());
    }
    let mut tried: Vec<String> = Vec::new();
    if offers(&methods, "publickey") && try_publickey(sess, w, conn, ctx, &mut tried)? {
        return Ok(());
    }
    if try_password(sess, w, conn, ctx, &methods, &mut tried)? {
        return Ok(());
    }
    if sess.authenticated() {
        return Ok(());
    }
    let tried = if tried.is_empty() {
        "nothing usable".to_string()
    } else {
        tried.join(", ")
    };
    Err(SshError::new(
        ErrorClass::AuthFailed,
        format!(
            "authentication failed for {user}@{}:{} (server offers: {methods}; tried: {tried})",
            conn.address, conn.port
        ),
    ))
}

/// Whether the server's comma-separated `methods` include `method`.
fn offers(methods: &str, method: &str) -> bool {
    methods.split(',').any(|x| x == method)
}

/// The agent's identities (unless `IdentitiesOnly yes`), then every identity file; true once
/// authenticated. What was tried and rejected is added to `tried`.
fn try_publickey(
    sess: &Session,
    w: &Waiter<'_>,
    conn: &ConnSettings,
    ctx: &AuthContext<'_>,
    tried: &mut Vec<String>,
) -> Result<bool, SshError> {
    let user = conn.user.as_str();
    // `IdentitiesOnly yes`: no agent key at all (OpenSSH would still offer an agent key that
    // matches an IdentityFile's public key; fleetdeck then reads the file itself).
    let agent = conn.options.identities_only != Some(true);
    if agent && std::env::var_os("SSH_AUTH_SOCK").is_some_and(|s| !s.is_empty()) {
        match try_agent(sess, w, user) {
            Ok(Some(_)) if sess.authenticated() => return Ok(true),
            Ok(Some(n)) => tried.push(format!("agent ({n} keys)")),
            Ok(None) => tried.push("agent (unavailable)".into()),
            Err(e) if is_auth_rejection(&e) => tried.push("agent".into()),
            Err(e) => return Err(e),
        }
    }
    // A configured key file missing on this machine is reported for the host it was for.
    for p in conn.identity_files.iter().filter(|p| !p.is_file()) {
        tried.push(format!("{} (not found)", p.display()));
    }
    for key in identity_candidates(conn, ctx.home.as_deref()) {
        if try_key_file(sess, w, conn, ctx, &key, tried)? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// One identity file, asking for its passphrase (once per file) when it is encrypted.
fn try_key_file(
    sess: &Session,
    w: &Waiter<'_>,
    conn: &ConnSettings,
    ctx: &AuthContext<'_>,
    key: &Path,
    tried: &mut Vec<String>,
) -> Result<bool, SshError> {
    let user = conn.user.as_str();
    if let Some(id) = ctx.cache.keys.ready(key) {
        return signed_auth(sess, w, user, &id, key, tried);
    }
    let passphrase = if key_is_encrypted(key) {
        let kind = SecretKind::Passphrase {
            key_file: key.to_path_buf(),
        };
        let prompt = format!("Passphrase for key {}: ", key.display());
        let p = AuthCache::cached_or_ask(
            &ctx.cache.passphrases,
            &ctx.cache.asking,
            &key.to_path_buf(),
            || ctx.prompter.secret(&kind, &prompt),
        );
        // Time spent waiting for the operator does not count against the connection.
        w.set_deadline(Some(conn.connect_timeout), "connect timeout");
        if p.is_none() {
            tried.push(format!("{} (encrypted, no passphrase)", key.display()));
            return Ok(false);
        }
        p
    } else {
        None
    };
    match ctx
        .cache
        .keys
        .decode(key, passphrase.as_ref().map(Secret::expose))
    {
        Decoded::Ready(id) => return signed_auth(sess, w, user, &id, key, tried),
        Decoded::WrongPassphrase => {
            ctx.cache.forget_passphrase(key);
            tried.push(format!("{} (wrong passphrase)", key.display()));
            return Ok(false);
        }
        Decoded::Other => {}
    }
    let r = w.retry(sess, "public key authentication", || {
        sess.userauth_pubkey_file(user, None, key, passphrase.as_ref().map(Secret::expose))
    });
    match r {
        Ok(()) if sess.authenticated() => return Ok(true),
        Ok(()) => tried.push(key.display().to_string()),
        Err(e) if is_auth_rejection(&e) => tried.push(key.display().to_string()),
        Err(e) if e.class == ErrorClass::Protocol && e.message.contains("error -16") => {
            // -16 (LIBSSH2_ERROR_FILE): unreadable key or wrong passphrase.
            if passphrase.is_some() {
                ctx.cache.forget_passphrase(key);
                tried.push(format!("{} (wrong passphrase)", key.display()));
            } else {
                tried.push(format!("{} (unreadable)", key.display()));
            }
        }
        Err(e) => return Err(e),
    }
    Ok(false)
}

/// Public key authentication with a decoded ed25519 identity (signed in Rust).
fn signed_auth(
    sess: &Session,
    w: &Waiter<'_>,
    user: &str,
    id: &signer::Ed25519Identity,
    key: &Path,
    tried: &mut Vec<String>,
) -> Result<bool, SshError> {
    match signer::authenticate(sess, w, user, id) {
        Ok(()) if sess.authenticated() => Ok(true),
        Ok(()) => {
            tried.push(key.display().to_string());
            Ok(false)
        }
        Err(e) if is_auth_rejection(&e) => {
            tried.push(key.display().to_string());
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// Password, then keyboard-interactive with the same password (asked once per user); true
/// once authenticated.
fn try_password(
    sess: &Session,
    w: &Waiter<'_>,
    conn: &ConnSettings,
    ctx: &AuthContext<'_>,
    methods: &str,
    tried: &mut Vec<String>,
) -> Result<bool, SshError> {
    let user = conn.user.as_str();
    let password_ok = offers(methods, "password");
    let kbd_ok = offers(methods, "keyboard-interactive");
    if !(password_ok || kbd_ok) {
        return Ok(false);
    }
    let kind = SecretKind::Password {
        user: user.to_string(),
    };
    let prompt = format!(
        "Password for {user} (asked once, used for every host as {user}; {}): ",
        ctx.host
    );
    let pw = AuthCache::cached_or_ask(
        &ctx.cache.passwords,
        &ctx.cache.asking,
        &user.to_string(),
        || ctx.prompter.secret(&kind, &prompt),
    );
    w.set_deadline(Some(conn.connect_timeout), "connect timeout");
    let Some(pw) = pw else {
        tried.push("password (none given)".into());
        return Ok(false);
    };
    if password_ok {
        match w.retry(sess, "password authentication", || {
            sess.userauth_password(user, pw.expose())
        }) {
            Ok(()) if sess.authenticated() => return Ok(true),
            Ok(()) => tried.push("password".into()),
            Err(e) if is_auth_rejection(&e) => tried.push("password".into()),
            Err(e) => return Err(e),
        }
    }
    if kbd_ok && !sess.authenticated() {
        let mut prompt = Kbd(pw.expose());
        match w.retry(sess, "keyboard-interactive authentication", || {
            sess.userauth_keyboard_interactive(user, &mut prompt)
        }) {
            Ok(()) if sess.authenticated() => return Ok(true),
            Ok(()) => tried.push("keyboard-interactive".into()),
            Err(e) if is_auth_rejection(&e) => {
                tried.push("keyboard-interactive".into());
            }
            Err(e) => return Err(e),
        }
    }
    Ok(false)
}

/// Tries every identity of the agent. `Ok(None)`: no agent reachable; `Ok(Some(n))`: n tried.
fn try_agent(sess: &Session, w: &Waiter<'_>, user: &str) -> Result<Option<usize>, SshError> {
    let Ok(mut agent) = sess.agent() else {
        return Ok(None);
    };
    if agent.connect().is_err() || agent.list_identities().is_err() {
        return Ok(None);
    }
    let Ok(ids) = agent.identities() else {
        return Ok(None);
    };
    let mut n = 0;
    for id in &ids {
        n += 1;
        match w.retry(sess, "agent authentication", || agent.userauth(user, id)) {
            Ok(()) if sess.authenticated() => break,
            Ok(()) => {}
            Err(e) if is_auth_rejection(&e) => {}
            Err(e) => {
                let _ = agent.disconnect();
                return Err(e);
            }
        }
    }
    let _ = agent.disconnect();
    Ok(Some(n))
}
