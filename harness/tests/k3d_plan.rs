//! The dry-run plan of the thesis scenario on the k3d platform and of the thesis topology on an
//! existing cluster: snapshots of the whole text, plus checks of their order and content that
//! hold whatever the wording.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use faasbed::platform::k3d::plan::{self, Plan, PlanOpts, Step, REDACTED};
use faasbed::spec::{self, Scenario};

const RUN_ID: &str = "run-20261127-0931";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn thesis() -> Scenario {
    let mut s = spec::load(&repo().join("scenarios/thesis.toml")).unwrap();
    // Print the path as a user types it, so the snapshot does not depend on the checkout.
    s.path = PathBuf::from("scenarios/thesis.toml");
    s
}

async fn thesis_plan() -> Plan {
    let opts = PlanOpts {
        run_id: RUN_ID.into(),
        run_dir: PathBuf::from("results").join(RUN_ID),
    };
    plan::plan(&thesis(), &opts).await.unwrap()
}

fn steps(p: &Plan) -> Vec<&Step> {
    p.sections.iter().flat_map(|s| &s.steps).collect()
}

fn commands(p: &Plan) -> Vec<String> {
    steps(p)
        .into_iter()
        .filter_map(|s| match s {
            Step::Command { cmd, .. } => Some(cmd.display()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn thesis_plan_snapshot() {
    insta::assert_snapshot!(thesis_plan().await.render());
}

#[tokio::test]
async fn cluster_first_delete_last() {
    let p = thesis_plan().await;
    let cmds = commands(&p);
    // Only the cached VM images are built before the cluster exists.
    let first = cmds.iter().position(|c| c.starts_with("k3d ")).unwrap();
    assert!(
        cmds[first].starts_with("k3d cluster create --config results/run-20261127-0931/k3d.yaml")
    );
    for c in &cmds[..first] {
        assert!(
            [
                "dpkg ",
                "apt-cache ",
                "apt-get ",
                "curl ",
                "mkfs.ext4 -q -F -L faasbed-base "
            ]
            .iter()
            .any(|p| c.starts_with(p)),
            "{c} runs before the cluster"
        );
    }
    assert_eq!(cmds.last().unwrap(), "k3d cluster delete faasbed");
    // The VMs stop before the cluster goes: each VM's TAP is deleted before the cluster (the
    // recorded run has no QEMU pid alive to kill; the plan says what `down` kills).
    let text = p.render();
    for pi in ["raspberrypi-01", "raspberrypi-02"] {
        let stop = text.find(&format!("stop the VM {pi}: SIGTERM")).unwrap();
        assert!(stop < text.find("k3d cluster delete").unwrap(), "{text}");
    }
    let tap = cmds
        .iter()
        .rposition(|c| c.starts_with("ip link del fb-"))
        .unwrap();
    assert!(tap < cmds.len() - 1);
}

#[tokio::test]
async fn every_function_is_deployed_then_pinned_then_verified() {
    let s = thesis();
    let p = thesis_plan().await;
    let all = steps(&p);
    for f in &s.functions {
        let pos = |pred: &dyn Fn(&Step) -> bool| all.iter().position(|s| pred(s)).unwrap();
        let post = pos(
            &|s| matches!(s, Step::Api { method: "POST", body: Some(b), .. } if b["service"] == f.name.as_str()),
        );
        let patch = pos(
            &|s| matches!(s, Step::KubePatch { path, body, .. } if path.contains(&format!("/deployments/{}?", f.name)) && body["spec"]["template"]["spec"]["nodeSelector"].is_object()),
        );
        let check = pos(
            &|s| matches!(s, Step::Check { what, .. } if what.contains(&format!("pod of {} ", f.name))),
        );
        assert!(
            post < patch && patch < check,
            "{}: {post} {patch} {check}",
            f.name
        );
        // The POST carries the constraints too (CE ignores them, but the record keeps them).
        let Step::Api { body: Some(b), .. } = all[post] else {
            unreachable!()
        };
        let want: Vec<String> = f.constraints.iter().map(ToString::to_string).collect();
        assert_eq!(b["constraints"], serde_json::json!(want));
        let Step::KubePatch { body, .. } = all[patch] else {
            unreachable!()
        };
        for c in &f.constraints {
            assert_eq!(
                body["spec"]["template"]["spec"]["nodeSelector"][&c.key],
                c.value.as_str()
            );
        }
    }
}

#[tokio::test]
async fn pi_nodes_boot_as_32_bit_arm_vms_and_join_without_showing_the_token() {
    let p = thesis_plan().await;
    let cmds = commands(&p);
    for pi in ["raspberrypi-01", "raspberrypi-02"] {
        let vm = cmds
            .iter()
            .find(|c| c.starts_with("qemu-system-arm ") && c.contains(&format!("faasbed-{pi} ")))
            .unwrap_or_else(|| panic!("no VM boot for {pi}"));
        assert!(vm.contains("-cpu cortex-a7"), "{vm}");
        assert!(
            vm.contains("armhf-k3s-v1.34.2-k3s1-init-"),
            "the armhf assets: {vm}"
        );
        assert!(
            vm.contains(&format!("results/run-20261127-0931/nodes/{pi}/disk.img")),
            "{vm}"
        );
        assert!(vm.contains("-daemonize"), "{vm}");
    }
    // The token is read from the server and never printed: the only mention is redacted.
    let text = p.render();
    assert!(cmds
        .iter()
        .any(|c| c.ends_with("cat /var/lib/rancher/k3s/server/node-token")));
    assert!(text.contains(&format!("token {REDACTED}")), "{text}");
    assert!(
        !cmds.iter().any(|c| c.starts_with("qemu-system-aarch64")),
        "the thesis has no arm64 node"
    );
    // The VM images come before the cluster: a failed download costs no cluster.
    let images = text.find("QEMU VM images").unwrap();
    let create = text.find("k3d cluster create").unwrap();
    assert!(images < create);
    assert!(!text.contains("not automated yet"), "{text}");
}

#[tokio::test]
async fn images_are_built_for_the_three_arches_of_the_thesis() {
    let cmds = commands(&thesis_plan().await);
    let builds: Vec<&String> = cmds
        .iter()
        .filter(|c| c.starts_with("docker buildx build"))
        .collect();
    assert_eq!(builds.len(), 3, "one build per function source: {builds:?}");
    for b in builds {
        assert!(
            b.contains("--platform linux/amd64,linux/arm64,linux/arm/v7 "),
            "{b}"
        );
        assert!(b.contains("--push -t 'localhost:"), "{b}");
    }
}

#[tokio::test]
async fn the_chart_is_pinned_and_installed_as_ce_with_generated_auth() {
    let s = thesis();
    let cmds = commands(&thesis_plan().await);
    let helm = cmds
        .iter()
        .find(|c| c.starts_with("helm") && c.contains("upgrade --install"))
        .unwrap();
    for part in [
        format!("--version {}", s.platform.k3d.openfaas_chart_version),
        "--namespace openfaas".into(),
        "functionNamespace=openfaas-fn".into(),
        "generateBasicAuth=true".into(),
        "openfaasPro=false".into(),
        "nodeSelector.kubernetes\\.io/hostname=faas-cluster-01".into(),
    ] {
        assert!(helm.contains(&part), "{part} missing from: {helm}");
    }
}

#[tokio::test]
async fn a_local_scenario_has_no_k3d_plan() {
    let s = spec::load(&repo().join("scenarios/local.toml")).unwrap();
    let opts = PlanOpts {
        run_id: RUN_ID.into(),
        run_dir: PathBuf::from("r"),
    };
    let e = plan::plan(&s, &opts).await.unwrap_err().to_string();
    assert!(e.contains("kind = \"k3d\""), "{e}");
}

#[test]
fn cli_dry_run_and_plan_print_the_same_steps() {
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_faasbed"))
            .args(args)
            .current_dir(repo())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let a = run(&["bench", "--dry-run", "scenarios/thesis.toml"]);
    let b = run(&["plan", "scenarios/thesis.toml"]);
    // The run id is new on every call; everything else must match.
    let strip = |s: &str| {
        let id = s
            .lines()
            .find_map(|l| l.split_once(", run ").map(|(_, id)| id.to_string()))
            .unwrap();
        s.replace(&id, "RUN")
    };
    assert_eq!(strip(&a), strip(&b));
    assert!(a.contains("k3d cluster create"));
    assert!(a.contains("gateway POST /system/functions"));
}

// ---------------------------------------------------------------------------------------------
// an existing cluster

fn existing() -> Scenario {
    let mut s = spec::load(&repo().join("scenarios/existing-pi-cluster.toml")).unwrap();
    s.path = PathBuf::from("scenarios/existing-pi-cluster.toml");
    // `~/` became this user's $HOME: pin one, so the snapshot does not depend on the user.
    s.platform.kubeconfig = Some(PathBuf::from("/home/me/.kube/pi-cluster.yaml"));
    s
}

async fn existing_plan(s: &Scenario) -> Plan {
    let opts = PlanOpts {
        run_id: RUN_ID.into(),
        run_dir: PathBuf::from("results").join(RUN_ID),
    };
    plan::plan(s, &opts).await.unwrap()
}

#[tokio::test]
async fn existing_plan_snapshot() {
    insta::assert_snapshot!(existing_plan(&existing()).await.render());
}

#[tokio::test]
async fn an_existing_cluster_is_neither_created_nor_deleted_nor_joined() {
    let cmds = commands(&existing_plan(&existing()).await);
    for c in &cmds {
        assert!(
            !c.starts_with("k3d") && !c.starts_with("qemu") && !c.contains("k3s agent"),
            "{c}"
        );
    }
    let helm = cmds
        .iter()
        .find(|c| c.contains("upgrade --install"))
        .unwrap();
    assert!(
        helm.contains("--kubeconfig /home/me/.kube/pi-cluster.yaml "),
        "{helm}"
    );
    // No server node: the core goes to the first amd64/arm64 node of the gateway site.
    assert!(
        helm.contains("nodeSelector.kubernetes\\.io/hostname=faas-cluster-01"),
        "{helm}"
    );
}

#[tokio::test]
async fn existing_images_are_pushed_to_push_and_deployed_by_pull() {
    let s = existing();
    let reg = s.platform.registry.clone().unwrap();
    assert_ne!(reg.push, reg.pull, "the example shows both names");
    let p = existing_plan(&s).await;
    let builds: Vec<String> = commands(&p)
        .into_iter()
        .filter(|c| c.starts_with("docker buildx build"))
        .collect();
    assert_eq!(builds.len(), 2, "{builds:?}");
    for b in &builds {
        assert!(
            b.contains(&format!("--push -t '{}/faasbed/", reg.push)),
            "{b}"
        );
        assert!(
            b.contains("--platform linux/amd64,linux/arm64,linux/arm/v7 "),
            "{b}"
        );
    }
    for st in steps(&p) {
        if let Step::Api {
            method: "POST",
            body: Some(b),
            ..
        } = st
        {
            let image = b["image"].as_str().unwrap();
            assert!(
                image.starts_with(&format!("{}/faasbed/", reg.pull)),
                "{image}"
            );
        }
    }
}

#[tokio::test]
async fn an_existing_plan_without_a_registry_builds_nothing_and_says_so() {
    let mut s = existing();
    s.platform.registry = None;
    let p = existing_plan(&s).await;
    assert!(!commands(&p).iter().any(|c| c.starts_with("docker")));
    let text = p.render();
    // The live run stops at the build with the error that says how to add one; nothing is
    // deployed after it (the plan before the recording listed deploys of `<no registry>` images
    // that the run never makes).
    assert!(text.contains("the run stops here: "), "{text}");
    assert!(text.contains("[platform.registry]"), "{text}");
    assert!(!text.contains("gateway POST /system/functions"), "{text}");
}

#[test]
fn cli_plans_an_existing_scenario() {
    let out = Command::new(env!("CARGO_BIN_EXE_faasbed"))
        .args(["plan", "scenarios/existing-pi-cluster.toml"])
        .current_dir(repo())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("platform existing, kubeconfig "), "{text}");
    assert!(
        text.contains("--push -t 'faas-cluster-01.example.net:5000/faasbed/echo:"),
        "{text}"
    );
}

// ---------------------------------------------------------------------------------------------
// a Python function on k3d

async fn python_plan() -> Plan {
    let mut s =
        spec::load(&repo().join("harness/tests/fixtures/scenarios/k3d-python.toml")).unwrap();
    s.path = PathBuf::from("harness/tests/fixtures/scenarios/k3d-python.toml");
    let opts = PlanOpts {
        run_id: RUN_ID.into(),
        run_dir: PathBuf::from("results").join(RUN_ID),
    };
    plan::plan(&s, &opts).await.unwrap()
}

#[tokio::test]
async fn python_plan_snapshot() {
    insta::assert_snapshot!(python_plan().await.render());
}

#[tokio::test]
async fn a_python_function_gets_its_own_image_from_the_python_dockerfile() {
    let cmds = commands(&python_plan().await);
    let builds: Vec<&String> = cmds
        .iter()
        .filter(|c| c.starts_with("docker buildx build"))
        .collect();
    assert_eq!(builds.len(), 2, "one Go and one Python image: {builds:?}");
    let py: Vec<&&String> = builds
        .iter()
        .filter(|b| {
            b.contains("--build-arg FUNCTION=echo -f images/python/Dockerfile images/python")
        })
        .collect();
    assert_eq!(py.len(), 1, "{builds:?}");
    assert!(py[0].contains("/faasbed/py-echo:"), "{}", py[0]);
    assert!(
        py[0].contains("--platform linux/amd64,linux/arm64,linux/arm/v7 "),
        "{}",
        py[0]
    );
}
