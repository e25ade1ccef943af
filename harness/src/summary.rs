//! `summary.json`: per function × node, warm latency (corrected and uncorrected) and verified
//! cold starts, rebuilt from `run.json` + `samples.jsonl` alone so it survives any crash.
//!
//! The numbers come from the run's one model ([`crate::report::ReportData`], its function × node
//! [`results`](crate::report::ReportData::results)), which report.md, summary.csv and `compare`
//! read as well: percentiles are the exact ones of the raw samples
//! ([`crate::stats::PERCENTILE_DEFINITION`]); the HdrHistogram logs are not read here.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::report::rows::{Entry, PercentilesUs, UNKNOWN_NODE};
use crate::stats;
use crate::store::{RunStore, StoreError};

/// The whole summary of a run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunSummary {
    /// Schema version.
    pub format: u32,
    /// Run id.
    pub run_id: String,
    /// sha256 of the scenario file.
    pub scenario_hash: String,
    /// Run status from `run.json`.
    pub status: String,
    /// Any node emulated.
    pub emulated: bool,
    /// A torn last line of samples.jsonl was skipped (the run crashed mid-write).
    pub torn_tail: bool,
    /// Per function × node, sorted.
    pub results: Vec<Entry>,
    /// Emulation fidelity: the calibration the run applied, or why none did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fidelity: Option<serde_json::Value>,
    /// The trace replay (`[experiment.trace]`): cold-start rate per class, planned vs issued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<crate::report::trace::TraceReport>,
}

impl RunSummary {
    /// The summary of a run's model: its function × node results and the run's provenance.
    pub fn of(d: &crate::report::ReportData) -> RunSummary {
        let m = &d.manifest;
        RunSummary {
            format: 1,
            run_id: m.run_id.clone(),
            scenario_hash: m.scenario_hash.clone(),
            status: m.status.clone(),
            emulated: m.emulated,
            torn_tail: d.torn_tail,
            results: d.results.clone(),
            fidelity: serde_json::to_value(crate::report::fidelity::summary(&d.fidelity)).ok(),
            trace: d.trace.clone(),
        }
    }
}

/// Rebuild the summary of the run in `store` from `run.json` and `samples.jsonl`, through the
/// run's one model ([`crate::report::data::read_store`]).
pub fn from_store(store: &RunStore) -> Result<RunSummary, StoreError> {
    Ok(RunSummary::of(&crate::report::data::read_store(
        store.dir(),
    )?))
}

impl RunSummary {
    /// Function × node pairs with no valid sample at all (no ok warm request and no verified
    /// cold start): an empty result is a failure. Failures that named no node (`unknown`) are
    /// such a pair only when their function has no valid sample on any node.
    pub fn empty_results(&self) -> Vec<String> {
        let valid = |e: &&Entry| {
            e.warm.as_ref().is_some_and(|w| w.ok > 0)
                || e.cold.as_ref().is_some_and(|c| c.verified > 0)
        };
        let served: BTreeSet<&str> = self
            .results
            .iter()
            .filter(valid)
            .map(|e| e.function.as_str())
            .collect();
        self.results
            .iter()
            .filter(|e| !valid(e))
            .filter(|e| e.node != UNKNOWN_NODE || !served.contains(e.function.as_str()))
            .map(|e| format!("{} on {}", e.function, e.node))
            .collect()
    }
}

impl RunSummary {
    /// The terminal table: per function × node, warm corrected percentiles and rate, cold
    /// verified count, median and p90. Emulated rows are marked.
    pub fn table(&self) -> String {
        use std::fmt::Write;
        let mut t = String::new();
        let _ = writeln!(
            t,
            "{:<14} {:<10} {:<5} {:<6} {:>8} {:>8} {:>8} {:>8} {:>13} {:>5} │ {:>7} {:>9} {:>9}",
            "function",
            "node",
            "class",
            "arch",
            "p50 ms",
            "p90 ms",
            "p99 ms",
            "p99.9 ms",
            "rps/target",
            "err",
            "cold ok",
            "median ms",
            "p90 ms"
        );
        // The report's number format (3 decimals), so the same figure reads the same everywhere.
        let ms = |v: f64| crate::report::markdown::num(v / 1e3);
        for e in &self.results {
            let arch = if e.emulated {
                format!("{}*", e.arch)
            } else {
                e.arch.clone()
            };
            let (p50, p90, p99, p999, rate, err) = match &e.warm {
                Some(w) => {
                    let c = w.corrected_us.as_ref();
                    let g = |f: fn(&PercentilesUs) -> f64| c.map_or("-".into(), |p| ms(f(p)));
                    let rate = match w.target_rps {
                        Some(tr) => format!("{:.1}/{:.0}", w.achieved_rps, tr),
                        None => format!("{:.1}", w.achieved_rps),
                    };
                    let errs: u64 = w.errors.values().sum();
                    (
                        g(|p| p.p50),
                        g(|p| p.p90),
                        g(|p| p.p99),
                        g(|p| p.p999),
                        rate,
                        errs.to_string(),
                    )
                }
                None => (
                    "-".into(),
                    "-".into(),
                    "-".into(),
                    "-".into(),
                    "-".into(),
                    "-".into(),
                ),
            };
            let (ok, med, cp90) = match &e.cold {
                Some(c) => (
                    format!("{}/{}", c.verified, c.total),
                    c.first_byte_ms
                        .as_ref()
                        .map_or("-".into(), |s| crate::report::markdown::num(s.p50)),
                    c.first_byte_ms
                        .as_ref()
                        .map_or("-".into(), |s| crate::report::markdown::num(s.p90)),
                ),
                None => ("-".into(), "-".into(), "-".into()),
            };
            let _ = writeln!(
                t,
                "{:<14} {:<10} {:<5} {:<6} {:>8} {:>8} {:>8} {:>8} {:>13} {:>5} │ {:>7} {:>9} {:>9}",
                e.function, e.node, e.class, arch, p50, p90, p99, p999, rate, err, ok, med, cp90
            );
        }
        // Below the table: errors by kind and late sends of every row that had any.
        for e in &self.results {
            let Some(w) = &e.warm else { continue };
            let errs: u64 = w.errors.values().sum();
            if errs == 0 && w.late_sends == 0 {
                continue;
            }
            let kinds: Vec<String> = w
                .errors
                .iter()
                .filter(|(_, n)| **n > 0)
                .map(|(k, n)| format!("{k} {n}"))
                .collect();
            let _ = writeln!(
                t,
                "{} on {}: {errs} error(s) ({}), {} late send(s)",
                e.function,
                e.node,
                if kinds.is_empty() {
                    "none".to_string()
                } else {
                    kinds.join(", ")
                },
                w.late_sends
            );
        }
        if self.emulated {
            let _ = writeln!(
                t,
                "* emulated (QEMU user mode on this host): not a measurement of real hardware"
            );
        }
        let _ = writeln!(t, "warm latency of successful requests, corrected for coordinated omission (from the intended send time); cold = time to first byte of verified cold starts");
        let _ = writeln!(t, "percentiles: {}", stats::PERCENTILE_DEFINITION);
        t
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;
    use crate::report::rows::WarmSummary;

    fn entry(function: &str, node: &str, ok: u64, failed: u64) -> Entry {
        Entry {
            runtime: None,
            function: function.into(),
            node: node.into(),
            class: "vps".into(),
            arch: "amd64".into(),
            emulated: false,
            warm: Some(WarmSummary {
                requests: ok + failed,
                ok,
                errors: [("status_5xx".to_string(), failed)].into_iter().collect(),
                late_sends: 0,
                target_rps: Some(10.0),
                achieved_rps: 10.0,
                corrected_us: None,
                uncorrected_us: None,
            }),
            cold: None,
        }
    }

    #[test]
    fn failures_without_a_node_fail_the_run_only_when_nothing_else_answered() {
        let summary = |results| RunSummary {
            format: 1,
            run_id: "r".into(),
            scenario_hash: String::new(),
            status: "complete".into(),
            emulated: false,
            torn_tail: false,
            fidelity: None,
            results,
            trace: None,
        };
        let s = summary(vec![
            entry("f", "vps-1", 90, 0),
            entry("f", UNKNOWN_NODE, 0, 10),
            entry("g", UNKNOWN_NODE, 0, 5),
            entry("h", "vps-1", 0, 3),
        ]);
        assert_eq!(s.empty_results(), ["g on unknown", "h on vps-1"]);
    }
}
