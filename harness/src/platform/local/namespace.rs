//! The local platform's one function namespace, `openfaas-fn`, and how `/system/*` requests
//! name a namespace (faas-netes CE's rules, `pkg/handlers/*.go`): `?namespace=` on the query
//! string, or a `namespace` field of the JSON body. Empty means the default; any other name is
//! refused with 400 `namespace must be: openfaas-fn`, before anything is looked up, so a request
//! for another namespace never touches a function of this one.

use std::collections::BTreeMap;

pub use super::registry::NAMESPACE;
use super::LocalError;
use crate::openfaas::FunctionNamespace;

/// The value of `?namespace=` in `query` (percent-decoded), if present and non-empty.
pub fn from_query(query: Option<&str>) -> Option<String> {
    query_param(query?, "namespace").filter(|v| !v.is_empty())
}

/// The first value of `key` in a query string, percent-decoded (`+` is a space).
pub fn query_param(query: &str, key: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(k) == key).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match (
            b[i],
            b.get(i + 1).copied().and_then(hex),
            b.get(i + 2).copied().and_then(hex),
        ) {
            (b'+', _, _) => out.push(b' '),
            (b'%', Some(h), Some(l)) => {
                out.push(h << 4 | l);
                i += 2;
            }
            (c, _, _) => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Accept `ns` when it is absent, empty or [`NAMESPACE`]; refuse any other name as faas-netes
/// CE does (400 `namespace must be: openfaas-fn`).
pub fn check(ns: Option<&str>) -> Result<(), LocalError> {
    match ns {
        None | Some("") => Ok(()),
        Some(n) if n == NAMESPACE => Ok(()),
        Some(n) => Err(LocalError::BadRequest(format!(
            "namespace must be: {NAMESPACE} (the local platform has this one namespace; {n:?} does not exist)"
        ))),
    }
}

/// Every namespace, for `GET /system/namespaces`.
pub fn list() -> Vec<String> {
    vec![NAMESPACE.to_string()]
}

/// `GET /system/namespace/{name}`: the namespace as OpenFaaS describes it (a Kubernetes
/// namespace annotated and labelled `openfaas=1`), or 404.
pub fn describe(name: &str) -> Result<FunctionNamespace, LocalError> {
    if name != NAMESPACE {
        return Err(LocalError::NoSuch(format!(
            "namespace {name:?} not found; the local platform has one namespace, {NAMESPACE}"
        )));
    }
    let openfaas = BTreeMap::from([("openfaas".to_string(), "1".to_string())]);
    Ok(FunctionNamespace {
        name: NAMESPACE.to_string(),
        annotations: Some(openfaas.clone()),
        labels: Some(openfaas),
    })
}

/// `POST`/`PUT`/`DELETE /system/namespace/{name}`: the local platform's namespaces are fixed.
pub fn refuse_change(method: &http::Method, name: &str) -> LocalError {
    LocalError::BadRequest(format!(
        "{method} /system/namespace/{name}: the local platform has one fixed namespace, {NAMESPACE}; namespaces cannot be created, changed or deleted"
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_decoded() {
        assert_eq!(from_query(Some("namespace=other")), Some("other".into()));
        assert_eq!(
            from_query(Some("a=1&namespace=o%74her+x")),
            Some("other x".into())
        );
        assert_eq!(from_query(Some("namespace=")), None);
        assert_eq!(from_query(Some("namespaces=x")), None);
        assert_eq!(from_query(None), None);
        assert_eq!(query_param("name=%zz%4", "name"), Some("%zz%4".into()));
    }

    #[test]
    fn only_the_default_namespace_is_accepted() {
        assert!(check(None).is_ok());
        assert!(check(Some("")).is_ok());
        assert!(check(Some("openfaas-fn")).is_ok());
        let e = check(Some("other")).unwrap_err().to_string();
        assert!(e.starts_with("namespace must be: openfaas-fn"), "{e}");
        assert!(describe("openfaas-fn").is_ok());
        assert!(matches!(describe("other"), Err(LocalError::NoSuch(_))));
    }
}
