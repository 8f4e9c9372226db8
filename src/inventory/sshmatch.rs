//! ssh_config `Match` blocks as OpenSSH evaluates them, for the criteria that need nothing
//! outside the configuration: `all`, `host`, `originalhost`, `user`, `localuser` (each
//! negatable with `!`, pattern lists with `,` and `!`). `exec`, `canonical`, `final`,
//! `tagged` and `localnetwork` are refused with a warning: the block never applies.
//! Also the `%` tokens OpenSSH expands in `HostName` and `IdentityFile`.

/// What a criterion compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    Host,
    OriginalHost,
    User,
    LocalUser,
}

/// One criterion: `[!]host a,b,!c`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crit {
    negate: bool,
    subject: Subject,
    pats: Vec<(bool, String)>,
}

/// What a `Match` line says: criteria that must all hold, or a criterion fleetdeck does not
/// evaluate (its name, for the warning).
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    All(Vec<Crit>),
    Unsupported(String),
}

/// Parses a `Match` line's arguments. A criterion without its pattern list is an error, as
/// in OpenSSH.
pub fn parse(args: &[String]) -> Result<Parsed, String> {
    let mut out = Vec::new();
    let mut i = 0;
    if args.is_empty() {
        return Err("Match needs criteria (`Match all`, `Match host web*`, …)".to_string());
    }
    while i < args.len() {
        let word = args[i].to_ascii_lowercase();
        let (negate, name) = match word.strip_prefix('!') {
            Some(n) => (true, n.to_string()),
            None => (false, word),
        };
        i += 1;
        let subject = match name.as_str() {
            "all" => continue,
            "host" => Subject::Host,
            "originalhost" => Subject::OriginalHost,
            "user" => Subject::User,
            "localuser" => Subject::LocalUser,
            "exec" | "canonical" | "final" | "tagged" | "localnetwork" => {
                return Ok(Parsed::Unsupported(name));
            }
            other => return Err(format!("unknown Match criterion {other:?}")),
        };
        let Some(list) = args.get(i) else {
            return Err(format!("Match {name} needs a pattern list"));
        };
        i += 1;
        let fold = subject != Subject::User && subject != Subject::LocalUser;
        let pats = list
            .split(',')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (neg, p) = p.strip_prefix('!').map_or((false, p), |x| (true, x));
                (
                    neg,
                    if fold {
                        p.to_ascii_lowercase()
                    } else {
                        p.to_string()
                    },
                )
            })
            .collect();
        out.push(Crit {
            negate,
            subject,
            pats,
        });
    }
    Ok(Parsed::All(out))
}

/// The values criteria are compared with, at the point of the file being read.
pub struct Subjects<'a> {
    /// The host name after `HostName` so far (lower case).
    pub host: &'a str,
    /// The name asked for (lower case).
    pub original: &'a str,
    pub user: &'a str,
    pub local_user: &'a str,
}

/// Whether every criterion holds.
pub fn holds(crits: &[Crit], s: &Subjects) -> bool {
    crits.iter().all(|c| {
        let value = match c.subject {
            Subject::Host => s.host,
            Subject::OriginalHost => s.original,
            Subject::User => s.user,
            Subject::LocalUser => s.local_user,
        };
        pattern_list(&c.pats, value) != c.negate
    })
}

/// An OpenSSH pattern list: some pattern matches and no negated one does.
pub fn pattern_list(pats: &[(bool, String)], value: &str) -> bool {
    let mut any = false;
    for (neg, p) in pats {
        if crate::util::ssh_wildcard(p, value) {
            if *neg {
                return false;
            }
            any = true;
        }
    }
    any
}

/// The values `%` tokens stand for.
pub struct Tokens<'a> {
    /// `%h`: the host name (after `HostName`).
    pub host: &'a str,
    /// `%n`: the name asked for.
    pub original: &'a str,
    /// `%p`.
    pub port: u16,
    /// `%r`: the remote user.
    pub user: &'a str,
    /// `%u`: the local user.
    pub local_user: &'a str,
}

/// Expands `%h %n %p %r %u %d %%` (others kept as written).
pub fn expand(s: &str, t: &Tokens) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('h') => out.push_str(t.host),
            Some('n') => out.push_str(t.original),
            Some('p') => out.push_str(&t.port.to_string()),
            Some('r') => out.push_str(t.user),
            Some('u') => out.push_str(t.local_user),
            Some('d') => {
                out.push_str(
                    &crate::paths::home_dir()
                        .unwrap_or_default()
                        .to_string_lossy(),
                );
            }
            Some('%') | None => out.push('%'),
            Some(o) => {
                out.push('%');
                out.push(o);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    fn crits(s: &str) -> Vec<Crit> {
        match parse(&words(s)).unwrap() {
            Parsed::All(c) => c,
            Parsed::Unsupported(n) => panic!("{n}"),
        }
    }

    #[test]
    fn criteria_as_openssh_evaluates_them() {
        let s = Subjects {
            host: "10.0.0.5",
            original: "web1",
            user: "deploy",
            local_user: "ops",
        };
        assert!(holds(&crits("all"), &s));
        assert!(holds(&crits("originalhost web*,!web2 user deploy"), &s));
        assert!(!holds(&crits("host web*"), &s), "host is the HostName");
        assert!(holds(&crits("host 10.0.0.*"), &s));
        assert!(holds(&crits("!user root localuser ops"), &s));
        assert!(!holds(&crits("originalhost web1 user root"), &s));
        assert!(!holds(&crits("originalhost !web1,web*"), &s));
    }

    #[test]
    fn exec_is_refused_and_bad_lines_are_errors() {
        assert_eq!(
            parse(&words("exec true")).unwrap(),
            Parsed::Unsupported("exec".into())
        );
        assert!(parse(&words("host")).unwrap_err().contains("pattern list"));
        assert!(parse(&words("colour blue")).unwrap_err().contains("colour"));
        assert!(parse(&[]).is_err());
    }

    #[test]
    fn tokens_expand_where_openssh_expands_them() {
        let t = Tokens {
            host: "10.0.0.5",
            original: "web1",
            port: 2222,
            user: "deploy",
            local_user: "ops",
        };
        assert_eq!(
            expand("~/.ssh/%n-%r@%h:%p-%u 100%% %x", &t),
            "~/.ssh/web1-deploy@10.0.0.5:2222-ops 100% %x"
        );
    }
}
