//! Ansible-native inventories (issue 18): what Ansible loads, fleetdeck loads; what Ansible
//! only warns about is a warning; INI inventories read by Ansible's rules.

use std::path::{Path, PathBuf};
use std::process::Command;

use fleetdeck::inventory::Inventory;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/inventory")
}

fn load(path: &Path) -> Inventory {
    Inventory::load_with_ssh_config(path, None).unwrap_or_else(|e| panic!("{e}"))
}

fn selected(inv: &Inventory, pattern: &str) -> String {
    let ids = inv
        .select(pattern)
        .unwrap_or_else(|e| panic!("{pattern}: {e}"));
    let mut names: Vec<&str> = ids.iter().map(|&h| inv.hosts[h].name.as_str()).collect();
    names.sort_unstable();
    names.join(" ")
}

fn members(inv: &Inventory, group: &str) -> Vec<String> {
    let g = inv
        .group_by_name(group)
        .unwrap_or_else(|| panic!("group {group}"));
    inv.groups[g]
        .hosts
        .iter()
        .map(|&h| inv.hosts[h].name.clone())
        .collect()
}

fn fleetdeck(file: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_fleetdeck"))
        .arg("inventory")
        .arg("-i")
        .arg(file)
        .args(args)
        .env("FLEETDECK_SSH_CONFIG", "")
        .output()
        .expect("run the fleetdeck binary");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn what_ansible_loads_fleetdeck_loads() {
    let path = fixtures().join("valid/ansible_lenient.yaml");
    let inv = load(&path);
    // A multi-line plain scalar folds into one host name, kept whole as Ansible keeps it.
    assert_eq!(members(&inv, "kube_control_plane"), ["node1 node2 node3"]);
    // A group may be called `hosts`.
    assert_eq!(members(&inv, "hosts"), ["h1"]);
    // A key file missing on this machine is kept; it matters only when w1 is contacted.
    let w1 = &inv.hosts[inv.host_by_name("w1").expect("w1")];
    assert!(
        w1.conn.identity_files[0].ends_with("keys/not-on-this-machine"),
        "{:?}",
        w1.conn.identity_files
    );
    // Listed under `ungrouped` but also in `web`: Ansible drops it from `ungrouped`.
    assert_eq!(members(&inv, "ungrouped"), ["solo"]);
    assert_eq!(selected(&inv, "ungrouped"), "solo");
    assert_eq!(selected(&inv, "web"), "lone w1");
    let (code, out, err) = fleetdeck(&path, &["--list", "all"]);
    assert_eq!((code, err.as_str()), (0, ""));
    assert_eq!(out.lines().count(), 5, "{out}");
}

#[test]
fn what_ansible_warns_about_is_a_one_line_warning() {
    let path = fixtures().join("warn/ansible_unknown_key.yaml");
    let (code, out, err) = fleetdeck(&path, &["--graph"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("all (0)"), "{out}");
    assert_eq!(err.lines().count(), 1, "{err}");
    let want = format!(
        "fleetdeck: warning: {}:4:7: unknown key \"host\" in group \"webservers\" skipped",
        path.display()
    );
    assert!(err.starts_with(&want), "{err}");
    assert!(err.contains("did you mean \"hosts\"?"), "{err}");
    let inv = load(&path);
    assert_eq!(inv.warnings.len(), 1);
}

#[test]
fn ini_inventories_select_what_ansible_selects() {
    let k = load(&fixtures().join("valid/kubespray_inventory.ini"));
    let d = load(&fixtures().join("valid/ansible_docs_hosts"));
    let cases: &[(&Inventory, &str, &str)] = &[
        (&k, "all", "node1 node2 node3 node4 node5 node6 node7"),
        (&k, "etcd", "node1 node2 node3"),
        (&k, "k8s_cluster:!etcd", "node4 node5 node6 node7"),
        (&k, "calico_rr", ""),
        (&k, "kube_node:&k8s_cluster", "node4 node5 node6 node7"),
        (&k, "ungrouped", ""),
        (&d, "ungrouped", "jumper mail.example.com"),
        (&d, "usa", "host1 host2 host3"),
        (&d, "atlanta:&raleigh", "host2"),
        (&d, "northeast", ""),
        (&d, "dbservers:!db-*", "one.example.com three.example.com two.example.com"),
        (&d, "www4*", "www41.example.com www43.example.com www45.example.com www47.example.com www49.example.com"),
        (&d, "webservers[0]", "foo.example.com"),
    ];
    for (inv, pattern, want) in cases {
        assert_eq!(selected(inv, pattern), *want, "{pattern}");
    }
    assert_eq!(members(&d, "webservers").len(), 29);
    assert!(members(&d, "webservers").contains(&"2001:db8::6".to_string()));
}

#[test]
fn ini_host_lines_and_vars_sections_give_settings_with_their_place() {
    let path = fixtures().join("valid/kubespray_inventory.ini");
    let inv = load(&path);
    let host = |n: &str| &inv.hosts[inv.host_by_name(n).unwrap_or_else(|| panic!("{n}"))];
    let n1 = host("node1");
    assert_eq!(n1.conn.address, "95.54.0.12");
    assert_eq!(n1.vars["ip"], "10.3.0.1");
    // `# ip=…` is a comment on a host line.
    assert!(!host("node3").vars.contains_key("ip"));
    // [k8s_cluster:vars] `ansible_user = "core"`: quotes go, the host's own 'ubuntu' wins.
    assert_eq!(n1.conn.user, "core");
    assert_eq!(host("node4").conn.user, "ubuntu");
    assert_eq!(n1.conn.jump, ["jumper@95.54.0.2"]);
    // host:port, and a range with a port variable.
    assert_eq!(host("node5").conn.port, 2201);
    assert_eq!(host("node5").vars["ansible_port"], "2201");
    assert_eq!(
        (host("node7").conn.port, host("node7").conn.address.as_str()),
        (2222, "node7")
    );
    let d = load(&fixtures().join("valid/ansible_docs_hosts"));
    let v6 = &d.hosts[d.host_by_name("2001:db8::5").expect("v6 host")];
    assert_eq!(
        (v6.conn.address.as_str(), v6.conn.port),
        ("2001:db8::5", 2200)
    );
    let h2 = &d.hosts[d.host_by_name("host2").expect("host2")];
    assert_eq!(h2.vars["ntp_server"], "ntp.atlanta.example.com");
    assert_eq!(h2.vars["escape_pods"], "2");
    assert_eq!(h2.vars["http_port"], "303");

    let (code, out, err) = fleetdeck(&path, &["--host", "node5"]);
    assert_eq!(code, 0, "{err}");
    let row = |k: &str| {
        out.lines()
            .find(|l| l.trim_start().starts_with(&format!("{k} ")))
            .unwrap_or_else(|| panic!("{k} in {out}"))
            .to_string()
    };
    assert!(
        row("port").ends_with("kubespray_inventory.ini:16:1)"),
        "{}",
        row("port")
    );
    assert!(row("address").contains("host node5 (") && row("address").ends_with(":16:25)"));
    assert!(row("user").contains("group k8s_cluster (") && row("user").ends_with(":28:16)"));
}

#[test]
fn an_inventory_directory_with_group_vars_and_host_vars_loads_as_ansible_loads_it() {
    let dir = fixtures().join("dirs/site");
    let inv = load(&dir);
    // Every file in name order, subdirectories too; `.md` and `.cfg` skipped, as the
    // vars directories are; a file Ansible cannot parse is a warning.
    assert_eq!(selected(&inv, "all"), "c1 db1 e1 s1 web1 web2");
    assert_eq!(selected(&inv, "cloud"), "c1 db1 web2");
    assert_eq!(inv.warnings.len(), 1, "{:?}", inv.warnings);
    assert!(inv.warnings[0]
        .to_string()
        .contains("zz-broken.yml:2:13: skipped"));
    // What ansible-core 2.19's `ansible-inventory --list` gives for each host.
    let host = |n: &str| &inv.hosts[inv.host_by_name(n).unwrap_or_else(|| panic!("{n}"))];
    let cases = [
        ("web1", "web1", 2201, "everyone", "8081"),
        ("web2", "192.0.2.7", 2202, "everyone", "8081"),
        ("db1", "db1", 22, "postgres", ""),
        ("c1", "10.0.0.1", 22, "everyone", ""),
    ];
    for (name, address, port, user, http) in cases {
        let h = host(name);
        assert_eq!(
            (h.conn.address.as_str(), h.conn.port, h.conn.user.as_str()),
            (address, port, user),
            "{name}"
        );
        assert_eq!(
            h.vars.get("http_port").map_or("", String::as_str),
            http,
            "{name}"
        );
        assert_eq!(h.vars["ntp"], "pool.example.com");
    }
    // host_vars for a host the inventory lacks adds nothing.
    assert!(inv.host_by_name("nobody").is_none());
    let (code, out, err) = fleetdeck(&dir, &["--host", "web2"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("warning: ") && err.lines().count() == 1,
        "{err}"
    );
    let port = out
        .lines()
        .find(|l| l.trim_start().starts_with("port "))
        .expect("port row");
    assert!(
        port.contains("group_vars/web (") && port.ends_with("group_vars/web/b.yaml:1:15)"),
        "{port}"
    );
    let address = out
        .lines()
        .find(|l| l.trim_start().starts_with("address "))
        .expect("row");
    assert!(address.ends_with("host_vars/web2.yml:1:15)"), "{address}");
}

#[test]
fn group_vars_next_to_an_inventory_file_apply_to_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("group_vars")).expect("mkdir");
    std::fs::write(
        dir.path().join("hosts"),
        "[web]\nw1\n[web:vars]\nansible_user=file\n",
    )
    .expect("write");
    std::fs::write(
        dir.path().join("group_vars/web"),
        "ansible_user: dir\nansible_port: 2200\n",
    )
    .expect("write");
    let inv = load(&dir.path().join("hosts"));
    let w1 = &inv.hosts[0];
    assert_eq!((w1.conn.user.as_str(), w1.conn.port), ("dir", 2200));
    std::fs::write(dir.path().join("group_vars/web"), "ansible_port: [1, 2\n").expect("write");
    let e = Inventory::load_with_ssh_config(&dir.path().join("hosts"), None).expect_err("bad");
    assert!(e.to_string().contains("group_vars/web:"), "{e}");
}

fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join(name);
    std::fs::write(&p, body).expect("write script");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    p
}

#[test]
fn dynamic_inventory_scripts_with_and_without_meta_and_their_list_json() {
    let d = fixtures().join("scripts");
    let inv = load(&d.join("meta.py"));
    assert_eq!(
        selected(&inv, "group001"),
        "host001 host002 host003 host004"
    );
    assert_eq!(selected(&inv, "legacy"), "host005");
    let host = |inv: &Inventory, n: &str| inv.hosts[inv.host_by_name(n).expect("host")].clone();
    let h1 = host(&inv, "host001");
    assert_eq!(
        (
            h1.conn.address.as_str(),
            h1.conn.port,
            h1.conn.user.as_str()
        ),
        ("192.0.2.1", 2201, "g1")
    );
    assert_eq!(host(&inv, "host005").conn.user, "old");
    assert_eq!(host(&inv, "host003").vars["var2"], "500");

    // No `_meta`: `--host NAME` is asked for each host.
    let old = load(&d.join("nometa.sh"));
    assert_eq!(selected(&old, "all"), "d1 w1 w2");
    assert_eq!(host(&old, "w1").conn.port, 2222);
    assert_eq!(host(&old, "w2").conn.port, 22);

    // What `ansible-inventory -i meta.py --list` printed (ansible-core 2.19), read as a file.
    let list = load(&d.join("meta-list.json"));
    assert_eq!(selected(&list, "group001:!group002"), "host001 host002");
    let h1 = host(&list, "host001");
    assert_eq!(
        (
            h1.conn.address.as_str(),
            h1.conn.port,
            h1.conn.user.as_str()
        ),
        ("192.0.2.1", 2201, "g1")
    );
}

#[test]
fn a_script_that_hangs_fails_or_prints_bad_json_is_a_one_line_error() {
    use fleetdeck::inventory::LoadOptions;
    use std::time::{Duration, Instant};
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = LoadOptions {
        ssh_config: None,
        script_timeout: Some(Duration::from_millis(500)),
    };
    let slow = script(dir.path(), "slow", "#!/bin/sh\nexec sleep 30\n");
    let t = Instant::now();
    let e = Inventory::load_with(&slow, &opts).expect_err("times out");
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    assert!(
        e.to_string()
            .contains("did not finish within 0.5s; stopped it"),
        "{e}"
    );

    let failing = script(
        dir.path(),
        "failing",
        "#!/bin/sh\necho 'no cloud credentials' >&2\nexit 3\n",
    );
    let e = Inventory::load_with(&failing, &opts).expect_err("fails");
    let msg = e.to_string();
    assert!(
        msg.contains("failing --list failed (exit status: 3): no cloud credentials"),
        "{msg}"
    );

    let bad = script(
        dir.path(),
        "bad",
        "#!/bin/sh\nprintf '{\"web\": {\"hosts\": [\"a\"]},\\n \"db\": 7}'\n",
    );
    let e = Inventory::load_with(&bad, &opts).expect_err("bad json");
    let want = format!(
        "{} --list:2:8: group \"db\" must be a list of hosts or a mapping",
        bad.display()
    );
    assert!(e.to_string().starts_with(&want), "{e}");
    assert_eq!(e.to_string().lines().count(), 1);
}

#[test]
fn several_sources_merge_as_ansible_merges_them() {
    let site = fixtures().join("dirs/site");
    let (hosts, cloud) = (site.join("hosts"), site.join("cloud.yml"));
    let out = Command::new(env!("CARGO_BIN_EXE_fleetdeck"))
        .args(["inventory", "-i"])
        .arg(&hosts)
        .arg("-i")
        .arg(&cloud)
        .args(["-i", "x1,x2,", "--list", "all"])
        .env("FLEETDECK_SSH_CONFIG", "")
        .output()
        .expect("run fleetdeck");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut got: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(String::from)
        .collect();
    got.sort();
    // ansible-core 2.19: `ansible -i hosts -i cloud.yml -i x1,x2, all --list-hosts`.
    assert_eq!(got, ["c1", "db1", "web1", "web2", "x1", "x2"]);
    let sources = [hosts, cloud, PathBuf::from("x1,x2,")];
    let opts = fleetdeck::inventory::LoadOptions::default();
    let inv = Inventory::load_sources(&sources, &opts).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(selected(&inv, "ungrouped"), "x1 x2");
    assert_eq!(selected(&inv, "cloud:&web"), "web2");
    let web2 = &inv.hosts[inv.host_by_name("web2").expect("web2")];
    assert_eq!(
        (
            web2.conn.address.as_str(),
            web2.conn.port,
            web2.conn.user.as_str()
        ),
        ("192.0.2.7", 2202, "everyone")
    );
    // `run` reads every -i too: a second source that cannot be read is its error, not
    // dropped (tests/inventory_lab.rs runs on merged sources).
    let missing = sources[0].with_file_name("missing.ini");
    let out = Command::new(env!("CARGO_BIN_EXE_fleetdeck"))
        .arg("-i")
        .arg(&sources[0])
        .arg("-i")
        .arg(&missing)
        .args(["run", "all", "--", "true"])
        .env("FLEETDECK_SSH_CONFIG", "")
        .output()
        .expect("run fleetdeck");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("missing.ini"), "{err}");
}

#[test]
fn ssh_arguments_become_settings_and_secrets_stay_hidden() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hosts = dir.path().join("hosts");
    std::fs::write(
        &hosts,
        "[web]\n\
         w1 ansible_host=192.0.2.1\n\
         w2 ansible_host=192.0.2.2 ansible_port=2200 ansible_ssh_extra_args='-p 9 -i k2'\n\
         [web:vars]\n\
         ansible_ssh_common_args='-o StrictHostKeyChecking=no -p 2222 -l deploy -J gw -C'\n\
         ansible_become=yes\n\
         ansible_become_password=hunter2-secret\n\
         ansible_password=sshpass-secret\n\
         [db]\n\
         d1 ansible_ssh_common_args='-o StrictHostKeyChecking=no' ansible_become=true ansible_become_method=su\n",
    )
    .expect("write");
    let inv = load(&hosts);
    let conn = |n: &str| inv.hosts[inv.host_by_name(n).expect("host")].conn.clone();
    let w1 = conn("w1");
    assert_eq!((w1.port, w1.user.as_str()), (2222, "deploy"));
    assert_eq!(w1.jump, ["gw"]);
    // The host's own ansible_port beats the group's -p; its extra args replace nothing the
    // group set but add a key file (relative to the inventory).
    let w2 = conn("w2");
    assert_eq!(w2.port, 2200);
    assert_eq!(w2.identity_files, [dir.path().join("k2")]);
    // Unknown options: one warning each for the whole inventory, naming where first seen;
    // StrictHostKeyChecking is read (a per-host option), so it is not warned about.
    let (code, out, err) = fleetdeck(&hosts, &["--host", "w1"]);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("StrictHostKeyChecking"), "{err}");
    let c: Vec<&str> = err.lines().filter(|l| l.contains("\"-C\"")).collect();
    assert_eq!(c.len(), 1, "{err}");
    assert!(
        c[0].contains(&format!("{}:5:25:", hosts.display())) && c[0].contains("ignored"),
        "{err}"
    );
    assert!(out.contains("StrictHostKeyChecking"), "{out}");
    // --host says where the port came from and what become asks for; no password shown.
    let port = out
        .lines()
        .find(|l| l.trim_start().starts_with("port "))
        .expect("port row");
    assert!(port.contains("2222") && port.contains("hosts:5:"), "{port}");
    assert!(
        out.lines()
            .any(|l| l.contains("become") && l.contains("sudo as root")),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.contains("vars.ansible_become_password") && l.contains("(set)")),
        "{out}"
    );
    for args in [
        &["--host", "w1"][..],
        &["--json"][..],
        &["--list", "all"][..],
    ] {
        let (_, out, err) = fleetdeck(&hosts, args);
        let all = format!("{out}{err}");
        assert!(
            !all.contains("hunter2-secret") && !all.contains("sshpass-secret"),
            "{args:?}: {all}"
        );
    }
    let (_, out, _) = fleetdeck(&hosts, &["--host", "d1"]);
    assert!(out.contains("su as root (unsupported"), "{out}");
}
