//! QEMU VM agents for real, without a cluster: build the VM assets of an architecture from the
//! host's apt sources (kernel, busybox, faasbed's init), boot the VM as `up` does (node disk
//! with the join config, TAP on a bridge, daemonized QEMU) inside a network namespace whose
//! bridge stands in for the k3d Docker network, and check what the VM did: READY with its
//! address, the k3s agent started with the config faasbed wrote, and the "server" reachable.
//!
//! k3s itself cannot be downloaded on the machines this runs on, so the base disk carries a
//! stand-in `k3s` script (given through `K3s::File`, the path users take for a hand-fetched
//! binary) that prints its arguments and config and pings the server address. The real join
//! is in `tests/k3d_cluster.rs` (needs docker + k3d + internet).
//!
//! Needs root (network namespace, TAP), qemu-system-arm, kmod, e2fsprogs, and apt sources with
//! the arm64/armhf architecture added: `.ci/run` sets all of that up. Where any of it is
//! missing, both tests are reported as *ignored* (never as passed), with the reason and the
//! command that sets it up printed; `cargo test --test k3d_vm -- --include-ignored` runs them
//! anyway. This file has its own harness (`libtest-mimic`), since libtest cannot ignore a test at
//! run time.
#![allow(clippy::unwrap_used)]

#[path = "common/gated.rs"]
mod gated;

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use faasbed::doctor;
use faasbed::exec::{self, Cmd, ExecError, Output, Runner, System};
use faasbed::nodes::qemu::assets::{self, K3s};
use faasbed::nodes::qemu::node::{self, Join, NodeFiles};
use faasbed::nodes::qemu::{self as vm, net};
use faasbed::spec::{self, Arch};
use tokio::time::Instant;

/// Runs `ip` and QEMU inside the test's network namespace, everything else as it is.
struct InNetns {
    ns: String,
}

impl Runner for InNetns {
    async fn run(&self, cmd: &Cmd) -> Result<Output, ExecError> {
        let p = cmd.program().to_string_lossy();
        if p == "ip" || p.starts_with("qemu-system") {
            let wrapped = cmd
                .clone()
                .inside("ip", ["netns", "exec", self.ns.as_str()]);
            return exec::run(&wrapped).await;
        }
        exec::run(cmd).await
    }
}

/// The namespace, its bridge (standing in for k3d's Docker bridge) and the VM; removed on drop.
struct Lab {
    ns: String,
    files: Option<NodeFiles>,
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Some(pid) = self.files.as_ref().and_then(node::pid) {
            let _ = Command::new("kill").arg(pid.to_string()).status();
        }
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).status();
    }
}

/// Run a shell line inside namespace `ns`; it must succeed.
fn sh(ns: &str, line: &str) {
    let ok = Command::new("ip")
        .args(["netns", "exec", ns, "sh", "-c", line])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "`{line}` failed in namespace {ns}");
}

/// The stand-in for k3s: what it was started with, its config (minus the token), and whether
/// the server address answers.
const STAND_IN: &str = r#"#!/bin/sh
echo "K3S-STAND-IN $*"
sed 's/^token:.*/token: <redacted>/' /data/faasbed/k3s.yaml | sed 's/^/K3S-CONFIG /'
server=$(sed -n 's/^server: "https:\/\/\([0-9.]*\):.*/\1/p' /data/faasbed/k3s.yaml)
if ping -c 3 -W 2 "$server" >/dev/null 2>&1; then echo "K3S-SERVER-REACHABLE $server"; else echo "K3S-SERVER-UNREACHABLE $server"; fi
exec sleep 100000
"#;

fn sh_host(argv: &[&str]) {
    let ok = Command::new(argv[0])
        .args(&argv[1..])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "`{}` failed", argv.join(" "));
}

fn scenario(arch: Arch) -> spec::Scenario {
    let (class, a) = match arch {
        Arch::Armhf => ("pi3", "armhf"),
        _ => ("pi4", "arm64"),
    };
    let text = format!(
        r#"
[platform]
kind = "k3d"
[[node]]
name = "srv"
class = "vps"
arch = "amd64"
site = "lab"
backend = "server"
[[node]]
name = "raspberrypi-01"
class = "{class}"
arch = "{a}"
site = "italy"
backend = "qemu"
labels = {{ type = "rsbpi-01" }}
[[function]]
name = "echo"
source = "echo"
constraints = ["type=rsbpi-01"]
"#
    );
    spec::parse(&text, Path::new("vm-test.toml")).unwrap()
}

async fn console_line(files: &NodeFiles, mark: &str, deadline: Instant) -> String {
    loop {
        let text = std::fs::read_to_string(&files.console).unwrap_or_default();
        if let Some(l) = text.lines().find(|l| l.contains(mark)) {
            return l.trim().to_string();
        }
        assert!(
            Instant::now() < deadline,
            "no {mark:?} on the console {}:\n{}",
            files.console.display(),
            node::console_tail(&text, 30)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Why this host cannot run the VM tests, with the commands that fix it; `None` when it can.
fn missing_prerequisites(rt: &tokio::runtime::Runtime) -> Option<String> {
    let mut why = Vec::new();
    if !doctor::is_root() {
        why.push(
            "not root (a network namespace and TAP devices are needed): run the tests with sudo"
                .to_string(),
        );
    }
    let check = rt.block_on(doctor::vm_nodes_check());
    if !check.ok {
        why.push(format!(
            "{}: {}",
            check.detail,
            check.fix.unwrap_or_default()
        ));
    }
    (!why.is_empty()).then(|| why.join("; "))
}

async fn boot_and_join(arch: Arch, subnet: u8) {
    let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("vm-cache");
    std::fs::create_dir_all(&cache).unwrap();
    let stand_in = cache.join(format!("k3s-stand-in-{}", arch.as_str()));
    // Rewritten only when it changed: its mtime is part of the asset folder's name.
    if std::fs::read_to_string(&stand_in).ok().as_deref() != Some(STAND_IN) {
        std::fs::write(&stand_in, STAND_IN).unwrap();
    }
    let a = assets::prepare(&System, &cache, arch, K3s::File(stand_in))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(a.kernel_release.starts_with("6."), "{a:?}");

    // Declared before the lab, so it is dropped after it: the lab's drop reads QEMU's pidfile.
    let run = tempfile::tempdir().unwrap();
    let ns = format!("fbvm-{}-{}", std::process::id(), arch.as_str());
    sh_host(&["ip", "netns", "add", &ns]);
    let mut lab = Lab {
        ns: ns.clone(),
        files: None,
    };
    let gateway = Ipv4Addr::new(10, 77, subnet, 1);
    sh(&ns, &format!(
        "ip link set lo up && ip link add fbbr0 type bridge && ip addr add {gateway}/24 dev fbbr0 && ip link set fbbr0 up"
    ));

    let s = scenario(arch);
    let node = s.node("raspberrypi-01").unwrap();
    let files = NodeFiles::new(run.path(), &node.name);
    lab.files = Some(files.clone());
    let k3s_args = vec![
        "--node-name=raspberrypi-01".to_string(),
        "--node-label=faasbed.io/class=pi".to_string(),
        "--node-label=type=rsbpi-01".to_string(),
    ];
    let ip = Ipv4Addr::new(10, 77, subnet, 254);
    let join = Join {
        node,
        ip,
        prefix: 24,
        gateway,
        dns: vec![gateway],
        server_url: format!("https://{gateway}:6443"),
        token: "K10test::server:not-a-secret",
        k3s_args: &k3s_args,
        registry: Some((
            "faasbed-registry.localhost:5000".into(),
            format!("http://{gateway}:5000"),
        )),
    };
    let runner = InNetns { ns: ns.clone() };
    let tap = net::tap_name(&node.name);
    let t0 = Instant::now();
    vm::start(&runner, &join, &a, &files, "fbbr0", &tap, "run-vm-test")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        !files.staging.exists(),
        "the staging copy of the token is removed"
    );

    let ready = node::wait_ready(&node.name, &files, Instant::now() + vm::BOOT_DEADLINE)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let line = &ready.line;
    assert!(line.contains(&format!("ip={ip}")), "{line}");
    let uname = if arch == Arch::Armhf {
        "arch=armv7l"
    } else {
        "arch=aarch64"
    };
    assert!(line.contains(uname), "{line}");
    // The VM's clock starts from QEMU's RTC in whole seconds, so it is off by about a second
    // at most (plus the print latency under TCG) — and the offset is measured.
    let off = ready
        .clock_offset_ns
        .unwrap_or_else(|| panic!("no clock offset from {line}"));
    assert!(
        off.abs() < 3_000_000_000,
        "clock offset {off} ns from {line}"
    );
    eprintln!(
        "{arch:?} VM: READY {:.1} s after start (disk, TAP, QEMU); clock offset {off} ns (bound {} ns)",
        t0.elapsed().as_secs_f64(),
        ready.clock_offset_bound_ns
    );

    let deadline = Instant::now() + Duration::from_secs(120);
    let started = console_line(&files, "K3S-STAND-IN", deadline).await;
    assert_eq!(
        started,
        "K3S-STAND-IN agent --config /data/faasbed/k3s.yaml"
    );
    // The stand-in prints its reachability line last.
    let reach = console_line(&files, "K3S-SERVER-", deadline).await;
    assert_eq!(reach, format!("K3S-SERVER-REACHABLE {gateway}"));
    let text = std::fs::read_to_string(&files.console).unwrap();
    for want in [
        format!("K3S-CONFIG server: \"https://{gateway}:6443\""),
        "K3S-CONFIG token: <redacted>".into(),
        format!("K3S-CONFIG node-ip: \"{ip}\""),
        "K3S-CONFIG node-name: \"raspberrypi-01\"".into(),
        "K3S-CONFIG   - \"type=rsbpi-01\"".into(),
        "K3S-CONFIG private-registry: \"/data/faasbed/registries.yaml\"".into(),
    ] {
        assert!(text.contains(&want), "no {want:?} on the console:\n{text}");
    }
    assert!(
        !text.contains("not-a-secret"),
        "the token reached the console"
    );

    // And the host side reaches the VM.
    sh(&ns, &format!("ping -c 2 -W 3 {ip} >/dev/null"));

    let pid = node::pid(&files).unwrap();
    vm::stop(
        &runner,
        &[vm::Running {
            node: node.name.clone(),
            arch,
            tap: tap.clone(),
            files: files.clone(),
            clock_offset_ns: ready.clock_offset_ns,
        }],
    )
    .await
    .unwrap();
    assert!(!files.disk.exists(), "stop removes the node disk");
    assert!(files.console.exists(), "stop keeps the console log");
    let gone = Instant::now() + Duration::from_secs(20);
    while exec::pid_alive(pid) && Instant::now() < gone {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!exec::pid_alive(pid), "QEMU {pid} still runs after stop");
    drop(lab);
}

fn main() -> std::process::ExitCode {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let missing = missing_prerequisites(&rt);
    drop(rt);
    gated::main(
        "k3d_vm",
        "the QEMU VM tests",
        missing,
        false,
        vec![
            gated::async_test(
                "an_arm64_vm_boots_onto_the_bridge_and_starts_its_agent_with_the_join_config",
                || boot_and_join(Arch::Arm64, 1),
            ),
            gated::async_test(
                "an_armhf_vm_boots_onto_the_bridge_and_starts_its_agent_with_the_join_config",
                || boot_and_join(Arch::Armhf, 2),
            ),
        ],
    )
}
