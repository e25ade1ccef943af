//! Replicas as containers (`runtime = "containerd"`): the function's static binary imported as
//! an OCI image for the node's arch, one container per replica with the node's CPU and memory
//! limits (the function's own where smaller) on its site's CNI bridge, watched until it exits
//! and then removed (task, container, snapshot, network namespace).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::replica::{ContainerStart, Replica, ReplicaState};
use super::{lock, Func, Registry, NAMESPACE};
use crate::nodes::containerd::{ContainerdError, Image, ReplicaSpec, Runtime, Span};
use crate::platform::local::logs::Source;
use crate::platform::local::{env, secrets, LocalError};
use crate::spec::{Arch, ImageCache};
use crate::store::clock::now_ns;

/// Port a container replica listens on (its own network namespace, so always free).
pub const CONTAINER_PORT: u16 = 8080;
/// Folder under the run's `logs/` holding each container's own output file (`<name>.log`),
/// which its shim appends to and the gateway follows.
pub const CONTAINER_LOGS: &str = "containers";
/// How often a container's process is checked for exit.
const WATCH_POLL: Duration = Duration::from_millis(20);

/// The container runtime of one local topology.
#[derive(Debug)]
pub struct Containers {
    /// faasbed's containerd for this run.
    pub runtime: Runtime,
    /// Site names in scenario order: a node's site index picks its bridge and /24.
    sites: Vec<String>,
    /// Image present, or imported fresh before each replica start.
    image_cache: ImageCache,
    /// Image reference by binary path (`faasbed.local/<service>:<sha256[..12]>-<arch>`).
    references: Mutex<HashMap<PathBuf, String>>,
    seq: AtomicU64,
}

impl Containers {
    /// Containers on `runtime` for a topology whose sites are `sites` (scenario order).
    pub fn new(runtime: Runtime, sites: Vec<String>, image_cache: ImageCache) -> Containers {
        Containers {
            runtime,
            sites,
            image_cache,
            references: Mutex::default(),
            seq: AtomicU64::new(0),
        }
    }

    fn reference(&self, service: &str, binary: &Path, arch: Arch) -> Result<String, LocalError> {
        if let Some(r) = lock(&self.references).get(binary) {
            return Ok(r.clone());
        }
        use sha2::Digest;
        let bytes = read(binary)?;
        let hash = hex::encode(sha2::Sha256::digest(&bytes));
        let r = format!("faasbed.local/{service}:{}-{}", &hash[..12], arch.as_str());
        lock(&self.references).insert(binary.to_path_buf(), r.clone());
        Ok(r)
    }

    /// Import the image unless it is present (always, when the cache state is `fresh`); the
    /// span covers reading the binary, writing the layout and `ctr images import`.
    async fn import(
        &self,
        reference: &str,
        binary: &Path,
        arch: Arch,
    ) -> Result<Option<Span>, LocalError> {
        let fresh = self.image_cache == ImageCache::Fresh;
        if !fresh && self.runtime.has_image(reference) {
            return Ok(None);
        }
        let start_ns = now_ns();
        let bytes = read(binary)?;
        let image = Image {
            reference,
            arch,
            binary: &bytes,
        };
        self.runtime.import(&image, fresh).await.map_err(ctd)?;
        Ok(Some(Span {
            start_ns,
            end_ns: now_ns(),
        }))
    }
}

fn read(binary: &Path) -> Result<Vec<u8>, LocalError> {
    std::fs::read(binary).map_err(|source| LocalError::Io {
        what: format!("read function binary {}", binary.display()),
        source,
    })
}

fn ctd(e: ContainerdError) -> LocalError {
    LocalError::Container(Box::new(e))
}

/// The environment a container replica of a function with `vars` gets on `node`: the
/// contract's variables, bound where the site's bridge reaches it, and on an ARM node
/// `QEMU_CPU` with the profile's CPU model, which binfmt's qemu-user reads (a deploy cannot set
/// `QEMU_*` itself, see [`env::refused`]).
pub(super) fn container_env(
    node: &crate::spec::Node,
    vars: &std::collections::BTreeMap<String, String>,
) -> Vec<(String, String)> {
    let mut envs = env::replica(CONTAINER_PORT, &node.name, vars);
    // The container has its own network namespace: listen where the bridge reaches it.
    for (k, v) in envs.iter_mut() {
        if k == env::HOST {
            *v = "0.0.0.0".to_string();
        }
    }
    if let Some(cpu) = node.qemu_cpu() {
        envs.push((env::QEMU_CPU.to_string(), cpu.to_string()));
    }
    envs
}

/// The bind mount of `d`'s secrets, when it names any.
fn secret_binds(
    reg: &Registry,
    d: &crate::openfaas::FunctionDeployment,
) -> Result<Vec<(PathBuf, PathBuf)>, LocalError> {
    if d.secrets.is_empty() {
        return Ok(Vec::new());
    }
    let store = reg.secrets.as_ref().ok_or_else(|| {
        LocalError::BadRequest(format!(
            "function {} names secrets, but this gateway has no secret store",
            d.service
        ))
    })?;
    let view =
        std::path::absolute(store.view_dir(&d.service)).map_err(|source| LocalError::Io {
            what: "resolve the secrets folder".into(),
            source,
        })?;
    Ok(vec![(view, PathBuf::from(secrets::MOUNT_PATH))])
}

/// Start one container replica of `f` on node `node` and its watcher; the replica is
/// `Starting` until its probe passes.
pub(super) async fn spawn(
    reg: &Arc<Registry>,
    f: &Arc<Func>,
    node: usize,
) -> Result<Arc<Replica>, LocalError> {
    let c = reg
        .containers
        .clone()
        .ok_or_else(|| LocalError::BadRequest("this gateway has no container runtime".into()))?;
    let nr = &reg.nodes[node];
    let arch = nr.node.arch;
    let binary = lock(&f.binaries)
        .get(&arch)
        .cloned()
        .ok_or_else(|| LocalError::BadRequest(format!("no {arch} binary")))?;
    let d = f.deployment();
    let spawned_ns = now_ns();
    let reference = c.reference(&d.service, &binary, arch)?;
    let import = c.import(&reference, &binary, arch).await?;
    let envs = container_env(&nr.node, &d.env_vars);
    let (fn_cpus, fn_mem) = super::process::function_limits(&d);
    let p = &nr.node.profile;
    let site = c.sites.iter().position(|s| *s == nr.node.site).unwrap_or(0);
    let seq = c.seq.fetch_add(1, Ordering::Relaxed);
    let name = format!("{}-{}-{seq}", d.service, nr.node.name);
    let raw_dir = reg.logs.join(CONTAINER_LOGS);
    let raw_log = std::fs::create_dir_all(&raw_dir)
        .and_then(|()| std::path::absolute(raw_dir.join(format!("{name}.log"))))
        .map_err(|source| LocalError::Io {
            what: format!("create {}", raw_dir.display()),
            source,
        })?;
    let spec = ReplicaSpec {
        name,
        image: reference,
        site: u16::try_from(site).unwrap_or(u16::MAX),
        cpus: Some(fn_cpus.map_or(p.cpus, |x| x.min(p.cpus))),
        memory_bytes: Some(fn_mem.map_or(p.memory_bytes, |x| x.min(p.memory_bytes))),
        env: envs,
        // The function's own copy of its secrets (made at deploy, files 0600), read-only where
        // OpenFaaS mounts them; never in the environment or on a command line.
        binds_ro: secret_binds(reg, &d)?,
        // The container's own output file; followed below into the function's log.
        log: Some(raw_log.clone()),
    };
    let started = c.runtime.run(&spec).await.map_err(ctd)?;
    let mut phases = started.phases.clone();
    phases.import = import;
    let addr = SocketAddr::from((started.addr, CONTAINER_PORT));
    let r = Arc::new(Replica::starting(
        node,
        addr,
        started.pid,
        spawned_ns,
        Some(ContainerStart {
            id: started.id.clone(),
            phases,
        }),
        None,
    ));
    if started.pid == 0 {
        let _ = c.runtime.remove(&started.id).await;
        return Err(LocalError::BadRequest(format!(
            "function {}: container {} on node {} has no running task",
            d.service, started.id, nr.node.name
        )));
    }
    // Its lines reach `<function>.<node>.log` and `GET /system/logs` as a process replica's do.
    let pid = started.pid;
    reg.log_store.follow(
        Source {
            function: d.service.clone(),
            namespace: NAMESPACE.to_string(),
            instance: format!("{}-{}-{pid}", d.service, nr.node.name),
            file: reg.logs.join(format!("{}.{}.log", d.service, nr.node.name)),
        },
        raw_log,
        move || crate::exec::pid_alive(pid),
    );
    tokio::spawn(watch(c, r.clone(), reg.clone(), f.clone(), d.service));
    Ok(r)
}

/// Wait until the container's process exits, record a crash if the registry did not end it,
/// remove the container and its network, then mark the replica dead.
async fn watch(
    c: Arc<Containers>,
    r: Arc<Replica>,
    reg: Arc<Registry>,
    f: Arc<Func>,
    function: String,
) {
    while crate::exec::pid_alive(r.pid) {
        tokio::time::sleep(WATCH_POLL).await;
    }
    let id = r
        .container
        .as_ref()
        .map(|s| s.id.clone())
        .unwrap_or_default();
    if !r.stopping.load(Ordering::SeqCst) {
        reg.crashed(&f, &r, function, format!("container {id} exited"));
    }
    if let Err(e) = c.runtime.remove(&id).await {
        // `down` sweeps every container of the run again; say what is left meanwhile.
        eprintln!("faasbed gateway: cannot remove container {id}: {e}");
    }
    r.state.send_replace(ReplicaState::Dead);
}

/// faasbed's own containerd under `run_dir`, when a node of `scenario` runs containers. ARM
/// containers run through binfmt's qemu-user-static, which must be registered with flag `F`.
pub async fn start(
    scenario: &crate::spec::Scenario,
    run_id: &str,
    run_dir: &Path,
) -> Result<Option<Containers>, LocalError> {
    let nodes: Vec<&crate::spec::Node> = scenario
        .nodes
        .iter()
        .filter(|n| n.runtime == crate::spec::ReplicaRuntime::Containerd)
        .collect();
    if nodes.is_empty() {
        return Ok(None);
    }
    for n in &nodes {
        let entry = match n.arch {
            Arch::Amd64 => continue,
            Arch::Arm64 => "qemu-aarch64",
            Arch::Armhf => "qemu-arm",
        };
        if !crate::spec::binfmt_fixed(entry) {
            return Err(LocalError::NoBinfmt {
                node: n.name.clone(),
                entry,
            });
        }
    }
    let mut sites: Vec<String> = Vec::new();
    for n in &scenario.nodes {
        if !sites.contains(&n.site) {
            sites.push(n.site.clone());
        }
    }
    let home_id = std::env::var(crate::exec::HOME_ENV).unwrap_or_default();
    let given = scenario.platform.containerd_socket.as_deref();
    if let Some(socket) = given {
        // Remembered so that `clean` can remove this run's containers from it after a crash.
        let file = run_dir.join(crate::nodes::containerd::GIVEN_SOCKET_FILE);
        std::fs::write(&file, socket.as_os_str().as_encoded_bytes()).map_err(|source| {
            LocalError::Io {
                what: format!("write {}", file.display()),
                source,
            }
        })?;
    }
    let runtime = crate::nodes::containerd::Runtime::start(run_dir, run_id, &home_id, given)
        .await
        .map_err(|e| LocalError::Container(Box::new(e)))?;
    Ok(Some(Containers::new(
        runtime,
        sites,
        scenario.experiment.cold.image_cache,
    )))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn arm_containers_get_their_profiles_qemu_cpu_and_amd64_none() {
        let text = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/containerd.toml"),
        )
        .unwrap();
        let s = crate::spec::parse(&text, Path::new("containerd.toml")).unwrap();
        // a deploy's own QEMU_* is dropped; only the profile's model reaches qemu-user
        let vars = BTreeMap::from([
            ("QEMU_CPU".to_string(), "max".to_string()),
            ("GREETING".to_string(), "hi".to_string()),
        ]);
        let env_of = |name: &str| container_env(s.node(name).unwrap(), &vars);
        let get = |e: &[(String, String)], k: &str| -> Vec<String> {
            e.iter()
                .filter(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
                .collect()
        };
        let pi4 = env_of("pi4-1");
        assert_eq!(get(&pi4, env::QEMU_CPU), ["cortex-a72"]);
        assert_eq!(get(&pi4, env::HOST), ["0.0.0.0"]);
        assert_eq!(get(&pi4, "GREETING"), ["hi"]);
        assert_eq!(get(&env_of("pi3-1"), env::QEMU_CPU), ["cortex-a7"]);
        assert!(get(&env_of("vps-1"), env::QEMU_CPU).is_empty());
    }
}
