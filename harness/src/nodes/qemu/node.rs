//! One VM node: the files on its disk (network settings, the k3s agent's config and registry
//! mirror), its QEMU command line, and the wait for its READY line.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::time::Instant;

use super::assets::VmAssets;
use super::VmError;
use crate::exec::{Cmd, RUN_ID_ENV};
use crate::spec::{Arch, Node};
use crate::store::clock::unix_ns;

/// What the VM's boot script prints once its disks and network are up.
pub const READY_MARK: &str = "FAASBED READY";
/// What it prints when it cannot go on (the rest of the line says why).
pub const FAILED_MARK: &str = "FAASBED FAILED: ";
/// Pause between two reads of the console log (it bounds the clock offset's error when the
/// console file's mtime cannot date the READY line).
const CONSOLE_POLL: Duration = Duration::from_millis(20);

/// Where a VM node's files live: `RUN/nodes/NAME/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeFiles {
    /// The folder.
    pub dir: PathBuf,
    /// What goes onto the node disk (`faasbed/…`), removed once the disk is made.
    pub staging: PathBuf,
    /// The node disk (`/dev/vdb` inside: join config and k3s state).
    pub disk: PathBuf,
    /// The serial console, as QEMU writes it.
    pub console: PathBuf,
    /// QEMU's pid (`-pidfile`).
    pub pidfile: PathBuf,
}

impl NodeFiles {
    /// The files of node `name` under run directory `run`.
    pub fn new(run: &Path, name: &str) -> Self {
        let dir = run.join("nodes").join(name);
        NodeFiles {
            staging: dir.join("disk"),
            disk: dir.join("disk.img"),
            console: dir.join("console.log"),
            pidfile: dir.join("qemu.pid"),
            dir,
        }
    }
}

/// How one VM joins: its address on the cluster network and the server it joins.
#[derive(Debug, Clone)]
pub struct Join<'a> {
    /// The scenario's node.
    pub node: &'a Node,
    /// The VM's address on the k3d network.
    pub ip: Ipv4Addr,
    /// That network's prefix length.
    pub prefix: u8,
    /// Default route (the Docker bridge).
    pub gateway: Ipv4Addr,
    /// Name servers.
    pub dns: Vec<Ipv4Addr>,
    /// `https://SERVER-IP:6443`.
    pub server_url: String,
    /// The cluster's agent token (secret: written to the node disk only, mode 0600).
    pub token: &'a str,
    /// `k3s agent` flags from the cluster plan (`--node-name=…`, `--node-label=…`).
    pub k3s_args: &'a [String],
    /// The registry as nodes name it (`NAME:5000`) and where the VM reaches it
    /// (`http://IP:5000`).
    pub registry: Option<(String, String)>,
}

/// `faasbed/node.env`: what the boot script sources.
pub fn node_env(j: &Join) -> String {
    let dns: Vec<String> = j.dns.iter().map(Ipv4Addr::to_string).collect();
    format!(
        "NODE_NAME={}\nNODE_IP={}\nNODE_PREFIX={}\nGATEWAY={}\nDNS=\"{}\"\n",
        shell_word(&j.node.name),
        j.ip,
        j.prefix,
        j.gateway,
        dns.join(" ")
    )
}

/// `faasbed/k3s.yaml`: the agent's config file (keys are `k3s agent`'s flags). Values are
/// JSON strings, which YAML reads as they are.
pub fn k3s_config(j: &Join) -> String {
    let q = |s: &str| serde_json::Value::from(s).to_string();
    let mut out = format!(
        "server: {}\ntoken: {}\nnode-ip: {}\ndata-dir: {}\n",
        q(&j.server_url),
        q(j.token),
        q(&j.ip.to_string()),
        q("/data/k3s")
    );
    if j.registry.is_some() {
        out.push_str(&format!(
            "private-registry: {}\n",
            q("/data/faasbed/registries.yaml")
        ));
    }
    let mut lists: Vec<(&str, Vec<&str>)> = Vec::new();
    for arg in j.k3s_args {
        let Some((key, value)) = arg.trim_start_matches("--").split_once('=') else {
            continue;
        };
        match lists.iter_mut().find(|(k, _)| *k == key) {
            Some((_, vs)) => vs.push(value),
            None => lists.push((key, vec![value])),
        }
    }
    for (key, values) in lists {
        if key == "node-label" {
            out.push_str(&format!("{key}:\n"));
            for v in values {
                out.push_str(&format!("  - {}\n", q(v)));
            }
        } else if let Some(v) = values.last() {
            out.push_str(&format!("{key}: {}\n", q(v)));
        }
    }
    out
}

/// `faasbed/registries.yaml`: containerd in the VM reaches the registry the function images
/// name (`NAME:5000`, which only k3d's containers resolve) at its address on the network.
pub fn registries_yaml(name: &str, endpoint: &str) -> String {
    let q = |s: &str| serde_json::Value::from(s).to_string();
    format!(
        "mirrors:\n  {}:\n    endpoint:\n      - {}\n",
        q(name),
        q(endpoint)
    )
}

/// A value for a `KEY=value` line the shell sources: kept as it is when safe, else quoted.
fn shell_word(s: &str) -> String {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// A stable, locally administered MAC for `node` (QEMU gives every VM the same one otherwise).
pub fn mac(node: &str) -> String {
    let h = node.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let b = h.to_be_bytes();
    format!("52:54:{:02x}:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2], b[3])
}

/// A VM's size from its class profile: CPUs (the profile's share of a core, rounded up) and
/// memory in MiB.
pub fn size(node: &Node) -> (u32, u64) {
    (
        node.profile.cpus.ceil().max(1.0) as u32,
        node.profile.memory_bytes >> 20,
    )
}

/// The QEMU command of a VM node: the class profile's CPU model, CPU count and memory, the
/// arch's kernel and initramfs, the base disk read-only and the node disk, a NIC on `tap`;
/// daemonized with its console in `files.console`, labelled with the run id for
/// `faasbed clean`.
pub fn qemu_cmd(node: &Node, assets: &VmAssets, files: &NodeFiles, tap: &str, run_id: &str) -> Cmd {
    let program = match node.arch {
        Arch::Armhf => "qemu-system-arm",
        _ => "qemu-system-aarch64",
    };
    let (smp, mem_mib) = size(node);
    let drive = |p: &Path, extra: &str| format!("file={},if=virtio,format=raw{extra}", p.display());
    Cmd::new(program)
        .args(["-name", &format!("faasbed-{}", node.name)])
        .args(["-M", "virt", "-cpu", node.qemu_cpu().unwrap_or("max")])
        .args(["-smp", &smp.to_string(), "-m", &mem_mib.to_string()])
        .arg("-kernel")
        .arg(&assets.kernel)
        .arg("-initrd")
        .arg(&assets.initrd)
        .args(["-append", "console=ttyAMA0 quiet"])
        .args(["-drive", &drive(&assets.base_disk, ",readonly=on")])
        .args(["-drive", &drive(&files.disk, "")])
        .args([
            "-netdev",
            &format!("tap,id=n0,ifname={tap},script=no,downscript=no"),
            "-device",
            &format!("virtio-net-pci,netdev=n0,romfile=,mac={}", mac(&node.name)),
        ])
        .args(["-display", "none", "-monitor", "none"])
        .arg("-serial")
        .arg(format!("file:{}", files.console.display()))
        .arg("-pidfile")
        .arg(&files.pidfile)
        .arg("-daemonize")
        .env(RUN_ID_ENV, run_id)
}

/// QEMU's pid from its pidfile (`None`: no file, or not a number).
pub fn pid(files: &NodeFiles) -> Option<u32> {
    std::fs::read_to_string(&files.pidfile)
        .ok()
        .and_then(|s| s.trim().parse().ok())
}

/// The last `n` lines of a console log, for errors.
pub fn console_tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// A VM's READY line and what it says about the VM's clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ready {
    /// The line, trimmed.
    pub line: String,
    /// VM clock minus host clock, ns (positive: the VM is ahead); `None` when the line has
    /// no `clock_ns=`.
    pub clock_offset_ns: Option<i64>,
    /// How far off that offset may be beyond the VM's own print latency, ns: 0 when the
    /// console file's mtime dates the line, else the time between two reads.
    pub clock_offset_bound_ns: u64,
}

/// The `clock_ns=` reading of a READY line.
pub fn clock_reading(line: &str) -> Option<u64> {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix("clock_ns="))
        .and_then(|v| v.parse().ok())
}

/// VM clock minus host clock, ns.
pub fn offset_ns(vm_ns: u64, host_ns: u64) -> i64 {
    (i128::from(vm_ns) - i128::from(host_ns)).clamp(i128::from(i64::MIN), i128::from(i64::MAX))
        as i64
}

/// Wait until the console of `node` shows the READY line; fail on its FAILED line, when QEMU
/// exits, or at `deadline`.
pub async fn wait_ready(
    node: &str,
    files: &NodeFiles,
    deadline: Instant,
) -> Result<Ready, VmError> {
    let mut last_read_ns: Option<u64> = None;
    loop {
        let whole = std::fs::read_to_string(&files.console).unwrap_or_default();
        let read_ns = crate::store::clock::now_ns();
        // Only complete lines: the console may be read while QEMU is half-way through one.
        let text = &whole[..whole.rfind('\n').map_or(0, |i| i + 1)];
        if let Some(line) = text.lines().find(|l| l.contains(READY_MARK)) {
            let line = line.trim().to_string();
            // When READY is the last line, the file's mtime is when QEMU wrote it.
            let last = text
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .map(str::trim);
            let mtime = std::fs::metadata(&files.console)
                .and_then(|m| m.modified())
                .ok()
                .map(unix_ns)
                .filter(|_| last == Some(line.as_str()));
            // Otherwise it came between the last read and this one; a line that was there at
            // the first read (a VM booted earlier) cannot be dated at all.
            let dated = match (mtime, last_read_ns) {
                (Some(m), _) => Some((m, 0)),
                (None, Some(before)) => Some((read_ns, read_ns.saturating_sub(before))),
                (None, None) => None,
            };
            return Ok(Ready {
                clock_offset_ns: dated
                    .zip(clock_reading(&line))
                    .map(|((host_ns, _), vm)| offset_ns(vm, host_ns)),
                clock_offset_bound_ns: dated.map_or(0, |(_, b)| b),
                line,
            });
        }
        last_read_ns = Some(read_ns);
        let tail = || console_tail(&text, 12);
        if let Some(why) = text
            .lines()
            .find_map(|l| l.split_once(FAILED_MARK).map(|(_, w)| w))
        {
            return Err(VmError::BootFailed {
                node: node.to_string(),
                why: why.trim().to_string(),
                console: files.console.clone(),
                tail: tail(),
            });
        }
        if let Some(p) = pid(files) {
            if !crate::exec::pid_alive(p) {
                return Err(VmError::Exited {
                    node: node.to_string(),
                    console: files.console.clone(),
                    tail: tail(),
                });
            }
        }
        if Instant::now() >= deadline {
            return Err(VmError::BootTimeout {
                node: node.to_string(),
                console: files.console.clone(),
                tail: tail(),
            });
        }
        tokio::time::sleep(CONSOLE_POLL).await;
    }
}
