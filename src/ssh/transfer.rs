//! File transfers over SFTP on an already authenticated session.

use std::path::PathBuf;

/// What to do when the remote target already exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Overwrite {
    #[default]
    Always,
    Never,
    /// Only when size or mtime differ.
    IfDifferent,
}

/// How fetched files are named locally.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Naming {
    /// `DEST/<host>/…`
    #[default]
    Subdir,
    /// `DEST/name.<host>`
    Suffix,
}

/// Send local files/directories to a remote path.
#[derive(Debug, Clone, Default)]
pub struct UploadSpec {
    pub sources: Vec<PathBuf>,
    /// Remote destination; relative paths resolve against the login directory.
    pub remote: String,
    pub recursive: bool,
    pub keep_perms: bool,
    pub overwrite: Overwrite,
    pub verify: bool,
}

/// Fetch remote files/directories/globs into a local directory.
#[derive(Debug, Clone, Default)]
pub struct DownloadSpec {
    /// Remote file, directory or glob.
    pub remote: String,
    pub dest: PathBuf,
    pub recursive: bool,
    pub keep_perms: bool,
    pub naming: Naming,
}
