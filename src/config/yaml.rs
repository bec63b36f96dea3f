//! `config.yml` read as the registry's YAML decoder (`gopkg.in/yaml.v2`)
//! reads it: a key given twice in one mapping is not an error. The last
//! value wins, except in the sections the registry decodes into a Go struct
//! or into a map it already holds (`log`, `log.fields`), where the second
//! mapping is merged into the first. Every value a later one replaced is kept
//! so that the caller can refuse what the registry refuses while decoding it
//! (an invalid log level, two storage drivers), as the registry does.

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_yaml::value::{Tag, TaggedValue};
use serde_yaml::{Mapping, Value};
use std::cell::RefCell;
use std::fmt;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// Sections whose duplicates merge instead of replacing (Go structs, and
/// maps the decoder reuses).
const MERGED: [&str; 2] = ["log", "log.fields"];

/// A key given more than once in one mapping.
#[derive(Debug, PartialEq)]
pub(crate) struct Duplicate {
    /// Dotted path of the key (`storage.filesystem.rootdirectory`).
    pub(crate) key: String,
    /// 1-based line of the repeated (winning) occurrence, when found.
    pub(crate) line: Option<usize>,
}

/// A parsed configuration document.
#[derive(Debug)]
pub(crate) struct Parsed {
    /// The document, last values winning.
    pub(crate) doc: Value,
    /// Keys repeated in one mapping, in document order.
    pub(crate) duplicates: Vec<Duplicate>,
    /// Every value a later one replaced, with its dotted path.
    pub(crate) replaced: Vec<(String, Value)>,
}

/// Parses `text`. `version` is kept as the text written (`0.10` is not `0.1`).
pub(crate) fn parse(text: &str) -> Result<Parsed, serde_yaml::Error> {
    let state = State::default();
    let de = serde_yaml::Deserializer::from_str(text);
    let doc = Node {
        path: String::new(),
        state: &state,
    }
    .deserialize(de)?;
    let State { repeated, replaced } = state;
    let repeated = repeated.into_inner();
    let mut lines = if repeated.is_empty() {
        Vec::new()
    } else {
        repeated_key_lines(text)
    };
    let duplicates = repeated
        .into_iter()
        .map(|key| {
            let line = lines
                .iter()
                .position(|(k, _)| *k == key)
                .map(|i| lines.remove(i).1);
            Duplicate { key, line }
        })
        .collect();
    Ok(Parsed {
        doc,
        duplicates,
        replaced: replaced.into_inner(),
    })
}

#[derive(Default)]
struct State {
    repeated: RefCell<Vec<String>>,
    replaced: RefCell<Vec<(String, Value)>>,
}

impl State {
    /// Puts `new` in place of `old` at `path`: merged into it for the
    /// sections in [`MERGED`], replacing it elsewhere.
    fn overwrite(&self, path: &str, old: &mut Value, new: Value) {
        match (MERGED.contains(&path), old, new) {
            (true, Value::Mapping(old), Value::Mapping(new)) => {
                for (k, v) in new {
                    let inner = format!("{path}.{}", key_text(&k));
                    match old.get_mut(&k) {
                        Some(prev) => self.overwrite(&inner, prev, v),
                        None => {
                            old.insert(k, v);
                        }
                    }
                }
            }
            (_, old, new) => {
                let prev = std::mem::replace(old, new);
                self.replaced.borrow_mut().push((path.to_string(), prev));
            }
        }
    }
}

/// Deserializes one node at `path`.
struct Node<'s> {
    path: String,
    state: &'s State,
}

impl Node<'_> {
    fn child(&self, key: &str) -> Node<'_> {
        let path = if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        };
        Node {
            path,
            state: self.state,
        }
    }
}

impl<'de> DeserializeSeed<'de> for Node<'_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        if self.path == "version" {
            return Ok(Option::<String>::deserialize(d)?.map_or(Value::Null, Value::String));
        }
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        self.deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(v) = seq.next_element_seed(self.child(&items.len().to_string()))? {
            items.push(v);
        }
        Ok(Value::Sequence(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Mapping::new();
        while let Some(key) = map.next_key::<Value>()? {
            let name = key_text(&key);
            let node = self.child(&name);
            let path = node.path.clone();
            let value = map.next_value_seed(node)?;
            let Some(old) = out.get_mut(&key) else {
                out.insert(key, value);
                continue;
            };
            self.state.repeated.borrow_mut().push(path.clone());
            self.state.overwrite(&path, old, value);
        }
        Ok(Value::Mapping(out))
    }
    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<Value, A::Error> {
        let (tag, variant) = data.variant::<String>()?;
        let value = de::VariantAccess::newtype_variant_seed(variant, self)?;
        Ok(Value::Tagged(Box::new(TaggedValue {
            tag: Tag::new(tag),
            value,
        })))
    }
}

/// A mapping key as a path component.
fn key_text(key: &Value) -> String {
    match key {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".into(),
        _ => "?".into(),
    }
}

/// The dotted path and 1-based line of every repeated scalar key, in
/// document order. Only asked for when the document has duplicates, so a
/// document this second parser cannot read just gives no line numbers.
fn repeated_key_lines(text: &str) -> Vec<(String, usize)> {
    let mut scan = Scan::default();
    if Parser::new_from_str(text).load(&mut scan, false).is_err() {
        return Vec::new();
    }
    scan.found
}

enum Frame {
    Map {
        path: String,
        keys: Vec<String>,
        /// The key whose value comes next, or `None` when a key comes next.
        key: Option<String>,
    },
    Seq {
        path: String,
        index: usize,
    },
}

#[derive(Default)]
struct Scan {
    stack: Vec<Frame>,
    found: Vec<(String, usize)>,
}

impl Scan {
    /// Path of the node that starts now, and moves its parent past it.
    fn next_path(&mut self) -> String {
        let join = |p: &str, k: &str| {
            if p.is_empty() {
                k.to_string()
            } else {
                format!("{p}.{k}")
            }
        };
        match self.stack.last_mut() {
            None => String::new(),
            Some(Frame::Seq { path, index }) => {
                *index += 1;
                join(path, &(*index - 1).to_string())
            }
            Some(Frame::Map { path, key, .. }) => match key.take() {
                Some(k) => join(path, &k),
                None => join(path, "?"),
            },
        }
    }
}

impl MarkedEventReceiver for Scan {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        match ev {
            Event::Scalar(text, ..) => {
                if let Some(Frame::Map { path, keys, key }) = self.stack.last_mut() {
                    if key.is_none() {
                        if keys.contains(&text) {
                            let full = if path.is_empty() {
                                text.clone()
                            } else {
                                format!("{path}.{text}")
                            };
                            self.found.push((full, mark.line()));
                        } else {
                            keys.push(text.clone());
                        }
                        *key = Some(text);
                        return;
                    }
                }
                self.next_path();
            }
            Event::Alias(_) => {
                self.next_path();
            }
            Event::MappingStart(..) => {
                let path = self.next_path();
                self.stack.push(Frame::Map {
                    path,
                    keys: Vec::new(),
                    key: None,
                });
            }
            Event::SequenceStart(..) => {
                let path = self.next_path();
                self.stack.push(Frame::Seq { path, index: 0 });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_value_wins_and_each_repeat_is_located() {
        let text = "version: 0.2\nversion: '0.1'\nstorage:\n  filesystem:\n    rootdirectory: /a\n    rootdirectory: /b\n  cache: {blobdescriptor: inmemory, blobdescriptor: redis}\n";
        let p = parse(text).unwrap();
        assert_eq!(p.doc["version"], Value::String("0.1".into()));
        assert_eq!(p.doc["storage"]["filesystem"]["rootdirectory"], "/b");
        assert_eq!(p.doc["storage"]["cache"]["blobdescriptor"], "redis");
        let at = |key: &str, line| Duplicate {
            key: key.into(),
            line: Some(line),
        };
        assert_eq!(
            p.duplicates,
            vec![
                at("version", 2),
                at("storage.filesystem.rootdirectory", 6),
                at("storage.cache.blobdescriptor", 7),
            ]
        );
        assert_eq!(
            p.replaced[0],
            ("version".into(), Value::String("0.2".into()))
        );
    }

    #[test]
    fn version_is_the_text_written() {
        let p = parse("version: 0.10\n").unwrap();
        assert_eq!(p.doc["version"], Value::String("0.10".into()));
        assert!(p.duplicates.is_empty());
    }

    #[test]
    fn struct_sections_merge_and_map_sections_replace() {
        let text = "log: {formatter: xml, fields: {a: 1}}\nlog: {level: info, fields: {b: 2}}\nstorage: {filesystem: {rootdirectory: /a}}\nstorage: {filesystem: {maxthreads: 30}}\n";
        let p = parse(text).unwrap();
        assert_eq!(p.doc["log"]["formatter"], "xml");
        assert_eq!(p.doc["log"]["level"], "info");
        assert_eq!(p.doc["log"]["fields"]["a"], 1);
        assert_eq!(p.doc["log"]["fields"]["b"], 2);
        assert_eq!(p.doc["storage"]["filesystem"].get("rootdirectory"), None);
        let keys: Vec<_> = p.duplicates.iter().map(|d| d.key.as_str()).collect();
        assert_eq!(keys, ["log", "storage"]);
        assert_eq!(p.duplicates[1].line, Some(4));
    }

    #[test]
    fn sequences_and_tags_are_kept() {
        let p = parse("a: [x, {k: 1, k: 2}]\nb: !custom 5\n").unwrap();
        assert_eq!(p.doc["a"][1]["k"], 2);
        assert_eq!(p.duplicates[0].key, "a.1.k");
        assert_eq!(p.duplicates[0].line, Some(1));
        assert!(matches!(p.doc["b"], Value::Tagged(_)));
    }
}
