//! Every command line the k3d platform runs (k3d, helm, docker buildx, kubectl), built as
//! [`Cmd`]s in this one place: the dry-run plan ([`super::plan`]) and the live platform
//! ([`crate::platform::kube::live`]) both take them from here, so the plan shows what runs.
//!
//! Flag names are those of k3d v5 (`cmd/cluster/clusterCreate.go`,
//! `cmd/kubeconfig/kubeconfigMerge.go`, whose alias is `write`). The user's own kubeconfig is
//! never touched: create runs with `KUBECONFIG` pointing into the run directory and with both
//! kubeconfig updates off, and the kubeconfig is then written to that file explicitly.

use std::path::Path;
use std::time::Duration;

use crate::exec::Cmd;

use super::config::GATEWAY_NODE_PORT;
use crate::platform::kube::api::{CORE_NAMESPACE, FUNCTION_NAMESPACE};

/// Longest a cluster create may take (image pulls included).
pub const CREATE_TIMEOUT: Duration = Duration::from_secs(600);
/// Helm repository of the OpenFaaS chart.
pub const OPENFAAS_REPO: &str = "https://openfaas.github.io/faas-netes/";
/// Deadline for the OpenFaaS core to become Available (`helm --wait`).
pub const CORE_READY_DEADLINE: Duration = Duration::from_secs(300);
/// Name of the buildx builder faasbed creates (docker-container driver, host network).
pub const BUILDER: &str = "faasbed";
/// Longest one multi-arch image build and push may take.
pub const BUILD_TIMEOUT: Duration = Duration::from_secs(900);

/// `k3d cluster create --config FILE`, leaving the default kubeconfig alone.
pub fn cluster_create(config_path: &Path, kubeconfig_path: &Path) -> Cmd {
    Cmd::new("k3d")
        .args(["cluster", "create", "--config"])
        .arg(config_path)
        .args([
            "--kubeconfig-update-default=false",
            "--kubeconfig-switch-context=false",
        ])
        .env("KUBECONFIG", kubeconfig_path)
        .timeout(CREATE_TIMEOUT)
}

/// `k3d kubeconfig write NAME --output FILE --overwrite`: the cluster's kubeconfig, alone in
/// its own file, with its context current.
pub fn kubeconfig_write(cluster_name: &str, kubeconfig_path: &Path) -> Cmd {
    Cmd::new("k3d")
        .args(["kubeconfig", "write", cluster_name, "--output"])
        .arg(kubeconfig_path)
        .arg("--overwrite")
}

/// `k3d cluster delete NAME` (also removes the registry created with it).
pub fn cluster_delete(cluster_name: &str) -> Cmd {
    Cmd::new("k3d")
        .args(["cluster", "delete", cluster_name])
        .timeout(Duration::from_secs(180))
}

/// `k3d cluster list -o json`; parse with [`crate::platform::kube::parse::k3d_clusters`].
pub fn cluster_list() -> Cmd {
    Cmd::new("k3d").args(["cluster", "list", "-o", "json"])
}

/// `k3d node list -o json`; parse with [`crate::platform::kube::parse::k3d_nodes`].
pub fn node_list() -> Cmd {
    Cmd::new("k3d").args(["node", "list", "-o", "json"])
}

/// `kubectl get nodes -o json` against the run's kubeconfig; parse with [`crate::platform::kube::parse::kube_nodes`].
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

/// `docker buildx inspect faasbed`: succeeds when the builder exists already.
pub fn buildx_inspect() -> Cmd {
    Cmd::new("docker").args(["buildx", "inspect", BUILDER])
}

/// `docker buildx create` of the [`BUILDER`] (host network, so it can push to `localhost:PORT`).
pub fn buildx_create() -> Cmd {
    Cmd::new("docker").args([
        "buildx",
        "create",
        "--name",
        BUILDER,
        "--driver",
        "docker-container",
        "--driver-opt",
        "network=host",
    ])
}

/// The image a function source is pushed as (`push` registry) or pulled by (`pull` registry).
pub fn image_ref(registry: &str, source: &str, tag: &str) -> String {
    format!("{registry}/faasbed/{source}:{tag}")
}

/// `docker buildx build --push` of one function source for `platforms` (OCI names, e.g.
/// `linux/arm/v7`), run from the checkout root; buildx writes the pushed digest to
/// `metadata_file` (read it with [`crate::platform::kube::parse::buildx_metadata`]).
pub fn buildx_build(push_ref: &str, platforms: &[&str], source: &str, metadata_file: &Path) -> Cmd {
    Cmd::new("docker")
        .args(["buildx", "build", "--builder", BUILDER])
        .args(["--platform", &platforms.join(",")])
        .args(["--push", "-t", push_ref])
        .arg("--metadata-file")
        .arg(metadata_file)
        .args([
            "-f",
            &format!("images/functions/{source}/Dockerfile"),
            "images/functions",
        ])
        .timeout(BUILD_TIMEOUT)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn create_never_touches_the_default_kubeconfig() {
        let c = cluster_create(Path::new("/run/k3d.yaml"), Path::new("/run/kubeconfig"));
        assert_eq!(
            c.display(),
            "k3d cluster create --config /run/k3d.yaml --kubeconfig-update-default=false --kubeconfig-switch-context=false"
        );
    }

    #[test]
    fn kubeconfig_goes_to_the_run_directory() {
        let c = kubeconfig_write("faasbed", Path::new("/run/kubeconfig"));
        assert_eq!(
            c.display(),
            "k3d kubeconfig write faasbed --output /run/kubeconfig --overwrite"
        );
    }

    #[test]
    fn listings_ask_for_json() {
        assert!(cluster_list().display().ends_with("-o json"));
        assert!(node_list().display().ends_with("-o json"));
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
