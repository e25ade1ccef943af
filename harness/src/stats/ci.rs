//! Confidence intervals: Student-t for the mean, distribution-free order statistics for quantiles.

use serde::Serialize;
use statrs::distribution::{Binomial, ContinuousCDF, DiscreteCDF, Normal, StudentsT};

use super::error::{check_open_unit, check_sample, StatsError};
use super::quantile::sorted_finite;

/// Largest sample size for which [`order_stat_indices`] searches the exact binomial; above it the
/// normal approximation that Le Boudec (2010) gives with Table A.1 is used.
pub const EXACT_BINOMIAL_MAX_N: usize = 70;

/// A confidence interval for the mean, in the unit of the data.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MeanInterval {
    /// Sample mean (the point estimate).
    pub mean: f64,
    /// Lower bound.
    pub lo: f64,
    /// Upper bound.
    pub hi: f64,
    /// Nominal confidence level, e.g. 0.95.
    pub level: f64,
}

/// How the order-statistic indices of an [`OrderStatInterval`] were chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IndexMethod {
    /// Searched on the exact Binomial(n, q) CDF (n ≤ [`EXACT_BINOMIAL_MAX_N`]).
    ExactBinomial,
    /// Le Boudec's normal approximation (n > [`EXACT_BINOMIAL_MAX_N`]).
    NormalApprox,
}

/// A distribution-free confidence interval `[x(j), x(k)]` for a quantile, in the unit of the data.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OrderStatInterval {
    /// Lower bound, the j-th smallest value.
    pub lo: f64,
    /// Upper bound, the k-th smallest value.
    pub hi: f64,
    /// 1-based rank of the lower bound.
    pub j: usize,
    /// 1-based rank of the upper bound.
    pub k: usize,
    /// Nominal confidence level asked for, e.g. 0.95.
    pub level: f64,
    /// Exact coverage `B(k−1) − B(j−1)` of `[x(j), x(k)]` under Binomial(n, q), for continuous data.
    pub coverage: f64,
    /// How `j` and `k` were chosen.
    pub method: IndexMethod,
}

/// Student-t confidence interval for the mean of `data` at `level` (e.g. 0.95), in the unit of
/// the data: `x̄ ± t_{n−1, (1+level)/2} · s / √n`, with `s` the sample standard deviation.
///
/// Method: Student (1908), *Biometrika* 6(1); the standard t interval as in Le Boudec (2010),
/// ch. 2; the t quantile comes from `statrs`. Assumes iid data whose mean is approximately normal (exact for normal data,
/// asymptotic otherwise — heavy-tailed latencies need large n). Returns `Ok(None)` when n < 2;
/// errors on an empty sample, NaN/±inf, or `level ∉ (0, 1)`.
pub fn mean_ci(data: &[f64], level: f64) -> Result<Option<MeanInterval>, StatsError> {
    check_sample("data", data)?;
    check_open_unit("level", level)?;
    let n = data.len();
    if n < 2 {
        return Ok(None);
    }
    let nf = n as f64;
    let mean = data.iter().sum::<f64>() / nf;
    let var = data.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (nf - 1.0);
    let Ok(t) = StudentsT::new(0.0, 1.0, nf - 1.0) else {
        return Ok(None);
    };
    let half = t.inverse_cdf(0.5 + level / 2.0) * (var / nf).sqrt();
    Ok(Some(MeanInterval {
        mean,
        lo: mean - half,
        hi: mean + half,
        level,
    }))
}

/// 1-based order-statistic ranks `(j, k)` such that `[x(j), x(k)]` is a confidence interval of at
/// least `level` for the `q`-quantile of a sample of size `n`; `None` when no such interval exists
/// (e.g. the median at 95% with n < 6).
///
/// Method: Le Boudec, *Performance Evaluation of Computer and Communication Systems* (EPFL Press
/// 2010), Theorem 2.1: for iid data with a continuous CDF, `P(x(j) ≤ m_q ≤ x(k)) = B(k−1) − B(j−1)`
/// with `B` the Binomial(n, q) CDF.
/// - n ≤ [`EXACT_BINOMIAL_MAX_N`]: equal-tailed search on the exact binomial — `j` the largest
///   rank with `B(j−1) ≤ (1−level)/2`, `k` the smallest with `B(k−1) ≥ (1+level)/2` (this
///   reproduces the book's Table A.1 for the median).
/// - n > [`EXACT_BINOMIAL_MAX_N`]: the book's normal approximation with `z = Φ⁻¹((1+level)/2)`:
///   `j = ⌊nq − z√(nq(1−q))⌋`, `k = ⌈nq + 1 + z√(nq(1−q))⌉` (for the median at 95%:
///   `⌊0.5n − 0.98√n⌋`, `⌈0.5n + 1 + 0.98√n⌉`); `None` if that leaves `[1, n]`.
///
/// Errors when `q` or `level` is not in the open interval (0, 1).
pub fn order_stat_indices(
    n: usize,
    q: f64,
    level: f64,
) -> Result<Option<(usize, usize)>, StatsError> {
    check_open_unit("q", q)?;
    check_open_unit("level", level)?;
    if n == 0 {
        return Ok(None);
    }
    let tail = (1.0 - level) / 2.0;
    let Ok(binom) = Binomial::new(q, n as u64) else {
        return Ok(None);
    };
    // B(r − 1) for a 1-based rank r.
    let below = |r: usize| binom.cdf(r as u64 - 1);
    let indices = if n <= EXACT_BINOMIAL_MAX_N {
        let j = (1..=n).rev().find(|&r| below(r) <= tail);
        let k = (1..=n).find(|&r| below(r) >= 1.0 - tail);
        j.zip(k)
    } else {
        let Ok(normal) = Normal::new(0.0, 1.0) else {
            return Ok(None);
        };
        let z = normal.inverse_cdf(1.0 - tail);
        let (nq, spread) = (n as f64 * q, z * (n as f64 * q * (1.0 - q)).sqrt());
        let j = (nq - spread).floor();
        let k = (nq + 1.0 + spread).ceil();
        (j >= 1.0 && k <= n as f64).then_some((j as usize, k as usize))
    };
    Ok(indices.filter(|(j, k)| j < k))
}

/// Distribution-free confidence interval for the `q`-quantile of `data` at `level`, in the unit
/// of the data; `Ok(None)` when the sample is too small for that level (see
/// [`order_stat_indices`] for the method, Le Boudec 2010, Theorem 2.1).
///
/// Assumes iid data from a continuous distribution (ties make the interval conservative).
/// Errors on an empty sample, NaN/±inf, or `q`/`level` outside (0, 1).
pub fn quantile_ci(
    data: &[f64],
    q: f64,
    level: f64,
) -> Result<Option<OrderStatInterval>, StatsError> {
    let sorted = sorted_finite("data", data)?;
    let n = sorted.len();
    let Some((j, k)) = order_stat_indices(n, q, level)? else {
        return Ok(None);
    };
    let method = if n <= EXACT_BINOMIAL_MAX_N {
        IndexMethod::ExactBinomial
    } else {
        IndexMethod::NormalApprox
    };
    let coverage = Binomial::new(q, n as u64)
        .map(|b| b.cdf(k as u64 - 1) - b.cdf(j as u64 - 1))
        .unwrap_or(f64::NAN);
    Ok(Some(OrderStatInterval {
        lo: sorted[j - 1],
        hi: sorted[k - 1],
        j,
        k,
        level,
        coverage,
        method,
    }))
}

/// Distribution-free confidence interval for the median: [`quantile_ci`] with `q = 0.5`.
pub fn median_ci(data: &[f64], level: f64) -> Result<Option<OrderStatInterval>, StatsError> {
    quantile_ci(data, 0.5, level)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::quantile::quantile;
    use proptest::prelude::*;

    #[test]
    fn student_t_known_value() {
        // Reference from scipy 1.17.1:
        //   x = [12.1, 9.8, 11.4, 10.2, 13.7, 10.9, 12.6]
        //   stats.t.interval(0.95, 6, loc=x.mean(), scale=stats.sem(x))
        //   -> (10.256318121655081, 12.800824735487776); at 0.90 -> (10.518229541239682, 12.538913315903173)
        let x = [12.1, 9.8, 11.4, 10.2, 13.7, 10.9, 12.6];
        let ci = mean_ci(&x, 0.95).unwrap().unwrap();
        assert!((ci.mean - 11.528571428571428).abs() < 1e-12);
        assert!((ci.lo - 10.256318121655081).abs() < 1e-9, "{ci:?}");
        assert!((ci.hi - 12.800824735487776).abs() < 1e-9, "{ci:?}");
        let ci90 = mean_ci(&x, 0.90).unwrap().unwrap();
        assert!((ci90.lo - 10.518229541239682).abs() < 1e-9, "{ci90:?}");
        assert!((ci90.hi - 12.538913315903173).abs() < 1e-9, "{ci90:?}");
    }

    #[test]
    fn mean_ci_edge_cases() {
        assert_eq!(mean_ci(&[1.0], 0.95).unwrap(), None);
        assert!(mean_ci(&[], 0.95).is_err());
        assert!(mean_ci(&[1.0, 2.0], 1.0).is_err());
        assert!(mean_ci(&[1.0, f64::NAN], 0.95).is_err());
    }

    #[test]
    fn le_boudec_median_table_95() {
        // n = 10, 50: exact binomial (Le Boudec Table A.1). Cross-checked with scipy:
        //   j = max{j: binom.cdf(j-1, n, .5) <= .025}, k = min{k: binom.cdf(k-1, n, .5) >= .975}
        //   -> n=10: (2, 9), coverage 0.978516; n=50: (18, 33), coverage 0.967161.
        // n = 100: the book's approximation by hand: ⌊50 − 0.98·10⌋ = 40, ⌈51 + 9.8⌉ = 61.
        assert_eq!(order_stat_indices(10, 0.5, 0.95).unwrap(), Some((2, 9)));
        assert_eq!(order_stat_indices(50, 0.5, 0.95).unwrap(), Some((18, 33)));
        assert_eq!(order_stat_indices(100, 0.5, 0.95).unwrap(), Some((40, 61)));
        let ten: Vec<f64> = (1..=10).map(f64::from).collect();
        let ci = median_ci(&ten, 0.95).unwrap().unwrap();
        assert_eq!((ci.lo, ci.hi), (2.0, 9.0));
        assert!((ci.coverage - 0.978516).abs() < 1e-6);
        // Smallest sizes: no 95% interval below n = 6; n = 6 uses the extremes (coverage 62/64).
        for n in 1..6 {
            assert_eq!(order_stat_indices(n, 0.5, 0.95).unwrap(), None, "n = {n}");
        }
        assert_eq!(order_stat_indices(6, 0.5, 0.95).unwrap(), Some((1, 6)));
        // More rows of the classic exact table (scipy as above): n=9 (2,8), n=12 (3,10), n=20 (6,15), n=70 (27,44).
        assert_eq!(order_stat_indices(9, 0.5, 0.95).unwrap(), Some((2, 8)));
        assert_eq!(order_stat_indices(12, 0.5, 0.95).unwrap(), Some((3, 10)));
        assert_eq!(order_stat_indices(20, 0.5, 0.95).unwrap(), Some((6, 15)));
        assert_eq!(order_stat_indices(70, 0.5, 0.95).unwrap(), Some((27, 44)));
    }

    #[test]
    fn tail_quantile_needs_more_data() {
        // scipy search as above with q = 0.9: none for n = 30, (41, 50) for n = 50.
        assert_eq!(order_stat_indices(30, 0.9, 0.95).unwrap(), None);
        assert_eq!(order_stat_indices(50, 0.9, 0.95).unwrap(), Some((41, 50)));
        let data: Vec<f64> = (1..=50).map(f64::from).collect();
        let ci = quantile_ci(&data, 0.9, 0.95).unwrap().unwrap();
        assert_eq!(
            (ci.lo, ci.hi, ci.method),
            (41.0, 50.0, IndexMethod::ExactBinomial)
        );
        assert!((ci.coverage - 0.970308).abs() < 1e-6);
    }

    proptest! {
        #[test]
        fn mean_ci_contains_mean(data in prop::collection::vec(-1.0e6..1.0e6f64, 2..200), level in 0.5..0.999f64) {
            let ci = mean_ci(&data, level).unwrap().unwrap();
            prop_assert!(ci.lo <= ci.mean && ci.mean <= ci.hi);
        }

        #[test]
        fn median_ci_brackets_median_and_nests(
            data in prop::collection::vec(-1.0e6..1.0e6f64, 1..300),
            a in 0.5..0.999f64,
            b in 0.5..0.999f64,
        ) {
            let (lo_level, hi_level) = if a <= b { (a, b) } else { (b, a) };
            let median = quantile(&data, 0.5).unwrap();
            let narrow = median_ci(&data, lo_level).unwrap();
            let wide = median_ci(&data, hi_level).unwrap();
            if let Some(ci) = &narrow {
                prop_assert!(ci.lo <= median && median <= ci.hi);
                prop_assert!(ci.coverage >= lo_level - 1e-12 || ci.method == IndexMethod::NormalApprox);
            }
            if let Some(w) = &wide {
                let n = narrow.expect("a wider level has an interval, so the narrower one must too");
                prop_assert!(w.j <= n.j && n.k <= w.k);
            }
        }
    }
}
