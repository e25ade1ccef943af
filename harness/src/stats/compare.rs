//! The regression gate's comparison of two samples, and ratios between node classes.

use serde::{Deserialize, Serialize};

use super::bootstrap::{
    bootstrap_quantile_ratio, bootstrap_quantile_ratio_runs, bootstrap_ratio, BootstrapOpts,
    RatioEstimate,
};
use super::error::{check_open_unit, check_sample, StatsError};
use super::mannwhitney::mann_whitney;
use super::noise::RunNoise;
use super::quantile::select_quantile;

/// The statistic a comparison is made on; computed on latency-like samples (any unit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Metric {
    /// The median (type-7 quantile 0.5).
    Median,
    /// The 50th percentile: the same statistic as [`Metric::Median`], kept for reports that say "p50".
    P50,
    /// The 90th percentile (type 7).
    P90,
    /// The 99th percentile (type 7).
    P99,
    /// The 99.9th percentile (type 7).
    P999,
    /// The arithmetic mean.
    Mean,
}

impl Metric {
    /// The statistic on a scratch buffer (which it may reorder), in the unit of the data.
    pub fn compute(self, buf: &mut [f64]) -> f64 {
        match self {
            Metric::Mean => buf.iter().sum::<f64>() / buf.len() as f64,
            q => select_quantile(buf, q.quantile().unwrap_or(0.5)),
        }
    }

    /// The quantile order of a quantile metric; `None` for the mean.
    pub fn quantile(self) -> Option<f64> {
        match self {
            Metric::Median | Metric::P50 => Some(0.5),
            Metric::P90 => Some(0.9),
            Metric::P99 => Some(0.99),
            Metric::P999 => Some(0.999),
            Metric::Mean => None,
        }
    }

    /// Whether the gate also requires a significant Mann–Whitney test (a test of location, so
    /// only meaningful for the median).
    fn needs_rank_test(self) -> bool {
        matches!(self, Metric::Median | Metric::P50)
    }
}

/// Settings of the regression gate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CompareOpts {
    /// Smallest relative change that counts, as a fraction (0.05 = 5 %). Must be ≥ 0.
    pub threshold: f64,
    /// Significance level of the Mann–Whitney test, in (0, 1); the ratio's interval has level 1 − alpha.
    pub alpha: f64,
    /// Seed of the bootstrap generator.
    pub seed: u64,
    /// Number of bootstrap resamples (count).
    pub resamples: usize,
    /// Largest sample size (count) bootstrapped without subsampling; see [`BootstrapOpts`].
    pub max_samples: usize,
}

impl Default for CompareOpts {
    fn default() -> Self {
        let b = BootstrapOpts::default();
        CompareOpts {
            threshold: 0.05,
            alpha: 0.05,
            seed: b.seed,
            resamples: b.resamples,
            max_samples: b.max_samples,
        }
    }
}

/// The gate's decision for a lower-is-better metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Credibly lower (better) by more than the threshold.
    Improved,
    /// No credible change beyond the threshold.
    Unchanged,
    /// Credibly higher (worse) by more than the threshold.
    Regressed,
}

/// Outcome of [`classify`]: the new/base ratio of the metric, its interval, the rank test, the
/// run-to-run noise floor and the verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// The statistic compared.
    pub metric: Metric,
    /// `metric(new) / metric(base)` on the full samples (unitless; > 1 means slower). With
    /// several runs per side, each side's statistic is the geometric mean of its runs'.
    pub ratio: f64,
    /// Percentile-bootstrap interval `(lo, hi)` of the ratio at level 1 − alpha (sampling
    /// variation within the runs).
    pub ci: (f64, f64),
    /// Two-sided Mann–Whitney p-value of new vs base, for the median only (`None` for tail
    /// quantiles and the mean: the rank test is a test of location, not of those statistics).
    pub p_value: Option<f64>,
    /// Rank-biserial effect size of new vs base in [−1, 1] (positive when new tends larger), for
    /// the median only.
    pub effect_size: Option<f64>,
    /// Run-to-run spread of the statistic used for the noise floor, when one is known.
    pub noise: Option<RunNoise>,
    /// The noise floor as a fraction (0.12 = 12 %): see [`RunNoise::floor`]; 0 when unknown.
    pub noise_floor: f64,
    /// The threshold the interval was held against: `max(threshold, noise_floor)`, a fraction.
    pub effective_threshold: f64,
    /// The decision.
    pub verdict: Verdict,
    /// True when a sample exceeded `max_samples`, so the interval is the wider m-out-of-n one.
    pub subsampled: bool,
}

/// Compare `new` against `base` on `metric` for a latency-like (lower-is-better) quantity.
///
/// Rule (documented contract of the regression gate), with `t = opts.threshold`:
/// - **Regressed** when the `1 − alpha` bootstrap interval of `metric(new)/metric(base)` lies
///   entirely above `1 + t` (`lo > 1 + t`) and, for the median, the two-sided Mann–Whitney test
///   gives `p < alpha`;
/// - **Improved** when the interval lies entirely below `1 − t` (`hi < 1 − t`) and, for the
///   median, `p < alpha`;
/// - **Unchanged** otherwise.
///
/// Methods: [`bootstrap_ratio`] (Efron & Tibshirani 1993, ch. 13) and [`mann_whitney`]
/// (Mann & Whitney 1947). The rank test is not required for tail quantiles or the mean, because
/// it tests a shift of the whole distribution, not those statistics. Assumes independent iid
/// samples in the same unit. Errors (never panics) on empty samples, NaN/±inf, `alpha ∉ (0, 1)`,
/// a negative or non-finite threshold, zero resamples, or a zero base statistic.
///
/// This sees one run per side, so it knows nothing of run-to-run variation: see
/// [`classify_runs`] for the gate that does.
pub fn classify(
    base: &[f64],
    new: &[f64],
    metric: Metric,
    opts: CompareOpts,
) -> Result<Comparison, StatsError> {
    check_sample("base", base)?;
    check_sample("new", new)?;
    check_opts(opts)?;
    let est = ratio_between(new, base, metric, boot_opts(opts)).map_err(base_denominator)?;
    finish(&[base], &[new], metric, opts, est, None)
}

/// [`classify`] for sides of one or more runs of the same code, with a run-to-run noise floor.
///
/// The ratio is `metric(new)/metric(base)` where each side's statistic is the geometric mean of
/// its runs' statistics; its interval comes from [`bootstrap_quantile_ratio_runs`] (within-run
/// variation). The run-to-run spread σ of `ln metric(run)` is pooled ([`RunNoise::pool`]) from
/// the BASE runs, the NEW runs (each side with ≥ 2 runs, [`RunNoise::from_groups`]) and
/// `learned` (e.g. from repeated baselines), and gives the noise floor
/// `f = RunNoise::floor(#base, #new)`. The rule of [`classify`] then applies with the threshold
/// `max(opts.threshold, f)`: a change counts only when it is credibly larger than both the
/// threshold and what the same code shows between runs. The Mann–Whitney test (median only)
/// runs on the pooled samples of each side. Quantile metrics only; the mean is refused with
/// `OutOfRange`.
pub fn classify_runs(
    base: &[&[f64]],
    new: &[&[f64]],
    metric: Metric,
    opts: CompareOpts,
    learned: Option<RunNoise>,
) -> Result<Comparison, StatsError> {
    check_opts(opts)?;
    let Some(q) = metric.quantile() else {
        return Err(StatsError::OutOfRange {
            name: "metric (a quantile)",
            value: f64::NAN,
            range: "median, p50, p90, p99 or p999",
        });
    };
    let est =
        bootstrap_quantile_ratio_runs(new, base, q, boot_opts(opts)).map_err(|e| match e {
            StatsError::Empty { which: "numerator" } => StatsError::Empty { which: "new" },
            StatsError::Empty { .. } => StatsError::Empty { which: "base" },
            other => base_denominator(other),
        })?;
    let per_run = |runs: &[&[f64]]| -> Vec<f64> {
        runs.iter()
            .map(|r| metric.compute(&mut r.to_vec()))
            .collect()
    };
    let (sb, sn) = (per_run(base), per_run(new));
    let mut parts: Vec<RunNoise> = RunNoise::from_groups(&[&sb, &sn])?.into_iter().collect();
    parts.extend(learned);
    finish(base, new, metric, opts, est, RunNoise::pool(&parts))
}

fn check_opts(opts: CompareOpts) -> Result<(), StatsError> {
    check_open_unit("alpha", opts.alpha)?;
    if !(opts.threshold >= 0.0 && opts.threshold.is_finite()) {
        return Err(StatsError::OutOfRange {
            name: "threshold",
            value: opts.threshold,
            range: "[0, ∞)",
        });
    }
    Ok(())
}

fn boot_opts(opts: CompareOpts) -> BootstrapOpts {
    BootstrapOpts {
        resamples: opts.resamples,
        level: 1.0 - opts.alpha,
        seed: opts.seed,
        max_samples: opts.max_samples,
    }
}

/// A zero denominator is BASE's statistic.
fn base_denominator(e: StatsError) -> StatsError {
    match e {
        StatsError::BadDenominator { value, .. } => StatsError::BadDenominator {
            which: "base",
            value,
        },
        other => other,
    }
}

/// The rank test (median only), the noise floor and the verdict.
fn finish(
    base: &[&[f64]],
    new: &[&[f64]],
    metric: Metric,
    opts: CompareOpts,
    est: RatioEstimate,
    noise: Option<RunNoise>,
) -> Result<Comparison, StatsError> {
    let (p_value, effect_size) = if metric.needs_rank_test() {
        let pooled = |runs: &[&[f64]]| runs.concat();
        let rank = mann_whitney(&pooled(new), &pooled(base))?;
        (Some(rank.p_value), Some(rank.effect_size))
    } else {
        (None, None)
    };
    let significant = p_value.is_none_or(|p| p < opts.alpha);
    let noise_floor = noise.map_or(0.0, |n| n.floor(base.len(), new.len()));
    let effective_threshold = opts.threshold.max(noise_floor);
    Ok(Comparison {
        metric,
        ratio: est.ratio,
        ci: est.ci,
        p_value,
        effect_size,
        noise,
        noise_floor,
        effective_threshold,
        verdict: verdict(est.ci, effective_threshold, significant),
        subsampled: est.subsampled,
    })
}

/// The gate rule of [`classify`] on an interval `(lo, hi)` of new/base.
fn verdict((lo, hi): (f64, f64), threshold: f64, significant: bool) -> Verdict {
    if significant && lo > 1.0 + threshold {
        Verdict::Regressed
    } else if significant && hi < 1.0 - threshold {
        Verdict::Improved
    } else {
        Verdict::Unchanged
    }
}

/// `metric(numerator) / metric(denominator)` with a percentile-bootstrap interval, e.g. the
/// slowdown of one node class over another (pi3 latencies over vps latencies); unitless.
///
/// Method and errors: quantile metrics by [`bootstrap_quantile_ratio`] (exact order-statistic
/// draws, any sample size), the mean by [`bootstrap_ratio`] with [`Metric::compute`] (Efron &
/// Tibshirani 1993, ch. 13).
pub fn ratio_between(
    numerator: &[f64],
    denominator: &[f64],
    metric: Metric,
    opts: BootstrapOpts,
) -> Result<RatioEstimate, StatsError> {
    match metric.quantile() {
        Some(q) => bootstrap_quantile_ratio(numerator, denominator, q, opts),
        None => bootstrap_ratio(numerator, denominator, |buf| metric.compute(buf), opts),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;
    use crate::stats::testdata::lognormal;

    /// Sample size of the synthetic runs; with 500 resamples this keeps debug-build tests quick.
    const N: usize = 1000;

    fn gate(base: &[f64], new: &[f64], metric: Metric) -> Comparison {
        let opts = CompareOpts {
            seed: 7,
            resamples: 500,
            ..CompareOpts::default()
        };
        classify(base, new, metric, opts).unwrap()
    }

    #[test]
    fn same_distribution_is_unchanged() {
        let base = lognormal(N, 1, 1.0);
        let new = lognormal(N, 2, 1.0);
        for metric in [Metric::Median, Metric::P90, Metric::P99, Metric::Mean] {
            let c = gate(&base, &new, metric);
            assert_eq!(c.verdict, Verdict::Unchanged, "{c:?}");
            assert!(c.ci.0 <= 1.0 && 1.0 <= c.ci.1, "{c:?}");
        }
    }

    #[test]
    fn thirty_percent_slower_is_regressed() {
        let base = lognormal(N, 3, 1.0);
        let new = lognormal(N, 4, 1.3);
        for metric in [Metric::Median, Metric::P50, Metric::P90, Metric::Mean] {
            let c = gate(&base, &new, metric);
            assert_eq!(c.verdict, Verdict::Regressed, "{c:?}");
            assert!(c.ci.0 < 1.3 && 1.3 < c.ci.1, "{c:?}");
            if metric == Metric::Median || metric == Metric::P50 {
                assert!(c.effect_size.unwrap() > 0.0);
            } else {
                assert_eq!((c.p_value, c.effect_size), (None, None));
            }
        }
    }

    #[test]
    fn thirty_percent_faster_is_improved() {
        let base = lognormal(N, 5, 1.0);
        let new = lognormal(N, 6, 0.7);
        let c = gate(&base, &new, Metric::Median);
        assert_eq!(c.verdict, Verdict::Improved, "{c:?}");
        assert!(
            c.p_value.unwrap() < 0.05 && c.effect_size.unwrap() < 0.0,
            "{c:?}"
        );
    }

    #[test]
    fn change_below_threshold_is_unchanged() {
        // A real 2 % shift is detected by the rank test but is smaller than the 5 % threshold.
        let base = lognormal(N, 8, 1.0);
        let new = lognormal(N, 9, 1.02);
        assert_eq!(
            gate(&base, &new, Metric::Median).verdict,
            Verdict::Unchanged
        );
    }

    /// Six runs of the same code, each shifted by its own run effect (×0.90 … ×1.12, as a shared
    /// machine gives), 200 samples each.
    fn shifted_runs(seed: u64, slower: f64) -> Vec<Vec<f64>> {
        [0.90, 1.04, 0.97, 1.12, 1.0, 0.94]
            .iter()
            .enumerate()
            .map(|(i, effect)| lognormal(200, seed + i as u64, effect * slower))
            .collect()
    }

    fn refs(runs: &[Vec<f64>]) -> Vec<&[f64]> {
        runs.iter().map(Vec::as_slice).collect()
    }

    #[test]
    fn run_to_run_shifts_fail_a_single_pair_but_not_the_runs_gate() {
        let opts = CompareOpts {
            seed: 7,
            resamples: 500,
            ..CompareOpts::default()
        };
        let runs = shifted_runs(100, 1.0);
        // One run against another of the same code: the within-run interval calls it regressed.
        let single = classify(&runs[0], &runs[3], Metric::P50, opts).unwrap();
        assert_eq!(single.verdict, Verdict::Regressed, "{single:?}");
        // Three runs a side: the between-run spread sets a floor above that shift.
        let (base, new) = (refs(&runs[..3]), refs(&runs[3..]));
        let c = classify_runs(&base, &new, Metric::P50, opts, None).unwrap();
        assert_eq!(c.verdict, Verdict::Unchanged, "{c:?}");
        assert!(c.noise_floor > 0.05 && c.effective_threshold == c.noise_floor);
        assert_eq!(c.noise.unwrap().df, 4.0);
        // The same pair with a noise floor learned from the six runs is unchanged too.
        let per_run: Vec<f64> = runs
            .iter()
            .map(|r| Metric::P50.compute(&mut r.clone()))
            .collect();
        let learned = RunNoise::from_groups(&[&per_run]).unwrap();
        let c = classify_runs(&[&runs[0]], &[&runs[3]], Metric::P50, opts, learned).unwrap();
        assert_eq!(c.verdict, Verdict::Unchanged, "{c:?}");
    }

    #[test]
    fn a_real_slowdown_clears_the_noise_floor() {
        let opts = CompareOpts {
            seed: 8,
            resamples: 500,
            ..CompareOpts::default()
        };
        let base = shifted_runs(200, 1.0);
        let new = shifted_runs(300, 1.8);
        let c =
            classify_runs(&refs(&base[..3]), &refs(&new[..3]), Metric::P50, opts, None).unwrap();
        assert_eq!(c.verdict, Verdict::Regressed, "{c:?}");
        assert!(c.ci.0 > 1.0 + c.noise_floor);
        let p99 =
            classify_runs(&refs(&base[..3]), &refs(&new[..3]), Metric::P99, opts, None).unwrap();
        assert_eq!((p99.p_value, p99.effect_size), (None, None), "{p99:?}");
        assert!(classify_runs(&refs(&base), &refs(&new), Metric::Mean, opts, None).is_err());
        assert!(matches!(
            classify_runs(&[], &refs(&new), Metric::P50, opts, None),
            Err(StatsError::Empty { which: "base" })
        ));
    }

    #[test]
    fn rule_truth_table() {
        assert_eq!(verdict((1.06, 1.2), 0.05, true), Verdict::Regressed);
        assert_eq!(verdict((1.06, 1.2), 0.05, false), Verdict::Unchanged);
        assert_eq!(verdict((1.04, 1.2), 0.05, true), Verdict::Unchanged);
        assert_eq!(verdict((0.8, 0.94), 0.05, true), Verdict::Improved);
        assert_eq!(verdict((0.8, 0.96), 0.05, true), Verdict::Unchanged);
        assert_eq!(verdict((0.8, 0.94), 0.05, false), Verdict::Unchanged);
        assert_eq!(verdict((0.9, 1.1), 0.0, true), Verdict::Unchanged);
    }

    #[test]
    fn bad_inputs_are_errors() {
        let x = [1.0, 2.0, 3.0];
        let o = CompareOpts::default();
        assert!(matches!(
            classify(&[], &x, Metric::Median, o),
            Err(StatsError::Empty { which: "base" })
        ));
        assert!(matches!(
            classify(&x, &[], Metric::P99, o),
            Err(StatsError::Empty { which: "new" })
        ));
        assert!(classify(&x, &x, Metric::Median, CompareOpts { alpha: 0.0, ..o }).is_err());
        assert!(classify(
            &x,
            &x,
            Metric::Median,
            CompareOpts {
                threshold: -0.1,
                ..o
            }
        )
        .is_err());
        assert!(matches!(
            classify(&[0.0, 0.0], &x, Metric::Median, o),
            Err(StatsError::BadDenominator { which: "base", .. })
        ));
    }

    #[test]
    fn class_ratio_recovers_slowdown() {
        let vps = lognormal(N, 10, 1.0);
        let pi3 = lognormal(N, 11, 3.0);
        let r = ratio_between(
            &pi3,
            &vps,
            Metric::P90,
            BootstrapOpts {
                resamples: 500,
                ..BootstrapOpts::default()
            },
        )
        .unwrap();
        assert!(r.ci.0 < 3.0 && 3.0 < r.ci.1, "{r:?}");
    }

    #[test]
    fn serializes_to_json() {
        let c = gate(
            &lognormal(50, 12, 1.0),
            &lognormal(50, 13, 1.0),
            Metric::P99,
        );
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["metric"], "p99");
        assert_eq!(v["verdict"], "unchanged");
        assert!(v["ci"].as_array().is_some_and(|a| a.len() == 2));
    }

    #[test]
    #[ignore = "timing, run by hand"]
    fn time_classify_1e5() {
        let base = lognormal(100_000, 20, 1.0);
        let new = lognormal(100_000, 21, 1.1);
        let start = std::time::Instant::now();
        let c = classify(&base, &new, Metric::Median, CompareOpts::default()).unwrap();
        println!(
            "classify on 2 x 1e5 samples (default opts): {:?} -> {c:?}",
            start.elapsed()
        );
    }
}
