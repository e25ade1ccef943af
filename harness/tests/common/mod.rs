//! Shared test helpers: the upstream OpenAPI spec as JSON Schema validators, and a local
//! topology started in-process or through the CLI.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use serde_json::Value;

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Build every function of `scenario` into `home`'s image cache (a test fails on a build
/// error).
pub async fn build(
    scenario: &faasbed::spec::Scenario,
    home: &faasbed::store::home::Home,
) -> Vec<faasbed::platform::deploy::Deployed> {
    faasbed::platform::local::functions::build_functions(scenario, &home.images(), &mut |_| {})
        .await
        .unwrap_or_else(|e| panic!("build: {e}"))
}

/// `schemas/upstream/<name>`: the upstream specs vendored into the repository (sources and
/// licences in `schemas/upstream/SOURCES.md`), so a fresh clone has everything its tests read.
pub fn upstream_spec(name: &str) -> PathBuf {
    repo().join("schemas/upstream").join(name)
}

/// OpenAPI 3.0 `nullable: true` → JSON Schema `anyOf [schema, null]`, recursively.
fn nullable_to_json_schema(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (_, x) in m.iter_mut() {
                nullable_to_json_schema(x);
            }
            if m.remove("nullable") == Some(Value::Bool(true)) {
                let inner = Value::Object(std::mem::take(m));
                m.insert("anyOf".into(), serde_json::json!([inner, {"type": "null"}]));
            }
        }
        Value::Array(a) => a.iter_mut().for_each(nullable_to_json_schema),
        _ => {}
    }
}

/// Validates JSON bodies against `#/components/schemas/<name>` of the OpenFaaS gateway spec.
pub struct OpenApi {
    doc: Value,
}

impl OpenApi {
    /// Load `openfaas-gateway.openapi.yml`.
    pub fn load() -> OpenApi {
        let text = std::fs::read_to_string(upstream_spec("openfaas-gateway.openapi.yml")).unwrap();
        let mut doc: Value = serde_yaml::from_str(&text).unwrap();
        nullable_to_json_schema(&mut doc);
        OpenApi { doc }
    }

    /// A validator for `schema` (a JSON Schema fragment whose `$ref`s point into the spec).
    pub fn validator(&self, schema: Value) -> jsonschema::Validator {
        let mut root = schema;
        root["components"] = self.doc["components"].clone();
        jsonschema::options()
            .should_validate_formats(true)
            .build(&root)
            .unwrap_or_else(|e| panic!("bad schema: {e}"))
    }

    /// Assert `body` (JSON text) is valid against component `name`.
    pub fn check(&self, name: &str, body: &[u8]) -> Value {
        self.check_with(
            serde_json::json!({"$ref": format!("#/components/schemas/{name}")}),
            name,
            body,
        )
    }

    /// Assert `body` is a JSON array of component `name`.
    pub fn check_array(&self, name: &str, body: &[u8]) -> Value {
        self.check_with(
            serde_json::json!({"type": "array", "items": {"$ref": format!("#/components/schemas/{name}")}}),
            name,
            body,
        )
    }

    fn check_with(&self, schema: Value, name: &str, body: &[u8]) -> Value {
        let v: Value = serde_json::from_slice(body).unwrap_or_else(|e| {
            panic!(
                "{name}: body is not JSON ({e}): {}",
                String::from_utf8_lossy(body)
            )
        });
        let val = self.validator(schema);
        let errs: Vec<String> = val
            .iter_errors(&v)
            .map(|e| format!("{} at {}", e, e.instance_path))
            .collect();
        assert!(
            errs.is_empty(),
            "{name} does not match the OpenAPI spec: {errs:?}\nbody: {v}"
        );
        v
    }
}

/// A temporary `FAASBED_HOME`; its cache of built functions is shared across tests
/// (`target/faasbed-test-cache`) so each function builds once.
pub fn temp_home() -> (tempfile::TempDir, faasbed::store::home::Home) {
    let d = tempfile::tempdir().unwrap();
    let home = faasbed::store::home::Home {
        root: d.path().to_path_buf(),
    };
    let shared = repo().join("target/faasbed-test-cache/functions");
    std::fs::create_dir_all(&shared).unwrap();
    std::fs::create_dir_all(home.images().parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(&shared, home.images()).unwrap();
    (d, home)
}

/// A raw HTTP exchange for tests: (status, headers, body).
pub async fn http(
    method: &str,
    url: &str,
    auth: Option<(&str, &str)>,
    body: Option<&str>,
) -> (u16, http::HeaderMap, bytes::Bytes) {
    use base64::Engine;
    use http_body_util::{BodyExt, Full};
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<bytes::Bytes>>();
    let mut req = http::Request::builder().method(method).uri(url);
    if let Some((u, p)) = auth {
        let t = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
        req = req.header("authorization", format!("Basic {t}"));
    }
    let req = req
        .body(Full::new(bytes::Bytes::from(
            body.unwrap_or("").to_string(),
        )))
        .unwrap();
    let resp = client.request(req).await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, headers, body)
}

/// The default scenario, checked.
pub fn local_scenario() -> faasbed::spec::Scenario {
    faasbed::spec::load(&repo().join("scenarios/local.toml")).unwrap()
}

/// A gateway serving `scenario` in this process, with a fresh run id and password.
pub async fn serve(
    scenario: &faasbed::spec::Scenario,
    home: &faasbed::store::home::Home,
    logs: &Path,
) -> (faasbed::platform::local::Served, String) {
    let run_id = format!("test-{}-{}", std::process::id(), rand_suffix());
    let password = format!("pw-{}", rand_suffix());
    let served =
        faasbed::platform::local::serve(scenario, &run_id, &password, &home.images(), logs)
            .await
            .unwrap_or_else(|e| panic!("cannot serve the local gateway: {e}"));
    (served, password)
}

fn rand_suffix() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!("{}", N.fetch_add(1, Ordering::Relaxed))
}

/// A local topology started through the real daemon (the faasbed binary) in a temp home.
pub struct Topology {
    pub platform: faasbed::platform::local::LocalPlatform,
    pub scenario: faasbed::spec::Scenario,
    pub home: faasbed::store::home::Home,
    _tmp: tempfile::TempDir,
}

impl Topology {
    /// Up + build + deploy `scenario_path` (relative to the repo).
    pub async fn deploy(scenario_path: &str) -> Topology {
        std::env::set_var("FAASBED_EXE", env!("CARGO_BIN_EXE_faasbed"));
        let (tmp, home) = temp_home();
        let scenario = faasbed::spec::load(&repo().join(scenario_path)).unwrap();
        let run_id = faasbed::store::home::new_run_id();
        let platform = faasbed::platform::local::LocalPlatform::up(&home, &scenario, &run_id)
            .await
            .unwrap_or_else(|e| panic!("up: {e}"));
        let built = build(&scenario, &home).await;
        faasbed::platform::deploy::deploy(
            &platform,
            &scenario,
            &built,
            std::time::Duration::from_secs(120),
        )
        .await
        .unwrap_or_else(|e| panic!("deploy: {e}"));
        Topology {
            platform,
            scenario,
            home,
            _tmp: tmp,
        }
    }

    /// Bring it down and check nothing of the run is left.
    pub async fn down(mut self) {
        use faasbed::platform::Platform;
        let run = self.platform.state().run_id.clone();
        self.platform.down().await.unwrap();
        let left = faasbed::exec::labelled_pids(Some(&run));
        assert!(left.is_empty(), "processes of run {run} left: {left:?}");
    }
}

impl Drop for Topology {
    /// A test that fails before `down` still leaves no process or cgroup of its run behind.
    fn drop(&mut self) {
        faasbed::platform::local::sweep(Some(&self.platform.state().run_id));
    }
}
