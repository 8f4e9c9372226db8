//! Where fleetdeck keeps its state: `$XDG_STATE_HOME/fleetdeck` (or `~/.local/state/fleetdeck`).
//!
//! Every directory fleetdeck creates is 0700 and every file 0600, because run folders and the
//! operation log hold command output that may be sensitive.

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// OpenSSH's `GlobalKnownHostsFile`, always consulted (unless a host names its own), never
/// written.
pub const GLOBAL_KNOWN_HOSTS: &str = "/etc/ssh/ssh_known_hosts";

/// The state directory, honouring `FLEETDECK_STATE_DIR` (tests) then `XDG_STATE_HOME`.
pub fn state_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("FLEETDECK_STATE_DIR") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_STATE_HOME") {
        return PathBuf::from(dir).join("fleetdeck");
    }
    home_dir()
        .unwrap_or_else(|| PathBuf::from("."))
        .join(".local/state/fleetdeck")
}

/// The config directory, honouring `FLEETDECK_CONFIG_DIR` then `XDG_CONFIG_HOME`.
pub fn config_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("FLEETDECK_CONFIG_DIR") {
        return PathBuf::from(dir);
    }
    dirs::config_dir()
        .unwrap_or_else(|| PathBuf::from("."))
        .join("fleetdeck")
}

/// The operation log: `<state dir>/oplog.jsonl`.
pub fn oplog_file() -> PathBuf {
    state_dir().join("oplog.jsonl")
}

/// Where run folders go: `<state dir>/runs`.
pub fn runs_dir() -> PathBuf {
    state_dir().join("runs")
}

/// The console's command history: `<state dir>/history`.
pub fn history_file() -> PathBuf {
    state_dir().join("history")
}

/// The console's settings: `<config dir>/console.yaml`.
pub fn console_config_file() -> PathBuf {
    config_dir().join("console.yaml")
}

/// The operator's own themes: `<config dir>/themes/NAME.yaml`.
pub fn themes_dir() -> PathBuf {
    config_dir().join("themes")
}

/// The home directory (`$HOME`, else the passwd entry's).
pub fn home_dir() -> Option<PathBuf> {
    dirs::home_dir()
}

/// `~` and `~/x` expanded to the home directory; anything else as it is.
pub fn expand_tilde(text: &str) -> PathBuf {
    if text == "~" {
        return home_dir().unwrap_or_else(|| PathBuf::from("~"));
    }
    if let Some(rest) = text.strip_prefix("~/") {
        if let Some(home) = home_dir() {
            return home.join(rest);
        }
    }
    PathBuf::from(text)
}

/// The operator's home directory as OpenSSH finds it: the passwd entry, not `$HOME`
/// (SSH-NOTES: OpenSSH reads known_hosts and keys from there, and so must we).
pub fn passwd_home() -> Option<PathBuf> {
    nix::unistd::User::from_uid(nix::unistd::getuid())
        .ok()
        .flatten()
        .map(|u| u.dir)
        .or_else(home_dir)
}

/// Creates `dir` and its parents with mode 0700, then checks that it is safe to keep private
/// files in ([`check_private_dir`]).
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    check_private_dir(dir)
}

/// Refuses a directory that someone else could change under us, as OpenSSH's `StrictModes`
/// does: the directory (symlinks resolved) must be ours and writable by nobody else, and each
/// directory above it must belong to us or root and be writable by nobody else unless it has
/// the sticky bit (like `/tmp`). A planted symlink then cannot lead our writes elsewhere.
pub fn check_private_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let real = dir.canonicalize()?;
    let me = nix::unistd::geteuid().as_raw();
    let refuse = |path: &Path, why: String| {
        io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("refusing {}: {} {why}", dir.display(), path.display()),
        )
    };
    let md = fs::metadata(&real)?;
    if !md.is_dir() {
        return Err(refuse(&real, "is not a directory".into()));
    }
    if md.uid() != me {
        return Err(refuse(
            &real,
            format!("belongs to uid {}, not to us", md.uid()),
        ));
    }
    if md.mode() & 0o022 != 0 {
        return Err(refuse(
            &real,
            format!(
                "is writable by others (mode {:04o}; chmod go-w it)",
                md.mode() & 0o7777
            ),
        ));
    }
    for parent in real.ancestors().skip(1) {
        let md = fs::metadata(parent)?;
        if md.uid() != me && md.uid() != 0 {
            return Err(refuse(
                parent,
                format!("belongs to uid {}, neither to us nor root", md.uid()),
            ));
        }
        if md.mode() & 0o022 != 0 && md.mode() & 0o1000 == 0 {
            return Err(refuse(
                parent,
                format!(
                    "is writable by others without the sticky bit (mode {:04o})",
                    md.mode() & 0o7777
                ),
            ));
        }
    }
    Ok(())
}

/// Opens `path` (in a directory checked by [`create_private_dir`]) never through a symlink,
/// and refuses a file that is not ours or not a regular file.
fn open_private(path: &Path, opts: &mut fs::OpenOptions) -> io::Result<fs::File> {
    use std::os::unix::fs::MetadataExt;
    let file = opts
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| {
            if e.raw_os_error() == Some(libc::ELOOP) {
                io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    format!("refusing {}: it is a symbolic link", path.display()),
                )
            } else {
                e
            }
        })?;
    let md = file.metadata()?;
    if !md.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("refusing {}: not a regular file", path.display()),
        ));
    }
    if md.uid() != nix::unistd::geteuid().as_raw() {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "refusing {}: belongs to uid {}, not to us",
                path.display(),
                md.uid()
            ),
        ));
    }
    Ok(file)
}

/// Opens `path` for appending, creating it 0600 (and its directory 0700) if needed; never
/// through a symlink.
pub fn open_private_append(path: &Path) -> io::Result<fs::File> {
    if let Some(parent) = path.parent() {
        create_private_dir(parent)?;
    }
    open_private(path, fs::OpenOptions::new().create(true).append(true))
}

/// Creates (truncating) `path` with mode 0600; never through a symlink.
pub fn create_private_file(path: &Path) -> io::Result<fs::File> {
    if let Some(parent) = path.parent() {
        create_private_dir(parent)?;
    }
    // Truncated only once it is known to be our own regular file.
    let file = open_private(
        path,
        fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(false),
    )?;
    file.set_len(0)?;
    Ok(file)
}

/// The longest file name [`host_file_name`] returns, leaving room for suffixes (`.out`, a
/// temp-file marker) within the 255 bytes of a Linux file name.
pub const HOST_FILE_NAME_MAX: usize = 160;

/// A host name as one file name, the same for run folders and pull destinations, and
/// injective: different host names never share a file name. `%`, `/`, control characters and
/// a leading `.` are percent-encoded (`a/b` → `a%2Fb`, `a_b` stays); the empty name is `%`;
/// a name longer than [`HOST_FILE_NAME_MAX`] keeps its start and ends in `%~` and a SHA-256
/// of the whole name.
pub fn host_file_name(host: &str) -> String {
    use std::fmt::Write as _;
    if host.is_empty() {
        return "%".into();
    }
    let mut out = String::with_capacity(host.len());
    for (i, c) in host.char_indices() {
        if c == '%' || c == '/' || c.is_control() || (i == 0 && c == '.') {
            let mut utf8 = [0u8; 4];
            for b in c.encode_utf8(&mut utf8).bytes() {
                let _ = write!(out, "%{b:02X}");
            }
        } else {
            out.push(c);
        }
    }
    if out.len() <= HOST_FILE_NAME_MAX {
        return out;
    }
    use sha2::Digest;
    let digest = sha2::Sha256::digest(host.as_bytes());
    let mut tail = String::from("%~");
    for b in &digest[..16] {
        let _ = write!(tail, "{b:02x}");
    }
    let mut cut = HOST_FILE_NAME_MAX - tail.len();
    while !out.is_char_boundary(cut) {
        cut -= 1;
    }
    out.truncate(cut);
    out + &tail
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn host_file_names_are_one_component_and_injective() {
        let long_a = "a".repeat(400);
        let long_b = format!("{}b", "a".repeat(399));
        let hosts = [
            "web01", "a/b", "a_b", "a%2Fb", "a%b", ".", "..", "%2E", "", "%", "a\nb", "a%0Ab",
            &long_a, &long_b, "é/ü",
        ];
        let names: Vec<String> = hosts.iter().map(|h| host_file_name(h)).collect();
        let unique: HashSet<&String> = names.iter().collect();
        assert_eq!(unique.len(), hosts.len(), "{names:?}");
        for n in &names {
            assert!(
                !n.is_empty() && !n.contains('/') && !n.starts_with('.'),
                "{n}"
            );
            assert!(n.len() <= HOST_FILE_NAME_MAX, "{n}");
            assert!(!n.chars().any(char::is_control), "{n:?}");
        }
        assert_eq!(host_file_name("web01"), "web01");
        assert_eq!(host_file_name("a/b"), "a%2Fb");
    }

    #[test]
    fn private_files_are_never_opened_through_a_symlink() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let target = tmp.path().join("target");
        std::fs::write(&target, "keep me").expect("write");
        let link = tmp.path().join("oplog.jsonl");
        std::os::unix::fs::symlink(&target, &link).expect("symlink");
        for r in [open_private_append(&link), create_private_file(&link)] {
            let e = r.expect_err("a symlink is refused");
            assert!(e.to_string().contains("symbolic link"), "{e}");
        }
        assert_eq!(std::fs::read_to_string(&target).expect("read"), "keep me");
        // A directory others can write is refused, and so is a file in it.
        let open = tmp.path().join("open");
        std::fs::create_dir(&open).expect("mkdir");
        std::fs::set_permissions(&open, std::os::unix::fs::PermissionsExt::from_mode(0o777))
            .expect("chmod");
        let e = create_private_file(&open.join("f")).expect_err("world-writable dir");
        assert!(e.to_string().contains("writable by others"), "{e}");
        assert!(!open.join("f").exists());
        let e = create_private_dir(&open.join("sub")).expect_err("below a world-writable dir");
        assert!(e.to_string().contains("sticky"), "{e}");
        // A symlinked state dir pointing into a directory others can write: refused too.
        let via = tmp.path().join("via");
        std::os::unix::fs::symlink(&open, &via).expect("symlink");
        assert!(create_private_file(&via.join("f")).is_err());
    }
}
