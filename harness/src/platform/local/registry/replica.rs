//! One replica, whatever runs it (a host process or a container): its state, how it is ended,
//! and the readiness probe that moves it from `Starting` to `Ready`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::exec;
use crate::nodes::containerd::Phases;
use crate::platform::local::cgroup::{Enforcement, NodeCgroup};
use crate::platform::local::model::ProbeSchedule;
use crate::spec::Arch;
use crate::store::clock::now_ns;

/// Lifecycle of one replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReplicaState {
    /// Spawned, health not yet passed.
    Starting,
    /// `/_/health` answered 200.
    Ready,
    /// The process has exited.
    Dead,
}

/// A container replica: its id and how its start was spent.
#[derive(Debug, Clone)]
pub struct ContainerStart {
    /// Container id (unique per replica: a new cold start is a new id).
    pub id: String,
    /// Timed phases of its start (import, create, network, task start), unix ns.
    pub phases: Phases,
}

/// One replica.
#[derive(Debug)]
pub struct Replica {
    /// Index of its node in the registry.
    pub node: usize,
    /// Address the gateway calls: `127.0.0.1:<port>` (process) or the bridge address
    /// (container).
    pub addr: SocketAddr,
    /// The port of `addr`.
    pub port: u16,
    /// Process (and, for processes, process-group) id on the host.
    pub pid: u32,
    /// When it was spawned, unix ns.
    pub spawned_ns: u64,
    /// The container, when its node runs containers.
    pub container: Option<ContainerStart>,
    pub(super) healthy_ns: AtomicU64,
    pub(super) instance: OnceLock<String>,
    pub(super) state: watch::Sender<ReplicaState>,
    /// Set before the registry ends the replica itself (scale-down, shutdown, failed start), so
    /// its exit is not a crash.
    pub(super) stopping: AtomicBool,
    /// The function's own limits, in a group nested in the node's (removed once empty).
    pub(super) limits: Option<(Option<NodeCgroup>, Enforcement)>,
}

impl Replica {
    /// A replica in `Starting`.
    pub(super) fn starting(
        node: usize,
        addr: SocketAddr,
        pid: u32,
        spawned_ns: u64,
        container: Option<ContainerStart>,
        limits: Option<(Option<NodeCgroup>, Enforcement)>,
    ) -> Replica {
        let (tx, _) = watch::channel(ReplicaState::Starting);
        Replica {
            node,
            addr,
            port: addr.port(),
            pid,
            spawned_ns,
            container,
            healthy_ns: AtomicU64::new(0),
            instance: OnceLock::new(),
            state: tx,
            stopping: AtomicBool::new(false),
            limits,
        }
    }
    /// Current state.
    pub fn state(&self) -> ReplicaState {
        *self.state.borrow()
    }
    /// When health first passed, unix ns.
    pub fn healthy_ns(&self) -> Option<u64> {
        Some(self.healthy_ns.load(Ordering::Relaxed)).filter(|v| *v != 0)
    }
    /// The function's instance id (from its health response).
    pub fn instance(&self) -> Option<&str> {
        self.instance.get().map(String::as_str)
    }
    /// Mark it as ended by the registry and send `signal`: to the process group of a process,
    /// to the container's init process (its pid namespace ends with it) for a container.
    pub(super) fn end(&self, signal: i32) {
        self.stopping.store(true, Ordering::SeqCst);
        let _ = match self.container {
            None => exec::kill_group(self.pid, signal),
            Some(_) => exec::kill_pid(self.pid, signal),
        };
    }
    /// Wait until the replica leaves `Starting`, or the deadline passes.
    pub(super) async fn settled(&self, deadline: Instant) -> ReplicaState {
        let mut rx = self.state.subscribe();
        let r = tokio::time::timeout_at(
            deadline.into(),
            rx.wait_for(|s| *s != ReplicaState::Starting),
        )
        .await;
        match r {
            Ok(Ok(s)) => *s,
            _ => self.state(),
        }
    }
    /// Wait until the replica has exited (and, for a container, been removed).
    pub(super) async fn gone(&self, deadline: Instant) -> bool {
        let mut rx = self.state.subscribe();
        let r = tokio::time::timeout_at(deadline.into(), rx.wait_for(|s| *s == ReplicaState::Dead))
            .await;
        r.is_ok()
    }
}

/// Where a replica runs, as the placement endpoint reports it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReplicaInfo {
    /// Node name.
    pub node: String,
    /// Node arch.
    pub arch: Arch,
    /// Node class.
    pub class: String,
    /// Instance id, once known.
    pub instance: Option<String>,
    /// Lifecycle state.
    pub state: ReplicaState,
    /// Process id.
    pub pid: u32,
    /// Port it listens on (loopback for a process, its bridge address for a container).
    pub port: u16,
    /// Spawn time, unix ns.
    pub spawned_ns: u64,
    /// Health-pass time, unix ns.
    pub healthy_ns: Option<u64>,
    /// The function's `limits` as enforced for this replica (absent when it has none).
    #[serde(default)]
    pub limits: Option<Enforcement>,
    /// Container id, when the replica is a container.
    #[serde(default)]
    pub container: Option<String>,
}

/// Probe `/_/health` on `schedule` until it answers 200, the replica dies, or the deadline
/// passes; `from` is when the replica started (the initial delay counts from it).
pub(super) async fn probe(
    r: Arc<Replica>,
    from: Instant,
    schedule: ProbeSchedule,
    deadline: Instant,
) {
    tokio::time::sleep_until((from + schedule.initial_delay).into()).await;
    while Instant::now() < deadline && r.state() == ReplicaState::Starting {
        let once = tokio::time::timeout(schedule.timeout, health_once(r.addr)).await;
        if let Ok(Some(instance)) = once {
            r.healthy_ns.store(now_ns(), Ordering::Relaxed);
            if let Some(id) = instance {
                let _ = r.instance.set(id);
            }
            r.state.send_if_modified(|s| {
                if *s == ReplicaState::Starting {
                    *s = ReplicaState::Ready;
                    true
                } else {
                    false
                }
            });
            return;
        }
        tokio::time::sleep(schedule.period).await;
    }
}

/// One health probe: `Some(instance id)` when `/_/health` answered 200.
async fn health_once(addr: SocketAddr) -> Option<Option<String>> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
    s.write_all(b"GET /_/health HTTP/1.1\r\nHost: replica\r\nConnection: close\r\n\r\n")
        .await
        .ok()?;
    let mut buf = Vec::with_capacity(512);
    let read = tokio::time::timeout(Duration::from_secs(2), s.read_to_end(&mut buf)).await;
    if !matches!(read, Ok(Ok(_))) {
        return None;
    }
    let head = String::from_utf8_lossy(&buf);
    let mut lines = head.split("\r\n");
    let status_ok = lines.next()?.split_whitespace().nth(1) == Some("200");
    if !status_ok {
        return None;
    }
    let instance = lines
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| {
            k.trim()
                .eq_ignore_ascii_case(crate::openfaas::headers::INSTANCE)
        })
        .map(|(_, v)| v.trim().to_string());
    Some(instance)
}
