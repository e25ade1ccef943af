//! The `ctr` command lines faasbed runs against its containerd, and pure parsers of what `ctr`
//! prints (tested against captured output in `tests/fixtures/containerd/`).
//!
//! Why `ctr` and not a gRPC client crate: `ctr` ships in the same Debian package as the daemon,
//! so client and server are always one version; every call goes through the one command runner
//! (logged, timed out, recorded in dry runs, errors carrying stdout and stderr); and the maintained
//! Rust client (`containerd-client`) needs `protoc` and tonic at build time for a handful of
//! calls that are each one `ctr` line.

use std::path::Path;
use std::time::Duration;

use crate::exec::Cmd;

/// The containerd namespace every faasbed object lives in.
pub const NAMESPACE: &str = "faasbed";
/// Label holding the run id on every container faasbed creates.
pub const RUN_LABEL: &str = "faasbed.run";
/// Label holding the home's id on every container faasbed creates.
pub const HOME_LABEL: &str = "faasbed.home";

/// `ctr --address SOCKET --namespace faasbed ARGS…`.
pub fn ctr(socket: &Path) -> Cmd {
    Cmd::new("ctr")
        .arg("--address")
        .arg(socket)
        .args(["--namespace", NAMESPACE])
        .timeout(Duration::from_secs(60))
}

/// Import an OCI layout tar and unpack it for `platform` (`linux/arm64/v8` …).
pub fn import(socket: &Path, tar: &Path, platform: &str) -> Cmd {
    ctr(socket)
        .args(["images", "import", "--platform", platform])
        .arg(tar)
}

/// Remove an image (its content is garbage-collected once no container holds it).
pub fn image_rm(socket: &Path, reference: &str) -> Cmd {
    ctr(socket).args(["images", "rm", reference])
}

/// What one replica container is made of.
#[derive(Debug, Clone, Default)]
pub struct ContainerSpec {
    /// Container id (also its snapshot key).
    pub id: String,
    /// Image reference (imported for the node's platform).
    pub image: String,
    /// Network namespace file it joins (`/var/run/netns/…`); `None` for the host's network.
    pub netns: Option<String>,
    /// CFS quota per period, µs; `None` for no CPU limit.
    pub cpu_quota_us: Option<u64>,
    /// CFS period, µs.
    pub cpu_period_us: u64,
    /// Memory limit, bytes.
    pub memory_bytes: Option<u64>,
    /// Environment, in order.
    pub env: Vec<(String, String)>,
    /// Host folders bind-mounted read-only: (source, destination). Neither may hold `,` (ctr's
    /// `--mount` separator); [`super::Runtime::run`] refuses such paths.
    pub binds_ro: Vec<(String, String)>,
    /// Labels (run id and home are added by [`create`]).
    pub labels: Vec<(String, String)>,
}

/// `ctr containers create`: the container and its snapshot (prepared from the image's layers).
/// containerd puts the task in the cgroup `/faasbed/<id>` of each controller (namespace/id).
pub fn create(socket: &Path, c: &ContainerSpec, run_id: &str, home_id: &str) -> Cmd {
    let mut cmd = ctr(socket).args(["containers", "create"]);
    cmd = cmd
        .arg("--label")
        .arg(format!("{RUN_LABEL}={run_id}"))
        .arg("--label")
        .arg(format!("{HOME_LABEL}={home_id}"));
    for (k, v) in &c.labels {
        cmd = cmd.arg("--label").arg(format!("{k}={v}"));
    }
    match &c.netns {
        Some(ns) => cmd = cmd.arg("--with-ns").arg(format!("network:{ns}")),
        None => cmd = cmd.arg("--net-host"),
    }
    if let Some(q) = c.cpu_quota_us {
        cmd = cmd
            .arg("--cpu-quota")
            .arg(q.to_string())
            .arg("--cpu-period")
            .arg(c.cpu_period_us.to_string());
    }
    if let Some(m) = c.memory_bytes {
        cmd = cmd.arg("--memory-limit").arg(m.to_string());
    }
    for (k, v) in &c.env {
        cmd = cmd.arg("--env").arg(format!("{k}={v}"));
    }
    for (src, dst) in &c.binds_ro {
        cmd = cmd
            .arg("--mount")
            .arg(format!("type=bind,src={src},dst={dst},options=rbind:ro"));
    }
    cmd.arg(&c.image).arg(&c.id)
}

/// `ctr tasks start -d`: create the task (runc: namespaces, cgroup) and start its process;
/// its stdout and stderr are appended to `log` (an absolute path) when given.
pub fn start(socket: &Path, id: &str, log: Option<&Path>) -> Cmd {
    let mut cmd = ctr(socket).args(["tasks", "start", "-d"]);
    if let Some(l) = log {
        cmd = cmd.arg("--log-uri").arg(format!("file://{}", l.display()));
    }
    cmd.arg(id)
}

/// `ctr tasks kill -s SIGKILL`.
pub fn kill(socket: &Path, id: &str) -> Cmd {
    ctr(socket).args(["tasks", "kill", "-s", "SIGKILL", id])
}

/// `ctr tasks delete`: removes a stopped task.
pub fn task_delete(socket: &Path, id: &str) -> Cmd {
    ctr(socket).args(["tasks", "delete", id])
}

/// `ctr containers delete`: removes the container and its snapshot.
pub fn delete(socket: &Path, id: &str) -> Cmd {
    ctr(socket).args(["containers", "delete", id])
}

/// `ctr containers ls -q` of the containers carrying `label=value`.
pub fn list_labelled(socket: &Path, label: &str, value: &str) -> Cmd {
    ctr(socket)
        .args(["containers", "ls", "-q"])
        .arg(format!("labels.\"{label}\"=={value}"))
}

/// `ctr tasks ls`.
pub fn tasks(socket: &Path) -> Cmd {
    ctr(socket).args(["tasks", "ls"])
}

/// `ctr version`: answers once the daemon serves its socket.
pub fn version(socket: &Path) -> Cmd {
    ctr(socket).arg("version").timeout(Duration::from_secs(5))
}

/// The state of one task, as `ctr tasks ls` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    /// Container id.
    pub id: String,
    /// Host pid of the task's init process (0 once it is gone).
    pub pid: u32,
    /// `RUNNING`, `STOPPED`, `CREATED`, `PAUSED`, …
    pub status: String,
}

/// Parse `ctr tasks ls`: a header line, then `ID PID STATUS` per task.
pub fn parse_tasks(out: &str) -> Result<Vec<Task>, String> {
    let mut lines = out.lines().filter(|l| !l.trim().is_empty());
    match lines.next() {
        Some(h) if h.split_whitespace().eq(["TASK", "PID", "STATUS"]) => {}
        Some(h) => return Err(format!("unexpected header {h:?} (want TASK PID STATUS)")),
        None => return Ok(Vec::new()),
    }
    lines
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            match f.as_slice() {
                [id, pid, status, ..] => Ok(Task {
                    id: id.to_string(),
                    pid: pid
                        .parse()
                        .map_err(|_| format!("pid {pid:?} is not a number in {l:?}"))?,
                    status: status.to_string(),
                }),
                _ => Err(format!("a task line needs ID PID STATUS: {l:?}")),
            }
        })
        .collect()
}

/// Parse `ctr … ls -q`: one id per line.
pub fn parse_ids(out: &str) -> Vec<String> {
    out.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const TASKS: &str = include_str!("../../../tests/fixtures/containerd/tasks-ls.txt");
    const LABELLED: &str =
        include_str!("../../../tests/fixtures/containerd/containers-ls-q-label.txt");

    #[test]
    fn captured_task_list_parses() {
        let t = parse_tasks(TASKS).unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t[1].id, "r1-echo-1");
        assert_eq!(t[1].pid, 23917);
        assert_eq!(t[1].status, "RUNNING");
        assert_eq!(parse_tasks("").unwrap(), vec![]);
    }

    #[test]
    fn bad_task_lists_say_what_is_wrong() {
        let e = parse_tasks("ID STATE\nx 1 RUNNING").unwrap_err();
        assert!(e.contains("unexpected header"), "{e}");
        let e = parse_tasks("TASK PID STATUS\nx one RUNNING").unwrap_err();
        assert!(e.contains("\"one\""), "{e}");
    }

    #[test]
    fn labelled_ids_parse() {
        assert_eq!(parse_ids(LABELLED), vec!["r1-echo-1"]);
    }

    #[test]
    fn create_carries_labels_limits_network_and_env() {
        let s = Path::new("/run/fb/containerd.sock");
        let c = ContainerSpec {
            id: "r1-echo-1".into(),
            image: "faasbed.local/echo:abc-arm64".into(),
            netns: Some("/var/run/netns/fb-r1-echo-1".into()),
            cpu_quota_us: Some(50_000),
            cpu_period_us: 100_000,
            memory_bytes: Some(64 << 20),
            env: vec![("PORT".into(), "8080".into())],
            binds_ro: vec![(
                "/run/fb/secrets/echo".into(),
                "/var/openfaas/secrets".into(),
            )],
            labels: vec![],
        };
        assert_eq!(
            create(s, &c, "r1", "h1").display(),
            "ctr --address /run/fb/containerd.sock --namespace faasbed containers create \
             --label faasbed.run=r1 --label faasbed.home=h1 \
             --with-ns network:/var/run/netns/fb-r1-echo-1 \
             --cpu-quota 50000 --cpu-period 100000 --memory-limit 67108864 --env PORT=8080 \
             --mount type=bind,src=/run/fb/secrets/echo,dst=/var/openfaas/secrets,options=rbind:ro \
             faasbed.local/echo:abc-arm64 r1-echo-1"
        );
    }
}
