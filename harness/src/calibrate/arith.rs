//! Calibration arithmetic, pure: from measured and published figures, the speed of each
//! emulated class relative to its device, the CPU quota that brings it to the device's speed,
//! the shortfall where emulation is slower, the pi3 : pi4 ratio check and the held-out error.
//!
//! Every figure here is "higher is better" (MIPS, bytes/s, events/s).
//!
//! The rule: each calibrated class `c` has a speed factor `f_c` = geometric mean over the
//! calibration programs of measured / published, measured unthrottled on one host core.
//! The common scale is `t = min(1, min_c f_c)`. Each class gets a CPU quota of `t / f_c` host
//! cores, so every class runs at `t` times its device's speed: `t = 1` (each node matches its
//! device) when emulation is faster than every device; when a class is slower (`f_c < 1`),
//! it is reported with its shortfall `1 - f_c`, and the other classes are slowed to the same
//! fraction of their devices, which keeps the ratios between classes (pi3 : pi4) those of the
//! devices.

use serde::{Deserialize, Serialize};

/// One program's figure on one class: measured vs published (same unit, higher is better).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pair {
    /// Program and metric, e.g. `7z-b total_mips_1t`.
    pub program: String,
    /// The emulated (or native) figure.
    pub measured: f64,
    /// The device's published figure.
    pub published: f64,
}

impl Pair {
    /// measured / published.
    pub fn ratio(&self) -> f64 {
        self.measured / self.published
    }
}

/// Geometric mean of positive numbers; `None` when empty or any is not positive and finite.
pub fn geomean(xs: &[f64]) -> Option<f64> {
    if xs.is_empty() || xs.iter().any(|x| !(x.is_finite() && *x > 0.0)) {
        return None;
    }
    Some((xs.iter().map(|x| x.ln()).sum::<f64>() / xs.len() as f64).exp())
}

/// Median of the finite values (the calibration's summary of repetitions); `None` when empty.
pub fn median(xs: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = xs.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// Spread of repetitions: (max - min) / median, a fraction; `None` when empty.
pub fn spread(xs: &[f64]) -> Option<f64> {
    let m = median(xs)?;
    let lo = xs.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    Some((hi - lo) / m)
}

/// The speed factor of a class: geometric mean of measured / published over `pairs`.
pub fn speed_factor(pairs: &[Pair]) -> Option<f64> {
    geomean(&pairs.iter().map(Pair::ratio).collect::<Vec<_>>())
}

/// The common scale `t = min(1, min f_c)` over the classes' speed factors; 1 when empty.
pub fn common_scale(factors: &[f64]) -> f64 {
    factors.iter().copied().fold(1.0, f64::min)
}

/// What calibration decides for one class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quota {
    /// Speed factor `f`: unthrottled emulation / device (>1: emulation is faster).
    pub speed_factor: f64,
    /// CPU quota in host cores for one thread: `t / f`, at most 1.
    pub cpus: f64,
    /// Where emulation is slower than the device: `1 - f`, percent; `None` when faster.
    pub shortfall_pct: Option<f64>,
    /// Cores the node gets: the device's, at most the host's.
    pub cores: u32,
}

/// The quota of a class with speed factor `f` under common scale `t`, for a device of
/// `device_cores` on a host of `host_cores`.
pub fn quota(f: f64, t: f64, device_cores: u32, host_cores: u32) -> Quota {
    Quota {
        speed_factor: f,
        cpus: (t / f).min(1.0),
        shortfall_pct: (f < 1.0).then_some((1.0 - f) * 100.0),
        cores: device_cores.min(host_cores).max(1),
    }
}

/// The figure a calibrated node is expected to show: `t × published`.
pub fn target(published: f64, t: f64) -> f64 {
    published * t
}

/// Relative error of `measured` against `expected`: `measured / expected - 1` (0.1 = 10 % fast).
pub fn rel_error(measured: f64, expected: f64) -> f64 {
    measured / expected - 1.0
}

/// The emulated a : b ratio against the published one for one program.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RatioCheck {
    /// Program and metric.
    pub program: String,
    /// measured(a) / measured(b).
    pub emulated: f64,
    /// published(a) / published(b).
    pub published: f64,
    /// emulated / published - 1.
    pub error: f64,
}

/// Compare the a : b ratio of two classes' figures of one program.
pub fn ratio_check(a: &Pair, b: &Pair) -> RatioCheck {
    let emulated = a.measured / b.measured;
    let published = a.published / b.published;
    RatioCheck {
        program: a.program.clone(),
        emulated,
        published,
        error: rel_error(emulated, published),
    }
}

/// Whether a ratio error lies within `tolerance` (0.15 = ±15 %).
pub fn within(error: f64, tolerance: f64) -> bool {
    error.abs() <= tolerance
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pair(m: f64, p: f64) -> Pair {
        Pair {
            program: "x".into(),
            measured: m,
            published: p,
        }
    }

    #[test]
    fn faster_emulation_gets_a_quota_that_matches_the_device() {
        // Emulation twice as fast as the device on every program: half a core.
        let f = speed_factor(&[pair(2000.0, 1000.0), pair(100.0, 50.0)]).unwrap();
        assert!((f - 2.0).abs() < 1e-12);
        let t = common_scale(&[f, 4.0]);
        assert_eq!(t, 1.0);
        let q = quota(f, t, 4, 2);
        assert!((q.cpus - 0.5).abs() < 1e-12);
        assert_eq!(q.shortfall_pct, None);
        assert_eq!(q.cores, 2, "the host has 2 cores, the device 4");
        assert!(rel_error(q.cpus * 2000.0, target(1000.0, t)).abs() < 1e-12);
    }

    #[test]
    fn slower_emulation_reports_its_shortfall_and_slows_the_others_alike() {
        // pi3 at 0.74 of its device, pi4 at 1.5 of its own.
        let (f3, f4) = (0.74, 1.5);
        let t = common_scale(&[f3, f4]);
        assert_eq!(t, 0.74);
        let q3 = quota(f3, t, 4, 2);
        let q4 = quota(f4, t, 4, 2);
        assert_eq!(q3.cpus, 1.0);
        assert!((q3.shortfall_pct.unwrap() - 26.0).abs() < 1e-9);
        assert!((q4.cpus - 0.74 / 1.5).abs() < 1e-12);
        assert_eq!(q4.shortfall_pct, None);
        // After throttling (linear model) the pi3:pi4 ratio is the published one.
        let (pub3, pub4) = (1046.0, 1769.0);
        let after3 = pub3 * f3 * q3.cpus;
        let after4 = pub4 * f4 * q4.cpus;
        let r = ratio_check(&pair(after3, pub3), &pair(after4, pub4));
        assert!(r.error.abs() < 1e-12, "{r:?}");
        assert!(within(r.error, 0.15));
    }

    #[test]
    fn ratio_check_and_errors() {
        let r = ratio_check(&pair(600.0, 1046.0), &pair(1000.0, 1606.0));
        assert!((r.published - 0.6513).abs() < 1e-3);
        assert!((r.emulated - 0.6).abs() < 1e-12);
        assert!((r.error - (0.6 / (1046.0 / 1606.0) - 1.0)).abs() < 1e-12);
        assert!(!within(0.2, 0.15) && within(-0.15, 0.15));
        assert!((rel_error(115.0, 100.0) - 0.15).abs() < 1e-12);
    }

    #[test]
    fn degenerate_inputs() {
        assert_eq!(geomean(&[]), None);
        assert_eq!(geomean(&[1.0, 0.0]), None);
        assert_eq!(geomean(&[f64::NAN]), None);
        assert_eq!(speed_factor(&[]), None);
        assert_eq!(common_scale(&[]), 1.0);
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert!((spread(&[90.0, 100.0, 110.0]).unwrap() - 0.2).abs() < 1e-12);
    }

    proptest! {
        #[test]
        fn every_class_lands_on_the_common_scale(fs in proptest::collection::vec(0.05f64..20.0, 1..6)) {
            let t = common_scale(&fs);
            prop_assert!(t <= 1.0 && t > 0.0);
            for f in &fs {
                let q = quota(*f, t, 4, 2);
                prop_assert!(q.cpus > 0.0 && q.cpus <= 1.0 + 1e-12);
                // Throttled speed relative to the device is t for every class.
                prop_assert!((f * q.cpus - t).abs() < 1e-9);
                prop_assert_eq!(q.shortfall_pct.is_some(), *f < 1.0);
            }
        }

        #[test]
        fn geomean_lies_between_min_and_max(xs in proptest::collection::vec(0.001f64..1000.0, 1..10)) {
            let g = geomean(&xs).unwrap();
            let lo = xs.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            prop_assert!(g >= lo * (1.0 - 1e-9) && g <= hi * (1.0 + 1e-9));
        }
    }
}
