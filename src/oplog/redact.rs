//! Redaction of secrets that operators put on command lines, before a command is recorded in
//! the operation log.
//!
//! Rules (each replaces only the secret, with `***`, and keeps the rest of the command):
//! - `sshpass -p SECRET` / `sshpass -pSECRET` (and `-p` of `mysql`/`mysqldump`/`mariadb`
//!   when glued: `mysql -pSECRET`);
//! - `--password SECRET`, `--password=SECRET`, and the same for `--passwd`, `--pass`,
//!   `--token`, `--secret`, `--api-key`, `--access-key`, `--secret-key`, `--auth-token`;
//! - environment assignments whose name contains `PASS`, `PASSWORD`, `PASSWD`, `PWD`,
//!   `SECRET`, `TOKEN` or `API_KEY` (case-insensitive): `MYSQL_PWD=SECRET`;
//! - user information in URLs: `https://user:SECRET@host` keeps `user`.
//!
//! Quoted values (`'...'`, `"..."`) are redacted whole.

/// What a redacted value is replaced with.
pub const MASK: &str = "***";

/// Long options whose value is a secret.
const SECRET_OPTIONS: &[&str] = &[
    "password",
    "passwd",
    "pass",
    "token",
    "secret",
    "api-key",
    "apikey",
    "access-key",
    "secret-key",
    "auth-token",
];

/// Parts of environment variable names that mark their value as secret.
const SECRET_NAME_PARTS: &[&str] = &["PASS", "PWD", "SECRET", "TOKEN", "API_KEY", "APIKEY"];

/// Commands whose `-p` option carries a password (separate or glued to it).
const DASH_P_SEPARATE: &[&str] = &["sshpass"];
/// Commands whose `-pSECRET` (glued only) is a password; a lone `-p` prompts.
const DASH_P_GLUED: &[&str] = &["mysql", "mysqldump", "mariadb", "mysqladmin"];

/// A shell-ish word of the command line: its byte range in the original text.
#[derive(Debug, Clone, Copy)]
struct Word {
    start: usize,
    end: usize,
}

/// Splits `s` into words at unquoted whitespace and at `;`, `|`, `&` (kept as their own
/// words), honouring single and double quotes and backslash escapes.
fn words(s: &str) -> Vec<Word> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        if matches!(b[i], b';' | b'|' | b'&') {
            out.push(Word {
                start: i,
                end: i + 1,
            });
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !b[i].is_ascii_whitespace() && !matches!(b[i], b';' | b'|' | b'&') {
            match b[i] {
                b'\\' => i = (i + 2).min(b.len()),
                q @ (b'\'' | b'"') => {
                    i += 1;
                    while i < b.len() && b[i] != q {
                        if q == b'"' && b[i] == b'\\' {
                            i += 1;
                        }
                        i += 1;
                    }
                    i = (i + 1).min(b.len());
                }
                _ => i += 1,
            }
        }
        out.push(Word { start, end: i });
    }
    out
}

/// The command name of a word (`/usr/bin/sshpass` → `sshpass`).
fn base_name(w: &str) -> &str {
    w.rsplit('/').next().unwrap_or(w)
}

fn is_secret_env_name(name: &str) -> bool {
    if name.is_empty() || !name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_') {
        return false;
    }
    let upper = name.to_ascii_uppercase();
    SECRET_NAME_PARTS.iter().any(|p| upper.contains(p))
}

/// Returns `command` with secrets replaced by [`MASK`] (see the module documentation for the
/// rules). Text without secrets is returned unchanged.
pub fn redact(command: &str) -> String {
    // Byte ranges of `command` to replace with the mask, in order, not overlapping.
    let mut cuts: Vec<(usize, usize)> = Vec::new();
    let ws = words(command);
    // The command word of the current simple command (after `;`, `|`, `&`).
    let mut cmd: Option<&str> = None;
    let mut i = 0;
    while i < ws.len() {
        let w = &command[ws[i].start..ws[i].end];
        if matches!(w, ";" | "|" | "&") {
            cmd = None;
            i += 1;
            continue;
        }
        // NAME=value (an assignment before a command, or an argument like `env X=y`).
        if let Some(eq) = w.find('=') {
            let name = &w[..eq];
            if !name.starts_with('-') && is_secret_env_name(name) && eq + 1 < w.len() {
                cuts.push((ws[i].start + eq + 1, ws[i].end));
                i += 1;
                continue;
            }
        }
        if let Some(long) = w.strip_prefix("--") {
            let (opt, value) = match long.find('=') {
                Some(eq) => (&long[..eq], Some(eq)),
                None => (long, None),
            };
            if SECRET_OPTIONS.contains(&opt.to_ascii_lowercase().as_str()) {
                match value {
                    Some(eq) if 2 + eq + 1 < w.len() => {
                        cuts.push((ws[i].start + 2 + eq + 1, ws[i].end));
                    }
                    Some(_) => {}
                    None => {
                        if let Some(next) = ws.get(i + 1) {
                            let nw = &command[next.start..next.end];
                            if !matches!(nw, ";" | "|" | "&") {
                                cuts.push((next.start, next.end));
                                i += 2;
                                continue;
                            }
                        }
                    }
                }
            }
        }
        if let Some(c) = cmd {
            let c = base_name(c);
            if DASH_P_SEPARATE.contains(&c) {
                if w == "-p" {
                    if let Some(next) = ws.get(i + 1) {
                        let nw = &command[next.start..next.end];
                        if !matches!(nw, ";" | "|" | "&") {
                            cuts.push((next.start, next.end));
                            i += 2;
                            continue;
                        }
                    }
                } else if w.len() > 2 && w.starts_with("-p") {
                    cuts.push((ws[i].start + 2, ws[i].end));
                }
            } else if DASH_P_GLUED.contains(&c) && w.len() > 2 && w.starts_with("-p") {
                cuts.push((ws[i].start + 2, ws[i].end));
            }
        } else if !w.contains('=') || w.starts_with('-') {
            // First word that is not an assignment: the command (`sudo`, `env` and
            // `exec` pass it on to the next word).
            if !matches!(base_name(w), "sudo" | "env" | "exec" | "nohup" | "time") {
                cmd = Some(w);
            }
        }
        // user:password@ in URLs anywhere in the word.
        let mut from = 0;
        while let Some(p) = w[from..].find("://") {
            let auth_start = from + p + 3;
            let rest = &w[auth_start..];
            let end = rest.find(['/', '?', '#', '\'', '"']).unwrap_or(rest.len());
            if let Some(at) = rest[..end].rfind('@') {
                if let Some(colon) = rest[..at].find(':') {
                    if colon + 1 < at {
                        cuts.push((
                            ws[i].start + auth_start + colon + 1,
                            ws[i].start + auth_start + at,
                        ));
                    }
                }
            }
            from = auth_start;
        }
        i += 1;
    }
    if cuts.is_empty() {
        return command.to_string();
    }
    cuts.sort_unstable();
    let mut out = String::with_capacity(command.len());
    let mut pos = 0;
    for (a, b) in cuts {
        if a < pos {
            continue;
        }
        out.push_str(&command[pos..a]);
        out.push_str(MASK);
        pos = b;
    }
    out.push_str(&command[pos..]);
    out
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn sshpass_and_glued_dash_p() {
        assert_eq!(
            redact("sshpass -p hunter2 ssh root@db1 uptime"),
            "sshpass -p *** ssh root@db1 uptime"
        );
        assert_eq!(
            redact("/usr/bin/sshpass -phunter2 scp a b:"),
            "/usr/bin/sshpass -p*** scp a b:"
        );
        assert_eq!(
            redact("sshpass -p 'two words' rsync x y"),
            "sshpass -p *** rsync x y"
        );
        assert_eq!(
            redact("mysql -uroot -phunter2 -e 'show tables'"),
            "mysql -uroot -p*** -e 'show tables'"
        );
        // A lone -p prompts; `-p` of other commands is not a password.
        assert_eq!(redact("mysql -p -e x"), "mysql -p -e x");
        assert_eq!(redact("mkdir -p /tmp/x"), "mkdir -p /tmp/x");
        assert_eq!(
            redact("ls; sshpass -p s3 ssh h"),
            "ls; sshpass -p *** ssh h"
        );
        assert_eq!(
            redact("sudo sshpass -p s3 ssh h"),
            "sudo sshpass -p *** ssh h"
        );
    }

    #[test]
    fn long_options_env_and_urls() {
        assert_eq!(redact("curl --password=hunter2 x"), "curl --password=*** x");
        assert_eq!(
            redact("tool --token abc.def --verbose"),
            "tool --token *** --verbose"
        );
        assert_eq!(
            redact("MYSQL_PWD=hunter2 mysql -e 'select 1'"),
            "MYSQL_PWD=*** mysql -e 'select 1'"
        );
        assert_eq!(
            redact("env DB_PASSWORD=\"a b\" ./migrate"),
            "env DB_PASSWORD=*** ./migrate"
        );
        assert_eq!(
            redact("git clone https://bob:hunter2@git.example.com/r.git"),
            "git clone https://bob:***@git.example.com/r.git"
        );
        assert_eq!(
            redact("curl https://git.example.com/a@b"),
            "curl https://git.example.com/a@b"
        );
        assert_eq!(redact("echo PATH=$PATH"), "echo PATH=$PATH");
    }

    #[test]
    fn plain_commands_are_unchanged() {
        for c in [
            "uptime",
            "systemctl restart nginx && journalctl -u nginx | tail",
            "echo 'a -p b'",
            "",
            "   ",
            "--password",
            "x --password=",
            "sshpass -p",
            "a://",
            "\\",
            "'unterminated",
        ] {
            assert_eq!(redact(c), c, "{c:?}");
        }
    }
}
