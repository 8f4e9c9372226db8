//! Lab hosts run commands as a real host does: under the lab user's login shell (sshd's
//! `$SHELL -c`), in the host's own home, with nothing of the lab's in between.

mod common;

use common::events::collect_within;

use std::time::Duration;

use fleetdeck::engine::{Engine, ExecSpec, JobKind, JobSpec};

/// The login shell of `user` as the passwd database has it.
fn login_shell(user: &str) -> String {
    let passwd = std::fs::read_to_string("/etc/passwd").expect("/etc/passwd");
    passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.first() == Some(&user))
        .and_then(|f| f.get(6).map(ToString::to_string))
        .unwrap_or_else(|| panic!("{user} not in /etc/passwd"))
}

#[test]
fn commands_run_under_the_login_shell_in_the_hosts_home() {
    let lab = common::lab(2);
    let (engine, mut rx) = Engine::new(lab.engine_config());
    // `$RANDOM` is bash's; `/proc/$$/exe` is the shell running the command itself.
    let command =
        "r=$RANDOM; case $r in ''|*[!0-9]*) echo \"no RANDOM: '$r'\" >&2; exit 3;; esac; \
                   readlink /proc/$$/exe; pwd; echo \"$HOME\"; ls -d ~";
    let job = engine.submit(JobSpec {
        kind: JobKind::Exec(ExecSpec {
            command: command.into(),
            ..ExecSpec::default()
        }),
        targets: (0..2)
            .map(|i| lab.target(i, Duration::from_secs(10)))
            .collect(),
        fanout: 4,
        pattern: "all".into(),
    });
    let run = collect_within(&mut rx, job, Duration::from_secs(60));
    let shell = std::fs::canonicalize(login_shell(lab.user())).expect("login shell");
    for i in 0..2 {
        let name = &lab.hosts()[i].name;
        let h = &run.hosts[name.as_str()];
        let err = String::from_utf8_lossy(&h.stderr);
        assert_eq!(run.ok, 2, "{name}: {err}");
        let out = String::from_utf8_lossy(&h.stdout);
        let lines: Vec<&str> = out.lines().collect();
        let home = lab.home(i).display().to_string();
        assert_eq!(
            lines,
            [shell.display().to_string().as_str(), &home, &home, &home],
            "{name}: stderr {err}"
        );
        assert!(!err.contains("lab-shell"), "{err}");
    }
    // Errors name the shell, as on a real host.
    let job = engine.submit(JobSpec {
        kind: JobKind::Exec(ExecSpec {
            command: "no-such-command-here".into(),
            ..ExecSpec::default()
        }),
        targets: vec![lab.target(0, Duration::from_secs(10))],
        fanout: 4,
        pattern: "all".into(),
    });
    let run = collect_within(&mut rx, job, Duration::from_secs(60));
    let h = &run.hosts[lab.hosts()[0].name.as_str()];
    let err = String::from_utf8_lossy(&h.stderr);
    assert!(
        err.contains("no-such-command-here: command not found"),
        "{err}"
    );
    assert!(!err.contains("lab-shell"), "{err}");
    engine.shutdown();
}
