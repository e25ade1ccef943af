//! OpenFaaS API conformance of the local gateway, driven by the requests the real `faas-cli`
//! sends. Each fixture is the method, path, query and JSON body that faas-cli's source builds
//! (the file and function are named beside it), checked against the status codes and bodies of
//! faas-netes CE (`pkg/handlers/*.go` at openfaas/faas-netes 39509ce, the 2024 CE) and the
//! upstream OpenAPI spec (`schemas/upstream/openfaas-gateway.openapi.yml`).

mod common;

use std::time::Duration;

use common::{http, OpenApi};
use faasbed::platform::local::Served;

/// A request exactly as faas-cli builds it.
struct Fixture {
    method: &'static str,
    /// Path and query string.
    path: &'static str,
    body: Option<&'static str>,
}

const fn fx(method: &'static str, path: &'static str, body: Option<&'static str>) -> Fixture {
    Fixture { method, path, body }
}

// `faas-cli remove echo -n other`: proxy/delete.go `(*Client).DeleteFunction` marshals
// `requests.DeleteFunctionRequest{FunctionName}` and adds `?namespace=` when one is given.
const REMOVE_OTHER_NS: Fixture = fx(
    "DELETE",
    "/system/functions?namespace=other",
    Some(r#"{"functionName":"echo"}"#),
);
// `faas-cli remove echo` (no -n): the same, without a query string.
const REMOVE: Fixture = fx(
    "DELETE",
    "/system/functions",
    Some(r#"{"functionName":"echo"}"#),
);
// `faas-cli list -n other`: proxy/list.go `(*Client).ListFunctions`, `?namespace=`.
const LIST_OTHER_NS: Fixture = fx("GET", "/system/functions?namespace=other", None);
// `faas-cli list -n openfaas-fn`.
const LIST_DEFAULT_NS: Fixture = fx("GET", "/system/functions?namespace=openfaas-fn", None);
// `faas-cli describe echo -n other`: proxy/describe.go `(*Client).GetFunctionInfo`.
const DESCRIBE_OTHER_NS: Fixture = fx("GET", "/system/function/echo?namespace=other", None);
// `faas-cli describe echo -n openfaas-fn`.
const DESCRIBE_DEFAULT_NS: Fixture = fx("GET", "/system/function/echo?namespace=openfaas-fn", None);
// `faas-cli scale echo --replicas 2 -n other`: proxy/scale.go `(*Client).ScaleFunction` sends
// `types.ScaleServiceRequest{ServiceName, Replicas, Namespace}` and no query string.
const SCALE_OTHER_NS: Fixture = fx(
    "POST",
    "/system/scale-function/echo",
    Some(r#"{"serviceName":"echo","namespace":"other","replicas":2}"#),
);
// `faas-cli deploy --image faasbed.local/echo:latest --name echo -n other`: proxy/deploy.go
// `(*Client).deploy` marshals `types.FunctionDeployment` (Labels and Annotations are pointers to
// the CLI's maps) and PUTs first (`Update` is the default), POSTing on 404.
const UPDATE_OTHER_NS: Fixture = fx(
    "PUT",
    "/system/functions",
    Some(
        r#"{"service":"echo","image":"faasbed.local/echo:latest","namespace":"other","labels":{},"annotations":{}}"#,
    ),
);
const DEPLOY_OTHER_NS: Fixture = fx(
    "POST",
    "/system/functions",
    Some(
        r#"{"service":"echo2","image":"faasbed.local/echo:latest","namespace":"other","labels":{},"annotations":{}}"#,
    ),
);
// `faas-cli namespaces` (`faas-cli namespace list`): proxy/namespaces.go
// `(*Client).ListNamespaces`.
const NAMESPACES: Fixture = fx("GET", "/system/namespaces", None);
// `faas-cli namespace get openfaas-fn`: the OpenFaaS go-sdk `(*Client).GetNamespace`
// (`u.Path = "/system/namespace/" + name`), which faas-cli's namespace commands call.
const NAMESPACE_GET: Fixture = fx("GET", "/system/namespace/openfaas-fn", None);
const NAMESPACE_GET_OTHER: Fixture = fx("GET", "/system/namespace/other", None);
// go-sdk `(*Client).CreateNamespace`: `POST /system/namespace/` with the openfaas label.
const NAMESPACE_CREATE: Fixture = fx(
    "POST",
    "/system/namespace/",
    Some(r#"{"name":"other","annotations":{"openfaas":"1"},"labels":{"openfaas":"1"}}"#),
);

/// A gateway serving `fixtures/scenarios/native.toml` in this process, with echo built.
struct Gw {
    served: Served,
    pw: String,
    /// The content-addressed image of the echo build.
    image: String,
    _tmp: tempfile::TempDir,
}

impl Gw {
    async fn start() -> Gw {
        let (tmp, home) = common::temp_home();
        let scenario = faasbed::spec::load(
            &common::repo().join("harness/tests/fixtures/scenarios/native.toml"),
        )
        .unwrap();
        let built = faasbed::deploy::build_local(&scenario, &home.images(), &mut |_| {})
            .await
            .unwrap_or_else(|e| panic!("build: {e}"));
        let image = built[0].image.clone();
        let (served, pw) = common::serve(&scenario, &home, &tmp.path().join("logs")).await;
        Gw {
            served,
            pw,
            image,
            _tmp: tmp,
        }
    }

    async fn send(&self, f: &Fixture) -> (u16, http::HeaderMap, String) {
        self.raw(f.method, f.path, f.body).await
    }

    async fn raw(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> (u16, http::HeaderMap, String) {
        let (s, h, b) = http(
            method,
            &format!("{}{path}", self.served.url),
            Some(("admin", &self.pw)),
            body,
        )
        .await;
        (s, h, String::from_utf8_lossy(&b).into_owned())
    }

    /// Deploy echo under `name` with `image` and wait until it is ready.
    async fn deploy(&self, name: &str, extra: &str) {
        let body = format!(r#"{{"service":"{name}","image":"{}"{extra}}}"#, self.image);
        let (s, _, b) = self.raw("POST", "/system/functions", Some(&body)).await;
        assert_eq!(s, 202, "deploy {name}: {b}");
        self.wait_ready(name).await;
    }

    async fn wait_ready(&self, name: &str) {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let (s, _, b) = self
                .raw("GET", &format!("/system/function/{name}"), None)
                .await;
            if s == 200 {
                let v: serde_json::Value = serde_json::from_str(&b).unwrap();
                if v["availableReplicas"].as_u64() >= Some(1) {
                    return;
                }
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{name} not ready: {s} {b}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn stop(self) {
        self.served.stop().await;
    }
}

#[tokio::test]
async fn remove_in_another_namespace_never_touches_openfaas_fn() {
    let gw = Gw::start().await;
    gw.deploy("echo", "").await;
    let (s, _, b) = gw.send(&REMOVE_OTHER_NS).await;
    assert_eq!(
        s, 400,
        "faas-netes delete.go refuses another namespace: {b}"
    );
    assert!(b.contains("namespace must be: openfaas-fn"), "{b}");
    let (s, _, b) = gw.send(&DESCRIBE_DEFAULT_NS).await;
    assert_eq!(
        s, 200,
        "echo in openfaas-fn must survive `faas-cli remove echo -n other`: {b}"
    );
    let (s, _, b) = gw.send(&REMOVE).await;
    assert!(s == 200 || s == 202, "{b}");
    let (s, _, _) = gw.send(&DESCRIBE_DEFAULT_NS).await;
    assert_eq!(s, 404);
    gw.stop().await;
}

#[tokio::test]
async fn every_function_route_refuses_another_namespace_and_changes_nothing() {
    let api = OpenApi::load();
    let gw = Gw::start().await;
    gw.deploy("echo", "").await;
    for f in [
        &LIST_OTHER_NS,
        &DESCRIBE_OTHER_NS,
        &SCALE_OTHER_NS,
        &UPDATE_OTHER_NS,
        &DEPLOY_OTHER_NS,
        &REMOVE_OTHER_NS,
    ] {
        let (s, _, b) = gw.send(f).await;
        assert_eq!(s, 400, "{} {}: {b}", f.method, f.path);
        assert!(
            b.contains("namespace must be: openfaas-fn"),
            "{} {}: {b}",
            f.method,
            f.path
        );
    }
    // Nothing moved: still one echo, one replica, the same image; no echo2.
    let (s, _, b) = gw.send(&LIST_DEFAULT_NS).await;
    assert_eq!(s, 200);
    let list = api.check_array("FunctionStatus", b.as_bytes());
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["echo"]);
    assert_eq!(list[0]["replicas"], 1);
    assert_eq!(list[0]["namespace"], "openfaas-fn");
    let (s, _, b) = gw.send(&DESCRIBE_DEFAULT_NS).await;
    assert_eq!(s, 200);
    api.check("FunctionStatus", b.as_bytes());
    gw.stop().await;
}

#[tokio::test]
async fn namespaces_list_and_describe() {
    let api = OpenApi::load();
    let gw = Gw::start().await;
    let (s, h, b) = gw.send(&NAMESPACES).await;
    assert_eq!(s, 200);
    assert_eq!(h["content-type"], "application/json");
    assert_eq!(
        api.check("ListNamespaceResponse", b.as_bytes()),
        serde_json::json!(["openfaas-fn"])
    );
    let (s, h, b) = gw.send(&NAMESPACE_GET).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(h["content-type"], "application/json");
    let v: serde_json::Value = serde_json::from_str(&b).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"name":"openfaas-fn","annotations":{"openfaas":"1"},"labels":{"openfaas":"1"}})
    );
    let (s, _, b) = gw.send(&NAMESPACE_GET_OTHER).await;
    assert_eq!(s, 404, "the go-sdk maps 404 to ErrNotFound: {b}");
    let (s, _, b) = gw.send(&NAMESPACE_CREATE).await;
    assert_eq!(s, 400, "{b}");
    assert!(b.contains("one fixed namespace, openfaas-fn"), "{b}");
    gw.stop().await;
}
