//! Seeded percentile-bootstrap confidence intervals for the ratio of a statistic between two samples.

use rand::distributions::{Distribution, Uniform};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use statrs::distribution::Beta;

use super::error::{check_open_unit, check_sample, StatsError};
use super::quantile::{check_unit_closed, quantile_sorted};

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
    check_inputs(numerator, denominator, opts)?;
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
    Ok(percentile_interval(ratio, ratios, opts, subsampled))
}

/// The estimate with Efron & Tibshirani's percentile interval of the bootstrap `ratios`.
fn percentile_interval(
    ratio: f64,
    mut ratios: Vec<f64>,
    opts: BootstrapOpts,
    subsampled: bool,
) -> RatioEstimate {
    ratios.sort_unstable_by(f64::total_cmp);
    let tail = (1.0 - opts.level) / 2.0;
    RatioEstimate {
        ratio,
        ci: (
            quantile_sorted(&ratios, tail).unwrap_or(f64::NAN),
            quantile_sorted(&ratios, 1.0 - tail).unwrap_or(f64::NAN),
        ),
        level: opts.level,
        resamples: opts.resamples,
        subsampled,
    }
}

/// Percentile-bootstrap interval for the ratio of the type-7 `q`-quantiles of two samples, drawn
/// exactly from order statistics instead of by resampling: O(n log n) once, then O(1) per round.
///
/// Method: a resample of size n from the empirical distribution F_n is F_n⁻¹(U_1..U_n) for iid
/// uniforms U_i, and F_n⁻¹ is monotone, so the resample's k-th order statistic is F_n⁻¹(U_(k))
/// with U_(k) ~ Beta(k, n + 1 − k) (David & Nagaraja, *Order Statistics*, 3rd ed., Wiley 2003,
/// §2.2). Given U_(k) = u, U_(k+1) is the minimum of n − k uniforms on (u, 1):
/// u + (1 − u)(1 − V^{1/(n−k)}) with V uniform. The type-7 quantile of the resample interpolates
/// its order statistics k and k + 1 with k = ⌊(n − 1)q⌋ + 1, so each round draws the very
/// statistic that resampling n values would give: the same bootstrap distribution as
/// [`bootstrap_ratio`] with a quantile statistic, at any n and never subsampled (only the random
/// stream differs). The interval is Efron & Tibshirani's percentile interval, as there.
///
/// Errors as [`bootstrap_ratio`], and on `q` outside `[0, 1]`.
pub fn bootstrap_quantile_ratio(
    numerator: &[f64],
    denominator: &[f64],
    q: f64,
    opts: BootstrapOpts,
) -> Result<RatioEstimate, StatsError> {
    bootstrap_quantile_ratio_runs(&[numerator], &[denominator], q, opts)
}

/// [`bootstrap_quantile_ratio`] for sides made of several runs: each side's statistic is the
/// geometric mean of its runs' type-7 `q`-quantiles, and each bootstrap round draws every run's
/// quantile independently (exact order-statistic draws, as there) before averaging. With one
/// run per side it is [`bootstrap_quantile_ratio`] exactly (same random stream). Unitless.
///
/// This interval reflects the sampling variation *within* the runs only; the variation between
/// runs is the gate's noise floor (`stats::noise`). Errors as [`bootstrap_quantile_ratio`], and
/// on a side without runs.
pub fn bootstrap_quantile_ratio_runs(
    numerator: &[&[f64]],
    denominator: &[&[f64]],
    q: f64,
    opts: BootstrapOpts,
) -> Result<RatioEstimate, StatsError> {
    if numerator.is_empty() {
        return Err(StatsError::Empty { which: "numerator" });
    }
    if denominator.is_empty() {
        return Err(StatsError::Empty {
            which: "denominator",
        });
    }
    for (n, d) in numerator.iter().zip(denominator.iter().cycle()) {
        check_inputs(n, d, opts)?;
    }
    for (d, n) in denominator.iter().zip(numerator.iter().cycle()) {
        check_inputs(n, d, opts)?;
    }
    check_unit_closed("q", q)?;
    let sorted = |x: &[f64]| {
        let mut v = x.to_vec();
        v.sort_unstable_by(f64::total_cmp);
        v
    };
    let num: Vec<Vec<f64>> = numerator.iter().map(|r| sorted(r)).collect();
    let den: Vec<Vec<f64>> = denominator.iter().map(|r| sorted(r)).collect();
    let at = |x: &Vec<f64>| quantile_sorted(x, q).unwrap_or(f64::NAN);
    let ratio = checked_ratio(
        geometric_mean(num.iter().map(at)),
        geometric_mean(den.iter().map(at)),
    )?;
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let num_draw: Vec<OrderDraw<'_>> = num.iter().map(|x| OrderDraw::new(x, q)).collect();
    let den_draw: Vec<OrderDraw<'_>> = den.iter().map(|x| OrderDraw::new(x, q)).collect();
    let mut ratios = Vec::with_capacity(opts.resamples);
    let mut draws = Vec::with_capacity(num_draw.len().max(den_draw.len()));
    for _ in 0..opts.resamples {
        draws.clear();
        draws.extend(num_draw.iter().map(|d| d.sample(&mut rng)));
        let n = geometric_mean(draws.iter().copied());
        draws.clear();
        draws.extend(den_draw.iter().map(|d| d.sample(&mut rng)));
        let d = geometric_mean(draws.iter().copied());
        ratios.push(checked_ratio(n, d)?);
    }
    Ok(percentile_interval(ratio, ratios, opts, false))
}

/// The geometric mean of positive values (a single value is returned exactly); NaN when a value
/// is not positive, so the caller's ratio check reports it.
pub fn geometric_mean(values: impl Iterator<Item = f64>) -> f64 {
    let (mut sum, mut n, mut only) = (0.0f64, 0usize, f64::NAN);
    for v in values {
        if v <= 0.0 || !v.is_finite() {
            return f64::NAN;
        }
        only = v;
        sum += v.ln();
        n += 1;
    }
    match n {
        0 => f64::NAN,
        1 => only,
        _ => (sum / n as f64).exp(),
    }
}

/// Draws the type-7 `q`-quantile of a bootstrap resample of a sorted sample (see
/// [`bootstrap_quantile_ratio`]).
struct OrderDraw<'a> {
    sorted: &'a [f64],
    /// 1-based rank k of the lower order statistic.
    k: usize,
    /// Interpolation weight of order statistic k + 1.
    frac: f64,
    /// Distribution of U_(k), absent when k = n = 1 (a one-value sample).
    beta: Option<Beta>,
}

impl<'a> OrderDraw<'a> {
    /// `sorted` is non-empty and ascending; `q` lies in [0, 1].
    fn new(sorted: &'a [f64], q: f64) -> Self {
        let n = sorted.len();
        let h = (n.max(1) - 1) as f64 * q;
        let k = (h.floor() as usize + 1).min(n.max(1));
        // Both shape parameters are ≥ 1 here, so `Beta::new` cannot fail.
        let beta = (n > 1)
            .then(|| Beta::new(k as f64, (n + 1 - k) as f64).ok())
            .flatten();
        OrderDraw {
            sorted,
            k,
            frac: h - (k - 1) as f64,
            beta,
        }
    }

    /// The value at uniform `u`: F_n⁻¹(u) = x_(⌈n·u⌉).
    fn inverse(&self, u: f64) -> f64 {
        let n = self.sorted.len();
        let rank = ((n as f64 * u).ceil() as usize).clamp(1, n);
        self.sorted[rank - 1]
    }

    fn sample(&self, rng: &mut ChaCha8Rng) -> f64 {
        let Some(beta) = &self.beta else {
            return self.sorted[0];
        };
        let n = self.sorted.len();
        let u = beta.sample(rng);
        let lo = self.inverse(u);
        if self.frac <= 0.0 || self.k >= n {
            return lo;
        }
        let v: f64 = rng.gen();
        let next = u + (1.0 - u) * (1.0 - v.powf(1.0 / (n - self.k) as f64));
        lo + self.frac * (self.inverse(next) - lo)
    }
}

/// Both samples non-empty and finite, the level in (0, 1), at least one resample.
fn check_inputs(
    numerator: &[f64],
    denominator: &[f64],
    opts: BootstrapOpts,
) -> Result<(), StatsError> {
    check_sample("numerator", numerator)?;
    check_sample("denominator", denominator)?;
    check_open_unit("level", opts.level)?;
    if opts.resamples == 0 {
        return Err(StatsError::NoResamples);
    }
    Ok(())
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
#[allow(clippy::unwrap_used)] // tests may unwrap
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

    /// The distribution of `stat` over `rounds` brute-force resamples and over as many exact
    /// order-statistic draws, as value → frequency maps.
    fn both_ways(
        x: &[f64],
        q: f64,
        rounds: usize,
    ) -> (
        std::collections::BTreeMap<u64, f64>,
        std::collections::BTreeMap<u64, f64>,
    ) {
        let mut sorted = x.to_vec();
        sorted.sort_unstable_by(f64::total_cmp);
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let mut buf = vec![0.0; x.len()];
        let mut brute = std::collections::BTreeMap::new();
        let mut exact = std::collections::BTreeMap::new();
        let draw = OrderDraw::new(&sorted, q);
        for _ in 0..rounds {
            resample_into(x, &mut buf, &mut rng);
            buf.sort_unstable_by(f64::total_cmp);
            let b = quantile_sorted(&buf, q).unwrap();
            *brute.entry(b.to_bits()).or_insert(0.0) += 1.0 / rounds as f64;
            *exact.entry(draw.sample(&mut rng).to_bits()).or_insert(0.0) += 1.0 / rounds as f64;
        }
        (brute, exact)
    }

    #[test]
    fn order_statistic_draws_match_resampling() {
        // Odd and even n, the median and a tail quantile: every value's probability agrees with
        // brute-force resampling within ~5 standard errors of 40,000 draws each.
        for (n, q) in [
            (11, 0.5),
            (10, 0.5),
            (10, 0.9),
            (7, 0.0),
            (7, 1.0),
            (25, 0.99),
        ] {
            let x = lognormal(n, n as u64, 1.0);
            let (brute, exact) = both_ways(&x, q, 40_000);
            let keys: std::collections::BTreeSet<_> = brute.keys().chain(exact.keys()).collect();
            for k in keys {
                let (b, e) = (
                    brute.get(k).copied().unwrap_or(0.0),
                    exact.get(k).copied().unwrap_or(0.0),
                );
                assert!(
                    (b - e).abs() < 0.012,
                    "n {n} q {q}: value {} brute {b} exact {e}",
                    f64::from_bits(*k)
                );
            }
        }
    }

    #[test]
    fn order_statistic_median_follows_the_binomial_law() {
        // n = 11: the resample median is ≤ x_(j) iff at least 6 of 11 draws are ≤ x_(j), i.e.
        // P = P(Binomial(11, j/11) ≥ 6).
        let x: Vec<f64> = (1..=11).map(f64::from).collect();
        let draw = OrderDraw::new(&x, 0.5);
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let rounds = 40_000;
        let draws: Vec<f64> = (0..rounds).map(|_| draw.sample(&mut rng)).collect();
        for j in 1..=11u32 {
            let p = f64::from(j) / 11.0;
            let want: f64 = (6..=11u32)
                .map(|i| {
                    let c = (0..i).fold(1.0, |acc, t| acc * f64::from(11 - t) / f64::from(t + 1));
                    c * p.powi(i as i32) * (1.0 - p).powi(11 - i as i32)
                })
                .sum();
            let got = draws.iter().filter(|&&d| d <= f64::from(j)).count() as f64 / rounds as f64;
            assert!(
                (got - want).abs() < 0.012,
                "j {j}: got {got}, binomial {want}"
            );
        }
    }

    #[test]
    fn exact_quantile_ratio_agrees_with_the_resampling_one() {
        let a = lognormal(1000, 21, 1.3);
        let b = lognormal(800, 22, 1.0);
        let opts = BootstrapOpts {
            resamples: 3000,
            seed: 3,
            ..BootstrapOpts::default()
        };
        for q in [0.5, 0.9, 0.99] {
            let slow = bootstrap_ratio(&a, &b, |buf| select_quantile(buf, q), opts).unwrap();
            let fast = bootstrap_quantile_ratio(&a, &b, q, opts).unwrap();
            assert_eq!(slow.ratio, fast.ratio);
            let width = slow.ci.1 - slow.ci.0;
            for (s, f) in [(slow.ci.0, fast.ci.0), (slow.ci.1, fast.ci.1)] {
                assert!((s - f).abs() < 0.15 * width, "q {q}: {slow:?} vs {fast:?}");
            }
            assert!(!fast.subsampled);
            assert_eq!(fast, bootstrap_quantile_ratio(&a, &b, q, opts).unwrap());
        }
        assert!(bootstrap_quantile_ratio(&a, &b, 1.5, opts).is_err());
        assert!(
            bootstrap_quantile_ratio(&[2.0], &[1.0], 0.5, opts)
                .unwrap()
                .ci
                == (2.0, 2.0)
        );
    }

    #[test]
    fn several_runs_average_geometrically_and_one_run_is_the_plain_ratio() {
        let a = lognormal(300, 31, 1.0);
        let b = lognormal(300, 32, 1.0);
        let c = lognormal(300, 33, 2.0);
        let opts = BootstrapOpts {
            resamples: 400,
            seed: 9,
            ..BootstrapOpts::default()
        };
        let one = bootstrap_quantile_ratio(&c, &a, 0.5, opts).unwrap();
        let runs = bootstrap_quantile_ratio_runs(&[&c], &[&a], 0.5, opts).unwrap();
        assert_eq!(one, runs);
        let two = bootstrap_quantile_ratio_runs(&[&c], &[&a, &b], 0.5, opts).unwrap();
        let med = |x: &[f64]| crate::stats::quantile(x, 0.5).unwrap();
        let want = med(&c) / (med(&a) * med(&b)).sqrt();
        assert!((two.ratio - want).abs() < 1e-12, "{two:?}");
        assert!(two.ci.0 <= two.ratio && two.ratio <= two.ci.1);
        assert!(bootstrap_quantile_ratio_runs(&[], &[&a], 0.5, opts).is_err());
        assert!(bootstrap_quantile_ratio_runs(&[&a], &[&[]], 0.5, opts).is_err());
        assert!((geometric_mean([4.0, 9.0].into_iter()) - 6.0).abs() < 1e-12);
        assert!(geometric_mean([1.0, 0.0].into_iter()).is_nan());
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
