//! The OpenSSH options fleetdeck honours per host besides where to connect and as whom:
//! `UserKnownHostsFile`, `GlobalKnownHostsFile`, `StrictHostKeyChecking`, `HostKeyAlias`,
//! `IdentitiesOnly`, `ServerAliveInterval` and `ServerAliveCountMax`. One reader of their values
//! for both places they are written: an ssh_config ([`super::sshconfig`]) and `-o` options in
//! `ansible_ssh_common_args` / `ansible_ssh_extra_args` ([`super::sshargs`]).
//!
//! Known_hosts file names keep their `%h %n %p %r %u %d %%` tokens and `~` until the host's
//! address, port and user are final ([`SshOptions::expand_paths`]), as OpenSSH expands them.
//! `StrictHostKeyChecking no` (or `off`) accepts and records an unknown key like `accept-new`:
//! fleetdeck never accepts a changed key, whatever the option says.

use std::path::PathBuf;
use std::time::Duration;

use super::sshmatch::{self, Tokens};
use crate::contract::HostKeyPolicy;

/// The keywords read here (lower case), in the order `inventory --host` shows them.
pub const OPTION_KEYWORDS: &[&str] = &[
    "userknownhostsfile",
    "globalknownhostsfile",
    "stricthostkeychecking",
    "hostkeyalias",
    "identitiesonly",
    "serveraliveinterval",
    "serveralivecountmax",
];

/// How each option is named in `inventory --host`, parallel to [`OPTION_KEYWORDS`].
const ROW_NAMES: &[&str] = &[
    "user_known_hosts_file",
    "global_known_hosts_file",
    "strict_host_key_checking",
    "host_key_alias",
    "identities_only",
    "server_alive_interval",
    "server_alive_count_max",
];

/// How many options there are (the length of [`OPTION_KEYWORDS`]).
pub const OPTION_COUNT: usize = 7;

/// OpenSSH's `ServerAliveCountMax` when only the interval is given.
pub const DEFAULT_ALIVE_COUNT: u32 = 3;

/// One option's value, as written once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SshOpt {
    /// Empty for `none`.
    UserKnownHostsFile(Vec<PathBuf>),
    /// Empty for `none`.
    GlobalKnownHostsFile(Vec<PathBuf>),
    StrictHostKeyChecking(HostKeyPolicy),
    HostKeyAlias(String),
    IdentitiesOnly(bool),
    /// Zero turns keepalives off.
    ServerAliveInterval(Duration),
    ServerAliveCountMax(u32),
}

impl SshOpt {
    /// The value of keyword `key` (lower case) given as `args`: `None` when `key` is not one of
    /// [`OPTION_KEYWORDS`], an error message when the value cannot be read.
    pub fn parse(key: &str, args: &[String]) -> Option<Result<SshOpt, String>> {
        let first = args.first().map_or("", String::as_str);
        let bad = || {
            Err(format!(
                "{key} {:?} is not a value fleetdeck reads",
                args.join(" ")
            ))
        };
        let files = || {
            if args.is_empty() {
                return Err(format!("{key} needs a file name or none"));
            }
            if args.len() == 1 && first.eq_ignore_ascii_case("none") {
                return Ok(Vec::new());
            }
            Ok(args.iter().map(PathBuf::from).collect())
        };
        let yes_no = |w: &str| match w.to_ascii_lowercase().as_str() {
            "yes" | "true" => Some(true),
            "no" | "false" => Some(false),
            _ => None,
        };
        let opt = match key {
            "userknownhostsfile" => files().map(SshOpt::UserKnownHostsFile),
            "globalknownhostsfile" => files().map(SshOpt::GlobalKnownHostsFile),
            "stricthostkeychecking" => match first.to_ascii_lowercase().as_str() {
                "yes" | "true" => Ok(SshOpt::StrictHostKeyChecking(HostKeyPolicy::Strict)),
                "accept-new" | "no" | "false" | "off" => {
                    Ok(SshOpt::StrictHostKeyChecking(HostKeyPolicy::AcceptNew))
                }
                "ask" => Ok(SshOpt::StrictHostKeyChecking(HostKeyPolicy::Ask)),
                _ => bad(),
            },
            "hostkeyalias" if !first.is_empty() && !first.eq_ignore_ascii_case("none") => {
                Ok(SshOpt::HostKeyAlias(first.to_string()))
            }
            "hostkeyalias" => bad(),
            "identitiesonly" => match yes_no(first) {
                Some(b) => Ok(SshOpt::IdentitiesOnly(b)),
                None => bad(),
            },
            "serveraliveinterval" => match first.parse::<u32>() {
                Ok(s) => Ok(SshOpt::ServerAliveInterval(Duration::from_secs(u64::from(
                    s,
                )))),
                Err(_) => bad(),
            },
            "serveralivecountmax" => match first.parse::<u32>() {
                Ok(n) => Ok(SshOpt::ServerAliveCountMax(n)),
                Err(_) => bad(),
            },
            _ => return None,
        };
        Some(opt)
    }

    /// Its place in [`OPTION_KEYWORDS`].
    pub fn index(&self) -> usize {
        match self {
            SshOpt::UserKnownHostsFile(_) => 0,
            SshOpt::GlobalKnownHostsFile(_) => 1,
            SshOpt::StrictHostKeyChecking(_) => 2,
            SshOpt::HostKeyAlias(_) => 3,
            SshOpt::IdentitiesOnly(_) => 4,
            SshOpt::ServerAliveInterval(_) => 5,
            SshOpt::ServerAliveCountMax(_) => 6,
        }
    }
}

/// A host's options; `None` leaves the engine's setting (its known_hosts files, its host key
/// policy, the agent tried first, no keepalive deadline).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SshOptions {
    /// Replaces the user known_hosts file (the one new keys are appended to: the first of
    /// these); empty for `none` (nothing is written).
    pub user_known_hosts: Option<Vec<PathBuf>>,
    /// Replaces `/etc/ssh/ssh_known_hosts`; empty for `none`.
    pub global_known_hosts: Option<Vec<PathBuf>>,
    pub strict_host_key_checking: Option<HostKeyPolicy>,
    /// The name looked up in and written to known_hosts instead of `host` / `[host]:port`.
    pub host_key_alias: Option<String>,
    /// `Some(true)`: the agent's keys are not offered, only identity files.
    pub identities_only: Option<bool>,
    pub server_alive_interval: Option<Duration>,
    pub server_alive_count_max: Option<u32>,
}

impl SshOptions {
    /// Sets the option `o` is a value of.
    pub fn set(&mut self, o: SshOpt) {
        match o {
            SshOpt::UserKnownHostsFile(v) => self.user_known_hosts = Some(v),
            SshOpt::GlobalKnownHostsFile(v) => self.global_known_hosts = Some(v),
            SshOpt::StrictHostKeyChecking(v) => self.strict_host_key_checking = Some(v),
            SshOpt::HostKeyAlias(v) => self.host_key_alias = Some(v),
            SshOpt::IdentitiesOnly(v) => self.identities_only = Some(v),
            SshOpt::ServerAliveInterval(v) => self.server_alive_interval = Some(v),
            SshOpt::ServerAliveCountMax(v) => self.server_alive_count_max = Some(v),
        }
    }

    /// The keepalive deadline: an interval and how many keepalives may go unanswered before
    /// the host is declared dead. `None` when no interval (or zero) is given.
    pub fn server_alive(&self) -> Option<(Duration, u32)> {
        let interval = self.server_alive_interval.filter(|d| !d.is_zero())?;
        Some((
            interval,
            self.server_alive_count_max.unwrap_or(DEFAULT_ALIVE_COUNT),
        ))
    }

    /// Expands `%h %n %p %r %u %d %%` and `~` in the known_hosts file names.
    pub(super) fn expand_paths(&mut self, tokens: &Tokens<'_>) {
        for files in [&mut self.user_known_hosts, &mut self.global_known_hosts]
            .into_iter()
            .flatten()
        {
            for f in files.iter_mut() {
                *f = super::expand_tilde(&sshmatch::expand(&f.to_string_lossy(), tokens));
            }
        }
    }

    /// `(index, row name, shown value)` of every option that is set, for `inventory --host`.
    pub fn rows(&self) -> Vec<(usize, &'static str, String)> {
        let files = |v: &Vec<PathBuf>| {
            if v.is_empty() {
                "none".to_string()
            } else {
                v.iter()
                    .map(|f| f.display().to_string())
                    .collect::<Vec<_>>()
                    .join(" ")
            }
        };
        let yes_no = |b: bool| if b { "yes" } else { "no" }.to_string();
        let shown: [Option<String>; OPTION_COUNT] = [
            self.user_known_hosts.as_ref().map(files),
            self.global_known_hosts.as_ref().map(files),
            self.strict_host_key_checking.map(|p| match p {
                HostKeyPolicy::Strict => "yes (strict)".to_string(),
                HostKeyPolicy::AcceptNew => "accept-new".to_string(),
                HostKeyPolicy::Ask => "ask".to_string(),
            }),
            self.host_key_alias.clone(),
            self.identities_only.map(yes_no),
            self.server_alive_interval
                .map(|d| format!("{}s", d.as_secs_f64())),
            self.server_alive_count_max.map(|n| n.to_string()),
        ];
        shown
            .into_iter()
            .enumerate()
            .filter_map(|(i, v)| v.map(|v| (i, ROW_NAMES[i], v)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(key: &str, args: &str) -> Option<Result<SshOpt, String>> {
        let args: Vec<String> = args.split_whitespace().map(str::to_string).collect();
        SshOpt::parse(key, &args)
    }

    #[test]
    fn values_as_openssh_writes_them() {
        assert_eq!(
            p("userknownhostsfile", "~/a %h_b"),
            Some(Ok(SshOpt::UserKnownHostsFile(vec![
                "~/a".into(),
                "%h_b".into()
            ])))
        );
        assert_eq!(
            p("globalknownhostsfile", "None"),
            Some(Ok(SshOpt::GlobalKnownHostsFile(vec![])))
        );
        for (w, want) in [
            ("yes", HostKeyPolicy::Strict),
            ("accept-new", HostKeyPolicy::AcceptNew),
            ("no", HostKeyPolicy::AcceptNew),
            ("off", HostKeyPolicy::AcceptNew),
            ("ask", HostKeyPolicy::Ask),
        ] {
            assert_eq!(
                p("stricthostkeychecking", w),
                Some(Ok(SshOpt::StrictHostKeyChecking(want))),
                "{w}"
            );
        }
        assert!(matches!(p("stricthostkeychecking", "maybe"), Some(Err(_))));
        assert_eq!(
            p("identitiesonly", "yes"),
            Some(Ok(SshOpt::IdentitiesOnly(true)))
        );
        assert_eq!(
            p("serveraliveinterval", "5"),
            Some(Ok(SshOpt::ServerAliveInterval(Duration::from_secs(5))))
        );
        assert!(matches!(p("serveralivecountmax", "-1"), Some(Err(_))));
        assert!(matches!(p("hostkeyalias", ""), Some(Err(_))));
        assert_eq!(p("forwardagent", "yes"), None);
    }

    #[test]
    fn keepalive_count_defaults_to_three_and_zero_is_off() {
        let mut o = SshOptions::default();
        assert_eq!(o.server_alive(), None);
        o.set(SshOpt::ServerAliveInterval(Duration::from_secs(2)));
        assert_eq!(o.server_alive(), Some((Duration::from_secs(2), 3)));
        o.set(SshOpt::ServerAliveCountMax(1));
        assert_eq!(o.server_alive(), Some((Duration::from_secs(2), 1)));
        o.set(SshOpt::ServerAliveInterval(Duration::ZERO));
        assert_eq!(o.server_alive(), None);
        let rows = o.rows();
        assert_eq!(rows[0].1, "server_alive_interval");
        assert_eq!(rows.len(), 2);
    }
}
