//! The namespaces and links of a bastion lab (see the design in the parent module).

use std::path::Path;

use super::{global_lock, in_ns, ip, LabError, ReachState};

/// Port of the bastions' sshd inside their namespaces (not 22: known_hosts writes port 22
/// without brackets).
pub const BASTION_PORT: u16 = 2200;
/// Loopback address the one-hop targets listen on inside the bastion's namespace.
pub const TARGET_ADDR: &str = "127.1.0.1";
/// Loopback address the two-hop (deep) targets listen on inside the second namespace.
pub const DEEP_ADDR: &str = "127.2.0.1";

/// A short id for names (`fdlab-ID-1`, veth `fdIDr`): 6 hex digits from time and pid.
fn new_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{:06x}",
        (nanos ^ std::process::id().wrapping_mul(2_654_435_761)) & 0xff_ffff
    )
}

/// Creates the namespaces and links of a bastion lab (with a second one when `deep > 0`).
/// On error everything created so far is removed again.
pub fn create_network(deep: usize) -> Result<ReachState, LabError> {
    let _g = global_lock()?;
    let used = ip(&["-o", "-4", "addr", "show"])?;
    let slot = (1..=250u8)
        .filter(|s| *s != 169)
        .find(|s| !used.contains(&format!("169.254.{s}.")))
        .ok_or_else(|| LabError::Io {
            context: "choose a free 169.254.S.0/24 for the lab's links".into(),
            source: std::io::Error::other("all 250 in use"),
        })?;
    let mut id = new_id();
    while Path::new("/run/netns")
        .join(format!("fdlab-{id}-1"))
        .exists()
    {
        id = new_id();
    }
    let mut st = ReachState {
        slot,
        deep,
        ..ReachState::default()
    };
    let result = build_network(&mut st, &id);
    if let Err(e) = result {
        remove_network(&st);
        return Err(e);
    }
    Ok(st)
}

fn build_network(st: &mut ReachState, id: &str) -> Result<(), LabError> {
    let ns1 = format!("fdlab-{id}-1");
    let root_end = format!("fd{id}r");
    add_netns(st, &ns1)?;
    link_to_root(st, &ns1, &root_end)?;
    if st.deep > 0 {
        let ns2 = format!("fdlab-{id}-2");
        add_netns(st, &ns2)?;
        link_deep(st, &ns1, &ns2, &root_end)?;
    }
    Ok(())
}

/// A namespace with its loopback up (its hosts listen there), recorded in `st`.
fn add_netns(st: &mut ReachState, ns: &str) -> Result<(), LabError> {
    ip(&["netns", "add", ns])?;
    st.netns.push(ns.to_string());
    in_ns(ns, &["ip", "link", "set", "lo", "up"])?;
    // Never route between the links, whatever the root namespace does.
    in_ns(ns, &["sysctl", "-q", "-w", "net.ipv4.ip_forward=0"])?;
    Ok(())
}

/// The first link: root namespace `169.254.S.1` to the bastion's `169.254.S.2`.
fn link_to_root(st: &mut ReachState, ns1: &str, root_end: &str) -> Result<(), LabError> {
    ip(&[
        "link", "add", root_end, "type", "veth", "peer", "name", "eth-root", "netns", ns1,
    ])?;
    st.root_veths.push(root_end.to_string());
    ip(&[
        "addr",
        "add",
        &format!("{}/30", st.addr(1)),
        "dev",
        root_end,
    ])?;
    ip(&["link", "set", root_end, "up"])?;
    in_ns(
        ns1,
        &[
            "ip",
            "addr",
            "add",
            &format!("{}/30", st.addr(2)),
            "dev",
            "eth-root",
        ],
    )?;
    in_ns(ns1, &["ip", "link", "set", "eth-root", "up"])?;
    Ok(())
}

/// The second link: bastion `169.254.S.5` to bastion2's `169.254.S.6`, reachable from the
/// root namespace only through the bastion.
fn link_deep(st: &ReachState, ns1: &str, ns2: &str, root_end: &str) -> Result<(), LabError> {
    in_ns(
        ns1,
        &[
            "ip", "link", "add", "eth-deep", "type", "veth", "peer", "name", "eth-up", "netns", ns2,
        ],
    )?;
    in_ns(
        ns1,
        &[
            "ip",
            "addr",
            "add",
            &format!("{}/30", st.addr(5)),
            "dev",
            "eth-deep",
        ],
    )?;
    in_ns(ns1, &["ip", "link", "set", "eth-deep", "up"])?;
    in_ns(
        ns2,
        &[
            "ip",
            "addr",
            "add",
            &format!("{}/30", st.addr(6)),
            "dev",
            "eth-up",
        ],
    )?;
    in_ns(ns2, &["ip", "link", "set", "eth-up", "up"])?;
    // Keep the root namespace's packets for the second link on the private link (the
    // bastion namespace drops them: it does not forward) instead of the default route.
    // The route goes away with the veth.
    ip(&[
        "route",
        "add",
        &format!("{}/30", st.addr(4)),
        "dev",
        root_end,
    ])?;
    Ok(())
}

/// Removes the namespaces and root veth ends named in `st` (only those; missing ones are
/// fine).
pub fn remove_network(st: &ReachState) {
    for veth in &st.root_veths {
        if Path::new("/sys/class/net").join(veth).exists() {
            let _ = ip(&["link", "del", veth]);
        }
    }
    for ns in st.netns.iter().rev() {
        if Path::new("/run/netns").join(ns).exists() {
            let _ = ip(&["netns", "del", ns]);
        }
    }
}

/// True when network namespace `ns` exists.
pub fn netns_exists(ns: &str) -> bool {
    Path::new("/run/netns").join(ns).exists()
}
