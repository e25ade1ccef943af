//! The k3d platform (k3s in Docker, plus QEMU ARM VMs and SSH hosts joined as k3s agents).
//!
//! This module holds the parts that need no cluster: the k3d config generated from a scenario
//! ([`config`]), the command lines that act on it ([`cmd`]), pure parsers of k3d and kubectl
//! JSON output ([`parse`]) and the node auto-labelling rules ([`label`]). Cluster lifecycle and
//! kube API calls come later and build on these.

pub mod cmd;
pub mod config;
mod jpath;
pub mod label;
pub mod parse;

pub use config::{
    plan, ClusterPlan, ConfigError, ExternalAgent, K3dNodePlan, NodeRole, SimpleConfig,
};
pub use label::{classify, Classification, LabelChange, LabelError, NodeShape, Rule};
pub use parse::{K3dCluster, K3dNode, K3dRole, NodeFacts, ParseError};
