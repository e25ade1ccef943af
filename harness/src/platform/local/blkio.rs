//! SD-card-like storage of Pi-class nodes: the device's published read/write bytes/s and IOPS
//! set on the block device backing the run's files, in the node's group (cgroup v1
//! `blkio.throttle.*_device` in a `blkio` group replicas join, v2 `io.max` in the node's group).
//! Where it cannot be set, the node runs unthrottled and the record says why.

use std::path::{Path, PathBuf};

use super::cgroup::{self, Hierarchy, NodeCgroup};
use crate::calibrate::storage::{backing_device, Limits};

/// The cgroup files and the line each gets to set `l` on device `major:minor`: v1 one
/// `blkio.throttle.*_device` file per published limit, v2 one `io.max` line (a key left out
/// stays unlimited). Empty when nothing is published.
pub fn lines(v2: bool, (major, minor): (u64, u64), l: &Limits) -> Vec<(&'static str, String)> {
    let keys = [
        ("rbps", "blkio.throttle.read_bps_device", l.read_bps),
        ("wbps", "blkio.throttle.write_bps_device", l.write_bps),
        ("riops", "blkio.throttle.read_iops_device", l.read_iops),
        ("wiops", "blkio.throttle.write_iops_device", l.write_iops),
    ];
    if v2 {
        let set: Vec<String> = keys
            .iter()
            .filter_map(|(k, _, v)| v.map(|v| format!("{k}={v}")))
            .collect();
        if set.is_empty() {
            return Vec::new();
        }
        return vec![("io.max", format!("{major}:{minor} {}", set.join(" ")))];
    }
    keys.iter()
        .filter_map(|(_, f, v)| v.map(|v| (*f, format!("{major}:{minor} {v}"))))
        .collect()
}

/// faasbed's own group in the v1 `blkio` hierarchy, from `/proc/self/cgroup` and mountinfo.
pub fn blkio_base(proc_cgroup: &str, mountinfo: &str) -> Option<PathBuf> {
    let path = proc_cgroup.lines().find_map(|l| {
        let mut it = l.splitn(3, ':');
        let (_, ctrls, path) = (it.next()?, it.next()?, it.next()?);
        ctrls.split(',').any(|c| c == "blkio").then_some(path)
    })?;
    let mount = cgroup::mount_of(mountinfo, "cgroup", "blkio")?;
    Some(mount.join(path.trim_start_matches('/')))
}

/// A node's v1 blkio group (removed on drop once empty); replicas join its `cgroup.procs`.
#[derive(Debug)]
pub struct IoGroup {
    dir: PathBuf,
}

impl IoGroup {
    /// The `cgroup.procs` file a replica joins.
    pub fn procs(&self) -> PathBuf {
        self.dir.join("cgroup.procs")
    }
}

impl Drop for IoGroup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// Set `l` for the device under `files` on node group `name`: v1 in a new blkio group, v2 in
/// the node's own group `node`. Returns the v1 group and either what was set or why not.
pub fn apply(
    h: Option<&Hierarchy>,
    node: Option<&NodeCgroup>,
    name: &str,
    files: &Path,
    l: &Limits,
) -> (Option<IoGroup>, Result<String, String>) {
    let dev = match backing_device(files) {
        Ok(d) => d,
        Err(e) => return (None, Err(e)),
    };
    let v2 = matches!(h, Some(Hierarchy::V2 { .. }));
    let set = lines(v2, dev, l);
    if set.is_empty() {
        return (None, Err("the device publishes no storage limit".into()));
    }
    let said = set
        .iter()
        .map(|(f, v)| format!("{f} = {v}"))
        .collect::<Vec<_>>()
        .join("; ");
    let write = |dir: &Path| -> Result<(), String> {
        for (f, v) in &set {
            let p = dir.join(f);
            std::fs::write(&p, v)
                .map_err(|e| format!("cannot write {v:?} to {}: {e}", p.display()))?;
        }
        Ok(())
    };
    match h {
        None => (None, Err("no cgroup hierarchy".into())),
        Some(Hierarchy::V2 { base }) => {
            let Some(Hierarchy::V2 { base: dir }) = node.map(NodeCgroup::nested) else {
                return (None, Err("the node has no cgroup v2 group".into()));
            };
            // The io controller must be enabled in the parent for `io.max` to exist.
            let _ = std::fs::write(base.join("cgroup.subtree_control"), "+io");
            (None, write(dir).map(|()| said))
        }
        Some(Hierarchy::V1 { .. }) => {
            let proc_cgroup = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
            let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
            let Some(base) = blkio_base(&proc_cgroup, &mountinfo) else {
                return (None, Err("no cgroup v1 blkio controller mounted".into()));
            };
            let dir = base.join(name);
            if let Err(e) = std::fs::create_dir_all(&dir) {
                return (None, Err(format!("cannot create {}: {e}", dir.display())));
            }
            let g = IoGroup { dir };
            match write(&g.dir) {
                Ok(()) => (Some(g), Ok(said)),
                Err(e) => (None, Err(e)),
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    const PI3: Limits = Limits {
        read_bps: Some(23_400_000),
        write_bps: Some(22_500_000),
        read_iops: None,
        write_iops: Some(500),
    };

    #[test]
    fn v1_writes_one_throttle_file_per_published_limit() {
        assert_eq!(
            lines(false, (254, 0), &PI3),
            [
                (
                    "blkio.throttle.read_bps_device",
                    "254:0 23400000".to_string()
                ),
                (
                    "blkio.throttle.write_bps_device",
                    "254:0 22500000".to_string()
                ),
                ("blkio.throttle.write_iops_device", "254:0 500".to_string()),
            ]
        );
    }

    #[test]
    fn v2_writes_one_io_max_line_without_unpublished_keys() {
        assert_eq!(
            lines(true, (8, 16), &PI3),
            [(
                "io.max",
                "8:16 rbps=23400000 wbps=22500000 wiops=500".to_string()
            )]
        );
        assert!(lines(true, (8, 16), &Limits::default()).is_empty());
        assert!(lines(false, (8, 16), &Limits::default()).is_empty());
    }

    #[test]
    fn blkio_base_from_proc_and_mountinfo() {
        let mounts = "38 31 0:35 / /sys/fs/cgroup/blkio rw - cgroup cgroup rw,blkio\n";
        assert_eq!(
            blkio_base("7:blkio:/a/b\n1:cpu:/\n", mounts),
            Some(PathBuf::from("/sys/fs/cgroup/blkio/a/b"))
        );
        assert_eq!(blkio_base("1:cpu:/\n", mounts), None);
    }
}
