//! What happened to the requests and replicas of a run, per function × node: requests, errors by
//! kind, late sends, achieved vs target rate, and replica crashes and restarts. Counted while
//! `data` reads the samples; formatted here as [`TextTable`]s for report.md and report.html.

use std::collections::BTreeMap;

use super::data::ReportData;
use super::markdown::TextTable;
use crate::measure::record::{ErrorKind, DEFAULT_LATE_THRESHOLD_NS};
use crate::report::rows::UNKNOWN_NODE;
use crate::store::events::{ReplicaEvent, ReplicaEventKind};
use crate::store::samples::WarmView;

/// Counters of one function × node's measured warm requests.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestCounts {
    /// Measured requests.
    pub requests: u64,
    /// Failed requests by kind (serde names: `timeout`, `status_5xx`, ...).
    pub errors: BTreeMap<&'static str, u64>,
    /// Sends more than 1 ms behind their schedule.
    pub late_sends: u64,
    /// Earliest intended send, ns since the warm run's start.
    pub first_intended_ns: u64,
    /// Latest end, ns since the warm run's start.
    pub last_end_ns: u64,
}

/// The serde name of an error kind.
pub fn kind_name(k: ErrorKind) -> &'static str {
    match k {
        ErrorKind::Connect => "connect",
        ErrorKind::Timeout => "timeout",
        ErrorKind::Status5xx => "status_5xx",
        ErrorKind::Status4xx => "status_4xx",
        ErrorKind::Body => "body",
        ErrorKind::Other => "other",
    }
}

impl RequestCounts {
    /// Count one measured sample.
    pub fn observe(&mut self, s: &WarmView<'_>) {
        if self.requests == 0 {
            self.first_intended_ns = s.intended_ns;
        }
        self.requests += 1;
        self.first_intended_ns = self.first_intended_ns.min(s.intended_ns);
        self.last_end_ns = self.last_end_ns.max(s.end_ns);
        if s.sent_ns.saturating_sub(s.intended_ns) > DEFAULT_LATE_THRESHOLD_NS {
            self.late_sends += 1;
        }
        if let Some(k) = s.error {
            *self.errors.entry(kind_name(k)).or_default() += 1;
        }
    }

    /// Add what another part of the file counted.
    pub fn merge(&mut self, o: &RequestCounts) {
        if o.requests == 0 {
            return;
        }
        self.first_intended_ns = if self.requests == 0 {
            o.first_intended_ns
        } else {
            self.first_intended_ns.min(o.first_intended_ns)
        };
        self.requests += o.requests;
        self.last_end_ns = self.last_end_ns.max(o.last_end_ns);
        self.late_sends += o.late_sends;
        for (k, n) in &o.errors {
            *self.errors.entry(k).or_default() += n;
        }
    }

    /// Failed requests, all kinds.
    pub fn error_total(&self) -> u64 {
        self.errors.values().sum()
    }

    /// Requests per second from the first intended send to the last end (the summary's rule).
    pub fn achieved_rps(&self) -> f64 {
        let window = self
            .last_end_ns
            .saturating_sub(self.first_intended_ns)
            .max(1);
        self.requests as f64 / (window as f64 / 1e9)
    }

    /// `timeout 3, status_5xx 1`, or `–`.
    pub fn kinds(&self) -> String {
        let v: Vec<String> = self
            .errors
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        if v.is_empty() {
            "–".into()
        } else {
            v.join(", ")
        }
    }
}

/// The requests of one function on one node.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestRow {
    /// Function.
    pub function: String,
    /// Node (`unknown` for failures whose node is not known).
    pub node: String,
    /// Class label of the node.
    pub class: String,
    /// Counters.
    pub counts: RequestCounts,
}

/// Target rate of the run's warm phase (open loop), requests per second.
pub fn target_rps(d: &ReportData) -> Option<f64> {
    super::per_node::target_rps(&d.manifest)
}

/// Requests per function × node: errors by kind, late sends, achieved vs target rate.
pub fn requests_table(d: &ReportData) -> TextTable {
    let target = target_rps(d);
    TextTable {
        title: "Requests (measured warm requests per function × node)".into(),
        header: [
            "function",
            "node",
            "class",
            "requests",
            "errors",
            "error kinds",
            "late sends (>1 ms)",
            "achieved rps",
            "target rps",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
        rows: d
            .requests
            .iter()
            .map(|r| {
                vec![
                    r.function.clone(),
                    r.node.clone(),
                    r.class.clone(),
                    r.counts.requests.to_string(),
                    r.counts.error_total().to_string(),
                    r.counts.kinds(),
                    r.counts.late_sends.to_string(),
                    format!("{:.1}", r.counts.achieved_rps()),
                    target.map_or_else(|| "–".into(), |t| format!("{t:.1}")),
                ]
            })
            .collect(),
    }
}

/// Crashes and restarts per function × node: `(crashed, restarted, last detail)`.
pub fn event_counts(events: &[ReplicaEvent]) -> BTreeMap<(String, String), (u64, u64, String)> {
    let mut out: BTreeMap<(String, String), (u64, u64, String)> = BTreeMap::new();
    for e in events {
        let slot = out.entry((e.function.clone(), e.node.clone())).or_default();
        match e.kind {
            ReplicaEventKind::Crashed => {
                slot.0 += 1;
                if let Some(d) = &e.detail {
                    slot.2.clone_from(d);
                }
            }
            ReplicaEventKind::Restarted => slot.1 += 1,
        }
    }
    out
}

/// Replica crashes and restarts per function × node (one row saying none when there were none).
pub fn events_table(d: &ReportData) -> TextTable {
    let counts = event_counts(&d.events);
    let mut rows: Vec<Vec<String>> = counts
        .iter()
        .map(|((f, n), (c, r, detail))| {
            vec![
                f.clone(),
                n.clone(),
                c.to_string(),
                r.to_string(),
                if detail.is_empty() {
                    "–".into()
                } else {
                    detail.clone()
                },
            ]
        })
        .collect();
    if rows.is_empty() {
        rows.push(vec![
            "(none)".into(),
            "–".into(),
            "0".into(),
            "0".into(),
            "no replica crashed".into(),
        ]);
    }
    TextTable {
        title: "Replica crashes and restarts".into(),
        header: ["function", "node", "crashed", "restarted", "last exit"]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        rows,
    }
}

/// Lines for the console after the summary table: errors by kind, late sends and replica
/// crashes, per function × node that had any.
pub fn console_notes(d: &ReportData) -> Vec<String> {
    let mut out = Vec::new();
    for r in &d.requests {
        let c = &r.counts;
        if c.error_total() == 0 && c.late_sends == 0 {
            continue;
        }
        let node = if r.node == UNKNOWN_NODE {
            "an unknown node".to_string()
        } else {
            r.node.clone()
        };
        out.push(format!(
            "{} on {node}: {} error(s) ({}), {} late send(s)",
            r.function,
            c.error_total(),
            c.kinds(),
            c.late_sends
        ));
    }
    for ((f, n), (c, r, detail)) in event_counts(&d.events) {
        out.push(format!(
            "{f} on {n}: replica crashed {c} time(s){}, restarted {r} time(s)",
            if detail.is_empty() {
                String::new()
            } else {
                format!(" (last: {detail})")
            }
        ));
    }
    out
}
