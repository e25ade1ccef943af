//! The kube API calls of the k3d platform against a scripted API server (kube's own
//! `mock_tests.rs` pattern: `tower_test::mock::pair` behind `kube::Client::new`). Each test
//! asserts the exact requests (method, path and query, content type, patch body) and replays
//! hand-written API objects from `tests/fixtures/kube/` (see the README there).
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use faasbed::platform::kube::api::{self as kube, Kube, KubeError};
use faasbed::spec::{Arch, Constraint};
use http::Method;
use k8s_openapi::api::apps::v1::Deployment;
use serde_json::{json, Value};

#[path = "common/kube_script.rs"]
mod kube_script;
use kube_script::{get, scripted_kube, send, status, Exchange};
use tokio::time::Instant;

const FN: &str = "echo-rsbpi-01";

fn fixture(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/kube")
        .join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn patch(uri: &str, content_type: &'static str, body: Value, reply: Value) -> Exchange {
    send(Method::PATCH, uri, content_type, body, reply)
}

/// Run `op` against `script`, then check the script was followed to the end.
async fn with_script<T>(script: Vec<Exchange>, op: impl AsyncFnOnce(&Kube) -> T) -> T {
    let (k, server) = scripted_kube(script);
    let out = op(&k).await;
    drop(k);
    server.await.unwrap();
    out
}

fn c(s: &str) -> Constraint {
    Constraint::parse(s).unwrap()
}

/// The placement patch, written out by hand (not by the function under test).
fn placement_body() -> Value {
    json!({"spec":{"template":{"spec":{
        "nodeSelector":{"type":"rsbpi-01"},
        "containers":[{"name":"echo-rsbpi-01","env":[
            {"name":"NODE_NAME","valueFrom":{"fieldRef":{"fieldPath":"spec.nodeName"}}}]}]}}}})
}

const DEPLOYMENT: &str = "/apis/apps/v1/namespaces/openfaas-fn/deployments/echo-rsbpi-01";
const PODS: &str =
    "/api/v1/namespaces/openfaas-fn/pods?&labelSelector=faas_function%3Decho-rsbpi-01";
const ENDPOINTS: &str = "/api/v1/namespaces/openfaas-fn/endpoints/echo-rsbpi-01";
const NODES: &str = "/api/v1/nodes?";

#[tokio::test]
async fn enforce_placement_patches_the_node_selector_of_the_deployment() {
    with_script(
        vec![patch(
            &format!("{DEPLOYMENT}?&fieldManager=faasbed"),
            kube::STRATEGIC_MERGE,
            placement_body(),
            fixture("deployment-patched.json"),
        )],
        async |k| {
            k.enforce_placement(FN, &[c("type=rsbpi-01")])
                .await
                .unwrap()
        },
    )
    .await;
}

#[tokio::test]
async fn a_missing_deployment_names_function_and_namespace() {
    let e = with_script(
        vec![status(
            patch(
                &format!("{DEPLOYMENT}?&fieldManager=faasbed"),
                kube::STRATEGIC_MERGE,
                placement_body(),
                json!({"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound",
                       "message":"deployments.apps \"echo-rsbpi-01\" not found","code":404}),
            ),
            404,
        )],
        async |k| {
            k.enforce_placement(FN, &[c("type=rsbpi-01")])
                .await
                .unwrap_err()
        },
    )
    .await;
    let msg = e.to_string();
    assert!(matches!(e, KubeError::Api { .. }), "{msg}");
    assert!(
        msg.contains("deployments/echo-rsbpi-01 in openfaas-fn"),
        "{msg}"
    );
}

#[tokio::test]
async fn scale_to_zero_patches_the_scale_subresource() {
    with_script(
        vec![patch(
            &format!("{DEPLOYMENT}/scale?&fieldManager=faasbed"),
            kube::JSON_MERGE,
            json!({"spec":{"replicas":0}}),
            fixture("scale-zero.json"),
        )],
        async |k| k.scale_to_zero(FN).await.unwrap(),
    )
    .await;
}

#[tokio::test]
async fn wait_gone_polls_until_pods_and_ready_endpoints_are_gone() {
    // Poll 1: the pod is terminating and still an endpoint. Poll 2: the pod is gone but the
    // endpoints controller has not caught up. Poll 3: no address left.
    let polls = [
        ("pods-terminating.json", "endpoints-ready.json"),
        ("pods-empty.json", "endpoints-ready.json"),
        ("pods-empty.json", "endpoints-empty.json"),
    ];
    let script = polls
        .iter()
        .flat_map(|(p, e)| [get(PODS, fixture(p)), get(ENDPOINTS, fixture(e))])
        .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    with_script(script, async |k| k.wait_gone(FN, deadline).await.unwrap()).await;
}

#[tokio::test]
async fn endpoints_that_do_not_exist_count_as_gone() {
    let script = vec![
        get(PODS, fixture("pods-empty.json")),
        status(
            get(ENDPOINTS, fixture("status-endpoints-not-found.json")),
            404,
        ),
    ];
    let deadline = Instant::now() + Duration::from_secs(30);
    with_script(script, async |k| k.wait_gone(FN, deadline).await.unwrap()).await;
}

#[tokio::test]
async fn wait_gone_past_its_deadline_names_what_is_left() {
    let script = vec![
        get(PODS, fixture("pods-placed.json")),
        get(ENDPOINTS, fixture("endpoints-ready.json")),
    ];
    let e = with_script(script, async |k| {
        k.wait_gone(FN, Instant::now()).await.unwrap_err()
    })
    .await;
    let msg = e.to_string();
    assert!(matches!(e, KubeError::Timeout { .. }), "{msg}");
    assert!(msg.contains("pod echo-rsbpi-01-6d5f7c9b8-x2k9q"), "{msg}");
    assert!(msg.contains("endpoint 10.42.3.7"), "{msg}");
}

#[tokio::test]
async fn placement_joins_pods_with_their_node_labels() {
    let script = vec![
        get(PODS, fixture("pods-placed.json")),
        get(NODES, fixture("nodes-thesis.json")),
    ];
    let placed = with_script(script, async |k| {
        k.verify_placement(FN, &[c("type=rsbpi-01")]).await.unwrap()
    })
    .await;
    assert_eq!(placed.len(), 1);
    let p = &placed[0];
    assert_eq!(p.pod, "echo-rsbpi-01-6d5f7c9b8-x2k9q");
    assert_eq!(p.node.as_deref(), Some("raspberrypi-01"));
    assert_eq!(p.arch, Some(Arch::Armhf));
    assert_eq!(p.class, "pi3");
    assert!(p.ready && !p.terminating);
}

#[tokio::test]
async fn a_pod_on_the_wrong_node_names_pod_node_and_constraint() {
    let script = vec![
        get(PODS, fixture("pods-wrong-node.json")),
        get(NODES, fixture("nodes-thesis.json")),
    ];
    let e = with_script(script, async |k| {
        k.verify_placement(FN, &[c("type=rsbpi-01")])
            .await
            .unwrap_err()
    })
    .await;
    let msg = e.to_string();
    assert!(matches!(e, KubeError::Placement { .. }), "{msg}");
    for part in [
        "echo-rsbpi-01-5c8b6d7f4-q7m2w",
        "faas-cluster-02",
        "type=rsbpi-01",
        "type=\"faas-02\"",
    ] {
        assert!(msg.contains(part), "{part} missing from: {msg}");
    }
}

/// Unix ns of an RFC 3339 time, by a parser independent of the one under test.
fn ns(rfc3339: &str) -> u64 {
    let t = humantime::parse_rfc3339(rfc3339).unwrap();
    t.duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64
}

#[tokio::test]
async fn cold_phases_come_from_pod_conditions_and_container_state() {
    let pod = fixture("pod-cold.json");
    let name = pod["metadata"]["name"].as_str().unwrap().to_string();
    let cond = |kind: &str| {
        let cs = pod["status"]["conditions"].as_array().unwrap();
        let c = cs.iter().find(|c| c["type"] == kind).unwrap();
        ns(c["lastTransitionTime"].as_str().unwrap())
    };
    let started = ns(
        pod["status"]["containerStatuses"][0]["state"]["running"]["startedAt"]
            .as_str()
            .unwrap(),
    );
    let want = (
        cond("PodScheduled"),
        cond("Initialized"),
        started,
        cond("ContainersReady"),
        cond("Ready"),
    );
    let uri = format!("/api/v1/namespaces/openfaas-fn/pods/{name}");
    let ph = with_script(vec![get(&uri, pod.clone())], async |k| {
        k.cold_phases(&name).await.unwrap()
    })
    .await;
    assert_eq!(ph.pod, name);
    assert_eq!(ph.node.as_deref(), Some("raspberrypi-01"));
    assert_eq!(
        (
            ph.scheduled_ns.unwrap(),
            ph.initialized_ns.unwrap(),
            ph.container_started_ns.unwrap(),
            ph.containers_ready_ns.unwrap(),
            ph.ready_ns.unwrap()
        ),
        want
    );
    assert_eq!(ph.resolution_ns, kube::CONDITION_RESOLUTION_NS);
    assert!(ph.scheduled_ns.unwrap() <= ph.ready_ns.unwrap());
    let cold = ph.to_cold_phases();
    assert_eq!(
        (cold.spawned_ns, cold.healthy_ns),
        (ph.scheduled_ns, ph.ready_ns)
    );
}

#[test]
fn conditions_not_yet_true_have_no_time() {
    let mut pod = fixture("pod-cold.json");
    for c in pod["status"]["conditions"].as_array_mut().unwrap() {
        if c["type"] == "Ready" {
            c["status"] = json!("False");
        }
    }
    pod["status"]["containerStatuses"][0]["state"] =
        json!({"waiting": {"reason": "ContainerCreating"}});
    let ph = kube::pod_phases(&serde_json::from_value(pod).unwrap());
    assert!(ph.ready_ns.is_none());
    assert!(ph.container_started_ns.is_none());
    assert!(ph.scheduled_ns.is_some());
}

#[tokio::test]
async fn the_gateway_password_comes_from_the_basic_auth_secret() {
    let secret = fixture("secret-basic-auth.json");
    let uri = "/api/v1/namespaces/openfaas/secrets/basic-auth";
    let pw = with_script(vec![get(uri, secret.clone())], async |k| {
        k.read_gateway_password().await.unwrap()
    })
    .await;
    let encoded = secret["data"]["basic-auth-password"].as_str().unwrap();
    use base64::Engine as _;
    let want = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .unwrap();
    assert_eq!(pw.as_bytes(), want.as_slice());
}

#[tokio::test]
async fn a_secret_without_the_password_key_says_how_openfaas_was_installed() {
    let mut secret = fixture("secret-basic-auth.json");
    secret["data"]
        .as_object_mut()
        .unwrap()
        .remove("basic-auth-password");
    let uri = "/api/v1/namespaces/openfaas/secrets/basic-auth";
    let e = with_script(vec![get(uri, secret)], async |k| {
        k.read_gateway_password().await.unwrap_err()
    })
    .await;
    let msg = e.to_string();
    assert!(msg.contains("openfaas/basic-auth"), "{msg}");
    assert!(msg.contains("generateBasicAuth=true"), "{msg}");
}

#[test]
fn rollout_is_done_only_when_the_new_generation_is_available() {
    let mut d = fixture("deployment-patched.json");
    let parse = |v: &Value| serde_json::from_value::<Deployment>(v.clone()).unwrap();
    // As replayed after the patch: generation 2 not yet observed.
    assert!(!kube::is_rolled_out(&parse(&d)));
    d["status"]["observedGeneration"] = json!(2);
    assert!(!kube::is_rolled_out(&parse(&d)), "no replica updated yet");
    d["status"]["updatedReplicas"] = json!(1);
    assert!(kube::is_rolled_out(&parse(&d)));
    d["status"]["replicas"] = json!(2);
    assert!(!kube::is_rolled_out(&parse(&d)), "an old replica is left");
}

#[tokio::test]
async fn wait_rolled_out_polls_the_deployment_until_the_new_template_is_available() {
    let before = fixture("deployment-patched.json");
    let mut after = before.clone();
    after["status"]["observedGeneration"] = json!(2);
    after["status"]["updatedReplicas"] = json!(1);
    let deadline = Instant::now() + Duration::from_secs(30);
    with_script(
        vec![get(DEPLOYMENT, before), get(DEPLOYMENT, after)],
        async |k| k.wait_rolled_out(FN, deadline).await.unwrap(),
    )
    .await;
}

/// A kubeconfig in the shape `k3d kubeconfig write` produces, with a token user instead of
/// client certificates (so no key material has to be made up) and a made-up token.
const KUBECONFIG: &str = r#"apiVersion: v1
kind: Config
clusters:
- cluster:
    insecure-skip-tls-verify: true
    server: https://127.0.0.1:6550
  name: k3d-faasbed
contexts:
- context:
    cluster: k3d-faasbed
    user: admin@k3d-faasbed
  name: k3d-faasbed
current-context: k3d-faasbed
preferences: {}
users:
- name: admin@k3d-faasbed
  user:
    token: not-a-real-token
"#;

#[tokio::test]
async fn a_client_is_built_from_the_run_kubeconfig_without_connecting() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    std::fs::write(&path, KUBECONFIG).unwrap();
    // Builds the TLS stack too (rustls with ring), which panics when no provider is set up.
    Kube::from_kubeconfig(&path).await.unwrap();
}

#[tokio::test]
async fn a_missing_kubeconfig_names_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    let e = match Kube::from_kubeconfig(&path).await {
        Ok(_) => panic!("a missing kubeconfig was accepted"),
        Err(e) => e,
    };
    let msg = e.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains("faasbed up"), "{msg}");
}
