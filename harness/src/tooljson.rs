//! Reading the JSON a tool printed (`k3d … -o json`, `kubectl … -o json`, `docker network
//! inspect`, buildx's metadata file) into typed values. Every error names the command, and a
//! value of the wrong type or a missing field also names its JSON path
//! (`$.items[3].status.nodeInfo.architecture`), found with `serde_path_to_error`.

use std::fmt::Write as _;

use serde::de::DeserializeOwned;
use serde_path_to_error::{Path, Segment};

/// Errors from reading a tool's JSON output.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// The output is not JSON at all (or it is cut short).
    #[error(
        "`{command}` printed something that is not JSON; run it by hand to see what it printed"
    )]
    Json {
        command: &'static str,
        #[source]
        source: serde_json::Error,
    },
    /// A value has the wrong type (or an object lacks a field its type requires).
    #[error("`{command}` output: {path} does not have the expected shape; check the tool is the pinned version (harness/src/pins.rs)")]
    Shape {
        command: &'static str,
        path: String,
        #[source]
        source: serde_json::Error,
    },
    /// A field faasbed needs is absent or empty.
    #[error("`{command}` output: {path} is missing; check the tool is the pinned version (harness/src/pins.rs)")]
    Missing { command: &'static str, path: String },
    /// A value is there with the right type but cannot be used (e.g. a resource quantity).
    #[error("`{command}` output: {path}: {reason}")]
    Value {
        command: &'static str,
        path: String,
        reason: String,
    },
}

/// Parse `text`, printed by `command`, as a `T`.
pub fn parse<T: DeserializeOwned>(text: &str, command: &'static str) -> Result<T, ParseError> {
    let de = &mut serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = json_path(e.path());
        let source = e.into_inner();
        if source.is_data() {
            ParseError::Shape {
                command,
                path,
                source,
            }
        } else {
            ParseError::Json { command, source }
        }
    })
}

/// Read `value` (found at `at`, e.g. `$.items[2]`, in what `command` printed) as a `T`.
pub fn from_value<T: DeserializeOwned>(
    value: serde_json::Value,
    at: &str,
    command: &'static str,
) -> Result<T, ParseError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let inner = json_path(e.path());
        ParseError::Shape {
            command,
            path: format!("{at}{}", inner.trim_start_matches('$')),
            source: e.into_inner(),
        }
    })
}

/// A path as `$.items[3]["kubernetes.io/arch"]`.
pub fn json_path(p: &Path) -> String {
    let mut s = String::from("$");
    for seg in p.iter() {
        match seg {
            Segment::Seq { index } => {
                let _ = write!(s, "[{index}]");
            }
            Segment::Map { key } => s.push_str(&step(key)),
            Segment::Enum { variant } => s.push_str(&step(variant)),
            Segment::Unknown => s.push_str(".?"),
        }
    }
    s
}

/// `.name` for plain keys, `["kubernetes.io/arch"]` for the rest.
pub fn step(k: &str) -> String {
    if !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        format!(".{k}")
    } else {
        format!("[{k:?}]")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[derive(Debug, serde::Deserialize)]
    struct Doc {
        #[allow(dead_code)]
        items: Vec<Item>,
    }
    #[derive(Debug, serde::Deserialize)]
    struct Item {
        #[allow(dead_code)]
        labels: BTreeMap<String, String>,
    }

    #[test]
    fn wrong_types_name_every_step_of_the_path() {
        let e = parse::<Doc>(
            r#"{"items": [{"labels": {"kubernetes.io/arch": 7}}]}"#,
            "kubectl get nodes -o json",
        )
        .unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains(r#"$.items[0].labels["kubernetes.io/arch"]"#),
            "{text}"
        );
        assert!(text.contains("kubectl get nodes -o json"), "{text}");
        let cause = std::error::Error::source(&e).unwrap().to_string();
        assert!(cause.contains("integer `7`"), "{cause}");
        assert!(!text.contains(&cause), "the cause is printed once: {text}");
    }

    #[test]
    fn not_json_is_told_apart_from_a_wrong_shape() {
        let e = parse::<Doc>("WARN no nodes", "k3d node list -o json").unwrap_err();
        assert!(matches!(e, ParseError::Json { .. }), "{e}");
        let e = parse::<Doc>(r#"{"items": [{"labels""#, "x").unwrap_err();
        assert!(matches!(e, ParseError::Json { .. }), "{e}");
        let e = parse::<Doc>(r#"{"items": [{}]}"#, "x").unwrap_err();
        assert!(
            matches!(e, ParseError::Shape { ref path, .. } if path == "$.items[0]"),
            "{e}"
        );
    }
}
