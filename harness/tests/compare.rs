//! `faasbed compare`: several runs per side, the run-to-run noise floor, the learned noise file,
//! rows on one side only, `--quick` against full runs, no verdict without `--gate`, p values,
//! and the exit codes. On edited copies of the fixture run `quick-local`.
#![allow(clippy::unwrap_used)]

#[path = "support/runs.rs"]
mod runs;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use faasbed::report::compare::exit;
use faasbed::store::files;
use runs::{copy_run, slow_down};

const FUNCTIONS: [&str; 6] = [
    "echo-vps", "echo-pi4", "echo-pi3", "cpu-vps", "cpu-pi4", "cpu-pi3",
];

fn faasbed(args: &[&str], paths: &[&Path]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faasbed"))
        .arg("compare")
        .args(args)
        .args(paths)
        .output()
        .unwrap()
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Edit the copy's `run.json` with `f`.
fn edit_manifest(run: &Path, f: impl FnOnce(&mut serde_json::Value)) {
    let path = run.join(files::RUN);
    let mut m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    f(&mut m);
    std::fs::write(&path, serde_json::to_vec_pretty(&m).unwrap()).unwrap();
}

/// A copy of the fixture whose every latency is multiplied by `effect`: a run of the same code
/// on a machine that was that much slower or faster at the time.
fn run_with_effect(dir: &Path, name: &str, effect: f64) -> PathBuf {
    let run = copy_run(dir, name);
    for f in FUNCTIONS {
        slow_down(&run, f, effect);
    }
    run
}

#[test]
fn without_gate_it_classifies_and_gives_no_verdict() {
    let tmp = tempfile::tempdir().unwrap();
    let base = copy_run(tmp.path(), "base");
    let new = copy_run(tmp.path(), "new");
    slow_down(&new, "echo-pi4", 1.3);
    let out = faasbed(&[], &[&base, &new]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    let md = text(&out.stdout);
    assert!(md.contains("**regressed**"), "{md}");
    assert!(
        !md.contains("Gate:"),
        "no gate verdict without --gate: {md}"
    );
    assert!(md.contains("No gate verdict"), "{md}");
    let json = faasbed(&["--json"], &[&base, &new]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert!(v["gate"].is_null());
}

#[test]
fn quick_and_full_runs_are_not_comparable_unless_forced() {
    let tmp = tempfile::tempdir().unwrap();
    let quick = copy_run(tmp.path(), "quick");
    let full = copy_run(tmp.path(), "full");
    edit_manifest(&full, |m| {
        m["options"]["quick"] = "false".into();
        m["scenario"]["experiment"]["warm"]["duration"] = "5s".into();
    });
    let out = faasbed(&["--gate"], &[&quick, &full]);
    assert_eq!(code(&out), i32::from(exit::NOT_COMPARABLE));
    let err = text(&out.stderr);
    assert!(err.contains("--quick") && err.contains("--force"), "{err}");
    // Without --gate too: the refusal does not depend on the gate.
    assert_eq!(
        code(&faasbed(&[], &[&full, &quick])),
        i32::from(exit::NOT_COMPARABLE)
    );
    // Same --quick flag but other experiment settings: named.
    edit_manifest(&full, |m| m["options"]["quick"] = "true".into());
    let out = faasbed(&[], &[&quick, &full]);
    assert_eq!(code(&out), i32::from(exit::NOT_COMPARABLE));
    assert!(
        text(&out.stderr).contains("warm.duration \"2s\" vs \"5s\""),
        "{}",
        text(&out.stderr)
    );
    let forced = faasbed(&["--force"], &[&quick, &full]);
    assert_eq!(code(&forced), 0, "{}", text(&forced.stderr));
    assert!(text(&forced.stdout).contains("Compared with --force although"));
}

#[test]
fn p99_rows_carry_no_rank_test() {
    let tmp = tempfile::tempdir().unwrap();
    let base = copy_run(tmp.path(), "base");
    let new = copy_run(tmp.path(), "new");
    slow_down(&new, "echo-vps", 1.1);
    let out = faasbed(&["--json"], &[&base, &new]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = v["rows"].as_array().unwrap();
    let p = |metric: &str| {
        rows.iter()
            .find(|r| r["workload"] == "echo" && r["class"] == "vps" && r["metric"] == metric)
            .unwrap()["comparison"]["p_value"]
            .clone()
    };
    assert!(p("warm_p50").as_f64().unwrap() < 0.05);
    assert!(p("cold_median").is_number());
    assert!(
        p("warm_p99").is_null(),
        "p99 must not repeat the median's p value"
    );
    let md = text(&faasbed(&[], &[&base, &new]).stdout);
    let p99 = md
        .lines()
        .find(|l| l.starts_with("| echo | vps | warm_p99 |"))
        .unwrap();
    assert!(
        p99.ends_with("| – | unchanged |") || p99.contains("| – | **regressed** |"),
        "{p99}"
    );
}

#[test]
fn a_row_on_one_side_only_fails_the_gate_and_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let base = copy_run(tmp.path(), "base");
    let new = copy_run(tmp.path(), "new");
    // The function's path changed and it got 46 % slower: its row exists in one run each.
    slow_down(&new, "cpu-vps", 1.46);
    edit_manifest(&new, |m| {
        for f in m["scenario"]["functions"].as_array_mut().unwrap() {
            if f["name"] == "cpu-vps" {
                f["path"] = "/?kib=65".into();
            }
        }
    });
    let out = faasbed(&["--gate"], &[&base, &new]);
    assert_eq!(
        code(&out),
        i32::from(exit::REGRESSED),
        "{}",
        text(&out.stdout)
    );
    let err = text(&out.stderr);
    assert!(
        err.contains("cpu-vps (cpu /?kib=64 on vps): not in NEW"),
        "{err}"
    );
    assert!(
        err.contains("cpu-vps (cpu /?kib=65 on vps): not in BASE"),
        "{err}"
    );
    assert!(err.contains("--allow-missing"), "{err}");
    let ok = faasbed(&["--gate", "--allow-missing"], &[&base, &new]);
    assert_eq!(code(&ok), 0, "{}", text(&ok.stderr));
    assert!(text(&ok.stdout).contains("accepted by --allow-missing"));
}

#[test]
fn a_metric_without_samples_on_one_side_is_missing_not_skipped() {
    let tmp = tempfile::tempdir().unwrap();
    let base = copy_run(tmp.path(), "base");
    let new = copy_run(tmp.path(), "new");
    // Every cold start of echo-pi3 in NEW failed verification.
    let path = new.join(files::SAMPLES);
    let text_in = std::fs::read_to_string(&path).unwrap();
    let edited: String = text_in
        .lines()
        .map(|l| {
            if l.contains("\"kind\":\"cold\"") && l.contains("\"function\":\"echo-pi3\"") {
                l.replace("\"verified\":true", "\"verified\":false")
            } else {
                l.to_string()
            }
        })
        .map(|l| l + "\n")
        .collect();
    assert_ne!(edited, text_in);
    std::fs::write(&path, edited).unwrap();
    let out = faasbed(&["--gate"], &[&base, &new]);
    assert_eq!(code(&out), i32::from(exit::REGRESSED));
    assert!(
        text(&out.stderr)
            .contains("cold_median of echo on pi3 (emulated)): no verified cold start in NEW run"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn exit_codes_for_errors_and_usage() {
    let tmp = tempfile::tempdir().unwrap();
    let base = copy_run(tmp.path(), "base");
    let nowhere = tmp.path().join("nowhere");
    let out = faasbed(&[], &[&base, &nowhere]);
    assert_eq!(code(&out), i32::from(exit::ERROR));
    assert!(
        text(&out.stderr).contains("holds no run"),
        "{}",
        text(&out.stderr)
    );
    let three = faasbed(&[], &[&base, &base, &base]);
    assert_eq!(code(&three), i32::from(exit::USAGE));
    assert!(
        text(&three.stderr).contains("--"),
        "{}",
        text(&three.stderr)
    );
    let help = Command::new(env!("CARGO_BIN_EXE_faasbed"))
        .args(["compare", "--help"])
        .output()
        .unwrap();
    let help = text(&help.stdout);
    assert!(
        help.contains("3 the gate failed") && help.contains("4 not comparable"),
        "{help}"
    );
}

#[test]
fn several_runs_per_side_absorb_run_to_run_noise_and_still_catch_a_slowdown() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let b: Vec<PathBuf> = [1.0, 1.09, 0.95]
        .iter()
        .enumerate()
        .map(|(i, e)| run_with_effect(&t.join("base"), &format!("b{i}"), *e))
        .collect();
    let n: Vec<PathBuf> = [1.12, 1.0, 0.97]
        .iter()
        .enumerate()
        .map(|(i, e)| run_with_effect(&t.join("new"), &format!("n{i}"), *e))
        .collect();
    // One pair, as the old gate saw it: the machine's 12 % drift reads as a regression.
    assert_eq!(
        code(&faasbed(&["--gate"], &[&b[0], &n[0]])),
        i32::from(exit::REGRESSED)
    );
    // Three runs a side, in each of the three forms: the noise floor absorbs the drift.
    let dash = Command::new(env!("CARGO_BIN_EXE_faasbed"))
        .args(["compare", "--gate"])
        .args(&b)
        .arg("--")
        .args(&n)
        .output()
        .unwrap();
    assert_eq!(
        code(&dash),
        0,
        "{}{}",
        text(&dash.stdout),
        text(&dash.stderr)
    );
    assert!(text(&dash.stdout).contains("3 runs ("));
    let flags = faasbed(
        &[
            "--gate",
            "--base",
            b[0].to_str().unwrap(),
            "--base",
            b[1].to_str().unwrap(),
            "--base",
            b[2].to_str().unwrap(),
            "--new",
        ],
        &[&t.join("new")],
    );
    assert_eq!(
        code(&flags),
        0,
        "{}{}",
        text(&flags.stdout),
        text(&flags.stderr)
    );
    let folders = faasbed(&["--gate", "--json"], &[&t.join("base"), &t.join("new")]);
    assert_eq!(code(&folders), 0, "{}", text(&folders.stderr));
    let v: serde_json::Value = serde_json::from_slice(&folders.stdout).unwrap();
    assert_eq!(v["base"].as_array().unwrap().len(), 3);
    let row = &v["rows"][0]["comparison"];
    assert_eq!(row["noise"]["df"], 4.0);
    assert!(row["noise_floor"].as_f64().unwrap() > 0.05, "{row}");

    // A real slowdown of one function in every NEW run is still flagged, and only it.
    for r in &n {
        slow_down(r, "echo-pi4", 1.8);
    }
    let out = faasbed(&["--gate"], &[&t.join("base"), &t.join("new")]);
    assert_eq!(
        code(&out),
        i32::from(exit::REGRESSED),
        "{}",
        text(&out.stdout)
    );
    let err = text(&out.stderr);
    assert!(
        err.contains("echo-pi4 (echo on pi4 (emulated)) warm_p50"),
        "{err}"
    );
    for f in ["echo-vps", "echo-pi3", "cpu-vps", "cpu-pi4", "cpu-pi3"] {
        assert!(!err.contains(f), "{f} did not change: {err}");
    }
}

#[test]
fn a_learned_noise_file_sets_the_floor_of_a_single_pair() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    for (i, e) in [1.0, 1.1, 0.94, 1.05].iter().enumerate() {
        run_with_effect(&t.join("history"), &format!("h{i}"), *e);
    }
    let learn = faasbed(&["--learn-noise"], &[&t.join("history")]);
    assert_eq!(code(&learn), 0, "{}", text(&learn.stderr));
    let file: serde_json::Value = serde_json::from_slice(&learn.stdout).unwrap();
    assert_eq!(file["runs"].as_array().unwrap().len(), 4);
    assert_eq!(file["rows"].as_array().unwrap().len(), 18);
    assert_eq!(file["rows"][0]["noise"]["df"], 3.0);
    let noise = t.join("noise.json");
    std::fs::write(&noise, &learn.stdout).unwrap();

    let base = run_with_effect(t, "base", 1.0);
    let new = run_with_effect(t, "new", 1.12);
    assert_eq!(
        code(&faasbed(&["--gate"], &[&base, &new])),
        i32::from(exit::REGRESSED)
    );
    let n = noise.to_str().unwrap();
    let out = faasbed(&["--gate", "--noise", n], &[&base, &new]);
    assert_eq!(code(&out), 0, "{}{}", text(&out.stdout), text(&out.stderr));
    assert!(text(&out.stdout).contains("the noise file learned from"));

    // A noise file of another scenario does not apply.
    edit_manifest(&base, |m| m["scenario_hash"] = "0".repeat(64).into());
    edit_manifest(&new, |m| m["scenario_hash"] = "0".repeat(64).into());
    let other = faasbed(&["--gate", "--noise", n], &[&base, &new]);
    assert_eq!(code(&other), i32::from(exit::NOT_COMPARABLE));
    assert!(text(&other.stderr).contains("noise file was learned from runs of another scenario"));
    // Learning needs two runs.
    let one = faasbed(&["--learn-noise"], &[&base]);
    assert_eq!(code(&one), i32::from(exit::USAGE));
}
