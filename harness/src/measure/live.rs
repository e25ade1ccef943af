//! Live figures of a warm run while it goes (for the terminal's live view): requests, errors,
//! achieved rate and corrected p50/p99 so far. The load generator feeds it one batch at a time;
//! the display reads a [`LiveSnapshot`] a few times a second.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use super::record::{Phase, Sample, HISTOGRAM_MAX_NS, HISTOGRAM_SIGFIG};

/// What a warm run has done so far; shared between the load generator and the display.
#[derive(Debug)]
pub struct Live {
    function: String,
    planned: Duration,
    warmup: Duration,
    target_rps: Option<f64>,
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    started: Instant,
    requests: u64,
    errors: u64,
    measured: u64,
    /// Corrected latency of measured successes, ns (`None` if it could not be made).
    hist: Option<Histogram<u64>>,
}

/// The figures of a warm run at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveSnapshot {
    /// Function being measured.
    pub function: String,
    /// Time since the run started.
    pub elapsed: Duration,
    /// Planned length, warm-up included.
    pub planned: Duration,
    /// Whether the run is still in its warm-up.
    pub in_warmup: bool,
    /// Requests finished (warm-up included).
    pub requests: u64,
    /// Failed requests (warm-up included).
    pub errors: u64,
    /// Finished requests per second of elapsed time.
    pub rate_rps: f64,
    /// Target rate (open loop), requests per second.
    pub target_rps: Option<f64>,
    /// Corrected median of measured successes so far, ms.
    pub p50_ms: Option<f64>,
    /// Corrected 99th percentile of measured successes so far, ms.
    pub p99_ms: Option<f64>,
}

impl Live {
    /// A run of `function` starting now, planned to last `planned` (warm-up included).
    pub fn new(
        function: &str,
        planned: Duration,
        warmup: Duration,
        target_rps: Option<f64>,
    ) -> Live {
        Live {
            function: function.to_string(),
            planned,
            warmup,
            target_rps,
            inner: Mutex::new(Inner {
                started: Instant::now(),
                requests: 0,
                errors: 0,
                measured: 0,
                hist: Histogram::new_with_bounds(1, HISTOGRAM_MAX_NS, HISTOGRAM_SIGFIG).ok(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Restart the clock (the run starts now).
    pub fn start(&self) {
        self.lock().started = Instant::now();
    }

    /// Count a batch of finished requests.
    pub fn observe(&self, batch: &[Sample]) {
        let mut g = self.lock();
        for s in batch {
            g.requests += 1;
            if s.error.is_some() {
                g.errors += 1;
            } else if s.phase == Phase::Measure {
                g.measured += 1;
                if let Some(h) = g.hist.as_mut() {
                    h.saturating_record(s.corrected_ns().max(1));
                }
            }
        }
    }

    /// The figures now.
    pub fn snapshot(&self) -> LiveSnapshot {
        let g = self.lock();
        let elapsed = g.started.elapsed();
        let q = |q: f64| {
            g.hist
                .as_ref()
                .filter(|h| !h.is_empty())
                .map(|h| h.value_at_quantile(q) as f64 / 1e6)
        };
        LiveSnapshot {
            function: self.function.clone(),
            elapsed,
            planned: self.planned,
            in_warmup: elapsed < self.warmup,
            requests: g.requests,
            errors: g.errors,
            rate_rps: if elapsed.is_zero() {
                0.0
            } else {
                g.requests as f64 / elapsed.as_secs_f64()
            },
            target_rps: self.target_rps,
            p50_ms: q(0.5),
            p99_ms: q(0.99),
        }
    }
}

/// One line of the live view: `echo-pi3  1.2/2.5 s  49.8/50 rps  p50 1.23 ms  p99 4.56 ms  0 errors`.
pub fn live_line(s: &LiveSnapshot) -> String {
    let ms = |v: Option<f64>| v.map_or_else(|| "–".to_string(), |v| format!("{v:.2} ms"));
    let rate = match s.target_rps {
        Some(t) => format!("{:.1}/{t:.0} rps", s.rate_rps),
        None => format!("{:.1} rps", s.rate_rps),
    };
    format!(
        "{}{}  {:.1}/{:.1} s  {rate}  p50 {}  p99 {}  {} error{}",
        s.function,
        if s.in_warmup { " (warm-up)" } else { "" },
        s.elapsed.as_secs_f64(),
        s.planned.as_secs_f64(),
        ms(s.p50_ms),
        ms(s.p99_ms),
        s.errors,
        if s.errors == 1 { "" } else { "s" }
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;
    use crate::measure::record::ErrorKind;

    fn sample(phase: Phase, took_ns: u64, error: Option<ErrorKind>) -> Sample {
        Sample {
            phase,
            function: "f".into(),
            node: None,
            instance: None,
            routed_node: None,
            hops: None,
            intended_ns: 0,
            sent_ns: 0,
            first_byte_ns: None,
            end_ns: took_ns,
            status: None,
            bytes: 0,
            error,
            started_unix_ns: None,
        }
    }

    #[test]
    fn the_live_line_shows_rate_percentiles_errors_and_time() {
        let s = LiveSnapshot {
            function: "echo-pi3".into(),
            elapsed: Duration::from_millis(1_250),
            planned: Duration::from_millis(2_500),
            in_warmup: false,
            requests: 62,
            errors: 1,
            rate_rps: 49.84,
            target_rps: Some(50.0),
            p50_ms: Some(1.234),
            p99_ms: Some(4.5),
        };
        assert_eq!(
            live_line(&s),
            "echo-pi3  1.2/2.5 s  49.8/50 rps  p50 1.23 ms  p99 4.50 ms  1 error"
        );
        let early = LiveSnapshot {
            in_warmup: true,
            target_rps: None,
            p50_ms: None,
            p99_ms: None,
            errors: 0,
            ..s
        };
        assert_eq!(
            live_line(&early),
            "echo-pi3 (warm-up)  1.2/2.5 s  49.8 rps  p50 –  p99 –  0 errors"
        );
    }

    #[test]
    fn only_measured_successes_enter_the_percentiles() {
        let live = Live::new("f", Duration::from_secs(2), Duration::ZERO, None);
        live.observe(&[
            sample(Phase::Warmup, 9_000_000, None),
            sample(Phase::Measure, 2_000_000, None),
            sample(Phase::Measure, 5_000_000, Some(ErrorKind::Timeout)),
        ]);
        let s = live.snapshot();
        assert_eq!((s.requests, s.errors), (3, 1));
        let p50 = s.p50_ms.unwrap();
        assert!((p50 - 2.0).abs() < 0.01, "{p50}");
    }
}
