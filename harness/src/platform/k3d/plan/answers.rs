//! The placeholder answers of a recorded run: what each program would print (and write) on a
//! fresh machine where every step succeeds. No k3d cluster exists yet, no buildx builder
//! exists yet; `docker network inspect` shows the cluster's server and registry containers;
//! a booted VM prints its READY line; buildx writes a metadata file naming the pushed image.
//! Addresses, tokens and digests are placeholders that the plan never shows as real values.

use std::path::Path;

use serde_json::json;

use crate::dryrun::runner::{arg_after, failed, printed};
use crate::dryrun::REDACTED;
use crate::exec::{Cmd, ExecError, Output};
use crate::nodes::qemu::assets::{self, VmAssets};
use crate::nodes::qemu::node::READY_MARK;
use crate::platform::k3d::config::ClusterPlan;
use crate::platform::k3d::vms;
use crate::spec::{Arch, Scenario};

/// The digest every placeholder push reports.
pub const DIGEST: &str = "sha256:<digest>";

/// The answers of a k3d run of `scenario` (cluster plan `cp`).
pub fn k3d(
    scenario: &Scenario,
    cp: &ClusterPlan,
) -> impl Fn(&Cmd) -> Result<Output, ExecError> + Send + Sync + 'static {
    let cluster = cp.config.metadata.name.clone();
    let network = network_inspect(
        &cluster,
        cp.k3d_nodes.first().map_or("", |n| n.container.as_str()),
        &scenario.platform.k3d.registry_name,
    );
    move |cmd| {
        let line = cmd.display();
        if line.starts_with("k3d cluster list") {
            Ok(printed("[]"))
        } else if line == vms::network_inspect(&cluster).display() {
            Ok(printed(&network))
        } else if line.starts_with("docker exec ") && line.ends_with("/node-token") {
            Ok(printed(REDACTED))
        } else if cmd.program().to_string_lossy().starts_with("qemu-system-") {
            boot(cmd);
            Ok(printed(""))
        } else {
            builds(cmd)
        }
    }
}

/// The answers of image builds (and of every other command: success, no output): buildx is
/// installed, its builder does not exist yet, each build pushes and writes its metadata file.
pub fn builds(cmd: &Cmd) -> Result<Output, ExecError> {
    let line = cmd.display();
    if line.starts_with("docker buildx inspect") {
        return Err(failed(
            cmd,
            "ERROR: no builder found (placeholder: a fresh machine)",
        ));
    }
    if line.starts_with("docker buildx build") {
        if let (Some(file), Some(image)) = (arg_after(cmd, "--metadata-file"), arg_after(cmd, "-t"))
        {
            let meta = json!({ "containerimage.digest": DIGEST, "image.name": image });
            let path = Path::new(&file);
            if let Some(dir) = path.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            let _ = std::fs::write(path, meta.to_string());
        }
    }
    Ok(printed(""))
}

/// What a booting VM writes to `-serial file:PATH`: its READY line (no clock reading, so no
/// clock offset is made up).
fn boot(cmd: &Cmd) {
    let console =
        arg_after(cmd, "-serial").and_then(|s| s.strip_prefix("file:").map(str::to_string));
    let node = arg_after(cmd, "-name")
        .and_then(|s| s.strip_prefix("faasbed-").map(str::to_string))
        .unwrap_or_default();
    if let Some(console) = console {
        let _ = std::fs::write(console, format!("{READY_MARK} node={node} (placeholder)\n"));
    }
}

/// `docker network inspect k3d-CLUSTER` of a fresh cluster: its bridge and subnet, the server
/// and the registry containers on it.
fn network_inspect(cluster: &str, server: &str, registry: &str) -> String {
    let network = vms::network_name(cluster);
    json!([{
        "Name": network,
        "Id": "0000000000000000",
        "Options": { "com.docker.network.bridge.name": format!("<bridge of {network}>") },
        "IPAM": { "Config": [{ "Subnet": "172.18.0.0/16", "Gateway": "172.18.0.1" }] },
        "Containers": {
            "server": { "Name": server, "IPv4Address": "172.18.0.2/16" },
            "registry": { "Name": registry, "IPv4Address": "172.18.0.3/16" }
        }
    }])
    .to_string()
}

/// Put the VM assets of `arches` into the cache stand-in `cache` as a finished build leaves
/// them (empty files), so the recorded run finds them cached; the plan describes their build
/// in its own section, with [`super::assets::VM_CACHE`] for the cache.
pub fn seed_vm_cache(cache: &Path, arches: &[Arch]) -> std::io::Result<()> {
    for &arch in arches {
        let dir = assets::assets_dir(cache, arch, &assets::K3s::from_env());
        std::fs::create_dir_all(&dir)?;
        let a = VmAssets {
            kernel: dir.join("vmlinuz"),
            initrd: dir.join("initrd.gz"),
            base_disk: dir.join("base.img"),
            kernel_release: "<kernel release>".into(),
            kernel_package: "<kernel package>".into(),
            k3s: Some(crate::pins::K3S_VERSION.into()),
        };
        for f in [&a.kernel, &a.initrd, &a.base_disk] {
            std::fs::write(f, b"")?;
        }
        let text = serde_json::to_string(&a).map_err(std::io::Error::other)?;
        std::fs::write(dir.join(assets::DONE), text)?;
    }
    Ok(())
}
