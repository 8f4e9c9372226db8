//! Run folders: `<runs_dir>/<YYYYmmddTHHMMSS>-<job>/<host>.out|.err`, every byte of every
//! host's output, written as it arrives (dir 0700, files 0600).

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use super::{JobId, Stream};

/// Creates a fresh run folder for `job` (a `-2`, `-3`… suffix if the name is taken).
pub fn create_run_dir(runs_dir: &Path, stamp: &str, job: JobId) -> io::Result<PathBuf> {
    crate::paths::create_private_dir(runs_dir)?;
    let base = format!("{stamp}-{job}");
    for n in 1..1000 {
        let name = if n == 1 {
            base.clone()
        } else {
            format!("{base}-{n}")
        };
        let dir = runs_dir.join(name);
        match std::fs::DirBuilder::new().mode_private().create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!("no free run folder name for {base}"),
    ))
}

trait PrivateDir {
    fn mode_private(&mut self) -> &mut Self;
}

impl PrivateDir for std::fs::DirBuilder {
    fn mode_private(&mut self) -> &mut Self {
        use std::os::unix::fs::DirBuilderExt;
        self.mode(0o700)
    }
}

/// A host name as a file name: [`crate::paths::host_file_name`], the same mapping pull
/// destinations use (no `/`, no leading dot, no control characters, and injective).
pub fn host_file_stem(host: &str) -> String {
    crate::paths::host_file_name(host)
}

/// The two output files of one host in one run. Each is created on its stream's first byte,
/// so a stream that wrote nothing has no file (a warm `true` on 500 hosts creates none).
pub struct HostFiles {
    stem: std::path::PathBuf,
    out: Option<BufWriter<File>>,
    err: Option<BufWriter<File>>,
    failed: Option<io::Error>,
}

impl HostFiles {
    pub fn new(run_dir: &Path, host: &str) -> HostFiles {
        HostFiles {
            stem: run_dir.join(host_file_stem(host)),
            out: None,
            err: None,
            failed: None,
        }
    }

    /// The file a stream of this host goes to.
    pub fn path(&self, stream: Stream) -> PathBuf {
        let mut name = self.stem.clone().into_os_string();
        name.push(match stream {
            Stream::Stdout => ".out",
            Stream::Stderr => ".err",
        });
        PathBuf::from(name)
    }

    /// Writes a chunk; the first error is kept and reported by [`HostFiles::finish`].
    pub fn write(&mut self, stream: Stream, data: &[u8]) {
        if self.failed.is_some() || data.is_empty() {
            return;
        }
        let path = self.path(stream);
        let slot = match stream {
            Stream::Stdout => &mut self.out,
            Stream::Stderr => &mut self.err,
        };
        if slot.is_none() {
            match crate::paths::create_private_file(&path) {
                Ok(f) => *slot = Some(BufWriter::with_capacity(64 * 1024, f)),
                Err(e) => {
                    self.failed = Some(e);
                    return;
                }
            }
        }
        if let Some(w) = slot.as_mut() {
            if let Err(e) = w.write_all(data) {
                self.failed = Some(e);
            }
        }
    }

    /// Flushes both files.
    pub fn finish(mut self) -> io::Result<()> {
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        for w in [self.out.as_mut(), self.err.as_mut()].into_iter().flatten() {
            w.flush()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_safe() {
        assert_eq!(host_file_stem("web01"), "web01");
        assert_eq!(host_file_stem("../x"), "%2E.%2Fx");
        assert_eq!(host_file_stem("a\nb"), "a%0Ab");
        assert_ne!(host_file_stem("a/b"), host_file_stem("a_b"));
    }

    #[test]
    fn run_dir_is_private_and_unique() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().expect("tempdir");
        let a = create_run_dir(d.path(), "20260101T000000", 1).expect("a");
        let b = create_run_dir(d.path(), "20260101T000000", 1).expect("b");
        assert_ne!(a, b);
        assert_eq!(
            std::fs::metadata(&a).expect("meta").permissions().mode() & 0o777,
            0o700
        );
        let mut f = HostFiles::new(&a, "h.example");
        f.write(Stream::Stderr, b"boom");
        f.finish().expect("flush");
        assert_eq!(
            std::fs::read(a.join("h.example.err")).expect("read"),
            b"boom"
        );
        assert!(!a.join("h.example.out").exists());
    }
}
