//! Ansible's INI inventory, read by the rules of Ansible's `ini` plugin:
//!
//! ```ini
//! lone.example.com            # hosts before any section are `ungrouped`
//! [web]
//! www[01:50:2].example.com ansible_user=deploy http_port=8080
//! db-[a:f]:2222               # host:port, ranges with strides and letters
//! [2001:db8::1]:2200          # IPv6 with a port
//! [prod:children]             # child groups, declared before or after
//! web
//! [prod:vars]                 # group vars, `key = value`
//! ansible_ssh_common_args = '-o ProxyJump=bastion'
//! ```
//!
//! Lines starting with `#` or `;` are comments; host lines are split like a shell (quotes
//! group, `#` starts a comment); values go through Ansible's literal rules (quoted strings
//! lose their quotes, integers are normalised, anything else is kept as written). A `:vars`
//! or `:children` section naming a group that is never declared is an error, as in Ansible.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use super::ansible::{finish, host_pattern, merge, vars_settings};
use super::error::InventoryError;
use super::parse::Ctx;
use super::resolve::{Order, Raw};
use super::yaml::{Kind, Node};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Hosts,
    Children,
    Vars,
}

/// A group named before it is declared: by a `:children` line or a `:vars` header.
struct Pending {
    line: usize,
    state: State,
    parents: Vec<usize>,
}

struct Reader<'a> {
    ctx: &'a Ctx,
    raw: Raw,
    group: usize,
    state: State,
    declared: HashSet<String>,
    pending: HashMap<String, Pending>,
    line: usize,
}

/// Whether text reads as INI rather than YAML: its first meaningful line is a `[section]`.
pub fn looks_like_ini(text: &str) -> bool {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with(';'))
        .is_some_and(|l| l.starts_with('[') && section(l).is_some())
}

pub fn read(ctx: &Ctx, text: &str, source: &Path) -> Result<Raw, InventoryError> {
    let mut raw = Raw::new(source, Order::AnsibleName, "group all");
    read_into(ctx, text, &mut raw)?;
    finish(&mut raw);
    Ok(raw)
}

/// Adds one INI source to `raw` (an inventory directory reads several); groups declared by
/// earlier sources count as declared, as in Ansible. The caller runs [`finish`].
pub fn read_into(ctx: &Ctx, text: &str, raw: &mut Raw) -> Result<(), InventoryError> {
    let mut r = Reader {
        ctx,
        raw: std::mem::replace(raw, Raw::new(Path::new(""), Order::AnsibleName, "")),
        group: 0,
        state: State::Hosts,
        declared: HashSet::new(),
        pending: HashMap::new(),
        line: 0,
    };
    r.declared = r.raw.group_ix.keys().cloned().collect();
    r.declared.insert("ungrouped".to_string());
    r.group = r.raw.group("ungrouped");
    let result = r.lines(text);
    *raw = r.raw;
    result
}

impl Reader<'_> {
    fn lines(&mut self, text: &str) -> Result<(), InventoryError> {
        for (i, line) in text.lines().enumerate() {
            self.line = i + 1;
            let lead = line.len() - line.trim_start().len();
            let t = line.trim();
            if t.is_empty() || t.starts_with('#') || t.starts_with(';') {
                continue;
            }
            self.line_(t, lead + 1)?;
        }
        self.check_pending()
    }
}

/// `[name]` or `[name:type]` with an optional trailing comment: (name, type).
fn section(line: &str) -> Option<(&str, Option<&str>)> {
    let rest = line.strip_prefix('[')?;
    let end = rest.find(']')?;
    let after = rest[end + 1..].trim_start();
    if !(after.is_empty() || after.starts_with('#')) {
        return None;
    }
    let inner = &rest[..end];
    let (name, kind) = match inner.split_once(':') {
        Some((n, k)) => (n, Some(k)),
        None => (inner, None),
    };
    let name_ok = !name.is_empty() && !name.chars().any(|c| c.is_whitespace() || c == ':');
    let kind_ok = kind.map_or(true, |k| {
        !k.is_empty() && k.chars().all(|c| c.is_alphanumeric() || c == '_')
    });
    (name_ok && kind_ok).then_some((name, kind))
}

impl Reader<'_> {
    fn err(&self, col: usize, msg: impl Into<String>) -> InventoryError {
        let at = node(String::new(), self.line, col);
        self.ctx.err(&at, msg)
    }

    fn line_(&mut self, t: &str, col: usize) -> Result<(), InventoryError> {
        if let Some((name, kind)) = section(t) {
            return self.header(name, kind, col);
        }
        if t.starts_with('[') && t.ends_with(']') {
            return Err(self.err(
                col,
                format!("invalid section entry {t:?}: no spaces or other invalid characters in a section"),
            ));
        }
        match self.state {
            State::Hosts => self.host_line(t, col),
            State::Vars => self.var_line(t, col),
            State::Children => self.child_line(t, col),
        }
    }

    fn header(&mut self, name: &str, kind: Option<&str>, col: usize) -> Result<(), InventoryError> {
        self.state = match kind {
            None | Some("hosts") => State::Hosts,
            Some("children") => State::Children,
            Some("vars") => State::Vars,
            Some(k) => {
                return Err(self.err(
                    col,
                    format!(
                        "section [{name}:{k}] has unknown type {k:?} (hosts, children or vars)"
                    ),
                ))
            }
        };
        let g = self.raw.group(name);
        if self.raw.groups[g].at.is_none() {
            self.raw.groups[g].at = Some(self.err(col, "").loc);
        }
        if !self.declared.contains(name) {
            if self.state == State::Vars && !self.pending.contains_key(name) {
                let p = Pending {
                    line: self.line,
                    state: State::Vars,
                    parents: Vec::new(),
                };
                self.pending.insert(name.to_string(), p);
            }
            self.declared.insert(name.to_string());
        }
        if self.state != State::Vars {
            if let Some(p) = self.pending.remove(name) {
                for parent in p.parents {
                    self.raw.add_child(parent, g, None);
                }
            }
        }
        self.group = g;
        Ok(())
    }

    fn host_line(&mut self, t: &str, col: usize) -> Result<(), InventoryError> {
        let words = shell_words(t);
        let Some((first, fcol)) = words.first() else {
            return Ok(()); // only a comment
        };
        let at = node(first.clone(), self.line, col + fcol);
        if first.trim() == "---" {
            return Err(self.err(col, "host \"---\": this looks like a YAML file"));
        }
        let (names, port) = host_pattern(self.ctx, &at, first)?;
        if first.ends_with(':') && port.is_none() {
            return Err(self.ctx.err(
                &at,
                format!("bad host pattern {first:?}: a trailing \":\" is for a port"),
            ));
        }
        let mut pairs = Vec::new();
        if let Some(p) = port {
            pairs.push(("ansible_port".to_string(), p.to_string(), col + fcol));
        }
        for (w, wcol) in &words[1..] {
            let Some((k, v)) = w.split_once('=') else {
                return Err(self.err(
                    col + wcol,
                    format!("expected key=value host variable, found {w:?}"),
                ));
            };
            pairs.push((k.to_string(), literal(v), col + wcol + k.len() + 1));
        }
        let vars = self.map(pairs);
        let mut s = vars_settings(self.ctx, &vars, &format!("host {first:?}"))?;
        // A range makes many hosts of one line; the last takes the settings themselves.
        let mut names = names.into_iter().peekable();
        while let Some(n) = names.next() {
            let settings = if names.peek().is_some() {
                s.clone()
            } else {
                std::mem::take(&mut s)
            };
            self.raw.add_host(self.group, &n, settings)?;
        }
        Ok(())
    }

    fn var_line(&mut self, t: &str, col: usize) -> Result<(), InventoryError> {
        let Some((k, v)) = t.split_once('=') else {
            return Err(self.err(col, format!("expected key=value, found {t:?}")));
        };
        let vcol = col + k.len() + 1 + (v.len() - v.trim_start().len());
        let vars = self.map(vec![(k.trim().to_string(), literal(v.trim()), vcol)]);
        let name = self.raw.groups[self.group].name.clone();
        let s = vars_settings(self.ctx, &vars, &format!("vars of group {name:?}"))?;
        if let Some(p) = s.vars.iter().find(|(k, _)| k == "ansible_group_priority") {
            self.raw.groups[self.group].priority = p.1.v.trim().parse().unwrap_or(0);
        }
        merge(&mut self.raw.groups[self.group].settings, s);
        Ok(())
    }

    fn child_line(&mut self, t: &str, col: usize) -> Result<(), InventoryError> {
        let name = t.split('#').next().unwrap_or("").trim();
        if name.is_empty() || name.contains(|c: char| c.is_whitespace() || c == ':' || c == ']') {
            return Err(self.err(col, format!("expected a group name, found {t:?}")));
        }
        if self.declared.contains(name) {
            let c = self.raw.group(name);
            let at = self.err(col, "").loc;
            self.raw.add_child(self.group, c, Some(at));
        } else {
            let line = self.line;
            self.pending
                .entry(name.to_string())
                .or_insert(Pending {
                    line,
                    state: State::Children,
                    parents: Vec::new(),
                })
                .parents
                .push(self.group);
        }
        Ok(())
    }

    /// Ansible reports the first group named but never declared.
    fn check_pending(&mut self) -> Result<(), InventoryError> {
        let Some((name, p)) = self.pending.iter().min_by_key(|(_, p)| p.line) else {
            return Ok(());
        };
        self.line = p.line;
        let msg = if p.state == State::Vars {
            format!("section [{name}:vars] is for a group never declared: {name:?}")
        } else {
            let parent = &self.raw.groups[p.parents[0]].name;
            format!("section [{parent}:children] names a group never declared: {name:?}")
        };
        Err(self.err(1, msg))
    }

    /// A vars mapping node for [`vars_settings`], each value placed where it was written.
    fn map(&self, pairs: Vec<(String, String, usize)>) -> Node {
        let line = self.line;
        let entries = pairs
            .into_iter()
            .map(|(k, v, col)| (node(k, line, col), node(v, line, col)))
            .collect();
        Node {
            kind: Kind::Map(entries),
            line,
            col: 1,
        }
    }
}

fn node(text: String, line: usize, col: usize) -> Node {
    Node {
        kind: Kind::Scalar { text, plain: false },
        line,
        col,
    }
}

/// Splits a host line as Python's `shlex.split(line, comments=True)` does, with the column
/// (0-based, in characters) where each word starts.
fn shell_words(s: &str) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    let mut cur: Option<(String, usize)> = None;
    let mut quote: Option<char> = None;
    let mut chars = s.chars().enumerate();
    while let Some((i, c)) = chars.next() {
        match (quote, c) {
            (Some('"'), '\\') => {
                if let Some((_, n)) = chars.next() {
                    if !matches!(n, '"' | '\\' | '$' | '`') {
                        cur.get_or_insert((String::new(), i)).0.push('\\');
                    }
                    cur.get_or_insert((String::new(), i)).0.push(n);
                }
            }
            (Some(q), c) if c == q => quote = None,
            (None, '\'' | '"') => {
                quote = Some(c);
                cur.get_or_insert((String::new(), i));
            }
            (None, '\\') => {
                if let Some((_, n)) = chars.next() {
                    cur.get_or_insert((String::new(), i)).0.push(n);
                }
            }
            (None, '#') => break,
            (None, c) if c.is_whitespace() => out.extend(cur.take()),
            // Inside quotes everything is kept (a backslash too, inside '…').
            (_, c) => cur.get_or_insert((String::new(), i)).0.push(c),
        }
    }
    out.extend(cur);
    out
}

/// A value as Ansible's `ast.literal_eval` leaves it, as text: a quoted string loses its
/// quotes, an integer is written in decimal, anything else is kept as it is.
pub fn literal(v: &str) -> String {
    let t = v.trim();
    for q in ['\'', '"'] {
        if t.len() >= 2 && t.starts_with(q) && t.ends_with(q) {
            let inner = &t[1..t.len() - 1];
            if !inner.contains(q) {
                return unescape(inner);
            }
        }
    }
    let (neg, digits) = match t.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let clean = digits.replace('_', "");
    let parsed = if let Some(h) = clean.strip_prefix("0x").or(clean.strip_prefix("0X")) {
        i128::from_str_radix(h, 16).ok()
    } else if let Some(o) = clean.strip_prefix("0o").or(clean.strip_prefix("0O")) {
        i128::from_str_radix(o, 8).ok()
    } else if let Some(b) = clean.strip_prefix("0b").or(clean.strip_prefix("0B")) {
        i128::from_str_radix(b, 2).ok()
    } else if !clean.is_empty()
        && clean.bytes().all(|b| b.is_ascii_digit())
        && (clean == "0" || !clean.starts_with('0'))
        && !digits.starts_with('_')
        && !digits.ends_with('_')
    {
        clean.parse().ok()
    } else {
        None
    };
    match parsed {
        Some(n) => (if neg { -n } else { n }).to_string(),
        None => t.to_string(),
    }
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some(c @ ('\\' | '\'' | '"')) => out.push(c),
            Some(c) => {
                out.push('\\');
                out.push(c);
            }
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_values_as_ansible_reads_them() {
        let cases = [
            ("'quoted'", "quoted"),
            ("\"a b\"", "a b"),
            ("22", "22"),
            ("0x10", "16"),
            ("-5", "-5"),
            ("1_000", "1000"),
            ("022", "022"),
            ("bob", "bob"),
            ("[1, 2]", "[1, 2]"),
            ("'it\\'s'", "'it\\'s'"),
        ];
        for (v, want) in cases {
            assert_eq!(literal(v), want, "{v}");
        }
    }

    #[test]
    fn host_lines_split_like_shlex_with_comments() {
        let w = shell_words("h1 a='x y' b=\"q\\\"r\" c=d#comment e=f");
        let words: Vec<&str> = w.iter().map(|(s, _)| s.as_str()).collect();
        assert_eq!(words, ["h1", "a=x y", "b=q\"r", "c=d"]);
        assert_eq!(w[1].1, 3);
    }

    #[test]
    fn sections() {
        assert_eq!(section("[web]"), Some(("web", None)));
        assert_eq!(section("[web:vars] # c"), Some(("web", Some("vars"))));
        assert_eq!(section("[web server]"), None);
        assert_eq!(section("[2001:db8::1]:22"), None);
        assert!(looks_like_ini("# c\n; c\n[all:vars]\nx=1\n"));
        assert!(!looks_like_ini("all:\n  hosts: {}\n"));
    }
}
