//! What runs a replica and how the gateway notices it: the per-node replica runtime
//! (`runtime = "process" | "containerd"`), the gateway's cold-start model
//! (`[platform.gateway] model`) and the image cache state of cold starts
//! (`[experiment.cold] image_cache`).

use std::fmt;

use serde::Serialize;

/// How a local node runs a replica.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReplicaRuntime {
    /// A host process (native, or under QEMU user mode): the default.
    #[default]
    Process,
    /// A container of faasbed's own containerd + runc, on its site's CNI bridge.
    Containerd,
}

impl ReplicaRuntime {
    /// The scenario-file name.
    pub fn as_str(self) -> &'static str {
        match self {
            ReplicaRuntime::Process => "process",
            ReplicaRuntime::Containerd => "containerd",
        }
    }
    /// Parse the scenario-file name.
    pub fn parse(s: &str) -> Option<ReplicaRuntime> {
        match s {
            "process" => Some(ReplicaRuntime::Process),
            "containerd" => Some(ReplicaRuntime::Containerd),
            _ => None,
        }
    }
}

impl fmt::Display for ReplicaRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the local gateway brings a function from zero replicas to a ready one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum GatewayModel {
    /// The replica is used as soon as its first health probe passes (probed every 1 ms).
    #[default]
    None,
    /// OpenFaaS CE: a readiness probe with its initial delay and period, the gateway polling
    /// the replica count every 100 ms, and a 250 ms replica cache.
    OpenfaasCe,
}

impl GatewayModel {
    /// The scenario-file name.
    pub fn as_str(self) -> &'static str {
        match self {
            GatewayModel::None => "none",
            GatewayModel::OpenfaasCe => "openfaas-ce",
        }
    }
    /// Parse the scenario-file name.
    pub fn parse(s: &str) -> Option<GatewayModel> {
        match s {
            "none" => Some(GatewayModel::None),
            "openfaas-ce" => Some(GatewayModel::OpenfaasCe),
            _ => None,
        }
    }
}

/// Whether a cold start finds its image already in the node's image store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageCache {
    /// Imported once; cold starts reuse it.
    #[default]
    Present,
    /// Removed and imported again before each cold start (the "pulled" class); the import is
    /// a phase of the cold start.
    Fresh,
}

impl ImageCache {
    /// The scenario-file name.
    pub fn as_str(self) -> &'static str {
        match self {
            ImageCache::Present => "present",
            ImageCache::Fresh => "fresh",
        }
    }
    /// Parse the scenario-file name.
    pub fn parse(s: &str) -> Option<ImageCache> {
        match s {
            "present" => Some(ImageCache::Present),
            "fresh" => Some(ImageCache::Fresh),
            _ => None,
        }
    }
}

/// The programs and plugin a `containerd` node needs on the host, by how they are looked up;
/// empty when all are there.
pub fn missing_containerd_tools() -> Vec<&'static str> {
    let mut missing: Vec<&'static str> = ["containerd", "ctr", "runc"]
        .into_iter()
        .filter(|p| crate::exec::which(p).is_none())
        .collect();
    if !std::path::Path::new("/usr/lib/cni/bridge").is_file() {
        missing.push("/usr/lib/cni/bridge");
    }
    missing
}

/// Is binfmt entry `entry` (`qemu-aarch64`, `qemu-arm`) enabled with flag `F` (the
/// interpreter opened at registration, so it runs inside containers)?
pub fn binfmt_fixed(entry: &str) -> bool {
    let text =
        std::fs::read_to_string(format!("/proc/sys/fs/binfmt_misc/{entry}")).unwrap_or_default();
    text.starts_with("enabled")
        && text
            .lines()
            .any(|l| l.starts_with("flags:") && l.contains('F'))
}

/// The command that installs what [`missing_containerd_tools`] lists.
pub const CONTAINERD_APT: &str = "apt-get install -y containerd runc containernetworking-plugins";
