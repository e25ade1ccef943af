//! Replicas as real containers: faasbed's own containerd, images built here as OCI layouts and
//! imported without a registry, one network namespace per replica on its site's CNI bridge, and
//! runc applying the node's CPU quota and memory limit. ARM images run through the host's
//! binfmt registration of qemu-user-static (flag `F`), as multi-arch containers do.
//!
//! Every step of a replica's start is timed on the host clock ([`Phases`]), so a cold start on
//! this runtime can be split into image import, snapshot and container create, network attach
//! and task start. Everything is labelled with the run id (containers: [`ctr::RUN_LABEL`]) and
//! removed by [`Runtime::down`].

pub mod cni;
pub mod ctr;
pub mod daemon;
pub mod oci;

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::exec::{self, Cmd, ExecError};
use crate::spec::Arch;
use crate::store::clock::now_ns;
use cni::SiteNet;
use daemon::{Daemon, DaemonDirs};

/// Errors of the container runtime.
#[derive(Debug, thiserror::Error)]
pub enum ContainerdError {
    /// A command failed (its line, status and output are in the source).
    #[error("containerd runtime")]
    Exec(#[source] ExecError),
    /// A bind mount's path that ctr's `--mount` cannot carry.
    #[error("cannot bind-mount {path} into a container: the path must be absolute UTF-8 without ','; use a --home (run directory) path without commas")]
    MountPath {
        /// The path.
        path: PathBuf,
    },
    /// A file or folder could not be written.
    #[error("cannot write {path}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A containerd given by the user does not answer.
    #[error("no containerd answers at {socket}: start it, or leave the socket unset so faasbed starts its own")]
    NotServing {
        /// The socket tried.
        socket: PathBuf,
        /// `ctr version`'s failure.
        #[source]
        source: ExecError,
    },
    /// faasbed's containerd did not serve its socket in time.
    #[error("containerd did not serve its socket within {timeout:?}; its log is {log}")]
    StartTimeout {
        /// The daemon's log file.
        log: PathBuf,
        /// How long faasbed waited.
        timeout: Duration,
        /// The last `ctr version` failure.
        #[source]
        source: ExecError,
    },
    /// faasbed's containerd exited while starting.
    #[error("containerd exited while starting; its log is {log}")]
    Exited {
        /// The daemon's log file.
        log: PathBuf,
    },
    /// The socket path is longer than a unix socket address allows.
    #[error("the containerd socket path {path} is {len} bytes, over the 100 a unix socket allows: use a shorter --home")]
    SocketPath {
        /// The path.
        path: PathBuf,
        /// Its length, bytes.
        len: usize,
    },
    /// A tool printed something faasbed cannot read.
    #[error("cannot read the output of `{command}`: {why}")]
    Parse {
        /// The command line.
        command: String,
        /// What was wrong.
        why: String,
    },
    /// A container did not stop after SIGKILL.
    #[error("container {id} still runs {timeout:?} after SIGKILL")]
    StopTimeout {
        /// The container id.
        id: String,
        /// How long faasbed waited.
        timeout: Duration,
    },
    /// Writing an image layout failed.
    #[error(transparent)]
    Oci(#[from] oci::OciError),
}

impl From<ExecError> for ContainerdError {
    fn from(e: ExecError) -> Self {
        ContainerdError::Exec(e)
    }
}

/// A phase of a replica's start: host-clock unix ns at its start and end.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Span {
    /// Start, unix ns.
    pub start_ns: u64,
    /// End, unix ns.
    pub end_ns: u64,
}

impl Span {
    /// Its length, ns.
    pub fn ns(&self) -> u64 {
        self.end_ns.saturating_sub(self.start_ns)
    }
}

async fn timed<T, E>(f: impl std::future::Future<Output = Result<T, E>>) -> Result<(T, Span), E> {
    let start_ns = now_ns();
    let v = f.await?;
    Ok((
        v,
        Span {
            start_ns,
            end_ns: now_ns(),
        },
    ))
}

/// The timed phases of one container replica's start.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Phases {
    /// Image layout written and imported (unpacked into a snapshot); `None` when it was present.
    pub import: Option<Span>,
    /// `ctr containers create`: container record and snapshot prepared from the image.
    pub create: Span,
    /// Network namespace created and attached to the site bridge (CNI ADD).
    pub network: Span,
    /// `ctr tasks start`: runc creates namespaces and cgroup, and starts the process.
    pub start: Span,
}

/// One function image for one arch.
#[derive(Debug, Clone)]
pub struct Image<'a> {
    /// The reference, e.g. `faasbed.local/echo:<hash>-arm64`.
    pub reference: &'a str,
    /// Its arch.
    pub arch: Arch,
    /// The static binary.
    pub binary: &'a [u8],
}

/// What one replica needs.
#[derive(Debug, Clone)]
pub struct ReplicaSpec {
    /// Unique among the run's containers: `[A-Za-z0-9_.-]`.
    pub name: String,
    /// Image reference (imported before, see [`Runtime::import`]).
    pub image: String,
    /// The site's index in the scenario (its bridge and /24).
    pub site: u16,
    /// CPU quota in cores (`0.5` = 50 ms per 100 ms); `None` for none.
    pub cpus: Option<f64>,
    /// Memory limit, bytes.
    pub memory_bytes: Option<u64>,
    /// The replica's environment.
    pub env: Vec<(String, String)>,
    /// File its stdout and stderr are appended to (absolute); `None`: discarded.
    pub log: Option<PathBuf>,
    /// Host folders mounted read-only into the container: (source, destination), absolute.
    pub binds_ro: Vec<(PathBuf, PathBuf)>,
}

/// A running replica container.
#[derive(Debug, Clone)]
pub struct Container {
    /// Container id (`<run short id>-<name>`).
    pub id: String,
    /// Its network namespace's name.
    pub netns: String,
    /// The site it is attached to.
    pub site: SiteNet,
    /// Its address on the site bridge.
    pub addr: Ipv4Addr,
    /// Host pid of its process (0 if unknown).
    pub pid: u32,
    /// How its start was spent.
    pub phases: Phases,
}

/// `path` as ctr's `--mount` takes it: absolute, and without the `,` that separates its fields.
fn mount_path(path: &Path) -> Option<String> {
    path.to_str()
        .filter(|s| path.is_absolute() && !s.contains(','))
        .map(str::to_string)
}

/// CFS period faasbed uses for container CPU quotas, µs.
pub const CPU_PERIOD_US: u64 = 100_000;

/// The container runtime of one run.
#[derive(Debug)]
pub struct Runtime {
    daemon: Daemon,
    run_id: String,
    short: String,
    home_id: String,
    state: PathBuf,
    plugin_dir: PathBuf,
    imported: Mutex<HashSet<String>>,
    containers: Mutex<HashMap<String, Container>>,
    bridges: Mutex<HashSet<String>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A short id for names with tight limits (bridges: 15 bytes): 7 hex digits of the run id's hash.
pub fn short_id(run_id: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(run_id.as_bytes()))[..7].to_string()
}

impl Runtime {
    /// Start faasbed's containerd under `state/containerd` (or attach to `socket`), for `run_id`
    /// of the home `home_id`.
    pub async fn start(
        state: &Path,
        run_id: &str,
        home_id: &str,
        socket: Option<&Path>,
    ) -> Result<Runtime, ContainerdError> {
        let daemon = match socket {
            Some(s) => Daemon::attach(s).await?,
            None => {
                let dirs = DaemonDirs::new(state.join("containerd"));
                let sock = dirs.socket();
                let len = sock.as_os_str().len() + ".ttrpc".len();
                if len > 100 {
                    return Err(ContainerdError::SocketPath { path: sock, len });
                }
                Daemon::start(&dirs, run_id).await?
            }
        };
        Ok(Runtime {
            daemon,
            run_id: run_id.to_string(),
            short: short_id(run_id),
            home_id: home_id.to_string(),
            state: state.to_path_buf(),
            plugin_dir: PathBuf::from(cni::DEBIAN_PLUGIN_DIR),
            imported: Mutex::default(),
            containers: Mutex::default(),
            bridges: Mutex::default(),
        })
    }

    /// The daemon's socket.
    pub fn socket(&self) -> &Path {
        &self.daemon.socket
    }

    /// Was `reference` imported by this handle (and not removed since)?
    pub fn has_image(&self, reference: &str) -> bool {
        lock(&self.imported).contains(reference)
    }

    /// Write `image` as an OCI layout and import it, unless it was imported already and
    /// `fresh` is false. Returns the time spent, or `None` when nothing was done.
    pub async fn import(
        &self,
        image: &Image<'_>,
        fresh: bool,
    ) -> Result<Option<Span>, ContainerdError> {
        if !fresh && lock(&self.imported).contains(image.reference) {
            return Ok(None);
        }
        let (_, span) = timed(async {
            if fresh {
                // a removed image is gone with its unpacked snapshot once no container holds it
                let _ = exec::run(&ctr::image_rm(self.socket(), image.reference)).await;
            }
            let layout = oci::image_layout(&oci::ImageSpec {
                reference: image.reference,
                arch: image.arch,
                binary: image.binary,
            })?;
            let dir = self.state.join("images");
            let tar = dir.join(format!("{}.tar", &layout.manifest_digest[7..]));
            let io = |source| ContainerdError::Io {
                path: tar.clone(),
                source,
            };
            std::fs::create_dir_all(&dir).map_err(io)?;
            std::fs::write(&tar, &layout.tar).map_err(io)?;
            let platform = oci::platform_string(image.arch);
            exec::run(&ctr::import(self.socket(), &tar, &platform)).await?;
            Ok::<_, ContainerdError>(())
        })
        .await?;
        lock(&self.imported).insert(image.reference.to_string());
        Ok(Some(span))
    }

    /// Create, attach and start one replica container.
    pub async fn run(&self, spec: &ReplicaSpec) -> Result<Container, ContainerdError> {
        let id = format!("{}-{}", self.short, spec.name);
        let netns = format!("fb{}-{}", self.short, spec.name);
        let site = SiteNet::new(&self.short, spec.site, &self.state).ok_or_else(|| {
            ContainerdError::Parse {
                command: format!("site {}", spec.site),
                why: "more than 512 sites".into(),
            }
        })?;
        let mut binds = Vec::new();
        for (src, dst) in &spec.binds_ro {
            match (mount_path(src), mount_path(dst)) {
                (Some(s), Some(d)) => binds.push((s, d)),
                (None, _) => return Err(ContainerdError::MountPath { path: src.clone() }),
                (_, None) => return Err(ContainerdError::MountPath { path: dst.clone() }),
            }
        }
        let c = ctr::ContainerSpec {
            id: id.clone(),
            image: spec.image.clone(),
            netns: Some(cni::netns_path(&netns).display().to_string()),
            cpu_quota_us: spec
                .cpus
                .map(|c| ((c * CPU_PERIOD_US as f64).round() as u64).max(1000)),
            cpu_period_us: CPU_PERIOD_US,
            memory_bytes: spec.memory_bytes,
            env: spec.env.clone(),
            binds_ro: binds,
            labels: vec![],
        };
        let (addr, network) = timed(async {
            exec::run(&cni::netns_add(&netns)).await?;
            lock(&self.bridges).insert(site.bridge.clone());
            let out = exec::run(&cni::plugin(
                &self.plugin_dir,
                &site,
                "ADD",
                &id,
                &cni::netns_path(&netns),
            ))
            .await?;
            cni::parse_add_result(&out.stdout).map_err(|why| ContainerdError::Parse {
                command: "CNI bridge ADD".into(),
                why,
            })
        })
        .await?;
        let (_, create) = timed(exec::run(&ctr::create(
            self.socket(),
            &c,
            &self.run_id,
            &self.home_id,
        )))
        .await?;
        let log = spec.log.as_deref();
        let (_, start) = timed(exec::run(&ctr::start(self.socket(), &id, log))).await?;
        let pid = self.task(&id).await?.map_or(0, |t| t.pid);
        let container = Container {
            id: id.clone(),
            netns,
            site,
            addr,
            pid,
            phases: Phases {
                import: None,
                create,
                network,
                start,
            },
        };
        lock(&self.containers).insert(id, container.clone());
        Ok(container)
    }

    async fn task(&self, id: &str) -> Result<Option<ctr::Task>, ContainerdError> {
        let cmd = ctr::tasks(self.socket());
        let out = exec::run(&cmd).await?;
        let tasks = ctr::parse_tasks(&out.stdout).map_err(|why| ContainerdError::Parse {
            command: cmd.display(),
            why,
        })?;
        Ok(tasks.into_iter().find(|t| t.id == id))
    }

    /// Stop and remove one container: SIGKILL, wait until its task stops, delete task and
    /// container (with its snapshot), detach and delete its network namespace.
    pub async fn remove(&self, id: &str) -> Result<(), ContainerdError> {
        let netns = lock(&self.containers).remove(id).map(|c| (c.netns, c.site));
        let _ = exec::run(&ctr::kill(self.socket(), id)).await;
        let timeout = Duration::from_secs(10);
        let deadline = Instant::now() + timeout;
        while self.task(id).await?.is_some_and(|t| t.status == "RUNNING") {
            if Instant::now() >= deadline {
                return Err(ContainerdError::StopTimeout {
                    id: id.to_string(),
                    timeout,
                });
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if self.task(id).await?.is_some() {
            exec::run(&ctr::task_delete(self.socket(), id)).await?;
        }
        exec::run(&ctr::delete(self.socket(), id)).await?;
        if let Some((ns, site)) = netns {
            exec::run(&cni::plugin(
                &self.plugin_dir,
                &site,
                "DEL",
                id,
                &cni::netns_path(&ns),
            ))
            .await?;
            exec::run(&cni::netns_del(&ns)).await?;
        }
        Ok(())
    }

    /// Remove every container of this run (also ones a crashed earlier handle left), the site
    /// bridges, and stop the daemon faasbed started. Returns how many containers were removed.
    pub async fn down(&self) -> Result<usize, ContainerdError> {
        let cmd = ctr::list_labelled(self.socket(), ctr::RUN_LABEL, &self.run_id);
        let ids = ctr::parse_ids(&exec::run(&cmd).await?.stdout);
        let mut first_err = None;
        for id in &ids {
            if let Err(e) = self.remove(id).await {
                first_err.get_or_insert(e);
            }
        }
        let bridges: Vec<String> = lock(&self.bridges).drain().collect();
        for b in bridges {
            let _ = exec::run(&cni::link_del(&b)).await;
        }
        // What a crashed earlier handle left: network namespaces and links named for this run.
        let prefix = format!("fb{}", self.short);
        if let Ok(out) = exec::run(&Cmd::new("ip").args(["netns", "list"])).await {
            for ns in names_with_prefix(&out.stdout, &prefix, false) {
                let _ = exec::run(&cni::netns_del(&ns)).await;
            }
        }
        if let Ok(out) = exec::run(&Cmd::new("ip").args(["-o", "link"])).await {
            for link in names_with_prefix(&out.stdout, &prefix, true) {
                let _ = exec::run(&cni::link_del(&link)).await;
            }
        }
        self.daemon.stop().await;
        match first_err {
            Some(e) => Err(e),
            None => {
                let dir = self.state.join("containerd");
                let _ = std::fs::create_dir_all(&dir);
                let _ = std::fs::write(dir.join(SWEPT_MARKER), b"");
                Ok(ids.len())
            }
        }
    }
}

/// Written under `<state>/containerd` once `down` removed everything, so a later sweep need
/// not start the daemon again.
pub const SWEPT_MARKER: &str = "swept";

/// In the run directory: the socket of a containerd the scenario gave (`containerd_socket`).
pub const GIVEN_SOCKET_FILE: &str = "containerd.socket";

/// Remove what run `run_id` left in its containerd under `state` (the run directory) when no
/// `down` completed: faasbed's own daemon is started again (containerd cleans up tasks whose
/// shim died); a containerd the scenario gave is attached to. Returns the containers removed.
pub async fn sweep_run(state: &Path, run_id: &str) -> Result<usize, ContainerdError> {
    let dir = state.join("containerd");
    if dir.join(SWEPT_MARKER).exists() {
        return Ok(0);
    }
    let given = std::fs::read_to_string(state.join(GIVEN_SOCKET_FILE))
        .ok()
        .map(|s| PathBuf::from(s.trim()));
    if given.is_none() && !DaemonDirs::new(&dir).config().is_file() {
        return Ok(0);
    }
    let rt = Runtime::start(state, run_id, "", given.as_deref()).await?;
    rt.down().await
}

/// Names in `ip netns list` (first word of a line) or `ip -o link` (second field, without
/// `@peer` and the colon) output that start with `prefix`.
pub fn names_with_prefix(out: &str, prefix: &str, link: bool) -> Vec<String> {
    out.lines()
        .filter_map(|l| {
            let word = if link {
                l.split_whitespace().nth(1)?.trim_end_matches(':')
            } else {
                l.split_whitespace().next()?
            };
            let name = word.split('@').next()?;
            name.starts_with(prefix).then(|| name.to_string())
        })
        .collect()
}

#[cfg(test)]
mod sweep_tests {
    use super::names_with_prefix;

    #[test]
    fn finds_the_runs_namespaces_and_links_only() {
        let netns = "fbabc1234-echo-vps-1-0 (id: 3)\nother\nfbabc1234-x\nfbzzz-y\n";
        assert_eq!(
            names_with_prefix(netns, "fbabc1234", false),
            ["fbabc1234-echo-vps-1-0", "fbabc1234-x"]
        );
        let links = "1: lo: <LOOPBACK,UP> mtu 65536\n7: fbabc1234-0: <BROADCAST> mtu 1500\n8: veth12@if2: <BROADCAST>\n9: fbzzz-0@if3: <X>\n";
        assert_eq!(names_with_prefix(links, "fbabc1234", true), ["fbabc1234-0"]);
    }
}
