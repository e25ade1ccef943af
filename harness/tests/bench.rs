//! `faasbed bench --quick` end to end on scenarios/local.toml, judged only by what it stored:
//! verified cold starts on every class with the right arch, corrected ≥ uncorrected, sample
//! counts equal to the schedule, a schema-valid summary, HDR logs that decode, no credentials.
//! Plus: a replica killed mid-run, and Ctrl-C mid-run.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn bench_cmd(home: &Path, results: &Path, extra: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_faasbed"));
    c.env("FAASBED_HOME", home)
        .current_dir(common::repo())
        .args(["bench", "--quick", "--results"])
        .arg(results)
        .args(extra);
    c
}

fn only_run(results: &Path) -> PathBuf {
    let runs: Vec<PathBuf> = std::fs::read_dir(results)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    runs[0].clone()
}

fn lines(p: &Path) -> Vec<Value> {
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn schema_check(summary: &Value) {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(common::repo().join("schemas/summary.schema.json")).unwrap(),
    )
    .unwrap();
    let v = jsonschema::validator_for(&schema).unwrap();
    let errs: Vec<String> = v
        .iter_errors(summary)
        .map(|e| format!("{e} at {}", e.instance_path))
        .collect();
    assert!(
        errs.is_empty(),
        "summary.json breaks schemas/summary.schema.json: {errs:?}"
    );
}

#[test]
fn quick_bench_stores_verified_results_for_every_class() {
    let (tmp, home) = common::temp_home();
    let results = tmp.path().join("results");
    let out = bench_cmd(&home.root, &results, &["--json"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "bench failed: {stderr}");
    let run = only_run(&results);
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
    assert_eq!(printed, summary, "--json prints the stored summary");
    schema_check(&summary);
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("run.json")).unwrap()).unwrap();
    assert_eq!(manifest["status"], "complete");
    assert_eq!(manifest["emulated"], true);
    assert!(manifest["host"]["cores"].as_u64().unwrap() >= 1);
    assert!(manifest["tools"]["qemu-aarch64"]
        .as_str()
        .unwrap()
        .contains("qemu"));

    let want = [
        ("vps", "amd64", "amd64"),
        ("pi4", "arm64", "arm64"),
        ("pi3", "armhf", "arm/v7"),
    ];
    let entries = summary["results"].as_array().unwrap();
    assert_eq!(entries.len(), 6, "2 functions × 3 classes");
    for (class, arch, _) in want {
        let es: Vec<&Value> = entries.iter().filter(|e| e["class"] == class).collect();
        assert_eq!(es.len(), 2, "{class}");
        for e in es {
            assert_eq!(e["arch"], arch);
            assert_eq!(e["emulated"], class != "vps");
            let cold = &e["cold"];
            assert_eq!(cold["total"], 5, "{e}");
            assert!(
                cold["verified"].as_u64().unwrap() >= 4,
                "verified cold starts: {e}"
            );
            let w = &e["warm"];
            // quick: 50 rps for 2 s measured (the 0.5 s warm-up excluded), uniform schedule
            let n = w["requests"].as_u64().unwrap();
            assert!((99..=101).contains(&n), "{} requests: {e}", n);
            assert_eq!(w["ok"], w["requests"], "{e}");
            for p in ["p50", "p90", "p99", "p999", "max"] {
                let c = w["corrected_us"][p].as_f64().unwrap();
                let u = w["uncorrected_us"][p].as_f64().unwrap();
                assert!(c >= u, "{p}: corrected {c} < uncorrected {u}: {e}");
            }
            let hlog = run.join("hdr").join(format!(
                "{}.{}.hlog",
                e["function"].as_str().unwrap(),
                e["node"].as_str().unwrap()
            ));
            let hs = faasbed::store::hlog::read(&hlog).unwrap();
            assert_eq!(hs.len(), 2);
            assert_eq!(hs[0].1.len(), n, "hlog holds every measured request");
        }
    }
    let samples = lines(&run.join("samples.jsonl"));
    let colds: Vec<&Value> = samples.iter().filter(|s| s["kind"] == "cold").collect();
    assert_eq!(colds.len(), 30);
    for c in colds.iter().filter(|c| c["verified"] == true) {
        let f = c["function"].as_str().unwrap();
        let class = f.rsplit('-').next().unwrap();
        let reported = want.iter().find(|w| w.0 == class).unwrap().2;
        assert_eq!(c["arch"], reported, "{c}");
        assert_eq!(c["node"], format!("{class}-1"), "{c}");
    }
    // no credentials anywhere in the results
    let pw_files: Vec<PathBuf> = std::fs::read_dir(home.runs())
        .unwrap()
        .map(|e| e.unwrap().path().join("password"))
        .collect();
    let pw = std::fs::read_to_string(&pw_files[0]).unwrap();
    for f in ["run.json", "samples.jsonl", "summary.json"] {
        assert!(
            !std::fs::read_to_string(run.join(f))
                .unwrap()
                .contains(pw.trim()),
            "{f} leaks the password"
        );
    }
    assert!(faasbed::exec::labelled_pids(manifest["run_id"].as_str()).is_empty());
}

/// Wait until `path` holds `n` samples of `kind` that are measured (not warm-up).
fn wait_for_lines(path: &Path, kind: &str, n: usize, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(240);
    let measured = |s: &&Value| s["kind"] == kind && s["phase"] != "warmup";
    while lines(path).iter().filter(measured).count() < n {
        assert!(
            child.try_wait().unwrap().is_none(),
            "bench ended before {n} {kind} samples"
        );
        assert!(Instant::now() < deadline, "no {kind} samples appeared");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `faasbed bench` in the background, its stderr kept for the assertions.
fn spawn_bench(home: &Path, results: &Path, extra: &[&str]) -> Child {
    bench_cmd(home, results, extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Press Ctrl-C on `child` and wait for it to end.
fn ctrl_c(child: Child) -> std::process::Output {
    // SAFETY: kill has no memory-safety preconditions.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    child.wait_with_output().unwrap()
}

fn run_dir_when_ready(results: &Path, child: &mut Child) -> PathBuf {
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        if let Ok(mut rd) = std::fs::read_dir(results) {
            if let Some(e) = rd.next() {
                return e.unwrap().path();
            }
        }
        assert!(child.try_wait().unwrap().is_none(), "bench ended early");
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_replica_killed_mid_run_loses_no_sample() {
    let (tmp, home) = common::temp_home();
    let results = tmp.path().join("results");
    let mut child = spawn_bench(&home.root, &results, &["--skip-cold"]);
    let run = run_dir_when_ready(&results, &mut child);
    wait_for_lines(&run.join("samples.jsonl"), "warm", 30, &mut child);
    let run_id = run.file_name().unwrap().to_string_lossy().into_owned();
    let daemon: Value = serde_json::from_str(
        &std::fs::read_to_string(home.runs().join(&run_id).join("gateway.json")).unwrap(),
    )
    .unwrap();
    let daemon_pid = daemon["pid"].as_u64().unwrap() as u32;
    let victim = faasbed::exec::labelled_pids(Some(&run_id))
        .into_iter()
        .map(|(p, _)| p)
        .find(|p| *p != daemon_pid)
        .unwrap();
    faasbed::exec::kill_group(victim, libc::SIGKILL).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
    schema_check(&summary);
    // The crash is stored as an event of the run, and the report shows it.
    let events = lines(&run.join("events.jsonl"));
    assert!(
        events
            .iter()
            .any(|e| e["kind"] == "crashed" && e["pid"].as_u64() == Some(u64::from(victim))),
        "no crash of pid {victim} in events.jsonl: {events:?}"
    );
    let md = std::fs::read_to_string(run.join("report.md")).unwrap();
    assert!(!md.contains("| (none) | – | 0 | 0 |"), "{md}");
    for e in summary["results"].as_array().unwrap() {
        let w = &e["warm"];
        let errors: u64 = w["errors"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_u64().unwrap())
            .sum();
        assert_eq!(
            w["ok"].as_u64().unwrap() + errors,
            w["requests"].as_u64().unwrap(),
            "every request is ok or counted by kind: {e}"
        );
    }
    let total: u64 = summary["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["warm"]["requests"].as_u64().unwrap())
        .sum();
    assert!(
        (594..=606).contains(&total),
        "6 functions × 100 measured requests, got {total}"
    );
}

#[test]
fn ctrl_c_mid_run_keeps_partial_results_and_leaves_no_process() {
    let (tmp, home) = common::temp_home();
    let results = tmp.path().join("results");
    let mut child = spawn_bench(&home.root, &results, &[]);
    let run = run_dir_when_ready(&results, &mut child);
    wait_for_lines(&run.join("samples.jsonl"), "warm", 20, &mut child);
    let out = ctrl_c(child);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(err.contains("interrupted; partial results are in"), "{err}");
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("run.json")).unwrap()).unwrap();
    assert_eq!(manifest["status"], "interrupted");
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
    schema_check(&summary);
    assert!(
        !summary["results"].as_array().unwrap().is_empty(),
        "what was measured before Ctrl-C is summarised"
    );
    // Nothing measured is lost: every invocation the gateway counted has its sample stored
    // (requests in flight at Ctrl-C finish, and buffered samples are written before the end).
    let mut stored: std::collections::BTreeMap<String, u64> = Default::default();
    let mut intended: std::collections::BTreeMap<String, Vec<u64>> = Default::default();
    for s in lines(&run.join("samples.jsonl")) {
        let f = s["function"].as_str().unwrap().to_string();
        *stored.entry(f.clone()).or_default() += 1;
        if s["kind"] == "warm" {
            intended
                .entry(f)
                .or_default()
                .push(s["intended_ns"].as_u64().unwrap());
        }
    }
    let counted = manifest["gateway_invocations"].as_object().unwrap();
    assert!(
        counted.values().any(|n| n.as_u64().unwrap() > 0),
        "{counted:?}"
    );
    for (f, n) in counted {
        assert_eq!(
            stored.get(f).copied().unwrap_or(0),
            n.as_u64().unwrap(),
            "{f}: the gateway counted {n} invocations, samples.jsonl holds {:?}",
            stored.get(f)
        );
    }
    // and per function the stored schedule slots are the first n of the 50 rps schedule, no gap
    for (f, mut v) in intended {
        v.sort_unstable();
        for (i, t) in v.iter().enumerate() {
            assert_eq!(
                *t,
                i as u64 * 20_000_000,
                "{f}: slot {i} of {} missing",
                v.len()
            );
        }
    }
    let run_id = run.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        faasbed::exec::labelled_pids(Some(&run_id)).is_empty(),
        "processes left after Ctrl-C"
    );
}

/// Ctrl-C as soon as the run directory exists (while `up` starts the topology, or just after):
/// the run is recorded as interrupted and nothing of it keeps running.
#[test]
fn ctrl_c_during_up_records_the_run_and_leaves_no_process() {
    let (tmp, home) = common::temp_home();
    let results = tmp.path().join("results");
    let mut child = spawn_bench(&home.root, &results, &[]);
    let run = run_dir_when_ready(&results, &mut child);
    let out = ctrl_c(child);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(err.contains("interrupted"), "{err}");
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("run.json")).unwrap()).unwrap();
    assert_eq!(manifest["status"], "interrupted", "{err}");
    assert!(manifest["ended_at"].is_string());
    let run_id = run.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        faasbed::exec::labelled_pids(Some(&run_id)).is_empty(),
        "processes left after Ctrl-C during up"
    );
}
