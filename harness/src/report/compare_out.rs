//! The comparison of `faasbed compare` as Markdown (CI job summaries) and JSON.

use std::fmt::Write as _;

use super::compare::Report;
use super::markdown::num;
use crate::stats::{Verdict, NOISE_LEVEL, PERCENTILE_DEFINITION};

fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Improved => "improved",
        Verdict::Unchanged => "unchanged",
        Verdict::Regressed => "**regressed**",
    }
}

fn side(ids: &[String]) -> String {
    match ids {
        [one] => one.clone(),
        many => format!("{} runs ({})", many.len(), many.join(", ")),
    }
}

/// The comparison as Markdown. The gate's verdict appears only when the gate was decided
/// (`--gate`); otherwise the rows are a classification only.
pub fn markdown(r: &Report) -> Vec<u8> {
    let mut out = format!(
        "## faasbed compare: {} → {}\n\n",
        side(&r.base),
        side(&r.new)
    );
    let _ = writeln!(
        out,
        "Threshold {:.1}%, alpha {:.3}. Ratio = NEW/BASE of the statistic (the geometric mean of the per-run statistics when a side has several runs) with a {:.1}% bootstrap interval, which reflects variation within the runs. Noise floor = how far the same code moves between runs (one-sided {:.0}%, from the spread of the per-run statistics{}); a row regresses only when its interval lies wholly above 1 + max(threshold, noise floor). Mann–Whitney p for the medians only. Percentiles: {}.\n",
        r.opts.threshold * 100.0,
        r.opts.alpha,
        (1.0 - r.opts.alpha) * 100.0,
        NOISE_LEVEL * 100.0,
        match &r.noise_from {
            Some(runs) => format!(" and the noise file learned from {}", runs.join(", ")),
            None => String::new(),
        },
        PERCENTILE_DEFINITION,
    );
    if let Some(why) = &r.forced_mismatch {
        let _ = writeln!(out, "**Compared with --force although {why}.**\n");
    }
    if !r.rows.is_empty() && r.rows.iter().all(|row| row.comparison.noise.is_none()) {
        out.push_str("**No run-to-run noise estimate** (one run per side, no `--noise` file): the intervals reflect variation within each run only, and two runs of the same code can differ by more. Pass several runs per side (`compare BASE... -- NEW...`) or `--noise FILE` (`compare --learn-noise RUN RUN RUN`).\n\n");
    }
    out.push_str("| workload | class | metric | BASE ms | NEW ms | ratio [CI] | noise floor | p | verdict |\n|---|---|---|---|---|---|---|---|---|\n");
    for row in &r.rows {
        let c = &row.comparison;
        let floor = match c.noise {
            Some(n) => format!("{:.1}% (df {})", c.noise_floor * 100.0, n.df),
            None => "–".into(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} [{}, {}] | {} | {} | {} |",
            row.workload,
            row.class,
            row.metric,
            num(row.value_ms.0),
            num(row.value_ms.1),
            num(c.ratio),
            num(c.ci.0),
            num(c.ci.1),
            floor,
            c.p_value.map_or_else(|| "–".into(), num),
            verdict_word(c.verdict)
        );
    }
    if !r.missing.is_empty() {
        out.push('\n');
    }
    for m in &r.missing {
        let _ = writeln!(out, "Not compared: {}  ", m.describe());
    }
    out.push('\n');
    match &r.gate {
        None => out.push_str("No gate verdict (pass --gate to fail on a regression).\n"),
        Some(g) if g.passed => {
            out.push_str("Gate: pass (no regression");
            if !g.missing.is_empty() {
                let _ = write!(
                    out,
                    "; {} row(s) on one side only, accepted by --allow-missing",
                    g.missing.len()
                );
            }
            out.push_str(").\n");
        }
        Some(_) => {
            let _ = writeln!(
                out,
                "Gate: FAIL — {}",
                r.gate_result().err().unwrap_or_default()
            );
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
