//! Real hosts made into a k3s cluster over SSH (`kind = "existing"` with `[platform.k3s]`):
//! every host is trusted and probed first, in parallel, and any host that is unreachable,
//! untrusted or unfit stops the run before anything is installed anywhere; then k3s goes on
//! the server and the agents ([`crate::nodes::ssh::k3s`]), every node must be Ready with the
//! scenario's arch, and the server's kubeconfig (its address rewritten) hands the run to the
//! existing-cluster path ([`super::existing::ExistingPlatform::attach`]). `down` removes only what
//! faasbed installed ([`uninstall`]).

pub mod plan;
mod run;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use run::{build_cluster, uninstall, Built};

use super::existing::ExistingPlatform;
use super::{ColdPhases, GatewayAccess, Platform, PlatformError, ReplicaPlacement};
use crate::exec::System;
use crate::nodes::ssh::k3s::Role;
use crate::nodes::ssh::probe::HostFacts;
use crate::nodes::ssh::{SshError, SshHost};
use crate::platform::deploy::{DeployError, Deployed};
use crate::spec::{Backend, Node, Scenario};
use crate::store::manifest::NodeProvenance;

/// The file in the run directory holding what the host probes found (provenance).
pub const HOSTS_FILE: &str = "hosts.json";
/// Deadline for every node to be Ready with its arch after the installs.
pub const READY_DEADLINE: Duration = Duration::from_secs(300);

/// Errors building or removing the cluster on the hosts.
#[derive(Debug, thiserror::Error)]
pub enum SshPlatformError {
    /// Reaching, trusting or running on a host failed.
    #[error(transparent)]
    Host(Box<SshError>),
    /// A host cannot be a k3s node; nothing was installed anywhere.
    #[error("node {node} ({host}:{port}) cannot be a k3s node: {problems}; nothing was installed on any host")]
    Unfit {
        node: String,
        host: String,
        port: u16,
        problems: String,
    },
    /// A host failed its check before anything was installed.
    #[error("{source}; nothing was installed on any host")]
    Preflight {
        #[source]
        source: Box<SshError>,
    },
    /// A local release file is missing or unreadable.
    #[error("cannot read {}: {source}; put the k3s release files of {version} there (install.sh, k3s, k3s-arm64, k3s-armhf) or remove `files` from [platform.k3s]", path.display())]
    Files {
        path: PathBuf,
        version: String,
        #[source]
        source: std::io::Error,
    },
    /// The nodes did not all become Ready with their arch in time.
    #[error("the cluster on {server} was not ready within {deadline:?}: {missing}; look at `journalctl -u k3s` on the server and `journalctl -u k3s-agent` on those nodes")]
    NotReady {
        server: String,
        deadline: Duration,
        missing: String,
    },
    /// The server's kubeconfig has no local API address to rewrite.
    #[error("node {node}: /etc/rancher/k3s/k3s.yaml has no `server: https://127.0.0.1:6443` line to point at {host}")]
    Kubeconfig { node: String, host: String },
    /// The scenario has no server among its ssh nodes (validation prevents it).
    #[error("[platform.k3s] names no server among the ssh nodes of {}", path.display())]
    NoServer { path: PathBuf },
    /// A run-directory file could not be written or read.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Uninstalling failed on some hosts (each is named).
    #[error("down left k3s on {failed} host(s): {messages}")]
    Down { failed: usize, messages: String },
}

impl From<SshError> for SshPlatformError {
    fn from(e: SshError) -> Self {
        SshPlatformError::Host(Box::new(e))
    }
}

/// One host of the cluster: its node, login and role.
#[derive(Debug, Clone)]
pub struct Host {
    /// The scenario's node.
    pub node: Node,
    /// How to reach it.
    pub ssh: SshHost,
    /// Server or agent.
    pub role: Role,
    /// The pinned host-key fingerprint, when the scenario gives one.
    pub pin: Option<String>,
}

/// What one host's probe found, saved in [`HOSTS_FILE`] for provenance.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct HostRecord {
    /// Node name.
    pub node: String,
    /// `host:port`.
    pub address: String,
    /// `server` or `agent`.
    pub role: String,
    /// The host's facts (board, CPU frequency, throttling, SD card, kernel, ...).
    pub facts: serde_json::Value,
    /// Host clock minus ours, ns, and the bound of that estimate.
    pub clock_offset_ns: Option<(i64, u64)>,
}

/// The hosts of `scenario` (its `ssh` nodes), the server first. A pinned host key is checked
/// against a run-private known_hosts file in `run_dir`; otherwise against `~/.ssh/known_hosts`.
pub fn hosts(scenario: &Scenario, run_dir: &Path) -> Result<Vec<Host>, SshPlatformError> {
    let server = scenario
        .platform
        .k3s
        .as_ref()
        .map(|k| k.server.as_str())
        .unwrap_or_default();
    let user_kh = std::env::var_os("HOME")
        .map_or_else(|| PathBuf::from("/root"), PathBuf::from)
        .join(".ssh/known_hosts");
    let mut out = Vec::new();
    for n in scenario.nodes.iter().filter(|n| n.backend == Backend::Ssh) {
        let kh = match &n.host_key {
            Some(_) => run_dir.join(format!("known_hosts.{}", n.name)),
            None => user_kh.clone(),
        };
        let mut ssh = SshHost::parse(&n.name, n.address.as_deref().unwrap_or_default(), &kh)?;
        ssh.identity = n.key.clone();
        let role = if n.name == server {
            Role::Server
        } else {
            Role::Agent
        };
        out.push(Host {
            node: n.clone(),
            ssh,
            role,
            pin: n.host_key.clone(),
        });
    }
    if !out.iter().any(|h| h.role == Role::Server) {
        return Err(SshPlatformError::NoServer {
            path: scenario.path.clone(),
        });
    }
    out.sort_by_key(|h| h.role != Role::Server);
    Ok(out)
}

/// The cluster faasbed built on the hosts, run as an existing cluster.
pub struct SshPlatform {
    inner: ExistingPlatform<System>,
    scenario: Scenario,
    run_id: String,
    run_dir: PathBuf,
    records: Vec<HostRecord>,
    down_done: bool,
}

fn boxed(e: SshPlatformError) -> PlatformError {
    PlatformError::Ssh(Box::new(e))
}

impl SshPlatform {
    /// Build the cluster of `scenario` on its hosts for run `run_id`, then attach to it as an
    /// existing cluster (OpenFaaS installed by the pinned chart). Working files in `run_dir`.
    /// A failure after the first install takes k3s off the hosts again before it returns.
    pub async fn up(
        scenario: &Scenario,
        run_id: &str,
        run_dir: &Path,
    ) -> Result<SshPlatform, PlatformError> {
        // The programs the existing-cluster path needs (helm, docker) are checked before any
        // host is touched.
        super::kube::preflight(&scenario.platform, crate::exec::which)
            .map_err(|e| PlatformError::Kube(Box::new(e)))?;
        Self::build_and_attach(scenario, run_id, run_dir).await
    }

    /// [`SshPlatform::up`] after its check of this machine's programs.
    pub async fn build_and_attach(
        scenario: &Scenario,
        run_id: &str,
        run_dir: &Path,
    ) -> Result<SshPlatform, PlatformError> {
        let built = match build_cluster(&System, scenario, run_id, run_dir).await {
            Ok(b) => b,
            // Before the first install nothing is on any host; after it, take it off again.
            Err(
                e @ (SshPlatformError::Preflight { .. }
                | SshPlatformError::Unfit { .. }
                | SshPlatformError::NoServer { .. }
                | SshPlatformError::Files { .. }),
            ) => return Err(boxed(e)),
            Err(e) => {
                let _ = uninstall(&System, scenario, run_id, run_dir).await;
                return Err(boxed(e));
            }
        };
        let mut attached = scenario.clone();
        attached.platform.kubeconfig = Some(built.kubeconfig.clone());
        let inner =
            match ExistingPlatform::attach(&attached, &built.kubeconfig, run_dir, System).await {
                Ok(p) => p,
                Err(e) => {
                    let _ = uninstall(&System, scenario, run_id, run_dir).await;
                    return Err(PlatformError::from(e));
                }
            };
        Ok(SshPlatform {
            inner,
            scenario: scenario.clone(),
            run_id: run_id.to_string(),
            run_dir: run_dir.to_path_buf(),
            records: built.records,
            down_done: false,
        })
    }

    /// Rebuild the platform of a run that is up: `inner` reconnected to its kubeconfig.
    pub fn reconnect(
        inner: ExistingPlatform<System>,
        scenario: Scenario,
        run_id: &str,
        run_dir: &Path,
    ) -> Self {
        SshPlatform {
            inner,
            scenario,
            run_id: run_id.to_string(),
            run_dir: run_dir.to_path_buf(),
            records: read_records(run_dir),
            down_done: false,
        }
    }

    /// The existing-cluster platform inside.
    pub fn cluster(&self) -> &ExistingPlatform<System> {
        &self.inner
    }
}

/// Whether run directory `run_dir` holds a cluster faasbed built on hosts.
pub fn built_here(run_dir: &Path) -> bool {
    run_dir.join(HOSTS_FILE).is_file()
}

/// The host records saved in `run_dir` (empty when unreadable).
pub fn read_records(run_dir: &Path) -> Vec<HostRecord> {
    std::fs::read_to_string(run_dir.join(HOSTS_FILE))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

/// Release what an interrupted `up` of run `run_id` may have installed (best effort).
pub async fn abandon(scenario: &Scenario, run_dir: &Path, run_id: &str) {
    if scenario.platform.k3s.is_some() {
        let _ = uninstall(&System, scenario, run_id, run_dir).await;
    }
}

impl Platform for SshPlatform {
    fn gateway(&self) -> &GatewayAccess {
        self.inner.gateway()
    }

    async fn build(
        &self,
        scenario: &Scenario,
        log: &mut dyn FnMut(&str),
    ) -> Result<Vec<Deployed>, DeployError> {
        self.inner.build(scenario, log).await
    }

    async fn enforce_placement(&self, scenario: &Scenario) -> Result<(), PlatformError> {
        self.inner.enforce_placement(scenario).await
    }

    /// The cluster's view of each node, plus what the host probe found: board model, CPU
    /// frequency, throttling, SD card, kernel, and `hardware = "real"`.
    async fn node_provenance(&self, scenario: &Scenario) -> Vec<NodeProvenance> {
        let mut v = self.inner.node_provenance(scenario).await;
        with_host_facts(&mut v, &self.records);
        v
    }

    async fn force_cold(&self, function: &str) -> Result<(), PlatformError> {
        self.inner.force_cold(function).await
    }

    async fn placement(&self, function: &str) -> Result<Vec<ReplicaPlacement>, PlatformError> {
        self.inner.placement(function).await
    }

    async fn cold_phases(&self, function: &str) -> ColdPhases {
        self.inner.cold_phases(function).await
    }

    fn clock_offset_ns(&self, node: &str) -> Option<i64> {
        self.records
            .iter()
            .find(|r| r.node == node)
            .and_then(|r| r.clock_offset_ns.map(|(o, _)| o))
    }

    /// The cluster's functions first, then k3s off every host, agents before the server.
    async fn down(&mut self) -> Result<(), PlatformError> {
        if self.down_done {
            return Ok(());
        }
        let first = self.inner.down().await;
        uninstall(&System, &self.scenario, &self.run_id, &self.run_dir)
            .await
            .map_err(boxed)?;
        self.down_done = true;
        first
    }

    fn cold_settle(&self) -> Duration {
        self.inner.cold_settle()
    }
}

/// Add to each node's provenance what its host's probe found (`launcher.host`), its address,
/// role and clock offset, with `hardware = "real"` and `emulated = false`.
pub fn with_host_facts(v: &mut [NodeProvenance], records: &[HostRecord]) {
    for p in v {
        let Some(r) = records.iter().find(|r| r.node == p.name) else {
            continue;
        };
        p.emulated = false;
        if !p.launcher.is_object() {
            p.launcher = serde_json::json!({});
        }
        if let serde_json::Value::Object(m) = &mut p.launcher {
            m.insert("hardware".into(), "real".into());
            m.insert("ssh".into(), r.address.clone().into());
            m.insert("role".into(), r.role.clone().into());
            m.insert("host".into(), r.facts.clone());
            m.insert(
                "host_clock_offset_ns".into(),
                serde_json::to_value(r.clock_offset_ns).unwrap_or_default(),
            );
        }
    }
}

/// What the probe of one host found, as provenance: facts and clock offset.
pub fn record(h: &Host, facts: &HostFacts, offset: Option<(i64, u64)>) -> HostRecord {
    HostRecord {
        node: h.node.name.clone(),
        address: format!("{}:{}", h.ssh.host, h.ssh.port),
        role: h.role.as_str().to_string(),
        facts: serde_json::to_value(facts).unwrap_or_default(),
        clock_offset_ns: offset,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    #[test]
    fn a_probed_host_is_real_hardware_in_the_report() {
        let facts = HostFacts {
            model: Some("Raspberry Pi 3 Model B Rev 1.2".into()),
            cpu_max_khz: Some(1_200_000),
            throttled: Some(0),
            kernel: Some("6.1.21-v7+".into()),
            ..HostFacts::default()
        };
        let node = |name: &str| NodeProvenance {
            name: name.into(),
            class: "pi3".into(),
            arch: "arm".into(),
            backend: "ssh".into(),
            site: "italy".into(),
            emulated: true,
            launcher: serde_json::Value::Null,
            link: serde_json::Value::Null,
            enforcement: serde_json::Value::Null,
            profile: serde_json::Value::Null,
        };
        let mut v = vec![node("pi-1"), node("elsewhere")];
        let rec = HostRecord {
            node: "pi-1".into(),
            address: "10.8.0.11:22".into(),
            role: "agent".into(),
            facts: serde_json::to_value(&facts).unwrap(),
            clock_offset_ns: Some((-1_500_000, 20_000_000)),
        };
        with_host_facts(&mut v, &[rec]);
        assert!(!v[0].emulated && v[1].emulated);
        assert_eq!(v[0].launcher["hardware"], "real");
        assert_eq!(
            v[0].launcher["host"]["model"],
            "Raspberry Pi 3 Model B Rev 1.2"
        );
        // The keys report.md reads (report::markdown::real_hardware).
        assert_eq!(v[0].launcher["host"]["cpu_max_khz"], 1_200_000);
        assert_eq!(v[0].launcher["host"]["throttled"], 0);
        assert_eq!(v[0].launcher["ssh"], "10.8.0.11:22");
        assert!(v[1].launcher.is_null());
    }
}
