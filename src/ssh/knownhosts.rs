//! OpenSSH known_hosts files, read the way OpenSSH reads them.
//!
//! libssh2's own reader stops at the first line it cannot parse, lets a plain `host` entry
//! match every port and drops comments when it writes, so fleetdeck parses the files itself:
//! line by line (a bad line is skipped, later lines still count), `[host]:port` for non-22
//! ports, hashed `|1|salt|hash` entries (HMAC-SHA1), wildcard and negated patterns, and
//! `@revoked` markers. New keys are appended as one whole line; the file is never rewritten.

use std::fmt::Write as _;
use std::fs;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::util::{lock, ssh_wildcard};

/// One known_hosts entry that names the host being checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownKey {
    pub file: PathBuf,
    /// 1-based line number.
    pub line: usize,
    /// Key type as written, e.g. `ssh-ed25519`.
    pub key_type: String,
    pub blob: Vec<u8>,
    pub revoked: bool,
}

/// The verdict on a host key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostKeyStatus {
    /// An entry holds exactly this key.
    Match,
    /// No entry names this host (or only `@revoked` ones for other keys).
    Unknown,
    /// An entry for this host holds another key: the old one is at `file:line`.
    Changed { file: PathBuf, line: usize },
    /// This key is marked `@revoked` at `file:line`.
    Revoked { file: PathBuf, line: usize },
}

/// The name OpenSSH looks up: `host` on port 22, `[host]:port` otherwise.
pub fn host_token(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_string()
    } else {
        format!("[{host}]:{port}")
    }
}

/// Every entry of `files` that names `host` on `port`, in file order. Missing files and lines
/// that do not parse are skipped.
pub fn lookup(files: &[PathBuf], host: &str, port: u16) -> Vec<KnownKey> {
    let token = host_token(host, port).to_ascii_lowercase();
    let mut found = Vec::new();
    for file in files {
        let Ok(text) = fs::read(file) else { continue };
        let text = String::from_utf8_lossy(&text);
        for (i, line) in text.lines().enumerate() {
            if let Some((revoked, key_type, blob)) = parse_line_for(line, &token) {
                found.push(KnownKey {
                    file: file.clone(),
                    line: i + 1,
                    key_type,
                    blob,
                    revoked,
                });
            }
        }
    }
    found
}

/// Parses one line; returns `(revoked, key type, key blob)` when it names `token`.
fn parse_line_for(line: &str, token: &str) -> Option<(bool, String, Vec<u8>)> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let mut fields = line.split_whitespace();
    let mut first = fields.next()?;
    let mut revoked = false;
    if let Some(marker) = first.strip_prefix('@') {
        match marker {
            "revoked" => revoked = true,
            // Certificate authorities sign host certificates, which fleetdeck does not use.
            _ => return None,
        }
        first = fields.next()?;
    }
    let key_type = fields.next()?;
    let blob = STANDARD.decode(fields.next()?).ok()?;
    if !host_field_matches(first, token) {
        return None;
    }
    Some((revoked, key_type.to_string(), blob))
}

/// Whether a known_hosts host field (hashed, or comma-separated patterns) names `token`.
fn host_field_matches(field: &str, token: &str) -> bool {
    if let Some(rest) = field.strip_prefix("|1|") {
        let Some((salt, hash)) = rest.split_once('|') else {
            return false;
        };
        let (Ok(salt), Ok(hash)) = (STANDARD.decode(salt), STANDARD.decode(hash)) else {
            return false;
        };
        let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(&salt) else {
            return false;
        };
        mac.update(token.as_bytes());
        return mac.verify_slice(&hash).is_ok();
    }
    let mut matched = false;
    for pattern in field.split(',') {
        let pattern = pattern.to_ascii_lowercase();
        if let Some(negated) = pattern.strip_prefix('!') {
            if ssh_wildcard(negated, token) {
                return false;
            }
        } else if ssh_wildcard(&pattern, token) {
            matched = true;
        }
    }
    matched
}

/// Judges the key the server presented against the entries for its host.
pub fn check(entries: &[KnownKey], blob: &[u8]) -> HostKeyStatus {
    if let Some(e) = entries.iter().find(|e| e.revoked && e.blob == blob) {
        return HostKeyStatus::Revoked {
            file: e.file.clone(),
            line: e.line,
        };
    }
    if entries.iter().any(|e| !e.revoked && e.blob == blob) {
        return HostKeyStatus::Match;
    }
    let presented = blob_key_type(blob);
    // Prefer naming an entry of the same type; any other key on record also means the host
    // is known with a different key.
    let old = entries
        .iter()
        .filter(|e| !e.revoked)
        .find(|e| Some(e.key_type.as_str()) == presented.as_deref())
        .or_else(|| entries.iter().find(|e| !e.revoked));
    match old {
        Some(e) => HostKeyStatus::Changed {
            file: e.file.clone(),
            line: e.line,
        },
        None => HostKeyStatus::Unknown,
    }
}

/// The key type named inside a public key blob (its first SSH string).
pub fn blob_key_type(blob: &[u8]) -> Option<String> {
    let len = u32::from_be_bytes(blob.get(..4)?.try_into().ok()?) as usize;
    let name = blob.get(4..4 + len)?;
    String::from_utf8(name.to_vec()).ok()
}

/// The key type as OpenSSH prints it in messages: `ED25519`, `ECDSA`, `RSA`, `DSA`.
pub fn short_type(key_type: &str) -> String {
    match key_type {
        "ssh-ed25519" => "ED25519".into(),
        "ssh-rsa" => "RSA".into(),
        "ssh-dss" => "DSA".into(),
        t if t.starts_with("ecdsa-") => "ECDSA".into(),
        t => t.to_ascii_uppercase(),
    }
}

/// The fingerprint as `ssh-keygen -lf` prints it: `SHA256:` and unpadded base64.
pub fn fingerprint_sha256(blob: &[u8]) -> String {
    format!("SHA256:{}", STANDARD_NO_PAD.encode(Sha256::digest(blob)))
}

/// Host key algorithms libssh2 can verify, for a key type written in known_hosts.
fn algorithms_for(key_type: &str) -> &'static [&'static str] {
    match key_type {
        "ssh-ed25519" => &["ssh-ed25519"],
        "ecdsa-sha2-nistp256" => &["ecdsa-sha2-nistp256"],
        "ecdsa-sha2-nistp384" => &["ecdsa-sha2-nistp384"],
        "ecdsa-sha2-nistp521" => &["ecdsa-sha2-nistp521"],
        "ssh-rsa" => &["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"],
        _ => &[],
    }
}

const DEFAULT_HOSTKEY_ALGORITHMS: &[&str] = &[
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "rsa-sha2-512",
    "rsa-sha2-256",
    "ssh-rsa",
];

/// The host key algorithm preference: types on record for this host first (so that a host
/// known only by its RSA key is checked against that key), then the rest.
pub fn hostkey_preference(entries: &[KnownKey]) -> String {
    let mut prefs: Vec<&str> = Vec::new();
    for e in entries.iter().filter(|e| !e.revoked) {
        for alg in algorithms_for(&e.key_type) {
            if !prefs.contains(alg) {
                prefs.push(alg);
            }
        }
    }
    for alg in DEFAULT_HOSTKEY_ALGORITHMS {
        if !prefs.contains(alg) {
            prefs.push(alg);
        }
    }
    prefs.join(",")
}

/// Serialises appends from all worker threads of this process.
static APPEND_LOCK: Mutex<()> = Mutex::new(());

/// Appends `token key_type base64` to `file` as one whole line (creating it 0600), after a
/// newline if the file does not end with one. Never rewrites existing content.
pub fn append(file: &Path, host: &str, port: u16, blob: &[u8]) -> io::Result<()> {
    let key_type = blob_key_type(blob)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "malformed host key blob"))?;
    let _guard = lock(&APPEND_LOCK);
    let mut f = crate::paths::open_private_append(file)?;
    let mut line = String::new();
    let len = f.metadata()?.len();
    if len > 0 {
        let mut r = fs::File::open(file)?;
        r.seek(SeekFrom::Start(len - 1))?;
        let mut last = [0u8; 1];
        r.read_exact(&mut last)?;
        if last[0] != b'\n' {
            line.push('\n');
        }
    }
    let _ = writeln!(
        line,
        "{} {} {}",
        host_token(host, port),
        key_type,
        STANDARD.encode(blob)
    );
    f.write_all(line.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob(kind: &str, body: &[u8]) -> Vec<u8> {
        let mut b = (kind.len() as u32).to_be_bytes().to_vec();
        b.extend_from_slice(kind.as_bytes());
        b.extend_from_slice(body);
        b
    }

    fn hashed(token: &str, salt: &[u8]) -> String {
        let mut mac = Hmac::<Sha1>::new_from_slice(salt).expect("any key length");
        mac.update(token.as_bytes());
        format!(
            "|1|{}|{}",
            STANDARD.encode(salt),
            STANDARD.encode(mac.finalize().into_bytes())
        )
    }

    #[test]
    fn plain_entry_matches_port_22_only_and_bad_lines_are_skipped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("kh");
        let k = blob("ssh-ed25519", b"AAAA");
        let line = format!("example.org ssh-ed25519 {}", STANDARD.encode(&k));
        fs::write(&f, format!("garbage line\n# comment\n{line}\n")).expect("write");
        let files = vec![f.clone()];
        let e = lookup(&files, "example.org", 22);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].line, 3);
        assert_eq!(check(&e, &k), HostKeyStatus::Match);
        assert!(lookup(&files, "example.org", 2222).is_empty());
    }

    #[test]
    fn bracketed_hashed_and_wildcard_entries() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("kh");
        let k = blob("ssh-ed25519", b"key1");
        let other = blob("ssh-ed25519", b"key2");
        let b64 = STANDARD.encode(&k);
        fs::write(
            &f,
            format!(
                "[127.0.0.1]:2201 ssh-ed25519 {b64}\n{} ssh-ed25519 {b64}\n*.web,!bad.web ssh-ed25519 {b64}\n",
                hashed("[10.0.0.5]:2222", b"salt-salt-salt-salt!")
            ),
        )
        .expect("write");
        let files = vec![f];
        assert_eq!(
            check(&lookup(&files, "127.0.0.1", 2201), &k),
            HostKeyStatus::Match
        );
        assert_eq!(lookup(&files, "127.0.0.1", 2202), vec![]);
        assert_eq!(
            check(&lookup(&files, "10.0.0.5", 2222), &k),
            HostKeyStatus::Match
        );
        assert!(lookup(&files, "10.0.0.5", 22).is_empty());
        assert_eq!(lookup(&files, "a.web", 22).len(), 1);
        assert!(lookup(&files, "bad.web", 22).is_empty());
        match check(&lookup(&files, "127.0.0.1", 2201), &other) {
            HostKeyStatus::Changed { line, .. } => assert_eq!(line, 1),
            s => panic!("expected changed, got {s:?}"),
        }
    }

    #[test]
    fn append_adds_a_line_and_keeps_content() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("kh");
        fs::write(&f, "# my notes, no newline").expect("write");
        let k = blob("ssh-ed25519", b"k");
        append(&f, "127.0.0.1", 2201, &k).expect("append");
        let text = fs::read_to_string(&f).expect("read");
        assert!(text.starts_with("# my notes, no newline\n[127.0.0.1]:2201 ssh-ed25519 "));
        assert_eq!(
            check(&lookup(&[f], "127.0.0.1", 2201), &k),
            HostKeyStatus::Match
        );
    }

    #[test]
    fn fingerprint_format() {
        let fp = fingerprint_sha256(b"abc");
        assert!(fp.starts_with("SHA256:"));
        assert!(!fp.ends_with('='));
        assert_eq!(fp.len(), 7 + 43);
    }
}
