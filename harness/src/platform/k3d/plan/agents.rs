//! The plan's QEMU VM sections: the cached boot files of each arch (before the cluster), the
//! cluster network, the join token, each VM's disk, TAP and QEMU command (after it), and the
//! VMs' stop in `down`, with the same command lines [`crate::nodes::qemu`] runs.

use std::path::{Path, PathBuf};

use super::{names, Section, Step, REDACTED};
use crate::exec::Cmd;
use crate::nodes::qemu::assets::{self, K3s, VmAssets};
use crate::nodes::qemu::node::{self, NodeFiles};
use crate::nodes::qemu::{self as vm, net};
use crate::platform::k3d::config::{ClusterPlan, ExternalAgent};
use crate::platform::k3d::vms;
use crate::spec::{Arch, Scenario};

/// What the VM cache folder prints as (it depends on the user's environment).
pub const VM_CACHE: &str = "$VM_CACHE";

/// The section, for `run` (the run directory) and `kubeconfig`.
pub fn section(
    scenario: &Scenario,
    cp: &ClusterPlan,
    run: &Path,
    run_id: &str,
    kubeconfig: &Path,
) -> Section {
    let mut steps = Vec::new();
    if cp.external_agents.is_empty() {
        steps.push(Step::Note(
            "no qemu node: nothing joins from outside k3d".into(),
        ));
    }
    let vms = vms::vm_nodes(cp);
    if !vms.is_empty() {
        vm_steps(scenario, cp, &vms, run, run_id, &mut steps);
    }
    for a in &cp.external_agents {
        steps.push(Step::Wait {
            condition: format!(
                "node {} Ready with kubernetes.io/arch={} (`{}`)",
                a.node,
                a.arch.k8s(),
                crate::platform::kube::helm::get_nodes(kubeconfig).display()
            ),
            deadline: vms::NODE_READY_DEADLINE,
        });
    }
    Section {
        title: "agents outside k3d (QEMU VMs)".into(),
        steps,
    }
}

/// The section before the cluster: the VM assets of each arch, built once and cached (the
/// live run builds them before it creates the cluster, so a failure costs no cluster).
pub fn assets_section(cp: &ClusterPlan) -> Section {
    let mut steps = Vec::new();
    let vms = vms::vm_nodes(cp);
    let cache = PathBuf::from(VM_CACHE);
    steps.push(Step::Note(format!(
        "QEMU VM nodes {}: TCG-emulated ARM on this host, on the cluster's Docker bridge through \
         TAP devices (needs root); {VM_CACHE} is $FAASBED_CACHE/vm, else \
         $XDG_CACHE_HOME/faasbed/vm, else ~/.cache/faasbed/vm",
        names(vms.iter().map(|a| a.node.as_str()))
    )));
    for arch in vms::vm_arches(cp) {
        let dir = assets::assets_dir(&cache, arch, &K3s::Pinned);
        steps.push(Step::Note(format!(
            "VM assets for {arch}, built once into {} (skipped while its assets.json exists); \
             {} names a k3s binary to use instead of the download",
            dir.display(),
            assets::K3S_BINARY_ENV,
            arch = arch.as_str()
        )));
        let work = dir.join("work");
        let [foreign, host] = assets::arch_check_cmds();
        for c in [
            foreign,
            host,
            assets::depends_cmd(arch),
            assets::download_cmd("<kernel package>", arch, &work.join("debs")),
        ] {
            steps.push(Step::Command { cmd: c, on: None });
        }
        steps.push(Step::Note(format!(
            "unpack both with `dpkg-deb -x`, `depmod -b`, write {} (busybox as init, faasbed's \
             boot and agent scripts, the modules {})",
            dir.join("initrd.gz").display(),
            assets::EARLY_MODULES.join(" ")
        )));
        let (file, sums) = assets::k3s_release_files(arch);
        for f in [sums, file] {
            steps.push(Step::Command {
                cmd: assets::curl_cmd(&assets::k3s_url(f), &assets::k3s_cached(&cache, f)),
                on: None,
            });
        }
        steps.push(Step::Command {
            cmd: assets::mkfs_cmd(&work.join("base"), &dir.join("base.img"), "faasbed-base"),
            on: None,
        });
    }
    Section {
        title: "QEMU VM images (cached)".into(),
        steps,
    }
}

/// Where the assets of each VM arch will be, as the plan prints them.
fn planned_assets(cp: &ClusterPlan) -> Vec<(Arch, VmAssets)> {
    let cache = PathBuf::from(VM_CACHE);
    vms::vm_arches(cp)
        .into_iter()
        .map(|arch| {
            let dir = assets::assets_dir(&cache, arch, &K3s::Pinned);
            let a = VmAssets {
                kernel: dir.join("vmlinuz"),
                initrd: dir.join("initrd.gz"),
                base_disk: dir.join("base.img"),
                kernel_release: String::new(),
                kernel_package: String::new(),
                k3s: None,
            };
            (arch, a)
        })
        .collect()
}

fn vm_steps(
    scenario: &Scenario,
    cp: &ClusterPlan,
    vms: &[&ExternalAgent],
    run: &Path,
    run_id: &str,
    steps: &mut Vec<Step>,
) {
    let built = planned_assets(cp);
    let cluster = &cp.config.metadata.name;
    let network = vms::network_name(cluster);
    let server = cp.k3d_nodes.first().map_or("", |n| n.container.as_str());
    steps.push(Step::Command {
        cmd: vms::network_inspect(cluster),
        on: None,
    });
    steps.push(Step::Command {
        cmd: vms::read_token(server),
        on: None,
    });
    steps.push(Step::Note(format!(
        "the join token ({REDACTED}) stays in memory and goes only onto each VM's node disk \
         (k3s.yaml, mode 0600); addresses come from the top of {network}'s subnet"
    )));
    let bridge = format!("<bridge of {network}>");
    for a in vms {
        let Some(n) = scenario.node(&a.node) else {
            continue;
        };
        let Some((_, va)) = built.iter().find(|(arch, _)| *arch == n.arch) else {
            continue;
        };
        let files = NodeFiles::new(run, &n.name);
        let tap = net::tap_name(&n.name);
        steps.push(Step::Note(format!(
            "write {}/faasbed/: node.env (address, gateway, name servers), k3s.yaml (server \
             https://<{server} address>:{}, token {REDACTED}, {}), registries.yaml ({} via \
             http://<registry address>)",
            files.staging.display(),
            vms::SERVER_PORT,
            a.k3s_args.join(" "),
            cp.registry_pull
        )));
        let mut cmds = vec![
            assets::mkfs_cmd(&files.staging, &files.disk, vm::NODE_DISK_LABEL),
            net::tap_down(&tap),
        ];
        cmds.extend(net::tap_up(&tap, &bridge));
        cmds.push(node::qemu_cmd(n, va, &files, &tap, run_id));
        for c in cmds {
            steps.push(Step::Command { cmd: c, on: None });
        }
        steps.push(Step::Wait {
            condition: format!(
                "{} prints `{}` ({} reads it; `{}` stops the run with its reason)",
                n.name,
                node::READY_MARK,
                files.console.display(),
                node::FAILED_MARK.trim()
            ),
            deadline: vm::BOOT_DEADLINE,
        });
    }
}

/// The first steps of `down`: each VM stopped (SIGTERM to the pid in its pidfile), its TAP
/// deleted and its disk removed (its console log stays).
pub fn stop_steps(cp: &ClusterPlan, run: &Path) -> Vec<Step> {
    let mut steps = Vec::new();
    for a in vms::vm_nodes(cp) {
        let files = NodeFiles::new(run, &a.node);
        steps.push(Step::Command {
            cmd: Cmd::new("kill").arg(format!("<pid in {}>", files.pidfile.display())),
            on: None,
        });
        steps.push(Step::Command {
            cmd: net::tap_down(&net::tap_name(&a.node)),
            on: None,
        });
        steps.push(Step::Note(format!(
            "remove {} (the console log stays)",
            files.disk.display()
        )));
    }
    steps
}
