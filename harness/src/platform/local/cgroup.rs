//! Per-node CPU quota and memory limit through cgroups, v1 (cpu, memory) or v2 (cpu.max, memory.max).
//!
//! Each node gets a child group `faasbed-<run>-<node>` under the cgroup faasbed itself is in.
//! Where a limit cannot be set (not root, no controller), the node still runs and the
//! [`Enforcement`] record says so, with the reason.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Which cgroup hierarchy the host has, and where faasbed's own groups are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hierarchy {
    /// cgroup v1: separate cpu and memory hierarchies (our own group in each).
    V1 {
        /// faasbed's cgroup in the cpu hierarchy.
        cpu: Option<PathBuf>,
        /// faasbed's cgroup in the memory hierarchy.
        memory: Option<PathBuf>,
    },
    /// cgroup v2: one unified hierarchy.
    V2 {
        /// faasbed's own cgroup.
        base: PathBuf,
    },
}

/// What was enforced for a node, recorded in provenance.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Enforcement {
    /// `"v1"`, `"v2"` or `"none"`.
    pub cgroup: String,
    /// CPU quota applied.
    pub cpu: bool,
    /// Memory limit applied.
    pub memory: bool,
    /// SD-card-like I/O limits applied (`None`: the node's class has none to apply).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<bool>,
    /// Why something was not applied.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// A node's (or a replica's) cgroup(s); removed on drop once empty.
#[derive(Debug)]
pub struct NodeCgroup {
    dirs: Vec<PathBuf>,
    procs: Vec<PathBuf>,
    nested: Hierarchy,
}

impl NodeCgroup {
    /// The hierarchy rooted at this group, to create groups inside it (per-replica limits).
    pub fn nested(&self) -> &Hierarchy {
        &self.nested
    }
    /// `cgroup.procs` files a replica must join (one per hierarchy).
    pub fn procs_files(&self) -> &[PathBuf] {
        &self.procs
    }
    /// Remove the groups (they must be empty). Errors are ignored: `faasbed clean` sweeps.
    pub fn remove(&self) {
        for d in self.dirs.iter().rev() {
            let _ = std::fs::remove_dir(d);
        }
    }
}

impl Drop for NodeCgroup {
    fn drop(&mut self) {
        self.remove();
    }
}

/// Parse `/proc/self/cgroup` and `/proc/self/mountinfo` into the hierarchy faasbed is in.
pub fn parse_hierarchy(proc_cgroup: &str, mountinfo: &str) -> Option<Hierarchy> {
    let mut v1_cpu = None;
    let mut v1_mem = None;
    let mut v2_path = None;
    for line in proc_cgroup.lines() {
        let mut it = line.splitn(3, ':');
        let (Some(_id), Some(ctrls), Some(path)) = (it.next(), it.next(), it.next()) else {
            continue;
        };
        if ctrls.is_empty() {
            v2_path = Some(path.to_string());
            continue;
        }
        let set: Vec<&str> = ctrls.split(',').collect();
        if set.contains(&"cpu") {
            v1_cpu = mount_of(mountinfo, "cgroup", "cpu").map(|m| join(&m, path));
        }
        if set.contains(&"memory") {
            v1_mem = mount_of(mountinfo, "cgroup", "memory").map(|m| join(&m, path));
        }
    }
    if v1_cpu.is_some() || v1_mem.is_some() {
        return Some(Hierarchy::V1 {
            cpu: v1_cpu,
            memory: v1_mem,
        });
    }
    let path = v2_path?;
    let mount = mount_of(mountinfo, "cgroup2", "")?;
    Some(Hierarchy::V2 {
        base: join(&mount, &path),
    })
}

fn join(mount: &Path, path: &str) -> PathBuf {
    mount.join(path.trim_start_matches('/'))
}

/// Mount point of a cgroup filesystem of `fstype` whose super options include `controller`.
pub(super) fn mount_of(mountinfo: &str, fstype: &str, controller: &str) -> Option<PathBuf> {
    mountinfo.lines().find_map(|l| {
        let (pre, post) = l.split_once(" - ")?;
        let mut post = post.split_whitespace();
        let fs = post.next()?;
        let _src = post.next()?;
        let opts = post.next().unwrap_or("");
        let mount = pre.split_whitespace().nth(4)?;
        (fs == fstype && (controller.is_empty() || opts.split(',').any(|o| o == controller)))
            .then(|| PathBuf::from(mount))
    })
}

/// Detect the host's hierarchy from `/proc/self`.
pub fn detect() -> Option<Hierarchy> {
    let c = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let m = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    parse_hierarchy(&c, &m)
}

const PERIOD_US: u64 = 100_000;

/// Create `name` with a CPU quota of `cpus` host cores and a memory limit of `memory_bytes`;
/// a limit that is `None` is left unset (and not reported as enforced).
pub fn create(
    h: Option<&Hierarchy>,
    name: &str,
    cpus: Option<f64>,
    memory_bytes: Option<u64>,
) -> (Option<NodeCgroup>, Enforcement) {
    let mut e = Enforcement {
        cgroup: "none".into(),
        ..Default::default()
    };
    let quota = cpus.map(|c| ((c * PERIOD_US as f64).round() as u64).max(1000));
    let mut cg = NodeCgroup {
        dirs: Vec::new(),
        procs: Vec::new(),
        nested: Hierarchy::V1 {
            cpu: None,
            memory: None,
        },
    };
    match h {
        None => e
            .notes
            .push("no cgroup hierarchy found in /proc/self/cgroup".into()),
        Some(Hierarchy::V1 { cpu, memory }) => {
            e.cgroup = "v1".into();
            let mut one =
                |base: &Option<PathBuf>, what: &str, files: &[(&str, String)]| -> Option<PathBuf> {
                    let Some(base) = base else {
                        e.notes.push(format!("no v1 {what} controller"));
                        return None;
                    };
                    let dir = base.join(name);
                    match setup_dir(&dir, files) {
                        Ok(()) => {
                            cg.procs.push(dir.join("cgroup.procs"));
                            cg.dirs.push(dir.clone());
                            Some(dir)
                        }
                        Err(m) => {
                            e.notes.push(format!("{what}: {m}"));
                            let _ = std::fs::remove_dir(&dir);
                            None
                        }
                    }
                };
            let cpu_dir = quota.and_then(|q| {
                one(
                    cpu,
                    "cpu",
                    &[
                        ("cpu.cfs_period_us", PERIOD_US.to_string()),
                        ("cpu.cfs_quota_us", q.to_string()),
                    ],
                )
            });
            let mem_dir = memory_bytes.and_then(|m| {
                one(
                    memory,
                    "memory",
                    &[("memory.limit_in_bytes", m.to_string())],
                )
            });
            e.cpu = cpu_dir.is_some();
            e.memory = mem_dir.is_some();
            cg.nested = Hierarchy::V1 {
                cpu: cpu_dir,
                memory: mem_dir,
            };
        }
        Some(Hierarchy::V2 { base }) => {
            e.cgroup = "v2".into();
            // Controllers must be enabled in the parent for the child to have the files.
            let _ = std::fs::write(base.join("cgroup.subtree_control"), "+cpu +memory");
            let dir = base.join(name);
            if let Err(err) = std::fs::create_dir_all(&dir) {
                e.notes
                    .push(format!("cannot create {}: {err}", dir.display()));
            } else {
                e.cpu = quota.is_some_and(|q| {
                    write(&dir, "cpu.max", &format!("{q} {PERIOD_US}"))
                        .map_err(|m| e.notes.push(m))
                        .is_ok()
                });
                e.memory = memory_bytes.is_some_and(|m| {
                    write(&dir, "memory.max", &m.to_string())
                        .map_err(|m| e.notes.push(m))
                        .is_ok()
                });
                cg.procs.push(dir.join("cgroup.procs"));
                cg.nested = Hierarchy::V2 { base: dir.clone() };
                cg.dirs.push(dir);
            }
        }
    }
    if cg.dirs.is_empty() {
        (None, e)
    } else {
        (Some(cg), e)
    }
}

fn setup_dir(dir: &Path, files: &[(&str, String)]) -> Result<(), String> {
    std::fs::create_dir_all(dir)
        .map_err(|err| format!("cannot create {}: {err}", dir.display()))?;
    for (f, v) in files {
        write(dir, f, v)?;
    }
    Ok(())
}

fn write(dir: &Path, file: &str, value: &str) -> Result<(), String> {
    let p = dir.join(file);
    std::fs::write(&p, value)
        .map_err(|err| format!("cannot write {value:?} to {}: {err}", p.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1_CGROUP: &str =
        "9:name=systemd:/\n4:memory:/process_api/abc\n2:cpuacct:/\n1:cpu:/\n0::/\n";
    const V1_MOUNTS: &str = "\
30 25 0:26 / /sys/fs/cgroup/cpu rw,nosuid - cgroup cgroup rw,cpu\n\
31 25 0:27 / /sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory\n\
32 25 0:28 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n";

    #[test]
    fn v1_hybrid_prefers_v1_controllers() {
        let h = parse_hierarchy(V1_CGROUP, V1_MOUNTS).unwrap();
        assert_eq!(
            h,
            Hierarchy::V1 {
                cpu: Some("/sys/fs/cgroup/cpu".into()),
                memory: Some("/sys/fs/cgroup/memory/process_api/abc".into()),
            }
        );
    }

    #[test]
    fn v2_unified() {
        let h = parse_hierarchy(
            "0::/user.slice/session-1.scope\n",
            "40 30 0:35 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n",
        )
        .unwrap();
        assert_eq!(
            h,
            Hierarchy::V2 {
                base: "/sys/fs/cgroup/user.slice/session-1.scope".into()
            }
        );
    }

    #[test]
    fn nothing_mounted_is_none() {
        assert_eq!(parse_hierarchy("", ""), None);
    }

    #[test]
    fn unwritable_hierarchy_is_recorded_not_fatal() {
        let h = Hierarchy::V1 {
            cpu: Some("/proc/definitely/not/a/cgroup".into()),
            memory: None,
        };
        let (cg, e) = create(Some(&h), "faasbed-test-x", Some(0.5), Some(1 << 20));
        assert!(cg.is_none());
        assert!(!e.cpu && !e.memory);
        assert_eq!(e.notes.len(), 2, "{:?}", e.notes);
    }
}
