//! The platform seam without a platform: the cold logic (`measure::cold`) and the one deploy
//! loop (`platform::deploy::deploy`) driven through [`FakePlatform`], in memory and fast.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::Duration;

use faasbed::measure::cold::{self, ColdOpts, Reject};
use faasbed::platform::deploy::DeployError;
use faasbed::platform::Platform;
use faasbed::spec::{self, Scenario};

#[path = "support/fake_platform.rs"]
mod fake_platform;
use fake_platform::FakePlatform;

const SCENARIO: &str = r#"
[platform]
kind = "local"

[[node]]
name = "vps-1"
class = "vps"

[[node]]
name = "pi4-1"
class = "pi4"

[[function]]
name = "echo-vps"
source = "echo"
constraints = ["faasbed.io/class=vps"]
"#;

fn scenario() -> Scenario {
    spec::parse(SCENARIO, Path::new("seam.toml")).unwrap()
}

fn opts(repetitions: u32) -> ColdOpts {
    ColdOpts {
        repetitions,
        idle_gap: Duration::ZERO,
        seed: 7,
        stop: None,
    }
}

async fn cold_rejects(p: &FakePlatform, repetitions: u32) -> Vec<Option<Reject>> {
    let s = scenario();
    let fns: Vec<_> = s.functions.iter().collect();
    cold::run(p, &s, &fns, &opts(repetitions), |_| {})
        .await
        .into_iter()
        .map(|c| c.reject)
        .collect()
}

#[tokio::test]
async fn a_cold_start_counts_only_with_a_new_instance() {
    let p = FakePlatform::new(&[("echo-vps", "vps-1")]).await;
    assert_eq!(cold_rejects(&p, 3).await, vec![None, None, None]);

    // Forcing cold that leaves the replica alive: the same instance answers, never counted.
    let p = FakePlatform::new(&[("echo-vps", "vps-1")]).await;
    p.with(|s| s.cold_works = false);
    assert_eq!(
        cold_rejects(&p, 2).await,
        vec![Some(Reject::ReusedInstance); 2]
    );
}

#[tokio::test]
async fn a_cold_start_on_a_node_the_constraints_refuse_is_rejected() {
    let p = FakePlatform::new(&[("echo-vps", "pi4-1")]).await;
    assert_eq!(cold_rejects(&p, 2).await, vec![Some(Reject::WrongNode); 2]);
}

#[tokio::test]
async fn the_cold_call_waits_the_platforms_settle_time() {
    // A call sooner than 300 ms after the replica went reaches the old instance.
    let p = FakePlatform::new(&[("echo-vps", "vps-1")]).await;
    p.with(|s| s.settle = Duration::from_millis(300));
    assert_eq!(cold_rejects(&p, 2).await, vec![None, None]);
    let waited = p.state.lock().unwrap().invoked_after_cold.clone();
    assert_eq!(waited.len(), 2);
    for w in waited {
        assert!(
            w.unwrap() >= Duration::from_millis(300),
            "invoked {w:?} after force_cold"
        );
    }
    let calls = p.calls();
    let forced = calls
        .iter()
        .position(|c| c == "force_cold echo-vps")
        .unwrap();
    let invoked = calls.iter().position(|c| c == "invoke echo-vps").unwrap();
    assert!(forced < invoked, "{calls:?}");
}

#[tokio::test]
async fn deploy_enforces_placement_then_verifies_it() {
    // The gateway puts the replica on the wrong node; the platform's enforcement moves it.
    let p = FakePlatform::new(&[("echo-vps", "pi4-1")]).await;
    p.with(|s| {
        s.enforce_to.insert("echo-vps".into(), "vps-1".into());
    });
    let s = scenario();
    let built = p.build(&s, &mut |_| {}).await.unwrap();
    p.deploy(&s, &built, Duration::from_secs(5)).await.unwrap();
    let calls = p.calls();
    let at = |what: &str| calls.iter().position(|c| c == what).unwrap();
    assert!(at("deploy echo-vps") < at("enforce"), "{calls:?}");
    assert!(at("enforce") < at("placement echo-vps"), "{calls:?}");
}

#[tokio::test]
async fn deploy_refuses_a_violated_placement_naming_function_node_and_constraint() {
    let p = FakePlatform::new(&[("echo-vps", "pi4-1")]).await;
    let s = scenario();
    let built = p.build(&s, &mut |_| {}).await.unwrap();
    let e = p
        .deploy(&s, &built, Duration::from_secs(5))
        .await
        .unwrap_err();
    let DeployError::Placement {
        function,
        node,
        constraint,
    } = &e
    else {
        panic!("not a placement error: {e}");
    };
    assert_eq!(
        (function.as_str(), node.as_str(), constraint.as_str()),
        ("echo-vps", "pi4-1", "faasbed.io/class=vps")
    );
    let text = e.to_string();
    for part in ["echo-vps", "pi4-1", "faasbed.io/class=vps"] {
        assert!(text.contains(part), "{text}");
    }
}

#[tokio::test]
async fn deploy_polls_readiness_until_the_replicas_count() {
    let p = FakePlatform::new(&[("echo-vps", "vps-1")]).await;
    p.with(|s| s.unready_polls = 3);
    let s = scenario();
    let built = p.build(&s, &mut |_| {}).await.unwrap();
    p.deploy(&s, &built, Duration::from_secs(10)).await.unwrap();
    let polls = p.calls().iter().filter(|c| *c == "status echo-vps").count();
    assert_eq!(polls, 4, "three unready answers, then ready");
}

#[tokio::test]
async fn deploy_gives_up_when_replicas_never_become_ready() {
    let p = FakePlatform::new(&[("echo-vps", "vps-1")]).await;
    p.with(|s| s.unready_polls = u32::MAX);
    let s = scenario();
    let built = p.build(&s, &mut |_| {}).await.unwrap();
    let e = p
        .deploy(&s, &built, Duration::from_millis(100))
        .await
        .unwrap_err();
    assert!(
        matches!(
            &e,
            DeployError::NotReady { function, available: 0, wanted: 1, .. } if function == "echo-vps"
        ),
        "{e}"
    );
    assert!(
        !p.calls().iter().any(|c| c.starts_with("placement")),
        "placement is verified only once ready"
    );
}
