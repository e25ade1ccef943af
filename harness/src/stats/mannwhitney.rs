//! The two-sided Mann–Whitney U (Wilcoxon rank-sum) test with its rank-biserial effect size.

use serde::Serialize;
use statrs::distribution::{ContinuousCDF, Normal};

use super::error::{check_sample, StatsError};

/// Result of a two-sided Mann–Whitney U test of sample `x` against sample `y`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MannWhitney {
    /// `U` of the first sample: pairs `(xᵢ, yⱼ)` with `xᵢ > yⱼ`, ties counting ½; in `[0, n₁n₂]`.
    pub u: f64,
    /// Standardised statistic with tie and continuity correction; positive when `x` tends larger.
    pub z: f64,
    /// Two-sided p-value from the normal approximation, in `[0, 1]`.
    pub p_value: f64,
    /// Rank-biserial correlation `2U/(n₁n₂) − 1` in `[−1, 1]`; positive when `x` tends larger.
    pub effect_size: f64,
}

/// Two-sided Mann–Whitney U test of `x` against `y` (unitless outputs; any common input unit).
///
/// Method: Mann & Whitney (1947), *Ann. Math. Statist.* 18(1), with midranks for ties.
/// `U = R₁ − n₁(n₁+1)/2` (R₁ the rank sum of `x`), `μ = n₁n₂/2`,
/// `σ² = n₁n₂/12 · [(n+1) − Σ(t³−t)/(n(n−1))]` with `t` the size of each tie group (tie
/// correction: Hollander & Wolfe, *Nonparametric Statistical Methods*, 2nd ed. 1999, §4.1, the
/// large-sample approximation with ties),
/// `z = sign(U−μ)·max(|U−μ| − ½, 0)/σ` (continuity correction), `p = 2·(1 − Φ(|z|))`, capped at 1.
/// This matches `scipy.stats.mannwhitneyu(x, y, method="asymptotic")`. Effect size: the
/// rank-biserial correlation (Kerby 2014, *Comprehensive Psychology* 3, "simple difference formula").
///
/// Assumptions: independent samples, each iid; the normal approximation is poor for very small
/// samples (n₁, n₂ < ~8). If every value is tied, `σ = 0` and the result is `z = 0`, `p = 1`.
/// Errors on an empty sample or NaN/±inf.
pub fn mann_whitney(x: &[f64], y: &[f64]) -> Result<MannWhitney, StatsError> {
    check_sample("x", x)?;
    check_sample("y", y)?;
    let (n1, n2) = (x.len() as f64, y.len() as f64);
    let n = n1 + n2;

    let mut pooled: Vec<(f64, bool)> = x
        .iter()
        .map(|&v| (v, true))
        .chain(y.iter().map(|&v| (v, false)))
        .collect();
    pooled.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));

    let (mut rank_sum_x, mut tie_term) = (0.0f64, 0.0f64);
    let mut start = 0;
    while start < pooled.len() {
        let value = pooled[start].0;
        let end = start + pooled[start..].iter().take_while(|p| p.0 == value).count();
        let t = (end - start) as f64;
        // 1-based ranks start+1 ..= end share their mean.
        let midrank = (start + 1 + end) as f64 / 2.0;
        let in_x = pooled[start..end].iter().filter(|p| p.1).count() as f64;
        rank_sum_x += midrank * in_x;
        tie_term += t * t * t - t;
        start = end;
    }

    let u = rank_sum_x - n1 * (n1 + 1.0) / 2.0;
    let mu = n1 * n2 / 2.0;
    let sigma = (n1 * n2 / 12.0 * ((n + 1.0) - tie_term / (n * (n - 1.0)))).sqrt();
    let z = if sigma > 0.0 && sigma.is_finite() {
        let d = u - mu;
        d.signum() * (d.abs() - 0.5).max(0.0) / sigma
    } else {
        0.0
    };
    let p_value = Normal::new(0.0, 1.0)
        .map(|nd| (2.0 * nd.sf(z.abs())).min(1.0))
        .unwrap_or(1.0);
    Ok(MannWhitney {
        u,
        z,
        p_value,
        effect_size: 2.0 * u / (n1 * n2) - 1.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn matches_scipy_documented_example() {
        // The example in the scipy.stats.mannwhitneyu docs (ages of male vs female employees).
        // Produced with scipy 1.17.1:
        //   mannwhitneyu(males, females, method="asymptotic") -> U=17.0, p=0.11134688653314041
        let males = [19.0, 22.0, 16.0, 29.0, 24.0];
        let females = [20.0, 11.0, 17.0, 12.0];
        let r = mann_whitney(&males, &females).unwrap();
        assert_eq!(r.u, 17.0);
        assert!(close(r.p_value, 0.11134688653314041, 1e-9), "{r:?}");
        assert!(close(r.effect_size, 2.0 * 17.0 / 20.0 - 1.0, 1e-12));
    }

    #[test]
    fn matches_scipy_with_ties() {
        // Produced with scipy 1.17.1 (ties in and across samples):
        //   x = [1.1, 2.2, 2.2, 3.3, 4.4, 4.4, 4.4, 5.5, 6.6, 7.7]
        //   y = [2.2, 3.3, 3.3, 4.4, 8.8, 8.8, 9.9, 10.1, 11.2, 12.3, 13.4, 0.5]
        //   mannwhitneyu(x, y, method="asymptotic") -> U=35.5, p=0.1115936036036893
        let x = [1.1, 2.2, 2.2, 3.3, 4.4, 4.4, 4.4, 5.5, 6.6, 7.7];
        let y = [
            2.2, 3.3, 3.3, 4.4, 8.8, 8.8, 9.9, 10.1, 11.2, 12.3, 13.4, 0.5,
        ];
        let r = mann_whitney(&x, &y).unwrap();
        assert_eq!(r.u, 35.5);
        assert!(close(r.p_value, 0.1115936036036893, 1e-9), "{r:?}");
    }

    #[test]
    fn all_tied_and_errors() {
        let r = mann_whitney(&[3.0, 3.0], &[3.0, 3.0, 3.0]).unwrap();
        assert_eq!((r.u, r.z, r.p_value, r.effect_size), (3.0, 0.0, 1.0, 0.0));
        assert!(mann_whitney(&[], &[1.0]).is_err());
        assert!(mann_whitney(&[1.0], &[f64::NAN]).is_err());
    }

    proptest! {
        #[test]
        fn p_in_unit_and_swap_symmetric(
            x in prop::collection::vec(-100.0..100.0f64, 1..60),
            y in prop::collection::vec(-100.0..100.0f64, 1..60),
            round in any::<bool>(),
        ) {
            // Rounding half of the cases forces ties.
            let fix = |v: &Vec<f64>| -> Vec<f64> { v.iter().map(|a| if round { a.round() } else { *a }).collect() };
            let (x, y) = (fix(&x), fix(&y));
            let a = mann_whitney(&x, &y).unwrap();
            let b = mann_whitney(&y, &x).unwrap();
            let n1n2 = (x.len() * y.len()) as f64;
            prop_assert!((0.0..=1.0).contains(&a.p_value));
            prop_assert!((0.0..=n1n2).contains(&a.u));
            prop_assert!((a.u + b.u - n1n2).abs() < 1e-9);
            prop_assert!((a.p_value - b.p_value).abs() < 1e-12);
            prop_assert!((a.z + b.z).abs() < 1e-12);
            prop_assert!((a.effect_size + b.effect_size).abs() < 1e-12);
        }
    }
}
