//! Every `k3d` command line the k3d platform runs, built as [`Cmd`]s in this one place: the
//! dry-run plan ([`super::plan`]) and the bring-up ([`super::up`]) both take them from here,
//! so the plan shows what runs. (helm and buildx are [`crate::platform::kube`]'s.)
//!
//! Flag names are those of k3d v5 (`cmd/cluster/clusterCreate.go`,
//! `cmd/kubeconfig/kubeconfigMerge.go`, whose alias is `write`). The user's own kubeconfig is
//! never touched: create runs with `KUBECONFIG` pointing into the run directory and with both
//! kubeconfig updates off, and the kubeconfig is then written to that file explicitly.

use std::path::Path;
use std::time::Duration;

use crate::exec::Cmd;

/// Longest a cluster create may take (image pulls included).
pub const CREATE_TIMEOUT: Duration = Duration::from_secs(600);

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

/// `k3d cluster list -o json`; parse with [`super::parse::k3d_clusters`].
pub fn cluster_list() -> Cmd {
    Cmd::new("k3d").args(["cluster", "list", "-o", "json"])
}

/// `k3d node list -o json`; parse with [`super::parse::k3d_nodes`].
pub fn node_list() -> Cmd {
    Cmd::new("k3d").args(["node", "list", "-o", "json"])
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
    }
}
