//! The sudo password: asked once (per engine and login user) when sudo first prompts, kept in
//! memory only, and asked again in a later job only after it proved wrong or was declined.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::{JobId, Prompter, Secret, SecretKind};
use crate::ssh::exec::SudoPassword;
use crate::util::lock;

/// One user's answer and the job that asked for it.
struct Entry {
    secret: Option<Secret>,
    job: JobId,
    /// sudo rejected it somewhere (or the operator gave none): a later job asks again.
    stale: bool,
}

/// sudo passwords by login user, shared by every worker of one engine.
#[derive(Default)]
pub(crate) struct SudoCache {
    entries: Mutex<HashMap<String, Entry>>,
    /// Held while asking, so that concurrent workers ask one question and share the answer.
    asking: Mutex<()>,
    /// How many times the operator was asked (for tests and statistics).
    asked: std::sync::atomic::AtomicU64,
}

impl SudoCache {
    /// The password for `user` within job `job`, asking the operator at most once per job
    /// (and not at all when an earlier job's answer was accepted by sudo).
    pub fn get(
        &self,
        job: JobId,
        user: &str,
        run_as: &str,
        host: &str,
        prompter: &dyn Prompter,
    ) -> Option<Secret> {
        let usable = |e: &Entry| !e.stale || e.job == job;
        if let Some(e) = lock(&self.entries).get(user).filter(|e| usable(e)) {
            return e.secret.clone();
        }
        let _asking = lock(&self.asking);
        if let Some(e) = lock(&self.entries).get(user).filter(|e| usable(e)) {
            return e.secret.clone();
        }
        self.asked
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let secret = prompter.secret(
            &SecretKind::Sudo {
                user: user.to_string(),
            },
            &format!("[sudo] password for {user} (to run as {run_as}; asked first by {host})"),
        );
        let stale = secret.is_none();
        lock(&self.entries).insert(
            user.to_string(),
            Entry {
                secret: secret.clone(),
                job,
                stale,
            },
        );
        secret
    }

    /// sudo rejected `user`'s password in job `job`: later jobs ask again; this one does not.
    pub fn rejected(&self, job: JobId, user: &str) {
        if let Some(e) = lock(&self.entries).get_mut(user) {
            e.stale = true;
            e.job = e.job.max(job);
        }
    }

    pub fn asked(&self) -> u64 {
        self.asked.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// The [`SudoPassword`] one worker hands to one command.
pub(crate) struct JobSudo<'a> {
    pub cache: &'a SudoCache,
    pub job: JobId,
    pub user: &'a str,
    pub run_as: &'a str,
    pub host: &'a str,
    pub prompter: &'a Arc<dyn Prompter>,
}

impl SudoPassword for JobSudo<'_> {
    fn password(&mut self) -> Option<Secret> {
        self.cache.get(
            self.job,
            self.user,
            self.run_as,
            self.host,
            self.prompter.as_ref(),
        )
    }
    fn rejected(&mut self) {
        self.cache.rejected(self.job, self.user);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{HostKeyAnswer, HostKeyQuestion};
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Counting(AtomicUsize, Option<&'static str>);
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
            self.0.fetch_add(1, Ordering::SeqCst);
            self.1.map(|s| Secret::new(s.into()))
        }
    }

    #[test]
    fn asked_once_then_again_only_after_a_rejection() {
        let p = Counting(AtomicUsize::new(0), Some("pw"));
        let c = SudoCache::default();
        for host in ["a", "b", "c"] {
            let s = c.get(1, "ops", "root", host, &p).expect("secret");
            assert_eq!(s.expose(), "pw");
        }
        // A later job reuses an accepted password.
        assert!(c.get(2, "ops", "root", "a", &p).is_some());
        assert_eq!(p.0.load(Ordering::SeqCst), 1);
        // Rejected in job 3: the rest of job 3 does not ask again, job 4 does.
        c.rejected(3, "ops");
        assert!(c.get(3, "ops", "root", "b", &p).is_some());
        assert_eq!(p.0.load(Ordering::SeqCst), 1);
        assert!(c.get(4, "ops", "root", "b", &p).is_some());
        assert_eq!(p.0.load(Ordering::SeqCst), 2);
        assert_eq!(c.asked(), 2);
    }

    #[test]
    fn declined_is_not_asked_again_in_the_same_job() {
        let p = Counting(AtomicUsize::new(0), None);
        let c = SudoCache::default();
        assert!(c.get(1, "ops", "root", "a", &p).is_none());
        assert!(c.get(1, "ops", "root", "b", &p).is_none());
        assert_eq!(p.0.load(Ordering::SeqCst), 1);
        assert!(c.get(2, "ops", "root", "a", &p).is_none());
        assert_eq!(p.0.load(Ordering::SeqCst), 2);
    }
}
