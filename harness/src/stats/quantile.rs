//! Exact sample quantiles (Hyndman & Fan type 7) over sorted data, unsorted data and scratch buffers.

use super::error::{check_sample, StatsError};

/// The one percentile definition of every printed figure (`summary.json`, the console table,
/// `report.md`/`report.html`, `summary.csv`, `faasbed compare`): [`quantile_sorted`] over the
/// raw samples. Reports quote this text.
pub const PERCENTILE_DEFINITION: &str = "exact quantiles of the raw samples, Hyndman & Fan type 7 (linear interpolation between order statistics, as R's and NumPy's default)";

/// The `q`-quantile of ascending, NaN-free `sorted` data, in the unit of the data.
///
/// Method: Hyndman & Fan (1996), "Sample quantiles in statistical packages", *The American
/// Statistician* 50(4), definition 7 — the default of R's `quantile()` and NumPy's
/// `np.quantile(method="linear")`. With 0-based `h = (n − 1)·q`, the result is
/// `x[⌊h⌋] + (h − ⌊h⌋)·(x[⌊h⌋+1] − x[⌊h⌋])`, clamped to `[x[⌊h⌋], x[⌊h⌋+1]]` so that rounding
/// can never break monotonicity in `q`.
///
/// Assumptions: `sorted` is ascending and holds no NaN (checked only in debug builds; use
/// [`quantile`] for unchecked data). Returns `None` when `sorted` is empty or `q` is outside
/// `[0, 1]` (including NaN).
pub fn quantile_sorted(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() || !(0.0..=1.0).contains(&q) {
        return None;
    }
    debug_assert!(
        sorted.windows(2).all(|w| w[0] <= w[1]),
        "quantile_sorted needs ascending, NaN-free data"
    );
    let h = (sorted.len() - 1) as f64 * q;
    let lo = h.floor() as usize;
    let frac = h - lo as f64;
    let x_lo = sorted[lo];
    match sorted.get(lo + 1) {
        Some(&x_hi) if frac > 0.0 => Some(interpolate(x_lo, x_hi, frac)),
        _ => Some(x_lo),
    }
}

/// The `q`-quantile (type 7, see [`quantile_sorted`]) of unsorted `data`, in the unit of the data.
///
/// Copies and sorts the data: O(n log n). Errors on an empty sample, on NaN or ±inf anywhere in
/// `data` (rejected, not skipped), and on `q` outside `[0, 1]`.
pub fn quantile(data: &[f64], q: f64) -> Result<f64, StatsError> {
    check_unit_closed("q", q)?;
    let sorted = sorted_finite("data", data)?;
    quantile_sorted(&sorted, q).ok_or(StatsError::Empty { which: "data" })
}

/// An ascending copy of `data` after checking it is non-empty and finite; `which` names it in errors.
pub fn sorted_finite(which: &'static str, data: &[f64]) -> Result<Vec<f64>, StatsError> {
    check_sample(which, data)?;
    let mut sorted = data.to_vec();
    sorted.sort_unstable_by(f64::total_cmp);
    Ok(sorted)
}

/// The type-7 `q`-quantile of `buf` computed in place by selection, in the unit of the data.
///
/// Same definition as [`quantile_sorted`], but O(n) on average via `select_nth_unstable`
/// (Hoare's FIND / introselect), for hot loops such as the bootstrap. `buf` is reordered.
/// Assumptions: `buf` holds no NaN and `q ∈ [0, 1]`; returns NaN if `buf` is empty or `q` is
/// out of range, so a misuse surfaces as a non-finite statistic rather than a panic.
pub fn select_quantile(buf: &mut [f64], q: f64) -> f64 {
    if buf.is_empty() || !(0.0..=1.0).contains(&q) {
        return f64::NAN;
    }
    let h = (buf.len() - 1) as f64 * q;
    let lo = h.floor() as usize;
    let frac = h - lo as f64;
    let (_, &mut x_lo, right) = buf.select_nth_unstable_by(lo, f64::total_cmp);
    if frac > 0.0 {
        // The next order statistic is the smallest value right of the pivot.
        let x_hi = right.iter().copied().fold(f64::INFINITY, f64::min);
        interpolate(x_lo, x_hi, frac)
    } else {
        x_lo
    }
}

/// Linear interpolation between neighbouring order statistics, clamped to `[x_lo, x_hi]`.
fn interpolate(x_lo: f64, x_hi: f64, frac: f64) -> f64 {
    (x_lo + frac * (x_hi - x_lo)).clamp(x_lo, x_hi)
}

/// Check `0 ≤ value ≤ 1` for a named probability parameter.
pub(crate) fn check_unit_closed(name: &'static str, value: f64) -> Result<(), StatsError> {
    if (0.0..=1.0).contains(&value) {
        Ok(())
    } else {
        Err(StatsError::OutOfRange {
            name,
            value,
            range: "[0, 1]",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Brute-force type 7 exactly as Hyndman & Fan write it (1-based, `m = 1 − p`):
    /// `j = ⌊np + m⌋`, `g = np + m − j`, `Q = (1 − g)·x_j + g·x_{j+1}`, indices clamped to `[1, n]`.
    fn hyndman_fan_7(data: &[f64], p: f64) -> f64 {
        let mut x = data.to_vec();
        x.sort_by(f64::total_cmp);
        let n = x.len() as f64;
        let np_m = n * p + (1.0 - p);
        let j = np_m.floor();
        let g = np_m - j;
        let at = |i: f64| x[(i.clamp(1.0, n) as usize) - 1];
        (1.0 - g) * at(j) + g * at(j + 1.0)
    }

    fn sample() -> impl Strategy<Value = Vec<f64>> {
        prop::collection::vec(-1.0e6..1.0e6f64, 1..200)
    }

    #[test]
    fn known_values_match_numpy_linear() {
        // np.quantile([1, 2, 3, 4], [0, .25, .5, .9, 1]) == [1, 1.75, 2.5, 3.7, 4]
        let x = [4.0, 1.0, 3.0, 2.0];
        let got: Vec<f64> = [0.0, 0.25, 0.5, 0.9, 1.0]
            .iter()
            .map(|&q| quantile(&x, q).unwrap())
            .collect();
        let want = [1.0, 1.75, 2.5, 3.7, 4.0];
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-12, "{got:?} vs {want:?}");
        }
    }

    #[test]
    fn rejects_bad_inputs() {
        assert_eq!(quantile_sorted(&[], 0.5), None);
        assert_eq!(quantile_sorted(&[1.0], 1.5), None);
        assert_eq!(quantile_sorted(&[1.0], f64::NAN), None);
        assert!(matches!(
            quantile(&[1.0, f64::NAN], 0.5),
            Err(StatsError::NonFinite { index: 1, .. })
        ));
        assert!(matches!(quantile(&[], 0.5), Err(StatsError::Empty { .. })));
        assert!(matches!(
            quantile(&[1.0], -0.1),
            Err(StatsError::OutOfRange { .. })
        ));
        assert!(select_quantile(&mut [], 0.5).is_nan());
    }

    proptest! {
        #[test]
        fn monotone_in_q(data in sample(), a in 0.0..=1.0f64, b in 0.0..=1.0f64) {
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            let sorted = sorted_finite("data", &data).unwrap();
            prop_assert!(quantile_sorted(&sorted, lo).unwrap() <= quantile_sorted(&sorted, hi).unwrap());
        }

        #[test]
        fn within_min_max(data in sample(), q in 0.0..=1.0f64) {
            let sorted = sorted_finite("data", &data).unwrap();
            let v = quantile_sorted(&sorted, q).unwrap();
            prop_assert!(sorted[0] <= v && v <= sorted[sorted.len() - 1]);
        }

        #[test]
        fn matches_brute_force_type7(data in sample(), q in 0.0..=1.0f64) {
            let got = quantile(&data, q).unwrap();
            let want = hyndman_fan_7(&data, q);
            let scale = data.iter().fold(1.0f64, |m, v| m.max(v.abs()));
            prop_assert!((got - want).abs() <= 1e-9 * scale, "got {got}, want {want}");
        }

        #[test]
        fn selection_equals_sorting(data in sample(), q in 0.0..=1.0f64) {
            let mut buf = data.clone();
            prop_assert_eq!(select_quantile(&mut buf, q), quantile(&data, q).unwrap());
        }
    }
}
