//! The one seam between measurement and the platform a scenario runs on (local or k3d).
//!
//! Measurement sees only [`Platform`]: a gateway (URL + credentials), `force_cold`, `placement`
//! and `down`. The set of platforms is closed, so [`AnyPlatform`] dispatches by enum.

pub mod k3d;
pub mod local;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::deploy::{self, DeployError, Deployed};
use crate::exec::System;
use crate::openfaas::Client;
use crate::spec::{Arch, PlatformKind, Scenario};
use crate::store::manifest::NodeProvenance;

/// Errors any platform may return.
#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    /// The local platform failed.
    #[error(transparent)]
    Local(#[from] local::LocalError),
    /// The k3d platform failed.
    #[error(transparent)]
    K3d(Box<k3d::K3dError>),
    /// A gateway call failed.
    #[error(transparent)]
    Gateway(#[from] crate::openfaas::ClientError),
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

/// The platform operations measurement needs.
pub trait Platform {
    /// The gateway of this topology.
    fn gateway(&self) -> &GatewayAccess;

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
    /// A k3d cluster, or an existing cluster reached through its kubeconfig.
    K3d(k3d::K3dPlatform<System>),
}

fn k3d_err(e: k3d::K3dError) -> PlatformError {
    PlatformError::K3d(Box::new(e))
}

impl AnyPlatform {
    /// Bring up the platform of `scenario` for run `run_id`: `local` starts the embedded
    /// topology under `home`; `k3d` creates (or reuses) the run's cluster; `existing` attaches
    /// to the scenario's kubeconfig. k3d and existing first check their programs are on `PATH`
    /// ([`k3d::preflight`]). Their working files (k3d config, kubeconfig with its client
    /// certificates, helm cache) live in `home`'s run directory, never in the results, which
    /// are meant to be shared.
    pub async fn up(
        home: &local::Home,
        scenario: &Scenario,
        run_id: &str,
    ) -> Result<Self, PlatformError> {
        Self::up_watched(home, scenario, run_id, None).await
    }

    /// [`AnyPlatform::up`] for `bench`: on the local platform the gateway daemon watches this
    /// process and, should it die without `down`, ends the run and marks `run_json` `killed`.
    pub async fn up_watched(
        home: &local::Home,
        scenario: &Scenario,
        run_id: &str,
        run_json: Option<&Path>,
    ) -> Result<Self, PlatformError> {
        let kind = scenario.platform.kind;
        if kind == PlatformKind::Local {
            return Ok(AnyPlatform::Local(
                local::LocalPlatform::up_watched(home, scenario, run_id, run_json).await?,
            ));
        }
        k3d::preflight(&scenario.platform, crate::exec::which).map_err(k3d_err)?;
        if kind == PlatformKind::K3d {
            let cp = k3d::config::plan(scenario, run_id).map_err(|e| k3d_err(e.into()))?;
            k3d::vm::preflight(&cp, crate::exec::which, crate::doctor::is_root())
                .map_err(|e| k3d_err(e.into()))?;
        }
        let work = home.runs().join(run_id);
        let run_dir = work.as_path();
        let p = match &scenario.platform.kubeconfig {
            Some(kc) if kind == PlatformKind::Existing => {
                k3d::K3dPlatform::attach(scenario, kc, run_dir, System).await
            }
            None if kind == PlatformKind::Existing => Err(k3d::K3dError::NoKubeconfig {
                path: scenario.path.clone(),
            }),
            _ => k3d::K3dPlatform::up(scenario, run_id, run_dir, System).await,
        };
        Ok(AnyPlatform::K3d(p.map_err(k3d_err)?))
    }

    /// Release what an interrupted [`AnyPlatform::up`] of run `run_id` may have started: the
    /// run's labelled processes and cgroups (local), the run's QEMU VMs and k3d cluster (k3d;
    /// a cluster that was never created is no error). Best effort: nothing is returned.
    pub async fn abandon(home: &local::Home, scenario: &Scenario, run_id: &str) {
        match scenario.platform.kind {
            PlatformKind::Local => {
                local::sweep(Some(run_id));
            }
            PlatformKind::K3d => {
                if let Ok(cp) = k3d::config::plan(scenario, run_id) {
                    let run_dir = home.runs().join(run_id);
                    k3d::vm::abandon(&System, &run_dir, &k3d::vm::vm_node_arches(&cp)).await;
                    let _ =
                        crate::exec::run(&k3d::cmd::cluster_delete(&cp.config.metadata.name)).await;
                }
            }
            PlatformKind::Existing => {}
        }
    }

    /// Provenance of every node: the embedded platform's own records, or the scenario's nodes
    /// joined with what the cluster reports.
    pub async fn node_provenance(&self, scenario: &Scenario) -> Vec<NodeProvenance> {
        match self {
            AnyPlatform::Local(p) => p
                .state()
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
                .collect(),
            AnyPlatform::K3d(p) => p.node_provenance(scenario).await,
        }
    }

    /// The embedded platform, when this is it (its topology state has node provenance).
    pub fn local(&self) -> Option<&local::LocalPlatform> {
        match self {
            AnyPlatform::Local(p) => Some(p),
            AnyPlatform::K3d(_) => None,
        }
    }

    /// Build every function of `scenario`: local binaries (cached under `home`), or images
    /// pushed to the cluster's registry. One [`Deployed`] per function, scenario order.
    pub async fn build_functions(
        &self,
        scenario: &Scenario,
        home: &local::Home,
        log: &mut dyn FnMut(&str),
    ) -> Result<Vec<Deployed>, DeployError> {
        match self {
            AnyPlatform::Local(_) => deploy::build_local(scenario, &home.images(), log).await,
            AnyPlatform::K3d(p) => {
                let start = scenario
                    .path
                    .parent()
                    .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
                let root = crate::build::functions_root(&start)
                    .or_else(|| crate::build::functions_root(Path::new(".")))
                    .ok_or(DeployError::NoFunctions { start })?;
                log("building and pushing function images");
                Ok(p.build_images(scenario, &root).await.map_err(k3d_err)?)
            }
        }
    }

    /// Deploy the built functions and verify their placement (on k3d: enforce it first, since
    /// OpenFaaS CE ignores constraints); `timeout` bounds each function's readiness.
    pub async fn deploy_functions(
        &self,
        scenario: &Scenario,
        built: &[Deployed],
        timeout: Duration,
    ) -> Result<(), DeployError> {
        match self {
            AnyPlatform::Local(p) => deploy::deploy(scenario, p, built, timeout).await,
            AnyPlatform::K3d(p) => k3d::functions::deploy(p, scenario, built, timeout).await,
        }
    }
}

impl Platform for AnyPlatform {
    fn gateway(&self) -> &GatewayAccess {
        match self {
            AnyPlatform::Local(p) => p.gateway(),
            AnyPlatform::K3d(p) => p.gateway(),
        }
    }

    async fn force_cold(&self, function: &str) -> Result<(), PlatformError> {
        match self {
            AnyPlatform::Local(p) => p.force_cold(function).await,
            AnyPlatform::K3d(p) => p.force_cold(function).await,
        }
    }

    async fn placement(&self, function: &str) -> Result<Vec<ReplicaPlacement>, PlatformError> {
        match self {
            AnyPlatform::Local(p) => p.placement(function).await,
            AnyPlatform::K3d(p) => p.placement(function).await,
        }
    }

    async fn cold_phases(&self, function: &str) -> ColdPhases {
        match self {
            AnyPlatform::Local(p) => p.cold_phases(function).await,
            AnyPlatform::K3d(p) => p.cold_phases(function).await,
        }
    }

    fn clock_offset_ns(&self, node: &str) -> Option<i64> {
        match self {
            AnyPlatform::Local(p) => p.clock_offset_ns(node),
            AnyPlatform::K3d(p) => p.clock_offset_ns(node),
        }
    }

    async fn replica_events(&self) -> Vec<crate::store::events::ReplicaEvent> {
        match self {
            AnyPlatform::Local(p) => p.replica_events().await,
            AnyPlatform::K3d(p) => p.replica_events().await,
        }
    }

    async fn down(&mut self) -> Result<(), PlatformError> {
        match self {
            AnyPlatform::Local(p) => p.down().await,
            AnyPlatform::K3d(p) => p.down().await,
        }
    }

    fn cold_settle(&self) -> Duration {
        match self {
            AnyPlatform::Local(p) => p.cold_settle(),
            AnyPlatform::K3d(p) => p.cold_settle(),
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
