//! Throughput of schedule generation and of folding samples into the HDR recorder.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use faasbed::measure::record::{Phase, Recorder, Sample, DEFAULT_LATE_THRESHOLD_NS};
use faasbed::measure::schedule::{Arrival, Schedule};

/// Offsets per iteration: 10,000 rps for 1 s.
const N: u64 = 10_000;

fn schedule(c: &mut Criterion) {
    let mut group = c.benchmark_group("schedule");
    group.throughput(Throughput::Elements(N));
    for arrival in [Arrival::Uniform, Arrival::Poisson] {
        group.bench_function(format!("{arrival:?}"), |b| {
            b.iter(|| {
                let s = Schedule::new(arrival, N as f64, Duration::from_secs(1), 1);
                s.map(|s| s.fold(Duration::ZERO, |acc, o| acc.max(black_box(o))))
            })
        });
    }
    group.finish();
}

fn record(c: &mut Criterion) {
    let samples: Vec<Sample> = (0..N)
        .map(|i| Sample {
            phase: Phase::Measure,
            function: "hello".into(),
            node: Some(format!("node-{}", i % 4)),
            instance: Some("inst".into()),
            routed_node: None,
            hops: None,
            intended_ns: i * 100_000,
            sent_ns: i * 100_000 + i % 5_000,
            first_byte_ns: Some(i * 100_000 + 40_000),
            end_ns: i * 100_000 + 50_000 + (i * 7919) % 1_000_000,
            status: Some(200),
            bytes: 2,
            error: None,
            started_unix_ns: None,
        })
        .collect();
    let mut group = c.benchmark_group("recorder");
    group.throughput(Throughput::Elements(N));
    group.bench_function("observe", |b| {
        b.iter(|| {
            let mut r = Recorder::new("hello", "hint", DEFAULT_LATE_THRESHOLD_NS);
            for s in &samples {
                if r.observe(black_box(s)).is_err() {
                    break;
                }
            }
            r
        })
    });
    group.finish();
}

criterion_group!(benches, schedule, record);
criterion_main!(benches);
