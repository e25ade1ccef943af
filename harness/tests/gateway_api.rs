//! The local gateway speaks the OpenFaaS gateway API: auth, routes, and every JSON body checked
//! against the upstream OpenAPI spec. (Function invocation tests are in tests/local_platform.rs.)

mod common;

use common::{http, OpenApi};

const SYSTEM_ROUTES: &[(&str, &str)] = &[
    ("GET", "/system/info"),
    ("GET", "/system/functions"),
    ("POST", "/system/functions"),
    ("PUT", "/system/functions"),
    ("DELETE", "/system/functions"),
    ("GET", "/system/function/echo-vps"),
    ("POST", "/system/scale-function/echo-vps"),
    ("GET", "/system/namespaces"),
    ("GET", "/system/faasbed/replicas/echo-vps"),
];

#[tokio::test]
async fn system_routes_need_basic_auth() {
    let (tmp, home) = common::temp_home();
    let (gw, pw) = common::serve(&common::local_scenario(), &home, &tmp.path().join("logs")).await;
    for (m, p) in SYSTEM_ROUTES {
        let url = format!("{}{p}", gw.url);
        let (s, h, _) = http(m, &url, None, None).await;
        assert_eq!(s, 401, "{m} {p} without credentials");
        assert_eq!(h["www-authenticate"], "Basic realm=\"faasbed\"");
        let (s, _, _) = http(m, &url, Some(("admin", "wrong")), None).await;
        assert_eq!(s, 401, "{m} {p} with a wrong password");
        let (s, _, _) = http(m, &url, Some(("root", &pw)), None).await;
        assert_eq!(s, 401, "{m} {p} with a wrong user");
    }
    let (s, _, body) = http("GET", &format!("{}/healthz", gw.url), None, None).await;
    assert_eq!((s, &body[..]), (200, &b"OK"[..]));
    gw.stop().await;
}

#[tokio::test]
async fn info_namespaces_and_empty_list_match_the_spec() {
    let api = OpenApi::load();
    let (tmp, home) = common::temp_home();
    let (gw, pw) = common::serve(&common::local_scenario(), &home, &tmp.path().join("logs")).await;
    let auth = Some(("admin", pw.as_str()));
    let (s, _, b) = http("GET", &format!("{}/system/info", gw.url), auth, None).await;
    assert_eq!(s, 200);
    let info = api.check("GatewayInfo", &b);
    assert_eq!(info["provider"]["provider"], "faasbed-local");
    let (s, _, b) = http("GET", &format!("{}/system/namespaces", gw.url), auth, None).await;
    assert_eq!(s, 200);
    api.check("ListNamespaceResponse", &b);
    let (s, _, b) = http("GET", &format!("{}/system/functions", gw.url), auth, None).await;
    assert_eq!(s, 200);
    assert_eq!(api.check_array("FunctionStatus", &b), serde_json::json!([]));
    gw.stop().await;
}

#[tokio::test]
async fn bad_requests_say_what_is_wrong() {
    let (tmp, home) = common::temp_home();
    let (gw, pw) = common::serve(&common::local_scenario(), &home, &tmp.path().join("logs")).await;
    let auth = Some(("admin", pw.as_str()));
    let url = format!("{}/system/functions", gw.url);
    let cases = [
        (
            r#"{"service":"x","image":"docker.io/functions/alpine:latest"}"#,
            400,
            "not a local build",
        ),
        (
            r#"{"service":"x","image":"faasbed.local/echo:0","constraints":["type=nowhere"]}"#,
            400,
            "no node satisfies constraints [type=nowhere]",
        ),
        (
            r#"{"service":"x","image":"faasbed.local/echo:0","constraints":["type == x"]}"#,
            400,
            "only `key=value`",
        ),
        (
            r#"{"service":"Bad_Name","image":"faasbed.local/echo:0"}"#,
            400,
            "not a valid function name",
        ),
        (
            r#"{"service":"x","image":"faasbed.local/echo:0000"}"#,
            400,
            "has no amd64 build",
        ),
        (r#"{"service": 3}"#, 400, "invalid JSON body"),
        ("not json", 400, "invalid JSON body"),
    ];
    for (body, want, msg) in cases {
        let (s, _, b) = http("POST", &url, auth, Some(body)).await;
        let text = String::from_utf8_lossy(&b);
        assert_eq!(s, want, "{body} → {text}");
        assert!(text.contains(msg), "{body} → {text}");
    }
    let (s, _, b) = http(
        "GET",
        &format!("{}/system/function/nope", gw.url),
        auth,
        None,
    )
    .await;
    assert_eq!(s, 404, "{}", String::from_utf8_lossy(&b));
    let (s, _, b) = http("GET", &format!("{}/function/nope", gw.url), None, None).await;
    assert_eq!(s, 404);
    assert!(String::from_utf8_lossy(&b).contains("function nope not found"));
    let (s, _, _) = http(
        "POST",
        &format!("{}/system/scale-function/nope", gw.url),
        auth,
        Some(r#"{"serviceName":"nope","namespace":"openfaas-fn","replicas":1}"#),
    )
    .await;
    assert_eq!(s, 404);
    gw.stop().await;
}

#[tokio::test]
async fn a_cpu_model_qemu_lacks_stops_the_topology_with_the_list() {
    let t = "[profile.pi3]\nqemu_cpu_armhf = \"cortex-a53\"\n[[node]]\nname = \"pi3-1\"\nclass = \"pi3\"\n";
    let s = faasbed::spec::parse(t, std::path::Path::new("bad-cpu.toml")).unwrap();
    let (tmp, home) = common::temp_home();
    let r = faasbed::platform::local::serve(
        &s,
        "test-cpu",
        "pw",
        &home.images(),
        &tmp.path().join("logs"),
    )
    .await;
    let e = r.err().expect("must refuse").to_string();
    assert!(
        e.contains("node pi3-1")
            && e.contains("no CPU model \"cortex-a53\"")
            && e.contains("cortex-a7"),
        "{e}"
    );
}
