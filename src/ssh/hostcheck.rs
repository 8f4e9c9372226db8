//! What one host's key is checked against: the engine's known_hosts files and host key policy,
//! or the host's own OpenSSH options (`UserKnownHostsFile`, `GlobalKnownHostsFile`,
//! `StrictHostKeyChecking`, `HostKeyAlias`) where it has them.
//!
//! The engine's list is read as the faces build it (`face::known_hosts_order`): its first file
//! is the user file (the one written), then the rest. `UserKnownHostsFile` replaces that first
//! file (its own first file is the one written; `none`: no user file, nothing is written);
//! `GlobalKnownHostsFile` replaces [`GLOBAL_KNOWN_HOSTS`] where the list has it (else comes
//! right after the user files); the other files (the inventory's `known_hosts:`, further
//! `--known-hosts` files) are still read. Under every policy a changed key is refused.

use std::borrow::Cow;
use std::path::PathBuf;

use crate::contract::HostKeyPolicy;
use crate::inventory::ConnSettings;

pub use crate::paths::GLOBAL_KNOWN_HOSTS;

/// The known_hosts files, name and policy of one host's key check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostCheck<'a> {
    /// Read in order.
    pub files: Cow<'a, [PathBuf]>,
    /// Where a newly trusted key is appended (none: it is trusted for this process only).
    pub write: Option<PathBuf>,
    /// The name looked up and written (`HostKeyAlias`, else the address) and its port (22 for
    /// an alias, which replaces `[host]:port` entirely, as in OpenSSH).
    pub name: Cow<'a, str>,
    pub port: u16,
    pub policy: HostKeyPolicy,
}

impl<'a> HostCheck<'a> {
    /// The check for `conn` under the engine's `files` and `policy`.
    pub fn for_host(conn: &'a ConnSettings, files: &'a [PathBuf], policy: HostKeyPolicy) -> Self {
        let o = &conn.options;
        let (files, write) = if o.user_known_hosts.is_none() && o.global_known_hosts.is_none() {
            (Cow::Borrowed(files), files.first().cloned())
        } else {
            let (read, write) = host_files(
                files,
                o.user_known_hosts.as_deref(),
                o.global_known_hosts.as_deref(),
            );
            (Cow::Owned(read), write)
        };
        let (name, port) = match &o.host_key_alias {
            Some(alias) => (Cow::Borrowed(alias.as_str()), 22),
            None => (Cow::Borrowed(conn.address.as_str()), conn.port),
        };
        HostCheck {
            files,
            write,
            name,
            port,
            policy: o.strict_host_key_checking.unwrap_or(policy),
        }
    }
}

/// The files read (in order, each once) and the one written, for a host with its own `user`
/// and/or `global` files over the engine's list.
pub fn host_files(
    engine: &[PathBuf],
    user: Option<&[PathBuf]>,
    global: Option<&[PathBuf]>,
) -> (Vec<PathBuf>, Option<PathBuf>) {
    let (first, rest) = match engine.split_first() {
        Some((f, r)) => (std::slice::from_ref(f), r),
        None => (&[][..], &[][..]),
    };
    let user = user.unwrap_or(first);
    let mut others: Vec<PathBuf> = Vec::new();
    match global {
        None => others.extend_from_slice(rest),
        Some(g) => {
            let at = rest
                .iter()
                .position(|f| f.as_os_str() == GLOBAL_KNOWN_HOSTS);
            let (before, after) = match at {
                Some(i) => (&rest[..i], &rest[i + 1..]),
                None => (&[][..], rest),
            };
            others.extend_from_slice(before);
            others.extend_from_slice(g);
            others.extend_from_slice(after);
        }
    }
    let mut read: Vec<PathBuf> = Vec::new();
    for f in user.iter().chain(&others) {
        if !read.contains(f) {
            read.push(f.clone());
        }
    }
    (read, user.first().cloned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::SshOpt;

    fn p(s: &str) -> PathBuf {
        PathBuf::from(s)
    }

    #[test]
    fn user_and_global_files_replace_their_part() {
        let engine = [
            p("/home/u/.ssh/known_hosts"),
            p(GLOBAL_KNOWN_HOSTS),
            p("/inv/kh"),
        ];
        let (read, write) = host_files(&engine, Some(&[p("/a"), p("/b")]), None);
        assert_eq!(
            read,
            [p("/a"), p("/b"), p(GLOBAL_KNOWN_HOSTS), p("/inv/kh")]
        );
        assert_eq!(write, Some(p("/a")));
        let (read, write) = host_files(&engine, Some(&[]), Some(&[p("/g")]));
        assert_eq!(read, [p("/g"), p("/inv/kh")], "none: no user file");
        assert_eq!(write, None);
        let (read, write) = host_files(&engine[..1], None, Some(&[p("/g")]));
        assert_eq!(read, [p("/home/u/.ssh/known_hosts"), p("/g")]);
        assert_eq!(write, Some(p("/home/u/.ssh/known_hosts")));
    }

    #[test]
    fn alias_replaces_host_and_port_and_policy_is_the_hosts() {
        let mut conn = ConnSettings {
            address: "127.0.0.1".into(),
            port: 2201,
            ..ConnSettings::default()
        };
        let engine = [p("/kh")];
        let c = HostCheck::for_host(&conn, &engine, HostKeyPolicy::Strict);
        assert_eq!(
            (&*c.name, c.port, c.policy),
            ("127.0.0.1", 2201, HostKeyPolicy::Strict)
        );
        assert!(matches!(c.files, Cow::Borrowed(_)));
        conn.options.set(SshOpt::HostKeyAlias("web1".into()));
        conn.options
            .set(SshOpt::StrictHostKeyChecking(HostKeyPolicy::AcceptNew));
        let c = HostCheck::for_host(&conn, &engine, HostKeyPolicy::Strict);
        assert_eq!(
            (&*c.name, c.port, c.policy),
            ("web1", 22, HostKeyPolicy::AcceptNew)
        );
        assert_eq!(c.write, Some(p("/kh")));
    }
}
