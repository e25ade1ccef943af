//! Prerequisite checks (`faasbed doctor`) and their installation (`faasbed setup`).
//!
//! Every failed check carries the exact command that fixes it.

use std::path::Path;

use serde::Serialize;

use crate::exec::{self, Cmd};
use crate::platform::local::{cgroup, qemu_user};
use crate::spec::Arch;

/// Debian packages the embedded platform needs.
pub const APT_PACKAGES: &[&str] = &["golang-go", "qemu-user-static", "binfmt-support"];

/// The result of one check.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// What was checked.
    pub name: String,
    /// Whether it passed.
    pub ok: bool,
    /// Version or reason.
    pub detail: String,
    /// The command that fixes it, when it failed.
    pub fix: Option<String>,
    /// A failed required check stops `bench`; an optional one only warns.
    pub required: bool,
}

fn apt_fix(pkgs: &str) -> String {
    let sudo = if is_root() { "" } else { "sudo " };
    format!("{sudo}apt-get install -y {pkgs}   (or: {sudo}faasbed setup)")
}

/// Is this process root?
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Run every check of the embedded platform.
pub async fn checks() -> Vec<Check> {
    let mut out = Vec::new();
    let go = crate::build::go_binary();
    let go_detail = match &go {
        Ok(p) => exec::run(&Cmd::new(p).arg("version"))
            .await
            .map(|o| o.stdout.trim().to_string())
            .unwrap_or_else(|e| e.to_string()),
        Err(e) => e.to_string(),
    };
    out.push(Check {
        name: "go (cross-compiles the functions)".into(),
        ok: go.is_ok(),
        detail: go_detail,
        fix: go.is_err().then(|| apt_fix("golang-go")),
        required: true,
    });
    for arch in [Arch::Arm64, Arch::Armhf] {
        let q = qemu_user::find_qemu(arch);
        out.push(Check {
            name: format!("qemu user mode for {arch}"),
            ok: q.is_ok(),
            detail: match &q {
                Ok(p) => p.display().to_string(),
                Err(e) => e.to_string(),
            },
            fix: q.is_err().then(|| apt_fix("qemu-user-static")),
            required: true,
        });
    }
    let h = cgroup::detect();
    let (cg, enf) = cgroup::create(
        h.as_ref(),
        &format!("faasbed-doctor-{}", std::process::id()),
        Some(0.5),
        Some(64 << 20),
    );
    drop(cg);
    out.push(Check {
        name: "cgroups (node CPU quota and memory limit)".into(),
        ok: enf.cpu && enf.memory,
        detail: if enf.notes.is_empty() {
            format!("cgroup {}: cpu and memory limits work", enf.cgroup)
        } else {
            format!(
                "cgroup {}: {}; nodes run without those limits and results record enforced: false",
                enf.cgroup,
                enf.notes.join("; ")
            )
        },
        fix: (!(enf.cpu && enf.memory))
            .then(|| "run faasbed as root (sudo) so it can create cgroups".to_string()),
        required: false,
    });
    let port = std::net::TcpListener::bind(("127.0.0.1", 0));
    out.push(Check {
        name: "loopback ports".into(),
        ok: port.is_ok(),
        detail: match &port {
            Ok(l) => format!(
                "can bind 127.0.0.1 (got port {})",
                l.local_addr().map(|a| a.port()).unwrap_or(0)
            ),
            Err(e) => e.to_string(),
        },
        fix: port
            .is_err()
            .then(|| "free a loopback port or check the network namespace".to_string()),
        required: true,
    });
    let binfmt = Path::new("/proc/sys/fs/binfmt_misc/qemu-aarch64").exists();
    out.push(Check {
        name: "binfmt_misc for arm64 (optional: faasbed calls qemu directly)".into(),
        ok: binfmt,
        detail: if binfmt {
            "registered".into()
        } else {
            "not registered".into()
        },
        fix: (!binfmt).then(|| {
            "faasbed setup   (mounts binfmt_misc and runs update-binfmts --enable)".to_string()
        }),
        required: false,
    });
    let missing = crate::spec::missing_containerd_tools();
    out.push(Check {
        name: "containerd, runc, CNI bridge (optional: only for runtime = \"containerd\")".into(),
        ok: missing.is_empty(),
        detail: if missing.is_empty() {
            "installed".into()
        } else {
            format!("missing {}", missing.join(", "))
        },
        fix: (!missing.is_empty()).then(|| format!("sudo {}", crate::spec::CONTAINERD_APT)),
        required: false,
    });
    out.push(vm_nodes_check().await);
    out
}

/// Optional: can this host start the k3d platform's QEMU VM nodes (programs, apt's ARM
/// packages)? Root is checked when a run needs it.
pub async fn vm_nodes_check() -> Check {
    use crate::nodes::qemu as vm;
    let missing: Vec<&str> = vm::programs(&[Arch::Arm64, Arch::Armhf])
        .into_iter()
        .filter(|p| exec::which(p).is_none())
        .collect();
    let foreign = exec::run(&Cmd::new("dpkg").arg("--print-foreign-architectures"))
        .await
        .map(|o| o.stdout)
        .unwrap_or_default();
    let no_arch: Vec<&str> = ["arm64", "armhf"]
        .into_iter()
        .filter(|a| !foreign.split_whitespace().any(|f| f == *a))
        .collect();
    let sudo = if is_root() { "" } else { "sudo " };
    let mut fixes = Vec::new();
    if !no_arch.is_empty() {
        let adds: Vec<String> = no_arch
            .iter()
            .map(|a| format!("{sudo}dpkg --add-architecture {a}"))
            .collect();
        fixes.push(format!("{} && {sudo}apt-get update", adds.join(" && ")));
    }
    if !missing.is_empty() {
        fixes.push(apt_fix("qemu-system-arm e2fsprogs kmod iproute2 curl"));
    }
    Check {
        name: "k3d QEMU VM nodes (optional: only for backend = \"qemu\")".into(),
        ok: fixes.is_empty(),
        detail: if fixes.is_empty() {
            "qemu-system-aarch64/arm, mkfs.ext4, depmod, ip; apt has arm64 and armhf".into()
        } else {
            let mut why = Vec::new();
            if !missing.is_empty() {
                why.push(format!("missing {}", missing.join(", ")));
            }
            if !no_arch.is_empty() {
                why.push(format!("apt has no {} packages", no_arch.join("/")));
            }
            why.join("; ")
        },
        fix: (!fixes.is_empty()).then(|| fixes.join("; ")),
        required: false,
    }
}

/// Install what is missing: apt packages (root only) and binfmt registrations.
pub async fn setup(log: &mut dyn FnMut(&str)) -> Result<(), exec::ExecError> {
    if !is_root() {
        log(&format!(
            "not root: run `sudo apt-get install -y {}` or `sudo faasbed setup`",
            APT_PACKAGES.join(" ")
        ));
        return Ok(());
    }
    let missing: Vec<&str> = [
        ("golang-go", crate::build::go_binary().is_err()),
        (
            "qemu-user-static",
            qemu_user::find_qemu(Arch::Arm64).is_err()
                || qemu_user::find_qemu(Arch::Armhf).is_err(),
        ),
        ("binfmt-support", exec::which("update-binfmts").is_none()),
    ]
    .into_iter()
    .filter_map(|(p, m)| m.then_some(p))
    .collect();
    if !missing.is_empty() {
        log(&format!("installing {}", missing.join(" ")));
        let t = std::time::Duration::from_secs(900);
        exec::run(&Cmd::new("apt-get").args(["update", "-qq"]).timeout(t)).await?;
        exec::run(
            &Cmd::new("apt-get")
                .args(["install", "-y", "-qq", "--no-install-recommends"])
                .args(missing.iter().copied())
                .env("DEBIAN_FRONTEND", "noninteractive")
                .timeout(t),
        )
        .await?;
    }
    if !Path::new("/proc/sys/fs/binfmt_misc/status").exists() {
        log("mounting binfmt_misc");
        exec::run(&Cmd::new("mount").args([
            "-t",
            "binfmt_misc",
            "binfmt_misc",
            "/proc/sys/fs/binfmt_misc",
        ]))
        .await?;
    }
    if exec::which("update-binfmts").is_some() {
        for f in ["qemu-aarch64", "qemu-arm"] {
            if let Err(e) = exec::run(&Cmd::new("update-binfmts").args(["--enable", f])).await {
                log(&format!("warning: {e}"));
            }
        }
    }
    log("setup done; `faasbed doctor` shows the result");
    Ok(())
}
