//! The live k3d platform: a cluster's lifecycle (k3d, helm, docker buildx through an
//! [`crate::exec::Runner`]; labels, namespace and password through the kube API) as a [`Platform`].
//!
//! `up` runs the steps of the dry-run plan ([`super::plan`]) in the plan's order, with the
//! same command lines from [`super::cmd`]. The cluster is labelled with the run id, so a
//! second `up` of the same run reuses it and any other cluster of that name is refused. Once
//! the cluster exists, a failing step deletes it before the error is returned; `down` deletes
//! it always and is safe twice. The user's kubeconfig is never touched: the cluster's goes to
//! `RUN/kubeconfig`. The gateway password is read from the chart's secret and never appears
//! in a command line, a log or an error.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::time::Instant;

use crate::platform::k3d::config::{self, ClusterPlan, ConfigError, RUN_LABEL};
use super::api::{Kube, KubeError};
use super::parse::{self, ParseError};
use crate::platform::k3d::plan::{self, COLD_SETTLE, GONE_DEADLINE, HEALTHZ_DEADLINE};
use super::{images, relabel};
use crate::nodes::qemu as vm;
use crate::platform::k3d::cmd;
use crate::build::{self, BuildError};
use crate::exec::{Cmd, ExecError, Output, Runner, System};
use crate::pins;
use crate::platform::deploy::{DeployError, Deployed};
use crate::platform::{ColdPhases, GatewayAccess, Platform, PlatformError, ReplicaPlacement};
use crate::spec::{Arch, Backend, ImageRegistry, PlatformKind, PlatformSpec, Scenario};
use crate::store::manifest::NodeProvenance;

/// Basic-auth user of the OpenFaaS gateway (the chart's `basic-auth-user`).
pub const GATEWAY_USER: &str = "admin";
/// Pause between two `/healthz` polls.
pub const HEALTHZ_POLL: Duration = Duration::from_millis(500);
/// What the image tag hash names as the toolchain: the function's own Dockerfile (hashed with
/// its folder) decides the Go version.
const IMAGE_TOOLCHAIN: &str = "dockerfile";

/// Errors of the live k3d platform.
#[derive(Debug, thiserror::Error)]
pub enum K3dError {
    /// Programs the platform needs are not on `PATH`.
    #[error("{programs} not found on PATH; install: {hints} (or run the same topology on the embedded platform: `faasbed bench --platform local SCENARIO`)")]
    MissingPrograms {
        /// The missing programs, comma-separated.
        programs: String,
        /// One install command per missing program.
        hints: String,
    },
    /// The scenario has SSH hosts to join to a k3d cluster, which `up` cannot do yet.
    #[error("scenario {path}: node(s) {nodes} would join a k3d cluster over SSH, which faasbed does not do yet; join them to a k3s server yourself and use `kind = \"existing\"` (see scenarios/existing-pi-cluster.toml), run the topology with `--platform local`, or make them `qemu` VMs")]
    SshAgents { path: String, nodes: String },
    /// A QEMU VM node could not be built, started or joined.
    #[error(transparent)]
    Vm(Box<vm::VmError>),
    /// The scenario cannot become a k3d config.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A file of the run directory could not be written or read.
    #[error("cannot {action} {}: {source}; check the run directory is writable", path.display())]
    File {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// An external program failed (the source holds its command line, status and output).
    #[error("{step} failed")]
    Exec {
        step: String,
        #[source]
        source: Box<ExecError>,
    },
    /// A tool printed output faasbed cannot read.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// A kube API call failed.
    #[error(transparent)]
    Kube(#[from] KubeError),
    /// A node the scenario names cannot get its labels.
    #[error(transparent)]
    Label(#[from] super::label::LabelError),
    /// A cluster of the same name exists and is not this run's.
    #[error("a k3d cluster named {name} exists already and belongs to {owner}; delete it with `k3d cluster delete {name}` or set another cluster_name under [platform.k3d]")]
    ClusterTaken { name: String, owner: String },
    /// The gateway never answered `/healthz`.
    #[error("the OpenFaaS gateway at {url} did not answer /healthz within {waited:?} (last: {last}); check its pods with `kubectl --kubeconfig {} -n openfaas get pods`", kubeconfig.display())]
    Unhealthy {
        url: String,
        waited: Duration,
        last: String,
        kubeconfig: PathBuf,
    },
    /// A step failed and deleting the cluster afterwards failed too.
    #[error("{error}; deleting cluster {cluster} afterwards failed too; run `k3d cluster delete {cluster}`")]
    Cleanup {
        cluster: String,
        error: Box<K3dError>,
        #[source]
        cleanup: Box<ExecError>,
    },
    /// No `images/functions` folder to build function images from.
    #[error("cannot find images/functions (with go.mod) above {}; run faasbed from the faasbed checkout", start.display())]
    NoFunctions { start: PathBuf },
    /// A function source could not be hashed for its image tag.
    #[error("function source {source_name}: cannot hash it for its image tag")]
    Hash {
        source_name: String,
        #[source]
        source: BuildError,
    },
    /// A function source did not cross-compile for its images.
    #[error("function source {source_name}: cannot cross-compile it for its images")]
    Build {
        source_name: String,
        #[source]
        source: BuildError,
    },
    /// `docker manifest push` printed no digest.
    #[error("`{command}` printed no sha256 digest (it printed {stdout:?}); check docker is 20.10 or newer")]
    NoDigest { command: String, stdout: String },
    /// An existing cluster's scenario names no registry to push function images to.
    #[error("scenario {}: platform existing names no registry for the function images of cluster {}; add under [platform]:\n  [platform.registry]\n  push = \"registry.lan:5000\"   # host[:port] this machine pushes to\n  pull = \"registry.lan:5000\"   # optional: how the nodes name it\nthe nodes must pull from it anonymously (see README, Platforms)", scenario.display(), kubeconfig.display())]
    NoRegistry {
        /// The scenario file.
        scenario: PathBuf,
        /// The cluster's kubeconfig.
        kubeconfig: PathBuf,
    },
    /// An `existing` scenario without a kubeconfig.
    #[error("scenario {}: platform \"existing\" needs `kubeconfig = \"path/to/kubeconfig\"` under [platform]", path.display())]
    NoKubeconfig { path: PathBuf },
    /// The kubeconfig names no server to reach the gateway at.
    #[error("kubeconfig {}: no server URL in its current context; pass a kubeconfig with current-context set", path.display())]
    NoServer { path: PathBuf },
}

impl From<vm::VmError> for K3dError {
    fn from(e: vm::VmError) -> Self {
        K3dError::Vm(Box::new(e))
    }
}

/// The install command of each program the k3d platform runs.
pub fn install_hint(program: &str) -> String {
    match program {
        "docker" => format!(
            "docker: `apt-get install -y docker.io` ({} or newer) and the buildx plugin (Docker's docker-buildx-plugin package), then start dockerd",
            pins::DOCKER_MIN_VERSION
        ),
        "k3d" => format!(
            "k3d: `curl -fsSL https://raw.githubusercontent.com/k3d-io/k3d/main/install.sh | TAG={} bash`",
            pins::K3D_VERSION
        ),
        "helm" => format!(
            "helm: `curl -fsSL https://get.helm.sh/helm-{}-linux-amd64.tar.gz | tar -xzO linux-amd64/helm > /usr/local/bin/helm && chmod +x /usr/local/bin/helm`",
            pins::HELM_VERSION
        ),
        other => format!("{other}: see `faasbed doctor`"),
    }
}

/// The programs a platform runs (none for the embedded platform): an existing cluster needs
/// docker (buildx) only when it has a `[platform.registry]` to push images to.
pub fn programs(platform: &PlatformSpec) -> &'static [&'static str] {
    match (platform.kind, &platform.registry) {
        (PlatformKind::Local, _) => &[],
        (PlatformKind::K3d, _) => &["docker", "k3d", "helm"],
        (PlatformKind::Existing, Some(_)) => &["docker", "helm"],
        (PlatformKind::Existing, None) => &["helm"],
    }
}

/// Fail fast, before anything runs, when a program `platform` needs is not on `PATH`
/// (`found` is [`crate::exec::which`] outside tests).
pub fn preflight(
    platform: &PlatformSpec,
    found: impl Fn(&str) -> Option<PathBuf>,
) -> Result<(), K3dError> {
    let missing: Vec<&str> = programs(platform)
        .iter()
        .copied()
        .filter(|p| found(p).is_none())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(K3dError::MissingPrograms {
        programs: missing.join(", "),
        hints: missing
            .iter()
            .map(|p| install_hint(p))
            .collect::<Vec<_>>()
            .join("; "),
    })
}

/// Run one step through the runner, naming it in the error.
async fn step<R: Runner>(runner: &R, cmd: &Cmd, what: &str) -> Result<Output, K3dError> {
    runner.run(cmd).await.map_err(|source| K3dError::Exec {
        step: what.to_string(),
        source: Box::new(source),
    })
}

fn write(path: &Path, text: &str) -> Result<(), K3dError> {
    let err = |source| K3dError::File {
        action: "write",
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    std::fs::write(path, text).map_err(err)
}

/// A k3d (or existing) cluster with OpenFaaS CE, as a [`Platform`].
pub struct K3dPlatform<R: Runner = System> {
    runner: R,
    kube: Kube,
    gateway: GatewayAccess,
    /// The k3d cluster this platform deletes on `down` (`None`: an existing cluster).
    cluster: Option<String>,
    /// Where images are pushed and pulled (`None`: an existing cluster without
    /// `[platform.registry]`).
    registry: Option<ImageRegistry>,
    /// QEMU VM nodes this platform started (stopped on `down`).
    vms: Vec<vm::Running>,
    run_dir: PathBuf,
    kubeconfig: PathBuf,
    reused: bool,
    down_done: bool,
}

impl<R: Runner> K3dPlatform<R> {
    /// Bring up the k3d cluster of `scenario` for run `run_id`, writing `k3d.yaml` and
    /// `kubeconfig` into `run_dir`, and connect to it with its kubeconfig.
    pub async fn up(
        scenario: &Scenario,
        run_id: &str,
        run_dir: &Path,
        runner: R,
    ) -> Result<Self, K3dError> {
        let cache = vm::assets::cache_root();
        Self::up_with(
            scenario,
            run_id,
            run_dir,
            runner,
            cache.as_deref(),
            |p: PathBuf| async move { Kube::from_kubeconfig(&p).await },
        )
        .await
    }

    /// [`K3dPlatform::up`] with the kube client made by `connect` from the run's kubeconfig
    /// path (tests pass a scripted API server) and QEMU VM assets cached under `vm_cache`.
    ///
    /// QEMU VM nodes: their assets are built (or found in the cache) before the cluster is
    /// created; once it exists they boot on its Docker network and join before OpenFaaS goes
    /// in, so the chart's pods see every node.
    pub async fn up_with<C, F>(
        scenario: &Scenario,
        run_id: &str,
        run_dir: &Path,
        runner: R,
        vm_cache: Option<&Path>,
        connect: C,
    ) -> Result<Self, K3dError>
    where
        C: FnOnce(PathBuf) -> F,
        F: Future<Output = Result<Kube, KubeError>>,
    {
        let cp = config::plan(scenario, run_id)?;
        let ssh: Vec<&str> = cp
            .external_agents
            .iter()
            .filter(|a| a.backend == Backend::Ssh)
            .map(|a| a.node.as_str())
            .collect();
        if !ssh.is_empty() {
            return Err(K3dError::SshAgents {
                path: scenario.path.display().to_string(),
                nodes: ssh.join(", "),
            });
        }
        let vm_assets = if vm::vm_nodes(&cp).is_empty() {
            Vec::new()
        } else {
            let cache = vm_cache.ok_or(vm::VmError::NoCache)?;
            vm::prepare_all(&runner, &cp, cache).await?
        };
        let name = cp.config.metadata.name.clone();
        let config_path = run_dir.join("k3d.yaml");
        let kubeconfig = run_dir.join("kubeconfig");
        write(&config_path, &cp.config_yaml()?)?;
        let listed = step(&runner, &cmd::cluster_list(), "list k3d clusters").await?;
        let reused = cluster_of_run(&parse::k3d_clusters(&listed.stdout)?, &name, run_id)?;
        if !reused {
            step(
                &runner,
                &cmd::cluster_create(&config_path, &kubeconfig),
                "create k3d cluster",
            )
            .await?;
        }
        // The cluster exists from here on: a failing step deletes it.
        let ready = async {
            step(
                &runner,
                &cmd::kubeconfig_write(&name, &kubeconfig),
                "write the cluster's kubeconfig",
            )
            .await?;
            let kube = connect(kubeconfig.clone()).await?;
            let vms =
                vm::join_all(&runner, &kube, scenario, &cp, &vm_assets, run_dir, run_id).await?;
            let server = cp.k3d_nodes.first().map_or("", |n| n.node.as_str());
            let url = format!("http://127.0.0.1:{}", scenario.platform.k3d.gateway_port);
            let target = Target {
                run_dir,
                kubeconfig: &kubeconfig,
                server,
                url,
                install_chart: true,
            };
            let gateway = install(&runner, &kube, scenario, target).await?;
            Ok::<_, K3dError>((kube, gateway, vms))
        }
        .await;
        match ready {
            Ok((kube, gateway, vms)) => Ok(K3dPlatform {
                runner,
                kube,
                gateway,
                cluster: Some(name),
                registry: Some(registry(&cp)),
                vms,
                run_dir: run_dir.to_path_buf(),
                kubeconfig,
                reused,
                down_done: false,
            }),
            Err(error) => {
                vm::abandon(&runner, run_dir, &vm::vm_node_arches(&cp)).await;
                match runner.run(&cmd::cluster_delete(&name)).await {
                    Ok(_) => Err(error),
                    Err(cleanup) => Err(K3dError::Cleanup {
                        cluster: name,
                        error: Box::new(error),
                        cleanup: Box::new(cleanup),
                    }),
                }
            }
        }
    }

    /// Attach to an existing cluster through `kubeconfig`; OpenFaaS is installed only when its
    /// gateway Deployment is absent. Images go to the scenario's `[platform.registry]`.
    /// `down` deletes nothing.
    pub async fn attach(
        scenario: &Scenario,
        kubeconfig: &Path,
        run_dir: &Path,
        runner: R,
    ) -> Result<Self, K3dError> {
        let kube = Kube::from_kubeconfig(kubeconfig).await?;
        Self::attach_with(scenario, kubeconfig, run_dir, runner, kube).await
    }

    /// [`K3dPlatform::attach`] with this kube client.
    pub async fn attach_with(
        scenario: &Scenario,
        kubeconfig: &Path,
        run_dir: &Path,
        runner: R,
        kube: Kube,
    ) -> Result<Self, K3dError> {
        let url = gateway_url_from_kubeconfig(kubeconfig)?;
        let server = plan::core_node(scenario);
        let missing = !kube.gateway_installed().await?;
        let target = Target {
            run_dir,
            kubeconfig,
            server,
            url,
            install_chart: missing,
        };
        let gateway = install(&runner, &kube, scenario, target).await?;
        Ok(K3dPlatform {
            runner,
            kube,
            gateway,
            cluster: None,
            registry: scenario.platform.registry.clone(),
            vms: Vec::new(),
            run_dir: run_dir.to_path_buf(),
            kubeconfig: kubeconfig.to_path_buf(),
            reused: true,
            down_done: false,
        })
    }

    /// A platform that `up` made earlier, reconnected from its saved parts
    /// (`platform::cluster::attach`): no VM is held, nothing is installed.
    pub fn reconnect(
        runner: R,
        kube: Kube,
        gateway: GatewayAccess,
        cluster: Option<String>,
        registry: Option<ImageRegistry>,
        run_dir: &Path,
        kubeconfig: &Path,
    ) -> Self {
        K3dPlatform {
            runner,
            kube,
            gateway,
            cluster,
            registry,
            vms: Vec::new(),
            run_dir: run_dir.to_path_buf(),
            kubeconfig: kubeconfig.to_path_buf(),
            reused: true,
            down_done: false,
        }
    }

    /// The k3d cluster `down` deletes (`None`: an existing cluster).
    pub fn cluster(&self) -> Option<&str> {
        self.cluster.as_deref()
    }

    /// The kube API of the cluster.
    pub fn kube(&self) -> &Kube {
        &self.kube
    }

    /// The cluster's kubeconfig (in the run directory for a k3d cluster).
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// Was the cluster there already (this run's, or an existing one)?
    pub fn reused(&self) -> bool {
        self.reused
    }

    /// Build every function source's image for amd64, arm64 and arm/v7 (as the thesis did), push it
    /// to the cluster's registry, and return one [`Deployed`] per function (scenario order)
    /// whose image is pinned to the pushed digest. `functions_root` is `images/functions`.
    pub async fn build_images(
        &self,
        scenario: &Scenario,
        functions_root: &Path,
    ) -> Result<Vec<Deployed>, K3dError> {
        let Some(reg) = &self.registry else {
            return Err(K3dError::NoRegistry {
                scenario: scenario.path.clone(),
                kubeconfig: self.kubeconfig.clone(),
            });
        };
        let checkout = functions_root
            .parent()
            .and_then(Path::parent)
            .ok_or_else(|| K3dError::NoFunctions {
                start: functions_root.to_path_buf(),
            })?;
        // Without the buildx plugin: per-arch `docker build` FROM scratch and a manifest list.
        let buildx = self.runner.run(&images::buildx_version()).await.is_ok();
        if buildx && self.runner.run(&cmd::buildx_inspect()).await.is_err() {
            step(
                &self.runner,
                &cmd::buildx_create(),
                "create the buildx builder",
            )
            .await?;
        }
        let mut hashes = BTreeMap::new();
        for source in plan::sources(scenario).keys() {
            let h = build::source_hash(functions_root, source, IMAGE_TOOLCHAIN).map_err(|e| {
                K3dError::Hash {
                    source_name: source.to_string(),
                    source: e,
                }
            })?;
            hashes.insert(source.to_string(), h);
        }
        let tag = |s: &str| {
            hashes
                .get(s)
                .map(|h| h[..16].to_string())
                .unwrap_or_default()
        };
        let mut pushed = BTreeMap::new();
        for (source, c) in plan::image_builds(scenario, &reg.push, &self.run_dir, tag) {
            if !buildx {
                let list_ref = cmd::image_ref(&reg.push, source, &tag(source));
                let image = images::build_and_push(
                    &self.runner,
                    functions_root,
                    source,
                    &list_ref,
                    &self.run_dir,
                )
                .await?;
                pushed.insert(source, image);
                continue;
            }
            step(
                &self.runner,
                &c.cwd(checkout),
                &format!("build and push the image of function source {source}"),
            )
            .await?;
            let path = plan::metadata_file(&self.run_dir, source);
            let text = std::fs::read_to_string(&path).map_err(|e| K3dError::File {
                action: "read",
                path: path.clone(),
                source: e,
            })?;
            pushed.insert(source, parse::buildx_metadata(&text)?);
        }
        Ok(scenario
            .functions
            .iter()
            .map(|f| {
                let arches: BTreeSet<Arch> =
                    scenario.eligible_nodes(f).iter().map(|n| n.arch).collect();
                Deployed {
                    function: f.name.clone(),
                    image: pushed
                        .get(f.source.as_str())
                        .map(|p| p.pull_ref(&reg.push, &reg.pull))
                        .unwrap_or_default(),
                    hash: hashes.get(&f.source).cloned().unwrap_or_default(),
                    arches: arches.into_iter().collect(),
                    cached: BTreeMap::new(),
                }
            })
            .collect())
    }
}

fn registry(cp: &ClusterPlan) -> ImageRegistry {
    plan::k3d_registry(cp)
}

/// Is cluster `name` in `clusters` this run's (reuse it), absent (create it), or someone
/// else's (refuse)?
fn cluster_of_run(
    clusters: &[parse::K3dCluster],
    name: &str,
    run_id: &str,
) -> Result<bool, K3dError> {
    let Some(c) = clusters.iter().find(|c| c.name == name) else {
        return Ok(false);
    };
    let owner = c
        .nodes
        .iter()
        .find_map(|n| n.runtime_labels.get(RUN_LABEL))
        .map_or_else(
            || format!("no faasbed run (no {RUN_LABEL} label)"),
            |r| format!("run {r}"),
        );
    if owner == format!("run {run_id}") {
        Ok(true)
    } else {
        Err(K3dError::ClusterTaken {
            name: name.to_string(),
            owner,
        })
    }
}

/// Delete every k3d cluster a faasbed run created (its containers carry [`RUN_LABEL`]), e.g.
/// after a crash; clusters without the label are left alone. Returns the names deleted.
/// Only clusters whose run id `ours` accepts are deleted (`faasbed clean` without `--all`: the
/// runs of its home).
pub async fn sweep_clusters<R: Runner>(
    runner: &R,
    ours: &dyn Fn(&str) -> bool,
) -> Result<Vec<String>, K3dError> {
    let listed = step(runner, &cmd::cluster_list(), "list k3d clusters").await?;
    let mut deleted = Vec::new();
    for c in parse::k3d_clusters(&listed.stdout)? {
        let ours = c
            .nodes
            .iter()
            .any(|n| n.runtime_labels.get(RUN_LABEL).is_some_and(|r| ours(r)));
        if ours {
            step(runner, &cmd::cluster_delete(&c.name), "delete k3d cluster").await?;
            deleted.push(c.name);
        }
    }
    Ok(deleted)
}

/// Where OpenFaaS goes and how its gateway is reached.
struct Target<'a> {
    /// Run directory (helm's repository list and cache).
    run_dir: &'a Path,
    /// The cluster's kubeconfig.
    kubeconfig: &'a Path,
    /// Node the OpenFaaS core is pinned to.
    server: &'a str,
    /// Gateway base URL.
    url: String,
    /// Install the chart (false: it is there already).
    install_chart: bool,
}

/// Label the nodes, install OpenFaaS when the target says so, read the password and wait for
/// the gateway: the plan's "node labels" and "OpenFaaS CE" sections, in order.
async fn install<R: Runner>(
    runner: &R,
    kube: &Kube,
    scenario: &Scenario,
    t: Target<'_>,
) -> Result<GatewayAccess, K3dError> {
    relabel::apply_scenario_labels(kube, scenario).await?;
    if t.install_chart {
        step(
            runner,
            &cmd::helm_repo_add(t.run_dir),
            "add the OpenFaaS helm repository",
        )
        .await?;
        step(
            runner,
            &cmd::helm_repo_update(t.run_dir),
            "update the OpenFaaS helm repository",
        )
        .await?;
        kube.ensure_namespace(super::api::FUNCTION_NAMESPACE)
            .await?;
        let chart = &scenario.platform.k3d.openfaas_chart_version;
        step(
            runner,
            &cmd::helm_install(t.run_dir, t.kubeconfig, chart, t.server),
            "install the OpenFaaS chart",
        )
        .await?;
    }
    let gateway = GatewayAccess {
        url: t.url,
        user: GATEWAY_USER.into(),
        password: kube.read_gateway_password().await?,
    };
    wait_healthy(&gateway, Instant::now() + HEALTHZ_DEADLINE, t.kubeconfig).await?;
    Ok(gateway)
}

/// Poll the gateway's `/healthz` until it answers 200 or `deadline` passes.
pub async fn wait_healthy(
    gateway: &GatewayAccess,
    deadline: Instant,
    kubeconfig: &Path,
) -> Result<(), K3dError> {
    let started = Instant::now();
    let client = gateway.client();
    loop {
        let last = match client.healthz().await {
            Ok(()) => return Ok(()),
            Err(e) => e.to_string(),
        };
        if Instant::now() >= deadline {
            return Err(K3dError::Unhealthy {
                url: gateway.url.clone(),
                waited: started.elapsed(),
                last,
                kubeconfig: kubeconfig.to_path_buf(),
            });
        }
        tokio::time::sleep(HEALTHZ_POLL).await;
    }
}

/// The gateway of an existing cluster: the chart's NodePort on the host of the kubeconfig's
/// current server URL.
pub fn gateway_url_from_kubeconfig(path: &Path) -> Result<String, K3dError> {
    let kc = ::kube::config::Kubeconfig::read_from(path).map_err(|source| {
        K3dError::Kube(KubeError::Kubeconfig {
            path: path.to_path_buf(),
            source,
        })
    })?;
    let no_server = || K3dError::NoServer {
        path: path.to_path_buf(),
    };
    let ctx_name = kc.current_context.as_deref().ok_or_else(no_server)?;
    let cluster_name = kc
        .contexts
        .iter()
        .find(|c| c.name == ctx_name)
        .and_then(|c| c.context.as_ref())
        .map(|c| c.cluster.clone())
        .ok_or_else(no_server)?;
    let server = kc
        .clusters
        .iter()
        .find(|c| c.name == cluster_name)
        .and_then(|c| c.cluster.as_ref())
        .and_then(|c| c.server.clone())
        .ok_or_else(no_server)?;
    let host = server
        .parse::<http::Uri>()
        .ok()
        .and_then(|u| u.host().map(str::to_string))
        .ok_or_else(no_server)?;
    Ok(format!("http://{host}:{}", config::GATEWAY_NODE_PORT))
}

/// How a node's class profile is applied: a QEMU VM gets its CPU model, CPU count and memory;
/// a k3d container shares the host's.
fn enforcement(n: &crate::spec::Node) -> serde_json::Value {
    if n.backend == Backend::Qemu {
        let (smp, mem_mib) = vm::node::size(n);
        serde_json::json!({
            "enforced": true,
            "how": "QEMU VM (TCG emulation): -cpu, -smp and -m from the class profile",
            "qemu_cpu": n.qemu_cpu(),
            "smp": smp,
            "memory_mib": mem_mib,
        })
    } else {
        serde_json::json!({
            "enforced": false,
            "reason": "k3d containers share the host's CPUs and memory; the class profile is \
                       not applied",
        })
    }
}

fn platform_err(e: impl Into<K3dError>) -> PlatformError {
    PlatformError::K3d(Box::new(e.into()))
}

impl<R: Runner> Platform for K3dPlatform<R> {
    fn gateway(&self) -> &GatewayAccess {
        &self.gateway
    }

    async fn build(
        &self,
        scenario: &Scenario,
        log: &mut dyn FnMut(&str),
    ) -> Result<Vec<Deployed>, DeployError> {
        let root = crate::platform::deploy::functions_root(scenario)?;
        log("building and pushing function images");
        Ok(self
            .build_images(scenario, &root)
            .await
            .map_err(platform_err)?)
    }

    async fn enforce_placement(&self, scenario: &Scenario) -> Result<(), PlatformError> {
        super::placement::enforce_and_verify(&self.kube, scenario)
            .await
            .map(drop)
            .map_err(platform_err)
    }

    async fn node_provenance(&self, scenario: &Scenario) -> Vec<NodeProvenance> {
        let facts = self.kube.node_facts().await.unwrap_or_default();
        scenario
            .nodes
            .iter()
            .map(|n| {
                let seen = facts.iter().find(|f| f.name == n.name);
                NodeProvenance {
                    name: n.name.clone(),
                    class: n.class.clone(),
                    arch: seen.map_or_else(|| n.arch.to_string(), |f| f.arch.clone()),
                    backend: n.backend.as_str().to_string(),
                    site: n.site.clone(),
                    emulated: n.backend == Backend::Qemu,
                    launcher: serde_json::json!({
                        "k3s": scenario.platform.k3d.k3s_image,
                        "detected": seen,
                        "clock_offset_ns": self.clock_offset_ns(&n.name),
                    }),
                    link: serde_json::Value::Null,
                    enforcement: enforcement(n),
                    profile: serde_json::to_value(&n.profile).unwrap_or_default(),
                }
            })
            .collect()
    }

    async fn force_cold(&self, function: &str) -> Result<(), PlatformError> {
        self.kube
            .scale_to_zero(function)
            .await
            .map_err(platform_err)?;
        self.kube
            .wait_gone(function, Instant::now() + GONE_DEADLINE)
            .await
            .map_err(platform_err)
    }

    async fn placement(&self, function: &str) -> Result<Vec<ReplicaPlacement>, PlatformError> {
        let pods = self.kube.placement(function).await.map_err(platform_err)?;
        Ok(pods
            .into_iter()
            .filter(|p| !p.terminating)
            .filter_map(|p| {
                Some(ReplicaPlacement {
                    node: p.node?,
                    arch: p.arch?,
                    class: p.class,
                    // The pod name is not the function's instance id (X-Faasbed-Instance).
                    instance: None,
                    ready: p.ready,
                })
            })
            .collect())
    }

    async fn cold_phases(&self, function: &str) -> ColdPhases {
        // The cold call started one pod: the one that is not going away.
        let Ok(pods) = self.kube.placement(function).await else {
            return ColdPhases::default();
        };
        let Some(pod) = pods.iter().find(|p| !p.terminating) else {
            return ColdPhases::default();
        };
        let Ok(ph) = self.kube.cold_phases(&pod.pod).await else {
            return ColdPhases::default();
        };
        // The scheduler (the server, on this host) stamps PodScheduled; the node's kubelet
        // stamps Ready with the node's clock.
        let offset = ph.node.as_deref().and_then(|n| self.clock_offset_ns(n));
        let mut phases = ph.to_cold_phases();
        phases.healthy_ns = phases
            .healthy_ns
            .map(|t| crate::platform::on_host_clock(t, offset));
        phases
    }

    fn clock_offset_ns(&self, node: &str) -> Option<i64> {
        self.vms
            .iter()
            .find(|v| v.node == node)
            .and_then(|v| v.clock_offset_ns)
    }

    async fn down(&mut self) -> Result<(), PlatformError> {
        if self.down_done {
            return Ok(());
        }
        // The VMs go first: their k3s agents lose the server with the cluster.
        let stopped = vm::stop(&self.runner, &self.vms).await;
        if let Some(name) = &self.cluster {
            step(
                &self.runner,
                &cmd::cluster_delete(name),
                "delete k3d cluster",
            )
            .await
            .map_err(platform_err)?;
        }
        stopped.map_err(platform_err)?;
        self.down_done = true;
        Ok(())
    }

    fn cold_settle(&self) -> Duration {
        COLD_SETTLE
    }
}
