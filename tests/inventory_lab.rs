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
