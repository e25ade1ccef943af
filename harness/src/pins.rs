//! Every pinned external version in one place: images, charts, tools.

/// k3s image for the k3d platform (k3d v5.8 default line).
pub const K3S_IMAGE: &str = "rancher/k3s:v1.31.5-k3s1";
/// OpenFaaS helm chart version (openfaas/faas-netes chart).
pub const OPENFAAS_CHART: &str = "14.2.112";
/// k3d version the k3d platform is tested with.
pub const K3D_VERSION: &str = "v5.8.3";
/// helm version the k3d platform is tested with.
pub const HELM_VERSION: &str = "v3.17.3";
