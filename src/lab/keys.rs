//! Keys of the fleet: one client key authorized on every host, one ed25519 host key per
//! host, made with `ssh-keygen` in parallel and kept across runs.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::dir::write_file;
use super::error::io_err;
use super::{LabError, LabHost};

/// How many `ssh-keygen` processes run at once.
const KEYGEN_PARALLEL: usize = 32;

/// Makes the keys that are missing and authorizes the client key for `user` on every host.
pub(super) fn ensure_keys(dir: &Path, user: &str, hosts: &[LabHost]) -> Result<(), LabError> {
    let mut keys = vec![(dir.join("client_key"), format!("{user}@fleetdeck-lab"))];
    keys.extend(
        hosts
            .iter()
            .map(|h| (h.host_key_path(), format!("{}@fleetdeck-lab", h.name))),
    );
    generate_keys(&keys)?;
    let client_pub = public_key(&dir.join("client_key.pub"))?;
    write_file(
        &dir.join("authorized_keys"),
        &format!("{client_pub} {user}@fleetdeck-lab\n"),
        0o600,
    )
}

/// Runs ssh-keygen for every path in `keys` that has no key yet, `KEYGEN_PARALLEL` at a time.
pub(super) fn generate_keys(keys: &[(PathBuf, String)]) -> Result<(), LabError> {
    let missing: Vec<&(PathBuf, String)> = keys
        .iter()
        .filter(|(p, _)| !p.exists() || !p.with_extension("pub").exists())
        .collect();
    for chunk in missing.chunks(KEYGEN_PARALLEL) {
        let mut children: Vec<(&PathBuf, Child)> = Vec::new();
        for (path, comment) in chunk {
            let _ = fs::remove_file(path);
            let _ = fs::remove_file(path.with_extension("pub"));
            let child = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
                .arg(path)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|e| {
                    if e.kind() == io::ErrorKind::NotFound {
                        LabError::ToolMissing("ssh-keygen")
                    } else {
                        LabError::Io {
                            context: "run ssh-keygen".into(),
                            source: e,
                        }
                    }
                })?;
            children.push((path, child));
        }
        for (path, child) in children {
            let out = child
                .wait_with_output()
                .map_err(io_err("wait for ssh-keygen"))?;
            if !out.status.success() {
                return Err(LabError::Io {
                    context: format!("ssh-keygen -f {}", path.display()),
                    source: io::Error::other(
                        String::from_utf8_lossy(&out.stderr).trim().to_string(),
                    ),
                });
            }
        }
    }
    Ok(())
}

/// `ssh-ed25519 AAAA...` from a `.pub` file (without the comment).
pub(super) fn public_key(pub_path: &Path) -> Result<String, LabError> {
    let text =
        fs::read_to_string(pub_path).map_err(io_err(format!("read {}", pub_path.display())))?;
    let mut parts = text.split_whitespace();
    match (parts.next(), parts.next()) {
        (Some(kind), Some(key)) => Ok(format!("{kind} {key}")),
        _ => Err(LabError::Io {
            context: format!("read {}", pub_path.display()),
            source: io::Error::other("not an OpenSSH public key"),
        }),
    }
}
