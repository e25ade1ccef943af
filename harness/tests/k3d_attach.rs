//! `faasbed up` on k3d saves what it made in the home; the next command reconnects through
//! `platform::cluster::attach_with` (here with a scripted kube API and the recording runner of
//! `faasbed::dryrun`),
//! and `down` deletes the cluster it recorded. The password never sits in the state file.
#![allow(clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt;

use faasbed::dryrun::runner::Recording;
use faasbed::dryrun::Journal;
use faasbed::platform::cluster::Attached;
use faasbed::platform::cluster::{self, PASSWORD_FILE, STATE_FILE};
use faasbed::platform::k3d::K3dPlatform;
use faasbed::platform::{GatewayAccess, Platform};
use faasbed::spec;
use faasbed::store::home::Home;

#[path = "common/kube_script.rs"]
mod kube_script;
use kube_script::scripted_kube;

const RUN_ID: &str = "run-20261203-0101";

const SCENARIO: &str = r#"
[platform]
kind = "k3d"

[[node]]
name = "srv"
class = "vps"
arch = "amd64"
site = "lab"
backend = "server"

[[function]]
name = "echo"
source = "echo"
"#;

#[tokio::test]
async fn a_k3d_run_saved_by_up_is_reattached_and_brought_down() {
    let tmp = tempfile::tempdir().unwrap();
    let home = Home {
        root: tmp.path().join("home"),
    };
    let scenario_path = tmp.path().join("k3d.toml");
    std::fs::write(&scenario_path, SCENARIO).unwrap();
    let scenario = spec::load(&scenario_path).unwrap();
    let run_dir = home.runs().join(RUN_ID);
    let kubeconfig = run_dir.join("kubeconfig");
    let (kube, _server) = scripted_kube(vec![]);
    let made = K3dPlatform::reconnect(
        Recording::silent(Journal::default()),
        kube,
        GatewayAccess {
            url: "http://127.0.0.1:31112".into(),
            user: "admin".into(),
            password: "s3cret-gateway-pw".into(),
        },
        "faasbed-test".into(),
        None,
        &run_dir,
        &kubeconfig,
    );

    let saved = cluster::save(&home, &scenario, RUN_ID, &made).unwrap();
    assert_eq!(home.current().unwrap(), run_dir, "up makes the run current");
    let state_text = std::fs::read_to_string(run_dir.join(STATE_FILE)).unwrap();
    assert!(
        !state_text.contains("s3cret-gateway-pw"),
        "the password is not in the state file: {state_text}"
    );
    let pw = run_dir.join(PASSWORD_FILE);
    assert_eq!(saved.credentials, pw);
    assert_eq!(
        std::fs::metadata(&pw).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(cluster::load(&run_dir).unwrap(), Some(saved.clone()));
    assert_eq!(saved.cluster.as_deref(), Some("faasbed-test"));
    assert_eq!(saved.kind, "k3d");

    let runner = Recording::silent(Journal::default());
    let (kube2, _server2) = scripted_kube(vec![]);
    let attached = cluster::attach_with(&home, &saved, runner.clone(), |p| {
        assert_eq!(p, kubeconfig, "reconnects with the saved kubeconfig");
        async move { Ok(kube2) }
    })
    .await
    .unwrap();
    let Attached::K3d(mut back) = attached else {
        panic!("a run with a k3d cluster reattaches as k3d");
    };
    assert_eq!(back.gateway().url, "http://127.0.0.1:31112");
    assert_eq!(back.gateway().user, "admin");
    assert_eq!(back.gateway().password, "s3cret-gateway-pw");
    assert_eq!(back.cluster(), Some("faasbed-test"));
    assert_eq!(back.kubeconfig(), kubeconfig.as_path());

    back.down().await.unwrap();
    assert_eq!(
        runner.lines(),
        vec!["k3d cluster delete faasbed-test".to_string()]
    );
    cluster::forget(&home, &saved, &runner).await;
    assert_eq!(home.current(), None, "down forgets the current run");
}

#[tokio::test]
async fn a_run_without_saved_state_is_not_a_cluster_and_bad_state_names_its_file() {
    let tmp = tempfile::tempdir().unwrap();
    assert_eq!(cluster::load(tmp.path()).unwrap(), None);
    std::fs::write(tmp.path().join(STATE_FILE), "{ not json").unwrap();
    let e = cluster::load(tmp.path()).unwrap_err().to_string();
    assert!(e.contains(STATE_FILE), "{e}");
    assert!(e.contains("faasbed down"), "{e}");
}

#[tokio::test]
async fn attaching_where_nothing_is_up_says_so_and_names_the_home() {
    let tmp = tempfile::tempdir().unwrap();
    let home = Home {
        root: tmp.path().to_path_buf(),
    };
    let Err(e) = faasbed::platform::AnyPlatform::attach(&home).await else {
        panic!("attached to an empty home");
    };
    let text = e.to_string();
    assert!(text.contains("nothing is up"), "{text}");
    assert!(text.contains(&tmp.path().display().to_string()), "{text}");
}
