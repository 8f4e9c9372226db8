//! What Ansible variables mean beyond the connection settings: which hold secrets (never
//! printed by `inventory --list/--host/--json` nor logged: shown as `(set)`), and the
//! privilege escalation `ansible_become*` asks for.

use std::collections::BTreeMap;

use crate::contract::Secret;

/// Variables whose values are passwords.
pub const SECRET_VARS: &[&str] = &[
    "ansible_password",
    "ansible_ssh_pass",
    "ansible_ssh_password",
    "ansible_become_password",
    "ansible_become_pass",
    "ansible_sudo_pass",
    "ansible_sudo_password",
    "ansible_su_pass",
    "ansible_su_password",
];

/// How a secret's value is shown.
pub const SECRET_SHOWN: &str = "(set)";

/// Whether a variable's value must not be shown: a password variable, or a value Ansible
/// Vault encrypted.
pub fn is_secret(name: &str, value: &str) -> bool {
    SECRET_VARS.contains(&name) || value.trim_start().starts_with("$ANSIBLE_VAULT")
}

/// The value as it may be printed.
pub fn shown<'a>(name: &str, value: &'a str) -> &'a str {
    if is_secret(name, value) {
        SECRET_SHOWN
    } else {
        value
    }
}

/// Every variable as it may be printed.
pub fn shown_all(vars: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    vars.iter()
        .map(|(k, v)| (k.clone(), shown(k, v).to_string()))
        .collect()
}

/// Variables whose value is the login user's sudo password, most specific first.
pub const BECOME_PASSWORD_VARS: &[&str] = &[
    "ansible_become_password",
    "ansible_become_pass",
    "ansible_sudo_pass",
    "ansible_sudo_password",
];

/// The privilege escalation a host's `ansible_become*` variables ask for, as the engine
/// applies it to commands (`run`, the console's command line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Become {
    /// `ansible_become` (an Ansible boolean): commands run through sudo unless the job says
    /// otherwise. False still carries the password, for `--sudo`.
    pub enabled: bool,
    /// `ansible_become_user`, `root` by default.
    pub user: String,
    /// Why this host cannot escalate as asked (an unsupported `ansible_become_method`, an
    /// `ansible_become` that is no boolean): the host fails instead of running plainly.
    pub unusable: Option<String>,
    /// `ansible_become_password` (or its older names): answers sudo's prompt on this host.
    /// Its `Debug` never shows it.
    pub password: Option<Secret>,
    /// `ansible_become_flags` is set: fleetdeck runs sudo with its own flags and says so.
    pub flags_ignored: bool,
}

/// An Ansible boolean (`yes`/`no`, `true`/`false`, `on`/`off`, `1`/`0`, `y`/`n`, `t`/`f`,
/// any case); `None` for anything else.
pub fn ansible_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" | "on" | "y" | "t" => Some(true),
        "false" | "no" | "0" | "off" | "n" | "f" | "" => Some(false),
        _ => None,
    }
}

/// What the host's (effective, inherited) variables ask for; `None` when no `ansible_become*`
/// nor become password variable is set.
pub fn become_of(vars: &BTreeMap<String, String>) -> Option<Become> {
    let password = BECOME_PASSWORD_VARS.iter().find_map(|k| vars.get(*k));
    let any = vars.contains_key("ansible_become")
        || vars.contains_key("ansible_become_user")
        || vars.contains_key("ansible_become_method")
        || vars.contains_key("ansible_become_flags")
        || password.is_some();
    if !any {
        return None;
    }
    let mut unusable = None;
    let enabled = match vars.get("ansible_become").map(|v| (v, ansible_bool(v))) {
        None => false,
        Some((_, Some(b))) => b,
        Some((v, None)) => {
            let v = crate::util::shell_quote(v.trim());
            unusable = Some(format!(
                "ansible_become is {v}, not a boolean (true/false, yes/no); use --no-become \
                 to run without it"
            ));
            true
        }
    };
    let method = vars
        .get("ansible_become_method")
        .map_or("sudo", |m| m.trim());
    if unusable.is_none() && method != "sudo" {
        let m = crate::util::shell_quote(method);
        unusable = Some(format!(
            "become method {m} is not supported by fleetdeck (only sudo); use --no-become to \
             run without it"
        ));
    }
    let user = vars
        .get("ansible_become_user")
        .map(|u| u.trim())
        .filter(|u| !u.is_empty())
        .unwrap_or("root");
    Some(Become {
        enabled,
        user: user.to_string(),
        unusable,
        password: password.map(|p| Secret::new(p.clone())),
        flags_ignored: vars
            .get("ansible_become_flags")
            .is_some_and(|f| !f.trim().is_empty()),
    })
}

/// The escalation `ansible_become`, `ansible_become_user` and `ansible_become_method` ask
/// for, as `inventory --host` says it: `no`, `sudo as root`, or a method fleetdeck lacks;
/// with the variable it comes from.
pub fn become_summary(vars: &BTreeMap<String, String>) -> (String, &'static str) {
    let Some(b) = become_of(vars).filter(|b| b.enabled) else {
        return ("no".to_string(), "ansible_become");
    };
    let user = &b.user;
    let password = if b.password.is_some() {
        " (password: (set))"
    } else {
        ""
    };
    match &b.unusable {
        None => {
            let from = if vars.contains_key("ansible_become_user") {
                "ansible_become_user"
            } else {
                "ansible_become"
            };
            (format!("sudo as {user}{password}"), from)
        }
        Some(_) if !vars.contains_key("ansible_become_method") => (
            "unusable: ansible_become is not a boolean".to_string(),
            "ansible_become",
        ),
        Some(_) => {
            let method = vars.get("ansible_become_method").map_or("", |m| m.trim());
            (
                format!("{method} as {user} (unsupported: fleetdeck escalates only with sudo)"),
                "ansible_become_method",
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_and_vault_values_are_not_shown() {
        assert_eq!(shown("ansible_become_password", "hunter2"), "(set)");
        assert_eq!(shown("ansible_password", "x"), "(set)");
        assert_eq!(shown("db_pw", "$ANSIBLE_VAULT;1.1;AES256\n6134"), "(set)");
        assert_eq!(shown("http_port", "80"), "80");
    }

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect()
    }

    #[test]
    fn become_vars_parse_as_ansible_reads_them() {
        assert_eq!(become_of(&vars(&[("http_port", "80")])), None);
        for (v, on) in [("yes", true), ("True", true), ("on", true), ("1", true)] {
            let b = become_of(&vars(&[("ansible_become", v)])).expect("become");
            assert_eq!(
                (b.enabled, b.user.as_str(), &b.unusable),
                (on, "root", &None)
            );
        }
        for v in ["no", "False", "off", "0", "n"] {
            let b = become_of(&vars(&[("ansible_become", v)])).expect("become");
            assert!(!b.enabled, "{v}");
        }
        let b = become_of(&vars(&[
            ("ansible_become", "true"),
            ("ansible_become_user", "postgres"),
            ("ansible_become_pass", "hunter2"),
            ("ansible_become_flags", "-H -S"),
        ]))
        .expect("become");
        assert_eq!(b.user, "postgres");
        assert!(b.flags_ignored);
        assert_eq!(b.password.as_ref().map(Secret::expose), Some("hunter2"));
        assert!(
            !format!("{b:?}").contains("hunter2"),
            "Debug never shows the password: {b:?}"
        );
        // The most specific name wins; a password alone (for --sudo) does not turn become on.
        let b = become_of(&vars(&[
            ("ansible_sudo_pass", "old"),
            ("ansible_become_password", "new"),
        ]))
        .expect("password only");
        assert!(!b.enabled);
        assert_eq!(b.password.as_ref().map(Secret::expose), Some("new"));
        // Another method, or no boolean: the host cannot escalate and says why.
        let su = become_of(&vars(&[
            ("ansible_become", "yes"),
            ("ansible_become_method", "su"),
        ]))
        .expect("su");
        assert_eq!(
            su.unusable.as_deref(),
            Some(
                "become method su is not supported by fleetdeck (only sudo); use --no-become \
                 to run without it"
            )
        );
        let odd = become_of(&vars(&[("ansible_become", "maybe")])).expect("odd");
        assert!(odd.enabled);
        assert!(odd.unusable.is_some_and(|m| m.contains("not a boolean")));
    }

    #[test]
    fn become_as_ansible_reads_it() {
        assert_eq!(become_summary(&vars(&[])).0, "no");
        assert_eq!(
            become_summary(&vars(&[("ansible_become", "yes")])).0,
            "sudo as root"
        );
        assert_eq!(
            become_summary(&vars(&[
                ("ansible_become", "True"),
                ("ansible_become_user", "pg")
            ]))
            .0,
            "sudo as pg"
        );
        assert!(become_summary(&vars(&[
            ("ansible_become", "true"),
            ("ansible_become_method", "su")
        ]))
        .0
        .starts_with("su as root (unsupported"));
        assert_eq!(
            become_summary(&vars(&[
                ("ansible_become", "yes"),
                ("ansible_become_password", "hunter2")
            ]))
            .0,
            "sudo as root (password: (set))"
        );
    }
}
