//! fleetdeck's own inventory format (see the README and the repo's `inventory.yaml`):
//!
//! ```yaml
//! known_hosts: ./known_hosts        # string or list
//! defaults: { user: root, port: 22, identity: ~/.ssh/id_ed25519, vars: { env: prod } }
//! hosts: { lone: ~ }                # hosts directly under `all`
//! groups:
//!   prod:
//!     user: deploy                  # any setting, inherited by children
//!     groups: { web: { hosts: { "web[01-20]": ~ } } }
//!   staging: { include: [web], hosts: { stg1: { address: "[2001:db8::1]" } } }
//! ```
//!
//! Settings at every level: `address`, `port`, `user`, `identity` (a file or a list of files),
//! `jump` (`"a,b"` or a list), `connect_timeout` (seconds), `vars`. Groups also take `hosts`,
//! `groups` (children, any depth) and `include` (other groups whose hosts are members too;
//! membership only, the including group's settings do not flow into them).

use std::net::Ipv6Addr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::error::{suggest, InventoryError};
use super::range::expand_range;
use super::resolve::{Order, Raw, Settings, Val};
use super::yaml::{Kind, Node};

pub const SETTING_KEYS: &[&str] = &[
    "address",
    "port",
    "user",
    "identity",
    "jump",
    "connect_timeout",
    "vars",
];
const GROUP_KEYS: &[&str] = &["hosts", "groups", "include"];
const TOP_KEYS: &[&str] = &["known_hosts", "defaults", "groups", "hosts"];

/// Context shared by the readers: the file and the directory relative paths start from.
pub struct Ctx {
    pub file: Arc<Path>,
    pub base: PathBuf,
}

impl Ctx {
    pub fn err(&self, at: &Node, msg: impl Into<String>) -> InventoryError {
        InventoryError::new(at.loc(&self.file), msg)
    }

    pub fn val<T>(&self, at: &Node, v: T) -> Val<T> {
        Val {
            v,
            at: at.loc(&self.file),
        }
    }

    /// `~` expanded, relative paths resolved against the inventory's directory.
    pub fn path(&self, text: &str) -> PathBuf {
        let p = super::expand_tilde(text);
        let p: PathBuf = p
            .components()
            .filter(|c| !matches!(c, std::path::Component::CurDir))
            .collect();
        if p.is_absolute() {
            p
        } else {
            self.base.join(p)
        }
    }
}

/// The entries of a mapping, or an error naming what was found instead. `null` is empty.
pub fn entries<'a>(
    ctx: &Ctx,
    node: &'a Node,
    what: &str,
) -> Result<&'a [(Node, Node)], InventoryError> {
    match &node.kind {
        Kind::Map(e) => Ok(e),
        _ if node.is_null() => Ok(&[]),
        _ => Err(ctx.err(
            node,
            format!("{what} must be a mapping, found {}", node.describe()),
        )),
    }
}

pub fn key_text<'a>(ctx: &Ctx, key: &'a Node) -> Result<&'a str, InventoryError> {
    match &key.kind {
        Kind::Scalar { text, .. } => Ok(text),
        _ => Err(ctx.err(key, format!("a key must be text, found {}", key.describe()))),
    }
}

fn scalar<'a>(ctx: &Ctx, node: &'a Node, what: &str) -> Result<&'a str, InventoryError> {
    match &node.kind {
        Kind::Scalar { text, .. } if !node.is_null() => Ok(text),
        _ => Err(ctx.err(
            node,
            format!("{what} must be a single value, found {}", node.describe()),
        )),
    }
}

/// A string or a list of strings.
fn string_list(ctx: &Ctx, node: &Node, what: &str) -> Result<Vec<String>, InventoryError> {
    match &node.kind {
        Kind::Seq(items) => items
            .iter()
            .map(|i| scalar(ctx, i, what).map(str::to_string))
            .collect(),
        _ => Ok(vec![scalar(ctx, node, what)?.to_string()]),
    }
}

pub fn parse_port(ctx: &Ctx, node: &Node, text: &str) -> Result<u16, InventoryError> {
    match text.trim().parse::<u32>() {
        Ok(p) if (1..=65535).contains(&p) => Ok(p as u16),
        Ok(_) => Err(ctx.err(node, format!("port {text:?} is out of range (1 to 65535)"))),
        Err(_) => Err(ctx.err(node, format!("port {text:?} is not a number"))),
    }
}

/// A DNS name, an IPv4 address, or an IPv6 address (brackets optional); stored without
/// brackets.
pub fn parse_address(ctx: &Ctx, node: &Node, text: &str) -> Result<String, InventoryError> {
    let t = text.trim();
    if t.is_empty() {
        return Err(ctx.err(node, format!("empty address {text:?}")));
    }
    if let Some(inner) = t.strip_prefix('[') {
        let inner = inner.strip_suffix(']').unwrap_or("");
        return match inner.parse::<Ipv6Addr>() {
            Ok(_) => Ok(inner.to_string()),
            Err(_) => Err(ctx.err(
                node,
                format!("address {text:?} is not an IPv6 address in brackets"),
            )),
        };
    }
    if t.contains(':') {
        return match t.parse::<Ipv6Addr>() {
            Ok(_) => Ok(t.to_string()),
            Err(_) => Err(ctx.err(
                node,
                format!("address {text:?} holds a \":\"; give the port with `port:`"),
            )),
        };
    }
    if t.chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '@' || c == '/')
    {
        return Err(ctx.err(node, format!("address {text:?} is not a host name or IP")));
    }
    Ok(t.to_string())
}

pub fn parse_user(ctx: &Ctx, node: &Node, text: &str) -> Result<String, InventoryError> {
    if text.trim().is_empty() || text.chars().any(char::is_control) {
        return Err(ctx.err(node, format!("bad user name {text:?}")));
    }
    Ok(text.trim().to_string())
}

/// An identity file's path (`~` expanded, relative to the inventory), not checked on disk.
pub fn identity_path(ctx: &Ctx, node: &Node, text: &str) -> Result<PathBuf, InventoryError> {
    if text.trim().is_empty() {
        return Err(ctx.err(node, format!("empty identity file {text:?}")));
    }
    Ok(ctx.path(text.trim()))
}

pub fn parse_identity(ctx: &Ctx, node: &Node, text: &str) -> Result<PathBuf, InventoryError> {
    let p = identity_path(ctx, node, text)?;
    if !p.is_file() {
        return Err(ctx.err(
            node,
            format!(
                "identity file {text:?} not found (looked for {})",
                p.display()
            ),
        ));
    }
    Ok(p)
}

pub fn parse_timeout(ctx: &Ctx, node: &Node, text: &str) -> Result<Duration, InventoryError> {
    match text.trim().parse::<f64>() {
        Ok(s) if s > 0.0 && s <= 86_400.0 => Ok(Duration::from_secs_f64(s)),
        Ok(_) => Err(ctx.err(
            node,
            format!("connect_timeout {text:?} must be more than 0 and at most 86400 seconds"),
        )),
        Err(_) => Err(ctx.err(
            node,
            format!("connect_timeout {text:?} is not a number of seconds"),
        )),
    }
}

pub fn parse_jump_list(
    ctx: &Ctx,
    node: &Node,
    items: Vec<String>,
) -> Result<Vec<String>, InventoryError> {
    let mut out = Vec::new();
    for item in items {
        for hop in item.split(',') {
            let hop = hop.trim();
            if hop.is_empty() || hop.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(ctx.err(node, format!("bad jump host {item:?}")));
            }
            out.push(hop.to_string());
        }
    }
    Ok(out)
}

/// Reads the settings keys of one level; other keys are handed to `other`, which returns
/// false for keys it does not know either.
fn settings<'a>(
    ctx: &Ctx,
    node: &'a Node,
    what: &str,
    extra_keys: &[&str],
    mut other: impl FnMut(&str, &'a Node, &'a Node) -> Result<bool, InventoryError>,
) -> Result<Settings, InventoryError> {
    let mut s = Settings::default();
    for (k, v) in entries(ctx, node, what)? {
        let key = key_text(ctx, k)?;
        match key {
            "address" => {
                let t = match &v.kind {
                    Kind::Scalar { text, .. } => text.as_str(),
                    _ => scalar(ctx, v, "address")?,
                };
                // `address: ~` or `address:` is an empty address, not "unset".
                let t = if v.is_null() { "" } else { t };
                s.address = Some(ctx.val(v, parse_address(ctx, v, t)?));
            }
            "port" => {
                let t = scalar(ctx, v, "port")?;
                s.port = Some(ctx.val(v, parse_port(ctx, v, t)?));
            }
            "user" => {
                let t = scalar(ctx, v, "user")?;
                s.user = Some(ctx.val(v, parse_user(ctx, v, t)?));
            }
            "identity" => {
                let files = string_list(ctx, v, "identity")?
                    .iter()
                    .map(|f| parse_identity(ctx, v, f))
                    .collect::<Result<Vec<_>, _>>()?;
                s.identity = Some(ctx.val(v, files));
            }
            "jump" => {
                let hops = parse_jump_list(ctx, v, string_list(ctx, v, "jump")?)?;
                s.jump = Some(ctx.val(v, hops));
            }
            "connect_timeout" => {
                let t = scalar(ctx, v, "connect_timeout")?;
                s.connect_timeout = Some(ctx.val(v, parse_timeout(ctx, v, t)?));
            }
            "vars" => {
                for (vk, vv) in entries(ctx, v, "vars")? {
                    let name = key_text(ctx, vk)?.to_string();
                    s.vars.push((name, ctx.val(vv, vv.to_text())));
                }
            }
            _ => {
                if !other(key, k, v)? {
                    let known = SETTING_KEYS.iter().chain(extra_keys).copied();
                    return Err(ctx
                        .err(k, format!("unknown key {key:?} in {what}"))
                        .with_hint(suggest(key, known)));
                }
            }
        }
    }
    Ok(s)
}

/// Reads fleetdeck's format.
pub fn read(ctx: &Ctx, root: &Node, source: &Path) -> Result<Raw, InventoryError> {
    let mut raw = Raw::new(source, Order::FileOrder, "defaults");
    let Kind::Map(top) = &root.kind else {
        return Err(ctx.err(
            root,
            format!(
                "an inventory must be a mapping (defaults, groups, hosts), found {}",
                root.describe()
            ),
        ));
    };
    for (k, v) in top {
        let key = key_text(ctx, k)?;
        match key {
            "known_hosts" => {
                for f in string_list(ctx, v, "known_hosts")? {
                    raw.known_hosts.push(ctx.path(&f));
                }
            }
            "defaults" => {
                let s = settings(ctx, v, "defaults", &[], |_, _, _| Ok(false))?;
                raw.groups[0].settings = s;
            }
            "hosts" => read_hosts(ctx, &mut raw, 0, v)?,
            "groups" => read_groups(ctx, &mut raw, 0, v)?,
            _ => {
                return Err(ctx
                    .err(
                        k,
                        format!("unknown key {key:?} at the top of the inventory"),
                    )
                    .with_hint(suggest(key, TOP_KEYS.iter().copied())));
            }
        }
    }
    Ok(raw)
}

fn read_groups(ctx: &Ctx, raw: &mut Raw, parent: usize, node: &Node) -> Result<(), InventoryError> {
    for (k, v) in entries(ctx, node, "groups")? {
        let name = key_text(ctx, k)?;
        if name.is_empty()
            || name
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || ":,&!~[]*?".contains(c))
        {
            return Err(ctx.err(
                k,
                format!("bad group name {name:?}: no spaces or any of : , & ! ~ [ ] * ?"),
            ));
        }
        if let Some(&g) = raw.group_ix.get(name) {
            let first = raw.groups[g]
                .at
                .as_ref()
                .map_or_else(|| "built in".to_string(), |l| format!("line {}", l.line));
            return Err(ctx.err(
                k,
                format!(
                    "group {name:?} is defined twice (first at {first}); group names are unique"
                ),
            ));
        }
        let g = raw.group(name);
        raw.groups[g].at = Some(k.loc(&ctx.file));
        raw.add_child(parent, g, Some(k.loc(&ctx.file)));
        let mut hosts = None;
        let mut children = None;
        let mut includes = Vec::new();
        let what = format!("group {name:?}");
        let s = settings(ctx, v, &what, GROUP_KEYS, |key, _k, v| match key {
            "hosts" => {
                hosts = Some(v);
                Ok(true)
            }
            "groups" => {
                children = Some(v);
                Ok(true)
            }
            "include" => {
                for (i, item) in string_list(ctx, v, "include")?.into_iter().enumerate() {
                    let at = match &v.kind {
                        Kind::Seq(items) => items[i].loc(&ctx.file),
                        _ => v.loc(&ctx.file),
                    };
                    includes.push((item, at));
                }
                Ok(true)
            }
            _ => Ok(false),
        })?;
        raw.groups[g].settings = s;
        raw.groups[g].includes = includes;
        if let Some(h) = hosts {
            read_hosts(ctx, raw, g, h)?;
        }
        if let Some(c) = children {
            read_groups(ctx, raw, g, c)?;
        }
    }
    Ok(())
}

fn read_hosts(ctx: &Ctx, raw: &mut Raw, group: usize, node: &Node) -> Result<(), InventoryError> {
    // A list of names is accepted too: `hosts: [a, b]`.
    if let Kind::Seq(items) = &node.kind {
        for item in items {
            let name = scalar(ctx, item, "a host name")?;
            for n in expand(ctx, item, name)? {
                raw.add_host(group, &n, Settings::default())?;
            }
        }
        return Ok(());
    }
    for (k, v) in entries(ctx, node, "hosts")? {
        let name = key_text(ctx, k)?;
        let names = expand(ctx, k, name)?;
        let what = format!("host {name:?}");
        let s = settings(ctx, v, &what, &[], |_, _, _| Ok(false))?;
        let last = names.len().saturating_sub(1);
        let mut s = Some(s);
        for (i, n) in names.iter().enumerate() {
            let settings = if i == last {
                s.take().unwrap_or_default()
            } else {
                s.clone().unwrap_or_default()
            };
            raw.add_host(group, n, settings)?;
        }
    }
    Ok(())
}

fn expand(ctx: &Ctx, at: &Node, name: &str) -> Result<Vec<String>, InventoryError> {
    if name.trim().is_empty() || name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ctx.err(at, format!("bad host name {name:?}")));
    }
    let outside: String = name
        .split('[')
        .map(|part| part.rsplit(']').next().unwrap_or(""))
        .collect();
    if name.starts_with(['~', '!', '&']) || outside.contains([',', '*', '?']) {
        return Err(ctx.err(
            at,
            format!("bad host name {name:?}: it would read as a target pattern"),
        ));
    }
    let names = expand_range(name).map_err(|e| ctx.err(at, e.to_string()))?;
    if let Some(bad) = names.iter().find(|n| n.contains(':')) {
        return Err(ctx.err(
            at,
            format!("bad host name {bad:?}: no \":\" in names; give the port with `port:`"),
        ));
    }
    Ok(names)
}
