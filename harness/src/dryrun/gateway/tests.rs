//! Tests of the placeholder gateway, driven by the crate's own OpenFaaS client.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;
use crate::dryrun::Event;
use crate::openfaas::{Client, ClientError};
use crate::platform::deploy::deployment;

/// Two functions: `echo-a` with 3 replicas, `echo-b` with the default.
fn scenario() -> Scenario {
    let text = r#"
platform = { kind = "local" }
node = [{ name = "vps-1", class = "vps" }]
function = [
{ name = "echo-a", source = "echo", replicas = 3 },
{ name = "echo-b", source = "echo" },
]
"#;
    crate::spec::parse(text, std::path::Path::new("scenarios/dgw.toml")).unwrap()
}

/// The client the live code uses, with the credentials it sends.
fn client(gw: &PlaceholderGateway) -> Client {
    Client::new(&gw.url, "admin", "<redacted>")
}

/// Each journaled step as `read PATH` (a read a wait may poll), or `METHOD PATH` then ` JSON`
/// when the API call has a JSON body.
fn lines(j: &Journal) -> Vec<String> {
    let line = |e| match e {
        Event::Step(Step::Read {
            via: "gateway",
            path,
        }) => Some(format!("read {path}")),
        Event::Step(Step::Api { method, path, body }) => {
            let body = body.map(|b| format!(" {b}")).unwrap_or_default();
            Some(format!("{method} {path}{body}"))
        }
        _ => None,
    };
    j.events().into_iter().filter_map(line).collect()
}

/// The status of a refused call (0: not refused with a status).
fn code(r: Result<impl Sized, ClientError>) -> u16 {
    match r {
        Err(ClientError::Status { status, .. }) => status.as_u16(),
        _ => 0,
    }
}

/// One raw HTTP/1.1 exchange of `line` (`METHOD PATH`) and `body`, with basic auth when
/// `auth`: the status code and the whole answer.
async fn raw(gw: &PlaceholderGateway, line: &str, auth: bool, body: &str) -> (u16, String) {
    let auth = ["", "Authorization: Basic YWRtaW46eA==\r\n"][usize::from(auth)];
    let n = body.len();
    let req = format!("{line} HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: {n}\r\nConnection: close\r\n\r\n{body}");
    let addr = gw.url.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    let status = out.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, out)
}

#[tokio::test]
async fn deploy_then_status_shows_the_scenario_replicas_and_every_request_is_journaled_in_order() {
    let journal = Journal::default();
    let gw = serve(&scenario(), journal.clone()).await.unwrap();
    let c = client(&gw);
    c.healthz().await.unwrap();
    let d = deployment(&scenario().functions[0], "registry.local/echo:1");
    c.deploy_or_update(&d).await.unwrap();
    let st = c.status("echo-a").await.unwrap();
    assert_eq!((st.replicas, st.available_replicas), (3, 3));
    assert_eq!(st.image, "registry.local/echo:1");
    assert_eq!(code(c.status("nope").await), 404);
    assert_eq!(gw.deployed(), vec!["echo-a".to_string()]);

    let l = lines(&journal);
    assert_eq!(l.len(), 5, "{l:?}");
    // deploy_or_update asks for the status first (404: not deployed yet), then POSTs.
    assert_eq!(l[..2], ["read /healthz", "read /system/function/echo-a"]);
    assert!(l[2].starts_with("POST /system/functions {"), "{}", l[2]);
    for field in [r#""service":"echo-a""#, r#""com.openfaas.scale.min":"3""#] {
        assert!(l[2].contains(field), "{} lacks {field}", l[2]);
    }
    let reads = ["read /system/function/echo-a", "read /system/function/nope"];
    assert_eq!(l[3..], reads);
}

#[tokio::test]
async fn update_scale_list_and_delete_answer_as_openfaas_ce_does_and_are_followed() {
    let (journal, heard) = (Journal::default(), Arc::new(Mutex::new(Vec::new())));
    let h = heard.clone();
    let follow = move |c: Change<'_>| h.lock().unwrap().push(format!("{c:?}"));
    let gw = serve_following(&scenario(), journal.clone(), follow)
        .await
        .unwrap();
    let c = client(&gw);
    let d = deployment(&scenario().functions[1], "echo:1");
    assert_eq!(code(c.update(&d).await), 404);
    c.deploy(&d).await.unwrap();
    assert_eq!(code(c.deploy(&d).await), 500);
    assert_eq!(c.status("echo-b").await.unwrap().available_replicas, 1);
    // A second deploy_or_update finds the function and PUTs.
    let d2 = deployment(&scenario().functions[1], "echo:2");
    c.deploy_or_update(&d2).await.unwrap();
    assert_eq!(c.status("echo-b").await.unwrap().image, "echo:2");

    assert_eq!(code(c.scale("echo-b", 0).await), 400);
    c.scale("echo-b", 4).await.unwrap();
    let st = c.status("echo-b").await.unwrap();
    assert_eq!((st.replicas, st.available_replicas), (4, 4));
    assert_eq!(code(c.scale("nope", 2).await), 404);

    let list = c.list().await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].name, "echo-b");
    assert_eq!(list[0].namespace.as_deref(), Some(NAMESPACE));
    let info = c.info().await.unwrap();
    assert_eq!(info.provider.unwrap().provider, "faas-netes");
    assert_eq!(info.arch, PLACEHOLDER);

    c.delete("echo-b").await.unwrap();
    assert_eq!(code(c.status("echo-b").await), 404);
    assert_eq!(code(c.delete("echo-b").await), 404);
    let l = lines(&journal);
    let put = |l: &String| l.starts_with("PUT /system/functions {") && l.contains("echo:2");
    assert!(l.iter().any(put), "{l:?}");
    let del = r#"DELETE /system/functions {"functionName":"echo-b"}"#;
    assert_eq!(l.iter().filter(|l| *l == del).count(), 2, "{l:?}");
    // Only what was done is followed, in order.
    let heard = heard.lock().unwrap().join(" ");
    let done = r#"Deployed("echo-b") Deployed("echo-b") Scaled("echo-b", 4) Deleted("echo-b")"#;
    assert_eq!(heard, done);
}

#[tokio::test]
async fn a_deployed_function_answers_with_placeholder_headers_and_counts_its_calls() {
    let (journal, called) = (Journal::default(), Arc::new(Mutex::new(Vec::new())));
    let h = called.clone();
    let on_call = move |name: &str| h.lock().unwrap().push(name.to_string());
    let gw = serve_with(&scenario(), journal.clone(), on_call)
        .await
        .unwrap();
    let c = client(&gw);
    let unknown = c.invoke("echo-a", "/", None).await.unwrap();
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let d = deployment(&scenario().functions[0], "echo:1");
    c.deploy(&d).await.unwrap();
    let got = c.invoke("echo-a", "/?kib=1", None).await.unwrap();
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.header(headers::NODE), Some(PLACEHOLDER));
    assert_eq!(got.header(headers::INSTANCE), Some(PLACEHOLDER));
    let body = Some(Bytes::from_static(b"{\"n\":1}"));
    let posted = c.invoke("echo-a", "/", body).await.unwrap();
    assert_eq!(posted.status, StatusCode::OK);
    assert_eq!(c.status("echo-a").await.unwrap().invocation_count, 2);
    // Only calls of a deployed function are told (the 404 one is not).
    assert_eq!(*called.lock().unwrap(), ["echo-a", "echo-a"]);
    let l = lines(&journal);
    // A call is a step of its own (an API GET), never a read that a wait polls.
    let call = "GET /function/echo-a?kib=1".to_string();
    assert!(l.contains(&call), "{l:?}");
    assert!(
        l.contains(&r#"POST /function/echo-a {"n":1}"#.to_string()),
        "{l:?}"
    );
}

#[tokio::test]
async fn bad_bodies_missing_auth_and_unknown_routes_are_refused_and_still_journaled() {
    let journal = Journal::default();
    let gw = serve(&scenario(), journal.clone()).await.unwrap();
    let (status, bad) = raw(&gw, "POST /system/functions", true, "not json").await;
    assert_eq!(status, 400, "{bad}");
    assert!(bad.contains("failed to unmarshal request"), "{bad}");
    let bad_name = r#"{"service":"Bad_","image":"i"}"#;
    let (status, _) = raw(&gw, "POST /system/functions", true, bad_name).await;
    assert_eq!(status, 400);
    assert_eq!(raw(&gw, "GET /system/functions", false, "").await.0, 401);
    let other_ns = "GET /system/functions?namespace=kube-system";
    assert_eq!(raw(&gw, other_ns, true, "").await.0, 400);
    let (status, nowhere) = raw(&gw, "PATCH /nowhere", false, "").await;
    assert_eq!(status, 404);
    assert!(nowhere.contains("no route PATCH /nowhere"), "{nowhere}");
    assert!(gw.deployed().is_empty());

    let l = lines(&journal);
    assert_eq!(l.len(), 5, "{l:?}");
    // A body that is not JSON is journaled as none; a query as sent.
    assert_eq!(l[0], "POST /system/functions");
    let other_ns_read = other_ns.replacen("GET", "read", 1);
    assert_eq!(l[3..], [other_ns_read.as_str(), "PATCH /nowhere"]);
    // The Authorization header is never journaled.
    assert!(!format!("{:?}", journal.events()).contains("YWRtaW46eA"));
}

#[tokio::test]
async fn dropping_the_gateway_stops_serving() {
    let gw = serve(&scenario(), Journal::default()).await.unwrap();
    let c = client(&gw);
    c.healthz().await.unwrap();
    drop(gw);
    let after = c.healthz().await;
    let stopped = matches!(after, Err(ClientError::Transport { .. }));
    assert!(stopped, "{after:?}");
}
