//! Seeded percentile-bootstrap confidence intervals for the ratio of a statistic between two samples.

use rand::distributions::{Distribution, Uniform};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::error::{check_open_unit, check_sample, StatsError};
use super::quantile::quantile_sorted;

/// Settings of a bootstrap run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BootstrapOpts {
    /// Number of bootstrap resamples B (count). Default 2000 (Efron & Tibshirani 1993 recommend
    /// B of 1000 or more for percentile intervals).
    pub resamples: usize,
    /// Confidence level of the interval, in (0, 1). Default 0.95.
    pub level: f64,
    /// Seed of the ChaCha8 generator; the same seed and inputs give the same interval.
    pub seed: u64,
    /// Largest sample size (count) resampled as is; a larger sample is first reduced to this many
    /// values per resample (an m-out-of-n bootstrap, see [`bootstrap_ratio`]). Default 20 000.
    pub max_samples: usize,
}

impl Default for BootstrapOpts {
    fn default() -> Self {
        BootstrapOpts {
            resamples: 2000,
            level: 0.95,
            seed: 0,
            max_samples: 20_000,
        }
    }
}

/// A ratio `stat(numerator) / stat(denominator)` with its bootstrap interval (unitless).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RatioEstimate {
    /// Point estimate on the full samples.
    pub ratio: f64,
    /// Percentile-bootstrap interval `(lo, hi)` at `level`.
    pub ci: (f64, f64),
    /// Confidence level of `ci`.
    pub level: f64,
    /// Number of resamples the interval was computed from (count).
    pub resamples: usize,
    /// True when a sample exceeded `max_samples`, so its resamples were `max_samples` long.
    pub subsampled: bool,
}

/// Percentile-bootstrap confidence interval for `stat(numerator) / stat(denominator)`.
///
/// Method: Efron & Tibshirani, *An Introduction to the Bootstrap* (Chapman & Hall 1993), ch. 13
/// (the percentile interval), with two-sample resampling (ch. 8): each of the B rounds draws
/// both samples independently with replacement, computes the ratio of their statistics, and the
/// interval is the type-7 `(1−level)/2` and `(1+level)/2` quantiles of the B ratios (the book takes
/// the nearest order statistic; interpolation differs by at most one rank).
///
/// `stat` gets a scratch buffer holding one resample and may reorder it (e.g. `select_quantile`
/// for O(n) medians); buffers are reused across rounds. A sample longer than
/// `opts.max_samples` (m) is resampled with only m draws per round, still from the full sample:
/// the m-out-of-n bootstrap (Bickel, Götze & van Zwet 1997, *Statistica Sinica* 7(1)). The
/// resampled ratios stay centred on the full-sample estimate but their spread is that of
/// m-sized samples, so the interval is wider than the full-sample one by about √(n/m):
/// conservative, never falsely narrow. The point estimate always uses the full samples.
/// Randomness comes only from `ChaCha8Rng::seed_from_u64(seed)`.
///
/// Assumptions: independent iid samples; the percentile interval is first-order accurate and can
/// under-cover for tail statistics on small samples. Errors on empty samples, NaN/±inf, zero
/// resamples, a level outside (0, 1), or a denominator statistic that is zero or non-finite (on the
/// full sample or in any resample).
pub fn bootstrap_ratio<F>(
    numerator: &[f64],
    denominator: &[f64],
    stat: F,
    opts: BootstrapOpts,
) -> Result<RatioEstimate, StatsError>
where
    F: Fn(&mut [f64]) -> f64,
{
    check_sample("numerator", numerator)?;
    check_sample("denominator", denominator)?;
    check_open_unit("level", opts.level)?;
    if opts.resamples == 0 {
        return Err(StatsError::NoResamples);
    }
    let ratio = checked_ratio(
        stat(&mut numerator.to_vec()),
        stat(&mut denominator.to_vec()),
    )?;

    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let cap = opts.max_samples.max(1);
    let subsampled = numerator.len() > cap || denominator.len() > cap;

    let mut num_buf = vec![0.0; numerator.len().min(cap)];
    let mut den_buf = vec![0.0; denominator.len().min(cap)];
    let mut ratios = Vec::with_capacity(opts.resamples);
    for _ in 0..opts.resamples {
        resample_into(numerator, &mut num_buf, &mut rng);
        resample_into(denominator, &mut den_buf, &mut rng);
        ratios.push(checked_ratio(stat(&mut num_buf), stat(&mut den_buf))?);
    }
    ratios.sort_unstable_by(f64::total_cmp);
    let tail = (1.0 - opts.level) / 2.0;
    let lo = quantile_sorted(&ratios, tail).unwrap_or(f64::NAN);
    let hi = quantile_sorted(&ratios, 1.0 - tail).unwrap_or(f64::NAN);
    Ok(RatioEstimate {
        ratio,
        ci: (lo, hi),
        level: opts.level,
        resamples: opts.resamples,
        subsampled,
    })
}

/// `num / den`, or an error naming the denominator when it is zero or either side is non-finite.
fn checked_ratio(num: f64, den: f64) -> Result<f64, StatsError> {
    let r = num / den;
    if den == 0.0 || !r.is_finite() {
        return Err(StatsError::BadDenominator {
            which: "denominator",
            value: den,
        });
    }
    Ok(r)
}

/// Fill `buf` with `buf.len()` draws with replacement from `data`.
fn resample_into(data: &[f64], buf: &mut [f64], rng: &mut ChaCha8Rng) {
    // u64 indices keep the stream identical on 32- and 64-bit hosts.
    let index = Uniform::new(0u64, data.len() as u64);
    for slot in buf.iter_mut() {
        *slot = data[index.sample(rng) as usize];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::quantile::select_quantile;
    use crate::stats::testdata::lognormal;
    use proptest::prelude::*;

    fn median(buf: &mut [f64]) -> f64 {
        select_quantile(buf, 0.5)
    }

    #[test]
    fn scaled_sample_ratio_is_recovered() {
        let base = lognormal(2000, 1, 1.0);
        let doubled = lognormal(2000, 2, 2.0);
        let r = bootstrap_ratio(
            &doubled,
            &base,
            median,
            BootstrapOpts {
                resamples: 500,
                ..BootstrapOpts::default()
            },
        )
        .unwrap();
        assert!(r.ci.0 < 2.0 && 2.0 < r.ci.1, "{r:?}");
        assert!(r.ci.0 > 1.8 && r.ci.1 < 2.2, "{r:?}");
        assert!(!r.subsampled);
    }

    #[test]
    fn large_samples_are_subsampled_deterministically() {
        let a = lognormal(500, 3, 1.0);
        let b = lognormal(400, 4, 1.0);
        let opts = BootstrapOpts {
            max_samples: 100,
            resamples: 300,
            ..BootstrapOpts::default()
        };
        let r1 = bootstrap_ratio(&a, &b, median, opts).unwrap();
        let r2 = bootstrap_ratio(&a, &b, median, opts).unwrap();
        assert!(r1.subsampled);
        assert_eq!(r1, r2);
        assert!(r1.ci.0 <= r1.ratio && r1.ratio <= r1.ci.1, "{r1:?}");
        let full = bootstrap_ratio(&a, &b, median, opts.with_cap(1000)).unwrap();
        assert_eq!(
            r1.ratio, full.ratio,
            "the point estimate uses the full samples"
        );
        assert!(
            full.ci.1 - full.ci.0 < r1.ci.1 - r1.ci.0,
            "subsampling widens the interval"
        );
    }

    #[test]
    fn errors_instead_of_panics() {
        let o = BootstrapOpts::default();
        assert!(matches!(
            bootstrap_ratio(&[], &[1.0], median, o),
            Err(StatsError::Empty { .. })
        ));
        assert!(matches!(
            bootstrap_ratio(&[1.0], &[0.0, 0.0], median, o),
            Err(StatsError::BadDenominator { .. })
        ));
        let zero = BootstrapOpts { resamples: 0, ..o };
        assert!(matches!(
            bootstrap_ratio(&[1.0], &[1.0], median, zero),
            Err(StatsError::NoResamples)
        ));
        let bad_level = BootstrapOpts { level: 1.0, ..o };
        assert!(bootstrap_ratio(&[1.0], &[1.0], median, bad_level).is_err());
    }

    impl BootstrapOpts {
        fn with_cap(self, max_samples: usize) -> Self {
            BootstrapOpts {
                max_samples,
                ..self
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn deterministic_and_contains_estimate(
            a in prop::collection::vec(1.0..1000.0f64, 5..80),
            b in prop::collection::vec(1.0..1000.0f64, 5..80),
            seed in any::<u64>(),
            max_samples in 5..100usize,
        ) {
            let opts = BootstrapOpts { resamples: 300, seed, max_samples, level: 0.95 };
            let r1 = bootstrap_ratio(&a, &b, median, opts).unwrap();
            let r2 = bootstrap_ratio(&a, &b, median, opts).unwrap();
            prop_assert_eq!(&r1, &r2);
            prop_assert!(r1.ci.0 <= r1.ratio && r1.ratio <= r1.ci.1, "{:?}", r1);
        }
    }
}
