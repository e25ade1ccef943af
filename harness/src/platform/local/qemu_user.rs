//! The QEMU user-mode binaries that run an ARM node's processes (and calibration's and Python's
//! programs) on this host; binfmt is not needed.

use std::path::PathBuf;

use super::LocalError;
use crate::exec;
use crate::spec::Arch;

/// Candidate names of the QEMU user-mode binary for an arch, most preferred first.
pub fn qemu_names(arch: Arch) -> &'static [&'static str] {
    match arch {
        Arch::Arm64 => &["qemu-aarch64-static", "qemu-aarch64"],
        Arch::Armhf => &["qemu-arm-static", "qemu-arm"],
        Arch::Amd64 => &["qemu-x86_64-static", "qemu-x86_64"],
    }
}

/// Find the QEMU user-mode binary for `arch` (binfmt is not needed).
pub fn find_qemu(arch: Arch) -> Result<PathBuf, LocalError> {
    qemu_names(arch)
        .iter()
        .find_map(|n| exec::which(n))
        .ok_or(LocalError::NoQemu { arch })
}
