//! Turning inventory hosts into [`Target`]s: connection settings plus resolved jump hosts.

use std::sync::Arc;

use super::{Hop, Target};
use crate::inventory::{ConnSettings, HostId, Inventory};

/// Resolves `hosts` of `inv` into targets. Jump entries name inventory hosts or are
/// `[user@]host[:port]` (`[v6addr]:port` for IPv6); a jump host's own jumps come first.
pub fn resolve_targets(inv: &Inventory, hosts: &[HostId]) -> Result<Vec<Target>, String> {
    hosts
        .iter()
        .map(|&id| {
            let host = inv.hosts.get(id).ok_or_else(|| {
                format!("host id {id} is not in inventory {}", inv.source.display())
            })?;
            let mut chain = Vec::new();
            let mut seen = vec![host.name.clone()];
            for j in &host.conn.jump {
                resolve_jump(inv, &host.name, j, &host.conn, &mut chain, &mut seen)?;
            }
            Ok(Target {
                name: Arc::from(host.name.as_str()),
                conn: host.conn.clone(),
                jump: chain,
                become_: crate::inventory::vars::become_of(&host.vars),
            })
        })
        .collect()
}

fn resolve_jump(
    inv: &Inventory,
    for_host: &str,
    spec: &str,
    base: &ConnSettings,
    chain: &mut Vec<Hop>,
    seen: &mut Vec<String>,
) -> Result<(), String> {
    if let Some(id) = inv.host_by_name(spec) {
        let jh = &inv.hosts[id];
        if seen.contains(&jh.name) {
            return Err(format!(
                "host {for_host}: jump host chain loops through {} ({})",
                jh.name,
                seen.join(" -> ")
            ));
        }
        seen.push(jh.name.clone());
        for j in &jh.conn.jump {
            resolve_jump(inv, for_host, j, &jh.conn, chain, seen)?;
        }
        let mut conn = jh.conn.clone();
        conn.jump.clear();
        chain.push(Hop {
            name: Arc::from(jh.name.as_str()),
            conn,
        });
        return Ok(());
    }
    let conn = parse_jump_spec(spec, base)
        .map_err(|e| format!("host {for_host}: jump host {spec:?}: {e}"))?;
    chain.push(Hop {
        name: Arc::from(spec),
        conn,
    });
    Ok(())
}

/// Replaces the jump chain of every target with `spec`, as OpenSSH's `-J` does: `spec` is a
/// comma-separated chain, first hop first, of inventory host names or `[user@]host[:port]`;
/// `none` removes every jump. Either way a `ProxyCommand` of the target is dropped, as `-J`
/// on ssh's command line wins over the config's. The first hop's own inventory jumps are
/// still followed (as ssh follows the first hop's ProxyJump); later hops are reached through
/// the hops before them.
/// A literal hop inherits identity files and the connect timeout from the target.
/// Errors name `spec` and the bad hop (the faces exit 2 on them).
///
/// `fleetdeck run -J`, `push -J` and `pull -J` all call this after [`resolve_targets`] and
/// before applying `--connect-timeout`.
pub fn apply_jump_override(
    inv: &Inventory,
    targets: &mut [Target],
    spec: &str,
) -> Result<(), String> {
    let bad = |e: String| format!("-J {spec:?}: {e}");
    let hops: Vec<&str> = spec.split(',').map(str::trim).collect();
    if hops.iter().any(|h| h.is_empty()) {
        return Err(bad("empty jump host in the chain".into()));
    }
    if hops.len() == 1 && hops[0].eq_ignore_ascii_case("none") {
        for t in targets.iter_mut() {
            t.jump.clear();
            t.conn.jump.clear();
            t.conn.proxy_command = None;
        }
        return Ok(());
    }
    // Check literal hops once, before touching any target, so a bad spec fails alone.
    for hop in &hops {
        if inv.host_by_name(hop).is_none() {
            parse_jump_spec(hop, &ConnSettings::default())
                .map_err(|e| bad(format!("jump host {hop:?}: {e}")))?;
        }
    }
    for t in targets.iter_mut() {
        let mut chain = Vec::new();
        for (i, hop) in hops.iter().enumerate() {
            if let Some(id) = inv.host_by_name(hop) {
                let jh = &inv.hosts[id];
                if i == 0 {
                    let mut seen = vec![jh.name.clone()];
                    for j in &jh.conn.jump {
                        resolve_jump(inv, &jh.name, j, &jh.conn, &mut chain, &mut seen)
                            .map_err(bad)?;
                    }
                }
                let mut conn = jh.conn.clone();
                conn.jump.clear();
                chain.push(Hop {
                    name: Arc::from(jh.name.as_str()),
                    conn,
                });
            } else {
                let conn = parse_jump_spec(hop, &t.conn)
                    .map_err(|e| bad(format!("jump host {hop:?}: {e}")))?;
                chain.push(Hop {
                    name: Arc::from(*hop),
                    conn,
                });
            }
        }
        t.conn.jump = hops.iter().map(|h| (*h).to_string()).collect();
        t.conn.proxy_command = None;
        t.jump = chain;
    }
    Ok(())
}

/// Parses `[user@]host[:port]` (or `[user@][v6]:port`). Identity files and the connect
/// timeout are inherited from `base`; the user defaults to the operator's.
pub fn parse_jump_spec(spec: &str, base: &ConnSettings) -> Result<ConnSettings, String> {
    let spec = spec.trim();
    if spec.is_empty() {
        return Err("empty jump host".into());
    }
    let (user, rest) = match spec.rsplit_once('@') {
        Some((u, r)) if !u.is_empty() => (Some(u.to_string()), r),
        Some(_) => return Err("empty user name before '@'".into()),
        None => (None, spec),
    };
    let (address, port) = if let Some(r) = rest.strip_prefix('[') {
        let (addr, after) = r.split_once(']').ok_or("missing ']' after IPv6 address")?;
        let port = match after.strip_prefix(':') {
            Some(p) => parse_port(p)?,
            None if after.is_empty() => 22,
            None => return Err(format!("unexpected {after:?} after ']'")),
        };
        (addr.to_string(), port)
    } else if rest.matches(':').count() == 1 {
        let (a, p) = rest.split_once(':').ok_or("bad host:port")?;
        (a.to_string(), parse_port(p)?)
    } else {
        (rest.to_string(), 22)
    };
    if address.is_empty() {
        return Err("empty host name".into());
    }
    if address.chars().any(|c| c.is_whitespace() || c == '/') {
        return Err(format!("bad host name {address:?}"));
    }
    Ok(ConnSettings {
        address,
        port,
        user: user.unwrap_or_else(crate::inventory::default_user),
        identity_files: base.identity_files.clone(),
        jump: Vec::new(),
        proxy_command: None,
        connect_timeout: base.connect_timeout,
        // Not the target's: as `ssh -J`, a jump host written as an address has its own.
        options: crate::inventory::SshOptions::default(),
    })
}

fn parse_port(p: &str) -> Result<u16, String> {
    match p.parse::<u16>() {
        Ok(0) | Err(_) => Err(format!("bad port {p:?} (expected 1-65535)")),
        Ok(n) => Ok(n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::{Group, Host};

    fn host(name: &str, jump: &[&str]) -> Host {
        Host {
            name: name.into(),
            conn: ConnSettings {
                address: format!("{name}.example"),
                jump: jump.iter().map(|s| (*s).to_string()).collect(),
                ..ConnSettings::default()
            },
            vars: std::collections::BTreeMap::new(),
            groups: vec![0],
        }
    }

    fn inv(hosts: Vec<Host>) -> Inventory {
        Inventory {
            source: "inv.yaml".into(),
            groups: vec![Group {
                name: "all".into(),
                children: vec![],
                hosts: (0..hosts.len()).collect(),
                ..Group::default()
            }],
            hosts,
            ..Inventory::default()
        }
    }

    #[test]
    fn jump_specs_parse() {
        let base = ConnSettings::default();
        let c = parse_jump_spec("ops@bastion:2222", &base).expect("parse");
        assert_eq!(
            (c.user.as_str(), c.address.as_str(), c.port),
            ("ops", "bastion", 2222)
        );
        let c = parse_jump_spec("[::1]:23", &base).expect("parse");
        assert_eq!((c.address.as_str(), c.port), ("::1", 23));
        assert_eq!(parse_jump_spec("gw", &base).expect("parse").port, 22);
        assert!(parse_jump_spec("gw:0", &base)
            .unwrap_err()
            .contains("bad port"));
        assert!(parse_jump_spec("@gw", &base).is_err());
        assert!(parse_jump_spec("gw:x", &base)
            .unwrap_err()
            .contains("\"x\""));
    }

    #[test]
    fn jump_override_replaces_every_chain_like_ssh_dash_j() {
        let i = inv(vec![
            host("web", &["bast2"]),
            host("db", &[]),
            host("bast2", &["bast1"]),
            host("bast1", &[]),
        ]);
        let names = |t: &Target| {
            t.jump
                .iter()
                .map(|j| j.name.to_string())
                .collect::<Vec<_>>()
        };
        // An inventory name: its own jumps come first (first hop only).
        let mut t = resolve_targets(&i, &[0, 1]).expect("resolve");
        apply_jump_override(&i, &mut t, "bast2").expect("override");
        assert_eq!(names(&t[0]), ["bast1", "bast2"]);
        assert_eq!(names(&t[1]), ["bast1", "bast2"]);
        assert_eq!(t[1].conn.jump, ["bast2"]);
        // A chain of a literal and a name: later hops' own jumps are not followed.
        let mut t = resolve_targets(&i, &[0, 1]).expect("resolve");
        apply_jump_override(&i, &mut t, "ops@gw:2222, bast2").expect("override");
        assert_eq!(names(&t[0]), ["ops@gw:2222", "bast2"]);
        let gw = &t[0].jump[0].conn;
        assert_eq!(
            (gw.user.as_str(), gw.address.as_str(), gw.port),
            ("ops", "gw", 2222)
        );
        // none: direct, and no ProxyCommand either (as `ssh -J none`).
        t[1].conn.proxy_command = Some("nc %h %p".into());
        apply_jump_override(&i, &mut t, "none").expect("none");
        assert!(t
            .iter()
            .all(|t| t.jump.is_empty() && t.conn.jump.is_empty()));
        assert_eq!(t[1].conn.proxy_command, None);
        // Bad specs name themselves and leave the targets alone.
        let mut t = resolve_targets(&i, &[0]).expect("resolve");
        for bad in ["gw:0", "a,,b", "", "bast1,gw:x"] {
            let e = apply_jump_override(&i, &mut t, bad).unwrap_err();
            assert!(e.starts_with(&format!("-J {bad:?}")), "{e}");
        }
        assert_eq!(names(&t[0]), ["bast1", "bast2"]);
    }

    #[test]
    fn inventory_jumps_resolve_first_hop_first_and_loops_fail() {
        let i = inv(vec![
            host("web", &["bast2"]),
            host("bast2", &["bast1"]),
            host("bast1", &[]),
        ]);
        let t = resolve_targets(&i, &[0]).expect("resolve");
        let names: Vec<&str> = t[0].jump.iter().map(|j| &*j.name).collect();
        assert_eq!(names, ["bast1", "bast2"]);
        assert!(t[0].jump.iter().all(|j| j.conn.jump.is_empty()));
        let i = inv(vec![host("a", &["b"]), host("b", &["a"])]);
        assert!(resolve_targets(&i, &[0]).unwrap_err().contains("loops"));
        assert!(resolve_targets(&i, &[7]).is_err());
    }
}
