//! A scripted kube API server for tests (kube's own `mock_tests.rs` pattern:
//! `tower_test::mock::pair` behind `kube::Client::new`): every request must match the script in
//! order (method, path and query, content type and JSON body when given), and each gets the
//! scripted answer. Included with `#[path = "common/kube_script.rs"] mod kube_script;`.
#![allow(dead_code, clippy::unwrap_used)]

use faasbed::platform::kube::api::Kube;
use http::{Method, Request, Response};
use serde_json::Value;
use tokio::task::JoinHandle;

/// One request the client must send, and the answer it gets.
pub struct Exchange {
    pub method: Method,
    pub uri: String,
    /// `Some`: the request's content type and JSON body must be exactly these.
    pub body: Option<(&'static str, Value)>,
    pub status: u16,
    pub reply: Value,
}

/// A GET of `uri` answered 200 with `reply`.
pub fn get(uri: &str, reply: Value) -> Exchange {
    Exchange {
        method: Method::GET,
        uri: uri.into(),
        body: None,
        status: 200,
        reply,
    }
}

/// A `method` of `uri` whose body must be `body` with content type `ct`, answered 200 with `reply`.
pub fn send(method: Method, uri: &str, ct: &'static str, body: Value, reply: Value) -> Exchange {
    Exchange {
        method,
        uri: uri.into(),
        body: Some((ct, body)),
        status: 200,
        reply,
    }
}

/// The same exchange answered with status `code`.
pub fn status(mut e: Exchange, code: u16) -> Exchange {
    e.status = code;
    e
}

/// A [`Kube`] whose requests must follow `script` in order; the returned task fails on any
/// difference and when the client sends more or fewer requests than scripted.
pub fn scripted_kube(script: Vec<Exchange>) -> (Kube, JoinHandle<()>) {
    let (svc, mut handle) =
        tower_test::mock::pair::<Request<::kube::client::Body>, Response<::kube::client::Body>>();
    let server = tokio::spawn(async move {
        let n = script.len();
        for (i, ex) in script.into_iter().enumerate() {
            let (req, respond) = handle
                .next_request()
                .await
                .unwrap_or_else(|| panic!("client sent {i} of {n} scripted requests"));
            assert_eq!(req.method(), ex.method, "request {i}");
            assert_eq!(req.uri().to_string(), ex.uri, "request {i}");
            if let Some((ct, want)) = ex.body {
                assert_eq!(req.headers()[http::header::CONTENT_TYPE], ct, "request {i}");
                let bytes = req.into_body().collect_bytes().await.unwrap();
                let got: Value = serde_json::from_slice(&bytes).unwrap();
                assert_eq!(got, want, "request {i} body");
            }
            respond.send_response(
                Response::builder()
                    .status(ex.status)
                    .header(http::header::CONTENT_TYPE, "application/json")
                    .body(::kube::client::Body::from(
                        serde_json::to_vec(&ex.reply).unwrap(),
                    ))
                    .unwrap(),
            );
        }
        assert!(
            handle.next_request().await.is_none(),
            "client sent more than the {n} scripted requests"
        );
    });
    (Kube::new(::kube::Client::new(svc, "default")), server)
}
