//! Copies of the stored fixture run `quick-local`, and honest edits of them, shared by the
//! report and compare tests.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use faasbed::measure::record::{Phase, HISTOGRAM_MAX_NS, HISTOGRAM_SIGFIG};
use faasbed::store::samples::{Record, RecordRef};
use faasbed::store::{files, hlog, RunStore};
use hdrhistogram::Histogram;

pub const FIXTURE: &str = "tests/fixtures/runs/quick-local";

pub fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(FIXTURE)
}

/// Copy the fixture run into `<tmp>/<name>` (never touching the fixture).
pub fn copy_run(tmp: &Path, name: &str) -> PathBuf {
    let dst = tmp.join(name);
    std::fs::create_dir_all(dst.join(files::HDR)).unwrap();
    for f in [files::RUN, files::SAMPLES, files::SUMMARY] {
        std::fs::copy(fixture().join(f), dst.join(f)).unwrap();
    }
    for e in std::fs::read_dir(fixture().join(files::HDR)).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dst.join(files::HDR).join(e.file_name())).unwrap();
    }
    dst
}

fn scale(v: u64, by: f64) -> u64 {
    (v as f64 * by).round() as u64
}

/// Multiply every warm and cold latency of `function` by `by`, and rewrite its HDR logs.
pub fn slow_down(run: &Path, function: &str, by: f64) {
    let path = run.join(files::SAMPLES);
    let mut records = Vec::new();
    faasbed::store::samples::read(&path, |r| records.push(r)).unwrap();
    let hist = || Histogram::<u64>::new_with_bounds(1, HISTOGRAM_MAX_NS, HISTOGRAM_SIGFIG).unwrap();
    let (mut corr, mut unc) = (hist(), hist());
    let mut node = None;
    let mut out = String::new();
    for r in &mut records {
        match r {
            Record::Warm(s) if s.function == function => {
                let t0 = s.intended_ns;
                s.sent_ns = t0 + scale(s.sent_ns - t0, by);
                s.first_byte_ns = s.first_byte_ns.map(|f| t0 + scale(f - t0, by));
                s.end_ns = t0 + scale(s.end_ns - t0, by);
                if s.phase == Phase::Measure && s.error.is_none() {
                    corr.record(s.corrected_ns().max(1)).unwrap();
                    unc.record(s.uncorrected_ns().max(1)).unwrap();
                    node = s.node.clone();
                }
            }
            Record::Cold(c) if c.function == function => {
                let t0 = c.invoked_unix_ns;
                let at = |v: Option<u64>| v.map(|v| t0 + scale(v - t0, by));
                c.first_byte_ns = scale(c.first_byte_ns, by);
                c.total_ns = scale(c.total_ns, by);
                c.spawned_unix_ns = at(c.spawned_unix_ns);
                c.started_unix_ns = at(c.started_unix_ns);
                c.healthy_unix_ns = at(c.healthy_unix_ns);
            }
            _ => {}
        }
        let line = match r {
            Record::Warm(s) => serde_json::to_string(&RecordRef::Warm(s)),
            Record::Cold(c) => serde_json::to_string(&RecordRef::Cold(c)),
        };
        out.push_str(&line.unwrap());
        out.push('\n');
    }
    std::fs::write(&path, out).unwrap();
    let node = node.expect("the function has measured warm samples");
    let interval = |tag, h| hlog::Interval {
        tag,
        start: Duration::ZERO,
        duration: Duration::from_secs(2),
        histogram: h,
    };
    hlog::write(
        &RunStore::open(run).hlog_path(function, &node),
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_773_670),
        "slowed down by the report tests",
        &[interval("corrected", &corr), interval("uncorrected", &unc)],
    )
    .unwrap();
}
