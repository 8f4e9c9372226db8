//! The inventory through the real binary (every fixture, valid and invalid) and through the
//! library (pattern tables, including Ansible inventories with the selections Ansible 2.19's
//! `ansible --list-hosts` gives for them).

use std::path::{Path, PathBuf};
use std::process::Command;

use fleetdeck::inventory::Inventory;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/inventory")
}

fn valid(name: &str) -> PathBuf {
    fixtures().join("valid").join(name)
}

/// Runs `fleetdeck inventory -i FILE ARGS…` with no ssh_config unless one is given.
fn fleetdeck(file: &Path, args: &[&str], ssh_config: Option<&Path>) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_fleetdeck"))
        .arg("inventory")
        .arg("-i")
        .arg(file)
        .args(args)
        .env(
            "FLEETDECK_SSH_CONFIG",
            ssh_config.map(Path::as_os_str).unwrap_or_default(),
        )
        .env_remove("FLEETDECK_INVENTORY")
        .output()
        .expect("run the fleetdeck binary");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn load(path: &Path) -> Inventory {
    Inventory::load_with_ssh_config(path, None).unwrap_or_else(|e| panic!("{e}"))
}

fn names(inv: &Inventory, ids: &[usize]) -> Vec<String> {
    ids.iter().map(|&h| inv.hosts[h].name.clone()).collect()
}

#[test]
fn every_invalid_fixture_exits_2_with_one_line_naming_file_line_col_and_value() {
    // (fixture, line:col, text the message must hold)
    let cases: &[(&str, &str, &str)] = &[
        ("not_yaml.yaml", "4:5", "not valid YAML"),
        (
            "self_include_direct.yaml",
            "3:15",
            "group \"web\" includes itself",
        ),
        (
            "self_include_indirect.yaml",
            "7:15",
            "includes itself through a -> b -> c -> a",
        ),
        (
            "unknown_key.yaml",
            "6:34",
            "unknown key \"prot\" in host \"web1\" (did you mean \"port\"?)",
        ),
        (
            "range_backwards.yaml",
            "4:7",
            "range [5-1] in \"web[5-1]\" goes backwards",
        ),
        (
            "range_too_big.yaml",
            "4:7",
            "\"n[1-10000000]\" expands to 10000000 hosts, more than the limit of 100000",
        ),
        (
            "two_addresses.yaml",
            "7:24",
            "host \"app1\" is given a second address \"10.0.0.2\"; it already has \"10.0.0.1\"",
        ),
        ("empty_address.yaml", "4:24", "empty address \"\""),
        ("port_zero.yaml", "2:9", "port \"0\" is out of range"),
        (
            "port_too_big.yaml",
            "3:11",
            "port \"70000\" is out of range",
        ),
        (
            "missing_identity.yaml",
            "2:13",
            "identity file \"./keys/does-not-exist_ed25519\" not found",
        ),
        (
            "unknown_include.yaml",
            "5:15",
            "unknown group \"wbe\" (did you mean \"web\"?)",
        ),
        (
            "duplicate_group.yaml",
            "6:7",
            "group \"web\" is defined twice",
        ),
        (
            "bad_range_in_ansible.yaml",
            "5:9",
            "range [50:01] in \"www[50:01].example.com\" goes backwards",
        ),
        (
            "ini_undeclared_child.ini",
            "3:1",
            "section [prod:children] names a group never declared: \"web\"",
        ),
        (
            "ini_unknown_section.ini",
            "3:1",
            "section [web:hostz] has unknown type",
        ),
        (
            "ini_host_var_without_value",
            "2:9",
            "expected key=value host variable, found \"ansible_user\"",
        ),
        ("ini_bad_port.ini", "2:1", "port \"99999\" is out of range"),
        (
            "ansible_bad_port.yaml",
            "4:21",
            "port \"99999\" is out of range",
        ),
        (
            "top_level_typo.yaml",
            "1:1",
            "unknown key \"default\" at the top of the inventory (did you mean \"defaults\"?)",
        ),
    ];
    let dir = fixtures().join("invalid");
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .expect("invalid fixtures")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = cases.iter().map(|c| c.0.to_string()).collect();
    listed.sort();
    assert_eq!(on_disk, listed, "every invalid fixture has a case here");
    for (file, pos, needle) in cases {
        let path = dir.join(file);
        for view in [&["--graph"][..], &["--json"], &["--list", "all"]] {
            let (code, stdout, stderr) = fleetdeck(&path, view, None);
            assert_eq!(code, 2, "{file} {view:?}: {stderr}");
            assert!(stdout.is_empty(), "{file}: nothing on stdout, got {stdout}");
            assert_eq!(stderr.lines().count(), 1, "{file}: one line: {stderr}");
            let prefix = format!("{}:{pos}: ", path.display());
            assert!(
                stderr.contains(&prefix),
                "{file}: expected {prefix:?} in {stderr}"
            );
            assert!(
                stderr.contains(needle),
                "{file}: expected {needle:?} in {stderr}"
            );
        }
    }
}

#[test]
fn repo_example_inventory_graph_list_host_json() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("inventory.yaml");
    let (code, graph, err) = fleetdeck(&example, &[], None);
    assert_eq!(code, 0, "{err}");
    let (_, explicit, _) = fleetdeck(&example, &["--graph"], None);
    assert_eq!(graph, explicit, "--graph is the default view");
    assert!(graph.starts_with("all (34)\n"), "{graph}");
    for line in [
        "├── prod (31)",
        "│   ├── web (21)",
        "│   │   ├── db-primary (3)",
        "│   └── cache (4)",
        "├── staging (23)",
        "│   ├── + web (21) [included]",
        "└── bastion",
    ] {
        assert!(
            graph.lines().any(|l| l == line),
            "missing {line:?} in\n{graph}"
        );
    }

    let (code, list, _) = fleetdeck(&example, &["--list", "prod:&db:!db-r*"], None);
    assert_eq!(code, 0);
    assert_eq!(list, "db1\ndb2\ndb3\n");
    let (_, list, _) = fleetdeck(&example, &["--list", "cache1-n[1,3]"], None);
    assert_eq!(list, "cache1-n1\ncache1-n3\n");

    let (code, host, _) = fleetdeck(&example, &["--host", "web-special"], None);
    assert_eq!(code, 0);
    let row = |k: &str| {
        host.lines()
            .find(|l| l.trim_start().starts_with(&format!("{k} ")))
            .unwrap_or_else(|| panic!("no {k} in\n{host}"))
            .to_string()
    };
    let ex = example.display().to_string();
    assert!(
        row("address").contains(&format!("10.0.0.5  host web-special ({ex}:36:")),
        "{host}"
    );
    assert!(
        row("user").contains(&format!("deploy    group prod ({ex}:28:11)")),
        "{host}"
    );
    assert!(row("jump").contains("bastion   group prod"), "{host}");
    assert!(row("identity").ends_with("default"), "{host}");
    assert!(
        row("vars.role").contains("lb        host web-special"),
        "{host}"
    );
    assert!(
        row("vars.env").contains(&format!("defaults ({ex}:21:")),
        "{host}"
    );

    let (code, _, err) = fleetdeck(&example, &["--host", "web-specail"], None);
    assert_eq!(code, 2);
    assert!(
        err.contains("unknown host \"web-specail\" (did you mean \"web-special\"?)"),
        "{err}"
    );
    let (code, _, err) = fleetdeck(&example, &["--list", "prod:&nosuch"], None);
    assert_eq!(code, 2);
    assert!(err.contains("unknown host or group \"nosuch\""), "{err}");

    let (code, json, _) = fleetdeck(&example, &["--json"], None);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&json).expect("--json is JSON");
    let hosts = v["hosts"].as_array().expect("hosts");
    assert_eq!(hosts.len(), 34);
    let stg1 = hosts.iter().find(|h| h["name"] == "stg1").expect("stg1");
    assert_eq!(stg1["address"], "2001:db8::1");
    assert_eq!(stg1["user"], "stage");
    assert_eq!(stg1["jump"], serde_json::json!(["bastion"]));
    let stg2 = hosts.iter().find(|h| h["name"] == "stg2").expect("stg2");
    assert_eq!(stg2["jump"], serde_json::json!(["ops@gw.example.com:2200"]));
    let db1 = hosts.iter().find(|h| h["name"] == "db1").expect("db1");
    assert_eq!(db1["connect_timeout_secs"], 30.0);
    assert_eq!(db1["user"], "deploy");
    let kh = v["known_hosts"][0].as_str().expect("known_hosts");
    assert!(
        Path::new(kh).is_absolute() && kh.ends_with("/known_hosts"),
        "{kh}"
    );
    let staging = v["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .find(|g| g["name"] == "staging")
        .expect("staging");
    assert_eq!(staging["includes"], serde_json::json!(["web"]));
    assert_eq!(staging["host_count"], 23);
    // Included web hosts keep web's settings, not staging's.
    let web01 = hosts
        .iter()
        .find(|h| h["name"] == "web01.example.com")
        .expect("web01");
    assert_eq!(web01["user"], "deploy");
}

#[test]
fn every_valid_fixture_loads_through_the_binary() {
    let dir = fixtures().join("valid");
    let mut count = 0;
    for e in std::fs::read_dir(&dir).expect("valid fixtures") {
        let path = e.expect("entry").path();
        if !path.is_file() {
            continue;
        }
        count += 1;
        for view in [&["--graph"][..], &["--json"], &["--list", "all"]] {
            let (code, out, err) = fleetdeck(&path, view, None);
            assert_eq!(code, 0, "{} {view:?}: {err}", path.display());
            assert!(
                !out.is_empty() && err.is_empty(),
                "{}: {err}",
                path.display()
            );
        }
    }
    assert!(count >= 7, "fixtures found: {count}");
}

/// Ansible 2.19: `ansible -i FILE PATTERN --list-hosts`, sorted.
const ANSIBLE_SELECTIONS: &[(&str, &str, &str)] = &[
    ("ansible_docs_groups.yaml", "all", "bar.example.com foo.example.com mail.example.com one.example.com three.example.com two.example.com"),
    ("ansible_docs_groups.yaml", "*", "bar.example.com foo.example.com mail.example.com one.example.com three.example.com two.example.com"),
    ("ansible_docs_groups.yaml", "webservers", "bar.example.com foo.example.com"),
    ("ansible_docs_groups.yaml", "webservers:dbservers", "bar.example.com foo.example.com one.example.com three.example.com two.example.com"),
    ("ansible_docs_groups.yaml", "webservers,dbservers", "bar.example.com foo.example.com one.example.com three.example.com two.example.com"),
    ("ansible_docs_groups.yaml", "prod:&webservers", "foo.example.com"),
    ("ansible_docs_groups.yaml", "all:!dbservers", "bar.example.com foo.example.com mail.example.com"),
    ("ansible_docs_groups.yaml", "east:!west", "foo.example.com one.example.com two.example.com"),
    ("ansible_docs_groups.yaml", "!webservers", "mail.example.com one.example.com three.example.com two.example.com"),
    ("ansible_docs_groups.yaml", "&east", "foo.example.com one.example.com two.example.com"),
    ("ansible_docs_groups.yaml", "*.example.com", "bar.example.com foo.example.com mail.example.com one.example.com three.example.com two.example.com"),
    ("ansible_docs_groups.yaml", "one*", "one.example.com"),
    ("ansible_docs_groups.yaml", "~(one|two)\\.", "one.example.com two.example.com"),
    ("ansible_docs_groups.yaml", "webservers[0]", "foo.example.com"),
    ("ansible_docs_groups.yaml", "dbservers[0:1]", "one.example.com two.example.com"),
    ("ansible_docs_groups.yaml", "dbservers[-1]", "three.example.com"),
    ("ansible_docs_groups.yaml", "dbservers[1:]", "three.example.com two.example.com"),
    ("ansible_docs_groups.yaml", "ungrouped", "mail.example.com"),
    ("ansible_docs_groups.yaml", "prod:test", "bar.example.com foo.example.com one.example.com three.example.com two.example.com"),
    ("ansible_docs_groups.yaml", "east:west:&dbservers:!three.example.com", "one.example.com two.example.com"),
    ("ansible_docs_groups.yaml", "mail.example.com", "mail.example.com"),
    ("ansible_docs_groups.yaml", "t*", "bar.example.com three.example.com two.example.com"),
    ("ansible_docs_groups.yaml", "[ew]*", "bar.example.com foo.example.com one.example.com three.example.com two.example.com"),
    ("ansible_docs_vars.yaml", "all", "badwolf.example.com db-a.example.com db-b.example.com db-c.example.com db-d.example.com db-e.example.com db-f.example.com host1 host2 host3 host4 jumper www01.example.com www02.example.com www03.example.com www04.example.com www05.example.com"),
    ("ansible_docs_vars.yaml", "usa", "host1 host2 host3 host4"),
    ("ansible_docs_vars.yaml", "southeast", "host1 host2 host3 host4"),
    ("ansible_docs_vars.yaml", "atlanta:&raleigh", "host2"),
    ("ansible_docs_vars.yaml", "atlanta:raleigh:!atlanta", "host3 host4"),
    ("ansible_docs_vars.yaml", "dbservers:!backup", "db-d.example.com db-e.example.com db-f.example.com"),
    ("ansible_docs_vars.yaml", "db-[!ab]*", "db-c.example.com db-d.example.com db-e.example.com db-f.example.com"),
    ("ansible_docs_vars.yaml", "~www0[1-3]", "www01.example.com www02.example.com www03.example.com"),
    ("ansible_docs_vars.yaml", "ungrouped", "badwolf.example.com jumper"),
    ("ansible_docs_vars.yaml", "webservers[2:3]", "www03.example.com www04.example.com"),
    ("ansible_docs_vars.yaml", "northeast:southeast", "host1 host2 host3 host4"),
    ("kubespray_hosts.yaml", "all", "bastion node1 node2 node3 node4 node5 node6"),
    ("kubespray_hosts.yaml", "k8s_cluster", "node1 node2 node3 node4 node5 node6"),
    ("kubespray_hosts.yaml", "kube_control_plane", "node1 node2"),
    ("kubespray_hosts.yaml", "etcd:!kube_control_plane", "node3"),
    ("kubespray_hosts.yaml", "k8s_cluster:&etcd", "node1 node2 node3"),
    ("kubespray_hosts.yaml", "kube_node:!etcd", "node4 node5 node6"),
    ("kubespray_hosts.yaml", "bastion", "bastion"),
    ("kubespray_hosts.yaml", "~node[2-4]", "node2 node3 node4"),
    ("kubespray_hosts.yaml", "all:!k8s_cluster", "bastion"),
    ("kubespray_hosts.yaml", "node*:&etcd", "node1 node2 node3"),
    ("kubespray_hosts.yaml", "calico_rr:etcd", "node1 node2 node3"),
];

#[test]
fn ansible_inventories_select_what_ansible_selects() {
    for (file, pattern, want) in ANSIBLE_SELECTIONS {
        let inv = load(&valid(file));
        let ids = inv
            .select(pattern)
            .unwrap_or_else(|e| panic!("{file} {pattern}: {e}"));
        let mut got = names(&inv, &ids);
        // In inventory order, without duplicates.
        let mut sorted_ids = ids.clone();
        sorted_ids.sort_unstable();
        sorted_ids.dedup();
        assert_eq!(ids, sorted_ids, "{file} {pattern}: inventory order");
        got.sort();
        assert_eq!(got.join(" "), *want, "{file} {pattern}");
    }
    // And a few through the binary.
    let (code, out, err) = fleetdeck(
        &valid("kubespray_hosts.yaml"),
        &["--list", "kube_node:!etcd"],
        None,
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "node4\nnode5\nnode6\n");
}

#[test]
fn ansible_connection_variables_become_settings_and_all_vars_are_kept() {
    let inv = load(&valid("ansible_docs_vars.yaml"));
    let host = |n: &str| &inv.hosts[inv.host_by_name(n).unwrap_or_else(|| panic!("{n}"))];
    let jumper = host("jumper");
    assert_eq!(
        (jumper.conn.address.as_str(), jumper.conn.port),
        ("192.0.2.50", 5555)
    );
    let badwolf = host("badwolf.example.com");
    assert_eq!(
        (badwolf.conn.address.as_str(), badwolf.conn.port),
        ("badwolf.example.com", 5309)
    );
    assert_eq!(badwolf.vars["ansible_port"], "5309");
    // ProxyCommand "ssh -W %h:%p -q ops@gateway…" from group vars, inherited from atlanta.
    assert_eq!(host("host1").conn.jump, vec!["ops@gateway.example.com"]);
    // host2 is in atlanta and raleigh (same depth): Ansible merges by name, raleigh last.
    assert_eq!(host("host2").vars["ntp_server"], "ntp.atlanta.example.com");
    assert_eq!(
        host("host2").vars["some_server"],
        "foo.southeast.example.com"
    );
    let h4 = host("host4");
    assert_eq!(h4.conn.jump, vec!["jump1", "jump2"]);
    assert_eq!(h4.vars["ansible_something_new"], "kept");
    assert!(!h4.vars.contains_key("ntp_server"));
    // Anchors, aliases and a merge key; `dbservers` sorts after `backup`, so it wins.
    let dba = host("db-a.example.com");
    assert_eq!(dba.conn.user, "dbadmin");
    assert_eq!(dba.vars["backup"], "nightly");
    assert_eq!(dba.vars["http_port"], "8080");
    assert_eq!(host("db-d.example.com").vars.get("http_port"), None);
    let groups: Vec<&str> = dba
        .groups
        .iter()
        .map(|&g| inv.groups[g].name.as_str())
        .collect();
    assert_eq!(groups, ["dbservers", "backup"]);

    let k = load(&valid("kubespray_hosts.yaml"));
    let node1 = &k.hosts[k.host_by_name("node1").expect("node1")];
    assert_eq!(node1.conn.address, "95.54.0.12");
    assert_eq!(node1.conn.user, "ubuntu");
    assert_eq!(node1.conn.jump, vec!["jumper@95.54.0.2"]);
    assert_eq!(node1.vars["ip"], "10.3.0.1");
    let bastion = &k.hosts[k.host_by_name("bastion").expect("bastion")];
    assert_eq!(
        (bastion.conn.user.as_str(), bastion.conn.jump.len()),
        ("jumper", 0)
    );
    let prov = k.provenance(k.host_by_name("node1").expect("node1"));
    let jump = prov.iter().find(|r| r.0 == "jump").expect("jump row");
    assert!(
        jump.2.starts_with("group k8s_cluster (")
            && jump.2.ends_with("kubespray_hosts.yaml:59:34)"),
        "{jump:?}"
    );
    let user = prov.iter().find(|r| r.0 == "user").expect("user row");
    assert!(user.2.starts_with("group all ("), "{user:?}");
}

#[test]
fn fleetdeck_patterns_table() {
    let inv = load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("inventory.yaml"));
    let cases: &[(&str, &str)] = &[
        ("web", "web01.example.com web02.example.com web03.example.com web04.example.com web05.example.com web06.example.com web07.example.com web08.example.com web09.example.com web10.example.com web11.example.com web12.example.com web13.example.com web14.example.com web15.example.com web16.example.com web17.example.com web18.example.com web19.example.com web20.example.com web-special"),
        ("web[01-03].example.com", "web01.example.com web02.example.com web03.example.com"),
        ("web[1:3]", "web02.example.com web03.example.com web04.example.com"),
        ("db:cache", "db1 db2 db3 db-ra db-rb db-rc cache1-n1 cache1-n3 cache2-n1 cache2-n3"),
        ("db,cache:!db-replica", "db1 db2 db3 cache1-n1 cache1-n3 cache2-n1 cache2-n3"),
        ("db[1-2]", "db1 db2"),
        ("db-r[a:b]", "db-ra db-rb"),
        ("staging:&prod:!web[05-20].example.com", "web01.example.com web02.example.com web03.example.com web04.example.com web-special"),
        ("stg*:bastion", "bastion stg1 stg2"),
        ("~^cache[12]-n1$", "cache1-n1 cache2-n1"),
        ("*.example.com:&~web1", "web10.example.com web11.example.com web12.example.com web13.example.com web14.example.com web15.example.com web16.example.com web17.example.com web18.example.com web19.example.com"),
        ("!prod", "bastion stg1 stg2"),
        ("db-primary[0]:db-primary[-1]", "db1 db3"),
        ("db1:db1:db-primary", "db1 db2 db3"),
        ("all:!prod:!staging", "bastion"),
    ];
    for (pattern, want) in cases {
        let got = inv
            .select(pattern)
            .unwrap_or_else(|e| panic!("{pattern}: {e}"));
        assert_eq!(names(&inv, &got).join(" "), *want, "{pattern}");
    }
    let errors: &[(&str, &str)] = &[
        ("", "empty target pattern"),
        (
            "webb",
            "unknown host or group \"webb\" (did you mean \"web\"?)",
        ),
        ("all:!dbb", "unknown host or group \"dbb\""),
        ("db[1-4]", "unknown host or group \"db4\""),
        ("zz*", "pattern \"zz*\" matches no host or group"),
        ("~web(", "bad regular expression \"~web(\""),
        ("web[5-1]", "goes backwards"),
        ("n[1-1000000]", "more than the limit of 100000"),
        (
            "web[25]",
            "subscript in \"web[25]\" is out of range: the group has 21 hosts",
        ),
        ("prod:&", "empty target pattern"),
    ];
    for (pattern, needle) in errors {
        match inv.select(pattern) {
            Ok(ids) => panic!("{pattern}: expected an error, got {:?}", names(&inv, &ids)),
            Err(e) => assert!(e.to_string().contains(needle), "{pattern}: {e}"),
        }
    }
}

#[test]
fn inheritance_rule_for_hosts_in_several_groups() {
    let inv = load(&valid("multi_group.yaml"));
    let host = |n: &str| &inv.hosts[inv.host_by_name(n).unwrap_or_else(|| panic!("{n}"))];
    let shared = host("shared");
    assert_eq!(
        shared.conn.user, "second",
        "same depth: the later group wins"
    );
    assert_eq!(
        shared.conn.port, 2001,
        "settings the later group lacks come from the earlier"
    );
    assert_eq!(shared.vars["level"], "second");
    assert_eq!(shared.vars["a"], "from-first");
    assert_eq!(host("solo").conn.user, "first");
    let deep = host("deephost");
    assert_eq!(
        deep.conn.port, 2003,
        "a deeper group beats a shallower later one"
    );
    assert_eq!(deep.conn.user, "second");
    assert_eq!(deep.vars["level"], "host");
    let rows = inv.provenance(inv.host_by_name("deephost").expect("deephost"));
    let port = rows.iter().find(|r| r.0 == "port").expect("port");
    assert_eq!(port.1, "2003");
    assert!(
        port.2.starts_with("group deep (") && port.2.ends_with("multi_group.yaml:16:15)"),
        "{port:?}"
    );
    let ct = rows
        .iter()
        .find(|r| r.0 == "connect_timeout")
        .expect("timeout");
    assert_eq!((ct.1.as_str(), ct.2.as_str()), ("10s", "default"));
}

#[test]
fn known_hosts_string_or_list_resolved_against_the_inventory() {
    let inv = load(&valid("known_hosts_list.yaml"));
    let home = dirs::home_dir().expect("home");
    assert_eq!(
        inv.known_hosts,
        vec![
            fixtures().join("valid/kh/one"),
            home.join("kh_two"),
            PathBuf::from("/etc/ssh/ssh_known_hosts")
        ]
    );
}

#[test]
fn ssh_config_applies_to_inventory_hosts_as_openssh_would() {
    let cfg = valid("ssh/config");
    let inv = Inventory::load_with_ssh_config(&valid("ssh_applied.yaml"), Some(&cfg))
        .unwrap_or_else(|e| panic!("{e}"));
    let host = |n: &str| &inv.hosts[inv.host_by_name(n).unwrap_or_else(|| panic!("{n}"))];
    let keys = valid("ssh/keys");
    let w1 = host("web01");
    assert_eq!(w1.conn.address, "web01.example.net");
    assert_eq!((w1.conn.user.as_str(), w1.conn.port), ("webop", 2201));
    assert_eq!(
        w1.conn.identity_files,
        vec![keys.join("id_test"), keys.join("id_other")]
    );
    let w3 = host("web03");
    assert_eq!(
        (
            w3.conn.address.as_str(),
            w3.conn.user.as_str(),
            w3.conn.port
        ),
        ("web03", "fallback", 2222)
    );
    assert_eq!(w3.conn.identity_files, vec![keys.join("id_other")]);
    let w4 = host("web04");
    assert_eq!(
        (w4.conn.user.as_str(), w4.conn.port),
        ("explicit", 2000),
        "the inventory beats ssh_config"
    );
    let db1 = host("db1");
    assert_eq!(
        (db1.conn.address.as_str(), db1.conn.user.as_str()),
        ("10.2.0.1", "dbop"),
        "from the Include"
    );
    let app = host("app.internal");
    assert_eq!(app.conn.jump, vec!["gw.example.com"]);
    assert_eq!(app.conn.connect_timeout.as_secs(), 4);
    let rows = inv.provenance(inv.host_by_name("db1").expect("db1"));
    let user = rows.iter().find(|r| r.0 == "user").expect("user");
    assert!(
        user.2.starts_with("ssh_config (") && user.2.ends_with("10-db.conf:3:3)"),
        "{user:?}"
    );

    // The same through the binary, with the environment variable.
    let (code, out, err) = fleetdeck(&valid("ssh_applied.yaml"), &["--host", "web01"], Some(&cfg));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("webop") && out.contains(&format!("ssh_config ({}:6:5)", cfg.display())),
        "{out}"
    );
    // And without it nothing of that file applies.
    let (_, out, _) = fleetdeck(&valid("ssh_applied.yaml"), &["--host", "web01"], None);
    assert!(!out.contains("webop"), "{out}");
}

#[test]
fn an_ssh_config_is_an_inventory_of_its_concrete_hosts() {
    let (code, out, err) = fleetdeck(&valid("fleet_config"), &["--list", "all"], None);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "alpha\nbeta\ngamma\n");
    let inv = load(&valid("fleet_config"));
    let g = &inv.hosts[inv.host_by_name("gamma").expect("gamma")];
    assert_eq!((g.conn.address.as_str(), g.conn.port), ("192.0.2.7", 2022));
    assert_eq!(
        inv.hosts[inv.host_by_name("alpha").expect("alpha")]
            .conn
            .user,
        "ops"
    );
    // A file named `config` is read as an ssh_config too.
    let (code, out, _) = fleetdeck(&valid("ssh/config"), &["--list", "all"], None);
    assert_eq!(code, 0);
    assert_eq!(out, "db1\nweb01\nweb02\n");
}

#[test]
fn the_lab_inventory_shape_loads() {
    let inv = load(&valid("lab_shape.yaml"));
    let names: Vec<&str> = inv.hosts.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(names, ["web01", "web02", "db01", "stg-web01"]);
    for h in &inv.hosts {
        assert_eq!(
            (h.conn.address.as_str(), h.conn.user.as_str()),
            ("127.0.0.1", "tester")
        );
        assert_eq!(
            h.conn.identity_files,
            vec![fixtures().join("valid/keys/id_test")]
        );
    }
    assert_eq!(inv.hosts[3].conn.port, 42004);
    assert_eq!(inv.known_hosts, vec![fixtures().join("valid/known_hosts")]);
    assert_eq!(names_of(&inv, "prod:!db"), "web01 web02");
}

fn names_of(inv: &Inventory, pattern: &str) -> String {
    names(inv, &inv.select(pattern).unwrap_or_else(|e| panic!("{e}"))).join(" ")
}

#[test]
fn a_missing_inventory_file_is_exit_2_naming_it() {
    let (code, _, err) = fleetdeck(Path::new("/nonexistent/inv.yaml"), &[], None);
    assert_eq!(code, 2);
    assert!(
        err.contains("/nonexistent/inv.yaml") && err.contains("cannot read inventory"),
        "{err}"
    );
}
