//! The one seam between measurement and the platform a scenario runs on (local or k3d).
//!
//! Measurement sees only [`Platform`]: a gateway (URL + credentials), `force_cold`, `placement`
//! and `down`. The set of platforms is closed, so [`AnyPlatform`] dispatches by enum.

pub mod k3d;
pub mod local;

use std::time::Duration;

use serde::Serialize;

use crate::openfaas::Client;
use crate::spec::Arch;

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

    /// Release everything the topology holds. Safe to call twice.
    fn down(&mut self) -> impl std::future::Future<Output = Result<(), PlatformError>>;

    /// How long after the last replica is gone the gateway needs before a call is cold
    /// (the CE gateway caches replica counts for 250 ms; the local gateway needs none).
    fn cold_settle(&self) -> Duration;
}
