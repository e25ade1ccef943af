//! The HTTP side of the placeholder kube API: request paths as a reader expects them, patch
//! content types, bodies, label selectors, and the JSON response.

use ::kube::client::Body;
use http::header::{HeaderValue, CONTENT_TYPE};
use http::{Response, StatusCode};
use serde_json::Value;

use super::{Answer, APPLY_PATCH, JSON_PATCH};
use crate::platform::kube::api::{JSON_MERGE, STRATEGIC_MERGE};

/// The path and query as a reader expects them: kube-rs's empty query (`?`) and the leading
/// `&` of its query dropped, the percent-encoding kept.
pub fn normalise(path: &str, query: Option<&str>) -> String {
    let query: Vec<&str> = query
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .collect();
    if query.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{}", query.join("&"))
    }
}

/// The patch content type of a request's `Content-Type` header (parameters ignored).
pub(super) fn patch_type(header: &str) -> Option<&'static str> {
    let base = header.split(';').next().unwrap_or("").trim();
    [STRATEGIC_MERGE, JSON_MERGE, JSON_PATCH, APPLY_PATCH]
        .into_iter()
        .find(|t| t.eq_ignore_ascii_case(base))
}

/// A request body as JSON: `null` when empty, a string when not JSON.
pub(super) fn json_body(bytes: &[u8]) -> Value {
    if bytes.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

/// The HTTP response of an answer, as JSON.
pub(super) fn respond((code, body): Answer) -> Response<Body> {
    let mut r = Response::new(Body::from(body.to_string().into_bytes()));
    *r.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

/// A `key=value[,key=value]` label selector (`==` too); other operators are refused.
pub(super) fn parse_selector(s: &str) -> Result<Vec<(String, String)>, String> {
    s.split(',')
        .filter(|t| !t.trim().is_empty())
        .map(|t| {
            let (k, v) = t
                .split_once("==")
                .or_else(|| t.split_once('='))
                .filter(|(k, _)| !k.ends_with('!'))
                .ok_or_else(|| {
                    format!(
                        "label selector {s:?}: the placeholder cluster understands only key=value"
                    )
                })?;
            Ok((k.trim().to_string(), v.trim().to_string()))
        })
        .collect()
}

/// Decode `%XX` escapes and `+` (form encoding); a malformed escape stays as it is.
pub(super) fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
