//! Compact host sets: `web01,web02,web03,db3` → `db3,web[01-03]`, the way ClusterShell's
//! NodeSet folds them. Names are grouped by the text around their LAST number; zero padding
//! is kept (`web[08-10]` means web08, web09, web10). The result is sorted and does not depend
//! on the order of the input, so it can head a gathered block or a summary line.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Longest digit run treated as a number (longer ones are kept as plain text).
const MAX_DIGITS: usize = 18;

/// Splits `name` around its last run of digits: `(prefix, digits, suffix)`.
fn split_last_number(name: &str) -> Option<(&str, &str, &str)> {
    let bytes = name.as_bytes();
    let end = bytes.iter().rposition(u8::is_ascii_digit)? + 1;
    let start = bytes[..end]
        .iter()
        .rposition(|b| !b.is_ascii_digit())
        .map_or(0, |p| p + 1);
    let digits = &name[start..end];
    (digits.len() <= MAX_DIGITS).then(|| (&name[..start], digits, &name[end..]))
}

/// One number of a group: its value and its zero-padding width (0 when not padded).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Num {
    value: u64,
    pad: usize,
}

impl Num {
    fn parse(digits: &str) -> Option<Num> {
        let value = digits.parse().ok()?;
        let pad = if digits.len() > 1 && digits.starts_with('0') {
            digits.len()
        } else {
            0
        };
        Some(Num { value, pad })
    }

    fn write(self, out: &mut String) {
        let _ = write!(out, "{:0width$}", self.value, width = self.pad);
    }
}

/// Folds host names into a compact, sorted host set such as `db3,web[01-12,14]`.
/// Duplicates are folded away; an empty input gives an empty string.
pub fn compact<S: AsRef<str>>(names: &[S]) -> String {
    // (prefix, suffix) -> numbers; names without a number stand alone.
    let mut groups: BTreeMap<(&str, &str), Vec<Num>> = BTreeMap::new();
    let mut singles: Vec<&str> = Vec::new();
    for name in names {
        let name = name.as_ref();
        match split_last_number(name).and_then(|(p, d, s)| Some(((p, s), Num::parse(d)?))) {
            Some((key, num)) => groups.entry(key).or_default().push(num),
            None => singles.push(name),
        }
    }
    // Each piece: (sort key, text).
    let mut pieces: Vec<(String, String)> = Vec::new();
    for s in singles {
        pieces.push((s.to_string(), s.to_string()));
    }
    for ((prefix, suffix), mut nums) in groups {
        nums.sort_unstable();
        nums.dedup();
        let mut text = String::from(prefix);
        if nums.len() == 1 {
            nums[0].write(&mut text);
        } else {
            text.push('[');
            write_ranges(&nums, &mut text);
            text.push(']');
        }
        text.push_str(suffix);
        // Sort by the first name the piece holds.
        let mut key = String::from(prefix);
        nums[0].write(&mut key);
        key.push_str(suffix);
        pieces.push((key, text));
    }
    pieces.sort_by(|a, b| natural_cmp(&a.0, &b.0).then_with(|| a.1.cmp(&b.1)));
    pieces.dedup();
    let mut out = String::new();
    for (i, (_, text)) in pieces.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(text);
    }
    out
}

/// Writes sorted, deduplicated numbers as `01-05,07` ranges. A range's padding is its start's; a
/// number joins it only if writing it with that padding gives back its own digits, so
/// expanding the result gives back exactly the names folded.
fn write_ranges(nums: &[Num], out: &mut String) {
    let mut ranges: Vec<(Num, Num)> = Vec::new();
    for &n in nums {
        let fits = |(start, end): &(Num, Num)| {
            end.value.checked_add(1) == Some(n.value)
                && (n.pad == start.pad || (n.pad == 0 && digit_count(n.value) >= start.pad))
        };
        match ranges.iter().rposition(fits) {
            Some(i) => ranges[i].1 = n,
            None => ranges.push((n, n)),
        }
    }
    ranges.sort_by_key(|(start, _)| (start.value, start.pad));
    for (i, (start, end)) in ranges.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        start.write(out);
        if end.value != start.value {
            out.push('-');
            // The end of a padded range is written with the same padding as its start.
            end.write(out);
        }
    }
}

/// Orders host names the way people read them: `web2` before `web10`.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    loop {
        match (a.first(), b.first()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let la = a.iter().take_while(|c| c.is_ascii_digit()).count();
                let lb = b.iter().take_while(|c| c.is_ascii_digit()).count();
                let (da, db) = (&a[..la], &b[..lb]);
                let ta = trim_zeros(da);
                let tb = trim_zeros(db);
                let ord = ta
                    .len()
                    .cmp(&tb.len())
                    .then_with(|| ta.cmp(tb))
                    .then_with(|| la.cmp(&lb));
                if ord != Ordering::Equal {
                    return ord;
                }
                a = &a[la..];
                b = &b[lb..];
            }
            (Some(x), Some(y)) => {
                if x != y {
                    return x.cmp(y);
                }
                a = &a[1..];
                b = &b[1..];
            }
        }
    }
}

fn digit_count(v: u64) -> usize {
    v.checked_ilog10().map_or(1, |d| d as usize + 1)
}

fn trim_zeros(d: &[u8]) -> &[u8] {
    let n = d.iter().take_while(|&&c| c == b'0').count();
    &d[n..]
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// Expands a compact set back (test helper; the inventory owns the real range syntax).
    fn expand(set: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut pieces = Vec::new();
        let mut depth = 0;
        let mut startp = 0;
        for (i, c) in set.char_indices() {
            match c {
                '[' => depth += 1,
                ']' => depth -= 1,
                ',' if depth == 0 => {
                    pieces.push(&set[startp..i]);
                    startp = i + 1;
                }
                _ => {}
            }
        }
        if !set.is_empty() {
            pieces.push(&set[startp..]);
        }
        for p in pieces {
            if let (Some(open), Some(close)) = (p.find('['), p.find(']')) {
                let (pre, inner, post) = (&p[..open], &p[open + 1..close], &p[close + 1..]);
                for r in inner.split(',') {
                    let (a, b) = r.split_once('-').unwrap_or((r, r));
                    let width = if a.len() > 1 && a.starts_with('0') {
                        a.len()
                    } else {
                        0
                    };
                    let (x, y): (u64, u64) = (a.parse().unwrap(), b.parse().unwrap());
                    for v in x..=y {
                        out.push(format!("{pre}{v:0width$}{post}"));
                    }
                }
            } else {
                out.push(p.to_string());
            }
        }
        out
    }

    #[test]
    fn folds_ranges_with_padding() {
        let names: Vec<String> = (1..=12)
            .map(|i| format!("web{i:02}"))
            .chain(["db3".into()])
            .collect();
        assert_eq!(compact(&names), "db3,web[01-12]");
        assert_eq!(
            compact(&["web01", "web02", "web03", "web05", "web07", "web08"]),
            "web[01-03,05,07-08]"
        );
        assert_eq!(compact(&["n9", "n10", "n11"]), "n[9-11]");
        assert_eq!(compact(&["n08", "n09", "n10"]), "n[08-10]");
        assert_eq!(compact(&["a1"]), "a1");
        assert_eq!(compact::<&str>(&[]), "");
    }

    #[test]
    fn groups_by_last_number_and_suffix() {
        assert_eq!(
            compact(&[
                "rack1-node1",
                "rack1-node2",
                "rack2-node1",
                "x1.example.com",
                "x2.example.com"
            ]),
            "rack1-node[1-2],rack2-node1,x[1-2].example.com"
        );
        assert_eq!(
            compact(&["localhost", "gateway", "web1"]),
            "gateway,localhost,web1"
        );
    }

    #[test]
    fn order_independent_and_dedup() {
        let a = compact(&["web3", "web1", "web2", "db1", "web1"]);
        let b = compact(&["db1", "web2", "web1", "web3"]);
        assert_eq!(a, "db1,web[1-3]");
        assert_eq!(a, b);
    }

    #[test]
    fn mixed_padding_is_not_merged_wrongly() {
        let set = compact(&["n1", "n01", "n2", "n02", "n3"]);
        let mut back = expand(&set);
        back.sort();
        assert_eq!(back, vec!["n01", "n02", "n1", "n2", "n3"], "set {set}");
    }

    #[test]
    fn natural_order() {
        let mut v = vec!["web10", "web2", "db1", "web1", "web02"];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(v, vec!["db1", "web1", "web2", "web02", "web10"]);
    }

    #[test]
    fn random_sets_round_trip() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let prefixes = ["web", "db", "node-", "r1n", "x", ""];
        let suffixes = ["", ".lan", "-a"];
        for _ in 0..2000 {
            let n = rng.gen_range(1..40);
            let names: Vec<String> = (0..n)
                .map(|_| {
                    let p = prefixes[rng.gen_range(0..prefixes.len())];
                    let s = suffixes[rng.gen_range(0..suffixes.len())];
                    let v: u32 = rng.gen_range(0..120);
                    match rng.gen_range(0..3) {
                        0 => format!("{p}{v}{s}"),
                        1 => format!("{p}{v:03}{s}"),
                        _ => format!("{p}{v:02}{s}"),
                    }
                })
                .collect();
            let set = compact(&names);
            let mut back = expand(&set);
            back.sort();
            let mut want = names.clone();
            want.sort();
            want.dedup();
            assert_eq!(back, want, "set {set}");
        }
    }

    #[test]
    fn two_thousand_hosts_fold_to_one_range() {
        let names: Vec<String> = (1..=2000).map(|i| format!("h{i:04}")).collect();
        assert_eq!(compact(&names), "h[0001-2000]");
    }
}
