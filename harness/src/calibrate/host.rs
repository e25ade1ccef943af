//! The facts of this host that emulation speed depends on (CPU model, QEMU version, kernel),
//! read fresh for every run that applies a calibration.

use super::parse;
use super::store::HostFacts;
use crate::exec::{self, Cmd};
use crate::platform::local::qemu_user::find_qemu;
use crate::spec::Arch;

/// Read the host facts. A fact that cannot be read is `unknown: <why>`, which never equals a
/// stored fact, so a calibration never applies on a host that cannot be identified.
pub async fn facts() -> HostFacts {
    let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| parse::cpu_model(&t))
        .unwrap_or_else(|| "unknown: no `model name` in /proc/cpuinfo".into());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|e| format!("unknown: /proc/sys/kernel/osrelease: {e}"));
    let qemu_version = match find_qemu(Arch::Arm64) {
        Ok(q) => match exec::run(&Cmd::new(&q).arg("--version")).await {
            Ok(o) => parse::qemu_version(&o.stdout).unwrap_or_else(|e| format!("unknown: {e}")),
            Err(e) => format!("unknown: {e}"),
        },
        Err(e) => format!("unknown: {e}"),
    };
    HostFacts {
        cpu_model,
        qemu_version,
        kernel,
    }
}
