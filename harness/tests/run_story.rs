//! What a run tells its user (issue 16): errors counted against the node a request was routed
//! to, replica crashes and restarts recorded and reported, the report's headline and node
//! profiles, readable chart text, the log cold-start axis, the spectrum's capped tail,
//! thresholds and exports on the command line, and progress that stays plain off a terminal.

#![allow(clippy::unwrap_used)] // tests may unwrap

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use faasbed::measure::loadgen::{run_open, RunOptions, Target};
use faasbed::measure::record::{ErrorKind, Sink, VecSink};
use faasbed::measure::schedule::{Arrival, Schedule};
use faasbed::report::plot::figures::{ColdStrip, Spectrum};
use faasbed::store::events::{EventsFile, ReplicaEvent, ReplicaEventKind};
use faasbed::store::samples::SamplesFile;
use faasbed::store::RunStore;

fn fixture_copy(tmp: &Path) -> PathBuf {
    let src = common::repo().join("harness/tests/fixtures/runs/quick-local");
    let dst = tmp.join("run");
    std::fs::create_dir_all(dst.join("hdr")).unwrap();
    for e in std::fs::read_dir(&src).unwrap() {
        let e = e.unwrap();
        if e.path().is_file() {
            std::fs::copy(e.path(), dst.join(e.file_name())).unwrap();
        }
    }
    for e in std::fs::read_dir(src.join("hdr")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dst.join("hdr").join(e.file_name())).unwrap();
    }
    dst
}

/// Requests to a server that accepts and never answers all time out; with the node known
/// (the function runs on one node only), they count against that node, not "unknown".
#[tokio::test]
async fn timed_out_requests_count_against_the_node_they_were_routed_to() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s); // never answered
        }
    });
    let target = Target::get(&format!("http://{addr}/")).unwrap();
    let mut ro = RunOptions::new("echo-pi3");
    ro.connections = 5;
    ro.timeout = Duration::from_millis(200);
    ro.node_hint = "unknown".into();
    ro.routed_node = Some("pi3-1".into());
    let sched = Schedule::new(Arrival::Uniform, 50.0, Duration::from_millis(100), 1).unwrap();
    let mut sink = VecSink::default();
    let r = run_open(&target, sched, &ro, &mut sink).await.unwrap();
    assert_eq!(sink.samples.len(), 5);
    assert!(sink
        .samples
        .iter()
        .all(|s| s.error == Some(ErrorKind::Timeout)
            && s.node.is_none()
            && s.routed_node.as_deref() == Some("pi3-1")));
    let nodes: Vec<&str> = r.keys.iter().map(|k| k.node.as_str()).collect();
    assert_eq!(nodes, ["pi3-1"]);

    // Stored beside the fixture's samples, they land in echo-pi3's own row.
    let tmp = tempfile::tempdir().unwrap();
    let run = fixture_copy(tmp.path());
    let mut f = SamplesFile::append(&run.join("samples.jsonl")).unwrap();
    for s in &sink.samples {
        let mut s = s.clone();
        s.phase = faasbed::measure::record::Phase::Measure;
        f.record(&s).unwrap();
    }
    drop(f);
    let summary = faasbed::summary::from_store(&RunStore::open(&run)).unwrap();
    assert!(
        summary.results.iter().all(|e| e.node != "unknown"),
        "no row of node unknown: {:?}",
        summary
            .results
            .iter()
            .map(|e| (&e.function, &e.node))
            .collect::<Vec<_>>()
    );
    let row = summary
        .results
        .iter()
        .find(|e| e.function == "echo-pi3" && e.node == "pi3-1")
        .unwrap();
    assert_eq!(row.warm.as_ref().unwrap().errors.get("timeout"), Some(&5));
    assert!(summary
        .table()
        .contains("echo-pi3 on pi3-1: 5 error(s) (timeout 5)"));

    let d = faasbed::report::load(&run).unwrap();
    let md = String::from_utf8(faasbed::report::markdown::render(&d)).unwrap();
    assert!(
        md.contains("| echo-pi3 | pi3-1 | pi3 (emulated) | 105 | 5 | timeout 5 |"),
        "{md}"
    );
    let warm_row = d
        .tables
        .warm
        .iter()
        .find(|r| r.workload == "echo" && r.class == "pi3 (emulated)")
        .unwrap();
    assert_eq!(warm_row.errors, 5);
    assert!(d.tables.warm.iter().all(|r| r.class != "unknown"));
}

/// Replica crashes and restarts reach the report, the headline and the console notes.
#[test]
fn replica_crashes_are_reported_per_function_and_node() {
    let tmp = tempfile::tempdir().unwrap();
    let run = fixture_copy(tmp.path());
    let mut ev = EventsFile::append(&run.join("events.jsonl")).unwrap();
    for (kind, pid, detail) in [
        (ReplicaEventKind::Crashed, 41, Some("signal 9".to_string())),
        (ReplicaEventKind::Restarted, 42, None),
    ] {
        ev.write(&ReplicaEvent {
            unix_ns: 1,
            function: "echo-pi3".into(),
            node: "pi3-1".into(),
            kind,
            pid,
            detail,
        })
        .unwrap();
    }
    drop(ev);
    let d = faasbed::report::load(&run).unwrap();
    let md = String::from_utf8(faasbed::report::markdown::render(&d)).unwrap();
    assert!(md.contains("## Replica crashes and restarts"), "{md}");
    assert!(
        md.contains("| echo-pi3 | pi3-1 | 1 | 1 | signal 9 |"),
        "{md}"
    );
    assert!(md.contains("0 of 100; 1 replica crash(es)"), "{md}");
    let html = String::from_utf8(faasbed::report::html::render(&d, &[])).unwrap();
    assert!(html.contains("<td>signal 9</td>"));
    let notes = faasbed::report::requests::console_notes(&d);
    assert!(notes.iter().any(|n| n
        == "echo-pi3 on pi3-1: replica crashed 1 time(s) (last: signal 9), restarted 1 time(s)"));
}

/// The gateway records a replica killed from outside as crashed, its replacement as restarted,
/// and a scale-down as neither.
#[tokio::test]
async fn the_gateway_records_a_crash_and_its_restart_but_not_a_scale_down() {
    use faasbed::platform::Platform;
    let t = common::Topology::deploy("harness/tests/fixtures/scenarios/spread.toml").await;
    let c = t.platform.gateway().client();
    let reps: Vec<serde_json::Value> = c.get_json("/system/faasbed/replicas/echo").await.unwrap();
    let pid = reps[0]["pid"].as_u64().unwrap() as u32;
    let node = reps[0]["node"].as_str().unwrap().to_string();
    faasbed::exec::kill_group(pid, libc::SIGKILL).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while t.platform.replica_events().await.is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the crash was never recorded"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(c.invoke("echo", "/", None).await.unwrap().status, 200);
    c.scale("echo", 0).await.unwrap();
    let ev = t.platform.replica_events().await;
    let kinds: Vec<(ReplicaEventKind, &str)> =
        ev.iter().map(|e| (e.kind, e.function.as_str())).collect();
    assert_eq!(
        kinds,
        [
            (ReplicaEventKind::Crashed, "echo"),
            (ReplicaEventKind::Restarted, "echo")
        ]
    );
    assert_eq!((ev[0].pid, ev[0].node.as_str()), (pid, node.as_str()));
    assert_eq!(ev[0].detail.as_deref(), Some("signal 9"));
    t.down().await;
}

#[test]
fn the_report_opens_with_a_headline_and_shows_each_nodes_profile() {
    let tmp = tempfile::tempdir().unwrap();
    let run = fixture_copy(tmp.path());
    let d = faasbed::report::load(&run).unwrap();
    let md = String::from_utf8(faasbed::report::markdown::render(&d)).unwrap();
    let headline = md.find("## Headline").unwrap();
    assert!(
        headline < md.find("- run `").unwrap(),
        "headline before provenance"
    );
    assert!(md.contains(
        "| echo | pi3 (emulated) | 16.1 ms | 25.0 ms | 482 ms (5/5 verified) | link (RTT 10.0 ms = 62% of p50); CPU quota 0.5 core; emulated | 0 of 100 |"
    ), "{md}");
    assert!(md.contains("| pi3-1 | pi3 | armhf | qemu-user (emulated) | 0.5 | 1.0 GiB | cortex-a7 | 10.0 ms | 50 Mbit/s | 0.00% | yes |"), "{md}");
    assert!(
        md.contains("| echo-vps | vps-1 | vps | 100 | 0 | – | "),
        "{md}"
    );
    let html = String::from_utf8(faasbed::report::html::render(&d, &[])).unwrap();
    assert!(
        html.find("<table class=\"headline\">").unwrap() < html.find("<ul>").unwrap(),
        "the html opens with the headline"
    );
}

#[test]
fn chart_text_is_at_least_12_px_and_never_drawn_smaller() {
    let tmp = tempfile::tempdir().unwrap();
    let run = fixture_copy(tmp.path());
    let d = faasbed::report::load(&run).unwrap();
    let mut p = faasbed::report::PlottersPlotter::svg_only();
    let charts = faasbed::report::plot::all(&mut p, &d).unwrap();
    for c in &charts {
        for part in c.svg.split("font-size=\"").skip(1) {
            let px: f64 = part[..part.find('"').unwrap()].parse().unwrap();
            assert!(px >= 12.0, "{}: text of {px} px", c.name);
        }
    }
    // The page scales charts up to its width but never below their drawn width.
    let html = String::from_utf8(faasbed::report::html::render(&d, &charts)).unwrap();
    assert!(html.contains("figure svg{width:100%;min-width:960px;height:auto}"));
}

#[test]
fn cold_starts_spanning_more_than_a_decade_get_a_log_axis() {
    let tmp = tempfile::tempdir().unwrap();
    let run = fixture_copy(tmp.path());
    let d = faasbed::report::load(&run).unwrap();
    let strip = ColdStrip::new(&d).unwrap();
    assert!(
        strip.log,
        "vps ~20 ms and pi3 ~500 ms span more than a decade"
    );
    let mut p = faasbed::report::PlottersPlotter::svg_only();
    let svg = faasbed::report::Plotter::cold_starts(&mut p, &d)
        .unwrap()
        .unwrap()
        .svg;
    assert!(svg.contains("first byte (ms, log scale)"));
}

#[test]
fn the_spectrum_ends_at_the_percentile_its_samples_support() {
    let tmp = tempfile::tempdir().unwrap();
    let run = fixture_copy(tmp.path());
    let d = faasbed::report::load(&run).unwrap();
    let s = Spectrum::new(&d, "echo").unwrap();
    // 100 measured requests per class: 1 − 1/100 = p99, x = log10(100) = 2.
    assert_eq!(s.x_max, 2.0);
    for line in &s.series {
        assert_eq!(line.points.last().unwrap().0, 2.0, "{}", line.label);
    }
    assert_eq!(
        s.tail_note.as_deref(),
        Some("each line ends at 1 − 1/n of its n samples (n = 100: 99%)")
    );
}

fn faasbed(home: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_faasbed"))
        .env("FAASBED_HOME", home)
        .current_dir(common::repo())
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn a_bad_threshold_stops_bench_before_anything_runs_and_names_the_column() {
    let tmp = tempfile::tempdir().unwrap();
    let results = tmp.path().join("results");
    let out = faasbed(
        tmp.path(),
        &[
            "bench",
            "--results",
            results.to_str().unwrap(),
            "--threshold",
            "p99<<50ms",
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("--threshold: threshold \"p99<<50ms\", column 5: expected a number"),
        "{err}"
    );
    assert!(!results.exists(), "nothing ran");
}

#[test]
fn report_exports_json_csv_and_markdown() {
    let tmp = tempfile::tempdir().unwrap();
    let run = fixture_copy(tmp.path());
    let (j, c, m) = (
        tmp.path().join("s.json"),
        tmp.path().join("s.csv"),
        tmp.path().join("s.md"),
    );
    let out = faasbed(
        tmp.path(),
        &[
            "report",
            run.to_str().unwrap(),
            "--export-json",
            j.to_str().unwrap(),
            "--export-csv",
            c.to_str().unwrap(),
            "--export-markdown",
            m.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let csv = std::fs::read_to_string(&c).unwrap();
    assert_eq!(
        csv.lines().count(),
        7,
        "header + 6 function × node rows: {csv}"
    );
    assert!(csv.starts_with("function,node,class,arch,emulated,requests,ok,errors,error_kinds,late_sends,target_rps,achieved_rps"));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&j).unwrap()).unwrap();
    assert_eq!(json["results"].as_array().unwrap().len(), 6);
    assert!(std::fs::read_to_string(&m)
        .unwrap()
        .contains("| echo-pi3 | pi3-1 |"));
}

/// A whole (short) bench off a terminal: plain progress lines, a failed threshold printed and
/// exit status 99, and the exports written.
#[test]
fn a_failed_threshold_exits_99_after_a_complete_run_with_its_exports() {
    let (tmp, home) = common::temp_home();
    let results = tmp.path().join("results");
    let (j, c) = (tmp.path().join("s.json"), tmp.path().join("s.csv"));
    let out = faasbed(
        &home.root,
        &[
            "bench",
            "--quick",
            "--skip-cold",
            "harness/tests/fixtures/scenarios/spread.toml",
            "--results",
            results.to_str().unwrap(),
            "--threshold",
            "echo:p50<1ns",
            "--threshold",
            "errors<=100%",
            "--export-json",
            j.to_str().unwrap(),
            "--export-csv",
            c.to_str().unwrap(),
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(99), "{err}");
    assert!(err.contains("FAIL echo:p50<1ns: echo on vps-"), "{err}");
    assert!(err.contains("ok   errors<=100%: echo on vps-"), "{err}");
    assert!(err.contains("warm 1/1 echo: "), "{err}");
    assert!(
        !err.contains('\r') && !err.contains('\u{1b}'),
        "no redraws off a terminal: {err:?}"
    );
    assert!(std::fs::read_to_string(&c).unwrap().contains("\necho,vps-"));
    assert!(j.is_file());
}
