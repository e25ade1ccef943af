//! The existing-cluster platform (`kind = "existing"`): a Kubernetes cluster faasbed did not
//! make, reached through its kubeconfig. OpenFaaS is installed only when its gateway is
//! absent, images go to the scenario's `[platform.registry]`, and `down` deletes nothing.
//! [`ExistingPlatform::attach`] is the way in for anyone who has a kubeconfig and a scenario
//! (`faasbed up`, or a k3s server installed over SSH).

use std::path::{Path, PathBuf};

use crate::dryrun;
use crate::exec::{Runner, System};
use crate::platform::kube::helm::{core_node, GATEWAY_NODE_PORT};
use crate::platform::kube::live::{install, Parts, Target};
use crate::platform::kube::{Cluster, Kube, KubeError, KubePlatform, KubePlatformError};
use crate::platform::{GatewayAccess, PlatformError};
use crate::spec::{ImageRegistry, Node, Scenario};

/// OpenFaaS on an existing cluster, as a [`crate::platform::Platform`].
pub type ExistingPlatform<R = System> = KubePlatform<Existing, R>;

/// Errors attaching to an existing cluster.
#[derive(Debug, thiserror::Error)]
pub enum ExistingError {
    /// An `existing` scenario without a kubeconfig.
    #[error("scenario {}: platform \"existing\" needs `kubeconfig = \"path/to/kubeconfig\"` under [platform]", path.display())]
    NoKubeconfig { path: PathBuf },
    /// The kubeconfig names no server to reach the gateway at.
    #[error("kubeconfig {}: no server URL in its current context; pass a kubeconfig with current-context set", path.display())]
    NoServer { path: PathBuf },
    /// The kubeconfig cannot be read, or the kube API fails.
    #[error(transparent)]
    Kube(#[from] KubeError),
    /// Installing or reaching OpenFaaS on the cluster failed.
    #[error(transparent)]
    Platform(#[from] KubePlatformError),
}

impl From<ExistingError> for PlatformError {
    fn from(e: ExistingError) -> Self {
        PlatformError::Existing(Box::new(e))
    }
}

/// A cluster that is not faasbed's: nothing of it is started or released.
#[derive(Debug, Clone, Copy, Default)]
pub struct Existing;

impl Cluster for Existing {
    fn deletes(&self) -> Option<&str> {
        None
    }

    fn clock_offset_ns(&self, _node: &str) -> Option<i64> {
        None
    }

    /// The nodes run as they are: the class profile describes them, faasbed applies nothing.
    fn enforcement(&self, _n: &Node) -> serde_json::Value {
        serde_json::json!({
            "enforced": false,
            "reason": "the nodes of an existing cluster run as they are; the class profile \
                       describes them and is not applied",
        })
    }

    async fn release<R: Runner>(&mut self, _runner: &R) -> Result<(), PlatformError> {
        dryrun::section("down");
        dryrun::note(
            "nothing is deleted: the cluster is not faasbed's (OpenFaaS and the functions stay \
             deployed)",
        );
        Ok(())
    }
}

impl<R: Runner> KubePlatform<Existing, R> {
    /// Attach to the existing cluster of `scenario` through `kubeconfig`; OpenFaaS is
    /// installed only when its gateway Deployment is absent. Working files go to `run_dir`.
    pub async fn attach(
        scenario: &Scenario,
        kubeconfig: &Path,
        run_dir: &Path,
        runner: R,
    ) -> Result<Self, ExistingError> {
        let kube = Kube::from_kubeconfig(kubeconfig).await?;
        let url = gateway_url_from_kubeconfig(kubeconfig)?;
        Self::attach_with(scenario, kubeconfig, run_dir, runner, kube, url).await
    }

    /// [`KubePlatform::attach`] with this kube client and the gateway at `url`.
    pub async fn attach_with(
        scenario: &Scenario,
        kubeconfig: &Path,
        run_dir: &Path,
        runner: R,
        kube: Kube,
        url: String,
    ) -> Result<Self, ExistingError> {
        dryrun::section("existing cluster");
        dryrun::note(format!(
            "attach through {}: no cluster is created and no node is joined; nodes {} must be in \
             the cluster already, under these names",
            kubeconfig.display(),
            scenario
                .nodes
                .iter()
                .map(|n| n.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
        dryrun::check(
            "OpenFaaS CE is installed when its gateway Deployment exists: then the helm steps and \
             the namespace are skipped and the chart is left as it is",
        );
        let missing = !kube.gateway_installed().await?;
        dryrun::section("node labels");
        let target = Target {
            run_dir,
            kubeconfig,
            server: core_node(scenario),
            url,
            install_chart: missing,
        };
        let gateway = install(&runner, &kube, scenario, target).await?;
        Ok(Self::reconnect(
            runner,
            kube,
            gateway,
            scenario.platform.registry.clone(),
            run_dir,
            kubeconfig,
        ))
    }

    /// A platform that `up` attached earlier, reconnected from its saved parts
    /// (`platform::cluster::attach`): nothing is installed.
    pub fn reconnect(
        runner: R,
        kube: Kube,
        gateway: GatewayAccess,
        registry: Option<ImageRegistry>,
        run_dir: &Path,
        kubeconfig: &Path,
    ) -> Self {
        KubePlatform::new(
            Existing,
            Parts::reconnected(runner, kube, gateway, registry, run_dir, kubeconfig),
        )
    }
}

/// The gateway of an existing cluster: the chart's NodePort on the host of the kubeconfig's
/// current server URL.
pub fn gateway_url_from_kubeconfig(path: &Path) -> Result<String, ExistingError> {
    let kc =
        ::kube::config::Kubeconfig::read_from(path).map_err(|source| KubeError::Kubeconfig {
            path: path.to_path_buf(),
            source,
        })?;
    let no_server = || ExistingError::NoServer {
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
    Ok(format!("http://{host}:{GATEWAY_NODE_PORT}"))
}
