//! Deployed functions and their replicas on the local platform: placement by constraint,
//! spawning, health, scaling (to and from zero), death detection and replacement.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::cgroup::{self, Enforcement, NodeCgroup};
use super::logs::{LogStore, Source};
use super::node::NodeRuntime;
use super::secrets::{self, SecretStore};
use super::{unix_ns, LocalError};
use crate::exec::{self, SpawnOpts};
use crate::openfaas::{FunctionDeployment, FunctionResources, FunctionStatus, LABEL_SCALE_MIN};
use crate::spec::{all_match, Arch, Constraint};
use crate::store::events::{ReplicaEvent, ReplicaEventKind};

mod rollout;

pub use super::image::{image_dir, LOCAL_IMAGE_PREFIX};

/// OpenFaaS CE limits, applied here too so results stay comparable.
pub const MAX_FUNCTIONS: usize = 15;
/// See [`MAX_FUNCTIONS`].
pub const MAX_REPLICAS: u64 = 5;
/// Namespace the local platform reports for every function.
pub const NAMESPACE: &str = "openfaas-fn";
/// Interval between health probes of a starting replica.
pub const HEALTH_POLL: Duration = Duration::from_millis(1);
/// How long an update waits for a retired replica's calls in flight before ending it.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(60);

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

/// One replica process.
#[derive(Debug)]
pub struct Replica {
    /// Index of its node in the registry.
    pub node: usize,
    /// Loopback port it listens on.
    pub port: u16,
    /// Process (and process-group) id.
    pub pid: u32,
    /// When it was spawned, unix ns.
    pub spawned_ns: u64,
    healthy_ns: AtomicU64,
    instance: OnceLock<String>,
    state: watch::Sender<ReplicaState>,
    /// Set before the registry ends the replica itself (scale-down, shutdown, failed start), so
    /// its exit is not a crash.
    stopping: AtomicBool,
    /// The function's own limits, in a group nested in the node's (removed once empty).
    limits: Option<(Option<NodeCgroup>, Enforcement)>,
}

impl Replica {
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
    /// Wait until the replica leaves `Starting`, or the deadline passes.
    async fn settled(&self, deadline: Instant) -> ReplicaState {
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
    /// Wait until the process has exited.
    async fn gone(&self, deadline: Instant) -> bool {
        let mut rx = self.state.subscribe();
        let r = tokio::time::timeout_at(deadline.into(), rx.wait_for(|s| *s == ReplicaState::Dead))
            .await;
        r.is_ok()
    }
}

/// A deployed function.
#[derive(Debug)]
pub struct Func {
    deployment: Mutex<FunctionDeployment>,
    constraints: Mutex<Vec<Constraint>>,
    eligible: Mutex<Vec<usize>>,
    binaries: Mutex<BTreeMap<Arch, PathBuf>>,
    desired: AtomicU32,
    replicas: Mutex<Vec<Arc<Replica>>>,
    invocations: AtomicU64,
    created_at: SystemTime,
    rr: AtomicUsize,
    scale_lock: tokio::sync::Mutex<()>,
    /// Crashed replicas not yet replaced: the next spawns are restarts.
    crashed_pending: AtomicU32,
}

impl Func {
    fn live(&self) -> Vec<Arc<Replica>> {
        lock(&self.replicas)
            .iter()
            .filter(|r| r.state() != ReplicaState::Dead)
            .cloned()
            .collect()
    }
    /// A ready replica, round-robin.
    pub fn next_ready(&self) -> Option<Arc<Replica>> {
        self.ready_and_live().0
    }
    /// Under one lock and without allocating: a ready replica (round-robin) and how many
    /// replicas are live. This is the per-call path of every warm invocation.
    fn ready_and_live(&self) -> (Option<Arc<Replica>>, usize) {
        let reps = lock(&self.replicas);
        let is_ready = |r: &&Arc<Replica>| r.state() == ReplicaState::Ready;
        let ready = reps.iter().filter(is_ready).count();
        let live = reps
            .iter()
            .filter(|r| r.state() != ReplicaState::Dead)
            .count();
        if ready == 0 {
            return (None, live);
        }
        let i = self.rr.fetch_add(1, Ordering::Relaxed) % ready;
        (reps.iter().filter(is_ready).nth(i).cloned(), live)
    }
    fn starting(&self) -> Option<Arc<Replica>> {
        lock(&self.replicas)
            .iter()
            .find(|r| r.state() == ReplicaState::Starting)
            .cloned()
    }
    /// Count one invocation.
    pub fn count_invocation(&self) {
        self.invocations.fetch_add(1, Ordering::Relaxed);
    }
    /// The deployment as last posted.
    pub fn deployment(&self) -> FunctionDeployment {
        lock(&self.deployment).clone()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
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
    /// Loopback port.
    pub port: u16,
    /// Spawn time, unix ns.
    pub spawned_ns: u64,
    /// Health-pass time, unix ns.
    pub healthy_ns: Option<u64>,
    /// The function's `limits` as enforced for this replica (absent when it has none).
    #[serde(default)]
    pub limits: Option<Enforcement>,
}

/// All functions of one local topology.
#[derive(Debug)]
pub struct Registry {
    run_id: String,
    /// The nodes, by index.
    pub nodes: Vec<NodeRuntime>,
    images: PathBuf,
    logs: PathBuf,
    functions: Mutex<BTreeMap<String, Arc<Func>>>,
    health_timeout: Duration,
    secrets: Option<SecretStore>,
    log_store: Arc<LogStore>,
    stopping: std::sync::atomic::AtomicBool,
    /// Replica crashes and restarts, in order.
    events: Mutex<Vec<ReplicaEvent>>,
}

/// A replica chosen for one call, and whether the call had to wait for it to start.
pub struct Picked {
    /// The replica.
    pub replica: Arc<Replica>,
    /// The call waited for a cold start.
    pub cold: bool,
}

impl Registry {
    /// An empty registry over prepared nodes; binaries are looked up under `images`.
    pub fn new(
        run_id: &str,
        nodes: Vec<NodeRuntime>,
        images: PathBuf,
        logs: PathBuf,
        health_timeout: Duration,
    ) -> Self {
        Registry {
            run_id: run_id.to_string(),
            nodes,
            images,
            logs,
            functions: Mutex::new(BTreeMap::new()),
            health_timeout,
            secrets: None,
            log_store: Arc::default(),
            stopping: Default::default(),
            events: Mutex::new(Vec::new()),
        }
    }

    /// Every replica's captured stdout and stderr.
    pub fn log_store(&self) -> &Arc<LogStore> {
        &self.log_store
    }

    /// Keep the run's secrets in `store` (without one, deployments naming secrets are refused).
    pub fn with_secrets(mut self, store: SecretStore) -> Self {
        self.secrets = Some(store);
        self
    }

    /// The run's secrets.
    pub fn secrets(&self) -> Result<&SecretStore, LocalError> {
        self.secrets
            .as_ref()
            .ok_or_else(|| LocalError::BadRequest("this gateway keeps no secrets".into()))
    }

    /// The function named `name`.
    pub fn get(&self, name: &str) -> Option<Arc<Func>> {
        lock(&self.functions).get(name).cloned()
    }

    /// Validate a deployment: name, image, constraints and binaries for every eligible node.
    fn resolve(
        &self,
        d: &FunctionDeployment,
    ) -> Result<(Vec<Constraint>, Vec<usize>, BTreeMap<Arch, PathBuf>, u32), LocalError> {
        let bad = |m: String| LocalError::BadRequest(m);
        if !crate::spec::is_dns_label(&d.service) {
            return Err(bad(format!(
                "service {:?} is not a valid function name (lowercase letters, digits, '-')",
                d.service
            )));
        }
        super::env::check(&d.env_vars).map_err(bad)?;
        let constraints = d
            .constraints
            .iter()
            .map(|c| Constraint::parse(c))
            .collect::<Result<Vec<_>, _>>()
            .map_err(bad)?;
        let eligible: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| all_match(&constraints, &self.nodes[i].node.labels()))
            .collect();
        if eligible.is_empty() {
            let cs: Vec<String> = constraints.iter().map(ToString::to_string).collect();
            return Err(bad(format!(
                "no node satisfies constraints [{}] of function {}; each node's labels: {}",
                cs.join(", "),
                d.service,
                crate::spec::describe_labels(self.nodes.iter().map(|n| &n.node))
            )));
        }
        let (dir, source) = image_dir(&self.images, &d.image).map_err(bad)?;
        let mut binaries = BTreeMap::new();
        for &i in &eligible {
            let arch = self.nodes[i].node.arch;
            let p = dir.join(arch.as_str()).join(&source);
            if !p.is_file() {
                return Err(bad(format!(
                    "image {} has no {arch} build (needed by node {}); run `faasbed deploy` to build it",
                    d.image, self.nodes[i].node.name
                )));
            }
            binaries.insert(arch, p);
        }
        let min = match d.labels.as_ref().and_then(|l| l.get(LABEL_SCALE_MIN)) {
            None => 1,
            Some(v) => match v.parse::<u64>() {
                Ok(n) if (1..=MAX_REPLICAS).contains(&n) => n as u32,
                _ => {
                    return Err(bad(format!(
                        "label {LABEL_SCALE_MIN}={v:?} must be 1 to {MAX_REPLICAS}"
                    )))
                }
            },
        };
        Ok((constraints, eligible, binaries, min))
    }

    /// `POST /system/functions`: register and start `com.openfaas.scale.min` replicas (default 1).
    pub async fn deploy(self: &Arc<Self>, d: FunctionDeployment) -> Result<(), LocalError> {
        let (constraints, eligible, binaries, min) = self.resolve(&d)?;
        if self.get(&d.service).is_none() {
            self.prepare_secrets(&d)?;
        }
        let f = {
            let mut fs = lock(&self.functions);
            if fs.contains_key(&d.service) {
                return Err(LocalError::BadRequest(format!(
                    "function {} already exists; update it with PUT",
                    d.service
                )));
            }
            if fs.len() >= MAX_FUNCTIONS {
                return Err(LocalError::BadRequest(format!(
                    "at most {MAX_FUNCTIONS} functions (OpenFaaS CE limit)"
                )));
            }
            let f = Arc::new(Func {
                deployment: Mutex::new(d.clone()),
                constraints: Mutex::new(constraints),
                eligible: Mutex::new(eligible),
                binaries: Mutex::new(binaries),
                desired: AtomicU32::new(min),
                replicas: Mutex::new(Vec::new()),
                invocations: AtomicU64::new(0),
                created_at: SystemTime::now(),
                rr: AtomicUsize::new(0),
                scale_lock: tokio::sync::Mutex::new(()),
                crashed_pending: AtomicU32::new(0),
            });
            fs.insert(d.service.clone(), f.clone());
            f
        };
        self.scale(&f, min).await
    }

    /// `DELETE /system/functions`: stop every replica and forget the function.
    pub async fn delete(self: &Arc<Self>, name: &str) -> Result<(), LocalError> {
        let f = self
            .get(name)
            .ok_or_else(|| LocalError::NotFound(name.to_string()))?;
        self.scale(&f, 0).await?;
        lock(&self.functions).remove(name);
        if let Some(s) = &self.secrets {
            s.drop_view(name);
        }
        self.log_store.forget(name);
        Ok(())
    }

    /// Set the desired replicas and converge: extra replicas are killed and reaped before this
    /// returns; missing ones are spawned (not awaited).
    pub async fn scale(self: &Arc<Self>, f: &Arc<Func>, n: u32) -> Result<(), LocalError> {
        if u64::from(n) > MAX_REPLICAS {
            return Err(LocalError::BadRequest(format!(
                "at most {MAX_REPLICAS} replicas (OpenFaaS CE limit)"
            )));
        }
        let _g = f.scale_lock.lock().await;
        f.desired.store(n, Ordering::SeqCst);
        let live = f.live();
        if live.len() > n as usize {
            // Newest first, so long-lived warm replicas survive a partial scale-down.
            let extra: Vec<_> = live
                .iter()
                .rev()
                .take(live.len() - n as usize)
                .cloned()
                .collect();
            for r in &extra {
                r.stopping.store(true, Ordering::SeqCst);
                let _ = exec::kill_group(r.pid, libc::SIGKILL);
            }
            let deadline = Instant::now() + Duration::from_secs(10);
            for r in &extra {
                if !r.gone(deadline).await {
                    return Err(LocalError::Stuck { pid: r.pid });
                }
            }
        }
        for _ in f.live().len()..n as usize {
            self.spawn(f)?;
        }
        Ok(())
    }

    /// Spawn one replica on the eligible node with the fewest live replicas of `f`.
    fn spawn(self: &Arc<Self>, f: &Arc<Func>) -> Result<Arc<Replica>, LocalError> {
        // After shutdown, a late call (a queued async one, say) must not start a replica.
        if self.stopping.load(Ordering::SeqCst) {
            return Err(LocalError::Stopping);
        }
        let eligible = lock(&f.eligible).clone();
        let live = f.live();
        let node = *eligible
            .iter()
            .min_by_key(|&&i| live.iter().filter(|r| r.node == i).count())
            .ok_or_else(|| LocalError::BadRequest("function has no eligible node".into()))?;
        let nr = &self.nodes[node];
        let binary = lock(&f.binaries)
            .get(&nr.node.arch)
            .cloned()
            .ok_or_else(|| LocalError::BadRequest(format!("no {} binary", nr.node.arch)))?;
        let d = f.deployment();
        let port = free_port()?;
        // A scrubbed environment: the contract's variables and the function's envVars only.
        let mut cmd = nr.command(&binary);
        for (k, v) in super::env::replica(port, &nr.node.name, &d.env_vars) {
            cmd = cmd.env(k, v);
        }
        let log = self
            .logs
            .join(format!("{}.{}.log", d.service, nr.node.name));
        let limits = replica_limits(nr, &d, port);
        let procs = match &limits {
            Some((Some(cg), _)) => cg.procs_files().to_vec(),
            _ => nr.cgroup_procs(),
        };
        // Stamp before the fork: the child may run (and stamp its own start) before spawn returns.
        let spawned_ns = unix_ns(SystemTime::now());
        let mut child = exec::spawn_piped(
            &cmd,
            &SpawnOpts {
                run_id: self.run_id.clone(),
                cgroup_procs: procs,
                log: Some(log.clone()),
                new_session: false,
                // The daemon's own home label passes on to its replicas.
                home: std::env::var_os(exec::HOME_ENV).map(PathBuf::from),
                clear_env: true,
                bind_ro: (!d.secrets.is_empty()).then(|| {
                    let view = self.secrets.as_ref().map(|s| s.view_dir(&d.service));
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
        self.log_store.attach(source, stdout, stderr);
        let (tx, _) = watch::channel(ReplicaState::Starting);
        let r = Arc::new(Replica {
            node,
            port,
            pid,
            spawned_ns,
            healthy_ns: AtomicU64::new(0),
            instance: OnceLock::new(),
            state: tx,
            stopping: AtomicBool::new(false),
            limits,
        });
        {
            let mut reps = lock(&f.replicas);
            reps.retain(|x| x.state() != ReplicaState::Dead);
            reps.push(r.clone());
        }
        let restart = f
            .crashed_pending
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if restart {
            self.record(ReplicaEvent {
                unix_ns: spawned_ns,
                function: d.service.clone(),
                node: nr.node.name.clone(),
                kind: ReplicaEventKind::Restarted,
                pid,
                detail: None,
            });
        }
        tokio::spawn(reap(
            child,
            r.clone(),
            self.clone(),
            f.clone(),
            d.service.clone(),
        ));
        tokio::spawn(probe(r.clone(), Instant::now() + self.health_timeout));
        Ok(r)
    }

    /// Choose a ready replica for a call, starting one (scale from zero) when none is ready,
    /// and replacing dead replicas in the background.
    pub async fn pick(self: &Arc<Self>, f: &Arc<Func>) -> Result<Picked, LocalError> {
        if let (Some(r), live) = f.ready_and_live() {
            if live < f.desired.load(Ordering::Relaxed) as usize {
                let (me, f2) = (self.clone(), f.clone());
                tokio::spawn(async move {
                    let n = f2.desired.load(Ordering::SeqCst);
                    let _ = me.scale(&f2, n).await;
                });
            }
            return Ok(Picked {
                replica: r,
                cold: false,
            });
        }
        let deadline = Instant::now() + self.health_timeout;
        let starting = {
            let _g = f.scale_lock.lock().await;
            if let Some(r) = f.next_ready() {
                return Ok(Picked {
                    replica: r,
                    cold: false,
                });
            }
            if f.desired.load(Ordering::SeqCst) == 0 {
                f.desired.store(1, Ordering::SeqCst);
            }
            match f.starting() {
                Some(r) => r,
                None => self.spawn(f)?,
            }
        };
        match starting.settled(deadline).await {
            ReplicaState::Ready => Ok(Picked {
                replica: starting,
                cold: true,
            }),
            state => {
                if state == ReplicaState::Starting {
                    starting.stopping.store(true, Ordering::SeqCst);
                    let _ = exec::kill_group(starting.pid, libc::SIGKILL);
                }
                Err(self.start_error(f, &starting, state))
            }
        }
    }

    /// The OpenFaaS status of `f`.
    pub fn status(&self, f: &Func) -> FunctionStatus {
        let d = f.deployment();
        let available = lock(&f.replicas)
            .iter()
            .filter(|r| r.state() == ReplicaState::Ready)
            .count();
        FunctionStatus {
            name: d.service.clone(),
            image: d.image.clone(),
            namespace: Some(NAMESPACE.to_string()),
            env_process: d.env_process.clone(),
            env_vars: d.env_vars.clone(),
            constraints: d.constraints.clone(),
            secrets: d.secrets.clone(),
            labels: d.labels.clone(),
            annotations: d.annotations.clone(),
            limits: d
                .limits
                .clone()
                .filter(|l| *l != FunctionResources::default()),
            requests: d
                .requests
                .clone()
                .filter(|l| *l != FunctionResources::default()),
            read_only_root_filesystem: d.read_only_root_filesystem,
            invocation_count: f.invocations.load(Ordering::Relaxed),
            replicas: u64::from(f.desired.load(Ordering::Relaxed)),
            available_replicas: available as u64,
            created_at: Some(humantime::format_rfc3339_seconds(f.created_at).to_string()),
        }
    }

    /// Every function's status, by name.
    pub fn list(&self) -> Vec<FunctionStatus> {
        let fs: Vec<Arc<Func>> = lock(&self.functions).values().cloned().collect();
        fs.iter().map(|f| self.status(f)).collect()
    }

    /// Where each live replica of `f` runs.
    pub fn placement(&self, f: &Func) -> Vec<ReplicaInfo> {
        lock(&f.replicas)
            .iter()
            .filter(|r| r.state() != ReplicaState::Dead)
            .map(|r| {
                let n = &self.nodes[r.node].node;
                ReplicaInfo {
                    node: n.name.clone(),
                    arch: n.arch,
                    class: n.class.clone(),
                    instance: r.instance().map(str::to_string),
                    state: r.state(),
                    pid: r.pid,
                    port: r.port,
                    spawned_ns: r.spawned_ns,
                    healthy_ns: r.healthy_ns(),
                    limits: r.limits.as_ref().map(|(_, e)| e.clone()),
                }
            })
            .collect()
    }

    /// Replica crashes and restarts so far, from the `from`-th on (oldest first).
    pub fn events(&self, from: usize) -> Vec<ReplicaEvent> {
        lock(&self.events).iter().skip(from).cloned().collect()
    }

    fn record(&self, e: ReplicaEvent) {
        lock(&self.events).push(e);
    }

    /// Kill every replica of every function and wait (bounded) for them to exit.
    pub async fn shutdown(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        let all: Vec<Arc<Replica>> = lock(&self.functions)
            .values()
            .flat_map(|f| lock(&f.replicas).clone())
            .collect();
        for r in &all {
            r.stopping.store(true, Ordering::SeqCst);
            let _ = exec::kill_group(r.pid, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        for r in &all {
            if !r.gone(deadline).await {
                let _ = exec::kill_group(r.pid, libc::SIGKILL);
            }
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        for r in &all {
            r.gone(deadline).await;
        }
    }
}

/// A group for the function's own `limits` inside the node's group, when it has any. Limits that
/// cannot be set are recorded (`enforced: false` with the reason), never silently dropped.
fn replica_limits(
    nr: &NodeRuntime,
    d: &FunctionDeployment,
    port: u16,
) -> Option<(Option<NodeCgroup>, Enforcement)> {
    let l = d.limits.as_ref()?;
    let cpus = l
        .cpu
        .as_deref()
        .and_then(|c| crate::spec::parse_cpu(c).ok());
    let mem = l
        .memory
        .as_deref()
        .and_then(|m| crate::spec::parse_memory(m).ok());
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
        f.crashed_pending.fetch_add(1, Ordering::SeqCst);
        reg.record(ReplicaEvent {
            unix_ns: unix_ns(SystemTime::now()),
            function,
            node: reg.nodes[r.node].node.name.clone(),
            kind: ReplicaEventKind::Crashed,
            pid: r.pid,
            detail: Some(exit_detail(&status)),
        });
    }
    r.state.send_replace(ReplicaState::Dead);
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

/// Poll `/_/health` until it answers 200, the replica dies, or the deadline passes.
async fn probe(r: Arc<Replica>, deadline: Instant) {
    while Instant::now() < deadline && r.state() == ReplicaState::Starting {
        if let Some(instance) = health_once(r.port).await {
            r.healthy_ns
                .store(unix_ns(SystemTime::now()), Ordering::Relaxed);
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
        tokio::time::sleep(HEALTH_POLL).await;
    }
}

/// One health probe: `Some(instance id)` when `/_/health` answered 200.
async fn health_once(port: u16) -> Option<Option<String>> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
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
