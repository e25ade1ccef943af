//! Installing OpenFaaS CE on a cluster with its pinned helm chart: the helm command lines
//! (repository list and cache in the run directory), the node the core is pinned to, and
//! `kubectl get nodes`. The dry-run plan and the live platform both take them from here.

use std::path::Path;
use std::time::Duration;

use super::api::{CORE_NAMESPACE, FUNCTION_NAMESPACE};
use crate::exec::Cmd;
use crate::spec::{Arch, Backend, Node, Scenario};

/// Helm repository of the OpenFaaS chart.
pub const OPENFAAS_REPO: &str = "https://openfaas.github.io/faas-netes/";
/// Deadline for the OpenFaaS core to become Available (`helm --wait`).
pub const CORE_READY_DEADLINE: Duration = Duration::from_secs(300);
/// NodePort of the OpenFaaS chart's `gateway-external` service.
pub const GATEWAY_NODE_PORT: u16 = 31112;

/// The node the OpenFaaS core is pinned to: the k3s `server` node; on an existing cluster
/// (no server node in the scenario) the first amd64/arm64 node of the gateway site, else of
/// any site ("" when every node is armhf, which the core has no images for).
pub fn core_node(scenario: &Scenario) -> &str {
    let core_capable = |n: &&Node| n.arch != Arch::Armhf;
    let in_site = |n: &&Node| n.site == scenario.platform.gateway_site;
    let nodes = || scenario.nodes.iter();
    nodes()
        .find(|n| n.backend == Backend::Server)
        .or_else(|| nodes().filter(core_capable).find(in_site))
        .or_else(|| nodes().find(core_capable))
        .map_or("", |n| n.name.as_str())
}

/// `kubectl get nodes -o json` against the run's kubeconfig; parse with [`super::parse::kube_nodes`].
pub fn get_nodes(kubeconfig_path: &Path) -> Cmd {
    Cmd::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig_path)
        .args(["get", "nodes", "-o", "json"])
}

/// Helm keeps its repository list and cache in the run directory, not in the user's home.
fn helm(run_dir: &Path) -> Cmd {
    let dir = run_dir.join("helm");
    Cmd::new("helm")
        .env("HELM_REPOSITORY_CONFIG", dir.join("repositories.yaml"))
        .env("HELM_REPOSITORY_CACHE", dir.join("cache"))
}

/// `helm repo add openfaas URL` (repository list in `RUN/helm`).
pub fn helm_repo_add(run_dir: &Path) -> Cmd {
    helm(run_dir).args(["repo", "add", "openfaas", OPENFAAS_REPO])
}

/// `helm repo update openfaas`.
pub fn helm_repo_update(run_dir: &Path) -> Cmd {
    helm(run_dir).args(["repo", "update", "openfaas"])
}

/// `helm upgrade --install` of the pinned OpenFaaS CE chart with generated basic auth, the
/// core pinned to `server_node` by the chart's top-level nodeSelector.
pub fn helm_install(
    run_dir: &Path,
    kubeconfig: &Path,
    chart_version: &str,
    server_node: &str,
) -> Cmd {
    helm(run_dir)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(["upgrade", "--install", "openfaas", "openfaas/openfaas"])
        .args(["--version", chart_version])
        .args(["--namespace", CORE_NAMESPACE, "--create-namespace"])
        .args(["--set", &format!("functionNamespace={FUNCTION_NAMESPACE}")])
        .args([
            "--set",
            "generateBasicAuth=true",
            "--set",
            "openfaasPro=false",
        ])
        .args(["--set", &format!("gateway.nodePort={GATEWAY_NODE_PORT}")])
        .args([
            "--set-string",
            &format!("nodeSelector.kubernetes\\.io/hostname={server_node}"),
        ])
        .args([
            "--wait",
            "--timeout",
            &format!("{}s", CORE_READY_DEADLINE.as_secs()),
        ])
        .timeout(CORE_READY_DEADLINE + Duration::from_secs(30))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn kubectl_asks_for_json() {
        assert_eq!(
            get_nodes(Path::new("/k")).display(),
            "kubectl --kubeconfig /k get nodes -o json"
        );
    }

    #[test]
    fn helm_keeps_its_repositories_in_the_run_directory() {
        let c = helm_repo_add(Path::new("/run"));
        assert_eq!(
            c.display(),
            "helm repo add openfaas https://openfaas.github.io/faas-netes/"
        );
        let dbg = format!("{c:?}");
        assert!(dbg.contains("/run/helm/repositories.yaml"), "{dbg}");
    }
}
