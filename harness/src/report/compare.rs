//! `faasbed compare`: per workload × class, warm p50, warm p99 and cold median of the NEW runs
//! against the BASE runs (bootstrap ratio, run-to-run noise floor, Mann–Whitney for medians via
//! `stats::classify_runs`), the regression gate, and the noise file learned from repeated runs.
//!
//! Output (Markdown and JSON) is in [`super::compare_out`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::data::{read, Group, ReportData};
use super::ReportError;
use crate::stats::{self, CompareOpts, Metric, RunNoise};
use crate::store::files;

pub use super::compare_out::{json, markdown};
pub use gate::{GateOutcome, Missing, Report, Row};
pub use noise::{learn_noise, NoiseFile, NoiseRow};

mod gate;
mod noise;

/// Exit codes of `faasbed compare` (also in `--help` and the README).
pub mod exit {
    /// Compared; with `--gate`, the gate passed.
    pub const OK: u8 = 0;
    /// An error: a run or noise file could not be read, or a statistic could not be computed.
    pub const ERROR: u8 = 1;
    /// Bad usage (wrong arguments).
    pub const USAGE: u8 = 2;
    /// `--gate` failed: a statistic regressed, or a row is present on one side only.
    pub const REGRESSED: u8 = 3;
    /// The runs are not comparable (scenario, emulation, `--quick` or experiment settings
    /// differ); `--force` compares them anyway.
    pub const NOT_COMPARABLE: u8 = 4;
}

/// The value of `--quick` a run recorded (`run.json` options).
fn quick(d: &ReportData) -> bool {
    d.manifest.options.get("quick").map(String::as_str) == Some("true")
}

/// Leaf paths whose values differ between two JSON values ("warm.duration \"2s\" vs \"5s\"").
fn json_diff(prefix: &str, a: &serde_json::Value, b: &serde_json::Value, out: &mut Vec<String>) {
    use serde_json::Value::Object;
    match (a, b) {
        (Object(x), Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                let null = serde_json::Value::Null;
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                json_diff(
                    &p,
                    x.get(k).unwrap_or(&null),
                    y.get(k).unwrap_or(&null),
                    out,
                );
            }
        }
        _ if a != b => out.push(format!("{prefix} {a} vs {b}")),
        _ => {}
    }
}

/// Why run `new` cannot be compared with run `base`, if it cannot: the scenario hash, the
/// emulation flags, `--quick` or the resolved experiment settings differ.
pub fn mismatch(base: &ReportData, new: &ReportData) -> Option<String> {
    let (b, n) = (&base.manifest, &new.manifest);
    if b.scenario_hash != n.scenario_hash {
        return Some(format!(
            "the scenario of run {} (sha256 {}) differs from that of run {} ({})",
            b.run_id, b.scenario_hash, n.run_id, n.scenario_hash
        ));
    }
    let flags = |d: &ReportData| {
        let mut v: Vec<(String, bool)> = d
            .manifest
            .nodes
            .iter()
            .map(|n| (n.class.clone(), n.emulated))
            .collect();
        v.sort();
        v.dedup();
        (d.manifest.emulated, v)
    };
    if flags(base) != flags(new) {
        return Some(format!(
            "the emulation flags of the nodes of runs {} and {} differ",
            b.run_id, n.run_id
        ));
    }
    if quick(base) != quick(new) {
        let (q, full) = if quick(base) { (b, n) } else { (n, b) };
        return Some(format!(
            "run {} ran with --quick (2 s warm runs, 5 cold repetitions) and run {} did not",
            q.run_id, full.run_id
        ));
    }
    let exp = |d: &ReportData| {
        d.manifest
            .scenario
            .get("experiment")
            .cloned()
            .unwrap_or_default()
    };
    let mut diff = Vec::new();
    json_diff("", &exp(base), &exp(new), &mut diff);
    (!diff.is_empty()).then(|| {
        format!(
            "the experiment settings of runs {} and {} differ: {}",
            b.run_id,
            n.run_id,
            diff.join(", ")
        )
    })
}

/// The first reason any run of `base` or `new` is not comparable with the first BASE run.
fn mismatch_all(base: &[ReportData], new: &[ReportData]) -> Option<String> {
    let first = base.first()?;
    base.iter()
        .chain(new)
        .skip(1)
        .find_map(|d| mismatch(first, d))
}

type Extract = fn(&Group) -> Vec<f64>;

/// The compared statistics: name, metric, sample, and what an empty sample means.
const METRICS: [(&str, Metric, Extract, &str); 3] = [
    (
        "warm_p50",
        Metric::P50,
        Group::warm_ok_ms,
        "no successful warm request",
    ),
    (
        "warm_p99",
        Metric::P99,
        Group::warm_ok_ms,
        "no successful warm request",
    ),
    (
        "cold_median",
        Metric::Median,
        Group::cold_verified_ms,
        "no verified cold start",
    ),
];

/// (workload, class) of every group of every run, in order.
fn group_keys(runs: &[&ReportData]) -> Vec<(String, String)> {
    let mut keys: Vec<(String, String)> = runs
        .iter()
        .flat_map(|d| {
            d.groups
                .iter()
                .map(|g| (g.workload.clone(), g.class.clone()))
        })
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

/// The groups of (workload, class) in each run, or the run ids that lack it.
fn groups_of<'d>(
    runs: &'d [ReportData],
    (w, c): &(String, String),
) -> Result<Vec<&'d Group>, Vec<String>> {
    let found: Vec<Option<&Group>> = runs.iter().map(|d| d.group(w, c)).collect();
    if found.iter().all(Option::is_some) {
        Ok(found.into_iter().flatten().collect())
    } else {
        Err(runs
            .iter()
            .zip(&found)
            .filter(|(_, g)| g.is_none())
            .map(|(d, _)| d.manifest.run_id.clone())
            .collect())
    }
}

/// Settings of one comparison beyond [`CompareOpts`].
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// Compare even when the runs are not comparable.
    pub force: bool,
    /// A noise file learned from repeated runs (`--noise`).
    pub noise: Option<NoiseFile>,
}

/// Compare the NEW runs with the BASE runs; refuses runs that are not comparable unless
/// `settings.force`.
pub fn compare_runs(
    base: &[ReportData],
    new: &[ReportData],
    opts: CompareOpts,
    settings: &Settings,
) -> Result<Report, ReportError> {
    let ids = |runs: &[ReportData]| -> Vec<String> {
        runs.iter().map(|d| d.manifest.run_id.clone()).collect()
    };
    let (base_ids, new_ids) = (ids(base), ids(new));
    let incomparable = |reason: String| ReportError::Incomparable {
        base: base_ids.join(", "),
        new: new_ids.join(", "),
        reason,
    };
    if base.is_empty() || new.is_empty() {
        return Err(incomparable("a side has no run".into()));
    }
    let mut why = mismatch_all(base, new);
    if let (Some(file), None) = (&settings.noise, &why) {
        why = file.mismatch(&base[0]);
    }
    if let (Some(reason), false) = (&why, settings.force) {
        return Err(incomparable(reason.clone()));
    }
    let learned: BTreeMap<(&str, &str, &str), RunNoise> = settings
        .noise
        .iter()
        .flat_map(|f| &f.rows)
        .map(|r| {
            (
                (r.workload.as_str(), r.class.as_str(), r.metric.as_str()),
                r.noise,
            )
        })
        .collect();
    let mut rows = Vec::new();
    let mut missing = Vec::new();
    let all: Vec<&ReportData> = base.iter().chain(new).collect();
    for key in group_keys(&all) {
        let (gb, gn) = match (groups_of(base, &key), groups_of(new, &key)) {
            (Ok(b), Ok(n)) => (b, n),
            (b, n) => {
                let present = b.as_ref().ok().or(n.as_ref().ok());
                let functions = present.map_or_else(Vec::new, |gs| functions_of(gs));
                let side = |r: &Result<Vec<&Group>, Vec<String>>, name: &str, all: usize| match r {
                    Err(lack) if lack.len() == all => Some(format!("not in {name}")),
                    Err(lack) => Some(format!("missing from {name} run(s) {}", lack.join(", "))),
                    Ok(_) => None,
                };
                let why = [side(&b, "BASE", base.len()), side(&n, "NEW", new.len())]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join("; ");
                let label = present
                    .and_then(|gs| gs.first())
                    .map_or_else(|| key.1.clone(), |g| g.class_label());
                missing.push(Missing {
                    workload: key.0.clone(),
                    class: label,
                    functions,
                    metric: None,
                    why,
                });
                continue;
            }
        };
        let label = gn[0].class_label();
        let functions = functions_of(&gn);
        for (name, metric, extract, empty) in METRICS {
            let xb: Vec<Vec<f64>> = gb.iter().map(|g| extract(g)).collect();
            let xn: Vec<Vec<f64>> = gn.iter().map(|g| extract(g)).collect();
            let lacking = |xs: &[Vec<f64>], runs: &[ReportData], side: &str| -> Vec<String> {
                xs.iter()
                    .zip(runs)
                    .filter(|(x, _)| x.is_empty())
                    .map(|(_, d)| format!("{empty} in {side} run {}", d.manifest.run_id))
                    .collect()
            };
            let mut lack = lacking(&xb, base, "BASE");
            lack.extend(lacking(&xn, new, "NEW"));
            let all_empty = xb.iter().chain(&xn).all(Vec::is_empty);
            if all_empty {
                // Neither side measured it (e.g. `--skip-cold`): nothing to compare or miss.
                continue;
            }
            if !lack.is_empty() {
                missing.push(Missing {
                    workload: key.0.clone(),
                    class: label.clone(),
                    functions: functions.clone(),
                    metric: Some(name),
                    why: lack.join("; "),
                });
                continue;
            }
            let rb: Vec<&[f64]> = xb.iter().map(Vec::as_slice).collect();
            let rn: Vec<&[f64]> = xn.iter().map(Vec::as_slice).collect();
            let learned = learned
                .get(&(key.0.as_str(), label.as_str(), name))
                .copied();
            let comparison =
                stats::classify_runs(&rb, &rn, metric, opts, learned).map_err(|source| {
                    ReportError::Stats {
                        run: new_ids.join(", "),
                        what: format!("{name} of {} on {}", key.0, label),
                        source,
                    }
                })?;
            let (pb, pn) = (per_run(&xb, metric), per_run(&xn, metric));
            rows.push(Row {
                workload: key.0.clone(),
                class: label.clone(),
                functions: functions.clone(),
                metric: name,
                n: (xb.iter().map(Vec::len).sum(), xn.iter().map(Vec::len).sum()),
                value_ms: (
                    stats::geometric_mean(pb.iter().copied()),
                    stats::geometric_mean(pn.iter().copied()),
                ),
                per_run_ms: (pb, pn),
                comparison,
            });
        }
    }
    Ok(Report {
        base: base_ids,
        new: new_ids,
        opts,
        forced_mismatch: why,
        noise_from: settings.noise.as_ref().map(|f| f.runs.clone()),
        rows,
        missing,
        gate: None,
    })
}

/// The statistic of each run, ms: the printed percentile ([`stats::quantile`]).
fn per_run(samples: &[Vec<f64>], metric: Metric) -> Vec<f64> {
    samples
        .iter()
        .map(|x| stats::quantile(x, metric.quantile().unwrap_or(0.5)).unwrap_or(f64::NAN))
        .collect()
}

fn functions_of(groups: &[&Group]) -> Vec<String> {
    let mut f: Vec<String> = groups
        .iter()
        .flat_map(|g| g.functions.iter().cloned())
        .collect();
    f.sort();
    f.dedup();
    f
}

/// Compare two loaded runs (one per side); refuses incomparable runs unless `force`.
pub fn compare(
    base: &ReportData,
    new: &ReportData,
    opts: CompareOpts,
    force: bool,
) -> Result<Report, ReportError> {
    compare_runs(
        std::slice::from_ref(base),
        std::slice::from_ref(new),
        opts,
        &Settings { force, noise: None },
    )
}

/// The run directories `path` names: itself when it holds `run.json`, else its subfolders that
/// do (a baseline folder of several runs), sorted.
pub fn run_dirs(path: &Path) -> Result<Vec<PathBuf>, ReportError> {
    if path.join(files::RUN).is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let no_runs = || ReportError::NoRuns {
        path: path.to_path_buf(),
    };
    let entries = std::fs::read_dir(path).map_err(|_| no_runs())?;
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join(files::RUN).is_file())
        .collect();
    dirs.sort();
    if dirs.is_empty() {
        return Err(no_runs());
    }
    Ok(dirs)
}

/// Read every run `paths` name (run directories or folders of runs).
pub fn load_runs(paths: &[PathBuf]) -> Result<Vec<ReportData>, ReportError> {
    let mut out = Vec::new();
    for p in paths {
        for d in run_dirs(p)? {
            out.push(read(&d)?);
        }
    }
    Ok(out)
}

/// Load and compare the runs in two directories; the bootstrap is seeded from BASE's seed.
pub fn compare_dirs(
    base: &Path,
    new: &Path,
    threshold: f64,
    force: bool,
) -> Result<Report, ReportError> {
    compare_paths(
        &[base.to_path_buf()],
        &[new.to_path_buf()],
        threshold,
        &Settings { force, noise: None },
    )
}

/// Load the BASE and NEW runs (directories or folders of runs) and compare them; the bootstrap
/// is seeded from the first BASE run's seed.
pub fn compare_paths(
    base: &[PathBuf],
    new: &[PathBuf],
    threshold: f64,
    settings: &Settings,
) -> Result<Report, ReportError> {
    let (b, n) = (load_runs(base)?, load_runs(new)?);
    let opts = CompareOpts {
        threshold,
        seed: b.first().map_or(0, |d| d.manifest.seed),
        ..CompareOpts::default()
    };
    compare_runs(&b, &n, opts, settings)
}
