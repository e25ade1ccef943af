//! Every pinned external version in one place: images, charts, tools.
//!
//! Each pin names where its existence was checked. Bump them together and rerun the k3d tests.

/// k3s image for the k3d platform.
///
/// Source: k3s-io/docs `docs/release-notes/v1.34.X.md` (release v1.34.2+k3s1, 2025-11-20;
/// image tags replace `+` with `-`). Kept on the 1.34 line on purpose: the development and CI
/// hosts run cgroup v1, and kubelet 1.35+ refuses cgroup v1 unless told otherwise
/// (`failCgroupV1`) — check that before moving to 1.35.
pub const K3S_IMAGE: &str = "rancher/k3s:v1.34.2-k3s1";

/// The k3s release of [`K3S_IMAGE`], as its GitHub release is tagged: the binary QEMU VM agents
/// run (`k3s-arm64`, `k3s-armhf`, checked against the release's `sha256sum-*.txt`).
pub const K3S_VERSION: &str = "v1.34.2+k3s1";

/// OpenFaaS (CE) helm chart version, chart `openfaas` from https://openfaas.github.io/faas-netes.
///
/// Source: openedx/openedx-k8s-harmony `charts/harmony-chart/Chart.lock`, which locks
/// `openfaas` 14.2.34 from that repository with its digest. (The chart's own
/// `chart/openfaas/Chart.yaml` in openfaas/faas-netes moves with every release; the stored
/// copies available to check were far older. 14.2.124 is also seen in public install scripts.)
pub const OPENFAAS_CHART: &str = "14.2.34";

/// Oldest Docker Engine the k3d platform is written against (with the buildx plugin, for
/// `docker buildx build --push --metadata-file` of multi-platform images).
///
/// Source: Debian 12's `docker.io` package, 20.10.24+dfsg1: the machine this was developed on
/// ran it (`docker network inspect` output in tests/fixtures/docker/ is from it); k3d v5 needs
/// Docker 20.10 or newer.
pub const DOCKER_MIN_VERSION: &str = "20.10";

/// k3d version the k3d platform is written against.
///
/// Source: k3d-io/k3d tag v5.9.0; `schemas/upstream/k3d-config-v1alpha5.schema.json` is
/// byte-identical to `pkg/config/v1alpha5/schema.json` at that tag (see schemas/upstream/SOURCES.md).
pub const K3D_VERSION: &str = "v5.9.0";

/// helm version the k3d platform is written against (helm 3: the OpenFaaS docs use it).
///
/// Source: helm/helm release tag v3.19.0, published as
/// `https://get.helm.sh/helm-v3.19.0-linux-amd64.tar.gz` (fetched by many public CI scripts).
pub const HELM_VERSION: &str = "v3.19.0";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_k3s_binary_and_the_k3s_image_are_one_release() {
        let tag = K3S_IMAGE.rsplit(':').next().unwrap_or_default();
        assert_eq!(tag, K3S_VERSION.replace('+', "-"));
    }
}
