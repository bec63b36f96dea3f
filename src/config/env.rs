//! `REGISTRY_*` environment overrides, applied as upstream's parser does:
//! after the YAML, in lexical order of the names, `_`-split paths compared
//! with upper-cased keys, values parsed as YAML, unknown names warned about.

use serde_yaml::{Mapping, Value};

const PREFIX: &str = "REGISTRY_";

/// What a level of the configuration accepts as keys.
enum Shape {
    /// A Go struct: only these fields (YAML key names).
    Struct(&'static [(&'static str, Shape)]),
    /// A map with free keys, whose values have this shape.
    Map(&'static Shape),
    /// Anything below (sections registry-gc does not interpret).
    Opaque,
}

const LOG: Shape = Shape::Struct(&[
    ("accesslog", Shape::Opaque),
    ("level", Shape::Opaque),
    ("formatter", Shape::Opaque),
    ("fields", Shape::Map(&Shape::Opaque)),
    ("hooks", Shape::Opaque),
    ("reportcaller", Shape::Opaque),
]);

const ROOT: Shape = Shape::Struct(&[
    ("version", Shape::Opaque),
    ("log", LOG),
    ("loglevel", Shape::Opaque),
    ("storage", Shape::Map(&Shape::Map(&Shape::Opaque))),
    ("auth", Shape::Opaque),
    ("middleware", Shape::Opaque),
    ("reporting", Shape::Opaque),
    ("http", Shape::Opaque),
    ("notifications", Shape::Opaque),
    ("redis", Shape::Opaque),
    ("health", Shape::Opaque),
    ("proxy", Shape::Opaque),
    ("compatibility", Shape::Opaque),
    ("validation", Shape::Opaque),
    ("policy", Shape::Opaque),
    ("catalog", Shape::Opaque),
]);

/// Applies every `REGISTRY_*` variable of `vars` to `doc`. Returns the
/// warnings for names that match no configuration field, or an error
/// for a value that is not YAML.
pub(crate) fn apply(doc: &mut Value, vars: &[(String, String)]) -> Result<Vec<String>, String> {
    let mut vars: Vec<&(String, String)> =
        vars.iter().filter(|(k, _)| k.starts_with(PREFIX)).collect();
    vars.sort();
    let mut warnings = Vec::new();
    for (name, raw) in vars {
        if name == "REGISTRY_CONFIGURATION_PATH" {
            continue;
        }
        let path: Vec<&str> = name[PREFIX.len()..].split('_').collect();
        let value: Value = serde_yaml::from_str(raw)
            .map_err(|e| format!("parsing environment variable {name}: yaml: {e}"))?;
        if !set(doc, &ROOT, &path, value) {
            warnings.push(format!("Ignoring unrecognized environment variable {name}"));
        }
    }
    Ok(warnings)
}

/// Sets `value` at `path` below `node`; false if the path names no field.
fn set(node: &mut Value, shape: &Shape, path: &[&str], value: Value) -> bool {
    let Some((first, rest)) = path.split_first() else {
        *node = value;
        return true;
    };
    let (key, child_shape) = match shape {
        Shape::Struct(fields) => match fields.iter().find(|(k, _)| k.to_uppercase() == *first) {
            Some((k, s)) => (
                existing_key(node, first).unwrap_or_else(|| k.to_string()),
                s,
            ),
            None => return false,
        },
        Shape::Map(inner) => (
            existing_key(node, first).unwrap_or_else(|| first.to_lowercase()),
            *inner,
        ),
        Shape::Opaque => (
            existing_key(node, first).unwrap_or_else(|| first.to_lowercase()),
            &Shape::Opaque,
        ),
    };
    if let (Shape::Map(_), Value::String(name)) = (shape, &*node) {
        // `storage: inmemory` means `storage: {inmemory: }`, as upstream reads it.
        let mut map = Mapping::new();
        map.insert(Value::String(name.clone()), Value::Null);
        *node = Value::Mapping(map);
    }
    if !node.is_mapping() {
        *node = Value::Mapping(Mapping::new());
    }
    let map = node.as_mapping_mut().expect("just made a mapping");
    let child = map.entry(Value::String(key)).or_insert(Value::Null);
    set(child, child_shape, rest, value)
}

/// The existing key of a mapping whose upper-cased text equals `upper`.
fn existing_key(node: &Value, upper: &str) -> Option<String> {
    node.as_mapping()?
        .keys()
        .filter_map(Value::as_str)
        .find(|k| k.to_uppercase() == upper)
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn sets_nested_parameters_in_lexical_order() {
        let mut doc: Value =
            serde_yaml::from_str("version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /a\n")
                .unwrap();
        let w = apply(
            &mut doc,
            &vars(&[
                ("REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY", "/b"),
                ("REGISTRY_STORAGE", "inmemory"),
                ("REGISTRY_LOG_LEVEL", "debug"),
                ("PATH", "/usr/bin"),
            ]),
        )
        .unwrap();
        assert!(w.is_empty());
        // REGISTRY_STORAGE sorts first and replaces the section; the
        // rootdirectory override then adds a second driver beside it.
        assert_eq!(doc["storage"]["inmemory"], Value::Null);
        assert_eq!(
            doc["storage"]["filesystem"]["rootdirectory"],
            Value::String("/b".into())
        );
        assert_eq!(doc["log"]["level"], Value::String("debug".into()));
    }

    #[test]
    fn values_are_yaml_and_unknown_names_warn() {
        let mut doc = Value::Mapping(Mapping::new());
        let w = apply(
            &mut doc,
            &vars(&[
                ("REGISTRY_STORAGE_FILESYSTEM_MAXTHREADS", "25"),
                ("REGISTRY_PORT", "5000"),
                ("REGISTRY_LOG_FOO", "x"),
            ]),
        )
        .unwrap();
        assert_eq!(
            doc["storage"]["filesystem"]["maxthreads"],
            Value::Number(25.into())
        );
        assert_eq!(
            w,
            vec![
                "Ignoring unrecognized environment variable REGISTRY_LOG_FOO".to_string(),
                "Ignoring unrecognized environment variable REGISTRY_PORT".to_string()
            ]
        );
    }
}
