//! The k3d platform (k3s in Docker, plus QEMU ARM VMs and SSH hosts joined as k3s agents).
//!
//! This module holds the parts that need no cluster: the k3d config generated from a scenario
//! ([`config`]), the command lines that act on it ([`cmd`]), pure parsers of k3d and kubectl
//! JSON output ([`parse`]), the node auto-labelling rules ([`label`]) and the dry-run plan of a
//! whole run ([`plan`]); plus the kube API calls ([`kube`]: placement, scale to zero, pod
//! phases, gateway password), tested against a scripted API server. The live lifecycle
//! ([`live::K3dPlatform`], a [`crate::platform::Platform`]) runs those commands through an
//! [`crate::exec::Runner`]; [`relabel`] applies node labels and [`functions`] deploys with
//! placement enforced.

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

pub mod cmd;
pub mod config;
pub mod functions;
pub mod images;
mod jpath;
pub mod kube;
pub mod label;
pub mod live;
pub mod parse;
pub mod plan;
pub mod relabel;
pub mod vm;

// `plan` is both the config function (value) and the dry-run module (type namespace).
pub use config::{
    plan, ClusterPlan, ConfigError, ExternalAgent, K3dNodePlan, NodeRole, SimpleConfig,
};
pub use functions::enforce_and_verify;
pub use kube::{Kube, KubeError, PodPhases, PodPlacement};
pub use label::{classify, Classification, LabelChange, LabelError, NodeShape, Rule};
pub use live::{preflight, K3dError, K3dPlatform};
pub use parse::{K3dCluster, K3dNode, K3dRole, NodeFacts, ParseError, PushedImage};
pub use plan::{Plan, PlanError, PlanOpts, Step};
