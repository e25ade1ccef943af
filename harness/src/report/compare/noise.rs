//! The noise file (`compare --learn-noise`): the run-to-run spread of each compared statistic,
//! learned from repeated runs, and read back by `compare --noise`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{group_keys, groups_of, load_runs, mismatch_all, per_run, quick, METRICS};
use crate::report::data::ReportData;
use crate::report::ReportError;
use crate::stats::RunNoise;

/// A noise file: the run-to-run spread of each compared statistic, learned from repeated runs
/// of the same code and scenario (`faasbed compare --learn-noise RUN RUN ...`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoiseFile {
    /// Format version (1).
    pub format: u32,
    /// sha256 of the scenario file of the runs.
    pub scenario_hash: String,
    /// Whether the runs ran with `--quick`.
    pub quick: bool,
    /// The runs it was learned from.
    pub runs: Vec<String>,
    /// One entry per workload × class × metric.
    pub rows: Vec<NoiseRow>,
}

/// The run-to-run spread of one statistic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoiseRow {
    /// Workload.
    pub workload: String,
    /// Class label.
    pub class: String,
    /// `warm_p50`, `warm_p99` or `cold_median`.
    pub metric: String,
    /// Spread of ln(statistic) between the runs, with its degrees of freedom.
    pub noise: RunNoise,
    /// The statistic of each run, ms.
    pub per_run_ms: Vec<f64>,
}

impl NoiseFile {
    /// Why this file does not describe runs like `run` (another scenario, or `--quick` differs).
    pub fn mismatch(&self, run: &ReportData) -> Option<String> {
        if self.scenario_hash != run.manifest.scenario_hash {
            return Some(format!(
                "the noise file was learned from runs of another scenario (sha256 {}) than run {} ({})",
                self.scenario_hash, run.manifest.run_id, run.manifest.scenario_hash
            ));
        }
        (self.quick != quick(run)).then(|| {
            format!(
                "the noise file was learned from {} runs and run {} is {}",
                if self.quick { "--quick" } else { "full" },
                run.manifest.run_id,
                if quick(run) {
                    "a --quick run"
                } else {
                    "a full run"
                }
            )
        })
    }

    /// Read a noise file written by [`learn_noise`].
    pub fn read(path: &Path) -> Result<NoiseFile, ReportError> {
        let bad = |reason: String| ReportError::NoiseFile {
            path: path.to_path_buf(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        let f: NoiseFile = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        if f.format != 1 {
            return Err(bad(format!("format {} is not 1", f.format)));
        }
        Ok(f)
    }
}

/// Learn the run-to-run noise of every compared statistic from repeated runs of the same code
/// and scenario (at least two; each path a run directory or a folder of runs). Rows missing
/// from some run are left out. Refuses runs that are not comparable unless `force`.
pub fn learn_noise(paths: &[PathBuf], force: bool) -> Result<NoiseFile, ReportError> {
    let runs = load_runs(paths)?;
    let ids: Vec<String> = runs.iter().map(|d| d.manifest.run_id.clone()).collect();
    if runs.len() < 2 {
        return Err(ReportError::NoiseFile {
            path: paths.first().cloned().unwrap_or_default(),
            reason: format!(
                "learning noise needs at least 2 runs of the same scenario, got {}",
                runs.len()
            ),
        });
    }
    if let (Some(reason), false) = (mismatch_all(&runs, &[]), force) {
        return Err(ReportError::Incomparable {
            base: ids[0].clone(),
            new: ids[1..].join(", "),
            reason,
        });
    }
    let mut rows = Vec::new();
    let all: Vec<&ReportData> = runs.iter().collect();
    for key in group_keys(&all) {
        let Ok(gs) = groups_of(&runs, &key) else {
            continue;
        };
        for (name, metric, extract, _) in METRICS {
            let xs: Vec<Vec<f64>> = gs.iter().map(|g| extract(g)).collect();
            if xs.iter().any(Vec::is_empty) {
                continue;
            }
            let per = per_run(&xs, metric);
            let noise = RunNoise::from_groups(&[&per]).map_err(|source| ReportError::Stats {
                run: ids.join(", "),
                what: format!("run-to-run noise of {name} of {} on {}", key.0, key.1),
                source,
            })?;
            if let Some(noise) = noise {
                rows.push(NoiseRow {
                    workload: key.0.clone(),
                    class: gs[0].class_label(),
                    metric: name.to_string(),
                    noise,
                    per_run_ms: per,
                });
            }
        }
    }
    Ok(NoiseFile {
        format: 1,
        scenario_hash: runs[0].manifest.scenario_hash.clone(),
        quick: quick(&runs[0]),
        runs: ids,
        rows,
    })
}
