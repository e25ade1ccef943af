//! The k3d platform (k3s in Docker, plus QEMU ARM VMs and SSH hosts joined as k3s agents).
//!
//! This module holds the parts that need no cluster: the k3d config generated from a scenario
//! ([`config`]), the command lines that act on it ([`cmd`]), pure parsers of k3d and kubectl
//! JSON output ([`parse`]), the node auto-labelling rules ([`label`]) and the dry-run plan of a
//! whole run ([`plan`]); plus the kube API calls ([`kube`]: placement, scale to zero, pod
//! phases, gateway password), tested against a scripted API server. The live lifecycle
//! (`up`/`down` as a [`crate::platform::Platform`]) comes later and builds on these.

pub mod cmd;
pub mod config;
mod jpath;
pub mod kube;
pub mod label;
pub mod parse;
pub mod plan;

// `plan` is both the config function (value) and the dry-run module (type namespace).
pub use config::{
    plan, ClusterPlan, ConfigError, ExternalAgent, K3dNodePlan, NodeRole, SimpleConfig,
};
pub use kube::{Kube, KubeError, PodPhases, PodPlacement};
pub use label::{classify, Classification, LabelChange, LabelError, NodeShape, Rule};
pub use parse::{K3dCluster, K3dNode, K3dRole, NodeFacts, ParseError};
pub use plan::{Plan, PlanError, PlanOpts, Step};
