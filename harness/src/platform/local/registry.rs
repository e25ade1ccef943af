//! Deployed functions and their replicas on the local platform: placement by constraint,
//! scaling (to and from zero, through the gateway's cold-start model), death detection and
//! replacement. A replica is a host process ([`process`]) or a container ([`container`]),
//! as its node's `runtime` says; [`replica`] holds what both share.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use super::logs::LogStore;
use super::model::{self, ProbeSchedule, ReplicaCache};
use super::node::NodeRuntime;
use super::secrets::SecretStore;
use super::LocalError;
use crate::openfaas::{FunctionDeployment, FunctionResources, FunctionStatus, LABEL_SCALE_MIN};
use crate::spec::{all_match, Arch, Constraint, GatewayModel, ReplicaRuntime};
use crate::store::clock::now_ns;
use crate::store::events::{ReplicaEvent, ReplicaEventKind};

pub mod container;
mod process;
pub mod replica;
mod rollout;

pub use container::Containers;
pub use replica::{ContainerStart, Replica, ReplicaInfo, ReplicaState};

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

/// A checked deployment: its constraints, eligible nodes, binary per arch and min replicas.
type Resolved = (Vec<Constraint>, Vec<usize>, BTreeMap<Arch, PathBuf>, u32);

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
    /// The container runtime, when a node runs containers.
    containers: Option<Arc<Containers>>,
    /// How a cold start is noticed (`[platform.gateway] model`).
    model: GatewayModel,
    /// The CE gateway's replica-count cache (used by `openfaas-ce`).
    replica_cache: ReplicaCache,
}

/// A replica chosen for one call, and whether the call had to wait for it to start.
pub struct Picked {
    /// The replica.
    pub replica: Arc<Replica>,
    /// The call waited for a cold start.
    pub cold: bool,
    /// `openfaas-ce`: when the gateway's poll saw the new replica available, unix ns.
    pub noticed_ns: Option<u64>,
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
            containers: None,
            model: GatewayModel::None,
            replica_cache: ReplicaCache::new(model::CE_CACHE_EXPIRY),
        }
    }

    /// Run replicas of `runtime = "containerd"` nodes on `containers`.
    pub fn with_containers(mut self, containers: Arc<Containers>) -> Self {
        self.containers = Some(containers);
        self
    }

    /// Scale from zero as `model` does.
    pub fn with_model(mut self, model: GatewayModel) -> Self {
        self.model = model;
        self
    }

    /// The gateway's cold-start model.
    pub fn model(&self) -> GatewayModel {
        self.model
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
    fn resolve(&self, d: &FunctionDeployment) -> Result<Resolved, LocalError> {
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
                r.end(libc::SIGKILL);
            }
            let deadline = Instant::now() + Duration::from_secs(10);
            for r in &extra {
                if !r.gone(deadline).await {
                    return Err(LocalError::Stuck { pid: r.pid });
                }
            }
        }
        for _ in f.live().len()..n as usize {
            self.spawn(f).await?;
        }
        Ok(())
    }

    /// Start one replica on the eligible node with the fewest live replicas of `f`, as a
    /// process or a container by the node's runtime, and its readiness probe.
    async fn spawn(self: &Arc<Self>, f: &Arc<Func>) -> Result<Arc<Replica>, LocalError> {
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
        let r = match self.nodes[node].node.runtime {
            ReplicaRuntime::Process => process::spawn(self, f, node)?,
            ReplicaRuntime::Containerd => container::spawn(self, f, node).await?,
        };
        let started = Instant::now();
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
                unix_ns: r.spawned_ns,
                function: f.deployment().service,
                node: self.nodes[node].node.name.clone(),
                kind: ReplicaEventKind::Restarted,
                pid: r.pid,
                detail: None,
            });
        }
        tokio::spawn(replica::probe(
            r.clone(),
            started,
            ProbeSchedule::of(self.model),
            started + self.health_timeout,
        ));
        Ok(r)
    }

    /// Choose a ready replica for a call, starting one (scale from zero) when none is ready,
    /// and replacing dead replicas in the background.
    pub async fn pick(self: &Arc<Self>, f: &Arc<Func>) -> Result<Picked, LocalError> {
        if self.model == GatewayModel::OpenfaasCe {
            if let Some(p) = self.pick_ce(f).await? {
                return Ok(p);
            }
        }
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
                noticed_ns: None,
            });
        }
        let deadline = Instant::now() + self.health_timeout;
        let starting = {
            let _g = f.scale_lock.lock().await;
            if let Some(r) = f.next_ready() {
                return Ok(Picked {
                    replica: r,
                    cold: false,
                    noticed_ns: None,
                });
            }
            if f.desired.load(Ordering::SeqCst) == 0 {
                f.desired.store(1, Ordering::SeqCst);
            }
            match f.starting() {
                Some(r) => r,
                None => self.spawn(f).await?,
            }
        };
        match starting.settled(deadline).await {
            ReplicaState::Ready => Ok(Picked {
                replica: starting,
                cold: true,
                noticed_ns: None,
            }),
            state => {
                if state == ReplicaState::Starting {
                    starting.end(libc::SIGKILL);
                }
                Err(self.start_error(f, &starting, state))
            }
        }
    }

    /// The OpenFaaS CE gateway's scale-from-zero ([`model`]): a fresh cached count or the
    /// provider's says a replica is available, or the gateway sets one replica and polls every
    /// 100 ms until one is. `None`: no replica ready to hand out after all (the caller falls back
    /// to the plain path).
    async fn pick_ce(self: &Arc<Self>, f: &Arc<Func>) -> Result<Option<Picked>, LocalError> {
        // Every call passes here: take the name only, not a copy of the whole deployment.
        let name = lock(&f.deployment).service.clone();
        let available = |f: &Func| {
            lock(&f.replicas)
                .iter()
                .filter(|r| r.state() == ReplicaState::Ready)
                .count()
        };
        let now = Instant::now();
        let cached = self.replica_cache.get(&name, now);
        let n = cached.unwrap_or_else(|| {
            let n = available(f);
            self.replica_cache.set(&name, n, now);
            n
        });
        if n > 0 {
            return Ok(f.next_ready().map(|replica| Picked {
                replica,
                cold: false,
                noticed_ns: None,
            }));
        }
        let deadline = Instant::now() + self.health_timeout;
        let starting = {
            let _g = f.scale_lock.lock().await;
            if f.desired.load(Ordering::SeqCst) == 0 {
                f.desired.store(1, Ordering::SeqCst);
            }
            match (f.starting(), f.next_ready()) {
                (Some(r), _) => Some(r),
                (None, Some(_)) => None,
                (None, None) => Some(self.spawn(f).await?),
            }
        };
        let waited = model::poll_until_available(
            &self.replica_cache,
            &name,
            || match available(f) {
                0 if starting
                    .as_ref()
                    .is_some_and(|r| r.state() == ReplicaState::Dead) =>
                {
                    model::Poll::Failed
                }
                n => model::Poll::Available(n),
            },
            model::CE_POLL_INTERVAL,
            model::CE_MAX_POLL_COUNT,
            deadline,
        )
        .await;
        match waited {
            model::Waited::Noticed(at) => {
                let noticed_ns = now_ns()
                    .saturating_sub(Instant::now().saturating_duration_since(at).as_nanos() as u64);
                Ok(f.next_ready().map(|replica| Picked {
                    cold: starting.as_ref().is_some_and(|s| Arc::ptr_eq(s, &replica)),
                    replica,
                    noticed_ns: Some(noticed_ns),
                }))
            }
            failed => {
                let Some(s) = starting else {
                    return Ok(None);
                };
                let state = s.state();
                if failed == model::Waited::TimedOut && state == ReplicaState::Starting {
                    s.end(libc::SIGKILL);
                }
                Err(self.start_error(f, &s, state))
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
        let unless_empty = |r: &Option<FunctionResources>| {
            r.clone().filter(|l| *l != FunctionResources::default())
        };
        FunctionStatus {
            limits: unless_empty(&d.limits),
            requests: unless_empty(&d.requests),
            invocation_count: f.invocations.load(Ordering::Relaxed),
            replicas: u64::from(f.desired.load(Ordering::Relaxed)),
            available_replicas: available as u64,
            created_at: Some(humantime::format_rfc3339_seconds(f.created_at).to_string()),
            ..FunctionStatus::of_deployment(&d, NAMESPACE)
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
                    container: r.container.as_ref().map(|c| c.id.clone()),
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
            r.end(libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        for r in &all {
            if !r.gone(deadline).await {
                r.end(libc::SIGKILL);
            }
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        for r in &all {
            r.gone(deadline).await;
        }
        if let Some(c) = &self.containers {
            match c.runtime.down().await {
                Ok(n) => eprintln!("faasbed gateway: containerd down ({n} container(s) removed)"),
                Err(e) => eprintln!("faasbed gateway: containerd down: {e}"),
            }
        }
    }
}
