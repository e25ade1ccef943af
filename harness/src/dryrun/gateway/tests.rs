//! Tests of the placeholder gateway, driven by the crate's own OpenFaaS client.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;
use crate::dryrun::Event;
use crate::openfaas::{Client, ClientError};

/// Two functions: `echo-a` with 3 replicas, `echo-b` with the default.
fn scenario() -> Scenario {
    let text = r#"
[platform]
kind = "local"

[[node]]
name = "vps-1"
class = "vps"

[[function]]
name = "echo-a"
source = "echo"
replicas = 3

[[function]]
name = "echo-b"
source = "echo"
"#;
    crate::spec::parse(text, std::path::Path::new("scenarios/dgw.toml")).unwrap()
}

/// The client the live code uses, with the credentials it sends.
fn client(gw: &PlaceholderGateway) -> Client {
    Client::new(&gw.url, "admin", "<redacted>")
}

fn steps(j: &Journal) -> Vec<Step> {
    j.events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Step(s) => Some(s),
            _ => None,
        })
        .collect()
}

fn read_path(s: &Step) -> Option<&str> {
    match s {
        Step::Read { via, path } if *via == "gateway" => Some(path),
        _ => None,
    }
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
    let auth = if auth {
        "Authorization: Basic YWRtaW46eA==\r\n"
    } else {
        ""
    };
    let n = body.len();
    let req = format!("{line} HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: {n}\r\nConnection: close\r\n\r\n{body}");
    let mut s = tokio::net::TcpStream::connect(gw.url.trim_start_matches("http://"))
        .await
        .unwrap();
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    (
        out.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0),
        out,
    )
}

#[tokio::test]
async fn deploy_then_status_shows_the_scenario_replicas_and_every_request_is_journaled_in_order() {
    let journal = Journal::default();
    let gw = serve(&scenario(), journal.clone()).await.unwrap();
    let c = client(&gw);
    c.healthz().await.unwrap();
    let f = &scenario().functions[0];
    let d = crate::platform::deploy::deployment(f, "registry.local/echo:1");
    c.deploy_or_update(&d).await.unwrap();
    let st = c.status("echo-a").await.unwrap();
    assert_eq!((st.replicas, st.available_replicas), (3, 3));
    assert_eq!(st.image, "registry.local/echo:1");
    assert_eq!(code(c.status("nope").await), 404);
    assert_eq!(gw.deployed(), vec!["echo-a".to_string()]);

    let s = steps(&journal);
    assert_eq!(s.len(), 5, "{s:?}");
    assert_eq!(read_path(&s[0]), Some("/healthz"));
    // deploy_or_update asks for the status first (404: not deployed yet), then POSTs.
    assert_eq!(read_path(&s[1]), Some("/system/function/echo-a"));
    let Step::Api { method, path, body } = &s[2] else {
        panic!("{:?}", s[2]);
    };
    assert_eq!((*method, path.as_str()), ("POST", "/system/functions"));
    let body = body.as_ref().unwrap();
    assert_eq!(body["service"], "echo-a");
    assert_eq!(body["image"], "registry.local/echo:1");
    assert_eq!(body["labels"][LABEL_SCALE_MIN], "3");
    assert_eq!(read_path(&s[3]), Some("/system/function/echo-a"));
    assert_eq!(read_path(&s[4]), Some("/system/function/nope"));
}

#[tokio::test]
async fn update_scale_list_and_delete_answer_as_openfaas_ce_does() {
    let journal = Journal::default();
    let gw = serve(&scenario(), journal.clone()).await.unwrap();
    let c = client(&gw);
    let f = &scenario().functions[1];
    let d = crate::platform::deploy::deployment(f, "echo:1");
    assert_eq!(code(c.update(&d).await), 404);
    c.deploy(&d).await.unwrap();
    assert_eq!(code(c.deploy(&d).await), 500);
    assert_eq!(c.status("echo-b").await.unwrap().available_replicas, 1);
    // A second deploy_or_update finds the function and PUTs.
    let d2 = crate::platform::deploy::deployment(f, "echo:2");
    c.deploy_or_update(&d2).await.unwrap();
    assert_eq!(c.status("echo-b").await.unwrap().image, "echo:2");
    assert!(steps(&journal).iter().any(|s| matches!(
        s,
        Step::Api { method: "PUT", path, body: Some(b) }
            if path == "/system/functions" && b["image"] == "echo:2"
    )));

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
    assert!(steps(&journal).iter().any(|s| matches!(
        s,
        Step::Api { method: "DELETE", body: Some(b), .. } if b["functionName"] == "echo-b"
    )));
}

#[tokio::test]
async fn a_deployed_function_answers_with_placeholder_headers_and_counts_its_calls() {
    let journal = Journal::default();
    let gw = serve(&scenario(), journal.clone()).await.unwrap();
    let c = client(&gw);
    let f = &scenario().functions[0];
    let unknown = c.invoke("echo-a", "/", None).await.unwrap();
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    c.deploy(&crate::platform::deploy::deployment(f, "echo:1"))
        .await
        .unwrap();
    let got = c.invoke("echo-a", "/?kib=1", None).await.unwrap();
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.header(headers::NODE), Some(PLACEHOLDER));
    assert_eq!(got.header(headers::INSTANCE), Some(PLACEHOLDER));
    let posted = c
        .invoke("echo-a", "/", Some(Bytes::from_static(b"{\"n\":1}")))
        .await
        .unwrap();
    assert_eq!(posted.status, StatusCode::OK);
    assert_eq!(c.status("echo-a").await.unwrap().invocation_count, 2);
    let s = steps(&journal);
    // A call is a step of its own (an `Api` GET), never a read that a wait polls.
    assert!(s.iter().any(|s| matches!(
        s,
        Step::Api { method: "GET", path, body: None } if path == "/function/echo-a?kib=1"
    )));
    assert!(!s
        .iter()
        .any(|s| read_path(s).is_some_and(|p| p.starts_with("/function/"))));
    assert!(s.iter().any(|s| matches!(
        s,
        Step::Api { method: "POST", path, body: Some(b) } if path == "/function/echo-a" && b["n"] == 1
    )));
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

    let s = steps(&journal);
    assert_eq!(s.len(), 5, "{s:?}");
    assert!(
        matches!(
            &s[0],
            Step::Api {
                method: "POST",
                body: None,
                ..
            }
        ),
        "a body that is not JSON is recorded as none: {:?}",
        s[0]
    );
    assert_eq!(
        read_path(&s[3]),
        Some("/system/functions?namespace=kube-system")
    );
    assert!(matches!(&s[4], Step::Api { method: "PATCH", path, body: None } if path == "/nowhere"));
    // The Authorization header is never journaled.
    assert!(!format!("{s:?}").contains("YWRtaW46eA"));
}

#[tokio::test]
async fn dropping_the_gateway_stops_serving() {
    let gw = serve(&scenario(), Journal::default()).await.unwrap();
    let c = client(&gw);
    c.healthz().await.unwrap();
    drop(gw);
    let after = c.healthz().await;
    assert!(
        matches!(after, Err(ClientError::Transport { .. })),
        "{after:?}"
    );
}
