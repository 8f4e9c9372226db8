//! Host ranges in names: `web[01-20].example.com`, `node[1-5,9]`, `rack[1-2]-n[1-3]`
//! (cartesian product), Ansible's `www[01:50]`, `www[01:50:2]` and `db-[a:f]`.
//!
//! Zero padding follows Ansible: a start written with a leading zero (`01`) pads every number
//! to its width, and then the end must be written with the same width.

use super::error::RangeError;

/// Most names one range expression may produce; beyond it the inventory is refused rather
/// than eating memory (`n[1-10000000]`).
pub const MAX_RANGE_HOSTS: usize = 100_000;

enum Part {
    Lit(String),
    Alts(Vec<Item>),
}

enum Item {
    Num {
        start: u64,
        end: u64,
        step: u64,
        width: usize,
    },
    Alpha {
        start: u8,
        end: u8,
        step: u64,
    },
}

impl Item {
    fn count(&self) -> u128 {
        match *self {
            Item::Num {
                start, end, step, ..
            } => u128::from((end - start) / step) + 1,
            Item::Alpha { start, end, step } => u128::from(u64::from(end - start) / step) + 1,
        }
    }

    fn push_all(&self, out: &mut Vec<String>) {
        match *self {
            Item::Num {
                start,
                end,
                step,
                width,
            } => {
                let mut n = start;
                while n <= end {
                    out.push(format!("{n:0width$}"));
                    match n.checked_add(step) {
                        Some(next) => n = next,
                        None => break,
                    }
                }
            }
            Item::Alpha { start, end, step } => {
                let mut c = u64::from(start);
                while c <= u64::from(end) {
                    out.push(char::from(c as u8).to_string());
                    c += step;
                }
            }
        }
    }
}

/// Whether a name holds a range expression at all.
pub fn has_range(name: &str) -> bool {
    name.contains('[') || name.contains(']')
}

/// Expands every `[...]` of `pattern` into the list of names, in order; a name without brackets
/// expands to itself.
pub fn expand_range(pattern: &str) -> Result<Vec<String>, RangeError> {
    let parts = parse(pattern)?;
    let mut total: u128 = 1;
    for p in &parts {
        if let Part::Alts(items) = p {
            let n: u128 = items.iter().map(Item::count).sum();
            total = total.saturating_mul(n);
        }
    }
    if total > MAX_RANGE_HOSTS as u128 {
        return Err(RangeError::TooMany {
            pattern: pattern.to_string(),
            count: total,
            limit: MAX_RANGE_HOSTS,
        });
    }
    let mut names = vec![String::new()];
    for p in &parts {
        match p {
            Part::Lit(s) => {
                for n in &mut names {
                    n.push_str(s);
                }
            }
            Part::Alts(items) => {
                let mut values = Vec::new();
                for it in items {
                    it.push_all(&mut values);
                }
                let mut next = Vec::with_capacity(names.len() * values.len());
                for n in &names {
                    for v in &values {
                        let mut s = String::with_capacity(n.len() + v.len());
                        s.push_str(n);
                        s.push_str(v);
                        next.push(s);
                    }
                }
                names = next;
            }
        }
    }
    Ok(names)
}

fn malformed(pattern: &str, reason: impl Into<String>) -> RangeError {
    RangeError::Malformed {
        pattern: pattern.to_string(),
        reason: reason.into(),
    }
}

fn parse(pattern: &str) -> Result<Vec<Part>, RangeError> {
    let mut parts = Vec::new();
    let mut rest = pattern;
    while !rest.is_empty() {
        match rest.find(['[', ']']) {
            None => {
                parts.push(Part::Lit(rest.to_string()));
                break;
            }
            Some(i) if rest.as_bytes()[i] == b']' => {
                return Err(malformed(pattern, "\"]\" without a matching \"[\""));
            }
            Some(i) => {
                if i > 0 {
                    parts.push(Part::Lit(rest[..i].to_string()));
                }
                let after = &rest[i + 1..];
                let Some(close) = after.find(']') else {
                    return Err(malformed(pattern, "\"[\" without a matching \"]\""));
                };
                let body = &after[..close];
                if body.contains('[') {
                    return Err(malformed(pattern, "nested \"[\""));
                }
                let mut items = Vec::new();
                for item in body.split(',') {
                    items.push(parse_item(pattern, body, item.trim())?);
                }
                parts.push(Part::Alts(items));
                rest = &after[close + 1..];
            }
        }
    }
    if parts.is_empty() {
        return Err(malformed(pattern, "empty name"));
    }
    Ok(parts)
}

fn parse_item(pattern: &str, body: &str, item: &str) -> Result<Item, RangeError> {
    if item.is_empty() {
        return Err(malformed(pattern, format!("empty item in [{body}]")));
    }
    let (range, step) = split_step(item);
    let step = match step {
        None => 1,
        Some(s) => match s.parse::<u64>() {
            Ok(0) | Err(_) => {
                return Err(malformed(
                    pattern,
                    format!("step {s:?} in [{body}] is not a positive number"),
                ))
            }
            Ok(n) => n,
        },
    };
    let (start, end) = match range.split_once(['-', ':']) {
        Some((a, b)) => (a, b),
        None => (range, range),
    };
    let start = if start.is_empty() && end.bytes().all(|b| b.is_ascii_digit()) {
        "0"
    } else {
        start
    };
    if end.is_empty() {
        return Err(malformed(pattern, format!("range [{body}] has no end")));
    }
    let is_num = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let is_alpha = |s: &str| s.len() == 1 && s.bytes().all(|b| b.is_ascii_alphabetic());
    if is_num(start) && is_num(end) {
        num_item(pattern, item, (start, end), step)
    } else if is_alpha(start) && is_alpha(end) {
        alpha_item(pattern, item, (start, end), step)
    } else {
        Err(malformed(
            pattern,
            format!("[{item}] is not a range of numbers or of single letters"),
        ))
    }
}

/// Splits an item into its range and its step: `a-b`, `a:b`, `a:b:step`, `a-b:step`, or a
/// single value. With a `-`, the first `:` starts the step; without, the second does.
fn split_step(item: &str) -> (&str, Option<&str>) {
    if item.contains('-') {
        return match item.split_once(':') {
            Some((r, s)) => (r, Some(s)),
            None => (item, None),
        };
    }
    let mut it = item.splitn(3, ':');
    let a = it.next().unwrap_or("");
    match (it.next(), it.next()) {
        (None, _) => (item, None),
        (Some(b), None) => (&item[..a.len() + 1 + b.len()], None),
        (Some(b), Some(s)) => (&item[..a.len() + 1 + b.len()], Some(s)),
    }
}

/// A numeric range, zero-padded when its start is written with a leading zero.
fn num_item(
    pattern: &str,
    item: &str,
    (start, end): (&str, &str),
    step: u64,
) -> Result<Item, RangeError> {
    let parse = |s: &str| {
        s.parse::<u64>()
            .map_err(|_| malformed(pattern, format!("number {s:?} is too large")))
    };
    let (a, b) = (parse(start)?, parse(end)?);
    let width = if start.len() > 1 && start.starts_with('0') {
        if end.len() != start.len() {
            return Err(malformed(
                pattern,
                format!("zero-padded range [{item}] needs a start and end of the same width"),
            ));
        }
        start.len()
    } else {
        0
    };
    if a > b {
        return Err(RangeError::Backwards {
            pattern: pattern.to_string(),
            range: item.to_string(),
        });
    }
    Ok(Item::Num {
        start: a,
        end: b,
        step,
        width,
    })
}

/// A range of single letters, all lower case or all upper case.
fn alpha_item(
    pattern: &str,
    item: &str,
    (start, end): (&str, &str),
    step: u64,
) -> Result<Item, RangeError> {
    let (a, b) = (start.as_bytes()[0], end.as_bytes()[0]);
    if a.is_ascii_lowercase() != b.is_ascii_lowercase() {
        return Err(malformed(
            pattern,
            format!("range [{item}] mixes upper and lower case"),
        ));
    }
    if a > b {
        return Err(RangeError::Backwards {
            pattern: pattern.to_string(),
            range: item.to_string(),
        });
    }
    Ok(Item::Alpha {
        start: a,
        end: b,
        step,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(p: &str) -> Vec<String> {
        expand_range(p).unwrap_or_else(|e| panic!("{p}: {e}"))
    }

    #[test]
    fn expansions_table() {
        let cases: &[(&str, &[&str])] = &[
            ("web", &["web"]),
            ("web[1-3]", &["web1", "web2", "web3"]),
            (
                "web[01-03].example.com",
                &[
                    "web01.example.com",
                    "web02.example.com",
                    "web03.example.com",
                ],
            ),
            ("node[1-3,9]", &["node1", "node2", "node3", "node9"]),
            ("node[1,5]", &["node1", "node5"]),
            (
                "rack[1-2]-n[1-3]",
                &[
                    "rack1-n1", "rack1-n2", "rack1-n3", "rack2-n1", "rack2-n2", "rack2-n3",
                ],
            ),
            ("www[01:05:2]", &["www01", "www03", "www05"]),
            ("www[1:3]", &["www1", "www2", "www3"]),
            ("db-[a:c]-node", &["db-a-node", "db-b-node", "db-c-node"]),
            ("x[a-c]", &["xa", "xb", "xc"]),
            ("[1-2]x", &["1x", "2x"]),
            ("h[:2]", &["h0", "h1", "h2"]),
            ("h[8-11]", &["h8", "h9", "h10", "h11"]),
            ("h[08-11]", &["h08", "h09", "h10", "h11"]),
            ("h[7-7]", &["h7"]),
            ("h[0-10:5]", &["h0", "h5", "h10"]),
        ];
        for (pattern, expected) in cases {
            assert_eq!(names(pattern), *expected, "{pattern}");
        }
    }

    #[test]
    fn errors_table() {
        let cases: &[(&str, &str)] = &[
            ("web[5-1]", "goes backwards"),
            ("n[1-10000000]", "more than the limit of 100000"),
            ("a[1-1000]b[1-1000]", "expands to 1000000 hosts"),
            ("web[1-", "without a matching"),
            ("web1]", "without a matching"),
            ("web[]", "empty item"),
            ("web[1-]", "has no end"),
            ("web[01-100]", "same width"),
            ("web[a-5]", "not a range"),
            ("web[1:5:0]", "not a positive number"),
            ("web[a-C]", "mixes upper and lower"),
            ("web[1[2]]", "nested"),
            ("w[99999999999999999999999-1]", "too large"),
        ];
        for (pattern, needle) in cases {
            match expand_range(pattern) {
                Ok(v) => panic!("{pattern}: expected an error, got {} names", v.len()),
                Err(e) => assert!(e.to_string().contains(needle), "{pattern}: {e}"),
            }
        }
    }

    #[test]
    fn limit_is_inclusive() {
        assert_eq!(names("n[1-100000]").len(), MAX_RANGE_HOSTS);
        assert!(expand_range("n[1-100001]").is_err());
    }
}
