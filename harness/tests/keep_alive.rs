//! Keep-alive under a trace replay, on the local platform, judged by what `faasbed bench`
//! stored: a gap between arrivals longer than the keep-alive meets a function the idler scaled
//! to zero (a verified cold start: a new instance, on the constrained node, started after the
//! request was sent); a shorter gap finds the same warm instance, and so does the long gap
//! under a per-function keep-alive longer than it. Plus: the shipped trace scenarios parse and
//! plan.

mod common;

use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// One function on the VPS class (native, so cold starts are short and the gaps dominate).
const SCENARIO: &str = r#"
[platform]
kind = "local"

[[node]]
name = "vps-ka"
class = "vps"

[[function]]
name = "echo-ka"
source = "echo"
constraints = ["faasbed.io/class=vps"]

[[function]]
name = "echo-long"
source = "echo"
constraints = ["faasbed.io/class=vps"]

[experiment.trace]
file = "trace.csv"
format = "azure2021"
window = "12s"
keep_alive = "2s"
connections = 2
mapping = "same"

# The same arrivals with a keep-alive longer than every gap: only the first call is cold.
[experiment.trace.keep_alive_for]
echo-long = "20s"
"#;

/// Starts at 0 s (cold: the replay starts from zero), 1 s and 2 s (gaps of 1 s < 2 s
/// keep-alive: warm), 9 s (a 7 s gap: scaled to zero in between, so cold), 10 s (warm).
const TRACE: &str = "app,func,end_timestamp,duration\n\
                     a,f,0.05,0.05\n\
                     a,f,1.05,0.05\n\
                     a,f,2.05,0.05\n\
                     a,f,9.05,0.05\n\
                     a,f,10.05,0.05\n";

fn lines(p: &Path) -> Vec<Value> {
    std::fs::read_to_string(p)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn a_gap_longer_than_keep_alive_is_a_verified_cold_start_and_a_shorter_one_is_not() {
    let (tmp, home) = common::temp_home();
    let dir = tmp.path().join("scenario");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("ka.toml"), SCENARIO).unwrap();
    std::fs::write(dir.join("trace.csv"), TRACE).unwrap();
    let results = tmp.path().join("results");
    let out = Command::new(env!("CARGO_BIN_EXE_faasbed"))
        .env("FAASBED_HOME", &home.root)
        .current_dir(common::repo())
        .args(["bench", "--skip-warm", "--skip-cold", "--results"])
        .arg(&results)
        .arg(dir.join("ka.toml"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "bench failed: {stderr}");
    let run = std::fs::read_dir(&results)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();

    let all = lines(&run.join("trace.jsonl"));
    let mut long: Vec<&Value> = all
        .iter()
        .filter(|v| v["function"] == "echo-long")
        .collect();
    long.sort_by_key(|v| v["planned_ns"].as_u64().unwrap());
    let cold: Vec<bool> = long.iter().map(|v| v["cold"].as_bool().unwrap()).collect();
    assert_eq!(cold, [true, false, false, false, false], "{long:#?}");
    let mut s: Vec<&Value> = all.iter().filter(|v| v["function"] == "echo-ka").collect();
    s.sort_by_key(|v| v["planned_ns"].as_u64().unwrap());
    assert_eq!(s.len(), 5, "every planned arrival was sent: {s:?}");
    for v in &s {
        assert_eq!(v["error"], Value::Null, "{v}");
        assert_eq!(v["node"], "vps-ka", "{v}");
        assert_eq!(v["class"], "vps");
    }
    let cold: Vec<bool> = s.iter().map(|v| v["cold"].as_bool().unwrap()).collect();
    assert_eq!(cold, [true, false, false, true, false], "{s:#?}");
    let inst = |i: usize| s[i]["instance"].as_str().unwrap().to_string();
    // Short gaps: the same instance answered; the long gap: a new one, started after the send.
    assert_eq!(inst(0), inst(1));
    assert_eq!(inst(1), inst(2));
    assert_ne!(inst(2), inst(3), "the 7 s gap must meet a new instance");
    assert_eq!(inst(3), inst(4));
    let sent_unix = s[3]["t0_unix_ns"].as_u64().unwrap() + s[3]["sent_ns"].as_u64().unwrap();
    assert!(s[3]["instance_started_unix_ns"].as_u64().unwrap() > sent_unix);

    // The idler scaled the function to zero in the long gap (and maybe after the last call).
    let idle: Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("trace-idle.json")).unwrap())
            .unwrap();
    let downs = idle.as_array().unwrap();
    assert!(!downs.is_empty(), "no scale-down stored");
    assert!(
        downs
            .iter()
            .all(|d| d["idle_ms"].as_f64().unwrap() >= 2000.0),
        "{idle}"
    );

    // The report model: 3 cold of 10 on the vps class (2 + 1), nothing behind the plan.
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
    let t = &summary["trace"];
    let vps = &t["by_class"][0];
    assert_eq!(vps["name"], "vps");
    assert_eq!(
        (vps["cold"].as_u64(), vps["issued"].as_u64()),
        (Some(3), Some(10))
    );
    assert_eq!(vps["cold_rate"].as_f64(), Some(0.3));
    assert_eq!(t["total"]["planned"], 10);
    assert_eq!(t["fell_behind"], false);
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(common::repo().join("schemas/summary.schema.json")).unwrap(),
    )
    .unwrap();
    let v = jsonschema::validator_for(&schema).unwrap();
    let errs: Vec<String> = v.iter_errors(&summary).map(|e| e.to_string()).collect();
    assert!(errs.is_empty(), "{errs:?}");
    let md = std::fs::read_to_string(run.join("report.md")).unwrap();
    assert!(md.contains("## Trace replay per class"), "{md}");
    assert!(md.contains("| vps | 10 / 10 | 0 | 3 (30.0%) |"), "{md}");
    assert!(md.contains("| echo-ka | 5 / 5 | 0 | 2 (40.0%) |"), "{md}");
}

#[test]
fn the_shipped_trace_scenarios_parse_and_plan() {
    for name in ["trace-azure2019.toml", "trace-azure2021.toml"] {
        let path = common::repo().join("scenarios").join(name);
        let s = faasbed::spec::load(&path).unwrap();
        let t = s.experiment.trace.as_ref().unwrap();
        assert!(t.keep_alive.is_some(), "{name}: keep-alive");
        let replay = t.replay_duration().as_secs_f64();
        assert!(
            replay <= 180.0,
            "{name}: a couple of minutes, not {replay} s"
        );
        let p = faasbed::trace::run::prepare(&s).unwrap().unwrap();
        let classes: std::collections::BTreeSet<String> = s
            .functions
            .iter()
            .zip(&p.plans)
            .filter(|(_, p)| !p.offsets.is_empty())
            .flat_map(|(f, _)| s.eligible_nodes(f).into_iter().map(|n| n.class.clone()))
            .collect();
        assert_eq!(
            classes.len(),
            3,
            "{name}: every class replays arrivals: {classes:?}"
        );
    }
}
