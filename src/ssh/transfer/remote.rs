//! Remote helpers beyond plain SFTP: an overwriting rename, `sha256sum`, and the janitor that
//! removes temp files when the connection dies mid-transfer.

use std::collections::HashMap;
use std::ffi::{c_char, c_int, CString};
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::{ssh_error, TransferError};
use crate::util::shell_quote;

// libssh2 (bundled by libssh2-sys, which `ssh2` links) has `libssh2_sftp_posix_rename_ex`, but
// neither libssh2-sys nor ssh2 bind it. Plain SFTPv3 RENAME on OpenSSH refuses to replace an
// existing target (it uses link(2)), so an atomic replace needs the extension.
#[allow(unsafe_code)]
extern "C" {
    fn libssh2_sftp_posix_rename_ex(
        sftp: *mut libssh2_sys::LIBSSH2_SFTP,
        source: *const c_char,
        source_len: libc::size_t,
        dest: *const c_char,
        dest_len: libc::size_t,
    ) -> c_int;
}

/// A second SFTP channel, opened through libssh2 directly, used only for
/// `posix-rename@openssh.com` (rename(2) on the server: atomic, replaces the target).
pub struct PosixRenamer<'a> {
    sess: &'a ssh2::Session,
    raw: *mut libssh2_sys::LIBSSH2_SFTP,
}

impl<'a> PosixRenamer<'a> {
    /// Opens the channel; `None` when the server refuses an SFTP subsystem.
    #[allow(unsafe_code)]
    pub fn open(sess: &'a ssh2::Session) -> Option<Self> {
        let mut guard = sess.raw();
        // SAFETY: the guard holds the session lock and a valid LIBSSH2_SESSION for as long as
        // `sess` lives; we are on the one thread that uses this session.
        let raw = unsafe { libssh2_sys::libssh2_sftp_init(&mut *guard) };
        drop(guard);
        if raw.is_null() {
            None
        } else {
            Some(PosixRenamer { sess, raw })
        }
    }

    /// Renames `from` to `to`, replacing `to`. `Err` carries libssh2's code and, for a server
    /// refusal, the SFTP status (8 = unsupported).
    #[allow(unsafe_code)]
    pub fn rename(&self, from: &Path, to: &Path) -> Result<(), ssh2::Error> {
        let from_c = CString::new(from.as_os_str().as_bytes())
            .map_err(|_| ssh2::Error::new(ssh2::ErrorCode::Session(-1), "path contains NUL"))?;
        let to_c = CString::new(to.as_os_str().as_bytes())
            .map_err(|_| ssh2::Error::new(ssh2::ErrorCode::Session(-1), "path contains NUL"))?;
        let guard = self.sess.raw();
        // SAFETY: `self.raw` is a live SFTP handle of this session (shut down only in Drop),
        // the strings outlive the call, and the guard serialises access to the session.
        let rc = unsafe {
            libssh2_sftp_posix_rename_ex(
                self.raw,
                from_c.as_ptr(),
                from_c.as_bytes().len(),
                to_c.as_ptr(),
                to_c.as_bytes().len(),
            )
        };
        if rc == 0 {
            return Ok(());
        }
        let code = if rc == libssh2_sys::LIBSSH2_ERROR_SFTP_PROTOCOL {
            // SAFETY: as above.
            let status = unsafe { libssh2_sys::libssh2_sftp_last_error(self.raw) };
            ssh2::ErrorCode::SFTP(status as c_int)
        } else {
            ssh2::ErrorCode::Session(rc)
        };
        drop(guard);
        Err(ssh2::Error::new(code, "posix-rename failed"))
    }
}

impl Drop for PosixRenamer<'_> {
    #[allow(unsafe_code)]
    fn drop(&mut self) {
        let _guard = self.sess.raw();
        // SAFETY: `self.raw` came from libssh2_sftp_init on this session and is freed once.
        unsafe {
            libssh2_sys::libssh2_sftp_shutdown(self.raw);
        }
    }
}

/// Output a helper command (`sha256sum`) may print: 16 MiB, room for ~100,000 hash lines.
const MAX_EXEC_OUTPUT: u64 = 16 * 1024 * 1024;

/// Longest command line [`remote_sha256_many`] sends at once (Linux allows 2 MiB in all).
const MAX_COMMAND: usize = 100_000;

/// Runs `command` on an exec channel and returns (exit code, stdout). Output is small (a hash
/// line), so reading stdout to the end before stderr cannot fill the window.
fn exec_small(
    sess: &ssh2::Session,
    command: &str,
    what: &str,
) -> Result<(i32, String), TransferError> {
    let mut channel = sess.channel_session().map_err(|e| ssh_error(what, &e))?;
    channel.exec(command).map_err(|e| ssh_error(what, &e))?;
    let mut out = String::new();
    (&mut channel)
        .take(MAX_EXEC_OUTPUT + 1)
        .read_to_string(&mut out)
        .map_err(|e| super::io_ssh_error(what, &e))?;
    if out.len() as u64 > MAX_EXEC_OUTPUT {
        return Err(TransferError::Remote {
            what: what.to_string(),
            message: format!("more than {MAX_EXEC_OUTPUT} bytes of output"),
        });
    }
    let mut err = Vec::new();
    let _ = channel.stderr().take(MAX_EXEC_OUTPUT).read_to_end(&mut err);
    channel.wait_close().map_err(|e| ssh_error(what, &e))?;
    let code = channel.exit_status().map_err(|e| ssh_error(what, &e))?;
    Ok((code, out))
}

/// The sha256 of a remote file of `size` bytes from its `sha256sum`, or `None` when the host
/// has no `sha256sum` (or the path is not UTF-8 and cannot be put in a command).
///
/// Hashing a large file takes longer than one ordinary wait for data, so the session timeout
/// is raised for the call (to at least 30 s plus 1 s per 20 MB) and restored afterwards.
pub fn remote_sha256(
    sess: &ssh2::Session,
    path: &Path,
    size: u64,
) -> Result<Option<String>, TransferError> {
    let Some(text) = path.to_str() else {
        return Ok(None);
    };
    let what = format!("checking sha256 of {}", super::shown(path));
    let command = format!(
        "command -v sha256sum >/dev/null 2>&1 || exit 127; exec sha256sum -b -- {}",
        shell_quote(text)
    );
    let before = raise_timeout_for(sess, size);
    let result = exec_small(sess, &command, &what);
    sess.set_timeout(before);
    let (code, out) = result?;
    if code == 127 {
        return Ok(None);
    }
    let hash: String = out.chars().take(64).collect();
    if code != 0 || hash.len() != 64 || !hash.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(TransferError::Remote {
            what,
            message: format!("sha256sum exited {code}"),
        });
    }
    Ok(Some(hash.to_ascii_lowercase()))
}

/// Raises the session timeout for hashing `size` bytes (at least 30 s plus 1 s per 20 MB);
/// returns the timeout to restore.
fn raise_timeout_for(sess: &ssh2::Session, size: u64) -> u32 {
    let before = sess.timeout();
    let needed = 30_000u64.saturating_add(size / (20 * 1024 * 1024) * 1000);
    let needed = u32::try_from(needed).unwrap_or(u32::MAX);
    if before != 0 && before < needed {
        sess.set_timeout(needed);
    }
    before
}

/// The sha256 of many remote files from as few `sha256sum` runs as the command line allows,
/// by path; a file missing from the answer (gone, unreadable, a name `sha256sum` escapes, or
/// not UTF-8) is missing from the map. `None` when the host has no `sha256sum`.
pub fn remote_sha256_many(
    sess: &ssh2::Session,
    files: &[(std::path::PathBuf, u64)],
) -> Result<Option<HashMap<std::path::PathBuf, String>>, TransferError> {
    let mut found = HashMap::new();
    let mut batch: Vec<&str> = Vec::new();
    let (mut len, mut bytes) = (0usize, 0u64);
    let texts: Vec<(&str, u64)> = files
        .iter()
        .filter_map(|(p, size)| p.to_str().map(|t| (t, *size)))
        .collect();
    for (i, (text, size)) in texts.iter().enumerate() {
        batch.push(text);
        len += text.len() + 3;
        bytes += size;
        if len >= MAX_COMMAND || i + 1 == texts.len() {
            if !sha256_batch(sess, &batch, bytes, &mut found)? {
                return Ok(None);
            }
            batch.clear();
            (len, bytes) = (0, 0);
        }
    }
    Ok(Some(found))
}

/// One `sha256sum` run over `paths`; `false` when the host has no `sha256sum`.
fn sha256_batch(
    sess: &ssh2::Session,
    paths: &[&str],
    bytes: u64,
    found: &mut HashMap<std::path::PathBuf, String>,
) -> Result<bool, TransferError> {
    let quoted: Vec<String> = paths.iter().map(|p| shell_quote(p)).collect();
    let command = format!(
        "command -v sha256sum >/dev/null 2>&1 || exit 127; exec sha256sum -b -- {}",
        quoted.join(" ")
    );
    let before = raise_timeout_for(sess, bytes);
    let result = exec_small(sess, &command, "checking sha256 of the remote files");
    sess.set_timeout(before);
    let (code, out) = result?;
    if code == 127 {
        return Ok(false);
    }
    let wanted: std::collections::HashSet<&str> = paths.iter().copied().collect();
    for line in out.lines() {
        // `HASH *NAME`; names with a backslash or newline come escaped (a leading `\`).
        let (Some(hash), Some(name)) = (line.get(..64), line.get(66..)) else {
            continue;
        };
        if line.starts_with('\\')
            || line.get(64..66) != Some(" *")
            || !hash.chars().all(|c| c.is_ascii_hexdigit())
        {
            continue;
        }
        if wanted.contains(name) {
            found.insert(std::path::PathBuf::from(name), hash.to_ascii_lowercase());
        }
    }
    Ok(true)
}

/// Adds the hard link `aside` to `target` (`ln`), so that renaming over `target` does not
/// free the old file inside the rename; `false` when the host cannot (no shell, no links).
pub fn link_aside(sess: &ssh2::Session, target: &Path, aside: &Path) -> bool {
    let (Some(t), Some(a)) = (target.to_str(), aside.to_str()) else {
        return false;
    };
    let command = format!("exec ln -- {} {}", shell_quote(t), shell_quote(a));
    matches!(
        exec_small(sess, &command, "linking the replaced file aside"),
        Ok((0, _))
    )
}

/// Removes `paths` in a detached remote process, so that freeing large replaced files costs
/// the push no time. Best effort: a path left behind is a temp name the janitor also removes.
pub fn remove_in_background(sess: &ssh2::Session, paths: &[std::path::PathBuf]) {
    let quoted: Vec<String> = paths
        .iter()
        .filter_map(|p| p.to_str())
        .map(shell_quote)
        .collect();
    if quoted.is_empty() {
        return;
    }
    let command = format!(
        "exec </dev/null >/dev/null 2>&1; ( rm -f -- {} & )",
        quoted.join(" ")
    );
    let _ = exec_small(sess, &command, "removing replaced files");
}

/// A remote process that deletes this job's temp files if the connection dies before the job
/// says it is done. sshd and everything it started die with the connection, so the janitor
/// detaches (its parent subshell exits, it is re-parented to init) and waits on the channel's
/// stdin: a line `ok` means nothing to clean; end of file (connection gone) or `clean` means
/// remove `DIR/.*.fleetdeck-tmp-TOKEN` in every target directory — again a second later, in
/// case the dying sftp-server still created one. A pipe to `cat` keeps the channel open until
/// the janitor exits. Needs a POSIX shell; without one, cleanup on a lost connection is skipped.
pub struct Janitor {
    channel: Option<ssh2::Channel>,
}

impl Janitor {
    /// Starts the janitor for temp files named with `token` in `dirs` (absolute, UTF-8 ones
    /// only; others are left to the in-band cleanup).
    pub fn start(sess: &ssh2::Session, dirs: &[&Path], token: &str) -> Janitor {
        let globs: Vec<String> = dirs
            .iter()
            .filter_map(|d| d.to_str())
            .flat_map(|d| {
                let dir = shell_quote(d);
                let marker = super::names::TEMP_MARKER;
                [
                    format!("{dir}/.*{marker}{token}"),
                    format!("{dir}/.*{marker}{token}-old"),
                ]
            })
            .collect();
        if globs.is_empty() {
            return Janitor { channel: None };
        }
        let globs = globs.join(" ");
        let command = format!(
            "exec 5<&0 </dev/null; ( {{ read -r x; [ \"$x\" = ok ] || {{ rm -f -- {globs}; sleep 1; rm -f -- {globs}; }}; }} \
             <&5 6>&1 >/dev/null 2>&1 & ) | cat >/dev/null"
        );
        let channel = sess
            .channel_session()
            .ok()
            .and_then(|mut ch| ch.exec(&command).ok().map(|()| ch));
        Janitor { channel }
    }

    /// Tells the janitor how the job ended: `clean` removes leftovers now, otherwise nothing.
    pub fn finish(mut self, clean: bool) {
        if let Some(mut channel) = self.channel.take() {
            let line: &[u8] = if clean { b"clean\n" } else { b"ok\n" };
            let _ = channel.write_all(line);
            let _ = channel.flush();
            let _ = channel.send_eof();
            let _ = channel.close();
        }
    }
}
