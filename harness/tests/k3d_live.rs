//! The live k3d platform without a cluster: a scripted [`Runner`] (records every command,
//! answers from a table of command-line prefixes with canned output from `tests/fixtures/k3d/`,
//! fails every command it does not know) and a scripted kube API server (`tower_test`, as in
//! `tests/k3d_kube.rs`) drive `K3dPlatform::up`, `force_cold`, `placement`, `build_images` and
//! `down`, `enforce_and_verify` and the node labelling of `faasbed label`.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use faasbed::dryrun::runner::Recording;
use faasbed::dryrun::{Event, Journal};
use faasbed::exec::{Cmd, ExecError, Output, Runner};
use faasbed::platform::existing::{ExistingError, ExistingPlatform};
use faasbed::platform::k3d::plan::{self, PlanOpts, Step};
use faasbed::platform::k3d::{self, vms, K3dError, K3dPlatform};
use faasbed::platform::kube::api::{self as kube, Kube};
use faasbed::platform::kube::{enforce_and_verify, live, relabel, KubePlatformError};
use faasbed::platform::{Platform, PlatformError};
use faasbed::spec::{self, PlatformKind, Scenario};
use http::Method;
use serde_json::{json, Value};

#[path = "common/kube_script.rs"]
mod kube_script;
use kube_script::{get, scripted_kube, send, Exchange};

const RUN_ID: &str = "run-20261127-0931";

/// Two k3d containers; `edge` joins without its `type` label in the node fixture.
const SCENARIO: &str = r#"
[platform]
kind = "k3d"

[[node]]
name = "srv"
class = "vps"
arch = "amd64"
site = "lab"
backend = "server"

[[node]]
name = "edge"
class = "vps"
arch = "amd64"
site = "lab"
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

fn text(rel: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn fixture(rel: &str) -> Value {
    serde_json::from_str(&text(rel)).unwrap()
}

// ---------------------------------------------------------------------------------------------
// The scripted runner

#[derive(Clone)]
enum Reply {
    Out(String),
    Fail(&'static str),
}

/// Answers commands by the first rule whose prefix starts the command line (every command it
/// does not know fails); records them all through the crate's recording runner.
#[derive(Clone)]
struct Scripted {
    rec: Recording,
    /// What each `mkfs.ext4 -d DIR` would put on its disk: (relative path, mode, contents).
    disks: Arc<Mutex<Vec<DiskFiles>>>,
}

/// The files of one disk image: (relative path, mode, contents).
type DiskFiles = Vec<(String, u32, String)>;

impl Scripted {
    fn new(rules: Vec<(&str, Reply)>) -> Self {
        let rules: Vec<(String, Reply)> =
            rules.into_iter().map(|(p, r)| (p.to_string(), r)).collect();
        let disks: Arc<Mutex<Vec<DiskFiles>>> = Arc::default();
        let seen = disks.clone();
        let rec = Recording::new(Journal::default(), move |cmd: &Cmd| {
            let line = cmd.display();
            let Some((_, reply)) = rules.iter().find(|(p, _)| line.starts_with(p.as_str())) else {
                return Err(fail(&line, "unexpected command in this test"));
            };
            match reply {
                Reply::Fail(why) => Err(fail(&line, why)),
                Reply::Out(stdout) => {
                    if line.contains(" --metadata-file ") {
                        write_metadata(&line);
                    }
                    if line.starts_with("mkfs.ext4 ") {
                        seen.lock().unwrap().push(read_tree(&line));
                    }
                    if line.starts_with("qemu-system-") {
                        boot_console(&line);
                    }
                    Ok(Output {
                        stdout: stdout.clone(),
                        stderr: String::new(),
                    })
                }
            }
        });
        Scripted { rec, disks }
    }

    fn log(&self) -> Vec<String> {
        self.rec.lines()
    }

    /// `Debug` of every command (program, args, env), to look for secrets in.
    fn debug(&self) -> Vec<String> {
        self.rec
            .journal()
            .events()
            .into_iter()
            .filter_map(|e| match e {
                Event::Step(Step::Command { cmd, .. }) => Some(format!("{cmd:?}")),
                _ => None,
            })
            .collect()
    }
}

fn fail(cmd: &str, why: &str) -> ExecError {
    ExecError::NonZeroExit {
        command: cmd.to_string(),
        status: "exit status: 1".into(),
        stdout: String::new(),
        stderr: why.to_string(),
    }
}

/// What buildx writes to `--metadata-file`: the fixture, naming the image the command pushed.
fn write_metadata(line: &str) {
    let words: Vec<&str> = line.split(' ').collect();
    let after = |flag: &str| words[words.iter().position(|w| *w == flag).unwrap() + 1];
    let mut meta = fixture("k3d/buildx-metadata-echo.json");
    meta["image.name"] = json!(after("-t"));
    let path = Path::new(after("--metadata-file"));
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, meta.to_string()).unwrap();
}

/// The files under the folder `mkfs.ext4 … -d DIR IMG` copies onto its disk.
fn read_tree(line: &str) -> DiskFiles {
    use std::os::unix::fs::PermissionsExt;
    let words: Vec<&str> = line.split(' ').collect();
    let dir = PathBuf::from(words[words.iter().position(|w| *w == "-d").unwrap() + 1]);
    let mut out = Vec::new();
    let mut todo = vec![dir.clone()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else {
                let mode = e.metadata().unwrap().permissions().mode() & 0o777;
                let rel = p.strip_prefix(&dir).unwrap().display().to_string();
                out.push((rel, mode, std::fs::read_to_string(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// What a booting VM writes to `-serial file:PATH`: its READY line.
fn boot_console(line: &str) {
    let words: Vec<&str> = line.split(' ').collect();
    let after = |flag: &str| words[words.iter().position(|w| *w == flag).unwrap() + 1];
    let console = after("-serial").strip_prefix("file:").unwrap();
    let node = after("-name").strip_prefix("faasbed-").unwrap();
    std::fs::write(console, format!("[    1.0] booting\nFAASBED READY node={node} ip=? kernel=6.1.0-50-armmp-lpae arch=armv7l\n")).unwrap();
}

impl Runner for Scripted {
    async fn run(&self, cmd: &Cmd) -> Result<Output, ExecError> {
        self.rec.run(cmd).await
    }
}

fn ok(prefix: &str) -> (&str, Reply) {
    (prefix, Reply::Out(String::new()))
}

/// The runner of a fresh cluster: no cluster listed, every other k3d and helm call succeeds.
fn fresh_rules() -> Vec<(&'static str, Reply)> {
    vec![
        ("k3d cluster list", Reply::Out("[]".into())),
        ok("k3d "),
        ok("helm "),
    ]
}

// ---------------------------------------------------------------------------------------------
// The scripted kube API server

const NODES: &str = "/api/v1/nodes?";
const SECRET: &str = "/api/v1/namespaces/openfaas/secrets/basic-auth";

/// What `up` asks the API in the fixture cluster: nodes, the one missing label, the function
/// namespace, the gateway password.
fn up_exchanges() -> Vec<Exchange> {
    let nodes = fixture("k3d/api-nodes-srv-edge.json");
    vec![
        get(NODES, nodes.clone()),
        send(
            Method::PATCH,
            "/api/v1/nodes/edge?&fieldManager=faasbed",
            kube::JSON_MERGE,
            json!({"metadata":{"labels":{"type":"edge-01"}}}),
            nodes["items"][1].clone(),
        ),
        send(
            Method::POST,
            "/api/v1/namespaces?",
            "application/json",
            json!({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"openfaas-fn"}}),
            json!({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"openfaas-fn"}}),
        ),
        get(SECRET, fixture("kube/secret-basic-auth.json")),
    ]
}

/// The password in the secret fixture, decoded by the test itself.
fn fixture_password() -> String {
    use base64::Engine as _;
    let secret = fixture("kube/secret-basic-auth.json");
    let b = base64::engine::general_purpose::STANDARD
        .decode(secret["data"]["basic-auth-password"].as_str().unwrap())
        .unwrap();
    String::from_utf8(b).unwrap()
}

// ---------------------------------------------------------------------------------------------
// A gateway that answers /healthz

/// An HTTP server on a free loopback port that answers 200 to everything; returns the port.
async fn healthy_gateway() -> u16 {
    healthy_gateway_at("127.0.0.1:0").await
}

/// The same server listening on `addr`.
async fn healthy_gateway_at(addr: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = tokio::net::TcpListener::bind(addr)
        .await
        .unwrap_or_else(|e| panic!("cannot listen on {addr}: {e}"));
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let _ = s.read(&mut buf).await;
                let _ = s
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nOK",
                    )
                    .await;
            });
        }
    });
    port
}

struct Run {
    dir: tempfile::TempDir,
    scenario: Scenario,
}

impl Run {
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut scenario = spec::parse(SCENARIO, &repo().join("scenarios/live-test.toml")).unwrap();
        scenario.platform.k3d.gateway_port = healthy_gateway().await;
        Run { dir, scenario }
    }

    fn run_dir(&self) -> PathBuf {
        self.dir.path().join(RUN_ID)
    }

    /// `up` with `runner` and a scripted API server; also returns the kubeconfig path the
    /// client was made from.
    async fn up(
        &self,
        runner: Scripted,
        kube: Kube,
    ) -> (Result<K3dPlatform<Scripted>, K3dError>, Option<PathBuf>) {
        let seen = Arc::new(Mutex::new(None));
        let seen2 = seen.clone();
        let r = K3dPlatform::up_with(
            &self.scenario,
            RUN_ID,
            &self.run_dir(),
            runner,
            None,
            move |path: PathBuf| async move {
                *seen2.lock().unwrap() = Some(path);
                Ok(kube)
            },
        )
        .await;
        let path = seen.lock().unwrap().clone();
        (r, path)
    }

    fn expected_up(&self, create: bool) -> Vec<String> {
        let run = self.run_dir();
        let r = run.display();
        let mut v = vec!["k3d cluster list -o json".to_string()];
        if create {
            v.push(format!("k3d cluster create --config {r}/k3d.yaml --kubeconfig-update-default=false --kubeconfig-switch-context=false"));
        }
        v.extend([
            format!("k3d kubeconfig write faasbed --output {r}/kubeconfig --overwrite"),
            "helm repo add openfaas https://openfaas.github.io/faas-netes/".into(),
            "helm repo update openfaas".into(),
            format!("helm --kubeconfig {r}/kubeconfig upgrade --install openfaas openfaas/openfaas --version {} --namespace openfaas --create-namespace --set functionNamespace=openfaas-fn --set generateBasicAuth=true --set openfaasPro=false --set gateway.nodePort=31112 --set-string 'nodeSelector.kubernetes\\.io/hostname=srv' --wait --timeout 300s", faasbed::pins::OPENFAAS_CHART),
        ]);
        v
    }
}

// ---------------------------------------------------------------------------------------------
// up

#[tokio::test]
async fn fresh_up_runs_the_lifecycle_in_order_and_keeps_the_kubeconfig_in_the_run_dir() {
    let run = Run::new().await;
    let runner = Scripted::new(fresh_rules());
    let (k, server) = scripted_kube(up_exchanges());
    let (p, kubeconfig) = run.up(runner.clone(), k).await;
    let p = p.unwrap();
    assert_eq!(runner.log(), run.expected_up(true));
    assert_eq!(kubeconfig.unwrap(), run.run_dir().join("kubeconfig"));
    assert_eq!(p.kubeconfig(), run.run_dir().join("kubeconfig"));
    // k3d create writes its kubeconfig there too, never into the user's default one.
    let create = runner.debug()[1].clone();
    assert!(
        create.contains(&format!(
            "{:?}",
            run.run_dir().join("kubeconfig").as_os_str()
        )),
        "{create}"
    );
    let config = std::fs::read_to_string(run.run_dir().join("k3d.yaml")).unwrap();
    assert!(config.contains("name: faasbed"), "{config}");
    assert!(!p.reused());
    let gw = p.gateway();
    assert_eq!(gw.password, fixture_password());
    assert_eq!(gw.user, "admin");
    assert_eq!(
        gw.url,
        format!(
            "http://127.0.0.1:{}",
            run.scenario.platform.k3d.gateway_port
        )
    );
    assert_eq!(p.cold_settle(), plan::COLD_SETTLE);
    drop(p);
    server.await.unwrap();
    let pw = fixture_password();
    for line in runner.debug().iter() {
        assert!(!line.contains(&pw), "password in {line}");
    }
}

#[tokio::test]
async fn up_runs_exactly_the_commands_of_the_dry_run_plan() {
    let run = Run::new().await;
    let runner = Scripted::new(fresh_rules());
    let (k, server) = scripted_kube(up_exchanges());
    let (p, _) = run.up(runner.clone(), k).await;
    drop(p.unwrap());
    server.await.unwrap();
    let plan = plan::plan(
        &run.scenario,
        &PlanOpts {
            run_id: RUN_ID.into(),
            run_dir: run.run_dir(),
        },
    )
    .await
    .unwrap();
    let planned: Vec<String> = plan
        .sections
        .iter()
        .filter(|s| ["cluster", "node labels", "OpenFaaS CE"].contains(&s.title.as_str()))
        .flat_map(|s| &s.steps)
        .filter_map(|s| match s {
            Step::Command { cmd, on: None } | Step::Probe { cmd, .. } => Some(cmd.display()),
            _ => None,
        })
        .collect();
    assert_eq!(runner.log(), planned);
}

#[tokio::test]
async fn a_second_up_of_the_same_run_reuses_its_cluster() {
    let run = Run::new().await;
    let runner = Scripted::new(vec![
        (
            "k3d cluster list",
            Reply::Out(text("k3d/cluster-list.json")),
        ),
        ok("k3d kubeconfig write"),
        ok("helm "),
    ]);
    let (k, server) = scripted_kube(up_exchanges());
    let (p, _) = run.up(runner.clone(), k).await;
    let p = p.unwrap();
    assert!(p.reused());
    assert_eq!(runner.log(), run.expected_up(false));
    drop(p);
    server.await.unwrap();
}

#[tokio::test]
async fn a_cluster_of_another_run_is_refused_and_left_alone() {
    let run = Run::new().await;
    let runner = Scripted::new(vec![(
        "k3d cluster list",
        Reply::Out(text("k3d/cluster-list.json")),
    )]);
    let (k, server) = scripted_kube(vec![]);
    let r = K3dPlatform::up_with(
        &run.scenario,
        "run-other",
        &run.run_dir(),
        runner.clone(),
        None,
        |_: PathBuf| async move { Ok(k) },
    )
    .await;
    let e = r.err().unwrap();
    let msg = e.to_string();
    assert!(matches!(e, K3dError::ClusterTaken { .. }), "{msg}");
    assert!(msg.contains("run run-20261127-0931"), "{msg}");
    assert!(msg.contains("k3d cluster delete faasbed"), "{msg}");
    assert_eq!(runner.log(), ["k3d cluster list -o json"]);
    server.await.unwrap();
}

#[tokio::test]
async fn a_failing_step_deletes_the_cluster_and_the_error_names_the_step() {
    let run = Run::new().await;
    let runner = Scripted::new(vec![
        ("k3d cluster list", Reply::Out("[]".into())),
        (
            "helm --kubeconfig",
            Reply::Fail("Error: context deadline exceeded"),
        ),
        ok("k3d "),
        ok("helm "),
    ]);
    // The install fails before the password is read.
    let mut script = up_exchanges();
    script.pop();
    let (k, server) = scripted_kube(script);
    let (p, _) = run.up(runner.clone(), k).await;
    let e = p.err().unwrap();
    let mut want = run.expected_up(true);
    want.push("k3d cluster delete faasbed".into());
    assert_eq!(runner.log(), want);
    let msg = format!("{e} / {:?}", std::error::Error::source(&e));
    assert!(msg.contains("install the OpenFaaS chart failed"), "{msg}");
    assert!(msg.contains("context deadline exceeded"), "{msg}");
    assert!(!msg.contains(&fixture_password()), "{msg}");
    server.await.unwrap();
}

#[tokio::test]
async fn a_failed_delete_after_a_failed_step_says_how_to_clean_up() {
    let run = Run::new().await;
    let runner = Scripted::new(vec![
        ("k3d cluster list", Reply::Out("[]".into())),
        ("k3d kubeconfig write", Reply::Fail("no such cluster")),
        ("k3d cluster delete", Reply::Fail("docker is gone")),
        ok("k3d "),
    ]);
    let (k, server) = scripted_kube(vec![]);
    let (p, _) = run.up(runner.clone(), k).await;
    let msg = p.err().unwrap().to_string();
    assert!(
        msg.contains("write the cluster's kubeconfig failed"),
        "{msg}"
    );
    assert!(msg.contains("run `k3d cluster delete faasbed`"), "{msg}");
    server.await.unwrap();
}

#[tokio::test]
async fn scenarios_with_ssh_nodes_on_k3d_are_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    // A scenario file cannot say this (validation refuses it at its line); a program can.
    let mut s = spec::parse(SCENARIO, Path::new("ssh.toml")).unwrap();
    s.nodes[1].name = "pi-real".into();
    s.nodes[1].backend = spec::Backend::Ssh;
    s.nodes[1].address = Some("pi@10.0.0.9".into());
    let runner = Scripted::new(vec![]);
    let (k, server) = scripted_kube(vec![]);
    let r = K3dPlatform::up_with(
        &s,
        RUN_ID,
        dir.path(),
        runner.clone(),
        None,
        |_: PathBuf| async move { Ok(k) },
    )
    .await;
    let msg = r.err().unwrap().to_string();
    assert!(
        msg.contains("pi-real") && msg.contains("kind = \"existing\""),
        "{msg}"
    );
    assert!(runner.log().is_empty());
    server.await.unwrap();
}

/// Assets of one arch as `vm::assets::prepare` leaves them (the files only need to exist).
fn fake_assets(dir: &Path) -> faasbed::nodes::qemu::assets::VmAssets {
    let a = faasbed::nodes::qemu::assets::VmAssets {
        kernel: dir.join("vmlinuz"),
        initrd: dir.join("initrd.gz"),
        base_disk: dir.join("base.img"),
        kernel_release: "6.1.0-50-armmp-lpae".into(),
        kernel_package: "linux-image-6.1.0-50-armmp-lpae".into(),
        k3s: Some(faasbed::pins::K3S_VERSION.into()),
    };
    for f in [&a.kernel, &a.initrd, &a.base_disk] {
        std::fs::write(f, b"x").unwrap();
    }
    a
}

/// The thesis, its cluster plan, and armhf assets in a temporary folder.
fn thesis_vms() -> (
    tempfile::TempDir,
    Scenario,
    faasbed::platform::k3d::ClusterPlan,
    Vec<(spec::Arch, faasbed::nodes::qemu::assets::VmAssets)>,
) {
    let dir = tempfile::tempdir().unwrap();
    let thesis = spec::load(&repo().join("scenarios/thesis.toml")).unwrap();
    let cp = faasbed::platform::k3d::plan(&thesis, RUN_ID).unwrap();
    let assets = vec![(spec::Arch::Armhf, fake_assets(dir.path()))];
    (dir, thesis, cp, assets)
}

#[tokio::test]
async fn the_thesis_pis_boot_on_the_cluster_network_and_join_with_their_labels() {
    let (dir, thesis, cp, assets) = thesis_vms();
    let runner = Scripted::new(vec![
        (
            "docker network inspect k3d-faasbed",
            Reply::Out(text("docker/network-inspect-k3d.json")),
        ),
        (
            "docker exec k3d-faasbed-server-0 cat /var/lib/rancher/k3s/server/node-token",
            Reply::Out("K10abcdef::server:join-secret\n".into()),
        ),
        ok("mkfs.ext4 "),
        ("ip link del", Reply::Fail("Cannot find device")),
        ok("ip "),
        ok("qemu-system-arm "),
    ]);
    // raspberrypi-02 is not Ready at the first look, then is.
    let first = fixture("kube/nodes-thesis.json");
    let mut later = first.clone();
    for item in later["items"].as_array_mut().unwrap() {
        for c in item["status"]["conditions"].as_array_mut().unwrap() {
            if c["type"] == "Ready" {
                c["status"] = json!("True");
            }
        }
    }
    let (k, server) = scripted_kube(vec![
        get(NODES, first.clone()),
        get(NODES, first),
        get(NODES, later),
    ]);
    let run = dir.path().join("run");
    let vms = vms::join_all(&runner, &k, &thesis, &cp, &assets, &run, RUN_ID)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    drop(k);
    server.await.unwrap();
    assert_eq!(
        vms.iter()
            .map(|v| (v.node.as_str(), v.tap.as_str()))
            .collect::<Vec<_>>(),
        [
            ("raspberrypi-01", "fb-spberrypi-01"),
            ("raspberrypi-02", "fb-spberrypi-02")
        ]
    );

    let log = runner.log();
    let r = run.display();
    assert_eq!(log[0], "docker network inspect k3d-faasbed");
    assert_eq!(
        log[1],
        "docker exec k3d-faasbed-server-0 cat /var/lib/rancher/k3s/server/node-token"
    );
    assert_eq!(&log[2..7], [
        format!("mkfs.ext4 -q -F -L faasbed-node -d {r}/nodes/raspberrypi-01/disk {r}/nodes/raspberrypi-01/disk.img"),
        "ip link del fb-spberrypi-01".into(),
        "ip tuntap add dev fb-spberrypi-01 mode tap".into(),
        "ip link set fb-spberrypi-01 master br-ecfdb5666f79".into(),
        "ip link set fb-spberrypi-01 up".into(),
    ]);
    let qemu = &log[7];
    for want in [
        "qemu-system-arm -name faasbed-raspberrypi-01 -M virt -cpu cortex-a7",
        "-netdev tap,id=n0,ifname=fb-spberrypi-01,script=no,downscript=no",
        ",readonly=on",
        &format!("file:{r}/nodes/raspberrypi-01/console.log"),
        "-daemonize",
    ] {
        assert!(qemu.contains(want), "{want:?} not in {qemu}");
    }
    assert!(
        log[8].starts_with("mkfs.ext4") && log[8].contains("raspberrypi-02"),
        "{log:?}"
    );
    assert_eq!(log.len(), 14, "{log:#?}");
    // The token is in no command line and no command's environment.
    assert!(runner.debug().iter().all(|d| !d.contains("join-secret")));
    // Nor is it left in the run directory: the staging folder went onto the disk image.
    assert!(!run.join("nodes/raspberrypi-01/disk").exists());

    let disks = runner.disks.lock().unwrap().clone();
    let disk = &disks[0];
    let file = |name: &str| {
        disk.iter()
            .find(|(p, _, _)| p == name)
            .unwrap_or_else(|| panic!("no {name} in {disk:?}"))
    };
    let (_, mode, k3s) = file("faasbed/k3s.yaml");
    assert_eq!(*mode, 0o600, "the join config holds the token");
    assert_eq!(
        k3s,
        "server: \"https://172.18.0.2:6443\"\ntoken: \"K10abcdef::server:join-secret\"\nnode-ip: \"172.18.255.254\"\ndata-dir: \"/data/k3s\"\nprivate-registry: \"/data/faasbed/registries.yaml\"\nnode-name: \"raspberrypi-01\"\nnode-label:\n  - \"faasbed.io/class=pi3\"\n  - \"faasbed.io/site=italy\"\n  - \"type=rsbpi-01\"\n"
    );
    let (_, _, reg) = file("faasbed/registries.yaml");
    assert_eq!(
        reg,
        "mirrors:\n  \"faasbed-registry.localhost:5000\":\n    endpoint:\n      - \"http://172.18.0.3:5000\"\n"
    );
    let (_, _, env) = file("faasbed/node.env");
    assert!(env.starts_with("NODE_NAME=raspberrypi-01\nNODE_IP=172.18.255.254\nNODE_PREFIX=16\nGATEWAY=172.18.0.1\n"), "{env}");
    let second = disks[1]
        .iter()
        .find(|(p, _, _)| p == "faasbed/node.env")
        .unwrap();
    assert!(second.2.contains("NODE_IP=172.18.255.253"), "{}", second.2);
}

#[tokio::test]
async fn a_vm_whose_node_registers_with_another_arch_is_an_error_naming_both() {
    let (dir, thesis, cp, assets) = thesis_vms();
    let runner = Scripted::new(vec![
        (
            "docker network inspect",
            Reply::Out(text("docker/network-inspect-k3d.json")),
        ),
        ("docker exec", Reply::Out("K10x::server:y\n".into())),
        ok("mkfs.ext4 "),
        ok("ip "),
        ok("qemu-system-arm "),
    ]);
    let mut nodes = fixture("kube/nodes-thesis.json");
    nodes["items"][3]["status"]["nodeInfo"]["architecture"] = json!("arm64");
    let (k, server) = scripted_kube(vec![get(NODES, nodes)]);
    let e = vms::join_all(
        &runner,
        &k,
        &thesis,
        &cp,
        &assets,
        &dir.path().join("run"),
        RUN_ID,
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("raspberrypi-01") && e.contains("arm64") && e.contains("says arm"),
        "{e}"
    );
    drop(k);
    server.await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// force_cold, placement, down

const FN: &str = "echo-rsbpi-01";
const DEPLOYMENT: &str = "/apis/apps/v1/namespaces/openfaas-fn/deployments/echo-rsbpi-01";
const PODS: &str =
    "/api/v1/namespaces/openfaas-fn/pods?&labelSelector=faas_function%3Decho-rsbpi-01";
const ENDPOINTS: &str = "/api/v1/namespaces/openfaas-fn/endpoints/echo-rsbpi-01";

#[tokio::test]
async fn force_cold_scales_to_zero_and_returns_once_pods_and_endpoints_are_gone() {
    let run = Run::new().await;
    let runner = Scripted::new(fresh_rules());
    let mut script = up_exchanges();
    script.extend([
        send(
            Method::PATCH,
            &format!("{DEPLOYMENT}/scale?&fieldManager=faasbed"),
            kube::JSON_MERGE,
            json!({"spec":{"replicas":0}}),
            fixture("kube/scale-zero.json"),
        ),
        get(PODS, fixture("kube/pods-terminating.json")),
        get(ENDPOINTS, fixture("kube/endpoints-ready.json")),
        get(PODS, fixture("kube/pods-empty.json")),
        get(ENDPOINTS, fixture("kube/endpoints-empty.json")),
    ]);
    let (k, server) = scripted_kube(script);
    let (p, _) = run.up(runner.clone(), k).await;
    let p = p.unwrap();
    p.force_cold(FN).await.unwrap();
    drop(p);
    server.await.unwrap();
    // No command runs for a cold start.
    assert_eq!(runner.log(), run.expected_up(true));
}

#[tokio::test]
async fn placement_maps_pods_to_nodes_and_leaves_the_instance_unknown() {
    let run = Run::new().await;
    let runner = Scripted::new(fresh_rules());
    let mut script = up_exchanges();
    script.extend([
        get(PODS, fixture("kube/pods-placed.json")),
        get(NODES, fixture("kube/nodes-thesis.json")),
        get(PODS, fixture("kube/pods-terminating.json")),
        get(NODES, fixture("kube/nodes-thesis.json")),
    ]);
    let (k, server) = scripted_kube(script);
    let (p, _) = run.up(runner, k).await;
    let p = p.unwrap();
    let placed = p.placement(FN).await.unwrap();
    assert_eq!(placed.len(), 1);
    assert_eq!(placed[0].node, "raspberrypi-01");
    assert_eq!(placed[0].arch, faasbed::spec::Arch::Armhf);
    assert_eq!(placed[0].class, "pi3");
    assert_eq!(placed[0].instance, None);
    assert!(placed[0].ready);
    // A terminating pod is on its way out: not a replica.
    assert!(p.placement(FN).await.unwrap().is_empty());
    drop(p);
    server.await.unwrap();
}

/// Cold-start phases on k3d come from the live pod's conditions: scheduled → spawned,
/// Ready → healthy (whole seconds).
#[tokio::test]
async fn cold_phases_come_from_the_live_pods_conditions() {
    let run = Run::new().await;
    let runner = Scripted::new(fresh_rules());
    let mut pod = fixture("kube/pods-placed.json")["items"][0].clone();
    pod["kind"] = "Pod".into();
    pod["apiVersion"] = "v1".into();
    let name = pod["metadata"]["name"].as_str().unwrap().to_string();
    let mut script = up_exchanges();
    script.extend([
        get(PODS, fixture("kube/pods-placed.json")),
        get(NODES, fixture("kube/nodes-thesis.json")),
        get(&format!("/api/v1/namespaces/openfaas-fn/pods/{name}"), pod),
        // No live pod: nothing is claimed.
        get(PODS, fixture("kube/pods-terminating.json")),
        get(NODES, fixture("kube/nodes-thesis.json")),
    ]);
    let (k, server) = scripted_kube(script);
    let (p, _) = run.up(runner, k).await;
    let p = p.unwrap();
    let ph = p.cold_phases(FN).await;
    // 2026-11-27T09:51:40Z and 09:51:46Z, the fixture's PodScheduled and Ready transitions.
    assert_eq!(ph.spawned_ns, Some(1_795_773_100 * 1_000_000_000));
    assert_eq!(ph.healthy_ns, Some(1_795_773_106 * 1_000_000_000));
    assert_eq!(
        p.cold_phases(FN).await,
        faasbed::platform::ColdPhases::default()
    );
    drop(p);
    server.await.unwrap();
}

/// A node list the API refuses leaves "detected" null in run.json and says why, rather than
/// nothing.
#[tokio::test]
async fn node_provenance_keeps_why_the_nodes_could_not_be_read() {
    let run = Run::new().await;
    let runner = Scripted::new(fresh_rules());
    let mut script = up_exchanges();
    script.push(kube_script::status(
        get(NODES, json!({"kind":"Status","apiVersion":"v1","status":"Failure","message":"nodes is forbidden","reason":"Forbidden","code":403})),
        403,
    ));
    let (k, server) = scripted_kube(script);
    let (p, _) = run.up(runner, k).await;
    let p = p.unwrap();
    let nodes = p.node_provenance(&run.scenario).await;
    assert_eq!(nodes.len(), 2);
    for n in &nodes {
        assert!(n.launcher["detected"].is_null(), "{}", n.launcher);
        let why = n.launcher["detection_error"].as_str().unwrap();
        assert!(
            why.contains("list nodes") && why.contains("forbidden"),
            "{why}"
        );
    }
    drop(p);
    server.await.unwrap();
}

/// run.json of a k3d run records every scenario node with what the cluster reports about it.
#[tokio::test]
async fn node_provenance_joins_the_scenario_with_the_cluster() {
    let run = Run::new().await;
    let runner = Scripted::new(fresh_rules());
    let mut script = up_exchanges();
    script.push(get(NODES, fixture("k3d/api-nodes-srv-edge.json")));
    let (k, server) = scripted_kube(script);
    let (p, _) = run.up(runner, k).await;
    let p = p.unwrap();
    let nodes = p.node_provenance(&run.scenario).await;
    let names: Vec<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["srv", "edge"]);
    for n in &nodes {
        assert_eq!((n.class.as_str(), n.arch.as_str()), ("vps", "amd64"));
        assert!(!n.emulated);
        assert_eq!(n.enforcement["enforced"], false);
        assert_eq!(n.launcher["detected"]["name"], n.name.as_str());
    }
    assert_eq!(nodes[1].backend, "agent");
    drop(p);
    server.await.unwrap();
}

#[tokio::test]
async fn down_deletes_the_cluster_once_and_is_safe_twice() {
    let run = Run::new().await;
    let runner = Scripted::new(fresh_rules());
    let (k, server) = scripted_kube(up_exchanges());
    let (p, _) = run.up(runner.clone(), k).await;
    let mut p = p.unwrap();
    p.down().await.unwrap();
    p.down().await.unwrap();
    let log = runner.log();
    let deletes = log
        .iter()
        .filter(|l| l.starts_with("k3d cluster delete"))
        .count();
    assert_eq!(deletes, 1, "{log:?}");
    assert_eq!(log.last().unwrap(), "k3d cluster delete faasbed");
    drop(p);
    server.await.unwrap();
}

#[tokio::test]
async fn a_failed_down_is_retried_by_the_next_down() {
    let run = Run::new().await;
    let mut rules = vec![("k3d cluster delete", Reply::Fail("docker is gone"))];
    rules.extend(fresh_rules());
    let runner = Scripted::new(rules);
    let (k, server) = scripted_kube(up_exchanges());
    let (p, _) = run.up(runner.clone(), k).await;
    let mut p = p.unwrap();
    let e = p.down().await.unwrap_err();
    assert!(matches!(e, PlatformError::K3d(_)), "{e}");
    assert!(e.to_string().contains("delete k3d cluster failed"), "{e}");
    let _ = p.down().await;
    let deletes = runner
        .log()
        .iter()
        .filter(|l| l.starts_with("k3d cluster delete"))
        .count();
    assert_eq!(deletes, 2);
    drop(p);
    server.await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// images

#[tokio::test]
async fn images_are_built_once_per_source_and_deployed_by_the_pushed_digest() {
    let run = Run::new().await;
    let mut rules = vec![
        ok("docker buildx version"),
        (
            "docker buildx inspect",
            Reply::Fail("no builder \"faasbed\" found"),
        ),
        ok("docker buildx create"),
        ok("docker buildx build"),
    ];
    rules.extend(fresh_rules());
    let runner = Scripted::new(rules);
    let (k, server) = scripted_kube(up_exchanges());
    let (p, _) = run.up(runner.clone(), k).await;
    let p = p.unwrap();
    let root = repo().join("images/functions");
    let built = p.build_images(&run.scenario, &root).await.unwrap();
    let log = runner.log();
    let images: Vec<&String> = log.iter().skip(run.expected_up(true).len()).collect();
    let hash = faasbed::build::source_hash(&root, "echo", "dockerfile").unwrap();
    let tag = &hash[..16];
    let r = run.run_dir();
    assert_eq!(
        images,
        [
            "docker buildx version",
            "docker buildx inspect faasbed",
            "docker buildx create --name faasbed --driver docker-container --driver-opt network=host",
            &format!("docker buildx build --builder faasbed --platform linux/amd64,linux/arm64,linux/arm/v7 --push -t localhost:5111/faasbed/echo:{tag} --metadata-file {}/images/echo.json -f images/functions/echo/Dockerfile images/functions", r.display()),
        ]
    );
    assert_eq!(built.len(), 1);
    assert_eq!(built[0].function, "echo-edge");
    let digest = fixture("k3d/buildx-metadata-echo.json")["containerimage.digest"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        built[0].image,
        format!("faasbed-registry.localhost:5000/faasbed/echo:{tag}@{digest}")
    );
    drop(p);
    server.await.unwrap();
}

/// The ELF machine of a binary: 62 x86-64, 183 aarch64, 40 arm.
fn elf_machine(path: &Path) -> u16 {
    let b = std::fs::read(path).unwrap();
    assert_eq!(&b[..4], b"\x7fELF", "{} is not ELF", path.display());
    u16::from_le_bytes([b[18], b[19]])
}

#[tokio::test]
async fn without_buildx_each_arch_is_built_from_scratch_and_joined_into_one_manifest_list() {
    let run = Run::new().await;
    let list_digest = format!("sha256:{}", "5e".repeat(32));
    let mut rules = vec![
        (
            "docker buildx version",
            Reply::Fail("'buildx' is not a docker command"),
        ),
        ok("docker build "),
        ok("docker push "),
        ok("docker manifest create"),
        ok("docker manifest annotate"),
        (
            "docker manifest push",
            Reply::Out(format!(
                "Pushed ref localhost:5111/faasbed/echo@sha256:{}\n{list_digest}\n",
                "0a".repeat(32)
            )),
        ),
    ];
    rules.extend(fresh_rules());
    let runner = Scripted::new(rules);
    let (k, server) = scripted_kube(up_exchanges());
    let (p, _) = run.up(runner.clone(), k).await;
    let p = p.unwrap();
    let root = repo().join("images/functions");
    let built = p
        .build_images(&run.scenario, &root)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let hash = faasbed::build::source_hash(&root, "echo", "dockerfile").unwrap();
    let list = format!("localhost:5111/faasbed/echo:{}", &hash[..16]);
    let r = run.run_dir();
    let log: Vec<String> = runner
        .log()
        .into_iter()
        .skip(run.expected_up(true).len())
        .collect();
    let mut want = vec!["docker buildx version".to_string()];
    for (arch, platform, suffix) in [
        ("amd64", "linux/amd64", "amd64"),
        ("arm64", "linux/arm64", "arm64"),
        ("armhf", "linux/arm/v7", "armv7"),
    ] {
        want.push(format!(
            "docker build --no-cache --platform {platform} -t {list}-{suffix} {}/images/echo-{arch}",
            r.display()
        ));
        want.push(format!("docker push {list}-{suffix}"));
    }
    want.push(format!(
        "docker manifest create --insecure --amend {list} {list}-amd64 {list}-arm64 {list}-armv7"
    ));
    want.push(format!(
        "docker manifest annotate {list} {list}-amd64 --os linux --arch amd64"
    ));
    want.push(format!(
        "docker manifest annotate {list} {list}-arm64 --os linux --arch arm64"
    ));
    want.push(format!(
        "docker manifest annotate {list} {list}-armv7 --os linux --arch arm --variant v7"
    ));
    want.push(format!("docker manifest push --insecure --purge {list}"));
    assert_eq!(log, want);
    // Each build folder holds that arch's binary and the FROM scratch Dockerfile.
    for (arch, machine) in [("amd64", 62), ("arm64", 183), ("armhf", 40)] {
        let ctx = r.join("images").join(format!("echo-{arch}"));
        assert_eq!(elf_machine(&ctx.join("fn")), machine, "{arch}");
        let dockerfile = std::fs::read_to_string(ctx.join("Dockerfile")).unwrap();
        assert!(dockerfile.starts_with("FROM scratch\n"), "{dockerfile}");
    }
    assert_eq!(
        built[0].image,
        format!(
            "faasbed-registry.localhost:5000/faasbed/echo:{}@{list_digest}",
            &hash[..16]
        )
    );
    drop(p);
    server.await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// existing clusters: attach, then images to the scenario's [platform.registry]

/// SCENARIO's two nodes as machines of a cluster faasbed did not make, with `registry` (TOML
/// lines, may be empty) under [platform].
fn existing_scenario(registry: &str) -> Scenario {
    let text = SCENARIO
        .replace(
            "kind = \"k3d\"\n",
            &format!("kind = \"existing\"\nkubeconfig = \"unused.yaml\"\n{registry}"),
        )
        .replace("backend = \"server\"", "address = \"root@srv\"")
        .replace("backend = \"agent\"", "address = \"root@edge\"");
    spec::parse(&text, &repo().join("scenarios/existing-test.toml")).unwrap()
}

const REGISTRY: &str =
    "[platform.registry]\npush = \"registry.example.net:5000\"\npull = \"10.8.0.1:5000\"\n";

/// What attaching asks the API of a cluster that has OpenFaaS already: the gateway
/// Deployment, then `up`'s labels and password, but no namespace (nothing is installed).
fn attach_exchanges() -> Vec<Exchange> {
    let mut v = up_exchanges();
    v.retain(|e| e.method != Method::POST);
    v.insert(
        0,
        get(
            "/apis/apps/v1/namespaces/openfaas/deployments/gateway",
            fixture("kube/deployment-patched.json"),
        ),
    );
    v
}

/// `attach_with` to a cluster whose kubeconfig names `https://HOST:6443`, with a healthy
/// gateway on HOST's NodePort (each test takes its own loopback address).
async fn attach(
    scenario: &Scenario,
    dir: &Path,
    host: &str,
    runner: Scripted,
    kube: Kube,
) -> Result<ExistingPlatform<Scripted>, ExistingError> {
    healthy_gateway_at(&format!("{host}:31112")).await;
    let kubeconfig = dir.join("kubeconfig");
    let yaml = format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: pi\nclusters:\n- name: pi\n  cluster:\n    server: https://{host}:6443\ncontexts:\n- name: pi\n  context:\n    cluster: pi\n    user: pi\nusers:\n- name: pi\n  user:\n    token: t\n"
    );
    std::fs::write(&kubeconfig, yaml).unwrap();
    let url = faasbed::platform::existing::gateway_url_from_kubeconfig(&kubeconfig).unwrap();
    ExistingPlatform::attach_with(scenario, &kubeconfig, &dir.join(RUN_ID), runner, kube, url).await
}

#[tokio::test]
async fn an_existing_cluster_gets_images_pushed_to_push_and_deployed_by_pull_and_digest() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = existing_scenario(REGISTRY);
    // No helm rule: an install would fail the test.
    let runner = Scripted::new(vec![
        ok("docker buildx version"),
        ok("docker buildx inspect"),
        ok("docker buildx build"),
    ]);
    let (k, server) = scripted_kube(attach_exchanges());
    let p = attach(&scenario, dir.path(), "127.0.0.7", runner.clone(), k)
        .await
        .unwrap();
    assert!(runner.log().is_empty(), "{:?}", runner.log());
    assert!(p.reused());
    assert_eq!(p.gateway().url, "http://127.0.0.7:31112");
    let root = repo().join("images/functions");
    let built = p.build_images(&scenario, &root).await.unwrap();
    let tag = &faasbed::build::source_hash(&root, "echo", "dockerfile").unwrap()[..16];
    let r = dir.path().join(RUN_ID);
    assert_eq!(
        runner.log(),
        [
            "docker buildx version".to_string(),
            "docker buildx inspect faasbed".to_string(),
            format!("docker buildx build --builder faasbed --platform linux/amd64,linux/arm64,linux/arm/v7 --push -t registry.example.net:5000/faasbed/echo:{tag} --metadata-file {}/images/echo.json -f images/functions/echo/Dockerfile images/functions", r.display()),
        ]
    );
    let digest = fixture("k3d/buildx-metadata-echo.json")["containerimage.digest"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(built.len(), 1);
    assert_eq!(built[0].function, "echo-edge");
    assert_eq!(
        built[0].image,
        format!("10.8.0.1:5000/faasbed/echo:{tag}@{digest}")
    );
    drop(p);
    server.await.unwrap();
}

#[tokio::test]
async fn an_existing_cluster_without_a_registry_says_how_to_add_one_and_builds_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = existing_scenario("");
    let runner = Scripted::new(vec![ok("docker ")]);
    let (k, server) = scripted_kube(attach_exchanges());
    let p = attach(&scenario, dir.path(), "127.0.0.8", runner.clone(), k)
        .await
        .unwrap();
    let e = p
        .build_images(&scenario, &repo().join("images/functions"))
        .await
        .unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, KubePlatformError::NoRegistry { .. }), "{msg}");
    assert!(msg.contains("scenarios/existing-test.toml"), "{msg}");
    assert!(
        msg.contains("[platform.registry]\n  push = \"registry.lan:5000\""),
        "{msg}"
    );
    assert!(msg.contains("anonymously"), "{msg}");
    assert!(runner.log().is_empty(), "{:?}", runner.log());
    drop(p);
    server.await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// placement enforcement

fn thesis_with_one_function() -> Scenario {
    let mut s = spec::load(&repo().join("scenarios/thesis.toml")).unwrap();
    s.functions.retain(|f| f.name == FN);
    s
}

fn rolled_out() -> Value {
    let mut d = fixture("kube/deployment-patched.json");
    d["status"]["observedGeneration"] = json!(2);
    d["status"]["updatedReplicas"] = json!(1);
    d
}

fn enforce_script(pods: &str) -> Vec<Exchange> {
    vec![
        send(
            Method::PATCH,
            &format!("{DEPLOYMENT}?&fieldManager=faasbed"),
            kube::STRATEGIC_MERGE,
            json!({"spec":{"template":{"spec":{
                "nodeSelector":{"type":"rsbpi-01"},
                "containers":[{"name":FN,"env":[
                    {"name":"NODE_NAME","valueFrom":{"fieldRef":{"fieldPath":"spec.nodeName"}}}]}]}}}}),
            fixture("kube/deployment-patched.json"),
        ),
        get(DEPLOYMENT, fixture("kube/deployment-patched.json")),
        get(DEPLOYMENT, rolled_out()),
        get(PODS, fixture(pods)),
        get(NODES, fixture("kube/nodes-thesis.json")),
    ]
}

#[tokio::test]
async fn enforce_and_verify_patches_waits_for_the_rollout_then_checks_nodes() {
    let (k, server) = scripted_kube(enforce_script("kube/pods-placed.json"));
    let placed = enforce_and_verify(&k, &thesis_with_one_function())
        .await
        .unwrap();
    drop(k);
    server.await.unwrap();
    assert_eq!(placed.len(), 1);
    assert_eq!(placed[0].0, FN);
    assert_eq!(placed[0].1[0].node.as_deref(), Some("raspberrypi-01"));
}

#[tokio::test]
async fn enforce_and_verify_fails_on_a_pod_left_on_the_wrong_node() {
    let (k, server) = scripted_kube(enforce_script("kube/pods-wrong-node.json"));
    let e = enforce_and_verify(&k, &thesis_with_one_function())
        .await
        .unwrap_err();
    drop(k);
    server.await.unwrap();
    let msg = e.to_string();
    assert!(
        msg.contains("faas-cluster-02") && msg.contains("type=rsbpi-01"),
        "{msg}"
    );
}

// ---------------------------------------------------------------------------------------------
// faasbed label

fn pi_scenario() -> Scenario {
    spec::load(&repo().join("scenarios/pi3-pi4-vps.toml")).unwrap()
}

#[tokio::test]
async fn label_dry_run_reads_nodes_and_patches_nothing() {
    let (k, server) = scripted_kube(vec![get(NODES, fixture("kube/nodes-unlabelled.json"))]);
    let rows = relabel::decide(&k, Some(&pi_scenario())).await.unwrap();
    drop(k);
    server.await.unwrap();
    let table = relabel::table(&rows);
    let lines: Vec<&str> = table.lines().map(str::trim_end).collect();
    assert_eq!(
        lines,
        [
            "NODE                 CLASS  RULE         CHANGE",
            "control              control scenario     up to date",
            "vps-a                vps    scenario     up to date",
            "pi3-a                pi3    scenario     faasbed.io/class=pi3 (new)",
            "pi3-a                pi3    scenario     faasbed.io/site=lab (new)",
            "pi4-a                pi4    scenario     faasbed.io/class=pi4 (new)",
            "pi4-a                pi4    scenario     faasbed.io/site=lab (new)",
            "pi-spare             pi4    3 mid arm    faasbed.io/class=pi4 (new)",
        ]
    );
}

#[tokio::test]
async fn label_applies_one_merge_patch_per_node_that_lacks_labels() {
    let patch = |node: &str, labels: Value| {
        send(
            Method::PATCH,
            &format!("/api/v1/nodes/{node}?&fieldManager=faasbed"),
            kube::JSON_MERGE,
            json!({ "metadata": { "labels": labels } }),
            json!({"apiVersion":"v1","kind":"Node","metadata":{"name":node}}),
        )
    };
    let (k, server) = scripted_kube(vec![
        get(NODES, fixture("kube/nodes-unlabelled.json")),
        patch(
            "pi3-a",
            json!({"faasbed.io/class":"pi3","faasbed.io/site":"lab"}),
        ),
        patch(
            "pi4-a",
            json!({"faasbed.io/class":"pi4","faasbed.io/site":"lab"}),
        ),
        patch("pi-spare", json!({"faasbed.io/class":"pi4"})),
    ]);
    let rows = relabel::decide(&k, Some(&pi_scenario())).await.unwrap();
    let n = relabel::apply(&k, &rows).await.unwrap();
    drop(k);
    server.await.unwrap();
    assert_eq!(n, 3);
}

#[tokio::test]
async fn without_a_scenario_the_rule_table_decides_and_an_odd_node_is_reported() {
    let mut nodes = fixture("kube/nodes-unlabelled.json");
    nodes["items"][4]["status"]["capacity"]["cpu"] = json!("16");
    let (k, server) = scripted_kube(vec![get(NODES, nodes)]);
    let rows = relabel::decide(&k, None).await.unwrap();
    drop(k);
    server.await.unwrap();
    let table = relabel::table(&rows);
    assert!(
        table.contains("faasbed.io/class=vps (was control)"),
        "{table}"
    );
    let spare = table.lines().find(|l| l.starts_with("pi-spare")).unwrap();
    assert!(spare.contains("none: node pi-spare"), "{spare}");
    assert!(spare.contains("matches no auto-labelling rule"), "{spare}");
}

// ---------------------------------------------------------------------------------------------
// preflight and the CLI

#[test]
fn preflight_names_every_missing_program_with_its_install_command() {
    let k3d = spec::parse(SCENARIO, Path::new("k.toml")).unwrap();
    let e = live::preflight(&k3d.platform, |p| {
        (p == "helm").then(|| PathBuf::from("/usr/bin/helm"))
    })
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("docker, k3d not found on PATH"), "{e}");
    assert!(e.contains("apt-get install -y docker.io"), "{e}");
    assert!(e.contains("TAG=v5.9.0"), "{e}");
    assert!(!e.contains("helm:"), "{e}");
    let mut local = k3d.platform.clone();
    local.kind = PlatformKind::Local;
    live::preflight(&local, |_| None).unwrap();
}

#[test]
fn an_existing_cluster_needs_docker_only_with_a_registry_to_push_to() {
    let helm_only = |p: &str| (p == "helm").then(|| PathBuf::from("/usr/bin/helm"));
    live::preflight(&existing_scenario("").platform, helm_only).unwrap();
    let e = live::preflight(&existing_scenario(REGISTRY).platform, helm_only)
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("docker not found on PATH"), "{e}");
    assert!(e.contains("buildx"), "{e}");
}

fn faasbed(args: &[&str], path_env: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_faasbed"))
        .args(args)
        .current_dir(repo())
        .env("PATH", path_env)
        .env_remove("KUBECONFIG")
        .output()
        .unwrap()
}

#[test]
fn bench_on_k3d_without_docker_or_k3d_fails_fast_naming_them() {
    let empty = tempfile::tempdir().unwrap();
    let results = empty.path().join("results");
    let out = faasbed(
        &[
            "bench",
            "scenarios/thesis.toml",
            "--results",
            results.to_str().unwrap(),
        ],
        empty.path(),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("docker, k3d, helm not found on PATH"), "{err}");
    assert!(err.contains("k3d-io/k3d/main/install.sh"), "{err}");
    assert!(
        !results.exists(),
        "a run directory was made before the check"
    );
}

#[test]
fn label_cli_names_a_missing_kubeconfig() {
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("nope");
    let out = faasbed(
        &["label", "--kubeconfig", kc.to_str().unwrap(), "--dry-run"],
        dir.path(),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains(&kc.display().to_string()), "{err}");
}

/// `faasbed clean` without `--all` deletes only the clusters of its own home's runs.
#[tokio::test]
async fn sweep_of_one_home_leaves_other_homes_clusters() {
    let listing = fixture("k3d/cluster-list.json");
    let runner = Scripted::new(vec![("k3d cluster list", Reply::Out(listing.to_string()))]);
    // the fixture's cluster belongs to a run that is not one of this home's
    let deleted = k3d::sweep_clusters(&runner, &|run| run == "some-other-run")
        .await
        .unwrap();
    assert!(deleted.is_empty(), "{deleted:?}");
    assert!(!runner
        .log()
        .iter()
        .any(|l| l.starts_with("k3d cluster delete")));
}

/// `faasbed clean` deletes the clusters faasbed runs created and leaves every other one alone.
#[tokio::test]
async fn sweep_deletes_only_clusters_of_faasbed_runs() {
    let mut listing = fixture("k3d/cluster-list.json");
    let mut other = listing[0].clone();
    other["name"] = "someone-else".into();
    for n in other["nodes"].as_array_mut().unwrap() {
        n["name"] = n["name"]
            .as_str()
            .unwrap()
            .replace("faasbed", "someone-else")
            .into();
        n["runtimeLabels"]
            .as_object_mut()
            .unwrap()
            .remove("faasbed.io/run");
    }
    listing.as_array_mut().unwrap().push(other);
    let runner = Scripted::new(vec![
        ("k3d cluster list", Reply::Out(listing.to_string())),
        ok("k3d cluster delete faasbed"),
    ]);
    let deleted = k3d::sweep_clusters(&runner, &|_| true).await.unwrap();
    assert_eq!(deleted, ["faasbed"]);
    let deletes: Vec<String> = runner
        .log()
        .into_iter()
        .filter(|l| l.starts_with("k3d cluster delete"))
        .collect();
    assert_eq!(deletes.len(), 1, "{deletes:?}");
    assert!(
        deletes[0].starts_with("k3d cluster delete faasbed"),
        "{deletes:?}"
    );
}
