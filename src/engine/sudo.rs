//! The sudo password: asked when sudo first prompts in a job, kept in memory only, for that
//! job (or, when the operator chose so, for the session). A host whose key was first trusted
//! in this session never gets a password given for other hosts: it is asked about by name.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::{JobId, Prompter, Secret, SecretKind};
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

    #[test]
    fn newly_trusted_means_a_key_accepted_in_this_engine() {
        let accepted = AcceptedKeys::default();
        let conn = ConnSettings {
            address: "10.0.0.1".into(),
            port: 22,
            user: "ops".into(),
            identity_files: vec![],
            jump: vec![],
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
