//! `X-Faasbed-Phases`: what the local gateway adds to a cold (scale-from-zero) response so the
//! cold prober can store how the start was spent. Every stamp is unix ns on the gateway host's
//! clock; the prober adds the first byte on the same clock.

use serde::{Deserialize, Serialize};

/// Header name.
pub const PHASES_HEADER: &str = "x-faasbed-phases";

/// One timed step: unix ns at its start and end.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhaseSpan {
    /// Start, unix ns.
    pub start_ns: u64,
    /// End, unix ns.
    pub end_ns: u64,
}

/// How one cold start was spent, as the local gateway saw it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ColdPhases {
    /// `process` or `containerd`.
    pub runtime: String,
    /// `none` or `openfaas-ce`.
    pub model: String,
    /// The container id (a new cold start has a new one); `None` for a process.
    pub container: Option<String>,
    /// When the gateway began starting the replica, unix ns.
    pub spawned_ns: u64,
    /// Image written and imported (unpacked into a snapshot); `None` when present.
    pub import: Option<PhaseSpan>,
    /// `ctr containers create`: container record and snapshot prepared.
    pub create: Option<PhaseSpan>,
    /// Network namespace created and attached to the site bridge.
    pub network: Option<PhaseSpan>,
    /// `ctr tasks start`: runc namespaces, cgroups, process start.
    pub task_start: Option<PhaseSpan>,
    /// The first readiness probe that passed, unix ns.
    pub probe_pass_ns: Option<u64>,
    /// `openfaas-ce`: when the gateway's 100 ms poll saw the replica available, unix ns.
    pub noticed_ns: Option<u64>,
}

impl ColdPhases {
    /// Parse the header value; `None` when it is not the JSON this type writes.
    pub fn parse(value: &str) -> Option<ColdPhases> {
        serde_json::from_str(value).ok()
    }
}
