//! Keeps the architecture as ARCHITECTURE.md draws it: reads `src/` and fails on a cycle
//! between top-level modules, on an import across the layers ARCHITECTURE.md allows, on a
//! source file over 500 lines outside its tests, and on a function over 80 lines.
//!
//! The allowed imports are read from ARCHITECTURE.md itself (the block between the
//! `layers:begin` and `layers:end` markers), so the document and the check cannot drift apart.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use syn::visit::Visit;

/// Lines a source file may have outside its `#[cfg(test)]` items.
const MAX_FILE_LINES: usize = 500;
/// Lines a function may have, from its signature to its closing brace.
const MAX_FN_LINES: usize = 80;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file under `src/`, sorted.
fn sources() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in fs::read_dir(dir).expect("read src") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(&root().join("src"), &mut out);
    out.sort();
    out
}

/// The top-level module a file belongs to (`src/engine/worker.rs` → `engine`,
/// `src/paths.rs` → `paths`); `None` for the crate roots.
fn top_module(path: &Path) -> Option<String> {
    let rel = path.strip_prefix(root().join("src")).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (!matches!(name, "lib" | "main")).then(|| name.to_string())
}

fn parse(path: &Path) -> (String, syn::File) {
    let text = fs::read_to_string(path).expect("read source");
    let file = syn::parse_file(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (text, file)
}

fn is_cfg_test(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("cfg")
            && a.parse_args::<syn::Meta>()
                .is_ok_and(|m| m.path().is_ident("test"))
    })
}

/// Collects, outside `#[cfg(test)]` items: the top-level modules named by `crate::…` paths,
/// and every function's line span.
#[derive(Default)]
struct Scan {
    imports: BTreeSet<String>,
    /// (first line, last line, name)
    fns: Vec<(usize, usize, String)>,
    test_lines: usize,
}

impl Scan {
    fn add_fn(&mut self, sig: &syn::Signature, block: &syn::Block) {
        let start = sig.fn_token.span.start().line;
        let end = block.brace_token.span.close().end().line;
        self.fns.push((start, end, sig.ident.to_string()));
    }
    fn use_tree(&mut self, tree: &syn::UseTree, at_crate: bool) {
        match tree {
            syn::UseTree::Path(p) if !at_crate => self.use_tree(&p.tree, p.ident == "crate"),
            syn::UseTree::Path(p) => {
                self.imports.insert(p.ident.to_string());
            }
            syn::UseTree::Name(n) if at_crate => {
                self.imports.insert(n.ident.to_string());
            }
            syn::UseTree::Rename(r) if at_crate => {
                self.imports.insert(r.ident.to_string());
            }
            syn::UseTree::Group(g) => {
                for t in &g.items {
                    self.use_tree(t, at_crate);
                }
            }
            _ => {}
        }
    }
}

impl<'ast> Visit<'ast> for Scan {
    fn visit_item(&mut self, item: &'ast syn::Item) {
        let attrs: &[syn::Attribute] = match item {
            syn::Item::Mod(m) => &m.attrs,
            syn::Item::Fn(f) => &f.attrs,
            syn::Item::Impl(i) => &i.attrs,
            syn::Item::Use(u) => &u.attrs,
            syn::Item::Struct(s) => &s.attrs,
            syn::Item::Enum(e) => &e.attrs,
            syn::Item::Const(c) => &c.attrs,
            syn::Item::Static(s) => &s.attrs,
            _ => &[],
        };
        if is_cfg_test(attrs) {
            if let syn::Item::Mod(m) = item {
                if let Some((brace, _)) = &m.content {
                    let first = m.mod_token.span.start().line;
                    self.test_lines += brace.span.close().end().line - first + 1;
                }
            }
            return;
        }
        if let syn::Item::Use(u) = item {
            self.use_tree(&u.tree, false);
        }
        syn::visit::visit_item(self, item);
    }
    fn visit_item_fn(&mut self, f: &'ast syn::ItemFn) {
        self.add_fn(&f.sig, &f.block);
        syn::visit::visit_item_fn(self, f);
    }
    fn visit_impl_item_fn(&mut self, f: &'ast syn::ImplItemFn) {
        if !is_cfg_test(&f.attrs) {
            self.add_fn(&f.sig, &f.block);
            syn::visit::visit_impl_item_fn(self, f);
        }
    }
    fn visit_trait_item_fn(&mut self, f: &'ast syn::TraitItemFn) {
        if let Some(block) = &f.default {
            self.add_fn(&f.sig, block);
        }
        syn::visit::visit_trait_item_fn(self, f);
    }
    fn visit_path(&mut self, p: &'ast syn::Path) {
        let mut segs = p.segments.iter();
        if segs.next().is_some_and(|s| s.ident == "crate") {
            if let Some(next) = segs.next() {
                self.imports.insert(next.ident.to_string());
            }
        }
        syn::visit::visit_path(self, p);
    }
}

fn scan(path: &Path) -> (usize, Scan) {
    let (text, file) = parse(path);
    let mut s = Scan::default();
    s.visit_file(&file);
    (text.lines().count(), s)
}

/// `module -> modules it may import`, from ARCHITECTURE.md's layers block.
fn allowed_layers() -> BTreeMap<String, BTreeSet<String>> {
    let doc = fs::read_to_string(root().join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let start = doc
        .find("layers:begin")
        .expect("ARCHITECTURE.md has a layers:begin marker");
    let end = doc
        .find("layers:end")
        .expect("ARCHITECTURE.md has a layers:end marker");
    let mut out = BTreeMap::new();
    for line in doc[start..end].lines().skip(1) {
        let Some((module, deps)) = line.split_once("->") else {
            continue;
        };
        let deps = deps
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|d| !d.is_empty() && *d != "(nothing)")
            .map(str::to_string)
            .collect();
        out.insert(module.trim().to_string(), deps);
    }
    assert!(
        !out.is_empty(),
        "the layers block of ARCHITECTURE.md is empty"
    );
    out
}

/// The import graph between top-level modules: `module -> {module: first file importing it}`.
fn import_graph() -> BTreeMap<String, BTreeMap<String, String>> {
    let mut graph: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for path in sources() {
        let Some(module) = top_module(&path) else {
            continue;
        };
        let (_, s) = scan(&path);
        let rel = path
            .strip_prefix(root())
            .unwrap_or(&path)
            .display()
            .to_string();
        let entry = graph.entry(module.clone()).or_default();
        for import in s.imports {
            if import != module {
                entry.entry(import).or_insert_with(|| rel.clone());
            }
        }
    }
    graph
}

#[test]
fn no_cycle_between_top_level_modules() {
    let graph = import_graph();
    // Depth-first search; a back edge is a cycle, reported with its path.
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeMap<String, String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
        cycles: &mut Vec<String>,
    ) {
        if let Some(at) = stack.iter().position(|n| n == node) {
            let mut cycle = stack[at..].to_vec();
            cycle.push(node.to_string());
            cycles.push(cycle.join(" -> "));
            return;
        }
        if !done.insert(node.to_string()) {
            return;
        }
        stack.push(node.to_string());
        for next in graph.get(node).into_iter().flat_map(|m| m.keys()) {
            visit(next, graph, stack, done, cycles);
        }
        stack.pop();
    }
    let mut cycles = Vec::new();
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        visit(node, &graph, &mut Vec::new(), &mut done, &mut cycles);
    }
    assert!(cycles.is_empty(), "module cycles: {cycles:#?}");
}

#[test]
fn imports_follow_the_layers_of_architecture_md() {
    let layers = allowed_layers();
    let graph = import_graph();
    let mut wrong = Vec::new();
    for (module, imports) in &graph {
        let Some(allowed) = layers.get(module) else {
            wrong.push(format!(
                "module {module} is not in ARCHITECTURE.md's layers block"
            ));
            continue;
        };
        for (import, file) in imports {
            if !allowed.contains(import) {
                wrong.push(format!("{file}: {module} imports {import}"));
            }
        }
    }
    assert!(wrong.is_empty(), "imports across the layers: {wrong:#?}");
}

#[test]
fn the_layers_block_is_itself_acyclic() {
    // A layer may only name modules above it in the block, so the rule cannot allow a cycle.
    let doc = fs::read_to_string(root().join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let layers = allowed_layers();
    let order: Vec<&String> = {
        let mut v: Vec<(usize, &String)> = layers
            .keys()
            .map(|m| (doc.find(&format!("\n{m} ")).unwrap_or(usize::MAX), m))
            .collect();
        v.sort();
        v.into_iter().map(|(_, m)| m).collect()
    };
    for (i, module) in order.iter().enumerate() {
        for dep in &layers[*module] {
            assert!(
                order[..i].contains(&dep),
                "ARCHITECTURE.md layers: {module} may import {dep}, which is not above it"
            );
        }
    }
}

#[test]
fn source_files_are_at_most_500_lines_outside_tests() {
    let mut big = Vec::new();
    for path in sources() {
        let (lines, s) = scan(&path);
        let code = lines.saturating_sub(s.test_lines);
        if code > MAX_FILE_LINES {
            big.push(format!("{}: {code} lines", path.display()));
        }
    }
    assert!(
        big.is_empty(),
        "files over {MAX_FILE_LINES} non-test lines (split them along their seams): {big:#?}"
    );
}

#[test]
fn functions_are_at_most_80_lines() {
    let mut long = Vec::new();
    for path in sources() {
        let (_, s) = scan(&path);
        for (start, end, name) in s.fns {
            let n = end - start + 1;
            if n > MAX_FN_LINES {
                long.push(format!("{}:{start} {name}: {n} lines", path.display()));
            }
        }
    }
    assert!(
        long.is_empty(),
        "functions over {MAX_FN_LINES} lines: {long:#?}"
    );
}

#[test]
fn the_scanner_sees_what_it_checks() {
    // Guards against a check that passes because it reads nothing.
    let graph = import_graph();
    assert!(graph["engine"].contains_key("ssh"), "engine imports ssh");
    assert!(graph["tui"].contains_key("engine"), "tui imports engine");
    let (_, s) = scan(&root().join("src/util.rs"));
    assert!(s.fns.iter().any(|(_, _, n)| n == "lock"));
    assert!(s.test_lines > 10, "util.rs has tests");
}
