//! An Ansible inventory against real lab hosts: a key file missing on this machine does not
//! stop the load; it is reported for its host when that host is contacted.

mod common;

#[test]
fn a_missing_ansible_key_file_is_reported_for_its_host_on_contact() {
    let lab = common::lab(2);
    let (a, b) = (&lab.hosts()[0], &lab.hosts()[1]);
    let missing = lab.tmp().join("keys/not-on-this-machine");
    let inv = lab.tmp().join("hosts");
    let text = format!(
        "[web]\na ansible_host=127.0.0.1 ansible_port={} ansible_ssh_private_key_file={}\n\
         b ansible_host=127.0.0.1 ansible_port={} ansible_ssh_private_key_file={}\n\
         [web:vars]\nansible_user={}\n",
        a.port,
        missing.display(),
        b.port,
        lab.client_key_path().display(),
        lab.user()
    );
    std::fs::write(&inv, text).expect("write inventory");
    let kh = lab.known_hosts_path();
    let out = common::fleetdeck(lab.tmp())
        .args(["run", "-i"])
        .arg(&inv)
        .arg("--known-hosts")
        .arg(&kh)
        .args(["web", "--", "echo", "ran"])
        .env("FLEETDECK_SSH_CONFIG", "")
        .env_remove("SSH_AUTH_SOCK")
        .output()
        .expect("run fleetdeck");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let all = format!("{stdout}{stderr}");
    assert_ne!(out.status.code(), Some(0), "{all}");
    let failed = all
        .lines()
        .find(|l| l.starts_with("a ") && l.contains("auth-failed"))
        .unwrap_or_else(|| panic!("a failed on auth: {all}"));
    assert!(
        failed.contains(&format!("tried: {} (not found)", missing.display())),
        "{failed}"
    );
    // The other host, whose key exists, ran.
    assert!(all.lines().any(|l| l == "b | ran"), "{all}");
}

/// Two INI inventories, each naming one lab host, for several `-i`.
fn two_inventories(lab: &common::TestLab) -> (std::path::PathBuf, std::path::PathBuf) {
    let (a, b) = (&lab.hosts()[0], &lab.hosts()[1]);
    let one = |name: &str, port: u16, group: &str| {
        let path = lab.tmp().join(format!("{group}.ini"));
        let text = format!(
            "[{group}]\n{name} ansible_host=127.0.0.1 ansible_port={port}\n\
             [all:vars]\nansible_user={}\nansible_ssh_private_key_file={}\n",
            lab.user(),
            lab.client_key_path().display()
        );
        std::fs::write(&path, text).expect("write inventory");
        path
    };
    (one("a", a.port, "web"), one("b", b.port, "db"))
}

#[test]
fn run_merges_several_inventories() {
    let lab = common::lab(2);
    let (web, db) = two_inventories(&lab);
    let out = common::fleetdeck(lab.tmp())
        .arg("run")
        .arg("-i")
        .arg(&web)
        .arg("-i")
        .arg(&db)
        .arg("--known-hosts")
        .arg(lab.known_hosts_path())
        .args(["web:db", "--", "echo", "ran"])
        .env("FLEETDECK_SSH_CONFIG", "")
        .env_remove("SSH_AUTH_SOCK")
        .output()
        .expect("run fleetdeck");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{all}");
    // One host from each source ran.
    assert!(all.lines().any(|l| l == "a | ran"), "{all}");
    assert!(all.lines().any(|l| l == "b | ran"), "{all}");
    // A pattern selecting no host says which sources it looked in.
    let out = common::fleetdeck(lab.tmp())
        .arg("run")
        .arg("-i")
        .arg(&web)
        .arg("-i")
        .arg(&db)
        .args(["web:&db", "--", "true"])
        .env("FLEETDECK_SSH_CONFIG", "")
        .output()
        .expect("run fleetdeck");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!("{} + {}", web.display(), db.display())),
        "{err}"
    );
}

#[test]
fn the_console_starts_on_several_inventories() {
    let lab = common::lab(2);
    let (web, db) = two_inventories(&lab);
    let tmux = common::tmux::Tmux::new("inv-several");
    let cmd = common::tmux::console_command(&lab, lab.tmp()).replace(
        &format!("-i {}", lab.inventory_path().display()),
        &format!("-i {} -i {}", web.display(), db.display()),
    );
    tmux.start(&cmd);
    let screen = tmux.wait_for(
        "the console on both inventories",
        std::time::Duration::from_secs(20),
        |s| s.contains("Hosts 0/2 selected") || s.contains("FLEETDECK-EXITED"),
    );
    assert!(screen.contains("Hosts 0/2 selected"), "{screen}");
    // Both sources' groups are rows of the tree.
    assert!(screen.contains("web") && screen.contains("db"), "{screen}");
}
