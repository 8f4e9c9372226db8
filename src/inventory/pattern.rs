//! Target patterns, compatible with Ansible's host patterns:
//!
//! - `web:db` or `web,db`: union; `prod:&web`: intersection; `all:!db`: exclusion. As in
//!   Ansible, unions are applied first, then intersections, then exclusions, whatever their
//!   place; a pattern of only `&`/`!` terms starts from `all`.
//! - a host or group name; `all` (or `*`) is every host;
//! - globs `web*`, `*.example.com`, `db?`, `[ab]*` (fnmatch, over group and host names);
//! - `~regex`, matched from the start of group and host names (Python's `re.match`);
//! - Ansible subscripts on a group: `web[0]`, `web[-1]`, `web[0:2]` (end included), `web[1:]`;
//! - fleetdeck's ranges: `web[01-05]` names hosts (or groups) `web01`…`web05`; every name
//!   must exist. The dash form is always a range (Ansible removed `[x-y]` subscripts); the
//!   colon form `www[01:03]` is a subscript when `www` is a group, a range otherwise.
//!
//! The result is in inventory order, without duplicates. An unknown name is an error that
//! names it, and so is a glob or regex that matches nothing: a typo must not widen or narrow
//! a command's targets silently.

use std::collections::HashMap;

use regex::Regex;

use super::error::{suggest, PatternError, RangeError};
use super::range::expand_range;
use super::{HostId, Inventory};

/// Splits on `:` and `,` outside `[]`, `()` and `{}`.
fn split_terms(pattern: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in pattern.char_indices() {
        match c {
            '[' | '(' | '{' => depth += 1,
            ']' | ')' | '}' => depth -= 1,
            ':' | ',' if depth <= 0 => {
                out.push(pattern[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(pattern[start..].trim());
    out.retain(|t| !t.is_empty());
    out
}

struct Ctx<'a> {
    inv: &'a Inventory,
    host_ix: Option<HashMap<&'a str, HostId>>,
}

impl Ctx<'_> {
    fn host(&mut self, name: &str) -> Option<HostId> {
        if self.inv.hosts.len() < 64 {
            return self.inv.host_by_name(name);
        }
        let inv = self.inv;
        let ix = self.host_ix.get_or_insert_with(|| {
            inv.hosts
                .iter()
                .enumerate()
                .map(|(i, h)| (h.name.as_str(), i))
                .collect()
        });
        ix.get(name).copied()
    }

    fn group(&self, name: &str) -> Option<usize> {
        self.inv.group_by_name(name)
    }

    fn add_group(&self, g: usize, set: &mut [bool]) {
        for h in self.inv.hosts_under(g) {
            set[h] = true;
        }
    }

    fn unknown(&self, name: &str) -> PatternError {
        let names = self
            .inv
            .groups
            .iter()
            .map(|g| g.name.as_str())
            .chain(self.inv.hosts.iter().map(|h| h.name.as_str()));
        PatternError::Unknown {
            name: name.to_string(),
            hint: suggest(name, names),
        }
    }

    /// The hosts one term (without its `&`/`!`) selects.
    fn term(&mut self, term: &str, host_first: bool) -> Result<Vec<bool>, PatternError> {
        let n = self.inv.hosts.len();
        let mut set = vec![false; n];
        if host_first {
            if let Some(h) = self.host(term) {
                set[h] = true;
                return Ok(set);
            }
        }
        if let Some(g) = self.group(term) {
            self.add_group(g, &mut set);
            return Ok(set);
        }
        if let Some(h) = self.host(term) {
            set[h] = true;
            return Ok(set);
        }
        if let Some(re) = term.strip_prefix('~') {
            let re = Regex::new(&format!("^(?:{re})")).map_err(|e| PatternError::BadRegex {
                pattern: term.to_string(),
                reason: e.to_string(),
            })?;
            return self.by_matcher(term, |s| re.is_match(s), set);
        }
        if let Some(sub) = self.subscript(term)? {
            return Ok(sub);
        }
        if term.contains('[') || term.contains(']') {
            match expand_range(term) {
                Ok(names) => {
                    for name in names {
                        if let Some(h) = self.host(&name) {
                            set[h] = true;
                        } else if let Some(g) = self.group(&name) {
                            self.add_group(g, &mut set);
                        } else {
                            return Err(self.unknown(&name));
                        }
                    }
                    return Ok(set);
                }
                Err(e @ (RangeError::Backwards { .. } | RangeError::TooMany { .. })) => {
                    return Err(PatternError::BadRange(e));
                }
                // Not a range: maybe a glob character class such as `web[ab]*`.
                Err(RangeError::Malformed { .. }) => {}
            }
        }
        if term == "*" {
            return Ok(vec![true; n]);
        }
        if term.contains(['*', '?', '[']) {
            let glob = fnmatch(term).map_err(|e| PatternError::BadRegex {
                pattern: term.to_string(),
                reason: e.to_string(),
            })?;
            return self.by_matcher(term, |s| glob.is_match(s), set);
        }
        Err(self.unknown(term))
    }

    fn by_matcher(
        &self,
        term: &str,
        is_match: impl Fn(&str) -> bool,
        mut set: Vec<bool>,
    ) -> Result<Vec<bool>, PatternError> {
        let mut any = false;
        for (g, grp) in self.inv.groups.iter().enumerate() {
            if is_match(&grp.name) {
                any = true;
                self.add_group(g, &mut set);
            }
        }
        for (h, host) in self.inv.hosts.iter().enumerate() {
            if is_match(&host.name) {
                any = true;
                set[h] = true;
            }
        }
        if any {
            Ok(set)
        } else {
            Err(PatternError::NoMatch {
                pattern: term.to_string(),
            })
        }
    }

    /// Ansible's `group[i]`, `group[i:j]`, `group[i:]`, `group[i-j]` on a known group.
    fn subscript(&self, term: &str) -> Result<Option<Vec<bool>>, PatternError> {
        let Some(body) = term.strip_suffix(']') else {
            return Ok(None);
        };
        let Some(open) = body.rfind('[') else {
            return Ok(None);
        };
        let (base, inner) = (&body[..open], &body[open + 1..]);
        let Some(g) = self.group(base) else {
            return Ok(None);
        };
        let hosts = self.inv.hosts_under(g);
        let len = hosts.len() as i64;
        let bad = || PatternError::Subscript {
            pattern: term.to_string(),
            hosts: hosts.len(),
        };
        let num = |s: &str| s.parse::<i64>().ok();
        // `[x-y]` is fleetdeck's range of names (Ansible removed it as a subscript).
        if inner.get(1..).is_some_and(|rest| rest.contains('-')) {
            return Ok(None);
        }
        let (start, end) = if let Some((a, b)) = inner.split_once(':') {
            let a = num(a).ok_or_else(bad)?;
            let b = if b.is_empty() {
                len - 1
            } else {
                num(b).ok_or_else(bad)?
            };
            (a, b.min(len - 1))
        } else {
            let mut i = num(inner).ok_or_else(bad)?;
            if i < 0 {
                i += len;
            }
            (i, i)
        };
        if start < 0 || start >= len || end < start {
            return Err(bad());
        }
        let mut set = vec![false; self.inv.hosts.len()];
        for &h in &hosts[start as usize..=end as usize] {
            set[h] = true;
        }
        Ok(Some(set))
    }
}

/// Ansible's fnmatch (`*`, `?`, `[seq]`, `[!seq]`) through globset. fnmatch has no braces and
/// no escapes, and an unclosed `[` is literal: those are made literal for globset first.
fn fnmatch(glob: &str) -> Result<globset::GlobMatcher, globset::Error> {
    let chars: Vec<char> = glob.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '[' => {
                // A class closes at the first `]` after its first member (`[]]` holds `]`).
                let from = i + 1 + usize::from(chars.get(i + 1) == Some(&'!'));
                match chars.iter().skip(from + 1).position(|&c| c == ']') {
                    Some(k) => {
                        let end = from + 1 + k;
                        out.extend(&chars[i..=end]);
                        i = end;
                    }
                    None => out.push_str("[[]"),
                }
            }
            c @ ('{' | '}' | '\\' | ']') => {
                out.push('[');
                out.push(c);
                out.push(']');
            }
            c => out.push(c),
        }
        i += 1;
    }
    Ok(globset::GlobBuilder::new(&out)
        .literal_separator(false)
        .backslash_escape(false)
        .build()?
        .compile_matcher())
}

pub fn select(inv: &Inventory, pattern: &str) -> Result<Vec<HostId>, PatternError> {
    let terms = split_terms(pattern);
    if terms.is_empty() {
        return Err(PatternError::Empty);
    }
    let mut union: Vec<&str> = terms
        .iter()
        .copied()
        .filter(|t| !t.starts_with(['&', '!']))
        .collect();
    if union.is_empty() {
        union.push("all");
    }
    let mut cx = Ctx { inv, host_ix: None };
    let mut set = vec![false; inv.hosts.len()];
    for t in union {
        for (s, x) in set.iter_mut().zip(cx.term(t, true)?) {
            *s |= x;
        }
    }
    for t in terms.iter().filter_map(|t| t.strip_prefix('&')) {
        let t = t.trim();
        if t.is_empty() {
            return Err(PatternError::Empty);
        }
        for (s, x) in set.iter_mut().zip(cx.term(t, false)?) {
            *s &= x;
        }
    }
    for t in terms.iter().filter_map(|t| t.strip_prefix('!')) {
        let t = t.trim();
        if t.is_empty() {
            return Err(PatternError::Empty);
        }
        for (s, x) in set.iter_mut().zip(cx.term(t, false)?) {
            *s &= !x;
        }
    }
    Ok(set
        .iter()
        .enumerate()
        .filter_map(|(i, &s)| s.then_some(i))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLEET: &str = "
hosts: { solo: ~ }
groups:
  prod:
    groups:
      web: { hosts: { \"web[01-04]\": ~ } }
      db: { hosts: { \"db[1-3]\": ~ } }
  staging:
    include: [db]
    hosts: { stg1: ~, web01: ~ }
  rack1: { hosts: { r1a: ~ } }
  rack2: { hosts: { r2a: ~ } }
";

    fn fleet() -> Inventory {
        Inventory::load_inner(std::path::Path::new("fleet.yaml"), FLEET, None)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn selection_table() {
        let inv = fleet();
        let cases: &[(&str, &str)] = &[
            (
                "all",
                "solo web01 web02 web03 web04 db1 db2 db3 stg1 r1a r2a",
            ),
            ("*", "solo web01 web02 web03 web04 db1 db2 db3 stg1 r1a r2a"),
            ("web:db", "web01 web02 web03 web04 db1 db2 db3"),
            ("db,web", "web01 web02 web03 web04 db1 db2 db3"),
            ("prod:&staging", "web01 db1 db2 db3"),
            ("staging:!db", "web01 stg1"),
            ("all:!prod:!staging", "solo r1a r2a"),
            ("!prod", "solo stg1 r1a r2a"),
            ("&web", "web01 web02 web03 web04"),
            ("web0*", "web01 web02 web03 web04"),
            ("~^(db|stg)", "db1 db2 db3 stg1"),
            ("~b[23]", ""),
            ("web[01-02]:db[2]", "web01 web02 db3"),
            ("web[0]:web[-1]", "web01 web04"),
            ("web[1:2]", "web02 web03"),
            ("web[2:]", "web03 web04"),
            ("rack[1-2]", "r1a r2a"),
            ("solo", "solo"),
            ("!web:&prod", "db1 db2 db3"),
            ("db1:db1:db", "db1 db2 db3"),
        ];
        for (pattern, want) in cases {
            match inv.select(pattern) {
                Ok(ids) => {
                    let got: Vec<&str> = ids.iter().map(|&h| inv.hosts[h].name.as_str()).collect();
                    assert_eq!(got.join(" "), *want, "{pattern}");
                }
                Err(e) if want.is_empty() => {
                    assert!(matches!(e, PatternError::NoMatch { .. }), "{pattern}: {e}");
                }
                Err(e) => panic!("{pattern}: {e}"),
            }
        }
    }

    #[test]
    fn error_table() {
        let inv = fleet();
        let cases: &[(&str, &str)] = &[
            ("", "empty target pattern"),
            (" : , ", "empty target pattern"),
            (
                "wbe",
                "unknown host or group \"wbe\" (did you mean \"web\"?)",
            ),
            ("prod:!nosuch", "unknown host or group \"nosuch\""),
            ("web[01-09]", "unknown host or group \"web05\""),
            ("x*", "pattern \"x*\" matches no host or group"),
            ("~(", "bad regular expression"),
            ("web[9]", "out of range: the group has 4 hosts"),
            ("web[-9]", "out of range"),
            ("web[3:1]", "out of range"),
            ("n[1-200000]", "more than the limit"),
            ("web:&", "empty target pattern"),
        ];
        for (pattern, needle) in cases {
            match inv.select(pattern) {
                Ok(ids) => panic!("{pattern}: expected an error, got {ids:?}"),
                Err(e) => assert!(e.to_string().contains(needle), "{pattern}: {e}"),
            }
        }
    }

    #[test]
    fn split_table() {
        let cases: &[(&str, &[&str])] = &[
            ("web:db", &["web", "db"]),
            ("web,db", &["web", "db"]),
            ("prod:&web", &["prod", "&web"]),
            ("all:!db", &["all", "!db"]),
            ("www[01:05]", &["www[01:05]"]),
            ("~^web[0-9]{1,3}:db", &["~^web[0-9]{1,3}", "db"]),
            (" a , b ", &["a", "b"]),
            ("", &[]),
        ];
        for (p, want) in cases {
            assert_eq!(split_terms(p), *want, "{p}");
        }
    }

    #[test]
    fn glob_table() {
        let cases = [
            ("web*", "web01", true),
            ("web*", "db", false),
            ("*.example.com", "a.example.com", true),
            ("*.example.com", "aexample.com", false),
            ("db?", "db1", true),
            ("[ab]*", "alpha", true),
            ("[!ab]*", "alpha", false),
            ("w.b", "web", false),
            ("web[", "web[", true),
            ("a{b,c}", "a{b,c}", true),
            ("a{b,c}", "ab", false),
            ("[]]x", "]x", true),
            ("a/*", "a/b/c", true),
            ("a\\b", "a\\b", true),
        ];
        for (g, s, want) in cases {
            let glob = fnmatch(g).unwrap();
            assert_eq!(glob.is_match(s), want, "{g} {s}");
        }
    }
}
