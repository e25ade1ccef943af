//! Node-class profiles (CPU quota, memory, QEMU CPU model, NIC) and the unit parsers they use.
//!
//! The shipped numbers are emulation parameters for a host CPU, not calibrated claims about
//! real boards; every report labels emulated results as such.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use super::Arch;

/// What a node of a class is given.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Profile {
    /// Profile name (the class).
    pub name: String,
    /// CPU quota in host cores (fractional).
    pub cpus: f64,
    /// Memory limit in bytes.
    pub memory_bytes: u64,
    /// QEMU `-cpu` for arm64 nodes.
    pub qemu_cpu: String,
    /// QEMU `-cpu` for armhf nodes (qemu-arm has no cortex-a53 model).
    pub qemu_cpu_armhf: String,
    /// NIC bandwidth in Mbit/s.
    pub nic_mbit: f64,
    /// Architecture a node of this class gets when it names none.
    pub default_arch: Arch,
    /// How a replica runs on a node of this class (local platform).
    pub runtime: super::ReplicaRuntime,
}

const MIB: u64 = 1024 * 1024;
const GIB: u64 = 1024 * MIB;

/// The shipped profiles: `vps`, `pi3`, `pi4`, `pi5`.
///
/// - vps: the thesis's cloud nodes (1 vCPU, 2 GB).
/// - pi3: Cortex-A53, 1 GB, 100 Mbit Ethernet; 32-bit Raspberry Pi OS as in the thesis.
/// - pi4: Cortex-A72, 4 GB, gigabit.
/// - pi5: Cortex-A76, 4 GB, gigabit.
pub fn default_profiles() -> BTreeMap<String, Profile> {
    let p = |name: &str, cpus, mem, cpu: &str, cpu32: &str, nic, arch| Profile {
        name: name.to_string(),
        cpus,
        memory_bytes: mem,
        qemu_cpu: cpu.to_string(),
        qemu_cpu_armhf: cpu32.to_string(),
        nic_mbit: nic,
        default_arch: arch,
        runtime: super::ReplicaRuntime::Process,
    };
    [
        p("vps", 1.0, 2 * GIB, "max", "max", 1000.0, Arch::Amd64),
        p(
            "pi3",
            0.5,
            GIB,
            "cortex-a53",
            "cortex-a7",
            100.0,
            Arch::Armhf,
        ),
        p(
            "pi4",
            1.0,
            4 * GIB,
            "cortex-a72",
            "cortex-a15",
            1000.0,
            Arch::Arm64,
        ),
        p(
            "pi5",
            1.0,
            4 * GIB,
            "cortex-a76",
            "cortex-a15",
            1000.0,
            Arch::Arm64,
        ),
    ]
    .into_iter()
    .map(|p| (p.name.clone(), p))
    .collect()
}

/// Parse a memory size: `"512MiB"`, `"1GiB"`, `"64Mi"`, `"1G"`, `"100M"`, `"1024"` (bytes).
pub fn parse_memory(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a size; write e.g. \"512MiB\" or \"1GiB\""))?;
    let mult: u64 = match unit.trim() {
        "" | "B" => 1,
        "K" | "k" | "KB" | "kB" => 1000,
        "Ki" | "KiB" => 1024,
        "M" | "MB" => 1_000_000,
        "Mi" | "MiB" => MIB,
        "G" | "GB" => 1_000_000_000,
        "Gi" | "GiB" => GIB,
        u => {
            return Err(format!(
                "{s:?}: unknown size unit {u:?}; use B, KiB, MiB, GiB (or Ki, Mi, Gi, K, M, G)"
            ))
        }
    };
    let bytes = n * mult as f64;
    if !(bytes.is_finite() && bytes >= 1.0 && bytes < u64::MAX as f64) {
        return Err(format!("{s:?} is not a usable size"));
    }
    Ok(bytes as u64)
}

/// Parse a Kubernetes CPU quantity: `"500m"` = 0.5 cores, `"1.5"` = 1.5 cores.
pub fn parse_cpu(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let v = match t.strip_suffix('m') {
        Some(m) => m.parse::<f64>().map(|x| x / 1000.0),
        None => t.parse::<f64>(),
    }
    .map_err(|_| format!("{s:?} is not a CPU quantity; write e.g. \"500m\" or \"1.5\""))?;
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(format!("{s:?}: a CPU quantity must be above 0"))
    }
}

/// Parse a duration: `"10s"`, `"250ms"`, `"1m 30s"`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim())
        .map_err(|e| format!("{s:?} is not a duration ({e}); write e.g. \"10s\" or \"250ms\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_memory("512MiB").unwrap(), 512 * MIB);
        assert_eq!(parse_memory("64Mi").unwrap(), 64 * MIB);
        assert_eq!(parse_memory("1G").unwrap(), 1_000_000_000);
        assert_eq!(parse_memory("1.5GiB").unwrap(), 3 * GIB / 2);
        assert_eq!(parse_memory("4096").unwrap(), 4096);
        assert!(parse_memory("lots").unwrap_err().contains("512MiB"));
        assert!(parse_memory("5 parsecs").unwrap_err().contains("unit"));
        assert!(parse_memory("0").is_err());
    }

    #[test]
    fn cpus() {
        assert_eq!(parse_cpu("500m").unwrap(), 0.5);
        assert_eq!(parse_cpu("2").unwrap(), 2.0);
        assert!(parse_cpu("0").is_err());
        assert!(parse_cpu("fast").is_err());
    }

    #[test]
    fn defaults_cover_the_named_classes() {
        let p = default_profiles();
        for c in ["vps", "pi3", "pi4", "pi5"] {
            assert!(p.contains_key(c), "{c}");
        }
        assert_eq!(p["pi3"].default_arch, Arch::Armhf);
        assert_eq!(p["pi4"].qemu_cpu, "cortex-a72");
    }
}
