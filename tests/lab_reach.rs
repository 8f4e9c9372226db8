//! The lab's reach features (issue 8): a bastion in front of hosts in network namespaces, a
//! second hop, cleanup of namespaces on down, and hosts whose real sudo asks a password.
//! These need root (network namespaces, a system user); the tests fail loudly without it.

mod common;

use std::io::Write as _;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use fleetdeck::lab::{reach, Lab, ReachOptions, BASTION, BASTION2};

/// Runs `ssh -F DIR/ssh_config EXTRA... HOST CMD` with `stdin` fed to it.
fn ssh(lab: &Lab, extra: &[&str], host: &str, cmd: &str, stdin: &str) -> Output {
    let mut child = Command::new("ssh")
        .arg("-F")
        .arg(lab.ssh_config_path())
        .args(["-o", "BatchMode=yes", "-o", "ConnectTimeout=5"])
        .args(extra)
        .arg(host)
        .arg(cmd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run ssh (openssh-client)");
    let mut input = child.stdin.take().expect("ssh stdin");
    input.write_all(stdin.as_bytes()).expect("write ssh stdin");
    drop(input);
    child.wait_with_output().expect("wait for ssh")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn tcp_refused(addr: &str, port: u16) -> bool {
    let sa: SocketAddr = format!("{addr}:{port}").parse().expect("socket address");
    TcpStream::connect_timeout(&sa, Duration::from_secs(2)).is_err()
}

/// The sudo password of the lab's sudo hosts (the same as `tests/reach.rs`'s, so labs of
/// both files may run at once: the lab user is shared).
const SUDO_PW: &str = "lab-pw-8";

fn bastion_opts(deep: usize) -> ReachOptions {
    ReachOptions {
        bastion: true,
        deep,
        sudo_password: None,
    }
}

#[test]
fn targets_are_reachable_only_through_the_bastion() {
    let lab = common::lab_with(3, &bastion_opts(2));
    let web01 = lab.host("web01").expect("web01");
    let deep01 = lab.host("deep01").expect("deep01");
    let bastion = lab.host(BASTION).expect("bastion");
    let bastion2 = lab.host(BASTION2).expect("bastion2");
    assert_eq!(web01.address, reach::TARGET_ADDR);
    assert_eq!(deep01.address, reach::DEEP_ADDR);

    // From the test process (root namespace) nothing answers on the targets' addresses...
    assert!(
        tcp_refused(&web01.address, web01.port),
        "web01 reachable directly"
    );
    assert!(
        tcp_refused(&deep01.address, deep01.port),
        "deep01 reachable directly"
    );
    // ...while the bastion does.
    let sa: SocketAddr = format!("{}:{}", bastion.address, bastion.port)
        .parse()
        .expect("address");
    TcpStream::connect_timeout(&sa, Duration::from_secs(2)).expect("bastion answers directly");

    // OpenSSH with the generated ssh_config (ProxyJump bastion) reaches web01, in its home.
    let out = ssh(&lab, &[], "web01", "pwd", "");
    assert!(out.status.success(), "ssh web01: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), web01.home.display().to_string());
    // Without the jump it cannot.
    let out = ssh(&lab, &["-o", "ProxyJump=none"], "web01", "true", "");
    assert!(!out.status.success(), "web01 reached without the bastion");
    assert!(
        text(&out.stderr).contains("refused"),
        "{}",
        text(&out.stderr)
    );

    // Two hops: bastion then bastion2 reach deep01; the bastion alone does not.
    let out = ssh(&lab, &[], "deep01", "pwd", "");
    assert!(out.status.success(), "ssh deep01: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), deep01.home.display().to_string());
    let out = ssh(&lab, &["-o", "ProxyJump=bastion"], "deep01", "true", "");
    assert!(!out.status.success(), "deep01 reached through one hop");
    // The explicit chain on the command line works like the config's.
    let out = ssh(
        &lab,
        &["-J", "bastion,bastion2"],
        "deep02",
        "echo via-J",
        "",
    );
    assert!(out.status.success(), "ssh -J: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "via-J");

    // The inventory names the jumps and known_hosts holds every hop.
    let inv = fleetdeck::inventory::Inventory::load(&lab.inventory_path()).expect("inventory");
    let h = |name: &str| {
        inv.host_by_name(name)
            .map(|id| inv.hosts[id].conn.clone())
            .expect("host in inventory")
    };
    assert_eq!(h("web01").jump, ["bastion"]);
    assert_eq!(h("web01").address, reach::TARGET_ADDR);
    assert_eq!(h("deep02").jump, ["bastion2"]);
    assert_eq!(h("bastion2").jump, ["bastion"]);
    assert!(h("bastion").jump.is_empty());
    let known = std::fs::read_to_string(lab.known_hosts_path()).expect("known_hosts");
    for host in [web01, deep01, bastion, bastion2] {
        let line = format!("[{}]:{} ", host.address, host.port);
        assert!(known.contains(&line), "{line} missing from {known}");
    }
}

#[test]
fn down_removes_the_namespaces_and_links() {
    let lab = common::lab_with(1, &bastion_opts(1));
    let st = lab.reach().expect("reach state").clone();
    assert_eq!(st.netns.len(), 2);
    for ns in &st.netns {
        assert!(reach::netns_exists(ns), "namespace {ns} missing after up");
    }
    for veth in &st.root_veths {
        assert!(Path::new("/sys/class/net").join(veth).exists(), "{veth}");
    }
    // lab.json records them for `down`.
    let json = std::fs::read_to_string(lab.dir().join("lab.json")).expect("lab.json");
    assert!(json.contains(&st.netns[0]), "{json}");
    let pids: Vec<i32> = (0..lab.hosts().len()).filter_map(|i| lab.pid(i)).collect();
    assert_eq!(pids.len(), lab.hosts().len(), "every host runs");

    assert_eq!(Lab::down(lab.dir()).expect("down"), lab.hosts().len());
    for ns in &st.netns {
        assert!(!reach::netns_exists(ns), "namespace {ns} left after down");
    }
    for veth in &st.root_veths {
        assert!(
            !Path::new("/sys/class/net").join(veth).exists(),
            "{veth} left"
        );
    }
    for pid in pids {
        assert!(
            !Path::new(&format!("/proc/{pid}/cmdline")).exists() || {
                std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .is_ok_and(|s| s.contains(") Z"))
            }
        );
    }
    // A second down is harmless.
    Lab::down(lab.dir()).expect("second down");
}

#[test]
fn sudo_asks_for_the_password() {
    let lab = common::lab_with(
        1,
        &ReachOptions {
            bastion: true,
            deep: 0,
            sudo_password: Some(SUDO_PW.into()),
        },
    );
    let sudoers = std::fs::read_to_string(reach::SUDOERS_FILE).expect("sudoers drop-in");
    assert!(sudoers.contains("fdlab ALL=(ALL:ALL) ALL"), "{sudoers}");
    assert!(!sudoers.contains("NOPASSWD"), "{sudoers}");

    let out = ssh(&lab, &[], "web01", "id -un", "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), reach::SUDO_USER);
    // Without a password sudo refuses.
    let out = ssh(&lab, &[], "web01", "sudo -n true", "");
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("password is required"),
        "{}",
        text(&out.stderr)
    );
    // A wrong one fails (once: passwd_tries=1).
    let out = ssh(&lab, &[], "web01", "sudo -S -p '' id -u", "wrongpw\n");
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("incorrect password"),
        "{}",
        text(&out.stderr)
    );
    // The right one runs the command as root.
    let out = ssh(
        &lab,
        &[],
        "web01",
        "sudo -S -p '' id -u",
        &format!("{SUDO_PW}\n"),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "0");
    // The password is in no file of the lab.
    let found = Command::new("grep")
        .args(["-rl", SUDO_PW])
        .arg(lab.dir())
        .output()
        .expect("grep");
    assert!(
        found.stdout.is_empty(),
        "password in {}",
        text(&found.stdout)
    );
}

#[test]
fn bastion_without_root_is_refused_clearly() {
    use std::os::unix::process::CommandExt as _;
    let tmp = tempfile::tempdir().expect("tmp");
    let out = Command::new(common::fleetdeck_bin())
        .args(["lab", "up", "--hosts", "1", "--bastion", "--dir"])
        .arg(tmp.path().join("lab"))
        .uid(65534)
        .gid(65534)
        .output()
        .expect("run fleetdeck as nobody");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("--bastion needs root for network namespaces"),
        "{}",
        text(&out.stderr)
    );
    let out = Command::new(common::fleetdeck_bin())
        .args(["lab", "up", "--hosts", "1", "--deep", "2", "--dir"])
        .arg(tmp.path().join("lab"))
        .output()
        .expect("run fleetdeck");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("--deep needs --bastion"));
}
