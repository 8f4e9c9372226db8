//! Small files through one tar stream per host: the files the lanes would take are written
//! as a tar stream (relative paths, the mode, times and kept owner the SFTP path gives them)
//! into ONE exec channel running a POSIX sh script, which unpacks them into a private staging
//! directory (`mktemp -d ROOT/.fleetdeck-XXXXXX`, same filesystem as the targets) and then
//! puts them in place per directory with `mv -f` (rename(2): atomic, never a half-written
//! file at a target), a constant number of processes per directory. The staging directory is
//! removed on every exit (trap); a stream cut short (cancel, lost connection) lacks the last
//! entry, a marker, and places nothing.
//!
//! The script answers `ready` once its staging directory exists; without that answer (no
//! `tar` on the host: exit 97, no channel, no POSIX shell) nothing was sent and the caller
//! falls back to the SFTP lanes. A failure after that is an error for the host.

use std::fmt::Write as _;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use super::lanes::{read_small, Small};
use super::Ctx;
use crate::contract::SmallFiles;
use crate::ssh::transfer::names::escape_for_display;
use crate::ssh::transfer::{io_ssh_error, ssh_error, TransferError};

/// The script's exit status when the host has no `tar`.
const NO_TAR: i32 = 97;
/// The script's exit status when putting files in place failed (some may be in place).
const PLACING_FAILED: i32 = 3;
/// Longest script sent (one exec request; Linux caps one argument at 128 KiB): beyond it
/// the lanes take the files.
const MAX_SCRIPT: usize = 100_000;
/// Longest wait for the script's `ready` (its shell started, its staging directory made).
const READY_WAIT_MS: u32 = 15_000;
/// The tail of the script's stderr shown in an error.
const ERR_TAIL: usize = 4096;
/// The stream is written in pieces of this size: a few large SSH packets instead of two
/// small ones per file (sshd's CPU per packet is what limits a fan-out on one machine).
const WRITE_BUF: usize = 256 * 1024;
/// Most bytes read from either of the script's outputs.
const MAX_READ: u64 = 1024 * 1024;

/// What the tar path did.
pub(super) enum Tar {
    /// Every file is in place.
    Placed,
    /// The host cannot take a tar stream; nothing was sent.
    Unavailable,
}

/// `s` as one single-quoted sh word.
fn sq(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Where the files go: the deepest directory holding all of them, each file's path
/// relative to it, and the relative directories that receive files.
struct Layout {
    root: String,
    entries: Vec<String>,
    dirs: Vec<String>,
}

/// The layout of `small`, or `None` when a name is not UTF-8 (it cannot be put in a
/// script): the lanes take those.
fn layout(small: &[Small<'_>]) -> Option<Layout> {
    let mut root: PathBuf = small.first()?.item.remote.parent()?.to_path_buf();
    for s in small {
        let parent = s.item.remote.parent()?;
        while !parent.starts_with(&root) {
            root = root.parent()?.to_path_buf();
        }
    }
    let entries = small
        .iter()
        .map(|s| {
            Some(
                s.item
                    .remote
                    .strip_prefix(&root)
                    .ok()?
                    .to_str()?
                    .to_string(),
            )
        })
        .collect::<Option<Vec<String>>>()?;
    let mut dirs: Vec<String> = entries
        .iter()
        .map(|e| {
            Path::new(e)
                .parent()
                .and_then(Path::to_str)
                .unwrap_or("")
                .to_string()
        })
        .collect();
    dirs.sort();
    dirs.dedup();
    Some(Layout {
        root: root.to_str()?.to_string(),
        entries,
        dirs,
    })
}

/// The remote script: probe, staging, unpack, check the end marker, place per directory.
fn script(layout: &Layout, marker: &str, probe: &str) -> String {
    let root = sq(&layout.root);
    let marker = sq(marker);
    let mut s = format!(
        "command -v {probe} >/dev/null 2>&1 || exit {NO_TAR}
stage=$(mktemp -d {root}/.fleetdeck-XXXXXX) || exit 1
trap 'rm -rf \"$stage\"' EXIT
trap 'exit 1' HUP INT TERM PIPE
mkdir \"$stage/t\" || exit 1
if [ \"$(id -u)\" = 0 ]; then own='--same-owner --numeric-owner'; else own=--no-same-owner; fi
echo ready
tar -x -p $own -f - -C \"$stage/t\" 2>\"$stage/err\" || {{ tail -c {ERR_TAIL} \"$stage/err\" >&2; exit 1; }}
[ -f \"$stage/t/\"{marker} ] || {{ echo 'the tar stream ended early' >&2; exit 1; }}
rm -f \"$stage/t/\"{marker}
p() {{ [ -d \"$2\" ] || mkdir -p -- \"$2\" || return 1; find \"$stage/t/$1/.\" ! -name . -prune ! -type d -exec sh -c 'exec mv -f -- \"$@\" \"$0\"' \"$2\" {{}} +; }}
"
    );
    for dir in &layout.dirs {
        let abs = if dir.is_empty() {
            layout.root.clone()
        } else {
            format!("{}/{dir}", layout.root.trim_end_matches('/'))
        };
        let _ = writeln!(s, "p {} {} || exit {PLACING_FAILED}", sq(dir), sq(&abs));
    }
    s.push_str("exit 0\n");
    s
}

/// The channel as the tar builder's writer; once shut, writes fail (so that the builder's
/// drop cannot end a cut-short stream with a well-formed end of archive).
struct Gate<'c> {
    channel: &'c mut ssh2::Channel,
    open: bool,
}

impl Write for Gate<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if !self.open {
            return Err(std::io::Error::other("stream shut"));
        }
        self.channel.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.channel.flush()
    }
}

/// Whether the script answered `ready` (its staging directory exists).
fn read_ready(channel: &mut ssh2::Channel) -> bool {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while line.len() < 16 {
        match channel.read(&mut byte) {
            Ok(1) => {
                if byte[0] == b'\n' {
                    return line == b"ready";
                }
                line.push(byte[0]);
            }
            _ => return false,
        }
    }
    false
}

/// At most the last `keep` bytes of `reader` (read up to [`MAX_READ`]).
fn read_tail(reader: &mut dyn Read, keep: usize) -> Vec<u8> {
    let mut tail = Vec::new();
    let mut buf = [0u8; 8192];
    let mut reader = reader.take(MAX_READ);
    while let Ok(n) = reader.read(&mut buf) {
        if n == 0 {
            break;
        }
        tail.extend_from_slice(&buf[..n]);
        if tail.len() > keep {
            tail.drain(..tail.len() - keep);
        }
    }
    tail
}

/// Remote bytes as one line safe for a terminal.
fn shown_output(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    escape_for_display(&lines.join(" | "))
}

/// Ends the stream, waits for the script and returns its exit status (`-1` for a signal)
/// and the tail of its stderr.
fn finish(channel: &mut ssh2::Channel) -> Result<(i32, Vec<u8>), TransferError> {
    let what = "sending small files through tar";
    let _ = channel.send_eof();
    let _ = read_tail(channel, 0);
    let err = read_tail(&mut channel.stderr(), ERR_TAIL);
    channel.wait_close().map_err(|e| ssh_error(what, &e))?;
    let signalled = channel.exit_signal().is_ok_and(|s| s.exit_signal.is_some());
    let code = channel.exit_status().map_err(|e| ssh_error(what, &e))?;
    Ok((if signalled { -1 } else { code }, err))
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Ctx<'_> {
    /// Sends `small` through one tar stream; [`Tar::Unavailable`] when the host cannot take
    /// one (nothing sent: the caller uses the lanes).
    pub(super) fn send_tar(
        &mut self,
        small: &[Small<'_>],
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<Tar, TransferError> {
        let probe = match self.spec.small_files {
            SmallFiles::Lanes => return Ok(Tar::Unavailable),
            SmallFiles::TarMissing => "fleetdeck-no-such-tar",
            SmallFiles::Auto => "tar",
        };
        let Some(layout) = layout(small) else {
            return Ok(Tar::Unavailable);
        };
        let marker = format!(".fleetdeck-done-{}", self.token);
        let script = script(&layout, &marker, probe);
        if script.len() > MAX_SCRIPT {
            return Ok(Tar::Unavailable);
        }
        let Ok(mut channel) = self.sess.channel_session() else {
            return Ok(Tar::Unavailable);
        };
        // A host that runs something else for every command (`ForceCommand internal-sftp`)
        // never answers: wait for `ready` a bounded time only.
        let before = self.sess.timeout();
        self.sess.set_timeout(match before {
            0 => READY_WAIT_MS,
            t => t.min(READY_WAIT_MS),
        });
        let ready = channel.exec(&script).is_ok() && read_ready(&mut channel);
        self.sess.set_timeout(before);
        if !ready {
            let _ = channel.close();
            return Ok(Tar::Unavailable);
        }
        let streamed = self.stream_tar(&mut channel, small, &layout, &marker, progress);
        let finished = finish(&mut channel);
        let (code, err) = match (streamed, finished) {
            (Err(e @ (TransferError::Cancelled | TransferError::Local { .. })), _)
            | (Ok(()) | Err(_), Err(e)) => return Err(e),
            (_, Ok(done)) => done,
        };
        if code == 0 {
            return Ok(Tar::Placed);
        }
        Err(TransferError::Remote {
            what: if code == PLACING_FAILED {
                "putting small files in place (some are in place already)".into()
            } else {
                "unpacking small files (none was put in place)".into()
            },
            message: match shown_output(&err) {
                m if m.is_empty() => format!("the script exited {code}"),
                m => m,
            },
        })
    }

    /// Writes the tar stream: every file, then the end marker; stops at a cancel.
    fn stream_tar(
        &mut self,
        channel: &mut ssh2::Channel,
        small: &[Small<'_>],
        layout: &Layout,
        marker: &str,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<(), TransferError> {
        let what = "sending small files through tar";
        let gate = Gate {
            channel,
            open: true,
        };
        let mut builder = ::tar::Builder::new(BufWriter::with_capacity(WRITE_BUF, gate));
        let now = now();
        let mut result = Ok(());
        for (s, rel) in small.iter().zip(&layout.entries) {
            if self.cancel.load(Ordering::Relaxed) {
                result = Err(TransferError::Cancelled);
                break;
            }
            let data = match read_small(s.item) {
                Ok(data) => data,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            };
            let mut header = ::tar::Header::new_gnu();
            header.set_entry_type(::tar::EntryType::Regular);
            header.set_size(data.len() as u64);
            header.set_mode(s.attrs.perm.unwrap_or(0o644) & 0o7777);
            header.set_mtime(s.attrs.mtime.unwrap_or(now));
            let (uid, gid) = s.attrs.uid.zip(s.attrs.gid).unwrap_or((0, 0));
            header.set_uid(uid.into());
            header.set_gid(gid.into());
            if let Err(e) = builder.append_data(&mut header, rel, data.as_slice()) {
                result = Err(io_ssh_error(what, &e));
                break;
            }
            self.done += s.item.size;
            progress(self.done, self.total.max(self.done));
        }
        if result.is_ok() {
            let mut header = ::tar::Header::new_gnu();
            header.set_entry_type(::tar::EntryType::Regular);
            header.set_size(0);
            header.set_mode(0o600);
            header.set_mtime(now);
            result = builder
                .append_data(&mut header, marker, std::io::empty())
                .and_then(|()| builder.finish())
                .and_then(|()| builder.get_mut().flush())
                .map_err(|e| io_ssh_error(what, &e));
        }
        builder.get_mut().get_mut().open = false;
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_words_reach_sh_verbatim() {
        for word in [
            "plain",
            "it's",
            "$(touch x) `y` $HOME",
            "a\nb\tc",
            "'",
            "''\\'",
            "-rf",
        ] {
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("printf %s {}", sq(word)))
                .output()
                .expect("sh");
            assert_eq!(String::from_utf8_lossy(&out.stdout), word);
        }
    }

    #[test]
    fn remote_output_is_one_escaped_line() {
        let shown = shown_output(b"tar: x: Cannot open\n\x1b[31mred\x1b]0;title\x07\n\n\xff");
        assert!(!shown.chars().any(char::is_control), "{shown:?}");
        assert!(
            shown.starts_with("tar: x: Cannot open | \\x1b[31mred"),
            "{shown}"
        );
        let long = vec![b'e'; 100_000];
        assert_eq!(read_tail(&mut long.as_slice(), ERR_TAIL).len(), ERR_TAIL);
    }
}
