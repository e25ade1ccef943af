//! Run-to-run noise of a per-run statistic: its spread between repeated runs of the same code,
//! and the noise floor the regression gate adds to its threshold.

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, StudentsT};

use super::error::StatsError;

/// One-sided level of the noise floor: the same code exceeds the floor between runs with
/// probability about 1 − `NOISE_LEVEL` (for normal log-statistics and a t-distributed estimate).
pub const NOISE_LEVEL: f64 = 0.99;

/// The spread of `ln(statistic)` between runs of the same code (unitless), with its degrees of
/// freedom (count).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RunNoise {
    /// Standard deviation of the natural log of one run's statistic between runs (≈ the
    /// relative spread: 0.05 ≈ 5 %).
    pub sigma_log: f64,
    /// Degrees of freedom of `sigma_log`: runs minus groups (count), at least 1.
    pub df: f64,
}

impl RunNoise {
    /// Estimate from groups of per-run statistics, each group being runs of the same code (for
    /// example the BASE runs and the NEW runs); values in any one unit, all positive.
    ///
    /// Method: the pooled standard deviation of `ln x` around each group's mean (one-way ANOVA
    /// within-group mean square; e.g. Montgomery, *Design and Analysis of Experiments*, 8th ed.,
    /// §3.3), df = Σ (nᵢ − 1). Logs make the spread relative, so one floor serves fast and slow
    /// workloads. Returns `Ok(None)` when no group has two runs; errors on a non-positive or
    /// non-finite value.
    pub fn from_groups(groups: &[&[f64]]) -> Result<Option<RunNoise>, StatsError> {
        let (mut ss, mut df) = (0.0f64, 0usize);
        for g in groups {
            let logs = g
                .iter()
                .enumerate()
                .map(|(index, &v)| {
                    if v > 0.0 && v.is_finite() {
                        Ok(v.ln())
                    } else {
                        Err(StatsError::NonFinite {
                            which: "per-run statistic (must be positive)",
                            index,
                            value: v,
                        })
                    }
                })
                .collect::<Result<Vec<f64>, _>>()?;
            if logs.len() < 2 {
                continue;
            }
            let mean = logs.iter().sum::<f64>() / logs.len() as f64;
            ss += logs.iter().map(|l| (l - mean).powi(2)).sum::<f64>();
            df += logs.len() - 1;
        }
        Ok((df > 0).then(|| RunNoise {
            sigma_log: (ss / df as f64).sqrt(),
            df: df as f64,
        }))
    }

    /// Pool several estimates of the same spread, weighting each variance by its df.
    pub fn pool(parts: &[RunNoise]) -> Option<RunNoise> {
        let df: f64 = parts.iter().map(|p| p.df).sum();
        (df > 0.0).then(|| RunNoise {
            sigma_log: (parts
                .iter()
                .map(|p| p.df * p.sigma_log.powi(2))
                .sum::<f64>()
                / df)
                .sqrt(),
            df,
        })
    }

    /// The noise floor (a fraction: 0.12 = 12 %) for comparing the mean log-statistic of `base`
    /// runs with that of `new` runs: `exp(t · σ · √(1/base + 1/new)) − 1`, with `t` the
    /// one-sided [`NOISE_LEVEL`] quantile of Student's t with `df` degrees of freedom (Student
    /// 1908), which widens the floor when σ comes from few runs. A ratio of two same-code sides
    /// stays below `1 + floor` with probability about `NOISE_LEVEL`.
    pub fn floor(&self, base: usize, new: usize) -> f64 {
        let n = |k: usize| 1.0 / k.max(1) as f64;
        let t = StudentsT::new(0.0, 1.0, self.df.max(1.0))
            .map(|d| d.inverse_cdf(NOISE_LEVEL))
            .unwrap_or(f64::INFINITY);
        (t * self.sigma_log * (n(base) + n(new)).sqrt()).exp_m1()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn pooled_log_spread_by_hand() {
        // ln values: group a = ln 100, ln 110 (dev ±ln(1.1)/2), group b = one run (no df).
        let a = [100.0, 110.0];
        let n = RunNoise::from_groups(&[&a, &[50.0]]).unwrap().unwrap();
        assert_eq!(n.df, 1.0);
        let want = (2.0 * (1.1f64.ln() / 2.0).powi(2)).sqrt();
        assert!((n.sigma_log - want).abs() < 1e-12, "{n:?}");
        assert_eq!(RunNoise::from_groups(&[&[1.0], &[2.0]]).unwrap(), None);
        assert!(RunNoise::from_groups(&[&[1.0, 0.0]]).is_err());
        assert!(RunNoise::from_groups(&[&[1.0, f64::NAN]]).is_err());
    }

    #[test]
    fn floor_known_value() {
        // t(0.99, df 4) = 3.746947; σ = 0.05; one run each: √2.
        let n = RunNoise {
            sigma_log: 0.05,
            df: 4.0,
        };
        let want = (3.746_947 * 0.05 * 2f64.sqrt()).exp() - 1.0;
        assert!((n.floor(1, 1) - want).abs() < 1e-5, "{}", n.floor(1, 1));
        assert!(n.floor(3, 3) < n.floor(1, 1), "more runs, lower floor");
        let zero = RunNoise {
            sigma_log: 0.0,
            df: 2.0,
        };
        assert_eq!(zero.floor(1, 1), 0.0);
    }

    #[test]
    fn pooling_weights_by_df() {
        let p = RunNoise::pool(&[
            RunNoise {
                sigma_log: 0.1,
                df: 1.0,
            },
            RunNoise {
                sigma_log: 0.2,
                df: 3.0,
            },
        ])
        .unwrap();
        assert_eq!(p.df, 4.0);
        assert!((p.sigma_log - ((0.01 + 3.0 * 0.04) / 4.0f64).sqrt()).abs() < 1e-12);
        assert_eq!(RunNoise::pool(&[]), None);
    }

    proptest! {
        #[test]
        fn scale_free_and_monotone(
            xs in prop::collection::vec(1.0..1000.0f64, 2..8),
            k in 0.001..1000.0f64,
        ) {
            let a = RunNoise::from_groups(&[&xs]).unwrap().unwrap();
            let scaled: Vec<f64> = xs.iter().map(|x| x * k).collect();
            let b = RunNoise::from_groups(&[&scaled]).unwrap().unwrap();
            prop_assert!((a.sigma_log - b.sigma_log).abs() < 1e-9);
            prop_assert!(a.floor(1, 1) >= 0.0);
            let wider = RunNoise { sigma_log: a.sigma_log * 2.0 + 1e-6, ..a };
            prop_assert!(wider.floor(1, 1) >= a.floor(1, 1));
        }
    }
}
