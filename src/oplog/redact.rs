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
    let ws = words(command);
    let mut scan = Scan {
        command,
        ws: &ws,
        cuts: Vec::new(),
        cmd: None,
    };
    let mut i = 0;
    while i < ws.len() {
        i += scan.word(i);
    }
    mask(command, scan.cuts)
}

/// The state of one pass over the words of a command line.
struct Scan<'a> {
    command: &'a str,
    ws: &'a [Word],
    /// Byte ranges of `command` to replace with the mask.
    cuts: Vec<(usize, usize)>,
    /// The command word of the current simple command (after `;`, `|`, `&`).
    cmd: Option<&'a str>,
}

impl<'a> Scan<'a> {
    fn text(&self, w: Word) -> &'a str {
        &self.command[w.start..w.end]
    }

    /// Looks at word `i` and returns how many words it consumed (2 when the next word is the
    /// secret value of this one).
    fn word(&mut self, i: usize) -> usize {
        let word = self.ws[i];
        let w = self.text(word);
        if matches!(w, ";" | "|" | "&") {
            self.cmd = None;
            return 1;
        }
        // NAME=value (an assignment before a command, or an argument like `env X=y`).
        if let Some(eq) = w.find('=') {
            let name = &w[..eq];
            if !name.starts_with('-') && is_secret_env_name(name) && eq + 1 < w.len() {
                self.cuts.push((word.start + eq + 1, word.end));
                return 1;
            }
        }
        if self.long_option(i) {
            return 2;
        }
        if let Some(c) = self.cmd {
            if self.dash_p(i, base_name(c)) {
                return 2;
            }
        } else if !w.contains('=') || w.starts_with('-') {
            // First word that is not an assignment: the command (`sudo`, `env` and
            // `exec` pass it on to the next word).
            if !matches!(base_name(w), "sudo" | "env" | "exec" | "nohup" | "time") {
                self.cmd = Some(w);
            }
        }
        self.url_passwords(word);
        1
    }

    /// The next word after word `i` as the secret, unless it is an operator; whether it was.
    fn cut_next(&mut self, i: usize) -> bool {
        if let Some(&next) = self.ws.get(i + 1) {
            if !matches!(self.text(next), ";" | "|" | "&") {
                self.cuts.push((next.start, next.end));
                return true;
            }
        }
        false
    }

    /// `--password=SECRET` or `--password SECRET`; true when the secret was the next word.
    fn long_option(&mut self, i: usize) -> bool {
        let word = self.ws[i];
        let w = self.text(word);
        let Some(long) = w.strip_prefix("--") else {
            return false;
        };
        let (opt, value) = match long.find('=') {
            Some(eq) => (&long[..eq], Some(eq)),
            None => (long, None),
        };
        if !SECRET_OPTIONS.contains(&opt.to_ascii_lowercase().as_str()) {
            return false;
        }
        match value {
            Some(eq) if 2 + eq + 1 < w.len() => {
                self.cuts.push((word.start + 2 + eq + 1, word.end));
                false
            }
            Some(_) => false,
            None => self.cut_next(i),
        }
    }

    /// `-p SECRET` / `-pSECRET` of command `c`; true when the secret was the next word.
    fn dash_p(&mut self, i: usize, c: &str) -> bool {
        let word = self.ws[i];
        let w = self.text(word);
        let glued = w.len() > 2 && w.starts_with("-p");
        if DASH_P_SEPARATE.contains(&c) {
            if w == "-p" {
                return self.cut_next(i);
            }
            if glued {
                self.cuts.push((word.start + 2, word.end));
            }
        } else if DASH_P_GLUED.contains(&c) && glued {
            self.cuts.push((word.start + 2, word.end));
        }
        false
    }

    /// user:password@ in URLs anywhere in the word.
    fn url_passwords(&mut self, word: Word) {
        let w = self.text(word);
        let mut from = 0;
        while let Some(p) = w[from..].find("://") {
            let auth_start = from + p + 3;
            let rest = &w[auth_start..];
            let end = rest.find(['/', '?', '#', '\'', '"']).unwrap_or(rest.len());
            if let Some(at) = rest[..end].rfind('@') {
                if let Some(colon) = rest[..at].find(':') {
                    if colon + 1 < at {
                        self.cuts.push((
                            word.start + auth_start + colon + 1,
                            word.start + auth_start + at,
                        ));
                    }
                }
            }
            from = auth_start;
        }
    }
}

/// `command` with each of `cuts` replaced by [`MASK`]; overlapping cuts mask once.
fn mask(command: &str, mut cuts: Vec<(usize, usize)>) -> String {
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
