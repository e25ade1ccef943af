//! The errors of bringing a k3d cluster up or down ([`K3dError`]).

use std::path::PathBuf;
use std::time::Duration;

use super::config::ConfigError;
use crate::exec::ExecError;
use crate::nodes::qemu::VmError;
use crate::platform::kube::{KubeError, KubePlatformError};
use crate::platform::PlatformError;
use crate::tooljson::ParseError;

/// Errors bringing a k3d cluster up or down.
#[derive(Debug, thiserror::Error)]
pub enum K3dError {
    /// The scenario has SSH hosts to join to a k3d cluster, which `up` cannot do yet.
    #[error("scenario {path}: node(s) {nodes} would join a k3d cluster over SSH, which faasbed does not do yet; join them to a k3s server yourself and use `kind = \"existing\"` (see scenarios/existing-pi-cluster.toml), run the topology with `--platform local`, or make them `qemu` VMs")]
    SshAgents { path: String, nodes: String },
    /// A QEMU VM node could not be built, started or joined.
    #[error(transparent)]
    Vm(Box<VmError>),
    /// The scenario cannot become a k3d config.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Installing or running OpenFaaS on the cluster failed.
    #[error(transparent)]
    Platform(#[from] KubePlatformError),
    /// k3d printed output faasbed cannot read.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// A kube API call failed.
    #[error(transparent)]
    Kube(#[from] KubeError),
    /// A cluster of the same name exists and is not this run's.
    #[error("a k3d cluster named {name} exists already and belongs to {owner}; delete it with `k3d cluster delete {name}` or set another cluster_name under [platform.k3d]")]
    ClusterTaken { name: String, owner: String },
    /// A step failed and deleting the cluster afterwards failed too.
    #[error("{error}; deleting cluster {cluster} afterwards failed too; run `k3d cluster delete {cluster}`")]
    Cleanup {
        cluster: String,
        error: Box<K3dError>,
        #[source]
        cleanup: Box<ExecError>,
    },
    /// A VM booted but its node never became Ready.
    #[error("VM {node} booted, but node {node} was not Ready within {waited:?} ({seen}); see the k3s agent log in the VM's console {}", console.display())]
    NotReady {
        node: String,
        waited: Duration,
        seen: String,
        console: PathBuf,
    },
    /// A VM's node registered with another architecture than the scenario says.
    #[error("node {node} registered as kubernetes.io/arch={got}, but the scenario says {want}")]
    WrongArch {
        node: String,
        want: &'static str,
        got: String,
    },
}

impl From<VmError> for K3dError {
    fn from(e: VmError) -> Self {
        K3dError::Vm(Box::new(e))
    }
}

impl From<K3dError> for PlatformError {
    fn from(e: K3dError) -> Self {
        PlatformError::K3d(Box::new(e))
    }
}
