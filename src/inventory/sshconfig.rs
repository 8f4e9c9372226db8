//! A reader for OpenSSH's client configuration, for the settings fleetdeck uses: HostName,
//! Port, User, IdentityFile, ProxyJump, ConnectTimeout. As OpenSSH: the first value found for
//! a keyword wins (IdentityFile accumulates), `Host` patterns with `*`, `?` and `!`, case
//! insensitive, `Include` with `~` and globs in the file name (relative paths from the
//! directory of the top-level file, which for `~/.ssh/config` is `~/.ssh` as in OpenSSH).
//! `Match` blocks are not evaluated: their settings never apply, except `Match all`.
//!
//! No crate fit: the ones on crates.io either skip `Include` or report no line numbers.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::error::{InventoryError, Loc};
use super::resolve::Val;

const MAX_INCLUDE_DEPTH: usize = 16;

/// The keywords that start an ssh_config file's first meaningful line (format detection).
pub const KEYWORDS: &[&str] = &[
    "host",
    "match",
    "include",
    "hostname",
    "user",
    "port",
    "identityfile",
    "proxyjump",
    "proxycommand",
    "connecttimeout",
    "forwardagent",
    "serveraliveinterval",
    "serveralivecountmax",
    "stricthostkeychecking",
    "userknownhostsfile",
    "identitiesonly",
    "addkeystoagent",
    "controlmaster",
    "controlpath",
    "controlpersist",
    "compression",
    "loglevel",
    "sendenv",
    "setenv",
    "hashknownhosts",
    "pubkeyauthentication",
    "passwordauthentication",
    "preferredauthentications",
    "certificatefile",
    "localforward",
    "remoteforward",
    "dynamicforward",
    "canonicalizehostname",
    "ciphers",
    "kexalgorithms",
    "macs",
    "hostkeyalgorithms",
    "batchmode",
    "tcpkeepalive",
    "visualhostkey",
];

/// One host condition: every pattern list must match (an `Include` inside a `Host` block is
/// subject to that block and to the included file's own `Host` lines).
type Cond = Vec<Arc<Vec<(bool, String)>>>;

#[derive(Debug, Clone)]
struct Line {
    cond: Cond,
    /// False in `Match` blocks (not evaluated).
    active: bool,
    key: String,
    args: Vec<String>,
    at: Loc,
}

/// A parsed ssh_config with its includes flattened.
#[derive(Debug, Clone, Default)]
pub struct SshConfig {
    lines: Vec<Line>,
    /// Directory relative `Include` and `IdentityFile` paths start from.
    base: PathBuf,
    /// Concrete `Host` names (no wildcard, no negation), in order, for `-i ~/.ssh/config`.
    pub concrete_hosts: Vec<(String, Loc)>,
}

/// What the config says for one host.
#[derive(Debug, Default)]
pub struct Found {
    pub hostname: Option<Val<String>>,
    pub port: Option<Val<u16>>,
    pub user: Option<Val<String>>,
    pub identity_files: Vec<Val<PathBuf>>,
    pub jump: Option<Val<Vec<String>>>,
    pub connect_timeout: Option<Val<Duration>>,
}

/// Whether `text` reads as an ssh_config: its first meaningful line starts with a keyword.
pub fn looks_like_ssh_config(text: &str) -> bool {
    for line in text.lines() {
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let word: String = l
            .chars()
            .take_while(|c| !c.is_whitespace() && *c != '=')
            .collect();
        let rest = l[word.len()..].trim_start();
        return KEYWORDS.contains(&word.to_ascii_lowercase().as_str())
            && !word.ends_with(':')
            && !rest.is_empty();
    }
    false
}

impl SshConfig {
    pub fn load(path: &Path) -> Result<SshConfig, InventoryError> {
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut cfg = SshConfig {
            base: base.clone(),
            ..SshConfig::default()
        };
        cfg.read_file(path, &base, &Vec::new(), true, 0)?;
        Ok(cfg)
    }

    fn read_file(
        &mut self,
        path: &Path,
        base: &Path,
        outer: &Cond,
        outer_active: bool,
        depth: usize,
    ) -> Result<(), InventoryError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            InventoryError::new(Loc::file_only(path), format!("cannot read ssh config: {e}"))
        })?;
        let file: Arc<Path> = Arc::from(path);
        let mut cond = outer.clone();
        let mut active = outer_active;
        for (n, raw_line) in text.lines().enumerate() {
            let trimmed = raw_line.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let col = raw_line.len() - trimmed.len() + 1;
            let at = Loc::new(&file, n + 1, col);
            let (key, args) =
                split_line(trimmed).map_err(|m| InventoryError::new(at.clone(), m))?;
            let key = key.to_ascii_lowercase();
            match key.as_str() {
                "host" => {
                    let pats: Vec<(bool, String)> = args
                        .iter()
                        .map(|p| match p.strip_prefix('!') {
                            Some(x) => (true, x.to_ascii_lowercase()),
                            None => (false, p.to_ascii_lowercase()),
                        })
                        .collect();
                    for (neg, p) in &pats {
                        if !neg
                            && !p.contains(['*', '?'])
                            && outer_active
                            && !self.concrete_hosts.iter().any(|(x, _)| x == p)
                        {
                            self.concrete_hosts.push((p.clone(), at.clone()));
                        }
                    }
                    cond.clone_from(outer);
                    cond.push(Arc::new(pats));
                    active = outer_active;
                }
                "match" => {
                    cond.clone_from(outer);
                    active = outer_active && args.len() == 1 && args[0].eq_ignore_ascii_case("all");
                }
                "include" => {
                    if depth >= MAX_INCLUDE_DEPTH {
                        return Err(InventoryError::new(at, "Include nested too deeply"));
                    }
                    for a in &args {
                        for f in include_files(base, a) {
                            self.read_file(&f, base, &cond, active, depth + 1)?;
                        }
                    }
                }
                _ => self.lines.push(Line {
                    cond: cond.clone(),
                    active,
                    key,
                    args,
                    at,
                }),
            }
        }
        Ok(())
    }

    /// The settings OpenSSH would use for `host`.
    pub fn lookup(&self, host: &str) -> Found {
        let host_lc = host.to_ascii_lowercase();
        let mut f = Found::default();
        for l in &self.lines {
            if !l.active || !l.cond.iter().all(|pats| matches_host(pats, &host_lc)) {
                continue;
            }
            let Some(first) = l.args.first() else {
                continue;
            };
            let val = |v| Val {
                v,
                at: l.at.clone(),
            };
            match l.key.as_str() {
                "hostname" if f.hostname.is_none() => {
                    let h = expand_tokens(first, host)
                        .trim_matches(['[', ']'])
                        .to_string();
                    f.hostname = Some(val(h));
                }
                "port" if f.port.is_none() => {
                    if let Ok(p) = first.parse::<u16>() {
                        if p > 0 {
                            f.port = Some(Val {
                                v: p,
                                at: l.at.clone(),
                            });
                        }
                    }
                }
                "user" if f.user.is_none() => f.user = Some(val(first.clone())),
                "identityfile" => {
                    let p = super::expand_tilde(&expand_tokens(first, host));
                    let p = if p.is_absolute() {
                        p
                    } else {
                        self.base.join(p)
                    };
                    if p.is_file() && !f.identity_files.iter().any(|x| x.v == p) {
                        f.identity_files.push(Val {
                            v: p,
                            at: l.at.clone(),
                        });
                    }
                }
                "proxyjump" if f.jump.is_none() => {
                    let hops = if first.eq_ignore_ascii_case("none") {
                        Vec::new()
                    } else {
                        first.split(',').map(|s| s.trim().to_string()).collect()
                    };
                    f.jump = Some(Val {
                        v: hops,
                        at: l.at.clone(),
                    });
                }
                "connecttimeout" if f.connect_timeout.is_none() => {
                    if let Ok(s) = first.parse::<u64>() {
                        if s > 0 {
                            f.connect_timeout = Some(Val {
                                v: Duration::from_secs(s),
                                at: l.at.clone(),
                            });
                        }
                    }
                }
                _ => {}
            }
        }
        f
    }
}

/// `Keyword value`, `Keyword=value`, `Keyword = "quoted value"`.
fn split_line(line: &str) -> Result<(String, Vec<String>), String> {
    let key: String = line
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '=')
        .collect();
    let mut rest = line[key.len()..].trim_start();
    if let Some(r) = rest.strip_prefix('=') {
        rest = r.trim_start();
    }
    let mut args = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut has = false;
    for c in rest.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                has = true;
            }
            '#' if !quoted && !has && cur.is_empty() => break,
            c if c.is_whitespace() && !quoted => {
                if has || !cur.is_empty() {
                    args.push(std::mem::take(&mut cur));
                    has = false;
                }
            }
            c => cur.push(c),
        }
    }
    if quoted {
        return Err(format!("unbalanced quotes in {line:?}"));
    }
    if has || !cur.is_empty() {
        args.push(cur);
    }
    Ok((key, args))
}

fn include_files(base: &Path, arg: &str) -> Vec<PathBuf> {
    let p = super::expand_tilde(arg);
    let p = if p.is_absolute() { p } else { base.join(p) };
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !name.contains(['*', '?', '[']) {
        return if p.is_file() { vec![p] } else { Vec::new() };
    }
    let Some(dir) = p.parent() else {
        return Vec::new();
    };
    let Ok(glob) = globset::Glob::new(&name) else {
        return Vec::new();
    };
    let m = glob.compile_matcher();
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|f| f.is_file() && f.file_name().is_some_and(|n| m.is_match(n)))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

fn matches_host(pats: &[(bool, String)], host: &str) -> bool {
    let mut any = false;
    for (neg, p) in pats {
        if crate::util::ssh_wildcard(p, host) {
            if *neg {
                return false;
            }
            any = true;
        }
    }
    any
}

fn expand_tokens(s: &str, host: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('h' | 'n') => out.push_str(host),
            Some('d') => {
                out.push_str(
                    &crate::paths::home_dir()
                        .unwrap_or_default()
                        .to_string_lossy(),
                );
            }
            Some('u') => out.push_str(&super::default_user()),
            Some('%') | None => out.push('%'),
            Some(o) => {
                out.push('%');
                out.push(o);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_match_wins_and_negation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        std::fs::write(
            &path,
            "# c\nHost web* !web3\n  User deploy\n  Port 2201\nHost *\n  User nobody\n  Port=2222\n  ConnectTimeout 7\nMatch host x\n  User never\n",
        )
        .unwrap();
        let cfg = SshConfig::load(&path).unwrap();
        let f = cfg.lookup("WEB1");
        assert_eq!(f.user.unwrap().v, "deploy");
        assert_eq!(f.port.as_ref().unwrap().v, 2201);
        assert_eq!(f.port.unwrap().at.line, 4);
        let f = cfg.lookup("web3");
        assert_eq!(f.user.unwrap().v, "nobody");
        assert_eq!(f.connect_timeout.unwrap().v, Duration::from_secs(7));
        assert!(looks_like_ssh_config("\n# x\nHost a\n"));
        assert!(!looks_like_ssh_config("all:\n  hosts:\n"));
        assert!(!looks_like_ssh_config("host: a\n"));
    }
}
