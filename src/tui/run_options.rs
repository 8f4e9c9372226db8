//! Options typed before a command on the console's command line, as on `fleetdeck run`:
//! `--batch N|N% [--max-failures N|N%] [--pause SECONDS] -- COMMAND` runs it rolling,
//! `--no-become -- COMMAND` ignores the inventory's `ansible_become*`.

use crate::contract::{Amount, Rolling};

/// The options typed before a command.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunOptions {
    /// `--batch` and its companions.
    pub rolling: Option<Rolling>,
    /// `--no-become`, as on `fleetdeck run`.
    pub no_become: bool,
}

/// Splits leading options off `line`: the options and the command. A line that does not
/// start with one of the options is the command as it is.
pub fn split(line: &str) -> Result<(RunOptions, &str), String> {
    let starts = ["--batch", "--max-failures", "--pause", "--no-become"];
    if !starts.iter().any(|s| line.trim_start().starts_with(s)) {
        return Ok((RunOptions::default(), line));
    }
    let Some(sep) = line.find(" -- ") else {
        return Err("end the options with ` -- ` before the command (--batch 2 -- uptime)".into());
    };
    let (opts, command) = (&line[..sep], line[sep + 4..].trim());
    let words: Vec<&str> = opts.split_whitespace().collect();
    let (mut batch, mut max_failures, mut pause) = (None, None, std::time::Duration::ZERO);
    let mut no_become = false;
    let mut it = words.iter();
    while let Some(&w) = it.next() {
        if w == "--no-become" {
            no_become = true;
            continue;
        }
        let (name, value) = match w.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (w, it.next().copied()),
        };
        let value = value.ok_or_else(|| format!("{name} needs a value"))?;
        match name {
            "--batch" => batch = Some(Amount::parse(value)?),
            "--max-failures" => max_failures = Some(Amount::parse(value)?),
            "--pause" => pause = crate::face::parse_seconds(value)?,
            other => {
                return Err(format!(
                    "unknown option {other} (--batch, --max-failures, --pause, --no-become)"
                ))
            }
        }
    }
    if command.is_empty() {
        return Err("no command after ` -- `".into());
    }
    let rolling = match batch.filter(|b| *b != Amount::Count(0)) {
        Some(batch) => Some(Rolling {
            batch,
            max_failures,
            pause,
        }),
        None if batch.is_some() || max_failures.is_some() || !pause.is_zero() => {
            return Err("--max-failures and --pause need --batch N (at least 1)".into())
        }
        None => None,
    };
    Ok((RunOptions { rolling, no_become }, command))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_before_the_command() {
        assert_eq!(
            split("uptime -- x").unwrap(),
            (RunOptions::default(), "uptime -- x")
        );
        let (o, c) =
            split("--batch 25% --max-failures 1 --pause 2 -- systemctl restart app").unwrap();
        assert!(!o.no_become);
        let r = o.rolling.expect("rolling");
        assert_eq!(
            (r.batch, r.max_failures, r.pause.as_secs()),
            (Amount::Percent(25), Some(Amount::Count(1)), 2)
        );
        assert_eq!(c, "systemctl restart app");
        assert_eq!(split("--batch=3 -- a -- b").unwrap().1, "a -- b");
        assert!(split("--batch 2 uptime").unwrap_err().contains(" -- "));
        assert!(split("--pause 2 -- x")
            .unwrap_err()
            .contains("need --batch"));
        assert!(split("--batch x -- y").unwrap_err().contains("percentage"));
        assert!(split("--batch 0 -- y")
            .unwrap_err()
            .contains("need --batch"));
    }

    #[test]
    fn no_become_alone_or_with_a_batch() {
        let (o, c) = split("--no-become -- id -un").unwrap();
        assert_eq!((o.no_become, o.rolling, c), (true, None, "id -un"));
        let (o, c) = split("--batch 2 --no-become -- id").unwrap();
        assert!(o.no_become && o.rolling.is_some());
        assert_eq!(c, "id");
        assert!(split("--no-become id").unwrap_err().contains(" -- "));
    }
}
