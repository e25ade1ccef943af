//! Replicas as host processes (`runtime = "process"`): the binary spawned natively or under
//! QEMU user mode, in the node's cgroup (or a nested one for the function's limits), reaped
//! when it exits.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::replica::{Replica, ReplicaState};
use super::{lock, Func, Registry, NAMESPACE};
use crate::exec::{self, SpawnOpts};
use crate::openfaas::FunctionDeployment;
use crate::platform::local::cgroup::{self, Enforcement, NodeCgroup};
use crate::platform::local::logs::Source;
use crate::platform::local::node::NodeRuntime;
use crate::platform::local::{env, secrets, LocalError};
use crate::store::clock::now_ns;
use crate::store::events::{ReplicaEvent, ReplicaEventKind};

/// Spawn one process replica of `f` on node `node` (not yet healthy) and its reaper.
pub(super) fn spawn(
    reg: &Arc<Registry>,
    f: &Arc<Func>,
    node: usize,
) -> Result<Arc<Replica>, LocalError> {
    let nr = &reg.nodes[node];
    let binary = lock(&f.binaries)
        .get(&nr.node.arch)
        .cloned()
        .ok_or_else(|| LocalError::BadRequest(format!("no {} binary", nr.node.arch)))?;
    let d = f.deployment();
    let port = free_port()?;
    // A scrubbed environment: the contract's variables and the function's envVars only.
    let mut cmd = nr.command(&binary);
    for (k, v) in env::replica(port, &nr.node.name, &d.env_vars) {
        cmd = cmd.env(k, v);
    }
    let log = reg.logs.join(format!("{}.{}.log", d.service, nr.node.name));
    let limits = replica_limits(nr, &d, port);
    let procs = match &limits {
        Some((Some(cg), _)) => cg
            .procs_files()
            .iter()
            .cloned()
            .chain(nr.io_procs())
            .collect(),
        _ => nr.cgroup_procs(),
    };
    // Stamp before the fork: the child may run (and stamp its own start) before spawn returns.
    let spawned_ns = now_ns();
    let mut child = exec::spawn_piped(
        &cmd,
        &SpawnOpts {
            run_id: reg.run_id.clone(),
            cgroup_procs: procs,
            log: Some(log.clone()),
            new_session: false,
            // The daemon's own home label passes on to its replicas.
            home: std::env::var_os(exec::HOME_ENV).map(PathBuf::from),
            clear_env: true,
            bind_ro: (!d.secrets.is_empty()).then(|| {
                let view = reg.secrets.as_ref().map(|s| s.view_dir(&d.service));
                (view.unwrap_or_default(), PathBuf::from(secrets::MOUNT_PATH))
            }),
        },
    )?;
    let pid = child.id().unwrap_or(0);
    let source = Source {
        function: d.service.clone(),
        namespace: NAMESPACE.to_string(),
        instance: format!("{}-{}-{pid}", d.service, nr.node.name),
        file: log,
    };
    let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
    reg.log_store.attach(source, stdout, stderr);
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let r = Arc::new(Replica::starting(node, addr, pid, spawned_ns, None, limits));
    tokio::spawn(reap(
        child,
        r.clone(),
        reg.clone(),
        f.clone(),
        d.service.clone(),
    ));
    Ok(r)
}

/// A group for the function's own `limits` inside the node's group, when it has any. Limits that
/// cannot be set are recorded (`enforced: false` with the reason), never silently dropped.
fn replica_limits(
    nr: &NodeRuntime,
    d: &FunctionDeployment,
    port: u16,
) -> Option<(Option<NodeCgroup>, Enforcement)> {
    let (cpus, mem) = function_limits(d);
    if cpus.is_none() && mem.is_none() {
        return None;
    }
    let name = format!("{}-{port}", d.service);
    Some(match &nr.cgroup {
        Some(node_cg) => cgroup::create(Some(node_cg.nested()), &name, cpus, mem),
        None => (
            None,
            Enforcement {
                cgroup: "none".into(),
                notes: vec![format!(
                    "node {} has no cgroup, so function limits are not enforced",
                    nr.node.name
                )],
                ..Default::default()
            },
        ),
    })
}

/// The function's own CPU (cores) and memory (bytes) limits, where it sets them.
pub(super) fn function_limits(d: &FunctionDeployment) -> (Option<f64>, Option<u64>) {
    let Some(l) = d.limits.as_ref() else {
        return (None, None);
    };
    let cpus = l
        .cpu
        .as_deref()
        .and_then(|c| crate::spec::parse_cpu(c).ok());
    let mem = l
        .memory
        .as_deref()
        .and_then(|m| crate::spec::parse_memory(m).ok());
    (cpus, mem)
}

/// Wait for the child to exit, then mark the replica dead; an exit the registry did not ask
/// for is recorded as a crash, and the function's next spawn as its restart.
async fn reap(
    mut child: tokio::process::Child,
    r: Arc<Replica>,
    reg: Arc<Registry>,
    f: Arc<Func>,
    function: String,
) {
    let status = child.wait().await;
    // Anything the replica started shares its process group.
    let _ = exec::kill_group(r.pid, libc::SIGKILL);
    if !r.stopping.load(Ordering::SeqCst) {
        reg.crashed(&f, &r, function, exit_detail(&status));
    }
    r.state.send_replace(ReplicaState::Dead);
}

impl Registry {
    /// Record that `r` of `f` ended without being asked to; the next spawn is its restart.
    pub(super) fn crashed(&self, f: &Func, r: &Replica, function: String, detail: String) {
        f.crashed_pending.fetch_add(1, Ordering::SeqCst);
        self.record(ReplicaEvent {
            unix_ns: now_ns(),
            function,
            node: self.nodes[r.node].node.name.clone(),
            kind: ReplicaEventKind::Crashed,
            pid: r.pid,
            detail: Some(detail),
        });
    }
}

/// `exit status N`, `signal N`, or the wait error.
fn exit_detail(status: &std::io::Result<std::process::ExitStatus>) -> String {
    use std::os::unix::process::ExitStatusExt;
    match status {
        Ok(s) => match (s.code(), s.signal()) {
            (Some(c), _) => format!("exit status {c}"),
            (None, Some(sig)) => format!("signal {sig}"),
            _ => s.to_string(),
        },
        Err(e) => format!("wait failed: {e}"),
    }
}

/// A free loopback port (bound and released; the replica binds it right after).
fn free_port() -> Result<u16, LocalError> {
    let l = std::net::TcpListener::bind(("127.0.0.1", 0)).map_err(|source| LocalError::Io {
        what: "bind a free loopback port".into(),
        source,
    })?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|source| LocalError::Io {
            what: "read a bound port".into(),
            source,
        })
}
