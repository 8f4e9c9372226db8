//! `ansible_ssh_common_args` / `ansible_ssh_extra_args` read as OpenSSH's command line
//! reads them, for the settings fleetdeck has: `-p`, `-l`, `-i`, `-J`, and `-o Key=Value`
//! for `Port`, `User`, `IdentityFile`, `ProxyJump`, `ProxyCommand`, `ConnectTimeout`, and the
//! per-host options of [`super::sshopts`] (`UserKnownHostsFile`, `GlobalKnownHostsFile`,
//! `StrictHostKeyChecking`, `HostKeyAlias`, `IdentitiesOnly`, `ServerAliveInterval`,
//! `ServerAliveCountMax`; file names keep their `%` tokens and `~` until the host is
//! resolved). A `ProxyCommand` that is `ssh -W %h:%p … bastion` becomes a jump (one shared
//! session to the bastion instead of an ssh process per host); any other is run as OpenSSH
//! runs it (`ssh::proxy`). As in OpenSSH the first value of a setting wins (`-i` adds
//! identities; `-J`, `ProxyJump` and `ProxyCommand` are one setting, and `none` in them ends
//! it). Every other option is ignored with one warning per option for the whole inventory
//! ([`warn_ignored`]), never an error: Ansible hands the arguments to ssh and would only fail
//! when connecting.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use super::error::{InventoryError, Loc};
use super::parse::Ctx;
use super::resolve::{Raw, Settings};
use super::sshopts::SshOpt;
use super::yaml::Node;

/// The variables holding ssh arguments, in the order Ansible puts them on ssh's command line.
pub const ARG_VARS: &[&str] = &["ansible_ssh_common_args", "ansible_ssh_extra_args"];

/// What ssh arguments say about the settings fleetdeck has.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SshArgs {
    pub port: Option<u16>,
    pub user: Option<String>,
    pub identities: Vec<String>,
    pub jump: Option<String>,
    /// A `ProxyCommand` that is not a jump, as written; `none` when the first of `-J`,
    /// `ProxyJump` and `ProxyCommand` said none (nothing to run, later ones ignored).
    pub proxy_command: Option<String>,
    pub connect_timeout: Option<Duration>,
    /// The first readable value of each per-host option.
    pub options: Vec<SshOpt>,
    /// Options given that fleetdeck does not use (`-o StrictHostKeyChecking`, `-C`, …), or
    /// whose value it cannot read, as they were written.
    pub ignored: Vec<String>,
}

/// Flags of ssh(1) that take an argument (the next word when not attached).
const FLAGS_WITH_ARG: &str = "BbcDEeFIiJLlmOoPpQRSWw";

/// Reads ssh arguments onto `out` (earlier values kept, as OpenSSH keeps the first).
pub fn parse_into(args: &str, out: &mut SshArgs) {
    let words = shell_words(args);
    let mut i = 0;
    while i < words.len() {
        let w = &words[i];
        i += 1;
        let Some(flags) = w.strip_prefix('-').filter(|f| !f.is_empty()) else {
            out.ignored.push(w.clone()); // a host or command: not an option
            continue;
        };
        // A cluster like `-qA` or `-p2222`: flags until one that takes an argument.
        for (at, f) in flags.char_indices() {
            if FLAGS_WITH_ARG.contains(f) {
                let rest = &flags[at + f.len_utf8()..];
                let value = if rest.is_empty() {
                    i += 1;
                    words.get(i - 1).cloned().unwrap_or_default()
                } else {
                    rest.to_string()
                };
                flag(f, &value, out);
                break;
            }
            out.ignored.push(format!("-{f}"));
        }
    }
}

/// [`parse_into`] on a fresh value.
pub fn parse(args: &str) -> SshArgs {
    let mut out = SshArgs::default();
    parse_into(args, &mut out);
    out
}

fn flag(f: char, value: &str, out: &mut SshArgs) {
    match f {
        'p' => set_port(value, &format!("-p {value}"), out),
        'l' => set_user(value, out),
        'i' => out.identities.push(value.to_string()),
        'J' => set_jump(value, out),
        'o' => option(value, out),
        _ => out.ignored.push(format!("-{f}")),
    }
}

fn set_port(value: &str, written: &str, out: &mut SshArgs) {
    match value.parse::<u16>() {
        Ok(p) if p > 0 => {
            out.port.get_or_insert(p);
        }
        _ => out.ignored.push(written.to_string()),
    }
}

fn set_user(value: &str, out: &mut SshArgs) {
    if !value.is_empty() {
        out.user.get_or_insert_with(|| value.to_string());
    }
}

fn set_jump(value: &str, out: &mut SshArgs) {
    if value.is_empty() || out.jump.is_some() || out.proxy_command.is_some() {
        return;
    }
    if value == "none" {
        out.proxy_command = Some("none".to_string());
    } else {
        out.jump = Some(value.to_string());
    }
}

fn set_proxy_command(value: &str, out: &mut SshArgs) {
    if !value.is_empty() && out.jump.is_none() && out.proxy_command.is_none() {
        out.proxy_command = Some(value.to_string());
    }
}

/// One `-o` option, `Key=Value` or `Key Value`.
fn option(opt: &str, out: &mut SshArgs) {
    let (key, val) = match opt.split_once('=') {
        Some((k, v)) => (k.trim(), v.trim()),
        None => match opt.trim().split_once(char::is_whitespace) {
            Some((k, v)) => (k, v.trim()),
            None => (opt.trim(), ""),
        },
    };
    match key.to_ascii_lowercase().as_str() {
        "port" => set_port(val, &format!("-o {key}={val}"), out),
        "user" => set_user(val, out),
        "identityfile" => out.identities.push(val.to_string()),
        "proxyjump" => set_jump(val, out),
        "proxycommand" => match super::ansible::proxy_command_jump(val) {
            Some(j) => set_jump(&j, out),
            None => set_proxy_command(val, out),
        },
        "connecttimeout" => match val.parse::<u64>() {
            Ok(s) if s > 0 => {
                out.connect_timeout.get_or_insert(Duration::from_secs(s));
            }
            _ => out.ignored.push(format!("-o {key}={val}")),
        },
        k => match SshOpt::parse(k, &shell_words(val)) {
            Some(Ok(o)) => {
                if !out.options.iter().any(|x| x.index() == o.index()) {
                    out.options.push(o);
                }
            }
            Some(Err(_)) => out.ignored.push(format!("-o {key}={val}")),
            None => out.ignored.push(format!("-o {key}")),
        },
    }
}

/// Splits like a POSIX shell: whitespace separates, quotes group, backslash escapes.
pub fn shell_words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut has = false;
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (None, '\'' | '"') => {
                quote = Some(c);
                has = true;
            }
            (None, '\\') => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                    has = true;
                }
            }
            (None, c) if c.is_whitespace() => {
                if has || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                    has = false;
                }
            }
            (_, c) => cur.push(c),
        }
    }
    if has || !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// One warning per ignored ssh option across the whole inventory (at its first place), so a
/// `-o StrictHostKeyChecking=no` in `group_vars/all` is one line, not one per host.
pub fn warn_ignored(raw: &mut Raw) {
    let mut first: BTreeMap<String, Loc> = BTreeMap::new();
    let levels = raw
        .groups
        .iter()
        .flat_map(|g| [&g.settings, &g.vars_files])
        .chain(raw.hosts.iter().flat_map(|h| [&h.settings, &h.vars_files]));
    for s in levels {
        for (k, v) in &s.vars {
            if !ARG_VARS.contains(&k.as_str()) || v.v.contains("{{") {
                continue;
            }
            for opt in parse(&v.v).ignored {
                let key = opt.split('=').next().unwrap_or(&opt).to_string();
                first.entry(key).or_insert_with(|| v.at.clone());
            }
        }
    }
    for (opt, at) in first {
        raw.warnings.push(InventoryError::new(
            at,
            format!("ssh argument {opt:?} is not used by fleetdeck (ignored)"),
        ));
    }
}

/// The settings ssh arguments give, under those the same level names outright
/// (`ansible_port` beats `-p`, as Ansible puts `-o Port=` before the user's arguments);
/// `-i` files come after `ansible_ssh_private_key_file`.
pub(super) fn apply(args: &SshArgs, ctx: &Ctx, at: &Node, s: &mut Settings) {
    if let (None, Some(p)) = (&s.port, args.port) {
        s.port = Some(ctx.val(at, p));
    }
    if let (None, Some(u)) = (&s.user, &args.user) {
        s.user = Some(ctx.val(at, u.clone()));
    }
    if !args.identities.is_empty() {
        let mut files: Vec<PathBuf> = s.identity.take().map(|i| i.v).unwrap_or_default();
        files.extend(args.identities.iter().map(|f| ctx.path(f)));
        s.identity = Some(ctx.val(at, files));
    }
    if let (None, Some(t)) = (&s.connect_timeout, args.connect_timeout) {
        s.connect_timeout = Some(ctx.val(at, t));
    }
    for o in &args.options {
        if !s.options.iter().any(|x| x.v.index() == o.index()) {
            s.options.push(ctx.val(at, o.clone()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_as_openssh_reads_them() {
        let a = parse("-o Port=2222 -p 22 -l deploy -i ~/.ssh/a -oIdentityFile=b -J bastion");
        assert_eq!(a.port, Some(2222), "the first Port wins");
        assert_eq!(a.user.as_deref(), Some("deploy"));
        assert_eq!(a.identities, ["~/.ssh/a", "b"]);
        assert_eq!(a.jump.as_deref(), Some("bastion"));
        assert!(a.ignored.is_empty(), "{:?}", a.ignored);
        let a = parse("-p2200 -o 'ConnectTimeout 7' -o \"User=ops\"");
        assert_eq!(
            (a.port, a.connect_timeout, a.user.as_deref()),
            (Some(2200), Some(Duration::from_secs(7)), Some("ops"))
        );
    }

    #[test]
    fn unknown_options_are_ignored_not_fatal() {
        let a = parse("-C -qA -o StrictHostKeyChecking=maybe -o ControlPersist=60s -p x");
        assert_eq!(
            a.ignored,
            [
                "-C",
                "-q",
                "-A",
                "-o StrictHostKeyChecking=maybe",
                "-o ControlPersist",
                "-p x"
            ]
        );
        assert_eq!(a.port, None);
    }

    #[test]
    fn a_proxy_command_through_ssh_is_a_jump() {
        let a = parse("-o ProxyCommand=\"ssh -W %h:%p -q ops@bastion\"");
        assert_eq!(a.jump.as_deref(), Some("ops@bastion"));
        let a = parse("-o ProxyCommand=\"nc %h %p\"");
        assert_eq!(a.jump, None);
        assert!(a.ignored.is_empty(), "{:?}", a.ignored);
    }

    #[test]
    fn any_other_proxy_command_is_run_and_the_first_proxy_wins() {
        let cmd = "bash -c 'exec 3<>/dev/tcp/%h/%p; cat <&3 & exec cat >&3'";
        let a = parse(&format!("-o \"ProxyCommand={cmd}\" -J later"));
        assert_eq!((a.proxy_command.as_deref(), a.jump), (Some(cmd), None));
        let a = parse("-o 'ProxyCommand nc %h %p' -o ProxyCommand=second");
        assert_eq!(a.proxy_command.as_deref(), Some("nc %h %p"));
        // A jump first: a later ProxyCommand is ignored (as OpenSSH keeps the first).
        let a = parse("-J bastion -o ProxyCommand='nc %h %p'");
        assert_eq!(
            (a.jump.as_deref(), a.proxy_command),
            (Some("bastion"), None)
        );
        // none ends the setting: nothing to run, nothing later taken.
        for args in [
            "-o ProxyCommand=none -J b",
            "-o ProxyJump=none -o 'ProxyCommand=nc x'",
        ] {
            let a = parse(args);
            assert_eq!(
                (a.jump, a.proxy_command.as_deref()),
                (None, Some("none")),
                "{args}"
            );
        }
    }

    #[test]
    fn per_host_options_first_wins() {
        use crate::contract::HostKeyPolicy;
        let a = parse(
            "-o StrictHostKeyChecking=accept-new -o 'UserKnownHostsFile ~/kh %h_kh' \
             -o StrictHostKeyChecking=yes -oHostKeyAlias=web -o IdentitiesOnly=yes \
             -o ServerAliveInterval=1 -o ServerAliveCountMax=2 -o GlobalKnownHostsFile=none",
        );
        assert!(a.ignored.is_empty(), "{:?}", a.ignored);
        assert_eq!(
            a.options,
            [
                SshOpt::StrictHostKeyChecking(HostKeyPolicy::AcceptNew),
                SshOpt::UserKnownHostsFile(vec!["~/kh".into(), "%h_kh".into()]),
                SshOpt::HostKeyAlias("web".into()),
                SshOpt::IdentitiesOnly(true),
                SshOpt::ServerAliveInterval(Duration::from_secs(1)),
                SshOpt::ServerAliveCountMax(2),
                SshOpt::GlobalKnownHostsFile(vec![]),
            ]
        );
    }
}
