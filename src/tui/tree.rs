//! The group tree on the left: which rows are visible, what is selected, where the cursor is.

use crate::inventory::{GroupId, HostId, Inventory};

/// One visible row of the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Row {
    Group { id: GroupId, depth: usize },
    Host { id: HostId, depth: usize },
}

/// A group's checkbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    None,
    Partial,
    All,
}

impl Check {
    pub fn symbol(self) -> &'static str {
        match self {
            Check::None => "[ ]",
            Check::Partial => "[-]",
            Check::All => "[x]",
        }
    }
}

/// Tree state: expansion, selection, filter, cursor.
#[derive(Debug, Clone, Default)]
pub struct Tree {
    pub expanded: Vec<bool>,
    pub selected: Vec<bool>,
    /// Index into [`Tree::rows`].
    pub cursor: usize,
    /// First row shown.
    pub offset: usize,
    /// Case-insensitive substring filter on names (`/`).
    pub filter: String,
    /// True while the filter is being typed.
    pub editing_filter: bool,
    /// Hosts under each group (descendants included), computed once.
    under: Vec<Vec<HostId>>,
    rows: Vec<Row>,
}

impl Tree {
    pub fn new(inv: &Inventory) -> Tree {
        let mut t = Tree {
            expanded: vec![false; inv.groups.len()],
            selected: vec![false; inv.hosts.len()],
            under: (0..inv.groups.len()).map(|g| inv.hosts_under(g)).collect(),
            ..Tree::default()
        };
        // Small inventories start fully expanded; large ones show their top-level groups open
        // when there are few of them.
        if inv.hosts.len() + inv.groups.len() <= 64 {
            t.expanded.iter_mut().for_each(|e| *e = true);
        } else if let Some(root) = inv.groups.first() {
            if root.children.len() <= 4 {
                for &c in &root.children {
                    t.expanded[c] = true;
                }
            }
        }
        t.rebuild(inv);
        t
    }

    pub fn rows(&self) -> &[Row] {
        &self.rows
    }

    pub fn hosts_under(&self, g: GroupId) -> &[HostId] {
        self.under.get(g).map_or(&[], Vec::as_slice)
    }

    pub fn selected_hosts(&self) -> Vec<HostId> {
        (0..self.selected.len())
            .filter(|&h| self.selected[h])
            .collect()
    }

    pub fn selected_count(&self) -> usize {
        self.selected.iter().filter(|s| **s).count()
    }

    pub fn check(&self, g: GroupId) -> Check {
        let hosts = self.hosts_under(g);
        let n = hosts.iter().filter(|&&h| self.selected[h]).count();
        if n == 0 {
            Check::None
        } else if n == hosts.len() {
            Check::All
        } else {
            Check::Partial
        }
    }

    pub fn selected_under(&self, g: GroupId) -> usize {
        self.hosts_under(g)
            .iter()
            .filter(|&&h| self.selected[h])
            .count()
    }

    /// Recomputes the visible rows, keeping the cursor on the same item when possible.
    pub fn rebuild(&mut self, inv: &Inventory) {
        let current = self.rows.get(self.cursor).copied();
        self.rows.clear();
        if let Some(root) = inv.groups.first() {
            let needle = self.filter.to_lowercase();
            let mut rows = Vec::new();
            for &c in &root.children {
                self.push_group(
                    inv,
                    c,
                    0,
                    &needle,
                    false,
                    &mut rows,
                    &mut vec![false; inv.groups.len()],
                );
            }
            for &h in &root.hosts {
                if needle.is_empty() || inv.hosts[h].name.to_lowercase().contains(&needle) {
                    rows.push(Row::Host { id: h, depth: 0 });
                }
            }
            self.rows = rows;
        }
        self.cursor = match current {
            Some(row) => self
                .rows
                .iter()
                .position(|r| same_item(*r, row))
                .unwrap_or(self.cursor.min(self.rows.len().saturating_sub(1))),
            None => 0,
        };
    }

    #[allow(clippy::too_many_arguments)]
    fn push_group(
        &self,
        inv: &Inventory,
        g: GroupId,
        depth: usize,
        needle: &str,
        ancestor_matches: bool,
        rows: &mut Vec<Row>,
        visiting: &mut Vec<bool>,
    ) {
        if visiting[g] {
            return;
        }
        let group = &inv.groups[g];
        let matches =
            ancestor_matches || needle.is_empty() || group.name.to_lowercase().contains(needle);
        if !matches && !self.subtree_matches(inv, g, needle) {
            return;
        }
        visiting[g] = true;
        rows.push(Row::Group { id: g, depth });
        let open = self.expanded[g] || !needle.is_empty();
        if open {
            // Groups pulled in by `include:` are rows too, after the children.
            for &c in group.children.iter().chain(&group.includes) {
                self.push_group(
                    inv,
                    c,
                    depth + 1,
                    needle,
                    matches && !needle.is_empty(),
                    rows,
                    visiting,
                );
            }
            for &h in &group.hosts {
                if matches
                    && (needle.is_empty()
                        || ancestor_matches
                        || group.name.to_lowercase().contains(needle))
                    || inv.hosts[h].name.to_lowercase().contains(needle)
                {
                    rows.push(Row::Host {
                        id: h,
                        depth: depth + 1,
                    });
                }
            }
        }
        visiting[g] = false;
    }

    fn subtree_matches(&self, inv: &Inventory, g: GroupId, needle: &str) -> bool {
        self.hosts_under(g)
            .iter()
            .any(|&h| inv.hosts[h].name.to_lowercase().contains(needle))
            || Self::groups_below(inv, g)
                .any(|c| inv.groups[c].name.to_lowercase().contains(needle))
    }

    fn groups_below(inv: &Inventory, g: GroupId) -> impl Iterator<Item = GroupId> + '_ {
        let grp = &inv.groups[g];
        let mut stack: Vec<GroupId> = grp.children.iter().chain(&grp.includes).copied().collect();
        let mut seen = vec![false; inv.groups.len()];
        std::iter::from_fn(move || {
            while let Some(c) = stack.pop() {
                if !seen[c] {
                    seen[c] = true;
                    let below = &inv.groups[c];
                    stack.extend(below.children.iter().chain(&below.includes).copied());
                    return Some(c);
                }
            }
            None
        })
    }

    pub fn move_by(&mut self, delta: isize) {
        if self.rows.is_empty() {
            return;
        }
        let last = self.rows.len() - 1;
        self.cursor = (self.cursor as isize + delta).clamp(0, last as isize) as usize;
    }

    pub fn move_to(&mut self, row: usize) {
        self.cursor = row.min(self.rows.len().saturating_sub(1));
    }

    /// Toggles the selection of the row under the cursor.
    pub fn toggle_cursor(&mut self) {
        match self.rows.get(self.cursor).copied() {
            Some(Row::Host { id, .. }) => self.selected[id] = !self.selected[id],
            Some(Row::Group { id, .. }) => {
                let value = self.check(id) != Check::All;
                for i in 0..self.hosts_under(id).len() {
                    let h = self.under[id][i];
                    self.selected[h] = value;
                }
            }
            None => {}
        }
    }

    /// Expands (`Some(true)`), collapses (`Some(false)`) or toggles the group under the cursor.
    /// On a host row, collapsing moves to its group.
    pub fn expand_cursor(&mut self, inv: &Inventory, open: Option<bool>) {
        match self.rows.get(self.cursor).copied() {
            Some(Row::Group { id, .. }) => {
                let value = open.unwrap_or(!self.expanded[id]);
                self.expanded[id] = value;
                self.rebuild(inv);
            }
            Some(Row::Host { depth, .. }) if open == Some(false) && depth > 0 => {
                // Jump to the parent group row.
                if let Some(p) = (0..self.cursor).rev().find(
                    |&i| matches!(self.rows[i], Row::Group { depth: d, .. } if d + 1 == depth),
                ) {
                    self.cursor = p;
                }
            }
            _ => {}
        }
    }

    pub fn set_selection(&mut self, hosts: &[HostId]) {
        self.selected.iter_mut().for_each(|s| *s = false);
        for &h in hosts {
            if let Some(s) = self.selected.get_mut(h) {
                *s = true;
            }
        }
    }

    /// Keeps the cursor within `height` rows from `offset`.
    pub fn scroll_into_view(&mut self, height: usize) {
        let height = height.max(1);
        if self.cursor < self.offset {
            self.offset = self.cursor;
        } else if self.cursor >= self.offset + height {
            self.offset = self.cursor + 1 - height;
        }
        let max_offset = self.rows.len().saturating_sub(height);
        self.offset = self.offset.min(max_offset);
    }
}

fn same_item(a: Row, b: Row) -> bool {
    match (a, b) {
        (Row::Group { id: x, .. }, Row::Group { id: y, .. })
        | (Row::Host { id: x, .. }, Row::Host { id: y, .. }) => x == y,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn included_groups_are_rows_of_the_including_group() {
        let text = "groups:\n  web: { hosts: { w1: ~ } }\n  staging:\n    include: [web]\n    hosts: { s1: ~ }\n";
        let opts = crate::inventory::LoadOptions::default();
        let inv = Inventory::load_str_with(std::path::Path::new("inv.yaml"), text, &opts)
            .expect("inventory");
        let mut tree = Tree::new(&inv);
        let web = inv.group_by_name("web").expect("web");
        let staging = inv.group_by_name("staging").expect("staging");
        let w1 = inv.host_by_name("w1").expect("w1");
        let i = tree
            .rows()
            .iter()
            .position(|r| {
                *r == Row::Group {
                    id: staging,
                    depth: 0,
                }
            })
            .expect("staging row");
        assert_eq!(tree.rows()[i + 1], Row::Group { id: web, depth: 1 });
        assert_eq!(tree.rows()[i + 2], Row::Host { id: w1, depth: 2 });
        // The filter finds an included group under its includer too.
        tree.filter = "web".to_string();
        tree.rebuild(&inv);
        assert!(tree.rows().contains(&Row::Group { id: web, depth: 1 }));
        assert!(tree.rows().contains(&Row::Group {
            id: staging,
            depth: 0
        }));
    }
}
