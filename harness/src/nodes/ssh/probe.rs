//! What a host is, read before anything is installed on it: one POSIX shell script over SSH
//! prints `key=value` lines ([`SCRIPT`]), [`parse`] reads them into [`HostFacts`] and
//! [`check`] lists what stops a k3s node there. Everything the host does not tell stays
//! `None` and is shown as "unknown", never as an empty string.

use crate::spec::Arch;

/// The probe, run by `sh` on the host (busybox, dash and bash all run it). Every line is
/// `key=value`; a missing tool leaves its value empty.
pub const SCRIPT: &str = r#"
p() { printf '%s=%s\n' "$1" "$2"; }
p probe faasbed-1
p uname_m "$(uname -m)"
p dpkg_arch "$(dpkg --print-architecture 2>/dev/null)"
p kernel "$(uname -r)"
p os "$( (. /etc/os-release && printf '%s' "$PRETTY_NAME") 2>/dev/null)"
p cpus "$(nproc 2>/dev/null || grep -c ^processor /proc/cpuinfo)"
p mem_kib "$(awk '/^MemTotal:/{print $2}' /proc/meminfo)"
p cmdline "$(cat /proc/cmdline 2>/dev/null)"
p cgroup2 "$([ -f /sys/fs/cgroup/cgroup.controllers ] && echo yes || echo no)"
p cgroup2_controllers "$(cat /sys/fs/cgroup/cgroup.controllers 2>/dev/null)"
p memory_cgroup_v1 "$(awk '$1=="memory"{print $4}' /proc/cgroups 2>/dev/null)"
p disk_free_kib "$(df -Pk /var/lib 2>/dev/null | awk 'NR==2{print $4}')"
p model "$(tr -d '\000' < /proc/device-tree/model 2>/dev/null)"
p cpu_max_khz "$(cat /sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq 2>/dev/null)"
p cpu_cur_khz "$(cat /sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq 2>/dev/null)"
p throttled "$(vcgencmd get_throttled 2>/dev/null)"
p sd_name "$(cat /sys/block/mmcblk0/device/name 2>/dev/null)"
p sd_manfid "$(cat /sys/block/mmcblk0/device/manfid 2>/dev/null)"
p k3s "$(command -v k3s 2>/dev/null)"
p k3s_version "$(k3s --version 2>/dev/null | head -n 1)"
p k3s_unit "$(ls /etc/systemd/system/k3s*.service /etc/init.d/k3s* 2>/dev/null | tr '\n' ' ')"
p faasbed_state "$(sed -n 's/^run=//p' /var/lib/faasbed/installed 2>/dev/null)"
p clock_ns "$(date +%s%N)"
"#;

/// The remote line that runs the probe: [`SCRIPT`] goes on stdin, so the line stays short.
pub const REMOTE: &str = "sh -s";

/// Errors reading the probe's output.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// The output is not the probe's (a login banner, a shell that failed early, ...).
    #[error("node {node}: the host probe printed no `probe=faasbed-1` line; is the login shell a POSIX sh? first line seen: {first:?}")]
    NotAProbe { node: String, first: String },
    /// A value that must be a number is not.
    #[error("node {node}: probe line {line}: {key}={value:?} is not a number")]
    Number {
        node: String,
        line: usize,
        key: String,
        value: String,
    },
}

/// What a host told about itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct HostFacts {
    /// Userland architecture (dpkg's, else the kernel's machine name).
    pub arch: Option<Arch>,
    /// `uname -m` as printed.
    pub uname_m: Option<String>,
    /// Kernel release.
    pub kernel: Option<String>,
    /// `/etc/os-release` PRETTY_NAME.
    pub os: Option<String>,
    /// Online CPUs.
    pub cpus: Option<u32>,
    /// MemTotal, KiB.
    pub mem_kib: Option<u64>,
    /// Whether the memory cgroup controller is on (v1 `/proc/cgroups` or v2 controllers).
    pub memory_cgroup: Option<bool>,
    /// The kernel command line.
    pub cmdline: Option<String>,
    /// Free space under /var/lib, KiB.
    pub disk_free_kib: Option<u64>,
    /// Board model from the device tree (`Raspberry Pi 3 Model B Rev 1.2`).
    pub model: Option<String>,
    /// CPU0 maximum and current frequency, kHz.
    pub cpu_max_khz: Option<u64>,
    /// CPU0 current frequency, kHz.
    pub cpu_cur_khz: Option<u64>,
    /// `vcgencmd get_throttled` bits (0 = never throttled or under-volted).
    pub throttled: Option<u32>,
    /// SD card name and manufacturer id from the MMC device.
    pub sd_card: Option<String>,
    /// Path of an installed k3s binary, and its version line.
    pub k3s: Option<String>,
    /// `k3s --version` first line.
    pub k3s_version: Option<String>,
    /// k3s service files (systemd units, openrc scripts) found on the host.
    pub k3s_unit: Option<String>,
    /// The run whose k3s faasbed installed here and has not removed (`/var/lib/faasbed`).
    pub faasbed_run: Option<String>,
    /// The host's clock when the probe ran, unix ns.
    pub clock_ns: Option<u64>,
}

/// The architecture a userland name stands for (`dpkg --print-architecture` or `uname -m`).
pub fn arch_of(name: &str) -> Option<Arch> {
    match name {
        "amd64" | "x86_64" => Some(Arch::Amd64),
        "arm64" | "aarch64" => Some(Arch::Arm64),
        "armhf" | "armv7l" | "armv8l" => Some(Arch::Armhf),
        _ => None,
    }
}

/// Read the probe's stdout.
pub fn parse(node: &str, out: &str) -> Result<HostFacts, ProbeError> {
    if !out.lines().any(|l| l.trim_end() == "probe=faasbed-1") {
        return Err(ProbeError::NotAProbe {
            node: node.to_string(),
            first: out.lines().next().unwrap_or("").chars().take(120).collect(),
        });
    }
    let mut f = HostFacts::default();
    let (mut dpkg, mut v1_mem, mut v2, mut v2_ctl) = (None, None, None, None);
    let (mut sd_name, mut sd_manfid) = (None, None);
    for (i, line) in out.lines().enumerate() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim();
        if value.is_empty() {
            continue;
        }
        let num = |v: &str| -> Result<u64, ProbeError> {
            v.parse().map_err(|_| ProbeError::Number {
                node: node.to_string(),
                line: i + 1,
                key: key.to_string(),
                value: v.to_string(),
            })
        };
        let s = Some(value.to_string());
        match key {
            "uname_m" => f.uname_m = s,
            "dpkg_arch" => dpkg = s,
            "kernel" => f.kernel = s,
            "os" => f.os = s,
            "cpus" => f.cpus = Some(u32::try_from(num(value)?).unwrap_or(u32::MAX)),
            "mem_kib" => f.mem_kib = Some(num(value)?),
            "cmdline" => f.cmdline = s,
            "cgroup2" => v2 = Some(value == "yes"),
            "cgroup2_controllers" => v2_ctl = s,
            "memory_cgroup_v1" => v1_mem = Some(value == "1"),
            "disk_free_kib" => f.disk_free_kib = Some(num(value)?),
            "model" => f.model = s,
            "cpu_max_khz" => f.cpu_max_khz = Some(num(value)?),
            "cpu_cur_khz" => f.cpu_cur_khz = Some(num(value)?),
            "throttled" => {
                // `throttled=0x50005`
                let hex = value.rsplit('=').next().unwrap_or(value);
                f.throttled = u32::from_str_radix(hex.trim_start_matches("0x"), 16).ok();
            }
            "sd_name" => sd_name = s,
            "sd_manfid" => sd_manfid = s,
            "k3s" => f.k3s = s,
            "k3s_version" => f.k3s_version = s,
            "k3s_unit" => f.k3s_unit = s,
            "faasbed_state" => f.faasbed_run = s,
            "clock_ns" => f.clock_ns = Some(num(value)?),
            _ => {}
        }
    }
    f.arch = dpkg
        .as_deref()
        .and_then(arch_of)
        .or_else(|| f.uname_m.as_deref().and_then(arch_of));
    f.memory_cgroup = match v2 {
        Some(true) => Some(
            v2_ctl
                .as_deref()
                .is_some_and(|c| c.split_whitespace().any(|x| x == "memory")),
        ),
        _ => v1_mem,
    };
    f.sd_card = match (sd_name, sd_manfid) {
        (Some(n), Some(m)) => Some(format!("{n} (manfid {m})")),
        (Some(n), None) => Some(n),
        _ => None,
    };
    Ok(f)
}

/// Lowest memory k3s runs an agent in, KiB (k3s requirements: 512 MB).
pub const MIN_MEM_KIB: u64 = 512 * 1024;
/// Lowest free disk for the k3s binary, images and a function, KiB.
pub const MIN_DISK_KIB: u64 = 2 * 1024 * 1024;
/// Largest clock offset accepted, ns: k3s's certificates and join tokens need sane clocks.
pub const MAX_CLOCK_OFFSET_NS: i64 = 2_000_000_000;

/// Where the host's clock stands against ours: the probe's stamp minus the midpoint of the
/// ssh round trip `[sent_ns, back_ns]`, and half that round trip as the bound.
pub fn clock_offset(f: &HostFacts, sent_ns: u64, back_ns: u64) -> Option<(i64, u64)> {
    let host = i128::from(f.clock_ns?);
    let mid = (i128::from(sent_ns) + i128::from(back_ns)) / 2;
    let off = i64::try_from(host - mid).ok()?;
    Some((off, back_ns.saturating_sub(sent_ns) / 2))
}

/// What stops `facts` from serving as the node the scenario describes (empty: fit).
pub fn check(expected: Arch, f: &HostFacts, offset: Option<(i64, u64)>) -> Vec<String> {
    let mut p = Vec::new();
    match f.arch {
        None => p.push(format!(
            "its architecture is unknown (uname -m {:?}); faasbed knows amd64, arm64 and armhf",
            f.uname_m.as_deref().unwrap_or("unknown")
        )),
        Some(a) if a != expected => p.push(format!(
            "it is {} (uname -m {}), the scenario says {}; fix the node's arch",
            a.as_str(),
            f.uname_m.as_deref().unwrap_or("unknown"),
            expected.as_str()
        )),
        Some(_) => {}
    }
    if f.memory_cgroup == Some(false) {
        p.push("the memory cgroup is off, and k3s needs it; on a Raspberry Pi add `cgroup_memory=1 cgroup_enable=memory` to /boot/cmdline.txt (or /boot/firmware/cmdline.txt) and reboot".into());
    }
    if let Some(m) = f.mem_kib.filter(|m| *m < MIN_MEM_KIB) {
        p.push(format!("it has {} MiB of memory, k3s needs 512", m / 1024));
    }
    if let Some(d) = f.disk_free_kib.filter(|d| *d < MIN_DISK_KIB) {
        p.push(format!(
            "/var/lib has {} MiB free, faasbed needs 2048 for k3s and the images",
            d / 1024
        ));
    }
    if let Some((off, bound)) = offset {
        if off.unsigned_abs() > MAX_CLOCK_OFFSET_NS.unsigned_abs() + bound {
            p.push(format!(
                "its clock is {:+.1} s off ours (±{:.1} s); run an NTP client there (`timedatectl set-ntp true`)",
                off as f64 / 1e9,
                bound as f64 / 1e9
            ));
        }
    }
    p
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        let p = format!("{}/tests/fixtures/ssh/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
    }

    #[test]
    fn a_pi3_with_32_bit_userland_on_a_64_bit_kernel_is_armhf() {
        let f = parse("pi-01", &fixture("probe-pi3-armhf.txt")).unwrap();
        assert_eq!(f.arch, Some(Arch::Armhf));
        assert_eq!(f.uname_m.as_deref(), Some("aarch64"));
        assert_eq!(
            f.model.as_deref(),
            Some("Raspberry Pi 3 Model B Plus Rev 1.3")
        );
        assert_eq!(f.throttled, Some(0x50005));
        assert_eq!(f.memory_cgroup, Some(false));
        let problems = check(Arch::Armhf, &f, None);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("cgroup_memory=1"));
        let problems = check(Arch::Arm64, &f, None);
        assert!(
            problems.iter().any(|p| p.contains("it is armhf")),
            "{problems:?}"
        );
    }

    #[test]
    fn this_machine_probed_by_its_own_sh() {
        let out = crate::exec::run_blocking(&crate::exec::Cmd::new("sh").arg("-c").arg(SCRIPT))
            .unwrap()
            .stdout;
        let f = parse("self", &out).unwrap();
        assert!(
            f.arch.is_some() && f.kernel.is_some() && f.mem_kib.is_some(),
            "{f:?}"
        );
        assert!(f.clock_ns.is_some());
    }

    #[test]
    fn junk_is_refused_with_the_node_and_line() {
        let e = parse("vps-1", "Welcome to Ubuntu\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("vps-1") && e.contains("Welcome"), "{e}");
        let e = parse("vps-1", "probe=faasbed-1\nmem_kib=lots\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2") && e.contains("mem_kib"), "{e}");
    }

    #[test]
    fn clock_offsets_carry_their_bound() {
        let f = HostFacts {
            clock_ns: Some(10_000_000_000),
            ..HostFacts::default()
        };
        assert_eq!(
            clock_offset(&f, 5_000_000_000, 5_200_000_000),
            Some((4_900_000_000, 100_000_000))
        );
        let p = check(
            Arch::Amd64,
            &HostFacts {
                arch: Some(Arch::Amd64),
                ..f.clone()
            },
            clock_offset(&f, 5_000_000_000, 5_200_000_000),
        );
        assert!(p.iter().any(|x| x.contains("+4.9 s")), "{p:?}");
    }
}
