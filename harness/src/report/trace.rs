//! The trace replay in the report: per class and per function, planned vs issued requests,
//! cold-start rate (cold / issued) and latency, warm latency, and how late the sends were
//! against the plan, with the "FELL BEHIND" flag. Read from `trace-plan.json`, `trace.jsonl`
//! and `trace-idle.json`; exported in report.md/html (tables) and summary.json (`trace`).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::markdown::{num, TextTable};
use crate::stats::quantile_sorted;
use crate::store::StoreError;
use crate::trace::record::{self, TraceSample};

/// The replay fell behind its plan when the 99th percentile of send lateness exceeds this,
/// ms, or when fewer requests were issued than planned. 100 ms is far above the pacer's own
/// lateness (microseconds, `just bench-loadgen`) and below any keep-alive (≥ 500 ms), so a
/// flagged run's arrival gaps, and so its cold starts, are not the trace's.
pub const FELL_BEHIND_P99_MS: f64 = 100.0;

/// Figures of one class or function under the replay.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceRow {
    /// Class (`by_class`) or function (`by_function`).
    pub name: String,
    /// Class of the function (`by_function`), the class itself otherwise.
    pub class: String,
    /// Planned arrivals.
    pub planned: u64,
    /// Requests sent.
    pub issued: u64,
    /// Successful responses.
    pub ok: u64,
    /// Failed requests.
    pub errors: u64,
    /// Requests that waited for a cold start.
    pub cold: u64,
    /// `cold / issued` (0 when nothing was issued).
    pub cold_rate: f64,
    /// Cold requests' latency from the planned send to the end, ms: p50 and p99.
    pub cold_p50_ms: Option<f64>,
    /// See `cold_p50_ms`.
    pub cold_p99_ms: Option<f64>,
    /// Warm (successful, not cold) requests' latency, ms: p50 and p99.
    pub warm_p50_ms: Option<f64>,
    /// See `warm_p50_ms`.
    pub warm_p99_ms: Option<f64>,
    /// Send lateness against the plan, ms: p50, p99, max.
    pub late_p50_ms: Option<f64>,
    /// See `late_p50_ms`.
    pub late_p99_ms: Option<f64>,
    /// See `late_p50_ms`.
    pub late_max_ms: Option<f64>,
}

/// The replay's part of the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceReport {
    /// Replay length, s.
    pub replay_s: f64,
    /// Keep-alive, s; `None`: never scaled to zero.
    pub keep_alive_s: Option<f64>,
    /// Everything together.
    pub total: TraceRow,
    /// Per class, sorted.
    pub by_class: Vec<TraceRow>,
    /// Per function, sorted.
    pub by_function: Vec<TraceRow>,
    /// Scale-downs to zero by the keep-alive idler.
    pub scale_downs: u64,
    /// The replay fell behind its plan (see [`FELL_BEHIND_P99_MS`]).
    pub fell_behind: bool,
}

fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

fn pct(sorted: &[f64], q: f64) -> Option<f64> {
    quantile_sorted(sorted, q)
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

/// The row of `samples` (planned count given).
pub fn row(name: &str, class: &str, planned: u64, samples: &[&TraceSample]) -> TraceRow {
    let ok: Vec<&&TraceSample> = samples.iter().filter(|s| s.error.is_none()).collect();
    let cold = sorted(
        ok.iter()
            .filter(|s| s.cold)
            .map(|s| ms(s.latency_ns()))
            .collect(),
    );
    let warm = sorted(
        ok.iter()
            .filter(|s| !s.cold)
            .map(|s| ms(s.latency_ns()))
            .collect(),
    );
    let late = sorted(samples.iter().map(|s| ms(s.lateness_ns())).collect());
    let issued = samples.len() as u64;
    TraceRow {
        name: name.to_string(),
        class: class.to_string(),
        planned,
        issued,
        ok: ok.len() as u64,
        errors: issued - ok.len() as u64,
        cold: cold.len() as u64,
        cold_rate: if issued == 0 {
            0.0
        } else {
            cold.len() as f64 / issued as f64
        },
        cold_p50_ms: pct(&cold, 0.5),
        cold_p99_ms: pct(&cold, 0.99),
        warm_p50_ms: pct(&warm, 0.5),
        warm_p99_ms: pct(&warm, 0.99),
        late_p50_ms: pct(&late, 0.5),
        late_p99_ms: pct(&late, 0.99),
        late_max_ms: late.last().copied(),
    }
}

/// Did the replay fall behind? (See [`FELL_BEHIND_P99_MS`].)
pub fn fell_behind(total: &TraceRow) -> bool {
    total.issued < total.planned || total.late_p99_ms.is_some_and(|p| p > FELL_BEHIND_P99_MS)
}

/// The report of the stored replay.
pub fn of(stored: &record::Stored) -> Option<TraceReport> {
    let plan = stored.plan.as_ref()?;
    let mut by_fn: BTreeMap<&str, Vec<&TraceSample>> = BTreeMap::new();
    for s in &stored.samples {
        by_fn.entry(&s.function).or_default().push(s);
    }
    let mut by_class: BTreeMap<&str, (u64, Vec<&TraceSample>)> = BTreeMap::new();
    let mut functions = Vec::new();
    for p in &plan.functions {
        let samples = by_fn.remove(p.function.as_str()).unwrap_or_default();
        functions.push(row(&p.function, &p.class, p.planned, &samples));
        by_class.entry(&p.class).or_default().0 += p.planned;
        // A sample's own class (the node that answered) decides; planned counts go by the
        // function's class.
        for s in samples {
            by_class.entry(&s.class).or_default().1.push(s);
        }
    }
    let classes: Vec<TraceRow> = by_class
        .iter()
        .map(|(c, (planned, s))| row(c, c, *planned, s))
        .collect();
    let all: Vec<&TraceSample> = stored.samples.iter().collect();
    let planned = plan.functions.iter().map(|p| p.planned).sum();
    let total = row("all", "all", planned, &all);
    Some(TraceReport {
        replay_s: plan.replay_s,
        keep_alive_s: plan.keep_alive_s,
        fell_behind: fell_behind(&total),
        total,
        by_class: classes,
        by_function: functions,
        scale_downs: stored.idle.iter().filter(|d| d.error.is_none()).count() as u64,
    })
}

/// Read the replay of the run in `run_dir`, if it replayed one.
pub fn read(run_dir: &Path) -> Result<Option<TraceReport>, StoreError> {
    Ok(record::read(run_dir)?.as_ref().and_then(of))
}

fn opt(v: Option<f64>) -> String {
    v.map_or_else(|| "–".into(), num)
}

fn cells(r: &TraceRow) -> Vec<String> {
    vec![
        r.name.clone(),
        format!("{} / {}", r.issued, r.planned),
        r.errors.to_string(),
        format!("{} ({:.1}%)", r.cold, r.cold_rate * 100.0),
        opt(r.cold_p50_ms),
        opt(r.cold_p99_ms),
        opt(r.warm_p50_ms),
        opt(r.warm_p99_ms),
        format!(
            "{} / {} / {}",
            opt(r.late_p50_ms),
            opt(r.late_p99_ms),
            opt(r.late_max_ms)
        ),
    ]
}

/// The report's trace tables (none when the run replayed no trace).
pub fn tables(t: Option<&TraceReport>) -> Vec<TextTable> {
    let Some(t) = t else { return Vec::new() };
    let header = |first: &str| -> Vec<String> {
        [
            first,
            "issued / planned",
            "errors",
            "cold (rate)",
            "cold p50",
            "cold p99",
            "warm p50",
            "warm p99",
            "lateness p50 / p99 / max",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let keep = t
        .keep_alive_s
        .map_or("keep-alive off".into(), |k| format!("keep-alive {k} s"));
    let flag = if t.fell_behind {
        format!(
            " — FELL BEHIND (lateness p99 above {FELL_BEHIND_P99_MS} ms or fewer issued than planned): arrivals, and so cold starts, are not the trace's"
        )
    } else {
        String::new()
    };
    let mut by_class = TextTable {
        title: format!(
            "Trace replay per class ({:.1} s, {keep}, {} scale-downs to zero), ms{flag}",
            t.replay_s, t.scale_downs
        ),
        header: header("class"),
        rows: t.by_class.iter().map(cells).collect(),
    };
    by_class.rows.push(cells(&t.total));
    let by_function = TextTable {
        title: "Trace replay per function, ms".into(),
        header: header("function"),
        rows: t.by_function.iter().map(cells).collect(),
    };
    vec![by_class, by_function]
}

/// A table as aligned text for the terminal.
pub fn console(t: &TextTable) -> String {
    let mut width: Vec<usize> = t.header.iter().map(|h| h.chars().count()).collect();
    for r in &t.rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: &[String]| {
        cells
            .iter()
            .zip(&width)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let mut out = format!("{}\n{}\n", t.title, line(&t.header));
    for r in &t.rows {
        out.push_str(&line(r));
        out.push('\n');
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;
    use crate::trace::record::{PlanFile, PlannedFunction, Stored};

    fn s(
        function: &str,
        class: &str,
        planned_ms: u64,
        late_ms: u64,
        took_ms: u64,
        cold: bool,
    ) -> TraceSample {
        let p = planned_ms * 1_000_000;
        TraceSample {
            function: function.into(),
            class: class.into(),
            node: Some(format!("{class}-1")),
            instance: Some("i".into()),
            t0_unix_ns: 0,
            planned_ns: p,
            sent_ns: p + late_ms * 1_000_000,
            end_ns: p + (late_ms + took_ms) * 1_000_000,
            status: Some(200),
            error: None,
            instance_started_unix_ns: None,
            cold,
        }
    }

    fn stored(samples: Vec<TraceSample>, planned: &[(&str, &str, u64)]) -> Stored {
        Stored {
            plan: Some(PlanFile {
                spec: serde_json::Value::Null,
                replay_s: 10.0,
                keep_alive_s: Some(2.0),
                functions: planned
                    .iter()
                    .map(|(f, c, n)| PlannedFunction {
                        function: f.to_string(),
                        class: c.to_string(),
                        trace_functions: vec!["t".into()],
                        planned: *n,
                        keep_alive_s: Some(2.0),
                    })
                    .collect(),
            }),
            samples,
            idle: Vec::new(),
            torn_tail: false,
        }
    }

    #[test]
    fn cold_rate_and_latency_per_class() {
        let st = stored(
            vec![
                s("a", "vps", 0, 0, 300, true),
                s("a", "vps", 100, 0, 2, false),
                s("a", "vps", 200, 0, 4, false),
                s("a", "vps", 300, 0, 2, false),
                s("b", "pi3", 0, 1, 900, true),
                s("b", "pi3", 5000, 0, 1100, true),
            ],
            &[("a", "vps", 4), ("b", "pi3", 2)],
        );
        let r = of(&st).unwrap();
        let pi3 = r.by_class.iter().find(|c| c.name == "pi3").unwrap();
        assert_eq!((pi3.cold, pi3.issued), (2, 2));
        assert_eq!(pi3.cold_rate, 1.0);
        assert_eq!(pi3.cold_p50_ms, Some(1000.5)); // type 7 between 901 and 1100
        let vps = r.by_class.iter().find(|c| c.name == "vps").unwrap();
        assert_eq!(vps.cold_rate, 0.25);
        assert_eq!(vps.warm_p50_ms, Some(2.0));
        assert_eq!(r.total.issued, 6);
        assert!(!r.fell_behind);
        let md = tables(Some(&r));
        assert_eq!(md[0].rows.len(), 3);
        assert!(md[0].rows[0].contains(&"2 (100.0%)".to_string()));
    }

    #[test]
    fn late_sends_or_missing_requests_flag_fell_behind() {
        let late = stored(
            (0..100)
                .map(|i| s("a", "vps", i * 10, if i > 97 { 500 } else { 0 }, 1, false))
                .collect(),
            &[("a", "vps", 100)],
        );
        let r = of(&late).unwrap();
        assert!(r.fell_behind);
        assert_eq!(r.total.late_max_ms, Some(500.0));
        assert!(tables(Some(&r))[0].title.contains("FELL BEHIND"));
        let short = stored(vec![s("a", "vps", 0, 0, 1, false)], &[("a", "vps", 2)]);
        assert!(of(&short).unwrap().fell_behind);
        let fine = stored(vec![s("a", "vps", 0, 0, 1, false)], &[("a", "vps", 1)]);
        assert!(!of(&fine).unwrap().fell_behind);
    }
}
