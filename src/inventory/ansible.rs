//! Ansible's YAML inventory, read as it is: `all` / `hosts` / `vars` / `children`,
//! `ungrouped`, null values, hosts in several groups, YAML anchors and merge keys.
//!
//! Connection variables become settings (`ansible_host`, `ansible_port`, `ansible_user`,
//! `ansible_ssh_private_key_file`, `ansible_ssh_timeout`, and ProxyJump / `-J` /
//! `ProxyCommand` inside `ansible_ssh_common_args` or `ansible_ssh_extra_args`, a plain
//! `ProxyCommand="ssh -W %h:%p …"` read as a jump); every variable, known or not, is also
//! kept as a var. Values holding Jinja templates (`{{ … }}`) are kept as vars only.

use super::error::{suggest, InventoryError};
use super::parse::{
    entries, identity_path, key_text, parse_address, parse_jump_list, parse_port, parse_timeout,
    parse_user, Ctx,
};
use super::range::expand_range;
use super::resolve::{Order, Raw, Settings};
use super::sshargs;
use super::yaml::{Kind, Node};

const GROUP_KEYS: &[&str] = &["hosts", "vars", "children"];
/// Keys only fleetdeck's format has at the top. `hosts` is not one of them: Ansible allows a
/// group of that name.
const FLEETDECK_KEYS: &[&str] = &["defaults", "groups", "known_hosts"];

/// Whether a YAML document reads as an Ansible inventory rather than fleetdeck's format:
/// no fleetdeck-only key at the top, and either `all` or every top-level value a group (a
/// mapping of `hosts`/`vars`/`children`, or null) with at least one such mapping. A top-level
/// `hosts:` holding host names (not group keys) is fleetdeck's.
pub fn looks_like_ansible(root: &Node) -> bool {
    let Kind::Map(top) = &root.kind else {
        return false;
    };
    let keys: Vec<&str> = top.iter().filter_map(|(k, _)| k.as_str()).collect();
    if keys.iter().any(|k| FLEETDECK_KEYS.contains(k)) {
        return false;
    }
    let group_like = |v: &Node| match &v.kind {
        Kind::Map(e) => e
            .iter()
            .all(|(k, _)| k.as_str().is_some_and(|k| GROUP_KEYS.contains(&k))),
        _ => false,
    };
    if keys.contains(&"all")
        && top
            .iter()
            .all(|(k, v)| k.as_str() != Some("hosts") || v.is_null() || group_like(v))
    {
        return true;
    }
    let mut groups = 0;
    for (_, v) in top {
        if group_like(v) {
            groups += 1;
        } else if !v.is_null() {
            return false;
        }
    }
    groups > 0
}

pub fn read(ctx: &Ctx, root: &Node, source: &std::path::Path) -> Result<Raw, InventoryError> {
    let mut raw = Raw::new(source, Order::AnsibleName, "group all");
    read_into(ctx, root, &mut raw)?;
    finish(&mut raw);
    Ok(raw)
}

/// Adds one Ansible YAML source to `raw` (an inventory directory reads several); the caller
/// runs [`finish`] once all are read.
pub fn read_into(ctx: &Ctx, root: &Node, raw: &mut Raw) -> Result<(), InventoryError> {
    let top = entries(ctx, root, "an Ansible inventory")?;
    for (k, v) in top {
        let name = key_text(ctx, k)?;
        let g = raw.group(name);
        if raw.groups[g].at.is_none() {
            raw.groups[g].at = Some(k.loc(&ctx.file));
        }
        read_group(ctx, raw, g, v)?;
    }
    Ok(())
}

fn read_group(ctx: &Ctx, raw: &mut Raw, g: usize, node: &Node) -> Result<(), InventoryError> {
    let name = raw.groups[g].name.clone();
    let what = format!("group {name:?}");
    for (k, v) in entries(ctx, node, &what)? {
        let key = key_text(ctx, k)?;
        match key {
            "vars" => {
                let s = vars_settings(ctx, v, &format!("vars of group {name:?}"))?;
                if let Some(p) = s.vars.iter().find(|(k, _)| k == "ansible_group_priority") {
                    raw.groups[g].priority = p.1.v.trim().parse().unwrap_or(0);
                }
                merge(&mut raw.groups[g].settings, s);
            }
            "children" => {
                for (ck, cv) in children(ctx, v)? {
                    let child = key_text(ctx, &ck)?;
                    let c = raw.group(child);
                    if raw.groups[c].at.is_none() {
                        raw.groups[c].at = Some(ck.loc(&ctx.file));
                    }
                    raw.add_child(g, c, Some(ck.loc(&ctx.file)));
                    read_group(ctx, raw, c, &cv)?;
                }
            }
            "hosts" => {
                for (hk, hv) in children(ctx, v)? {
                    let pattern = key_text(ctx, &hk)?;
                    let (names, port) = host_pattern(ctx, &hk, pattern)?;
                    let mut s = vars_settings(ctx, &hv, &format!("host {pattern:?}"))?;
                    if let (Some(p), None) = (port, &s.port) {
                        s.port = Some(ctx.val(&hk, p));
                        // Ansible keeps a port written in the name as `ansible_port`.
                        s.vars
                            .push(("ansible_port".to_string(), ctx.val(&hk, p.to_string())));
                    }
                    for n in names {
                        raw.add_host(g, &n, s.clone())?;
                    }
                }
            }
            _ => {
                // Ansible skips such a key with a warning.
                let w = ctx
                    .err(
                        k,
                        format!("unknown key {key:?} in {what} skipped: Ansible groups hold hosts, vars and children"),
                    )
                    .with_hint(suggest(key, GROUP_KEYS.iter().copied()));
                raw.warnings.push(w);
            }
        }
    }
    Ok(())
}

/// `hosts:` and `children:` take a mapping, a null, or (as Ansible allows) a single name.
fn children(ctx: &Ctx, node: &Node) -> Result<Vec<(Node, Node)>, InventoryError> {
    if let Kind::Scalar { .. } = &node.kind {
        if !node.is_null() {
            let null = Node {
                kind: Kind::Scalar {
                    text: String::new(),
                    plain: true,
                },
                line: node.line,
                col: node.col,
            };
            return Ok(vec![(node.clone(), null)]);
        }
    }
    Ok(entries(ctx, node, "hosts or children")?.to_vec())
}

pub(super) fn merge(into: &mut Settings, later: Settings) {
    into.merge(later);
}

/// `name`, `name:port`, `www[01:50].example.com`, `db-[a:f]:2222`.
pub(super) fn host_pattern(
    ctx: &Ctx,
    at: &Node,
    pattern: &str,
) -> Result<(Vec<String>, Option<u16>), InventoryError> {
    let mut base = pattern.trim();
    let mut port = None;
    // A trailing `:digits` outside brackets is a port, unless the name is an IPv6 address.
    let bare_v6 = base.parse::<std::net::Ipv6Addr>().is_ok();
    if let Some(i) = base.rfind(':').filter(|_| !bare_v6) {
        let tail = &base[i + 1..];
        let head = &base[..i];
        let in_brackets = head.matches('[').count() > head.matches(']').count();
        if !in_brackets
            && !tail.is_empty()
            && tail.bytes().all(|b| b.is_ascii_digit())
            && head.parse::<std::net::Ipv6Addr>().is_err()
        {
            let head_clean = head.trim_start_matches('[').trim_end_matches(']');
            if head_clean.parse::<std::net::Ipv6Addr>().is_ok() {
                base = head_clean;
            } else {
                base = head;
            }
            port = Some(parse_port(ctx, at, tail)?);
        }
    }
    if base.is_empty() {
        return Err(ctx.err(at, format!("bad host name {pattern:?}")));
    }
    // What Ansible cannot read as an address (`node1 node2 node3`, folded from a multi-line
    // scalar) it keeps whole as the host's name, without a port.
    if base.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Ok((vec![pattern.to_string()], None));
    }
    let names = if base.parse::<std::net::Ipv6Addr>().is_ok() {
        vec![base.to_string()]
    } else {
        expand_range(base).map_err(|e| ctx.err(at, e.to_string()))?
    };
    Ok((names, port))
}

fn templated(s: &str) -> bool {
    s.contains("{{") || s.contains("{%")
}

/// A vars mapping: every entry kept as a var, connection variables also as settings.
pub(super) fn vars_settings(
    ctx: &Ctx,
    node: &Node,
    what: &str,
) -> Result<Settings, InventoryError> {
    let mut s = Settings::default();
    let mut ssh_args: [Option<(&Node, String)>; 2] = [None, None];
    for (k, v) in entries(ctx, node, what)? {
        let key = key_text(ctx, k)?;
        let text = v.to_text();
        s.vars.push((key.to_string(), ctx.val(v, text.clone())));
        if templated(&text) || matches!(v.kind, Kind::Seq(_) | Kind::Map(_)) {
            continue;
        }
        match key {
            "ansible_host" => s.address = Some(ctx.val(v, parse_address(ctx, v, &text)?)),
            "ansible_ssh_host" if s.address.is_none() => {
                s.address = Some(ctx.val(v, parse_address(ctx, v, &text)?));
            }
            "ansible_port" => s.port = Some(ctx.val(v, parse_port(ctx, v, &text)?)),
            "ansible_ssh_port" if s.port.is_none() => {
                s.port = Some(ctx.val(v, parse_port(ctx, v, &text)?));
            }
            "ansible_user" => s.user = Some(ctx.val(v, parse_user(ctx, v, &text)?)),
            "ansible_ssh_user" if s.user.is_none() => {
                s.user = Some(ctx.val(v, parse_user(ctx, v, &text)?));
            }
            // A key file missing here matters only when the host is contacted.
            "ansible_ssh_private_key_file" | "ansible_private_key_file" => {
                s.identity = Some(ctx.val(v, vec![identity_path(ctx, v, &text)?]));
            }
            "ansible_ssh_timeout" => {
                s.connect_timeout = Some(ctx.val(v, parse_timeout(ctx, v, &text)?));
            }
            "ansible_ssh_common_args" => ssh_args[0] = Some((v, text)),
            "ansible_ssh_extra_args" => ssh_args[1] = Some((v, text)),
            _ => {}
        }
    }
    // Common args come before extra args on Ansible's ssh command line; the first value of
    // a setting wins, as in OpenSSH.
    let mut args = sshargs::SshArgs::default();
    let mut at = None;
    for (node, text) in ssh_args.iter().flatten() {
        let before = (args.jump.is_some(), args.proxy_command.is_some());
        sshargs::parse_into(text, &mut args);
        if let (false, Some(j)) = (before.0, &args.jump) {
            s.jump = Some(ctx.val(node, parse_jump_list(ctx, node, vec![j.clone()])?));
        }
        if let (false, Some(p)) = (before.1, &args.proxy_command) {
            if p != "none" {
                s.proxy_command = Some(ctx.val(node, p.clone()));
            }
        }
        at.get_or_insert(*node);
    }
    if let Some(node) = at {
        sshargs::apply(&args, ctx, node, &mut s);
    }
    Ok(s)
}

/// The jump a `ProxyCommand="ssh -W %h:%p [-p P] [-l U] [user@]bastion"` makes.
pub(super) fn proxy_command_jump(cmd: &str) -> Option<String> {
    let words = super::sshargs::shell_words(cmd);
    if words.first().map(String::as_str) != Some("ssh") {
        return None;
    }
    let (mut port, mut user, mut dest, mut forwards) = (None, None, None, false);
    let mut i = 1;
    while i < words.len() {
        let w = words[i].as_str();
        match w {
            "-W" => {
                forwards = words.get(i + 1).is_some_and(|x| x == "%h:%p");
                i += 1;
            }
            "-p" => {
                port = words.get(i + 1).cloned();
                i += 1;
            }
            "-l" => {
                user = words.get(i + 1).cloned();
                i += 1;
            }
            "-o" | "-i" | "-F" | "-c" | "-m" | "-b" | "-E" | "-S" => i += 1,
            _ if w.starts_with('-') => {}
            _ => {
                if dest.is_some() {
                    return None; // a remote command: not a plain jump
                }
                dest = Some(w.to_string());
            }
        }
        i += 1;
    }
    let dest = dest?;
    if !forwards {
        return None;
    }
    let mut j = String::new();
    if let (Some(u), false) = (user, dest.contains('@')) {
        j.push_str(&u);
        j.push('@');
    }
    j.push_str(&dest);
    if let Some(p) = port {
        j.push(':');
        j.push_str(&p);
    }
    Some(j)
}

/// Ansible's reconciliation: every group hangs under `all`; hosts in no group but `all` are
/// in `ungrouped`.
pub(super) fn finish(raw: &mut Raw) {
    let ungrouped = raw.group("ungrouped");
    let n = raw.groups.len();
    let mut has_parent = vec![false; n];
    for g in &raw.groups {
        for &c in &g.children {
            has_parent[c] = true;
        }
    }
    let mut orphans: Vec<usize> = (1..n).filter(|&g| !has_parent[g]).collect();
    orphans.retain(|&g| g != ungrouped);
    orphans.push(ungrouped);
    for g in orphans {
        raw.add_child(0, g, None);
    }
    let mut in_other = vec![false; raw.hosts.len()];
    for g in raw.groups.iter().skip(1) {
        for &h in &g.hosts {
            in_other[h] = true;
        }
    }
    // A host listed under `ungrouped` that is in another group too leaves `ungrouped`.
    let mut in_named = vec![false; raw.hosts.len()];
    for (g, grp) in raw.groups.iter().enumerate().skip(1) {
        if g != ungrouped {
            for &h in &grp.hosts {
                in_named[h] = true;
            }
        }
    }
    raw.groups[ungrouped].hosts.retain(|&h| !in_named[h]);
    let direct_all = std::mem::take(&mut raw.groups[0].hosts);
    for h in direct_all {
        if !in_other[h] {
            raw.groups[ungrouped].hosts.push(h);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_jump_forms() {
        let cases: &[(&str, Option<&str>)] = &[
            ("-o ProxyJump=bastion", Some("bastion")),
            ("-oProxyJump=u@b:2222", Some("u@b:2222")),
            ("-o 'ProxyJump a,b'", Some("a,b")),
            ("-J jump1", Some("jump1")),
            ("-Jjump2 -o StrictHostKeyChecking=no", Some("jump2")),
            (
                "-o ProxyCommand=\"ssh -W %h:%p -q user@gateway.example.com\"",
                Some("user@gateway.example.com"),
            ),
            (
                "-o ProxyCommand='ssh -W %h:%p -p 2222 -l ops gw'",
                Some("ops@gw:2222"),
            ),
            ("-o ProxyCommand='nc -X 5 -x proxy:1080 %h %p'", None),
            ("-o StrictHostKeyChecking=no", None),
            ("-o ProxyJump=none", None),
        ];
        for (args, want) in cases {
            assert_eq!(sshargs::parse(args).jump.as_deref(), *want, "{args}");
        }
    }
}
