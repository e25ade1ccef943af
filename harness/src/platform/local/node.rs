//! A local node: the sandbox replicas of a function run in (launcher, cgroup, link shape).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::blkio::{self, IoGroup};
use super::cgroup::{self, Enforcement, Hierarchy, NodeCgroup};
use super::link::Shape;
use super::LocalError;
use crate::calibrate::programs;
use crate::calibrate::reference::Reference;
use crate::calibrate::storage::{self, Limits};
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
    /// The v1 blkio group with the class's SD-card-like limits, if set.
    pub io: Option<IoGroup>,
    /// `GODEBUG` given to Go replicas (hides crypto extensions the device lacks).
    pub godebug: Option<&'static str>,
    /// The gateway's URL, given to every replica as `gateway_url` (the OpenFaaS name) so a
    /// function can call another through the gateway, as `chain` does.
    pub gateway_url: Option<String>,
}

/// The variable that names the gateway to a replica (OpenFaaS functions read `gateway_url`).
pub const GATEWAY_URL: &str = "gateway_url";

/// `GODEBUG` that turns off the ARMv8 crypto extensions in a Go program (Go's `internal/cpu`
/// option names for arm64), for devices without them that QEMU 7.2's CPU model cannot hide.
pub const GODEBUG_NO_CRYPTO: &str = "cpu.aes=off,cpu.pmull=off,cpu.sha1=off,cpu.sha2=off";

/// `GODEBUG` for Go replicas of `node`: [`GODEBUG_NO_CRYPTO`] on an emulated arm64 node whose
/// class's device lacks the crypto extensions (its `[[isa]]` table in the shipped reference).
pub fn godebug_for(node: &Node, reference: Option<&Reference>) -> Option<&'static str> {
    let (device, _) = programs::device_of(&node.class)?;
    let isa = reference?.isa(device)?;
    (node.arch == Arch::Arm64
        && node.backend == Backend::QemuUser
        && !programs::device_has_crypto(isa))
    .then_some(GODEBUG_NO_CRYPTO)
}

/// The SD-card-like I/O limits of a Pi-class node (its device's published figures).
pub fn storage_limits(node: &Node, reference: Option<&Reference>) -> Option<Limits> {
    let (device, _) = programs::device_of(&node.class)?;
    let reference = reference?;
    device
        .starts_with("pi")
        .then(|| storage::limits(reference, device))
}

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
        files: &Path,
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
        let name = format!("faasbed-{run_id}-{}", node.name);
        let (cgroup, mut enforcement) = cgroup::create(
            h,
            &name,
            Some(node.profile.cpus),
            Some(node.profile.memory_bytes),
        );
        let reference = crate::calibrate::reference::shipped().ok();
        let mut io = None;
        if let Some(l) = storage_limits(node, reference.as_ref()) {
            let (g, r) = blkio::apply(h, cgroup.as_ref(), &name, files, &l);
            io = g;
            enforcement.storage = Some(r.is_ok());
            enforcement.notes.push(match r {
                Ok(set) => format!("storage enforced (direct and sync I/O; the page cache is not throttled): {set}"),
                Err(why) => format!("storage not enforced: {why}"),
            });
        }
        let godebug = godebug_for(node, reference.as_ref());
        if let Some(g) = godebug {
            enforcement.notes.push(format!(
                "ISA: crypto extensions hidden from Go functions via GODEBUG={g}; other programs still see the instructions"
            ));
        }
        Ok(NodeRuntime {
            node: node.clone(),
            launcher,
            shape: Shape::for_node(scenario, node),
            cgroup,
            enforcement,
            io,
            godebug,
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
                let cmd = Cmd::new(qemu).args(["-cpu", cpu.as_str()]).arg(binary);
                match self.godebug {
                    Some(g) => cmd.env("GODEBUG", g),
                    None => cmd,
                }
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
        let mut p: Vec<PathBuf> = self
            .cgroup
            .as_ref()
            .map(|c| c.procs_files().to_vec())
            .unwrap_or_default();
        p.extend(self.io_procs());
        p
    }

    /// The v1 blkio `cgroup.procs` a replica joins besides its CPU/memory groups.
    pub fn io_procs(&self) -> Option<PathBuf> {
        self.io.as_ref().map(IoGroup::procs)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/qemu");

    fn fixture(name: &str) -> BTreeSet<String> {
        parse_cpu_models(&std::fs::read_to_string(format!("{FIXTURES}/{name}")).unwrap())
    }

    fn local(name: &str) -> Scenario {
        let p = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../scenarios")
            .join(name);
        crate::spec::load(&p)
            .unwrap()
            .retarget(crate::spec::PlatformKind::Local)
            .unwrap()
    }

    #[test]
    fn go_replicas_on_a_pi4_get_godebug_without_crypto_and_others_do_not() {
        let s = local("pi3-pi4-vps.toml");
        let r = crate::calibrate::reference::shipped().unwrap();
        let runtime = |class: &str| {
            let node = s.nodes.iter().find(|n| n.class == class).unwrap().clone();
            let godebug = godebug_for(&node, Some(&r));
            NodeRuntime {
                shape: Shape::for_node(&s, &node),
                launcher: Launcher::QemuUser {
                    qemu: "/usr/bin/qemu-aarch64-static".into(),
                    cpu: "cortex-a72".into(),
                },
                node,
                cgroup: None,
                enforcement: Enforcement::default(),
                io: None,
                godebug,
                gateway_url: None,
            }
        };
        let binary = Path::new("/nonexistent/go-function");
        let pi4 = runtime("pi4");
        assert_eq!(
            pi4.command(binary).env_value("GODEBUG"),
            Some(std::ffi::OsStr::new(
                "cpu.aes=off,cpu.pmull=off,cpu.sha1=off,cpu.sha2=off"
            ))
        );
        // pi3 is armhf (Go has no arm crypto options); vps runs natively with AES-NI.
        assert_eq!(runtime("pi3").command(binary).env_value("GODEBUG"), None);
        assert_eq!(runtime("vps").godebug, None);
        // A device with the extensions (Pi 5) gets none.
        let mut pi5 = pi4.node.clone();
        pi5.class = "pi5".into();
        assert_eq!(godebug_for(&pi5, Some(&r)), None);
    }

    #[test]
    fn pi_classes_get_their_sd_card_limits_and_others_none() {
        let s = local("pi3-pi4-vps.toml");
        let r = crate::calibrate::reference::shipped().unwrap();
        let node = |c: &str| s.nodes.iter().find(|n| n.class == c).unwrap();
        let pi3 = storage_limits(node("pi3"), Some(&r)).unwrap();
        assert_eq!(pi3.read_bps, Some(23_400_000));
        assert!(storage_limits(node("vps"), Some(&r)).is_none());
        assert!(storage_limits(node("pi3"), None).is_none());
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
