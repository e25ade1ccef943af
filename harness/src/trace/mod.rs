//! Invocation traces: the Azure Functions 2019 (per-minute counts) and 2021 (per-invocation)
//! formats read into one [`Trace`], and the seeded replay that maps them onto a scenario's
//! functions as planned arrival offsets ([`replay`]).
//!
//! Parsers are pure functions of the file text; [`load`] only reads the files. Every rejected
//! row names `file:line` and the field.

pub mod azure2019;
pub mod azure2021;
pub mod record;
pub mod replay;
pub mod run;

use std::path::{Path, PathBuf};

use serde::Serialize;

pub use crate::spec::{TraceFiles, TraceFormat};

/// Errors from reading a trace.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// A trace file could not be read.
    #[error("cannot read trace file {}: {source}; check `experiment.trace` paths (relative to the scenario file)", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A row (or the header) is malformed.
    #[error("{}:{line}: {field}: {message}", path.display())]
    Row {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The column, as the header names it.
        field: String,
        /// What is wrong and what to do.
        message: String,
    },
    /// The file holds no invocation at all.
    #[error("{}: the trace holds no invocation; pass a non-empty trace", path.display())]
    Empty {
        /// The file.
        path: PathBuf,
    },
}

impl TraceError {
    pub(crate) fn row(path: &Path, line: usize, field: &str, message: impl Into<String>) -> Self {
        TraceError::Row {
            path: path.to_path_buf(),
            line,
            field: field.to_string(),
            message: message.into(),
        }
    }
}

/// When a trace function is invoked.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Arrivals {
    /// Azure 2019: invocations in each minute of the day (index 0 = minute 1).
    PerMinute(Vec<u32>),
    /// Azure 2021: each invocation's start, seconds from the trace start, sorted.
    At(Vec<f64>),
}

impl Arrivals {
    /// Invocations whose start lies in `[from_s, to_s)` (per-minute counts: whole minutes
    /// starting in that range).
    pub fn count_in(&self, from_s: f64, to_s: f64) -> u64 {
        match self {
            Arrivals::PerMinute(c) => c
                .iter()
                .enumerate()
                .filter(|(m, _)| {
                    let t = *m as f64 * 60.0;
                    t >= from_s && t < to_s
                })
                .map(|(_, n)| u64::from(*n))
                .sum(),
            Arrivals::At(t) => t.iter().filter(|t| **t >= from_s && **t < to_s).count() as u64,
        }
    }
}

/// Execution-time figures of a trace function (2019 duration percentile file), milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DurationStats {
    /// Mean execution time, ms.
    pub average_ms: f64,
    /// Median execution time, ms.
    pub p50_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
}

/// One function of a trace.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TraceFunction {
    /// Its id in the trace: `HashFunction` (2019) or `app/func` (2021).
    pub id: String,
    /// The application it belongs to (`HashApp` / `app`).
    pub app: String,
    /// The trigger (2019 only: `http`, `timer`, `queue`, ...).
    pub trigger: Option<String>,
    /// Its invocations.
    pub arrivals: Arrivals,
    /// Execution times (2019 durations file, or the 2021 rows' mean and median).
    pub duration: Option<DurationStats>,
    /// The app's average allocated memory, MB (2019 memory file).
    pub memory_mb: Option<f64>,
}

/// A parsed trace.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trace {
    /// Which format it came from.
    pub format: TraceFormat,
    /// Length covered, seconds (2019: minutes × 60; 2021: up to the last start).
    pub span_s: f64,
    /// Its functions, in file order.
    pub functions: Vec<TraceFunction>,
}

fn read(path: &Path) -> Result<String, TraceError> {
    std::fs::read_to_string(path).map_err(|source| TraceError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Read and parse the files of a trace.
pub fn load(files: &TraceFiles) -> Result<Trace, TraceError> {
    let text = read(&files.invocations)?;
    let trace = match files.format {
        TraceFormat::Azure2019 => {
            let mut t = azure2019::parse_invocations(&text, &files.invocations)?;
            if let Some(p) = &files.durations {
                let d = azure2019::parse_durations(&read(p)?, p)?;
                azure2019::attach_durations(&mut t, &d);
            }
            if let Some(p) = &files.memory {
                let m = azure2019::parse_memory(&read(p)?, p)?;
                azure2019::attach_memory(&mut t, &m);
            }
            t
        }
        TraceFormat::Azure2021 => azure2021::parse(&text, &files.invocations)?,
    };
    let total: u64 = trace
        .functions
        .iter()
        .map(|f| f.arrivals.count_in(0.0, f64::INFINITY))
        .sum();
    if total == 0 {
        return Err(TraceError::Empty {
            path: files.invocations.clone(),
        });
    }
    Ok(trace)
}

/// Field `field` of line `line` as a finite number ≥ 0; the error says `{v} is not {what} ≥ 0`
/// (`what`: "a number", "a number of seconds").
pub(crate) fn non_negative(
    path: &Path,
    line: usize,
    field: &str,
    v: &str,
    what: &str,
) -> Result<f64, TraceError> {
    match v.parse::<f64>() {
        Ok(x) if x.is_finite() && x >= 0.0 => Ok(x),
        _ => Err(TraceError::row(
            path,
            line,
            field,
            format!("{v:?} is not {what} ≥ 0"),
        )),
    }
}

/// Split one CSV line (the Azure files have no quoting) into trimmed fields.
pub(crate) fn fields(line: &str) -> Vec<&str> {
    line.trim_end_matches('\r')
        .split(',')
        .map(str::trim)
        .collect()
}

/// The lines of a file that hold data: 1-based line numbers, blank lines skipped.
pub(crate) fn data_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l))
        .filter(|(_, l)| !l.trim().is_empty())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    fn shipped(rel: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../traces")
            .join(rel)
    }

    #[test]
    fn the_shipped_synthetic_traces_load() {
        let t = load(&TraceFiles {
            format: TraceFormat::Azure2019,
            invocations: shipped("azure2019/invocations_per_function_md.anon.d01.csv"),
            durations: Some(shipped(
                "azure2019/function_durations_percentiles.anon.d01.csv",
            )),
            memory: Some(shipped("azure2019/app_memory_percentiles.anon.d01.csv")),
        })
        .unwrap();
        assert_eq!(t.span_s, 1440.0 * 60.0);
        assert_eq!(t.functions.len(), 5);
        assert!(t
            .functions
            .iter()
            .all(|f| f.duration.is_some() && f.memory_mb.is_some()));
        let t = load(&TraceFiles {
            format: TraceFormat::Azure2021,
            invocations: shipped("azure2021/AzureFunctionsInvocationTraceForTwoWeeksJan2021.csv"),
            durations: None,
            memory: None,
        })
        .unwrap();
        assert_eq!(t.functions.len(), 4);
        assert!(t.span_s <= 3600.0);
    }

    #[test]
    fn a_missing_file_names_its_path() {
        let e = load(&TraceFiles {
            format: TraceFormat::Azure2021,
            invocations: PathBuf::from("/nonexistent/t.csv"),
            durations: None,
            memory: None,
        })
        .unwrap_err();
        assert!(e
            .to_string()
            .starts_with("cannot read trace file /nonexistent/t.csv:"));
    }

    #[test]
    fn a_trace_without_invocations_is_refused() {
        let dir = std::env::temp_dir().join(format!("faasbed-trace-empty-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("inv.csv");
        std::fs::write(
            &p,
            "HashOwner,HashApp,HashFunction,Trigger,1\no,a,f,http,0\n",
        )
        .unwrap();
        let e = load(&TraceFiles {
            format: TraceFormat::Azure2019,
            invocations: p.clone(),
            durations: None,
            memory: None,
        })
        .unwrap_err();
        assert!(e.to_string().contains("the trace holds no invocation"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
