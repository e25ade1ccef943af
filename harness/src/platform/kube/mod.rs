//! OpenFaaS CE on any Kubernetes cluster: the kube API calls ([`api`]: placement, scale to
//! zero, pod phases, gateway password), the helm chart ([`helm`]), node labels ([`label`]
//! decides, [`relabel`] applies), function images ([`images`]), placement enforcement
//! ([`placement`]), pure parsers of kubectl and buildx output ([`parse`]), and the live
//! platform ([`live::KubePlatform`]) generic over the [`Cluster`] it runs on, which the k3d
//! and the existing cluster platforms implement. Nothing here knows how a cluster is made.

use std::future::Future;
use std::time::Duration;

use crate::exec::Runner;
use crate::platform::PlatformError;
use crate::spec::Node;

/// OpenFaaS CE's readiness probe of `/_/health`: first after this delay (faas-netes default)...
pub const CE_PROBE_INITIAL_DELAY: std::time::Duration = std::time::Duration::from_secs(2);
/// ...then every this long. A cold start on CE cannot be ready sooner than the first probe.
pub const CE_PROBE_PERIOD: std::time::Duration = std::time::Duration::from_secs(2);

/// The probe floor of cold starts on OpenFaaS CE, in words, for reports beside the result.
pub fn ce_probe_floor_note() -> String {
    format!(
        "OpenFaaS CE probes /_/health first after {} s, then every {} s: no cold start here is \
         shorter than the first probe, whatever the function does",
        CE_PROBE_INITIAL_DELAY.as_secs(),
        CE_PROBE_PERIOD.as_secs()
    )
}

/// Deadline for the gateway's `/healthz` to answer 200 once the chart is installed.
pub const HEALTHZ_DEADLINE: Duration = Duration::from_secs(60);
/// Deadline for a function's rollout after its nodeSelector patch.
pub const ROLLOUT_DEADLINE: Duration = Duration::from_secs(180);
/// Deadline for a function's pods and endpoints to be gone after scaling to 0.
pub const GONE_DEADLINE: Duration = Duration::from_secs(60);
/// The CE gateway caches replica counts for 250 ms; wait longer than that after "gone".
pub const COLD_SETTLE: Duration = Duration::from_millis(300);

/// What a cluster adds to OpenFaaS on it: the nodes it started itself and what `down`
/// releases. A k3d cluster (`platform::k3d::K3d`) and an existing one
/// (`platform::existing::Existing`) implement it.
pub trait Cluster {
    /// The k3d cluster `down` deletes (`None`: nothing of the cluster is deleted).
    fn deletes(&self) -> Option<&str>;

    /// How far `node`'s clock is ahead of this host's, ns, when the cluster measured it (a
    /// QEMU VM's); `None`: the node keeps its own time, unmeasured.
    fn clock_offset_ns(&self, node: &str) -> Option<i64>;

    /// How node `n`'s class profile is applied on this cluster (node provenance).
    fn enforcement(&self, n: &Node) -> serde_json::Value;

    /// Release what the cluster platform started (its VMs, the cluster itself), through
    /// `runner`. Called once per `down`.
    fn release<R: Runner>(&mut self, runner: &R)
        -> impl Future<Output = Result<(), PlatformError>>;
}

pub mod api;
pub mod error;
pub mod helm;
pub mod images;
pub mod label;
pub mod live;
pub mod parse;
pub mod placement;
pub mod relabel;

pub use api::{Kube, KubeError, PodPhases, PodPlacement};
pub use error::KubePlatformError;
pub use label::{classify, Classification, LabelChange, LabelError, NodeShape, Rule};
pub use live::{preflight, KubePlatform};
pub use parse::{NodeFacts, ParseError, PushedImage};
pub use placement::enforce_and_verify;
