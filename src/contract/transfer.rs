//! What a transfer job asks for: the sources and destination, and what to do with files
//! already there.

use std::path::PathBuf;

use super::Choice;

/// What to do when the remote target already exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Overwrite {
    #[default]
    Always,
    Never,
    /// Only when size or mtime differ.
    IfDifferent,
}

impl Choice for Overwrite {
    const ALL: &'static [Self] = &[Overwrite::Always, Overwrite::Never, Overwrite::IfDifferent];
    fn as_str(self) -> &'static str {
        match self {
            Overwrite::Always => "always",
            Overwrite::Never => "never",
            Overwrite::IfDifferent => "if-different",
        }
    }
    fn help(self) -> &'static str {
        match self {
            Overwrite::Always | Overwrite::Never => "",
            Overwrite::IfDifferent => "Only when size or mtime differ",
        }
    }
}

/// How fetched files are named locally.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Naming {
    /// `DEST/<host>/…`
    #[default]
    Subdir,
    /// `DEST/name.<host>`
    Suffix,
}

impl Choice for Naming {
    const ALL: &'static [Self] = &[Naming::Subdir, Naming::Suffix];
    fn as_str(self) -> &'static str {
        match self {
            Naming::Subdir => "subdir",
            Naming::Suffix => "suffix",
        }
    }
    fn help(self) -> &'static str {
        match self {
            Naming::Subdir => "`DEST/<host>/…`",
            Naming::Suffix => "`DEST/name.<host>`",
        }
    }
}

/// Send local files/directories to a remote path.
///
/// Mapping (like rsync, so that sending twice gives the same result): a directory `SRC` goes
/// to `REMOTE/SRC`, its contents only when written `SRC/`; a single file goes to `REMOTE` itself
/// unless `REMOTE` is an existing directory or ends with `/`; several sources always go into
/// the directory `REMOTE`, created when missing.
#[derive(Debug, Clone, Default)]
pub struct UploadSpec {
    pub sources: Vec<PathBuf>,
    /// Remote destination; relative paths resolve against the login directory.
    pub remote: String,
    pub recursive: bool,
    /// Keep permission bits and modification times.
    pub keep_perms: bool,
    pub overwrite: Overwrite,
    /// Compare the sha256 of every file with the remote `sha256sum` before renaming it into place.
    pub verify: bool,
    /// Send only what differs (`push --sync`); `None` sends everything `overwrite` allows.
    pub sync: Option<SyncOptions>,
    /// Continue a cancelled or failed push of the same source (`--resume`): a kept partial
    /// temp file whose prefix hashes like the local file's is appended to, not rewritten.
    pub resume: bool,
    /// How the small files of a push travel (tests force a path; faces keep `Auto`).
    pub small_files: SmallFiles,
}

/// How the small files of a push travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SmallFiles {
    /// One tar stream per host where the host has `tar`, else the SFTP lanes.
    #[default]
    Auto,
    /// Always the SFTP lanes.
    Lanes,
    /// The tar path with a probe that finds no `tar` (tests of the fallback).
    TarMissing,
}

/// How `push --sync` decides what to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct SyncOptions {
    /// Compare sha256 (the remote `sha256sum`) of files of equal size instead of their mtime.
    pub checksum: bool,
    /// Delete remote files and directories inside a sent directory that the source lacks.
    pub delete: bool,
}

/// Fetch remote files/directories/globs into a local directory.
#[derive(Debug, Clone, Default)]
pub struct DownloadSpec {
    /// Remote file, directory or glob (in the last path component only).
    pub remote: String,
    pub dest: PathBuf,
    pub recursive: bool,
    /// Keep permission bits (without setuid/setgid/sticky) and modification times; otherwise
    /// files are 0600 and directories 0700.
    pub keep_perms: bool,
    pub naming: Naming,
    /// Compare the sha256 of every fetched file with the remote `sha256sum`.
    pub verify: bool,
}
