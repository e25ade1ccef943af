//! The live platform of OpenFaaS CE on a Kubernetes cluster ([`KubePlatform`], a
//! [`Platform`]), generic over the [`Cluster`] it runs on: a k3d cluster faasbed made
//! (`platform::k3d`) or an existing one reached through its kubeconfig
//! (`platform::existing`). Commands (helm, docker buildx) go through an
//! [`crate::exec::Runner`]; labels, namespace, password, placement and cold starts through the
//! kube API ([`super::api`]). The gateway password is read from the chart's secret and never
//! appears in a command line, a log or an error.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::time::Instant;

use super::api::Kube;
use super::error::KubePlatformError;
use super::parse;
use super::{helm, images, relabel, Cluster, COLD_SETTLE, GONE_DEADLINE, HEALTHZ_DEADLINE};
use crate::build;
use crate::dryrun;
use crate::exec::{Cmd, Output, Runner, System};
use crate::pins;
use crate::platform::deploy::{DeployError, Deployed};
use crate::platform::{ColdPhases, GatewayAccess, Platform, PlatformError, ReplicaPlacement};
use crate::python;
use crate::spec::{Arch, Backend, ImageRegistry, PlatformKind, PlatformSpec, Runtime, Scenario};
use crate::store::manifest::NodeProvenance;

/// Basic-auth user of the OpenFaaS gateway (the chart's `basic-auth-user`).
pub const GATEWAY_USER: &str = "admin";
/// Pause between two `/healthz` polls.
pub const HEALTHZ_POLL: Duration = Duration::from_millis(500);
/// What the image tag hash names as the toolchain: the function's own Dockerfile (hashed with
/// its folder) decides the Go version.
const IMAGE_TOOLCHAIN: &str = "dockerfile";

/// The install command of each program a cluster platform runs.
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
) -> Result<(), KubePlatformError> {
    let missing: Vec<&str> = programs(platform)
        .iter()
        .copied()
        .filter(|p| found(p).is_none())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(KubePlatformError::MissingPrograms {
        programs: missing.join(", "),
        hints: missing
            .iter()
            .map(|p| install_hint(p))
            .collect::<Vec<_>>()
            .join("; "),
    })
}

/// Run one step through the runner, naming it in the error.
pub async fn step<R: Runner>(
    runner: &R,
    cmd: &Cmd,
    what: &str,
) -> Result<Output, KubePlatformError> {
    runner
        .run(cmd)
        .await
        .map_err(|source| KubePlatformError::Exec {
            step: what.to_string(),
            source: Box::new(source),
        })
}

/// Write `text` to `path`, making its folder.
pub fn write(path: &Path, text: &str) -> Result<(), KubePlatformError> {
    let err = |source| KubePlatformError::File {
        action: "write",
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    std::fs::write(path, text).map_err(err)
}

/// OpenFaaS CE on the cluster `C`, as a [`Platform`].
pub struct KubePlatform<C: Cluster, R: Runner = System> {
    runner: R,
    kube: Kube,
    gateway: GatewayAccess,
    /// The cluster: what `down` releases.
    cluster: C,
    /// Where images are pushed and pulled (`None`: an existing cluster without
    /// `[platform.registry]`).
    registry: Option<ImageRegistry>,
    run_dir: PathBuf,
    kubeconfig: PathBuf,
    reused: bool,
    down_done: bool,
}

/// The parts of a [`KubePlatform`] once its cluster is reachable.
pub struct Parts<R: Runner> {
    /// Runs helm, docker and the cluster's own commands.
    pub runner: R,
    /// The cluster's kube API.
    pub kube: Kube,
    /// The gateway.
    pub gateway: GatewayAccess,
    /// Where function images go (`None`: nowhere; `build` refuses).
    pub registry: Option<ImageRegistry>,
    /// The run directory (helm cache, image metadata, binaries).
    pub run_dir: PathBuf,
    /// The cluster's kubeconfig.
    pub kubeconfig: PathBuf,
    /// Was the cluster there already?
    pub reused: bool,
}

impl<R: Runner> Parts<R> {
    /// The parts of a platform that an earlier `up` made, reconnected from its saved state
    /// (`platform::cluster::attach`): the cluster was there already and nothing is installed.
    pub fn reconnected(
        runner: R,
        kube: Kube,
        gateway: GatewayAccess,
        registry: Option<ImageRegistry>,
        run_dir: &Path,
        kubeconfig: &Path,
    ) -> Self {
        Parts {
            runner,
            kube,
            gateway,
            registry,
            run_dir: run_dir.to_path_buf(),
            kubeconfig: kubeconfig.to_path_buf(),
            reused: true,
        }
    }
}

impl<C: Cluster, R: Runner> KubePlatform<C, R> {
    /// The platform of `cluster`, made of `parts`.
    pub fn new(cluster: C, parts: Parts<R>) -> Self {
        KubePlatform {
            runner: parts.runner,
            kube: parts.kube,
            gateway: parts.gateway,
            cluster,
            registry: parts.registry,
            run_dir: parts.run_dir,
            kubeconfig: parts.kubeconfig,
            reused: parts.reused,
            down_done: false,
        }
    }

    /// The cluster this platform runs on.
    pub fn cluster_of(&self) -> &C {
        &self.cluster
    }

    /// The k3d cluster `down` deletes (`None`: an existing cluster).
    pub fn cluster(&self) -> Option<&str> {
        self.cluster.deletes()
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
    ) -> Result<Vec<Deployed>, KubePlatformError> {
        let Some(reg) = &self.registry else {
            return Err(KubePlatformError::NoRegistry {
                scenario: scenario.path.clone(),
                kubeconfig: self.kubeconfig.clone(),
            });
        };
        let checkout = functions_root
            .parent()
            .and_then(Path::parent)
            .ok_or_else(|| KubePlatformError::NoFunctions {
                start: functions_root.to_path_buf(),
            })?;
        dryrun::section(format!("function images (pushed to {})", reg.push));
        dryrun::note(
            "the Dockerfiles cross-compile with Go on the build platform, so no emulation is \
             needed; <content-hash> is the hash of go.mod, contract/ and the function's folder",
        );
        // Without the buildx plugin: per-arch `docker build` FROM scratch and a manifest list.
        let buildx = self.runner.run(&images::buildx_version()).await.is_ok();
        dryrun::note(
            "when that fails (no buildx plugin), each build below is instead, per arch, \
             faasbed's own Go cross-compile FROM scratch with `docker build --no-cache \
             --platform …` and `docker push`, then one `docker manifest create/annotate/push` of \
             the list under the same tag",
        );
        let absent = buildx && self.runner.run(&images::buildx_inspect()).await.is_err();
        if buildx {
            dryrun::skip_when(format!("builder {} exists", images::BUILDER));
        }
        if absent {
            step(
                &self.runner,
                &images::buildx_create(),
                "create the buildx builder",
            )
            .await?;
        }
        let images_by_name = images::sources(scenario);
        let mut hashes = BTreeMap::new();
        for (image, s) in &images_by_name {
            let h = match s.runtime {
                Runtime::Go => build::source_hash(functions_root, s.source, IMAGE_TOOLCHAIN)
                    .map_err(|e| KubePlatformError::Hash {
                        source_name: s.source.to_string(),
                        source: e,
                    })?,
                Runtime::Python => {
                    images::python_image_hash(&python::python_root(functions_root), s.source)?
                }
            };
            hashes.insert(image.clone(), h);
        }
        let tag = |s: &str| {
            hashes
                .get(s)
                .map(|h| h[..16].to_string())
                .unwrap_or_default()
        };
        let mut pushed = BTreeMap::new();
        for (image, c) in images::image_builds(scenario, &reg.push, &self.run_dir, tag) {
            if !buildx {
                let source = images_by_name
                    .get(&image)
                    .filter(|s| s.runtime == Runtime::Go)
                    .map(|s| s.source)
                    .ok_or_else(|| KubePlatformError::PythonNeedsBuildx {
                        image: image.clone(),
                    })?;
                let list_ref = images::image_ref(&reg.push, &image, &tag(&image));
                let pushed_image = images::build_and_push(
                    &self.runner,
                    functions_root,
                    source,
                    &list_ref,
                    &self.run_dir,
                )
                .await?;
                pushed.insert(image, pushed_image);
                continue;
            }
            step(
                &self.runner,
                &c.cwd(checkout),
                &format!("build and push the function image {image}"),
            )
            .await?;
            let path = images::metadata_file(&self.run_dir, &image);
            let text = std::fs::read_to_string(&path).map_err(|e| KubePlatformError::File {
                action: "read",
                path: path.clone(),
                source: e,
            })?;
            pushed.insert(image, parse::buildx_metadata(&text)?);
        }
        if self.cluster.deletes().is_none() {
            dryrun::note(format!(
                "the nodes pull them as {}/faasbed/<source>:<content-hash>@<digest>, anonymously \
                 and with imagePullPolicy Always (OpenFaaS CE); a plain-HTTP registry must be a \
                 mirror with an http:// endpoint in /etc/rancher/k3s/registries.yaml on every node",
                reg.pull
            ));
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
                        .get(&images::image_name(f))
                        .map(|p| p.pull_ref(&reg.push, &reg.pull))
                        .unwrap_or_default(),
                    hash: hashes
                        .get(&images::image_name(f))
                        .cloned()
                        .unwrap_or_default(),
                    arches: arches.into_iter().collect(),
                    cached: BTreeMap::new(),
                }
            })
            .collect())
    }
}

fn platform_err(e: impl Into<KubePlatformError>) -> PlatformError {
    PlatformError::Kube(Box::new(e.into()))
}

/// Where OpenFaaS goes and how its gateway is reached.
pub struct Target<'a> {
    /// Run directory (helm's repository list and cache).
    pub run_dir: &'a Path,
    /// The cluster's kubeconfig.
    pub kubeconfig: &'a Path,
    /// Node the OpenFaaS core is pinned to.
    pub server: &'a str,
    /// Gateway base URL.
    pub url: String,
    /// Install the chart (false: it is there already).
    pub install_chart: bool,
}

/// Label the nodes, install OpenFaaS when the target says so, read the password and wait for
/// the gateway: the plan's "node labels" and "OpenFaaS CE" sections, in order.
pub async fn install<R: Runner>(
    runner: &R,
    kube: &Kube,
    scenario: &Scenario,
    t: Target<'_>,
) -> Result<GatewayAccess, KubePlatformError> {
    relabel::apply_scenario_labels(kube, scenario).await?;
    dryrun::section("OpenFaaS CE");
    if !t.install_chart {
        dryrun::note("OpenFaaS CE is installed already: the chart is left as it is");
    }
    if t.install_chart {
        step(
            runner,
            &helm::helm_repo_add(t.run_dir),
            "add the OpenFaaS helm repository",
        )
        .await?;
        step(
            runner,
            &helm::helm_repo_update(t.run_dir),
            "update the OpenFaaS helm repository",
        )
        .await?;
        kube.ensure_namespace(super::api::FUNCTION_NAMESPACE)
            .await?;
        let chart = &scenario.platform.k3d.openfaas_chart_version;
        dryrun::note(format!(
            "the core (gateway, provider, NATS, Prometheus) is pinned to the server {} by the \
             chart's top-level nodeSelector: its images are amd64/arm64 only and the gateway \
             belongs in the gateway site",
            t.server
        ));
        step(
            runner,
            &helm::helm_install(t.run_dir, t.kubeconfig, chart, t.server),
            "install the OpenFaaS chart",
        )
        .await?;
        dryrun::wait(
            format!(
                "every Deployment in namespace {} Available (helm --wait)",
                super::api::CORE_NAMESPACE
            ),
            helm::CORE_READY_DEADLINE,
        );
    }
    dryrun::check(format!(
        "gateway password = key {} (user {GATEWAY_USER}, password {}; never logged)",
        super::api::BASIC_AUTH_PASSWORD_KEY,
        dryrun::REDACTED
    ));
    let gateway = GatewayAccess {
        url: t.url,
        user: GATEWAY_USER.into(),
        password: kube.read_gateway_password().await?,
    };
    dryrun::wait(
        format!("GET {}/healthz answers 200", gateway.url),
        HEALTHZ_DEADLINE,
    );
    wait_healthy(&gateway, Instant::now() + HEALTHZ_DEADLINE, t.kubeconfig).await?;
    Ok(gateway)
}

/// Poll the gateway's `/healthz` until it answers 200 or `deadline` passes.
pub async fn wait_healthy(
    gateway: &GatewayAccess,
    deadline: Instant,
    kubeconfig: &Path,
) -> Result<(), KubePlatformError> {
    let started = Instant::now();
    let client = gateway.client();
    loop {
        let last = match client.healthz().await {
            Ok(()) => return Ok(()),
            Err(e) => e.to_string(),
        };
        if Instant::now() >= deadline {
            return Err(KubePlatformError::Unhealthy {
                url: gateway.url.clone(),
                waited: started.elapsed(),
                last,
                kubeconfig: kubeconfig.to_path_buf(),
            });
        }
        tokio::time::sleep(HEALTHZ_POLL).await;
    }
}

impl<C: Cluster, R: Runner> Platform for KubePlatform<C, R> {
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
        // A failed read is kept in the provenance: "detected" is null and says why.
        let (facts, unread) = match self.kube.node_facts().await {
            Ok(f) => (f, None),
            Err(e) => (Vec::new(), Some(crate::output::error_chain(&e))),
        };
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
                        "detection_error": unread,
                        "clock_offset_ns": self.clock_offset_ns(&n.name),
                    }),
                    link: serde_json::Value::Null,
                    enforcement: self.cluster.enforcement(n),
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
        dryrun::wait(
            format!(
                "no pod {}={function} and no ready address in endpoints/{function}",
                super::api::FUNCTION_LABEL
            ),
            GONE_DEADLINE,
        );
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
        self.cluster.clock_offset_ns(node)
    }

    async fn down(&mut self) -> Result<(), PlatformError> {
        if self.down_done {
            return Ok(());
        }
        self.cluster.release(&self.runner).await?;
        self.down_done = true;
        Ok(())
    }

    fn cold_settle(&self) -> Duration {
        COLD_SETTLE
    }
}
