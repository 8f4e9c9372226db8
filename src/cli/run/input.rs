//! What a command reads on stdin: `--stdin FILE|-` (the same bytes for every host) and
//! `--script FILE [-- ARGS…]` (a local script run on every host by the interpreter its `#!`
//! names, fed on stdin, so that no file is left behind).

use std::io::Read;
use std::path::Path;

use crate::util::shell_quote;

/// Most bytes `--stdin` and `--script` read.
pub const MAX_INPUT: u64 = 256 << 20;

/// Shells that read a script from stdin with `-s` and take its arguments after `--`.
const SHELLS: &[&str] = &["sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "busybox"];

fn read_bounded(mut r: impl Read, what: &str, max: u64) -> Result<Vec<u8>, String> {
    let mut buf = Vec::new();
    r.by_ref()
        .take(max + 1)
        .read_to_end(&mut buf)
        .map_err(|e| format!("cannot read {what}: {e}"))?;
    if buf.len() as u64 > max {
        return Err(format!(
            "{what} is larger than {} MiB; copy it with `fleetdeck push` instead",
            max >> 20
        ));
    }
    Ok(buf)
}

/// `--stdin`: the file's bytes, or fleetdeck's own stdin for `-`.
pub fn stdin_bytes(arg: &str) -> Result<Vec<u8>, String> {
    if arg == "-" {
        return read_bounded(std::io::stdin().lock(), "stdin", MAX_INPUT);
    }
    let f = std::fs::File::open(arg).map_err(|e| format!("--stdin {arg}: {e}"))?;
    read_bounded(f, &format!("--stdin {arg}"), MAX_INPUT)
}

/// A script to run on every host: the remote command and the bytes fed to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    pub command: String,
    pub body: Vec<u8>,
}

/// The interpreter words of a `#!` line (`sh` when there is none).
fn interpreter(body: &[u8]) -> Vec<String> {
    let first = body.split(|b| *b == b'\n').next().unwrap_or_default();
    match first.strip_prefix(b"#!") {
        Some(rest) => String::from_utf8_lossy(rest)
            .split_whitespace()
            .map(str::to_string)
            .collect(),
        None => Vec::new(),
    }
}

/// `--script FILE [-- ARGS…]`: reads the script and builds `INTERPRETER -s -- ARGS` (shells)
/// or `INTERPRETER - ARGS` (python, perl, ruby, node…), every word quoted.
pub fn script(path: &Path, args: &[String]) -> Result<Script, String> {
    let f = std::fs::File::open(path).map_err(|e| format!("--script {}: {e}", path.display()))?;
    let body = read_bounded(f, &format!("--script {}", path.display()), MAX_INPUT)?;
    let mut words = interpreter(&body);
    if words.is_empty() {
        words.push("sh".into());
    }
    // `#!/usr/bin/env NAME` runs NAME: that decides how it reads a script from stdin.
    let program = if words[0].ends_with("/env") || words[0] == "env" {
        words.get(1).cloned().unwrap_or_default()
    } else {
        words[0].clone()
    };
    let base = program.rsplit('/').next().unwrap_or_default();
    let mut command: Vec<String> = words.iter().map(|w| shell_quote(w)).collect();
    if SHELLS.contains(&base) {
        command.extend(["-s".into(), "--".into()]);
    } else {
        command.push("-".into());
    }
    command.extend(args.iter().map(|a| shell_quote(a)));
    Ok(Script {
        command: command.join(" "),
        body,
    })
}

/// The remote command and what it reads on stdin, from `-- COMMAND`, `--stdin` and `--script`.
pub fn command_and_stdin(
    words: &[String],
    stdin: Option<&str>,
    script: Option<&Path>,
) -> Result<(String, Option<Vec<u8>>), String> {
    if let Some(path) = script {
        let s = self::script(path, words)?;
        return Ok((s.command, Some(s.body)));
    }
    let command = words.join(" ");
    if command.trim().is_empty() {
        return Err("give the command after `--` (or --script FILE)".into());
    }
    let stdin = stdin.map(stdin_bytes).transpose()?;
    Ok((command, stdin))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script_of(text: &str, args: &[&str]) -> String {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("s");
        std::fs::write(&p, text).expect("script");
        let args: Vec<String> = args.iter().map(ToString::to_string).collect();
        script(&p, &args).expect("script").command
    }

    #[test]
    fn the_interpreter_comes_from_the_shebang() {
        assert_eq!(script_of("echo hi\n", &["a b"]), "sh -s -- 'a b'");
        assert_eq!(
            script_of("#!/bin/bash -e\necho\n", &[]),
            "/bin/bash -e -s --"
        );
        assert_eq!(
            script_of("#!/usr/bin/env python3\nprint(1)\n", &["x"]),
            "/usr/bin/env python3 - x"
        );
        assert_eq!(
            script_of("#!/usr/bin/perl -w\n", &["$HOME"]),
            "/usr/bin/perl -w - '$HOME'"
        );
    }

    #[test]
    fn input_is_bounded() {
        let err =
            read_bounded(std::io::repeat(b'x').take((2 << 20) + 1), "stdin", 2 << 20).unwrap_err();
        assert!(err.contains("stdin is larger than 2 MiB"), "{err}");
        assert_eq!(read_bounded(&b"abc"[..], "stdin", 3).expect("fits"), b"abc");
    }
}
