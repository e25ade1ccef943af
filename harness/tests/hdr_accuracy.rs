//! Warm percentiles from the recorder's HdrHistograms agree with exact percentiles of the same
//! generated latencies within the configured precision (3 significant digits: 0.1%).

use faasbed::measure::record::{Phase, Recorder, RunShape, Sample, DEFAULT_LATE_THRESHOLD_NS};
use faasbed::spec::WarmMode;
use proptest::prelude::*;

fn sample(latency_ns: u64, i: u64) -> Sample {
    Sample {
        phase: Phase::Measure,
        function: "f".into(),
        node: Some("n".into()),
        instance: Some("i".into()),
        routed_node: None,
        hops: None,
        intended_ns: i * 1000,
        sent_ns: i * 1000,
        first_byte_ns: Some(i * 1000 + latency_ns / 2),
        end_ns: i * 1000 + latency_ns,
        status: Some(200),
        bytes: 2,
        error: None,
        started_unix_ns: None,
    }
}

/// Exact percentile by nearest rank: the smallest value with at least q·N values ≤ it
/// (the definition HdrHistogram's `value_at_quantile` approximates).
fn nearest_rank(sorted: &[u64], q: f64) -> u64 {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn recorder_percentiles_match_exact_ones(
        // latencies from 20 µs to 20 s, log-uniform-ish: mantissa × 10^exp
        xs in proptest::collection::vec((1u64..1000, 4u32..8), 1..2000)
    ) {
        let lat: Vec<u64> = xs.iter().map(|(m, e)| m * 10u64.pow(*e) / 10).map(|v| v.max(20_000)).collect();
        let mut r = Recorder::new("f", "n", DEFAULT_LATE_THRESHOLD_NS);
        for (i, l) in lat.iter().enumerate() {
            r.observe(&sample(*l, i as u64)).unwrap();
        }
        let res = r.finish(RunShape {
            mode: WarmMode::Open,
            target_rps: Some(1000.0),
            connections: 1,
            t0_unix_ns: 0,
            measure_start_ns: 0,
            measure_end_ns: lat.len() as u64 * 1000,
        }).unwrap();
        let p = res.corrected.unwrap();
        let mut sorted = lat.clone();
        sorted.sort_unstable();
        for (q, got_us) in [(0.5, p.p50_us), (0.9, p.p90_us), (0.99, p.p99_us), (0.999, p.p999_us)] {
            let exact_us = nearest_rank(&sorted, q) as f64 / 1e3;
            let tol = exact_us * 0.001 + 0.001;
            prop_assert!((got_us - exact_us).abs() <= tol, "q={q}: hdr {got_us} µs vs exact {exact_us} µs");
        }
        let max_us = *sorted.last().unwrap() as f64 / 1e3;
        prop_assert!((p.max_us - max_us).abs() <= max_us * 0.001 + 0.001);
    }
}
