//! `summary.json`: per function × node, warm latency (corrected and uncorrected) and verified
//! cold starts, rebuilt from `run.json` + `samples.jsonl` alone so it survives any crash.
//!
//! Percentiles are the exact ones of the raw samples ([`crate::stats::PERCENTILE_DEFINITION`]),
//! the same function `report.md`, `summary.csv` and `compare` use; the HdrHistogram logs are not
//! read here.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::measure::cold::{ColdSample, PHASES};
use crate::measure::record::{Phase, Sample, DEFAULT_LATE_THRESHOLD_NS};
use crate::stats;
use crate::store::manifest::RunManifest;
use crate::store::samples::{self, Record};
use crate::store::{files, RunStore, StoreError};

/// The node of failures whose response named none.
pub const UNKNOWN_NODE: &str = "unknown";

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
}

/// Results of one function on one node.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    /// Function.
    pub function: String,
    /// Node (`unknown` for failures that named none).
    pub node: String,
    /// Node class.
    pub class: String,
    /// Node arch.
    pub arch: String,
    /// Measured under emulation.
    pub emulated: bool,
    /// Warm latency, when measured.
    pub warm: Option<WarmSummary>,
    /// Cold starts, when measured.
    pub cold: Option<ColdSummary>,
}

/// Latency percentiles in microseconds, of successful requests (see
/// [`crate::stats::PERCENTILE_DEFINITION`]).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PercentilesUs {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Maximum.
    pub max: f64,
    /// Mean.
    pub mean: f64,
}

/// Warm results of one function × node.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WarmSummary {
    /// Measured requests (warm-up excluded).
    pub requests: u64,
    /// Successful (2xx) requests.
    pub ok: u64,
    /// Failed requests by kind.
    pub errors: BTreeMap<String, u64>,
    /// Sends later than 1 ms against their schedule.
    pub late_sends: u64,
    /// Target rate, requests per second (open loop).
    pub target_rps: Option<f64>,
    /// Measured requests per second over the measured window.
    pub achieved_rps: f64,
    /// From the intended send time (coordinated-omission corrected), µs.
    pub corrected_us: Option<PercentilesUs>,
    /// From the actual send time, µs.
    pub uncorrected_us: Option<PercentilesUs>,
}

/// Cold-start results of one function × node.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ColdSummary {
    /// Cold invocations attempted.
    pub total: u64,
    /// Verified cold starts (new instance, allowed node).
    pub verified: u64,
    /// Rejected samples by reason.
    pub rejected: BTreeMap<String, u64>,
    /// Time to first byte of verified samples, ms.
    pub first_byte_ms: Option<stats::Summary>,
    /// Median of each phase over verified samples, ms.
    pub phases_median_ms: BTreeMap<String, f64>,
}

impl PercentilesUs {
    /// The percentiles of latencies in ms, converted to µs: the summary of
    /// [`stats::Summary::from_samples`], which every report prints; `None` for no sample.
    pub fn from_ms(latencies_ms: &[f64]) -> Option<PercentilesUs> {
        let s = stats::Summary::from_samples(latencies_ms).ok()?;
        let us = |ms: f64| ms * 1e3;
        Some(PercentilesUs {
            p50: us(s.p50),
            p90: us(s.p90),
            p99: us(s.p99),
            p999: us(s.p999),
            max: us(s.max),
            mean: us(s.mean),
        })
    }
}

#[derive(Default)]
struct WarmAcc {
    /// Corrected latency of successful requests, ms (the unit the reports compute in).
    corrected_ms: Vec<f64>,
    /// Uncorrected latency of successful requests, ms.
    uncorrected_ms: Vec<f64>,
    requests: u64,
    ok: u64,
    errors: BTreeMap<String, u64>,
    late: u64,
    first_intended: u64,
    last_end: u64,
}

impl WarmAcc {
    fn add(&mut self, s: &Sample) {
        if self.requests == 0 {
            self.first_intended = u64::MAX;
        }
        self.requests += 1;
        self.first_intended = self.first_intended.min(s.intended_ns);
        self.last_end = self.last_end.max(s.end_ns);
        if s.lateness_ns() > DEFAULT_LATE_THRESHOLD_NS {
            self.late += 1;
        }
        match &s.error {
            None => {
                self.ok += 1;
                // The same conversion as `report::data` (ns → ms), so both print equal figures.
                self.corrected_ms.push(s.corrected_ns() as f64 / 1e6);
                self.uncorrected_ms.push(s.uncorrected_ns() as f64 / 1e6);
            }
            Some(k) => *self.errors.entry(enum_name(k)).or_default() += 1,
        }
    }
}

/// The serde name of a unit enum variant (`"connect"`, `"reused_instance"`, ...).
fn enum_name<T: Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|x| x.as_str().map(str::to_string))
        .unwrap_or_else(|| "unknown".into())
}

/// Rebuild the summary of the run in `store` from `run.json` and `samples.jsonl`.
pub fn from_store(store: &RunStore) -> Result<RunSummary, StoreError> {
    let m: RunManifest = store.read_json(files::RUN)?;
    let mut warm: BTreeMap<(String, String), WarmAcc> = BTreeMap::new();
    let mut cold: BTreeMap<(String, String), Vec<ColdSample>> = BTreeMap::new();
    let path = store.path(files::SAMPLES);
    let read = if path.exists() {
        samples::read(&path, |r| match r {
            Record::Warm(s) if s.phase == Phase::Measure => {
                // A failure that named no node counts against the node it was routed to, when
                // known (the function runs on one node only).
                let node = s
                    .node
                    .clone()
                    .or_else(|| s.routed_node.clone())
                    .unwrap_or_else(|| UNKNOWN_NODE.into());
                warm.entry((s.function.clone(), node)).or_default().add(&s);
            }
            Record::Warm(_) => {}
            Record::Cold(c) => {
                let node = c.node.clone().unwrap_or_else(|| UNKNOWN_NODE.into());
                cold.entry((c.function.clone(), node)).or_default().push(c);
            }
        })?
    } else {
        Default::default()
    };
    let target_rps = m
        .scenario
        .pointer("/experiment/warm")
        .filter(|w| w.get("mode").and_then(|v| v.as_str()) == Some("open"))
        .and_then(|w| w.get("rate"))
        .and_then(|v| v.as_f64());
    let mut keys: Vec<(String, String)> = warm.keys().chain(cold.keys()).cloned().collect();
    keys.sort();
    keys.dedup();
    let results = keys
        .into_iter()
        .map(|(function, node)| {
            let prov = m.nodes.iter().find(|n| n.name == node);
            let w = warm.remove(&(function.clone(), node.clone())).map(|a| {
                let window_ns = a.last_end.saturating_sub(a.first_intended).max(1);
                WarmSummary {
                    requests: a.requests,
                    ok: a.ok,
                    errors: a.errors,
                    late_sends: a.late,
                    target_rps,
                    achieved_rps: a.requests as f64 / (window_ns as f64 / 1e9),
                    corrected_us: PercentilesUs::from_ms(&a.corrected_ms),
                    uncorrected_us: PercentilesUs::from_ms(&a.uncorrected_ms),
                }
            });
            let c = cold
                .remove(&(function.clone(), node.clone()))
                .map(|v| cold_summary(&v));
            Entry {
                class: prov.map_or_else(|| "unknown".into(), |p| p.class.clone()),
                arch: prov.map_or_else(|| "unknown".into(), |p| p.arch.clone()),
                emulated: prov.is_some_and(|p| p.emulated),
                function,
                node,
                warm: w,
                cold: c,
            }
        })
        .collect();
    Ok(RunSummary {
        format: 1,
        run_id: m.run_id,
        scenario_hash: m.scenario_hash,
        status: m.status,
        emulated: m.emulated,
        torn_tail: read.torn_tail,
        results,
    })
}

fn cold_summary(v: &[ColdSample]) -> ColdSummary {
    let ok: Vec<&ColdSample> = v.iter().filter(|s| s.verified).collect();
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

    fn entry(function: &str, node: &str, ok: u64, failed: u64) -> Entry {
        Entry {
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
            results,
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
