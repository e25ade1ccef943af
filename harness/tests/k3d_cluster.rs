//! Real-cluster tests of the k3d platform: `K3dPlatform::up` → build and push images → deploy
//! with placement enforced and verified → warm call → `force_cold` → cold call on a new
//! replica on the right node → `down`, on a two-node scenario and on the k3d part of the thesis.
//!
//! Ignored by default: they need Docker with buildx, k3d and helm on PATH, and the internet
//! (the k3s image, the OpenFaaS chart and its images, the Go builder image). Run them with
//! `just test-cluster`. They have never run on the development machines, which have none of
//! these; treat a first failure as a bug in the test as much as in the code.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::time::Duration;

use faasbed::exec::System;
use faasbed::openfaas::headers;
use faasbed::platform::k3d::plan::{self, PlanOpts};
use faasbed::platform::k3d::K3dPlatform;
use faasbed::platform::Platform;
use faasbed::spec::{self, Backend, Scenario};
use futures::FutureExt as _;

const RUN_ID: &str = "run-cluster-test";

/// One k3s server and one labelled agent, both k3d containers; `echo` pinned to the agent.
const SCENARIO: &str = r#"
[platform]
kind = "k3d"

[platform.k3d]
cluster_name = "faasbed-test"

[[node]]
name = "srv"
class = "vps"
arch = "amd64"
backend = "server"

[[node]]
name = "edge"
class = "vps"
arch = "amd64"
backend = "agent"
labels = { type = "edge-01" }

[[function]]
name = "echo-edge"
source = "echo"
constraints = ["type=edge-01"]
"#;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The thesis without its Raspberry Pi VMs and the functions pinned to them: the server and the
/// two VPS agents, as k3d containers (quicker, and no root needed).
fn thesis_k3d_part() -> Scenario {
    let mut s = spec::load(&repo().join("scenarios/thesis.toml")).unwrap();
    s.nodes
        .retain(|n| matches!(n.backend, Backend::Server | Backend::Agent));
    let nodes = s.nodes.clone();
    s.functions.retain(|f| {
        nodes
            .iter()
            .any(|n| spec::all_match(&f.constraints, &n.labels()))
    });
    s
}

/// An error with every cause, for panic messages.
fn why(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        out.push_str(&format!("\n  caused by: {s}"));
        src = s.source();
    }
    out
}

/// up → images → deploy → warm → force_cold → cold → down; `down` runs whatever happened.
async fn lifecycle(scenario: Scenario, run_id: &str) {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join(run_id);
    let mut p = K3dPlatform::up(&scenario, run_id, &run_dir, System)
        .await
        .unwrap_or_else(|e| panic!("{}", why(&e)));
    let outcome = AssertUnwindSafe(exercise(&p, &scenario, run_id, &run_dir))
        .catch_unwind()
        .await;
    let down = p.down().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
    down.unwrap();
    // Safe twice.
    p.down().await.unwrap();
}

async fn exercise(p: &K3dPlatform, scenario: &Scenario, run_id: &str, run_dir: &Path) {
    assert!(!p.reused());
    assert!(run_dir.join("kubeconfig").is_file());
    // A second up of the same run finds its cluster and reuses it (not brought down here).
    let again = K3dPlatform::up(scenario, run_id, run_dir, System)
        .await
        .unwrap_or_else(|e| panic!("{}", why(&e)));
    assert!(again.reused());
    drop(again);

    let built = p
        .build_images(scenario, &repo().join("images/functions"))
        .await
        .unwrap_or_else(|e| panic!("{}", why(&e)));
    assert!(
        built.iter().all(|b| b.image.contains("@sha256:")),
        "{built:?}"
    );
    p.deploy(scenario, &built, Duration::from_secs(180))
        .await
        .unwrap_or_else(|e| panic!("{}", why(&e)));

    let client = p.gateway().client();
    for f in &scenario.functions {
        let allowed: BTreeSet<String> = scenario
            .eligible_nodes(f)
            .iter()
            .map(|n| n.name.clone())
            .collect();
        for r in p.placement(&f.name).await.unwrap() {
            assert!(allowed.contains(&r.node), "{}: {r:?}", f.name);
        }
        let body = f.body.clone().map(bytes::Bytes::from);
        let warm = client.invoke(&f.name, &f.path, body.clone()).await.unwrap();
        assert!(warm.status.is_success(), "{}: {}", f.name, warm.status);
        let warm_instance = warm.header(headers::INSTANCE).unwrap().to_string();

        p.force_cold(&f.name)
            .await
            .unwrap_or_else(|e| panic!("{}", why(&e)));
        tokio::time::sleep(p.cold_settle()).await;
        let cold = client.invoke(&f.name, &f.path, body).await.unwrap();
        assert!(cold.status.is_success(), "{}: {}", f.name, cold.status);
        assert_ne!(
            cold.header(headers::INSTANCE).unwrap(),
            warm_instance,
            "{}: not a new replica",
            f.name
        );
        let node = cold.header(headers::NODE).unwrap();
        assert!(allowed.contains(node), "{}: answered from {node}", f.name);
    }
}

#[tokio::test]
#[ignore = "needs docker + k3d + internet"]
async fn two_nodes_up_deploy_cold_down() {
    let scenario = spec::parse(SCENARIO, &repo().join("scenarios/cluster-test.toml")).unwrap();
    lifecycle(scenario, RUN_ID).await;
}

#[tokio::test]
#[ignore = "needs docker + k3d + internet"]
async fn thesis_up_deploy_cold_down() {
    lifecycle(thesis_k3d_part(), "run-thesis-cluster-test").await;
}

#[tokio::test]
#[ignore = "needs docker + k3d + internet"]
async fn thesis_with_its_pis_as_qemu_vms_up_deploy_cold_down() {
    // Also needs root (the VMs' TAP devices on the k3d bridge), qemu-system-arm and apt's armhf
    // packages: the two Raspberry Pi 3 VMs boot and join as k3s agents, and the functions
    // pinned to them run there under TCG emulation.
    let s = spec::load(&repo().join("scenarios/thesis.toml")).unwrap();
    lifecycle(s, "run-thesis-vm-test").await;
}

/// Not ignored: the ignored test's scenario stays valid and its plan has what the test runs.
#[tokio::test]
async fn the_cluster_test_scenario_plans() {
    let scenario = spec::parse(SCENARIO, Path::new("cluster.toml")).unwrap();
    let p = plan::plan(
        &scenario,
        &PlanOpts {
            run_id: RUN_ID.into(),
            run_dir: PathBuf::from("r"),
        },
    )
    .await
    .unwrap();
    let titles: Vec<&str> = p.sections.iter().map(|s| s.title.as_str()).collect();
    for t in ["cluster", "node labels", "OpenFaaS CE"] {
        assert!(titles.contains(&t), "no section {t:?} in {titles:?}");
    }
    assert_eq!(scenario.platform.k3d.cluster_name, "faasbed-test");
}

/// Not ignored: the k3d part of the thesis has only k3d containers, with the VPS functions.
#[test]
fn the_thesis_k3d_part_has_no_external_agents_and_keeps_the_vps_functions() {
    let s = thesis_k3d_part();
    let cp = faasbed::platform::k3d::config::plan(&s, "run-x").unwrap();
    assert!(cp.external_agents.is_empty());
    let names: Vec<&str> = s.functions.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "echo-faas-02",
            "echo-faas-03",
            "cpu-faas-02",
            "json-faas-03"
        ]
    );
}
