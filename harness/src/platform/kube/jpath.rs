//! A reader over `serde_json::Value` that knows where it is, so every shape error names the
//! command and the JSON path (`$.items[3].status.nodeInfo.architecture`).

use std::collections::BTreeMap;

use serde_json::Value;

use super::parse::ParseError;

/// A value inside one command's output, with its path from the root (`$`).
#[derive(Debug, Clone)]
pub(crate) struct At<'a> {
    value: &'a Value,
    path: String,
    command: &'static str,
}

impl<'a> At<'a> {
    /// The whole document printed by `command`.
    pub(crate) fn root(value: &'a Value, command: &'static str) -> Self {
        At {
            value,
            path: "$".into(),
            command,
        }
    }

    /// A quantity error at this value (`reason` says what is wrong).
    pub(crate) fn bad_quantity(&self, reason: String) -> ParseError {
        ParseError::Quantity {
            command: self.command,
            path: self.path.clone(),
            reason,
        }
    }

    fn child(&self, value: &'a Value, step: String) -> At<'a> {
        At {
            value,
            path: format!("{}{step}", self.path),
            command: self.command,
        }
    }

    /// A shape error at this value.
    pub(crate) fn error(&self, expected: &'static str) -> ParseError {
        ParseError::Shape {
            command: self.command,
            path: self.path.clone(),
            expected,
            found: describe(self.value),
        }
    }

    /// A required field of an object.
    pub(crate) fn key(&self, k: &str) -> Result<At<'a>, ParseError> {
        let obj = self
            .value
            .as_object()
            .ok_or_else(|| self.error("an object"))?;
        match obj.get(k) {
            Some(v) => Ok(self.child(v, step(k))),
            None => Err(ParseError::Missing {
                command: self.command,
                path: format!("{}{}", self.path, step(k)),
            }),
        }
    }

    /// An optional field of an object (missing or `null` gives `None`; Go omits empty fields).
    pub(crate) fn opt(&self, k: &str) -> Result<Option<At<'a>>, ParseError> {
        let obj = self
            .value
            .as_object()
            .ok_or_else(|| self.error("an object"))?;
        Ok(obj
            .get(k)
            .filter(|v| !v.is_null())
            .map(|v| self.child(v, step(k))))
    }

    /// This value as a string.
    pub(crate) fn str(&self) -> Result<&'a str, ParseError> {
        self.value.as_str().ok_or_else(|| self.error("a string"))
    }

    /// This value as a boolean.
    pub(crate) fn bool(&self) -> Result<bool, ParseError> {
        self.value
            .as_bool()
            .ok_or_else(|| self.error("true or false"))
    }

    /// This value as a non-negative integer that fits in `u32`.
    pub(crate) fn u32(&self) -> Result<u32, ParseError> {
        self.value
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| self.error("a non-negative integer"))
    }

    /// The elements of an array (`null` counts as empty: Go prints nil slices so).
    pub(crate) fn items(&self) -> Result<Vec<At<'a>>, ParseError> {
        if self.value.is_null() {
            return Ok(Vec::new());
        }
        let arr = self
            .value
            .as_array()
            .ok_or_else(|| self.error("an array"))?;
        Ok(arr
            .iter()
            .enumerate()
            .map(|(i, v)| self.child(v, format!("[{i}]")))
            .collect())
    }

    /// An object of strings, e.g. labels (`null` counts as empty).
    pub(crate) fn str_map(&self) -> Result<BTreeMap<String, String>, ParseError> {
        if self.value.is_null() {
            return Ok(BTreeMap::new());
        }
        let obj = self
            .value
            .as_object()
            .ok_or_else(|| self.error("an object of strings"))?;
        obj.iter()
            .map(|(k, v)| Ok((k.clone(), self.child(v, step(k)).str()?.to_string())))
            .collect()
    }

    /// The keys of an object, e.g. the container ids of a Docker network (`null` counts as
    /// empty).
    pub(crate) fn str_keys(&self) -> Result<Vec<String>, ParseError> {
        if self.value.is_null() {
            return Ok(Vec::new());
        }
        let obj = self
            .value
            .as_object()
            .ok_or_else(|| self.error("an object"))?;
        Ok(obj.keys().cloned().collect())
    }
}

/// `.name` for plain keys, `["kubernetes.io/arch"]` for the rest.
fn step(k: &str) -> String {
    if !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        format!(".{k}")
    } else {
        format!("[{k:?}]")
    }
}

/// A short description of a JSON value for error messages.
fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) if s.chars().count() > 40 => {
            format!("a string ({:?}...)", s.chars().take(40).collect::<String>())
        }
        Value::String(s) => format!("the string {s:?}"),
        Value::Array(a) => format!("an array of {} elements", a.len()),
        Value::Object(_) => "an object".into(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_name_every_step() {
        let v = json!({"items": [{"metadata": {"labels": {"kubernetes.io/arch": 7}}}]});
        let root = At::root(&v, "kubectl get nodes -o json");
        let items = root.key("items").unwrap().items().unwrap();
        let err = items[0]
            .key("metadata")
            .unwrap()
            .key("labels")
            .unwrap()
            .str_map()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(r#"$.items[0].metadata.labels["kubernetes.io/arch"]"#),
            "{err}"
        );
        assert!(err.contains("the number 7"), "{err}");
        assert!(err.contains("kubectl get nodes -o json"), "{err}");
    }

    #[test]
    fn missing_and_null_are_told_apart() {
        let v = json!({"a": null});
        let root = At::root(&v, "x");
        assert!(root.opt("a").unwrap().is_none());
        assert!(root.opt("b").unwrap().is_none());
        assert!(root.key("b").unwrap_err().to_string().contains("$.b"));
        assert!(root.key("a").unwrap().items().unwrap().is_empty());
    }
}
