//! Reports and the regression gate on copies of the stored fixture run `quick-local`.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

#[path = "support/runs.rs"]
mod runs;

use faasbed::measure::record::{Phase, HISTOGRAM_MAX_NS, HISTOGRAM_SIGFIG};
use faasbed::report::{self, compare, csv, markdown, plot, Plotter, PlottersPlotter};
use faasbed::store::samples::{Record, RecordRef};
use faasbed::store::{files, hlog, RunStore};
use hdrhistogram::Histogram;
use runs::{copy_run, fixture, slow_down};

fn faasbed(args: &[&Path], flags: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_faasbed"))
        .args(flags)
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn markdown_snapshot() {
    let d = report::load(&fixture()).unwrap();
    insta::assert_snapshot!("markdown", String::from_utf8(markdown::render(&d)).unwrap());
}

#[test]
fn csv_snapshot() {
    let d = report::load(&fixture()).unwrap();
    insta::assert_snapshot!("csv", String::from_utf8(csv::render(&d)).unwrap());
}

#[test]
fn compare_snapshots_of_a_run_against_itself() {
    let mut r = compare::compare_dirs(&fixture(), &fixture(), 0.05, false).unwrap();
    assert!(r.decide_gate(false).passed);
    insta::assert_snapshot!(
        "compare_json",
        String::from_utf8(compare::json(&r)).unwrap()
    );
    insta::assert_snapshot!(
        "compare_markdown",
        String::from_utf8(compare::markdown(&r)).unwrap()
    );
}

#[test]
fn every_plot_is_an_svg_with_its_title_and_series() {
    let d = report::load(&fixture()).unwrap();
    let mut p = PlottersPlotter::svg_only();
    let charts = plot::all(&mut p, &d).unwrap();
    let names: Vec<&str> = charts.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "spectrum-cpu-kib-64",
            "cdf-cpu-kib-64",
            "spectrum-echo",
            "cdf-echo",
            "cold-starts",
            "cold-phases",
            "timeline-cpu-pi3",
            "timeline-cpu-pi4",
            "timeline-cpu-vps",
            "timeline-echo-pi3",
            "timeline-echo-pi4",
            "timeline-echo-vps",
        ]
    );
    for c in &charts {
        assert!(c.svg.contains("<svg") && c.svg.len() > 2000, "{}", c.name);
        assert!(c.svg.contains(&c.title), "{} lacks its title", c.name);
        assert!(c.png.is_none());
    }
    let svg = |n: &str| &charts.iter().find(|c| c.name == n).unwrap().svg;
    for s in [
        "pi3 (emulated) corrected",
        "pi4 (emulated) uncorrected",
        "vps corrected",
        "99%", // 100 samples per class: the tail stops at 1 - 1/100
        "50%",
    ] {
        assert!(svg("spectrum-echo").contains(s), "spectrum lacks {s}");
    }
    assert!(svg("cdf-echo").contains("pi4 (emulated)"));
    assert!(svg("cold-starts").contains("echo · pi3*"));
    for phase in faasbed::measure::cold::PHASES {
        assert!(svg("cold-phases").contains(phase), "phases lack {phase}");
    }
    assert!(svg("timeline-echo-pi3")
        .contains("echo-pi3: corrected latency over time on pi3 (emulated)"));
}

/// A plotter that records which charts were asked for (the trait can be mocked).
#[derive(Default)]
struct Recorder(Vec<String>);

impl Plotter for Recorder {
    fn spectrum(
        &mut self,
        _: &report::ReportData,
        w: &str,
    ) -> Result<Option<report::Chart>, report::ReportError> {
        self.0.push(format!("spectrum {w}"));
        Ok(None)
    }
    fn warm_cdf(
        &mut self,
        _: &report::ReportData,
        w: &str,
    ) -> Result<Option<report::Chart>, report::ReportError> {
        self.0.push(format!("cdf {w}"));
        Ok(None)
    }
    fn cold_starts(
        &mut self,
        _: &report::ReportData,
    ) -> Result<Option<report::Chart>, report::ReportError> {
        self.0.push("cold".into());
        Ok(None)
    }
    fn cold_phases(
        &mut self,
        _: &report::ReportData,
    ) -> Result<Option<report::Chart>, report::ReportError> {
        self.0.push("phases".into());
        Ok(None)
    }
    fn gateway_phases(
        &mut self,
        _: &report::ReportData,
    ) -> Result<Option<report::Chart>, report::ReportError> {
        self.0.push("gateway phases".into());
        Ok(None)
    }
    fn timeline(
        &mut self,
        _: &report::ReportData,
        f: &str,
    ) -> Result<Option<report::Chart>, report::ReportError> {
        self.0.push(format!("timeline {f}"));
        Ok(None)
    }
}

#[test]
fn plot_all_asks_for_each_chart_once() {
    let d = report::load(&fixture()).unwrap();
    let mut r = Recorder::default();
    assert!(plot::all(&mut r, &d).unwrap().is_empty());
    assert_eq!(r.0.len(), 2 * 2 + 3 + 6, "{:?}", r.0);
    assert!(r.0.contains(&"timeline echo-pi4".to_string()));
}

#[test]
fn report_command_writes_every_file() {
    let tmp = tempfile::tempdir().unwrap();
    let run = copy_run(tmp.path(), "quick-local-copy");
    let out = faasbed(&[&run], &["report"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for f in [
        "report.md",
        "report.html",
        "summary.csv",
        "plots/spectrum-echo.svg",
        "plots/cold-phases.svg",
    ] {
        assert!(run.join(f).metadata().unwrap().len() > 100, "{f}");
    }
    let png = std::fs::read(run.join("plots/timeline-echo-vps.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let html = std::fs::read_to_string(run.join("report.html")).unwrap();
    assert_eq!(html.matches("<svg").count(), 12);
    assert!(
        !html.contains("<?xml") && !html.contains("src=\""),
        "html must be self-contained"
    );
    // The report is a function of the store: rebuilding gives the same text.
    let md = std::fs::read(run.join("report.md")).unwrap();
    report::write_all(&run).unwrap();
    assert_eq!(md, std::fs::read(run.join("report.md")).unwrap());
}

#[test]
fn gate_fails_and_names_the_function_that_got_30_percent_slower() {
    let tmp = tempfile::tempdir().unwrap();
    let base = copy_run(tmp.path(), "base");
    let new = copy_run(tmp.path(), "new");
    slow_down(&new, "echo-pi4", 1.30);

    let r = compare::compare_dirs(&base, &new, 0.05, false).unwrap();
    let regressed: Vec<(&str, &str)> = r
        .regressions()
        .iter()
        .map(|r| (r.functions[0].as_str(), r.metric))
        .collect();
    assert!(
        regressed.contains(&("echo-pi4", "warm_p50")),
        "{regressed:?}"
    );
    assert!(
        regressed.iter().all(|(f, _)| *f == "echo-pi4"),
        "{regressed:?}"
    );
    let p50 = r
        .rows
        .iter()
        .find(|r| r.functions == ["echo-pi4"] && r.metric == "warm_p50")
        .unwrap();
    assert!(
        p50.comparison.ci.0 < 1.3 && 1.3 < p50.comparison.ci.1 + 0.01,
        "{p50:?}"
    );

    let out = faasbed(&[&base, &new], &["compare", "--gate"]);
    assert_eq!(out.status.code(), Some(i32::from(compare::exit::REGRESSED)));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("echo-pi4") && err.contains("regression"),
        "{err}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("**regressed**"));

    // The rewritten HDR log feeds the report: echo's pi4 spectrum moved up.
    let d = report::load(&new).unwrap();
    let g = d.group("echo", "pi4").unwrap();
    let (c, _) = g.hdr.as_ref().unwrap();
    let before = report::load(&base).unwrap();
    let (c0, _) = before.group("echo", "pi4").unwrap().hdr.as_ref().unwrap();
    assert!(c.value_at_quantile(0.5) as f64 > 1.2 * c0.value_at_quantile(0.5) as f64);
}

#[test]
fn gate_passes_on_the_same_run() {
    let tmp = tempfile::tempdir().unwrap();
    let base = copy_run(tmp.path(), "base");
    let new = copy_run(tmp.path(), "new");
    let out = faasbed(&[&base, &new], &["compare", "--gate", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["rows"].as_array().unwrap().len(), 6 * 3);
}

#[test]
fn compare_refuses_a_different_scenario_unless_forced() {
    let tmp = tempfile::tempdir().unwrap();
    let base = copy_run(tmp.path(), "base");
    let new = copy_run(tmp.path(), "new");
    let run_json = new.join(files::RUN);
    let text = std::fs::read_to_string(&run_json).unwrap();
    std::fs::write(&run_json, text.replace("f88675d9b930", "000000000000")).unwrap();
    let err = compare::compare_dirs(&base, &new, 0.05, false).unwrap_err();
    assert!(err.to_string().contains("the scenario of run"), "{err}");
    let r = compare::compare_dirs(&base, &new, 0.05, true).unwrap();
    assert!(r.forced_mismatch.is_some());
    assert!(String::from_utf8(compare::markdown(&r))
        .unwrap()
        .contains("--force"));
}

/// xorshift64*: a tiny seeded generator for synthetic data.
fn next(state: &mut u64) -> f64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
}

/// A synthetic run with `n` warm samples over the fixture's six functions (fixture's run.json,
/// cold samples and node names), HDR logs rebuilt to match.
fn synthetic_run(dir: &Path, n: usize) -> PathBuf {
    let run = copy_run(dir, "million");
    let mut records = Vec::new();
    faasbed::store::samples::read(&fixture().join(files::SAMPLES), |r| records.push(r)).unwrap();
    let warm: Vec<faasbed::measure::record::Sample> = records
        .iter()
        .filter_map(|r| match r {
            Record::Warm(s) if s.phase == Phase::Measure => Some(s.clone()),
            _ => None,
        })
        .collect();
    let mut templates: Vec<faasbed::measure::record::Sample> = Vec::new();
    for s in &warm {
        if !templates.iter().any(|t| t.function == s.function) {
            templates.push(s.clone());
        }
    }
    let mut out = std::io::BufWriter::new(std::fs::File::create(run.join(files::SAMPLES)).unwrap());
    let mut hists: Vec<(Histogram<u64>, Histogram<u64>)> = templates
        .iter()
        .map(|_| {
            let h = || Histogram::new_with_bounds(1, HISTOGRAM_MAX_NS, HISTOGRAM_SIGFIG).unwrap();
            (h(), h())
        })
        .collect();
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    for i in 0..n {
        let k = i % templates.len();
        let mut s = templates[k].clone();
        let base_ms = 4.0 + 12.0 * (k % 3) as f64;
        let lat = (base_ms * (1.0 - next(&mut rng)).ln().abs().mul_add(0.3, 0.85) * 1e6) as u64;
        s.intended_ns = (i / templates.len()) as u64 * 1_000_000;
        s.sent_ns = s.intended_ns + 200_000;
        s.first_byte_ns = Some(s.intended_ns + lat - 50_000);
        s.end_ns = s.intended_ns + lat;
        hists[k].0.record(s.corrected_ns()).unwrap();
        hists[k].1.record(s.uncorrected_ns()).unwrap();
        serde_json::to_writer(&mut out, &RecordRef::Warm(&s)).unwrap();
        std::io::Write::write_all(&mut out, b"\n").unwrap();
    }
    for r in &records {
        if let Record::Cold(c) = r {
            serde_json::to_writer(&mut out, &RecordRef::Cold(c)).unwrap();
            std::io::Write::write_all(&mut out, b"\n").unwrap();
        }
    }
    drop(out);
    for (t, (c, u)) in templates.iter().zip(&hists) {
        let interval = |tag, h| hlog::Interval {
            tag,
            start: Duration::ZERO,
            duration: Duration::from_secs(1000),
            histogram: h,
        };
        hlog::write(
            &RunStore::open(&run).hlog_path(&t.function, t.node.as_deref().unwrap()),
            SystemTime::UNIX_EPOCH,
            "synthetic",
            &[interval("corrected", c), interval("uncorrected", u)],
        )
        .unwrap();
    }
    run
}

/// Benchmark, not a test: time to rebuild every report of a run with one million warm samples.
/// `cargo test --release -p faasbed --test report -- --ignored --nocapture million` (or
/// `just bench-report`, which also times `faasbed report` on it with hyperfine).
#[test]
#[ignore = "benchmark: run in release with --ignored --nocapture"]
fn million_sample_report_rebuild_time() {
    // FAASBED_KEEP_RUN=DIR keeps the synthetic run in DIR/million, e.g. to time the CLI with
    // `hyperfine 'target/release/faasbed report DIR/million'`.
    let keep = std::env::var_os("FAASBED_KEEP_RUN").map(PathBuf::from);
    let tmp = tempfile::tempdir().unwrap();
    let run = synthetic_run(keep.as_deref().unwrap_or(tmp.path()), 1_000_000);
    let size = run.join(files::SAMPLES).metadata().unwrap().len();
    let t = std::time::Instant::now();
    let r = report::data::read(&run).unwrap();
    let read = t.elapsed();
    let t = std::time::Instant::now();
    let tables = report::tables::compute(&r.manifest, &r.groups).unwrap();
    println!(
        "read {read:?}; tables {:?} ({} ratios)",
        t.elapsed(),
        tables.ratios.len()
    );
    let t = std::time::Instant::now();
    let d = report::load(&run).unwrap();
    let loaded = t.elapsed();
    let w = report::write_all(&run).unwrap();
    let total = t.elapsed();
    assert_eq!(
        d.groups.iter().map(|g| g.warm.len()).sum::<usize>(),
        1_000_000
    );
    println!(
        "1e6 warm samples ({size} bytes): load+tables {loaded:?}; load again + write_all {:?} ({} files)",
        total - loaded,
        w.files.len()
    );
}

/// A run on OpenFaaS CE (k3d or an existing cluster) states the readiness-probe floor beside its
/// cold starts; a local run does not.
#[test]
fn ce_runs_state_the_probe_floor_beside_cold_starts() {
    let tmp = tempfile::tempdir().unwrap();
    let run = copy_run(tmp.path(), "on-ce");
    let path = run.join(files::RUN);
    let mut m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let floor = "probes /_/health first after 2 s, then every 2 s";
    let local = String::from_utf8(markdown::render(&report::load(&run).unwrap())).unwrap();
    assert!(!local.contains(floor));
    m["platform"] = "k3d".into();
    std::fs::write(&path, serde_json::to_vec(&m).unwrap()).unwrap();
    let ce = String::from_utf8(markdown::render(&report::load(&run).unwrap())).unwrap();
    assert!(ce.contains(floor), "{ce}");
    assert!(ce.contains("from pod conditions, 1 s resolution"));
}
