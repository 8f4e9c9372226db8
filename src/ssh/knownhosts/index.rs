//! known_hosts files read once per process and indexed by host.
//!
//! A lookup used to read and decode every line of every file for every connection: with a
//! 5,000-line file (half of it hashed, as Debian writes it) that cost ~10 ms of CPU per host.
//! Now each file is parsed once into an index: plain names in a map, lines with wildcards or
//! negations in a short list, hashed lines with their HMAC-SHA1 key state prepared once (a
//! search of them costs one keyed hash per hashed line, which no index can avoid, so
//! [`super::Known`] searches them only when the plain entries do not decide). Before every
//! lookup the file is stat'ed; when its inode, size, mtime or ctime differ from the parsed
//! copy, or its mtime is too recent to tell two writes apart, it is read again: unchanged
//! bytes keep the index, bytes that only grew (an append) are parsed from where they grew,
//! anything else is parsed afresh.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;

use super::{host_token, KnownKey, Marker};
use crate::util::{lock, ssh_wildcard};

/// A file whose mtime is this close to the moment it was read may be written again within the
/// same timestamp tick (coarse clocks, 1 s on some file systems), so its stamp alone cannot
/// tell: such a file is read again (and compared byte for byte) until it is older.
const RECENT: Duration = Duration::from_secs(2);

/// One parsed line that can name a host.
#[derive(Debug, Clone)]
struct Entry {
    /// 1-based line number.
    line: usize,
    marker: Marker,
    key_type: String,
    blob: Vec<u8>,
}

/// A hashed host field `|1|salt|hash`: the HMAC keyed with the salt, ready to hash a name.
#[derive(Clone)]
struct Hashed {
    entry: usize,
    mac: Hmac<Sha1>,
    hash: Vec<u8>,
}

/// What identifies a version of a file without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    fn of(meta: &fs::Metadata) -> Self {
        Stamp {
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }
}

/// One file, parsed and indexed.
#[derive(Default, Clone)]
pub(super) struct FileIndex {
    /// The bytes parsed, to tell an unchanged or appended-to file from a rewritten one.
    bytes: Vec<u8>,
    /// Lines parsed so far (the next line's number minus one).
    lines: usize,
    entries: Vec<Entry>,
    /// Lowercased plain names (no wildcard, no negation) → entries naming them.
    plain: HashMap<String, Vec<usize>>,
    /// Entries whose host field has a wildcard or a negation: `(entry, lowercased patterns)`.
    patterned: Vec<(usize, Vec<String>)>,
    hashed: Vec<Hashed>,
    /// The key blobs of every `@revoked` line, whatever hosts it names: a plain entry holding
    /// a key decides a lookup without hashing only when the key is in no such set.
    revoked: HashSet<Vec<u8>>,
}

impl FileIndex {
    /// Parses `bytes` as a whole file.
    pub(super) fn parse(bytes: Vec<u8>) -> Self {
        let mut idx = FileIndex::default();
        idx.add_lines(&bytes);
        idx.bytes = bytes;
        idx
    }

    /// Adds the lines of `more`, which starts at a line boundary.
    fn extend(&mut self, more: &[u8]) {
        self.add_lines(more);
        self.bytes.extend_from_slice(more);
    }

    fn add_lines(&mut self, text: &[u8]) {
        for line in String::from_utf8_lossy(text).lines() {
            self.lines += 1;
            self.add_line(line);
        }
    }

    fn add_line(&mut self, line: &str) {
        let Some((marker, host_field, key_type, blob)) = parse_line(line) else {
            return;
        };
        let entry = self.entries.len();
        if marker == Marker::Revoked {
            self.revoked.insert(blob.clone());
        }
        self.entries.push(Entry {
            line: self.lines,
            marker,
            key_type: key_type.to_string(),
            blob,
        });
        if let Some(rest) = host_field.strip_prefix("|1|") {
            if let Some(h) = hashed_field(rest, entry) {
                self.hashed.push(h);
            }
            return;
        }
        let patterns: Vec<String> = host_field.split(',').map(str::to_ascii_lowercase).collect();
        if patterns
            .iter()
            .any(|p| p.starts_with('!') || p.contains(['*', '?']))
        {
            self.patterned.push((entry, patterns));
            return;
        }
        for name in patterns {
            let list = self.plain.entry(name).or_default();
            if list.last() != Some(&entry) {
                list.push(entry);
            }
        }
    }

    /// The entries naming `token` (lowercased), in line order; hashed lines only when
    /// `hashed` (one keyed hash each: the costly part of a lookup).
    fn find(&self, token: &str, hashed: bool) -> Vec<usize> {
        let mut hits: Vec<usize> = self.plain.get(token).cloned().unwrap_or_default();
        for (entry, patterns) in &self.patterned {
            if patterns_match(patterns, token) {
                hits.push(*entry);
            }
        }
        for h in self.hashed.iter().filter(|_| hashed) {
            let mut mac = h.mac.clone();
            mac.update(token.as_bytes());
            if mac.verify_slice(&h.hash).is_ok() {
                hits.push(h.entry);
            }
        }
        hits.sort_unstable();
        hits.dedup();
        hits
    }

    /// The file's entries naming `token`, as [`KnownKey`]s of `file`.
    pub(super) fn lookup(&self, file: &Path, token: &str, hashed: bool) -> Vec<KnownKey> {
        self.find(token, hashed)
            .into_iter()
            .map(|i| {
                let e = &self.entries[i];
                KnownKey {
                    file: file.to_path_buf(),
                    line: e.line,
                    key_type: e.key_type.clone(),
                    blob: e.blob.clone(),
                    marker: e.marker,
                }
            })
            .collect()
    }
}

/// `old` brought up to `bytes`, the file's content now: kept when unchanged, extended when
/// `bytes` only adds whole lines after what was parsed (copied first if lookups still hold
/// it), else parsed anew.
fn updated(old: Arc<FileIndex>, bytes: Vec<u8>) -> Arc<FileIndex> {
    if bytes == old.bytes {
        return old;
    }
    let at_line_end = old.bytes.is_empty() || old.bytes.ends_with(b"\n");
    if at_line_end && bytes.len() > old.bytes.len() && bytes.starts_with(&old.bytes) {
        let mut idx = Arc::try_unwrap(old).unwrap_or_else(|shared| (*shared).clone());
        let at = idx.bytes.len();
        idx.extend(&bytes[at..]);
        return Arc::new(idx);
    }
    Arc::new(FileIndex::parse(bytes))
}

/// Parses one line into `(marker, host field, key type, key blob)`. Comments, blank lines,
/// unknown markers and lines whose key does not decode yield `None`.
fn parse_line(line: &str) -> Option<(Marker, &str, &str, Vec<u8>)> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let mut fields = line.split_whitespace();
    let mut first = fields.next()?;
    let mut marker = Marker::None;
    if let Some(name) = first.strip_prefix('@') {
        marker = match name {
            "revoked" => Marker::Revoked,
            "cert-authority" => Marker::CertAuthority,
            _ => return None,
        };
        first = fields.next()?;
    }
    let key_type = fields.next()?;
    let blob = STANDARD.decode(fields.next()?).ok()?;
    Some((marker, first, key_type, blob))
}

/// The keyed HMAC of a hashed field's `salt|hash` part; `None` when it does not decode (such
/// a line names no host).
fn hashed_field(rest: &str, entry: usize) -> Option<Hashed> {
    let (salt, hash) = rest.split_once('|')?;
    let (salt, hash) = (STANDARD.decode(salt).ok()?, STANDARD.decode(hash).ok()?);
    let mac = Hmac::<Sha1>::new_from_slice(&salt).ok()?;
    Some(Hashed { entry, mac, hash })
}

/// Comma-separated patterns as OpenSSH matches them: a negated match excludes the host, else
/// any positive match includes it.
fn patterns_match(patterns: &[String], token: &str) -> bool {
    let mut matched = false;
    for pattern in patterns {
        if let Some(negated) = pattern.strip_prefix('!') {
            if ssh_wildcard(negated, token) {
                return false;
            }
        } else if ssh_wildcard(pattern, token) {
            matched = true;
        }
    }
    matched
}

/// The cached index of one file and the stamp it was read at.
#[derive(Default)]
struct Slot {
    /// `None` when the file was missing or unreadable at the last look.
    index: Option<Arc<FileIndex>>,
    stamp: Option<Stamp>,
    /// Whether the stamp alone can vouch for the content (the file was not modified just
    /// before it was read).
    settled: bool,
    /// Times the file was read (for tests).
    reads: u64,
}

static CACHE: Mutex<Option<HashMap<PathBuf, Arc<Mutex<Slot>>>>> = Mutex::new(None);

fn slot(file: &Path) -> Arc<Mutex<Slot>> {
    let mut cache = lock(&CACHE);
    cache
        .get_or_insert_with(HashMap::new)
        .entry(file.to_path_buf())
        .or_default()
        .clone()
}

/// The index of `file` as it is now; `None` when it is missing or unreadable. Threads asking
/// for the same file wait for one read rather than each parsing it.
fn current(file: &Path) -> Option<Arc<FileIndex>> {
    let slot = slot(file);
    let mut s = lock(&slot);
    let Ok(meta) = fs::metadata(file) else {
        s.index = None;
        s.stamp = None;
        return None;
    };
    let stamp = Stamp::of(&meta);
    if s.settled && s.stamp == Some(stamp) {
        return s.index.clone();
    }
    let read_at = SystemTime::now();
    let Ok(bytes) = fs::read(file) else {
        s.index = None;
        s.stamp = None;
        return None;
    };
    s.reads += 1;
    let index = match s.index.take() {
        Some(old) => updated(old, bytes),
        None => Arc::new(FileIndex::parse(bytes)),
    };
    s.settled = meta.modified().is_ok_and(|m| m + RECENT < read_at);
    s.stamp = Some(stamp);
    s.index = Some(index.clone());
    Some(index)
}

/// How many times `file` was read by lookups in this process (for tests and benchmarks).
pub fn reads(file: &Path) -> u64 {
    lock(&slot(file)).reads
}

/// Every entry of `files` that names `host` on `port`, in file order. Missing files and lines
/// that do not parse are skipped.
pub fn lookup(files: &[PathBuf], host: &str, port: u16) -> Vec<KnownKey> {
    lookup_in(files, host, port, true)
}

/// As [`lookup`], without the hashed lines: plain and patterned entries only, found without
/// hashing anything.
pub fn lookup_unhashed(files: &[PathBuf], host: &str, port: u16) -> Vec<KnownKey> {
    lookup_in(files, host, port, false)
}

fn lookup_in(files: &[PathBuf], host: &str, port: u16, hashed: bool) -> Vec<KnownKey> {
    let token = host_token(host, port).to_ascii_lowercase();
    let mut found = Vec::new();
    for file in files {
        if let Some(index) = current(file) {
            found.extend(index.lookup(file, &token, hashed));
        }
    }
    found
}

/// Whether any `@revoked` line of `files`, for whatever hosts, holds `blob`.
pub fn revoked_anywhere(files: &[PathBuf], blob: &[u8]) -> bool {
    files
        .iter()
        .filter_map(|f| current(f))
        .any(|index| index.revoked.contains(blob))
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;
    use std::time::{Duration, SystemTime};

    use super::*;

    fn blob(body: &str) -> Vec<u8> {
        let mut b = 11u32.to_be_bytes().to_vec();
        b.extend_from_slice(b"ssh-ed25519");
        b.extend_from_slice(body.as_bytes());
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

    fn line(field: &str, body: &str) -> String {
        format!("{field} ssh-ed25519 {}\n", STANDARD.encode(blob(body)))
    }

    /// A file as Debian's users have them: `n` lines, every other one hashed.
    fn big_file(n: usize) -> String {
        let mut text = String::from("# generated\n");
        for i in 0..n {
            let token = format!(
                "[10.{}.{}.{}]:22{:02}",
                i / 65536,
                (i / 256) % 256,
                i % 256,
                i % 100
            );
            if i % 2 == 0 {
                text.push_str(&line(
                    &hashed(&token, format!("salt{i:016}").as_bytes()),
                    &format!("k{i}"),
                ));
            } else {
                text.push_str(&line(&token, &format!("k{i}")));
            }
        }
        text
    }

    /// Writes `text` and dates the file an hour back, so that its stamp can vouch for it.
    fn write_old(path: &Path, text: &str) {
        fs::write(path, text).expect("write");
        let f = fs::File::options().write(true).open(path).expect("open");
        f.set_modified(SystemTime::now() - Duration::from_secs(3600))
            .expect("set mtime");
    }

    fn token(i: usize) -> (String, u16) {
        (
            format!("10.{}.{}.{}", i / 65536, (i / 256) % 256, i % 256),
            u16::try_from(2200 + i % 100).expect("port"),
        )
    }

    #[test]
    fn a_file_is_read_once_and_its_hashed_and_plain_entries_all_found() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("kh");
        write_old(&f, &big_file(5000));
        let files = vec![f.clone()];
        for i in [0, 1, 2, 3, 2500, 4998, 4999] {
            let (host, port) = token(i);
            let found = lookup(&files, &host, port);
            assert_eq!(found.len(), 1, "entry {i}");
            assert_eq!(found[0].line, i + 2, "entry {i}");
            assert_eq!(found[0].blob, blob(&format!("k{i}")), "entry {i}");
        }
        assert!(lookup(&files, "10.0.0.0", 22).is_empty());
        assert!(lookup(&files, "10.0.0.0", 2201).is_empty());
        assert_eq!(reads(&f), 1, "read once for many lookups");
    }

    #[test]
    fn a_file_changed_on_disk_is_read_again() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("kh");
        let files = vec![f.clone()];
        assert!(lookup(&files, "h", 22).is_empty(), "missing file: nothing");
        write_old(&f, &line("h", "old"));
        assert_eq!(lookup(&files, "h", 22)[0].blob, blob("old"));
        let before = reads(&f);
        // Appended to (parsed from where it grew): both lines, numbered on.
        let mut text = line("h", "old");
        text.push_str(&line("h,other", "second"));
        write_old(&f, &text);
        let found = lookup(&files, "h", 22);
        assert_eq!(
            found
                .iter()
                .map(|k| (k.line, k.blob.clone()))
                .collect::<Vec<_>>(),
            vec![(1, blob("old")), (2, blob("second"))]
        );
        assert_eq!(lookup(&files, "other", 22).len(), 1);
        assert_eq!(reads(&f), before + 1);
        // Rewritten with the same size (another key): the new key counts, the old is gone.
        write_old(&f, &line("h", "new"));
        let found = lookup(&files, "h", 22);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].blob, blob("new"));
        assert!(lookup(&files, "other", 22).is_empty());
        // Replaced by another file (a new inode, as editors and ssh-keygen -R write).
        let tmp = dir.path().join("kh.new");
        write_old(&tmp, &line("other", "moved"));
        fs::rename(&tmp, &f).expect("rename");
        assert!(lookup(&files, "h", 22).is_empty());
        assert_eq!(lookup(&files, "other", 22)[0].blob, blob("moved"));
        fs::remove_file(&f).expect("rm");
        assert!(lookup(&files, "other", 22).is_empty(), "removed: nothing");
    }

    #[test]
    fn a_file_written_just_now_is_compared_not_trusted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("kh");
        let files = vec![f.clone()];
        // Two writes of the same size within one timestamp tick: the stamp may not differ.
        fs::write(&f, line("h", "aaa")).expect("write");
        assert_eq!(lookup(&files, "h", 22)[0].blob, blob("aaa"));
        fs::write(&f, line("h", "bbb")).expect("write");
        assert_eq!(lookup(&files, "h", 22)[0].blob, blob("bbb"));
    }

    #[test]
    fn markers_patterns_negations_and_bad_lines_in_the_index() {
        let text = format!(
            "{}{}@revoked {}@cert-authority {}@future {}garbage\n{}{}",
            line("a,A,b", "ab"),
            line("*.web,!bad.web", "web"),
            line("*", "stolen"),
            line("*.corp", "ca"),
            line("a", "future"),
            "a ssh-ed25519 !!notbase64!!\n",
            line(&hashed("[c]:2222", b"s"), "c"),
        );
        let idx = FileIndex::parse(text.into_bytes());
        let p = Path::new("f");
        let a = idx.lookup(p, "a", true);
        assert_eq!(
            a.iter().map(|k| (k.line, k.marker)).collect::<Vec<_>>(),
            vec![(1, Marker::None), (3, Marker::Revoked)],
            "one entry per line even when it names the host twice (a,A)"
        );
        assert_eq!(idx.lookup(p, "x.web", true).len(), 2);
        assert_eq!(
            idx.lookup(p, "bad.web", true).len(),
            1,
            "only the revoked *"
        );
        assert_eq!(
            idx.lookup(p, "db.corp", true)[1].marker,
            Marker::CertAuthority
        );
        let c = idx.lookup(p, "[c]:2222", true);
        assert_eq!(c.last().map(|k| k.line), Some(8));
        assert_eq!(idx.lookup(p, "c", true).len(), 1, "port 22 is another name");
    }

    #[test]
    fn many_lookups_share_one_read_across_threads() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("kh");
        let mut text = String::new();
        for i in 0..200 {
            let (host, port) = token(i);
            let _ = write!(
                text,
                "{}",
                line(&format!("[{host}]:{port}"), &format!("k{i}"))
            );
        }
        write_old(&f, &text);
        let files = Arc::new(vec![f.clone()]);
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let files = files.clone();
                std::thread::spawn(move || {
                    for i in (t..200).step_by(8) {
                        let (host, port) = token(i);
                        assert_eq!(lookup(&files, &host, port).len(), 1);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("thread");
        }
        assert_eq!(reads(&f), 1);
    }
}
