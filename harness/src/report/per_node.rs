//! The model's function × node numbers ([`Entry`]): warm percentiles (corrected and
//! uncorrected), counts, rate and verified cold starts of each function on each node, from the
//! same pass over `samples.jsonl` that fills the workload × class groups. summary.json, the
//! console table, `--export-*` files and thresholds print these.

use std::collections::BTreeMap;

use serde::Serialize;

use super::data::{Group, NodeWarm};
use crate::measure::cold::{ColdSample, PHASES};
use crate::report::rows::{ColdSummary, Entry, PercentilesUs, WarmSummary, UNKNOWN_NODE};
use crate::stats;
use crate::store::manifest::RunManifest;

/// Target rate of the run's warm phase (open loop), requests per second.
pub fn target_rps(m: &RunManifest) -> Option<f64> {
    m.scenario
        .pointer("/experiment/warm")
        .filter(|w| w.get("mode").and_then(|v| v.as_str()) == Some("open"))
        .and_then(|w| w.get("rate"))
        .and_then(|v| v.as_f64())
}

/// The runtime the scenario gave `function` when it is not Go (`None` for Go and for runs
/// made before runtimes existed).
pub fn runtime_of(m: &RunManifest, function: &str) -> Option<String> {
    m.scenario
        .get("functions")
        .and_then(|f| f.as_array())
        .into_iter()
        .flatten()
        .find(|f| f.get("name").and_then(|n| n.as_str()) == Some(function))
        .and_then(|f| f.get("runtime"))
        .and_then(|r| r.as_str())
        .filter(|r| *r != "go")
        .map(str::to_string)
}

/// Every function × node with warm or cold samples, sorted by function then node. `warm` is
/// keyed by (function, node), the node `""` when the failure named none.
pub(super) fn entries(
    m: &RunManifest,
    warm: BTreeMap<(String, String), NodeWarm>,
    groups: &[Group],
) -> Vec<Entry> {
    let target = target_rps(m);
    let mut warm: BTreeMap<(String, String), NodeWarm> = warm
        .into_iter()
        .map(|((f, n), w)| {
            let n = if n.is_empty() { UNKNOWN_NODE.into() } else { n };
            ((f, n), w)
        })
        .collect();
    let mut cold: BTreeMap<(String, String), Vec<&ColdSample>> = BTreeMap::new();
    for c in groups.iter().flat_map(|g| &g.cold) {
        let node = c.node.clone().unwrap_or_else(|| UNKNOWN_NODE.into());
        cold.entry((c.function.clone(), node)).or_default().push(c);
    }
    let mut keys: Vec<(String, String)> = warm.keys().chain(cold.keys()).cloned().collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .map(|(function, node)| {
            let prov = m.nodes.iter().find(|n| n.name == node);
            let key = (function, node);
            let w = warm.remove(&key).map(|w| warm_summary(w, target));
            let c = cold.remove(&key).map(|v| cold_summary(&v));
            let (function, node) = key;
            Entry {
                runtime: runtime_of(m, &function),
                class: prov.map_or_else(|| "unknown".into(), |p| p.class.clone()),
                arch: prov.map_or_else(|| "unknown".into(), |p| p.arch.clone()),
                emulated: prov.is_some_and(|p| p.emulated),
                function,
                node,
                warm: w,
                cold: c,
            }
        })
        .collect()
}

fn warm_summary(w: NodeWarm, target_rps: Option<f64>) -> WarmSummary {
    let c = &w.counts;
    WarmSummary {
        requests: c.requests,
        ok: c.requests - c.error_total(),
        errors: c.errors.iter().map(|(k, n)| (k.to_string(), *n)).collect(),
        late_sends: c.late_sends,
        target_rps,
        achieved_rps: c.achieved_rps(),
        corrected_us: PercentilesUs::from_ms(&w.corrected_ms),
        uncorrected_us: PercentilesUs::from_ms(&w.uncorrected_ms),
    }
}

/// The serde name of a unit enum variant (`"reused_instance"`, ...).
fn enum_name<T: Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|x| x.as_str().map(str::to_string))
        .unwrap_or_else(|| "unknown".into())
}

fn cold_summary(v: &[&ColdSample]) -> ColdSummary {
    let ok: Vec<&ColdSample> = v.iter().copied().filter(|s| s.verified).collect();
    let mut rejected = BTreeMap::new();
    for s in v.iter().filter(|s| !s.verified) {
        let r = s.reject.map_or_else(|| "unknown".into(), |r| enum_name(&r));
        *rejected.entry(r).or_default() += 1;
    }
    let fb: Vec<f64> = ok.iter().map(|s| s.first_byte_ns as f64 / 1e6).collect();
    let mut phases = BTreeMap::new();
    for (i, name) in PHASES.iter().enumerate() {
        let xs: Vec<f64> = ok
            .iter()
            .filter_map(|s| s.phases()[i])
            .map(|ns| ns as f64 / 1e6)
            .collect();
        if let Ok(q) = stats::quantile(&xs, 0.5) {
            phases.insert(name.to_string(), q);
        }
    }
    ColdSummary {
        total: v.len() as u64,
        verified: ok.len() as u64,
        rejected,
        first_byte_ms: stats::Summary::from_samples(&fb).ok(),
        phases_median_ms: phases,
    }
}
