//! The plan's one described QEMU VM section: the cached boot files of each arch, built once
//! before the cluster with the command lines [`crate::nodes::qemu::assets`] runs. (The VMs'
//! start, join and stop are recorded from the live code.)

use std::path::PathBuf;

use super::{names, Section, Step};
use crate::nodes::qemu::assets::{self, K3s};
use crate::platform::k3d::config::ClusterPlan;
use crate::platform::k3d::vms;

/// What the VM cache folder prints as (it depends on the user's environment).
pub const VM_CACHE: &str = "$VM_CACHE";

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
