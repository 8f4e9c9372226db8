//! A YAML tree that remembers where every key and value was written, so that every error can
//! name a line and column. Built from yaml-rust2's marked events; anchors, aliases and merge
//! keys (`<<`) are resolved here.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use super::error::{InventoryError, Loc};

#[derive(Debug, Clone)]
pub enum Kind {
    /// Text of a scalar and whether it was written plain (unquoted), which decides if it can
    /// be `null`.
    Scalar {
        text: String,
        plain: bool,
    },
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

#[derive(Debug, Clone)]
pub struct Node {
    pub kind: Kind,
    pub line: usize,
    pub col: usize,
}

impl Node {
    pub fn is_null(&self) -> bool {
        matches!(&self.kind, Kind::Scalar { text, plain: true }
            if matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            Kind::Scalar { text, .. } if !self.is_null() => Some(text),
            _ => None,
        }
    }

    pub fn loc(&self, file: &Arc<Path>) -> Loc {
        Loc::new(file, self.line, self.col)
    }

    /// What the node is, for messages.
    pub fn describe(&self) -> String {
        match &self.kind {
            _ if self.is_null() => "nothing (null)".to_string(),
            Kind::Scalar { text, .. } => format!("{text:?}"),
            Kind::Seq(_) => "a list".to_string(),
            Kind::Map(_) => "a mapping".to_string(),
        }
    }

    /// The value rendered as text: scalars as written, lists and mappings as compact JSON.
    pub fn to_text(&self) -> String {
        match &self.kind {
            Kind::Scalar { text, .. } => {
                if self.is_null() {
                    String::new()
                } else {
                    text.clone()
                }
            }
            _ => self.to_json().to_string(),
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match &self.kind {
            Kind::Scalar { text, plain } => {
                if self.is_null() {
                    Value::Null
                } else if *plain {
                    if let Ok(i) = text.parse::<i64>() {
                        Value::from(i)
                    } else if let Ok(f) = text.parse::<f64>() {
                        Value::from(f)
                    } else if matches!(text.as_str(), "true" | "True" | "TRUE") {
                        Value::Bool(true)
                    } else if matches!(text.as_str(), "false" | "False" | "FALSE") {
                        Value::Bool(false)
                    } else {
                        Value::String(text.clone())
                    }
                } else {
                    Value::String(text.clone())
                }
            }
            Kind::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            Kind::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.to_text(), v.to_json()))
                    .collect(),
            ),
        }
    }
}

enum Frame {
    Seq(Vec<Node>, Marker, usize),
    Map(Vec<(Node, Node)>, Option<Node>, Marker, usize),
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    anchors: HashMap<usize, Node>,
    root: Option<Node>,
    /// First structural problem found (duplicate key, bad merge); reported after parsing.
    problem: Option<(String, usize, usize)>,
}

fn node(kind: Kind, m: Marker) -> Node {
    Node {
        kind,
        line: m.line(),
        col: m.col() + 1,
    }
}

impl Builder {
    fn push_value(&mut self, n: Node, anchor: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, n.clone());
        }
        match self.stack.last_mut() {
            None => {
                if self.root.is_none() {
                    self.root = Some(n);
                }
            }
            Some(Frame::Seq(items, _, _)) => items.push(n),
            Some(Frame::Map(entries, key, _, _)) => match key.take() {
                None => *key = Some(n),
                Some(k) => entries.push((k, n)),
            },
        }
    }

    fn finish_map(&mut self, entries: Vec<(Node, Node)>) -> Vec<(Node, Node)> {
        let mut own: Vec<(Node, Node)> = Vec::with_capacity(entries.len());
        let mut merged: Vec<(Node, Node)> = Vec::new();
        for (k, v) in entries {
            let is_merge = matches!(&k.kind, Kind::Scalar { text, plain: true } if text == "<<");
            if is_merge {
                let sources = match v.kind {
                    Kind::Map(m) => vec![m],
                    Kind::Seq(items) => items
                        .into_iter()
                        .filter_map(|i| match i.kind {
                            Kind::Map(m) => Some(m),
                            _ => None,
                        })
                        .collect(),
                    Kind::Scalar { .. } => {
                        self.note("a merge key \"<<\" needs a mapping".into(), &k);
                        Vec::new()
                    }
                };
                for m in sources {
                    for (mk, mv) in m {
                        if !merged.iter().any(|(x, _)| same_key(x, &mk)) {
                            merged.push((mk, mv));
                        }
                    }
                }
                continue;
            }
            if let Some((first, _)) = own.iter().find(|(x, _)| same_key(x, &k)) {
                let msg = format!(
                    "duplicate key {:?} (first at line {})",
                    k.to_text(),
                    first.line
                );
                self.note(msg, &k);
            }
            own.push((k, v));
        }
        for (mk, mv) in merged {
            if !own.iter().any(|(x, _)| same_key(x, &mk)) {
                own.push((mk, mv));
            }
        }
        own
    }

    fn note(&mut self, msg: String, at: &Node) {
        if self.problem.is_none() {
            self.problem = Some((msg, at.line, at.col));
        }
    }
}

fn same_key(a: &Node, b: &Node) -> bool {
    match (&a.kind, &b.kind) {
        (Kind::Scalar { text: x, .. }, Kind::Scalar { text: y, .. }) => x == y,
        _ => false,
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        match ev {
            Event::Scalar(text, style, anchor, _tag) => {
                let plain = style == TScalarStyle::Plain;
                self.push_value(node(Kind::Scalar { text, plain }, mark), anchor);
            }
            Event::SequenceStart(anchor, _) => {
                self.stack.push(Frame::Seq(Vec::new(), mark, anchor));
            }
            Event::MappingStart(anchor, _) => {
                self.stack.push(Frame::Map(Vec::new(), None, mark, anchor));
            }
            Event::SequenceEnd => {
                if let Some(Frame::Seq(items, m, anchor)) = self.stack.pop() {
                    self.push_value(node(Kind::Seq(items), m), anchor);
                }
            }
            Event::MappingEnd => {
                if let Some(Frame::Map(entries, _, m, anchor)) = self.stack.pop() {
                    let entries = self.finish_map(entries);
                    self.push_value(node(Kind::Map(entries), m), anchor);
                }
            }
            Event::Alias(id) => {
                let n = match self.anchors.get(&id) {
                    Some(n) => n.clone(),
                    None => node(
                        Kind::Scalar {
                            text: String::new(),
                            plain: true,
                        },
                        mark,
                    ),
                };
                self.push_value(n, 0);
            }
            _ => {}
        }
    }
}

/// Parses the first document of `text`. An empty document is `None`.
pub fn parse(text: &str, file: &Arc<Path>) -> Result<Option<Node>, InventoryError> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    if let Err(e) = parser.load(&mut builder, false) {
        let m = e.marker();
        let line = m.line().max(1);
        let near: String = text
            .lines()
            .nth(line - 1)
            .unwrap_or("")
            .trim()
            .chars()
            .take(60)
            .collect();
        let near = if near.is_empty() {
            String::new()
        } else {
            format!(" near {near:?}")
        };
        return Err(InventoryError::new(
            Loc::new(file, line, m.col() + 1),
            format!("not valid YAML: {}{near}", e.info()),
        ));
    }
    if let Some((msg, line, col)) = builder.problem {
        return Err(InventoryError::new(Loc::new(file, line, col), msg));
    }
    Ok(builder.root)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file() -> Arc<Path> {
        Arc::from(Path::new("t.yaml"))
    }

    #[test]
    fn positions_are_one_based() {
        let n = parse("a:\n  b: 5\n", &file()).unwrap().unwrap();
        let Kind::Map(e) = &n.kind else { panic!() };
        assert_eq!((e[0].0.line, e[0].0.col), (1, 1));
        let Kind::Map(inner) = &e[0].1.kind else {
            panic!()
        };
        assert_eq!((inner[0].0.line, inner[0].0.col), (2, 3));
        assert_eq!((inner[0].1.line, inner[0].1.col), (2, 6));
    }

    #[test]
    fn anchors_aliases_and_merge_keys() {
        let text = "base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  y: 3\ncopy: *b\n";
        let n = parse(text, &file()).unwrap().unwrap();
        let j = n.to_json();
        assert_eq!(j["other"]["x"], 1);
        assert_eq!(j["other"]["y"], 3);
        assert_eq!(j["copy"]["y"], 2);
    }

    #[test]
    fn duplicate_keys_and_syntax_errors() {
        let e = parse("a: 1\na: 2\n", &file()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "t.yaml:2:1: duplicate key \"a\" (first at line 1)"
        );
        let e = parse("a: [1, 2\n", &file()).unwrap_err();
        assert!(e.to_string().starts_with("t.yaml:2:"), "{e}");
        assert!(e.to_string().contains("not valid YAML"), "{e}");
    }
}
