//! Running a trace replay on a deployed scenario: every function's planned arrivals are sent
//! open-loop at once (one load generator per function), the keep-alive idler scales idle
//! functions to zero meanwhile, and every request is stored as it is measured.
//!
//! The replay starts from zero replicas (each function is forced cold first), as a function
//! idle since before the window would be.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use super::record::{PlanFile, PlannedFunction, TraceSink, IDLE_FILE, PLAN_FILE, SAMPLES_FILE};
use super::replay::{self, Planned, ReplayError};
use super::{load, TraceError};
use crate::measure::loadgen::{self, LoadgenError, RunOptions, Target};
use crate::platform::{idle, Platform, PlatformError};
use crate::spec::{Scenario, TraceSpec};
use crate::store::jsonl::JsonlWriter;
use crate::store::{RunStore, StoreError};

/// Errors of a trace replay.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The trace could not be read.
    #[error(transparent)]
    Trace(#[from] TraceError),
    /// The replay could not be planned.
    #[error(transparent)]
    Replay(#[from] ReplayError),
    /// Writing the replay's files failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Forcing a function cold before the replay failed.
    #[error(transparent)]
    Platform(#[from] PlatformError),
    /// A function's load generator failed.
    #[error("trace replay of function {function}: {source}")]
    Loadgen {
        /// Function.
        function: String,
        /// Why.
        #[source]
        source: LoadgenError,
    },
}

/// A trace read and planned onto a scenario, before anything runs.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The settings.
    pub spec: TraceSpec,
    /// Per scenario function, in scenario order.
    pub plans: Vec<Planned>,
}

/// Read the scenario's trace and plan its replay (`Ok(None)` without `[experiment.trace]`), so
/// a bad trace fails before the topology starts.
pub fn prepare(scenario: &Scenario) -> Result<Option<Prepared>, RunError> {
    let Some(spec) = &scenario.experiment.trace else {
        return Ok(None);
    };
    let trace = load(&spec.files)?;
    let names: Vec<String> = scenario.functions.iter().map(|f| f.name.clone()).collect();
    let plans = replay::plan(&trace, spec, &names)?;
    Ok(Some(Prepared {
        spec: spec.clone(),
        plans,
    }))
}

/// The class of the nodes `f` may run on, or `mixed`.
fn class_of(scenario: &Scenario, f: &crate::spec::Function) -> String {
    let classes: std::collections::BTreeSet<&str> = scenario
        .eligible_nodes(f)
        .iter()
        .map(|n| n.class.as_str())
        .collect();
    match classes.into_iter().collect::<Vec<_>>().as_slice() {
        [one] => (*one).to_string(),
        _ => "mixed".into(),
    }
}

/// Replay `prepared` on `platform`'s deployed functions, storing into `store`; `progress` gets
/// one line per step. Stops early (keeping what was measured) when `stop` turns true.
pub async fn replay(
    prepared: &Prepared,
    scenario: &Scenario,
    platform: &impl Platform,
    store: &RunStore,
    stop: tokio::sync::watch::Receiver<bool>,
    progress: &mut dyn FnMut(&str),
) -> Result<(), RunError> {
    let spec = &prepared.spec;
    let duration = spec.replay_duration();
    let planned: Vec<PlannedFunction> = prepared
        .plans
        .iter()
        .filter_map(|p| {
            let f = scenario.functions.iter().find(|f| f.name == p.function)?;
            Some(PlannedFunction {
                function: p.function.clone(),
                class: class_of(scenario, f),
                trace_functions: p.trace_functions.clone(),
                planned: p.offsets.len() as u64,
                keep_alive_s: spec.keep_alive_of(&p.function).map(|d| d.as_secs_f64()),
            })
        })
        .collect();
    store.write_json(PLAN_FILE, &PlanFile::new(spec, planned.clone()))?;
    for p in planned.iter().filter(|p| p.planned > 0) {
        platform.force_cold(&p.function).await?;
    }
    let total: u64 = planned.iter().map(|p| p.planned).sum();
    progress(&format!(
        "trace replay: {total} arrivals over {:.1} s ({} × compressed), keep-alive {}",
        duration.as_secs_f64(),
        spec.compress,
        spec.keep_alive
            .map_or("off".into(), |k| humantime::format_duration(k).to_string())
    ));
    let classes: Arc<BTreeMap<String, String>> = Arc::new(
        scenario
            .nodes
            .iter()
            .map(|n| (n.name.clone(), n.class.clone()))
            .collect(),
    );
    let out = Arc::new(Mutex::new(JsonlWriter::append(&store.path(SAMPLES_FILE))?));
    let gw = platform.gateway();
    let (idle_stop, idle_rx) = tokio::sync::watch::channel(false);
    let kept: BTreeMap<String, std::time::Duration> = planned
        .iter()
        .filter_map(|p| Some((p.function.clone(), spec.keep_alive_of(&p.function)?)))
        .collect();
    let idler = (!kept.is_empty()).then(|| tokio::spawn(idle::run(gw.client(), kept, idle_rx)));
    let runs = prepared
        .plans
        .iter()
        .zip(&planned)
        .filter(|(_, p)| p.planned > 0)
        .map(|(plan, p)| {
            let stop = stop.clone();
            let out = out.clone();
            let classes = classes.clone();
            async move {
                let f = scenario.functions.iter().find(|f| f.name == plan.function);
                let path = f.map_or("/", |f| f.path.as_str());
                let url = format!(
                    "{}/function/{}{}",
                    gw.url,
                    plan.function,
                    if path == "/" { "" } else { path }
                );
                let err = |source| RunError::Loadgen {
                    function: plan.function.clone(),
                    source,
                };
                let mut target = Target::get(&url).map_err(err)?;
                if let Some(b) = f.and_then(|f| f.body.as_ref()) {
                    target.method = http::Method::POST;
                    target.body = bytes::Bytes::from(b.clone());
                }
                let mut ro = RunOptions::new(&plan.function);
                ro.connections = spec.connections;
                ro.timeout = scenario.experiment.warm.timeout;
                ro.stop = Some(stop);
                let eligible = f.map(|f| scenario.eligible_nodes(f)).unwrap_or_default();
                if let [only] = eligible.as_slice() {
                    ro.routed_node = Some(only.name.clone());
                }
                let mut sink = TraceSink::new(out, classes, p.class.clone());
                loadgen::run_planned(&target, plan.offsets.clone(), duration, &ro, &mut sink)
                    .await
                    .map_err(err)
            }
        });
    let results = futures::future::join_all(runs).await;
    let _ = idle_stop.send(true);
    let downs = match idler {
        Some(h) => h.await.unwrap_or_default(),
        None => Vec::new(),
    };
    store.write_json(IDLE_FILE, &downs)?;
    progress(&format!(
        "trace replay done: {} scale-downs to zero by the keep-alive idler",
        downs.len()
    ));
    for r in results {
        r?;
    }
    Ok(())
}
