//! The shipped workload scenarios end to end on the local platform (issue 15):
//! - `scenarios/workloads.toml`: Go and Python functions on vps (amd64), pi4 (arm64) and pi3
//!   (armhf), `bench --quick`, judged by what it stored (runtime visible, every arch, verified
//!   cold starts);
//! - the Go and Python twins answer the same seeded input with the same result on pi3 (through
//!   `faasbed up`, `deploy`, `invoke`), and the json twins answer bodies byte-identically
//!   (`harness/tests/fixtures/scenarios/twins.toml`);
//! - `scenarios/chain.toml`: a vps → pi3 → vps chain whose report splits the latency per hop.
//!
//! Its own harness: the trials are reported as ignored, with the reason printed, on hosts that
//! lack go, qemu-user-static, apt-get/dpkg-deb or dpkg's arm64 and armhf architectures (the
//! Python sysroots are Debian's packages for those arches).

mod common;
#[path = "common/gated.rs"]
mod gated;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn faasbed(home: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_faasbed"));
    c.env("FAASBED_HOME", home).current_dir(common::repo());
    c
}

fn run_ok(c: &mut Command) -> String {
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{c:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn only_run(results: &Path) -> PathBuf {
    let runs: Vec<PathBuf> = std::fs::read_dir(results)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    runs[0].clone()
}

fn bench(scenario: &str) -> (tempfile::TempDir, PathBuf) {
    let (tmp, home) = common::temp_home();
    let results = tmp.path().join("results");
    run_ok(
        faasbed(&home.root)
            .args(["bench", "--quick", "--results"])
            .arg(&results)
            .arg(scenario),
    );
    let run = only_run(&results);
    (tmp, run)
}

fn json(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn workloads_run_go_and_python_on_every_arch() {
    let (_tmp, run) = bench("scenarios/workloads.toml");
    let summary = json(&run.join("summary.json"));
    let entries = summary["results"].as_array().unwrap();
    assert_eq!(entries.len(), 15, "{summary}");
    for (class, arch) in [("vps", "amd64"), ("pi4", "arm64"), ("pi3", "armhf")] {
        for (runtime, n) in [(None, 3), (Some("python"), 2)] {
            let es: Vec<&Value> = entries
                .iter()
                .filter(|e| e["class"] == class && e["runtime"].as_str() == runtime)
                .collect();
            assert_eq!(es.len(), n, "{class} {runtime:?}: {entries:?}");
            for e in es {
                assert_eq!(e["arch"], arch, "{e}");
                assert_eq!(e["warm"]["ok"], e["warm"]["requests"], "{e}");
                assert!(e["cold"]["verified"].as_u64().unwrap() >= 1, "{e}");
            }
        }
    }
    let md = std::fs::read_to_string(run.join("report.md")).unwrap();
    for w in ["thumbnail (python)", "compress (python)", "memory /?mib=32"] {
        assert!(md.contains(w), "report.md names workload {w:?}:\n{md}");
    }
}

/// The deterministic fields of a function's JSON answer.
fn answer(home: &Path, function: &str, path: &str) -> Value {
    let out = run_ok(faasbed(home).args(["invoke", function, "--path", path]));
    let body = out
        .lines()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no JSON body from {function}: {out}"));
    let mut v: Value = serde_json::from_str(body).unwrap();
    let o = v.as_object_mut().unwrap();
    // Encoder output sizes and the peak RSS differ by runtime; the computed results may not.
    for k in [
        "input_bytes",
        "thumb_bytes",
        "compressed_bytes",
        "ratio",
        "vm_hwm_kib",
    ] {
        o.remove(k);
    }
    v
}

fn go_and_python_twins_agree_on_pi3() {
    let (_tmp, home) = common::temp_home();
    run_ok(faasbed(&home.root).args(["up", "scenarios/workloads.toml"]));
    let result = std::panic::catch_unwind(|| {
        run_ok(faasbed(&home.root).arg("deploy"));
        for (w, path) in [
            ("thumbnail", "/?seed=9&w=40&h=30&tw=8&th=6"),
            ("compress", "/?seed=9&kib=16&level=5"),
        ] {
            let go = answer(&home.root, &format!("{w}-go-pi3"), path);
            let py = answer(&home.root, &format!("{w}-py-pi3"), path);
            assert_eq!(go, py, "{w}: Go and Python answer {path} differently");
            let other = answer(
                &home.root,
                &format!("{w}-py-pi3"),
                &path.replace("seed=9", "seed=10"),
            );
            assert_ne!(py, other, "{w}: the seed must change the input");
        }
        let go = answer(&home.root, "memory-go-pi3", "/?mib=4&touches=5000&seed=3");
        assert_eq!(go["pages"], 1024, "{go}");
        assert!(go["checksum"].as_u64().unwrap() > 0, "{go}");
    });
    run_ok(faasbed(&home.root).arg("down"));
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

/// The JSON line of `faasbed invoke FUNCTION --data BODY`, as the function wrote it.
fn json_body(home: &Path, function: &str, data: &str) -> String {
    let out = run_ok(faasbed(home).args(["invoke", function, "--data", data]));
    out.lines()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no JSON body from {function}: {out}"))
        .to_string()
}

fn go_and_python_json_and_chain_twins_interoperate() {
    let (_tmp, home) = common::temp_home();
    let scenario = "harness/tests/fixtures/scenarios/twins.toml";
    run_ok(faasbed(&home.root).args(["up", scenario]));
    let result = std::panic::catch_unwind(|| {
        run_ok(faasbed(&home.root).arg("deploy"));
        for body in [
            r#"{"sensor":"t1","readings":[21.5,21.7,22.0,21.9],"meta":{"unit":"C","ok":true}}"#,
            r#"[1,2,{"a":null,"b":[true,false,"x"]},[]]"#,
            "{\"z<>&\":1,\"\u{e9}\":2,\"a\\n\\u0001\":[{\"\u{2028}\":3}],\"b\":{\"c\":[1e300,-0.5]}}",
            r#" {"dup":1,"dup":[1,2]} "#,
        ] {
            let go = json_body(&home.root, "json-go-pi3", body);
            let py = json_body(&home.root, "json-py-pi3", body);
            assert_eq!(go, py, "Go and Python json answer {body:?} differently");
            let v: Value = serde_json::from_str(&go).unwrap();
            assert_eq!(v["bytes"], body.len(), "{go}");
        }
        // A chain through the gateway whose hops alternate Python, Go, Python.
        let out = run_ok(faasbed(&home.root).args([
            "invoke",
            "chain-py-pi3",
            "--data",
            "x",
            "--path",
            "/?next=chain-go-pi3,chain-py-pi3",
        ]));
        let body = out
            .lines()
            .find(|l| l.starts_with('{'))
            .unwrap_or_else(|| panic!("{out}"));
        let v: Value = serde_json::from_str(body).unwrap();
        let hops = v["hops"].as_array().unwrap();
        assert_eq!(hops.len(), 3, "{body}");
        for h in hops {
            assert_eq!(h["node"], "pi3-1", "{body}");
            assert_eq!(h["arch"], "arm/v7", "{body}");
            assert!(
                h["total_ns"].as_u64().unwrap() >= h["call_ns"].as_u64().unwrap(),
                "{body}"
            );
        }
        // The first and last hop are the one Python replica; the middle one is Go's.
        assert_eq!(hops[0]["instance"], hops[2]["instance"], "{body}");
        assert_ne!(hops[0]["instance"], hops[1]["instance"], "{body}");
        for i in 0..2 {
            // A caller's wait holds its downstream's whole handler time.
            let call = hops[i]["call_ns"].as_u64().unwrap();
            assert!(call >= hops[i + 1]["total_ns"].as_u64().unwrap(), "{body}");
        }
        assert_eq!(hops[2]["call_ns"], 0, "{body}");
    });
    run_ok(faasbed(&home.root).arg("down"));
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

fn chain_report_splits_latency_per_hop() {
    let (_tmp, run) = bench("scenarios/chain.toml");
    let samples = std::fs::read_to_string(run.join("samples.jsonl")).unwrap();
    let hops: Vec<String> = samples
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|s| s["function"] == "chain-vps" && s["kind"] == "warm")
        .filter_map(|s| s["hops"].as_str().map(str::to_string))
        .collect();
    assert!(!hops.is_empty(), "chain-vps samples keep X-Faasbed-Hops");
    for h in &hops {
        let parsed = faasbed::report::chain::parse_hops(h).unwrap();
        let nodes: Vec<&str> = parsed.iter().map(|h| h.node.as_str()).collect();
        assert_eq!(nodes, ["vps-1", "pi3-1", "vps-1"], "{h}");
        assert_eq!(parsed[1].arch, "arm/v7", "{h}");
    }
    let md = std::fs::read_to_string(run.join("report.md")).unwrap();
    assert!(md.contains("## Chains"), "{md}");
    assert!(md.contains("| chain-vps | vps-1 → pi3-1 → vps-1 |"), "{md}");
    assert!(md.contains("vps-1 ⇄ gateway ⇄ pi3-1"), "{md}");
    let d = faasbed::report::data::load(&run).unwrap();
    let row = d.chains.iter().find(|c| c.function == "chain-vps").unwrap();
    let share: f64 = row.segments.iter().map(|s| s.2).sum();
    assert!((share - 1.0).abs() < 1e-9, "shares sum to {share}");
    assert!(row.e2e_p50_ms > 0.0);
}

/// Why the trials cannot run here, or `None`.
fn missing_prerequisites() -> Option<String> {
    let mut missing = Vec::new();
    for p in [
        "go",
        "qemu-aarch64-static",
        "qemu-arm-static",
        "apt-get",
        "dpkg-deb",
    ] {
        if faasbed::exec::which(p).is_none() {
            missing.push(format!("{p} not on PATH"));
        }
    }
    let foreign = Command::new("dpkg")
        .arg("--print-foreign-architectures")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    for a in ["arm64", "armhf"] {
        if !foreign.lines().any(|l| l.trim() == a) {
            missing.push(format!(
                "dpkg has no {a} architecture (run `dpkg --add-architecture {a} && apt-get update`)"
            ));
        }
    }
    (!missing.is_empty()).then(|| {
        format!(
            "{}; install with `sudo apt-get install -y golang-go qemu-user-static`",
            missing.join(", ")
        )
    })
}

fn main() -> std::process::ExitCode {
    // One at a time: each runs a whole topology with QEMU replicas on a small host.
    gated::main(
        "workloads",
        "the workload scenario tests",
        missing_prerequisites(),
        true,
        vec![
            gated::test(
                "workloads_run_go_and_python_on_every_arch",
                workloads_run_go_and_python_on_every_arch,
            ),
            gated::test(
                "go_and_python_twins_agree_on_pi3",
                go_and_python_twins_agree_on_pi3,
            ),
            gated::test(
                "go_and_python_json_and_chain_twins_interoperate",
                go_and_python_json_and_chain_twins_interoperate,
            ),
            gated::test(
                "chain_report_splits_latency_per_hop",
                chain_report_splits_latency_per_hop,
            ),
        ],
    )
}
