//! The k3d platform's provisioning (k3s in Docker, plus QEMU ARM VMs joined as k3s agents):
//! the k3d config generated from a scenario ([`config`]), the `k3d` command lines ([`cmd`])
//! and their output ([`parse`]), the cluster's bring-up and `down` ([`up`], with its VM nodes
//! in [`vms`]) and the dry-run plan of a whole run ([`plan`]). OpenFaaS on the cluster is
//! [`crate::platform::kube`]'s; the VMs themselves are [`crate::nodes::qemu`]'s.

pub mod cmd;
pub mod config;
pub mod error;
pub mod parse;
pub mod plan;
pub mod up;
pub mod vms;

// `plan` is both the config function (value) and the dry-run module (type namespace).
pub use config::{
    plan, ClusterPlan, ConfigError, ExternalAgent, K3dNodePlan, NodeRole, SimpleConfig,
};
pub use error::K3dError;
pub use parse::{K3dCluster, K3dNode, K3dRole};
pub use plan::{Plan, PlanError, PlanOpts, Step};
pub use up::{sweep_clusters, K3d, K3dPlatform};
