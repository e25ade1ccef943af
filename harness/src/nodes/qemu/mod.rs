//! QEMU VM nodes: ARM VMs (arm64, armhf) that join a k3s server as agents, as the thesis's
//! Raspberry Pis joined its server.
//!
//! Each VM boots Debian's kernel with a busybox initramfs ([`assets`]), gets an address on a
//! Docker bridge network through a TAP on its bridge ([`net`]), and runs the pinned k3s binary
//! as an agent with a config faasbed writes to its own disk ([`node`]). The cluster platform
//! that owns the network and the server (k3d: `platform::k3d::vms`) [`start`]s each VM,
//! waits until it has [`booted`], and [`stop`]s it on `down`. Nothing here knows a platform.

pub mod assets;
pub mod cpio;
pub mod modules;
pub mod net;
pub mod node;

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::time::Instant;

use self::assets::{K3s, VmAssets};
use self::node::{Join, NodeFiles};
use crate::exec::{Cmd, ExecError, Runner};
use crate::spec::Arch;
use crate::tooljson::ParseError;

/// How long a VM may take from QEMU's start to its READY line (TCG emulation; an armhf VM
/// with 4 CPUs takes about 25 s on a 2-core host).
pub const BOOT_DEADLINE: Duration = Duration::from_secs(180);
/// Size of a node disk (sparse): k3s state and pulled images.
pub const NODE_DISK_BYTES: u64 = 8 << 30;
/// The ext4 label of a node disk.
pub const NODE_DISK_LABEL: &str = "faasbed-node";

/// Errors of the QEMU VM agents.
#[derive(Debug, thiserror::Error)]
pub enum VmError {
    /// The host's apt cannot fetch packages of the VM's architecture.
    #[error("apt on this host has no {arch} packages, which the {arch} VM's kernel and busybox come from; run `dpkg --add-architecture {arch} && apt-get update`")]
    ForeignArch { arch: &'static str },
    /// `apt-cache depends` named no kernel package.
    #[error("`apt-cache depends {metapackage}` names no linux-image package (it printed {output:?}); run `apt-get update`")]
    NoKernel { metapackage: String, output: String },
    /// k3s could not be downloaded.
    #[error("cannot download {url}; download it yourself to {} (chmod 755) and run again", to.display())]
    Download {
        url: String,
        to: PathBuf,
        #[source]
        source: Box<ExecError>,
    },
    /// A download does not match the release's checksum.
    #[error("{file}: sha256 {got} does not match the release's {want}; delete it from the VM cache and run again")]
    Checksum {
        file: String,
        want: String,
        got: String,
    },
    /// A file could not be read or written.
    #[error("cannot {action} {}", path.display())]
    File {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A program failed (the source holds its command line and output).
    #[error(transparent)]
    Exec(Box<ExecError>),
    /// The kernel's module list cannot be read.
    #[error(transparent)]
    Modules(#[from] modules::ModulesError),
    /// A tool printed output faasbed cannot read.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// No home for the VM cache.
    #[error("no folder for the VM cache: set FAASBED_CACHE (or XDG_CACHE_HOME or HOME)")]
    NoCache,
    /// VMs plug into the Docker bridge through TAP devices, which needs root.
    #[error("node(s) {nodes} boot as QEMU VMs on the cluster's Docker bridge, which needs root (CAP_NET_ADMIN) for their TAP devices; run faasbed as root (e.g. `sudo -E faasbed bench …`), or give those nodes `backend = \"agent\"`")]
    NeedsRoot { nodes: String },
    /// Programs the VMs need are not on `PATH`.
    #[error("QEMU VM nodes need {programs} on PATH; install them with `apt-get install -y --no-install-recommends qemu-system-arm e2fsprogs kmod iproute2 curl`")]
    MissingPrograms { programs: String },
    /// The cluster network lacks a container the VMs need.
    #[error("Docker network {network} has no container {name}; is the k3d cluster running? (`docker network inspect {network}`)")]
    NoContainer { network: String, name: String },
    /// The cluster network has no free addresses for the VMs.
    #[error("Docker network {network} has fewer than {wanted} free addresses for VMs")]
    NoAddress { network: String, wanted: usize },
    /// The VM's boot script stopped with a reason.
    #[error("VM {node} failed to boot: {why}; its console is {} (last lines:\n{tail})", console.display())]
    BootFailed {
        node: String,
        why: String,
        console: PathBuf,
        tail: String,
    },
    /// QEMU exited before the READY line.
    #[error("VM {node}: QEMU exited before the VM was ready; its console is {} (last lines:\n{tail})", console.display())]
    Exited {
        node: String,
        console: PathBuf,
        tail: String,
    },
    /// No READY line in time.
    #[error("VM {node} printed no READY line within {BOOT_DEADLINE:?}; its console is {} (last lines:\n{tail})", console.display())]
    BootTimeout {
        node: String,
        console: PathBuf,
        tail: String,
    },
}

/// A VM this run started: what `down` stops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Running {
    /// Node name.
    pub node: String,
    /// Its architecture.
    pub arch: Arch,
    /// Its TAP device.
    pub tap: String,
    /// Its files (pidfile, console).
    pub files: NodeFiles,
    /// VM clock minus host clock at boot, ns (see [`node::Ready`]).
    pub clock_offset_ns: Option<i64>,
}

/// The programs VM nodes of `arches` run.
pub fn programs(arches: &[Arch]) -> Vec<&'static str> {
    let mut p = vec![
        "apt-get",
        "apt-cache",
        "dpkg",
        "dpkg-deb",
        "depmod",
        "mkfs.ext4",
        "ip",
        "curl",
    ];
    if arches.contains(&Arch::Arm64) {
        p.push("qemu-system-aarch64");
    }
    if arches.contains(&Arch::Armhf) {
        p.push("qemu-system-arm");
    }
    p
}

/// Fail before anything starts when there are VM nodes (name, arch) and this host cannot
/// start them (`found` is [`crate::exec::which`], `root` whether faasbed runs as root).
pub fn preflight(
    vms: &[(&str, Arch)],
    found: impl Fn(&str) -> Option<PathBuf>,
    root: bool,
) -> Result<(), VmError> {
    if vms.is_empty() {
        return Ok(());
    }
    let arches: Vec<Arch> = vms.iter().map(|a| a.1).collect();
    let missing: Vec<&str> = programs(&arches)
        .into_iter()
        .filter(|p| found(p).is_none())
        .collect();
    if !missing.is_empty() {
        return Err(VmError::MissingPrograms {
            programs: missing.join(", "),
        });
    }
    if !root {
        return Err(VmError::NeedsRoot {
            nodes: vms.iter().map(|a| a.0).collect::<Vec<_>>().join(", "),
        });
    }
    Ok(())
}

/// Build (or find in the cache) the assets of each of `arches`, with the pinned k3s.
pub async fn prepare_all<R: Runner>(
    runner: &R,
    arches: &[Arch],
    cache: &Path,
) -> Result<Vec<(Arch, VmAssets)>, VmError> {
    let mut out = Vec::new();
    for &arch in arches {
        out.push((
            arch,
            assets::prepare(runner, cache, arch, K3s::from_env()).await?,
        ));
    }
    Ok(out)
}

/// Run `cmd` through `runner`: its standard output, or the failure as a [`VmError`].
pub async fn run<R: Runner>(runner: &R, cmd: &Cmd) -> Result<String, VmError> {
    runner
        .run(cmd)
        .await
        .map(|o| o.stdout)
        .map_err(|e| VmError::Exec(Box::new(e)))
}

/// Wait until the VM `r` prints its READY line (or fails), and record its clock offset.
pub async fn booted(r: &mut Running) -> Result<(), VmError> {
    let ready = node::wait_ready(&r.node, &r.files, Instant::now() + BOOT_DEADLINE).await?;
    r.clock_offset_ns = clock_offset(&r.files, &ready)?;
    Ok(())
}

/// Write the node disk, plug a TAP into `network`'s bridge and start QEMU (daemonized).
pub async fn start<R: Runner>(
    runner: &R,
    j: &Join<'_>,
    a: &VmAssets,
    files: &NodeFiles,
    bridge: &str,
    tap: &str,
    run_id: &str,
) -> Result<(), VmError> {
    let fb = files.staging.join("faasbed");
    let _ = std::fs::remove_dir_all(&files.staging);
    assets::write_file(&fb.join("node.env"), node::node_env(j).as_bytes())?;
    assets::write_file(&fb.join("k3s.yaml"), node::k3s_config(j).as_bytes())?;
    assets::set_mode(&fb.join("k3s.yaml"), 0o600)?;
    if let Some((name, endpoint)) = &j.registry {
        assets::write_file(
            &fb.join("registries.yaml"),
            node::registries_yaml(name, endpoint).as_bytes(),
        )?;
    }
    assets::sparse_file(&files.disk, NODE_DISK_BYTES)?;
    let made = run(
        runner,
        &assets::mkfs_cmd(&files.staging, &files.disk, NODE_DISK_LABEL),
    )
    .await;
    // The token is on the disk image now; the staging copy goes either way.
    let _ = std::fs::remove_dir_all(&files.staging);
    made?;
    let _ = std::fs::remove_file(&files.console);
    let _ = std::fs::remove_file(&files.pidfile);
    // A TAP left by a crashed run would make `ip tuntap add` fail.
    let _ = runner.run(&net::tap_down(tap)).await;
    for c in net::tap_up(tap, bridge) {
        run(runner, &c).await?;
    }
    run(runner, &node::qemu_cmd(j.node, a, files, tap, run_id)).await?;
    Ok(())
}

/// The VM's clock offset: measured at this boot (and kept in `clock.json` beside its console),
/// or, for a VM booted by an earlier `up` of the run, as that boot measured it.
fn clock_offset(files: &NodeFiles, ready: &node::Ready) -> Result<Option<i64>, VmError> {
    let path = files.dir.join("clock.json");
    if ready.clock_offset_ns.is_none() {
        let kept = std::fs::read_to_string(&path).ok();
        return Ok(kept
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| v["clock_offset_ns"].as_i64()));
    }
    let json = serde_json::json!({
        "clock_offset_ns": ready.clock_offset_ns,
        "bound_ns": ready.clock_offset_bound_ns,
        "ready_line": ready.line,
    });
    assets::write_file(&path, json.to_string().as_bytes())?;
    Ok(ready.clock_offset_ns)
}

/// Stop the VMs: end QEMU (SIGTERM to its pid), delete its TAP and its disk (the console log
/// stays). Best effort for every VM; the first failure is returned.
pub async fn stop<R: Runner>(runner: &R, vms: &[Running]) -> Result<(), VmError> {
    let mut first = None;
    for v in vms {
        crate::dryrun::note(format!(
            "stop the VM {}: SIGTERM to the pid in {} while it is alive, its TAP deleted, {} \
             removed (the console log stays)",
            v.node,
            v.files.pidfile.display(),
            v.files.disk.display()
        ));
        if let Some(p) = node::pid(&v.files).filter(|p| crate::exec::pid_alive(*p)) {
            if let Err(e) = run(runner, &Cmd::new("kill").arg(p.to_string())).await {
                first.get_or_insert(e);
            }
        }
        let _ = runner.run(&net::tap_down(&v.tap)).await;
        let _ = std::fs::remove_file(&v.files.disk);
    }
    first.map_or(Ok(()), Err)
}

/// Stop the VMs of a run whose platform value is gone (an interrupted `up`): the run's
/// labelled QEMU processes and the TAPs of `nodes`.
pub async fn abandon<R: Runner>(runner: &R, run_dir: &Path, nodes: &[(&str, Arch)]) {
    let vms: Vec<Running> = nodes
        .iter()
        .map(|&(n, arch)| Running {
            node: n.to_string(),
            arch,
            tap: net::tap_name(n),
            files: NodeFiles::new(run_dir, n),
            clock_offset_ns: None,
        })
        .collect();
    let _ = stop(runner, &vms).await;
}
