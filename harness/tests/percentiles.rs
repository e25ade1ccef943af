//! One percentile definition: summary.json, the console table, report.md, summary.csv and
//! `faasbed compare` print the same p50/p90/p99/p99.9 for one run's store, and those are the
//! type-7 quantiles of its raw samples computed here independently.
#![allow(clippy::unwrap_used)]

#[path = "support/runs.rs"]
mod runs;

use std::collections::BTreeMap;
use std::process::Command;

use faasbed::measure::record::Phase;
use faasbed::report::markdown::num;
use faasbed::store::samples::Record;
use faasbed::store::{files, RunStore};

/// Hyndman & Fan type 7 as they write it (1-based, m = 1 − p), apart from the library's code.
fn type7(data: &[f64], p: f64) -> f64 {
    let mut x = data.to_vec();
    x.sort_by(f64::total_cmp);
    let n = x.len() as f64;
    let j = (n * p + 1.0 - p).floor();
    let g = n * p + 1.0 - p - j;
    let at = |i: f64| x[(i.clamp(1.0, n) as usize) - 1];
    (1.0 - g) * at(j) + g * at(j + 1.0)
}

const QS: [(&str, f64); 4] = [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p999", 0.999)];

#[test]
fn every_output_prints_the_same_percentiles() {
    let tmp = tempfile::tempdir().unwrap();
    let run = runs::copy_run(tmp.path(), "one-run");
    // The run's store as `bench` leaves it: summary.json rebuilt from the samples, then reports.
    let store = RunStore::open(&run);
    let summary = faasbed::summary::from_store(&store).unwrap();
    store.write_json(files::SUMMARY, &summary).unwrap();
    let exe = env!("CARGO_BIN_EXE_faasbed");
    let out = Command::new(exe).arg("report").arg(&run).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cmp = Command::new(exe)
        .args(["compare", "--json"])
        .arg(&run)
        .arg(&run)
        .output()
        .unwrap();
    assert!(
        cmp.status.success(),
        "{}",
        String::from_utf8_lossy(&cmp.stderr)
    );

    // Independent reference: successful measured requests, corrected latency, ms.
    let mut samples: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    faasbed::store::samples::read(&run.join(files::SAMPLES), |r| {
        if let Record::Warm(s) = r {
            if s.phase == Phase::Measure && s.error.is_none() {
                let ms = s.corrected_ns() as f64 / 1e6;
                samples.entry(s.function.clone()).or_default().push(ms);
            }
        }
    })
    .unwrap();
    assert_eq!(samples.len(), 6);

    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join(files::SUMMARY)).unwrap()).unwrap();
    let csv = std::fs::read_to_string(run.join("summary.csv")).unwrap();
    let md = std::fs::read_to_string(run.join("report.md")).unwrap();
    let table = summary.table();
    let compare: serde_json::Value = serde_json::from_slice(&cmp.stdout).unwrap();
    assert!(
        md.contains("Hyndman & Fan type 7"),
        "report.md names the definition"
    );
    assert!(
        table.contains("Hyndman & Fan type 7"),
        "the console names it"
    );
    let html = std::fs::read_to_string(run.join("report.html")).unwrap();
    assert!(
        html.contains("Hyndman &amp; Fan type 7"),
        "report.html names it"
    );

    for entry in json["results"].as_array().unwrap() {
        let function = entry["function"].as_str().unwrap();
        let class = entry["class"].as_str().unwrap();
        let workload = if function.starts_with("cpu") {
            "cpu /?kib=64"
        } else {
            "echo"
        };
        let label = if class == "vps" {
            class.to_string()
        } else {
            format!("{class} (emulated)")
        };
        let want: Vec<String> = QS
            .iter()
            .map(|(_, q)| num(type7(&samples[function], *q)))
            .collect();
        // summary.json (µs)
        let got: Vec<String> = QS
            .iter()
            .map(|(k, _)| num(entry["warm"]["corrected_us"][k].as_f64().unwrap() / 1e3))
            .collect();
        assert_eq!(got, want, "summary.json, {function}");
        // the console table: p50 p90 p99 p99.9 follow function, node, class, arch
        let line = table.lines().find(|l| l.starts_with(function)).unwrap();
        let cells: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(&cells[4..8], &want[..], "console table, {function}");
        // summary.csv: warm_p50_ms .. warm_p999_ms are columns 6..9
        let row = csv
            .lines()
            .find(|l| l.starts_with(&format!("{workload},{class},")))
            .unwrap();
        let cols: Vec<&str> = row.split(',').collect();
        assert_eq!(&cols[5..9], &want[..], "summary.csv, {function}");
        // report.md warm table: | workload | class | requests | errors | p50 | p90 | p99 | p99.9 |
        let prefix = format!("| {workload} | {label} | ");
        // (the warm table, not the headline, which opens the report with rows of the same prefix)
        let warm_table = &md[md.find("## Warm latency").unwrap()..];
        let mdrow = warm_table.lines().find(|l| l.starts_with(&prefix)).unwrap();
        let cells: Vec<&str> = mdrow.split(" | ").collect();
        assert_eq!(&cells[4..8], &want[..], "report.md, {function}");
        // compare: warm_p50 and warm_p99 of the run against itself
        for (metric, i) in [("warm_p50", 0), ("warm_p99", 2)] {
            let r = compare["rows"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| {
                    r["workload"] == workload
                        && r["class"] == label.as_str()
                        && r["metric"] == metric
                })
                .unwrap();
            assert_eq!(
                num(r["value_ms"][0].as_f64().unwrap()),
                want[i],
                "compare {metric}, {function}"
            );
        }
    }
}
