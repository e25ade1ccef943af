//! The k3d platform's provisioning (k3s in Docker, plus QEMU ARM VMs joined as k3s agents):
//! the k3d config generated from a scenario ([`config`]), the command lines that act on it
//! ([`cmd`]) and the dry-run plan of a whole run ([`plan`]). OpenFaaS on the cluster is
//! [`crate::platform::kube`]'s; the VMs are [`crate::nodes::qemu`]'s.

pub mod cmd;
pub mod config;
pub mod plan;

// `plan` is both the config function (value) and the dry-run module (type namespace).
pub use config::{
    plan, ClusterPlan, ConfigError, ExternalAgent, K3dNodePlan, NodeRole, SimpleConfig,
};
pub use plan::{Plan, PlanError, PlanOpts, Step};
