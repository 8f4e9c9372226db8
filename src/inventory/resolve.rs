//! The format-independent middle: groups and hosts as written (each setting with the place it
//! was written), then inheritance, `~/.ssh/config`, and the resolved [`Inventory`].
//!
//! Inheritance rule: a host's settings start from the built-in defaults, then every group the
//! host is in (directly or as a descendant) is applied from the shallowest to the deepest, so
//! the most specific group wins; groups at the same depth are applied in file order (fleetdeck
//! format: the later group in the file wins) or, for Ansible inventories, as Ansible does:
//! by `ansible_group_priority`, then by name. The host's own settings come last. Settings that
//! no inventory level gives are then taken from `~/.ssh/config` for the host's name, as OpenSSH
//! would take them behind command-line options.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::error::{suggest, InventoryError, Loc};
use super::sshconfig::SshConfig;
use super::{ConnSettings, Group, Host, Inventory};

/// A value with the place it was written.
#[derive(Debug, Clone)]
pub struct Val<T> {
    pub v: T,
    pub at: Loc,
}

/// Settings as written at one level (defaults, a group or a host).
#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub address: Option<Val<String>>,
    pub port: Option<Val<u16>>,
    pub user: Option<Val<String>>,
    pub identity: Option<Val<Vec<PathBuf>>>,
    pub jump: Option<Val<Vec<String>>>,
    pub connect_timeout: Option<Val<Duration>>,
    pub vars: Vec<(String, Val<String>)>,
}

impl Settings {
    /// Lays `later` over `self` (a host listed twice): later values win, except that one host
    /// name cannot have two different addresses.
    fn overlay(&mut self, name: &str, later: Settings) -> Result<(), InventoryError> {
        if let (Some(a), Some(b)) = (&self.address, &later.address) {
            if a.v != b.v {
                return Err(InventoryError::new(
                    b.at.clone(),
                    format!(
                        "host {name:?} is given a second address {:?}; it already has {:?} (at {})",
                        b.v, a.v, a.at
                    ),
                ));
            }
        }
        macro_rules! take {
            ($($f:ident),*) => { $( if later.$f.is_some() { self.$f = later.$f; } )* };
        }
        take!(address, port, user, identity, jump, connect_timeout);
        for (k, v) in later.vars {
            match self.vars.iter_mut().find(|(x, _)| *x == k) {
                Some(slot) => slot.1 = v,
                None => self.vars.push((k, v)),
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Default)]
pub struct RawGroup {
    pub name: String,
    pub at: Option<Loc>,
    pub settings: Settings,
    pub children: Vec<usize>,
    /// `include:` names with where they were written; resolved after the whole file is read.
    pub includes: Vec<(String, Loc)>,
    pub hosts: Vec<usize>,
    pub priority: i64,
    /// Where each child was attached, for cycle messages.
    pub child_at: Vec<Option<Loc>>,
}

#[derive(Debug, Clone)]
pub struct RawHost {
    pub name: String,
    pub settings: Settings,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// fleetdeck's format: at equal depth, the later group in the file wins.
    FileOrder,
    /// Ansible: at equal depth, by `ansible_group_priority` then by name.
    AnsibleName,
}

/// An inventory as written, before inheritance.
#[derive(Debug)]
pub struct Raw {
    pub source: PathBuf,
    pub file: Arc<Path>,
    pub groups: Vec<RawGroup>,
    pub hosts: Vec<RawHost>,
    pub group_ix: HashMap<String, usize>,
    pub host_ix: HashMap<String, usize>,
    pub known_hosts: Vec<PathBuf>,
    pub order: Order,
    /// Label of group 0's settings in provenance ("defaults" or "group all").
    pub root_label: String,
}

impl Raw {
    pub fn new(source: &Path, order: Order, root_label: &str) -> Self {
        let mut raw = Self {
            source: source.to_path_buf(),
            file: Arc::from(source),
            groups: Vec::new(),
            hosts: Vec::new(),
            group_ix: HashMap::new(),
            host_ix: HashMap::new(),
            known_hosts: Vec::new(),
            order,
            root_label: root_label.to_string(),
        };
        raw.group_ix.insert("all".to_string(), 0);
        raw.groups.push(RawGroup {
            name: "all".to_string(),
            ..RawGroup::default()
        });
        raw
    }

    /// The group of that name, created if new.
    pub fn group(&mut self, name: &str) -> usize {
        if let Some(&g) = self.group_ix.get(name) {
            return g;
        }
        let g = self.groups.len();
        self.groups.push(RawGroup {
            name: name.to_string(),
            ..RawGroup::default()
        });
        self.group_ix.insert(name.to_string(), g);
        g
    }

    pub fn add_child(&mut self, parent: usize, child: usize, at: Option<Loc>) {
        if !self.groups[parent].children.contains(&child) {
            self.groups[parent].children.push(child);
            self.groups[parent].child_at.push(at);
        }
    }

    /// Lists host `name` in `group`; the same name listed again is the same host.
    pub fn add_host(
        &mut self,
        group: usize,
        name: &str,
        settings: Settings,
    ) -> Result<usize, InventoryError> {
        let h = if let Some(&h) = self.host_ix.get(name) {
            self.hosts[h].settings.overlay(name, settings)?;
            h
        } else {
            let h = self.hosts.len();
            self.hosts.push(RawHost {
                name: name.to_string(),
                settings,
            });
            self.host_ix.insert(name.to_string(), h);
            h
        };
        if !self.groups[group].hosts.contains(&h) {
            self.groups[group].hosts.push(h);
        }
        Ok(h)
    }
}

/// Where one effective setting came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Origin {
    /// fleetdeck's built-in default.
    #[default]
    Default,
    /// The address defaulted to the host's name.
    HostName,
    /// Written at a level (index into [`Provenance::levels`]) at a line and column.
    At { level: u32, line: u32, col: u32 },
}

/// Origins of one host's effective settings.
#[derive(Debug, Clone, Default)]
pub struct HostOrigins {
    pub address: Origin,
    pub port: Origin,
    pub user: Origin,
    pub identity: Origin,
    pub jump: Origin,
    pub connect_timeout: Origin,
    pub vars: Vec<(String, Origin)>,
}

/// Where every effective setting of every host came from (for `inventory --host`).
#[derive(Debug, Clone, Default)]
pub struct Provenance {
    /// Label and file of each level: "defaults", "group prod", "host web01", "ssh_config".
    pub levels: Vec<(String, Arc<Path>)>,
    /// Parallel to [`Inventory::hosts`].
    pub hosts: Vec<HostOrigins>,
}

impl Provenance {
    pub fn describe(&self, o: Origin) -> String {
        match o {
            Origin::Default => "default".to_string(),
            Origin::HostName => "default (the host's name)".to_string(),
            Origin::At { level, line, col } => match self.levels.get(level as usize) {
                Some((label, file)) => format!("{label} ({}:{line}:{col})", file.display()),
                None => "unknown".to_string(),
            },
        }
    }
}

fn origin(level: usize, at: &Loc) -> Origin {
    Origin::At {
        level: level as u32,
        line: at.line as u32,
        col: at.col as u32,
    }
}

/// Applies one level's settings over the effective ones.
fn apply(
    s: &Settings,
    level: usize,
    conn: &mut ConnSettings,
    vars: &mut BTreeMap<String, String>,
    o: &mut HostOrigins,
    address_set: &mut bool,
) {
    if let Some(a) = &s.address {
        conn.address.clone_from(&a.v);
        o.address = origin(level, &a.at);
        *address_set = true;
    }
    if let Some(p) = &s.port {
        conn.port = p.v;
        o.port = origin(level, &p.at);
    }
    if let Some(u) = &s.user {
        conn.user.clone_from(&u.v);
        o.user = origin(level, &u.at);
    }
    if let Some(i) = &s.identity {
        conn.identity_files.clone_from(&i.v);
        o.identity = origin(level, &i.at);
    }
    if let Some(j) = &s.jump {
        conn.jump.clone_from(&j.v);
        o.jump = origin(level, &j.at);
    }
    if let Some(t) = &s.connect_timeout {
        conn.connect_timeout = t.v;
        o.connect_timeout = origin(level, &t.at);
    }
    for (k, v) in &s.vars {
        vars.insert(k.clone(), v.v.clone());
        match o.vars.iter_mut().find(|(x, _)| x == k) {
            Some(slot) => slot.1 = origin(level, &v.at),
            None => o.vars.push((k.clone(), origin(level, &v.at))),
        }
    }
}

/// Turns a raw inventory into the resolved one.
pub fn resolve(mut raw: Raw, ssh: Option<&SshConfig>) -> Result<Inventory, InventoryError> {
    let n = raw.groups.len();
    // 1. `include:` names → groups.
    let mut includes: Vec<Vec<(usize, Loc)>> = vec![Vec::new(); n];
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
    // 2. No group may contain itself, through children or includes.
    check_cycles(&raw, &includes)?;
    // 3. Depth along the settings tree (children only): the longest path from `all`.
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
    // 4. Each group's chain of settings levels (ancestors and itself), in application order.
    let mut chains: Vec<Option<Vec<usize>>> = vec![None; n];
    for g in 0..n {
        chain_of(g, &parents, &position, &mut chains);
    }

    // Provenance levels: groups, then hosts, then ssh_config files.
    let mut prov = Provenance::default();
    for (g, grp) in raw.groups.iter().enumerate() {
        let label = if g == 0 {
            raw.root_label.clone()
        } else {
            format!("group {}", grp.name)
        };
        prov.levels.push((label, Arc::clone(&raw.file)));
    }
    for h in &raw.hosts {
        prov.levels
            .push((format!("host {}", h.name), Arc::clone(&raw.file)));
    }
    let mut ssh_levels: HashMap<Arc<Path>, u32> = HashMap::new();

    // Direct groups of each host.
    let mut direct: Vec<Vec<usize>> = vec![Vec::new(); raw.hosts.len()];
    for (g, grp) in raw.groups.iter().enumerate() {
        for &h in &grp.hosts {
            direct[h].push(g);
        }
    }

    let mut hosts = Vec::with_capacity(raw.hosts.len());
    let mut merged: Vec<usize> = Vec::new();
    for (h, rh) in raw.hosts.iter().enumerate() {
        let groups = &direct[h];
        let chain: &[usize] = match groups.as_slice() {
            [] => &[0],
            [g] => chains[*g].as_deref().unwrap_or(&[0]),
            many => {
                merged.clear();
                for g in many {
                    merged.extend_from_slice(chains[*g].as_deref().unwrap_or(&[]));
                }
                merged.sort_by_key(|&g| position[g]);
                merged.dedup();
                &merged
            }
        };
        let mut conn = ConnSettings {
            address: String::new(),
            port: 22,
            user: String::new(),
            identity_files: Vec::new(),
            jump: Vec::new(),
            connect_timeout: Duration::from_secs(10),
        };
        let mut vars = BTreeMap::new();
        let mut o = HostOrigins::default();
        let mut address_set = false;
        for &g in chain {
            apply(
                &raw.groups[g].settings,
                g,
                &mut conn,
                &mut vars,
                &mut o,
                &mut address_set,
            );
        }
        apply(
            &rh.settings,
            n + h,
            &mut conn,
            &mut vars,
            &mut o,
            &mut address_set,
        );
        if let Some(cfg) = ssh {
            apply_ssh(
                cfg,
                &rh.name,
                &mut conn,
                &mut o,
                &mut address_set,
                &mut prov,
                &mut ssh_levels,
            );
        }
        if !address_set {
            conn.address.clone_from(&rh.name);
            o.address = Origin::HostName;
        }
        if o.user == Origin::Default {
            conn.user = super::default_user();
        }
        prov.hosts.push(o);
        hosts.push(Host {
            name: rh.name.clone(),
            conn,
            vars,
            groups: groups.clone(),
        });
    }

    let groups = raw
        .groups
        .into_iter()
        .zip(includes)
        .map(|(g, inc)| Group {
            name: g.name,
            children: g.children,
            includes: inc.into_iter().map(|(t, _)| t).collect(),
            hosts: g.hosts,
        })
        .collect();
    Ok(Inventory {
        source: raw.source,
        groups,
        hosts,
        known_hosts: raw.known_hosts,
        provenance: prov,
    })
}

fn apply_ssh(
    cfg: &SshConfig,
    name: &str,
    conn: &mut ConnSettings,
    o: &mut HostOrigins,
    address_set: &mut bool,
    prov: &mut Provenance,
    ssh_levels: &mut HashMap<Arc<Path>, u32>,
) {
    let found = cfg.lookup(name);
    let mut level = |at: &Loc| -> Origin {
        let id = *ssh_levels.entry(Arc::clone(&at.file)).or_insert_with(|| {
            prov.levels
                .push(("ssh_config".to_string(), Arc::clone(&at.file)));
            (prov.levels.len() - 1) as u32
        });
        Origin::At {
            level: id,
            line: at.line as u32,
            col: at.col as u32,
        }
    };
    if !*address_set {
        if let Some(v) = found.hostname {
            conn.address = v.v;
            o.address = level(&v.at);
            *address_set = true;
        }
    }
    if o.port == Origin::Default {
        if let Some(v) = found.port {
            conn.port = v.v;
            o.port = level(&v.at);
        }
    }
    if o.user == Origin::Default {
        if let Some(v) = found.user {
            conn.user = v.v;
            o.user = level(&v.at);
        }
    }
    if o.jump == Origin::Default {
        if let Some(v) = found.jump {
            conn.jump = v.v;
            o.jump = level(&v.at);
        }
    }
    if o.connect_timeout == Origin::Default {
        if let Some(v) = found.connect_timeout {
            conn.connect_timeout = v.v;
            o.connect_timeout = level(&v.at);
        }
    }
    // OpenSSH tries `-i` files first, then every IdentityFile of every matching block.
    let mut first_ssh = None;
    for v in found.identity_files {
        if !conn.identity_files.contains(&v.v) {
            conn.identity_files.push(v.v);
            first_ssh.get_or_insert(v.at);
        }
    }
    if o.identity == Origin::Default {
        if let Some(at) = first_ssh {
            o.identity = level(&at);
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

fn check_cycles(raw: &Raw, includes: &[Vec<(usize, Loc)>]) -> Result<(), InventoryError> {
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
