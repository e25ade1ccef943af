//! What `compare` returns: the compared rows, the rows one side lacks, and the regression gate
//! decided on them.

use serde::Serialize;

use super::super::markdown::num;
use crate::stats::{self, CompareOpts, Verdict};

/// One compared statistic.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// Workload.
    pub workload: String,
    /// Class label ("pi3 (emulated)").
    pub class: String,
    /// Functions of the workload on this class (in NEW).
    pub functions: Vec<String>,
    /// `warm_p50`, `warm_p99` or `cold_median`.
    pub metric: &'static str,
    /// Samples in BASE and NEW, over all their runs (count).
    pub n: (usize, usize),
    /// The statistic of BASE and NEW, ms: the geometric mean of the per-run statistics (the
    /// statistic itself for one run).
    pub value_ms: (f64, f64),
    /// The statistic of each BASE run and each NEW run, ms.
    pub per_run_ms: (Vec<f64>, Vec<f64>),
    /// The comparison (ratio NEW/BASE with its interval, noise floor, p-value, verdict).
    pub comparison: stats::Comparison,
}

/// A row that could not be compared because one side lacks it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Missing {
    /// Workload.
    pub workload: String,
    /// Class label.
    pub class: String,
    /// Functions of the workload on this class, on the side that has it.
    pub functions: Vec<String>,
    /// The metric, when the group exists on both sides but one side has no sample for it.
    pub metric: Option<&'static str>,
    /// What is missing where, e.g. "only in BASE" or "no verified cold start in NEW run X".
    pub why: String,
}

impl Missing {
    /// "echo-pi4 (echo on pi4 (emulated)): only in BASE".
    pub fn describe(&self) -> String {
        let what = match self.metric {
            Some(m) => format!("{m} of {} on {}", self.workload, self.class),
            None => format!("{} on {}", self.workload, self.class),
        };
        format!("{} ({what}): {}", self.functions.join(", "), self.why)
    }
}

/// The gate's outcome (present when `--gate` was given).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GateOutcome {
    /// Whether the gate passed.
    pub passed: bool,
    /// Every regression: functions, workload, class, metric, ratio and interval.
    pub regressions: Vec<String>,
    /// Rows present on one side only, which fail the gate unless `allow_missing`.
    pub missing: Vec<String>,
    /// `--allow-missing`: rows on one side only are listed but do not fail the gate.
    pub allow_missing: bool,
}

/// The comparison of the BASE runs with the NEW runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// BASE run ids.
    pub base: Vec<String>,
    /// NEW run ids.
    pub new: Vec<String>,
    /// Gate settings.
    pub opts: CompareOpts,
    /// Why the runs are not comparable, when they were compared anyway with `--force`.
    pub forced_mismatch: Option<String>,
    /// The runs the learned noise file (`--noise`) came from, when one was given.
    pub noise_from: Option<Vec<String>>,
    /// Rows by workload, class, metric.
    pub rows: Vec<Row>,
    /// Rows present on one side only.
    pub missing: Vec<Missing>,
    /// The gate's outcome; `None` without `--gate` (a classification only).
    pub gate: Option<GateOutcome>,
}

impl Report {
    /// The rows that regressed.
    pub fn regressions(&self) -> Vec<&Row> {
        self.rows
            .iter()
            .filter(|r| r.comparison.verdict == Verdict::Regressed)
            .collect()
    }

    /// Decide the gate: it fails on any regression and, unless `allow_missing`, on any row
    /// present on one side only. Stores the outcome in `self.gate` and returns it.
    pub fn decide_gate(&mut self, allow_missing: bool) -> &GateOutcome {
        let regressions: Vec<String> = self
            .regressions()
            .iter()
            .map(|r| {
                format!(
                    "{} ({} on {}) {} ×{} [{}, {}] > 1 + {}",
                    r.functions.join(", "),
                    r.workload,
                    r.class,
                    r.metric,
                    num(r.comparison.ratio),
                    num(r.comparison.ci.0),
                    num(r.comparison.ci.1),
                    num(r.comparison.effective_threshold)
                )
            })
            .collect();
        let missing: Vec<String> = self.missing.iter().map(Missing::describe).collect();
        let passed = regressions.is_empty() && (allow_missing || missing.is_empty());
        self.gate.insert(GateOutcome {
            passed,
            regressions,
            missing,
            allow_missing,
        })
    }

    /// `Err` with one line naming every reason the gate failed; `Ok` when it passed or was not
    /// decided.
    pub fn gate_result(&self) -> Result<(), String> {
        let Some(g) = self.gate.as_ref().filter(|g| !g.passed) else {
            return Ok(());
        };
        let mut parts = Vec::new();
        if !g.regressions.is_empty() {
            parts.push(format!(
                "{} regression(s): {}",
                g.regressions.len(),
                g.regressions.join("; ")
            ));
        }
        if !g.missing.is_empty() && !g.allow_missing {
            parts.push(format!(
                "{} row(s) on one side only (pass --allow-missing to accept): {}",
                g.missing.len(),
                g.missing.join("; ")
            ));
        }
        Err(format!(
            "gate failed for {} against {}: {}",
            self.new.join(", "),
            self.base.join(", "),
            parts.join("; ")
        ))
    }
}
