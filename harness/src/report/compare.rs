//! `faasbed compare BASE NEW`: per workload × class, warm p50, warm p99 and cold median of NEW
//! against BASE (bootstrap ratio + Mann–Whitney via `stats::classify`), and the regression gate.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use super::data::{read, Group, ReportData};
use super::markdown::num;
use super::ReportError;
use crate::stats::{self, CompareOpts, Metric, Verdict};

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
    /// Samples in BASE and NEW (count).
    pub n: (usize, usize),
    /// The statistic in BASE and NEW, ms.
    pub value_ms: (f64, f64),
    /// The comparison (ratio NEW/BASE with its interval, p-value, verdict).
    pub comparison: stats::Comparison,
}

/// The comparison of two runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// BASE run id.
    pub base: String,
    /// NEW run id.
    pub new: String,
    /// Gate settings.
    pub opts: CompareOpts,
    /// Whether the runs' scenario or emulation differ (compared anyway with `--force`).
    pub forced_mismatch: Option<String>,
    /// Rows by workload, class, metric.
    pub rows: Vec<Row>,
    /// Workload × class pairs present in only one run.
    pub unmatched: Vec<String>,
}

impl Report {
    /// The rows that regressed.
    pub fn regressions(&self) -> Vec<&Row> {
        self.rows
            .iter()
            .filter(|r| r.comparison.verdict == Verdict::Regressed)
            .collect()
    }

    /// `Err` naming every regression (function, class, metric, ratio) when any regressed.
    pub fn gate(&self) -> Result<(), String> {
        let r = self.regressions();
        if r.is_empty() {
            return Ok(());
        }
        let names: Vec<String> = r
            .iter()
            .map(|r| {
                format!(
                    "{} ({} on {}) {} ×{} [{}, {}]",
                    r.functions.join(", "),
                    r.workload,
                    r.class,
                    r.metric,
                    num(r.comparison.ratio),
                    num(r.comparison.ci.0),
                    num(r.comparison.ci.1)
                )
            })
            .collect();
        Err(format!(
            "{} regression(s) of run {} against {}: {}",
            names.len(),
            self.new,
            self.base,
            names.join("; ")
        ))
    }
}

/// Why two runs are not comparable, if they are not: scenario hash or emulation flags differ.
pub fn mismatch(base: &ReportData, new: &ReportData) -> Option<String> {
    let (b, n) = (&base.manifest, &new.manifest);
    if b.scenario_hash != n.scenario_hash {
        return Some(format!(
            "scenario hash {} differs from {}",
            b.scenario_hash, n.scenario_hash
        ));
    }
    let flags = |d: &ReportData| {
        let mut v: Vec<(String, bool)> = d
            .manifest
            .nodes
            .iter()
            .map(|n| (n.class.clone(), n.emulated))
            .collect();
        v.sort();
        v.dedup();
        (d.manifest.emulated, v)
    };
    (flags(base) != flags(new)).then(|| "the emulation flags of the nodes differ".to_string())
}

type Extract = fn(&Group) -> Vec<f64>;

const METRICS: [(&str, Metric, Extract); 3] = [
    ("warm_p50", Metric::P50, Group::warm_ok_ms),
    ("warm_p99", Metric::P99, Group::warm_ok_ms),
    ("cold_median", Metric::Median, Group::cold_verified_ms),
];

/// Compare two loaded runs with `opts`; refuses incomparable runs unless `force`.
pub fn compare(
    base: &ReportData,
    new: &ReportData,
    opts: CompareOpts,
    force: bool,
) -> Result<Report, ReportError> {
    let why = mismatch(base, new);
    if let (Some(reason), false) = (&why, force) {
        return Err(ReportError::Incomparable {
            base: base.manifest.run_id.clone(),
            new: new.manifest.run_id.clone(),
            reason: reason.clone(),
        });
    }
    let mut rows = Vec::new();
    let mut unmatched = Vec::new();
    for g in &new.groups {
        let Some(b) = base.group(&g.workload, &g.class) else {
            unmatched.push(format!(
                "{} on {} (only in NEW)",
                g.workload,
                g.class_label()
            ));
            continue;
        };
        for (name, metric, extract) in METRICS {
            let (xb, xn) = (extract(b), extract(g));
            if xb.is_empty() || xn.is_empty() {
                continue;
            }
            let comparison =
                stats::classify(&xb, &xn, metric, opts).map_err(|source| ReportError::Stats {
                    run: new.manifest.run_id.clone(),
                    what: format!("{name} of {} on {}", g.workload, g.class),
                    source,
                })?;
            let (mut sb, mut sn) = (xb.clone(), xn.clone());
            rows.push(Row {
                workload: g.workload.clone(),
                class: g.class_label(),
                functions: g.functions.iter().cloned().collect(),
                metric: name,
                n: (xb.len(), xn.len()),
                value_ms: (metric.compute(&mut sb), metric.compute(&mut sn)),
                comparison,
            });
        }
    }
    for g in &base.groups {
        if new.group(&g.workload, &g.class).is_none() {
            unmatched.push(format!(
                "{} on {} (only in BASE)",
                g.workload,
                g.class_label()
            ));
        }
    }
    Ok(Report {
        base: base.manifest.run_id.clone(),
        new: new.manifest.run_id.clone(),
        opts,
        forced_mismatch: why,
        rows,
        unmatched,
    })
}

/// Load and compare the runs in two directories; the bootstrap is seeded from BASE's seed.
pub fn compare_dirs(
    base: &Path,
    new: &Path,
    threshold: f64,
    force: bool,
) -> Result<Report, ReportError> {
    let (b, n) = (read(base)?, read(new)?);
    let opts = CompareOpts {
        threshold,
        seed: b.manifest.seed,
        ..CompareOpts::default()
    };
    compare(&b, &n, opts, force)
}

fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Improved => "improved",
        Verdict::Unchanged => "unchanged",
        Verdict::Regressed => "**regressed**",
    }
}

/// The comparison as Markdown (for CI job summaries).
pub fn markdown(r: &Report) -> Vec<u8> {
    let mut out = format!(
        "## faasbed compare: {} → {}\n\nThreshold {:.1}%, alpha {:.3}; ratio = NEW/BASE with a {:.1}% bootstrap interval; Mann–Whitney p for the median metrics.\n\n",
        r.base,
        r.new,
        r.opts.threshold * 100.0,
        r.opts.alpha,
        (1.0 - r.opts.alpha) * 100.0,
    );
    if let Some(why) = &r.forced_mismatch {
        let _ = writeln!(out, "**Compared with --force although {why}.**\n");
    }
    out.push_str("| workload | class | metric | BASE ms | NEW ms | ratio [CI] | p | verdict |\n|---|---|---|---|---|---|---|---|\n");
    for row in &r.rows {
        let c = &row.comparison;
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} [{}, {}] | {} | {} |",
            row.workload,
            row.class,
            row.metric,
            num(row.value_ms.0),
            num(row.value_ms.1),
            num(c.ratio),
            num(c.ci.0),
            num(c.ci.1),
            num(c.p_value),
            verdict_word(c.verdict)
        );
    }
    for u in &r.unmatched {
        let _ = writeln!(out, "\nNot compared: {u}");
    }
    out.push('\n');
    match r.gate() {
        Ok(()) => out.push_str("Gate: pass (no regression).\n"),
        Err(e) => {
            let _ = writeln!(out, "Gate: FAIL — {e}");
        }
    }
    out.into_bytes()
}

/// The comparison as pretty JSON.
pub fn json(r: &Report) -> Vec<u8> {
    let mut v = serde_json::to_vec_pretty(r).unwrap_or_default();
    v.push(b'\n');
    v
}
