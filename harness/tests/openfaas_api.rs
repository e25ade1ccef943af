//! OpenFaaS API conformance of the local gateway, driven by the requests the real `faas-cli`
//! sends. Each fixture is the method, path, query and JSON body that faas-cli's source builds
//! (the file and function are named beside it), checked against the status codes and bodies of
//! faas-netes CE (`pkg/handlers/*.go` at openfaas/faas-netes 39509ce, the 2024 CE) and the
//! upstream OpenAPI spec (`schemas/upstream/openfaas-gateway.openapi.yml`).

#![allow(clippy::unwrap_used)]

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
        let built = common::build(&scenario, &home).await;
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
    // `faas-cli invoke echo -n other`: proxy/invoke.go calls `/function/echo.other`.
    let url = |p: &str| format!("{}{p}", gw.served.url);
    let (s, _, _) = http("POST", &url("/function/echo.other"), None, Some("x")).await;
    assert_eq!(s, 404, "no function echo in namespace other");
    let (s, _, b) = http("POST", &url("/function/echo.openfaas-fn"), None, Some("x")).await;
    assert_eq!((s, &b[..]), (200, &b"x"[..]));
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

// `faas-cli secret list [-n NS]`: proxy/secret.go `(*Client).GetSecretList`.
const SECRET_LIST: Fixture = fx("GET", "/system/secrets", None);
const SECRET_LIST_OTHER_NS: Fixture = fx("GET", "/system/secrets?namespace=other", None);
// `faas-cli secret create db-password --from-literal s3cr3t`: proxy/secret.go
// `(*Client).CreateSecret` marshals `types.Secret{Name, Value}` (namespace omitted when empty).
const SECRET_CREATE: Fixture = fx(
    "POST",
    "/system/secrets",
    Some(r#"{"name":"db-password","value":"s3cr3t"}"#),
);
// `faas-cli secret create blob --from-file F`: `RawValue` ([]byte) is base64 in JSON.
const SECRET_CREATE_RAW: Fixture = fx(
    "POST",
    "/system/secrets",
    Some(r#"{"name":"blob","rawValue":"AAEC/w=="}"#),
);
// `faas-cli secret create x --from-literal v -n other`.
const SECRET_CREATE_OTHER_NS: Fixture = fx(
    "POST",
    "/system/secrets",
    Some(r#"{"name":"x","namespace":"other","value":"v"}"#),
);
// `faas-cli secret update db-password --from-literal n3w`: `(*Client).UpdateSecret`.
const SECRET_UPDATE: Fixture = fx(
    "PUT",
    "/system/secrets",
    Some(r#"{"name":"db-password","value":"n3w"}"#),
);
const SECRET_UPDATE_MISSING: Fixture = fx(
    "PUT",
    "/system/secrets",
    Some(r#"{"name":"nope","value":"v"}"#),
);
// `faas-cli secret remove db-password`: `(*Client).RemoveSecret` sends `types.Secret{Name}`.
const SECRET_REMOVE: Fixture = fx(
    "DELETE",
    "/system/secrets",
    Some(r#"{"name":"db-password"}"#),
);
const SECRET_REMOVE_BLOB: Fixture = fx("DELETE", "/system/secrets", Some(r#"{"name":"blob"}"#));
// `faas-cli deploy --image echo:latest --name echo --secret db-password` (proxy/deploy.go),
// first PUT (404: not there yet) then POST.
const DEPLOY_WITH_SECRET_PUT: Fixture = fx(
    "PUT",
    "/system/functions",
    Some(
        r#"{"service":"echo","image":"echo:latest","secrets":["db-password"],"labels":{},"annotations":{}}"#,
    ),
);
const DEPLOY_WITH_SECRET: Fixture = fx(
    "POST",
    "/system/functions",
    Some(
        r#"{"service":"echo","image":"echo:latest","secrets":["db-password"],"labels":{},"annotations":{}}"#,
    ),
);
const DEPLOY_WITH_MISSING_SECRET: Fixture = fx(
    "POST",
    "/system/functions",
    Some(
        r#"{"service":"echo","image":"echo:latest","secrets":["missing"],"labels":{},"annotations":{}}"#,
    ),
);

fn sha256_hex(b: &[u8]) -> String {
    use sha2::Digest;
    format!("{}\n", hex::encode(sha2::Sha256::digest(b)))
}

fn mode(p: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn secrets_lifecycle_as_faas_cli_drives_it_and_replicas_read_them() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: secrets are mounted through a mount namespace, which needs root (run `sudo -E cargo test -p faasbed --test openfaas_api`)");
        return;
    }
    let api = OpenApi::load();
    let gw = Gw::start().await;
    let (s, _, b) = gw.send(&SECRET_LIST).await;
    assert_eq!((s, b.as_str()), (200, "[]"));
    let (s, _, b) = gw.send(&SECRET_CREATE).await;
    assert_eq!(s, 202, "faas-netes createSecret answers 202: {b}");
    let (s, _, b) = gw.send(&SECRET_CREATE).await;
    assert_eq!(s, 409, "faas-cli prints 'already exists' on 409: {b}");
    let (s, _, _) = gw.send(&SECRET_CREATE_RAW).await;
    assert_eq!(s, 202);
    let (s, _, b) = gw.send(&SECRET_LIST).await;
    assert_eq!(s, 200);
    let list = api.check_array("SecretDescription", b.as_bytes());
    assert_eq!(
        list,
        serde_json::json!([{"name":"blob","namespace":"openfaas-fn"},{"name":"db-password","namespace":"openfaas-fn"}])
    );
    for f in [&SECRET_LIST_OTHER_NS, &SECRET_CREATE_OTHER_NS] {
        let (s, _, b) = gw.send(f).await;
        assert_eq!(s, 400, "{} {}: {b}", f.method, f.path);
    }
    // Stored 0600 in a 0700 folder of the run directory; the values are nowhere else.
    let run = gw._tmp.path();
    assert_eq!(mode(&run.join("secrets")), 0o700);
    assert_eq!(mode(&run.join("secrets/store/db-password")), 0o600);
    assert_eq!(
        std::fs::read(run.join("secrets/store/blob")).unwrap(),
        [0, 1, 2, 255]
    );

    let (s, _, b) = gw.send(&DEPLOY_WITH_MISSING_SECRET).await;
    assert_eq!(s, 400, "{b}");
    assert!(
        b.starts_with(r#"unable to fetch secrets: secrets "missing" not found"#),
        "{b}"
    );
    let (s, _, _) = gw.send(&DEPLOY_WITH_SECRET_PUT).await;
    assert_eq!(s, 404, "faas-cli falls back to POST on 404");
    let (s, _, b) = gw.send(&DEPLOY_WITH_SECRET).await;
    assert_eq!(s, 202, "{b}");
    gw.wait_ready("echo").await;
    let (s, _, b) = gw.raw("GET", "/system/function/echo", None).await;
    assert_eq!(s, 200);
    assert_eq!(
        api.check("FunctionStatus", b.as_bytes())["secrets"],
        serde_json::json!(["db-password"])
    );

    let call = |q: &'static str| {
        let url = format!("{}/function/echo?secret={q}", gw.served.url);
        async move {
            let (s, _, b) = http("GET", &url, None, None).await;
            (s, String::from_utf8_lossy(&b).into_owned())
        }
    };
    assert_eq!(call("db-password").await, (200, sha256_hex(b"s3cr3t")));
    let (s, b) = call("blob").await;
    assert_eq!(
        s, 404,
        "only the secrets the function names are mounted: {b}"
    );
    let (s, _, _) = gw.send(&SECRET_UPDATE).await;
    assert_eq!(s, 202);
    assert_eq!(
        call("db-password").await,
        (200, sha256_hex(b"n3w")),
        "an update reaches running replicas"
    );
    let (s, _, b) = gw.send(&SECRET_UPDATE_MISSING).await;
    assert_eq!(s, 404, "{b}");
    assert!(
        !std::path::Path::new("/var/openfaas/secrets/db-password").exists(),
        "the mount stays inside the replica's namespace"
    );
    let logs = std::fs::read_dir(run.join("logs")).unwrap();
    for l in logs.flatten() {
        let text = std::fs::read_to_string(l.path()).unwrap_or_default();
        assert!(
            !text.contains("s3cr3t") && !text.contains("n3w"),
            "{} logs a value",
            l.path().display()
        );
    }

    let (s, _, _) = gw.send(&SECRET_REMOVE).await;
    assert_eq!(s, 202);
    let (s, _, _) = gw.send(&SECRET_REMOVE).await;
    assert_eq!(s, 404, "faas-cli says 'unable to find secret' on 404");
    let (s, _, _) = gw.send(&SECRET_REMOVE_BLOB).await;
    assert_eq!(s, 202);
    let (s, _, b) = gw.send(&SECRET_LIST).await;
    assert_eq!((s, b.as_str()), (200, "[]"));
    let (s, _, _) = gw.send(&REMOVE).await;
    assert!(s == 200 || s == 202);
    assert!(
        !run.join("secrets/fn/echo").exists(),
        "a removed function's copies are gone"
    );
    gw.stop().await;
}

#[tokio::test]
async fn images_are_named_without_a_hash_and_bad_names_list_the_known_ones() {
    let gw = Gw::start().await;
    for image in [
        "echo",
        "echo:latest",
        "faasbed.local/echo",
        "faasbed.local/echo:latest",
        gw.image.as_str(),
    ] {
        let body = format!(r#"{{"service":"echo","image":"{image}"}}"#);
        let (s, _, b) = gw.raw("POST", "/system/functions", Some(&body)).await;
        assert_eq!(s, 202, "{image}: {b}");
        gw.wait_ready("echo").await;
        let (s, _, b) = http(
            "GET",
            &format!("{}/function/echo", gw.served.url),
            None,
            None,
        )
        .await;
        assert_eq!((s, &b[..]), (200, &b"ok\n"[..]), "{image}");
        let (s, _, _) = gw.send(&REMOVE).await;
        assert!(s == 200 || s == 202);
    }
    let hash = gw.image.rsplit_once(':').unwrap().1;
    for (image, why) in [
        ("docker.io/functions/alpine:latest", "is not a local build"),
        ("nosuch:latest", "names no function built here"),
        ("nosuch", "names no function built here"),
    ] {
        let body = format!(r#"{{"service":"echo","image":"{image}"}}"#);
        let (s, _, b) = gw.raw("POST", "/system/functions", Some(&body)).await;
        assert_eq!(s, 400, "{image}: {b}");
        assert!(b.contains(why), "{image}: {b}");
        assert!(
            b.contains(&format!("faasbed.local/echo:latest (= :{hash})")),
            "{image}: {b}"
        );
    }
    gw.stop().await;
}

#[tokio::test]
async fn a_refused_constraint_lists_each_node_labels() {
    let (tmp, home) = common::temp_home();
    let (served, pw) =
        common::serve(&common::local_scenario(), &home, &tmp.path().join("logs")).await;
    // `faas-cli deploy --image echo --name x --constraint kubernetes.io/arch=armhf`.
    let body = r#"{"service":"x","image":"echo","constraints":["kubernetes.io/arch=armhf"],"labels":{},"annotations":{}}"#;
    let (s, _, b) = http(
        "POST",
        &format!("{}/system/functions", served.url),
        Some(("admin", &pw)),
        Some(body),
    )
    .await;
    let b = String::from_utf8_lossy(&b);
    assert_eq!(s, 400, "{b}");
    assert!(
        b.contains("no node satisfies constraints [kubernetes.io/arch=armhf]"),
        "{b}"
    );
    assert!(b.contains("node pi3-1 {faasbed.io/class=pi3, faasbed.io/site=edge, kubernetes.io/arch=arm, kubernetes.io/hostname=pi3-1}"), "{b}");
    assert!(b.contains("node vps-1 {"), "{b}");
    served.stop().await;
}

/// One call through the gateway during an update: status, instance, cold start?, sent at (ns).
async fn call_loop(
    url: String,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> Vec<(u16, String, bool, u64)> {
    let mut out = Vec::new();
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let sent = faasbed::store::clock::unix_ns(std::time::SystemTime::now());
        let (s, h, _) = http("GET", &url, None, None).await;
        let instance = h
            .get(faasbed::openfaas::headers::INSTANCE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        out.push((
            s,
            instance,
            h.contains_key(faasbed::openfaas::headers::SPAWNED),
            sent,
        ));
    }
    out
}

#[tokio::test]
async fn an_update_keeps_the_old_replica_serving_until_the_new_one_is_healthy() {
    let gw = Gw::start().await;
    gw.deploy("echo", r#","envVars":{"V":"1"}"#).await;
    let replicas = |gw: &Gw| {
        let url = format!("{}/system/faasbed/replicas/echo", gw.served.url);
        let pw = gw.pw.clone();
        async move {
            let (s, _, b) = http("GET", &url, Some(("admin", &pw)), None).await;
            assert_eq!(s, 200);
            serde_json::from_slice::<Vec<serde_json::Value>>(&b).unwrap()
        }
    };
    let old = replicas(&gw).await;
    let old_id = old[0]["instance"].as_str().unwrap().to_string();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let loops: Vec<_> = (0..4)
        .map(|_| {
            tokio::spawn(call_loop(
                format!("{}/function/echo", gw.served.url),
                stop.clone(),
            ))
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    // `faas-cli deploy` of a changed function: PUT (proxy/deploy.go, `Update` defaults to true).
    let put_sent = faasbed::store::clock::unix_ns(std::time::SystemTime::now());
    let body = format!(
        r#"{{"service":"echo","image":"{}","envVars":{{"V":"2"}},"labels":{{}},"annotations":{{}}}}"#,
        gw.image
    );
    let (s, _, b) = gw.raw("PUT", "/system/functions", Some(&body)).await;
    assert_eq!(s, 202, "{b}");
    let put_done = faasbed::store::clock::unix_ns(std::time::SystemTime::now());
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut calls = Vec::new();
    for l in loops {
        calls.extend(l.await.unwrap());
    }
    let new = replicas(&gw).await;
    assert_eq!(new.len(), 1, "{new:?}");
    let new_id = new[0]["instance"].as_str().unwrap().to_string();
    let healthy = new[0]["healthy_ns"].as_u64().unwrap();
    assert_ne!(new_id, old_id);
    assert!(
        healthy <= put_done,
        "the PUT returns once the new replica is healthy"
    );
    let environ = std::fs::read(format!("/proc/{}/environ", new[0]["pid"])).unwrap();
    assert!(
        environ.split(|b| *b == 0).any(|v| v == b"V=2"),
        "the new replica runs the new spec"
    );

    assert!(calls.len() > 20, "the loops ran: {}", calls.len());
    for (s, id, cold, sent) in &calls {
        assert_eq!(*s, 200, "no failed call during the update");
        assert!(!cold, "no call waited for a cold start (sent at {sent})");
        assert!(*id == old_id || *id == new_id, "unexpected instance {id}");
        if *sent >= put_done {
            assert_eq!(*id, new_id, "after the update only the new replica answers");
        }
    }
    assert!(
        calls
            .iter()
            .any(|(_, id, _, sent)| *id == old_id && *sent >= put_sent),
        "the old replica served while the update ran"
    );
    assert!(calls.iter().any(|(_, id, _, _)| *id == new_id));
    gw.stop().await;
}

#[tokio::test]
async fn a_failed_update_leaves_the_old_replica_and_spec_serving() {
    let gw = Gw::start().await;
    gw.deploy("echo", r#","envVars":{"V":"1"}"#).await;
    let (_, h, _) = http(
        "GET",
        &format!("{}/function/echo", gw.served.url),
        None,
        None,
    )
    .await;
    let old_id = h[faasbed::openfaas::headers::INSTANCE]
        .to_str()
        .unwrap()
        .to_string();
    // A spec whose replica cannot start: the Go runtime (1.19+) refuses a malformed GOMEMLIMIT
    // and exits before main (PORT itself is the contract's, and a deploy may not set it).
    let body = format!(
        r#"{{"service":"echo","image":"{}","envVars":{{"GOMEMLIMIT":"not-a-size"}}}}"#,
        gw.image
    );
    let (s, _, b) = gw.raw("PUT", "/system/functions", Some(&body)).await;
    assert_eq!(s, 502, "{b}");
    assert!(b.contains("exited before it was healthy"), "{b}");
    let (s, h, _) = http(
        "GET",
        &format!("{}/function/echo", gw.served.url),
        None,
        None,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(h[faasbed::openfaas::headers::INSTANCE], old_id.as_str());
    let (_, _, b) = gw.raw("GET", "/system/function/echo", None).await;
    let st: serde_json::Value = serde_json::from_str(&b).unwrap();
    assert_eq!(
        st["envVars"],
        serde_json::json!({"V":"1"}),
        "the old spec is restored"
    );
    assert_eq!(st["availableReplicas"], 1);
    gw.stop().await;
}
