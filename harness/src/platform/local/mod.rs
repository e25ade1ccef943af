//! The embedded `local` platform: one machine, no Docker, no Kubernetes.
//!
//! `up` starts a gateway daemon (this same binary, `faasbed gateway-daemon`) in its own session;
//! it prepares every node (launcher, cgroup, link) and serves the OpenFaaS gateway API on a free
//! loopback port. Its address, pid and node report go to `<run dir>/gateway.json`; the basic-auth
//! password to `<run dir>/password` (mode 0600). Later commands attach through those files.

pub mod async_queue;
pub mod blkio;
pub mod cgroup;
pub mod cleanup;
pub mod env;
pub mod functions;
pub mod gateway;
pub mod image;
pub mod limits;
pub mod link;
pub mod logs;
pub mod model;
pub mod namespace;
pub mod node;
pub mod qemu_user;
pub mod registry;
pub mod secrets;
mod serve;
pub mod supervise;
pub mod upstream;

pub use serve::{serve, serve_with, Served};

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rand::RngCore;
use serde::{Deserialize, Serialize};

use super::deploy::{DeployError, Deployed};
use super::{GatewayAccess, Platform, PlatformError, ReplicaPlacement};
use crate::exec::{self, Cmd, ExecError, SpawnOpts};
use crate::spec::{self, Arch, Backend, Scenario, SpecError};
use crate::store::clock::now_ns;
use crate::store::home::Home;
use crate::store::manifest::NodeProvenance;

/// Errors of the local platform.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// A client sent something the gateway cannot accept.
    #[error("{0}")]
    BadRequest(String),
    /// No such function.
    #[error("function {0} not found")]
    NotFound(String),
    /// No such namespace, secret or other named object (404); the message names it.
    #[error("{0}")]
    NoSuch(String),
    /// The object exists already (409); the message names it.
    #[error("{0}")]
    Conflict(String),
    /// A replica did not exit after SIGKILL.
    #[error("replica pid {pid} did not exit after SIGKILL")]
    Stuck { pid: u32 },
    /// A replica exited before its health check passed.
    #[error("function {function}: replica on node {node} exited before it was healthy; see {}", log.display())]
    ReplicaDied {
        function: String,
        node: String,
        log: PathBuf,
    },
    /// A replica did not become healthy in time.
    #[error("function {function}: replica on node {node} was not healthy within {timeout:?}")]
    HealthTimeout {
        function: String,
        node: String,
        timeout: Duration,
    },
    /// No QEMU user-mode binary for an arch.
    #[error("no QEMU user-mode emulator for {arch}; run `sudo apt-get install -y qemu-user-static` (or `faasbed setup`)")]
    NoQemu { arch: Arch },
    /// The profile names a CPU model this QEMU does not have.
    #[error("node {node}: {} has no CPU model {model:?}; set `qemu_cpu`/`qemu_cpu_armhf` in its [profile] to one of: {available}", qemu.display())]
    CpuModel {
        node: String,
        qemu: PathBuf,
        model: String,
        available: String,
    },
    /// A backend the local platform cannot run.
    #[error("node {node}: backend {backend} is not a local-platform backend")]
    Backend { node: String, backend: Backend },
    /// An I/O step failed.
    #[error("cannot {what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// An external command failed.
    #[error(transparent)]
    Exec(#[from] ExecError),
    /// The scenario is invalid.
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// No topology is up.
    #[error("no local topology is up in {}; run `faasbed up` first", home.display())]
    NotUp { home: PathBuf },
    /// The gateway daemon exited during start-up.
    #[error("the gateway daemon exited during start-up; its log {} ends with:\n{tail}", log.display())]
    DaemonDied { log: PathBuf, tail: String },
    /// The gateway daemon did not come up in time.
    #[error("the gateway daemon did not answer within {timeout:?}; see {}", log.display())]
    DaemonTimeout { log: PathBuf, timeout: Duration },
    /// The gateway is stopping; no replica starts any more.
    #[error("the gateway is stopping; no new replica is started")]
    Stopping,
    /// A request body was too large, too slow or cut.
    #[error(transparent)]
    Body(#[from] limits::BodyError),
    /// The container runtime failed (the command and its output are in the source).
    #[error("container replica")]
    Container(#[source] Box<crate::nodes::containerd::ContainerdError>),
    /// An ARM container node needs binfmt's qemu-user-static entry.
    #[error("node {node}: ARM containers run through binfmt, but {entry} is not registered with flag F; run `sudo apt-get install -y qemu-user-static binfmt-support`, then `mountpoint -q /proc/sys/fs/binfmt_misc || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc; update-binfmts --enable {entry}` (or `faasbed setup`)")]
    NoBinfmt { node: String, entry: &'static str },
    /// A state file is unreadable.
    #[error("state file {} is unreadable ({message}); run `faasbed down` then `faasbed up`", path.display())]
    State { path: PathBuf, message: String },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> LocalError {
    let what = what.into();
    move |source| LocalError::Io { what, source }
}

/// What the daemon publishes in `gateway.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GatewayFile {
    /// Run id (labels every process and cgroup).
    pub run_id: String,
    /// Gateway base URL.
    pub url: String,
    /// Daemon pid (also its process group and session).
    pub pid: u32,
    /// Scenario file the topology was made from.
    pub scenario: PathBuf,
    /// sha256 of that file.
    pub scenario_hash: String,
    /// Start time, unix ns.
    pub started_ns: u64,
    /// Per node: launcher, link shape, enforcement.
    pub nodes: Vec<NodeReport>,
}

/// How one node was realised, for provenance.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeReport {
    /// Node name.
    pub name: String,
    /// Class.
    pub class: String,
    /// Arch.
    pub arch: String,
    /// Backend.
    pub backend: String,
    /// Site.
    pub site: String,
    /// Launcher (native or qemu + cpu model).
    pub launcher: serde_json::Value,
    /// Link shape from the gateway.
    pub link: serde_json::Value,
    /// What cgroup limits were enforced.
    pub enforcement: serde_json::Value,
    /// Profile values.
    pub profile: serde_json::Value,
    /// Every label of the node (what `constraints` select on).
    #[serde(default)]
    pub labels: std::collections::BTreeMap<String, String>,
    /// How replicas run on it: `process` or `containerd`.
    #[serde(default)]
    pub runtime: String,
}

fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), LocalError> {
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(mode)
        .open(&tmp)
        .map_err(io(format!("write {}", tmp.display())))?;
    f.write_all(bytes)
        .map_err(io(format!("write {}", tmp.display())))?;
    f.sync_all()
        .map_err(io(format!("sync {}", tmp.display())))?;
    std::fs::rename(&tmp, path).map_err(io(format!("rename to {}", path.display())))
}

fn read_state(path: &Path) -> Result<GatewayFile, LocalError> {
    let bytes = std::fs::read(path).map_err(|e| LocalError::State {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    serde_json::from_slice(&bytes).map_err(|e| LocalError::State {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// A running local topology, as seen by the CLI and by measurement.
#[derive(Debug)]
pub struct LocalPlatform {
    home: Home,
    run_dir: PathBuf,
    state: GatewayFile,
    access: GatewayAccess,
    child: Option<tokio::process::Child>,
    downed: bool,
}

/// Options of the daemon process (`faasbed gateway-daemon`).
#[derive(Debug, Clone)]
pub struct DaemonOpts {
    /// The run directory prepared by `up`.
    pub run_dir: PathBuf,
    /// The scenario file.
    pub scenario: PathBuf,
    /// Where function binaries are.
    pub images: PathBuf,
    /// The bench process to watch, and its run's `run.json`: when it dies, the daemon ends the
    /// run and marks it `killed` ([`supervise`]). `None`: live until `faasbed down`.
    pub watch: Option<(u32, PathBuf)>,
}

impl LocalPlatform {
    /// Start the gateway daemon for `scenario` as run `run_id` and wait until it answers.
    pub async fn up(
        home: &Home,
        scenario: &Scenario,
        run_id: &str,
    ) -> Result<LocalPlatform, LocalError> {
        Self::up_watched(home, scenario, run_id, None).await
    }

    /// [`LocalPlatform::up`], with the daemon watching this process when `run_json` is given:
    /// if this process dies without `down`, the daemon ends the run and marks `run_json` killed.
    pub async fn up_watched(
        home: &Home,
        scenario: &Scenario,
        run_id: &str,
        run_json: Option<&Path>,
    ) -> Result<LocalPlatform, LocalError> {
        let run_id = run_id.to_string();
        let run_dir = home.runs().join(&run_id);
        let logs = run_dir.join("logs");
        std::fs::create_dir_all(&logs).map_err(io(format!("create {}", logs.display())))?;
        std::fs::create_dir_all(home.images())
            .map_err(io(format!("create {}", home.images().display())))?;
        let mut pw = [0u8; 18];
        rand::thread_rng().fill_bytes(&mut pw);
        let password = hex::encode(pw);
        write_atomic(
            &run_dir.join(crate::store::home::PASSWORD_FILE),
            password.as_bytes(),
            0o600,
        )?;
        // Tests and embedders run faasbed from another executable: they name the binary.
        let exe = match std::env::var_os("FAASBED_EXE") {
            Some(p) => PathBuf::from(p),
            None => std::env::current_exe().map_err(io("find the faasbed executable"))?,
        };
        let scenario_path =
            std::fs::canonicalize(&scenario.path).unwrap_or_else(|_| scenario.path.clone());
        let mut cmd = Cmd::new(exe)
            .arg("gateway-daemon")
            .arg("--run-dir")
            .arg(&run_dir)
            .arg("--scenario")
            .arg(&scenario_path)
            .arg("--images")
            .arg(home.images());
        if let Some(rj) = run_json {
            let rj = std::path::absolute(rj).unwrap_or_else(|_| rj.to_path_buf());
            cmd = cmd
                .arg("--watch-pid")
                .arg(std::process::id().to_string())
                .arg("--run-json")
                .arg(rj);
        }
        let log = logs.join("gateway.log");
        let mut child = exec::spawn(
            &cmd,
            &SpawnOpts {
                run_id: run_id.clone(),
                cgroup_procs: vec![],
                log: Some(log.clone()),
                new_session: true,
                home: Some(std::fs::canonicalize(&home.root).unwrap_or_else(|_| home.root.clone())),
                clear_env: false,
                bind_ro: None,
            },
        )?;
        std::fs::write(home.current_file(), &run_id).map_err(io("write .faasbed/current"))?;
        let state_path = run_dir.join("gateway.json");
        let timeout = Duration::from_secs(15);
        let deadline = Instant::now() + timeout;
        let state = loop {
            if let Ok(Some(_)) = child.try_wait() {
                let tail = std::fs::read_to_string(&log).unwrap_or_default();
                let tail: String = tail
                    .lines()
                    .rev()
                    .take(15)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect::<Vec<_>>()
                    .join("\n");
                return Err(LocalError::DaemonDied { log, tail });
            }
            if state_path.exists() {
                break read_state(&state_path)?;
            }
            if Instant::now() > deadline {
                let _ = exec::kill_group(child.id().unwrap_or(0), libc::SIGKILL);
                return Err(LocalError::DaemonTimeout { log, timeout });
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        let access = GatewayAccess {
            url: state.url.clone(),
            user: "admin".into(),
            password,
        };
        Ok(LocalPlatform {
            home: home.clone(),
            run_dir,
            state,
            access,
            child: Some(child),
            downed: false,
        })
    }

    /// Attach to the topology that is up (from `.faasbed/current`).
    pub fn attach(home: &Home) -> Result<LocalPlatform, LocalError> {
        let run_dir = home.current().ok_or_else(|| LocalError::NotUp {
            home: home.root.clone(),
        })?;
        let state = read_state(&run_dir.join("gateway.json"))?;
        let pw_path = run_dir.join(crate::store::home::PASSWORD_FILE);
        let password = std::fs::read_to_string(&pw_path).map_err(|e| LocalError::State {
            path: pw_path.clone(),
            message: e.to_string(),
        })?;
        let access = GatewayAccess {
            url: state.url.clone(),
            user: "admin".into(),
            password: password.trim().to_string(),
        };
        Ok(LocalPlatform {
            home: home.clone(),
            run_dir,
            state,
            access,
            child: None,
            downed: false,
        })
    }

    /// The daemon's published state.
    pub fn state(&self) -> &GatewayFile {
        &self.state
    }

    /// The run directory.
    pub fn run_dir(&self) -> &Path {
        &self.run_dir
    }

    /// Is the daemon process still alive?
    pub fn daemon_alive(&self) -> bool {
        exec::pid_alive(self.state.pid)
    }

    async fn stop(&mut self) {
        if self.downed {
            return;
        }
        self.downed = true;
        let pid = self.state.pid;
        let _ = exec::kill_group(pid, libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        if let Some(child) = self.child.as_mut() {
            let _ = tokio::time::timeout_at(deadline.into(), child.wait()).await;
        } else {
            while exec::pid_alive(pid) && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        sweep(Some(&self.state.run_id));
        let run = [self.state.run_id.clone()].into();
        let (_, failed) = cleanup::sweep_containers(&self.home.runs(), Some(&run)).await;
        for f in failed {
            eprintln!("faasbed down: {f}");
        }
        if std::fs::read_to_string(self.home.current_file())
            .is_ok_and(|c| c.trim() == self.state.run_id)
        {
            let _ = std::fs::remove_file(self.home.current_file());
        }
    }
}

/// Kill every process labelled with `run_id` (every faasbed run when `None`) and remove its
/// cgroups. Returns the number of processes killed; [`cleanup::sweep`] reports more.
pub fn sweep(run_id: Option<&str>) -> usize {
    let scope = run_id.map_or(cleanup::Scope::All, |r| cleanup::Scope::Run(r.to_string()));
    cleanup::sweep(&scope).processes
}

impl Platform for LocalPlatform {
    fn gateway(&self) -> &GatewayAccess {
        &self.access
    }

    async fn build(
        &self,
        scenario: &Scenario,
        log: &mut dyn FnMut(&str),
    ) -> Result<Vec<Deployed>, DeployError> {
        functions::build_functions(scenario, &self.home.images(), log).await
    }

    async fn enforce_placement(&self, _scenario: &Scenario) -> Result<(), PlatformError> {
        // The embedded gateway places every replica by the function's constraints itself.
        Ok(())
    }

    async fn node_provenance(&self, _scenario: &Scenario) -> Vec<NodeProvenance> {
        self.state
            .nodes
            .iter()
            .map(|n| NodeProvenance {
                name: n.name.clone(),
                class: n.class.clone(),
                arch: n.arch.clone(),
                backend: n.backend.clone(),
                site: n.site.clone(),
                emulated: n.backend == "qemu-user" || n.backend == "qemu-vm",
                launcher: n.launcher.clone(),
                link: n.link.clone(),
                enforcement: n.enforcement.clone(),
                profile: n.profile.clone(),
            })
            .collect()
    }

    async fn force_cold(&self, function: &str) -> Result<(), PlatformError> {
        let c = self.access.client();
        // The local gateway accepts 0 and returns once every replica has been reaped.
        c.scale(function, 0).await?;
        let left = self.placement(function).await?;
        if let Some(r) = left.first() {
            return Err(PlatformError::Local(LocalError::BadRequest(format!(
                "function {function} still has a replica on node {} after scaling to 0",
                r.node
            ))));
        }
        Ok(())
    }

    async fn placement(&self, function: &str) -> Result<Vec<ReplicaPlacement>, PlatformError> {
        let c = self.access.client();
        let reps: Vec<registry::ReplicaInfo> = c
            .get_json(&format!("/system/faasbed/replicas/{function}"))
            .await?;
        Ok(reps
            .into_iter()
            .map(|r| ReplicaPlacement {
                node: r.node,
                arch: r.arch,
                class: r.class,
                instance: r.instance,
                ready: r.state == registry::ReplicaState::Ready,
            })
            .collect())
    }

    async fn replica_events(&self) -> Vec<crate::store::events::ReplicaEvent> {
        // Best effort: a gateway that cannot answer has nothing more to tell.
        self.access
            .client()
            .get_json("/system/faasbed/events")
            .await
            .unwrap_or_default()
    }

    async fn down(&mut self) -> Result<(), PlatformError> {
        self.stop().await;
        Ok(())
    }

    fn cold_settle(&self) -> Duration {
        Duration::ZERO
    }
}

/// The gateway daemon: serve until SIGTERM/SIGINT, then stop every replica.
pub async fn run_daemon(opts: DaemonOpts) -> Result<(), LocalError> {
    // The daemon is the local platform: a k3d scenario runs here with its topology retargeted.
    let mut scenario = spec::load(&opts.scenario)?.retarget(spec::PlatformKind::Local)?;
    // The calibration `bench`/`up` checked and recorded for this run sets the classes' quotas.
    match crate::calibrate::apply::apply_recorded(&mut scenario, &opts.run_dir) {
        Ok(c) if !c.is_empty() => eprintln!("calibrated CPU quota applied to {}", c.join(", ")),
        Ok(_) => {}
        Err(e) => eprintln!("warning: calibration not applied: {e}"),
    }
    let run_id = opts
        .run_dir
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let pw_path = opts.run_dir.join(crate::store::home::PASSWORD_FILE);
    let password =
        std::fs::read_to_string(&pw_path).map_err(io(format!("read {}", pw_path.display())))?;
    let served = serve(
        &scenario,
        &run_id,
        password.trim(),
        &opts.images,
        &opts.run_dir.join("logs"),
    )
    .await?;
    let state = GatewayFile {
        run_id: run_id.clone(),
        url: served.url.clone(),
        pid: std::process::id(),
        scenario: opts.scenario.clone(),
        scenario_hash: scenario.hash.clone(),
        started_ns: now_ns(),
        nodes: served.nodes.clone(),
    };
    let bytes = serde_json::to_vec_pretty(&state).unwrap_or_default();
    write_atomic(&opts.run_dir.join("gateway.json"), &bytes, 0o644)?;
    eprintln!("faasbed gateway {} listening on {}", run_id, state.url);
    let orphaned = async {
        match &opts.watch {
            Some((pid, _)) => supervise::parent_exited(*pid).await,
            None => std::future::pending().await,
        }
    };
    let killed = tokio::select! {
        _ = wait_for_stop_signal() => false,
        _ = orphaned => true,
    };
    eprintln!("faasbed gateway {run_id}: stopping");
    served.stop().await;
    if let (true, Some((pid, run_json))) = (killed, &opts.watch) {
        // The bench process died without `down`: end what is left of the run, then say so.
        let swept = cleanup::sweep(&cleanup::Scope::Run(run_id.clone()));
        let marked = supervise::mark_killed(run_json);
        eprintln!(
            "faasbed gateway {run_id}: bench process {pid} died; ended the run ({} process(es), {} cgroup(s)); {}: {}",
            swept.processes,
            swept.cgroups,
            run_json.display(),
            match marked {
                Ok(true) => "marked killed".to_string(),
                Ok(false) => "already ended, left as it is".to_string(),
                Err(e) => format!("cannot mark it killed: {e}"),
            }
        );
        if let Some(home) = opts.run_dir.parent().and_then(Path::parent) {
            let current = home.join("current");
            if std::fs::read_to_string(&current).is_ok_and(|c| c.trim() == run_id) {
                let _ = std::fs::remove_file(current);
            }
        }
    }
    Ok(())
}

async fn wait_for_stop_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        // Without signal handlers, park forever; `down` escalates to SIGKILL and sweeps.
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {},
        _ = int.recv() => {},
    }
}
