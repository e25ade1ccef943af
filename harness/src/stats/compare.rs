//! The regression gate's comparison of two samples, and ratios between node classes.

use serde::{Deserialize, Serialize};

use super::bootstrap::{bootstrap_quantile_ratio, bootstrap_ratio, BootstrapOpts, RatioEstimate};
use super::error::{check_open_unit, check_sample, StatsError};
use super::mannwhitney::mann_whitney;
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

/// Outcome of [`classify`]: the new/base ratio of the metric, its interval, the rank test and the verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// The statistic compared.
    pub metric: Metric,
    /// `metric(new) / metric(base)` on the full samples (unitless; > 1 means slower).
    pub ratio: f64,
    /// Percentile-bootstrap interval `(lo, hi)` of the ratio at level 1 − alpha.
    pub ci: (f64, f64),
    /// Two-sided Mann–Whitney p-value of new vs base (always reported; gates only the median).
    pub p_value: f64,
    /// Rank-biserial effect size of new vs base in [−1, 1]; positive when new tends larger.
    pub effect_size: f64,
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
pub fn classify(
    base: &[f64],
    new: &[f64],
    metric: Metric,
    opts: CompareOpts,
) -> Result<Comparison, StatsError> {
    check_sample("base", base)?;
    check_sample("new", new)?;
    check_open_unit("alpha", opts.alpha)?;
    if !(opts.threshold >= 0.0 && opts.threshold.is_finite()) {
        return Err(StatsError::OutOfRange {
            name: "threshold",
            value: opts.threshold,
            range: "[0, ∞)",
        });
    }
    let boot = BootstrapOpts {
        resamples: opts.resamples,
        level: 1.0 - opts.alpha,
        seed: opts.seed,
        max_samples: opts.max_samples,
    };
    let est = ratio_between(new, base, metric, boot).map_err(|e| match e {
        StatsError::BadDenominator { value, .. } => StatsError::BadDenominator {
            which: "base",
            value,
        },
        other => other,
    })?;
    let rank = mann_whitney(new, base)?;
    let significant = !metric.needs_rank_test() || rank.p_value < opts.alpha;
    Ok(Comparison {
        metric,
        ratio: est.ratio,
        ci: est.ci,
        p_value: rank.p_value,
        effect_size: rank.effect_size,
        verdict: verdict(est.ci, opts.threshold, significant),
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
            assert!(c.effect_size > 0.0);
        }
    }

    #[test]
    fn thirty_percent_faster_is_improved() {
        let base = lognormal(N, 5, 1.0);
        let new = lognormal(N, 6, 0.7);
        let c = gate(&base, &new, Metric::Median);
        assert_eq!(c.verdict, Verdict::Improved, "{c:?}");
        assert!(c.p_value < 0.05 && c.effect_size < 0.0, "{c:?}");
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
