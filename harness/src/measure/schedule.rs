//! Open-loop send schedules: when each request is meant to leave, as offsets from the run start.
//!
//! A schedule is a lazy iterator, so a long run does not hold every offset in memory. The same
//! `(arrival, rate, duration, seed)` always yields the same offsets: Poisson draws come from a
//! `ChaCha8Rng` seeded through [`stream_seed`], whose value is stable across builds and platforms.

use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};

pub use crate::spec::Arrival;

/// Errors from building a schedule.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ScheduleError {
    /// The rate is zero, negative or not a number.
    #[error("schedule rate must be a positive, finite number of requests per second, got {rate}; set `experiment.warm.rate` above 0")]
    Rate {
        /// The rejected rate, requests per second.
        rate: f64,
    },
}

/// Derive the seed of one named random stream (for example `"warm/hello"`) from the run seed.
///
/// It is the first 8 bytes (little-endian) of `sha256(run_seed as 8 little-endian bytes ‖ stream)`,
/// so it never changes with the Rust version, unlike `DefaultHasher`.
pub fn stream_seed(run_seed: u64, stream: &str) -> u64 {
    let mut hasher = Sha256::new();
    hasher.update(run_seed.to_le_bytes());
    hasher.update(stream.as_bytes());
    let digest = hasher.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_le_bytes(first)
}

/// An open-loop schedule: iterates the intended send offsets (`Duration` from the run start),
/// non-decreasing and all below [`Schedule::duration`].
#[derive(Debug, Clone)]
pub struct Schedule {
    arrival: Arrival,
    rate_rps: f64,
    duration: Duration,
    seed: u64,
    rng: ChaCha8Rng,
    /// Index of the next uniform send.
    index: u64,
    /// Offset of the next Poisson send, seconds.
    next_s: f64,
}

impl Schedule {
    /// A schedule of `rate_rps` requests per second over `duration`, spaced by `arrival`.
    /// Uniform sends go at `i / rate_rps`; Poisson gaps are exponential with mean `1 / rate_rps`.
    pub fn new(
        arrival: Arrival,
        rate_rps: f64,
        duration: Duration,
        seed: u64,
    ) -> Result<Self, ScheduleError> {
        if !(rate_rps.is_finite() && rate_rps > 0.0) {
            return Err(ScheduleError::Rate { rate: rate_rps });
        }
        let mut schedule = Schedule {
            arrival,
            rate_rps,
            duration,
            seed,
            rng: ChaCha8Rng::seed_from_u64(seed),
            index: 0,
            next_s: 0.0,
        };
        if arrival == Arrival::Poisson {
            schedule.next_s = schedule.exponential_gap_s();
        }
        Ok(schedule)
    }

    /// The inter-arrival distribution.
    pub fn arrival(&self) -> Arrival {
        self.arrival
    }

    /// Target rate, requests per second.
    pub fn rate_rps(&self) -> f64 {
        self.rate_rps
    }

    /// Length of the schedule; every offset is below it.
    pub fn duration(&self) -> Duration {
        self.duration
    }

    /// The seed the Poisson draws start from.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// One exponential gap, seconds, by inversion: `-ln(U) / rate` with `U` in `(0, 1]`.
    fn exponential_gap_s(&mut self) -> f64 {
        let u: f64 = 1.0 - self.rng.gen::<f64>();
        -u.ln() / self.rate_rps
    }
}

impl Iterator for Schedule {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let offset_s = match self.arrival {
            Arrival::Uniform => self.index as f64 / self.rate_rps,
            Arrival::Poisson => self.next_s,
        };
        let offset = Duration::from_secs_f64(offset_s);
        if offset >= self.duration {
            return None;
        }
        match self.arrival {
            Arrival::Uniform => self.index += 1,
            Arrival::Poisson => self.next_s += self.exponential_gap_s(),
        }
        Some(offset)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn arrival() -> impl Strategy<Value = Arrival> {
        prop_oneof![Just(Arrival::Uniform), Just(Arrival::Poisson)]
    }

    proptest! {
        #[test]
        fn same_seed_same_schedule(a in arrival(), rate in 1.0f64..5000.0, ms in 1u64..3000, seed: u64) {
            let d = Duration::from_millis(ms);
            let first: Vec<_> = Schedule::new(a, rate, d, seed).unwrap().collect();
            let second: Vec<_> = Schedule::new(a, rate, d, seed).unwrap().collect();
            prop_assert_eq!(first, second);
        }

        #[test]
        fn offsets_non_decreasing_and_inside(a in arrival(), rate in 1.0f64..5000.0, ms in 1u64..3000, seed: u64) {
            let d = Duration::from_millis(ms);
            let offsets: Vec<_> = Schedule::new(a, rate, d, seed).unwrap().collect();
            prop_assert!(offsets.windows(2).all(|w| w[0] <= w[1]));
            prop_assert!(offsets.iter().all(|o| *o < d));
        }

        #[test]
        fn uniform_count_is_exact(rate in 1u32..5000, secs in 1u64..4) {
            let n = Schedule::new(Arrival::Uniform, f64::from(rate), Duration::from_secs(secs), 0).unwrap().count();
            prop_assert_eq!(n as u64, u64::from(rate) * secs);
        }

        #[test]
        fn uniform_count_within_one(rate in 0.5f64..5000.0, ms in 1u64..3000) {
            let want = rate * ms as f64 / 1000.0;
            let n = Schedule::new(Arrival::Uniform, rate, Duration::from_millis(ms), 0).unwrap().count();
            prop_assert!((n as f64 - want).abs() <= 1.0, "n={} want={}", n, want);
        }
    }

    /// Poisson counts over seeds 0..256 stay within 5 standard deviations (sqrt(λ)) of λ = rate×duration,
    /// and their mean over all seeds within 5 standard errors.
    #[test]
    fn poisson_count_near_rate_times_duration() {
        for (rate, secs) in [(50.0, 2.0), (1000.0, 1.0), (7.5, 10.0)] {
            let lambda: f64 = rate * secs;
            let counts: Vec<f64> = (0..256u64)
                .map(|seed| {
                    Schedule::new(Arrival::Poisson, rate, Duration::from_secs_f64(secs), seed)
                        .unwrap()
                        .count() as f64
                })
                .collect();
            for n in &counts {
                assert!(
                    (n - lambda).abs() <= 5.0 * lambda.sqrt() + 1.0,
                    "n={n} λ={lambda}"
                );
            }
            let mean = counts.iter().sum::<f64>() / counts.len() as f64;
            let se = (lambda / counts.len() as f64).sqrt();
            assert!((mean - lambda).abs() <= 5.0 * se, "mean={mean} λ={lambda}");
        }
    }

    #[test]
    fn rejects_bad_rates() {
        for rate in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(Schedule::new(Arrival::Uniform, rate, Duration::from_secs(1), 0).is_err());
        }
    }

    #[test]
    fn stream_seed_is_sha256_prefix() {
        // Oracle: `printf '\x2a\0\0\0\0\0\0\0warm/hello' | sha256sum` starts 16e9c2db1dc26a26.
        let want = u64::from_le_bytes([0x16, 0xe9, 0xc2, 0xdb, 0x1d, 0xc2, 0x6a, 0x26]);
        assert_eq!(stream_seed(42, "warm/hello"), want);
        assert_ne!(stream_seed(42, "warm/hello"), stream_seed(42, "warm/other"));
        assert_ne!(stream_seed(42, "warm/hello"), stream_seed(43, "warm/hello"));
    }
}
