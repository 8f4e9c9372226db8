//! `fleetdeck run --stdin` and `--script` through the real binary against lab hosts.

mod common;

use std::io::Write;
use std::process::{Output, Stdio};

use common::{fleetdeck, lab, TestLab};

fn run(lab: &TestLab, args: &[&str], stdin: &[u8]) -> (i32, String, String) {
    let mut child = fleetdeck(lab.tmp())
        .arg("-i")
        .arg(lab.inventory_path())
        .arg("run")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run fleetdeck");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin)
        .expect("write stdin");
    let out: Output = child.wait_with_output().expect("wait");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn stdin_from_a_file_and_from_fleetdecks_own_stdin_reaches_every_host() {
    let lab = lab(3);
    // Larger than an SSH channel window: written as the window opens.
    let big = lab.tmp().join("big.bin");
    std::fs::write(&big, vec![b'z'; 5 << 20]).expect("file");
    let big = big.to_string_lossy().into_owned();
    let (code, out, err) = run(
        &lab,
        &["all", "--stdin", &big, "-o", "json", "--", "wc -c"],
        b"",
    );
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        out.matches("5242880").count(),
        3,
        "every host read all 5 MiB:\n{out}"
    );
    let (code, out, err) = run(
        &lab,
        &["all", "--stdin", "-", "--", "tr a-z A-Z"],
        b"hello\n",
    );
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(out.matches("HELLO").count(), 3, "{out}");
    // A command that does not read its stdin still succeeds.
    let (code, out, err) = run(&lab, &["all", "--stdin", &big, "--", "true"], b"");
    assert_eq!(code, 0, "{out}{err}");
    // Without --stdin, stdin ends at once (as `ssh -n`).
    let (code, out, _) = run(
        &lab,
        &["all", "--", "cat; echo done"],
        b"not for the hosts\n",
    );
    assert_eq!(code, 0);
    assert!(
        !out.contains("not for the hosts") && out.matches("done").count() == 3,
        "{out}"
    );
}

#[test]
fn a_local_script_runs_through_its_interpreter_and_leaves_no_file() {
    let lab = lab(2);
    let sh = lab.tmp().join("check.sh");
    std::fs::write(
        &sh,
        "#!/bin/sh\necho \"args:$#:$1:$2\"\necho \"rand:${RANDOM:-none}\"\n",
    )
    .expect("script");
    let py = lab.tmp().join("check.py");
    std::fs::write(
        &py,
        "#!/usr/bin/env python3\nimport sys\nprint('py', sys.argv[1:])\n",
    )
    .expect("script");
    let before: Vec<_> = (0..2)
        .map(|i| std::fs::read_dir(lab.home(i)).expect("home").count())
        .collect();
    let (code, out, err) = run(
        &lab,
        &[
            "all",
            "--script",
            &sh.to_string_lossy(),
            "--",
            "a b",
            "$HOME",
        ],
        b"",
    );
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(out.matches("args:2:a b:$HOME").count(), 2, "{out}");
    let (code, out, err) = run(
        &lab,
        &["all", "--script", &py.to_string_lossy(), "--", "x", "y z"],
        b"",
    );
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(out.matches("py ['x', 'y z']").count(), 2, "{out}");
    let after: Vec<_> = (0..2)
        .map(|i| std::fs::read_dir(lab.home(i)).expect("home").count())
        .collect();
    assert_eq!(before, after, "no file left in the hosts' homes");
    // --script with --stdin, or neither a command nor a script: usage errors.
    let (code, _, err) = run(
        &lab,
        &["all", "--script", &sh.to_string_lossy(), "--stdin", "-"],
        b"",
    );
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = run(&lab, &["all"], b"");
    assert_eq!(code, 2);
    assert!(err.contains("--script FILE"), "{err}");
    let (code, _, err) = run(&lab, &["all", "--script", "/nonexistent/x.sh"], b"");
    assert_eq!(code, 2);
    assert!(err.contains("/nonexistent/x.sh"), "{err}");
}

/// `-o diff`: the largest group in full, the other as a unified diff against it.
#[test]
fn output_diff_prints_the_largest_group_and_diffs_the_others() {
    let lab = lab(3);
    let odd = lab.hosts()[2].port;
    let cmd = format!(
        "echo first; if [ ${{SSH_CONNECTION##* }} = {odd} ]; then echo changed; else echo middle; fi; echo last"
    );
    let (code, out, err) = run(&lab, &["all", "-o", "diff", "--", &cmd], b"");
    assert_eq!(code, 0, "{out}{err}");
    let names: Vec<&str> = lab.hosts().iter().map(|h| h.name.as_str()).collect();
    assert!(out.contains("(2 hosts) · largest group"), "{out}");
    assert!(
        out.contains(&format!("{} (1 host) · diff against", names[2])),
        "{out}"
    );
    let diff = &out[out.find("diff against").expect("the diff block")..];
    for want in ["@@ -1,3 +1,3 @@", " first", "-middle", "+changed", " last"] {
        assert!(diff.contains(want), "{want:?} in\n{out}");
    }
    let full = &out[..out.find("diff against").expect("diff")];
    assert!(
        full.contains("first\nmiddle\nlast\n"),
        "the largest group in full:\n{out}"
    );
}
