//! The report's statistics per workload × class: warm and cold rows and class ratios, computed
//! with `crate::stats` (type-7 quantiles, Le Boudec median CI, Student-t mean CI, bootstrap ratio).

use serde::Serialize;

use super::data::Group;
use super::ReportError;
use crate::stats::{self, BootstrapOpts, Metric, Summary};
use crate::store::manifest::RunManifest;

/// Confidence level of every interval in the report.
pub const LEVEL: f64 = 0.95;

/// Class pairs whose latency ratio the report gives (numerator, denominator).
pub const RATIO_PAIRS: [(&str, &str); 3] = [("pi3", "vps"), ("pi4", "vps"), ("pi3", "pi4")];

/// A value with its confidence interval `(lo, hi)`, in the unit of the value.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct WithCi {
    /// Point estimate.
    pub value: f64,
    /// Interval, when the sample is large enough for one.
    pub ci: Option<(f64, f64)>,
}

/// Warm latency of one workload × class (corrected latency of successful requests), ms.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WarmRow {
    /// Workload.
    pub workload: String,
    /// Class label ("pi3 (emulated)").
    pub class: String,
    /// Measured requests (count).
    pub requests: usize,
    /// Failed requests (count).
    pub errors: usize,
    /// Percentiles and moments of the successful requests, ms (`None` when all failed).
    pub stats: Option<WarmStats>,
}

/// Statistics of warm latencies, ms (`cv` unitless).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WarmStats {
    /// 50th percentile, ms.
    pub p50: f64,
    /// 90th percentile, ms.
    pub p90: f64,
    /// 99th percentile, ms.
    pub p99: f64,
    /// 99.9th percentile, ms.
    pub p999: f64,
    /// Median with the Le Boudec order-statistic interval, ms.
    pub median: WithCi,
    /// Mean with the Student-t interval, ms.
    pub mean: WithCi,
    /// Coefficient of variation (unitless).
    pub cv: Option<f64>,
}

/// Cold starts of one workload × class (time to first byte of verified samples), ms.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ColdRow {
    /// Workload.
    pub workload: String,
    /// Class label.
    pub class: String,
    /// Verified cold starts (count).
    pub verified: usize,
    /// Cold invocations attempted (count).
    pub total: usize,
    /// Statistics of verified samples, ms (`None` when none verified).
    pub stats: Option<ColdStats>,
}

/// Statistics of verified cold starts, ms.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ColdStats {
    /// Median with the Le Boudec interval, ms.
    pub median: WithCi,
    /// Mean with the Student-t interval, ms.
    pub mean: WithCi,
    /// 90th percentile, ms.
    pub p90: f64,
    /// Maximum, ms.
    pub max: f64,
    /// Median of each cold-start phase (`PHASES` order), ms; `None` when no sample had it.
    pub phases_ms: [Option<f64>; 4],
}

/// Ratio of the median latency of two classes on one workload (unitless, bootstrap interval).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RatioRow {
    /// `warm` (corrected latency) or `cold` (verified time to first byte).
    pub kind: &'static str,
    /// Workload.
    pub workload: String,
    /// Numerator class label.
    pub num: String,
    /// Denominator class label.
    pub den: String,
    /// Ratio of medians with its 95 % percentile-bootstrap interval.
    pub ratio: WithCi,
    /// True when one class is emulated and the other is not.
    pub mixes_emulation: bool,
}

/// All tables of a report.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Tables {
    /// Warm rows, by workload then class.
    pub warm: Vec<WarmRow>,
    /// Cold rows, by workload then class.
    pub cold: Vec<ColdRow>,
    /// Class ratios, warm then cold.
    pub ratios: Vec<RatioRow>,
}

impl Tables {
    /// The warm and cold rows of one workload × class label (either may be absent).
    pub fn rows_of(&self, workload: &str, class: &str) -> (Option<&WarmRow>, Option<&ColdRow>) {
        (
            self.warm
                .iter()
                .find(|r| r.workload == workload && r.class == class),
            self.cold
                .iter()
                .find(|r| r.workload == workload && r.class == class),
        )
    }
}

fn stats_err(m: &RunManifest, what: String) -> impl FnOnce(stats::StatsError) -> ReportError {
    let run = m.run_id.clone();
    move |source| ReportError::Stats { run, what, source }
}

fn median_mean(
    m: &RunManifest,
    what: &str,
    data: &[f64],
) -> Result<(WithCi, WithCi, Summary), ReportError> {
    let s = Summary::from_samples(data).map_err(stats_err(m, what.to_string()))?;
    let med = stats::median_ci(data, LEVEL).map_err(stats_err(m, what.to_string()))?;
    let mean = stats::mean_ci(data, LEVEL).map_err(stats_err(m, what.to_string()))?;
    Ok((
        WithCi {
            value: s.p50,
            ci: med.map(|i| (i.lo, i.hi)),
        },
        WithCi {
            value: s.mean,
            ci: mean.map(|i| (i.lo, i.hi)),
        },
        s,
    ))
}

fn warm_row(m: &RunManifest, g: &Group) -> Result<WarmRow, ReportError> {
    let ok = g.warm_ok_ms();
    let stats = if ok.is_empty() {
        None
    } else {
        let what = format!("warm {} on {}", g.workload, g.class);
        let (median, mean, s) = median_mean(m, &what, &ok)?;
        Some(WarmStats {
            p50: s.p50,
            p90: s.p90,
            p99: s.p99,
            p999: s.p999,
            median,
            mean,
            cv: s.cv,
        })
    };
    Ok(WarmRow {
        workload: g.workload.clone(),
        class: g.class_label(),
        requests: g.warm.len(),
        errors: g.warm.iter().filter(|(_, p)| p.error).count(),
        stats,
    })
}

/// Median of each cold-start phase over verified samples, ms.
pub fn phase_medians(g: &Group) -> [Option<f64>; 4] {
    let mut out = [None; 4];
    for (i, slot) in out.iter_mut().enumerate() {
        let mut v: Vec<f64> = g
            .cold
            .iter()
            .filter(|c| c.verified)
            .filter_map(|c| c.phases()[i])
            .map(|ns| ns as f64 / 1e6)
            .collect();
        if !v.is_empty() {
            *slot = Some(stats::select_quantile(&mut v, 0.5));
        }
    }
    out
}

fn cold_row(m: &RunManifest, g: &Group) -> Result<ColdRow, ReportError> {
    let ok = g.cold_verified_ms();
    let stats = if ok.is_empty() {
        None
    } else {
        let what = format!("cold {} on {}", g.workload, g.class);
        let (median, mean, s) = median_mean(m, &what, &ok)?;
        Some(ColdStats {
            median,
            mean,
            p90: s.p90,
            max: s.max,
            phases_ms: phase_medians(g),
        })
    };
    Ok(ColdRow {
        workload: g.workload.clone(),
        class: g.class_label(),
        verified: ok.len(),
        total: g.cold.len(),
        stats,
    })
}

/// Bootstrap settings of the report's ratios: 95 %, seeded from the run's seed.
pub fn bootstrap_opts(m: &RunManifest) -> BootstrapOpts {
    BootstrapOpts {
        level: LEVEL,
        seed: m.seed,
        ..BootstrapOpts::default()
    }
}

/// One class ratio to bootstrap: kind, workload, numerator and denominator groups.
type RatioJob<'g> = (&'static str, &'g Group, &'g Group, Vec<f64>, Vec<f64>);

fn ratio_jobs<'g>(
    groups: &'g [Group],
    kind: &'static str,
    sample: fn(&Group) -> Vec<f64>,
) -> Vec<RatioJob<'g>> {
    let mut out = Vec::new();
    let mut workloads: Vec<&String> = groups.iter().map(|g| &g.workload).collect();
    workloads.dedup();
    for w in workloads {
        for (a, b) in RATIO_PAIRS {
            let find = |c: &str| groups.iter().find(|g| &g.workload == w && g.class == c);
            let (Some(ga), Some(gb)) = (find(a), find(b)) else {
                continue;
            };
            let (xa, xb) = (sample(ga), sample(gb));
            if !xa.is_empty() && !xb.is_empty() {
                out.push((kind, ga, gb, xa, xb));
            }
        }
    }
    out
}

/// Bootstrap every ratio on as many threads as there are cores, each taking every n-th job
/// (each ratio is seeded, so the result does not depend on scheduling).
fn ratios(m: &RunManifest, jobs: Vec<RatioJob<'_>>) -> Result<Vec<RatioRow>, ReportError> {
    let opts = bootstrap_opts(m);
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut results: Vec<Option<Result<stats::RatioEstimate, stats::StatsError>>> =
        (0..jobs.len()).map(|_| None).collect();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                let jobs = &jobs;
                s.spawn(move || {
                    (w..jobs.len())
                        .step_by(workers)
                        .map(|i| {
                            let (_, _, _, xa, xb) = &jobs[i];
                            (i, stats::ratio_between(xa, xb, Metric::Median, opts))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in handles {
            let done = h.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
            for (i, r) in done {
                results[i] = Some(r);
            }
        }
    });
    let results = results
        .into_iter()
        .map(|r| r.unwrap_or(Err(stats::StatsError::NoResamples)));
    jobs.iter()
        .zip(results)
        .map(|((kind, ga, gb, _, _), est)| {
            let what = format!("{kind} ratio {}/{} of {}", ga.class, gb.class, ga.workload);
            let est = est.map_err(stats_err(m, what))?;
            Ok(RatioRow {
                kind,
                workload: ga.workload.clone(),
                num: ga.class_label(),
                den: gb.class_label(),
                ratio: WithCi {
                    value: est.ratio,
                    ci: Some(est.ci),
                },
                mixes_emulation: ga.emulated != gb.emulated,
            })
        })
        .collect()
}

/// Compute every table of the run from its groups (sorted by workload, then class).
pub fn compute(m: &RunManifest, groups: &[Group]) -> Result<Tables, ReportError> {
    let warm = groups
        .iter()
        .filter(|g| !g.warm.is_empty())
        .map(|g| warm_row(m, g))
        .collect::<Result<_, _>>()?;
    let cold = groups
        .iter()
        .filter(|g| !g.cold.is_empty())
        .map(|g| cold_row(m, g))
        .collect::<Result<_, _>>()?;
    let mut jobs = ratio_jobs(groups, "warm", Group::warm_ok_ms);
    jobs.extend(ratio_jobs(groups, "cold", Group::cold_verified_ms));
    let r = ratios(m, jobs)?;
    Ok(Tables {
        warm,
        cold,
        ratios: r,
    })
}
