//! YAML documents with structure — mappings and sequences nested as deep as a file needs —
//! for files richer than a definition (rollout plans). Scalars are typed as Psych's
//! `safe_load` types them, like the definitions' ([`crate::definitions::yaml`]); every node
//! keeps its line for error messages; aliases, tags and several documents are refused.

use crate::definitions::yaml::{resolve_plain, Value, YamlError};
use saphyr_parser::{Event, Parser, ScalarStyle, Span, SpannedEventReceiver};

/// A node and the line it starts on.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// What it is.
    pub kind: Kind,
    /// 1-based.
    pub line: usize,
}

/// The three kinds of node.
#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    /// A scalar, typed.
    Scalar(Value),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping of scalar keys, in file order, each with the line of its key.
    Map(Vec<(String, usize, Node)>),
}

impl Node {
    /// What the node is, in words, for "expected …, found …" messages.
    pub fn describe(&self) -> &'static str {
        match &self.kind {
            Kind::Scalar(v) => v.ruby_class(),
            Kind::Seq(_) => "a list",
            Kind::Map(_) => "a mapping",
        }
    }

    /// A string scalar's text; numbers and booleans as written (`15` for `wait: 15`).
    pub fn text(&self) -> Option<String> {
        match &self.kind {
            Kind::Scalar(Value::Str(s)) => Some(s.clone()),
            Kind::Scalar(Value::Int(i)) => Some(i.to_string()),
            Kind::Scalar(Value::Float(f)) => Some(f.to_string()),
            Kind::Scalar(Value::Bool(b)) => Some(b.to_string()),
            _ => None,
        }
    }
}

/// Parses one document.
pub fn parse(text: &str) -> Result<Node, YamlError> {
    let mut r = Receiver::default();
    let mut parser = Parser::new_from_str(text);
    if let Err(e) = parser.load(&mut r, false) {
        return Err(YamlError { line: e.marker().line(), message: e.info().to_string() });
    }
    if let Some(e) = r.error {
        return Err(e);
    }
    r.root.ok_or(YamlError { line: 1, message: "the file is empty".into() })
}

/// A collection being built: a sequence, or a mapping with perhaps a key waiting for its value.
enum Open {
    Seq(Node),
    Map(Node, Option<(String, usize)>),
}

#[derive(Default)]
struct Receiver {
    stack: Vec<Open>,
    root: Option<Node>,
    error: Option<YamlError>,
    documents: usize,
}

impl Receiver {
    fn fail(&mut self, line: usize, message: impl Into<String>) {
        if self.error.is_none() {
            self.error = Some(YamlError { line, message: message.into() });
        }
    }

    /// Places a finished node into the collection being built, or as the document.
    fn place(&mut self, node: Node) {
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Open::Seq(seq)) => {
                if let Kind::Seq(items) = &mut seq.kind {
                    items.push(node);
                }
            }
            Some(Open::Map(map, pending)) => match pending.take() {
                Some((key, line)) => {
                    if let Kind::Map(entries) = &mut map.kind {
                        if entries.iter().any(|(k, _, _)| *k == key) {
                            let message = format!("`{key}` is given twice");
                            self.fail(line, message);
                            return;
                        }
                        entries.push((key, line, node));
                    }
                }
                None => match &node.kind {
                    Kind::Scalar(_) => *pending = Some((node.text().unwrap_or_default(), node.line)),
                    _ => self.fail(node.line, "keys must be plain scalars"),
                },
            },
        }
    }
}

impl<'a> SpannedEventReceiver<'a> for Receiver {
    fn on_event(&mut self, ev: Event<'a>, span: Span) {
        let line = span.start.line();
        match ev {
            Event::DocumentStart(_) => {
                self.documents += 1;
                if self.documents > 1 {
                    self.fail(line, "only one YAML document is allowed per file");
                }
            }
            Event::Alias(_) => self.fail(line, "aliases are not allowed"),
            Event::SequenceStart(..) => self.stack.push(Open::Seq(Node { kind: Kind::Seq(Vec::new()), line })),
            Event::MappingStart(..) => self.stack.push(Open::Map(Node { kind: Kind::Map(Vec::new()), line }, None)),
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some(Open::Seq(node) | Open::Map(node, _)) = self.stack.pop() {
                    self.place(node);
                }
            }
            Event::Scalar(text, style, _anchor, tag) => {
                let value = match tag {
                    Some(tag) if tag.handle == "tag:yaml.org,2002:" && tag.suffix == "str" => {
                        Value::Str(text.to_string())
                    }
                    Some(tag) => return self.fail(line, format!("unsupported tag `{}{}`", tag.handle, tag.suffix)),
                    None if style == ScalarStyle::Plain => match resolve_plain(&text) {
                        Ok(v) => v,
                        Err(m) => return self.fail(line, m),
                    },
                    None => Value::Str(text.to_string()),
                };
                self.place(Node { kind: Kind::Scalar(value), line });
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_documents_keep_their_lines() {
        let doc = parse("---\nsteps:\n  - set: 50 --actors\n    wait: 15m\n  - set: true\nguards: []\n").unwrap();
        let Kind::Map(top) = &doc.kind else { panic!("{doc:?}") };
        assert_eq!(top.iter().map(|(k, l, _)| (k.as_str(), *l)).collect::<Vec<_>>(), [("steps", 2), ("guards", 6)]);
        let Kind::Seq(steps) = &top[0].2.kind else { panic!() };
        assert_eq!(steps.len(), 2);
        assert_eq!(steps[1].line, 5);
        let Kind::Map(first) = &steps[0].kind else { panic!() };
        assert_eq!(first[0].2.text().as_deref(), Some("50 --actors"));
        assert_eq!((first[1].0.as_str(), first[1].1), ("wait", 4));
        assert_eq!(parse("a: 1\na: 2\n").unwrap_err().line, 2);
        assert!(parse("a: &x 1\nb: *x\n").is_err());
        assert!(parse("").is_err());
        assert_eq!(parse("a: [1\n").unwrap_err().line, 2);
    }
}
