//! SD-card-like storage for a class: the device's published limits (sequential MB/s, 4 KiB
//! IOPS) and whether this host could throttle the replica's files with them (the files' block
//! device, the blkio / io controller); recorded in `calibration.json` as enforced or not.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::reference::Reference;
use super::store::Enforced;

/// The limits a device's published figures give, bytes/s and IOPS (`None`: not published).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Limits {
    /// Sequential read, bytes/s.
    pub read_bps: Option<u64>,
    /// Sequential write, bytes/s.
    pub write_bps: Option<u64>,
    /// 4 KiB random read, IOPS.
    pub read_iops: Option<u64>,
    /// 4 KiB random write, IOPS.
    pub write_iops: Option<u64>,
}

/// The device's limits from the reference figures: the first `sd-seq` read / write in MB/s and
/// the first `sd-random-4k` read / write in IOPS (MB/s figures are converted at 4 KiB).
pub fn limits(reference: &Reference, device: &str) -> Limits {
    let find = |program: &str, word: &str| {
        reference
            .figures
            .iter()
            .find(|f| f.device == device && f.program == program && f.metric.contains(word))
    };
    let bps = |f: Option<&super::reference::Figure>| {
        f.filter(|f| f.unit.starts_with("MB/s"))
            .map(|f| (f.value * 1e6) as u64)
    };
    let iops = |f: Option<&super::reference::Figure>| {
        f.map(|f| {
            if f.unit.starts_with("MB/s") {
                (f.value * 1e6 / 4096.0) as u64
            } else {
                f.value as u64
            }
        })
    };
    Limits {
        read_bps: bps(find("sd-seq", "read")),
        write_bps: bps(find("sd-seq", "write")),
        read_iops: iops(find("sd-random-4k", "read")),
        write_iops: iops(find("sd-random-4k", "write")),
    }
}

/// The block device (`major`, `minor`) holding `files`; an error says why there is none.
pub fn backing_device(files: &Path) -> Result<(u64, u64), String> {
    let m = std::fs::metadata(files).map_err(|e| format!("{}: {e}", files.display()))?;
    let (major, minor) = (libc::major(m.dev()) as u64, libc::minor(m.dev()) as u64);
    if Path::new(&format!("/sys/dev/block/{major}:{minor}")).exists() {
        Ok((major, minor))
    } else {
        Err(format!(
            "{} is on {major}:{minor}, not a block device (overlay, tmpfs, ...), so no blkio/io.max rule can name it",
            files.display()
        ))
    }
}

/// Which I/O controller the host has: from `/proc/self/cgroup` text, `blkio` (v1) or `io` (v2,
/// when `cgroup.controllers` lists it).
pub fn io_controller(proc_cgroup: &str, v2_controllers: &str) -> Option<&'static str> {
    if proc_cgroup.lines().any(|l| {
        l.split(':')
            .nth(1)
            .is_some_and(|c| c.split(',').any(|c| c == "blkio"))
    }) {
        return Some("blkio (v1)");
    }
    v2_controllers
        .split_whitespace()
        .any(|c| c == "io")
        .then_some("io (v2)")
}

/// The storage record of a class whose replica files live under `files`.
pub fn record(reference: &Reference, device: Option<&str>, files: &Path) -> Enforced {
    let Some(d) = device else {
        return Enforced {
            enforced: false,
            detail: "no reference device".into(),
        };
    };
    let l = limits(reference, d);
    let mb = |b: Option<u64>| {
        b.map_or_else(
            || "n/p".to_string(),
            |b| format!("{:.1} MB/s", b as f64 / 1e6),
        )
    };
    let io = |b: Option<u64>| b.map_or_else(|| "n/p".to_string(), |b| format!("{b} IOPS"));
    let wanted = format!(
        "device limits: seq read {}, seq write {}, 4K read {}, 4K write {} (n/p: not published)",
        mb(l.read_bps),
        mb(l.write_bps),
        io(l.read_iops),
        io(l.write_iops)
    );
    let backing = backing_device(files);
    let ctl = io_controller(
        &std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default(),
        &std::fs::read_to_string("/sys/fs/cgroup/cgroup.controllers").unwrap_or_default(),
    );
    // SAFETY: geteuid has no preconditions and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    let published = l != Limits::default();
    let why_not = match (&backing, ctl) {
        _ if !d.starts_with("pi") => Some("only Pi classes get SD-card limits".to_string()),
        _ if !published => Some("the device publishes no storage limit".to_string()),
        (Err(e), _) => Some(e.clone()),
        (_, None) => Some("no blkio/io controller".to_string()),
        _ if !root => Some("not root, so the cgroup files cannot be written".to_string()),
        _ => None,
    };
    match why_not {
        Some(why) => Enforced {
            enforced: false,
            detail: format!("not enforced: {why}; {wanted}"),
        },
        None => Enforced {
            enforced: true,
            detail: format!(
                "enforced on local runs: {} on block device {}:{} of {} (the page cache is not throttled: cgroup v1 blkio limits direct and sync I/O only); each node's provenance says whether it was set; {wanted}",
                ctl.unwrap_or_default(),
                backing.as_ref().map_or(0, |d| d.0),
                backing.as_ref().map_or(0, |d| d.1),
                files.display()
            ),
        },
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    #[test]
    fn device_limits_from_the_shipped_figures() {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../profiles/reference-devices.toml");
        let r = super::super::reference::load(&p).unwrap();
        let pi3 = limits(&r, "pi3bplus");
        assert_eq!(pi3.read_bps, Some(23_400_000));
        assert_eq!(pi3.write_bps, Some(22_500_000));
        assert_eq!(pi3.read_iops, None, "no Pi 3 4K figure is published");
        let pi4 = limits(&r, "pi4b");
        assert_eq!(pi4.read_iops, Some((10.8e6 / 4096.0) as u64));
        let rec = record(&r, Some("pi3bplus"), Path::new("/proc"));
        assert!(
            !rec.enforced
                && rec.detail.contains("not a block device")
                && rec.detail.contains("23.4 MB/s"),
            "{}",
            rec.detail
        );
        let vps = record(&r, Some("vps-1vcpu"), Path::new("/"));
        assert!(
            !vps.enforced && vps.detail.contains("only Pi"),
            "{}",
            vps.detail
        );
    }

    #[test]
    fn controllers() {
        assert_eq!(
            io_controller("7:blkio:/\n4:cpu,cpuacct:/\n", ""),
            Some("blkio (v1)")
        );
        assert_eq!(
            io_controller("0::/user.slice\n", "cpuset cpu io memory pids"),
            Some("io (v2)")
        );
        assert_eq!(io_controller("0::/\n", "cpu memory"), None);
    }
}
