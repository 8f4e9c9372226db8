//! Reach and privilege for the lab (issue 8): bastions with targets only they can reach, and
//! hosts where a real sudo asks a real password. Both need root.
//!
//! Network design (`--bastion`): two network namespaces per lab, linked by veth pairs whose
//! addresses are link-local (169.254.S.0/24, one free `S` per lab):
//! ```text
//! root ns  --veth 169.254.S.1 <-> 169.254.S.2--  fdlab-ID-1: bastion  (169.254.S.2:2200)
//!                                                            targets  (127.1.0.1:PORT, its own lo)
//!                                  fdlab-ID-1 --veth 169.254.S.5 <-> 169.254.S.6-- fdlab-ID-2:
//!                                                            bastion2 (169.254.S.6:2200)
//!                                                            deep     (127.2.0.1:PORT, its own lo)
//! ```
//! Targets listen on the loopback of their namespace, so only a process inside it (the
//! bastion's sshd) reaches them: from the root namespace `127.1.0.1:PORT` is refused. The
//! bastion namespace does not forward (`ip_forward=0`), and the root namespace has no route
//! to the second link, so the deep hosts need both hops.
//!
//! Sudo design (`--sudo-password`): a system user [`SUDO_USER`] (created only when absent,
//! recorded), a sudoers drop-in requiring its password (validated with `visudo -cf`), the
//! password set with `chpasswd` (never written to a file by the lab).

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};

use super::LabError;

/// The non-root login user of sudo lab hosts.
pub const SUDO_USER: &str = "fdlab";
/// The comment (GECOS) of the user the lab creates; a user of that name without it is left
/// alone.
const SUDO_GECOS: &str = "fleetdeck lab sudo user";
/// The sudoers drop-in the lab writes.
pub const SUDOERS_FILE: &str = "/etc/sudoers.d/fleetdeck-lab";
/// Port of the bastions' sshd inside their namespaces (not 22: known_hosts writes port 22
/// without brackets).
pub const BASTION_PORT: u16 = 2200;
/// Loopback address the one-hop targets listen on inside the bastion's namespace.
pub const TARGET_ADDR: &str = "127.1.0.1";
/// Loopback address the two-hop (deep) targets listen on inside the second namespace.
pub const DEEP_ADDR: &str = "127.2.0.1";
/// Labs using the sudo user right now: one file per lab, holding its directory. The user
/// and the drop-in go when the last one is down.
const SUDO_REGISTRY: &str = "/run/fleetdeck-lab/sudo-labs";
/// Present when a lab created [`SUDO_USER`] (so the last lab down deletes it).
const SUDO_CREATED: &str = "/run/fleetdeck-lab/fdlab-created";
/// Serialises namespace and subnet allocation between labs started at the same time.
const GLOBAL_LOCK: &str = "/run/fleetdeck-lab.lock";

/// What the reach features of one lab created, recorded in `lab.json` so `down` removes
/// exactly that.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ReachState {
    /// Network namespaces created (first: the bastion's, second: bastion2's).
    #[serde(default)]
    pub netns: Vec<String>,
    /// Root-namespace veth ends created.
    #[serde(default)]
    pub root_veths: Vec<String>,
    /// The `S` of 169.254.S.0/24.
    #[serde(default)]
    pub slot: u8,
    /// Two-hop hosts behind bastion2.
    #[serde(default)]
    pub deep: usize,
    /// Sudo hosts: the login user.
    #[serde(default)]
    pub sudo_user: Option<String>,
    /// True when this lab created [`SUDO_USER`] (so `down` deletes it).
    #[serde(default)]
    pub created_user: bool,
    /// True when this lab wrote [`SUDOERS_FILE`].
    #[serde(default)]
    pub sudoers: bool,
}

impl ReachState {
    pub fn bastion(&self) -> bool {
        !self.netns.is_empty()
    }
    /// `169.254.S.N`.
    pub fn addr(&self, n: u8) -> String {
        format!("169.254.{}.{n}", self.slot)
    }
}

fn run(what: &str, cmd: &mut Command) -> Result<String, LabError> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| LabError::Io {
            context: format!("run {what}"),
            source: e,
        })?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(LabError::Io {
            context: what.to_string(),
            source: std::io::Error::other(String::from_utf8_lossy(&out.stderr).trim().to_string()),
        })
    }
}

fn ip(args: &[&str]) -> Result<String, LabError> {
    run(
        &format!("ip {}", args.join(" ")),
        Command::new("ip").args(args),
    )
}

fn in_ns(ns: &str, args: &[&str]) -> Result<String, LabError> {
    let mut full = vec!["netns", "exec", ns];
    full.extend_from_slice(args);
    run(
        &format!("ip {}", full.join(" ")),
        Command::new("ip").args(&full),
    )
}

/// True when running as root (everything here needs it).
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

struct GlobalLock(#[allow(dead_code)] nix::fcntl::Flock<fs::File>);

fn global_lock() -> Result<GlobalLock, LabError> {
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(GLOBAL_LOCK)
        .map_err(|e| LabError::Io {
            context: format!("open {GLOBAL_LOCK}"),
            source: e,
        })?;
    nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
        .map(GlobalLock)
        .map_err(|(_, e)| LabError::Io {
            context: format!("lock {GLOBAL_LOCK}"),
            source: e.into(),
        })
}

/// A short id for names (`fdlab-ID-1`, veth `fdIDr`): 6 hex digits from time and pid.
fn new_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{:06x}",
        (nanos ^ std::process::id().wrapping_mul(2_654_435_761)) & 0xff_ffff
    )
}

/// Creates the namespaces and links of a bastion lab (with a second one when `deep > 0`).
/// On error everything created so far is removed again.
pub fn create_network(deep: usize) -> Result<ReachState, LabError> {
    let _g = global_lock()?;
    let used = ip(&["-o", "-4", "addr", "show"])?;
    let slot = (1..=250u8)
        .filter(|s| *s != 169)
        .find(|s| !used.contains(&format!("169.254.{s}.")))
        .ok_or_else(|| LabError::Io {
            context: "choose a free 169.254.S.0/24 for the lab's links".into(),
            source: std::io::Error::other("all 250 in use"),
        })?;
    let mut id = new_id();
    while Path::new("/run/netns")
        .join(format!("fdlab-{id}-1"))
        .exists()
    {
        id = new_id();
    }
    let mut st = ReachState {
        slot,
        deep,
        ..ReachState::default()
    };
    let result = build_network(&mut st, &id);
    if let Err(e) = result {
        remove_network(&st);
        return Err(e);
    }
    Ok(st)
}

fn build_network(st: &mut ReachState, id: &str) -> Result<(), LabError> {
    let ns1 = format!("fdlab-{id}-1");
    let root_end = format!("fd{id}r");
    ip(&["netns", "add", &ns1])?;
    st.netns.push(ns1.clone());
    in_ns(&ns1, &["ip", "link", "set", "lo", "up"])?;
    // Never route between the links, whatever the root namespace does.
    in_ns(&ns1, &["sysctl", "-q", "-w", "net.ipv4.ip_forward=0"])?;
    ip(&[
        "link", "add", &root_end, "type", "veth", "peer", "name", "eth-root", "netns", &ns1,
    ])?;
    st.root_veths.push(root_end.clone());
    ip(&[
        "addr",
        "add",
        &format!("{}/30", st.addr(1)),
        "dev",
        &root_end,
    ])?;
    ip(&["link", "set", &root_end, "up"])?;
    in_ns(
        &ns1,
        &[
            "ip",
            "addr",
            "add",
            &format!("{}/30", st.addr(2)),
            "dev",
            "eth-root",
        ],
    )?;
    in_ns(&ns1, &["ip", "link", "set", "eth-root", "up"])?;
    if st.deep > 0 {
        let ns2 = format!("fdlab-{id}-2");
        ip(&["netns", "add", &ns2])?;
        st.netns.push(ns2.clone());
        in_ns(&ns2, &["ip", "link", "set", "lo", "up"])?;
        in_ns(&ns2, &["sysctl", "-q", "-w", "net.ipv4.ip_forward=0"])?;
        in_ns(
            &ns1,
            &[
                "ip", "link", "add", "eth-deep", "type", "veth", "peer", "name", "eth-up", "netns",
                &ns2,
            ],
        )?;
        in_ns(
            &ns1,
            &[
                "ip",
                "addr",
                "add",
                &format!("{}/30", st.addr(5)),
                "dev",
                "eth-deep",
            ],
        )?;
        in_ns(&ns1, &["ip", "link", "set", "eth-deep", "up"])?;
        in_ns(
            &ns2,
            &[
                "ip",
                "addr",
                "add",
                &format!("{}/30", st.addr(6)),
                "dev",
                "eth-up",
            ],
        )?;
        in_ns(&ns2, &["ip", "link", "set", "eth-up", "up"])?;
        // Keep the root namespace's packets for the second link on the private link (the
        // bastion namespace drops them: it does not forward) instead of the default route.
        // The route goes away with the veth.
        ip(&[
            "route",
            "add",
            &format!("{}/30", st.addr(4)),
            "dev",
            &root_end,
        ])?;
    }
    Ok(())
}

/// Removes the namespaces and root veth ends named in `st` (only those; missing ones are
/// fine).
pub fn remove_network(st: &ReachState) {
    for veth in &st.root_veths {
        if Path::new("/sys/class/net").join(veth).exists() {
            let _ = ip(&["link", "del", veth]);
        }
    }
    for ns in st.netns.iter().rev() {
        if Path::new("/run/netns").join(ns).exists() {
            let _ = ip(&["netns", "del", ns]);
        }
    }
}

/// True when network namespace `ns` exists.
pub fn netns_exists(ns: &str) -> bool {
    Path::new("/run/netns").join(ns).exists()
}

fn user_exists(name: &str) -> bool {
    nix::unistd::User::from_name(name).ok().flatten().is_some()
}

/// The sudoers drop-in: the lab user may run anything, with its password, asked every time
/// and once only.
pub fn sudoers_text() -> String {
    format!(
        "# fleetdeck lab (generated by `fleetdeck lab up --sudo-password`; removed by down)\n\
         Defaults:{SUDO_USER} timestamp_timeout=0, !lecture\n\
         {SUDO_USER} ALL=(ALL:ALL) ALL\n"
    )
}

/// Creates [`SUDO_USER`] when absent, writes and validates the sudoers drop-in and sets the
/// user's password. Records what it created in `st`.
pub fn setup_sudo(st: &mut ReachState, lab_dir: &Path, password: &str) -> Result<(), LabError> {
    if password.is_empty() || password.contains(['\n', '\r', ':']) {
        return Err(LabError::BadSudoPassword);
    }
    let _g = global_lock()?;
    let reg = registry_entry(lab_dir);
    fs::create_dir_all(SUDO_REGISTRY)
        .and_then(|()| fs::write(&reg, lab_dir.display().to_string()))
        .map_err(|e| LabError::Io {
            context: format!("write {}", reg.display()),
            source: e,
        })?;
    if let Some(u) = nix::unistd::User::from_name(SUDO_USER).ok().flatten() {
        if u.gecos.to_str() != Ok(SUDO_GECOS) {
            let _ = fs::remove_file(&reg);
            return Err(LabError::Io {
                context: format!("user {SUDO_USER}"),
                source: std::io::Error::other(format!(
                    "exists and was not made by fleetdeck lab (comment is not {SUDO_GECOS:?}); \
                     refusing to change its password"
                )),
            });
        }
    } else {
        run(
            &format!("useradd {SUDO_USER}"),
            Command::new("useradd").args([
                "--system",
                "--create-home",
                "--home-dir",
                &format!("/var/lib/{SUDO_USER}"),
                "--shell",
                "/bin/sh",
                "--comment",
                SUDO_GECOS,
                SUDO_USER,
            ]),
        )?;
        st.created_user = true;
        let _ = fs::write(SUDO_CREATED, b"");
    }
    st.sudo_user = Some(SUDO_USER.to_string());
    // chpasswd reads `user:password` on stdin: the password never appears in argv or a file.
    let mut child = Command::new("chpasswd")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| LabError::Io {
            context: "run chpasswd".into(),
            source: e,
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = writeln!(stdin, "{SUDO_USER}:{password}");
    }
    let out = child.wait_with_output().map_err(|e| LabError::Io {
        context: "wait for chpasswd".into(),
        source: e,
    })?;
    if !out.status.success() {
        return Err(LabError::Io {
            context: format!("chpasswd for {SUDO_USER}"),
            source: std::io::Error::other(String::from_utf8_lossy(&out.stderr).trim().to_string()),
        });
    }
    let dir = Path::new("/etc/sudoers.d");
    if !dir.is_dir() {
        fs::create_dir_all(dir).map_err(|e| LabError::Io {
            context: "create /etc/sudoers.d".into(),
            source: e,
        })?;
    }
    let tmp = PathBuf::from(format!("{SUDOERS_FILE}.tmp"));
    fs::write(&tmp, sudoers_text()).map_err(|e| LabError::Io {
        context: format!("write {}", tmp.display()),
        source: e,
    })?;
    let _ = fs::set_permissions(&tmp, std::os::unix::fs::PermissionsExt::from_mode(0o440));
    let check = Command::new("visudo")
        .arg("-cf")
        .arg(&tmp)
        .stdin(Stdio::null())
        .output();
    match check {
        Ok(o) if o.status.success() => {}
        Ok(o) => {
            let _ = fs::remove_file(&tmp);
            return Err(LabError::Io {
                context: format!("visudo -cf {}", tmp.display()),
                source: std::io::Error::other(
                    String::from_utf8_lossy(&o.stderr).trim().to_string(),
                ),
            });
        }
        Err(_) => {
            let _ = fs::remove_file(&tmp);
            return Err(LabError::ToolMissing(
                "visudo (install the Debian package sudo)",
            ));
        }
    }
    fs::rename(&tmp, SUDOERS_FILE).map_err(|e| LabError::Io {
        context: format!("install {SUDOERS_FILE}"),
        source: e,
    })?;
    st.sudoers = true;
    Ok(())
}

fn registry_entry(lab_dir: &Path) -> PathBuf {
    let name: String = lab_dir
        .display()
        .to_string()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    Path::new(SUDO_REGISTRY).join(name)
}

/// Labs other than `lab_dir` registered as using the sudo user whose directory still holds
/// a lab (entries of crashed labs whose directory is gone do not count).
fn other_sudo_labs(lab_dir: &Path) -> usize {
    let own = registry_entry(lab_dir);
    let Ok(entries) = fs::read_dir(SUDO_REGISTRY) else {
        return 0;
    };
    entries
        .flatten()
        .filter(|e| e.path() != own)
        .filter(|e| {
            fs::read_to_string(e.path())
                .is_ok_and(|d| Path::new(d.trim()).join("lab.json").exists())
        })
        .count()
}

/// Undoes [`setup_sudo`] for the lab in `lab_dir`. The drop-in and the user (only when a
/// lab created it) go when no other running lab uses them.
pub fn remove_sudo(st: &ReachState, lab_dir: &Path) {
    if st.sudo_user.is_none() && !st.sudoers && !st.created_user {
        return;
    }
    let Ok(_g) = global_lock() else { return };
    let _ = fs::remove_file(registry_entry(lab_dir));
    if other_sudo_labs(lab_dir) > 0 {
        return;
    }
    if st.sudoers || Path::new(SUDOERS_FILE).exists() {
        let _ = fs::remove_file(SUDOERS_FILE);
    }
    if Path::new(SUDO_CREATED).exists() && user_exists(SUDO_USER) {
        let _ = fs::remove_file(SUDO_CREATED);
        let _ = Command::new("userdel")
            .args(["--remove", SUDO_USER])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}
