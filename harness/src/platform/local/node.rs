//! A local node: the sandbox replicas of a function run in (launcher, cgroup, link shape).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::cgroup::{self, Enforcement, Hierarchy, NodeCgroup};
use super::link::Shape;
use super::LocalError;
use crate::exec::{self, Cmd};
use crate::spec::{Backend, Node, Scenario};

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
    /// The gateway's URL, given to every replica as `gateway_url` (the OpenFaaS name) so a
    /// function can call another through the gateway, as `chain` does.
    pub gateway_url: Option<String>,
}

/// The variable that names the gateway to a replica (OpenFaaS functions read `gateway_url`).
pub const GATEWAY_URL: &str = "gateway_url";

/// Parse the output of `qemu-<arch> -cpu help` into the CPU model names it lists.
pub fn parse_cpu_models(text: &str) -> BTreeSet<String> {
    text.lines()
        .skip_while(|l| !l.trim_start().starts_with("Available CPUs"))
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

/// The CPU models `qemu` offers. (`qemu-arm -cpu help` prints the list and exits 1.)
pub async fn cpu_models(qemu: &Path) -> Result<BTreeSet<String>, LocalError> {
    let cmd = Cmd::new(qemu)
        .args(["-cpu", "help"])
        .timeout(std::time::Duration::from_secs(10));
    let stdout = match exec::run(&cmd).await {
        Ok(o) => o.stdout,
        Err(exec::ExecError::NonZeroExit { stdout, .. }) if stdout.contains("Available CPUs") => {
            stdout
        }
        Err(e) => return Err(e.into()),
    };
    Ok(parse_cpu_models(&stdout))
}

impl NodeRuntime {
    /// Prepare `node` for run `run_id`: find its launcher (and check its QEMU CPU model exists),
    /// create its cgroup, shape its link.
    pub async fn prepare(
        scenario: &Scenario,
        node: &Node,
        run_id: &str,
        h: Option<&Hierarchy>,
    ) -> Result<Self, LocalError> {
        let launcher = match node.backend {
            Backend::Native => Launcher::Native,
            Backend::QemuUser => {
                let qemu = super::qemu_user::find_qemu(node.arch)?;
                let cpu = node.qemu_cpu().unwrap_or("max").to_string();
                let models = cpu_models(&qemu).await?;
                if !models.contains(&cpu) {
                    return Err(LocalError::CpuModel {
                        node: node.name.clone(),
                        qemu,
                        model: cpu,
                        available: models.into_iter().collect::<Vec<_>>().join(", "),
                    });
                }
                Launcher::QemuUser { qemu, cpu }
            }
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
            gateway_url: None,
        })
    }

    /// How this node runs replicas, for provenance. A process node records its launcher; a
    /// container node runs ARM binaries through binfmt's qemu-user, which takes the profile's
    /// CPU model from the container's `QEMU_CPU`.
    pub fn launcher_provenance(&self) -> serde_json::Value {
        if self.node.runtime != crate::spec::ReplicaRuntime::Containerd {
            return serde_json::to_value(&self.launcher).unwrap_or_default();
        }
        match &self.launcher {
            Launcher::Native => serde_json::json!({ "kind": "container-native" }),
            Launcher::QemuUser { cpu, .. } => serde_json::json!({
                "kind": "container-binfmt-qemu-user",
                "cpu": cpu,
                "cpu_env": super::env::QEMU_CPU,
            }),
        }
    }

    /// The command that starts `binary` on this node.
    /// `binary` is a Go binary, or the launch file of a Python build ([`crate::python`]).
    pub fn command(&self, binary: &Path) -> Cmd {
        let python = crate::python::Launch::read(binary);
        let cmd = match (&self.launcher, python) {
            (Launcher::Native, None) => Cmd::new(binary),
            (Launcher::Native, Some(py)) => py.native(),
            (Launcher::QemuUser { qemu, cpu }, None) => {
                Cmd::new(qemu).args(["-cpu", cpu.as_str()]).arg(binary)
            }
            (Launcher::QemuUser { qemu, cpu }, Some(py)) => py.qemu(qemu, cpu),
        };
        match &self.gateway_url {
            Some(url) => cmd.env(GATEWAY_URL, url),
            None => cmd,
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

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/qemu");

    fn fixture(name: &str) -> BTreeSet<String> {
        parse_cpu_models(&std::fs::read_to_string(format!("{FIXTURES}/{name}")).unwrap())
    }

    #[test]
    fn parses_captured_cpu_lists() {
        let a64 = fixture("qemu-aarch64-7.2-cpu-help.txt");
        for m in ["cortex-a53", "cortex-a72", "cortex-a76", "max"] {
            assert!(a64.contains(m), "{m}: {a64:?}");
        }
        assert!(!a64.contains("Available"));
        let a32 = fixture("qemu-arm-7.2-cpu-help.txt");
        assert!(a32.contains("cortex-a7") && a32.contains("cortex-a15"));
        assert!(
            !a32.contains("cortex-a53"),
            "qemu-arm has no a53: the pi3 armhf profile must not ask for it"
        );
        assert!(parse_cpu_models("garbage\n").is_empty());
    }

    #[test]
    fn shipped_profiles_name_models_qemu_7_2_has() {
        let a64 = fixture("qemu-aarch64-7.2-cpu-help.txt");
        let a32 = fixture("qemu-arm-7.2-cpu-help.txt");
        for p in crate::spec::default_profiles().values() {
            assert!(a64.contains(&p.qemu_cpu), "{}: {}", p.name, p.qemu_cpu);
            assert!(
                a32.contains(&p.qemu_cpu_armhf),
                "{}: {}",
                p.name,
                p.qemu_cpu_armhf
            );
        }
    }
}
