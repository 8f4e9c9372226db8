//! A reader for OpenSSH's client configuration, for the settings fleetdeck uses: HostName,
//! Port, User, IdentityFile, ProxyJump, ProxyCommand, ConnectTimeout ([`READ_KEYWORDS`]), and
//! the per-host options of [`super::sshopts`] ([`OPTION_KEYWORDS`]): UserKnownHostsFile,
//! GlobalKnownHostsFile, StrictHostKeyChecking, HostKeyAlias, IdentitiesOnly,
//! ServerAliveInterval, ServerAliveCountMax. As OpenSSH: the first value found for a keyword
//! wins (IdentityFile accumulates; ProxyJump and ProxyCommand share one slot, so the first of
//! the two wins and `none` in either disables both), `Host` patterns with `*`, `?` and `!`,
//! case insensitive, `Include` with `~` and globs in the file name (relative paths from the
//! directory of the top-level file, which for `~/.ssh/config` is `~/.ssh` as in OpenSSH).
//! `Match` blocks are evaluated for `all`, `host`, `originalhost`, `user` and `localuser`
//! ([`super::sshmatch`]); `Match exec` and the other criteria are refused with a warning.
//! `%h %n %p %r %u %d %%` expand in `IdentityFile` (with the final host, port and user) and
//! `%h %%` in `HostName`; `%h %n %p %r %u %d %%` and `~` in the known_hosts file names, with
//! the host's final address, port and user (`none` names no file); a `ProxyCommand` is kept
//! as written, the rest of its line, and its tokens expand when it runs (`ssh::proxy`). A
//! value fleetdeck cannot read (`StrictHostKeyChecking maybe`) is a warning and the line is
//! skipped. Every other keyword (ForwardAgent, ControlMaster, Ciphers, …) is one warning per
//! keyword for the whole file, not one per host, and changes nothing.
//!
//! No crate fit: the ones on crates.io either skip `Include` or report no line numbers.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::error::{InventoryError, Loc};
use super::resolve::Val;
use super::sshmatch::{self, Parsed, Subjects, Tokens};
use super::sshopts::{SshOpt, OPTION_KEYWORDS};

const MAX_INCLUDE_DEPTH: usize = 16;

/// The keywords fleetdeck reads (besides `Host`, `Match` and `Include`); the others are
/// ignored with a warning.
pub const READ_KEYWORDS: &[&str] = &[
    "hostname",
    "port",
    "user",
    "identityfile",
    "proxyjump",
    "proxycommand",
    "connecttimeout",
];

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

/// Whether a `Match` line is evaluated, and its criteria.
type MatchLine = (bool, Option<Arc<Vec<sshmatch::Crit>>>);

#[derive(Debug, Clone)]
struct Line {
    cond: Cond,
    /// False in a `Match` block fleetdeck does not evaluate (`Match exec`).
    active: bool,
    /// The criteria of the `Match` block the line is in.
    when: Option<Arc<Vec<sshmatch::Crit>>>,
    key: String,
    args: Vec<String>,
    /// A `ProxyCommand`'s value: the rest of the line as written, quotes and all.
    raw: Option<String>,
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
    /// Refused `Match` criteria and keywords fleetdeck does not read, once each.
    pub warnings: Vec<InventoryError>,
}

/// What the config says for one host.
#[derive(Debug, Default)]
pub struct Found {
    pub hostname: Option<Val<String>>,
    pub port: Option<Val<u16>>,
    pub user: Option<Val<String>>,
    pub identity_files: Vec<Val<PathBuf>>,
    pub jump: Option<Val<Vec<String>>>,
    pub proxy_command: Option<Val<String>>,
    pub connect_timeout: Option<Val<Duration>>,
    /// The first readable value of each of [`OPTION_KEYWORDS`], file names unexpanded.
    pub options: Vec<Val<SshOpt>>,
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
        cfg.read_file(path, &base, (&Vec::new(), None), true, 0)?;
        let mut seen = std::collections::BTreeSet::new();
        for l in &cfg.lines {
            if let Some(Err(m)) = SshOpt::parse(&l.key, &l.args) {
                cfg.warnings
                    .push(InventoryError::new(l.at.clone(), format!("{m} (ignored)")));
            }
            let read = READ_KEYWORDS.contains(&l.key.as_str())
                || OPTION_KEYWORDS.contains(&l.key.as_str());
            if !read && seen.insert(l.key.clone()) {
                cfg.warnings.push(InventoryError::new(
                    l.at.clone(),
                    format!(
                        "ssh_config keyword {:?} is not used by fleetdeck (ignored)",
                        l.key
                    ),
                ));
            }
        }
        Ok(cfg)
    }

    fn read_file(
        &mut self,
        path: &Path,
        base: &Path,
        (outer, outer_when): (&Cond, Option<&Arc<Vec<sshmatch::Crit>>>),
        outer_active: bool,
        depth: usize,
    ) -> Result<(), InventoryError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            InventoryError::new(Loc::file_only(path), format!("cannot read ssh config: {e}"))
        })?;
        let file: Arc<Path> = Arc::from(path);
        let mut cond = outer.clone();
        let mut active = outer_active;
        let mut when = outer_when.cloned();
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
                    when = outer_when.cloned();
                }
                "match" => {
                    // A Match inside an included file's Host or Match block: the outer one
                    // still applies (cond), and this one's criteria replace its own.
                    cond.clone_from(outer);
                    let (evaluated, crits) = self.match_line(&args, at)?;
                    active = outer_active && evaluated;
                    when = crits;
                }
                "include" => {
                    if depth >= MAX_INCLUDE_DEPTH {
                        return Err(InventoryError::new(at, "Include nested too deeply"));
                    }
                    for a in &args {
                        for f in include_files(base, a) {
                            self.read_file(&f, base, (&cond, when.as_ref()), active, depth + 1)?;
                        }
                    }
                }
                _ => self.lines.push(Line {
                    cond: cond.clone(),
                    active,
                    when: when.clone(),
                    raw: (key == "proxycommand").then(|| raw_value(trimmed).to_string()),
                    key,
                    args,
                    at,
                }),
            }
        }
        Ok(())
    }

    /// A `Match` line: whether fleetdeck evaluates it, and its criteria.
    fn match_line(&mut self, args: &[String], at: Loc) -> Result<MatchLine, InventoryError> {
        match sshmatch::parse(args).map_err(|m| InventoryError::new(at.clone(), m))? {
            Parsed::All(c) => Ok((true, Some(Arc::new(c)))),
            Parsed::Unsupported(name) => {
                self.warnings.push(InventoryError::new(
                    at,
                    format!("Match {name} is not evaluated by fleetdeck: this block never applies"),
                ));
                Ok((false, None))
            }
        }
    }

    /// The settings OpenSSH would use for `host`.
    pub fn lookup(&self, host: &str) -> Found {
        let host_lc = host.to_ascii_lowercase();
        let local_user = super::default_user();
        let mut f = Found::default();
        let mut identities: Vec<(String, Loc)> = Vec::new();
        for l in &self.lines {
            if !l.active
                || !l
                    .cond
                    .iter()
                    .all(|pats| sshmatch::pattern_list(pats, &host_lc))
            {
                continue;
            }
            if let Some(crits) = &l.when {
                let current = f.hostname.as_ref().map(|h| h.v.to_ascii_lowercase());
                let subjects = Subjects {
                    host: current.as_deref().unwrap_or(&host_lc),
                    original: &host_lc,
                    user: f.user.as_ref().map_or(&local_user, |u| &u.v),
                    local_user: &local_user,
                };
                if !sshmatch::holds(crits, &subjects) {
                    continue;
                }
            }
            let Some(first) = l.args.first() else {
                continue;
            };
            if l.key == "identityfile" {
                identities.push((first.clone(), l.at.clone()));
            } else {
                f.take(l, first, host);
            }
        }
        let hostname = f.hostname.as_ref().map_or(host, |h| h.v.as_str());
        let tokens = Tokens {
            host: hostname,
            original: host,
            port: f.port.as_ref().map_or(22, |p| p.v),
            user: f.user.as_ref().map_or(&local_user, |u| &u.v),
            local_user: &local_user,
        };
        for (raw, at) in identities {
            let p = super::expand_tilde(&sshmatch::expand(&raw, &tokens));
            let p = if p.is_absolute() {
                p
            } else {
                self.base.join(p)
            };
            if p.is_file() && !f.identity_files.iter().any(|x| x.v == p) {
                f.identity_files.push(Val { v: p, at });
            }
        }
        f
    }
}

impl Found {
    /// One line's value, unless an earlier line gave the keyword (the first wins).
    fn take(&mut self, l: &Line, first: &str, host: &str) {
        let val = |v| Val {
            v,
            at: l.at.clone(),
        };
        match l.key.as_str() {
            "hostname" if self.hostname.is_none() => {
                let tokens = Tokens {
                    host,
                    original: host,
                    port: 22,
                    user: "",
                    local_user: "",
                };
                let h = sshmatch::expand(first, &tokens);
                let h = h.trim_matches(['[', ']']).to_string();
                self.hostname = Some(val(h));
            }
            "port" if self.port.is_none() => {
                if let Ok(p) = first.parse::<u16>() {
                    if p > 0 {
                        self.port = Some(Val {
                            v: p,
                            at: l.at.clone(),
                        });
                    }
                }
            }
            "user" if self.user.is_none() => self.user = Some(val(first.to_string())),
            // `none` in either is an empty jump: no proxy of any kind.
            "proxyjump" if self.jump.is_none() && self.proxy_command.is_none() => {
                let hops = if first.eq_ignore_ascii_case("none") {
                    Vec::new()
                } else {
                    first.split(',').map(|s| s.trim().to_string()).collect()
                };
                self.jump = Some(Val {
                    v: hops,
                    at: l.at.clone(),
                });
            }
            "proxycommand" if self.jump.is_none() && self.proxy_command.is_none() => {
                let cmd = l.raw.clone().unwrap_or_default();
                if cmd == "none" {
                    self.jump = Some(Val {
                        v: Vec::new(),
                        at: l.at.clone(),
                    });
                } else {
                    self.proxy_command = Some(val(cmd));
                }
            }
            "connecttimeout" if self.connect_timeout.is_none() => {
                if let Ok(s) = first.parse::<u64>() {
                    if s > 0 {
                        self.connect_timeout = Some(Val {
                            v: Duration::from_secs(s),
                            at: l.at.clone(),
                        });
                    }
                }
            }
            key if OPTION_KEYWORDS.contains(&key) => {
                let Some(Ok(o)) = SshOpt::parse(key, &l.args) else {
                    return;
                };
                if !self.options.iter().any(|x| x.v.index() == o.index()) {
                    self.options.push(Val {
                        v: o,
                        at: l.at.clone(),
                    });
                }
            }
            _ => {}
        }
    }
}

/// What follows the keyword, as OpenSSH hands a `ProxyCommand` to the shell: after the
/// keyword, blanks and one `=`, up to the end of the line (trailing blanks dropped).
fn raw_value(line: &str) -> &str {
    let rest = line.trim_start_matches(|c: char| !c.is_whitespace() && c != '=');
    let rest = rest.trim_start();
    rest.strip_prefix('=').unwrap_or(rest).trim()
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

    #[test]
    fn proxy_command_and_proxy_jump_share_one_slot() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        let cmd = "bash -c 'exec 3<>/dev/tcp/%h/%p; cat <&3 & exec cat >&3'";
        std::fs::write(
            &path,
            format!(
                "Host cmd*\n  ProxyCommand = {cmd}  \n\
                 Host jump1\n  ProxyJump gw\n\
                 Host none1\n  ProxyCommand none\n\
                 Host nojump1\n  ProxyJump none\n\
                 Host *\n  ProxyCommand \"quoted\" %h\n  ProxyJump late\n"
            ),
        )
        .unwrap();
        let cfg = SshConfig::load(&path).unwrap();
        assert!(cfg.warnings.is_empty(), "{:?}", cfg.warnings);
        // The rest of the line as written (quotes kept, tokens left for connect time).
        let f = cfg.lookup("cmd1");
        let p = f.proxy_command.expect("ProxyCommand");
        assert_eq!((p.v.as_str(), p.at.line), (cmd, 2));
        assert!(f.jump.is_none(), "the later ProxyJump lost");
        // A ProxyJump first: the later ProxyCommand is ignored.
        let f = cfg.lookup("jump1");
        assert_eq!(f.jump.unwrap().v, ["gw"]);
        assert!(f.proxy_command.is_none());
        // `none` in either disables both.
        for host in ["none1", "nojump1"] {
            let f = cfg.lookup(host);
            assert!(f.jump.unwrap().v.is_empty(), "{host}");
            assert!(f.proxy_command.is_none(), "{host}");
        }
        let f = cfg.lookup("other");
        assert_eq!(f.proxy_command.unwrap().v, "\"quoted\" %h");
    }

    #[test]
    fn match_blocks_tokens_and_ignored_keywords() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        let key = dir.path().join("id_web1_deploy_2202");
        std::fs::write(&key, "k").unwrap();
        std::fs::write(
            &path,
            "Host web1\n  HostName %h.example.com\n\
             Match originalhost web* !user nosuchuser\n  Port 2202\n\
             Match host *.example.com\n  User deploy\n  ForwardAgent yes\n\
             Match exec \"true\"\n  User never\n\
             Host *\n  IdentityFile id_%n_%r_%p\n  ForwardAgent no\n",
        )
        .unwrap();
        let cfg = SshConfig::load(&path).unwrap();
        let f = cfg.lookup("web1");
        assert_eq!(f.hostname.unwrap().v, "web1.example.com");
        assert_eq!(f.port.unwrap().v, 2202);
        assert_eq!(f.user.unwrap().v, "deploy", "Match host sees the HostName");
        // %n %r %p with the final user and port.
        assert_eq!(f.identity_files[0].v, key);
        let f = cfg.lookup("db1");
        assert!(f.port.is_none() && f.user.is_none());
        let w: Vec<String> = cfg.warnings.iter().map(ToString::to_string).collect();
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w[0].contains(":8:1: Match exec is not evaluated"), "{w:?}");
        assert!(
            w[1].contains(":7:3: ssh_config keyword \"forwardagent\""),
            "{w:?}"
        );
        std::fs::write(&path, "Match host\n  User x\n").unwrap();
        let e = SshConfig::load(&path).unwrap_err().to_string();
        assert!(
            e.contains("config:1:1: Match host needs a pattern list"),
            "{e}"
        );
    }

    #[test]
    fn per_host_options_first_wins_tokens_and_none() {
        use crate::contract::HostKeyPolicy;
        use crate::inventory::{Inventory, LoadOptions};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        std::fs::write(
            &path,
            "Host web1\n  HostName 127.0.0.1\n  Port 2201\n  User ops\n\
             \x20 UserKnownHostsFile ~/kh_%h_%p_%r_%n %d/second\n\
             \x20 StrictHostKeyChecking no\n  HostKeyAlias web1-alias\n\
             \x20 ServerAliveInterval 1\n\
             Host db1\n  UserKnownHostsFile none\n  GlobalKnownHostsFile /g/%%kh\n\
             \x20 StrictHostKeyChecking maybe\n\
             Host *\n  StrictHostKeyChecking yes\n  IdentitiesOnly yes\n\
             \x20 UserKnownHostsFile /never\n  ServerAliveCountMax 5\n",
        )
        .unwrap();
        let cfg = SshConfig::load(&path).unwrap();
        let w: Vec<String> = cfg.warnings.iter().map(ToString::to_string).collect();
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].contains(":12:3: stricthostkeychecking \"maybe\""),
            "{w:?}"
        );
        let inv = Inventory::load_str_with(
            Path::new("fleet.yaml"),
            "hosts:\n  web1: {}\n  db1: {}\n",
            &LoadOptions::default().with_ssh_config(&path),
        )
        .unwrap();
        let home = crate::paths::home_dir().unwrap_or_default();
        let o = &inv.hosts[0].conn.options;
        assert_eq!(
            o.user_known_hosts.as_deref(),
            Some(&[home.join("kh_127.0.0.1_2201_ops_web1"), home.join("second")][..]),
            "the first UserKnownHostsFile wins, tokens and ~ expanded"
        );
        assert_eq!(o.strict_host_key_checking, Some(HostKeyPolicy::AcceptNew));
        assert_eq!(o.host_key_alias.as_deref(), Some("web1-alias"));
        assert_eq!(o.identities_only, Some(true));
        assert_eq!(o.server_alive(), Some((Duration::from_secs(1), 5)));
        let o = &inv.hosts[1].conn.options;
        assert_eq!(o.user_known_hosts.as_deref(), Some(&[][..]), "none");
        assert_eq!(
            o.global_known_hosts.as_deref(),
            Some(&[PathBuf::from("/g/%kh")][..])
        );
        assert_eq!(
            o.strict_host_key_checking,
            Some(HostKeyPolicy::Strict),
            "an unreadable value is skipped"
        );
        let rows = inv.provenance(1);
        let row = rows
            .iter()
            .find(|r| r.0 == "user_known_hosts_file")
            .expect("row");
        assert_eq!(row.1, "none");
        assert!(
            row.2.starts_with("ssh_config (") && row.2.ends_with(":10:3)"),
            "{row:?}"
        );
    }
}
