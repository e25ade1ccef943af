//! Tests of the placeholder kube API through the real [`Kube`] methods.
#![allow(clippy::unwrap_used)] // tests may unwrap

use std::collections::BTreeMap;
use std::path::Path;

use tokio::time::Instant;

use super::*;
use crate::dryrun::Event;
use crate::platform::kube::api::KubeError;
use crate::platform::kube::{enforce_and_verify, relabel};

const TWO_NODES: &str = r#"
[platform]
kind = "k3d"

[[node]]
name = "control"
class = "vps"
arch = "amd64"
backend = "server"

[[node]]
name = "edge"
class = "pi4"
arch = "arm64"
backend = "qemu"

[[function]]
name = "echo-edge"
source = "echo"
constraints = ["faasbed.io/class=pi4"]
"#;

fn scenario() -> Scenario {
    crate::spec::parse(TWO_NODES, Path::new("scenarios/two.toml")).unwrap()
}

/// Each journalled event as one line: `GET path`, `PATCH path content-type`, `POST path`, ...
fn lines(j: &Journal) -> Vec<String> {
    j.events()
        .iter()
        .map(|e| match e {
            Event::Step(Step::Read { via, path }) => format!("{via} GET {path}"),
            Event::Step(Step::KubePatch {
                path, content_type, ..
            }) => format!("PATCH {path} {content_type}"),
            Event::Step(Step::KubeCreate { path, .. }) => format!("POST {path}"),
            Event::Step(Step::Note(t)) => format!("note {t}"),
            other => format!("{other:?}"),
        })
        .collect()
}

fn class(value: &str) -> BTreeMap<String, String> {
    BTreeMap::from([(labels::CLASS.to_string(), value.to_string())])
}

#[tokio::test]
async fn nodes_are_ready_with_their_arch_and_a_label_patch_sticks() {
    let kube = placeholder_kube(&scenario(), Journal::default());
    let facts = kube.node_facts().await.unwrap();
    let seen: Vec<(&str, &str, bool)> = facts
        .iter()
        .map(|f| (f.name.as_str(), f.arch.as_str(), f.ready))
        .collect();
    assert_eq!(seen, [("control", "amd64", true), ("edge", "arm64", true)]);
    let sc = scenario();
    let edge = &facts[1];
    assert_eq!(edge.cpu_cores, sc.nodes[1].profile.cpus);
    assert_eq!(edge.memory_bytes, sc.nodes[1].profile.memory_bytes);
    assert_eq!(
        edge.labels.keys().collect::<Vec<_>>(),
        [labels::ARCH, labels::HOSTNAME, "kubernetes.io/os"],
        "only the kubelet's labels at first"
    );

    kube.label_node("edge", &class("pi4")).await.unwrap();
    let facts = kube.node_facts().await.unwrap();
    assert_eq!(
        facts[1].labels.get(labels::CLASS).map(String::as_str),
        Some("pi4")
    );
    assert!(!facts[0].labels.contains_key(labels::CLASS));
}

#[tokio::test]
async fn labelled_nodes_take_the_pods_their_constraints_select() {
    let sc = scenario();
    let kube = placeholder_kube(&sc, Journal::default());
    let e = kube
        .verify_placement("echo-edge", &sc.functions[0].constraints)
        .await
        .unwrap_err();
    assert!(
        matches!(e, KubeError::Unscheduled { .. }),
        "no node has the class label yet: {e}"
    );

    relabel::apply_scenario_labels(&kube, &sc).await.unwrap();
    let placed = enforce_and_verify(&kube, &sc).await.unwrap();
    assert_eq!(placed.len(), 1);
    let (function, pods) = &placed[0];
    assert_eq!(function, "echo-edge");
    assert_eq!(pods.len(), 1);
    assert_eq!(pods[0].node.as_deref(), Some("edge"));
    assert_eq!(pods[0].class, "pi4");
    assert!(pods[0].ready && !pods[0].terminating);

    let phases = kube.cold_phases(&pods[0].pod).await.unwrap();
    assert_eq!(phases.node.as_deref(), Some("edge"));
    assert!(phases.scheduled_ns.is_some() && phases.ready_ns.is_some());
}

#[tokio::test]
async fn the_selector_patched_in_wins_over_the_constraints() {
    let sc = scenario();
    let kube = placeholder_kube(&sc, Journal::default());
    kube.label_node("control", &class("vps")).await.unwrap();
    kube.label_node("edge", &class("pi4")).await.unwrap();
    let to_control = [crate::spec::Constraint::parse("faasbed.io/class=vps").unwrap()];
    kube.enforce_placement("echo-edge", &to_control)
        .await
        .unwrap();
    kube.wait_rolled_out("echo-edge", Instant::now())
        .await
        .unwrap();
    let placed = kube
        .verify_placement("echo-edge", &to_control)
        .await
        .unwrap();
    assert_eq!(placed[0].node.as_deref(), Some("control"));
}

#[tokio::test]
async fn scaled_to_zero_a_function_is_gone() {
    let kube = placeholder_kube(&scenario(), Journal::default());
    let e = kube
        .wait_gone("echo-edge", Instant::now())
        .await
        .unwrap_err();
    assert!(
        matches!(&e, KubeError::Timeout { left, .. } if left.contains("pod echo-edge-")),
        "{e}"
    );
    kube.scale_to_zero("echo-edge").await.unwrap();
    kube.wait_gone("echo-edge", Instant::now()).await.unwrap();
    kube.wait_rolled_out("echo-edge", Instant::now())
        .await
        .unwrap();
    let e = kube.verify_placement("echo-edge", &[]).await.unwrap_err();
    assert!(matches!(e, KubeError::NoPods { .. }), "{e}");
}

#[tokio::test]
async fn a_fresh_cluster_has_the_secret_and_no_gateway() {
    let kube = placeholder_kube(&scenario(), Journal::default());
    assert_eq!(kube.read_gateway_password().await.unwrap(), "<redacted>");
    assert!(!kube.gateway_installed().await.unwrap());
    let installed = PlaceholderCluster::new(&scenario())
        .with_openfaas(true)
        .kube(Journal::default());
    assert!(installed.gateway_installed().await.unwrap());
}

#[tokio::test]
async fn a_namespace_is_created_once_and_exists_after() {
    let j = Journal::default();
    let kube = placeholder_kube(&scenario(), j.clone());
    kube.ensure_namespace(FUNCTION_NAMESPACE).await.unwrap();
    kube.ensure_namespace(FUNCTION_NAMESPACE).await.unwrap();
    assert_eq!(
        lines(&j),
        ["POST /api/v1/namespaces", "POST /api/v1/namespaces"]
    );
    let Event::Step(Step::KubeCreate { body, .. }) = &j.events()[0] else {
        panic!("{:?}", j.events());
    };
    assert_eq!(body["metadata"]["name"], FUNCTION_NAMESPACE);
    let mut cluster = PlaceholderCluster::new(&scenario());
    let (code, _) = cluster.answer(
        &Method::POST,
        "/api/v1/namespaces",
        "",
        None,
        &json!({ "metadata": { "name": "default" } }),
    );
    assert_eq!(code, 409, "a fresh cluster has the default namespace");
    let get = |c: &mut PlaceholderCluster, ns: &str| {
        let path = format!("/api/v1/namespaces/{ns}");
        c.answer(&Method::GET, &path, "", None, &Value::Null).0
    };
    assert_eq!(get(&mut cluster, "openfaas"), 404);
    let created = json!({ "metadata": { "name": "openfaas" } });
    cluster.answer(&Method::POST, "/api/v1/namespaces", "", None, &created);
    assert_eq!(get(&mut cluster, "openfaas"), 200);
}

#[tokio::test]
async fn the_journal_holds_each_request_in_order_with_normalised_paths() {
    let j = Journal::default();
    let kube = placeholder_kube(&scenario(), j.clone());
    kube.label_node("edge", &class("pi4")).await.unwrap();
    kube.enforce_placement("echo-edge", &scenario().functions[0].constraints)
        .await
        .unwrap();
    kube.scale_to_zero("echo-edge").await.unwrap();
    kube.wait_gone("echo-edge", Instant::now()).await.unwrap();
    kube.node_facts().await.unwrap();
    assert_eq!(
        lines(&j),
        [
            "PATCH /api/v1/nodes/edge?fieldManager=faasbed application/merge-patch+json",
            "PATCH /apis/apps/v1/namespaces/openfaas-fn/deployments/echo-edge?fieldManager=faasbed \
             application/strategic-merge-patch+json",
            "PATCH /apis/apps/v1/namespaces/openfaas-fn/deployments/echo-edge/scale?fieldManager=faasbed \
             application/merge-patch+json",
            "kube GET /api/v1/namespaces/openfaas-fn/pods?labelSelector=faas_function%3Decho-edge",
            "kube GET /api/v1/namespaces/openfaas-fn/endpoints/echo-edge",
            "kube GET /api/v1/nodes",
        ]
    );
    let Event::Step(Step::KubePatch { body, .. }) = &j.events()[1] else {
        panic!("{:?}", j.events());
    };
    assert_eq!(
        body["spec"]["template"]["spec"]["nodeSelector"],
        json!({ "faasbed.io/class": "pi4" })
    );
}

#[tokio::test]
async fn unknown_paths_and_objects_are_recorded_and_answered_404() {
    let j = Journal::default();
    let kube = placeholder_kube(&scenario(), j.clone());
    let e = kube.cold_phases("no-such-pod").await.unwrap_err();
    assert!(
        matches!(&e, KubeError::Api { source: ::kube::Error::Api(s), .. } if s.code == 404),
        "{e}"
    );
    let e = kube.enforce_placement("ghost", &[]).await.unwrap_err();
    assert!(
        matches!(&e, KubeError::Api { source: ::kube::Error::Api(s), .. } if s.is_not_found()),
        "{e}"
    );

    let state = Arc::new(Mutex::new(PlaceholderCluster::new(&scenario())));
    for (method, uri, body) in [
        ("GET", "/apis/batch/v1/namespaces/x/jobs?&limit=1", ""),
        ("DELETE", "/api/v1/nodes/edge", ""),
        (
            "PATCH",
            "/api/v1/nodes/edge?&fieldManager=faasbed",
            "not json {",
        ),
    ] {
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .header(CONTENT_TYPE, JSON_MERGE)
            .body(Body::from(body.as_bytes().to_vec()))
            .unwrap();
        let code = serve(Arc::clone(&state), j.clone(), req)
            .await
            .unwrap()
            .status();
        assert!(code.is_client_error(), "{method} {uri}: {code}");
    }
    assert_eq!(
        lines(&j),
        [
            "kube GET /api/v1/namespaces/openfaas-fn/pods/no-such-pod",
            "PATCH /apis/apps/v1/namespaces/openfaas-fn/deployments/ghost?fieldManager=faasbed \
             application/strategic-merge-patch+json",
            "kube GET /apis/batch/v1/namespaces/x/jobs?limit=1",
            "note kube DELETE /api/v1/nodes/edge",
            "PATCH /api/v1/nodes/edge?fieldManager=faasbed application/merge-patch+json",
        ]
    );
}

#[test]
fn paths_lose_only_the_empty_query_parts() {
    assert_eq!(normalise("/api/v1/nodes", Some("")), "/api/v1/nodes");
    assert_eq!(normalise("/api/v1/nodes", None), "/api/v1/nodes");
    assert_eq!(
        normalise("/api/v1/nodes/edge", Some("&fieldManager=faasbed")),
        "/api/v1/nodes/edge?fieldManager=faasbed"
    );
    assert_eq!(
        normalise("/p", Some("&labelSelector=a%3Db&&limit=2")),
        "/p?labelSelector=a%3Db&limit=2"
    );
}

#[test]
fn selectors_are_decoded_and_only_equality_is_understood() {
    assert_eq!(percent_decode("faas_function%3Decho"), "faas_function=echo");
    assert_eq!(percent_decode("a+b%2"), "a b%2", "a malformed escape stays");
    assert_eq!(
        parse_selector("a=b,c==d").unwrap(),
        [("a".into(), "b".into()), ("c".into(), "d".into())]
    );
    assert!(parse_selector("a!=b").is_err());
    assert!(parse_selector("a in (b)").is_err());
    assert!(parse_selector("").unwrap().is_empty());
}

#[test]
fn cpu_quantities_read_back_as_the_profile() {
    for cpus in [0.5, 1.0, 4.0, 1.25] {
        let q = cpu_quantity(cpus);
        assert_eq!(crate::spec::parse_cpu(&q).unwrap(), cpus, "{q}");
    }
}

#[tokio::test]
async fn the_gateway_stand_in_scales_from_zero_and_a_redeploy_drops_the_patch() {
    let sc = scenario();
    let cluster = PlaceholderCluster::new(&sc).shared();
    let kube = cluster.kube(Journal::default());
    kube.label_node("control", &class("vps")).await.unwrap();
    kube.label_node("edge", &class("pi4")).await.unwrap();
    let to_control = [crate::spec::Constraint::parse("faasbed.io/class=vps").unwrap()];
    kube.enforce_placement("echo-edge", &to_control)
        .await
        .unwrap();
    kube.scale_to_zero("echo-edge").await.unwrap();
    assert!(cluster.scale("echo-edge", 1));
    let placed = kube.placement("echo-edge").await.unwrap();
    assert_eq!(placed[0].node.as_deref(), Some("control"));
    assert!(cluster.redeployed("echo-edge"));
    let placed = kube.placement("echo-edge").await.unwrap();
    assert_eq!(
        placed[0].node.as_deref(),
        Some("edge"),
        "without the patched nodeSelector the pods follow the scenario's constraints"
    );
    assert!(!cluster.scale("ghost", 1) && !cluster.redeployed("ghost"));
}

#[tokio::test]
async fn a_checked_in_scenario_labels_and_places_every_function() {
    let text = include_str!("../../../../scenarios/pi3-pi4-vps.toml");
    let sc = crate::spec::parse(text, Path::new("scenarios/pi3-pi4-vps.toml")).unwrap();
    let kube = placeholder_kube(&sc, Journal::default());
    relabel::apply_scenario_labels(&kube, &sc).await.unwrap();
    let placed = enforce_and_verify(&kube, &sc).await.unwrap();
    let nodes: Vec<(&str, &str)> = placed
        .iter()
        .map(|(f, pods)| (f.as_str(), pods[0].node.as_deref().unwrap()))
        .collect();
    assert_eq!(
        &nodes[..3],
        [
            ("echo-vps", "vps-a"),
            ("echo-pi3", "pi3-a"),
            ("echo-pi4", "pi4-a")
        ]
    );
    assert_eq!(nodes.len(), sc.functions.len());
    let arm = kube.node_facts().await.unwrap();
    let pi3 = arm.iter().find(|f| f.name == "pi3-a").unwrap();
    assert_eq!(pi3.arch, "arm", "armhf reports as arm");
}

#[tokio::test]
async fn nodes_that_joined_with_their_labels_need_no_label_patch() {
    let sc = scenario();
    let j = Journal::default();
    let kube = PlaceholderCluster::new(&sc)
        .with_join_labels(true)
        .kube(j.clone());
    let rows = relabel::apply_scenario_labels(&kube, &sc).await.unwrap();
    assert!(rows.iter().all(|r| r.changes.is_empty()), "{rows:?}");
    assert_eq!(lines(&j), ["kube GET /api/v1/nodes"]);
    let facts = kube.node_facts().await.unwrap();
    assert_eq!(
        facts[1].labels.get(labels::CLASS).map(String::as_str),
        Some("pi4")
    );
    let placed = enforce_and_verify(&kube, &sc).await.unwrap();
    assert_eq!(placed[0].1[0].node.as_deref(), Some("edge"));
}
