//! A local node: the sandbox replicas of a function run in (launcher, cgroup, link shape).

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::cgroup::{self, Enforcement, Hierarchy, NodeCgroup};
use super::link::Shape;
use super::LocalError;
use crate::exec::{self, Cmd};
use crate::spec::{Arch, Backend, Node, Scenario};

/// How a node starts a function binary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Launcher {
    /// Execute the binary directly.
    Native,
    /// Run it under QEMU user mode.
    QemuUser {
        /// Path of `qemu-aarch64[-static]` / `qemu-arm[-static]`.
        qemu: PathBuf,
        /// The `-cpu` model.
        cpu: String,
    },
}

/// A node of the running local topology.
#[derive(Debug)]
pub struct NodeRuntime {
    /// The scenario's node.
    pub node: Node,
    /// How binaries start on it.
    pub launcher: Launcher,
    /// The emulated path from the gateway.
    pub shape: Shape,
    /// CPU and memory limits, if they could be set.
    pub cgroup: Option<NodeCgroup>,
    /// What was enforced.
    pub enforcement: Enforcement,
}

/// Candidate names of the QEMU user-mode binary for an arch, most preferred first.
pub fn qemu_names(arch: Arch) -> &'static [&'static str] {
    match arch {
        Arch::Arm64 => &["qemu-aarch64-static", "qemu-aarch64"],
        Arch::Armhf => &["qemu-arm-static", "qemu-arm"],
        Arch::Amd64 => &["qemu-x86_64-static", "qemu-x86_64"],
    }
}

/// Find the QEMU user-mode binary for `arch` (binfmt is not needed).
pub fn find_qemu(arch: Arch) -> Result<PathBuf, LocalError> {
    qemu_names(arch)
        .iter()
        .find_map(|n| exec::which(n))
        .ok_or(LocalError::NoQemu { arch })
}

impl NodeRuntime {
    /// Prepare `node` for run `run_id`: find its launcher, create its cgroup, shape its link.
    pub fn prepare(
        scenario: &Scenario,
        node: &Node,
        run_id: &str,
        h: Option<&Hierarchy>,
    ) -> Result<Self, LocalError> {
        let launcher = match node.backend {
            Backend::Native => Launcher::Native,
            Backend::QemuUser => Launcher::QemuUser {
                qemu: find_qemu(node.arch)?,
                cpu: node.qemu_cpu().unwrap_or("max").to_string(),
            },
            other => {
                return Err(LocalError::Backend {
                    node: node.name.clone(),
                    backend: other,
                })
            }
        };
        let (cgroup, enforcement) = cgroup::create(
            h,
            &format!("faasbed-{run_id}-{}", node.name),
            Some(node.profile.cpus),
            Some(node.profile.memory_bytes),
        );
        Ok(NodeRuntime {
            node: node.clone(),
            launcher,
            shape: Shape::for_node(scenario, node),
            cgroup,
            enforcement,
        })
    }

    /// The command that starts `binary` on this node.
    pub fn command(&self, binary: &Path) -> Cmd {
        match &self.launcher {
            Launcher::Native => Cmd::new(binary),
            Launcher::QemuUser { qemu, cpu } => {
                Cmd::new(qemu).args(["-cpu", cpu.as_str()]).arg(binary)
            }
        }
    }

    /// `cgroup.procs` files a replica joins.
    pub fn cgroup_procs(&self) -> Vec<PathBuf> {
        self.cgroup
            .as_ref()
            .map(|c| c.procs_files().to_vec())
            .unwrap_or_default()
    }
}
