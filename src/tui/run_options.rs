//! Options typed before a command on the console's command line, as on `fleetdeck run`:
//! `--batch N|N% [--max-failures N|N%] [--pause SECONDS] -- COMMAND` runs it rolling.

use crate::contract::{Amount, Rolling};

/// Splits leading options off `line`: the rolling spec (if any) and the command. A line that
/// does not start with one of the options is the command as it is.
pub fn split(line: &str) -> Result<(Option<Rolling>, &str), String> {
    let starts = ["--batch", "--max-failures", "--pause"];
    if !starts.iter().any(|s| line.trim_start().starts_with(s)) {
        return Ok((None, line));
    }
    let Some(sep) = line.find(" -- ") else {
        return Err("end the options with ` -- ` before the command (--batch 2 -- uptime)".into());
    };
    let (opts, command) = (&line[..sep], line[sep + 4..].trim());
    let words: Vec<&str> = opts.split_whitespace().collect();
    let (mut batch, mut max_failures, mut pause) = (None, None, std::time::Duration::ZERO);
    let mut it = words.iter();
    while let Some(&w) = it.next() {
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
                    "unknown option {other} (--batch, --max-failures, --pause)"
                ))
            }
        }
    }
    let Some(batch) = batch.filter(|b| *b != Amount::Count(0)) else {
        return Err("--max-failures and --pause need --batch N (at least 1)".into());
    };
    if command.is_empty() {
        return Err("no command after ` -- `".into());
    }
    Ok((
        Some(Rolling {
            batch,
            max_failures,
            pause,
        }),
        command,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_before_the_command() {
        assert_eq!(split("uptime -- x").unwrap(), (None, "uptime -- x"));
        let (r, c) =
            split("--batch 25% --max-failures 1 --pause 2 -- systemctl restart app").unwrap();
        let r = r.expect("rolling");
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
    }
}
