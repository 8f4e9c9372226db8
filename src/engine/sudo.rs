//! Who a command runs as and the sudo password: the job's sudo, `--no-become` and the
//! inventory's `ansible_become*` decide per host ([`Escalation`]). An inventory password
//! answers sudo on its host without asking anyone; otherwise the password is asked when sudo
//! first prompts in a job, kept in memory only, for that job (or, when the operator chose so,
//! for the session). A host whose key was first trusted in this session never gets a password
//! given for other hosts: it is asked about by name.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::{ExecSpec, JobId, Prompter, Secret, SecretKind, Target};
use crate::inventory::ConnSettings;
use crate::ssh::connect::AcceptedKeys;
use crate::ssh::exec::SudoPassword;
use crate::util::lock;

/// One answer and the job that asked for it.
struct Entry {
    secret: Option<Secret>,
    job: JobId,
    /// sudo rejected it somewhere (or the operator gave none): a later job asks again.
    stale: bool,
}

impl Entry {
    /// Whether job `job` may use this answer without asking: in the job that asked for it
    /// (even after a rejection: the rest of the job fails fast instead of asking again), or
    /// in a later job when the operator kept it for the session and sudo never refused it.
    fn usable(&self, job: JobId) -> bool {
        self.job == job
            || (!self.stale && self.secret.as_ref().is_some_and(Secret::keep_for_session))
    }
}

/// Whose answer an entry is: a login user's, or one newly trusted host's for that user.
type Key = (String, Option<String>);

/// sudo passwords by login user, shared by every worker of one engine.
#[derive(Default)]
pub(crate) struct SudoCache {
    entries: Mutex<HashMap<Key, Entry>>,
    /// Held while asking, so that concurrent workers ask one question and share the answer.
    asking: Mutex<()>,
    /// How many times the operator was asked (for tests and statistics).
    asked: std::sync::atomic::AtomicU64,
}

/// Who asks for a password: the job, the login user, the user to run as, the host, and
/// whether that host's key was first trusted in this session.
pub(crate) struct Asker<'a> {
    pub job: JobId,
    pub user: &'a str,
    pub run_as: &'a str,
    pub host: &'a str,
    pub newly_trusted: bool,
}

impl SudoCache {
    /// The password for `a.user` within job `a.job`, asking the operator at most once per job
    /// (not at all when an answer kept for the session was accepted by sudo). A newly
    /// trusted host has answers of its own, asked with a question naming it.
    pub fn get(&self, a: &Asker<'_>, prompter: &dyn Prompter) -> Option<Secret> {
        let key: Key = (
            a.user.to_string(),
            a.newly_trusted.then(|| a.host.to_string()),
        );
        let cached = || {
            lock(&self.entries)
                .get(&key)
                .filter(|e| e.usable(a.job))
                .map(|e| e.secret.clone())
        };
        if let Some(s) = cached() {
            return s;
        }
        let _asking = lock(&self.asking);
        if let Some(s) = cached() {
            return s;
        }
        self.asked
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (user, run_as, host) = (a.user, a.run_as, a.host);
        let prompt = if a.newly_trusted {
            format!(
                "[sudo] password for {user} on {host} (to run as {run_as}; {host}'s host key \
                 was first trusted in this session)"
            )
        } else {
            format!("[sudo] password for {user} (to run as {run_as}; asked first by {host})")
        };
        let secret = prompter.secret(
            &SecretKind::Sudo {
                user: user.to_string(),
            },
            &prompt,
        );
        let stale = secret.is_none();
        lock(&self.entries).insert(
            key,
            Entry {
                secret: secret.clone(),
                job: a.job,
                stale,
            },
        );
        secret
    }

    /// sudo rejected `user`'s password (as `host` was given it) in job `job`: later jobs ask
    /// again; this one does not.
    pub fn rejected(&self, job: JobId, user: &str, host: Option<&str>) {
        let key: Key = (user.to_string(), host.map(str::to_string));
        if let Some(e) = lock(&self.entries).get_mut(&key) {
            e.stale = true;
            e.job = e.job.max(job);
        }
    }

    pub fn asked(&self) -> u64 {
        self.asked.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// True when a key of the host `conn` names was accepted (accept-new, or the operator's
/// answer) in this engine's lifetime rather than found in known_hosts.
pub(crate) fn newly_trusted(accepted: &AcceptedKeys, conn: &ConnSettings) -> bool {
    lock(accepted)
        .iter()
        .any(|(address, port, _)| *address == conn.address && *port == conn.port)
}

/// The [`SudoPassword`] one worker hands to one command.
pub(crate) struct JobSudo<'a> {
    pub cache: &'a SudoCache,
    pub asker: Asker<'a>,
    pub prompter: &'a Arc<dyn Prompter>,
}

impl SudoPassword for JobSudo<'_> {
    fn password(&mut self) -> Option<Secret> {
        self.cache.get(&self.asker, self.prompter.as_ref())
    }
    fn rejected(&mut self) {
        let a = &self.asker;
        self.cache
            .rejected(a.job, a.user, a.newly_trusted.then_some(a.host));
    }
}

/// How one host of a command job escalates: the job's sudo (`--sudo`, `--sudo-user`, the
/// console's `S`) wins for every host; otherwise `--no-become` runs it plainly; otherwise the
/// inventory's `ansible_become*` decides.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Escalation<'a> {
    Plain,
    Sudo {
        user: &'a str,
        /// The inventory's `ansible_become_password`: answers sudo without asking anyone.
        password: Option<&'a Secret>,
        /// The inventory asked for it (not the job).
        from_inventory: bool,
    },
    /// The inventory asks for an escalation fleetdeck cannot do: the host fails with this.
    Refused(&'a str),
}

impl<'a> Escalation<'a> {
    /// What `spec` and `target`'s inventory say for `target`.
    pub fn of(spec: &'a ExecSpec, target: &'a Target) -> Escalation<'a> {
        let inv = target.become_.as_ref().filter(|_| !spec.no_become);
        if let Some(user) = spec.sudo_user.as_deref() {
            return Escalation::Sudo {
                user,
                password: inv.and_then(|b| b.password.as_ref()),
                from_inventory: false,
            };
        }
        match inv.filter(|b| b.enabled) {
            None => Escalation::Plain,
            Some(b) => match &b.unusable {
                Some(why) => Escalation::Refused(why),
                None => Escalation::Sudo {
                    user: &b.user,
                    password: b.password.as_ref(),
                    from_inventory: true,
                },
            },
        }
    }

    /// The user the command runs as through sudo, if it does.
    pub fn sudo_user(&self) -> Option<&'a str> {
        match self {
            Escalation::Sudo { user, .. } => Some(user),
            _ => None,
        }
    }
}

/// What sudo was answered on one host with a password from the inventory: that password, and
/// whether sudo refused it. Never asks the operator: a wrong inventory password fails the
/// host alone.
pub(crate) struct InventorySudo<'a> {
    pub secret: &'a Secret,
    pub rejected: bool,
}

/// The message of a host whose inventory password sudo refused (never the password).
pub(crate) const INVENTORY_PASSWORD_REJECTED: &str =
    "sudo rejected the ansible_become_password from the inventory";

impl SudoPassword for InventorySudo<'_> {
    fn password(&mut self) -> Option<Secret> {
        Some(self.secret.clone())
    }
    fn rejected(&mut self) {
        self.rejected = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{HostKeyAnswer, HostKeyQuestion};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Answers with `pw` (kept for the session when `keep`), records the prompts.
    struct Counting {
        asked: AtomicUsize,
        pw: Option<&'static str>,
        keep: bool,
        prompts: Mutex<Vec<String>>,
    }
    fn counting(pw: Option<&'static str>, keep: bool) -> Counting {
        Counting {
            asked: AtomicUsize::new(0),
            pw,
            keep,
            prompts: Mutex::new(Vec::new()),
        }
    }
    impl Prompter for Counting {
        fn host_key(&self, _q: &HostKeyQuestion) -> HostKeyAnswer {
            HostKeyAnswer::Reject
        }
        fn secret(&self, kind: &SecretKind, prompt: &str) -> Option<Secret> {
            assert_eq!(kind, &SecretKind::Sudo { user: "ops".into() });
            assert!(
                prompt.contains("ops") && prompt.contains("root"),
                "{prompt}"
            );
            self.asked.fetch_add(1, Ordering::SeqCst);
            lock(&self.prompts).push(prompt.to_string());
            let s = self.pw?.to_string();
            Some(if self.keep {
                Secret::for_session(s)
            } else {
                Secret::new(s)
            })
        }
    }
    impl Counting {
        fn n(&self) -> usize {
            self.asked.load(Ordering::SeqCst)
        }
    }

    fn asker(job: JobId, host: &str) -> Asker<'_> {
        Asker {
            job,
            user: "ops",
            run_as: "root",
            host,
            newly_trusted: false,
        }
    }

    #[test]
    fn kept_for_one_job_unless_kept_for_the_session() {
        let p = counting(Some("pw"), false);
        let c = SudoCache::default();
        for host in ["a", "b", "c"] {
            let s = c.get(&asker(1, host), &p).expect("secret");
            assert_eq!(s.expose(), "pw");
        }
        assert_eq!(p.n(), 1);
        // The next job asks again: the answer was for job 1 only.
        assert!(c.get(&asker(2, "a"), &p).is_some());
        assert!(c.get(&asker(2, "b"), &p).is_some());
        assert_eq!(p.n(), 2);

        let p = counting(Some("pw"), true);
        let c = SudoCache::default();
        assert!(c.get(&asker(1, "a"), &p).is_some());
        assert!(c.get(&asker(2, "a"), &p).is_some());
        assert_eq!(p.n(), 1, "kept for the session");
        // Rejected in job 3: the rest of job 3 does not ask again, job 4 does.
        c.rejected(3, "ops", None);
        assert!(c.get(&asker(3, "b"), &p).is_some());
        assert_eq!(p.n(), 1);
        assert!(c.get(&asker(4, "b"), &p).is_some());
        assert_eq!(p.n(), 2);
        assert_eq!(c.asked(), 2);
    }

    #[test]
    fn declined_is_not_asked_again_in_the_same_job() {
        let p = counting(None, true);
        let c = SudoCache::default();
        assert!(c.get(&asker(1, "a"), &p).is_none());
        assert!(c.get(&asker(1, "b"), &p).is_none());
        assert_eq!(p.n(), 1);
        assert!(c.get(&asker(2, "a"), &p).is_none());
        assert_eq!(p.n(), 2);
    }

    #[test]
    fn a_newly_trusted_host_is_asked_by_name() {
        let p = counting(Some("pw"), true);
        let c = SudoCache::default();
        assert!(c.get(&asker(1, "old"), &p).is_some());
        let fresh = Asker {
            newly_trusted: true,
            ..asker(1, "fresh")
        };
        assert!(c.get(&fresh, &p).is_some());
        assert_eq!(
            p.n(),
            2,
            "the session's password is not handed to a new host"
        );
        let last = lock(&p.prompts).last().cloned().unwrap_or_default();
        assert!(
            last.contains("on fresh") && last.contains("first trusted"),
            "{last}"
        );
        // Its own answer (kept for the session) serves it later; old hosts keep theirs.
        assert!(c.get(&Asker { job: 2, ..fresh }, &p).is_some());
        assert!(c.get(&asker(2, "old"), &p).is_some());
        assert_eq!(p.n(), 2);
    }

    fn target(become_: Option<crate::engine::Become>) -> Target {
        Target {
            name: "web1".into(),
            conn: ConnSettings::default(),
            jump: vec![],
            become_,
        }
    }

    fn inventory_become(vars: &[(&str, &str)]) -> Option<crate::engine::Become> {
        crate::inventory::vars::become_of(
            &vars
                .iter()
                .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                .collect(),
        )
    }

    #[test]
    fn job_sudo_wins_then_no_become_then_the_inventory() {
        let spec = |sudo: Option<&str>, no_become: bool| ExecSpec {
            command: "id -un".into(),
            sudo_user: sudo.map(str::to_string),
            no_become,
            ..ExecSpec::default()
        };
        let pw = inventory_become(&[
            ("ansible_become", "yes"),
            ("ansible_become_user", "pg"),
            ("ansible_become_password", "s3cret"),
        ]);
        let on = target(pw);
        let plain = target(None);
        let su = target(inventory_become(&[
            ("ansible_become", "yes"),
            ("ansible_become_method", "su"),
        ]));
        let (job, none, off) = (
            spec(Some("root"), false),
            spec(None, false),
            spec(None, true),
        );
        // The inventory alone: its user and password; plain hosts stay plain.
        let e = Escalation::of(&none, &on);
        assert_eq!(e.sudo_user(), Some("pg"));
        assert!(matches!(
            e,
            Escalation::Sudo { password: Some(p), from_inventory: true, .. } if p.expose() == "s3cret"
        ));
        assert_eq!(Escalation::of(&none, &plain), Escalation::Plain);
        // The job's sudo wins for every host (the inventory's password still answers).
        assert_eq!(Escalation::of(&job, &on).sudo_user(), Some("root"));
        assert!(matches!(
            Escalation::of(&job, &on),
            Escalation::Sudo {
                password: Some(_),
                from_inventory: false,
                ..
            }
        ));
        assert_eq!(Escalation::of(&job, &plain).sudo_user(), Some("root"));
        assert_eq!(Escalation::of(&job, &su).sudo_user(), Some("root"));
        // --no-become: plain everywhere, the inventory's password unused even with --sudo.
        assert_eq!(Escalation::of(&off, &on), Escalation::Plain);
        assert_eq!(Escalation::of(&off, &su), Escalation::Plain);
        assert!(matches!(
            Escalation::of(&spec(Some("root"), true), &on),
            Escalation::Sudo { password: None, .. }
        ));
        // An unsupported method fails that host with the inventory's reason.
        assert!(matches!(
            Escalation::of(&none, &su),
            Escalation::Refused(m) if m.starts_with("become method su is not supported")
        ));
        // A password without ansible_become does not turn sudo on.
        let pw_only = target(inventory_become(&[("ansible_become_pass", "x")]));
        assert_eq!(Escalation::of(&none, &pw_only), Escalation::Plain);
    }

    #[test]
    fn an_inventory_password_is_given_as_is_and_its_rejection_remembered() {
        let secret = Secret::new("s3cret".into());
        let mut s = InventorySudo {
            secret: &secret,
            rejected: false,
        };
        assert_eq!(s.password().as_ref().map(Secret::expose), Some("s3cret"));
        s.rejected();
        assert!(s.rejected);
        assert!(!INVENTORY_PASSWORD_REJECTED.contains("s3cret"));
    }

    #[test]
    fn newly_trusted_means_a_key_accepted_in_this_engine() {
        let accepted = AcceptedKeys::default();
        let conn = ConnSettings {
            address: "10.0.0.1".into(),
            port: 22,
            user: "ops".into(),
            identity_files: vec![],
            jump: vec![],
            proxy_command: None,
            connect_timeout: std::time::Duration::from_secs(1),
            ..ConnSettings::default()
        };
        assert!(!newly_trusted(&accepted, &conn));
        lock(&accepted).insert(("10.0.0.1".into(), 2222, vec![1]));
        assert!(!newly_trusted(&accepted, &conn), "another port");
        lock(&accepted).insert(("10.0.0.1".into(), 22, vec![1]));
        assert!(newly_trusted(&accepted, &conn));
    }
}
