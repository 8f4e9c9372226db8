//! known_hosts as OpenSSH reads them, against real lab daemons: the user file, the global file
//! and the inventory's are all consulted; a key on record in any of them decides.

mod common;

use common::events::collect;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use fleetdeck::engine::{
    Engine, EngineConfig, ErrorClass, ExecSpec, HostKeyPolicy, JobKind, JobSpec, NoPrompter, Target,
};

fn target(lab: &common::TestLab, i: usize) -> Target {
    lab.target(i, Duration::from_secs(5))
}

/// Host 0 is known in the user file with a wrong key and absent from the inventory's file:
/// changed, not unknown. Host 1 is covered only by a `@cert-authority` line of the global
/// file: refused with a message saying so. Under accept-new, no file gets a line.
#[test]
fn a_wrong_key_in_the_user_file_is_changed_and_accept_new_records_nothing() {
    let lab = common::lab(2);
    let tmp = lab.tmp();
    let hosts = lab.hosts();
    let token = |i: usize| format!("[127.0.0.1]:{}", hosts[i].port);
    // A well-formed ed25519 key that is not the host's: the lab's client key.
    let wrong = std::fs::read_to_string(lab.client_key_path().with_extension("pub"))
        .expect("client_key.pub");
    let wrong = wrong
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");

    let user = tmp.join("user_known_hosts");
    std::fs::write(&user, format!("# mine\n{} {wrong}\n", token(0))).expect("write user");
    let global = tmp.join("ssh_known_hosts");
    std::fs::write(&global, format!("@cert-authority {} {wrong}\n", token(1))).expect("write");
    // The inventory's file: the lab's, without these two hosts.
    let lab_kh = std::fs::read_to_string(lab.known_hosts_path()).expect("lab known_hosts");
    let inv_kh = tmp.join("inventory_known_hosts");
    let kept: String = lab_kh
        .lines()
        .filter(|l| !l.starts_with(&token(0)) && !l.starts_with(&token(1)))
        .flat_map(|l| [l, "\n"])
        .collect();
    std::fs::write(&inv_kh, format!("# fleet\n{kept}")).expect("write inventory's");
    let files: Vec<PathBuf> = [&user, &global, &inv_kh]
        .iter()
        .map(|p| (*p).clone())
        .collect();
    let before: Vec<Vec<u8>> = files
        .iter()
        .map(|f| std::fs::read(f).expect("read"))
        .collect();

    let known_hosts =
        fleetdeck::face::known_hosts_order(&[], &user, &global, std::slice::from_ref(&inv_kh));
    assert_eq!(
        known_hosts, files,
        "user file first (the writable one), then global, inventory's"
    );
    let (engine, mut rx) = Engine::new(EngineConfig {
        host_key_policy: HostKeyPolicy::AcceptNew,
        known_hosts,
        idle_timeout: Duration::from_secs(60),
        keepalive: Duration::from_secs(15),
        runs_dir: Some(tmp.join("runs")),
        oplog: Some(tmp.join("oplog.jsonl")),
        prompter: Arc::new(NoPrompter),
    });
    let id = engine.submit(JobSpec {
        kind: JobKind::Exec(ExecSpec {
            command: "touch ran-here".into(),
            ..ExecSpec::default()
        }),
        targets: vec![target(&lab, 0), target(&lab, 1)],
        fanout: 8,
        pattern: "all".into(),
    });
    let run = collect(&mut rx, id);
    engine.shutdown();

    let (class, msg) = run.hosts[&hosts[0].name]
        .failed
        .clone()
        .expect("host 0 must fail");
    assert_eq!(class, ErrorClass::HostKeyChanged, "{msg}");
    assert!(
        msg.contains(&format!("{}:2", user.display())),
        "names file:line: {msg}"
    );
    let (class, msg) = run.hosts[&hosts[1].name]
        .failed
        .clone()
        .expect("host 1 must fail");
    assert_eq!(class, ErrorClass::HostKeyUnknown, "{msg}");
    assert!(
        msg.contains("@cert-authority") && msg.contains(&format!("{}:1", global.display())),
        "{msg}"
    );
    assert!(msg.contains("does not support host certificates"), "{msg}");
    for (f, b) in files.iter().zip(&before) {
        assert_eq!(
            &std::fs::read(f).expect("read"),
            b,
            "{} was written",
            f.display()
        );
    }
    assert!(!lab.home(0).join("ran-here").exists() && !lab.home(1).join("ran-here").exists());
}
