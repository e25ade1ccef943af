//! The one seam between measurement and the platform a scenario runs on (local, k3d or an
//! existing cluster; the two cluster platforms share OpenFaaS on Kubernetes, [`kube`]).
//!
//! Measurement and the commands see only [`Platform`]: a gateway (URL + credentials), `build`,
//! `enforce_placement` and `deploy` (one generic loop, [`deploy::deploy`]), `force_cold`,
//! `placement`, `node_provenance` and `down`. The set of platforms is closed, so
//! [`AnyPlatform`] dispatches by enum; bringing a cluster up or back lives in [`cluster`].

pub mod cluster;
pub mod deploy;
pub mod existing;
pub mod idle;
pub mod k3d;
pub mod kube;
pub mod local;
pub mod ssh;

use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use crate::exec::System;
use crate::openfaas::Client;
use crate::spec::{Arch, PlatformKind, Scenario};
use crate::store::manifest::NodeProvenance;
use deploy::{DeployError, Deployed};

/// Errors any platform may return.
#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    /// The local platform failed.
    #[error(transparent)]
    Local(#[from] local::LocalError),
    /// Bringing a k3d cluster up or down failed.
    #[error(transparent)]
    K3d(Box<k3d::K3dError>),
    /// Attaching to an existing cluster failed.
    #[error(transparent)]
    Existing(Box<existing::ExistingError>),
    /// OpenFaaS on a cluster (helm, images, labels, placement, the kube API) failed.
    #[error(transparent)]
    Kube(Box<kube::KubePlatformError>),
    /// A gateway call failed.
    #[error(transparent)]
    Gateway(#[from] crate::openfaas::ClientError),
    /// Building or removing the k3s cluster on real hosts failed.
    #[error(transparent)]
    Ssh(Box<ssh::SshPlatformError>),
    /// The saved state of a cluster platform is unusable.
    #[error(transparent)]
    Cluster(#[from] cluster::ClusterError),
    /// Nothing is up in this home.
    #[error("nothing is up in {}; run `faasbed up` first", home.display())]
    NotUp { home: std::path::PathBuf },
    /// A replica runs somewhere its constraints do not allow.
    #[error("placement violated: function {function} replica {instance} runs on node {node}, which does not satisfy {constraint}")]
    Placement {
        function: String,
        instance: String,
        node: String,
        constraint: String,
    },
}

/// How to reach the OpenFaaS gateway.
#[derive(Debug, Clone)]
pub struct GatewayAccess {
    /// Base URL, e.g. `http://127.0.0.1:41234`.
    pub url: String,
    /// Basic-auth user.
    pub user: String,
    /// Basic-auth password (never logged or stored in results).
    pub password: String,
}

impl GatewayAccess {
    /// An OpenFaaS client for this gateway.
    pub fn client(&self) -> Client {
        Client::new(&self.url, &self.user, &self.password)
    }
}

/// Where one replica of a function runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReplicaPlacement {
    /// Node name.
    pub node: String,
    /// Node architecture.
    pub arch: Arch,
    /// Node class.
    pub class: String,
    /// The function's instance id, once known (from `X-Faasbed-Instance`).
    pub instance: Option<String>,
    /// Whether the replica passed its health check.
    pub ready: bool,
}

/// Timings a platform observed around one cold start (all unix ns; absent when unknown).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ColdPhases {
    /// When the platform started the replica (process spawn / pod scheduled).
    pub spawned_ns: Option<u64>,
    /// When the replica's health check first passed.
    pub healthy_ns: Option<u64>,
}

/// The platform operations measurement and the lifecycle commands need.
pub trait Platform {
    /// The gateway of this topology.
    fn gateway(&self) -> &GatewayAccess;

    /// Build every function of `scenario` for this platform (local: native binaries cached in
    /// the home; k3d: images pushed to the cluster's registry). One [`Deployed`] per function,
    /// scenario order; `log` hears each step.
    fn build(
        &self,
        scenario: &Scenario,
        log: &mut dyn FnMut(&str),
    ) -> impl std::future::Future<Output = Result<Vec<Deployed>, DeployError>>;

    /// Make every function's replicas run only where its constraints allow, after a gateway
    /// deploy or update (local: the gateway does it already; k3d: nodeSelectors patched, the
    /// rollout awaited and the pods checked, since OpenFaaS CE ignores `constraints`).
    fn enforce_placement(
        &self,
        scenario: &Scenario,
    ) -> impl std::future::Future<Output = Result<(), PlatformError>>;

    /// Deploy the built functions and verify their placement through the one deploy loop
    /// ([`deploy::deploy`]); `timeout` bounds each function's readiness.
    fn deploy(
        &self,
        scenario: &Scenario,
        built: &[Deployed],
        timeout: Duration,
    ) -> impl std::future::Future<Output = Result<(), DeployError>> {
        deploy::deploy(self, scenario, built, timeout)
    }

    /// Provenance of every node of `scenario` as this platform realised it.
    fn node_provenance(
        &self,
        scenario: &Scenario,
    ) -> impl std::future::Future<Output = Vec<NodeProvenance>>;

    /// End every replica of `function`; returns once the next call must start a new one.
    fn force_cold(
        &self,
        function: &str,
    ) -> impl std::future::Future<Output = Result<(), PlatformError>>;

    /// Where each replica of `function` runs.
    fn placement(
        &self,
        function: &str,
    ) -> impl std::future::Future<Output = Result<Vec<ReplicaPlacement>, PlatformError>>;

    /// Spawn and health stamps of the cold start `function` just had, as the platform saw them
    /// (k3d: the live pod's conditions, 1 s resolution). Empty when the answer's headers carry
    /// them already (the local gateway) or the platform saw nothing.
    fn cold_phases(&self, function: &str) -> impl std::future::Future<Output = ColdPhases> {
        let _ = function;
        async { ColdPhases::default() }
    }

    /// How far `node`'s clock is ahead of this host's, ns, when the platform measured it (a
    /// QEMU VM's clock starts from whole RTC seconds); `None`: the node shares the host clock.
    fn clock_offset_ns(&self, node: &str) -> Option<i64> {
        let _ = node;
        None
    }

    /// Replica crashes and restarts the platform saw since it came up, oldest first (the
    /// local gateway records them; other platforms report none yet).
    fn replica_events(
        &self,
    ) -> impl std::future::Future<Output = Vec<crate::store::events::ReplicaEvent>> {
        async { Vec::new() }
    }

    /// Release everything the topology holds. Safe to call twice.
    fn down(&mut self) -> impl std::future::Future<Output = Result<(), PlatformError>>;

    /// How long after the last replica is gone the gateway needs before a call is cold
    /// (the CE gateway caches replica counts for 250 ms; the local gateway needs none).
    fn cold_settle(&self) -> Duration;
}

/// A unix-ns stamp from a node whose clock is `offset_ns` ahead, on the host's time base.
pub fn on_host_clock(stamp_ns: u64, offset_ns: Option<i64>) -> u64 {
    let Some(off) = offset_ns else {
        return stamp_ns;
    };
    (i128::from(stamp_ns) - i128::from(off)).clamp(0, i128::from(u64::MAX)) as u64
}

/// The platform a scenario names, chosen by `platform.kind` ([`Platform`] is not object-safe).
pub enum AnyPlatform {
    /// The embedded platform.
    Local(local::LocalPlatform),
    /// A k3d cluster faasbed made.
    K3d(k3d::K3dPlatform<System>),
    /// An existing cluster reached through its kubeconfig.
    Existing(existing::ExistingPlatform<System>),
    /// A k3s cluster faasbed built over SSH on real hosts, used as an existing cluster.
    Ssh(Box<ssh::SshPlatform>),
}

impl AnyPlatform {
    /// Bring up the platform of `scenario` for run `run_id`: `local` starts the embedded
    /// topology under `home`; `k3d` creates (or reuses) the run's cluster; `existing` attaches
    /// to the scenario's kubeconfig ([`cluster::up`]). Their working files (k3d config,
    /// kubeconfig with its client certificates, helm cache) live in `home`'s run directory,
    /// never in the results, which are meant to be shared.
    pub async fn up(
        home: &crate::store::home::Home,
        scenario: &Scenario,
        run_id: &str,
    ) -> Result<Self, PlatformError> {
        Self::up_watched(home, scenario, run_id, None).await
    }

    /// [`AnyPlatform::up`] for `bench`: on the local platform the gateway daemon watches this
    /// process and, should it die without `down`, ends the run and marks `run_json` `killed`.
    pub async fn up_watched(
        home: &crate::store::home::Home,
        scenario: &Scenario,
        run_id: &str,
        run_json: Option<&Path>,
    ) -> Result<Self, PlatformError> {
        Ok(match scenario.platform.kind {
            PlatformKind::Local => AnyPlatform::Local(
                local::LocalPlatform::up_watched(home, scenario, run_id, run_json).await?,
            ),
            PlatformKind::Existing if scenario.platform.k3s.is_some() => AnyPlatform::Ssh(
                Box::new(ssh::SshPlatform::up(scenario, run_id, &home.runs().join(run_id)).await?),
            ),
            PlatformKind::K3d | PlatformKind::Existing => {
                cluster::up(home, scenario, run_id).await?
            }
        })
    }

    /// Release what an interrupted [`AnyPlatform::up`] of run `run_id` may have started: the
    /// run's labelled processes and cgroups (local), the run's QEMU VMs and k3d cluster (k3d;
    /// a cluster that was never created is no error). Best effort: nothing is returned.
    pub async fn abandon(home: &crate::store::home::Home, scenario: &Scenario, run_id: &str) {
        match scenario.platform.kind {
            PlatformKind::Local => {
                local::sweep(Some(run_id));
                let run = [run_id.to_string()].into();
                let _ = local::cleanup::sweep_containers(&home.runs(), Some(&run)).await;
            }
            PlatformKind::K3d | PlatformKind::Existing => {
                cluster::abandon(home, scenario, run_id).await;
                ssh::abandon(scenario, &home.runs().join(run_id), run_id).await;
            }
        }
    }

    /// Reconnect to the topology that is up in `home` (its `current` run): the embedded
    /// platform's daemon, or the cluster `faasbed up` saved ([`cluster::ClusterState`]).
    pub async fn attach(home: &crate::store::home::Home) -> Result<Self, PlatformError> {
        let run_dir = home.current().ok_or_else(|| PlatformError::NotUp {
            home: home.root.clone(),
        })?;
        match cluster::load(&run_dir)? {
            Some(state) if ssh::built_here(&run_dir) => {
                let inner = match cluster::attach(home, &state).await? {
                    AnyPlatform::Existing(p) => p,
                    _ => {
                        return Err(cluster::ClusterError::State {
                            path: run_dir.join(ssh::HOSTS_FILE),
                            message: format!(
                                "run {} was built on hosts but its saved cluster state names a k3d cluster",
                                state.run_id
                            ),
                        }
                        .into())
                    }
                };
                let scenario = crate::spec::load(&state.scenario).map_err(|e| {
                    cluster::ClusterError::State {
                        path: state.scenario.clone(),
                        message: format!("the scenario of run {}: {e}", state.run_id),
                    }
                })?;
                Ok(AnyPlatform::Ssh(Box::new(ssh::SshPlatform::reconnect(
                    inner,
                    scenario,
                    &state.run_id,
                    &run_dir,
                ))))
            }
            Some(state) => cluster::attach(home, &state).await,
            None => Ok(AnyPlatform::Local(local::LocalPlatform::attach(home)?)),
        }
    }

    /// The embedded platform, when this is it (its topology state has node provenance).
    pub fn local(&self) -> Option<&local::LocalPlatform> {
        match self {
            AnyPlatform::Local(p) => Some(p),
            AnyPlatform::K3d(_) | AnyPlatform::Existing(_) | AnyPlatform::Ssh(_) => None,
        }
    }

    /// Save what `up` made on a cluster platform in `home` ([`cluster::save`]); `None` on the
    /// embedded platform, which keeps its own state.
    pub fn save_cluster(
        &self,
        home: &crate::store::home::Home,
        scenario: &Scenario,
        run_id: &str,
    ) -> Option<Result<cluster::ClusterState, cluster::ClusterError>> {
        match self {
            AnyPlatform::Local(_) => None,
            AnyPlatform::K3d(p) => Some(cluster::save(home, scenario, run_id, p)),
            AnyPlatform::Existing(p) => Some(cluster::save(home, scenario, run_id, p)),
            AnyPlatform::Ssh(p) => Some(cluster::save(home, scenario, run_id, p.cluster())),
        }
    }
}

impl Platform for AnyPlatform {
    fn gateway(&self) -> &GatewayAccess {
        match self {
            AnyPlatform::Local(p) => p.gateway(),
            AnyPlatform::K3d(p) => p.gateway(),
            AnyPlatform::Existing(p) => p.gateway(),
            AnyPlatform::Ssh(p) => p.gateway(),
        }
    }

    async fn build(
        &self,
        scenario: &Scenario,
        log: &mut dyn FnMut(&str),
    ) -> Result<Vec<Deployed>, DeployError> {
        match self {
            AnyPlatform::Local(p) => p.build(scenario, log).await,
            AnyPlatform::K3d(p) => p.build(scenario, log).await,
            AnyPlatform::Existing(p) => p.build(scenario, log).await,
            AnyPlatform::Ssh(p) => p.build(scenario, log).await,
        }
    }

    async fn enforce_placement(&self, scenario: &Scenario) -> Result<(), PlatformError> {
        match self {
            AnyPlatform::Local(p) => p.enforce_placement(scenario).await,
            AnyPlatform::K3d(p) => p.enforce_placement(scenario).await,
            AnyPlatform::Existing(p) => p.enforce_placement(scenario).await,
            AnyPlatform::Ssh(p) => p.enforce_placement(scenario).await,
        }
    }

    async fn node_provenance(&self, scenario: &Scenario) -> Vec<NodeProvenance> {
        match self {
            AnyPlatform::Local(p) => p.node_provenance(scenario).await,
            AnyPlatform::K3d(p) => p.node_provenance(scenario).await,
            AnyPlatform::Existing(p) => p.node_provenance(scenario).await,
            AnyPlatform::Ssh(p) => p.node_provenance(scenario).await,
        }
    }

    async fn force_cold(&self, function: &str) -> Result<(), PlatformError> {
        match self {
            AnyPlatform::Local(p) => p.force_cold(function).await,
            AnyPlatform::K3d(p) => p.force_cold(function).await,
            AnyPlatform::Existing(p) => p.force_cold(function).await,
            AnyPlatform::Ssh(p) => p.force_cold(function).await,
        }
    }

    async fn placement(&self, function: &str) -> Result<Vec<ReplicaPlacement>, PlatformError> {
        match self {
            AnyPlatform::Local(p) => p.placement(function).await,
            AnyPlatform::K3d(p) => p.placement(function).await,
            AnyPlatform::Existing(p) => p.placement(function).await,
            AnyPlatform::Ssh(p) => p.placement(function).await,
        }
    }

    async fn cold_phases(&self, function: &str) -> ColdPhases {
        match self {
            AnyPlatform::Local(p) => p.cold_phases(function).await,
            AnyPlatform::K3d(p) => p.cold_phases(function).await,
            AnyPlatform::Existing(p) => p.cold_phases(function).await,
            AnyPlatform::Ssh(p) => p.cold_phases(function).await,
        }
    }

    fn clock_offset_ns(&self, node: &str) -> Option<i64> {
        match self {
            AnyPlatform::Local(p) => p.clock_offset_ns(node),
            AnyPlatform::K3d(p) => p.clock_offset_ns(node),
            AnyPlatform::Existing(p) => p.clock_offset_ns(node),
            AnyPlatform::Ssh(p) => p.clock_offset_ns(node),
        }
    }

    async fn replica_events(&self) -> Vec<crate::store::events::ReplicaEvent> {
        match self {
            AnyPlatform::Local(p) => p.replica_events().await,
            AnyPlatform::K3d(p) => p.replica_events().await,
            AnyPlatform::Existing(p) => p.replica_events().await,
            AnyPlatform::Ssh(p) => p.replica_events().await,
        }
    }

    async fn down(&mut self) -> Result<(), PlatformError> {
        match self {
            AnyPlatform::Local(p) => p.down().await,
            AnyPlatform::K3d(p) => p.down().await,
            AnyPlatform::Existing(p) => p.down().await,
            AnyPlatform::Ssh(p) => p.down().await,
        }
    }

    fn cold_settle(&self) -> Duration {
        match self {
            AnyPlatform::Local(p) => p.cold_settle(),
            AnyPlatform::K3d(p) => p.cold_settle(),
            AnyPlatform::Existing(p) => p.cold_settle(),
            AnyPlatform::Ssh(p) => p.cold_settle(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::on_host_clock;

    #[test]
    fn stamps_move_onto_the_host_clock_by_the_node_offset() {
        assert_eq!(on_host_clock(5_000, None), 5_000);
        assert_eq!(
            on_host_clock(5_000, Some(1_200)),
            3_800,
            "a node ahead stamps late"
        );
        assert_eq!(on_host_clock(5_000, Some(-700)), 5_700);
        assert_eq!(
            on_host_clock(100, Some(1_000)),
            0,
            "no wrap below the epoch"
        );
    }
}
