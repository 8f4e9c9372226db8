//! What Ansible variables mean beyond the connection settings: which hold secrets (never
//! printed by `inventory --list/--host/--json` nor logged: shown as `(set)`), and the
//! privilege escalation `ansible_become*` asks for.

use std::collections::BTreeMap;

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

/// The escalation `ansible_become`, `ansible_become_user` and `ansible_become_method` ask
/// for, as `inventory --host` says it: `no`, `sudo as root`, or a method fleetdeck lacks.
pub fn become_summary(vars: &BTreeMap<String, String>) -> (String, &'static str) {
    let on = vars.get("ansible_become").is_some_and(|v| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "true" | "yes" | "1" | "on" | "y" | "t"
        )
    });
    if !on {
        return ("no".to_string(), "ansible_become");
    }
    let user = vars
        .get("ansible_become_user")
        .map_or("root", |u| u.as_str());
    let method = vars
        .get("ansible_become_method")
        .map_or("sudo", |m| m.as_str());
    if method == "sudo" {
        let from = if vars.contains_key("ansible_become_user") {
            "ansible_become_user"
        } else {
            "ansible_become"
        };
        (format!("sudo as {user}"), from)
    } else {
        (
            format!("{method} as {user} (unsupported: fleetdeck escalates only with sudo)"),
            "ansible_become_method",
        )
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

    #[test]
    fn become_as_ansible_reads_it() {
        let vars = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                .collect()
        };
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
    }
}
