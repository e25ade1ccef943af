//! Descriptive summary of one sample: count, moments, extremes and tail quantiles.

use serde::{Deserialize, Serialize};

use super::error::StatsError;
use super::quantile::{quantile_sorted, sorted_finite};

/// Descriptive statistics of one sample. Every field except `n` and `cv` is in the unit of the
/// input (e.g. pass latencies in ms, get `mean`, `p99`, … in ms); `cv` is unitless.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Number of values.
    pub n: usize,
    /// Arithmetic mean.
    pub mean: f64,
    /// Sample standard deviation with Bessel's correction (divisor n − 1); `None` when n < 2.
    pub stddev: Option<f64>,
    /// Coefficient of variation `stddev / |mean|`; `None` when n < 2 or the mean is 0.
    pub cv: Option<f64>,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// Median (type-7 quantile 0.5).
    pub p50: f64,
    /// Type-7 quantile 0.90.
    pub p90: f64,
    /// Type-7 quantile 0.99.
    pub p99: f64,
    /// Type-7 quantile 0.999.
    pub p999: f64,
}

impl Summary {
    /// Summarise `data` (any order, in the unit you want the summary in).
    ///
    /// Methods: mean and variance by Welford's one-pass update (Welford 1962, *Technometrics*
    /// 4(3); Knuth, TAOCP vol. 2, §4.2.2, eq. 15–16), which avoids the cancellation of the
    /// textbook sum-of-squares formula; quantiles by Hyndman & Fan type 7 (see
    /// [`quantile_sorted`]). Errors on an empty sample or on NaN/±inf (rejected, not skipped).
    pub fn from_samples(data: &[f64]) -> Result<Summary, StatsError> {
        let sorted = sorted_finite("data", data)?;
        let (mean, m2) = sorted
            .iter()
            .enumerate()
            .fold((0.0f64, 0.0f64), |(mean, m2), (i, &x)| {
                let delta = x - mean;
                let mean = mean + delta / (i + 1) as f64;
                (mean, m2 + delta * (x - mean))
            });
        let n = sorted.len();
        let stddev = (n >= 2).then(|| (m2 / (n - 1) as f64).sqrt());
        let cv = stddev.filter(|_| mean != 0.0).map(|s| s / mean.abs());
        let q = |p: f64| quantile_sorted(&sorted, p).unwrap_or(f64::NAN);
        Ok(Summary {
            n,
            mean,
            stddev,
            cv,
            min: sorted[0],
            max: sorted[n - 1],
            p50: q(0.5),
            p90: q(0.9),
            p99: q(0.99),
            p999: q(0.999),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_values() {
        // Hand-worked on [2,4,4,4,5,5,7,9]: mean 5, squared deviations
        // 9+1+1+1+0+0+4+16 = 32, sample variance 32/7.
        let s = Summary::from_samples(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]).unwrap();
        assert_eq!(s.n, 8);
        assert!((s.mean - 5.0).abs() < 1e-12);
        let sd = (32.0f64 / 7.0).sqrt();
        assert!((s.stddev.unwrap() - sd).abs() < 1e-12);
        assert!((s.cv.unwrap() - sd / 5.0).abs() < 1e-12);
        assert_eq!((s.min, s.max, s.p50), (2.0, 9.0, 4.5));
        // type 7 p90 on n=8: h = 7·0.9 = 6.3 → 7 + 0.3·(9 − 7) = 7.6
        assert!((s.p90 - 7.6).abs() < 1e-12);
    }

    #[test]
    fn single_value_and_errors() {
        let s = Summary::from_samples(&[3.0]).unwrap();
        assert_eq!((s.stddev, s.cv, s.p999), (None, None, 3.0));
        assert!(Summary::from_samples(&[]).is_err());
        assert!(Summary::from_samples(&[1.0, f64::INFINITY]).is_err());
    }

    proptest! {
        #[test]
        fn ordered_fields(data in prop::collection::vec(-1.0e6..1.0e6f64, 1..300)) {
            let s = Summary::from_samples(&data).unwrap();
            prop_assert!(s.min <= s.p50 && s.p50 <= s.p90 && s.p90 <= s.p99 && s.p99 <= s.p999 && s.p999 <= s.max);
            prop_assert!(s.min - 1e-6 <= s.mean && s.mean <= s.max + 1e-6);
        }
    }
}
