//! The scenario file as written: serde structs with `deny_unknown_fields` and source spans.
//!
//! Nothing here is checked beyond TOML types; [`super::validate`] turns it into a `Scenario`.

use std::collections::BTreeMap;
use toml::Spanned;

use serde::Deserialize;

/// Top level of a scenario file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScenario {
    /// Free text shown in reports.
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub platform: RawPlatform,
    /// Extra or overriding node-class profiles, by name.
    #[serde(default)]
    pub profile: BTreeMap<Spanned<String>, RawProfile>,
    #[serde(default)]
    pub node: Vec<RawNode>,
    #[serde(default)]
    pub link: Vec<RawLink>,
    #[serde(default)]
    pub function: Vec<RawFunction>,
    #[serde(default)]
    pub experiment: RawExperiment,
}

/// `[platform]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPlatform {
    /// `local` (default), `k3d` or `existing`.
    pub kind: Option<Spanned<String>>,
    /// The site the gateway (and the k3s server) sits in; default: the first node's site.
    pub gateway_site: Option<Spanned<String>>,
    /// Kubeconfig of an existing cluster (`kind = "existing"`).
    pub kubeconfig: Option<Spanned<String>>,
    #[serde(default)]
    pub k3d: RawK3d,
    #[serde(default)]
    pub openfaas: RawOpenFaas,
    /// `[platform.registry]`: the image registry of an existing cluster.
    pub registry: Option<Spanned<RawRegistry>>,
    /// A running containerd to use for `runtime = "containerd"` nodes (default: faasbed starts
    /// its own under the run directory).
    pub containerd_socket: Option<Spanned<String>>,
    /// `[platform.gateway]`: the local gateway's cold-start model.
    #[serde(default)]
    pub gateway: RawGateway,
    /// `[platform.k3s]`: faasbed installs k3s on the `ssh` nodes (`kind = "existing"`).
    pub k3s: Option<Spanned<RawK3s>>,
}

/// `[platform.gateway]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGateway {
    /// `none` (default) or `openfaas-ce`.
    pub model: Option<Spanned<String>>,
}

/// `[platform.k3s]`: the k3s cluster faasbed builds over SSH on the scenario's hosts.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawK3s {
    /// The node that runs the k3s server.
    pub server: Spanned<String>,
    /// Pinned k3s release (default: `pins::K3S_VERSION`).
    pub version: Option<Spanned<String>>,
    /// A folder with the release files for offline hosts (`install.sh`, `k3s`, `k3s-arm64`,
    /// `k3s-armhf`, `k3s-airgap-images-<arch>.tar.zst`).
    pub files: Option<Spanned<String>>,
}

/// `[platform.registry]`: where function images go for `kind = "existing"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRegistry {
    /// `host[:port]` this machine pushes to.
    pub push: Spanned<String>,
    /// `host[:port]` the nodes pull from (default: `push`).
    pub pull: Option<Spanned<String>>,
}

/// `[platform.k3d]`: pinned versions and ports for the k3d platform.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawK3d {
    pub cluster_name: Option<Spanned<String>>,
    pub k3s_image: Option<Spanned<String>>,
    pub registry_name: Option<Spanned<String>>,
    pub registry_port: Option<Spanned<u16>>,
    pub api_port: Option<Spanned<u16>>,
    pub gateway_port: Option<Spanned<u16>>,
}

/// `[platform.openfaas]`: the pinned chart.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOpenFaas {
    pub chart_version: Option<Spanned<String>>,
}

/// `[profile.<name>]`: what a node class is given.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProfile {
    /// CPU quota in host cores (fractional).
    pub cpus: Option<Spanned<f64>>,
    /// Memory limit, e.g. `"1GiB"`, `"512Mi"`.
    pub memory: Option<Spanned<String>>,
    /// QEMU `-cpu` model for arm64.
    pub qemu_cpu: Option<Spanned<String>>,
    /// QEMU `-cpu` model for armhf (qemu-arm has no cortex-a53).
    pub qemu_cpu_armhf: Option<Spanned<String>>,
    /// NIC bandwidth in Mbit/s.
    pub nic_mbit: Option<Spanned<f64>>,
    /// Architecture a node of this class gets when it names none.
    pub default_arch: Option<Spanned<String>>,
    /// `process` (default) or `containerd`.
    pub runtime: Option<Spanned<String>>,
}

/// `[[node]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNode {
    pub name: Spanned<String>,
    pub class: Spanned<String>,
    pub arch: Option<Spanned<String>>,
    pub site: Option<Spanned<String>>,
    #[serde(default)]
    pub labels: BTreeMap<String, Spanned<String>>,
    pub backend: Option<Spanned<String>>,
    /// For `ssh` nodes: `user@host[:port]`.
    pub address: Option<Spanned<String>>,
    /// `process` or `containerd` (default: the profile's).
    pub runtime: Option<Spanned<String>>,
    /// For `ssh` nodes: the host key's pinned fingerprint, `SHA256:...`.
    pub host_key: Option<Spanned<String>>,
    /// For `ssh` nodes: the private key to log in with (default: the SSH agent's keys).
    pub key: Option<Spanned<String>>,
}

/// `[[link]]` between two sites.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLink {
    pub between: Spanned<Vec<String>>,
    #[serde(default)]
    pub rtt_ms: Option<Spanned<f64>>,
    #[serde(default)]
    pub bandwidth_mbit: Option<Spanned<f64>>,
    #[serde(default)]
    pub loss_pct: Option<Spanned<f64>>,
}

/// `[[function]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFunction {
    pub name: Spanned<String>,
    /// Folder under `images/functions/` (Go) or script `images/python/<source>.py`.
    pub source: Spanned<String>,
    /// `"go"` (default) or `"python"`.
    pub runtime: Option<Spanned<String>>,
    #[serde(default)]
    pub constraints: Vec<Spanned<String>>,
    #[serde(default)]
    pub env: BTreeMap<String, Spanned<String>>,
    pub replicas: Option<Spanned<i64>>,
    #[serde(default)]
    pub limits: Option<RawLimits>,
    /// Path and query used when the experiment invokes it, e.g. `"/?kib=64"`.
    pub path: Option<Spanned<String>>,
    /// Request body used when the experiment invokes it.
    pub body: Option<String>,
}

/// Kubernetes-style resource limits.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    pub memory: Option<Spanned<String>>,
    pub cpu: Option<Spanned<String>>,
}

/// `[experiment]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawExperiment {
    pub seed: Option<Spanned<i64>>,
    #[serde(default)]
    pub warm: RawWarm,
    #[serde(default)]
    pub cold: RawCold,
    /// `[experiment.thresholds]`: scope (`all`, a function, `class=NAME`) = expressions.
    #[serde(default)]
    pub thresholds: BTreeMap<Spanned<String>, Vec<Spanned<String>>>,
    /// `[experiment.trace]`: a trace replay with keep-alive.
    pub trace: Option<RawTrace>,
}

/// `[experiment.warm]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWarm {
    /// `open` (fixed schedule) or `closed` (N connections, as fast as possible).
    pub mode: Option<Spanned<String>>,
    /// `uniform` or `poisson` inter-arrival times (open mode).
    pub arrival: Option<Spanned<String>>,
    /// Requests per second (open mode).
    pub rate: Option<Spanned<f64>>,
    pub duration: Option<Spanned<String>>,
    pub warmup: Option<Spanned<String>>,
    pub connections: Option<Spanned<i64>>,
    pub timeout: Option<Spanned<String>>,
}

/// `[experiment.cold]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCold {
    pub repetitions: Option<Spanned<i64>>,
    pub idle_gap: Option<Spanned<String>>,
    pub timeout: Option<Spanned<String>>,
    /// `present` (default) or `fresh`.
    pub image_cache: Option<Spanned<String>>,
}

/// `[experiment.trace]`: replay an invocation trace with a keep-alive policy.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTrace {
    /// The invocations file (relative to the scenario file).
    pub file: Spanned<String>,
    /// `azure2019` or `azure2021`.
    pub format: Spanned<String>,
    /// 2019 duration percentile file.
    pub durations: Option<Spanned<String>>,
    /// 2019 app memory percentile file.
    pub memory: Option<Spanned<String>>,
    /// Window start in trace time, e.g. `"0s"`, `"10m"`.
    pub start: Option<Spanned<String>>,
    /// Window length in trace time, e.g. `"10m"`.
    pub window: Option<Spanned<String>>,
    /// Trace seconds per replay second.
    pub compress: Option<Spanned<f64>>,
    pub seed: Option<Spanned<i64>>,
    /// `poisson` or `equidistant` (2019 within-minute placement).
    pub spread: Option<Spanned<String>>,
    /// `top`, `round-robin`, `same` or `explicit` (then `map`).
    pub mapping: Option<Spanned<String>>,
    /// `[experiment.trace.map]`: scenario function = trace function id.
    #[serde(default)]
    pub map: BTreeMap<Spanned<String>, Spanned<String>>,
    /// Idle time before scale to zero, e.g. `"30s"`; absent: never.
    pub keep_alive: Option<Spanned<String>>,
    /// `[experiment.trace.keep_alive_for]`: scenario function = its own keep-alive.
    #[serde(default)]
    pub keep_alive_for: BTreeMap<Spanned<String>, Spanned<String>>,
    pub connections: Option<Spanned<i64>>,
}
