//! OpenFaaS CE on any Kubernetes cluster: the kube API calls ([`api`]: placement, scale to
//! zero, pod phases, gateway password), node labels ([`label`] decides, [`relabel`] applies),
//! function images ([`images`]), placement enforcement ([`placement`]), pure parsers of
//! kubectl and buildx output ([`parse`]), and the live platform ([`live`]) that the k3d and
//! the existing cluster platforms share.

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

pub mod api;
pub mod images;
pub(crate) mod jpath;
pub mod label;
pub mod live;
pub mod parse;
pub mod placement;
pub mod relabel;

pub use api::{Kube, KubeError, PodPhases, PodPlacement};
pub use label::{classify, Classification, LabelChange, LabelError, NodeShape, Rule};
pub use live::{preflight, K3dError, K3dPlatform};
pub use parse::{K3dCluster, K3dNode, K3dRole, NodeFacts, ParseError, PushedImage};
pub use placement::enforce_and_verify;
