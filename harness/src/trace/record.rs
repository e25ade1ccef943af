//! What a trace replay stores in the run directory: the plan (`trace-plan.json`, written before
//! the first request), one line per request (`trace.jsonl`, flushed as each is measured), and
//! the idler's scale-downs (`trace-idle.json`). Reports read them back ([`read`]).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::measure::record::{ErrorKind, Sample, Sink};
use crate::platform::idle::ScaleDown;
use crate::spec::TraceSpec;
use crate::store::jsonl::{read_each, JsonlWriter};
use crate::store::StoreError;

/// The plan of the replay.
pub const PLAN_FILE: &str = "trace-plan.json";
/// One line per replayed request.
pub const SAMPLES_FILE: &str = "trace.jsonl";
/// The keep-alive idler's scale-downs.
pub const IDLE_FILE: &str = "trace-idle.json";

/// The replay plan of one scenario function, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedFunction {
    /// Scenario function.
    pub function: String,
    /// Class of the nodes it may run on (`mixed` when its constraints allow several).
    pub class: String,
    /// Trace functions it replays.
    pub trace_functions: Vec<String>,
    /// Planned arrivals.
    pub planned: u64,
    /// Its keep-alive, s (replay time); `None`: never scaled to zero.
    #[serde(default)]
    pub keep_alive_s: Option<f64>,
}

/// `trace-plan.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlanFile {
    /// The `[experiment.trace]` settings, as checked.
    pub spec: serde_json::Value,
    /// Replay length, seconds (`window / compress`).
    pub replay_s: f64,
    /// Keep-alive, seconds (replay time); `None`: never scaled to zero.
    pub keep_alive_s: Option<f64>,
    /// Per scenario function.
    pub functions: Vec<PlannedFunction>,
}

impl PlanFile {
    /// The plan file of `spec` for these functions.
    pub fn new(spec: &TraceSpec, functions: Vec<PlannedFunction>) -> PlanFile {
        PlanFile {
            spec: serde_json::to_value(spec).unwrap_or_default(),
            replay_s: spec.replay_duration().as_secs_f64(),
            keep_alive_s: spec.keep_alive.map(|d| d.as_secs_f64()),
            functions,
        }
    }
}

/// One replayed request (`trace.jsonl`). Offsets are ns from its function's replay start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceSample {
    /// Scenario function.
    pub function: String,
    /// Class of the node that answered (or the only one it could go to); `unknown` otherwise.
    pub class: String,
    /// `X-Faasbed-Node` of the response.
    pub node: Option<String>,
    /// `X-Faasbed-Instance` of the response.
    pub instance: Option<String>,
    /// The replay start of this function, unix ns.
    pub t0_unix_ns: u64,
    /// When the plan meant the request to leave, ns since `t0`.
    pub planned_ns: u64,
    /// When it was handed to a connection, ns since `t0`.
    pub sent_ns: u64,
    /// When the response ended or the request failed, ns since `t0`.
    pub end_ns: u64,
    /// HTTP status, if a response head arrived.
    pub status: Option<u16>,
    /// Why it failed; `None` for success.
    pub error: Option<ErrorKind>,
    /// The serving instance's process start, unix ns (`X-Faasbed-Started`).
    pub instance_started_unix_ns: Option<u64>,
    /// It waited for a cold start: its instance's process started after it was sent.
    pub cold: bool,
}

impl TraceSample {
    /// Lateness of the send against the plan, ns.
    pub fn lateness_ns(&self) -> u64 {
        self.sent_ns.saturating_sub(self.planned_ns)
    }
    /// Latency from the planned send to the end, ns (open loop: coordinated-omission corrected).
    pub fn latency_ns(&self) -> u64 {
        self.end_ns.saturating_sub(self.planned_ns)
    }
}

/// Writes the samples of one function's replay to the shared `trace.jsonl`.
pub struct TraceSink {
    /// The shared file (every function's replay runs at once).
    pub out: Arc<Mutex<JsonlWriter<TraceSample>>>,
    /// Node name → class.
    pub classes: Arc<BTreeMap<String, String>>,
    /// Class when the response named no node.
    pub default_class: String,
    t0_unix_ns: u64,
}

impl TraceSink {
    /// A sink for one function.
    pub fn new(
        out: Arc<Mutex<JsonlWriter<TraceSample>>>,
        classes: Arc<BTreeMap<String, String>>,
        default_class: String,
    ) -> TraceSink {
        TraceSink {
            out,
            classes,
            default_class,
            t0_unix_ns: 0,
        }
    }
}

impl Sink for TraceSink {
    fn started(&mut self, t0_unix_ns: u64) {
        self.t0_unix_ns = t0_unix_ns;
    }

    fn record(&mut self, s: &Sample) -> std::io::Result<()> {
        let sent_unix = self.t0_unix_ns + s.sent_ns;
        let node = s.node.clone().or_else(|| s.routed_node.clone());
        let class = node
            .as_ref()
            .and_then(|n| self.classes.get(n))
            .cloned()
            .unwrap_or_else(|| self.default_class.clone());
        let rec = TraceSample {
            function: s.function.clone(),
            class,
            node: s.node.clone(),
            instance: s.instance.clone(),
            t0_unix_ns: self.t0_unix_ns,
            planned_ns: s.intended_ns,
            sent_ns: s.sent_ns,
            end_ns: s.end_ns,
            status: s.status,
            error: s.error,
            instance_started_unix_ns: s.started_unix_ns,
            cold: s.error.is_none() && s.started_unix_ns.is_some_and(|t| t > sent_unix),
        };
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        out.write(&rec)
            .map_err(|e| std::io::Error::other(e.to_string()))
    }
}

/// What a run directory holds of a replay; `None` when the run replayed no trace.
#[derive(Debug, Clone, Default)]
pub struct Stored {
    /// The plan.
    pub plan: Option<PlanFile>,
    /// Every request, in file order.
    pub samples: Vec<TraceSample>,
    /// The idler's scale-downs.
    pub idle: Vec<ScaleDown>,
    /// A torn last line of trace.jsonl was skipped.
    pub torn_tail: bool,
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>, StoreError> {
    if !path.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(path).map_err(|source| StoreError::Io {
        what: "read",
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| StoreError::Parse {
            path: path.to_path_buf(),
            line: e.line(),
            message: e.to_string(),
        })
}

/// Read a run directory's replay files; `Ok(None)` when it has none.
pub fn read(run_dir: &Path) -> Result<Option<Stored>, StoreError> {
    let plan: Option<PlanFile> = read_json(&run_dir.join(PLAN_FILE))?;
    let Some(plan) = plan else { return Ok(None) };
    let mut samples = Vec::new();
    let path = run_dir.join(SAMPLES_FILE);
    let mut torn_tail = false;
    if path.exists() {
        torn_tail = read_each(&path, |s: TraceSample| samples.push(s))?.torn_tail;
    }
    let idle = read_json(&run_dir.join(IDLE_FILE))?.unwrap_or_default();
    Ok(Some(Stored {
        plan: Some(plan),
        samples,
        idle,
        torn_tail,
    }))
}
