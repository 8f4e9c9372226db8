//! Small files pipelined: several SFTP channels ("lanes") on the session in non-blocking
//! mode, each carrying one file at a time through open → write → fsetstat → close → rename,
//! so that the round trips of many files overlap instead of adding up (one file after the
//! other costs ~5 round trips each).
//!
//! Safety is the serial path's: every file goes to its own `O_EXCL` temp name and is renamed
//! into place only when closed. A new target is put in place by the lane with SFTP's plain
//! rename (OpenSSH links the new name, so it is atomic and never replaces anything); a target
//! that exists is handed back to the caller, which replaces it with `posix-rename`.
//! On any failure or cancel every temp file a lane created and did not rename is removed.

use std::fs;
use std::io::Read;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use ssh2::{FileStat, OpenFlags, OpenType, Sftp};

use super::plan::FileItem;
use super::Ctx;
use crate::ssh::transfer::remote::PosixRenamer;
use crate::ssh::transfer::{check_cancel, shown, ssh_error, TransferError};
use crate::ssh::{is_eagain, wait_socket};

/// Files up to this size go through lanes (read whole into the lane's buffer).
pub(super) const SMALL_FILE: u64 = 256 * 1024;

/// Lanes opened, each an SFTP channel plus a second one for `posix-rename` (replacing
/// existing targets). OpenSSH's `MaxSessions` (10) caps a session's channels and the upload
/// holds up to three others (SFTP, posix-rename, janitor): a channel the server refuses
/// leaves a lane without its renamer (its replacements go back to the caller) or unopened.
const LANES: usize = 4;

/// Longest wait on the socket between two looks at the lanes. Short, because a lane's
/// answer may already sit in libssh2's buffers (read during another lane's call) while the
/// socket has nothing new: a long wait there stalls every lane.
const POLL_SLICE: Duration = Duration::from_millis(1);

/// One file handed to the lanes.
pub(super) struct Small<'p> {
    pub(super) item: &'p FileItem,
    pub(super) tmp: PathBuf,
    pub(super) attrs: FileStat,
    /// The target exists: the caller replaces it (posix-rename).
    pub(super) replaces: bool,
    /// What was at the target (its mode and owner are kept).
    pub(super) existing: Option<FileStat>,
}

enum Step {
    Open,
    Write(usize),
    Attrs,
    Close,
    /// A new target: SFTP's plain rename.
    Rename,
    /// An existing target: the lane's `posix-rename`.
    Replace,
}

struct Job<'p> {
    small: Small<'p>,
    data: Vec<u8>,
    file: Option<ssh2::File>,
    step: Step,
}

struct Lane<'a, 'p> {
    sftp: Sftp,
    renamer: Option<PosixRenamer<'a>>,
    job: Option<Job<'p>>,
}

/// What a lane call did.
enum Poll {
    Progress,
    Blocked,
    /// The file is in place, or (`replaces`) its temp copy is complete for the caller.
    Done,
}

fn again<T>(r: Result<T, ssh2::Error>, what: &str) -> Result<Option<T>, TransferError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if is_eagain(&e) => Ok(None),
        Err(e) => Err(ssh_error(what, &e)),
    }
}

impl Job<'_> {
    /// Advances the job by one call.
    fn poll(
        &mut self,
        sftp: &Sftp,
        renamer: Option<&PosixRenamer<'_>>,
    ) -> Result<Poll, TransferError> {
        let what = format!("writing {}", shown(&self.small.item.remote));
        match self.step {
            Step::Open => {
                let flags = OpenFlags::WRITE | OpenFlags::EXCLUSIVE;
                let opened = sftp.open_mode(&self.small.tmp, flags, 0o600, OpenType::File);
                let Some(file) = again(opened, &what)? else {
                    return Ok(Poll::Blocked);
                };
                self.file = Some(file);
                self.step = Step::Write(0);
            }
            Step::Write(off) if off >= self.data.len() => self.step = Step::Attrs,
            Step::Write(off) => {
                let file = self.file.as_mut().ok_or_else(|| lost(&what))?;
                match std::io::Write::write(file, &self.data[off..]) {
                    Ok(0) => return Err(lost(&what)),
                    Ok(n) => self.step = Step::Write(off + n),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        return Ok(Poll::Blocked)
                    }
                    Err(e) => return Err(crate::ssh::transfer::io_ssh_error(what, &e)),
                }
            }
            Step::Attrs => return self.set_attrs(&what),
            Step::Close => {
                let file = self.file.as_mut().ok_or_else(|| lost(&what))?;
                if again(file.close(), &what)?.is_none() {
                    return Ok(Poll::Blocked);
                }
                self.file = None;
                self.step = match (self.small.replaces, renamer) {
                    (false, _) => Step::Rename,
                    (true, Some(_)) => Step::Replace,
                    (true, None) => return Ok(Poll::Done),
                };
            }
            Step::Replace => return self.replace(renamer),
            Step::Rename => return self.rename(sftp),
        }
        Ok(Poll::Progress)
    }

    /// The mode, times (and owner, where we may) of the temp copy.
    fn set_attrs(&mut self, what: &str) -> Result<Poll, TransferError> {
        let file = self.file.as_mut().ok_or_else(|| lost(what))?;
        match file.setstat(self.small.attrs.clone()) {
            Ok(()) => self.step = Step::Close,
            Err(e) if is_eagain(&e) => return Ok(Poll::Blocked),
            // The replaced file's owner is kept only where we may (root): without that
            // right, the mode and times alone.
            Err(e)
                if self.small.attrs.uid.is_some()
                    && matches!(e.code(), ssh2::ErrorCode::SFTP(3 | 4)) =>
            {
                self.small.attrs.uid = None;
                self.small.attrs.gid = None;
            }
            Err(e) => return Err(ssh_error(what, &e)),
        }
        Ok(Poll::Progress)
    }

    /// A new target: SFTP's plain rename (OpenSSH links the name: atomic, never replaces).
    fn rename(&mut self, sftp: &Sftp) -> Result<Poll, TransferError> {
        let target = &self.small.item.remote;
        match sftp.rename(&self.small.tmp, target, None) {
            Ok(()) => Ok(Poll::Done),
            Err(e) if is_eagain(&e) => Ok(Poll::Blocked),
            // The target appeared meanwhile: the caller replaces it.
            Err(e) if matches!(e.code(), ssh2::ErrorCode::SFTP(4 | 11)) => {
                self.small.replaces = true;
                Ok(Poll::Done)
            }
            Err(e) => Err(ssh_error(
                format!("renaming into place {}", shown(target)),
                &e,
            )),
        }
    }

    /// An existing target: replaced with the lane's `posix-rename`.
    fn replace(&mut self, renamer: Option<&PosixRenamer<'_>>) -> Result<Poll, TransferError> {
        let target = &self.small.item.remote;
        let what = format!("renaming into place {}", shown(target));
        let renamer = renamer.ok_or_else(|| lost(&what))?;
        match renamer.rename(&self.small.tmp, target) {
            Ok(()) => {
                self.small.replaces = false;
                Ok(Poll::Done)
            }
            Err(e) if is_eagain(&e) => Ok(Poll::Blocked),
            // No posix-rename on this server: the caller's fallback replaces it.
            Err(e) if e.code() == ssh2::ErrorCode::SFTP(8) => Ok(Poll::Done),
            Err(e) => Err(ssh_error(what, &e)),
        }
    }
}

fn lost(what: &str) -> TransferError {
    TransferError::Protocol {
        what: what.to_string(),
        message: "the SFTP write made no progress".into(),
    }
}

pub(super) fn read_small(item: &FileItem) -> Result<Vec<u8>, TransferError> {
    let what = || format!("reading {}", item.local.display());
    let file = fs::File::open(&item.local).map_err(|e| TransferError::local(what(), e))?;
    let mut data = Vec::with_capacity(usize::try_from(item.size).unwrap_or(0));
    file.take(SMALL_FILE + 1)
        .read_to_end(&mut data)
        .map_err(|e| TransferError::local(what(), e))?;
    Ok(data)
}

impl<'a, 'p> Ctx<'a> {
    /// Sends `files` through the lanes. Returns the ones whose existing target the caller
    /// must replace (temp copies complete); `done(item)` is called for each file put in place.
    pub(super) fn send_small(
        &mut self,
        files: Vec<Small<'p>>,
        done: &mut dyn FnMut(&FileItem, &mut Self),
    ) -> Result<Vec<Small<'p>>, TransferError> {
        let mut lanes: Vec<Lane<'a, 'p>> = Vec::new();
        let replacing = files.iter().any(|f| f.replaces);
        for i in 0..LANES.min(files.len()) {
            let sftp = match self.sess.sftp() {
                Ok(sftp) => sftp,
                Err(e) if i == 0 => return Err(ssh_error("starting SFTP", &e)),
                Err(_) => break,
            };
            let renamer = if replacing {
                PosixRenamer::open(self.sess)
            } else {
                None
            };
            lanes.push(Lane {
                sftp,
                renamer,
                job: None,
            });
        }
        self.sess.set_blocking(false);
        let mut created: Vec<PathBuf> = Vec::new();
        let mut replace = Vec::new();
        let result = self.drive(&mut lanes, files, &mut created, &mut replace, done);
        // Blocking again before anything else: dropping a half-closed file or the lanes'
        // SFTP channels then completes instead of failing.
        self.sess.set_blocking(true);
        for lane in &mut lanes {
            if let Some(mut job) = lane.job.take() {
                if let Some(mut file) = job.file.take() {
                    let _ = file.close();
                }
            }
        }
        drop(lanes);
        if let Err(e) = result {
            if !e.session_broken() {
                for tmp in &created {
                    let _ = self.sftp.unlink(tmp);
                }
                for small in &replace {
                    let _ = self.sftp.unlink(&small.tmp);
                }
            }
            return Err(e);
        }
        Ok(replace)
    }

    /// The non-blocking loop: feed idle lanes, advance every lane, wait on the socket when
    /// none could move, fail after the session timeout without progress.
    fn drive(
        &mut self,
        lanes: &mut [Lane<'a, 'p>],
        files: Vec<Small<'p>>,
        created: &mut Vec<PathBuf>,
        replace: &mut Vec<Small<'p>>,
        done: &mut dyn FnMut(&FileItem, &mut Self),
    ) -> Result<(), TransferError> {
        let timeout = Duration::from_millis(u64::from(self.sess.timeout()).max(1000));
        let mut queue = files.into_iter();
        let mut last_progress = Instant::now();
        let fd = std::os::fd::AsRawFd::as_raw_fd(self.sess);
        loop {
            check_cancel(self.cancel)?;
            let mut moved = false;
            let mut busy = false;
            for lane in lanes.iter_mut() {
                if lane.job.is_none() {
                    if let Some(small) = queue.next() {
                        let data = read_small(small.item)?;
                        created.push(small.tmp.clone());
                        lane.job = Some(Job {
                            small,
                            data,
                            file: None,
                            step: Step::Open,
                        });
                    }
                }
                let Some(job) = lane.job.as_mut() else {
                    continue;
                };
                busy = true;
                match job.poll(&lane.sftp, lane.renamer.as_ref())? {
                    Poll::Blocked => {}
                    Poll::Progress => moved = true,
                    Poll::Done => {
                        moved = true;
                        if let Some(job) = lane.job.take() {
                            created.retain(|t| *t != job.small.tmp);
                            if job.small.replaces {
                                replace.push(job.small);
                            } else {
                                done(job.small.item, self);
                            }
                        }
                    }
                }
            }
            if !busy {
                return Ok(());
            }
            if moved {
                last_progress = Instant::now();
            } else {
                if last_progress.elapsed() >= timeout {
                    return Err(TransferError::Timeout {
                        what: "sending small files".into(),
                    });
                }
                wait_socket(fd, &self.sess.block_directions(), POLL_SLICE);
            }
        }
    }
}
