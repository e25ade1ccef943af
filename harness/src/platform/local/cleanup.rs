//! Ending what runs left behind: the labelled processes and the cgroups of one run, of every run
//! of one faasbed home, or of every run on the machine (`faasbed clean --all`).
//!
//! A process belongs to a home when its `FAASBED_HOME` label is that home, or its run id is one
//! of the home's run directories (`<home>/runs/<run-id>`, the home's registry of runs). A cgroup
//! `faasbed-<run-id>-<node>` belongs to the home of its run id. A cgroup is removed only once its
//! `cgroup.procs` is empty (a named condition with a deadline), and its removal is retried until
//! that deadline; what could not be removed is reported with the reason, never claimed.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::cgroup::{self, Hierarchy};
use crate::exec::{self, Labelled};

/// How long a sweep waits for killed processes to leave their cgroups and the cgroups to go.
pub const SWEEP_DEADLINE: Duration = Duration::from_secs(10);

/// What a sweep covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// One run id.
    Run(String),
    /// Every run of one faasbed home (its root directory).
    Home(PathBuf),
    /// Every faasbed run on the machine.
    All,
}

/// A cgroup that could not be removed, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leftover {
    /// The cgroup directory.
    pub path: PathBuf,
    /// Why it is still there.
    pub reason: String,
}

/// What a sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Processes sent SIGKILL.
    pub processes: usize,
    /// Cgroup directories removed (nested per-function groups included).
    pub cgroups: usize,
    /// Cgroups still there, with the reason.
    pub left: Vec<Leftover>,
}

impl Scope {
    /// The home's scope, by its absolute path when it can be found.
    pub fn home(root: &Path) -> Scope {
        Scope::Home(absolute(root))
    }

    /// Run ids in scope (`None`: every run).
    pub fn run_ids(&self) -> Option<BTreeSet<String>> {
        match self {
            Scope::Run(r) => Some([r.clone()].into()),
            Scope::Home(root) => Some(
                std::fs::read_dir(root.join("runs"))
                    .into_iter()
                    .flatten()
                    .flatten()
                    .filter(|e| e.path().is_dir())
                    .filter_map(|e| e.file_name().into_string().ok())
                    .collect(),
            ),
            Scope::All => None,
        }
    }

    /// Does this labelled process belong to the scope? (`runs` from [`Scope::run_ids`].)
    pub fn owns_process(&self, l: &Labelled, runs: Option<&BTreeSet<String>>) -> bool {
        let by_run = runs.is_none_or(|r| r.contains(&l.run_id));
        match self {
            Scope::Home(root) => by_run || l.home.as_deref().is_some_and(|h| absolute(h) == *root),
            _ => by_run,
        }
    }

    /// Does the top-level cgroup `name` belong to the scope?
    pub fn owns_cgroup(name: &str, runs: Option<&BTreeSet<String>>) -> bool {
        let Some(rest) = name.strip_prefix("faasbed-") else {
            return false;
        };
        runs.is_none_or(|r| {
            r.iter().any(|id| {
                rest.strip_prefix(id.as_str())
                    .is_some_and(|t| t.starts_with('-'))
            })
        })
    }
}

fn absolute(p: &Path) -> PathBuf {
    std::fs::canonicalize(p)
        .or_else(|_| std::path::absolute(p))
        .unwrap_or_else(|_| p.to_path_buf())
}

/// Poll `cond` until it holds or `deadline` passes; true when it held.
pub fn wait_until(deadline: Instant, mut cond: impl FnMut() -> bool) -> bool {
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Kill every process of `scope` and remove its cgroups.
pub fn sweep(scope: &Scope) -> SweepReport {
    let runs = scope.run_ids();
    let pids: Vec<u32> = exec::labelled()
        .into_iter()
        .filter(|l| scope.owns_process(l, runs.as_ref()))
        .map(|l| l.pid)
        .collect();
    for pid in &pids {
        kill(*pid);
    }
    let deadline = Instant::now() + SWEEP_DEADLINE;
    // Condition: every killed process has exited (a zombie has; its cgroup check follows).
    wait_until(deadline, || !pids.iter().any(|p| exec::pid_alive(*p)));
    let mut report = SweepReport {
        processes: pids.len(),
        ..SweepReport::default()
    };
    for base in bases(cgroup::detect().as_ref()) {
        let Ok(rd) = std::fs::read_dir(&base) else {
            continue;
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if e.path().is_dir() && Scope::owns_cgroup(&name, runs.as_ref()) {
                remove_tree(&e.path(), deadline, &mut report);
            }
        }
    }
    report
}

/// TAP devices (`fb-*`) of QEMU VM nodes in scope: every one with `runs` = `None`, else those
/// named for a VM node of one of `runs` (its folder `<runs_dir>/<run>/nodes/<node>`).
pub fn leftover_taps(runs: Option<&BTreeSet<String>>, runs_dir: &Path) -> Vec<String> {
    use crate::nodes::qemu::net;
    let all = net::leftover_taps(Path::new("/sys/class/net"));
    let Some(runs) = runs else {
        return all;
    };
    let ours: BTreeSet<String> = runs
        .iter()
        .flat_map(|r| {
            std::fs::read_dir(runs_dir.join(r).join("nodes"))
                .into_iter()
                .flatten()
                .flatten()
                .filter_map(|e| e.file_name().into_string().ok())
        })
        .map(|node| net::tap_name(&node))
        .collect();
    all.into_iter().filter(|t| ours.contains(t)).collect()
}

/// The directories faasbed's node groups are created in.
pub fn bases(h: Option<&Hierarchy>) -> Vec<PathBuf> {
    match h {
        Some(Hierarchy::V1 { cpu, memory }) => {
            // Pi nodes' SD-card limits live in the blkio hierarchy (`blkio.rs`).
            let blkio = super::blkio::blkio_base(
                &std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default(),
                &std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default(),
            );
            cpu.iter()
                .chain(memory.iter())
                .chain(blkio.iter())
                .cloned()
                .collect()
        }
        Some(Hierarchy::V2 { base }) => vec![base.clone()],
        None => vec![],
    }
}

fn kill(pid: u32) {
    if let Ok(p) = i32::try_from(pid) {
        // SAFETY: kill has no memory-safety preconditions.
        unsafe {
            libc::kill(p, libc::SIGKILL);
        }
    }
}

/// Pids listed in a cgroup's `cgroup.procs` (empty when it cannot be read).
pub fn cgroup_procs(dir: &Path) -> Vec<u32> {
    std::fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|s| s.parse().ok())
        .collect()
}

/// Remove `dir` and the groups nested in it, deepest first: wait until each holds no process
/// (killing any it still lists: only a run's processes are in its groups), then retry `rmdir`
/// until it succeeds or `deadline` passes.
fn remove_tree(dir: &Path, deadline: Instant, report: &mut SweepReport) {
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                remove_tree(&e.path(), deadline, report);
            }
        }
    }
    // Condition: the group's procs are really gone.
    let empty = wait_until(deadline, || {
        let procs = cgroup_procs(dir);
        procs.iter().for_each(|p| kill(*p));
        procs.is_empty()
    });
    if !empty {
        let procs = cgroup_procs(dir);
        report.left.push(Leftover {
            path: dir.to_path_buf(),
            reason: format!(
                "still holds process(es) {} after SIGKILL; see `ps -o pid,stat,ppid,cmd -p {}`",
                join(&procs),
                join(&procs)
            ),
        });
        return;
    }
    let (mut last, mut removed) = (None, false);
    let gone = wait_until(deadline, || match std::fs::remove_dir(dir) {
        Ok(()) => {
            removed = true;
            true
        }
        // removed by someone else meanwhile: gone, but not counted as ours
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
        Err(e) => {
            last = Some(e);
            false
        }
    });
    if gone {
        report.cgroups += usize::from(removed);
    } else {
        report.left.push(Leftover {
            path: dir.to_path_buf(),
            reason: format!(
                "rmdir failed until the deadline: {}",
                last.map_or_else(|| "unknown error".to_string(), |e| e.to_string())
            ),
        });
    }
}

fn join(pids: &[u32]) -> String {
    pids.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// After [`sweep`] ended a run's processes: remove the containers, snapshots, network
/// namespaces and bridges of every run under `runs_dir` in `runs` (every run there when `None`)
/// whose own containerd was not taken down ([`crate::nodes::containerd::sweep_run`]). Returns
/// the containers removed and, per run that failed, why.
pub async fn sweep_containers(
    runs_dir: &Path,
    runs: Option<&BTreeSet<String>>,
) -> (usize, Vec<String>) {
    let mut removed = 0;
    let mut failed = Vec::new();
    let dirs = std::fs::read_dir(runs_dir).into_iter().flatten().flatten();
    for e in dirs {
        let Ok(run_id) = e.file_name().into_string() else {
            continue;
        };
        if runs.is_some_and(|r| !r.contains(&run_id)) {
            continue;
        }
        match crate::nodes::containerd::sweep_run(&e.path(), &run_id).await {
            Ok(n) => removed += n,
            Err(err) => failed.push(format!("containers of run {run_id}: {}", chain(&err))),
        }
    }
    (removed, failed)
}

/// An error and each of its causes, once.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        s.push_str(&format!(": {c}"));
        cause = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroups_belong_to_the_runs_of_their_name() {
        let runs: BTreeSet<String> = ["20260101-000000-ab12".to_string()].into();
        let r = Some(&runs);
        assert!(Scope::owns_cgroup("faasbed-20260101-000000-ab12-vps-1", r));
        assert!(!Scope::owns_cgroup("faasbed-20260101-000000-ab13-vps-1", r));
        // a run id that is a prefix of another's is no match
        assert!(!Scope::owns_cgroup(
            "faasbed-20260101-000000-ab123-vps-1",
            r
        ));
        assert!(!Scope::owns_cgroup("user.slice", None));
        assert!(Scope::owns_cgroup("faasbed-anything", None));
    }

    #[test]
    fn a_home_owns_its_runs_and_its_labelled_processes_only() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("runs/run-a")).unwrap();
        let scope = Scope::home(tmp.path());
        let runs = scope.run_ids();
        let l = |run: &str, home: Option<&Path>| Labelled {
            pid: 1,
            run_id: run.into(),
            home: home.map(Path::to_path_buf),
        };
        assert!(scope.owns_process(&l("run-a", None), runs.as_ref()));
        assert!(scope.owns_process(&l("run-z", Some(tmp.path())), runs.as_ref()));
        assert!(!scope.owns_process(&l("run-b", None), runs.as_ref()));
        assert!(!scope.owns_process(&l("run-b", Some(Path::new("/elsewhere"))), runs.as_ref()));
        assert!(Scope::All.owns_process(&l("run-b", None), None));
    }

    #[test]
    fn a_missing_group_is_removed_and_a_stuck_one_is_reported_with_the_reason() {
        let tmp = tempfile::tempdir().unwrap();
        let mut r = SweepReport::default();
        remove_tree(&tmp.path().join("gone"), Instant::now(), &mut r);
        assert_eq!((r.cgroups, r.left.len()), (0, 0));
        let d = tmp.path().join("empty/nested");
        std::fs::create_dir_all(&d).unwrap();
        remove_tree(&tmp.path().join("empty"), Instant::now(), &mut r);
        assert_eq!(r.cgroups, 2, "the nested group first, then its parent");
        // a plain directory holding a file cannot be removed with rmdir: reported, not claimed
        let d = tmp.path().join("busy");
        std::fs::create_dir(&d).unwrap();
        std::fs::write(d.join("f"), "x").unwrap();
        let mut r = SweepReport::default();
        remove_tree(&d, Instant::now() + Duration::from_millis(50), &mut r);
        assert_eq!(r.cgroups, 0);
        assert_eq!(r.left.len(), 1);
        assert!(r.left[0].reason.contains("rmdir failed"), "{:?}", r.left);
    }
}
