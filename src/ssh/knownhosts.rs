//! OpenSSH known_hosts files, read the way OpenSSH reads them.
//!
//! libssh2's own reader stops at the first line it cannot parse, lets a plain `host` entry
//! match every port and drops comments when it writes, so fleetdeck parses the files itself:
//! line by line (a bad line is skipped, later lines still count), `[host]:port` for non-22
//! ports, hashed `|1|salt|hash` entries (HMAC-SHA1), wildcard and negated patterns, and
//! `@revoked` and `@cert-authority` markers. New keys are appended as one whole line; the file
//! is never rewritten. Each file is read once per process and indexed by host (see
//! [`index`]), and read again only when it changed on disk.
//!
//! Every file given is consulted, as OpenSSH consults its user and global files together: a
//! key on record for the host in *any* of them, other than the presented one, means the key
//! changed (an entry missing from another file does not make it unknown). Host certificates
//! are not verified: a host covered only by a `@cert-authority` line is reported as such, so
//! that no policy records its plain key as if the host were new.

use std::fmt::Write as _;
use std::fs;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::util::lock;

mod index;

pub use self::index::{lookup, lookup_unhashed, reads, revoked_anywhere};

/// One known_hosts entry that names the host being checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownKey {
    pub file: PathBuf,
    /// 1-based line number.
    pub line: usize,
    /// Key type as written, e.g. `ssh-ed25519`.
    pub key_type: String,
    pub blob: Vec<u8>,
    pub marker: Marker,
}

/// The marker a known_hosts line starts with, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    /// A plain entry: this is the host's key.
    None,
    /// `@revoked`: this key must never be accepted.
    Revoked,
    /// `@cert-authority`: this is a CA's key that signs the host's certificates.
    CertAuthority,
}

/// The verdict on a host key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostKeyStatus {
    /// An entry holds exactly this key.
    Match,
    /// No entry names this host (or only `@revoked` ones for other keys).
    Unknown,
    /// No plain entry names this host, but a `@cert-authority` line at `file:line` covers it:
    /// the host is meant to present a certificate, which fleetdeck does not verify.
    CertAuthority { file: PathBuf, line: usize },
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

/// What known_hosts says of one host before its key is seen, found as cheaply as it can be.
///
/// A plain entry holding the presented key decides (as in OpenSSH, a matching entry wins over
/// any other entry for the host) unless that key is `@revoked` somewhere, so the hashed lines,
/// one keyed hash each, are hashed only when the plain entries do not decide: when they name
/// the host not at all (the hashed ones then give the host key preference) or with another
/// key.
#[derive(Debug, Clone)]
pub struct Known {
    /// The entries found so far, in file order.
    pub entries: Vec<KnownKey>,
    /// Whether the hashed lines were searched too.
    complete: bool,
}

impl Known {
    /// The entries of `files` for `host` on `port`: the plain ones, or every one when no plain
    /// entry names the host.
    pub fn lookup(files: &[PathBuf], host: &str, port: u16) -> Known {
        let entries = lookup_unhashed(files, host, port);
        if entries.iter().any(|e| e.marker == Marker::None) {
            return Known {
                entries,
                complete: false,
            };
        }
        Known {
            entries: lookup(files, host, port),
            complete: true,
        }
    }

    /// Judges `blob` as [`check`] judges it against every entry of `files` for the host.
    pub fn check(&self, files: &[PathBuf], host: &str, port: u16, blob: &[u8]) -> HostKeyStatus {
        let status = check(&self.entries, blob);
        if self.complete || (status == HostKeyStatus::Match && !revoked_anywhere(files, blob)) {
            return status;
        }
        check(&lookup(files, host, port), blob)
    }
}

/// Judges the key the server presented against the entries for its host, from every
/// consulted file: `@revoked` for this key first, then a plain entry holding it, then any
/// other plain key on record (changed), then a `@cert-authority` line covering the host.
pub fn check(entries: &[KnownKey], blob: &[u8]) -> HostKeyStatus {
    let marked = |m: Marker| entries.iter().filter(move |e| e.marker == m);
    if let Some(e) = marked(Marker::Revoked).find(|e| e.blob == blob) {
        return HostKeyStatus::Revoked {
            file: e.file.clone(),
            line: e.line,
        };
    }
    if marked(Marker::None).any(|e| e.blob == blob) {
        return HostKeyStatus::Match;
    }
    let presented = blob_key_type(blob);
    // Prefer naming an entry of the same type; any other key on record also means the host
    // is known with a different key.
    let old = marked(Marker::None)
        .find(|e| Some(e.key_type.as_str()) == presented.as_deref())
        .or_else(|| marked(Marker::None).next());
    if let Some(e) = old {
        return HostKeyStatus::Changed {
            file: e.file.clone(),
            line: e.line,
        };
    }
    match marked(Marker::CertAuthority).next() {
        Some(e) => HostKeyStatus::CertAuthority {
            file: e.file.clone(),
            line: e.line,
        },
        None => HostKeyStatus::Unknown,
    }
}

/// Why a host covered by a `@cert-authority` line at `file:line` is refused.
pub fn cert_authority_message(token: &str, file: &Path, line: usize) -> String {
    format!(
        "host key for {token} is not in known_hosts, but the @cert-authority line at {}:{line} \
         covers this host: it is meant to present a host certificate, and fleetdeck does not \
         support host certificates. Refusing to connect (no policy records this key); add the \
         host's plain key to known_hosts to connect.",
        file.display()
    )
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
    for e in entries.iter().filter(|e| e.marker == Marker::None) {
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
    use hmac::{Hmac, Mac};
    use sha1::Sha1;

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

    fn line(host: &str, k: &[u8]) -> String {
        format!(
            "{host} {} {}\n",
            blob_key_type(k).expect("type"),
            STANDARD.encode(k)
        )
    }

    #[test]
    fn a_different_key_in_any_file_is_changed_even_if_another_has_none() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (user, global, inv) = (
            dir.path().join("u"),
            dir.path().join("g"),
            dir.path().join("i"),
        );
        let presented = blob("ssh-ed25519", b"new");
        let old = blob("ssh-ed25519", b"old");
        fs::write(&user, line("[h]:2201", &old)).expect("write");
        fs::write(&inv, line("[other]:2201", &presented)).expect("write");
        // The global file is missing: skipped.
        let files = vec![user.clone(), global.clone(), inv.clone()];
        let e = lookup(&files, "h", 2201);
        assert_eq!(e.len(), 1);
        assert_eq!(
            check(&e, &presented),
            HostKeyStatus::Changed {
                file: user.clone(),
                line: 1
            }
        );
        // The same with the old key in the global file or the inventory's.
        for f in [&global, &inv] {
            fs::write(&user, "").expect("write");
            fs::write(f, line("[h]:2201", &old)).expect("write");
            let e = lookup(&files, "h", 2201);
            assert_eq!(
                check(&e, &presented),
                HostKeyStatus::Changed {
                    file: f.clone(),
                    line: 1
                }
            );
            fs::write(f, "").expect("write");
        }
        // An entry with this key in one file and another key in a second: OpenSSH accepts
        // the match (a host may have several keys on record).
        fs::write(&user, line("[h]:2201", &old)).expect("write");
        fs::write(&inv, line("[h]:2201", &presented)).expect("write");
        assert_eq!(
            check(&lookup(&files, "h", 2201), &presented),
            HostKeyStatus::Match
        );
        assert_eq!(
            check(&lookup(&files, "nobody", 22), &presented),
            HostKeyStatus::Unknown
        );
    }

    #[test]
    fn a_host_covered_only_by_a_cert_authority_line_is_not_unknown() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (user, global) = (dir.path().join("u"), dir.path().join("g"));
        let ca = blob("ssh-ed25519", b"ca");
        let presented = blob("ssh-ed25519", b"plain");
        fs::write(&user, "").expect("write");
        fs::write(
            &global,
            format!("# CA\n@cert-authority {}", line("*.corp,[*.corp]:*", &ca)),
        )
        .expect("write");
        let files = vec![user.clone(), global.clone()];
        let e = lookup(&files, "db.corp", 2222);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].marker, Marker::CertAuthority);
        let status = check(&e, &presented);
        assert_eq!(
            status,
            HostKeyStatus::CertAuthority {
                file: global.clone(),
                line: 2
            }
        );
        // Even the CA's own key is not a host key.
        assert_eq!(
            check(&e, &ca),
            HostKeyStatus::CertAuthority {
                file: global.clone(),
                line: 2
            }
        );
        // The CA key type is not a host key preference.
        assert!(hostkey_preference(&e).starts_with("ssh-ed25519,ecdsa"));
        let msg = cert_authority_message("[db.corp]:2222", &global, 2);
        assert!(
            msg.contains("@cert-authority") && msg.contains(&format!("{}:2", global.display())),
            "{msg}"
        );
        assert!(msg.contains("does not support host certificates"), "{msg}");
        // A plain entry for the host decides as usual; the CA line does not hide a change.
        fs::write(&user, line("[db.corp]:2222", &blob("ssh-ed25519", b"old"))).expect("write");
        let e = lookup(&files, "db.corp", 2222);
        assert_eq!(
            check(&e, &presented),
            HostKeyStatus::Changed {
                file: user.clone(),
                line: 1
            }
        );
        fs::write(&user, line("[db.corp]:2222", &presented)).expect("write");
        assert_eq!(
            check(&lookup(&files, "db.corp", 2222), &presented),
            HostKeyStatus::Match
        );
        assert!(lookup(&files, "db.example", 2222).is_empty());
    }

    #[test]
    fn a_revoked_key_in_any_file_is_refused_even_when_another_file_has_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (user, global) = (dir.path().join("u"), dir.path().join("g"));
        let presented = blob("ssh-ed25519", b"stolen");
        fs::write(&user, line("h", &presented)).expect("write");
        fs::write(&global, format!("@revoked {}", line("*", &presented))).expect("write");
        let e = lookup(&[user, global.clone()], "h", 22);
        assert_eq!(
            check(&e, &presented),
            HostKeyStatus::Revoked {
                file: global,
                line: 1
            }
        );
        // A revoked line for another key does not make the host known.
        let other = blob("ssh-ed25519", b"other");
        let only_revoked: Vec<_> = e
            .into_iter()
            .filter(|k| k.marker == Marker::Revoked)
            .collect();
        assert_eq!(check(&only_revoked, &other), HostKeyStatus::Unknown);
        assert_eq!(lookup(&[], "h", 22), vec![]);
    }

    #[test]
    fn known_decides_on_a_plain_match_and_hashes_only_when_it_must() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (f, g) = (dir.path().join("kh"), dir.path().join("g"));
        let right = blob("ssh-ed25519", b"right");
        let other = blob("ssh-ed25519", b"other");
        // A plain entry with the right key, a hashed one with another: the plain one decides.
        let hashed_other = format!(
            "{} ssh-ed25519 {}\n",
            hashed("h", b"salt1"),
            STANDARD.encode(&other)
        );
        fs::write(&f, format!("{hashed_other}{}", line("h", &right))).expect("write");
        let files = vec![f.clone()];
        let k = Known::lookup(&files, "h", 22);
        assert_eq!(k.entries.len(), 1, "plain entries only: {k:?}");
        assert!(!k.complete);
        assert_eq!(k.check(&files, "h", 22, &right), HostKeyStatus::Match);
        // The other key is not the plain one: every line is looked at, and the hashed line
        // holds it.
        assert_eq!(k.check(&files, "h", 22, &other), HostKeyStatus::Match);
        let third = blob("ssh-ed25519", b"third");
        assert!(matches!(
            k.check(&files, "h", 22, &third),
            HostKeyStatus::Changed { .. }
        ));
        // Only a hashed entry: found, and the lookup is complete.
        let k = Known::lookup(&files, "[h]:22", 22);
        assert!(k.entries.is_empty());
        fs::write(&g, &hashed_other).expect("write");
        let k = Known::lookup(std::slice::from_ref(&g), "h", 22);
        assert!(k.complete);
        assert_eq!(k.entries.len(), 1);
        assert_eq!(k.check(&[g], "h", 22, &other), HostKeyStatus::Match);
    }

    #[test]
    fn a_hashed_revoked_line_still_refuses_a_key_a_plain_entry_holds() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("kh");
        let stolen = blob("ssh-ed25519", b"stolen");
        fs::write(
            &f,
            format!(
                "{}@revoked {} ssh-ed25519 {}\n",
                line("h", &stolen),
                hashed("h", b"salt2"),
                STANDARD.encode(&stolen)
            ),
        )
        .expect("write");
        let files = vec![f.clone()];
        let k = Known::lookup(&files, "h", 22);
        assert!(revoked_anywhere(&files, &stolen));
        assert_eq!(
            k.check(&files, "h", 22, &stolen),
            HostKeyStatus::Revoked { file: f, line: 2 }
        );
    }

    #[test]
    fn unknown_markers_are_skipped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("kh");
        let k = blob("ssh-ed25519", b"k");
        fs::write(&f, format!("@future {}", line("h", &k))).expect("write");
        assert!(lookup(&[f], "h", 22).is_empty());
    }

    #[test]
    fn fingerprint_format() {
        let fp = fingerprint_sha256(b"abc");
        assert!(fp.starts_with("SHA256:"));
        assert!(!fp.ends_with('='));
        assert_eq!(fp.len(), 7 + 43);
    }
}
