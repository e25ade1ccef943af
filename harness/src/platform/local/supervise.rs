//! The gateway daemon of a `faasbed bench` run outlives nothing: it watches the bench process
//! that started it and, when that process dies without bringing the run down (SIGKILL, a
//! crash), it ends the run's replicas, removes its cgroups and marks the run `killed` in its
//! `run.json`. (`faasbed up` starts an unwatched daemon: that one lives until `faasbed down`.)
//!
//! The watch is a pidfd of the parent (readable once it exits; Linux 5.3+), else a 100 ms poll
//! of `getppid()`: a daemon whose parent died is re-parented, so its parent pid changes.

use std::os::fd::{FromRawFd, OwnedFd};
use std::path::Path;
use std::time::{Duration, SystemTime};

/// Status a run gets when its bench process died and the daemon cleaned up after it.
pub const KILLED: &str = "killed";

/// Wait until process `pid`, this process's parent, has exited. Returns at once when the parent
/// is already not `pid` (it died before the watch began).
pub async fn parent_exited(pid: u32) {
    let is_parent = || u32::try_from(unsafe_getppid()).is_ok_and(|p| p == pid);
    if let Some(fd) = pidfd_open(pid) {
        // The pidfd names `pid` from here on; if `pid` is still our parent, it is the right one.
        if !is_parent() {
            return;
        }
        // SAFETY: the OwnedFd moves into the AsyncFd, which keeps it open until dropped.
        let afd = unsafe {
            tokio::io::unix::AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE)
        };
        if let Ok(afd) = afd {
            let _ = afd.readable().await;
            return;
        }
    }
    while is_parent() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn unsafe_getppid() -> i32 {
    // SAFETY: getppid has no preconditions and cannot fail.
    unsafe { libc::getppid() }
}

fn pidfd_open(pid: u32) -> Option<OwnedFd> {
    let pid = i32::try_from(pid).ok()?;
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    let fd = i32::try_from(fd).ok().filter(|fd| *fd >= 0)?;
    // SAFETY: `fd` was just returned by the kernel and is owned by nobody else.
    Some(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Mark the run of `run_json` as `killed` (with its end time) if it still says `running`;
/// a run that ended on its own keeps its status. Written atomically (temp file + rename).
pub fn mark_killed(run_json: &Path) -> std::io::Result<bool> {
    let bytes = std::fs::read(run_json)?;
    let mut v: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
    if v.get("status").and_then(|s| s.as_str()) != Some("running") {
        return Ok(false);
    }
    v["status"] = KILLED.into();
    v["ended_at"] = humantime::format_rfc3339_millis(SystemTime::now())
        .to_string()
        .into();
    let tmp = run_json.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(&v).unwrap_or_default())?;
    std::fs::rename(&tmp, run_json)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_running_run_is_marked_killed() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("run.json");
        std::fs::write(&p, r#"{"status":"running","ended_at":null,"run_id":"r"}"#).unwrap();
        assert!(mark_killed(&p).unwrap());
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        assert_eq!(v["status"], "killed");
        assert!(v["ended_at"].is_string());
        assert_eq!(v["run_id"], "r");
        std::fs::write(&p, r#"{"status":"complete"}"#).unwrap();
        assert!(!mark_killed(&p).unwrap());
    }

    #[tokio::test]
    async fn a_pid_that_is_not_the_parent_counts_as_exited() {
        // pid 1 is never this test's parent, so the watch returns at once
        tokio::time::timeout(Duration::from_secs(5), parent_exited(1))
            .await
            .unwrap();
    }
}
