//! The group graph: `include:` names bound to groups, the cycle check, and the order in which
//! each group's settings levels apply (see the inheritance rule in the parent module).
//!
//! The walks use explicit stacks: generated inventories can nest groups thousands deep.

use super::raw::{Order, Raw};
use crate::inventory::error::{suggest, InventoryError, Loc};

/// Each group's `include:` targets (deduplicated) with where each was written.
pub(super) type Includes = Vec<Vec<(usize, Loc)>>;

/// Binds the `include:` names of every group to groups, taking them out of `raw`.
pub(super) fn resolve_includes(raw: &mut Raw) -> Result<Includes, InventoryError> {
    let mut includes: Includes = vec![Vec::new(); raw.groups.len()];
    for (g, group_includes) in includes.iter_mut().enumerate() {
        for (name, at) in std::mem::take(&mut raw.groups[g].includes) {
            let Some(&target) = raw.group_ix.get(&name) else {
                let hint = suggest(&name, raw.group_ix.keys().map(String::as_str));
                return Err(InventoryError::new(
                    at,
                    format!(
                        "group {:?} includes unknown group {name:?}",
                        raw.groups[g].name
                    ),
                )
                .with_hint(hint));
            };
            if !group_includes.iter().any(|(t, _)| *t == target) {
                group_includes.push((target, at));
            }
        }
    }
    Ok(includes)
}

/// The order settings levels apply in: every group ranked (shallowest first, ties as the
/// inventory format breaks them), and each group's chain of levels.
pub(super) struct LevelOrder {
    /// Rank of each group.
    position: Vec<usize>,
    /// Each group's ancestors and itself, in application order.
    chains: Vec<Option<Vec<usize>>>,
}

impl LevelOrder {
    pub fn new(raw: &Raw) -> Self {
        let n = raw.groups.len();
        // Depth along the settings tree (children only): the longest path from `all`.
        let mut parents: Vec<Vec<usize>> = vec![Vec::new(); n];
        for (g, grp) in raw.groups.iter().enumerate() {
            for &c in &grp.children {
                parents[c].push(g);
            }
        }
        let mut depth: Vec<Option<usize>> = vec![None; n];
        for g in 0..n {
            depth_of(g, &parents, &mut depth);
        }
        let depth: Vec<usize> = depth.into_iter().map(|d| d.unwrap_or(0)).collect();
        let sort_key = |g: usize| -> (usize, i64, String, usize) {
            match raw.order {
                Order::FileOrder => (depth[g], 0, String::new(), g),
                Order::AnsibleName => (
                    depth[g],
                    raw.groups[g].priority,
                    raw.groups[g].name.clone(),
                    g,
                ),
            }
        };
        let mut rank: Vec<usize> = (0..n).collect();
        rank.sort_by_cached_key(|&g| sort_key(g));
        let mut position = vec![0usize; n];
        for (i, &g) in rank.iter().enumerate() {
            position[g] = i;
        }
        let mut chains: Vec<Option<Vec<usize>>> = vec![None; n];
        for g in 0..n {
            chain_of(g, &parents, &position, &mut chains);
        }
        Self { position, chains }
    }

    /// The levels of a host listed directly in `groups`, in application order; `merged` is
    /// scratch space for hosts in several groups, reused across hosts.
    pub fn chain_for<'a>(&'a self, groups: &[usize], merged: &'a mut Vec<usize>) -> &'a [usize] {
        match groups {
            [] => &[0],
            [g] => self.chains[*g].as_deref().unwrap_or(&[0]),
            many => {
                merged.clear();
                for g in many {
                    merged.extend_from_slice(self.chains[*g].as_deref().unwrap_or(&[]));
                }
                merged.sort_by_key(|&g| self.position[g]);
                merged.dedup();
                merged
            }
        }
    }
}

fn depth_of(g: usize, parents: &[Vec<usize>], memo: &mut [Option<usize>]) -> usize {
    if let Some(d) = memo[g] {
        return d;
    }
    // Iterative over an explicit stack: trees can be deep.
    let mut stack = vec![(g, 0usize)];
    while let Some(&(x, i)) = stack.last() {
        if memo[x].is_some() {
            stack.pop();
            continue;
        }
        if x == 0 || parents[x].is_empty() {
            memo[x] = Some(usize::from(x != 0));
            stack.pop();
            continue;
        }
        if i < parents[x].len() {
            stack.last_mut().expect("stack is not empty").1 += 1;
            let p = parents[x][i];
            if memo[p].is_none() {
                stack.push((p, 0));
            }
        } else {
            let d = parents[x]
                .iter()
                .map(|&p| memo[p].unwrap_or(0) + 1)
                .max()
                .unwrap_or(1);
            memo[x] = Some(d);
            stack.pop();
        }
    }
    memo[g].unwrap_or(0)
}

fn chain_of(g: usize, parents: &[Vec<usize>], position: &[usize], memo: &mut [Option<Vec<usize>>]) {
    let mut stack = vec![g];
    while let Some(&x) = stack.last() {
        if memo[x].is_some() {
            stack.pop();
            continue;
        }
        let missing: Vec<usize> = parents[x]
            .iter()
            .copied()
            .filter(|&p| memo[p].is_none())
            .collect();
        if missing.is_empty() {
            let mut c: Vec<usize> = vec![0];
            for &p in &parents[x] {
                c.extend_from_slice(memo[p].as_deref().unwrap_or(&[]));
            }
            c.push(x);
            c.sort_by_key(|&y| position[y]);
            c.dedup();
            memo[x] = Some(c);
            stack.pop();
        } else {
            stack.extend(missing);
        }
    }
}

/// Edges of the group graph (children and includes) with where each was written.
type Edges = Vec<(usize, Option<Loc>)>;

/// No group may contain itself, through children or includes.
pub(super) fn check_cycles(
    raw: &Raw,
    includes: &[Vec<(usize, Loc)>],
) -> Result<(), InventoryError> {
    let n = raw.groups.len();
    let edges = |g: usize| -> Edges {
        let grp = &raw.groups[g];
        let mut e: Edges = grp
            .children
            .iter()
            .copied()
            .zip(grp.child_at.iter().cloned())
            .collect();
        e.extend(includes[g].iter().map(|(t, at)| (*t, Some(at.clone()))));
        e
    };
    // 0 = unvisited, 1 = on the path, 2 = done.
    let mut state = vec![0u8; n];
    for start in 0..n {
        if state[start] != 0 {
            continue;
        }
        let mut path: Vec<(usize, Edges, usize)> = vec![(start, edges(start), 0)];
        state[start] = 1;
        while let Some(top) = path.last_mut() {
            let (group, ref out_edges, ref mut next) = *top;
            if *next >= out_edges.len() {
                state[group] = 2;
                path.pop();
                continue;
            }
            let (t, at) = out_edges[*next].clone();
            *next += 1;
            match state[t] {
                0 => {
                    state[t] = 1;
                    let e = edges(t);
                    path.push((t, e, 0));
                }
                1 => {
                    let from = path.iter().position(|(x, _, _)| *x == t).unwrap_or(0);
                    let mut names: Vec<&str> = path[from..]
                        .iter()
                        .map(|(x, _, _)| raw.groups[*x].name.as_str())
                        .collect();
                    names.push(&raw.groups[t].name);
                    let at = at
                        .or_else(|| raw.groups[group].at.clone())
                        .unwrap_or_else(|| Loc::file_only(&raw.source));
                    let msg = if names.len() == 2 {
                        format!("group {:?} includes itself", raw.groups[t].name)
                    } else {
                        format!(
                            "group {:?} includes itself through {}",
                            raw.groups[t].name,
                            names.join(" -> ")
                        )
                    };
                    return Err(InventoryError::new(at, msg));
                }
                _ => {}
            }
        }
    }
    Ok(())
}
