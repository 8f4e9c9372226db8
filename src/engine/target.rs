//! Turning inventory hosts into [`Target`]s: connection settings plus resolved jump hosts.

use std::sync::Arc;

use super::Target;
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
            })
        })
        .collect()
}

fn resolve_jump(
    inv: &Inventory,
    for_host: &str,
    spec: &str,
    base: &ConnSettings,
    chain: &mut Vec<Target>,
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
        chain.push(Target {
            name: Arc::from(jh.name.as_str()),
            conn,
            jump: Vec::new(),
        });
        return Ok(());
    }
    let conn = parse_jump_spec(spec, base)
        .map_err(|e| format!("host {for_host}: jump host {spec:?}: {e}"))?;
    chain.push(Target {
        name: Arc::from(spec),
        conn,
        jump: Vec::new(),
    });
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
        connect_timeout: base.connect_timeout,
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
    fn inventory_jumps_resolve_first_hop_first_and_loops_fail() {
        let i = inv(vec![
            host("web", &["bast2"]),
            host("bast2", &["bast1"]),
            host("bast1", &[]),
        ]);
        let t = resolve_targets(&i, &[0]).expect("resolve");
        let names: Vec<&str> = t[0].jump.iter().map(|j| &*j.name).collect();
        assert_eq!(names, ["bast1", "bast2"]);
        assert!(t[0]
            .jump
            .iter()
            .all(|j| j.jump.is_empty() && j.conn.jump.is_empty()));
        let i = inv(vec![host("a", &["b"]), host("b", &["a"])]);
        assert!(resolve_targets(&i, &[0]).unwrap_err().contains("loops"));
        assert!(resolve_targets(&i, &[7]).is_err());
    }
}
