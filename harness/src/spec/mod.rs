//! Scenario files: parsing with source spans, validation, and the checked [`Scenario`] type.
//!
//! A scenario names the nodes (class, arch, site, labels, backend), the links between sites,
//! the functions with their placement constraints, and the experiment. Every error carries
//! `file:line:col` and the field, and says what to do.

mod container;
mod location;
mod profile;
pub mod raw;
mod trace;
mod validate;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

pub use container::{
    binfmt_fixed, missing_containerd_tools, GatewayModel, ImageCache, ReplicaRuntime,
    CONTAINERD_APT,
};
pub use location::Location;
pub use profile::{default_profiles, parse_cpu, parse_duration, parse_memory, Profile};
pub use trace::{Mapping, Spread, TraceFiles, TraceFormat, TraceSpec};
pub(crate) use validate::{is_dns_label, is_label_name, is_sha256_pin};

/// Errors from loading a scenario.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The file could not be read.
    #[error(
        "cannot read scenario {path}: {source}; pass an existing file, e.g. scenarios/local.toml"
    )]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML, or a value has the wrong type or an unknown key.
    #[error("{at}: {message}")]
    Syntax { at: Location, message: String },
    /// A scenario cannot move to another platform.
    #[error("{}: cannot run on the {platform} platform: node {node}: {message}", path.display())]
    Retarget {
        path: PathBuf,
        platform: &'static str,
        node: String,
        message: String,
    },
    /// The file is not UTF-8.
    #[error("{at}: byte 0x{byte:02x} is not UTF-8; a scenario file must be UTF-8 text: re-save it as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)")]
    NotUtf8 { at: Location, byte: u8 },
    /// A value is well-typed but not allowed.
    #[error("{at}: {field}: {message}")]
    Invalid {
        at: Location,
        field: String,
        message: String,
    },
}

/// Which platform runs the scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PlatformKind {
    /// Embedded: one machine, processes under QEMU user mode, no Docker or Kubernetes.
    Local,
    /// A k3d cluster plus QEMU ARM VMs and SSH hosts joined as agents.
    K3d,
    /// A cluster that already exists, reached through a kubeconfig.
    Existing,
}

impl PlatformKind {
    /// The name used in scenario files.
    pub fn as_str(self) -> &'static str {
        match self {
            PlatformKind::Local => "local",
            PlatformKind::K3d => "k3d",
            PlatformKind::Existing => "existing",
        }
    }
}

/// CPU architecture of a node, as Go and Kubernetes name it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    /// x86_64.
    Amd64,
    /// 64-bit ARM (aarch64).
    Arm64,
    /// 32-bit ARM with hardware float (ARMv7, `GOARM=7`).
    Armhf,
}

impl Arch {
    /// Every architecture, in report order.
    pub const ALL: [Arch; 3] = [Arch::Amd64, Arch::Arm64, Arch::Armhf];

    /// The scenario-file name.
    pub fn as_str(self) -> &'static str {
        match self {
            Arch::Amd64 => "amd64",
            Arch::Arm64 => "arm64",
            Arch::Armhf => "armhf",
        }
    }
    /// The value of the `kubernetes.io/arch` label (`arm` for armhf).
    pub fn k8s(self) -> &'static str {
        match self {
            Arch::Amd64 => "amd64",
            Arch::Arm64 => "arm64",
            Arch::Armhf => "arm",
        }
    }
    /// `GOARCH` for cross-compiling.
    pub fn goarch(self) -> &'static str {
        self.k8s()
    }
    /// `GOARM`, where the architecture needs one.
    pub fn goarm(self) -> Option<&'static str> {
        matches!(self, Arch::Armhf).then_some("7")
    }
    /// The Docker/OCI platform string, e.g. `linux/arm/v7`.
    pub fn oci_platform(self) -> &'static str {
        match self {
            Arch::Amd64 => "linux/amd64",
            Arch::Arm64 => "linux/arm64",
            Arch::Armhf => "linux/arm/v7",
        }
    }
    /// What the function reports in `X-Faasbed-Arch` (GOARCH plus GOARM where set).
    pub fn reported(self) -> &'static str {
        match self {
            Arch::Amd64 => "amd64",
            Arch::Arm64 => "arm64",
            Arch::Armhf => "arm/v7",
        }
    }
    /// Parse a scenario-file name (`arm` and `armv7` are accepted for armhf).
    pub fn parse(s: &str) -> Option<Arch> {
        match s {
            "amd64" | "x86_64" => Some(Arch::Amd64),
            "arm64" | "aarch64" => Some(Arch::Arm64),
            "armhf" | "arm" | "armv7" | "arm/v7" => Some(Arch::Armhf),
            _ => None,
        }
    }
    /// The architecture of the machine faasbed runs on, if it is one of ours.
    pub fn host() -> Option<Arch> {
        match std::env::consts::ARCH {
            "x86_64" => Some(Arch::Amd64),
            "aarch64" => Some(Arch::Arm64),
            "arm" => Some(Arch::Armhf),
            _ => None,
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a node is realised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Backend {
    /// local: the function binary runs as a host process.
    Native,
    /// local: the binary runs under `qemu-aarch64` / `qemu-arm` user mode.
    QemuUser,
    /// local: a full-system QEMU VM (higher fidelity).
    QemuVm,
    /// k3d: the k3s server container.
    Server,
    /// k3d: a k3s agent container.
    Agent,
    /// k3d: a QEMU ARM VM joined as a k3s agent.
    Qemu,
    /// existing: a real host of the cluster (reached at its `address`, e.g. a Pi or a VPS).
    Ssh,
}

impl Backend {
    /// The scenario-file name.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Native => "native",
            Backend::QemuUser => "qemu-user",
            Backend::QemuVm => "qemu-vm",
            Backend::Server => "server",
            Backend::Agent => "agent",
            Backend::Qemu => "qemu",
            Backend::Ssh => "ssh",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Label keys every node carries, on both platforms.
pub mod labels {
    /// The node's architecture, as Kubernetes names it (`amd64`, `arm64`, `arm`).
    pub const ARCH: &str = "kubernetes.io/arch";
    /// The node's name.
    pub const HOSTNAME: &str = "kubernetes.io/hostname";
    /// The node's class (`vps`, `pi3`, ...).
    pub const CLASS: &str = "faasbed.io/class";
    /// The node's site (`frankfurt`, ...).
    pub const SITE: &str = "faasbed.io/site";
}

/// A checked node.
#[derive(Debug, Clone, Serialize)]
pub struct Node {
    /// Unique node name (also `kubernetes.io/hostname`).
    pub name: String,
    /// Class name; `profile` holds what it resolves to.
    pub class: String,
    /// The resolved profile of the class.
    pub profile: Profile,
    /// CPU architecture.
    pub arch: Arch,
    /// Site name, for links.
    pub site: String,
    /// The scenario's own labels (the automatic ones are added by [`Node::labels`]).
    pub own_labels: BTreeMap<String, String>,
    /// How the node is realised.
    pub backend: Backend,
    /// For SSH nodes, `user@host[:port]`.
    pub address: Option<String>,
    /// How a replica runs on it (local platform): its own `runtime`, else its profile's.
    pub runtime: ReplicaRuntime,
    /// For SSH nodes, the pinned host-key fingerprint (`SHA256:...`); `None`: known_hosts.
    pub host_key: Option<String>,
    /// For SSH nodes, the private key file; `None`: the SSH agent's keys.
    pub key: Option<PathBuf>,
}

impl Node {
    /// All labels: the automatic ones (arch, hostname, class, site) and the scenario's own.
    pub fn labels(&self) -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        m.insert(labels::ARCH.to_string(), self.arch.k8s().to_string());
        m.insert(labels::HOSTNAME.to_string(), self.name.clone());
        m.insert(labels::CLASS.to_string(), self.class.clone());
        m.insert(labels::SITE.to_string(), self.site.clone());
        for (k, v) in &self.own_labels {
            m.insert(k.clone(), v.clone());
        }
        m
    }
    /// The QEMU `-cpu` model for this node's arch (`None` for amd64).
    pub fn qemu_cpu(&self) -> Option<&str> {
        match self.arch {
            Arch::Amd64 => None,
            Arch::Arm64 => Some(&self.profile.qemu_cpu),
            Arch::Armhf => Some(&self.profile.qemu_cpu_armhf),
        }
    }
}

/// A one-way emulated network path between two sites.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Link {
    /// The two sites, in file order.
    pub between: [String; 2],
    /// Round-trip time added, in milliseconds.
    pub rtt_ms: f64,
    /// Bandwidth cap in Mbit/s (`None`: unlimited).
    pub bandwidth_mbit: Option<f64>,
    /// Packet loss in percent.
    pub loss_pct: f64,
}

/// One `key=value` placement constraint, with the meaning of `faas deploy --constraint`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Constraint {
    /// Label key.
    pub key: String,
    /// Required label value.
    pub value: String,
}

impl Constraint {
    /// Parse `key=value` (spaces around either side are ignored).
    pub fn parse(s: &str) -> Result<Constraint, String> {
        if s.contains("!=") || s.contains("==") {
            return Err(format!(
                "constraint {s:?}: only `key=value` is supported (the Kubernetes nodeSelector form), not `==` or `!=`"
            ));
        }
        let Some((k, v)) = s.split_once('=') else {
            return Err(format!(
                "constraint {s:?} is not `key=value`; write e.g. \"type=rsbpi-01\" or \"faasbed.io/class=pi3\""
            ));
        };
        let (k, v) = (k.trim(), v.trim());
        if k.is_empty() {
            return Err(format!("constraint {s:?} has an empty key"));
        }
        if v.contains('=') {
            return Err(format!("constraint {s:?} has more than one `=`"));
        }
        Ok(Constraint {
            key: k.to_string(),
            value: v.to_string(),
        })
    }
    /// Does a node with these labels satisfy the constraint?
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        labels.get(&self.key).is_some_and(|v| *v == self.value)
    }
}

impl fmt::Display for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.key, self.value)
    }
}

/// Do all constraints match these labels? (An empty list matches every node.)
pub fn all_match(constraints: &[Constraint], labels: &BTreeMap<String, String>) -> bool {
    constraints.iter().all(|c| c.matches(labels))
}

/// Each node's labels, for the error that refuses a constraint, so a wrong guess
/// (`kubernetes.io/arch=armhf`) shows the real value (`arm`):
/// `node pi3-1 {faasbed.io/class=pi3, ..., kubernetes.io/arch=arm}; node vps-1 {...}`.
pub fn describe_labels<'a>(nodes: impl IntoIterator<Item = &'a Node>) -> String {
    nodes
        .into_iter()
        .map(|n| {
            let l: Vec<String> = n.labels().iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!("node {} {{{}}}", n.name, l.join(", "))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Kubernetes-style resource limits, kept as written and as numbers.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Limits {
    /// Memory limit as written (e.g. `"64Mi"`), and its value in bytes.
    pub memory: Option<(String, u64)>,
    /// CPU limit as written (e.g. `"500m"`), and its value in cores.
    pub cpu: Option<(String, f64)>,
}

/// A checked function.
#[derive(Debug, Clone, Serialize)]
pub struct Function {
    /// Unique function name (the OpenFaaS service name).
    pub name: String,
    /// Folder under `images/functions/` (Go) or script `images/python/<source>.py` (Python).
    pub source: String,
    /// The language runtime the function is built for.
    pub runtime: Runtime,
    /// Placement constraints; all must match.
    pub constraints: Vec<Constraint>,
    /// Extra environment variables.
    pub env: BTreeMap<String, String>,
    /// Replicas after deploy (1..=5).
    pub replicas: u32,
    /// Resource limits.
    pub limits: Limits,
    /// Path and query the experiment invokes, starting with `/`.
    pub path: String,
    /// Request body the experiment sends (empty: a GET).
    pub body: Option<String>,
}

impl Function {
    /// The constraints as the scenario writes them, joined by `, ` (e.g. `type=rsbpi-01`).
    pub fn constraints_text(&self) -> String {
        let all: Vec<String> = self.constraints.iter().map(ToString::to_string).collect();
        all.join(", ")
    }
}

/// The language runtime of a function.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Runtime {
    /// A static Go binary from `images/functions/<source>`.
    #[default]
    Go,
    /// `images/python/<source>.py` on Debian's python3.11.
    Python,
}

impl Runtime {
    /// The scenario spelling: `go` or `python`.
    pub fn as_str(self) -> &'static str {
        match self {
            Runtime::Go => "go",
            Runtime::Python => "python",
        }
    }
}

impl std::fmt::Display for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Warm-phase load shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WarmMode {
    /// Fixed-rate schedule, latency measured from the intended start.
    Open,
    /// N connections sending back to back.
    Closed,
}

/// Inter-arrival distribution of the open-loop schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Arrival {
    /// Evenly spaced sends.
    Uniform,
    /// Exponential inter-arrival times (a Poisson process).
    Poisson,
}

/// `[experiment.warm]`, checked.
#[derive(Debug, Clone, Serialize)]
pub struct Warm {
    /// Open or closed loop.
    pub mode: WarmMode,
    /// Inter-arrival distribution (open loop).
    pub arrival: Arrival,
    /// Target requests per second (open loop).
    pub rate: f64,
    /// Measured duration.
    #[serde(with = "humantime_serde_compat")]
    pub duration: Duration,
    /// Discarded warm-up before the measured duration.
    #[serde(with = "humantime_serde_compat")]
    pub warmup: Duration,
    /// Concurrent connections.
    pub connections: u32,
    /// Per-request timeout.
    #[serde(with = "humantime_serde_compat")]
    pub timeout: Duration,
}

/// `[experiment.cold]`, checked.
#[derive(Debug, Clone, Serialize)]
pub struct Cold {
    /// Cold starts per function × node.
    pub repetitions: u32,
    /// Idle time between forcing cold and invoking.
    #[serde(with = "humantime_serde_compat")]
    pub idle_gap: Duration,
    /// Deadline for one cold invocation.
    #[serde(with = "humantime_serde_compat")]
    pub timeout: Duration,
    /// Image present, or imported fresh before each cold start (containerd nodes).
    pub image_cache: ImageCache,
}

/// `[experiment]`, checked.
#[derive(Debug, Clone, Serialize)]
pub struct Experiment {
    /// Seed for every random choice (schedules, orders).
    pub seed: u64,
    /// Warm phase.
    pub warm: Warm,
    /// Cold phase.
    pub cold: Cold,
    /// Pass/fail thresholds checked after the run (`[experiment.thresholds]`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub thresholds: Vec<crate::thresholds::Threshold>,
    /// Trace replay with keep-alive (`[experiment.trace]`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace: Option<TraceSpec>,
}

/// Settings of the k3d platform (all pinned).
#[derive(Debug, Clone, Serialize)]
pub struct K3dSettings {
    /// k3d cluster name.
    pub cluster_name: String,
    /// Pinned k3s image.
    pub k3s_image: String,
    /// Registry created with the cluster (a `*.localhost` name).
    pub registry_name: String,
    /// Host port of that registry.
    pub registry_port: u16,
    /// Host port of the Kubernetes API.
    pub api_port: u16,
    /// Host port mapped to the OpenFaaS gateway.
    pub gateway_port: u16,
    /// Pinned OpenFaaS helm chart version.
    pub openfaas_chart_version: String,
}

/// `[platform]`, checked.
#[derive(Debug, Clone, Serialize)]
pub struct PlatformSpec {
    /// Which platform.
    pub kind: PlatformKind,
    /// Site of the gateway and server.
    pub gateway_site: String,
    /// Kubeconfig of an existing cluster.
    pub kubeconfig: Option<PathBuf>,
    /// k3d settings (used when `kind` is `k3d`).
    pub k3d: K3dSettings,
    /// The image registry of an existing cluster (`[platform.registry]`; `None` on k3d, whose
    /// registry comes from [`K3dSettings`]).
    pub registry: Option<ImageRegistry>,
    /// How the local gateway scales from zero (`[platform.gateway] model`).
    pub gateway_model: GatewayModel,
    /// A running containerd's socket to use (`None`: faasbed starts its own).
    pub containerd_socket: Option<PathBuf>,
    /// `[platform.k3s]`: faasbed installs k3s on the ssh nodes (`None`: the cluster exists).
    pub k3s: Option<K3sInstall>,
}

/// The k3s cluster faasbed builds over SSH on the scenario's `ssh` nodes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct K3sInstall {
    /// The node running the k3s server.
    pub server: String,
    /// Pinned k3s release, e.g. `v1.34.2+k3s1`.
    pub version: String,
    /// Folder of release files for offline hosts (`None`: the hosts download them).
    pub files: Option<PathBuf>,
}

/// Where function images are pushed and pulled, each a `host[:port]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageRegistry {
    /// How this machine reaches the registry (`docker buildx build --push`).
    pub push: String,
    /// How the cluster's nodes name the same registry (the image ref in each deployment).
    pub pull: String,
}

/// A checked scenario: every name resolves, every constraint matches a node.
#[derive(Debug, Clone, Serialize)]
pub struct Scenario {
    /// The file it came from.
    pub path: PathBuf,
    /// sha256 of the file's bytes, hex.
    pub hash: String,
    /// Free text.
    pub description: Option<String>,
    /// Platform settings.
    pub platform: PlatformSpec,
    /// Nodes, in file order.
    pub nodes: Vec<Node>,
    /// Links between sites.
    pub links: Vec<Link>,
    /// Functions, in file order.
    pub functions: Vec<Function>,
    /// Experiment settings.
    pub experiment: Experiment,
}

impl Scenario {
    /// Nodes a function may run on (all its constraints match), in file order.
    pub fn eligible_nodes(&self, f: &Function) -> Vec<&Node> {
        self.nodes
            .iter()
            .filter(|n| all_match(&f.constraints, &n.labels()))
            .collect()
    }
    /// The node with this name.
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name == name)
    }
    /// The link between two sites (either order); same site or no link: `None`.
    pub fn link(&self, a: &str, b: &str) -> Option<&Link> {
        if a == b {
            return None;
        }
        self.links.iter().find(|l| {
            (l.between[0] == a && l.between[1] == b) || (l.between[0] == b && l.between[1] == a)
        })
    }
}

impl Scenario {
    /// The same topology on another platform: k3d `server`/`agent` nodes become `native`, QEMU
    /// VMs become `qemu-user`, and back. SSH hosts (real machines) cannot move.
    pub fn retarget(mut self, kind: PlatformKind) -> Result<Scenario, SpecError> {
        if kind == self.platform.kind {
            return Ok(self);
        }
        let host = Arch::host();
        for n in &mut self.nodes {
            let fail = |m: String| SpecError::Retarget {
                path: self.path.clone(),
                platform: kind.as_str(),
                node: n.name.clone(),
                message: m,
            };
            n.backend = match (kind, n.backend) {
                (PlatformKind::Local, Backend::Server | Backend::Agent | Backend::Native) => {
                    Backend::Native
                }
                (PlatformKind::Local, Backend::Qemu | Backend::QemuUser) => Backend::QemuUser,
                (PlatformKind::K3d, Backend::Native) if Some(n.arch) == host => Backend::Agent,
                (PlatformKind::K3d, Backend::QemuUser | Backend::QemuVm) => Backend::Qemu,
                (_, b) => return Err(fail(format!("backend {b} has no equivalent there"))),
            };
            validate::check_backend(kind, n.backend, n.arch, host).map_err(fail)?;
        }
        if kind == PlatformKind::K3d && !self.nodes.iter().any(|n| n.backend == Backend::Server) {
            if let Some(n) = self.nodes.iter_mut().find(|n| n.backend == Backend::Agent) {
                n.backend = Backend::Server;
            }
        }
        self.platform.kind = kind;
        Ok(self)
    }
}

/// Read and check a scenario file.
pub fn load(path: &Path) -> Result<Scenario, SpecError> {
    let bytes = std::fs::read(path).map_err(|source| SpecError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let text = String::from_utf8(bytes).map_err(|e| not_utf8(path, e.as_bytes()))?;
    parse(&text, path)
}

/// The error for a file that is not UTF-8, at the line and column of its first invalid byte.
fn not_utf8(path: &Path, bytes: &[u8]) -> SpecError {
    let valid = std::str::from_utf8(bytes)
        .err()
        .map_or(0, |e| e.valid_up_to());
    let prefix = std::str::from_utf8(&bytes[..valid]).unwrap_or_default();
    SpecError::NotUtf8 {
        at: Location::of(path, prefix, valid),
        byte: bytes.get(valid).copied().unwrap_or(0),
    }
}

/// Parse and check scenario text; `path` is used in messages and provenance only.
pub fn parse(text: &str, path: &Path) -> Result<Scenario, SpecError> {
    validate::parse(text, path)
}

/// Serde helper: durations as humantime strings (`"1s 500ms"`).
mod humantime_serde_compat {
    use std::time::Duration;
    /// Serialize as a humantime string.
    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }
}
