//! Folding identical outputs: hosts that printed exactly the same bytes share one block, the
//! largest group first (like `clush -b` / `dshbak -c`). Outputs are hashed, so 2,000 hosts
//! fold in one pass.

use std::collections::HashMap;
use std::hash::Hash;

use super::hostset::natural_cmp;

/// Hosts that produced the same output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Folded {
    /// In natural order (`web2` before `web10`).
    pub hosts: Vec<String>,
    pub output: Vec<u8>,
}

/// Folds identical outputs. Groups are ordered largest first, ties by their first host in
/// natural order; the result does not depend on the input order.
pub fn fold(outputs: &[(String, Vec<u8>)]) -> Vec<Folded> {
    fold_by(outputs.iter().map(|(h, o)| (h.as_str(), o.as_slice())))
        .into_iter()
        .map(|(hosts, output)| Folded {
            hosts,
            output: output.to_vec(),
        })
        .collect()
}

/// Folds any hashable value per host (for example `(exit status, stdout, stderr)`), with the
/// ordering of [`fold`]. Returns `(hosts, value)` pairs.
pub fn fold_by<'a, K, I>(items: I) -> Vec<(Vec<String>, K)>
where
    K: Eq + Hash,
    I: IntoIterator<Item = (&'a str, K)>,
{
    let mut index: HashMap<K, usize> = HashMap::new();
    let mut groups: Vec<Vec<String>> = Vec::new();
    let mut keys: Vec<Option<K>> = Vec::new();
    for (host, key) in items {
        if let Some(&i) = index.get(&key) {
            groups[i].push(host.to_string());
        } else {
            index.insert(key, groups.len());
            groups.push(vec![host.to_string()]);
            keys.push(None);
        }
    }
    for (key, i) in index {
        keys[i] = Some(key);
    }
    let mut out: Vec<(Vec<String>, K)> = groups
        .into_iter()
        .zip(keys)
        .filter_map(|(mut hosts, key)| {
            hosts.sort_by(|a, b| natural_cmp(a, b));
            Some((hosts, key?))
        })
        .collect();
    out.sort_by(|a, b| {
        b.0.len()
            .cmp(&a.0.len())
            .then_with(|| natural_cmp(&a.0[0], &b.0[0]))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(host: &str, out: &str) -> (String, Vec<u8>) {
        (host.to_string(), out.as_bytes().to_vec())
    }

    #[test]
    fn folds_identical_largest_first() {
        let input = vec![
            o("web3", "b"),
            o("web10", "a"),
            o("web2", "a"),
            o("db1", "c"),
            o("web1", "a"),
            o("db2", "b"),
        ];
        let f = fold(&input);
        assert_eq!(f.len(), 3);
        assert_eq!(f[0].hosts, vec!["web1", "web2", "web10"]);
        assert_eq!(f[0].output, b"a");
        // Tie between {db2, web3} and {db1}? No: sizes 2 and 1.
        assert_eq!(f[1].hosts, vec!["db2", "web3"]);
        assert_eq!(f[2].hosts, vec!["db1"]);
    }

    #[test]
    fn ties_by_first_host_and_input_order_irrelevant() {
        let a = vec![o("b1", "x"), o("a1", "y"), o("c1", "z")];
        let mut b = a.clone();
        b.reverse();
        let fa = fold(&a);
        assert_eq!(fa, fold(&b));
        let firsts: Vec<&str> = fa.iter().map(|f| f.hosts[0].as_str()).collect();
        assert_eq!(firsts, vec!["a1", "b1", "c1"]);
    }

    #[test]
    fn empty_and_binary_outputs() {
        assert!(fold(&[]).is_empty());
        let input = vec![
            ("h1".into(), vec![0, 255, 27]),
            ("h2".into(), vec![]),
            ("h3".into(), vec![0, 255, 27]),
        ];
        let f = fold(&input);
        assert_eq!(f[0].hosts, vec!["h1", "h3"]);
        assert_eq!(f[0].output, vec![0, 255, 27]);
        assert_eq!(f[1].output, Vec::<u8>::new());
    }

    #[test]
    fn two_thousand_hosts_fast() {
        let input: Vec<(String, Vec<u8>)> = (0..2000)
            .map(|i| {
                (
                    format!("h{i:04}"),
                    format!("line\n{}\n", i % 7).repeat(50).into_bytes(),
                )
            })
            .collect();
        let t = std::time::Instant::now();
        let f = fold(&input);
        assert!(t.elapsed() < std::time::Duration::from_secs(1));
        assert_eq!(f.len(), 7);
        assert_eq!(f.iter().map(|g| g.hosts.len()).sum::<usize>(), 2000);
        assert_eq!(f[0].hosts.len(), 286);
        assert_eq!(f[0].hosts[0], "h0000");
    }

    #[test]
    fn fold_by_composite_key() {
        let f = fold_by([("a", (0, "x")), ("b", (1, "x")), ("c", (0, "x"))]);
        assert_eq!(
            f,
            vec![
                (vec!["a".to_string(), "c".to_string()], (0, "x")),
                (vec!["b".to_string()], (1, "x"))
            ]
        );
    }
}
